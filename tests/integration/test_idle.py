"""AspNetCoreIdleTimeout (issue 14, "Lifetime"; IIS's idleTimeout of an app pool): an app with
no request for that long has its processes stopped gracefully (the shutdown event first), is
then idle-stopped (nothing runs, nothing restarts it, AlwaysRunning included) until a request
comes, which starts it and waits as on a first start. A request in flight (a long download, an
open WebSocket) is a request. The status page shows the app as idle. 0, the default, never
stops an app.

The stand-in (STANDIN_VERBOSE=1) logs every request it gets, the shutdown event's POST
included, and why it stops; the supervisor logs the stop and the start. Timeouts are 2 s.
The MPM does not matter (the supervisor decides, from counters every child keeps): event only.
"""

import os
import re
import threading
import time

import pytest

import procs
import wsclient
from backends import parse_pid
from rigutil import wait_until
from test_config import backends_in, wait_backends_in
from test_status import STATUS_LOCATION, STATUS_PATH, find_app, status_json, wait_app
from test_supervision import expect_status, get_ok, label, log_matches, section, standin, wait_log

pytestmark = pytest.mark.mpms("event")

IDLE = 2                  # seconds: the idle timeout of the apps under test
STOP_TIMEOUT = 15.0       # the idle stop happens (IDLE, the 0.5 s look, the shutdown event)
STARTUP_DELAY_MS = 1000   # the stand-in listens this long after it starts


def idle_line(root, vpath):
    return (r"\[%s\] no request for %d s \(AspNetCoreIdleTimeout\): stopping its processes"
            % (re.escape(label(root, vpath)), IDLE))


def wait_stopped(srv, pid, root, vpath, mark):
    """Until process `pid` is gone after an idle stop, the way every stop goes: the stand-in
    got the shutdown event (202) at the app's path, said so, and exited 0."""
    wait_until(lambda: not procs.alive(pid), STOP_TIMEOUT, lambda: "process %d of %s to be "
               "stopped for want of requests\n%s" % (pid, vpath, srv.log_tail(20)))
    lab = re.escape(label(root, vpath))
    # logged after the module read the process's last output: the lines below are in by then
    wait_log(srv, r"\[%s\] process %d stopped \(exited with code 0\)" % (lab, pid), start=mark)
    assert log_matches(srv, idle_line(root, vpath), mark), srv.log_tail(20)
    assert log_matches(srv, r"\[%s pid %d\] standin\[%d\]: .*POST %s/iisintegration HTTP/1\.1"
                       r"[\\]*\" 202" % (lab, pid, pid, re.escape(vpath)), mark), srv.log_tail(20)
    assert log_matches(srv, r"\[%s pid %d\] standin: stopping \(shutdown event\)" % (lab, pid),
                       mark), srv.log_tail(20)


def nothing_starts(srv, root, seconds):
    """For `seconds` (the window is what is asserted, not a wait for something), no process
    of the app in `root` runs."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert backends_in(srv, root) == [], "a process of the idle-stopped app %s runs before " \
            "any request came:\n%s" % (root, srv.log_tail(20))
        time.sleep(0.1)


def test_idle_app_stops_and_the_next_request_starts_it(apache):
    """An AlwaysRunning app with AspNetCoreIdleTimeout 2s: stopped with the shutdown event
    after 2 s without a request, not started again by the supervisor, shown as idle on the
    status page; the next request waits for a new process (its start-up second) and gets 200
    from it; the start says why. Apps with the default and with 0 run on."""
    env = {"STANDIN_VERBOSE": "1", "STANDIN_STARTUP_DELAY_MS": str(STARTUP_DELAY_MS)}
    srv = apache.new(
        section("Location /idle", standin(app_root="{tmp}/idle", env=env,
                                          extra="AspNetCoreIdleTimeout %ds" % IDLE))
        + section("Location /default", standin(app_root="{tmp}/default"))
        + section("Location /zero", standin(app_root="{tmp}/zero",
                                            extra="AspNetCoreIdleTimeout 0"))
        + STATUS_LOCATION + section("Location /server-status", "SetHandler server-status"),
        modules=("status",))
    root = srv.mkdir("idle")
    others = {"/default": srv.mkdir("default"), "/zero": srv.mkdir("zero")}
    mark = srv.log_mark()
    srv.start()
    pid = parse_pid(get_ok(srv, "/idle/pid"))
    other_pids = {v: parse_pid(get_ok(srv, v + "/pid")) for v in others}
    wait_stopped(srv, pid, root, "/idle", mark)

    # the slot is published empty just after the "stopped" line
    doc, app = wait_app(srv, root, lambda a: a["state"] == "idle" and a["processes"] == [],
                        "the app idle-stopped, with no process", vpath="/idle")
    assert app["idle_stopped"]["idle_timeout"] == IDLE, app
    assert abs(app["idle_stopped"]["since"] - time.time()) < 30, app
    page = expect_status(srv.get(STATUS_PATH, timeout=10), 200, "status page", srv).body.decode()
    assert re.search(r'<span class="idle">idle</span>', page), page
    assert "after %d s without a request (AspNetCoreIdleTimeout)" % IDLE in page, page
    auto = expect_status(srv.get("/server-status?auto", timeout=10), 200, "server-status",
                         srv).text()
    assert "\nAspNetCoreAppsIdle: 1\n" in auto, auto          # mod_status's summary too

    # AlwaysRunning: after an idle stop it waits for a request (its restart would come
    # within a tick, 20 ms, of the process's end), also across a graceful restart that
    # keeps the app
    nothing_starts(srv, root, 1.0)
    srv.graceful()
    nothing_starts(srv, root, 1.0)
    assert find_app(status_json(srv), root, "/idle")["state"] == "idle"

    # the next request starts it and waits as on a first start: at least the app's start-up
    mark = srv.log_mark()
    t0 = time.monotonic()
    r = get_ok(srv, "/idle/pid")
    waited = time.monotonic() - t0
    new_pid = parse_pid(r)
    assert new_pid != pid, "the same process answered after its idle stop"
    assert waited >= STARTUP_DELAY_MS / 1000.0, "the request did not wait for a start (%.2fs)" % waited
    assert log_matches(srv, r"\[%s\] started process %d on port \d+: .*\(a request after an idle "
                       r"stop\)" % (re.escape(label(root, "/idle")), new_pid), mark), srv.log_tail(20)
    app = find_app(status_json(srv), root, "/idle")
    assert app["state"] == "running" and app["idle_stopped"] is None, app

    # the default (no directive) and 0 never stop an app: both were as idle as /idle
    for vpath, other in others.items():
        assert backends_in(srv, other) == [other_pids[vpath]], \
            "%s (idle timeout %s) lost its process" % (vpath, "0" if vpath == "/zero" else "unset")
        assert not log_matches(srv, idle_line(other, vpath)), srv.log_tail(20)
        assert find_app(status_json(srv), other, vpath)["state"] == "running"


@pytest.mark.not_under_sanitizers("its time goes to outwaiting the idle timeout while requests "
                                  "are in flight; the idle stop and the start after it run "
                                  "under the sanitizers in the other tests of this file")
def test_requests_in_flight_keep_an_app_from_its_idle_stop(apache):
    """An open WebSocket with no traffic, then a request that takes longer than the idle
    timeout: the app is not stopped while either lasts; once nothing is in flight it is (the
    timeout set at server level reaches the app). A hard restart of Apache then starts the
    (AlwaysRunning) app again."""
    # at server level, without a program: a default for the apps below, as StartMode is
    srv = apache.new("AspNetCoreIdleTimeout %ds\n" % IDLE + section("Location /app", standin(
        app_root="{tmp}/app", env={"STANDIN_VERBOSE": "1"})))
    root = srv.mkdir("app")
    srv.start()
    pid = parse_pid(get_ok(srv, "/app/pid"))
    mark = srv.log_mark()

    ws, head = wsclient.connect(srv.port, "/app/fwd/ws", timeout=30)
    assert ws is not None, "WebSocket refused: %s\n%s" % (head.status, srv.log_tail(20))
    try:
        assert ws.echo(wsclient.OP_TEXT, "hello") == (wsclient.OP_TEXT, b"hello")
        # silent for well past the idle timeout (the window is what is asserted)
        time.sleep(IDLE + 1.5)
        assert procs.alive(pid) and not log_matches(srv, idle_line(root, "/app"), mark), \
            "stopped with a WebSocket open:\n" + srv.log_tail(20)
        assert ws.echo(wsclient.OP_TEXT, "still there") == (wsclient.OP_TEXT, b"still there")
    finally:
        ws.close()

    # a request longer than the idle timeout (a download, a report)
    long_ms = IDLE * 1000 + 1500
    r = get_ok(srv, "/app/sleep?ms=%d" % long_ms)
    assert r.body == b"slept %d" % long_ms
    assert not log_matches(srv, idle_line(root, "/app"), mark), \
        "stopped with a request in flight:\n" + srv.log_tail(20)
    assert backends_in(srv, root) == [pid]

    # and then nothing: it stops
    wait_stopped(srv, pid, root, "/app", mark)

    # a hard restart of Apache ends the idle stop: an AlwaysRunning app starts with Apache
    srv.restart()
    new_pid, = wait_backends_in(srv, root)
    assert new_pid != pid


def test_app_offline_ends_an_idle_stop(apache):
    """A deploy (app_offline.htm up, then removed) while the app is idle-stopped: the app is
    offline, and afterwards an AlwaysRunning app starts at once, as the log line says,
    without waiting for a request."""
    srv = apache.new(section("Location /app", standin(
        app_root="{tmp}/app", env={"STANDIN_VERBOSE": "1"},
        extra="AspNetCoreIdleTimeout %ds" % IDLE)) + STATUS_LOCATION)
    root = srv.mkdir("app")
    mark = srv.log_mark()
    srv.start()
    pid = parse_pid(get_ok(srv, "/app/pid"))
    wait_stopped(srv, pid, root, "/app", mark)
    offline = srv.write_file("app/app_offline.htm", "<p>deploying</p>")
    wait_until(lambda: find_app(status_json(srv), root, "/app")["state"] == "offline", 10,
               lambda: "the app to be offline\n" + srv.log_tail(10))
    mark = srv.log_mark()
    os.unlink(offline)
    wait_log(srv, r"app_offline\.htm: removed, the app starts again \(now\)", start=mark)
    new_pid, = wait_backends_in(srv, root)
    assert new_pid != pid
    app = find_app(status_json(srv), root, "/app")
    assert app["idle_stopped"] is None, app


def test_htaccess_app_idle_stops_and_starts_again(apache):
    """AspNetCoreIdleTimeout in .htaccess (AllowOverride Options, as the other settings of
    how an app runs): the app, registered by a request, is idle-stopped and the next request
    starts it again; AspNetCoreDynamicAppIdleTimeout (1 minute here) has not retired it."""
    srv = apache.new(section("Directory {docroot}/shop", "AllowOverride Options FileInfo")
                     + "\nAspNetCoreDynamicAppIdleTimeout 00:01:00\n")
    shop = os.path.dirname(srv.write_file("htdocs/shop/.htaccess", standin(
        app_root=None, env={"STANDIN_VERBOSE": "1"},
        extra="AspNetCoreIdleTimeout 00:00:%02d" % IDLE)))
    srv.start()
    mark = srv.log_mark()
    pid = parse_pid(get_ok(srv, "/shop/pid"))
    wait_stopped(srv, pid, shop, "/shop", mark)
    new_pid = parse_pid(get_ok(srv, "/shop/pid"))
    assert new_pid != pid
    assert not log_matches(srv, r"AspNetCoreDynamicAppIdleTimeout", mark), srv.log_tail(20)
