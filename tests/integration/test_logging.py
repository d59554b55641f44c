"""Logging (issue 6): every start, exit, restart, rapid-fail trip, offline toggle and
configuration reload is in Apache's error log exactly once, tagged with the app and naming
the process; `LogLevel aspnetcore:...` selects the module's lines on its own; and the ANCM
debug log: the handler settings debugLevel / debugFile and the variables
ASPNETCORE_MODULE_DEBUG / ASPNETCORE_MODULE_DEBUG_FILE, with ANCM's precedence.

Lines are counted in the error log (their level is the `[aspnetcore:LEVEL]` field); the
debug files are read after the server stopped, so every line is in."""

import os
import re
import signal

import pytest

from test_supervision import (EXPECT_CRASH, WWW_DATA_UID, app_pid, crash, expect_status, get_ok,
                              label, section, standin, wait_log)
from test_config import make_writable_by_www_data
from rigutil import wait_until

LEVEL_RE = re.compile(r"^\[[^\]]*\] \[aspnetcore:([a-z0-9]+)\]")
DEBUG_LINE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \[(ERROR|WARNING|INFO|TRACE)\] "
                           r"\[pid \d+\] \S")


def lines(srv, regex):
    rx = re.compile(regex)
    return [l for l in srv.error_log().splitlines() if rx.search(l)]


def once(srv, regex, level):
    """The one error-log line matching regex, logged at `level` by the module. Waits for it
    (bounded): the module logs some lines just after the answer that tells the test to look
    (the "listens" line follows the wake-up of the requests waiting for the process)."""
    found = wait_until(lambda: lines(srv, regex), 10, lambda: "a line matching %r\n%s" % (
        regex, srv.log_tail(40)))
    assert len(found) == 1, "expected exactly one line matching %r, found %d:\n%s\n--- log ---\n%s" % (
        regex, len(found), "\n".join(found), srv.log_tail(40))
    m = LEVEL_RE.match(found[0])
    assert m and m.group(1) == level, "logged at %s, not %s: %s" % (m and m.group(1), level, found[0])
    return found[0]


def tag(root, path="/"):
    return r"\[%s\] " % re.escape(label(root, path))


def new_pid(srv, old):
    def other():
        r = srv.get("/pid", timeout=30)
        return r.status == 200 and int(r.body) not in old and int(r.body)
    return wait_until(other, 30, lambda: "a process other than %s\n%s" % (old, srv.log_tail(20)))


# --- lifecycle events, each once ------------------------------------------------------------------

@pytest.mark.expect_log(*EXPECT_CRASH)
def test_lifecycle_events_are_logged_once(apache):
    srv = apache.start(standin())
    t = tag(srv.app)
    p1 = app_pid(srv)
    once(srv, r"configuration applied: 0 app\(s\) kept, 1 added, 0 changed, 0 removed$", "notice")
    once(srv, t + r"started process %d on port \d+: /usr/bin/python3 \S+standin\.py$" % p1, "notice")
    once(srv, t + r"process %d listens on port \d+ after \d+ ms" % p1, "info")

    # a crash, and the restart that replaces it
    crash(srv)
    wait_log(srv, t + r"process %d exited with code 3 after \d+ s: starting a new one" % p1)
    p2 = new_pid(srv, [p1])
    once(srv, t + r"process %d exited with code 3 after \d+ s: starting a new one" % p1, "error")
    once(srv, t + r"started process %d on port \d+: .*\(restart: process %d exited with code 3\)$"
         % (p2, p1), "notice")

    # app_offline.htm: appeared (naming the process it stops), removed
    offline = os.path.join(srv.app, "app_offline.htm")
    with open(offline, "w") as f:
        f.write("down")
    wait_until(lambda: srv.get("/pid", timeout=10).status == 503, 5, "the offline page")
    wait_log(srv, t + r"process %d stopped \(exited with code 0\)" % p2, 15)
    once(srv, t + r"%s: appeared, stopping the app \(process %d\)$" % (re.escape(offline), p2), "notice")
    once(srv, t + r"process %d stopped \(exited with code 0\)" % p2, "info")
    os.unlink(offline)
    p3 = new_pid(srv, [p1, p2])
    once(srv, t + r"%s: removed, the app starts again \(now\)$" % re.escape(offline), "notice")
    once(srv, t + r"started process %d on port \d+: .*\(app_offline.htm was removed\)$" % p3, "notice")

    # reloads: one summary line each
    srv.graceful()
    wait_log(srv, r"configuration applied: 1 app\(s\) kept")
    once(srv, r"configuration applied: 1 app\(s\) kept, 0 added, 0 changed, 0 removed$", "notice")
    srv.graceful(standin(env={"CHANGED": "1"}))
    wait_log(srv, r"configuration applied: 0 app\(s\) kept, 0 added, 1 changed")
    once(srv, r"configuration applied: 0 app\(s\) kept, 0 added, 1 changed, 0 removed$", "notice")
    p4 = new_pid(srv, [p1, p2, p3])
    once(srv, r"started process %d on port " % p4, "notice")
    srv.graceful("")
    wait_log(srv, r"configuration applied: 0 app\(s\) kept, 0 added, 0 changed, 1 removed")
    wait_log(srv, r"process %d stopped" % p4, 15)
    once(srv, r"process %d stopped \(exited with code 0\)" % p4, "info")
    # every process started was logged as started once and as ended once
    for pid in (p1, p2, p3, p4):
        once(srv, r"\] started process %d on port " % pid, "notice")
        ended = r"\] process %d (stopped|exited|was killed)" % pid
        wait_log(srv, ended, 15)       # the replaced version drains on its own time
        assert len(lines(srv, ended)) == 1, pid


@pytest.mark.expect_log(r"exited with code 3 before it listened", r"failed to start \(502\.5\)",
                        r"failures within a minute \(rapidFailsPerMinute 1\)",
                        r"did not listen on port \d+ within 1 s \(startupTimeLimit\)",
                        r"no process became ready within 1 s")
def test_failed_starts_rapid_fail_trip_and_timeout_are_logged_once(apache):
    srv = apache.new(section("Location /trip", standin(app_root="{tmp}/trip",
                                                       env={"STANDIN_EXIT_AT_START": "3"},
                                                       extra="AspNetCoreRapidFailsPerMinute 1"))
                     + section("Location /slow", standin(
                         app_root="{tmp}/slow", env={"STANDIN_STARTUP_DELAY_MS": "20000"},
                         extra="AspNetCoreStartMode OnDemand\nAspNetCoreStartupTimeLimit 1")))
    srv.mkdir("trip")
    srv.mkdir("slow")
    srv.start()
    trip = tag(os.path.join(srv.dir, "trip"), "/trip")
    wait_log(srv, trip + r"2 failures within a minute", 20)
    for _ in range(3):
        expect_status(srv.get("/trip/", timeout=30), 502, "GET /trip/ after the trip", srv)
    line = once(srv, trip + r"\d+ failures within a minute \(rapidFailsPerMinute 1\): not starting it "
                       r"again before \d+ s \(the last: process (\d+)\)$", "error")
    last = int(re.search(r"the last: process (\d+)", line).group(1))
    pids = [int(m) for m in re.findall(r"\] started process (\d+) on port", "\n".join(lines(srv, trip)))]
    assert last == pids[-1] and len(pids) == 2, (last, pids)
    for pid in pids:
        once(srv, trip + r"process %d exited with code 3 before it listened on port \d+$" % pid, "error")
    assert len(lines(srv, trip + r"failed to start \(502\.5\)")) == 3

    # a start that timed out: the kill (error) and the exit (info), once each
    slow = tag(os.path.join(srv.dir, "slow"), "/slow")
    expect_status(srv.get("/slow/", timeout=30), 502, "GET /slow/ (1 s startup limit)", srv)
    wait_log(srv, slow + r"process \d+ was killed by signal 9 after it did not listen within 1 s", 10)
    pid = int(re.search(r"started process (\d+)", lines(srv, slow + "started process")[0]).group(1))
    once(srv, slow + r"process %d did not listen on port \d+ within 1 s \(startupTimeLimit\): "
              r"killing it$" % pid, "error")
    once(srv, slow + r"process %d was killed by signal 9 after it did not listen within 1 s$" % pid,
         "info")


# --- LogLevel per module ----------------------------------------------------------------------------

def serve_twice(srv):
    """Two requests on one keep-alive connection (the second reuses the backend connection)."""
    get_ok(srv, "/pid")
    conn = srv.connect()
    try:
        for _ in range(2):
            r = conn.request("GET", "/pid")
            assert r.status == 200, r.status
    finally:
        conn.close()


def module_levels(srv):
    return {m.group(1) for m in map(LEVEL_RE.match, srv.error_log().splitlines()) if m}


def test_loglevel_selects_the_module_lines(apache):
    quiet = apache.start(standin(extra="AspNetCoreStartMode OnDemand"), log_level="warn aspnetcore:warn")
    serve_twice(quiet)
    quiet.stop()
    levels = module_levels(quiet)
    assert not levels & {"info", "debug", "trace1", "trace2"}, levels
    assert not lines(quiet, r"listens on port|configured: ")
    # httpd writes notice lines whatever the LogLevel: starts are always there
    assert lines(quiet, r"\[aspnetcore:notice\] .*\] started process \d+ on port")

    debug = apache.start(standin(extra="AspNetCoreStartMode OnDemand"), log_level="warn aspnetcore:debug")
    serve_twice(debug)
    debug.stop()
    assert {"info", "debug"} <= module_levels(debug), module_levels(debug)
    assert lines(debug, r"\[aspnetcore:debug\] .*\] a request asks for a process$")
    assert lines(debug, r"\[aspnetcore:debug\] .*\] stopping process \d+ \(at once")
    assert not lines(debug, r"\[aspnetcore:trace"), "trace lines at LogLevel aspnetcore:debug"
    assert not lines(debug, r"\[(core|mpm_event|mpm_worker|mpm_prefork):(info|debug)\]")

    trace = apache.start(standin(extra="AspNetCoreStartMode OnDemand"), log_level="warn aspnetcore:trace2")
    serve_twice(trace)
    pid = app_pid(trace)
    trace.stop()
    assert lines(trace, r"\[aspnetcore:trace1\] .*\] routed to process %d on port \d+$" % pid)
    assert lines(trace, r"\[aspnetcore:trace2\] .*opened a new connection to port \d+$")
    assert lines(trace, r"\[aspnetcore:trace2\] .*reused a connection to port \d+$")


@pytest.mark.expect_log(*EXPECT_CRASH)
@pytest.mark.expect_log(*EXPECT_CRASH)
def test_supervisor_follows_loglevel_of_a_reload(apache):
    """The supervisor is forked once and survives reloads: a graceful restart with
    `LogLevel aspnetcore:debug` must still reach its lines (sent with the configuration)."""
    srv = apache.start(standin(extra="AspNetCoreStartMode OnDemand"), log_level="warn aspnetcore:warn")
    get_ok(srv, "/pid")
    assert not lines(srv, r"\[aspnetcore:debug\]"), "debug lines at LogLevel aspnetcore:warn"
    supervisor_lines = lambda: [l for l in lines(srv, r"\[aspnetcore:debug\]")
                                if "a request asks for a process" in l]
    srv.log_level = "warn aspnetcore:debug"
    srv.graceful(body=srv.body)
    # an OnDemand app whose process is still there asks for none: stop it first
    os.kill(app_pid(srv), signal.SIGKILL)
    wait_until(lambda: get_ok(srv, "/pid") and supervisor_lines(), 30,
               "the supervisor's debug line after the reload to LogLevel aspnetcore:debug")


# --- the ANCM debug log -------------------------------------------------------------------------------

def debug_lines(path):
    with open(path) as f:
        text = f.read()
    out = text.splitlines()
    assert out and text.endswith("\n"), "%s is empty or ends mid-line: %r" % (path, text[-200:])
    bad = [l for l in out if not DEBUG_LINE_RE.match(l)]
    assert not bad, "lines of %s not in the debug log format: %s" % (path, bad[:5])
    return out


def with_level(found, level):
    return [l for l in found if "[%s]" % level in l]


def assert_owned_like_stdout_logs(path):
    st = os.stat(path)
    assert st.st_mode & 0o777 == 0o640, oct(st.st_mode)
    if os.geteuid() == 0:
        assert st.st_uid == WWW_DATA_UID, "%s belongs to uid %d" % (path, st.st_uid)


@pytest.mark.expect_log(*EXPECT_CRASH)
def test_debug_file_gets_the_chosen_level_and_not_below(apache):
    body = (section("Location /info", standin(app_root="{tmp}/info", extra=(
                'AspNetCoreHandlerSetting debugLevel "FILE,INFO"\n'
                'AspNetCoreHandlerSetting debugFile "logs\\debug-info.log"')))
            + section("Location /err", standin(app_root="{tmp}/err", extra=(
                'AspNetCoreHandlerSetting debugLevel ERROR\n'
                'AspNetCoreHandlerSetting debugFile err.log')))
            + section("Location /trace", standin(app_root="{tmp}/trace", extra=(
                'AspNetCoreHandlerSetting debugLevel "file, trace"'))))
    srv = apache.new(body)
    for d in ("info", "err", "trace"):
        make_writable_by_www_data(srv.mkdir(d))     # as for stdout logs
    srv.start()
    pids = {p: app_pid(srv, "/" + p) for p in ("info", "err", "trace")}
    crash(srv, "/err")
    wait_log(srv, r"process %d exited with code 3" % pids["err"], 15)
    get_ok(srv, "/err/pid")
    srv.stop()

    info_log = os.path.join(srv.dir, "info", "logs", "debug-info.log")   # folder made, \ read as /
    info = debug_lines(info_log)
    assert_owned_like_stdout_logs(info_log)
    assert with_level(info, "INFO"), info
    assert re.search(r"\[INFO\] \[pid \d+\] configured: /usr/bin/python3 ", info[0]) or \
        re.search(r"\[INFO\] \[pid \d+\] debug log: ", info[0]), "the app's first line: %s" % info[0]
    assert any(re.search(r"\[INFO\] .* started process %d on port" % pids["info"], l) for l in info)
    assert any(re.search(r"\[INFO\] .* process %d stopped" % pids["info"], l) for l in info)
    assert not with_level(info, "TRACE"), "below INFO in an INFO debug log: %s" % with_level(info, "TRACE")
    assert not any("stopping process" in l for l in info)       # a debug-level message
    assert not any(str(pids["err"]) in l for l in info), "another app's lines"

    err = debug_lines(os.path.join(srv.dir, "err", "err.log"))
    assert any(re.search(r"\[ERROR\] .* process %d exited with code 3 after" % pids["err"], l)
               for l in err), err
    assert not with_level(err, "INFO") and not with_level(err, "WARNING"), err

    trace = debug_lines(os.path.join(srv.dir, "trace", "aspnetcore-debug.log"))   # FILE, no debugFile
    assert any(re.search(r"\[TRACE\] .* stopping process %d" % pids["trace"], l) for l in trace), trace
    assert with_level(trace, "INFO")


def test_module_debug_variables_as_ancm_reads_them(apache):
    """ASPNETCORE_MODULE_DEBUG(_FILE) in Apache's environment: the level for every app; the file
    for apps whose handler settings name none; a debugFile wins; the FILE sink without a
    debugFile means aspnetcore-debug.log in the app root; the app's own variables win over
    Apache's."""
    body = (section("Location /a", standin(app_root="{tmp}/a"))
            + section("Location /b", standin(app_root="{tmp}/b",
                                             extra="AspNetCoreHandlerSetting debugFile b.log"))
            + section("Location /c", standin(app_root="{tmp}/c",
                                             extra="AspNetCoreHandlerSetting debugLevel file"))
            + section("Location /d", standin(app_root="{tmp}/d",
                                             env={"ASPNETCORE_MODULE_DEBUG_FILE": "d-own.log",
                                                  "ASPNETCORE_MODULE_DEBUG": "error"})))
    srv = apache.new(body)
    env_file = os.path.join(srv.dir, "envlog", "env-debug.log")
    make_writable_by_www_data(srv.mkdir("envlog"))
    srv.extra_env.update({"ASPNETCORE_MODULE_DEBUG": "info",
                          "ASPNETCORE_MODULE_DEBUG_FILE": env_file})
    for d in "abcd":
        make_writable_by_www_data(srv.mkdir(d))
    srv.start()
    pids = {d: app_pid(srv, "/" + d) for d in "abcd"}
    srv.stop()

    def started_in(found, pid):
        return any(re.search(r"\[INFO\] .* started process %d on port" % pid, l) for l in found)

    env_lines = debug_lines(env_file)
    assert started_in(env_lines, pids["a"]), env_lines
    for other in "bcd":
        assert not any(" %d " % pids[other] in l for l in env_lines), (other, env_lines)
    assert started_in(debug_lines(os.path.join(srv.dir, "b", "b.log")), pids["b"])
    assert started_in(debug_lines(os.path.join(srv.dir, "c", "aspnetcore-debug.log")), pids["c"])
    d_lines = debug_lines(os.path.join(srv.dir, "d", "d-own.log")) \
        if os.path.exists(os.path.join(srv.dir, "d", "d-own.log")) else []
    # /d asked for ERROR only, and it had no error: its file holds nothing at INFO
    assert not with_level(d_lines, "INFO"), d_lines
    once(srv, tag(os.path.join(srv.dir, "d"), "/d") + r"debug log: %s, level ERROR$"
         % re.escape(os.path.join(srv.dir, "d", "d-own.log")), "info")


def test_debug_log_problems_are_said_once(apache):
    srv = apache.start(standin(extra='AspNetCoreHandlerSetting debugLevel "FILE,LOUD"\n'
                                     'AspNetCoreHandlerSetting debugFile /proc/no-such-dir/x.log'))
    pid = app_pid(srv)
    get_ok(srv, "/pid")
    srv.stop()
    t = tag(srv.app)
    once(srv, t + r"debug log settings: debugLevel: 'LOUD' ignored \(known: error, warning, info, "
              r"trace, console, file, eventlog\)$", "warn")
    once(srv, t + r"cannot write the debug log /proc/no-such-dir/x\.log", "warn")
    # the app ran regardless, and its lines still went to the error log
    once(srv, t + r"process %d stopped" % pid, "info")
