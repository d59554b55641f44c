"""Forwarding in depth: request and response heads, bodies and their framing, streaming
latency, the keep-alive pool under stale connections and timeouts, backend failures,
client aborts, WebSockets and request smuggling.

test_skeleton.py already covers the basics (raw target, header contract, methods, 5 MiB
bodies both ways, Expect: 100-continue with a reading app, a coarse streaming check,
keep-alive reuse); these tests go past them.  Stand-in endpoints under /fwd/ and the
knobs STANDIN_RECORD_REQUESTS / STANDIN_IDLE_CLOSE_MS / STANDIN_KEEPALIVE_MAX are the
opt-in additions at the end of tests/backends/standin.py.
"""

import collections
import hashlib
import os
import re
import socket
import struct
import threading
import time

import pytest

import httpclient
import procs
import wsclient
from backends import echo_headers, header_values, parse_env
from rigutil import WaitTimeout, wait_until, expect_status

# MPM-sensitive: runs under every MPM even where the test command narrows one (conftest.py)
pytestmark = pytest.mark.every_mpm

FIRST_REQUEST_TIMEOUT = 60.0
ERR_502 = r"\(502\.3\)"                       # the module's log line for a backend failure
BROKE_OFF = r"the app's response broke off"
PATTERN = bytes(i % 251 for i in range(251))


# --- helpers -------------------------------------------------------------------------------


def start_app(apache, backend, env=None, extra="", prefix=""):
    """Start httpd with the backend as the server-wide app and wait until it answers."""
    srv = apache.start(prefix + backend.directives(env=env, extra=extra))
    expect_status(srv.get("/echo/warmup", timeout=FIRST_REQUEST_TIMEOUT), 200, "first request", srv)
    return srv


def backend_port(srv):
    return int(parse_env(srv.get("/env", timeout=FIRST_REQUEST_TIMEOUT))["ASPNETCORE_PORT"])


def mpm_children(srv):
    """The MPM's worker processes: the parent's children in its process group (the
    supervisor has a process group of its own)."""
    table = procs.all_procs()
    parent = table.get(srv.pid)
    return [p for p in procs.children(srv.pid, table) if parent and p.pgrp == parent.pgrp]


def status_kib(pid, field):
    try:
        value = procs.status_fields(pid).get(field, "0 kB").split()[0]
        return int(value)
    except (OSError, ValueError):
        return None


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def established_at(port):
    """Connections to a server port, counted at the server's end (ESTABLISHED or waiting
    for the server to close: CLOSE_WAIT)."""
    return sum(1 for e in procs.tcp_entries()
               if e.local_port == port and e.remote_port != port
               and e.state in ("ESTABLISHED", "CLOSE_WAIT"))


def access_log_lines(srv, start=0):
    """[(pid, request line, status, bytes sent)] of the access log, from line `start` on."""
    out = []
    for line in srv.access_log().splitlines()[start:]:
        m = re.match(r'\S+ (\d+):\S* "(.*)" (\d{3}) (\S+) ', line)
        if m:
            out.append((int(m.group(1)), m.group(2), int(m.group(3)),
                        int(m.group(4)) if m.group(4).isdigit() else 0))
    return out


def served_by_target(srv, target):
    """pid of the httpd child whose access log line has this request target."""
    for line in srv.access_log().splitlines():
        m = re.match(r'\S+ (\d+):\S* "\S+ (\S+)', line)
        if m and m.group(2) == target:
            return int(m.group(1))
    return None


def read_all(sock, timeout):
    """Everything the peer sends until it closes, or until it is silent for `timeout`."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            got = sock.recv(65536)
        except socket.timeout:
            return data, False
        except OSError:
            return data, True
        if not got:
            return data, True
        data += got


def pattern_bytes(n):
    return (PATTERN * (n // 251 + 1))[:n]


# --- request heads -------------------------------------------------------------------------

def test_large_request_headers_arrive_intact(apache, backend):
    srv = start_app(apache, backend)
    big = "".join(chr(ord("a") + i % 26) for i in range(8000))
    many = [("X-Many-%02d" % i, "value-%02d-%s" % (i, "z" * (i % 40))) for i in range(90)]
    with srv.connect(timeout=30) as c:
        e = expect_status(c.request("GET", "/echo/big", headers=[("X-Big", big)]),
                          200, "8000-byte header", srv).json()
        assert header_values(e, "X-Big") == [big], [(k, len(v)) for k, v in echo_headers(e)]
        e = expect_status(c.request("GET", "/echo/many", headers=many), 200, "90 headers", srv).json()
        seen = {k.lower(): v for k, v in echo_headers(e)}
        missing = [(k, v) for k, v in many if seen.get(k.lower()) != v]
        assert not missing, "headers lost or changed: %r" % missing[:5]
        # both at once, and the connection still serves the next request correctly
        e = expect_status(c.request("POST", "/echo/both", headers=many[:60] + [("X-Big", big)],
                                    body=b"after-big-head"), 200, "both", srv).json()
        assert header_values(e, "X-Big") == [big] and e["body_length"] == len(b"after-big-head")
        e = expect_status(c.request("GET", "/echo/next"), 200, "next", srv).json()
        assert e["path"] == "/echo/next"


# --- response heads ------------------------------------------------------------------------

@pytest.mark.parametrize("code,text", [(299, "Fine"), (200, "Okey Dokey"), (404, "Nowhere Here"),
                                       (503, "Back Soon")])
def test_reason_phrase_passed(apache, standin_backend, code, text):
    srv = start_app(apache, standin_backend)
    r = srv.raw_request("GET", "/fwd/reason?code=%d&text=%s" % (code, text.replace(" ", "%20")))
    assert r.raw_head.split(b"\r\n", 1)[0] == ("HTTP/1.1 %d %s" % (code, text)).encode(), r.raw_head
    assert r.body == b"reason test\n"


def test_response_duplicates_kept_and_hop_by_hop_dropped(apache, standin_backend):
    srv = start_app(apache, standin_backend)
    for version in ("HTTP/1.1", "HTTP/1.0"):
        for query, status in (("", 200), ("?auth=1", 401)):
            with srv.connect() as c:
                r = c.request("GET", "/fwd/headers" + query, version=version)
            what = "%s /fwd/headers%s" % (version, query)
            expect_status(r, status, what, srv)
            assert r.body == b"hop-by-hop test body\n", (what, r.body)
            assert r.headers_all("Set-Cookie") == ["one=1; Path=/", "two=2; Path=/; HttpOnly"], r.headers
            assert r.headers_all("WWW-Authenticate") == ['Basic realm="standin"', "Bearer"], r.headers
            assert r.headers_all("X-Multi") == ["first", "second"] or \
                r.headers_all("X-Multi") == ["first, second"], r.headers
            assert r.headers_all("X-End-To-End") == ["kept"], r.headers
            leaked = [(k, v) for k, v in r.headers
                      if k.lower() in ("x-private-hop", "proxy-connection", "upgrade", "trailer")
                      or (k.lower() == "keep-alive" and "77" in v)
                      or (k.lower() == "connection" and "x-private-hop" in v.lower())]
            assert not leaked, "%s: hop-by-hop fields reached the client: %r" % (what, leaked)
            te = r.headers_all("Transfer-Encoding")
            if version == "HTTP/1.0":
                assert te == [], "%s: Transfer-Encoding passed to an HTTP/1.0 client: %r" % (what, te)
            else:   # httpd's own chunking, at most once
                assert te in ([], ["chunked"]), (what, r.headers)


def test_response_head_limits(apache, standin_backend):
    """The module reads response heads of at most 64 KiB and 200 fields; bigger → 502."""
    apache.expect_log(ERR_502)
    srv = start_app(apache, standin_backend)
    cases = [
        ("fields=200", 200), ("fields=201", 502),
        ("fields=100&size=65536", 200), ("fields=100&size=65537", 502),
        ("fields=30&size=200000", 502), ("fields=1000", 502),
    ]
    results = []
    for query, want in cases:
        r = srv.raw_request("GET", "/fwd/bighead?" + query)
        results.append((query, want, r.status))
        if r.status == 200:
            assert r.body == b"big head ok\n", (query, r.body[:100])
            n = int(re.search(r"fields=(\d+)", query).group(1))
            assert r.headers_all("X-F-%04d" % (n - 2)), (query, "last field lost")
    assert all(w == s for _, w, s in results), "\n".join(
        "%-24s want %d got %d%s" % (q, w, s, "" if w == s else "   <---") for q, w, s in results)
    # and the app still answers afterwards
    expect_status(srv.get("/echo/after"), 200, "after", srv)


# --- request bodies --------------------------------------------------------------------------

GIB = 1 << 30


def send_gib(sock, chunked, total=GIB, block=1 << 20):
    """Send `total` bytes (different in every MiB) as they are made; returns their SHA-256."""
    base = os.urandom(block)
    sha = hashlib.sha256()
    for i in range(total // block):
        data = struct.pack("<Q", i) + base[8:]
        sha.update(data)
        if chunked:
            sock.sendall(b"%x\r\n" % len(data))
            sock.sendall(data)
            sock.sendall(b"\r\n")
        else:
            sock.sendall(data)
    if chunked:
        sock.sendall(b"0\r\n\r\n")
    return sha.hexdigest()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_upload_1gib_streams_with_bounded_memory(apache, backend, framing):
    srv = start_app(apache, backend)
    before = {p.pid: status_kib(p.pid, "VmRSS") for p in mpm_children(srv)}
    target = "/echo/upload-%s-%d" % (framing, os.getpid())
    sampler = procs.RssSampler(srv.pid)
    sampler.start()
    t0 = time.monotonic()
    try:
        with srv.connect(timeout=120) as c:
            hdrs = [("Content-Type", "application/octet-stream")]
            hdrs.append(("Transfer-Encoding", "chunked") if framing == "chunked"
                        else ("Content-Length", str(GIB)))
            c.send(c.build_request("POST", target, hdrs))
            digest = send_gib(c.sock, framing == "chunked")
            r = c.read_response("POST")
    finally:
        sampler.stop()
    took = time.monotonic() - t0
    e = expect_status(r, 200, "1 GiB upload", srv).json()
    assert e["body_length"] == GIB and e["body_sha256"] == digest, (e["body_length"], e["body_sha256"], digest)
    framing_seen = [(k.lower(), v) for k, v in echo_headers(e)
                    if k.lower() in ("content-length", "transfer-encoding")]
    assert framing_seen == ([("content-length", str(GIB))] if framing == "content-length"
                            else [("transfer-encoding", "chunked")]), framing_seen
    pid = wait_until(lambda: served_by_target(srv, target), 10, "the access log line of the upload")
    assert pid in before, "the upload was served by %d, not one of the children seen before %s" % (
        pid, sorted(before))
    hwm = status_kib(pid, "VmHWM")
    peak = max(hwm or 0, sampler.max_kib.get(pid, 0))
    grew = (peak - before[pid]) / 1024.0
    assert grew < 32, ("httpd child %d grew by %.1f MiB while forwarding 1 GiB (RSS before %d kB, "
                       "peak %d kB)" % (pid, grew, before[pid], peak))
    print("1 GiB %s upload to %s: %.1f s, child %d grew %.1f MiB" % (
        framing, backend.name, took, pid, grew))


def test_lengths_over_4gib_forwarded_exactly(apache, standin_backend):
    """Lengths past 32 bits (ANCM users report >4 GB uploads failing): a 5 GB upload is
    announced to the app with its exact Content-Length, and a 5 GB answer reaches the
    client with its own (both cut short here after the first bytes)."""
    srv = start_app(apache, standin_backend, env={"STANDIN_RECORD_REQUESTS": "1"})
    big = 5000000000
    with srv.connect(timeout=30) as c:
        c.send(c.build_request("POST", "/echo/five-gb", [("Content-Length", str(big))]))
        c.send(b"z" * 100000)

        def arrived():
            return [x for x in srv.get("/fwd/log").json()["requests"] if x["target"] == "/echo/five-gb"]
        entry = wait_until(arrived, 10, "the 5 GB upload to reach the app")[0]
    framing = [(k.lower(), v) for k, v in entry["headers"] if k.lower() in ("content-length", "transfer-encoding")]
    assert framing == [("content-length", str(big))], framing
    with srv.connect(timeout=30) as c:
        r = c.request("HEAD", "/bytes?n=%d" % big)
        assert r.status == 200 and r.header("Content-Length") == str(big), r.headers
    with srv.connect(timeout=30) as c:
        c.send(c.build_request("GET", "/bytes?n=%d" % big))
        head = c.read_head()
        assert head.status == 200 and head.header("Content-Length") == str(big), head.headers
        first = c._read_exact(1000000)
        assert first == pattern_bytes(1000000)
    expect_status(srv.get("/echo/after"), 200, "after", srv)


def test_expect_continue_asked_of_the_app(apache, standin_backend):
    """The 100 Continue the client gets is the app's: the module forwards Expect and waits
    for the app's go-ahead (the stand-in gives it after 400 ms) before reading the body."""
    srv = start_app(apache, standin_backend)
    data = os.urandom(200000)
    for framing in ("length", "chunked"):
        with srv.connect(timeout=30) as c:
            hdrs = [("Expect", "100-continue")]
            hdrs.append(("Content-Length", str(len(data))) if framing == "length"
                        else ("Transfer-Encoding", "chunked"))
            c.send(c.build_request("POST", "/fwd/expect?continue_after_ms=400", hdrs))
            t_sent = time.monotonic()
            head = c.read_head(return_interim=True)
            t_100 = time.monotonic()
            assert head.status == 100, (framing, head.status, head.reason)
            c.send(data if framing == "length" else b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
            e = expect_status(c.read_response("POST"), 200, "POST with Expect", srv).json()
        assert e["expect"] == "100-continue", e
        assert e["body_length"] == len(data) and e["body_sha256"] == hashlib.sha256(data).hexdigest()
        assert e["continue_sent"] is not None, "the app never said 100 Continue: %r" % e
        assert t_100 >= e["continue_sent"], (
            "%s: the client got 100 Continue %.3f s before the app said it (after %.3f s): httpd "
            "answered the Expect itself" % (framing, e["continue_sent"] - t_100, t_100 - t_sent))
        assert t_100 - t_sent >= 0.35, (framing, t_100 - t_sent)
        kinds = sorted(k.lower() for k, _ in e["framing"])
        assert kinds == sorted(["expect", "content-length" if framing == "length" else "transfer-encoding"]), e


def test_expect_continue_early_refusal_reaches_client(apache, backend):
    """An app that refuses a 40 MB body up front: the client, which sent only the head,
    gets that answer (not 100, not 502) and never has to send the body.  The real app's
    Kestrel limit (30,000,000 bytes) is lifted by IIS integration, so there the refusal is
    routing's: POST to a GET-only endpoint → 405 without reading the body."""
    srv = start_app(apache, backend)
    target, want = ("/status/413", 405) if backend.real else ("/fwd/expect?refuse=413", 413)
    for _ in range(2):
        with srv.connect(timeout=10) as c:
            c.send(c.build_request("POST", target, [("Expect", "100-continue"),
                                                    ("Content-Length", "40000000"),
                                                    ("Content-Type", "application/octet-stream")]))
            t0 = time.monotonic()
            head = c.read_head(return_interim=True)       # no body byte sent, ever
            took = time.monotonic() - t0
            assert head.status == want, ("expected %d before any body byte, got %s %s after %.2f s"
                                         % (want, head.status, head.reason, took))
            assert took < 5, took
            body = b"".join(c.iter_body(head, "POST"))
            if not backend.real:
                assert body == b"refused by the app\n", body
            # the body the client never sent cannot be read: the connection ends here
            assert c.peer_closed(wait=5.0), "httpd kept the connection open after the refusal"
    e = expect_status(srv.get("/echo/after"), 200, "after refusal", srv).json()
    assert e["path"] == "/echo/after"


def test_early_answer_during_upload_reaches_client(apache, standin_backend):
    """Without Expect: the app answers 413 and closes while the client is still sending a
    40 MB body; the client gets that 413 (not a 502, the ANCM complaint)."""
    srv = start_app(apache, standin_backend)
    size = 40000000
    with srv.connect(timeout=30) as c:
        c.send(c.build_request("POST", "/fwd/expect?refuse=413", [("Content-Length", str(size))]))
        sent, done = [0], threading.Event()

        def pump():
            block = b"u" * 65536
            try:
                while sent[0] < size and not done.is_set():
                    n = min(len(block), size - sent[0])
                    c.sock.sendall(block[:n])
                    sent[0] += n
            except OSError:
                pass           # httpd may stop reading once the answer is out
        t = threading.Thread(target=pump, daemon=True)
        t.start()
        try:
            head = c.read_head()
            body = b"".join(c.iter_body(head, "POST"))
        finally:
            done.set()
            t.join(10)
    assert head.status == 413, (head.status, head.reason, head.headers, sent[0])
    assert body == b"refused by the app\n", body
    expect_status(srv.get("/echo/after"), 200, "after", srv)


# --- response framing --------------------------------------------------------------------

def test_response_framing_chunked_head_204_304(apache, backend):
    srv = start_app(apache, backend)
    with srv.connect(timeout=30) as c:
        # the app's chunked body, decoded and streamed on (httpd chunks it again: the
        # pauses between events make the module flush before the end is known)
        r = expect_status(c.request("GET", "/stream?n=5&interval_ms=30"), 200, "stream", srv)
        assert r.body == b"".join(b"event %d\n" % i for i in range(5)), r.body
        assert r.chunked and r.chunk_sizes[-1] == 0 and len(r.chunk_sizes) > 2, (r.headers, r.chunk_sizes)
        # the whole chunked body at once: httpd may as well give it a Content-Length
        r = expect_status(c.request("GET", "/stream?n=5&interval_ms=0"), 200, "stream", srv)
        assert r.body == b"".join(b"event %d\n" % i for i in range(5)), r.body
        # HEAD: Content-Length of the GET, no body; the connection stays usable
        r = expect_status(c.request("HEAD", "/bytes?n=12345"), 200, "HEAD", srv)
        assert r.header("Content-Length") == "12345" and r.body == b"", r.headers
        for code in (204, 304):
            r = c.request("GET", "/status/%d" % code)
            assert r.status == code and r.body == b"", (code, r, r.headers)
            assert not r.has_header("Transfer-Encoding"), (code, r.headers)
        # nothing stray was left on the connection: the next answer is the right one
        r = expect_status(c.request("GET", "/bytes?n=70000"), 200, "after", srv)
        assert r.body == pattern_bytes(70000)
        e = expect_status(c.request("GET", "/echo/last"), 200, "last", srv).json()
        assert e["path"] == "/echo/last"


def test_response_close_delimited_and_trailers(apache, standin_backend):
    srv = start_app(apache, standin_backend)
    n = 300000
    for version in ("1.1", "1.0"):
        with srv.connect(timeout=30) as c:
            r = expect_status(c.request("GET", "/fwd/close-delimited?n=%d&version=%s" % (n, version)),
                              200, "close-delimited (app HTTP/%s)" % version, srv)
            assert r.body == pattern_bytes(n), (len(r.body), n)
            # the client's connection does not depend on the app's: it stays open
            e = expect_status(c.request("GET", "/echo/after-close"), 200, "after", srv).json()
            assert e["path"] == "/echo/after-close"
    with srv.connect(timeout=30) as c:    # an HTTP/1.0 client gets it close-delimited too
        r = c.request("GET", "/fwd/close-delimited?n=%d" % n, version="HTTP/1.0")
        assert r.status == 200 and r.body == pattern_bytes(n), (r, len(r.body))
    with srv.connect(timeout=30) as c:
        r = expect_status(c.request("GET", "/fwd/trailers?n=5000"), 200, "trailers", srv)
        assert r.body == pattern_bytes(5000), len(r.body)
        assert r.trailers == [], "trailers passed on: %r" % r.trailers
        assert not [h for h in r.headers if h[0].lower() in ("trailer", "x-checksum", "x-trailer-two")], r.headers
        e = expect_status(c.request("GET", "/echo/after-trailers"), 200, "after", srv).json()
        assert e["path"] == "/echo/after-trailers"


# --- streaming -------------------------------------------------------------------------------

def arrival_times(pieces, sep):
    """Time at which each complete `sep`-terminated record had arrived."""
    out, buf = [], b""
    for t, data in pieces:
        buf += data
        while len(out) < buf.count(sep):
            out.append(t)
    return out, buf


def check_streamed_events(srv, backend, framing):
    """Six events written 250 ms apart must arrive 250 ms apart, each (stand-in) less than
    50 ms after it was written; up to three attempts, each on a new connection."""
    n, interval = 6, 250
    target = ("/stream?n=%d&interval_ms=%d" if backend.real
              else "/fwd/sse?n=%d&interval_ms=%d&framing=" + framing) % (n, interval)
    sep = b"\n" if backend.real else b"\n\n"
    failures = []
    expect_status(srv.raw_request("GET", target.replace("n=%d" % n, "n=2", 1)), 200, "warm-up", srv)
    for attempt in range(3):
        with srv.connect(timeout=30) as c:
            c.send(c.build_request("GET", target))
            head = c.read_head()
            assert head.status == 200, head
            pieces = c.read_body_timed(head)
        arrived, body = arrival_times(pieces, sep)
        assert len(arrived) == n, body
        gaps = [b - a for a, b in zip(arrived, arrived[1:])]
        problems = []
        if any(abs(g - interval / 1000.0) > 0.05 for g in gaps):
            problems.append("arrival gaps %s for events written %d ms apart" % (
                ["%.3f" % g for g in gaps], interval))
        if not backend.real:
            events = [e for e in body.split(b"\n\n") if e]
            written = [float(re.search(rb"data: ([0-9.]+)", e).group(1)) for e in events]
            lags = [a - w for a, w in zip(arrived, written)]
            if not all(0 <= l < 0.05 for l in lags):
                problems.append("events reached the client %s s after the app wrote them"
                                % ["%.3f" % l for l in lags])
        if not problems:
            return
        failures.append("; ".join(problems))
    raise AssertionError("in every attempt:\n  " + "\n  ".join(failures))


def test_streamed_events_arrive_without_delay(apache, backend):
    """Each piece the app writes reaches the client within 50 ms (the stand-in stamps its
    server-sent events with the time of writing; for both apps the gaps between arrivals
    match the interval of writing within 50 ms).  A buffering proxy fails every attempt;
    up to three are made, as the apps' own timers jitter on a loaded machine."""
    check_streamed_events(start_app(apache, backend), backend, "chunked")


@pytest.mark.parametrize("framing", ["length", "close"])
def test_paused_body_of_any_framing_reaches_client(apache, standin_backend, framing):
    """The same with a Content-Length body and with one ended by closing: what the app wrote
    before a pause is not held back waiting for the rest (the module waits a few ms for
    the app's next write before flushing, never until the body is complete)."""
    check_streamed_events(start_app(apache, standin_backend), standin_backend, framing)


# --- the keep-alive pool ---------------------------------------------------------------------

def test_connection_closed_by_idle_app_not_used(apache, standin_backend):
    """The app closes keep-alive connections idle for 200 ms: the pooled connection is dead
    when the next request comes; that request must still succeed."""
    srv = start_app(apache, standin_backend, env={"STANDIN_IDLE_CLOSE_MS": "200"})
    port = backend_port(srv)

    def app_closed_all():
        # every pooled connection is dead: the app closed its end (FIN sent), httpd's end
        # is still open (CLOSE_WAIT), and none is alive (ESTABLISHED) at httpd's end
        states = [e.state for e in procs.tcp_entries() if e.remote_port == port]
        return "CLOSE_WAIT" in states and "ESTABLISHED" not in states

    for round_ in range(3):
        with srv.connect(timeout=30) as c:
            for i in range(4):
                # GETs, and POSTs (a body cannot be sent twice: the dead connection must be
                # noticed before the request goes out)
                path = "/echo/idle-%d-%d" % (round_, i)
                body = b"p" * 5000 * i if i % 2 else None
                e = expect_status(c.request("POST" if body else "GET", path, body=body), 200,
                                  "request %d/%d" % (round_, i), srv).json()
                assert e["path"] == path and e["body_length"] == len(body or b""), e
                wait_until(app_closed_all, 5, lambda: "the app to close the idle pooled connections; "
                           "sockets: %s" % procs.tcp_summary(port))


def test_idle_pooled_connections_closed_by_the_module(apache, standin_backend):
    """Pooled connections left unused for AspNetCoreBackendIdleTimeout are closed by the
    module itself, also when no further request comes (the app keeps them open much longer):
    httpd's end closes first (it holds TIME_WAIT), none stays ESTABLISHED or CLOSE_WAIT."""
    srv = start_app(apache, standin_backend, prefix="AspNetCoreBackendIdleTimeout 2\n")
    port = backend_port(srv)

    def httpd_side(state):
        return [e for e in procs.tcp_entries() if e.remote_port == port and e.state == state]

    with srv.connect(timeout=30) as c:
        for i in range(5):
            expect_status(c.request("GET", "/echo/pooled-%d" % i), 200, "request %d" % i, srv)
    # the connection is pooled now (a stand-in without STANDIN_IDLE_CLOSE_MS keeps it open)
    assert httpd_side("ESTABLISHED"), "no pooled connection to the app after 5 requests: %s" % (
        procs.tcp_summary(port))
    t0 = time.monotonic()
    wait_until(lambda: not httpd_side("ESTABLISHED") and not httpd_side("CLOSE_WAIT"), 10,
               lambda: "the module to close its idle pooled connections; sockets: %s"
               % procs.tcp_summary(port))
    elapsed = time.monotonic() - t0
    # httpd's end is in FIN_WAIT2 until the stand-in reads the EOF and closes its own
    wait_until(lambda: not httpd_side("FIN_WAIT1") and not httpd_side("FIN_WAIT2"), 10,
               lambda: "the app to close its end; sockets: %s" % procs.tcp_summary(port))
    assert httpd_side("TIME_WAIT"), ("httpd's end must have closed first (TIME_WAIT there): %s"
                                     % procs.tcp_summary(port))
    # and they are not closed long before the idle timeout either
    assert elapsed > 1.0, "pooled connections closed after %.2f s, before the 2 s idle timeout" % elapsed
    # the next request simply opens a new connection
    expect_status(srv.get("/echo/after-sweep"), 200, "request after the sweep", srv)


def test_keepalive_race_is_retried(apache, standin_backend):
    """The app closes a kept-alive connection just as a request comes, without reading it
    (it timed the connection out just then): the module retries once on a new connection.
    (An app that read the request and then dropped it is test_faults.py's
    test_a_request_the_app_read_then_dropped_runs_once: only a GET goes again.)"""
    srv = start_app(apache, standin_backend,
                    env={"STANDIN_KEEPALIVE_MAX": "1", "STANDIN_RECORD_REQUESTS": "1"})
    with srv.connect(timeout=30) as c:
        for i in range(10):
            e = expect_status(c.request("GET", "/echo/race-%d" % i), 200, "request %d" % i, srv).json()
            assert e["path"] == "/echo/race-%d" % i, e
    log = srv.get("/fwd/log").json()["requests"]
    dropped = [x["target"] for x in log if x["dropped"]]
    answered = [x["target"] for x in log if not x["dropped"]]
    assert dropped, "the race never happened (no request was dropped): %r" % log
    for t in dropped:
        assert answered.count(t) == 1, "%s was dropped and then answered %d times" % (t, answered.count(t))
    for i in range(10):
        assert answered.count("/echo/race-%d" % i) == 1, answered


def test_keepalive_race_small_body_is_resent(apache, standin_backend):
    """The same race with POSTs: a body of up to 64 KiB is read whole before the request
    goes out, so it can be sent again on a new connection; the app left it unread (its
    kernel resets it behind the close's FIN), so it is: the app gets each body exactly
    once, intact, and the client only 200s."""
    srv = start_app(apache, standin_backend,
                    env={"STANDIN_KEEPALIVE_MAX": "1", "STANDIN_RECORD_REQUESTS": "1"})
    sizes = [1, 100, 4096, 20000, 65535, 65536, 7, 30000]
    with srv.connect(timeout=30) as c:
        for i, n in enumerate(sizes):
            body = bytes((i * 7 + k) % 251 for k in range(n))
            e = expect_status(c.request("POST", "/echo/post-race-%d" % i, body=body), 200,
                              "POST %d (%d bytes)" % (i, n), srv).json()
            assert (e["path"], e["body_length"], e["body_sha256"]) == (
                "/echo/post-race-%d" % i, n, hashlib.sha256(body).hexdigest()), e
    log = srv.get("/fwd/log").json()["requests"]
    dropped = [x["target"] for x in log if x["dropped"]]
    answered = [x["target"] for x in log if not x["dropped"]]
    assert any(t.startswith("/echo/post-race-") for t in dropped), (
        "the race never happened for a POST: %r" % log)
    for i in range(len(sizes)):
        assert answered.count("/echo/post-race-%d" % i) == 1, answered


def test_no_reuse_after_request_timeout(apache, backend):
    """After a requestTimeout the late answer of the app must never be taken for the answer
    to a later request: every request on fresh client connections, during and after the
    moment the app writes its late answer, gets its own response."""
    apache.expect_log(ERR_502)
    # the short timeout only where it is tested (a loaded machine may take longer than 1 s
    # for the real app's first requests)
    srv = start_app(apache, backend,
                    extra="<Location /sleep>\n    AspNetCoreRequestTimeout 00:00:01\n</Location>")
    with srv.connect(timeout=30) as c:
        t0 = time.monotonic()
        r = c.request("GET", "/sleep?ms=2000")
    took = time.monotonic() - t0
    assert r.status == 502 and 0.9 <= took < 1.9, (r.status, took)
    checks = 0
    while time.monotonic() < t0 + 3.0 or checks < 20:
        path = "/echo/after-timeout-%d" % checks
        r = srv.get(path, timeout=10)
        assert r.status == 200 and b"slept" not in r.body, (path, r.status, r.body[:200])
        assert r.json()["path"] == path, (path, r.body[:200])
        checks += 1
    with srv.connect(timeout=30) as c:       # and kept-alive connections still work
        for i in range(5):
            e = expect_status(c.request("GET", "/echo/ka-%d" % i), 200, "ka", srv).json()
            assert e["path"] == "/echo/ka-%d" % i


# --- backend failures ------------------------------------------------------------------------

def test_reset_before_response_is_502(apache, standin_backend):
    apache.expect_log(ERR_502)
    srv = start_app(apache, standin_backend)
    for method, body in (("GET", None), ("POST", b"x" * 100000)):
        with srv.connect(timeout=30) as c:
            r = c.request(method, "/fwd/reset", body=body)
            assert r.status == 502, (method, r, r.body[:200])
    expect_status(srv.get("/echo/after"), 200, "after", srv)


@pytest.mark.parametrize("kind", ["garbage", "status", "version", "nocolon", "space", "cl", "cl2",
                                  "te", "nul", "bare-cr", "fold", "chunk"])
def test_malformed_response_is_502(apache, standin_backend, kind):
    apache.expect_log(ERR_502 + "|" + BROKE_OFF)
    srv = start_app(apache, standin_backend)
    with srv.connect(timeout=30) as c:
        c.send(c.build_request("GET", "/fwd/garbage?kind=" + kind))
        head = c.read_head()
        if kind == "chunk" and head.status == 200:
            # a valid head, then a bad chunk size: if the head already went out, the
            # client must see the body break off, never a complete response
            with pytest.raises(httpclient.ConnectionClosed):
                b"".join(c.iter_body(head))
        else:
            r = head
            r.body = b"".join(c.iter_body(head))
            assert r.status == 502, (kind, r, r.headers, r.body[:200])
            assert not r.headers_all("Set-Cookie") and not r.headers_all("X-Bad"), (kind, r.headers)
    expect_status(srv.get("/echo/after"), 200, "after", srv)


@pytest.mark.parametrize("framing", ["length", "chunked"])
@pytest.mark.parametrize("how", ["close", "reset"])
def test_failure_after_response_started_is_not_complete(apache, standin_backend, framing, how):
    apache.expect_log(ERR_502 + "|" + BROKE_OFF)
    srv = start_app(apache, standin_backend)
    for pause in (50, 0):
        with srv.connect(timeout=30) as c:
            c.send(c.build_request("GET", "/fwd/truncate?framing=%s&how=%s&pause_ms=%d"
                                   % (framing, how, pause)))
            head = c.read_head()
            if head.status == 502 and pause == 0:
                continue                     # failed before anything went out: a clean 502
            assert head.status == 200, (pause, head, head.headers)
            got = []
            with pytest.raises((httpclient.ConnectionClosed, ConnectionResetError)):
                for data in c.iter_body(head):
                    got.append(data)
            body = b"".join(got)
            assert body == pattern_bytes(10)[:len(body)], body
            if framing == "length":
                assert head.header("Content-Length") == "100000", head.headers
            else:
                assert head.chunked and 0 not in head.chunk_sizes, (head.headers, head.chunk_sizes)
            assert c.peer_closed(wait=5.0)
    expect_status(srv.get("/echo/after"), 200, "after", srv)


# --- client aborts -------------------------------------------------------------------------

ABORTS = 1000


def resource_snapshot(srv, bport):
    return ({p.pid: fd_count(p.pid) for p in mpm_children(srv)}, established_at(bport))


def test_client_aborts_leak_nothing(apache, backend):
    srv = start_app(apache, backend)
    bport = backend_port(srv)
    half = os.urandom(256 * 1024)
    download = "/bytes?n=50000000"

    def uploads_logged():
        return sum(1 for l in access_log_lines(srv) if l[1].startswith("POST /echo/abort-"))

    def storm(n):
        for i in range(n):
            httpclient.abort_download(srv.port, download)
        done = uploads_logged()
        for i in range(n):
            httpclient.abort_upload(srv.port, "/echo/abort-%d" % i, half, 2)
            if i % 4 == 3:
                # a client that aborts does not wait for anything: keep httpd at most a few
                # aborted uploads behind (under MaxRequestWorkers, which it would log)
                wait_until(lambda: uploads_logged() >= done + i + 1 - 6, 30,
                           "httpd to catch up with the aborted uploads")

    storm(20)          # warm-up: pools, lazily opened files
    for i in range(10):
        expect_status(srv.get("/echo/warm-%d" % i), 200, "warm-up", srv)
    fds0, conns0 = resource_snapshot(srv, bport)
    t0 = time.monotonic()
    storm(ABORTS)
    took = time.monotonic() - t0

    # every abort happened while the module was forwarding (the access log has each
    # download cut short, and each upload answered by the module's 400 for a broken body);
    # wait until httpd has dealt with all of them (prefork may still have some queued)
    def all_logged():
        lines = access_log_lines(srv)
        cut = [l for l in lines if l[1] == "GET " + download + " HTTP/1.1" and l[2] == 200
               and l[3] < 50000000]
        uploads = [l for l in lines if l[1].startswith("POST /echo/abort-") and l[2] >= 400]
        return (len(cut) >= ABORTS + 20 and len(uploads) >= ABORTS + 20) or None
    try:
        wait_until(all_logged, 30, "the access log to show every aborted request")
    except WaitTimeout:
        lines = access_log_lines(srv)
        raise AssertionError("not every abort was seen by the module: %r" % (
            collections.Counter((l[1].split("?")[0].rsplit("-", 1)[0], l[2]) for l in lines),))

    def flat():
        fds, conns = resource_snapshot(srv, bport)
        common = set(fds) & set(fds0)
        grew = sum(fds[p] - fds0[p] for p in common if fds[p] is not None and fds0[p] is not None)
        new = [fds[p] for p in set(fds) - set(fds0)]
        base = max(v for v in fds0.values() if v is not None)
        ok = grew <= 6 and all(v <= base + 6 for v in new if v is not None) and conns <= conns0 + 3
        return ok and (fds, conns)

    try:
        wait_until(flat, 20, "resources to settle")
    except WaitTimeout:
        fds, conns = resource_snapshot(srv, bport)
        raise AssertionError(
            "after %d aborted downloads and %d aborted uploads: httpd children's fds %s -> %s, "
            "connections at the app %d -> %d (%s)" % (ABORTS, ABORTS, fds0, fds, conns0, conns,
                                                      procs.tcp_summary(bport)))
    # the app still answers, and completely
    with srv.connect(timeout=30) as c:
        r = expect_status(c.request("GET", "/bytes?n=1000000"), 200, "after the aborts", srv)
        assert r.body == pattern_bytes(1000000)
        data = os.urandom(100000)
        e = expect_status(c.request("POST", "/echo/after", body=data), 200, "POST after", srv).json()
        assert e["body_sha256"] == hashlib.sha256(data).hexdigest()
    fds, conns = resource_snapshot(srv, bport)
    print("%d + %d aborts against %s in %.1f s: httpd children's fds %s -> %s, connections at "
          "the app %d -> %d" % (ABORTS, ABORTS, backend.name, took, fds0, fds, conns0, conns))


# --- WebSockets ------------------------------------------------------------------------------

def ws_path(backend):
    return "/ws" if backend.real else "/fwd/ws"


def ws_open(srv, backend, query="", headers=None):
    ws, head = wsclient.connect(srv.port, ws_path(backend) + query, headers=headers, timeout=30)
    assert ws is not None, "WebSocket refused: %s %s %r\n%s" % (
        head.status, head.reason, head.body[:300], srv.log_tail(20))
    return ws, head


def test_websocket_echo_and_clean_close(apache, backend):
    srv = start_app(apache, backend)
    ws, head = ws_open(srv, backend)
    with ws:
        assert head.header("Upgrade", "").lower() == "websocket", head.headers
        assert "upgrade" in head.header("Connection", "").lower(), head.headers
        assert ws.echo(wsclient.OP_TEXT, "hello") == (wsclient.OP_TEXT, b"hello")
        big = os.urandom(1 << 20)
        assert ws.echo(wsclient.OP_BINARY, big, fragment=65536) == (wsclient.OP_BINARY, big)
        text = ("grüße " * 40000).encode()
        assert ws.echo(wsclient.OP_TEXT, text) == (wsclient.OP_TEXT, text)
        assert ws.echo(wsclient.OP_BINARY, b"") == (wsclient.OP_BINARY, b"")
        reply = ws.close(1000)
        assert reply is not None and reply[:2] == struct.pack("!H", 1000), reply
        assert ws.wait_eof(5), "httpd did not close the connection after the closing handshake"
    e = expect_status(srv.get("/echo/after-ws"), 200, "after", srv).json()
    assert e["path"] == "/echo/after-ws"


def test_websocket_extensions_not_seen_by_app(apache, standin_backend):
    srv = start_app(apache, standin_backend)
    ext = "permessage-deflate; client_max_window_bits"
    ws, head = ws_open(srv, standin_backend, "?ext=1", headers=[("Sec-WebSocket-Extensions", ext)])
    with ws:
        assert not head.has_header("Sec-WebSocket-Extensions"), head.headers
        assert head.header("X-Standin-Ws") == "1", head.headers
        payload = b"a" * 5000
        assert ws.echo(wsclient.OP_BINARY, payload) == (wsclient.OP_BINARY, payload)
        ws.close()
    seen = srv.get("/fwd/ws-seen").json()["handshakes"][-1]
    names = [k.lower() for k, _ in seen]
    assert "sec-websocket-extensions" not in names, seen
    assert "sec-websocket-key" in names and "sec-websocket-version" in names, seen
    assert [v for k, v in seen if k.lower() == "upgrade"] == ["websocket"], seen


@pytest.mark.expect_log(r"too many WebSocket connections")
def test_websocket_close_either_side_frees_the_tunnel(apache, backend):
    """With room for one WebSocket only, a new one opens only once the previous tunnel has
    really ended: after a client-initiated close and (stand-in) a server-initiated one."""
    srv = start_app(apache, backend, prefix="AspNetCoreMaxWebSockets 1\n")

    def open_when_free():
        ws, head = wsclient.connect(srv.port, ws_path(backend), timeout=30)
        if ws is None:
            assert head.status == 503, (head.status, head.body[:200])
        return ws

    ws = ws_open(srv, backend)[0]
    ws.echo(wsclient.OP_TEXT, "one")
    ws.close()
    assert ws.wait_eof(5)
    ws.abort()
    ws = wait_until(open_when_free, 5, "a WebSocket after a client-initiated close")
    assert ws.echo(wsclient.OP_TEXT, "two") == (wsclient.OP_TEXT, b"two")
    if not backend.real:
        ws.send_text("server-close")
        op, payload = ws.recv_message()
        assert op == wsclient.OP_CLOSE and payload == struct.pack("!H", 1000) + b"bye", (op, payload)
        ws.send_close(1000)
        assert ws.wait_eof(5), "httpd did not close after a server-initiated close"
        ws.abort()
        ws = wait_until(open_when_free, 5, "a WebSocket after a server-initiated close")
        assert ws.echo(wsclient.OP_TEXT, "three") == (wsclient.OP_TEXT, b"three")
    ws.close()
    ws.abort()
    for i in range(3):
        e = expect_status(srv.get("/echo/after-%d" % i), 200, "after", srv).json()
        assert e["path"] == "/echo/after-%d" % i


def test_websocket_idle_timeout(apache, backend):
    srv = start_app(apache, backend, extra="AspNetCoreWebSocketIdleTimeout 1")
    # traffic every 0.3 s keeps it open well past the idle timeout
    ws = ws_open(srv, backend)[0]
    with ws:
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < 2.2:
            assert ws.echo(wsclient.OP_TEXT, "tick %d" % i) == (wsclient.OP_TEXT, b"tick %d" % i)
            i += 1
            time.sleep(0.3)          # the traffic pattern under test, not a synchronisation
        ws.close()
    # silence: closed after about a second
    ws = ws_open(srv, backend)[0]
    with ws:
        assert ws.echo(wsclient.OP_TEXT, "once") == (wsclient.OP_TEXT, b"once")
        t0 = time.monotonic()
        closed = ws.wait_eof(6)
        took = time.monotonic() - t0
    assert closed and 0.8 <= took <= 3.0, (closed, took)
    e = expect_status(srv.get("/echo/after-idle"), 200, "after", srv).json()
    assert e["path"] == "/echo/after-idle"


@pytest.mark.expect_log(r"too many WebSocket connections")
def test_websocket_cap(apache, backend):
    srv = start_app(apache, backend, prefix="AspNetCoreMaxWebSockets 2\n")
    ws1, ws2 = ws_open(srv, backend)[0], ws_open(srv, backend)[0]
    try:
        ws, head = wsclient.connect(srv.port, ws_path(backend), timeout=30)
        assert ws is None and head.status == 503, (head.status, head.headers)
        assert head.header("Retry-After"), head.headers
        # the two open ones are unaffected
        assert ws1.echo(wsclient.OP_TEXT, "a") == (wsclient.OP_TEXT, b"a")
        assert ws2.echo(wsclient.OP_TEXT, "b") == (wsclient.OP_TEXT, b"b")
        ws1.close()
        assert ws1.wait_eof(5)

        def third():
            ws, head = wsclient.connect(srv.port, ws_path(backend), timeout=30)
            assert ws is not None or head.status == 503, head.status
            return ws
        ws3 = wait_until(third, 5, "a place for a third WebSocket once one closed")
        with ws3:
            assert ws3.echo(wsclient.OP_TEXT, "c") == (wsclient.OP_TEXT, b"c")
            assert ws2.echo(wsclient.OP_TEXT, "d") == (wsclient.OP_TEXT, b"d")
            ws3.close()
        ws2.close()
    finally:
        ws1.abort()
        ws2.abort()


# --- request smuggling -------------------------------------------------------------------------

def smug(name):
    """The request a case tries to hide in its body."""
    return b"GET /echo/smuggled-%s HTTP/1.1\r\nHost: x\r\n\r\n" % name


def smuggling_cases():
    """(name, raw bytes): requests with ambiguous framing, each hiding smug(name) where a
    parser that reads the framing differently would find a second request."""
    def h(name):
        return b"POST /echo/%s HTTP/1.1\r\nHost: x\r\n" % name

    def chunked(S):
        return b"%x\r\n%s\r\n0\r\n\r\n" % (len(S), S)

    cases = [
        ("cl-te", lambda n, S: h(n) + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"0\r\n\r\n" % (5 + len(S)) + S),
        ("te-cl", lambda n, S: h(n) + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
         + chunked(S)),
        ("cl-cl", lambda n, S: h(n) + b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n" % len(S) + S),
        ("cl-list", lambda n, S: h(n) + b"Content-Length: 0, %d\r\n\r\n" % len(S) + S),
        ("cl-plus", lambda n, S: h(n) + b"Content-Length: +%d\r\n\r\n" % len(S) + S),
        ("te-te", lambda n, S: h(n) + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
         + chunked(S)),
        ("te-identity", lambda n, S: h(n) + b"Transfer-Encoding: identity, chunked\r\n"
         b"Content-Length: %d\r\n\r\n" % len(S) + S),
        ("te-xchunked", lambda n, S: h(n) + b"Transfer-Encoding: xchunked\r\nContent-Length: %d\r\n\r\n"
         % len(S) + S),
        ("te-space", lambda n, S: h(n) + b"Transfer-Encoding : chunked\r\nContent-Length: %d\r\n\r\n"
         % len(S) + S),
        ("chunk-0x", lambda n, S: h(n) + b"Transfer-Encoding: chunked\r\n\r\n0x10\r\n" + S[:16]
         + b"\r\n0\r\n\r\n" + S),
        ("chunk-neg", lambda n, S: h(n) + b"Transfer-Encoding: chunked\r\n\r\n-1\r\n" + S + b"\r\n0\r\n\r\n"),
        ("chunk-huge", lambda n, S: h(n) + b"Transfer-Encoding: chunked\r\n\r\n"
         b"10000000000000001\r\n" + S + b"\r\n0\r\n\r\n"),
        ("chunk-bare-lf", lambda n, S: h(n) + b"Transfer-Encoding: chunked\r\n\r\n"
         b"%x\n%s\n0\n\n" % (len(S), S) + S),
        ("head-bare-lf", lambda n, S: b"POST /echo/%s HTTP/1.1\nHost: x\nContent-Length: %d\n"
         b"Transfer-Encoding: chunked\n\n0\n\n" % (n, 5 + len(S)) + S),
        ("obs-fold", lambda n, S: h(n) + b"X-Fold: a\r\n Transfer-Encoding: chunked\r\n"
         b"Content-Length: %d\r\n\r\n" % len(S) + S),
        ("fold-te", lambda n, S: h(n) + b"Transfer-Encoding:\r\n chunked\r\nContent-Length: %d\r\n\r\n"
         % (5 + len(S)) + b"0\r\n\r\n" + S),
        ("nul", lambda n, S: h(n) + b"X-Nul: a\x00Content-Length: 0\r\nContent-Length: %d\r\n\r\n"
         % len(S) + S),
        ("bare-cr", lambda n, S: h(n) + b"X-CR: a\rContent-Length: 0\r\nContent-Length: %d\r\n\r\n"
         % len(S) + S),
        ("bare-cr-te", lambda n, S: h(n) + b"X-CR: a\rTransfer-Encoding: chunked\r\n"
         b"Content-Length: %d\r\n\r\n" % (5 + len(S)) + b"0\r\n\r\n" + S),
    ]
    return [(name, build(name.encode(), smug(name.encode()))) for name, build in cases]


def test_no_request_smuggling(apache, standin_backend):
    """Ambiguous framing is refused by httpd or forwarded with one unambiguous framing:
    the app never sees a request httpd did not see, and never two framing fields."""
    srv = start_app(apache, standin_backend, env={"STANDIN_RECORD_REQUESTS": "1"})
    bport = backend_port(srv)
    srv.get("/fwd/log?clear=1")
    outcomes, problems = [], []
    for name, raw in smuggling_cases():
        line0 = len(srv.access_log().splitlines())
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        try:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)      # nothing more: httpd answers what it has, then closes
            data, closed = read_all(s, 10.0)
        finally:
            s.close()
        statuses = [int(x) for x in re.findall(rb"(?:^|\r\n)HTTP/1\.[01] (\d{3}) ", data)]
        final = [st for st in statuses if st >= 200]

        def logged():
            # (the test's own /fwd/ requests are left out: one of the case before may be
            # logged only after line0 was counted)
            lines = [l[1] for l in access_log_lines(srv, line0) if " /fwd/" not in l[1]]
            return len(lines) >= len(final) and lines
        seen_by_httpd = wait_until(logged, 5, "access log lines of case %s" % name) if final else []
        seen_targets = [l.split(" ")[1] if l.count(" ") >= 2 else l for l in seen_by_httpd]
        # what the app received, once it is done with it: every connection httpd closed
        # has been read to its end by the app (none left in CLOSE_WAIT at the app), and it
        # has no request in hand but the one asking
        def app_done():
            if any(e.local_port == bport and e.state == "CLOSE_WAIT" for e in procs.tcp_entries()):
                return False
            c = srv.get("/fwd/conns").json()
            return c["busy"] <= 1 and all(x.get("finished") for x in srv.get("/fwd/log").json()["requests"])
        wait_until(app_done, 10, "the app to finish the requests of case %s" % name)
        log = [x for x in srv.get("/fwd/log?clear=1").json()["requests"]
               if not x["target"].startswith("/fwd/")]        # not the test's own questions
        outcomes.append("%-14s client got %-10s httpd logged %-42s app got %s" % (
            name, statuses, [l.strip() for l in seen_by_httpd],
            [(x["method"], x["target"], "answered" if x.get("answered") else "cut off",
              [(k, v) for k, v in x["headers"] if k.lower() in ("content-length", "transfer-encoding")])
             for x in log]))
        for x in log:
            if x["target"] not in seen_targets:
                problems.append("%s: the app received %s %s, which httpd never saw as a request"
                                % (name, x["method"], x["target"]))
            framing = [(k, v) for k, v in x["headers"] if k.lower() in ("content-length", "transfer-encoding")]
            if len(framing) > 1:
                problems.append("%s: the app got %d framing fields: %r" % (name, len(framing), framing))
            for k, v in x["headers"]:
                if any(ch in v for ch in "\r\n\0"):
                    problems.append("%s: a header value with CR/LF/NUL reached the app: %r" % (name, (k, v)))
        if not statuses:
            problems.append("%s: no response at all (%r)" % (name, data[:200]))
        for st in statuses:
            if st not in (200, 400, 411, 413, 501):
                problems.append("%s: unexpected status %d" % (name, st))
        answered = [x["target"] for x in log if x.get("answered")]
        if len(answered) > len([st for st in final if st < 300]):
            problems.append("%s: the app handled %s to the end, but the client got %s"
                            % (name, answered, final))
        smuggled_app = [x for x in log if "smuggled" in x["target"]]
        smuggled_httpd = [l for l in seen_by_httpd if "smuggled" in l]
        if len(smuggled_app) > len(smuggled_httpd):
            problems.append("%s: SMUGGLED: the app got %d smuggled request(s), httpd saw %d"
                            % (name, len(smuggled_app), len(smuggled_httpd)))
    print("\n".join(outcomes))
    assert not problems, "\n".join(problems) + "\n--- outcomes ---\n" + "\n".join(outcomes)
    expect_status(srv.get("/echo/after"), 200, "after", srv)
