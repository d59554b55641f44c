"""The module's error pages (issue 6): the 502.5 page of an app that failed to start (exit
code, signal, startup timeout, rapid-fail limit), with the startup output and paths only in
the Development environment or with ASPNETCORE_DETAILEDERRORS; AspNetCoreDisableStartUpErrorPage
(a bare 502, so Apache's default or the site's ErrorDocument applies); the 502.3, 503 and 500
pages; and the site's ErrorDocument winning over every one of our pages.

Failing apps are small shell scripts in the app root (they print a marker and a <script> tag,
then exit or kill themselves), the stand-in (tests/backends/standin.py) for timeouts and slow
answers, and the real ASP.NET Core sample's `dotnet` with a DLL that does not exist."""

import html
import os
import re

import pytest

from test_supervision import expect_status, label, log_matches, standin, wait_log
from rigutil import wait_until

MARKER = "UNIQUE-STARTUP-OUTPUT-7c1f"
SCRIPT_TAG = "<script>alert(1)</script>"
APACHE_DEFAULT_502 = "response from an upstream server"   # Apache's own 502 text

# Error-level lines the failing apps cause.
EXPECT_FAILED_START = (r"\] process \d+ (exited with code \d+|was killed by signal \d+) before it listened",
                       r"failed to start \(502\.5\)",
                       r"failures within a minute \(rapidFailsPerMinute",
                       r"did not listen on port \d+ within \d+ s \(startupTimeLimit\)",
                       r"no process became ready within \d+ s \(startupTimeLimit\) \(502\.5\)")


def failing_script(srv, rel="app/fail.sh", how="exit 7"):
    """A program that prints the marker and a <script> tag, then `how` (exit N, kill -SEGV)."""
    return srv.write_file(rel, "#!/bin/sh\necho '%s %s'\necho 'second line' >&2\n%s\n"
                          % (MARKER, SCRIPT_TAG, how), mode=0o755)


def script_app(path, root="{app}", env=None, extra="AspNetCoreStartMode OnDemand"):
    lines = ["AspNetCoreProcessPath %s" % path, 'AspNetCoreAppRoot "%s"' % root]
    for k, v in (env or {}).items():
        lines.append('AspNetCoreEnvironmentVariable %s "%s"' % (k, v))
    if extra:
        lines.append(extra)
    return "\n".join(lines)


def section(head, body):
    name = head.split()[0]
    return "<%s>\n%s\n</%s>\n" % (head, body, name)


def page_502_5(srv, path="/", timeout=30):
    r = expect_status(srv.get(path, timeout=timeout), 502, "GET %s of an app that cannot start" % path,
                      srv)
    body = r.text()
    assert "502.5 App failed to start" in body, body[:2000]
    ctype = r.header("content-type") or ""
    assert ctype.startswith("text/html") and "iso-8859-1" not in ctype, ctype
    assert '<meta charset="utf-8">' in body
    return r, body


def assert_production_page(srv, body, script):
    """Neither what the app printed nor any path: not the app root, not the program."""
    assert MARKER not in body, "startup output on a production page:\n%s" % body
    assert "alert(1)" not in body
    for secret in (srv.app, srv.dir, script, os.path.join(srv.rundir, "aspnetcore")):
        assert secret not in body, "%s on a production page:\n%s" % (secret, body)
    assert "What to check" in body and "dotnet --list-runtimes" in body


# --- 502.5: what happened ------------------------------------------------------------------------

@pytest.mark.expect_log(*EXPECT_FAILED_START)
def test_exit_code_page_in_production(apache):
    srv = apache.new(script_app("{app}/fail.sh"))
    script = failing_script(srv)
    srv.start()
    r, body = page_502_5(srv)
    assert "exited with code 7 before it listened" in body, body
    assert_production_page(srv, body, script)
    # the log line admins grep, with the reason, tagged with the app
    wait_log(srv, r"\[aspnetcore:error\] .*\[%s\] failed to start \(502\.5\): Its process exited "
                  r"with code 7" % re.escape(label(srv.app)))
    # an explicit Production with ASPNETCORE_DETAILEDERRORS=0 shows no more
    srv2 = apache.new(script_app("{app}/fail.sh", env={"ASPNETCORE_ENVIRONMENT": "Production",
                                                     "ASPNETCORE_DETAILEDERRORS": "0"}))
    script2 = failing_script(srv2)
    srv2.start()
    _, body2 = page_502_5(srv2)
    assert_production_page(srv2, body2, script2)


@pytest.mark.expect_log(*EXPECT_FAILED_START)
@pytest.mark.parametrize("how", ["development", "detailederrors", "httpd-environment"])
def test_detailed_page_shows_escaped_output_and_paths(apache, how):
    env, httpd_env = {}, {}
    if how == "development":
        env = {"ASPNETCORE_ENVIRONMENT": "development"}      # any case, as ANCM compares
    elif how == "detailederrors":
        env = {"ASPNETCORE_ENVIRONMENT": "Production", "ASPNETCORE_DETAILEDERRORS": "true"}
    else:
        httpd_env = {"ASPNETCORE_DETAILEDERRORS": "1"}      # Apache's own environment
    srv = apache.new(script_app("{app}/fail.sh", env=env), env=httpd_env)
    script = failing_script(srv)
    srv.start()
    _, body = page_502_5(srv)
    assert "exited with code 7" in body
    # what it printed, escaped: the tag is text on the page, never markup
    assert MARKER in body and "second line" in body, body
    assert html.escape(SCRIPT_TAG, quote=False) in body, body
    assert SCRIPT_TAG not in body, "unescaped app output on the page"
    # the paths: program, app root, the kept startup log
    assert script in body and srv.app in body, body
    assert os.path.join(srv.rundir, "aspnetcore", "startup-0.log") in body, body
    assert "www-data" in body or os.geteuid() != 0
    assert "never leave that on in production" in body


@pytest.mark.expect_log(*EXPECT_FAILED_START)
def test_signal_page(apache):
    srv = apache.new(script_app("{app}/fail.sh", env={"ASPNETCORE_DETAILEDERRORS": "1"}))
    failing_script(srv, how="kill -SEGV $$")
    srv.start()
    _, body = page_502_5(srv)
    assert re.search(r"was killed by signal 11 \(Segmentation fault\) before it listened", body), body
    assert MARKER in body        # detailed: what it printed before it died


@pytest.mark.expect_log(*EXPECT_FAILED_START)
def test_startup_timeout_page(apache):
    srv = apache.start(standin(env={"STANDIN_STARTUP_DELAY_MS": "20000"},
                               extra="AspNetCoreStartMode OnDemand\nAspNetCoreStartupTimeLimit 1"))
    # the first request waits the limit in vain (or sees the failure if the kill came first)
    _, body = page_502_5(srv)
    assert "startupTimeLimit" in body and "1 s" in body, body
    # once the supervisor has killed it, the page says so
    def timeout_page():
        r = srv.get("/", timeout=30)
        return r.status == 502 and "did not listen for requests within the startup time limit " \
                                   "of 1 s (startupTimeLimit)" in r.text() and r.text()
    body = wait_until(timeout_page, 15, lambda: "the startup-timeout page\n" + srv.log_tail(20))
    assert srv.app not in body


@pytest.mark.expect_log(*EXPECT_FAILED_START)
def test_rapid_fail_page_says_when_it_is_tried_again(apache):
    srv = apache.start(standin(env={"STANDIN_EXIT_AT_START": "3"},
                               extra="AspNetCoreRapidFailsPerMinute 1"))
    wait_log(srv, r"failures within a minute \(rapidFailsPerMinute 1\)", timeout=20)
    _, body = page_502_5(srv)
    m = re.search(r"The app failed (\d+) times within a minute, more than its limit of 1 "
                  r"\(rapidFailsPerMinute\), so it is not started again before "
                  r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT \(in about (\d+) s\)", body)
    assert m, body
    assert int(m.group(1)) >= 2 and 0 <= int(m.group(2)) <= 61, m.group(0)
    assert "exited with code 3 before it listened" in body, body
    assert_production_page(srv, body, "standin.py")


@pytest.mark.backends("aspnetcore")
@pytest.mark.expect_log(*EXPECT_FAILED_START)
def test_real_dotnet_with_missing_dll(apache, aspnetcore_backend):
    """dotnet itself exits at once when its DLL is missing ("The application to execute does
    not exist", code 129): production page without its words, Development page with them."""
    body = ""
    for name, env in (("prod", {}), ("dev", {"ASPNETCORE_ENVIRONMENT": "Development"})):
        body += section("Location /%s" % name, "\n".join([
            "AspNetCoreProcessPath %s" % aspnetcore_backend.process_path,
            'AspNetCoreArguments "exec {tmp}/%s/Missing.dll"' % name,
            'AspNetCoreAppRoot "{tmp}/%s"' % name,
            "AspNetCoreStartMode OnDemand"]
            + ['AspNetCoreEnvironmentVariable %s "%s"' % kv for kv in env.items()]))
    srv = apache.new(body)
    srv.mkdir("prod")
    srv.mkdir("dev")
    srv.start()
    _, prod = page_502_5(srv, "/prod/", timeout=60)
    assert "exited with code 129 before it listened" in prod, prod
    assert "Missing.dll" not in prod and srv.dir not in prod, prod
    _, dev = page_502_5(srv, "/dev/", timeout=60)
    assert re.search(r"exited with code \d+ before it listened", dev), dev
    # dotnet's own complaint names the DLL, in the output shown
    tail = dev.split("What it wrote while starting", 1)
    assert len(tail) == 2 and "The application to execute does not exist" in tail[1] \
        and "Missing.dll" in tail[1], dev
    assert os.path.join(srv.dir, "dev") in dev


# --- a bare 502, and the site's ErrorDocument ------------------------------------------------------

ERROR_DOCS = {
    500: "<html><body>site 500 page</body></html>\n",
    502: "<html><body>site 502 page</body></html>\n",
    503: "<html><body>site 503 page</body></html>\n",
}


def write_error_docs(srv):
    for status, text in ERROR_DOCS.items():
        srv.write_file("htdocs/errors/%d.html" % status, text)


@pytest.mark.expect_log(*EXPECT_FAILED_START)
def test_disable_startup_error_page(apache):
    body = (section("Location /bare", script_app("{app}/fail.sh", env={"ASPNETCORE_DETAILEDERRORS": "1"},
                                                 extra="AspNetCoreStartMode OnDemand\n"
                                                       "AspNetCoreDisableStartUpErrorPage On"))
            + section("Location /doc", script_app("{tmp}/doc/fail.sh", root="{tmp}/doc",
                                                  extra="AspNetCoreStartMode OnDemand\n"
                                                        "AspNetCoreDisableStartUpErrorPage On\n"
                                                        "ErrorDocument 502 /errors/502.html"))
            + section("Location /text", script_app("{tmp}/text/fail.sh", root="{tmp}/text",
                                                   extra="AspNetCoreStartMode OnDemand\n"
                                                         'ErrorDocument 502 "site says: the app is down"'))
            + section("Location /wc", 'AspNetCoreAppRoot "{tmp}/wc"\nAspNetCoreWebConfig'))
    srv = apache.new(body)
    failing_script(srv)
    failing_script(srv, "doc/fail.sh")
    failing_script(srv, "text/fail.sh")
    failing_script(srv, "wc/fail.sh")
    srv.write_file("wc/web.config", '<?xml version="1.0" encoding="utf-8"?>\n<configuration>'
                   '<system.webServer><aspNetCore processPath="%s" disableStartUpErrorPage="true" />'
                   '</system.webServer></configuration>\n' % os.path.join(srv.dir, "wc", "fail.sh"))
    write_error_docs(srv)
    srv.start()
    # Apache's default 502, not ours (even with detailed errors on)
    for path in ("/bare/", "/wc/"):
        r = expect_status(srv.get(path, timeout=30), 502, "GET " + path, srv)
        assert "502.5" not in r.text() and MARKER not in r.text(), r.text()
        assert APACHE_DEFAULT_502 in r.text(), r.text()
    # the site's ErrorDocument: a local URL, and a text
    r = expect_status(srv.get("/doc/", timeout=30), 502, "GET /doc/", srv)
    assert r.text() == ERROR_DOCS[502], r.text()
    r = expect_status(srv.get("/text/", timeout=30), 502, "GET /text/", srv)
    assert r.text().strip() == "site says: the app is down", r.text()
    # every one was still logged for the admin
    assert len(log_matches(srv, r"failed to start \(502\.5\)")) >= 4


SLOW = "AspNetCoreRequestTimeout 00:00:01"
BUSY = "AspNetCoreStartMode OnDemand\nAspNetCoreMaxQueuedRequests 0"


def status_apps(doc_lines):
    """Four apps, each answering one of our error statuses; `doc_lines[status]` adds the
    site's ErrorDocument for it."""
    return (section("Location /cfg", 'AspNetCoreAppRoot "{tmp}/cfg"\nAspNetCoreWebConfig\n'
                    + doc_lines.get(500, ""))
            + section("Location /start", script_app("{app}/fail.sh") + "\n" + doc_lines.get(502, ""))
            + section("Location /slow", standin(app_root="{tmp}/slow", extra=SLOW + "\n"
                                                + doc_lines.get(502, "")))
            + section("Location /busy", standin(app_root="{tmp}/busy",
                                                env={"STANDIN_STARTUP_DELAY_MS": "20000"},
                                                extra=BUSY + "\n" + doc_lines.get(503, ""))))


def status_server(apache, doc_lines):
    srv = apache.new(status_apps(doc_lines))
    for d in ("cfg", "slow", "busy"):
        srv.mkdir(d)
    failing_script(srv)
    write_error_docs(srv)
    return srv.start()


EXPECT_STATUS_PAGES = EXPECT_FAILED_START + (
    r"configuration error: ", r"cannot run until this is fixed", r"\(502\.3\)", r"\(503\)")


@pytest.mark.expect_log(*EXPECT_STATUS_PAGES)
def test_our_pages_for_500_502_3_and_503(apache):
    srv = status_server(apache, {})
    r = expect_status(srv.get("/cfg/", timeout=30), 500, "GET /cfg/ (no web.config)", srv)
    assert "configuration is invalid" in r.text() and srv.dir not in r.text(), r.text()
    r = expect_status(srv.get("/slow/sleep?ms=3000", timeout=30), 502, "GET /slow/sleep?ms=3000", srv)
    assert "502.3 Bad Gateway" in r.text() and "requestTimeout" in r.text(), r.text()
    assert srv.dir not in r.text(), r.text()
    wait_log(srv, r"\[%s\] .*\(502\.3\)" % re.escape(label(os.path.join(srv.dir, "slow"), "/slow")))
    r = expect_status(srv.get("/busy/", timeout=30), 503, "GET /busy/ (no request may wait)", srv)
    assert "503 Service Unavailable" in r.text() and "AspNetCoreMaxQueuedRequests" in r.text(), r.text()
    assert r.header("retry-after") == "1", r.headers
    for resp in (r,):
        assert (resp.header("content-type") or "").startswith("text/html")
    page_502_5(srv, "/start/")


@pytest.mark.expect_log(*EXPECT_STATUS_PAGES)
def test_error_document_wins_over_our_pages(apache):
    srv = status_server(apache, {s: "ErrorDocument %d /errors/%d.html" % (s, s) for s in ERROR_DOCS})
    expected = [("/cfg/", 500), ("/start/", 502), ("/slow/sleep?ms=3000", 502), ("/busy/", 503)]
    for path, status in expected:
        r = expect_status(srv.get(path, timeout=30), status, "GET %s with an ErrorDocument" % path, srv)
        assert r.text() == ERROR_DOCS[status], "%s: %r" % (path, r.text()[:500])
    # a text ErrorDocument for the 502.3 and 503 too
    srv2 = status_server(apache, {502: 'ErrorDocument 502 "plain 502 text"',
                                  503: 'ErrorDocument 503 "plain 503 text"',
                                  500: 'ErrorDocument 500 "plain 500 text"'})
    for path, status in expected:
        r = expect_status(srv2.get(path, timeout=30), status, "GET %s with a text ErrorDocument" % path,
                          srv2)
        assert r.text().strip() == "plain %d text" % status, "%s: %r" % (path, r.text()[:500])
