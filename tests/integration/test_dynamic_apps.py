"""Apps registered by requests (.htaccess; issue 11, defect 2.6): they are not in the
configuration the parent sends, so the supervisor retires them when they are no longer
declared (a reload that no request confirms them after) or idle
(AspNetCoreDynamicAppIdleTimeout), and a full app table answers 503 at once with one
error-log line. docs/operations.md, "Apps registered by requests"."""

import os
import re
import time

import pytest

from rigutil import wait_until
from test_config import app_pid, backends_in, htaccess_app, is_apache_404, section

# Depends on how the MPM runs its children (prefork: one request per process): runs under
# prefork even where the test command narrows it (conftest.py); worker shares event's threads
pytestmark = pytest.mark.every_mpm("prefork")

OVERRIDE = "AllowOverride Options FileInfo"
GONE_TIMEOUT = 30.0        # graceful stop of a stand-in (shutdown event, then SIGTERM)


def config(shop_override=OVERRIDE, idle=None):
    body = section("Directory {docroot}/shop", shop_override)
    if idle:
        body += "AspNetCoreDynamicAppIdleTimeout %s\n" % idle
    return body


def removed_line(srv, directory, start=0):
    """The supervisor's line that frees the app's table entry."""
    return srv.wait_for_log(r"\[[^]]*%s[^]]*\] removed" % re.escape(directory), timeout=GONE_TIMEOUT,
                            start=start)


@pytest.mark.parametrize("how", ["restart", "graceful"])
def test_undeclared_htaccess_app_does_not_outlive_a_restart(apache, how):
    """The report: .htaccess deleted, AllowOverride None, restart; the URL answers 404, and
    the app's processes must go and not be started again (they were: the supervisor kept the
    AlwaysRunning app it had been told of by a request)."""
    srv = apache.new(config(idle="00:00:02"))
    shop = os.path.dirname(srv.write_file(
        "htdocs/shop/.htaccess", htaccess_app("AspNetCoreStartMode AlwaysRunning\n")))
    srv.start()
    pid = app_pid(srv, "/shop")
    assert backends_in(srv, shop) == [pid]

    os.unlink(os.path.join(shop, ".htaccess"))
    mark = srv.log_mark()
    getattr(srv, how)(config(shop_override="AllowOverride None", idle="00:00:02"))
    r = srv.get("/shop/pid")
    assert is_apache_404(r), (r.status, r.body[:300])
    # retired (one line naming why), its entry freed: nothing can start it again
    # (with a 2 s idle timeout, the reload's grace and the idle timeout end together)
    srv.wait_for_log(r"\[[^]]*%s[^]]*\] registered by a request, and (none came since the "
                     r"configuration was reloaded|no request for 2 s).*: stopping it"
                     % re.escape(shop), timeout=GONE_TIMEOUT, start=mark)
    removed_line(srv, shop, start=mark)
    wait_until(lambda: backends_in(srv, shop) == [], GONE_TIMEOUT,
               lambda: "the undeclared app's processes to go: %s" % backends_in(srv, shop))
    assert srv.get("/shop/pid").status == 404


def test_declared_htaccess_app_keeps_serving_across_a_graceful_restart(apache):
    """The other side: a reload does not cold-start a live .htaccess app; a request confirms
    it and its process serves on (the default idle timeout is 20 minutes)."""
    srv = apache.new(config())
    shop = os.path.dirname(srv.write_file("htdocs/shop/.htaccess", htaccess_app()))
    srv.start()
    pid = app_pid(srv, "/shop")
    srv.graceful()
    assert app_pid(srv, "/shop") == pid
    srv.restart()      # a hard restart stops every process: the next request starts one
    second = app_pid(srv, "/shop")
    assert second != pid
    assert backends_in(srv, shop) == [second]


def test_idle_htaccess_app_is_retired_and_comes_back_on_request(apache):
    srv = apache.new(config(idle="00:00:02"))
    shop = os.path.dirname(srv.write_file("htdocs/shop/.htaccess", htaccess_app()))
    srv.start()
    mark = srv.log_mark()
    first = app_pid(srv, "/shop")
    srv.wait_for_log(r"\[[^]]*%s[^]]*\] registered by a request, and no request for 2 s "
                     r"\(AspNetCoreDynamicAppIdleTimeout\): stopping it" % re.escape(shop),
                     timeout=GONE_TIMEOUT, start=mark)
    removed_line(srv, shop, start=mark)
    wait_until(lambda: backends_in(srv, shop) == [], GONE_TIMEOUT, "the idle app's process to go")
    # the next request registers it again: a cold start, as the first time
    second = app_pid(srv, "/shop")
    assert second != first


def test_requests_keep_a_request_registered_app_alive(apache):
    """Activity is seen without any new traffic to the supervisor: the children's served
    counters move. Requests one after another for three idle timeouts keep it."""
    srv = apache.new(config(idle="00:00:02"))
    shop = os.path.dirname(srv.write_file("htdocs/shop/.htaccess", htaccess_app()))
    srv.start()
    pid = app_pid(srv, "/shop")
    mark = srv.log_mark()
    end = time.monotonic() + 6.0
    while time.monotonic() < end:
        assert app_pid(srv, "/shop") == pid
    assert "no request for" not in srv.error_log()[mark:]
    assert backends_in(srv, shop) == [pid]


FULL_PAGE = b"the server runs as many apps as it can (64)"
FULL_LINE = r"\[[^]]*app6[45][^]]*\] cannot run: the app table is full \(at most 64 apps"


@pytest.mark.expect_log(FULL_LINE)
def test_a_full_app_table_answers_503_at_once_and_frees_after_retirement(apache):
    """64 request-registered apps fill the table (each one offline: app_offline.htm in its
    root, so that none needs a process). The 65th gets a clear 503 at once and one error-log
    line per child at most; once a reload retires the unconfirmed apps, it registers."""
    srv = apache.new(section("Directory {docroot}", OVERRIDE))
    for n in range(66):
        d = "htdocs/app%02d" % n
        srv.write_file(d + "/.htaccess", htaccess_app("AspNetCoreStartMode OnDemand\n"))
        srv.write_file(d + "/app_offline.htm", "offline app%02d\n" % n)
    srv.start()
    for n in range(64):
        r = srv.get("/app%02d/x" % n, timeout=30)
        assert r.status == 503 and r.body == b"offline app%02d\n" % n, (n, r.status, r.body[:300])
    r = srv.get("/app64/x", timeout=30)
    assert r.status == 503 and FULL_PAGE in r.body, (r.status, r.body[:300])
    assert r.header("retry-after") == "60", r.headers
    srv.wait_for_log(FULL_LINE)
    for _ in range(10):
        r = srv.get("/app65/x", timeout=30)
        assert r.status == 503 and FULL_PAGE in r.body, (r.status, r.body[:300])
    # at once: the child saw the table full in shared memory and did not ask the supervisor
    # (and wait up to 5 s for it), which would have said "no room for"
    assert "no room for" not in srv.error_log(), srv.log_tail(20)
    # one error line (once a minute by each child), not one per request
    lines = re.findall(r"\[aspnetcore:error\].*the app table is full", srv.error_log())
    assert 1 <= len(lines) <= len(srv.children()), (len(lines), srv.log_tail(20))

    # a reload: no request confirms the 64 apps and none runs a process: retired, freed
    srv.graceful()
    r = wait_until(lambda: (lambda r: r if r.body == b"offline app64\n" else None)(
        srv.get("/app64/x", timeout=30)), 30, "app64 registered once entries are free")
    assert r.status == 503
