"""docs/configuration.md, end to end: every value checked when Apache reads it (configtest
fails naming directive, file, line, value and what is allowed), how scopes declare, inherit
and switch off apps, .htaccess and AllowOverride, web.config import and live changes, and
the launch settings that can only be seen from outside (ports, start mode, start time limit,
stdout logs, hosting model).

Most tests run the Python stand-in (fast); the real ASP.NET Core sample is used where only
it proves the point: its own published web.config and the reference web.config samples.
"""

import html
import os
import re
import shutil
import stat
import time

import pytest

import backends as backends_mod
import procs
from backends import parse_env, parse_pid
from httpd import standin_path
from rigutil import REPO, wait_until, expect_status

WWW_DATA_UID = 33
FIRST_REQUEST_TIMEOUT = 60.0       # the first request may wait for the backend to start
BACKEND_UP_TIMEOUT = 30.0          # an AlwaysRunning backend appears (python start-up, etc.)
WEB_CONFIG_POLL = 3.5              # web.config is looked at again at most once a second
EXPECT_502_3 = r"\(502\.3\)"


# --- helpers -------------------------------------------------------------------------------

def _indent(text, n=4):
    return "\n".join((" " * n + l) if l.strip() else l for l in text.splitlines())


def standin_lines(app_root="{app}", env=None, extra=""):
    """Directives that run the stand-in (AppRoot omitted when app_root is None)."""
    return backends_mod.standin().directives(app_root=app_root, env=env, extra=extra)


def section(head, body):
    name = head.split()[0]
    return "<%s>\n%s\n</%s>\n" % (head, _indent(body), name)



def get_ok(srv, path, headers=None, timeout=FIRST_REQUEST_TIMEOUT):
    return expect_status(srv.get(path, headers=headers, timeout=timeout), 200, "GET %s%s" % (
        path, " (Host %s)" % headers["Host"] if headers and "Host" in headers else ""), srv)


def app_env(srv, prefix="", host=None):
    return parse_env(get_ok(srv, prefix + "/env", headers={"Host": host} if host else None))


def app_pid(srv, prefix="", host=None):
    return parse_pid(get_ok(srv, prefix + "/pid", headers={"Host": host} if host else None))


def echo(srv, path, host=None):
    return get_ok(srv, path, headers={"Host": host} if host else None).json()


def is_apache_404(resp):
    return resp.status == 404 and b"<title>404 Not Found</title>" in resp.body


def backend_procs(srv, marker="standin.py"):
    """{pid: realpath(cwd)} of the live backend processes (cmdline mentions `marker`)
    among the descendants of the httpd parent."""
    out = {}
    for p in srv.descendants():
        if p.state in ("Z", "X"):
            continue
        try:
            if any(marker in a for a in procs.cmdline(p.pid)):
                out[p.pid] = os.path.realpath(procs.cwd(p.pid))
        except OSError:
            continue
    return out


def backends_in(srv, directory, marker="standin.py"):
    d = os.path.realpath(directory)
    return sorted(pid for pid, cwd in backend_procs(srv, marker).items() if cwd == d)


def wait_backends_in(srv, directory, count=1, timeout=BACKEND_UP_TIMEOUT, marker="standin.py"):
    def enough():
        pids = backends_in(srv, directory, marker)
        return pids if len(pids) >= count else None
    return wait_until(enough, timeout, lambda: "%d backend(s) running in %s (backends now: %s)\n%s"
                      % (count, directory, backend_procs(srv, marker), srv.log_tail(20)))


def make_writable_by_www_data(path):
    """The app root of an app that writes stdout logs must be writable by Apache's User."""
    if os.geteuid() == 0:
        os.chown(path, WWW_DATA_UID, WWW_DATA_UID)
    else:
        os.chmod(path, 0o777)


def web_config(attrs, children="", location=True):
    """A web.config shaped like the published ones; the <aspNetCore> element on one line
    (its line number is returned too)."""
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<configuration>"]
    if location:
        lines.append('  <location path="." inheritInChildApplications="false">')
    lines += ["    <system.webServer>",
              "      <handlers>",
              '        <add name="aspNetCore" path="*" verb="*" modules="AspNetCoreModuleV2" '
              'resourceType="Unspecified" />',
              "      </handlers>"]
    attr_text = " ".join('%s="%s"' % kv for kv in attrs)
    line_no = len(lines) + 1
    if children:
        lines.append("      <aspNetCore %s>" % attr_text)
        lines += ["        " + l for l in children.strip("\n").splitlines()]
        lines.append("      </aspNetCore>")
    else:
        lines.append("      <aspNetCore %s />" % attr_text)
    lines.append("    </system.webServer>")
    if location:
        lines.append("  </location>")
    lines.append("</configuration>")
    return "\n".join(lines) + "\n", line_no


def write_replacing(path, text):
    """Rewrite a file in place (same inode, as an editor saving over it would)."""
    with open(path, "w") as f:
        f.write(text)


# --- 1. configtest: every bad value stops the configuration ---------------------------------

STANDIN = standin_path()

CONFIGTEST_CASES = [
    # id, bad config, good config, directive, marker of the offending line,
    # words that show the bad value, regex of what is allowed
    ("startup-time-limit-5000",
     standin_lines() + "\nAspNetCoreStartupTimeLimit 5000",
     standin_lines() + "\nAspNetCoreStartupTimeLimit 3600",
     "AspNetCoreStartupTimeLimit", "AspNetCoreStartupTimeLimit 5000", ["5000"], r"\b0\b.*\b3600\b"),
    ("shutdown-time-limit-minus-1",
     standin_lines() + "\nAspNetCoreShutdownTimeLimit -1",
     standin_lines() + "\nAspNetCoreShutdownTimeLimit 0",
     "AspNetCoreShutdownTimeLimit", "AspNetCoreShutdownTimeLimit -1", ["-1"], r"\b0\b.*\b600\b"),
    ("rapid-fails-101",
     standin_lines() + "\nAspNetCoreRapidFailsPerMinute 101",
     standin_lines() + "\nAspNetCoreRapidFailsPerMinute 100",
     "AspNetCoreRapidFailsPerMinute", "AspNetCoreRapidFailsPerMinute 101", ["101"], r"\b0\b.*\b100\b"),
    ("processes-0",
     standin_lines() + "\nAspNetCoreProcessesPerApplication 0",
     standin_lines() + "\nAspNetCoreProcessesPerApplication 1",
     "AspNetCoreProcessesPerApplication", "AspNetCoreProcessesPerApplication 0", ["0"], r"\b1\b.*\b100\b"),
    ("request-timeout-60-minutes",
     standin_lines() + "\nAspNetCoreRequestTimeout 00:60:00",
     standin_lines() + "\nAspNetCoreRequestTimeout 00:59:00",
     "AspNetCoreRequestTimeout", "AspNetCoreRequestTimeout 00:60:00", ["00:60:00"],
     r"hh:mm:ss"),
    ("request-timeout-60-seconds",
     standin_lines() + "\nAspNetCoreRequestTimeout 00:00:60",
     standin_lines() + "\nAspNetCoreRequestTimeout 00:00:59",
     "AspNetCoreRequestTimeout", "AspNetCoreRequestTimeout 00:00:60", ["00:00:60"],
     r"hh:mm:ss"),
    ("request-timeout-361-hours",
     standin_lines() + "\nAspNetCoreRequestTimeout 361:00:00",
     standin_lines() + "\nAspNetCoreRequestTimeout 360:00:00",
     "AspNetCoreRequestTimeout", "AspNetCoreRequestTimeout 361:00:00", ["361:00:00"],
     r"360:00:00"),
    ("hosting-model-foo",
     standin_lines() + "\nAspNetCoreHostingModel Foo",
     standin_lines() + "\nAspNetCoreHostingModel inprocess",
     "AspNetCoreHostingModel", "AspNetCoreHostingModel Foo", ["Foo"], r"InProcess.*OutOfProcess"),
    ("start-mode-sometimes",
     standin_lines() + "\nAspNetCoreStartMode Sometimes",
     standin_lines() + "\nAspNetCoreStartMode OnDemand",
     "AspNetCoreStartMode", "AspNetCoreStartMode Sometimes", ["Sometimes"],
     r"AlwaysRunning.*OnDemand"),
    ("port-range-reversed",
     "AspNetCorePortRange 5000-4000\n" + standin_lines(),
     "AspNetCorePortRange 4000-5000\n" + standin_lines(),
     "AspNetCorePortRange", "AspNetCorePortRange 5000-4000", ["5000-4000"], r"1024.*65535"),
    ("port-range-in-virtualhost",
     section("VirtualHost 127.0.0.1:{port}", "ServerName app.test\nAspNetCorePortRange 20000-20019\n"
             + standin_lines()),
     "AspNetCorePortRange 20000-20019\n"
     + section("VirtualHost 127.0.0.1:{port}", "ServerName app.test\n" + standin_lines()),
     "AspNetCorePortRange", "AspNetCorePortRange 20000-20019", ["VirtualHost"], r"server"),
    ("dynamic-app-idle-timeout-seconds",
     "AspNetCoreDynamicAppIdleTimeout 20\n" + standin_lines(),
     "AspNetCoreDynamicAppIdleTimeout 00:00:20\n" + standin_lines(),
     "AspNetCoreDynamicAppIdleTimeout", "AspNetCoreDynamicAppIdleTimeout 20", ["20"],
     r"hh:mm:ss"),
    ("dynamic-app-idle-timeout-31-days",
     "AspNetCoreDynamicAppIdleTimeout 31.00:00:00\n" + standin_lines(),
     "AspNetCoreDynamicAppIdleTimeout 30.00:00:00\n" + standin_lines(),
     "AspNetCoreDynamicAppIdleTimeout", "AspNetCoreDynamicAppIdleTimeout 31.00:00:00",
     ["31.00:00:00"], r"720:00:00|30\.00:00:00"),
    ("dynamic-app-idle-timeout-in-virtualhost",
     section("VirtualHost 127.0.0.1:{port}", "ServerName app.test\n"
             "AspNetCoreDynamicAppIdleTimeout 00:01:00\n" + standin_lines()),
     "AspNetCoreDynamicAppIdleTimeout 00:01:00\n"
     + section("VirtualHost 127.0.0.1:{port}", "ServerName app.test\n" + standin_lines()),
     "AspNetCoreDynamicAppIdleTimeout", "AspNetCoreDynamicAppIdleTimeout 00:01:00",
     ["VirtualHost"], r"server"),
    ("backend-idle-timeout-0",
     "AspNetCoreBackendIdleTimeout 0\n" + standin_lines(),
     "AspNetCoreBackendIdleTimeout 1\n" + standin_lines(),
     "AspNetCoreBackendIdleTimeout", "AspNetCoreBackendIdleTimeout 0", ["0"], r"\b1\b.*\b3600\b"),
    ("backend-idle-timeout-in-virtualhost",
     section("VirtualHost 127.0.0.1:{port}", "ServerName app.test\nAspNetCoreBackendIdleTimeout 30\n"
             + standin_lines()),
     "AspNetCoreBackendIdleTimeout 30\n"
     + section("VirtualHost 127.0.0.1:{port}", "ServerName app.test\n" + standin_lines()),
     "AspNetCoreBackendIdleTimeout", "AspNetCoreBackendIdleTimeout 30", ["VirtualHost"], r"server"),
    ("env-name-starts-with-digit",
     standin_lines() + "\nAspNetCoreEnvironmentVariable 1BAD x",
     standin_lines() + "\nAspNetCoreEnvironmentVariable GOOD1 x",
     "AspNetCoreEnvironmentVariable", "AspNetCoreEnvironmentVariable 1BAD x", ["1BAD"],
     r"digit|letter"),
    # a missing AspNetCoreAppRoot is a warning, not an error (defect 2.10):
    # test_resilience.py::test_app_root_renamed_away_at_graceful
    ("process-path-in-locationmatch",
     section('LocationMatch "^/x"', standin_lines()),
     section("Location /x", standin_lines()),
     "AspNetCoreProcessPath", "AspNetCoreProcessPath", ["LocationMatch"], r"<Location"),
    ("location-app-without-app-root",
     section("Location /x", standin_lines(app_root=None)),
     section("Location /x", standin_lines(app_root="{app}")),
     "AspNetCoreAppRoot", "AspNetCoreProcessPath", ["/x"], r"AspNetCoreAppRoot"),
    ("stdout-log-limit-unit",
     standin_lines() + "\nAspNetCoreStdoutLogLimit 10MB",
     standin_lines() + "\nAspNetCoreStdoutLogLimit 10M",
     "AspNetCoreStdoutLogLimit", "AspNetCoreStdoutLogLimit 10MB", ["10MB"], r"K, M or G"),
    ("stdout-log-limit-files",
     standin_lines() + "\nAspNetCoreStdoutLogLimit 1G many",
     standin_lines() + "\nAspNetCoreStdoutLogLimit 1G 0",
     "AspNetCoreStdoutLogLimit", "AspNetCoreStdoutLogLimit 1G many", ["many"], r"0 \(all\) or 1-100000"),
    ("recycle-requests-negative",
     standin_lines() + "\nAspNetCoreRecycle requests=-5",
     standin_lines() + "\nAspNetCoreRecycle requests=5",
     "AspNetCoreRecycle", "AspNetCoreRecycle requests=-5", ["-5"], r"0 to 4000000000"),
    ("recycle-time-without-unit",
     standin_lines() + "\nAspNetCoreRecycle time=90",
     standin_lines() + "\nAspNetCoreRecycle time=90s",
     "AspNetCoreRecycle", "AspNetCoreRecycle time=90", ["90"], r"has a number without a unit \(d, h, m or s\)"),
    ("recycle-schedule-24-00",
     standin_lines() + "\nAspNetCoreRecycle schedule=03:00,24:00",
     standin_lines() + "\nAspNetCoreRecycle schedule=03:00,23:59",
     "AspNetCoreRecycle", "AspNetCoreRecycle schedule=03:00,24:00", ["24:00"],
     r"00:00 to 23:59"),
    ("recycle-unknown-limit",
     standin_lines() + "\nAspNetCoreRecycle colour=red",
     standin_lines() + "\nAspNetCoreRecycle memory=512",
     "AspNetCoreRecycle", "AspNetCoreRecycle colour=red", ["colour"],
     r"requests=N, time=DURATION, memory=MiB, schedule=HH:MM"),
    ("web-config-two-files",
     standin_lines() + "\nAspNetCoreWebConfig a b",
     standin_lines() + "\nAspNetCoreWebConfig a",
     "AspNetCoreWebConfig", "AspNetCoreWebConfig a", ["a b"], r"one"),
    # AspNetCoreIdleTimeout: a duration with a unit (a bare number could be seconds or
    # IIS's minutes), units largest first, at most 30 days, or IIS's TimeSpan
    ("idle-timeout-no-unit",
     standin_lines() + "\nAspNetCoreIdleTimeout 20",
     standin_lines() + "\nAspNetCoreIdleTimeout 20m",
     "AspNetCoreIdleTimeout", "AspNetCoreIdleTimeout 20", ["20"], r"20m, 90s, 1h30m or 00:20:00.*0: never.*30 days"),
    ("idle-timeout-31d",
     standin_lines() + "\nAspNetCoreIdleTimeout 31d",
     standin_lines() + "\nAspNetCoreIdleTimeout 30d",
     "AspNetCoreIdleTimeout", "AspNetCoreIdleTimeout 31d", ["31d"], r"too long.*at most 30 days"),
    ("idle-timeout-units-out-of-order",
     standin_lines() + "\nAspNetCoreIdleTimeout 30m1h",
     standin_lines() + "\nAspNetCoreIdleTimeout 1h30m",
     "AspNetCoreIdleTimeout", "AspNetCoreIdleTimeout 30m1h", ["30m1h"], r"out of order \(d, h, m, s\)"),
    ("idle-timeout-timespan-minutes-60",
     standin_lines() + "\nAspNetCoreIdleTimeout 00:60:00",
     standin_lines() + "\nAspNetCoreIdleTimeout 01:00:00",
     "AspNetCoreIdleTimeout", "AspNetCoreIdleTimeout 00:60:00", ["00:60:00"], r"minutes must be 00-59.*20m"),
    # AspNetCoreHealthCheck PATH [interval=S] [timeout=S] [failures=N] (test_health.py)
    ("health-check-relative-path",
     standin_lines() + "\nAspNetCoreHealthCheck healthz",
     standin_lines() + "\nAspNetCoreHealthCheck /healthz",
     "AspNetCoreHealthCheck", "AspNetCoreHealthCheck healthz", ["healthz"], r"starts with '/'"),
    ("health-check-path-with-space",
     standin_lines() + '\nAspNetCoreHealthCheck "/health z"',
     standin_lines() + "\nAspNetCoreHealthCheck /health%20z",
     "AspNetCoreHealthCheck", "AspNetCoreHealthCheck \"/health z", ["/health z"],
     r"visible ASCII"),
    ("health-check-interval-0",
     standin_lines() + "\nAspNetCoreHealthCheck /healthz interval=0 timeout=1",
     standin_lines() + "\nAspNetCoreHealthCheck /healthz interval=1 timeout=1",
     "AspNetCoreHealthCheck", "AspNetCoreHealthCheck /healthz interval=0", ["0"],
     r"\b1\b.*\b3600\b"),
    ("health-check-timeout-601",
     standin_lines() + "\nAspNetCoreHealthCheck /healthz interval=3600 timeout=601",
     standin_lines() + "\nAspNetCoreHealthCheck /healthz interval=3600 timeout=600",
     "AspNetCoreHealthCheck", "AspNetCoreHealthCheck /healthz interval=3600", ["601"],
     r"\b1\b.*\b600\b"),
    ("health-check-timeout-over-interval",
     standin_lines() + "\nAspNetCoreHealthCheck /healthz interval=5 timeout=6",
     standin_lines() + "\nAspNetCoreHealthCheck /healthz interval=5 timeout=5",
     "AspNetCoreHealthCheck", "AspNetCoreHealthCheck /healthz interval=5", ["6"],
     r"at most the interval"),
    ("health-check-failures-101",
     standin_lines() + "\nAspNetCoreHealthCheck /healthz failures=101",
     standin_lines() + "\nAspNetCoreHealthCheck /healthz failures=100",
     "AspNetCoreHealthCheck", "AspNetCoreHealthCheck /healthz failures", ["101"],
     r"\b1\b.*\b100\b"),
    ("health-check-unknown-option",
     standin_lines() + "\nAspNetCoreHealthCheck /healthz every=5",
     standin_lines() + "\nAspNetCoreHealthCheck /healthz interval=5",
     "AspNetCoreHealthCheck", "AspNetCoreHealthCheck /healthz", ["every=5"],
     r"interval=S, timeout=S, failures=N"),
]


def _line_of(conf_text, marker):
    for i, line in enumerate(conf_text.splitlines(), 1):
        if marker in line:
            return i
    raise AssertionError("marker %r not in the generated config" % marker)


def _shows_value(text, value):
    """value appears in text as a whole word (not as part of a longer number or path)."""
    return re.search(r"(?<![\w.:/-])%s(?![\w.:/-])" % re.escape(value), text) is not None


@pytest.mark.parametrize("case", CONFIGTEST_CASES, ids=[c[0] for c in CONFIGTEST_CASES])
def test_configtest_rejects_bad_value(apache, case):
    _, bad, good, directive, marker, shown, allowed = case
    srv = apache.new(bad)
    srv.write_file("a", web_config([("processPath", "/usr/bin/python3"),
                                    ("arguments", STANDIN)])[0])
    line = _line_of(srv.conf(), marker)
    rc, out = srv.apache2("-t")
    conf_lines = srv.conf().splitlines()
    where = "apache2 -t exited %d, output:\n%s\n--- %s, lines %d-%d ---\n%s" % (
        rc, out, srv.conf_path, max(1, line - 3), line + 3, "\n".join(
            "%4d  %s" % (i, l) for i, l in enumerate(conf_lines, 1) if abs(i - line) <= 3))
    assert rc != 0, "configtest accepted the bad value; " + where
    assert "Syntax OK" not in out, where
    assert directive in out, "the directive is not named; " + where
    assert srv.conf_path in out, "the config file is not named; " + where
    assert (re.search(r"line %d of %s" % (line, re.escape(srv.conf_path)), out)
            or "%s:%d" % (srv.conf_path, line) in out), "line %d is not named; %s" % (line, where)
    message = out.replace(srv.conf_path, "<conf>")
    message = re.sub(r"line \d+ of|<conf>:\d+", "", message)
    for v in shown:
        assert _shows_value(message, v), "the bad value %r is not shown; %s" % (v, where)
    assert re.search(allowed, message, re.S), \
        "what is allowed (%s) is not said; %s" % (allowed, where)
    # the same configuration with an allowed value is accepted: the value was the problem
    srv.write_conf(good)
    rc, out = srv.apache2("-t")
    assert rc == 0 and "Syntax OK" in out, "the corrected config fails too (rc %d):\n%s" % (rc, out)


def test_configtest_accepts_good_config(apache):
    """Every directive, in every scope that allows it, with edge values: apache2 -t passes."""
    srv = apache.new("""
AspNetCorePortRange 1024-65535
AspNetCoreBackendIdleTimeout 3600
AspNetCoreDynamicAppIdleTimeout 00:00:00
%(server)s
AspNetCoreEnvironmentVariable Dotted.Name-1 "a value with spaces"
AspNetCoreHandlerSetting debugLevel "FILE,TRACE"
AspNetCoreStartupTimeLimit 0
AspNetCoreShutdownTimeLimit 600
AspNetCoreRapidFailsPerMinute 0
AspNetCoreProcessesPerApplication 1
AspNetCoreRequestTimeout 360:00:00
AspNetCoreHostingModel OUTOFPROCESS
AspNetCoreForwardWindowsAuthToken Off
AspNetCoreDisableStartUpErrorPage On
AspNetCoreStdoutLogEnabled Off
AspNetCoreStdoutLogFile ./logs/stdout
AspNetCoreStdoutLogLimit 0 0
AspNetCoreStartMode alwaysrunning
AspNetCoreIdleTimeout 0
AspNetCoreRecycle requests=4000000000 time=366d memory=1048576 schedule=00:00,23:59
<VirtualHost 127.0.0.1:{port}>
    ServerName vhost.test
%(vhost)s
    AspNetCoreRequestTimeout 1.02:03:04
    AspNetCoreIdleTimeout 1.00:00:00
    AspNetCoreWebConfig wc/web.config
    AspNetCoreRecycle time=29:00:00
</VirtualHost>
<Location /shop>
%(shop)s
    AspNetCoreRequestTimeout 00:59:59
    AspNetCoreStartMode OnDemand
    AspNetCoreIdleTimeout 1h30m
    AspNetCoreHostingModel InProcess
    AspNetCoreRecycle none
</Location>
<Location /shop/static>
    AspNetCore Off
</Location>
<Location /shop/static/api>
    AspNetCore On
</Location>
<Directory {docroot}/dir>
%(dir)s
    AspNetCoreProcessesPerApplication 100
    AspNetCoreRapidFailsPerMinute 100
    AspNetCoreStartupTimeLimit 3600
    AspNetCoreIdleTimeout 30d
    AspNetCoreRecycle requests=0 time=0 memory=0
</Directory>
<LocationMatch "^/x">
    AspNetCoreRequestTimeout 00:00:00
    AspNetCore Off
</LocationMatch>
""" % {"server": standin_lines(),
       "vhost": _indent(standin_lines(app_root="{tmp}/wc")),
       "shop": _indent(standin_lines(app_root="{app}")),
       "dir": _indent(standin_lines(app_root=None))})
    srv.mkdir("htdocs/dir")
    srv.mkdir("wc")
    srv.write_file("wc/web.config", web_config([("processPath", "/usr/bin/python3"),
                                                ("arguments", STANDIN)])[0])
    rc, out = srv.apache2("-t")
    assert rc == 0 and "Syntax OK" in out, "apache2 -t exited %d:\n%s" % (rc, out)


# --- 2. merging and inheritance -----------------------------------------------------------

def test_server_env_var_reaches_vhost_app(apache):
    """A server-wide AspNetCoreEnvironmentVariable, with no app of its own at server level,
    is inherited by the app a <VirtualHost> declares."""
    srv = apache.start("""
AspNetCoreEnvironmentVariable FROM_SERVER "set at server level"
<VirtualHost 127.0.0.1:{port}>
    ServerName app.test
%s
</VirtualHost>
""" % _indent(standin_lines(env={"FROM_VHOST": "set in the vhost"})))
    env = app_env(srv, host="app.test")
    assert env.get("FROM_SERVER") == "set at server level", env
    assert env.get("FROM_VHOST") == "set in the vhost", env
    assert env["ASPNETCORE_APPL_PATH"] == "/"


def test_server_app_env_var_inherited_by_vhost_app(apache):
    """The server runs an app; a <VirtualHost> declares its own, which adds its variables to
    those of the enclosing (server) scope."""
    srv = apache.start(standin_lines(env={"FROM_SERVER": "set at server level"}) + """
<VirtualHost 127.0.0.1:{port}>
    ServerName main.test
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName app.test
    AspNetCoreEnvironmentVariable FROM_VHOST "set in the vhost"
</VirtualHost>
""")
    env = app_env(srv, host="app.test")
    assert env.get("FROM_SERVER") == "set at server level", env
    assert env.get("FROM_VHOST") == "set in the vhost", env
    main = app_env(srv, host="main.test")
    assert main.get("FROM_SERVER") == "set at server level" and "FROM_VHOST" not in main, main
    assert main["ASPNETCORE_TOKEN"] != env["ASPNETCORE_TOKEN"], "the vhost must be its own app"


@pytest.mark.expect_log(EXPECT_502_3)
def test_nested_scope_inherits_app_with_own_request_timeout(apache):
    """<Location /SLEEP> declares no app: it inherits the server's (same process) and only
    shortens the request timeout. The stand-in's routes (like ASP.NET Core's) ignore case,
    so /SLEEP and /sleep are the same endpoint, inside and outside the nested scope."""
    srv = apache.start(standin_lines() + "\n" +
                       section("Location /SLEEP", "AspNetCoreRequestTimeout 00:00:01"))
    pid = app_pid(srv)
    r = srv.get("/sleep?ms=3000", timeout=30)
    expect_status(r, 200, "GET /sleep?ms=3000 outside the nested scope (timeout 2 min)", srv)
    assert r.body == b"slept 3000", r.body
    r = srv.get("/SLEEP?ms=0", timeout=30)
    expect_status(r, 200, "GET /SLEEP?ms=0 in the nested scope", srv)
    t0 = time.monotonic()
    r = srv.get("/SLEEP?ms=3000", timeout=30)
    took = time.monotonic() - t0
    expect_status(r, 502, "GET /SLEEP?ms=3000 in the nested scope (timeout 1 s)", srv)
    assert took < 2.8, "the 502 came after %.2f s; the request timeout is 1 s" % took
    srv.wait_for_log(EXPECT_502_3)
    assert backends_in(srv, srv.app) == [pid], (
        "the nested scope must use the server's app (one process %d), backends: %s"
        % (pid, backend_procs(srv)))


def test_location_with_own_launch_directive_is_separate_app(apache):
    srv = apache.start(standin_lines(env={"LEVEL": "server"}) + "\n" +
                       section("Location /shop", "AspNetCoreEnvironmentVariable SHOP_ONLY yes"))
    outer, inner = app_env(srv), app_env(srv, "/shop")
    assert inner.get("SHOP_ONLY") == "yes" and inner.get("LEVEL") == "server", inner
    assert "SHOP_ONLY" not in outer and outer.get("LEVEL") == "server", outer
    assert (outer["ASPNETCORE_APPL_PATH"], inner["ASPNETCORE_APPL_PATH"]) == ("/", "/shop")
    assert outer["ASPNETCORE_PORT"] != inner["ASPNETCORE_PORT"]
    p_outer, p_inner = app_pid(srv), app_pid(srv, "/shop")
    assert p_outer != p_inner, "the <Location> with its own env var shares the server's process"
    assert echo(srv, "/shop/echo/x")["path_base"] == "/shop"
    assert echo(srv, "/echo/x")["path_base"] == ""
    assert sorted(backends_in(srv, srv.app)) == sorted([p_outer, p_inner])


@pytest.mark.expect_log(EXPECT_502_3)
def test_reload_replaces_processes_only_for_launch_settings(apache):
    """A changed request setting applies after a reload with the same process; a changed
    launch setting (an environment variable) replaces the process."""
    def conf(value, timeout):
        return standin_lines(env={"SETTING": value}, extra="AspNetCoreRequestTimeout " + timeout)
    srv = apache.start(conf("one", "00:00:01"))
    pid1 = app_pid(srv)
    expect_status(srv.get("/sleep?ms=2500", timeout=30), 502, "GET /sleep?ms=2500 (timeout 1 s)",
                  srv)
    srv.graceful(conf("one", "00:00:30"))
    r = srv.get("/sleep?ms=2500", timeout=30)
    expect_status(r, 200, "GET /sleep?ms=2500 after reloading with AspNetCoreRequestTimeout "
                          "00:00:30", srv)
    assert app_pid(srv) == pid1, "a request setting changed, yet the process was replaced"
    srv.graceful(conf("two", "00:00:30"))
    wait_until(lambda: app_env(srv).get("SETTING") == "two", 20,
               lambda: "the app to see SETTING=two after the reload\n" + srv.log_tail(20))
    assert app_pid(srv) != pid1
    wait_until(lambda: not procs.alive(pid1), 15, "the old backend %d to exit" % pid1)


# --- 3. AspNetCore Off / On -------------------------------------------------------------------

def test_aspnetcore_off_serves_static_and_on_forwards_again(apache):
    srv = apache.new(standin_lines() + "\n"
                     + section("Location /static", "AspNetCore Off")
                     + section("Directory {docroot}/wwwroot", "AspNetCore Off")
                     + section("Location /echo/static", "AspNetCore Off")
                     + section("Location /echo/static/live", "AspNetCore On"))
    srv.write_file("htdocs/static/file.txt", "static file\n")
    srv.write_file("htdocs/wwwroot/site.css", "body { color: red }\n")
    srv.write_file("htdocs/echo/static/page.txt", "static under /echo\n")
    srv.start()
    e = echo(srv, "/echo/anything")
    assert (e["backend"], e["path"]) == ("standin", "/echo/anything"), e
    for path, body in (("/static/file.txt", b"static file\n"),
                       ("/wwwroot/site.css", b"body { color: red }\n"),
                       ("/echo/static/page.txt", b"static under /echo\n")):
        r = get_ok(srv, path)
        assert r.body == body, (path, r.body[:300])
    for path in ("/static/missing", "/wwwroot/echo", "/echo/static/echo"):
        r = srv.get(path)
        assert is_apache_404(r), "AspNetCore Off: %s should be Apache's 404, got %s %r" % (
            path, r.status, r.body[:300])
    e = echo(srv, "/echo/static/live/x?y=1")
    assert (e["backend"], e["path"], e["query"]) == ("standin", "/echo/static/live/x", "?y=1"), e


BROKEN_HTACCESS = "ThisIsNotADirective\n"


@pytest.mark.expect_log(r"Invalid command 'ThisIsNotADirective'")
def test_location_app_urls_skip_the_filesystem_walk(apache):
    """An app declared at server, <VirtualHost> or <Location> level names no file: as with
    mod_proxy, Apache does not walk the filesystem for its URLs (no stat per path segment, no
    .htaccess). A broken .htaccess on the way does not touch the app's URLs, while Apache's
    own URLs in the same directories still read it."""
    srv = apache.new(section("Location /shop", standin_lines())
                     + section("Directory {docroot}", "AllowOverride All"))
    srv.write_file("htdocs/.htaccess", BROKEN_HTACCESS)
    srv.write_file("htdocs/shop/.htaccess", BROKEN_HTACCESS)
    srv.write_file("htdocs/shop/echo/page.txt", "a file under the app's URL space\n")
    srv.start()
    e = echo(srv, "/shop/echo/x?y=1")
    assert (e["backend"], e["path_base"], e["path"]) == ("standin", "/shop", "/echo/x"), e
    e = echo(srv, "/shop/echo/page.txt")   # a file exists there: still the app's URL
    assert (e["backend"], e["path"]) == ("standin", "/echo/page.txt"), e
    r = srv.get("/index.html")
    assert r.status == 500, ("Apache's own URL must still read the broken .htaccess",
                             r.status, r.body[:300])


@pytest.mark.expect_log(r"Invalid command 'ThisIsNotADirective'")
def test_directory_sections_with_our_directives_keep_the_walk(apache):
    """Where a <Directory> section uses one of our directives, every request gets the
    filesystem walk that applies it (the .htaccess on the way is read again)."""
    srv = apache.new(section("Location /shop", standin_lines())
                     + section("Directory {docroot}", "AllowOverride All")
                     + section("Directory {docroot}/elsewhere", "AspNetCoreRequestTimeout 00:00:30"))
    srv.mkdir("htdocs/elsewhere")
    srv.write_file("htdocs/shop/.htaccess", BROKEN_HTACCESS)
    srv.start()
    r = srv.get("/shop/echo/x", timeout=FIRST_REQUEST_TIMEOUT)
    assert r.status == 500, ("the walk must read the broken .htaccess under /shop",
                             r.status, r.body[:300])


# --- 4. two name-based virtual hosts --------------------------------------------------------

def test_two_vhosts_same_port_two_apps(apache):
    body = ""
    for name in ("one", "two"):
        body += section("VirtualHost 127.0.0.1:{port}",
                        "ServerName %s.test\n" % name + standin_lines(env={"APP_NAME": name}))
    srv = apache.start(body)
    e1, e2 = app_env(srv, host="one.test"), app_env(srv, host="two.test")
    assert (e1.get("APP_NAME"), e2.get("APP_NAME")) == ("one", "two"), (e1, e2)
    assert e1["ASPNETCORE_PORT"] != e2["ASPNETCORE_PORT"]
    assert e1["ASPNETCORE_TOKEN"] != e2["ASPNETCORE_TOKEN"]
    p1, p2 = app_pid(srv, host="one.test"), app_pid(srv, host="two.test")
    assert p1 != p2, "two virtual hosts share one process"
    assert echo(srv, "/echo", host="two.test")["pid"] == p2
    assert echo(srv, "/echo", host="one.test")["pid"] == p1
    # same app root, two apps side by side
    assert backends_in(srv, srv.app) == sorted([p1, p2])


# --- 5. an app declared by <Directory> -----------------------------------------------------

def test_directory_app_gets_path_base_and_cwd(apache):
    srv = apache.new(section("Directory {docroot}/shop", standin_lines(app_root=None)))
    shop = srv.mkdir("htdocs/shop")
    srv.start()
    e = echo(srv, "/shop/echo/item?id=3")
    assert (e["path_base"], e["path"], e["query"]) == ("/shop", "/echo/item", "?id=3"), e
    assert app_env(srv, "/shop")["ASPNETCORE_APPL_PATH"] == "/shop"
    pid = app_pid(srv, "/shop")
    assert os.path.realpath(procs.cwd(pid)) == os.path.realpath(shop)
    r = srv.get("/echo")
    assert is_apache_404(r), (r, r.body[:300])


# --- 6. .htaccess ---------------------------------------------------------------------------

def htaccess_app(extra=""):
    return ('AspNetCoreProcessPath /usr/bin/python3\nAspNetCoreArguments "%s"\n%s'
            % (STANDIN, extra))


def test_htaccess_ignored_with_allowoverride_none(apache):
    srv = apache.new(section("Directory {docroot}/shop", "AllowOverride None")
                     + section("Directory {docroot}/open", "AllowOverride Options FileInfo"))
    for d in ("shop", "open"):
        srv.write_file("htdocs/%s/.htaccess" % d, htaccess_app())
        srv.write_file("htdocs/%s/index.html" % d, "static %s\n" % d)
    srv.start()
    # control: the same .htaccess where it is allowed declares a working app
    assert echo(srv, "/open/echo")["path_base"] == "/open"
    r = get_ok(srv, "/shop/")
    assert r.body == b"static shop\n", r.body[:300]
    r = srv.get("/shop/echo")
    assert is_apache_404(r), "AllowOverride None: .htaccess must be ignored, got %s %r" % (
        r.status, r.body[:300])
    assert backends_in(srv, os.path.join(srv.docroot, "shop")) == []


@pytest.mark.expect_log(r"\.htaccess: AspNetCoreProcessPath not allowed here")
def test_htaccess_launch_directive_needs_allowoverride_options(apache):
    srv = apache.new(section("Directory {docroot}/shop", "AllowOverride FileInfo"))
    srv.write_file("htdocs/shop/.htaccess", htaccess_app())
    srv.start()
    r = srv.get("/shop/echo")
    expect_status(r, 500, "GET /shop/echo with AspNetCoreProcessPath in .htaccess and only "
                          "AllowOverride FileInfo", srv)
    srv.wait_for_log(r"%s: AspNetCoreProcessPath not allowed here"
                     % re.escape(os.path.join(srv.docroot, "shop", ".htaccess")))


def test_htaccess_app_runs_on_demand(apache):
    srv = apache.new(section("Directory {docroot}/shop", "AllowOverride Options FileInfo")
                     + section("Location /main", standin_lines(app_root="{app}")))
    shop = os.path.dirname(srv.write_file("htdocs/shop/.htaccess", htaccess_app()))
    srv.start()
    # the main config's (AlwaysRunning) app is up and serving: startup is over ...
    wait_backends_in(srv, srv.app)
    get_ok(srv, "/main/pid")
    # ... and the .htaccess app has no process before its first request
    assert backends_in(srv, shop) == [], "an .htaccess app runs before any request to it: %s" % (
        backend_procs(srv))
    e = echo(srv, "/shop/echo/x")
    assert (e["path_base"], e["path"]) == ("/shop", "/echo/x"), e
    assert app_env(srv, "/shop")["ASPNETCORE_APPL_PATH"] == "/shop"
    assert backends_in(srv, shop) == [e["pid"]], backend_procs(srv)


@pytest.mark.expect_log(r"\.htaccess: AspNetCoreEnvironmentVariable not allowed here")
def test_allowoverridelist_opens_single_directives(apache):
    allow = "AllowOverride None\nAllowOverrideList AspNetCoreProcessPath AspNetCoreArguments"
    srv = apache.new(section("Directory {docroot}/shop", allow)
                     + section("Directory {docroot}/more", allow))
    shop = os.path.dirname(srv.write_file("htdocs/shop/.htaccess", htaccess_app()))
    srv.write_file("htdocs/more/.htaccess",
                   htaccess_app("AspNetCoreEnvironmentVariable NOT_LISTED x\n"))
    srv.start()
    e = echo(srv, "/shop/echo")
    assert e["path_base"] == "/shop", e
    assert backends_in(srv, shop) == [e["pid"]]
    r = srv.get("/more/echo")
    expect_status(r, 500, "GET /more/echo (.htaccess uses a directive not in AllowOverrideList)",
                  srv)
    srv.wait_for_log(r"AspNetCoreEnvironmentVariable not allowed here")


@pytest.mark.expect_log(r"\.htaccess: AspNetCore(AppRoot|WebConfig): .*outside")
def test_htaccess_cannot_point_above_its_directory(apache):
    srv = apache.new(section("Directory {docroot}", "AllowOverride Options FileInfo"))
    srv.write_file("htdocs/up/.htaccess", htaccess_app("AspNetCoreAppRoot ..\n"))
    srv.write_file("htdocs/wc/.htaccess", htaccess_app("AspNetCoreWebConfig ../web.config\n"))
    srv.write_file("htdocs/ok/.htaccess", htaccess_app("AspNetCoreAppRoot sub\n"))
    sub = srv.mkdir("htdocs/ok/sub")
    srv.start()
    e = echo(srv, "/ok/echo")
    assert e["path_base"] == "/ok" and backends_in(srv, sub) == [e["pid"]], (e, backend_procs(srv))
    for d, directive in (("up", "AspNetCoreAppRoot"), ("wc", "AspNetCoreWebConfig")):
        r = srv.get("/%s/echo" % d, timeout=30)
        expect_status(r, 500, "GET /%s/echo (%s above the .htaccess directory)" % (d, directive),
                      srv)
        srv.wait_for_log(r"%s: %s: .*outside" % (
            re.escape(os.path.join(srv.docroot, d, ".htaccess")), directive))


# --- 7. web.config import -----------------------------------------------------------------

WC_ENV = """\
<environmentVariables>
  <environmentVariable name="CLEARED_BY_CLEAR" value="x" />
  <clear />
  <environmentVariable name="WC_DUP" value="first" />
  <environmentVariable name="REMOVED_AGAIN" value="x" />
  <environmentVariable name="wc_dup" value="second" />
  <remove name="REMOVED_AGAIN" />
  <environmentVariable name="WC_EXPANDED" value="pre-%AC_TEST_WC_VAR%-post" />
  <environmentVariable name="WC_EXPANDED_ANY_CASE" value="%ac_test_wc_var%" />
  <environmentVariable name="WC_UNKNOWN" value="%AC_TEST_NO_SUCH_VAR%" />
  <environmentVariable name="WC_BACKSLASH" value="f:\\application_config" />
</environmentVariables>
"""


@pytest.mark.expect_log(EXPECT_502_3)
def test_web_config_describes_standin(apache):
    srv = apache.new('AspNetCoreAppRoot "{app}"\nAspNetCoreWebConfig\n',
                     env={"AC_TEST_WC_VAR": "from-apache-env"})
    text, _ = web_config([("processPath", "/usr/bin/python3"), ("arguments", STANDIN),
                          ("requestTimeout", "00:00:01"), ("processesPerApplication", "2"),
                          ("stdoutLogEnabled", "false"), ("hostingModel", "OutOfProcess")],
                         WC_ENV)
    srv.write_file("app/web.config", text)
    srv.start()
    pids = wait_backends_in(srv, srv.app, count=2)
    assert len(pids) == 2, "processesPerApplication=2: backends %s" % pids
    ports = set()
    for pid in pids:
        penv = procs.environ(pid)
        ports.add(int(penv["ASPNETCORE_PORT"]))
        wait_until(lambda: pid in procs.listener_pids(int(penv["ASPNETCORE_PORT"])), 20,
                   "backend %d to listen on its port" % pid)
    assert len(ports) == 2, ports
    env = app_env(srv)
    assert not {"CLEARED_BY_CLEAR", "REMOVED_AGAIN"} & set(env), \
        "<clear/> / <remove> not applied: %s" % sorted(env)
    dups = {k: v for k, v in env.items() if k.lower() == "wc_dup"}
    assert list(dups.values()) == ["second"], "duplicate names (ignoring case): later wins: %s" % dups
    assert env.get("WC_EXPANDED") == "pre-from-apache-env-post", env.get("WC_EXPANDED")
    assert env.get("WC_EXPANDED_ANY_CASE") == "from-apache-env", env.get("WC_EXPANDED_ANY_CASE")
    assert env.get("WC_UNKNOWN") == "%AC_TEST_NO_SUCH_VAR%", env.get("WC_UNKNOWN")
    assert env.get("WC_BACKSLASH") == "f:\\application_config", \
        "a variable's value is not a path: kept as written, got %r" % env.get("WC_BACKSLASH")
    # requestTimeout 00:00:01
    r = srv.get("/sleep?ms=100", timeout=30)
    expect_status(r, 200, "GET /sleep?ms=100", srv)
    t0 = time.monotonic()
    r = srv.get("/sleep?ms=3000", timeout=30)
    expect_status(r, 502, "GET /sleep?ms=3000 with requestTimeout 00:00:01 in web.config", srv)
    assert time.monotonic() - t0 < 2.8
    srv.wait_for_log(EXPECT_502_3)


def test_web_config_windows_paths(apache):
    srv = apache.new('AspNetCoreAppRoot "{app}"\nAspNetCoreWebConfig\n')
    os.makedirs(os.path.join(srv.app, "bin"))
    os.chmod(os.path.join(srv.app, "bin"), 0o755)
    shutil.copy(STANDIN, os.path.join(srv.app, "bin", "standin.py"))
    make_writable_by_www_data(srv.app)
    text, _ = web_config([("processPath", "/usr/bin/python3"), ("arguments", r".\bin\standin.py"),
                          ("stdoutLogEnabled", "true"), ("stdoutLogFile", r".\logs\stdout")])
    srv.write_file("app/web.config", text)
    srv.start()
    pid = app_pid(srv)
    assert procs.cmdline(pid) == ["/usr/bin/python3", "./bin/standin.py"], procs.cmdline(pid)
    logs = os.path.join(srv.app, "logs")
    found = wait_until(lambda: [f for f in os.listdir(logs) if f.endswith("_%d.log" % pid)]
                       if os.path.isdir(logs) else None, 10,
                       lambda: "a stdout log in %s (app root has: %s)" % (logs, os.listdir(srv.app)))
    assert re.fullmatch(r"stdout_\d{14}_%d\.log" % pid, found[0]), found
    assert not [f for f in os.listdir(srv.app) if "\\" in f], os.listdir(srv.app)


def test_directives_win_over_web_config(apache):
    srv = apache.new('AspNetCoreAppRoot "{app}"\nAspNetCoreWebConfig\n'
                     'AspNetCoreEnvironmentVariable WHO_WINS directive\n'
                     'AspNetCoreRequestTimeout 00:00:30\n')
    text, _ = web_config([("processPath", "/usr/bin/python3"), ("arguments", STANDIN),
                          ("requestTimeout", "00:00:01")],
                         '<environmentVariables>\n'
                         '  <environmentVariable name="WHO_WINS" value="web.config" />\n'
                         '  <environmentVariable name="ONLY_IN_WEB_CONFIG" value="yes" />\n'
                         '</environmentVariables>\n')
    srv.write_file("app/web.config", text)
    srv.start()
    env = app_env(srv)
    assert env.get("WHO_WINS") == "directive", env.get("WHO_WINS")
    assert env.get("ONLY_IN_WEB_CONFIG") == "yes", "web.config values not imported: %s" % sorted(env)
    r = srv.get("/sleep?ms=2000", timeout=30)
    expect_status(r, 200, "GET /sleep?ms=2000: AspNetCoreRequestTimeout 00:00:30 must win over "
                          "requestTimeout 00:00:01 of web.config", srv)


def _copy_published(dll, dest):
    shutil.copytree(os.path.dirname(dll), dest, symlinks=True)
    for root, dirs, files in os.walk(dest):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            p = os.path.join(root, f)
            os.chmod(p, os.stat(p).st_mode | stat.S_IROTH)
    os.chmod(dest, 0o755)
    return dest


def _check_real_app(srv, prefix, site, dll_arg):
    r = get_ok(srv, prefix + "/")
    assert b"Hello from ASP.NET Core" in r.body, r.body[:300]
    assert b"<th>PathBase</th><td>%s</td>" % (prefix or "(none)").encode() in r.body, r.body[:2000]
    e = echo(srv, prefix + "/echo/x")
    assert (e["backend"], e["path_base"], e["path"]) == ("aspnetcore", prefix, "/echo/x"), e
    pid = e["pid"]
    assert os.path.realpath(procs.cwd(pid)) == os.path.realpath(site)
    cmd = procs.cmdline(pid)
    assert dll_arg in cmd, "backend %d runs %r" % (pid, cmd)
    return pid


def test_published_sample_web_config_runs_unchanged(apache, aspnetcore_backend):
    dll = aspnetcore_backend.arguments
    srv = apache.new(section("Location /hello",
                             'AspNetCoreAppRoot "{tmp}/site"\nAspNetCoreWebConfig\n'
                             # the sample's test endpoints (/echo) are opt-in
                             "AspNetCoreEnvironmentVariable HelloApp__TestEndpoints true"))
    site = _copy_published(dll, os.path.join(srv.dir, "site"))
    with open(os.path.join(os.path.dirname(dll), "web.config"), "rb") as f:
        published = f.read()
    assert b'processPath="dotnet"' in published and b'arguments=".\\HelloApp.dll"' in published, \
        published
    srv.start()
    _check_real_app(srv, "/hello", site, "./HelloApp.dll")
    with open(os.path.join(site, "web.config"), "rb") as f:
        assert f.read() == published


REFERENCE_SAMPLES = {
    # from /work/shared/reference/004_*.txt ("web.config를 사용한 구성"); copies in tests/unit/data
    "reference-framework-dependent.config": """<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <location path="." inheritInChildApplications="false">
    <system.webServer>
      <handlers>
        <add name="aspNetCore" path="*" verb="*" modules="AspNetCoreModuleV2" resourceType="Unspecified" />
      </handlers>
      <aspNetCore processPath="dotnet"
                  arguments=".\\MyApp.dll"
                  stdoutLogEnabled="false"
                  stdoutLogFile=".\\logs\\stdout"
                  hostingModel="inprocess" />
    </system.webServer>
  </location>
</configuration>
""",
    "reference-self-contained.config": """<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <location path="." inheritInChildApplications="false">
    <system.webServer>
      <handlers>
        <add name="aspNetCore" path="*" verb="*" modules="AspNetCoreModuleV2" resourceType="Unspecified" />
      </handlers>
      <aspNetCore processPath=".\\MyApp.exe"
                  stdoutLogEnabled="false"
                  stdoutLogFile=".\\logs\\stdout"
                  hostingModel="inprocess" />
    </system.webServer>
  </location>
</configuration>
""",
}


def _reference_sample(name):
    path = os.path.join(REPO, "tests", "unit", "data", name)
    if os.path.isfile(path):
        with open(path, encoding="utf-8-sig") as f:
            return f.read()
    return REFERENCE_SAMPLES[name]


@pytest.mark.parametrize("sample", sorted(REFERENCE_SAMPLES))
def test_reference_web_config_samples(apache, aspnetcore_backend, sample):
    """The docs' web.config samples, adapted only in processPath/arguments: the framework-
    dependent one runs `dotnet .\\HelloApp.dll`; the self-contained one runs `.\\HelloApp`, a
    launcher standing in for the app's own executable (relative to the app root)."""
    text = _reference_sample(sample)
    if "MyApp.exe" in text:
        text = text.replace('processPath=".\\MyApp.exe"', 'processPath=".\\HelloApp"')
        dll_arg = "HelloApp.dll"
    else:
        text = text.replace('arguments=".\\MyApp.dll"', 'arguments=".\\HelloApp.dll"')
        dll_arg = "./HelloApp.dll"
    assert "MyApp" not in text, text
    srv = apache.new('AspNetCoreAppRoot "{tmp}/site"\nAspNetCoreWebConfig\n'
                     "AspNetCoreEnvironmentVariable HelloApp__TestEndpoints true\n")
    site = _copy_published(aspnetcore_backend.arguments, os.path.join(srv.dir, "site"))
    srv.write_file("site/web.config", text)
    srv.write_file("site/HelloApp", '#!/bin/sh\nexec "%s" HelloApp.dll "$@"\n'
                   % aspnetcore_backend.process_path, mode=0o755)
    srv.start()
    _check_real_app(srv, "", site, dll_arg)


# --- 8. web.config changes while Apache runs ----------------------------------------------------

@pytest.mark.expect_log(r"configuration error: .*web\.config", r"cannot run until this is fixed")
def test_web_config_change_replaces_processes(apache):
    srv = apache.new(section("Location /wc", 'AspNetCoreAppRoot "{app}"\nAspNetCoreWebConfig')
                     + section("Location /other", standin_lines(app_root="{tmp}/other")))
    srv.mkdir("other")
    wc_path = os.path.join(srv.app, "web.config")

    def wc(value, timeout="00:02:00"):
        return web_config([("processPath", "/usr/bin/python3"), ("arguments", STANDIN),
                           ("requestTimeout", timeout)],
                          '<environmentVariables>\n'
                          '  <environmentVariable name="WC_VALUE" value="%s" />\n'
                          '</environmentVariables>\n' % value)
    srv.write_file("app/web.config", wc("one")[0])
    srv.start()
    pid1 = app_pid(srv, "/wc")
    assert app_env(srv, "/wc")["WC_VALUE"] == "one"

    # 1. a changed value: new processes with the new settings, the old one exits
    write_replacing(wc_path, wc("second value")[0])

    def sees_new():
        r = srv.get("/wc/env", timeout=30)
        return r.status == 200 and parse_env(r).get("WC_VALUE") == "second value"
    wait_until(sees_new, WEB_CONFIG_POLL, lambda: "requests to see WC_VALUE=second value\n"
               + srv.log_tail(20))
    pid2 = app_pid(srv, "/wc")
    assert pid2 != pid1
    wait_until(lambda: not procs.alive(pid1), 15, "the old backend %d to exit" % pid1)
    assert backends_in(srv, srv.app) == [pid2]

    # 2. an invalid web.config: 500 naming the file, line and problem; other apps unaffected
    bad, line = wc("second value", timeout="00:60:00")
    write_replacing(wc_path, bad)

    def answers_500():
        r = srv.get("/wc/env", timeout=30)
        return r if r.status == 500 else None
    r = wait_until(answers_500, WEB_CONFIG_POLL, lambda: "requests to get 500 after an invalid "
                   "web.config\n" + srv.log_tail(20))
    body = html.unescape(r.text())
    # in Production the page says only that the configuration is invalid (defect 2.7;
    # test_resilience.py checks the Development page); the error log says the rest
    assert "configuration is invalid" in body and wc_path not in body, body[:1000]
    log_line = srv.wait_for_log(r"\[aspnetcore:error\].*%s:%d.*requestTimeout.*00:60:00"
                                % (re.escape(wc_path), line))
    assert log_line
    assert echo(srv, "/other/echo")["path_base"] == "/other", "another app stopped working"

    # 3. fixed: requests succeed again, with the fixed settings
    write_replacing(wc_path, wc("third")[0])

    def fixed():
        r = srv.get("/wc/env", timeout=30)
        return r.status == 200 and parse_env(r).get("WC_VALUE") == "third"
    wait_until(fixed, WEB_CONFIG_POLL + 10, lambda: "the app to run again after fixing web.config\n"
               + srv.log_tail(20))
    assert not re.search(r"exit signal|Segmentation fault", srv.error_log()), srv.log_tail(40)


@pytest.mark.expect_log(r"configuration error: ", r"cannot run until this is fixed")
def test_web_config_refused_missing_dtd_or_too_big(apache):
    """A missing web.config, one with a DTD (an entity would set processPath) and one over
    1 MiB: the app answers 500 (the log names the file); the app next to them still runs."""
    body = ""
    for name in ("missing", "dtd", "big", "good"):
        body += section("Location /%s" % name,
                        'AspNetCoreAppRoot "{tmp}/%s"\nAspNetCoreWebConfig' % name)
    srv = apache.new(body)
    for name in ("missing", "dtd", "big", "good"):
        srv.mkdir(name)
    good, _ = web_config([("processPath", "/usr/bin/python3"), ("arguments", STANDIN)])
    srv.write_file("good/web.config", good)
    srv.write_file("dtd/web.config", good.replace(
        "<configuration>", '<!DOCTYPE configuration [<!ENTITY py "/usr/bin/python3">]>\n'
        "<configuration>").replace('processPath="/usr/bin/python3"', 'processPath="&py;"'))
    srv.write_file("big/web.config", good.replace(
        "<configuration>", "<configuration>\n<!-- %s -->" % ("x" * (1024 * 1024))))
    srv.start()
    assert echo(srv, "/good/echo")["path_base"] == "/good"
    for name in ("missing", "dtd", "big"):
        path = os.path.join(srv.dir, name, "web.config")
        r = srv.get("/%s/echo" % name, timeout=30)
        expect_status(r, 500, "GET /%s/echo" % name, srv)
        assert path not in html.unescape(r.text()), "a Production 500 page names %s: %r" % (
            path, r.body[:800])
        srv.wait_for_log(r"configuration error: %s" % re.escape(path))
    assert backends_in(srv, os.path.join(srv.dir, "dtd")) == []


# --- 9. AspNetCorePortRange ---------------------------------------------------------------------

def test_port_range(apache):
    srv = apache.new("AspNetCorePortRange 20000-20019\n"
                     + standin_lines(extra="AspNetCoreProcessesPerApplication 2") + "\n"
                     + section("Location /shop", standin_lines(app_root="{tmp}/shop")))
    shop = srv.mkdir("shop")
    srv.start()
    # 2 processes at server level, and 2 for /shop (it inherits ProcessesPerApplication)
    pids = wait_backends_in(srv, srv.app, count=2) + wait_backends_in(srv, shop, count=2)
    ports = {}
    for pid in pids:
        ports[pid] = int(procs.environ(pid)["ASPNETCORE_PORT"])
    assert all(20000 <= p <= 20019 for p in ports.values()), ports
    assert len(set(ports.values())) == 4, ports
    env = app_env(srv, "/shop")
    assert 20000 <= int(env["ASPNETCORE_PORT"]) <= 20019


# --- 10. AspNetCoreStartupTimeLimit -------------------------------------------------------------

@pytest.mark.expect_log(r"startupTimeLimit", r"\(502\.5\)", r"rapidFailsPerMinute",
                        r"before it listened")
def test_startup_time_limit(apache):
    srv = apache.new(
        section("Location /slow", standin_lines(app_root="{tmp}/slow",
                                                env={"STANDIN_STARTUP_DELAY_MS": "3000"},
                                                extra="AspNetCoreStartupTimeLimit 1"))
        + section("Location /fast", standin_lines(app_root="{tmp}/fast",
                                                  extra="AspNetCoreStartupTimeLimit 1")))
    srv.mkdir("slow")
    srv.mkdir("fast")
    srv.start()
    assert echo(srv, "/fast/echo")["path_base"] == "/fast"
    t0 = time.monotonic()
    r = srv.get("/slow/echo", timeout=30)
    took = time.monotonic() - t0
    expect_status(r, 502, "GET /slow/echo (backend listens after 3 s, startupTimeLimit 1)", srv)
    assert took < 2.8, "the 502 came after %.2f s; startupTimeLimit is 1 s" % took
    srv.wait_for_log(r"did not listen on port \d+ within 1 s|no process became ready within 1 s")


# --- 11. stdout logs ----------------------------------------------------------------------------

def test_stdout_log_files_and_error_log(apache):
    srv = apache.new(
        section("Location /logged", standin_lines(app_root="{tmp}/logged", extra=(
            "AspNetCoreStdoutLogEnabled On\nAspNetCoreStdoutLogFile ./logs/stdout")))
        + section("Location /plain", standin_lines(app_root="{tmp}/plain")))
    logged = srv.mkdir("logged")
    srv.mkdir("plain")
    make_writable_by_www_data(logged)
    srv.start()
    pid = app_pid(srv, "/logged")
    logs = os.path.join(logged, "logs")
    rx = re.compile(r"stdout_(\d{14})_%d\.log$" % pid)

    def log_file():
        if not os.path.isdir(logs):
            return None
        for f in os.listdir(logs):
            if rx.match(f):
                with open(os.path.join(logs, f), errors="replace") as fh:
                    if "standin: listening" in fh.read():
                        return f
        return None
    name = wait_until(log_file, 10, lambda: "logs/stdout_<yyyyMMddHHmmss>_%d.log with the "
                      "stand-in's 'listening' line (logs/: %s)" % (
                          pid, os.listdir(logs) if os.path.isdir(logs) else "missing"))
    stamp = time.strptime(rx.match(name).group(1) + "UTC", "%Y%m%d%H%M%S%Z")
    skew = abs(time.mktime(stamp) - time.mktime(time.gmtime()))
    assert skew < 300, "the file's timestamp %s is not UTC now (off by %d s)" % (name, skew)
    if os.geteuid() == 0:
        st = os.stat(os.path.join(logs, name))
        assert st.st_uid == WWW_DATA_UID, "%s is owned by uid %d" % (name, st.st_uid)
    assert "pid %d" % pid not in srv.error_log(), \
        "with AspNetCoreStdoutLogEnabled On the output must not go to the error log"
    # without it, the output is in Apache's error log
    env = app_env(srv, "/plain")
    pid2 = app_pid(srv, "/plain")
    line = srv.wait_for_log(r"(?m)^.*standin: listening on 127\.0\.0\.1:%s pid %d.*$"
                            % (env["ASPNETCORE_PORT"], pid2)).group(0)
    assert "/plain" in line.split("standin: listening")[0], \
        "the app's output is not tagged with the app: %r" % line
    assert not os.path.exists(os.path.join(srv.dir, "plain", "logs"))


def _stdout_logs(logs, pid=None):
    rx = re.compile(r"stdout_\d{14}_(\d+)\.log$")
    if not os.path.isdir(logs):
        return []
    return sorted(f for f in os.listdir(logs)
                  if rx.match(f) and (pid is None or int(rx.match(f).group(1)) == pid))


def test_stdout_log_limit_rolls_and_prunes(apache):
    """AspNetCoreStdoutLogLimit 4K 3: a file past 4 KiB goes on in a new one (named by the
    second), only the newest 3 of the app's files stay, and nothing of what is kept is lost."""
    srv = apache.new(standin_lines(app_root="{tmp}/app", extra=(
        "AspNetCoreStdoutLogEnabled On\nAspNetCoreStdoutLogFile ./logs/stdout\n"
        "AspNetCoreStdoutLogLimit 4K 3")))
    root = srv.mkdir("app")
    make_writable_by_www_data(root)
    logs = os.path.join(root, "logs")
    # a file of another app (another prefix) and a foreign file: never touched
    os.makedirs(logs)
    make_writable_by_www_data(logs)
    for other in ("stdoutx_20200101000000_1.log", "stdout_20200101000000_1.log.keep"):
        open(os.path.join(logs, other), "w").close()
    srv.start()
    pid = app_pid(srv)
    seen = set(_stdout_logs(logs, pid))
    rounds = 0
    while rounds < 5:
        before = set(_stdout_logs(logs, pid)) | seen

        def rolled():
            # ~1.3 KiB a time: past 4K after a few, then the roll comes with the next
            # output in a later second
            get_ok(srv, "/print?n=40")
            return set(_stdout_logs(logs, pid)) - before or None
        newer = wait_until(rolled, 10, lambda: "a new stdout log file after one past 4K "
                           "(files: %s)\n%s" % (_stdout_logs(logs), srv.log_tail(20)))
        seen |= newer
        rounds += 1
    # the supervisor removes the oldest file just after it opens a new one, and the
    # last request's output reaches the new file after the request: both are polled
    last_line = "standin print 39 of 40 pid %d\n" % pid

    def settled():
        now = _stdout_logs(logs, pid)
        if len(now) != 3:
            return None
        with open(os.path.join(logs, now[-1])) as fh:
            return now if fh.read().endswith(last_line) else None
    files = wait_until(settled, 10, lambda: "AspNetCoreStdoutLogLimit 4K 3 keeps 3 files whose "
                       "newest ends with the last output, found %s (made: %s)" % (
                           _stdout_logs(logs, pid), sorted(seen)))
    assert files == sorted(seen)[-3:], "not the newest 3 kept: %s of %s" % (files, sorted(seen))
    for f in files[:-1]:
        size = os.path.getsize(os.path.join(logs, f))
        # past the limit by what came within the same second at most (here: at most
        # 10 requests' 1.3 KiB)
        assert 4096 <= size <= 4096 + 16384, "%s rolled at %d bytes (limit 4K)" % (f, size)
    # each file starts at a line and ends with one (whole lines stay in one file), and
    # across the kept files no line is missing: "print 0..39 of 40" follow each other
    numbers = []
    for f in files:
        with open(os.path.join(logs, f)) as fh:
            text = fh.read()
        assert text.endswith("\n") and re.match(r"standin print \d+ of 40 pid %d\n" % pid, text), \
            "%s does not start or end with a whole line: %r ... %r" % (f, text[:60], text[-60:])
        for line in text.splitlines():
            m = re.match(r"standin print (\d+) of 40 pid %d$" % pid, line)
            assert m, "%s: unexpected line %r" % (f, line)
            numbers.append(int(m.group(1)))
    assert numbers[-1] == 39, "the last line is not the last printed"
    gaps = [i for i in range(1, len(numbers)) if numbers[i] != (numbers[i - 1] + 1) % 40]
    assert not gaps, "lines lost between %s" % [(numbers[i - 1], numbers[i]) for i in gaps[:5]]
    for other in ("stdoutx_20200101000000_1.log", "stdout_20200101000000_1.log.keep"):
        assert os.path.exists(os.path.join(logs, other)), "%s was removed" % other
    srv.wait_for_log(r"stdout log of process %d reached 4K \(AspNetCoreStdoutLogLimit\): "
                     r"going on in .*stdout_\d{14}_%d\.log" % (pid, pid))
    srv.wait_for_log(r"removed the 1 oldest stdout log file .*AspNetCoreStdoutLogLimit keeps 3")


def test_stdout_log_limit_never_removes_a_running_process_file(apache):
    """AspNetCoreStdoutLogLimit 4K 1 with 2 processes: the second one's start must not take
    the first one's file (it is still written to)."""
    srv = apache.new(standin_lines(app_root="{tmp}/app", extra=(
        "AspNetCoreStdoutLogEnabled On\nAspNetCoreStdoutLogFile ./logs/stdout\n"
        "AspNetCoreStdoutLogLimit 4K 1\nAspNetCoreProcessesPerApplication 2")))
    root = srv.mkdir("app")
    make_writable_by_www_data(root)
    srv.start()
    pids = wait_backends_in(srv, root, 2)
    logs = os.path.join(root, "logs")
    files = wait_until(lambda: len(_stdout_logs(logs)) >= 2 and _stdout_logs(logs), 10,
                       lambda: "2 stdout log files (found %s)" % _stdout_logs(logs))
    for pid in pids:
        assert _stdout_logs(logs, pid), "process %d's file was removed: %s" % (pid, files)


# --- 12. AspNetCoreHostingModel InProcess ----------------------------------------------------

@pytest.mark.parametrize("where", ["directive", "web.config"])
def test_hosting_model_inprocess_runs_out_of_process(apache, where):
    if where == "directive":
        srv = apache.start(standin_lines(extra="AspNetCoreHostingModel InProcess"))
    else:
        srv = apache.new('AspNetCoreAppRoot "{app}"\nAspNetCoreWebConfig\n')
        srv.write_file("app/web.config", web_config([
            ("processPath", "/usr/bin/python3"), ("arguments", STANDIN),
            ("hostingModel", "inprocess")])[0])
        srv.start()
    e = echo(srv, "/echo/x")
    assert e["backend"] == "standin"
    assert supervisor_child(srv, e["pid"])
    notes = re.findall(r"^.*\[aspnetcore:notice\].*InProcess.*out of process.*$",
                       srv.error_log(), re.M)
    assert len(notes) == 1, "expected one notice that InProcess runs out of process, got %d:\n%s" % (
        len(notes), srv.log_tail(30))


def supervisor_child(srv, pid):
    chain = procs.ancestors(pid)
    assert len(chain) >= 2 and chain[1] == srv.pid, "backend %d is not a separate process under " \
        "httpd's supervisor: ancestors %s" % (pid, chain)
    return chain[0]


# --- 13. AspNetCoreStartMode ----------------------------------------------------------------

def test_start_mode(apache):
    srv = apache.new(
        section("Location /ondemand", standin_lines(app_root="{tmp}/ondemand",
                                                    extra="AspNetCoreStartMode OnDemand"))
        + section("Location /default", standin_lines(app_root="{tmp}/default"))
        + section("Location /always", standin_lines(app_root="{tmp}/always",
                                                    extra="AspNetCoreStartMode AlwaysRunning")))
    ondemand, default, always = (srv.mkdir(d) for d in ("ondemand", "default", "always"))
    srv.start()
    # AlwaysRunning (explicit and default): processes without any request, listening
    for d in (default, always):
        pid = wait_backends_in(srv, d)[0]
        port = int(procs.environ(pid)["ASPNETCORE_PORT"])
        wait_until(lambda: pid in procs.listener_pids(port), 20,
                   "AlwaysRunning backend %d to listen on %d" % (pid, port))
    assert srv.access_log().strip() == "", "no request was sent yet: %s" % srv.access_log()
    # OnDemand (declared first): nothing yet
    assert backends_in(srv, ondemand) == [], \
        "OnDemand app started without a request: %s" % backend_procs(srv)
    pid = app_pid(srv, "/ondemand")
    assert backends_in(srv, ondemand) == [pid]
