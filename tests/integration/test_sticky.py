"""Sticky sessions (AspNetCoreStickySessions, issue 12 point 6).

With several processes per app, a client whose requests must reach the same process (SignalR:
negotiate on one, connect on another gives "No Connection with that ID") gets a cookie naming
the process that served it; a request carrying it goes to that process while it is ready, else
to another (least in flight) with a new cookie. The app never sees the cookie.

Part 1 checks the routing on plain HTTP with the stand-in (event and prefork: the slot state is
in shared memory, the children are threads or processes). Part 2 runs the real SignalR client
(@microsoft/signalr from node, tests/integration/signalr-client/) against RealApp's hub with two
processes, over WebSockets, Server-Sent Events and long polling, with and without the cookie.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import threading

import pytest

import backends as backends_mod
import procs
import wsclient
from backends import parse_pid, header_values
from rigutil import wait_until, expect_status

COOKIE = "AspNetCoreAffinity"
FIRST_REQUEST_TIMEOUT = 60.0
HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_DIR = os.path.join(HERE, "signalr-client")

# A SIGKILLed process: the supervisor's report, and what a request that met it may log.
EXPECT_KILL = (r"\] process \d+ was killed by signal 9 after \d+ s: starting a new one",
               r"\] cannot connect to the app's process \d+ on port \d+",
               r"\] process \d+ no longer listens on port \d+ \([^)]*\): replacing it",
               r"\] error reading the response \(502\.3\)",
               r"\] the app closed the connection without a response \(502\.3\)")


def standin_app(extra=""):
    return backends_mod.standin().directives(app_root="{app}", extra=extra)


def location(path, body):
    return "<Location %s>\n%s\n</Location>\n" % (path, body)


def affinity(resp):
    """The sticky-session Set-Cookie of an answer: (value, attributes) or None."""
    found = [v for v in resp.headers_all("Set-Cookie") if v.startswith(COOKIE + "=")]
    assert len(found) <= 1, found
    if not found:
        return None
    value, _, attrs = found[0].partition(";")
    return value.split("=", 1)[1], [a.strip() for a in attrs.split(";")]


def get(srv, path, cookie=None, timeout=FIRST_REQUEST_TIMEOUT):
    headers = {"Cookie": cookie} if cookie is not None else None
    return expect_status(srv.get(path, headers=headers, timeout=timeout), 200, "GET " + path, srv)


class Held(threading.Thread):
    """A slow request in flight on a process (its load counts while it runs)."""

    def __init__(self, srv, path, cookie=None):
        super().__init__(daemon=True)
        self.srv, self.path, self.cookie, self.resp, self.error = srv, path, cookie, None, None
        self.start()

    def run(self):
        try:
            self.resp = get(self.srv, self.path, self.cookie)
        except Exception as e:          # reported by result()
            self.error = e

    def result(self):
        self.join(FIRST_REQUEST_TIMEOUT)
        assert not self.is_alive() and self.error is None, self.error
        return self.resp


def two_pids(srv, prefix):
    """Both processes' pids, once both answer: two overlapping slow requests go to two
    processes (least in flight) as soon as both are ready."""
    def both():
        held = [Held(srv, prefix + "/pid?ms=600") for _ in range(2)]
        pids = {parse_pid(h.result()) for h in held}
        return pids if len(pids) == 2 else None
    return sorted(wait_until(both, 60, "two processes of the app answering"))


def inflight_on(srv, prefix, cookie):
    """A slow request in flight on the process `cookie` names, once it has reached it (the
    stand-in logs its arrival): it counts there until it ends, 4 s later, so least in
    flight alone would send the next requests elsewhere."""
    mark = srv.log_mark()
    held = Held(srv, prefix + "/pid?ms=4000", cookie)
    srv.wait_for_log(r"arrived GET \S*/pid\?ms=4000", timeout=FIRST_REQUEST_TIMEOUT, start=mark)
    return held


# --- part 1: the routing, on plain HTTP -----------------------------------------------------

@pytest.mark.also_mpms("prefork")
def test_cookie_pins_the_client_to_its_process(apache):
    srv = apache.start(location("/shop", backends_mod.standin().directives(
        env={"STANDIN_LOG_ARRIVALS": "1"},
        extra="AspNetCoreProcessesPerApplication 2\nAspNetCoreStickySessions On")))
    pids = two_pids(srv, "/shop")

    # a client without the cookie gets one naming the process that served it
    r = get(srv, "/shop/pid")
    first = parse_pid(r)
    got = affinity(r)
    assert got, "no %s cookie in %s" % (COOKIE, r.headers)
    value, attrs = got
    assert attrs == ["Path=/shop", "HttpOnly", "SameSite=Lax"], attrs
    assert re.fullmatch(r"[01]\.\d+", value), value
    assert str(first) not in value.split("."), "the cookie shows the pid: %s" % value
    cookie = "%s=%s" % (COOKIE, value)

    # with the cookie, every request goes there, even while that process is the busier one
    # (least in flight would pick the other), and no new cookie is set
    held = inflight_on(srv, "/shop", cookie)
    for _ in range(6):
        r = get(srv, "/shop/pid", cookie)
        assert parse_pid(r) == first, "the cookie named %d, served by %d" % (first, parse_pid(r))
        assert affinity(r) is None, r.headers
    # without it, requests spread (least in flight: the idle process) and get its cookie
    other = [p for p in pids if p != first][0]
    spread = [get(srv, "/shop/pid") for _ in range(3)]
    assert [parse_pid(x) for x in spread] == [other] * 3, (
        "without the cookie, while %d is busy: %s" % (first, [parse_pid(x) for x in spread]))
    other_value = affinity(spread[0])[0]
    assert other_value != value
    assert parse_pid(held.result()) == first

    # the other cookie pins to the other process, also when that one is the busier
    held = inflight_on(srv, "/shop", "%s=%s" % (COOKIE, other_value))
    for _ in range(3):
        assert parse_pid(get(srv, "/shop/pid", "%s=%s" % (COOKIE, other_value))) == other
    assert parse_pid(held.result()) == other


GARBAGE = ["junk", "", "0.0", "7.1", "1.99999999999999999999", "-1.1", "1.1.1", "0x0.1", "%30.1",
           "\"0.1\"", "0.18446744073709551616", "a" * 3000]


@pytest.mark.mpms("event")     # the cookie's handling is the same under every MPM
def test_garbage_or_unknown_cookie_falls_back(apache):
    """A cookie that names no process of the app (malformed, a slot beyond the app's, an
    incarnation that never was) is ignored: the request is served and gets a fresh cookie."""
    srv = apache.start(standin_app(
        "AspNetCoreProcessesPerApplication 2\nAspNetCoreStickySessions On"))
    two_pids(srv, "")
    for garbage in GARBAGE:
        r = get(srv, "/echo", "a=1; %s=%s; b=2" % (COOKIE, garbage))
        got = affinity(r)
        assert got and re.fullmatch(r"[01]\.\d+", got[0]), (garbage, r.headers)
        assert got[1] == ["Path=/", "HttpOnly", "SameSite=Lax"], got
        assert header_values(r.json(), "Cookie") == ["a=1; b=2"], garbage
        # the fresh cookie then works
        fresh = "%s=%s" % (COOKIE, got[0])
        pid = parse_pid(get(srv, "/pid", fresh))
        for _ in range(2):
            r = get(srv, "/pid", fresh)
            assert parse_pid(r) == pid and affinity(r) is None, (garbage, r.headers)


@pytest.mark.mpms("event")     # the cookie's handling is the same under every MPM
def test_app_never_sees_the_cookie(apache):
    srv = apache.start(standin_app(
        "AspNetCoreProcessesPerApplication 2\nAspNetCoreStickySessions On"))
    r = get(srv, "/echo")
    value = affinity(r)[0]
    ours = "%s=%s" % (COOKIE, value)
    cases = [
        ("a=1; %s; b=2" % ours, ["a=1; b=2"]),
        ("%s; a=1" % ours, ["a=1"]),
        ("a=1;%s" % ours, ["a=1"]),
        (ours, []),
        ("x=\"q r\";  %s ;\tSession=abc%%20def==; %s=junk" % (ours, COOKIE),
         ["x=\"q r\";\tSession=abc%20def=="]),
        ("%sX=1; X%s=2; a=%s" % (COOKIE, COOKIE, ours), None),   # other cookies: untouched
    ]
    for sent, want in cases:
        r = get(srv, "/echo", sent)
        seen = header_values(r.json(), "Cookie")
        assert seen == (want if want is not None else [sent]), (sent, seen)
        assert affinity(r) is None or want is None, (sent, r.headers)


@pytest.mark.mpms("event")     # the cookie's handling is the same under every MPM
def test_off_by_default_and_cookie_name(apache):
    """Without the directive: no cookie, and the Cookie header goes to the app as it came.
    AspNetCoreStickySessionCookie names the cookie; a nested scope may switch it off."""
    srv = apache.start(
        location("/plain", standin_app("AspNetCoreProcessesPerApplication 2"))
        + location("/named", standin_app("AspNetCoreProcessesPerApplication 2\n"
                                         "AspNetCoreStickySessions On\n"
                                         "AspNetCoreStickySessionCookie ShopAffinity"))
        + location("/named/echo/off", "AspNetCoreStickySessions Off"))
    sent = "a=1; %s=0.1; b=2" % COOKIE
    r = get(srv, "/plain/echo", sent)
    assert not r.headers_all("Set-Cookie"), r.headers
    assert header_values(r.json(), "Cookie") == [sent]

    r = get(srv, "/named/echo", sent + "; ShopAffinity=junk")
    cookies = r.headers_all("Set-Cookie")
    assert len(cookies) == 1 and re.fullmatch(
        r"ShopAffinity=[01]\.\d+; Path=/named; HttpOnly; SameSite=Lax", cookies[0]), cookies
    assert header_values(r.json(), "Cookie") == [sent]     # only ShopAffinity is ours here
    r = get(srv, "/named/echo/off/x", "ShopAffinity=0.1")
    assert not r.headers_all("Set-Cookie"), r.headers
    assert header_values(r.json(), "Cookie") == ["ShopAffinity=0.1"]


@pytest.mark.mpms("event")     # the cookie's handling is the same under every MPM
def test_bad_cookie_name_refused(apache):
    srv = apache.new(standin_app("AspNetCoreStickySessionCookie \"a;b\""))
    srv.write_conf()
    rc, out = srv.apache2("-t")
    assert rc != 0
    assert "AspNetCoreStickySessionCookie: 'a;b' is not a cookie name" in out, out


@pytest.mark.expect_log(*EXPECT_KILL)
@pytest.mark.also_mpms("prefork")
def test_process_gone_falls_back_with_new_cookie(apache):
    srv = apache.start(standin_app(
        "AspNetCoreProcessesPerApplication 2\nAspNetCoreStickySessions On"))
    pids = two_pids(srv, "")
    r = get(srv, "/pid")
    victim, value = parse_pid(r), affinity(r)[0]
    cookie = "%s=%s" % (COOKIE, value)
    assert parse_pid(get(srv, "/pid", cookie)) == victim
    mark = srv.log_mark()
    os.kill(victim, signal.SIGKILL)
    # once the supervisor has seen it die (a request sent to it before may get a 502: that
    # is a request in flight at the crash, not what this test is about)
    srv.wait_for_log(r"process %d was killed by signal 9" % victim, timeout=10, start=mark)
    assert not procs.alive(victim)
    r = get(srv, "/pid", cookie)
    now = parse_pid(r)
    assert now != victim
    got = affinity(r)
    assert got and got[0] != value, "no new cookie after %d died: %s" % (victim, r.headers)
    # the new cookie pins to the process that answered, also once the replacement is up
    new_cookie = "%s=%s" % (COOKIE, got[0])
    replaced = two_pids(srv, "")        # both answer again: the replacement is up
    assert victim not in replaced and now in replaced, (victim, now, replaced)
    for _ in range(4):
        r = get(srv, "/pid", new_cookie)
        assert parse_pid(r) == now and affinity(r) is None, (now, parse_pid(r), r.headers)
    assert now in pids, "the request went to the survivor %s, not to %d" % (pids, now)


@pytest.mark.mpms("event")     # the cookie's handling is the same under every MPM
def test_websocket_upgrade_carries_the_cookie(apache):
    """The 101 goes out as an interim response: it carries the cookie too, and the handshake
    that reaches the app has no sticky-session cookie."""
    srv = apache.start(standin_app(
        "AspNetCoreProcessesPerApplication 2\nAspNetCoreStickySessions On"))
    two_pids(srv, "")
    ws, head = wsclient.connect(srv.port, "/fwd/ws", headers=[("Cookie", "a=1; %s=junk" % COOKIE)])
    assert ws is not None, head
    try:
        got = [v for v in head.headers_all("Set-Cookie") if v.startswith(COOKIE + "=")]
        assert len(got) == 1 and re.fullmatch(
            COOKIE + r"=[01]\.\d+; Path=/; HttpOnly; SameSite=Lax", got[0]), head.raw_head
        ws.send_text("hi")
        assert ws.recv_message()[1] == b"hi"
    finally:
        ws.close()
    cookie = got[0].split(";")[0]
    # the handshake the app saw (on the process the cookie names) had only a=1
    seen = get(srv, "/fwd/ws-seen", cookie).json()["handshakes"]
    assert seen, "the process the cookie names saw no handshake"
    cookies = [v for k, v in seen[-1] if k.lower() == "cookie"]
    assert cookies == ["a=1"], seen


# --- part 2: SignalR with the real client -------------------------------------------------

@pytest.fixture(scope="session")
def signalr_client():
    """The client's packages, installed once per session from the committed lock file
    (`npm ci`: exactly the versions of package-lock.json; node_modules is not committed)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("SKIPPED LOUDLY: node and npm are needed to run the real SignalR client "
                    "(@microsoft/signalr, tests/integration/signalr-client/); install nodejs "
                    "and npm")
    p = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=CLIENT_DIR,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=600)
    if p.returncode != 0:
        pytest.fail("`npm ci` in %s failed (exit %d):\n%s" % (
            CLIENT_DIR, p.returncode, p.stdout.decode("utf-8", "replace")[-3000:]), pytrace=False)
    return node


def run_client(node, srv, hub, transport, connections, invocations):
    p = subprocess.run([node, os.path.join(CLIENT_DIR, "client.js"), srv.url(hub), transport,
                        str(connections), str(invocations)],
                       cwd=CLIENT_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, "client.js exited %d\nstdout: %s\nstderr: %s" % (
        p.returncode, out, err[-3000:])
    return json.loads(out.strip().splitlines()[-1])["connections"]


def begun_pids(events):
    """The processes a /work request has begun on, in order."""
    with open(events) as f:
        return [int(l.split()[3]) for l in f if l.split()[:2] == ["begun", "/work"]]


def busy_process(srv):
    """A WebSocket open on one process (RealApp's echo at /ws; the first process, as both are
    idle): a tunnel counts as a request in flight for as long as it is open, so
    least-in-flight sends the next requests elsewhere. Closed by the caller, which ends the
    request at once (a slow request instead would hold its Apache worker until it ends)."""
    ws, head = wsclient.connect(srv.port, "/rt/ws")
    assert ws is not None, "the WebSocket to /rt/ws was refused: %r" % head
    ws.send_text("busy")
    assert ws.recv_message()[1] == b"busy"
    return ws


def realapp_srv(apache, real_app, sticky):
    """RealApp at /rt with two processes (sticky sessions on or off), both answering."""
    srv = apache.new("")
    events = srv.write_file("events.log", "", mode=0o666)
    extra = "AspNetCoreProcessesPerApplication 2"
    if sticky:
        extra += "\nAspNetCoreStickySessions On"
    srv.write_conf(location("/rt", real_app.directives(env={"REALAPP_EVENTS": events},
                                                       extra=extra)))
    srv.start()

    def both():
        held = [Held(srv, "/rt/work?ms=300") for _ in range(2)]
        for h in held:
            h.result()
        return len(set(begun_pids(events))) == 2
    wait_until(both, FIRST_REQUEST_TIMEOUT, "two processes of RealApp answering")
    return srv


def check_connections(conns, transport):
    """Every connection started, every call answered, all by one process per connection
    (the one Pid() named) on one SignalR connection id. Returns the pids."""
    bad = [c for c in conns if not c["started"] or c["error"] or c.get("stopError")]
    assert not bad, "%s: %d of %d connections failed: %s" % (
        transport, len(bad), len(conns), json.dumps(bad)[:3000])
    for c in conns:
        pids = {e["pid"] for e in c["echoes"]}
        ids = {e["conn"] for e in c["echoes"]}
        assert pids == {c["pid"]} and len(ids) == 1, (transport, c)
    return [c["pid"] for c in conns]


def summary(conns):
    """One line per run for the test's output: each connection's processes or its error."""
    return "; ".join("#%d %s" % (c["index"], c["error"] or sorted({e["pid"] for e in c["echoes"]}))
                     for c in conns)


def signalr_with_one_busy(apache, real_app, signalr_client, transport, sticky):
    """RealApp with two processes (sticky sessions on or off), one kept busy while the real
    client runs four connections of five calls each over transport: their results."""
    srv = realapp_srv(apache, real_app, sticky=sticky)
    busy = busy_process(srv)
    try:
        conns = run_client(signalr_client, srv, "/rt/hubs/echo", transport, 4, 5)
    finally:
        busy.close()
    print("%s, %s: %s" % ("sticky" if sticky else "not sticky", transport, summary(conns)))
    return conns


TRANSPORTS = ["websockets", "sse", "longpolling"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.also_mpms("prefork")
def test_signalr_with_two_processes_and_sticky_sessions(apache, real_app, signalr_client,
                                                        transport):
    """The real client, four connections kept open together, five calls each, while one
    process is busy with a slow request: every connection works, each stays on one process,
    and the connections spread over both processes (sticky sessions keep the balancing)."""
    conns = signalr_with_one_busy(apache, real_app, signalr_client, transport, sticky=True)
    pids = check_connections(conns, transport)
    assert len(conns) == 4 and all(len(c["echoes"]) == 5 for c in conns), conns
    assert len(set(pids)) == 2, "%s: the connections were all on %s" % (transport, pids)


@pytest.mark.parametrize("transport", ["sse", "longpolling"])
@pytest.mark.mpms("event")
def test_signalr_with_two_processes_fails_without_sticky_sessions(apache, real_app,
                                                                  signalr_client, transport):
    """What the feature is for (issue 12.6): without sticky sessions a SignalR connection's
    requests reach both processes, and the process that did not negotiate it answers 404
    "No Connection with that ID". With one process busy, a poll or stream held open on the
    other makes the next send go to the busy one."""
    conns = signalr_with_one_busy(apache, real_app, signalr_client, transport, sticky=False)
    failed = [c for c in conns if not c["started"] or c["error"]]
    assert failed, "%s without sticky sessions: all %d connections worked: %s" % (
        transport, len(conns), json.dumps(conns)[:2000])
    # the SSE client words the 404 of a stream opened on the wrong process its own way
    wrong_process = ("404", "No Connection", "connection could not be found on the server")
    assert all(any(w in c["error"] for w in wrong_process) for c in failed), failed


@pytest.mark.mpms("event")     # the cookie's handling is the same under every MPM
def test_cookie_is_secure_over_https(apache):
    """Over https the cookie says Secure (a browser then never sends it over plain http);
    over http it does not (it would never come back)."""
    import httpclient
    import tlsutil
    from rigutil import free_port
    tls_port = free_port()
    app = standin_app("AspNetCoreStickySessions On")
    srv = apache.start(app + "\n" + tlsutil.listen_line(tls_port) + "\n"
                       + tlsutil.ssl_vhost(tls_port, app), modules=tlsutil.TLS_MODULES)
    r = httpclient.request(tls_port, "GET", "/pid", timeout=FIRST_REQUEST_TIMEOUT,
                           context=tlsutil.client_context())
    assert r.status == 200, r.status
    cookies = r.headers_all("Set-Cookie")
    assert len(cookies) == 1 and re.fullmatch(
        COOKIE + r"=0\.\d+; Path=/; HttpOnly; SameSite=Lax; Secure", cookies[0]), cookies
    got = affinity(get(srv, "/pid"))
    assert got and got[1] == ["Path=/", "HttpOnly", "SameSite=Lax"], got
