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

import procs
from rigutil import wait_until, expect_status

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
