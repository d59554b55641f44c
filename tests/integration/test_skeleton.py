"""Milestone 1 of mod_aspnetcore: directives, supervisor-owned backends, the ANCM env and
header contract, proxying of methods/bodies/streams, keep-alive reuse, crash restart and
clean stop.  Every test runs under each MPM in ASPNETCORE_TEST_MPMS and, where it makes
sense, against both the Python stand-in and the real ASP.NET Core sample app.
"""

import hashlib
import os
import time

import pytest

import httpclient
import procs
from backends import echo_headers, header_values, parse_env, parse_pid
from rigutil import wait_until

# MPM-sensitive: runs under prefork (one thread per process, pools per child) even where the
# test command narrows the MPMs (conftest.py); worker's threaded request path is the event
# MPM's, and test_forwarding.py and test_request_path.py run it under worker too
pytestmark = pytest.mark.every_mpm("prefork")

WWW_DATA_UID = 33
FIRST_REQUEST_TIMEOUT = 60.0      # the first request may have to wait for the backend to start


# --- helpers -------------------------------------------------------------------------------

def server_config(backend, **kw):
    return backend.directives(**kw)


def vhost_config(backend, **kw):
    return """
<VirtualHost 127.0.0.1:{port}>
    ServerName static.test
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName app.test
%s
</VirtualHost>
""" % _indent(backend.directives(**kw))


def location_config(backend, path="/shop", **kw):
    return """
<Location %s>
%s
</Location>
""" % (path, _indent(backend.directives(**kw)))


def _indent(text):
    return "\n".join("    " + l for l in text.splitlines())


def expect_ok(resp, what, srv=None):
    if resp.status != 200:
        raise AssertionError("%s: expected 200, got %s %s: %r%s" % (
            what, resp.status, resp.reason, resp.body[:500],
            ("\n--- error.log tail ---\n" + srv.log_tail(25)) if srv else ""))
    return resp


def get_ok(srv, path, timeout=FIRST_REQUEST_TIMEOUT, **kw):
    return expect_ok(srv.get(path, timeout=timeout, **kw), "GET %s" % path, srv)


def echo(srv, path="/echo", method="GET", headers=None, body=None, **kw):
    r = srv.request(method, path, headers=headers, body=body, timeout=FIRST_REQUEST_TIMEOUT, **kw)
    return expect_ok(r, "%s %s" % (method, path), srv).json()


def app_env(srv, prefix=""):
    return parse_env(get_ok(srv, prefix + "/env"))


def app_pid(srv, prefix=""):
    return parse_pid(get_ok(srv, prefix + "/pid"))


def is_apache_404(resp):
    return resp.status == 404 and b"<title>404 Not Found</title>" in resp.body


def one_header(echo_json, name):
    vals = header_values(echo_json, name)
    assert len(vals) == 1, "backend saw %d %s header(s): %r; all headers: %r" % (
        len(vals), name, vals, echo_headers(echo_json))
    return vals[0]


def supervisor_of(srv, backend_pid):
    """Check backend -> supervisor -> httpd parent and return the supervisor pid."""
    table = procs.all_procs()
    chain = procs.ancestors(backend_pid, table)
    assert len(chain) >= 2 and chain[1] == srv.pid, (
        "backend %d is not a grandchild of the httpd parent %d; ancestors %s:\n  %s" % (
            backend_pid, srv.pid, chain, "\n  ".join(procs.describe(p) for p in [backend_pid] + chain)))
    return chain[0]


# --- where an app can be defined ------------------------------------------------------------

def test_app_in_server_config(apache, backend):
    srv = apache.start(server_config(backend))
    r = get_ok(srv, "/")
    if backend.real:
        assert b"Hello from ASP.NET Core" in r.body, r.body[:300]
    else:
        assert r.body == b"hello from standin\n"
    e = echo(srv, "/echo/x?y=1")
    assert e["backend"] == backend.name
    assert e["path_base"] == "" and e["path"] == "/echo/x" and e["query"] == "?y=1", e
    assert app_env(srv)["ASPNETCORE_APPL_PATH"] == "/"


def test_app_in_virtualhost(apache, backend):
    srv = apache.start(vhost_config(backend))
    e = echo(srv, "/echo", headers={"Host": "app.test"})
    assert e["backend"] == backend.name and e["host"] == "app.test", e
    # the other (default) vhost has no app: static files, and /echo is Apache's 404
    for host in ("static.test", "unknown.test"):
        r = srv.get("/", headers={"Host": host})
        assert r.status == 200 and r.body.startswith(b"static index"), (host, r, r.body[:200])
        r = srv.get("/echo", headers={"Host": host})
        assert is_apache_404(r), (host, r, r.body[:300])


def test_app_in_location(apache, backend):
    srv = apache.start(location_config(backend, "/shop"))
    e = echo(srv, "/shop/echo/item?id=7")
    assert e["backend"] == backend.name
    assert e["path_base"] == "/shop" and e["path"] == "/echo/item" and e["query"] == "?id=7", e
    assert e["raw_target"] == "/shop/echo/item?id=7", e
    assert app_env(srv, "/shop")["ASPNETCORE_APPL_PATH"] == "/shop"
    # outside /shop nothing is forwarded
    r = srv.get("/")
    assert r.status == 200 and r.body.startswith(b"static index"), (r, r.body[:200])
    for path in ("/echo", "/shopping/echo", "/sho"):
        r = srv.get(path)
        assert is_apache_404(r), (path, r, r.body[:300])


def test_two_locations_are_two_apps(apache, backend):
    srv = apache.new(location_config(backend, "/a", app_root="{tmp}/a", env={"APP_NAME": "alpha"}) +
                     location_config(backend, "/b", app_root="{tmp}/b", env={"APP_NAME": "beta"}))
    dirs = [srv.mkdir("a"), srv.mkdir("b")]
    srv.start()
    ea, eb = app_env(srv, "/a"), app_env(srv, "/b")
    assert (ea["APP_NAME"], ea["ASPNETCORE_APPL_PATH"]) == ("alpha", "/a")
    assert (eb["APP_NAME"], eb["ASPNETCORE_APPL_PATH"]) == ("beta", "/b")
    assert ea["ASPNETCORE_PORT"] != eb["ASPNETCORE_PORT"]
    assert ea["ASPNETCORE_TOKEN"] != eb["ASPNETCORE_TOKEN"]
    pa, pb = app_pid(srv, "/a"), app_pid(srv, "/b")
    assert pa != pb
    assert [os.path.realpath(procs.cwd(p)) for p in (pa, pb)] == [os.path.realpath(d) for d in dirs]
    assert echo(srv, "/b/echo")["path_base"] == "/b"


# --- the environment contract -----------------------------------------------------------------

def test_env_contract(apache, backend):
    srv = apache.new(server_config(backend, app_root="{tmp}/approot",
                                   env={"MY_SETTING": "hello world", "ASPNETCORE_ENVIRONMENT": "Staging"}))
    approot = srv.mkdir("approot")
    srv.start()
    env = app_env(srv)
    port = int(env["ASPNETCORE_PORT"])
    assert 1024 <= port <= 65535 and port != srv.port, env["ASPNETCORE_PORT"]
    assert env["ASPNETCORE_APPL_PATH"] == "/"
    assert len(env["ASPNETCORE_TOKEN"]) >= 32, env["ASPNETCORE_TOKEN"]
    assert env["ASPNETCORE_IIS_HTTPAUTH"] == "anonymous;"
    assert env["ASPNETCORE_IIS_WEBSOCKETS_SUPPORTED"] in ("true", "false")
    assert env["MY_SETTING"] == "hello world"
    assert env["ASPNETCORE_ENVIRONMENT"] == "Staging"
    pid = app_pid(srv)
    assert os.path.realpath(procs.cwd(pid)) == os.path.realpath(approot)
    # the backend really listens on 127.0.0.1:ASPNETCORE_PORT
    assert pid in procs.listener_pids(port), "pid %d does not hold the listener of port %d (holders: %s)" % (
        pid, port, procs.listener_pids(port))
    # what the process was given, seen from outside (not only what the app reports)
    penv = procs.environ(pid)
    assert penv["ASPNETCORE_TOKEN"] == env["ASPNETCORE_TOKEN"]


# --- process ownership --------------------------------------------------------------------------

def test_backend_is_owned_by_supervisor_not_workers(apache, backend):
    srv = apache.start(server_config(backend))
    pids = set()
    for _ in range(8):       # separate connections, likely served by several workers
        pids.add(app_pid(srv))
    assert len(pids) == 1, "one app must have one backend process, got %s" % pids
    pid = pids.pop()
    sup = supervisor_of(srv, pid)
    workers = wait_until(srv.served_by, 10, "access log entries")
    assert sup not in workers, "the backend's parent %d served requests: it is a worker" % sup
    assert not set(procs.ancestors(pid)) & workers
    if os.geteuid() == 0:
        assert procs.uids(pid) == (WWW_DATA_UID,) * 4, procs.status_fields(pid)["Uid"]
        assert procs.gids(pid)[:2] == (33, 33), procs.status_fields(pid)["Gid"]
        assert procs.uids(sup)[:2] == (WWW_DATA_UID, WWW_DATA_UID), \
            "supervisor %d uids %s" % (sup, procs.status_fields(sup)["Uid"])


def test_backend_in_own_process_group(apache, standin_backend):
    """DESIGN: backends run in their own process group (stop signals go to the group)."""
    srv = apache.start(server_config(standin_backend))
    pid = app_pid(srv)
    info = procs.proc_info(pid)
    assert info.pgrp == pid, "backend %d is in process group %d" % (pid, info.pgrp)
    assert info.pgrp != procs.proc_info(srv.pid).pgrp


# --- header contract ----------------------------------------------------------------------------

def test_token_added_and_client_ms_headers_removed(apache, backend):
    srv = apache.start(server_config(backend))
    token = app_env(srv)["ASPNETCORE_TOKEN"]
    e = echo(srv, headers=[("MS-ASPNETCORE-TOKEN", "forged-by-client"),
                           ("MS-ASPNETCORE-FOO", "x"),
                           ("ms-aspnetcore-event", "shutdown"),
                           ("MS-ASPNETCORE-CLIENTCERT", "Zm9v"),
                           ("X-Keep", "kept")])
    assert one_header(e, "MS-ASPNETCORE-TOKEN") == token
    names = [k.lower() for k, _ in echo_headers(e)]
    assert [n for n in names if n.startswith("ms-aspnetcore") and n != "ms-aspnetcore-token"] == [], names
    assert one_header(e, "X-Keep") == "kept"
    # the app is still running (the forged shutdown event never reached it)
    assert echo(srv)["pid"] == e["pid"]


def test_iis_integration_accepts_our_token_only(apache, backend):
    """The app's IIS integration (the real one, or the stand-in's copy) accepts requests
    that came through httpd, and rejects the same request sent straight to its port."""
    srv = apache.start(location_config(backend, "/shop"))
    with srv.connect(timeout=FIRST_REQUEST_TIMEOUT) as c:
        e = expect_ok(c.request("GET", "/shop/echo/t?q=1"), "GET /shop/echo/t", srv).json()
        assert (e["path_base"], e["path"]) == ("/shop", "/echo/t"), e
        assert (e["remote_ip"], e["remote_port"], e["scheme"]) == ("127.0.0.1", c.local_port, "http"), e
    env = app_env(srv, "/shop")
    port, token = int(env["ASPNETCORE_PORT"]), env["ASPNETCORE_TOKEN"]
    direct = [("Host", "127.0.0.1:%d" % port)]
    r = httpclient.raw_request(port, "GET", "/shop/echo/t?q=1", direct)
    assert r.status == 400, "no token: %s %r" % (r.status, r.body[:200])
    r = httpclient.raw_request(port, "GET", "/shop/echo/t?q=1",
                               direct + [("MS-ASPNETCORE-TOKEN", token[:-1] + ("0" if token[-1] != "0" else "1"))])
    assert r.status == 400, "wrong token: %s %r" % (r.status, r.body[:200])
    r = httpclient.raw_request(port, "GET", "/shop/echo/t?q=1", direct + [("MS-ASPNETCORE-TOKEN", token)])
    assert r.status == 200 and r.json()["path_base"] == "/shop", (r, r.body[:200])


def test_forwarded_for_and_proto(apache, backend):
    srv = apache.start(server_config(backend))
    with srv.connect(timeout=FIRST_REQUEST_TIMEOUT) as c:
        r = c.request("GET", "/echo")
        e = expect_ok(r, "GET /echo", srv).json()
        cport = c.local_port
        assert one_header(e, "X-Forwarded-For") == "127.0.0.1:%d" % cport
        assert one_header(e, "X-Forwarded-Proto") == "http"
        assert (e["remote_ip"], e["remote_port"], e["scheme"]) == ("127.0.0.1", cport, "http"), e
        r = c.request("GET", "/echo", headers=[("X-Forwarded-For", "203.0.113.7"),
                                               ("X-Forwarded-Proto", "https")])
        e = expect_ok(r, "GET /echo with XFF", srv).json()
        assert one_header(e, "X-Forwarded-For") == "203.0.113.7, 127.0.0.1:%d" % cport
        assert one_header(e, "X-Forwarded-Proto") == "https, http"
        # IIS integration trusts only the last hop (ForwardLimit 1): us
        assert (e["remote_ip"], e["remote_port"], e["scheme"]) == ("127.0.0.1", cport, "http"), e


def test_host_header_kept(apache, backend):
    srv = apache.start(server_config(backend))
    e = echo(srv, headers={"Host": "Example.TEST:8080"})
    assert one_header(e, "Host") == "Example.TEST:8080"
    assert e["host"] == "Example.TEST:8080"


def test_hop_by_hop_headers_removed(apache, backend):
    srv = apache.start(server_config(backend))
    e = echo(srv, headers=[("Connection", "keep-alive, X-Foo"),
                           ("X-Foo", "must-go"),
                           ("X-Bar", "must-stay"),
                           ("Keep-Alive", "timeout=5"),
                           ("TE", "trailers"),
                           ("Proxy-Connection", "keep-alive")])
    names = {k.lower() for k, _ in echo_headers(e)}
    leaked = names & {"x-foo", "keep-alive", "te", "proxy-connection"}
    assert not leaked, "hop-by-hop headers forwarded: %s; all: %r" % (leaked, echo_headers(e))
    assert one_header(e, "X-Bar") == "must-stay"
    for v in header_values(e, "Connection"):
        assert "x-foo" not in v.lower(), v


@pytest.mark.parametrize("connection", [None, "Upgrade"])
def test_non_websocket_upgrade_not_forwarded(apache, backend, connection):
    srv = apache.start(server_config(backend))
    hdrs = [("Upgrade", "example/1")] + ([("Connection", connection)] if connection else [])
    e = echo(srv, headers=hdrs)
    assert header_values(e, "Upgrade") == [], echo_headers(e)
    assert not any("upgrade" in v.lower() for v in header_values(e, "Connection")), echo_headers(e)


RAW_TARGETS = [
    "/echo/a%2Fb%20c+d?x=1+2&y=%2F",
    "/echo/%41%42/~x;p=1?a=%41&&b=",
    "/echo/caf%C3%A9/%7e?q=%E2%82%AC&r=a%20b",
]


def test_raw_uri_forwarded_byte_for_byte(apache, backend):
    srv = apache.start("AllowEncodedSlashes NoDecode\n" + server_config(backend) +
                       "\n" + location_config(backend, "/shop", app_root="{app}"))
    for target in RAW_TARGETS:
        for prefix in ("", "/shop"):
            r = srv.raw_request("GET", prefix + target, timeout=FIRST_REQUEST_TIMEOUT)
            e = expect_ok(r, "GET " + prefix + target, srv).json()
            assert e["raw_target"] == prefix + target, e
            assert e["path_base"] == prefix, e


def test_response_cookies_and_status_passthrough(apache, backend):
    srv = apache.start(server_config(backend))
    r = get_ok(srv, "/cookies")
    assert r.headers_all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"], r.headers
    # (httpd itself closes the client connection after a 500 or 503: one connection each)
    for code in (201, 204, 302, 404, 418, 500, 503):
        r = srv.raw_request("GET", "/status/%d" % code)
        assert r.status == code, (code, r, r.body[:300])
        if code == 204:
            assert r.body == b""
        else:
            assert r.body == b"status %d\n" % code, (code, r.body[:300])


# --- methods and bodies ----------------------------------------------------------------------

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "BREW"]


def test_methods_forwarded(apache, backend):
    srv = apache.start(server_config(backend))
    failures = []
    with srv.connect(timeout=FIRST_REQUEST_TIMEOUT) as c:
        for m in METHODS:
            body = ("body of %s" % m).encode() if m in ("POST", "PUT", "PATCH") else None
            r = c.request(m, "/echo/m", body=body)
            if r.status != 200:
                failures.append("%s -> %s %r" % (m, r.status, r.body[:200]))
                continue
            e = r.json()
            if e["method"] != m or e["body_length"] != len(body or b""):
                failures.append("%s -> backend saw %s with %s body bytes" % (m, e["method"], e["body_length"]))
        r = c.request("HEAD", "/echo/m")
        if r.status != 200 or r.body:
            failures.append("HEAD -> %s, %d body bytes" % (r.status, len(r.body)))
    assert not failures, "\n".join(failures)


BIG = 5 * 1024 * 1024


def test_request_body_content_length(apache, backend):
    srv = apache.start(server_config(backend))
    data = os.urandom(BIG)
    with srv.connect(timeout=120) as c:
        for method in ("POST", "PUT"):
            r = c.request(method, "/echo/upload", headers=[("Content-Type", "application/octet-stream")],
                          body=data)
            e = expect_ok(r, "%s 5 MiB" % method, srv).json()
            assert e["body_length"] == BIG and e["body_sha256"] == hashlib.sha256(data).hexdigest(), e


def test_request_content_length_preserved(apache, backend):
    """A body of known length is forwarded with that Content-Length (not re-chunked)."""
    srv = apache.start(server_config(backend))
    e = echo(srv, "/echo/cl", method="POST", body=b"x" * 1000)
    assert header_values(e, "Content-Length") == ["1000"], echo_headers(e)
    assert not header_values(e, "Transfer-Encoding"), echo_headers(e)
    e = echo(srv, "/echo/cl0", method="POST", body=b"")
    assert e["body_length"] == 0


def test_request_body_chunked(apache, backend):
    srv = apache.start(server_config(backend))
    data = os.urandom(BIG)
    sizes = [1, 100, 4096, 65536, 1024 * 1024]
    chunks, i, k = [], 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        chunks.append(data[i:i + n])
        i += n
        k += 1
    with srv.connect(timeout=120) as c:
        c.send_chunked("POST", "/echo/chunked", chunks)
        e = expect_ok(c.read_response("POST"), "chunked POST", srv).json()
        assert e["body_length"] == BIG and e["body_sha256"] == hashlib.sha256(data).hexdigest(), e
        # and the connection is still usable
        e = expect_ok(c.request("GET", "/echo/after"), "GET after chunked POST", srv).json()
        assert e["path"] == "/echo/after"


def test_request_body_expect_100_continue(apache, backend):
    srv = apache.start(server_config(backend))
    get_ok(srv, "/")                      # backend started
    data = os.urandom(300000)
    with srv.connect(timeout=30) as c:
        c.send(c.build_request("POST", "/echo/expect", headers=[
            ("Expect", "100-continue"), ("Content-Length", str(len(data)))]))
        head = c.read_head(return_interim=True)
        assert head.status == 100, "expected 100 Continue before sending the body, got %s %s" % (
            head.status, head.reason)
        c.send(data)
        e = expect_ok(c.read_response("POST"), "POST with Expect: 100-continue", srv).json()
        assert e["body_length"] == len(data) and e["body_sha256"] == hashlib.sha256(data).hexdigest()


def test_response_body_large(apache, backend):
    srv = apache.start(server_config(backend))
    n = 3000000
    expected = (bytes(range(251)) * (n // 251 + 1))[:n]
    with srv.connect(timeout=120) as c:
        for _ in range(2):
            r = c.request("GET", "/bytes?n=%d" % n)
            expect_ok(r, "GET /bytes", srv)
            assert len(r.body) == n, len(r.body)
            assert r.body == expected, "first difference at %d" % next(
                i for i in range(n) if r.body[i] != expected[i])
        r = c.request("HEAD", "/bytes?n=%d" % n)
        assert r.status == 200 and r.body == b""


def test_stream_arrives_incrementally(apache, backend):
    srv = apache.start(server_config(backend))
    get_ok(srv, "/")                      # backend started
    n, interval = 6, 400
    with srv.connect(timeout=60) as c:
        c.send(c.build_request("GET", "/stream?n=%d&interval_ms=%d" % (n, interval)))
        t_sent = time.monotonic()
        head = c.read_head()
        assert head.status == 200, head
        pieces = c.read_body_timed(head)
    assert head.body == b"".join(b"event %d\n" % i for i in range(n)), head.body
    # time at which each complete line had arrived
    arrived, buf = [], b""
    for t, data in pieces:
        buf += data
        while len(arrived) < buf.count(b"\n"):
            arrived.append(t - t_sent)
    spread = arrived[-1] - arrived[0]
    total = (n - 1) * interval / 1000.0
    assert arrived[0] < arrived[-1] - 0.6 * total and spread >= 0.6 * total, (
        "stream was buffered: line arrival times %s (s after the request; lines were written "
        "%d ms apart)" % (["%.2f" % a for a in arrived], interval))


# --- connection reuse ------------------------------------------------------------------------

def test_keepalive_backend_connections_reused(apache, backend):
    srv = apache.start(server_config(backend))
    port = int(app_env(srv)["ASPNETCORE_PORT"])
    before = procs.peer_ports_of(port)
    with srv.connect(timeout=60) as c:
        for i in range(30):
            e = expect_ok(c.request("GET", "/echo/ka%d" % i), "keep-alive request %d" % i, srv).json()
            assert e["path"] == "/echo/ka%d" % i
    new = procs.peer_ports_of(port) - before
    assert len(new) <= 2, ("30 sequential requests on one client connection opened %d new backend "
                           "connections (ports %s); sockets now: %s (TIME_WAIT is held by the side "
                           "that closed first)" % (len(new), sorted(new), procs.tcp_summary(port)))
    # separate client connections: served by various httpd children, each with its own pool
    before = procs.peer_ports_of(port)
    for i in range(30):
        r = srv.get("/echo/sep%d" % i, headers={"Connection": "close"})
        expect_ok(r, "request %d on its own connection" % i, srv)
    new = procs.peer_ports_of(port) - before
    workers = wait_until(srv.served_by, 10, "access log entries") | {p.pid for p in srv.children()}
    assert len(new) <= len(workers), (
        "30 requests on separate client connections opened %d backend connections with only "
        "%d httpd children (pooling must be per child, connections reused); sockets now: %s"
        % (len(new), len(workers), procs.tcp_summary(port)))


# --- crash and restart -------------------------------------------------------------------------

@pytest.mark.expect_log(r"\[aspnetcore:error\]")
def test_crash_then_restart(apache, backend):
    srv = apache.start(server_config(backend))
    pid1 = app_pid(srv)
    sup = supervisor_of(srv, pid1)
    r = srv.get("/crash", timeout=60)
    assert r.status >= 500, "GET /crash answered %s %r" % (r.status, r.body[:200])
    wait_until(lambda: not procs.alive(pid1), 10, "crashed backend %d to be gone" % pid1)

    def restarted():
        r = srv.get("/pid", timeout=30)
        return r.status == 200 and parse_pid(r) != pid1 and parse_pid(r)
    pid2 = wait_until(restarted, 30, lambda: "a new backend to answer /pid\n" + srv.log_tail(20))
    assert supervisor_of(srv, pid2) == sup
    e = echo(srv, "/echo/after-crash")
    assert e["pid"] == pid2


# --- stop ------------------------------------------------------------------------------------

def test_stop_leaves_no_backend(apache, backend):
    srv = apache.start(server_config(backend) + "\n" + location_config(backend, "/shop", app_root="{app}"))
    pids = {app_pid(srv), app_pid(srv, "/shop")}
    assert len(pids) == 2
    sup = supervisor_of(srv, next(iter(pids)))
    tree = {(p.pid, p.starttime) for p in procs.descendants(sup)}
    assert {p for p, _ in tree} >= pids
    t0 = time.monotonic()
    srv.stop(gone_timeout=12)          # raises, naming them, if any descendant survives 12 s
    left = [p for p in tree if procs.alive(*p)]
    assert not left, left
    assert not procs.alive(sup)
    assert time.monotonic() - t0 < 30
