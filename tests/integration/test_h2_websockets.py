"""WebSockets over HTTP/2 (RFC 8441; issue 12 point 4).

With `H2WebSockets on`, mod_http2 answers a client's extended CONNECT (:protocol websocket)
by running the request as the GET of an HTTP/1.1 handshake (Upgrade, Connection, a
Sec-WebSocket-Key of its own) on a secondary connection that has no socket, and turns the
app's 101 into the 200 the client waits for. The module must send the app that handshake
without a body (mod_http2 announces one: Transfer-Encoding: chunked, ended at once; Kestrel
answers 400 to an upgrade with a body) and relay the tunnel through the stream's filters,
polling the pipe mod_http2 offers (ap_get_pollfd_from_conn) instead of a socket.

The client is tests/integration/h2ws_client.js (node's built-in http2 module, WebSocket
framing done by hand): over TLS with ALPN h2, and over h2c with prior knowledge. The
HTTP/1.1 ws and wss paths are tested in test_forwarding.py and test_realapp_*.py.
"""

import json
import os
import shutil
import subprocess
import threading
import time

import pytest

import base64

import httpclient
import procs
import tlsutil
import wsclient
from rigutil import free_port, wait_until, expect_status
from test_faults import Resources, assert_no_fd_leak

NODE = shutil.which("node")
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "h2ws_client.js")
MODULES = ("http2",) + tlsutil.TLS_MODULES
H2_CONF = "Protocols h2 h2c http/1.1\nH2WebSockets on\n"
STATUS = "<Location /aspnetcore-status>\n    SetHandler aspnetcore-status\n</Location>\n"
FIRST_REQUEST_TIMEOUT = 60.0
MIB = 1 << 20

# mod_http2 turns HTTP/2 off under prefork (AH10034: "the HTTP/2 protocol will be inactive";
# no h2 in TLS's ALPN), so these run under the threaded MPMs only.
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="SKIPPED LOUDLY: node (Node.js 20) is needed for "
                       "the HTTP/2 WebSocket client and is not installed"),
    pytest.mark.mpms("event", "worker"),
]


# --- helpers -------------------------------------------------------------------------------

class H2Server:
    """httpd with mod_http2 (h2c on the plain port, h2 on a TLS port) and one app, declared
    in the main server (the TLS virtual host inherits it)."""

    def __init__(self, apache, app, prefix="", warmup="/"):
        self.tls_port = free_port()
        directives = app.directives()
        body = (H2_CONF + prefix + STATUS + directives + "\n" + tlsutil.listen_line(self.tls_port)
                + "\n" + tlsutil.ssl_vhost(self.tls_port, ""))
        self.srv = apache.start(body, modules=MODULES)
        expect_status(self.srv.get(warmup, timeout=FIRST_REQUEST_TIMEOUT), 200, "first request",
                      self.srv)

    def url(self, transport):
        if transport == "h2":
            return "https://127.0.0.1:%d" % self.tls_port
        return "http://127.0.0.1:%d" % self.srv.port

    def tunnels_open(self):
        doc = json.loads(expect_status(self.srv.get("/aspnetcore-status?json", timeout=10), 200,
                                       "the status page", self.srv).body)
        return doc["websockets"]["open"]


class H2Client:
    """One run of h2ws_client.js: one HTTP/2 connection, its streams run at once."""

    def __init__(self, url, streams, timeout_ms=60000):
        spec = {"url": url, "ca": tlsutil.tls_material().ca, "timeout_ms": timeout_ms,
                "streams": streams}
        self.proc = subprocess.Popen([NODE, CLIENT, json.dumps(spec)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.events = []
        self.result = None

    def next_event(self, timeout=60):
        """The next JSON line the client prints (bounded wait)."""
        box = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        assert box and box[0], "h2ws_client.js printed nothing within %d s (stderr: %s)" % (
            timeout, self._stderr())
        ev = json.loads(box[0])
        self.events.append(ev)
        if ev.get("done"):
            self.result = ev
        return ev

    def wait_for(self, event, tag=None, timeout=60):
        while True:
            ev = self.next_event(timeout)
            if ev.get("event") == event and (tag is None or ev.get("tag") == tag):
                return ev
            assert not ev.get("done"), "the client finished before %s %s: %s" % (event, tag, ev)

    def go_on(self):
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def finish(self, timeout=120):
        while self.result is None:
            self.next_event(timeout)
        self.proc.wait(10)
        return self.result

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def _stderr(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode("utf-8", "replace")[-2000:]


def run_client(url, streams, timeout_ms=60000):
    c = H2Client(url, streams, timeout_ms)
    try:
        res = c.finish()
    finally:
        c.kill()
    assert not res.get("error"), res
    assert res["settings"].get("enableConnectProtocol"), res["settings"]
    return res


def ok_stream(res, i):
    s = res["streams"][i]
    assert s["status"] == 200, "stream %d: %s" % (i, s)
    assert s["error"] is None, "stream %d: %s" % (i, s)
    return s


def http1_websocket(port, path, tls):
    """A WebSocket over HTTP/1.1 (wss with ALPN http/1.1 when tls) - the paths that worked
    before HTTP/2, on the same server."""
    conn = httpclient.RawConnection(port, timeout=30)
    if tls:
        conn.sock = tlsutil.client_context(alpn=["http/1.1"]).wrap_socket(
            conn.sock, server_hostname="127.0.0.1")
    key = base64.b64encode(os.urandom(16)).decode()
    conn.send(conn.build_request("GET", path, [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13")]))
    head = conn.read_head()
    assert head.status == 101, (head.status, head.headers)
    assert head.header("Sec-WebSocket-Accept") == wsclient.accept_key(key), head.headers
    return wsclient.WebSocket(conn)


def standin_busy(h2srv):
    """Requests the stand-in is handling now, this one included (a tunnel counts as one)."""
    return h2srv.srv.get("/fwd/conns", timeout=10).json()["busy"]


def children_cpu_seconds(srv):
    """CPU time (user + system) used so far by the httpd children, all threads."""
    total = 0
    for p in procs.mpm_children(srv.pid):
        try:
            with open("/proc/%d/stat" % p.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])      # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


# --- tests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["h2", "h2c"])
def test_h2_websocket_echo_large_messages_and_both_closes(apache, real_app, transport):
    """The real app's /ws over an HTTP/2 stream: small and 1 MiB messages both ways (sent in
    64 KiB fragments), a ping, and the closing handshake started by the client on one stream
    and by the app ("close-please") on another, each ending the stream."""
    h2 = H2Server(apache, real_app, warmup="/whoami")
    res = run_client(h2.url(transport), [
        {"path": "/ws", "steps": [
            {"op": "echo", "type": "text", "data": "hello over h2"},
            {"op": "ping", "data": "are you there"},
            {"op": "echo", "type": "binary", "random": MIB, "fragment": 65536},
            {"op": "echo", "type": "text", "data": "gr\u00fc\u00dfe ", "repeat": 20000},
            {"op": "echo", "type": "binary", "random": 0},
            {"op": "close", "code": 1000}]},
        {"path": "/ws", "steps": [
            {"op": "echo", "type": "text", "data": "second"},
            {"op": "send_text", "data": "close-please"},
            {"op": "expect_close"}]},
    ])
    if transport == "h2":
        assert res["alpn"] == "h2", res
    first, second = ok_stream(res, 0), ok_stream(res, 1)
    for r in first["results"] + second["results"]:
        assert r["ok"], (r, res)
    big = first["results"][2]
    assert big["sent"] == MIB and big["got"] == MIB and big["sha_ok"], big
    print("1 MiB echoed over %s in %d ms (64 KiB fragments)" % (transport, big["ms"]))
    close = first["results"][-1]
    assert close["code"] == 1000 and close["ended"], close
    server_close = second["results"][-1]
    assert server_close["code"] == 1000 and server_close["reason"] == "server closing", server_close
    assert server_close["ended"], server_close
    wait_until(lambda: h2.tunnels_open() == 0, 10, "the tunnels to be counted closed")
    # WebSockets over HTTP/1.1 (ws, and wss on the TLS port) still work on this server
    port, tls = (h2.tls_port, True) if transport == "h2" else (h2.srv.port, False)
    with http1_websocket(port, "/ws", tls) as ws:
        assert ws.echo(wsclient.OP_TEXT, "over http/1.1") == (wsclient.OP_TEXT, b"over http/1.1")
        big = os.urandom(MIB)
        t0 = time.monotonic()
        assert ws.echo(wsclient.OP_BINARY, big, fragment=65536) == (wsclient.OP_BINARY, big)
        print("1 MiB echoed over HTTP/1.1%s in %d ms" % (" + TLS" if tls else "",
                                                        (time.monotonic() - t0) * 1000))
        reply = ws.close(1000)
        assert reply is not None and reply[:2] == b"\x03\xe8", reply
        assert ws.wait_eof(5), "httpd did not close the connection after the closing handshake"


def test_h2_websocket_concurrent_streams_and_a_get_meanwhile(apache, real_app):
    """Four WebSockets at once on one HTTP/2 connection, each echoing its own traffic, and
    plain GETs on that connection while they are open."""
    h2 = H2Server(apache, real_app, warmup="/whoami")
    streams = []
    for i in range(4):
        streams.append({"path": "/ws", "steps": [
            {"op": "echo", "type": "text", "data": "stream %d" % i},
            {"op": "echo", "type": "binary", "random": 256 * 1024 + i, "fragment": 32768},
            {"op": "get", "path": "/whoami"},
            {"op": "echo", "type": "text", "data": "stream %d again" % i},
            {"op": "close", "code": 1000}]})
    res = run_client(h2.url("h2"), streams)
    for i in range(4):
        s = ok_stream(res, i)
        assert [r["ok"] for r in s["results"] if "ok" in r] == [True] * 4, s
        get = s["results"][2]
        assert get["status"] == 200 and json.loads(get["body"])["scheme"] == "https", get
        assert s["results"][1]["got"] == 256 * 1024 + i, s["results"][1]
    wait_until(lambda: h2.tunnels_open() == 0, 10, "the tunnels to be counted closed")


@pytest.mark.every_mpm
@pytest.mark.also_mpms("worker")
@pytest.mark.parametrize("transport", ["h2", "h2c"])
def test_h2_websocket_handshake_reset_and_gone_client(apache, standin_backend, transport):
    """What the app gets (a GET handshake without a body, with mod_http2's key and the
    client's version), a server-initiated close, then: a stream the client resets closes
    the app's connection while the HTTP/2 connection lives on; a client that goes away
    altogether closes it too; nothing is left behind."""
    h2 = H2Server(apache, standin_backend, warmup="/echo/warmup")
    before = Resources(h2.srv)
    res = run_client(h2.url(transport), [{"path": "/fwd/ws", "steps": [
        {"op": "echo", "type": "text", "data": "hi"},
        {"op": "send_text", "data": "server-close"},
        {"op": "expect_close"}]}])
    s = ok_stream(res, 0)
    assert all(r["ok"] for r in s["results"]), s
    assert s["results"][-1]["code"] == 1000 and s["results"][-1]["ended"], s
    seen = h2.srv.get("/fwd/ws-seen").json()["handshakes"][-1]
    names = [k.lower() for k, _ in seen]
    assert "transfer-encoding" not in names and "content-length" not in names, seen
    assert [v for k, v in seen if k.lower() == "upgrade"] == ["websocket"], seen
    assert [v.lower() for k, v in seen if k.lower() == "connection"] == ["upgrade"], seen
    assert [v for k, v in seen if k.lower() == "sec-websocket-version"] == ["13"], seen
    assert len([v for k, v in seen if k.lower() == "sec-websocket-key"]) == 1, seen
    proto = [v for k, v in seen if k.lower() == "x-forwarded-proto"]
    assert proto == ["https" if transport == "h2" else "http"], seen
    # the closed tunnel's handler and the module's count end just after the close frame:
    # idle is the status request alone
    wait_until(lambda: h2.tunnels_open() == 0, 5, "the first tunnel to be counted closed")
    idle_busy = 1
    wait_until(lambda: standin_busy(h2) == idle_busy, 5,
               "the app to handle no request but the one that asks")

    # a reset stream
    c = H2Client(h2.url(transport), [{"path": "/fwd/ws", "steps": [
        {"op": "echo", "type": "text", "data": "before reset"},
        {"op": "wait_stdin", "tag": "open"},
        {"op": "reset"},
        {"op": "wait_stdin", "tag": "reset"},
        {"op": "get", "path": "/echo/after-reset"}]}])
    try:
        c.wait_for("waiting", "open")
        wait_until(lambda: standin_busy(h2) == idle_busy + 1, 5,
                   "the tunnel to be handled by the app")
        wait_until(lambda: h2.tunnels_open() == 1, 5, "the tunnel to be counted open")
        c.go_on()
        c.wait_for("waiting", "reset")
        wait_until(lambda: standin_busy(h2) == idle_busy, 5,
                   "the app's connection to be closed after the client reset the stream")
        wait_until(lambda: h2.tunnels_open() == 0, 5, "the tunnel to be counted closed")
        c.go_on()
        res = c.finish()
    finally:
        c.kill()
    s = res["streams"][0]
    assert s["results"][0]["ok"] and s["results"][-1].get("status") == 200, s

    # a client that goes away (its TCP connection closed) with a tunnel open
    c = H2Client(h2.url(transport), [{"path": "/fwd/ws", "steps": [
        {"op": "echo", "type": "text", "data": "then gone"},
        {"op": "wait_stdin", "tag": "open"}]}])
    try:
        c.wait_for("waiting", "open")
        wait_until(lambda: standin_busy(h2) == idle_busy + 1, 5,
                   "the second tunnel to be handled by the app")
    finally:
        c.kill()
    wait_until(lambda: standin_busy(h2) == idle_busy, 10,
               "the app's connection to be closed after the client went away")
    wait_until(lambda: h2.tunnels_open() == 0, 5, "the tunnel to be counted closed")
    assert_no_fd_leak(h2.srv, before, "after the HTTP/2 WebSockets")


def test_h2_websocket_idle_tunnel_burns_no_cpu(apache, standin_backend):
    """An open tunnel over HTTP/2 with no traffic waits on the stream's pipe: the secondary
    connection's socket is a stand-in that is always 'ready', and polling it spun a core."""
    h2 = H2Server(apache, standin_backend, warmup="/echo/warmup")
    c = H2Client(h2.url("h2"), [{"path": "/fwd/ws", "steps": [
        {"op": "echo", "type": "text", "data": "then quiet"},
        {"op": "wait_stdin", "tag": "open"},
        {"op": "echo", "type": "text", "data": "still there"},
        {"op": "close", "code": 1000}]}])
    try:
        c.wait_for("waiting", "open")
        cpu0, t0 = children_cpu_seconds(h2.srv), time.monotonic()
        time.sleep(2.0)                 # the measuring window, not a synchronisation
        used, took = children_cpu_seconds(h2.srv) - cpu0, time.monotonic() - t0
        c.go_on()
        res = c.finish()
    finally:
        c.kill()
    print("idle tunnel: %.3f s CPU in %.1f s" % (used, took))
    assert used < 0.2, "httpd's children used %.2f s of CPU in %.1f s with an idle tunnel" % (
        used, took)
    s = ok_stream(res, 0)
    assert all(r["ok"] for r in s["results"]), s


@pytest.mark.parametrize("transport", ["h2", "http/1.1"])
def test_websocket_outlives_the_request_read_timeout(apache, standin_backend, transport):
    """mod_reqtimeout (on in Debian's default configuration: body=20,MinRate=500) times the
    reads of a request's body; a tunnel's reads are no body, and a WebSocket silent for longer
    than that must stay open (mod_proxy_wstunnel takes the filter out as well). Here body=1."""
    h2 = H2Server(apache, standin_backend, warmup="/echo/warmup",
                  prefix="LoadModule reqtimeout_module {modules_dir}/mod_reqtimeout.so\n"
                         "RequestReadTimeout handshake=0 header=10 body=1\n")
    quiet = 2.5                         # silence longer than body=1: the pattern under test
    if transport == "http/1.1":
        with http1_websocket(h2.srv.port, "/fwd/ws", False) as ws:
            assert ws.echo(wsclient.OP_TEXT, "before") == (wsclient.OP_TEXT, b"before")
            time.sleep(quiet)
            assert ws.echo(wsclient.OP_TEXT, "after") == (wsclient.OP_TEXT, b"after")
            ws.close()
        return
    c = H2Client(h2.url("h2"), [{"path": "/fwd/ws", "steps": [
        {"op": "echo", "type": "text", "data": "before"},
        {"op": "wait_stdin", "tag": "quiet"},
        {"op": "echo", "type": "text", "data": "after"},
        {"op": "close", "code": 1000}]}])
    try:
        c.wait_for("waiting", "quiet")
        time.sleep(quiet)
        c.go_on()
        res = c.finish()
    finally:
        c.kill()
    s = ok_stream(res, 0)
    assert [r["ok"] for r in s["results"]] == [True] * 4, s


def test_h2_websocket_idle_timeout(apache, standin_backend):
    """AspNetCoreWebSocketIdleTimeout over HTTP/2: traffic every 0.3 s keeps the tunnel open
    past the timeout; silence ends the stream after about a second."""
    h2 = H2Server(apache, standin_backend, warmup="/echo/warmup",
                  prefix="AspNetCoreWebSocketIdleTimeout 1\n")
    steps = []
    for i in range(7):
        steps += [{"op": "echo", "type": "text", "data": "tick %d" % i},
                  {"op": "pause", "ms": 300}]
    steps[-1] = {"op": "wait_end"}      # silence from the last echo on
    res = run_client(h2.url("h2"), [{"path": "/fwd/ws", "steps": steps}])
    s = ok_stream(res, 0)
    assert all(r["ok"] for r in s["results"]), s
    took = s["results"][-1]["ms"] / 1000.0
    assert 0.8 <= took <= 3.0, "the silent tunnel ended after %.2f s (idle timeout 1 s)" % took
    wait_until(lambda: h2.tunnels_open() == 0, 5, "the tunnel to be counted closed")


def test_h2_websocket_handshake_with_a_body_is_refused(apache, standin_backend):
    """An extended CONNECT that says it has a body (Content-Length) is no WebSocket handshake
    the module sends on: 400, nothing reaches the app, and the connection serves on."""
    h2 = H2Server(apache, standin_backend, warmup="/echo/warmup")
    handshakes = len(h2.srv.get("/fwd/ws-seen").json()["handshakes"])
    res = run_client(h2.url("h2"), [
        {"path": "/fwd/ws", "headers": {"content-length": "5"}, "steps": []},
        {"path": "/fwd/ws", "steps": [{"op": "echo", "type": "text", "data": "fine"},
                                      {"op": "close", "code": 1000}]}])
    assert res["streams"][0]["status"] == 400, res["streams"][0]
    s = ok_stream(res, 1)
    assert all(r["ok"] for r in s["results"]), s
    assert len(h2.srv.get("/fwd/ws-seen").json()["handshakes"]) == handshakes + 1
    wait_until(lambda: h2.tunnels_open() == 0, 5, "the tunnels to be counted closed")
