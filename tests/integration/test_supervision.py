"""Supervision of the backends (docs/architecture.md, "Process roles"): start modes,
readiness, failed starts, crashes with back-off and rapidFailsPerMinute, several processes
per app, the cap on waiting requests, stopping a backend gracefully (the shutdown event,
then SIGTERM, then SIGKILL), the relay of the backends' output, what a backend inherits,
graceful and hard restarts of Apache, the death of Apache or of the supervisor, and port
collisions.

Most tests run the Python stand-in (tests/backends/standin.py, fast, with opt-in knobs for
misbehaving); the real ASP.NET Core sample runs where only it proves the point: that
Kestrel itself honours the shutdown event when it is stopped or replaced.

Process facts come from /proc (procs.py), never from process names; time facts from the
error log's microsecond timestamps where the module's own timing is what is measured.
"""

import datetime
import json
import os
import re
import signal
import struct
import threading
import time

import pytest

import httpclient
import procs
import backends as backends_mod
from backends import parse_env, parse_pid
from httpd import standin_path
from rigutil import wait_until, expect_status

# Depends on how the MPM runs its children (prefork: one request per process): runs under
# prefork even where the test command narrows it (conftest.py); worker shares event's threads
pytestmark = pytest.mark.every_mpm("prefork")

WWW_DATA_UID = 33
FIRST_REQUEST_TIMEOUT = 60.0     # a first request may wait for the backend to start
BACKEND_UP_TIMEOUT = 30.0        # an AlwaysRunning backend appears (python/dotnet start-up)
GONE_TIMEOUT = 10.0              # a stopped or crashed process disappears

# Error-level lines that crash tests cause (the crash itself; the request that crashed it).
EXPECT_CRASH = (r"\] process \d+ (exited with code 3|was killed by signal 9) after \d+ s: starting a new one",
                r"\] error reading the response \(502\.3\)",
                r"\] cannot connect to the app's process \d+ on port \d+",
                # a request that reaches the killed process's port before the
                # supervisor has seen the exit
                r"\] process \d+ no longer listens on port \d+ \([^)]*\): replacing it",
                r"\] the app closed the connection without a response \(502\.3\)",
                # a GET in flight at the kill, sent again on a new connection (as HTTP clients
                # do after a reused one closed unanswered) into the dying listener's queue
                r"\] error writing the request \(502\.3\)")


# --- helpers -------------------------------------------------------------------------------

def _indent(text, n=4):
    return "\n".join((" " * n + l) if l.strip() else l for l in text.splitlines())


def section(head, body):
    name = head.split()[0]
    return "<%s>\n%s\n</%s>\n" % (head, _indent(body), name)


def app_lines(backend, app_root="{app}", env=None, extra=""):
    return backend.directives(app_root=app_root, env=env, extra=extra)


def standin(env=None, extra="", app_root="{app}"):
    """Directives that run the stand-in."""
    return app_lines(backends_mod.standin(), app_root=app_root, env=env, extra=extra)



def get_ok(srv, path, timeout=FIRST_REQUEST_TIMEOUT):
    return expect_status(srv.get(path, timeout=timeout), 200, "GET %s" % path, srv)


def app_pid(srv, prefix=""):
    return parse_pid(get_ok(srv, prefix + "/pid"))


def is_backend(pid, marker):
    try:
        return any(marker in a for a in procs.cmdline(pid))
    except OSError:
        return False


def backend_pids(srv, marker="standin.py"):
    """Live backend processes (their command line names `marker`) under the httpd parent."""
    return sorted(p.pid for p in srv.descendants()
                  if p.state not in ("Z", "X") and is_backend(p.pid, marker))


def wait_backends(srv, count, timeout=BACKEND_UP_TIMEOUT, marker="standin.py", exclude=()):
    def enough():
        pids = [p for p in backend_pids(srv, marker) if p not in exclude]
        return pids if len(pids) >= count else None
    return wait_until(enough, timeout, lambda: "%d backend process(es) (now: %s)\n%s" % (
        count, backend_pids(srv, marker), srv.log_tail(20)))


def supervisor_of(srv, backend_pid):
    """The backend's parent, checked to be a child of the httpd parent."""
    table = procs.all_procs()
    chain = procs.ancestors(backend_pid, table)
    assert len(chain) >= 2 and chain[1] == srv.pid, (
        "backend %d is not a grandchild of the httpd parent %d; ancestors %s:\n  %s" % (
            backend_pid, srv.pid, chain,
            "\n  ".join(procs.describe(p) for p in [backend_pid] + chain)))
    return chain[0]


def idents(pids):
    out = []
    for pid in pids:
        i = procs.ident(pid)
        assert i is not None, "process %d is already gone" % pid
        out.append(i)
    return out


def group_members(pgid):
    """Live processes whose process group is pgid."""
    return sorted(p.pid for p in procs.all_procs().values()
                  if p.pgrp == pgid and p.state not in ("Z", "X"))


def wait_gone(ident_list, timeout, what):
    left = lambda: [i for i in ident_list if procs.alive(*i)]
    wait_until(lambda: not left(), timeout,
               lambda: "%s to exit; alive: %s" % (what, "; ".join(procs.describe(p) for p, _ in left())))


class Watch:
    """Records (monotonic) when each of some processes disappears; polled every 20 ms from
    a thread, so the time can be taken while the main thread is blocked (apache2 -k stop)."""

    def __init__(self, ident_list):
        self.pending = list(ident_list)
        self.gone_at = {}
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.pending and not self.stop_ev.wait(0.02):
            now = time.monotonic()
            for i in list(self.pending):
                if not procs.alive(*i):
                    self.gone_at[i] = now
                    self.pending.remove(i)

    def close(self):
        self.stop_ev.set()
        self.thread.join(5)


# --- the error log ---------------------------------------------------------------------------

LOG_TIME_RE = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d\.\d+ \d{4})\]")


def log_time(line):
    m = LOG_TIME_RE.match(line)
    assert m, "no timestamp in error log line %r" % line
    return datetime.datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S.%f %Y").timestamp()


def log_matches(srv, regex, start=0):
    """[(time, match)] for every error log line (from offset `start`) matching regex."""
    rx = re.compile(regex)
    out = []
    for line in srv.error_log()[start:].splitlines():
        m = rx.search(line)
        if m:
            out.append((log_time(line), m))
    return out


def label(root, path="/"):
    return "%s at %s" % (root, path)


def started(srv, root, path="/", start=0, collisions=True):
    """[(time, pid, port)] of the module's "started process" lines for an app. Without
    `collisions`, leaves out the processes that ended because another program took their port
    between the module's check and the app's bind (the default port range overlaps the
    kernel's ephemeral ports; the module starts the app again on another port without
    counting a failure, see test_port_collision_is_not_a_failure)."""
    rx = r"\[%s\] started process (\d+) on port (\d+):" % re.escape(label(root, path))
    out = [(t, int(m.group(1)), int(m.group(2))) for t, m in log_matches(srv, rx, start)]
    if not collisions:
        taken = r"\[%s\] process (\d+) [^:]*: port \d+ was taken by another program" % (
            re.escape(label(root, path)))
        lost = {int(m.group(1)) for _, m in log_matches(srv, taken, start)}
        out = [x for x in out if x[1] not in lost]
    return out


def wait_log(srv, regex, timeout=10.0, start=0):
    return srv.wait_for_log(regex, timeout=timeout, start=start)


def wait_ready(srv, pid, timeout=BACKEND_UP_TIMEOUT, start=0):
    """Until the module logged that process `pid` listens."""
    return wait_log(srv, r"\] process %d listens on port \d+ after \d+ ms" % pid, timeout, start)


# --- clients ---------------------------------------------------------------------------------

class Timed:
    """One request on its own connection, in a thread; .resp/.error/.elapsed when joined."""

    def __init__(self, srv, path, timeout=30.0):
        self.srv, self.path, self.timeout = srv, path, timeout
        self.resp = self.error = self.elapsed = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        t0 = time.monotonic()
        try:
            self.resp = self.srv.get(self.path, timeout=self.timeout)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        self.elapsed = time.monotonic() - t0

    def join(self, timeout=None):
        self.thread.join(self.timeout + 5 if timeout is None else timeout)
        assert not self.thread.is_alive(), "GET %s still running" % self.path
        return self


def staggered(srv, paths, timeout=30.0):
    """Start one request per path, each only once the previous one reached a stand-in
    (STANDIN_LOG_ARRIVALS=1: the arrival is in the error log), so least-in-flight sees the
    earlier ones in flight.  Returns the Timed requests (not joined)."""
    out = []
    for path in paths:
        mark = srv.log_mark()
        out.append(Timed(srv, path, timeout))
        wait_log(srv, r"(?m)arrived GET %s$" % re.escape(path), timeout=15, start=mark)
        done = [t.path for t in out if not t.thread.is_alive()]
        assert not done, ("%s finished before %s arrived: the requests did not overlap (too "
                          "slow a machine for this test's sleeps)" % (done, path))
    return out


class Load:
    """Requests sent continuously while something happens (a graceful restart): one thread
    on a keep-alive connection, one opening a new connection per request.  A request that
    fails on a reused keep-alive connection before any byte of answer came back is sent
    again on a new connection (what every HTTP client does when a server closes an idle
    connection); every other failure, and every status but 200, is recorded."""

    def __init__(self, srv, path="/pid", timeout=10.0):
        self.srv, self.path, self.timeout = srv, path, timeout
        self.lock = threading.Lock()
        self.results = []          # (monotonic, kind, status, body)
        self.failures = []         # strings
        self.resent = 0
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self._keepalive, daemon=True),
                        threading.Thread(target=self._fresh, daemon=True)]
        for t in self.threads:
            t.start()

    def _record(self, kind, resp, t0):
        with self.lock:
            self.results.append((time.monotonic(), kind, resp.status, resp.body))
            if resp.status != 200:
                self.failures.append("%s: %s %s after %.2fs: %r" % (
                    kind, resp.status, resp.reason, time.monotonic() - t0, resp.body[:200]))

    def _fail(self, kind, exc, t0):
        with self.lock:
            self.failures.append("%s: %r after %.2fs" % (kind, exc, time.monotonic() - t0))

    def _keepalive(self):
        conn, reused = None, False
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn, reused = self.srv.connect(timeout=self.timeout), False
                try:
                    r = conn.request("GET", self.path)
                except (httpclient.ConnectionClosed, ConnectionError) as exc:
                    if reused and not conn.buf:
                        conn.close()
                        conn = None
                        with self.lock:
                            self.resent += 1
                        continue
                    raise exc
                self._record("keep-alive", r, t0)
                reused = True
                if (r.header("Connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as exc:  # noqa: BLE001 - recorded
                self._fail("keep-alive", exc, t0)
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def _fresh(self):
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            try:
                self._record("new connection", self.srv.raw_request(
                    "GET", self.path, [("Connection", "close")], timeout=self.timeout), t0)
            except Exception as exc:  # noqa: BLE001 - recorded
                self._fail("new connection", exc, t0)

    def count(self):
        with self.lock:
            return len(self.results)

    def wait_more(self, n, timeout=30.0):
        target = self.count() + n
        wait_until(lambda: self.count() >= target, timeout,
                   lambda: "%d more load requests (%d so far; failures: %s)" % (
                       n, self.count(), self.failures[:5]))

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(self.timeout + 5)
        return self

    def pids(self):
        with self.lock:
            return [int(b) for _, _, s, b in self.results if s == 200]

    def summary(self):
        kinds = {}
        for _, kind, status, _ in self.results:
            kinds.setdefault(kind, {}).setdefault(status, 0)
            kinds[kind][status] += 1
        return "%s; %d resent on a closed keep-alive connection" % (kinds, self.resent)


# --- 1. start modes --------------------------------------------------------------------------

def test_always_running_backend_exists_before_any_request(apache):
    srv = apache.start(standin(extra="AspNetCoreStartMode AlwaysRunning"))
    pids = wait_backends(srv, 1)
    assert len(pids) == 1, "AlwaysRunning with 1 process started %s" % pids
    pid = pids[0]
    assert procs.alive(pid) and os.path.realpath(procs.cmdline(pid)[-1]) == standin_path(), \
        procs.describe(pid)
    supervisor_of(srv, pid)
    wait_ready(srv, pid)
    assert srv.access_log() == "", "requests were made: %s" % srv.access_log()
    # the first request is served by that process, no new one is started
    assert app_pid(srv) == pid
    assert backend_pids(srv) == [pid]
    assert [p for _, p, _ in started(srv, srv.app, collisions=False)] == [pid]


def test_on_demand_backend_starts_with_first_request(apache):
    srv = apache.new(section("Location /always", standin(
                         app_root="{tmp}/a", extra="AspNetCoreStartMode AlwaysRunning")) +
                     section("Location /lazy", standin(
                         app_root="{tmp}/b", extra="AspNetCoreStartMode OnDemand")))
    a, b = srv.mkdir("a"), srv.mkdir("b")
    srv.start()
    # Both apps reach the supervisor in one message; once the AlwaysRunning one even
    # listens, an OnDemand app started the same way would exist too.
    [pa] = wait_backends(srv, 1)
    wait_ready(srv, pa)
    assert os.path.realpath(procs.cwd(pa)) == os.path.realpath(a)
    wait_log(srv, r"\[%s\] configured: .*, OnDemand" % re.escape(label(b, "/lazy")))
    assert backend_pids(srv) == [pa], "an OnDemand app started without a request: %s" % (
        [(p, procs.cwd(p)) for p in backend_pids(srv)])
    assert started(srv, b, "/lazy") == []
    # the first request starts it, waits for it, and succeeds
    t0 = time.monotonic()
    pb = app_pid(srv, "/lazy")
    assert time.monotonic() - t0 < 30
    assert os.path.realpath(procs.cwd(pb)) == os.path.realpath(b)
    assert sorted(backend_pids(srv)) == sorted([pa, pb])
    assert [p for _, p, _ in started(srv, b, "/lazy", collisions=False)] == [pb]
    supervisor_of(srv, pb)


# --- 2. readiness ----------------------------------------------------------------------------

def test_first_request_waits_for_readiness(apache):
    srv = apache.start(standin(env={"STANDIN_STARTUP_DELAY_MS": "700"}, extra=(
        "AspNetCoreStartMode OnDemand\nAspNetCoreStartupTimeLimit 10")))
    assert backend_pids(srv) == []
    t0 = time.monotonic()
    r = srv.get("/pid", timeout=30)
    elapsed = time.monotonic() - t0
    expect_status(r, 200, "first request to an app that listens after 700 ms", srv)
    assert 0.6 <= elapsed < 10, "first request took %.2fs (app listens after 0.7 s; limit 10 s)" % elapsed
    pid = parse_pid(r)
    # the module wakes the waiting requests before it logs the line: poll for it
    wait_ready(srv, pid)
    (t, m), = log_matches(srv, r"\] process %d listens on port \d+ after (\d+) ms" % pid)
    ms = int(m.group(1))
    # readiness is noticed when the port accepts, promptly (the module polls every 20 ms)
    assert 700 <= ms < 700 + 2000, "the module saw the app listening after %d ms" % ms


# --- 3. failed starts ------------------------------------------------------------------------

def child_at_start(srv, pid):
    """The grandchild a stand-in with STANDIN_CHILD_AT_START=1 started (from the log)."""
    (_, m), = wait_until(lambda: log_matches(srv, r"\[%s pid %d\] standin: started child (\d+)$" % (
        re.escape(label(srv.app)), pid)), 10, "process %d to log its child's pid" % pid)
    return int(m.group(1))


@pytest.mark.expect_log(r"exited with code 7 before it listened", r"failed to start \(502\.5\)")
def test_exit_at_start_is_502_quickly(apache):
    srv = apache.start(standin(env={"STANDIN_EXIT_AT_START": "7", "STANDIN_CHILD_AT_START": "1"},
                               extra="AspNetCoreStartMode OnDemand"))
    t0 = time.monotonic()
    r = srv.get("/", timeout=30)
    elapsed = time.monotonic() - t0
    expect_status(r, 502, "app that exits with 7 at start", srv)
    assert elapsed < 5, "502 took %.2fs" % elapsed
    (_, m), *_ = log_matches(srv, r"\[%s\] process (\d+) exited with code 7 before it listened on port \d+"
                             % re.escape(label(srv.app)))
    pid = int(m.group(1))
    assert pid in [p for _, p, _ in started(srv, srv.app)]
    # its own last words are in the log, tagged with it
    assert log_matches(srv, r"\[%s pid %d\] standin: STANDIN_EXIT_AT_START=7, exiting" % (
        re.escape(label(srv.app)), pid))
    # ... and kept for the diagnostics of the failed start, as the app's own bytes
    saved = os.path.join(srv.rundir, "aspnetcore", "startup-0.log")
    wait_until(lambda: os.path.exists(saved), 5, "the startup output kept in " + saved)
    with open(saved, "rb") as f:
        kept = f.read()
    assert b"standin: STANDIN_EXIT_AT_START=7, exiting" in kept, kept
    # what it left running in its process group goes with it
    child = child_at_start(srv, pid)
    wait_until(lambda: not procs.alive(child) and not group_members(pid), GONE_TIMEOUT,
               lambda: "the group %d of the failed start to be gone: %s" % (
                   pid, [procs.describe(p) for p in group_members(pid)]))


@pytest.mark.expect_log(r"did not listen on port \d+ within 1 s \(startupTimeLimit\)",
                        r"was killed by signal 9 before it listened",
                        r"failed to start \(502\.5\)", r"no process became ready within")
def test_startup_time_limit_kills_the_group(apache):
    srv = apache.start(standin(env={"STANDIN_STARTUP_DELAY_MS": "5000", "STANDIN_CHILD_AT_START": "1"},
                               extra="AspNetCoreStartMode OnDemand\nAspNetCoreStartupTimeLimit 1"))
    t0 = time.monotonic()
    r = srv.get("/", timeout=30)
    elapsed = time.monotonic() - t0
    expect_status(r, 502, "app that does not listen within the 1 s startup limit", srv)
    assert 0.8 <= elapsed < 4, "502 after %.2fs with a 1 s startup time limit" % elapsed
    (t_start, pid, port), *_ = started(srv, srv.app)
    wait_log(srv, r"\] process %d did not listen on port %d within 1 s \(startupTimeLimit\): "
                  r"killing it" % (pid, port))
    child = child_at_start(srv, pid)
    info = procs.proc_info(child)           # one read: the group is being killed just now
    assert info is None or info.pgrp == pid
    wait_until(lambda: not procs.alive(pid) and not procs.alive(child) and not group_members(pid),
               GONE_TIMEOUT, lambda: "process %d and its group to be gone: %s" % (
                   pid, [procs.describe(p) for p in group_members(pid)]))
    (t_kill, _), = log_matches(srv, r"\] process %d did not listen" % pid)
    assert 0.9 <= t_kill - t_start < 2.0, "killed %.2fs after it started (limit 1 s)" % (t_kill - t_start)


# --- 4. crashes, rapid fails, back-off -------------------------------------------------------

def crash(srv, prefix=""):
    """GET /crash (the process exits with 3 without answering)."""
    try:
        r = srv.get(prefix + "/crash", timeout=30)
        assert r.status >= 500, "GET /crash answered %s %r" % (r.status, r.body[:200])
    except (ConnectionError, httpclient.ConnectionClosed, OSError):
        pass


CRASH_RX = r"\] process (%s) (?:exited with code 3|was killed by signal 9) after \d+ s: starting a new one"


def wait_crash_noticed(srv, pids, start=0):
    """Until the module logged that one of `pids` crashed (exit code 3 or SIGKILL) and is
    being replaced; returns its pid.  (A process is a zombie, "gone" in /proc, a moment
    before the supervisor has reaped it.)"""
    rx = CRASH_RX % "|".join(str(p) for p in pids)
    wait_log(srv, rx, GONE_TIMEOUT, start)
    return int(log_matches(srv, rx, start)[0][1].group(1))


@pytest.mark.expect_log(*EXPECT_CRASH,
                        r"3 failures within a minute \(rapidFailsPerMinute 2\)",
                        r"failed to start \(502\.5\)")
def test_rapid_fails_stop_restarts(apache):
    srv = apache.start(standin(extra="AspNetCoreRapidFailsPerMinute 2"))
    pids = [app_pid(srv)]
    crashes = lambda: log_matches(srv, CRASH_RX % r"\d+")
    # crash it until the module has counted 3 crashes (a /crash request may cost more than
    # one process: see test_crashing_request_is_not_replayed_on_another_process)
    while len(crashes()) < 3:
        assert len(pids) <= 3, "3 /crash requests and the module counted %d crashes:\n%s" % (
            len(crashes()), srv.log_tail(20))
        ident = procs.ident(pids[-1])
        mark = srv.log_mark()
        crash(srv)
        wait_gone([ident] if ident else [], GONE_TIMEOUT, "crashed backend")
        wait_until(lambda: log_matches(srv, r"\] process %d (exited with code 3|stopped)" % pids[-1], mark),
                   GONE_TIMEOUT, "the module to see process %d exit" % pids[-1])
        if len(crashes()) < 3:
            def restarted():
                r = srv.get("/pid", timeout=30)
                return r.status == 200 and parse_pid(r) not in pids and parse_pid(r)
            pids.append(wait_until(restarted, 30, lambda: "a new backend after %d crash(es)\n%s" % (
                len(crashes()), srv.log_tail(20))))
    wait_log(srv, r"\[%s\] 3 failures within a minute \(rapidFailsPerMinute 2\): not starting it "
                  r"again before \d+ s" % re.escape(label(srv.app)))
    for _ in range(3):
        t0 = time.monotonic()
        r = srv.get("/pid", timeout=30)
        elapsed = time.monotonic() - t0
        expect_status(r, 502, "request after 3 crashes with rapidFailsPerMinute 2", srv)
        assert elapsed < 1, "502 took %.2fs; it must come at once" % elapsed
    assert backend_pids(srv) == [], "a backend runs although the rapid-fail limit was passed: %s" % (
        backend_pids(srv))
    assert len(started(srv, srv.app, collisions=False)) == 3, started(srv, srv.app)


@pytest.mark.expect_log(r"exited with code 1 before it listened", r"failures within a minute")
def test_backoff_between_failed_starts_grows(apache):
    srv = apache.start(standin(env={"STANDIN_EXIT_AT_START": "1"},
                               extra="AspNetCoreRapidFailsPerMinute 100"))
    starts = wait_until(lambda: len(started(srv, srv.app)) >= 6 and started(srv, srv.app), 20,
                        lambda: "6 starts of a failing app\n" + srv.log_tail(20))[:6]
    exits = {int(m.group(1)): t for t, m in log_matches(
        srv, r"\[%s\] process (\d+) exited with code 1 before it listened" % re.escape(label(srv.app)))}
    # The back-off: from a failed start (the module sees the process exit) to the next start.
    # (Start-to-start gaps would add the app's own start-up time, which varies with load.)
    delays = [starts[i + 1][0] - exits[starts[i][1]] for i in range(5)]
    gaps = [b[0] - a[0] for a, b in zip(starts, starts[1:])]
    shown = "back-off %s s (start-to-start %s s)" % (", ".join("%.3f" % d for d in delays),
                                                   ", ".join("%.3f" % g for g in gaps))
    jitter = 0.1
    for i in range(1, len(delays)):
        assert delays[i] >= delays[i - 1] - jitter, "the back-off must grow: %s" % shown
        assert gaps[i] >= delays[i], shown
    assert delays[0] < 0.2, "the first restart comes at once: %s" % shown
    assert delays[1] >= 0.2, "the second back-off is 250 ms: %s" % shown
    assert gaps[3] >= 0.4 and delays[3] >= 0.9, "the fourth back-off is 1 s: %s" % shown
    assert delays[4] >= 1.5 * delays[2], "the back-off doubles: %s" % shown
    assert delays[4] < 5, "the back-off after 5 failures is 2 s: %s" % shown


# --- 5. several processes ----------------------------------------------------------------------

@pytest.mark.expect_log(*EXPECT_CRASH)
def test_processes_per_application(apache):
    srv = apache.start(standin(env={"STANDIN_LOG_ARRIVALS": "1"},
                               extra="AspNetCoreProcessesPerApplication 3"))
    pids = wait_backends(srv, 3)
    assert len(set(pids)) == 3, pids
    for p in pids:
        wait_ready(srv, p)
        supervisor_of(srv, p)
    # least in flight: three overlapping requests go to three processes
    reqs = staggered(srv, ["/pid?ms=2000&n=%d" % i for i in range(3)])
    got = [parse_pid(expect_status(t.join().resp, 200, t.path, srv)) for t in reqs]
    assert sorted(got) == sorted(pids), "3 concurrent requests were served by %s; processes %s" % (
        got, pids)

    # one crashes (SIGKILL: the request-borne /crash is test_crashing_request_is_not_...)
    mark = srv.log_mark()
    os.kill(pids[1], signal.SIGKILL)
    crashed = wait_crash_noticed(srv, pids, mark)
    dead = [p for p in pids if not procs.alive(p)]
    assert dead == [crashed] == [pids[1]], "killed %d; the module saw %d crash; gone: %s" % (
        pids[1], crashed, dead)
    assert len(dead) == 1, "one /crash request killed %s" % dead
    survivors = [p for p in pids if p not in dead]
    # the others keep their pid and keep answering
    for i in range(6):
        pid = app_pid(srv)
        assert pid not in dead
    new = wait_backends(srv, 1, exclude=pids)
    assert len(new) == 1, new
    wait_ready(srv, new[0])
    assert all(procs.alive(p) for p in survivors)
    assert sorted(backend_pids(srv)) == sorted(survivors + new)
    reqs = staggered(srv, ["/pid?ms=2000&m=%d" % i for i in range(3)])
    got = [parse_pid(expect_status(t.join().resp, 200, t.path, srv)) for t in reqs]
    assert sorted(got) == sorted(survivors + new), (
        "after the crash, 3 concurrent requests were served by %s; processes %s + new %s" % (
            got, survivors, new))


@pytest.mark.expect_log(*EXPECT_CRASH)
def test_crashing_request_is_not_replayed_on_another_process(apache):
    """DESIGN: a request that failed on a reused connection before any byte of answer is
    retried once on a new connection.  A request that made its process die must not then be
    sent to another process of the app (nor to its replacement): one poison request would
    take down every process, and each death counts towards rapidFailsPerMinute."""
    srv = apache.start(standin(env={"STANDIN_LOG_ARRIVALS": "1"},
                               extra="AspNetCoreProcessesPerApplication 2"))
    pids = wait_backends(srv, 2)
    for p in pids:
        wait_ready(srv, p)
    with srv.connect(timeout=30) as c:
        for _ in range(5):                    # this httpd child now has a pooled connection
            expect_status(c.request("GET", "/pid"), 200, "GET /pid", srv)
        mark = srv.log_mark()
        try:
            r = c.request("GET", "/crash")
            assert r.status >= 500, (r.status, r.body[:200])
        except (ConnectionError, httpclient.ConnectionClosed, OSError):
            pass
    crashed = wait_crash_noticed(srv, pids, mark)
    other = [p for p in pids if p != crashed][0]
    wait_until(lambda: len(backend_pids(srv)) == 2, BACKEND_UP_TIMEOUT, "the replacement")
    get_ok(srv, "/pid")
    got = [int(m.group(1)) for _, m in log_matches(
        srv, r"\[%s pid (\d+)\] standin\[\d+\]: arrived GET /crash$" % re.escape(label(srv.app)), mark)]
    assert got == [crashed], ("one GET /crash reached processes %s (it crashed %d; the other "
                              "process was %d)\n%s" % (got, crashed, other, srv.log_tail(12)))
    assert procs.alive(other), "the other process %d died too\n%s" % (other, srv.log_tail(12))


# --- 6. the cap on waiting requests ----------------------------------------------------------

@pytest.mark.expect_log(r"more than 1 requests wait for a process \(AspNetCoreMaxQueuedRequests\) \(503\)")
def test_waiting_requests_are_capped(apache):
    srv = apache.start(standin(env={"STANDIN_STARTUP_DELAY_MS": "2000"}, extra=(
        "AspNetCoreStartMode OnDemand\nAspNetCoreMaxQueuedRequests 1\nAspNetCoreStartupTimeLimit 20")))
    first = Timed(srv, "/pid?first", timeout=30)
    # the first request asked for the app: it waits (the one allowed to)
    wait_until(lambda: started(srv, srv.app), 10, "the first request to start the app")
    assert first.thread.is_alive()
    more = [Timed(srv, "/pid?more=%d" % i, timeout=10) for i in range(3)]
    for t in more:
        t.join()
        assert t.error is None, "%s: %r" % (t.path, t.error)
        expect_status(t.resp, 503, "request beyond AspNetCoreMaxQueuedRequests 1", srv)
        assert t.resp.header("Retry-After"), "503 without Retry-After: %s" % t.resp.headers
        assert t.elapsed < 0.5, "%s waited %.2fs for its 503" % (t.path, t.elapsed)
    first.join()
    assert first.error is None, repr(first.error)
    expect_status(first.resp, 200, "the first (waiting) request", srv)
    assert first.elapsed >= 1.5, "the first request took %.2fs; the app listens after 2 s" % first.elapsed


# --- 7. stopping a backend -----------------------------------------------------------------------

def test_removed_app_gets_shutdown_event(apache, backend):
    env = {"STANDIN_VERBOSE": "1"} if not backend.real else {}
    keep = section("Location /keep", standin(app_root="{tmp}/keep"))
    gone = section("Location /gone", app_lines(backend, app_root="{tmp}/gone", env=env))
    srv = apache.new(keep + gone)
    root = srv.mkdir("gone")
    srv.mkdir("keep")
    srv.start()
    pid = app_pid(srv, "/gone")
    keep_pid = app_pid(srv, "/keep")
    mark = srv.log_mark()
    t0 = time.monotonic()
    srv.graceful(keep)
    wait_until(lambda: not procs.alive(pid), 15, lambda: "removed app's process %d to exit\n%s" % (
        pid, srv.log_tail(20)))
    elapsed = time.monotonic() - t0
    lab = re.escape(label(root, "/gone"))
    wait_log(srv, r"\[%s\] process %d stopped \(exited with code 0\)" % (lab, pid), start=mark)
    assert not log_matches(srv, r"process %d did not accept the shutdown event" % pid, mark), \
        "the app refused the shutdown event:\n" + srv.log_tail(20)
    assert not log_matches(srv, r"process %d did not stop within" % pid, mark)
    assert elapsed < 8, "stopping took %.2fs (shutdownTimeLimit 10 s: was it killed?)" % elapsed
    if not backend.real:
        # the stand-in says what stopped it: the event, at the app's path
        assert log_matches(srv, r"\[%s pid %d\] standin\[%d\]: .*POST /gone/iisintegration HTTP/1\.1[\\]*\" 202"
                           % (lab, pid, pid), mark), srv.log_tail(20)
        assert log_matches(srv, r"\[%s pid %d\] standin: stopping \(shutdown event\)" % (lab, pid), mark)
    # the other app was not touched
    assert app_pid(srv, "/keep") == keep_pid


def test_shutdown_event_reaches_an_app_at_an_unusual_path(apache):
    """Defect 2.8: the shutdown event's request was cut at 512 bytes (the check after
    apr_snprintf never fired) and carried the virtual path unescaped, so an app at a long
    path or one with a space never saw the event and got SIGTERM. The path is now
    percent-encoded and the request built whole."""
    long_segment = "x" * 700
    vpath = "/a b/caf\u00e9/%s" % long_segment
    raw_vpath = "/a%%20b/caf%%C3%%A9/%s" % long_segment       # as the request line carries it
    keep = section("Location /keep", standin(app_root="{tmp}/keep"))
    odd = section('Location "%s"' % vpath, standin(app_root="{tmp}/odd",
                                                    env={"STANDIN_VERBOSE": "1"}))
    srv = apache.new(keep + odd)
    root = srv.mkdir("odd")
    srv.mkdir("keep")
    srv.start()
    pid = app_pid(srv, raw_vpath)
    env = parse_env(get_ok(srv, raw_vpath + "/env"))
    assert env["ASPNETCORE_APPL_PATH"] == vpath, env["ASPNETCORE_APPL_PATH"]
    mark = srv.log_mark()
    srv.graceful(keep)
    wait_until(lambda: not procs.alive(pid), 15, lambda: "removed app's process %d to exit\n%s" % (
        pid, srv.log_tail(20)))
    # httpd writes the non-ASCII bytes of the label escaped
    lab = re.escape(label(root, vpath.encode("utf-8").decode("ascii", "backslashreplace")))
    wait_log(srv, r"\[%s\] process %d stopped \(exited with code 0\)" % (lab, pid), start=mark)
    assert not log_matches(srv, r"process %d (did not accept|cannot send) the shutdown event" % pid,
                           mark), "the app did not get the shutdown event:\n" + srv.log_tail(20)
    # the stand-in says what stopped it: the event, at the app's (encoded) path
    assert log_matches(srv, r"\[%s pid %d\] standin\[%d\]: .*POST %s/iisintegration HTTP/1\.1[\\]*\" 202"
                       % (lab, pid, pid, re.escape(raw_vpath)), mark), srv.log_tail(20)
    assert log_matches(srv, r"\[%s pid %d\] standin: stopping \(shutdown event\)" % (lab, pid), mark)


@pytest.mark.expect_log(r"did not stop within 2 s \(shutdownTimeLimit\)")
def test_process_ignoring_stop_is_killed_after_shutdown_time_limit(apache):
    keep = section("Location /keep", standin(app_root="{tmp}/keep"))
    gone = section("Location /gone", standin(app_root="{tmp}/gone", env={
        "STANDIN_IGNORE_SHUTDOWN": "1"}, extra="AspNetCoreShutdownTimeLimit 2"))
    srv = apache.new(keep + gone)
    root = srv.mkdir("gone")
    srv.mkdir("keep")
    srv.start()
    pid = app_pid(srv, "/gone")
    ident = procs.ident(pid)
    mark = srv.log_mark()
    watch = Watch([ident])
    t0 = time.monotonic()
    try:
        srv.graceful(keep)
        wait_until(lambda: ident in watch.gone_at, 10, lambda: "process %d to be killed\n%s" % (
            pid, srv.log_tail(20)))
    finally:
        watch.close()
    elapsed = watch.gone_at[ident] - t0
    lab = re.escape(label(root, "/gone"))
    (t_retire, _), = log_matches(srv, r"\[%s\] no longer configured: stopping it" % lab, mark)
    (t_kill, _), = log_matches(srv, r"\[%s\] process %d did not stop within 2 s \(shutdownTimeLimit\): "
                                    r"killing it" % (lab, pid), mark)
    wait_log(srv, r"\[%s\] process %d stopped \(was killed by signal 9\)" % (lab, pid), start=mark)
    assert 1.9 <= t_kill - t_retire <= 2.5, "killed %.2fs after it was asked to stop (limit 2 s)" % (
        t_kill - t_retire)
    assert 1.0 <= elapsed <= 5.0, "gone %.2fs after `graceful` (limit 2 s)" % elapsed
    # it was asked first: the event (refused), then SIGTERM (ignored)
    assert log_matches(srv, r"\[%s pid %d\] standin: shutdown event refused" % (lab, pid), mark)
    assert log_matches(srv, r"process %d did not accept the shutdown event: SIGTERM" % pid, mark)


# --- 8. output -------------------------------------------------------------------------------

def print_lines(srv, n, pid, start=0):
    """Logged lines of one /print?n=N burst: [(time, i)], each checked to be tagged."""
    out = []
    rx = r"\[%s pid %d\] standin print (\d+) of %d pid %d$" % (re.escape(label(srv.app)), pid, n, pid)
    for t, m in log_matches(srv, rx, start):
        out.append((t, int(m.group(1))))
    return out


def quiet_for(srv, seconds, pid):
    """Waits until the app's last logged output line is `seconds` old (the module counts its
    lines per second from the first line of a second)."""
    rx = r"\[%s pid %d\] " % (re.escape(label(srv.app)), pid)
    wait_until(lambda: time.time() - log_matches(srv, rx)[-1][0] >= seconds, seconds + 5,
               "%.1fs without output" % seconds)


def burst(srv, n=2000):
    pid = app_pid(srv)
    listening = r"\[%s pid %d\] standin: listening on 127\.0\.0\.1:(\d+) pid %d$" % (
        re.escape(label(srv.app)), pid, pid)
    # the app prints the line after listen(); the module relays it whenever it reads the pipe
    wait_until(lambda: log_matches(srv, listening), 10, "the app's 'listening' line")
    (t, m), = log_matches(srv, listening)
    assert int(m.group(1)) == int(parse_env(get_ok(srv, "/env"))["ASPNETCORE_PORT"])
    quiet_for(srv, 1.05, pid)
    mark = srv.log_mark()
    r = get_ok(srv, "/print?n=%d" % n)
    assert r.body == b"printed %d" % n
    return pid, mark


def test_output_is_tagged_and_rate_limited(apache):
    srv = apache.start(standin())
    n = 2000
    pid, mark = burst(srv, n)
    wait_until(lambda: print_lines(srv, n, pid, mark), 5, "the first printed lines in the log")
    # wait out the second that began with the burst, then one more line: the module
    # reports what it left out
    quiet_for(srv, 1.05, pid)
    get_ok(srv, "/print?n=1")
    warning = r"\[%s\] (\d+) lines of output not logged \(more than 200 a second\)" % (
        re.escape(label(srv.app)))
    wait_log(srv, warning, 5, mark)
    (_, m), = log_matches(srv, warning, mark)
    dropped = int(m.group(1))
    logged = print_lines(srv, n, pid, mark)
    nums = [i for _, i in logged]
    span = logged[-1][0] - logged[0][0]
    assert span < 1.0, "the burst took %.2fs to relay; cannot check the per-second limit" % span
    assert len(logged) <= 200, "%d lines of one burst logged within %.2fs (limit 200 a second)" % (
        len(logged), span)
    assert len(logged) >= 150, "only %d of %d lines logged" % (len(logged), n)
    assert nums == list(range(len(nums))), "logged lines are not the first ones, in order"
    assert dropped + len(logged) == n, "%d logged + %d reported as not logged != %d printed" % (
        len(logged), dropped, n)
    # the line printed after the quiet second is logged again (the warning may come first:
    # the module reports left-out lines on its own timer)
    wait_log(srv, r"\[%s pid %d\] standin print 0 of 1 pid %d$" % (
        re.escape(label(srv.app)), pid, pid), 5, mark)


def test_output_lines_are_escaped_once(apache):
    """httpd escapes the messages it writes to the error log itself (backslashes, control
    characters): a line of output must not be escaped a second time on the way."""
    srv = apache.start(standin(env={"STANDIN_VERBOSE": "1"}))
    pid = app_pid(srv)
    # the stand-in logs `standin[PID]: 127.0.0.1 "GET /pid HTTP/1.1" 200 -` to stderr
    (_, m), = wait_until(lambda: log_matches(srv, r"\[%s pid %d\] (standin\[%d\]: 127\.0\.0\.1 .*GET /pid "
                                                  r"HTTP/1\.1.* 200 -)$" % (re.escape(label(srv.app)), pid, pid)),
                         5, "the stand-in's request line in the log")
    assert m.group(1) == 'standin[%d]: 127.0.0.1 "GET /pid HTTP/1.1" 200 -' % pid, (
        "the app wrote %r; the error log shows %r" % (
            'standin[%d]: 127.0.0.1 "GET /pid HTTP/1.1" 200 -' % pid, m.group(1)))


def test_dropped_output_is_reported_without_further_output(apache):
    """The warning about lines left out must not wait for the app's next line: an app that
    floods its output and then goes quiet (typical of a crash loop dumping a stack) would
    otherwise never have it reported."""
    srv = apache.start(standin())
    pid, mark = burst(srv, 2000)
    wait_log(srv, r"\[%s\] \d+ lines of output not logged" % re.escape(label(srv.app)), 4, mark)


# --- 9. isolation ------------------------------------------------------------------------------

def socket_inode(target):
    m = re.match(r"socket:\[(\d+)\]$", target)
    return int(m.group(1)) if m else None


def test_backend_inherits_nothing_from_apache(apache):
    srv = apache.new(standin(app_root="{tmp}/approot"))
    root = srv.mkdir("approot")
    srv.start()
    pid = app_pid(srv)
    port = int(parse_env(get_ok(srv, "/env"))["ASPNETCORE_PORT"])
    sup = supervisor_of(srv, pid)
    fds = procs.fd_targets(pid)
    apache_listen = procs.listening_inodes(srv.port)
    parent_fds = procs.fd_targets(srv.pid)
    parent_sockets = {socket_inode(t) for t in parent_fds.values()} - {None}
    assert apache_listen and apache_listen <= parent_sockets, (
        "rig check: the listening socket of port %d (%s) is not among the httpd parent's fds %s"
        % (srv.port, apache_listen, parent_fds))
    what = "backend %d fds: %s" % (pid, fds)

    assert fds.get(0) == "/dev/null", what
    assert fds.get(1, "").startswith("pipe:") and fds.get(2) == fds.get(1), what
    # the output pipe is shared with the supervisor only
    holders = {p for p in procs.all_procs() if fds[1] in procs.fd_targets(p).values()}
    assert holders == {pid, sup}, "the output pipe %s is held by %s" % (
        fds[1], [procs.describe(p) for p in holders])
    own = {e.inode for e in procs.tcp_entries() if e.local_port == port}
    for fd, target in fds.items():
        if fd <= 2:
            continue
        assert target not in (srv.error_log_path, srv.access_log_path), what
        inode = socket_inode(target)
        assert inode is not None, "fd %d -> %s is not one of the app's own sockets; %s" % (fd, target, what)
        assert inode not in apache_listen, "fd %d is Apache's listening socket; %s" % (fd, what)
        assert inode not in parent_sockets, "fd %d is a socket of the httpd parent; %s" % (fd, what)
        assert inode in own, ("fd %d -> %s is not a TCP socket on the app's port %d (a unix socket "
                              "or another TCP socket leaked); %s" % (fd, target, port, what))
    # nor does the supervisor hold Apache's listening socket (it closes the listeners)
    sup_sockets = {socket_inode(t) for t in procs.fd_targets(sup).values()}
    assert not sup_sockets & apache_listen, "the supervisor %d holds Apache's listening socket" % sup
    assert os.path.realpath(procs.cwd(pid)) == os.path.realpath(root)
    if os.geteuid() == 0:
        assert procs.uids(pid) == (WWW_DATA_UID,) * 4, procs.status_fields(pid)["Uid"]
        assert procs.gids(pid)[:2] == (WWW_DATA_UID, WWW_DATA_UID), procs.status_fields(pid)["Gid"]
        assert procs.status_fields(pid)["Groups"].split() in ([], [str(WWW_DATA_UID)]), \
            "supplementary groups of root leaked: %s" % procs.status_fields(pid)["Groups"]
    assert procs.proc_info(pid).pgrp == pid


# --- 10. graceful restarts of Apache -----------------------------------------------------------

def test_graceful_keeps_unchanged_app_under_load(apache):
    srv = apache.start(standin())
    pid = app_pid(srv)
    mark = srv.log_mark()
    load = Load(srv)
    try:
        load.wait_more(30)
        srv.graceful()
        load.wait_more(60)
    finally:
        load.stop()
    assert not load.failures, "load during graceful: %s\n%s" % (load.failures[:10], load.summary())
    assert set(load.pids()) == {pid}, "served by %s; the app's process was %d" % (set(load.pids()), pid)
    assert procs.alive(pid) and app_pid(srv) == pid
    assert started(srv, srv.app, start=mark) == []


def test_graceful_rolls_changed_app_under_load(apache, backend):
    marker = "standin.py" if not backend.real else os.path.basename(backend.arguments)
    conf = lambda v: app_lines(backend, env={"APP_VERSION": v})
    srv = apache.start(conf("1"))
    old = app_pid(srv)
    assert parse_env(get_ok(srv, "/env"))["APP_VERSION"] == "1"
    mark = srv.log_mark()
    load = Load(srv)
    try:
        load.wait_more(30)
        srv.graceful(conf("2"))
        wait_until(lambda: [p for p in load.pids()[-5:] if p != old], 60,
                   lambda: "the new version to serve\n" + srv.log_tail(20))
        load.wait_more(60)
    finally:
        load.stop()
    assert not load.failures, "load during a rolling restart: %s\n%s" % (load.failures[:10], load.summary())
    new = app_pid(srv)
    assert new != old
    assert set(load.pids()) == {old, new}, "served by %s (old %d, new %d)" % (set(load.pids()), old, new)
    assert parse_env(get_ok(srv, "/env"))["APP_VERSION"] == "2"
    wait_until(lambda: not procs.alive(old), 20, lambda: "the old version %d to exit\n%s" % (
        old, srv.log_tail(20)))
    wait_log(srv, r"\] process %d stopped \(exited with code 0\)" % old, start=mark)
    assert [p for _, p, _ in started(srv, srv.app, start=mark, collisions=False)] == [new]
    assert backend_pids(srv, marker) == [new]


def test_graceful_removing_app_lets_inflight_request_finish(apache):
    keep = section("Location /keep", standin(app_root="{tmp}/keep"))
    shop = section("Location /shop", standin(app_root="{tmp}/shop", env={"STANDIN_LOG_ARRIVALS": "1"}))
    srv = apache.new(keep + shop)
    srv.mkdir("keep")
    srv.mkdir("shop")
    srv.start()
    pid = app_pid(srv, "/shop")
    # 6 s: room for the graceful restart on a loaded machine, within the 10 s shutdown limit
    [slow] = staggered(srv, ["/shop/sleep?ms=6000"])
    mark = srv.log_mark()
    srv.graceful(keep)
    assert slow.thread.is_alive() and procs.alive(pid), "the removed app's process %d stopped while " \
        "it had a request in flight" % pid
    slow.join()
    assert slow.error is None, "in-flight request during graceful: %r" % (slow.error,)
    expect_status(slow.resp, 200, "request in flight during graceful", srv)
    assert slow.resp.body == b"slept 6000"
    wait_until(lambda: not procs.alive(pid), 10, lambda: "removed app's process %d to exit\n%s" % (
        pid, srv.log_tail(20)))
    wait_log(srv, r"\] process %d stopped \(exited with code 0\)" % pid, start=mark)
    r = srv.get("/shop/pid")
    assert r.status == 404, "the removed app still answers: %s %r" % (r.status, r.body[:200])


def test_unchanged_app_survives_two_gracefuls(apache):
    srv = apache.start(standin())
    pid = app_pid(srv)
    mark = srv.log_mark()
    srv.graceful()
    assert app_pid(srv) == pid
    srv.graceful()
    assert app_pid(srv) == pid
    assert procs.alive(pid)
    assert started(srv, srv.app, start=mark) == []


# --- 11. stop, restart, death of Apache ----------------------------------------------------------

def test_stop_ends_backend_and_its_children(apache):
    srv = apache.start(standin(extra="AspNetCoreShutdownTimeLimit 3"))
    pid = app_pid(srv)
    child = parse_pid(get_ok(srv, "/spawn-child"))
    info = procs.proc_info(child)
    assert info.ppid == pid and info.pgrp == pid, procs.describe(child)
    tree = idents([pid, child])
    watch = Watch(tree)
    t0 = time.monotonic()
    errors = []
    stopper = threading.Thread(target=lambda: errors.extend(srv.stop(raise_on_problem=False)))
    stopper.start()
    try:
        wait_until(lambda: len(watch.gone_at) == 2, 3 + 2 + 1, lambda: "backend %d and its child %d "
                   "to be gone after `apache2 -k stop`: %s" % (pid, child, [
                       procs.describe(p) for p, _ in watch.pending]))
    finally:
        stopper.join(60)
        watch.close()
    for i in tree:
        assert watch.gone_at[i] - t0 <= 3 + 2, "process %d gone %.2fs after stop (limit 3 s + 2)" % (
            i[0], watch.gone_at[i] - t0)
    assert not errors, errors


def _parent_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


@pytest.mark.not_under_sanitizers("ASan's allocator holds freed memory back (its quarantine): "
                                   "the parent's RSS says nothing about leaks there")
@pytest.mark.expect_log(r"app limits: ")
def test_reloads_do_not_grow_the_parent(apache):
    """Apache reloaded many times (logrotate, a hosting panel's every site change) keeps the
    parent's memory and descriptors flat, with the module's features that do work at each
    generation: two virtual hosts with their own error logs, an app with its own user, cgroup
    limits and health checks, the status page. Before the fix the cgroup detection ran again
    at every generation into the process pool (which no restart clears): the parent grew by
    28 KiB per reload, 560 KiB over these 20."""
    srv = apache.new(log_level="warn")
    srv.mkdir("app-b")
    srv.write_conf("".join(
        section("VirtualHost 127.0.0.1:{port}",
                "ServerName %s.test\nErrorLog \"{tmp}/%s.log\"\n%s" % (name, name, body))
        for name, body in (
            ("a", standin(extra="AspNetCoreUser nobody\nAspNetCoreMemoryLimit 256\n"
                                "AspNetCoreHealthCheck /healthz interval=5\n"
                                "<Location /app-status>\nSetHandler aspnetcore-status\n"
                                "</Location>")),
            ("b", standin(app_root="{tmp}/app-b")))))
    srv.start()
    for host in ("a.test", "b.test"):
        expect_status(srv.get("/pid", headers={"Host": host}, timeout=60), 200, host, srv)
    pid = srv.parent[0]
    for _ in range(3):          # the allocator's free lists fill first
        srv.graceful()
    rss0, fds0 = _parent_rss_kib(pid), len(os.listdir("/proc/%d/fd" % pid))
    for _ in range(20):
        srv.graceful()
    rss1, fds1 = _parent_rss_kib(pid), len(os.listdir("/proc/%d/fd" % pid))
    assert fds1 <= fds0, "the parent holds %d descriptors more after 20 reloads" % (fds1 - fds0)
    assert rss1 - rss0 < 200, ("the parent grew by %d KiB over 20 reloads (%d -> %d KiB)"
                               % (rss1 - rss0, rss0, rss1))


def test_graceful_stop_lets_requests_finish_then_ends_everything(apache):
    """`apache2 -k graceful-stop`, how Debian's apache2.service stops Apache (systemctl stop,
    apt upgrade): a request the app is working on is answered in full, then the app's
    processes, the supervisor and every child are gone, with no error line."""
    srv = apache.start(standin(env={"STANDIN_LOG_ARRIVALS": "1"},
                               extra="AspNetCoreShutdownTimeLimit 10"))
    pid = app_pid(srv)
    sup = supervisor_of(srv, pid)
    tree = idents([pid, sup])
    mark = srv.log_mark()
    slow = Timed(srv, "/sleep?ms=1500")
    srv.wait_for_log(r"standin\[%d\]: arrived GET /sleep\?ms=1500" % pid, timeout=10, start=mark)
    errors = srv.stop(raise_on_problem=False, how="graceful-stop")
    slow.join()
    assert slow.error is None, "the request in flight at graceful-stop failed: %r" % slow.error
    expect_status(slow.resp, 200, "the request in flight at graceful-stop", srv)
    assert slow.resp.body == b"slept 1500", slow.resp.body
    for i in tree:
        assert not procs.alive(*i), "process %d outlived graceful-stop: %s" % (
            i[0], procs.describe(i[0]))
    assert not errors, errors


def test_restart_replaces_backend(apache):
    srv = apache.start(standin())
    old = app_pid(srv)
    ident = procs.ident(old)
    srv.restart()
    wait_until(lambda: not procs.alive(*ident), GONE_TIMEOUT, "the old backend %d to exit" % old)
    new = app_pid(srv)
    assert new != old
    supervisor_of(srv, new)
    assert backend_pids(srv) == [new]


def test_killed_httpd_parent_takes_everything(apache):
    srv = apache.start(standin())
    pid = app_pid(srv)
    child = parse_pid(get_ok(srv, "/spawn-child"))
    sup = supervisor_of(srv, pid)
    module_procs = idents([sup, pid, child])
    parent = srv.kill_parent()     # SIGKILL; teardown then kills Apache's own children
    t0 = time.monotonic()
    wait_until(lambda: not any(procs.alive(*i) for i in module_procs), 12,
               lambda: "supervisor, backend and its child to exit after SIGKILL of httpd %d: %s"
               % (parent[0], [procs.describe(p) for p, s in module_procs if procs.alive(p, s)]))
    assert time.monotonic() - t0 <= 12


# --- 12. death of the supervisor -----------------------------------------------------------------

@pytest.mark.expect_log(r"supervisor pid \d+ is gone", r"the supervisor is being restarted \(503\)",
                        r"cannot reach the supervisor")
def test_supervisor_is_replaced(apache):
    # a short startup limit: a request that waits for a process in vain ends (as a 502,
    # which fails the test) within the client's patience instead of hanging for minutes
    srv = apache.start(standin(extra="AspNetCoreStartupTimeLimit 4"))
    pid = app_pid(srv)
    sup = supervisor_of(srv, pid)
    old = idents([sup, pid])
    results, stop_ev = [], threading.Event()

    def probe():
        while not stop_ev.is_set():
            t0 = time.monotonic()
            try:
                r = srv.raw_request("GET", "/pid", [("Connection", "close")], timeout=6)
                results.append((t0, r.status, r.header("Retry-After"), time.monotonic() - t0,
                                r.body[:40]))
            except Exception as exc:  # noqa: BLE001 - reported
                results.append((t0, None, None, time.monotonic() - t0, repr(exc)))

    def summary():
        counts = {}
        for t, status, retry, took, _ in results:
            key = "%s%s" % (status, "+Retry-After" if retry else "")
            counts[key] = counts.get(key, 0) + 1
        bad = [r for r in results if not (r[1] == 200 or (r[1] == 503 and r[2])) or r[3] >= 5]
        first = ("; first bad one sent %.3fs after the kill: %s" % (bad[0][0] - t_kill, bad[0][1:])
                 if bad else "")
        return "statuses of %d probe requests: %s; slowest %.2fs%s" % (
            len(results), counts, max(r[3] for r in results), first)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        wait_until(lambda: len(results) >= 10, 10, "probe requests")
        os.kill(sup, signal.SIGKILL)
        t_kill = time.monotonic()
        # a new supervisor: a child of the httpd parent, parent of a new backend
        new = wait_backends(srv, 1, timeout=10, exclude=[pid])[0]
        new_sup = supervisor_of(srv, new)
        assert new_sup != sup
        took_sup = time.monotonic() - t_kill

        def new_backend_serves():
            r = srv.get("/pid", timeout=6)
            return r.status == 200 and parse_pid(r) == new
        wait_until(new_backend_serves, 10, lambda: "the new backend %d (supervisor %d, %.1fs after "
                   "the old one was killed) to serve; %s\n%s" % (
                       new, new_sup, took_sup, summary(), srv.log_tail(12)))
        took = time.monotonic() - t_kill
        n = len(results)
        wait_until(lambda: len(results) >= n + 10, 10, "probe requests after recovery")
    finally:
        stop_ev.set()
        prober.join(10)
    assert not any(procs.alive(*i) for i in old), [procs.describe(p) for p, _ in old]
    bad = [r for r in results if not (r[1] == 200 or (r[1] == 503 and r[2]))]
    slow = [r for r in results if r[3] >= 5]
    assert not bad and not slow, ("requests while the supervisor was replaced must get 200 or 503 "
                                  "with Retry-After, within 5 s: " + summary())
    assert took < 10, "a new backend served %.2fs after the supervisor died" % took


# --- 13. port collisions -------------------------------------------------------------------------

@pytest.mark.expect_log(*EXPECT_CRASH)
def test_port_collision_is_not_a_failure(apache):
    srv = apache.new(standin(env={"STANDIN_SQUAT_ONCE": "{tmp}/squat/marker"},
                             extra="AspNetCoreRapidFailsPerMinute 1"))
    squat_dir = srv.mkdir("squat", 0o777)
    marker = os.path.join(squat_dir, "marker")
    srv.start()
    squatter = None
    try:
        def squatter_pid():
            with open(marker) as f:
                text = f.read().strip()
            return text if text.isdigit() or text.startswith("error") else None
        text = wait_until(squatter_pid, 15, "the squatter's pid in " + marker)
        (_, first, port), = started(srv, srv.app)[:1]
        # The first process never listens; if the module took it for listening, it was fooled
        # (by its own probe connecting to itself, or by another program on that port).
        fooled = log_matches(srv, r"\] process %d listens on port %d after (\d+) ms" % (first, port))
        assert not fooled, (
            "the module took process %d for listening on port %d after %s ms, although that "
            "process never listened there (the probe reached something else; squatter: %r)\n%s" % (
                first, port, fooled[0][1].group(1), text, srv.log_tail(12)))
        assert text.isdigit(), text
        squatter = procs.ident(int(text))
        assert squatter, "the squatter %s is gone" % text
        notice = (r"\[%s\] process (\d+) exited with code 1: port (\d+) was taken by another "
                  r"program; starting again on another port" % re.escape(label(srv.app)))
        wait_log(srv, notice, 15)
        (_, m), = log_matches(srv, notice)
        assert (int(m.group(1)), int(m.group(2))) == (first, port), m.group(0)
        wait_until(lambda: squatter[0] in procs.listener_pids(port), 10,
                   "the squatter %d to listen on port %d" % (squatter[0], port))
        env = parse_env(get_ok(srv, "/env"))
        assert int(env["ASPNETCORE_PORT"]) != port
        pid = app_pid(srv)
        assert pid != first and pid in procs.listener_pids(int(env["ASPNETCORE_PORT"]))
        assert not log_matches(srv, r"failures within a minute|before it listened")
        # the collision did not count: one crash (the limit is 1) still restarts the app
        mark = srv.log_mark()
        os.kill(pid, signal.SIGKILL)
        wait_crash_noticed(srv, [pid], mark)
        r = srv.get("/pid", timeout=30)
        expect_status(r, 200, "request after one crash (rapidFailsPerMinute 1, after a port "
                              "collision that must not count)", srv)
        assert parse_pid(r) not in (pid, first)
        assert not log_matches(srv, r"failures within a minute")
    finally:
        if squatter is not None:
            procs.kill_ident(*squatter)


# --- 14. shared state left mid-write by a supervisor that died -----------------------------------

class SharedSegment:
    """The module's shared segment, seen through /proc/<pid>/mem of a process that maps it
    (the tests run as root). Layout (modules/ac_shared.h): a 32-byte header (magic "ASNC",
    layout = sizeof the segment, ...), then AC_MAX_APPS (64) app records, each starting
    with its seqlock sequence (uint32) and its state (uint32; 1 = active)."""

    MAGIC = 0x41534e43
    APPS = 64
    HEADER = 32

    def __init__(self, pid):
        self.pid = pid
        self.base = None
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read().splitlines()
        for line in maps:
            fields = line.split()
            if len(fields) < 2 or fields[1] != "rw-s":
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            # APR keeps the size asked for at the start of the mapping
            for off in range(0, 64, 8):
                magic, layout = struct.unpack("<II", self._read(start + off, 8))
                if magic == self.MAGIC and layout <= end - start - off:
                    self.base, self.layout = start + off, layout
                    break
            if self.base is not None:
                break
        assert self.base is not None, "no shared segment with the module's magic in process %d:\n%s" % (
            pid, "\n".join(maps))
        assert (self.layout - self.HEADER) % self.APPS == 0, self.layout
        self.app_size = (self.layout - self.HEADER) // self.APPS

    def _read(self, addr, n):
        with open("/proc/%d/mem" % self.pid, "rb") as f:
            f.seek(addr)
            return f.read(n)

    def _write(self, addr, data):
        with open("/proc/%d/mem" % self.pid, "r+b", buffering=0) as f:
            f.seek(addr)
            f.write(data)

    def app(self, i):
        """(seq, state) of app record i."""
        return struct.unpack("<II", self._read(self.base + self.HEADER + i * self.app_size, 8))

    def leave_mid_write(self, i):
        """Makes app i's sequence odd, as a write that began and never ended leaves it."""
        seq, _ = self.app(i)
        assert seq % 2 == 0, "app %d is being written (sequence %d)" % (i, seq)
        self._write(self.base + self.HEADER + i * self.app_size, struct.pack("<I", seq + 1))


@pytest.mark.expect_log(r"\] its shared state cannot be read now \(503\)",
                        r"supervisor pid \d+ is gone \(wait status 9\)",
                        r"\] cannot connect to the app's process \d+ on port \d+",
                        r"\] error reading the response \(502\.3\)")
def test_state_left_mid_write_by_a_dead_supervisor(apache):
    """Defect 2.4: a supervisor killed in the middle of a seqlocked write left the sequence
    odd; readers (the request path, the status page, the next supervisor's adoption) spun
    on it forever. Readers give up after a bound (a 503 for the request, "unreadable" on the
    status page), and the next supervisor repairs the record and serves the app again."""
    status = section("Location /aspnetcore-status", "SetHandler aspnetcore-status")
    srv = apache.start(standin() + "\n" + status)
    pid = app_pid(srv)
    sup = supervisor_of(srv, pid)
    seg = SharedSegment(sup)
    active = [i for i in range(SharedSegment.APPS) if seg.app(i)[1] == 1]
    assert len(active) == 1, active
    # the supervisor stops in the middle of a write (stopped, so that it writes nothing more
    # meanwhile), then dies there
    os.kill(sup, signal.SIGSTOP)
    try:
        seg.leave_mid_write(active[0])
        t0 = time.monotonic()
        r = srv.raw_request("GET", "/pid", [("Connection", "close")], timeout=10)
        took = time.monotonic() - t0
        assert r.status == 503 and r.header("Retry-After"), (r.status, r.body[:200])
        assert took < 5, "the request waited %.2fs on a record being written" % took
        r = expect_status(srv.get("/aspnetcore-status?json", timeout=10), 200, "status page", srv)
        apps = json.loads(r.body.decode("utf-8"))["apps"]
        assert [a["state"] for a in apps] == ["unreadable"], r.body[:400]
    finally:
        os.kill(sup, signal.SIGKILL)
    mark_note = r"supervisor: 1 record\(s\) of the shared state were being written when the " \
                r"supervisor before this one died: repaired"
    wait_log(srv, mark_note, timeout=15)
    new = wait_backends(srv, 1, timeout=15, exclude=[pid])[0]

    def new_backend_serves():
        r = srv.get("/pid", timeout=6)
        return r.status == 200 and parse_pid(r) == new
    wait_until(new_backend_serves, 15, lambda: "the new backend %d to serve\n%s" % (
        new, srv.log_tail(12)))
    seg = SharedSegment(supervisor_of(srv, new))
    seq, state = seg.app(active[0])
    assert seq % 2 == 0 and state == 1, (seq, state)
    r = expect_status(srv.get("/aspnetcore-status?json", timeout=10), 200, "status page", srv)
    assert [a["state"] for a in json.loads(r.body.decode("utf-8"))["apps"]] == ["running"], r.body[:400]
