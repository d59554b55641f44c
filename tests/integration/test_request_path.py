"""The request path under hostile or broken peers (issue 11): a connection to the app is
reused only after a whole request went out and a whole response came in (no request
smuggling through an app that answers early), per-request memory bounded whatever the
number of body chunks, the chunk-size line bounded as a whole, interim 1xx answers bounded.

Stand-in endpoints: /fwd/early (a naive app that answers before reading the body), the
chunked-extension and endless-1xx modes (see the top of tests/backends/standin.py).
"""

import os
import threading
import time

import pytest

import httpclient
import procs
from rigutil import wait_until, expect_status

# MPM-sensitive: runs under every MPM even where the test command narrows one (conftest.py)
pytestmark = pytest.mark.every_mpm

FIRST_REQUEST_TIMEOUT = 60.0

# One MPM child (and, under prefork, one worker): the next client is served by the same
# child, whose connection pool would hand it the connection the last request used.
ONE_CHILD = {
    "event": "StartServers 1\nServerLimit 1\nThreadLimit 10\nThreadsPerChild 10\n"
             "MinSpareThreads 1\nMaxSpareThreads 10\nMaxRequestWorkers 10\nMaxConnectionsPerChild 0\n",
    "prefork": "StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\nServerLimit 1\n"
               "MaxRequestWorkers 1\nMaxConnectionsPerChild 0\n",
}
ONE_CHILD["worker"] = ONE_CHILD["event"]


def start_app(apache, backend, mpm, env=None, extra="", one_child=False):
    kw = {"mpm_conf": ONE_CHILD[mpm]} if one_child else {}
    srv = apache.start(backend.directives(env=env, extra=extra), **kw)
    expect_status(srv.get("/echo/warmup", timeout=FIRST_REQUEST_TIMEOUT), 200, "first request", srv)
    return srv


def recorded(srv):
    return srv.get("/fwd/log", timeout=10).json()["requests"]


# --- defect 2.3: no connection reused after a partly sent request --------------------------

SMUGGLED = b"GET /echo/SMUGGLED HTTP/1.1\r\nHost: smuggled\r\n\r\n"


@pytest.mark.parametrize("delay_ms", [0, 3000], ids=["answer-at-once", "answer-after-write-timeout"])
def test_early_answer_never_reaches_the_next_client(apache, standin_backend, mpm, delay_ms):
    """Client A posts 16 MB made of pipelined `GET /echo/SMUGGLED` requests to an app that
    answers 413 without reading the body and keeps the connection (a naive server: it reads
    the rest as the next requests, unless the connection is closed meanwhile).  A gets the
    413; client B, served next by the same child, gets its own answer, and the app never
    sees /SMUGGLED.  delay_ms=3000: the app answers only after the module's write to it
    timed out (requestTimeout 2 s): the failed send must not be forgotten because a
    response came in after it."""
    if mpm == "prefork":
        apache.expect_log(r"AH00161")      # one worker: "server reached MaxRequestWorkers"
    srv = start_app(apache, standin_backend, mpm, env={"STANDIN_RECORD_REQUESTS": "1"},
                    extra="<Location /fwd/early>\n    AspNetCoreRequestTimeout 00:00:02\n</Location>",
                    one_child=True)
    # more than the socket buffers between httpd and the app hold (the receive buffer
    # alone may grow to net.ipv4.tcp_rmem's maximum): the module's writes must block
    with open("/proc/sys/net/ipv4/tcp_rmem") as f:
        rmem_max = int(f.read().split()[2])
    body = SMUGGLED * ((rmem_max + 16000000) // len(SMUGGLED))
    with srv.connect(timeout=30) as a:
        a.send(a.build_request("POST", "/fwd/early?delay_ms=%d&hold_ms=10000" % delay_ms,
                               [("Content-Length", str(len(body)))]))
        done = threading.Event()

        def pump():
            view = memoryview(body)
            try:
                for i in range(0, len(body), 65536):
                    if done.is_set():
                        return
                    a.sock.sendall(view[i:i + 65536])
            except OSError:
                pass            # httpd stops reading A's body once the answer is out
        t = threading.Thread(target=pump, daemon=True)
        t.start()
        try:
            head = a.read_head()
            answer = b"".join(a.iter_body(head, "POST"))
        finally:
            done.set()
            t.join(20)
    assert head.status == 413 and answer == b"refused early\n", (head.status, head.reason, answer)
    # which way the module learnt that its request was cut short
    srv.wait_for_log(r"timed out writing the request body \(requestTimeout\): the connection to "
                     r"the app will not be reused" if delay_ms else
                     r"the app answered 413 before the whole body was sent")
    for i in range(3):
        path = "/echo/client-b-%d" % i
        with srv.connect(timeout=20) as b:
            r = b.request("GET", path)
        assert r.status == 200 and b"SMUGGLED" not in r.body, (
            "client B got another client's answer: %s %r" % (r.status, r.body[:300]))
        assert r.json()["path"] == path, r.body[:300]
    seen = [x["target"] for x in recorded(srv)]
    assert not [t for t in seen if "SMUGGLED" in t], (
        "the app read %d requests hidden in client A's body" % sum("SMUGGLED" in t for t in seen))


def test_stray_answer_after_a_small_body_never_reaches_the_next_client(apache, standin_backend, mpm):
    """The same naive app, but client A's body is small (read whole, sent with the head in
    one write): the app answers 413 after the whole request went out, then takes the body
    for another request and answers that too, 200 ms later (hold_ms: the module has long
    put the connection back in its pool by then).  Its stray answer sits on the idle
    pooled connection: client B, served next by the same child, must get its own answer
    (a pooled connection with bytes waiting is never reused)."""
    import json
    import socket
    from backends import parse_env
    if mpm == "prefork":
        apache.expect_log(r"AH00161")
    srv = start_app(apache, standin_backend, mpm, env={"STANDIN_RECORD_REQUESTS": "1"},
                    one_child=True)
    env = parse_env(srv.get("/env"))
    port, token = int(env["ASPNETCORE_PORT"]), env["ASPNETCORE_TOKEN"]

    def app_log():
        """/fwd/log straight from the app (not through httpd, whose pool is under test)."""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(("GET /fwd/log HTTP/1.1\r\nHost: x\r\nMS-ASPNETCORE-TOKEN: %s\r\n"
                       "Connection: close\r\n\r\n" % token).encode())
            data = httpclient.read_until_closed(s)
        return json.loads(data.split(b"\r\n\r\n", 1)[1])["requests"]
    with srv.connect(timeout=20) as a:
        r = a.request("POST", "/fwd/early?hold_ms=200", body=SMUGGLED)
    assert r.status == 413 and r.body == b"refused early\n", (r.status, r.body[:200])
    # the app has read the body as a request and answered it (its answer is on its way)
    wait_until(lambda: [x for x in app_log() if "SMUGGLED" in x["target"] and x["finished"]],
               10, "the app to answer the request hidden in A's body")
    for i in range(3):
        path = "/echo/client-b-%d" % i
        r = srv.get(path, timeout=20)
        assert r.status == 200 and b"SMUGGLED" not in r.body, (
            "client B got another client's answer: %s %r" % (r.status, r.body[:300]))
        assert r.json()["path"] == path, r.body[:300]


# --- defect 2.9: the chunk-size line is bounded as a whole ---------------------------------

ERR_502 = r"\(502\.3\)|the app's response broke off"


@pytest.mark.parametrize("count,size", [(1, 1000000), (100000, 10), (1100, 4)],
                         ids=["one-1MB-extension", "1MB-of-short-extensions", "just-past-4KiB"])
def test_overlong_chunk_size_line_is_502(apache, standin_backend, mpm, count, size):
    """The app's chunk-size line (size, every extension, CRLF) is bounded at 4 KiB in all:
    one extension of 1 MB, or 100,000 short ones (the limit used to start again at every
    ';'), or just past the limit: 502, and the next request is served."""
    apache.expect_log(ERR_502)
    srv = start_app(apache, standin_backend, mpm)
    with srv.connect(timeout=30) as c:
        r = c.request("GET", "/fwd/chunk-ext?count=%d&size=%d" % (count, size))
    assert r.status == 502, (r.status, r.headers, r.body[:200])
    assert b"hello" not in r.body
    srv.wait_for_log(r"chunk size line too long")
    expect_status(srv.get("/echo/after"), 200, "after", srv)


def test_chunk_extensions_within_the_limit_pass(apache, standin_backend, mpm):
    """Extensions are allowed as long as the line stays within 4 KiB."""
    srv = start_app(apache, standin_backend, mpm)
    r = srv.get("/fwd/chunk-ext?count=100&size=40")         # a 4,003-byte line
    assert r.status == 200 and r.body == b"hello", (r.status, r.body[:200])


# --- defect 2.2: per-request memory bounded whatever the number of pieces ------------------

def only_child(srv):
    pids = srv.served_by()
    assert len(pids) == 1, "expected one MPM child to serve everything: %r" % pids
    return pids.pop()


def kib(pid, field):
    return int(procs.status_fields(pid)[field].split()[0])


def tiny_chunks(n):
    return b"1\r\nx\r\n" * n + b"0\r\n\r\n"


def post_tiny_chunks(srv, n, target):
    with srv.connect(timeout=120) as c:
        c.send(c.build_request("POST", target, [("Transfer-Encoding", "chunked")]))
        c.sock.sendall(tiny_chunks(n))
        e = expect_status(c.read_response("POST"), 200, "chunked upload", srv).json()
    assert e["body_length"] == n, e["body_length"]


def test_many_request_chunks_bounded_memory(apache, standin_backend, mpm):
    """500,000 one-byte chunks (each chunk header used to be a string in the request's
    pool: 1,000,000 grew a child by 6-8 MB): the peak RSS of the child that forwards them
    grows by less than 1 MiB over that of a 20,000-chunk upload."""
    if mpm == "prefork":
        apache.expect_log(r"AH00161")
    srv = start_app(apache, standin_backend, mpm, one_child=True)
    for i in range(2):                         # the allocator's free lists, at their size
        post_tiny_chunks(srv, 20000, "/echo/warm-%d" % i)
    pid = only_child(srv)
    hwm0, rss0 = kib(pid, "VmHWM"), kib(pid, "VmRSS")
    post_tiny_chunks(srv, 500000, "/echo/many-chunks")
    assert only_child(srv) == pid
    hwm1, rss1 = kib(pid, "VmHWM"), kib(pid, "VmRSS")
    print("500,000 chunks: child %d peak RSS %d -> %d kB, RSS %d -> %d kB" % (pid, hwm0, hwm1, rss0, rss1))
    assert hwm1 - hwm0 < 1024, (
        "the child's peak RSS grew by %d kB forwarding 500,000 one-byte chunks" % (hwm1 - hwm0))


def test_many_response_pieces_bounded_memory(apache, standin_backend, mpm):
    """A streamed answer in 100,000 separate writes (server-sent events, chunked): the
    peak RSS of the child that streams it grows by less than 1 MiB over that of a
    2,000-event one (anything kept per piece, 11 bytes or more, would pass that)."""
    if mpm == "prefork":
        apache.expect_log(r"AH00161")
    srv = start_app(apache, standin_backend, mpm, one_child=True)

    def stream(n):
        with srv.connect(timeout=120) as c:
            r = c.request("GET", "/fwd/sse?n=%d&interval_ms=0" % n)
        assert r.status == 200 and r.body.count(b"\n\n") == n, (r.status, len(r.body))
    for _ in range(2):
        stream(2000)
    pid = only_child(srv)
    hwm0 = kib(pid, "VmHWM")
    stream(100000)
    hwm1 = kib(pid, "VmHWM")
    print("100,000 events: child %d peak RSS %d -> %d kB" % (pid, hwm0, hwm1))
    assert hwm1 - hwm0 < 1024, (
        "the child's peak RSS grew by %d kB streaming 100,000 events" % (hwm1 - hwm0))


def test_many_websocket_messages_bounded_memory(apache, standin_backend, mpm):
    """100,000 small messages each way through a WebSocket tunnel: the peak RSS of the
    child that relays them grows by less than 1 MiB over that of 2,000."""
    import wsclient
    if mpm == "prefork":
        apache.expect_log(r"AH00161")
    srv = start_app(apache, standin_backend, mpm, one_child=True)

    def relay(n, batch=500):
        ws, head = wsclient.connect(srv.port, "/fwd/ws", timeout=60)
        assert ws is not None, (head.status, head.body[:200])
        with ws:
            for start in range(0, n, batch):
                for i in range(start, min(n, start + batch)):
                    ws.send_frame(wsclient.OP_BINARY, b"m%d" % i)
                for i in range(start, min(n, start + batch)):
                    assert ws.recv_message() == (wsclient.OP_BINARY, b"m%d" % i)
            ws.close(1000)
    relay(2000)
    relay(2000)
    pid = only_child(srv)
    hwm0 = kib(pid, "VmHWM")
    relay(100000)
    assert only_child(srv) == pid
    grew = kib(pid, "VmHWM") - hwm0
    print("100,000 WebSocket messages: child %d peak RSS %d -> %d kB" % (pid, hwm0, hwm0 + grew))
    assert grew < 1024, "the child's peak RSS grew by %d kB relaying 100,000 messages" % grew


# --- interim (1xx) answers: bounded in count and time ---------------------------------------

def test_interim_responses_within_bounds_pass(apache, standin_backend, mpm):
    """Up to 100 interim answers (102, 103) before the final one: the final one arrives."""
    srv = start_app(apache, standin_backend, mpm)
    for code in (102, 103):
        r = srv.get("/fwd/interim?n=100&code=%d" % code, timeout=30)
        assert r.status == 200 and r.body == b"after 100 interim\n", (code, r.status, r.body[:200])


def test_endless_interim_responses_are_502(apache, standin_backend, mpm):
    """An app that sends interim answers for ever: a 502 after the 101st at once, and, when
    they come slowly (one every 300 ms, so no single wait reaches requestTimeout), once
    requestTimeout (2 s) has passed since the request went out; the worker is freed."""
    apache.expect_log(r"\(502\.3\)")
    srv = start_app(apache, standin_backend, mpm,
                    extra="<Location /fwd/interim>\n    AspNetCoreRequestTimeout 00:00:02\n</Location>")
    t0 = time.monotonic()
    r = srv.get("/fwd/interim?n=101", timeout=30)
    assert r.status == 502 and time.monotonic() - t0 < 2, (r.status, time.monotonic() - t0)
    srv.wait_for_log(r"more than 100 interim \(1xx\) responses")
    t0 = time.monotonic()
    r = srv.get("/fwd/interim?n=-1&interval_ms=300", timeout=30)
    took = time.monotonic() - t0
    assert r.status == 502 and 1.9 <= took < 6, (r.status, took)
    srv.wait_for_log(r"timed out waiting for the response")
    expect_status(srv.get("/echo/after"), 200, "after", srv)
