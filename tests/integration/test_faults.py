"""Fault injection: an app that dies, hangs or answers wrongly; clients that are slow or go
away; a supervisor killed again and again during graceful reloads; an app root that
disappears around a graceful.

After each fault the suite checks what the module promises (docs/architecture.md, request
path step 8; docs/operations.md, "What the statuses mean"):
  * the client gets the right answer: 502 for a failure before the response head, a cut
    connection (never a complete-looking response) once the head went out;
  * the connection to the app that broke is never used again: the stand-in gives every
    connection an id and marks the ones a fault left open and unusable; a request that
    arrives on such a connection is recorded (/fault/report "reused") and answered
    500 "REUSED AFTER FAULT";
  * no fd leaked by the httpd children or the supervisor (counted in /proc/<pid>/fd
    before and after a batch of faults) and no connection left open at the app;
  * an app that died is started again and a new process serves;
  * no "exit signal" / "Segmentation fault" in the error log (the rig fails the test on it).

The stand-in's /fault/ endpoints are described at the top of their block at the end of
tests/backends/standin.py.
"""

import os
import random
import re
import signal
import socket
import threading
import time

import pytest

import httpclient
import procs
from backends import parse_env, parse_pid
from rigutil import WaitTimeout, expect_status, port_accepts, wait_until

# Depends on how the MPM runs its children (prefork: one request per process): runs under
# prefork even where the test command narrows it (conftest.py); worker shares event's threads
pytestmark = pytest.mark.every_mpm("prefork")

FIRST_REQUEST_TIMEOUT = 60.0
REQUEST_TIMEOUT_S = 2                    # AspNetCoreRequestTimeout where a hang is tested
FD_SLACK = 3                             # per child: idle pooled connections may differ
BATCH = 6                                # faults of one kind per test

ERR_502 = r"\(502\.3\)"
BROKE_OFF = r"the app's response broke off"
EXPECT_APP_FAULTS = (
    ERR_502, BROKE_OFF,
    r"\] process \d+ (exited with code \d+|was killed by signal 9) after \d+ s: starting a new one",
    r"\] cannot connect to the app's process \d+ on port \d+",
    r"\] process \d+ no longer listens on port \d+ \([^)]*\): replacing it",
)
PATTERN = bytes(i % 251 for i in range(251))


def pattern_bytes(n):
    return (PATTERN * (n // 251 + 1))[:n]


# --- the rig for one app ------------------------------------------------------------------------

def start_app(apache, backend, extra="", env=None, **kw):
    srv = apache.start(backend.directives(env=env, extra=extra), **kw)
    expect_status(srv.get("/echo/warmup", timeout=FIRST_REQUEST_TIMEOUT), 200, "first request", srv)
    return srv


def app_pid(srv):
    return parse_pid(expect_status(srv.get("/pid", timeout=FIRST_REQUEST_TIMEOUT), 200, "/pid", srv))


def backend_port(srv):
    return int(parse_env(srv.get("/env", timeout=FIRST_REQUEST_TIMEOUT))["ASPNETCORE_PORT"])


def report(srv, clear=False):
    r = expect_status(srv.get("/fault/report" + ("?clear=1" if clear else ""), timeout=30),
                      200, "/fault/report", srv)
    return r.json()


def conns_at_app(port):
    """Connections open at the app's end (ESTABLISHED or CLOSE_WAIT: not yet closed by it)."""
    return sum(1 for e in procs.tcp_entries()
               if e.local_port == port and e.remote_port != port
               and e.state in ("ESTABLISHED", "CLOSE_WAIT"))


class Resources:
    """fds of the httpd children and of the supervisor, taken at one moment."""

    def __init__(self, srv):
        table = procs.all_procs()
        self.children = procs.fd_snapshot(p.pid for p in procs.mpm_children(srv.pid, table))
        self.supervisors = procs.fd_snapshot(p.pid for p in procs.supervisors(srv.pid, table))
        self.parent = procs.fd_count(srv.pid)

    def __repr__(self):
        return "children %s, supervisor %s, parent %s" % (self.children, self.supervisors, self.parent)


def assert_no_fd_leak(srv, before, what, slack=FD_SLACK, timeout=20):
    """Waits (bounded) until no httpd child present before has more than `slack` fds more
    than it had, no new child has more than the largest one had + slack, and the supervisor
    (if the same process) and the parent have no more than before. (Fewer is no leak: the
    supervisor holds a descriptor for a moment now and then, a /proc scan for its figures or
    a spawn's temp file, and `before` may have been taken in such a moment.)"""
    base = max(before.children.values() or [0])

    def check():
        now = Resources(srv)
        grew = {p: d for p, d in procs.fd_growth(before.children, now.children).items() if d > slack}
        new = {p: n for p, n in now.children.items() if p not in before.children and n > base + slack}
        sup = {p: d for p, d in procs.fd_growth(before.supervisors, now.supervisors).items() if d > 0}
        parent = now.parent > before.parent
        return (not grew and not new and not sup and not parent) and now
    try:
        return wait_until(check, timeout, "fds to settle")
    except WaitTimeout:
        now = Resources(srv)
        detail = []
        for pid in now.children:
            if pid in before.children and now.children[pid] - before.children[pid] > slack:
                detail.append("child %d: %s" % (pid, sorted(procs.fd_targets(pid).items())))
        raise AssertionError("fd leak after %s: before %r, after %r\n%s" % (
            what, before, now, "\n".join(detail)[:4000]))


def assert_conns_settle(srv, bport, conns0, before, what, timeout=15):
    """Connections open at the app come back to what they were, but for one idle pooled
    connection per httpd child started since `before` (prefork starts some under load) and
    two in passing."""
    def extra():
        return 2 + sum(1 for p in procs.mpm_children(srv.pid) if p.pid not in before.children)
    wait_until(lambda: conns_at_app(bport) <= conns0 + extra(), timeout,
               lambda: "connections at the app to settle after %s: %d -> %d (allowed +%d; %s)" % (
                   what, conns0, conns_at_app(bport), extra(), procs.tcp_summary(bport)))


def assert_not_reused(srv, what):
    rep = report(srv)
    assert not rep["reused"], "a connection that broke was used again after %s: %r" % (
        what, rep["reused"])
    return rep


def own_answers(srv, n, tag):
    """n requests on one kept-alive client connection, each answered with its own path."""
    with srv.connect(timeout=30) as c:
        for i in range(n):
            path = "/echo/%s-%d" % (tag, i)
            e = expect_status(c.request("GET", path), 200, path, srv).json()
            assert e["path"] == path, (path, e)


def warm_up(srv):
    """Pools and lazily opened files in place before the baseline is taken."""
    threads = [threading.Thread(target=own_answers, args=(srv, 10, "warm%d" % i)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    report(srv, clear=True)


def read_body_or_cut(c, head):
    """(body, cut): the body as far as it came, and whether the connection was cut before
    the framing said the response was complete."""
    got = []
    try:
        for data in c.iter_body(head):
            got.append(data)
    except (httpclient.ConnectionClosed, ConnectionResetError):
        return b"".join(got), True
    return b"".join(got), False


# --- faults of the app ----------------------------------------------------------------------------

def fault_before_head(srv, target, slow=False):
    """The app breaks before a response head: the client gets 502."""
    with srv.connect(timeout=30) as c:
        t0 = time.monotonic()
        r = c.request("GET", target)
        took = time.monotonic() - t0
    assert r.status == 502, (target, r, r.body[:200])
    if slow:
        assert took < REQUEST_TIMEOUT_S + 10, (target, took)
    return r


def fault_after_head(srv, target, allow_502=False):
    """The app breaks after the head went out: the body is cut, never complete."""
    with srv.connect(timeout=30) as c:
        c.send(c.build_request("GET", target))
        head = c.read_head()
        if allow_502 and head.status == 502:
            head.body = b"".join(c.iter_body(head))
            return head
        assert head.status == 200, (target, head, head.headers)
        body, cut = read_body_or_cut(c, head)
        assert cut, "%s: the response looked complete (%d bytes, %r)" % (target, len(body), head.headers)
        assert c.peer_closed(wait=5.0), target
    return head


APP_FAULTS = {
    # name: (target, check, request timeout configured)
    "hang": ("/fault/hang", lambda srv, t: fault_before_head(srv, t, slow=True)),
    "garbage": ("/fault/garbage", fault_before_head),
    "bighead": ("/fault/bighead?size=70000", fault_before_head),
    "stall-length": ("/fault/stall?framing=length", fault_after_head),
    "stall-chunked": ("/fault/stall?framing=chunked", fault_after_head),
    # a valid head and chunk, then a bad chunk size: 502 if the module saw it before the
    # head went out, else a cut body
    "badchunk": ("/fault/badchunk", lambda srv, t: fault_after_head(srv, t, allow_502=True)),
    "truncate-length": ("/fwd/truncate?framing=length&how=close", fault_after_head),
    "truncate-chunked": ("/fwd/truncate?framing=chunked&how=close", fault_after_head),
    # a chunk-size line with 1 MiB of extensions: refused (502, or a cut body)
    "chunkext": ("/fault/chunkext?size=1048576", lambda srv, t: fault_after_head(srv, t, allow_502=True)),
}
APP_FAULT_PARAMS = sorted(APP_FAULTS)


@pytest.mark.expect_log(*EXPECT_APP_FAULTS)
@pytest.mark.parametrize("fault", APP_FAULT_PARAMS)
def test_app_fault(apache, standin_backend, fault):
    """A batch of one fault, between requests of other clients on kept-alive connections:
    the right answer each time, no connection reused, no fd leaked, the app keeps serving."""
    target, check = APP_FAULTS[fault]
    srv = start_app(apache, standin_backend,
                    extra="AspNetCoreRequestTimeout 00:00:%02d" % REQUEST_TIMEOUT_S)
    bport = backend_port(srv)
    pid = app_pid(srv)
    warm_up(srv)
    before = Resources(srv)
    conns0 = conns_at_app(bport)
    for i in range(BATCH):
        check(srv, target)
        own_answers(srv, 5, "after-%s-%d" % (fault, i))
    rep = assert_not_reused(srv, fault)
    if fault in ("hang", "stall-length", "stall-chunked"):
        # the module closed each hung connection (the app saw it close, not a new request)
        wait_until(lambda: len(report(srv)["hang_closed"]) >= BATCH, 10,
                   lambda: "the app to see every hung connection closed: %r" % report(srv))
    assert_no_fd_leak(srv, before, "%d x %s" % (BATCH, fault))
    assert_conns_settle(srv, bport, conns0, before, "the faults")
    assert app_pid(srv) == pid, "the app was restarted by a fault that is not a crash"
    print("%s x %d: %r; events %r" % (fault, BATCH, Resources(srv),
                                      {k: len(v) for k, v in rep.items() if isinstance(v, list)}))


@pytest.mark.expect_log(*EXPECT_APP_FAULTS)
@pytest.mark.parametrize("at", ["request", "body"])
def test_app_killed(apache, standin_backend, at):
    """The app SIGKILLed before answering (502) or after part of the body (cut): it is
    started again where it died (a new process serves), nothing leaks, the supervisor
    keeps the same number of fds."""
    srv = start_app(apache, standin_backend)
    warm_up(srv)
    pid = app_pid(srv)
    before = Resources(srv)
    assert len(before.supervisors) == 1, before
    pids = [pid]
    for i in range(BATCH):
        target = "/fault/die?at=%s" % at
        if at == "request":
            fault_before_head(srv, target)
        else:
            fault_after_head(srv, target)
        wait_until(lambda: not procs.alive(pids[-1]), 10, "the killed app to be gone")
        # a request that reaches the dead process's port before the supervisor has seen it
        # die gets 502 (docs/architecture.md step 8): poll until a new process serves
        new = wait_until(lambda: _new_pid(srv, pids), 20,
                         lambda: "a new process to serve after %s\n%s" % (pids, srv.log_tail(10)))
        pids.append(new)
        own_answers(srv, 5, "after-kill-%d" % i)
    assert_not_reused(srv, "a kill")
    assert_no_fd_leak(srv, before, "%d kills at %s" % (BATCH, at))


DROP_CASES = {
    # method: (body, times the app sees it)
    "POST": (b"order=42&qty=1", 1),        # a small body: read whole, sent with the head
    "DELETE": (None, 1),
    "PATCH": (b"{}", 1),
    # a safe method is sent again once, on a new connection, as HTTP clients do (RFC 9110
    # 9.2.2): the keep-alive race (the app closed the pooled connection as we sent) is
    # told from a dropped request only when the app's kernel never had our bytes
    "GET": (None, 2),
}


@pytest.mark.expect_log(r"\] the app closed the connection without a response \(502\.3\)")
def test_a_request_the_app_read_then_dropped_runs_once(apache, standin_backend):
    """An app that reads a request on a pooled connection, then closes the connection without
    an answer and lives on (HttpContext.Abort(), a handler that gives up): the client gets
    502.3 and a request that is not a safe method is not sent again, on a new connection or
    anywhere else: the app had it and may have acted on it (a POST run twice). Before the
    fix, any failure before an answer on a reused connection was sent again on a new one:
    every id below reached the app twice. Only a try the app cannot have read lets any
    request go again: a reset of a request without a body, a close before our bytes reached
    the app, or a close followed by a reset of our bytes unread (check_retry, check_sockio;
    test_forwarding's keep-alive race tests)."""
    srv = start_app(apache, standin_backend)
    pid = app_pid(srv)
    report(srv, clear=True)
    sent = []
    with srv.connect(timeout=30) as c:
        for i in range(BATCH):
            for method, (body, _) in sorted(DROP_CASES.items()):
                # the request before leaves this child a pooled connection to the app
                expect_status(c.request("GET", "/fault/conn"), 200, "/fault/conn", srv)
                rid = "%s-%d" % (method, i)
                r = c.request(method, "/fault/drop?id=" + rid, body=body)
                expect_status(r, 502, "%s dropped by the app" % rid, srv)
                sent.append(rid)
    dropped = report(srv)["dropped"]
    seen = {}
    for e in dropped:
        seen.setdefault(e["id"], []).append(e)
    wrong = {k: v for k, v in seen.items() if len(v) != DROP_CASES[k.split("-")[0]][1]}
    assert not wrong, ("requests the app read and dropped, seen by it a wrong number of "
                       "times (POST, DELETE, PATCH: once; GET: twice): %r" % wrong)
    assert sorted(seen) == sorted(sent), (sorted(seen), sorted(sent))
    fresh = [e for e in dropped if e["request"] < 2 and e["method"] != "GET"]
    assert not fresh, ("the test wants each drop on a reused connection to the app (a pooled "
                       "one, where the module retries a stale close): %r" % fresh)
    assert app_pid(srv) == pid, "the app was restarted, though it never died"


def _new_pid(srv, old):
    r = srv.get("/pid", timeout=30)
    if r.status != 200:
        return None
    pid = parse_pid(r)
    return pid if pid not in old else None


def app_closed_pooled(bport):
    """True once a connection from httpd to the app has been closed by the app (FIN seen:
    httpd's end is in CLOSE_WAIT)."""
    return any(e.remote_port == bport and e.state == "CLOSE_WAIT" for e in procs.tcp_entries())


@pytest.mark.expect_log(*EXPECT_APP_FAULTS)
def test_app_closes_right_after_answering(apache, standin_backend):
    """An app that closes each connection right after a complete answer (without saying
    Connection: close): the next request on that pooled connection fails before any byte
    and is sent again on a new one: every client request succeeds, also a streamed POST."""
    srv = start_app(apache, standin_backend)
    bport = backend_port(srv)
    warm_up(srv)
    before = Resources(srv)
    body = os.urandom(300000)                 # streamed (> 64 KiB): cannot be sent twice
    with srv.connect(timeout=30) as c:
        for i in range(40):
            r = expect_status(c.request("GET", "/fault/close-after?n=%d" % (100 + i)), 200,
                              "close-after", srv)
            assert r.body == pattern_bytes(100 + i)
            if i % 4 == 3:
                # a streamed body cannot be sent twice: the module checks a pooled
                # connection (MSG_PEEK) before it streams one; the app's FIN must have
                # arrived for that to see it (else it is the keep-alive race no proxy wins)
                wait_until(lambda: app_closed_pooled(bport), 5, "the app's FIN to arrive")
                e = expect_status(c.request("POST", "/echo/post-%d" % i, body=body), 200,
                                  "POST after a close", srv).json()
                assert e["body_length"] == len(body), e
            else:
                e = expect_status(c.request("GET", "/echo/get-%d" % i), 200,
                                  "GET after a close", srv).json()
                assert e["path"] == "/echo/get-%d" % i
    assert_not_reused(srv, "close-after")
    assert_no_fd_leak(srv, before, "40 closes after answering")
    assert conns_at_app(bport) <= 8


SMUGGLE = b"GET /fault/smuggled HTTP/1.1\r\nHost: smuggler\r\n\r\n"


@pytest.mark.expect_log(*(EXPECT_APP_FAULTS + (r"AH00161: server reached MaxRequestWorkers",)))
@pytest.mark.mpms("prefork")
def test_early_answer_connection_not_reused(apache, standin_backend):
    """The app answers 413 while the client still uploads and stops reading: the client gets
    the 413, and the connection whose request was only partly sent is never used again: no
    other client ever gets the answer to requests carried inside that upload's body."""
    # one prefork child: the next requests go through the pool that held the connection
    srv = start_app(apache, standin_backend,
                    extra="AspNetCoreRequestTimeout 00:00:%02d" % REQUEST_TIMEOUT_S,
                    mpm_conf="StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\n"
                             "ServerLimit 1\nMaxRequestWorkers 1\nMaxConnectionsPerChild 0\n")
    warm_up(srv)
    before = Resources(srv)
    body = SMUGGLE * (4 * 1024 * 1024 // len(SMUGGLE))
    for i in range(3):
        with srv.connect(timeout=30) as c:
            c.send(c.build_request("POST", "/fault/early?status=413&pause_ms=%d"
                                   % (REQUEST_TIMEOUT_S * 1000 + 1500),
                                   headers=[("Content-Length", str(len(body)))]))
            sender = threading.Thread(target=lambda: _send_quietly(c.sock, body), daemon=True)
            sender.start()
            head = c.read_head()
            assert head.status == 413, head
        answers = []
        for j in range(10):
            r = srv.get("/fault/conn", timeout=30)
            answers.append((r.status, r.body[:200]))
        smuggled = [a for a in answers if b"SMUGGLED" in a[1]]
        assert not smuggled, "clients got the answer to a request smuggled in another client's " \
            "body: %r" % answers
        assert all(a[0] == 200 for a in answers), ("requests after an early answer failed (sent "
                                                  "on that connection?): %r" % answers)
        early = {e["conn"] for e in report(srv)["early"]}
        on_early = [a for a in answers if a[1].split()[0].decode() in early]
        assert not on_early, ("requests went out on the connection of an early answer: %r "
                              "(early: %s)" % (on_early, early))
    assert_no_fd_leak(srv, before, "3 early answers")


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass


# --- faults of clients -----------------------------------------------------------------------------

SLOW_CLIENTS = 5                         # of each kind


def slow_headers(port, stop):
    """Sends a request head one byte per 0.5 s; returns how it ended."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = b"GET /echo/slowloris HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 200 + b"\r\n\r\n"
    try:
        for b in head:
            if stop.is_set():
                return "stopped"
            s.sendall(bytes([b]))
            time.sleep(0.5)
        return "sent the whole head: " + s.recv(200).decode("latin-1")
    except OSError as e:
        return "cut: %s" % e
    finally:
        s.close()


def slow_body(port, stop, target):
    """Sends a 1 MB POST head, then the body at 100 bytes per 0.5 s."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" % target.encode())
        s.sendall(b"b" * 70000)           # past the 64 KiB read whole: streamed to the app
        for _ in range(200):
            if stop.is_set():
                return "stopped"
            s.sendall(b"b" * 100)
            time.sleep(0.5)
        return "sent the whole body"
    except OSError as e:
        return "cut: %s" % e
    finally:
        s.close()


@pytest.mark.expect_log(*EXPECT_APP_FAULTS)
def test_slowloris_clients(apache, standin_backend, mpm):
    """Clients that send their head or body slowly are cut by mod_reqtimeout; while they
    hang on, other clients are served; once they are cut, the module holds no connection to
    the app for them (the app saw each body cut), no fd and no connection leaked."""
    # prefork: enough processes for the slow clients and the others (prefork's answer to
    # slowloris is mod_reqtimeout, not spare capacity, but a full server logs an error)
    # event/worker: idle workers to spare too, or the event MPM shuts kept-alive
    # connections of a busy child (a client's next request on one then finds it closed:
    # seen under the slower sanitizer build)
    kw = {"mpm_conf": "StartServers 4\nMinSpareServers 4\nMaxSpareServers 8\nServerLimit 30\n"
                      "MaxRequestWorkers 30\nMaxConnectionsPerChild 0\n"} if mpm == "prefork" else \
         {"mpm_conf": "StartServers 2\nServerLimit 4\nThreadLimit 25\nThreadsPerChild 25\n"
                      "MinSpareThreads 25\nMaxSpareThreads 75\nMaxRequestWorkers 100\n"
                      "MaxConnectionsPerChild 0\n"}
    srv = start_app(apache, standin_backend, modules=("reqtimeout",),
                    extra="RequestReadTimeout header=3-5,MinRate=500 body=4-6,MinRate=500", **kw)
    bport = backend_port(srv)
    warm_up(srv)
    before = Resources(srv)
    conns0 = conns_at_app(bport)
    stop = threading.Event()
    results = []

    def run(fn, *a):
        results.append((fn.__name__, fn(*a)))
    threads = [threading.Thread(target=run, args=(slow_headers, srv.port, stop), daemon=True)
               for _ in range(SLOW_CLIENTS)]
    threads += [threading.Thread(target=run, args=(slow_body, srv.port, stop, "/fault/sink"),
                                 daemon=True) for _ in range(SLOW_CLIENTS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    try:
        # other clients keep being served while the slow ones hang on
        n = 0
        while any(t.is_alive() for t in threads) and time.monotonic() - t0 < 30:
            own_answers(srv, 2, "meanwhile-%d" % n)
            n += 1
        for t in threads:
            t.join(30)
    finally:
        stop.set()
    took = time.monotonic() - t0
    assert all(r.startswith("cut") or r.startswith("sent the whole head: HTTP/1.1 408")
               for _, r in results) and len(results) == 2 * SLOW_CLIENTS, results
    assert took < 25, "slow clients were cut only after %.1f s: %r" % (took, results)
    assert n >= 3, n
    # the app saw every slow body cut: the module closed those connections
    wait_until(lambda: len(report(srv)["cut"]) >= SLOW_CLIENTS, 15,
               lambda: "the app to see %d bodies cut: %r" % (SLOW_CLIENTS, report(srv)))
    assert_not_reused(srv, "slow clients")
    assert_no_fd_leak(srv, before, "slow clients")
    assert_conns_settle(srv, bport, conns0, before, "the faults")


@pytest.mark.expect_log(*EXPECT_APP_FAULTS)
def test_client_aborts(apache, standin_backend):
    """Clients that reset their connection during an upload (streamed to the app) or a
    download: the app sees each upload cut (its connection is closed, not reused), nothing
    leaks, later clients get complete answers."""
    aborts = 40
    srv = start_app(apache, standin_backend)
    bport = backend_port(srv)
    warm_up(srv)
    before = Resources(srv)
    conns0 = conns_at_app(bport)
    part = os.urandom(256 * 1024)
    for i in range(aborts):
        httpclient.abort_download(srv.port, "/bytes?n=50000000")
        httpclient.abort_upload(srv.port, "/fault/sink", part, 4, settle=0.05)
    wait_until(lambda: len(report(srv)["cut"]) >= aborts, 30,
               lambda: "the app to see %d uploads cut: %d" % (aborts, len(report(srv)["cut"])))
    assert_not_reused(srv, "client aborts")
    assert_no_fd_leak(srv, before, "%d + %d client aborts" % (aborts, aborts))
    assert_conns_settle(srv, bport, conns0, before, "the faults")
    with srv.connect(timeout=30) as c:
        r = expect_status(c.request("GET", "/bytes?n=1000000"), 200, "after the aborts", srv)
        assert r.body == pattern_bytes(1000000)


# --- faults of the supervisor -------------------------------------------------------------------

EXPECT_SUPERVISOR = EXPECT_APP_FAULTS + (
    r"supervisor",
    r"\(503\)",
)


class Load:
    """Client threads sending GET /pid on new connections; records (t, status)."""

    def __init__(self, srv, threads=4):
        self.srv = srv
        self.results = []
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            try:
                r = self.srv.raw_request("GET", "/pid", [("Connection", "close")], timeout=30)
                self.results.append((t0, r.status, time.monotonic() - t0))
            except Exception as exc:  # noqa: BLE001 - counted
                self.results.append((t0, repr(exc)[:80], time.monotonic() - t0))
            time.sleep(0.01)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(40)

    def counts(self):
        out = {}
        for _, st, _ in self.results:
            out[st] = out.get(st, 0) + 1
        return out


def kill_supervisors_during_gracefuls(srv, kills, spacing, rng, give_up=15.0):
    """SIGKILLs the supervisor up to `kills` times, `spacing` (random range) apart, a graceful
    restart after every third kill; checks before each step that the httpd parent is the
    same. Stops early when no supervisor appears for `give_up` s (a spent restart budget).
    Returns the pids killed."""
    parent = srv.parent
    killed = []
    last_seen = time.monotonic()
    while len(killed) < kills and time.monotonic() - last_seen < give_up:
        assert procs.alive(*parent), "the httpd parent exited after %d supervisor kills:\n%s" % (
            len(killed), srv.log_tail(30))
        sups = procs.supervisors(srv.pid)
        if not sups:
            time.sleep(0.05)
            continue
        last_seen = time.monotonic()
        time.sleep(rng.uniform(*spacing))          # a random moment of its life
        try:
            os.kill(sups[0].pid, 9)
            killed.append(sups[0].pid)
        except ProcessLookupError:
            continue
        if len(killed) % 3 == 0:
            time.sleep(rng.uniform(0.0, 0.3))
            srv.apache2("-k", "graceful")
    return killed


@pytest.mark.expect_log(*EXPECT_SUPERVISOR)
def test_supervisor_killed_during_gracefuls(apache, standin_backend):
    """The supervisor SIGKILLed at random moments, 6 times (within the restart budget), around
    graceful restarts under load: the httpd parent stays, every request gets 200 or 503 or
    502 (none hangs), afterwards a new supervisor and app serve, and neither the parent nor
    the (new) supervisor holds more fds than before."""
    srv = start_app(apache, standin_backend, extra="AspNetCoreStartupTimeLimit 10")
    before = Resources(srv)
    pid0 = app_pid(srv)
    load = Load(srv)
    try:
        wait_until(lambda: len(load.results) >= 20, 20, "load")
        killed = kill_supervisors_during_gracefuls(srv, 6, (0.2, 1.5), random.Random(11))
    finally:
        load.stop()
    assert procs.alive(*srv.parent), srv.log_tail(30)
    srv.graceful()
    wait_until(lambda: srv.get("/pid", timeout=30).status == 200, 30,
               lambda: "the app to serve again\n%s" % srv.log_tail(30))
    assert app_pid(srv) != pid0
    bad = {k: v for k, v in load.counts().items() if k not in (200, 502, 503)}
    assert not bad, load.counts()
    assert max(r[2] for r in load.results) < 30
    s0 = list(before.supervisors.values())

    def settled():
        now = Resources(srv)
        s1 = list(now.supervisors.values())
        return now.parent <= before.parent and len(s1) == 1 and s1[0] <= s0[0] and now
    after = wait_until(settled, 20, lambda: "the httpd parent's and the supervisor's fds over "
                       "%d supervisor kills to be no more than before: %r -> %r"
                       % (len(killed), before, Resources(srv)))
    print("kills %s; statuses %r; %r -> %r" % (killed, load.counts(), before, after))


@pytest.mark.expect_log(*(EXPECT_SUPERVISOR + (r"AH00020", r"crit")))
@pytest.mark.not_under_sanitizers("its time goes to the kills' pace and the wait after the "
                                  "budget; the supervisor killed past its budget runs under "
                                  "the sanitizers in test_resilience.py's "
                                  "test_supervisor_killed_past_its_budget_then_*")
def test_supervisor_killed_past_the_budget(apache, standin_backend):
    """The supervisor killed again and again around gracefuls under load, until it is no
    longer started (its budget, 10 deaths within a minute, spent) or 25 times: Apache never
    exits; once the kills stop, a graceful (which resets the budget) brings the app back."""
    srv = start_app(apache, standin_backend, extra="AspNetCoreStartupTimeLimit 10")
    load = Load(srv, threads=2)
    try:
        wait_until(lambda: len(load.results) >= 10, 20, "load")
        # until no supervisor comes back (a spent budget: 10 deaths within a minute) or 25
        killed = kill_supervisors_during_gracefuls(srv, 25, (0.1, 0.6), random.Random(12),
                                                   give_up=8.0)
        assert len(killed) >= 10, killed
        for _ in range(2):
            assert procs.alive(*srv.parent), srv.log_tail(30)
            srv.apache2("-k", "graceful")
            wait_until(lambda: not procs.alive(*srv.parent) or srv.ready_count() > 0, 10, "graceful")
            time.sleep(1)
    finally:
        load.stop()
    assert procs.alive(*srv.parent), "the httpd parent exited:\n%s" % srv.log_tail(30)
    wait_until(lambda: srv.get("/pid", timeout=30).status == 200, 60,
               lambda: "the app to serve again\n%s" % srv.log_tail(30))


@pytest.mark.expect_log(*(EXPECT_SUPERVISOR + (r"AH00020", r"AspNetCoreAppRoot", r"502\.5")))
def test_app_root_renamed_around_graceful(apache, standin_backend):
    """An app root renamed away (mid-deploy) before a graceful: Apache stays up, the app
    answers (its running process) or fails cleanly (502.5/503) while its directory is
    missing, another app keeps serving;
    renamed back and graceful again: the app serves."""
    srv = apache.new(standin_backend.directives(app_root="{app}") +
                     "\n<Location /second>\n" + standin_backend.directives(app_root="{tmp}/app2") +
                     "\n</Location>\n")
    srv.mkdir("app2")
    srv.start()
    expect_status(srv.get("/echo/a", timeout=FIRST_REQUEST_TIMEOUT), 200, "first app", srv)
    expect_status(srv.get("/second/echo/b", timeout=FIRST_REQUEST_TIMEOUT), 200, "second app", srv)
    parent = srv.parent
    away = srv.app + ".away"
    ready = srv.ready_count()
    os.rename(srv.app, away)
    try:
        # `apachectl graceful` checks the configuration first and only then signals the
        # parent; a deploy that renames the directory in between is what the parent sees:
        # SIGUSR1 (a graceful restart) straight to the parent reproduces that moment
        os.kill(srv.pid, signal.SIGUSR1)
        wait_until(lambda: not procs.alive(*parent) or srv.ready_count() > ready, 20,
                   lambda: "the graceful restart\n%s" % srv.log_tail(10))
        assert procs.alive(*parent), "the httpd parent exited:\n%s" % srv.log_tail(20)
        # the running process may go on serving (its launch settings did not change); a
        # process to start gets 502.5; never a hang, never Apache gone
        r = srv.get("/echo/while-away", timeout=30)
        assert r.status in (200, 502, 503), (r, r.body[:200])
        expect_status(srv.get("/second/echo/c", timeout=30), 200, "the other app", srv)
    finally:
        os.rename(away, srv.app)
    srv.graceful()
    assert procs.alive(*parent)
    wait_until(lambda: srv.get("/echo/back", timeout=30).status == 200, 30,
               lambda: "the app to serve again\n%s" % srv.log_tail(20))


# --- a ready app that stops listening: its port is not trusted -----------------------------------

TOKEN_HEADER = b"ms-aspnetcore-token"


class RogueListener:
    """Another local user's program that binds the port an app left (the test runs as root:
    it stands in for that user). Records every connection and the bytes it receives."""

    def __init__(self, port):
        self.port = port
        self.conns = []                  # bytes received on each connection
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

        def bound():
            try:
                self.sock.bind(("127.0.0.1", port))
                return True
            except OSError:
                return False
        wait_until(bound, 10, "the port %d the app left to be free to bind" % port)
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            with self.lock:
                self.conns.append(b"")
                i = len(self.conns) - 1
            c.settimeout(1.0)
            try:
                while b"\r\n\r\n" not in self.conns[i]:
                    got = c.recv(65536)
                    if not got:
                        break
                    with self.lock:
                        self.conns[i] += got
            except OSError:
                pass
            c.close()

    def received(self):
        with self.lock:
            return list(self.conns)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def _background_get(srv, path, out):
    def run():
        try:
            out.append(srv.get(path, headers={"Connection": "close"}, timeout=60))
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            out.append(exc)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.expect_log(*EXPECT_APP_FAULTS)
@pytest.mark.also_mpms("prefork")
@pytest.mark.parametrize("processes", [1, 2])
def test_port_left_by_a_live_app_is_not_trusted(apache, standin_backend, processes):
    """Issue 11 §3: a ready process that closes its listening socket but lives on leaves its
    port to any local user. Once a connect to it has failed, no child connects to that
    process again until the supervisor has checked that the port's listener is the app's
    (not merely that something accepts): a program that bound the port meanwhile never
    receives a request or the pairing token, and the process is replaced. The supervisor is
    held stopped between the failure and its check, so that the other program is there when
    the next requests come (the window a real supervisor leaves is the same, only shorter)."""
    srv = start_app(apache, standin_backend,
                    extra="AspNetCoreProcessesPerApplication %d" % processes)
    ready = r"\] process (\d+) listens on port \d+"
    wait_until(lambda: len(re.findall(ready, srv.error_log())) >= processes, 30,
               lambda: "%d ready processes\n%s" % (processes, srv.log_tail(20)))
    old = {int(p) for p in re.findall(ready, srv.error_log())}
    stopped = expect_status(srv.get("/fault/stop-listening", headers={"Connection": "close"},
                                    timeout=30), 200, "/fault/stop-listening", srv).json()
    pid, port = stopped["pid"], stopped["port"]
    assert pid in old, (pid, old)
    wait_until(lambda: not port_accepts(port), 10, "the app to stop listening")
    sup = procs.ancestors(pid, procs.all_procs())[0]
    rogue = None
    results = []
    threads = []
    os.kill(sup, signal.SIGSTOP)
    try:
        mark = srv.log_mark()
        failed = r"cannot connect to the app's process %d on port %d" % (pid, port)
        # requests on new connections until one of them finds the process gone; with two
        # processes, slow ones keep the other busy so that the least loaded is the stopped one
        for i in range(4):
            threads.append(_background_get(srv, "/pid?ms=1500&i=%d" % i, results))
            try:
                srv.wait_for_log(failed, timeout=3, start=mark)
                break
            except WaitTimeout:
                pass
        srv.wait_for_log(failed, timeout=10, start=mark)
        # another program takes the port before the supervisor has looked
        rogue = RogueListener(port)
        mark2 = srv.log_mark()
        for i in range(4):
            threads.append(_background_get(srv, "/pid?after=%d" % i, results))
        skipped = r"process %d is not used until the supervisor has checked who listens on " \
                  r"port %d" % (pid, port)
        wait_until(lambda: rogue.received() or re.search(skipped, srv.error_log()[mark2:]), 15,
                   "the new requests to pass the stopped process by (or reach the port)")
        got = rogue.received()
        assert not got, "another program on the app's port received %d connection(s)%s: %r" % (
            len(got), " WITH THE TOKEN" if any(TOKEN_HEADER in b.lower() for b in got) else "",
            [b.split(b"\r\n", 1)[0] for b in got])
    finally:
        os.kill(sup, signal.SIGCONT)
    try:
        srv.wait_for_log(r"\] process %d no longer listens on port %d \(another program does\): "
                         r"replacing it" % (pid, port), timeout=15)
        for t in threads:
            t.join(60)
        for r in results:
            assert not isinstance(r, Exception), r
            expect_status(r, 200, "a request while the port was taken", srv)
        served = {parse_pid(r) for r in results}
        assert pid not in served, "the stopped process %d served %s" % (pid, served)
        new = wait_until(lambda: _new_pid(srv, old), 30, "a new process to serve")
        assert new not in old
        wait_until(lambda: not procs.alive(pid), 10, "the replaced process %d to end" % pid)
        got = rogue.received()
        assert not any(TOKEN_HEADER in b.lower() for b in got), "the token reached the port's " \
            "other program: %r" % [b.split(b"\r\n", 1)[0] for b in got]
        assert not got, "the port's other program got %d connection(s)" % len(got)
    finally:
        if rogue:
            rogue.close()
