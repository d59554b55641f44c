#!/usr/bin/python3
"""standin.py - a stdlib-only stand-in for an ASP.NET Core app behind ANCM.

It honours the out-of-process contract of Microsoft's ASP.NET Core Module
(see /work/shared/reference/ancm-behaviour.md) closely enough that the
integration tests can run the same test against it and against the real
ASP.NET Core sample (samples/HelloApp):

  * listens on 127.0.0.1:$ASPNETCORE_PORT (HTTP/1.1, keep-alive, threaded);
  * pipeline order as in IISSetupFilter: UsePathBase($ASPNETCORE_APPL_PATH)
    -> UseForwardedHeaders (X-Forwarded-For/-Proto, ForwardLimit 1)
    -> IISMiddleware (pairing token check -> 400, shutdown event -> 202);
  * exits 0 on SIGTERM/SIGINT and after the shutdown event, once in-flight
    requests have finished (at most STANDIN_SHUTDOWN_GRACE_MS, default
    30000 like .NET's HostOptions.ShutdownTimeout).

Endpoints (relative to PathBase; GET endpoints also answer HEAD, other
methods get 405 like ASP.NET Core routing; unknown paths get 404):
  /                      text "hello from standin"
  /echo, /echo/<any>     any method, JSON description of the request
  /env                   JSON object of the process environment
  /pid                   text pid (/pid?ms=N: after sleeping N ms)
  /sleep?ms=N            "slept N" after N ms
  /stream?n=N&interval_ms=M   chunked, "event i\\n" for i = 0..N-1, flushed
  /crash                 process exits with code 3 without answering
  /status/NNN            status NNN (200-599) with a short body
  /bytes?n=N             N bytes, byte i = i % 251
  /cookies               two Set-Cookie headers
  /print?n=N             writes N lines "standin print i of N pid P" to stdout at
                         once (one write), then answers "printed N"; with &warn=M
                         M lines "warn: standin warning i of M pid P" follow (the
                         same write): .NET's warning header
  /alloc?mib=N           allocates N MiB and writes every page (resident), kept until the
                         process ends; answers "allocated N MiB, held H, pid P" (H: all so far)
  /spawn-child           forks a grandchild in the stand-in's process group that
                         sleeps (up to an hour); answers its pid

Environment knobs:
  ASPNETCORE_PORT, ASPNETCORE_APPL_PATH, ASPNETCORE_TOKEN  the ANCM contract
  STANDIN_VERBOSE=1            log requests to stderr
  STANDIN_STARTUP_DELAY_MS=N   sleep N ms before listening
  STANDIN_EXIT_AT_START=CODE   print a line to stderr and exit CODE at once
  STANDIN_FAIL_START_IF=FILE   the same with code 3 while FILE exists (a later start fails)
  STANDIN_IGNORE_SIGTERM=1     ignore SIGTERM (to test SIGKILL escalation)
  STANDIN_SHUTDOWN_GRACE_MS=N  max wait for in-flight requests when stopping

Opt-in knobs for the supervision tests (tests/integration/test_supervision.py):
  STANDIN_IGNORE_SHUTDOWN=1    the shutdown event gets 400 and SIGTERM/SIGINT are
                               ignored: only SIGKILL stops the process
  STANDIN_CHILD_AT_START=1     first thing at start (before STANDIN_EXIT_AT_START and
                               the startup delay): fork a grandchild as /spawn-child
                               does and print "standin: started child PID" to stdout
  STANDIN_LOG_ARRIVALS=1       print "standin[PID]: arrived METHOD TARGET" to stdout
                               as each request arrives (before it is handled), so a
                               test can see that a request reached this process
  STANDIN_SQUAT_ONCE=MARKER    if the file MARKER does not exist: create it, start a
                               detached process (new session) that binds
                               127.0.0.1:$ASPNETCORE_PORT and writes its pid into
                               MARKER (or "error: ..." if it cannot bind), then
                               exit 1 saying "address already in use" (a port
                               collision). The squatter listens once the
                               stand-in has exited (bound but not listening before,
                               so a readiness probe cannot mistake it for the app)
                               and lives at most STANDIN_SQUAT_SECONDS (default 300);
                               whoever set the knob kills it by the pid in MARKER.
                               If MARKER exists: start normally.

Opt-in additions for the forwarding tests (tests/integration/test_forwarding.py; their
own section near the end of this file, hooked in around Handler's methods):
  /fwd/reason?code=N&text=T    status N with the reason phrase T
  /fwd/headers[?auth=1]        repeated Set-Cookie / WWW-Authenticate / X-Multi fields and
                               hop-by-hop ones (Connection naming X-Private-Hop, Keep-Alive,
                               Proxy-Connection, Upgrade, Trailer, Transfer-Encoding: chunked)
  /fwd/bighead?fields=K&size=N a response head of exactly K fields (and N bytes)
  /fwd/close-delimited?n=N[&version=1.0]  body without framing, ended by closing
  /fwd/trailers?n=N            chunked body followed by trailer fields
  /fwd/sse?n=N&interval_ms=M[&framing=chunked|length|close]  server-sent events carrying
                               their write time (monotonic)
  /fwd/reset                   reads the request, then resets the connection (RST)
  /fwd/garbage?kind=K          a malformed response head (kinds: see GARBAGE)
  /fwd/truncate?framing=length|chunked&how=close|reset  10 of 100000 bytes, then fails
  /fwd/expect?refuse=CODE | ?continue_after_ms=N  the app decides about 100 Continue
  /fwd/early?code=N&delay_ms=D&hold_ms=H  a naive app that answers early: without reading
                               the body, after D ms, status N (default 413) kept alive; then
                               it waits up to H ms for the proxy to close the connection
                               (dropped if it does), else reads the rest of the body as the
                               next request(s) on the connection (request smuggling)
  /fwd/chunk-ext?count=K&size=N  a chunked body "hello" whose chunk-size line carries K
                               extensions of N bytes each (";e=vvv..."), sent with the head
  /fwd/interim?n=N&interval_ms=M&code=C  N interim responses C (default 102; 103 comes
                               with a Link field), one every M ms, then 200 "after N
                               interim"; n=-1: interim responses for ever
  /fwd/log[?clear=1]           requests recorded with STANDIN_RECORD_REQUESTS=1
  /fwd/conns                   connections open to this process
  /fwd/ws[?ext=1], /fwd/ws-seen  WebSocket echo; request headers of its handshakes
  STANDIN_RECORD_REQUESTS=1    record every request (method, raw target, headers; whether
                               it was handled to the end)
  STANDIN_IDLE_CLOSE_MS=N      close a connection silent for N ms before a request
  STANDIN_KEEPALIVE_MAX=N      after N requests on a connection, close it as the next
                               one arrives, without reading it (the keep-alive race: a
                               server that times a connection out just as a request comes;
                               the request is looked at, not read, to record it as dropped)

Opt-in additions for the health-check tests (tests/integration/test_health.py; their own
section at the end of this file): /healthz, /health/set?status=NNN, /health/hang-all.

Run it with Debian's /usr/bin/python3 (stdlib only, no third-party imports).
"""

import hashlib
import http.server
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

BACKEND = "standin"
CHUNK = 64 * 1024
BYTES_PATTERN = bytes(i % 251 for i in range(251)) * 261  # 65511 = 251 * 261


def env_int(name, default):
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        sys.stderr.write("standin: ignoring invalid %s=%r\n" % (name, value))
        return default


VERBOSE = os.environ.get("STANDIN_VERBOSE") == "1"
IGNORE_SHUTDOWN = os.environ.get("STANDIN_IGNORE_SHUTDOWN") == "1"
LOG_ARRIVALS = os.environ.get("STANDIN_LOG_ARRIVALS") == "1"
GRANDCHILDREN = []   # /spawn-child processes (kept referenced; reaped by Popen)
HELD = []            # /alloc blocks, kept until the process ends
PID = os.getpid()
TOKEN = os.environ.get("ASPNETCORE_TOKEN") or None
PATH_BASE = ""  # set in main()


def path_base_from_env():
    """Like UsePathBase(new PathString(APPL_PATH)): trailing '/' stripped, '/' -> none."""
    value = os.environ.get("ASPNETCORE_APPL_PATH") or "/"
    if not value.startswith("/"):
        # new PathString("shop") throws in ASP.NET Core: the app dies at startup.
        sys.stderr.write("standin: ASPNETCORE_APPL_PATH=%r must start with '/'\n" % value)
        sys.exit(1)
    return value.rstrip("/")


# --------------------------------------------------------------------------
# Request-target handling, mimicking Kestrel + UsePathBase
# --------------------------------------------------------------------------

HEX = b"0123456789abcdefABCDEF"


def kestrel_decode_path(raw_path):
    """Percent-decode a path like Kestrel: everything except %2F, then UTF-8."""
    raw = raw_path.encode("latin-1", "replace")
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        b = raw[i]
        if b == 0x25 and i + 2 < n and all(c in HEX for c in raw[i + 1:i + 3]):
            v = int(raw[i + 1:i + 3], 16)
            # Kestrel keeps %2F encoded so path segments stay intact.
            out += raw[i:i + 3] if v == 0x2F else bytes([v])
            i += 3
            continue
        out.append(b)
        i += 1
    path = out.decode("utf-8", "replace")
    return remove_dot_segments(path)


def remove_dot_segments(path):
    """RFC 3986 5.2.4, as Kestrel's PathNormalizer does after decoding."""
    if "." not in path:
        return path
    out = []
    segs = path.split("/")
    for i, seg in enumerate(segs[1:], 1):
        last = i == len(segs) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out)


def split_path_base(path):
    """PathString.StartsWithSegments(pathBase, OrdinalIgnoreCase)."""
    if not PATH_BASE:
        return "", path
    n = len(PATH_BASE)
    if path[:n].lower() == PATH_BASE.lower() and (len(path) == n or path[n] == "/"):
        return path[:n], path[n:]
    return "", path


# --------------------------------------------------------------------------
# X-Forwarded-For / X-Forwarded-Proto, as ForwardedHeadersMiddleware with the
# options IIS integration sets (For|Proto, ForwardLimit 1, loopback proxies)
# --------------------------------------------------------------------------

def comma_values(values):
    out = []
    for v in values:
        out += [s.strip() for s in v.split(",") if s.strip()]
    return out


def parse_endpoint(text):
    """IPEndPoint.TryParse: '1.2.3.4', '1.2.3.4:5', '::1', '[::1]:5'."""
    try:
        return str(ipaddress.ip_address(text)), 0
    except ValueError:
        pass
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        addr, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:] if rest else "0"
    else:
        if text.count(":") != 1:
            return None
        addr, port = text.split(":")
    try:
        ip = ipaddress.ip_address(addr)
        p = int(port)
    except ValueError:
        return None
    if not port.isdigit() or not 0 <= p <= 65535:
        return None
    return str(ip), p


SCHEME_CHARS = set("+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def apply_forwarded(headers, remote_ip, remote_port, scheme):
    xff = comma_values(v for k, v in headers if k.lower() == "x-forwarded-for")
    xfp = comma_values(v for k, v in headers if k.lower() == "x-forwarded-proto")
    if not xff and not xfp:
        return remote_ip, remote_port, scheme
    try:
        if not ipaddress.ip_address(remote_ip).is_loopback:
            return remote_ip, remote_port, scheme
    except ValueError:
        pass
    if xff:
        ep = parse_endpoint(xff[-1])
        if ep is None:
            return remote_ip, remote_port, scheme  # stop at unparsable IP
        remote_ip, remote_port = ep
    if xfp and xfp[-1] and all(c in SCHEME_CHARS for c in xfp[-1]):
        scheme = xfp[-1]
    return remote_ip, remote_port, scheme


# --------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, *a, **kw):
        self.lock = threading.Lock()
        self.handlers = set()   # live connections
        self.busy = 0           # requests being processed
        self.stopping = threading.Event()
        super().__init__(*a, **kw)

    def handle_error(self, request, client_address):
        if VERBOSE:
            super().handle_error(request, client_address)

    def begin_stop(self, why):
        if self.stopping.is_set():
            return
        self.stopping.set()
        if VERBOSE:
            sys.stderr.write("standin: stopping (%s)\n" % why)
        threading.Thread(target=self.shutdown, daemon=True).start()


class BodyReader:
    """Streams the request body (Content-Length or chunked)."""

    def __init__(self, handler):
        self.rfile = handler.rfile
        te = ",".join(v for k, v in handler.headers.items() if k.lower() == "transfer-encoding")
        self.chunked = "chunked" in te.lower()
        cl = handler.headers.get("Content-Length")
        self.remaining = 0
        if not self.chunked and cl is not None:
            self.remaining = int(cl.strip())
            if self.remaining < 0:
                raise ValueError("negative Content-Length")
        self.chunk_left = 0
        self.done = not self.chunked and self.remaining == 0

    def read(self, size=CHUNK):
        if self.done:
            return b""
        if not self.chunked:
            data = self.rfile.read(min(size, self.remaining))
            if not data:
                raise ConnectionError("client closed during body")
            self.remaining -= len(data)
            self.done = self.remaining == 0
            return data
        if self.chunk_left == 0:
            line = self.rfile.readline(65537)
            if not line:
                raise ConnectionError("client closed during chunked body")
            self.chunk_left = int(line.split(b";", 1)[0].strip(), 16)
            if self.chunk_left == 0:
                while True:  # trailers
                    t = self.rfile.readline(65537)
                    if t in (b"\r\n", b"\n", b""):
                        break
                self.done = True
                return b""
        data = self.rfile.read(min(size, self.chunk_left))
        if not data:
            raise ConnectionError("client closed during chunk")
        self.chunk_left -= len(data)
        if self.chunk_left == 0:
            self.rfile.readline(3)  # CRLF after chunk data
        return data

    def drain(self):
        while not self.done:
            if not self.read() and not self.done:
                break


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "standin"

    # -- plumbing ----------------------------------------------------------

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.busy = False
        with self.server.lock:
            self.server.handlers.add(self)

    def finish(self):
        with self.server.lock:
            self.server.handlers.discard(self)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if VERBOSE:
            sys.stderr.write("standin[%d]: %s %s\n" % (PID, self.address_string(), fmt % args))

    def __getattr__(self, name):
        # Every method (GET, PROPFIND, ...) goes through the same dispatcher.
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    def send_simple(self, status, body=b"", ctype=None, headers=()):
        self.send_response(status)
        if ctype and body is not None:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if status not in (204, 304) and not (100 <= status < 200):
            self.send_header("Content-Length", str(len(body)))
        if self.server.stopping.is_set():
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def send_text(self, status, text, headers=()):
        self.send_simple(status, text.encode("utf-8"), "text/plain; charset=utf-8", headers)

    def send_json(self, obj):
        body = json.dumps(obj, separators=(",", ":")).encode("utf-8")
        self.send_simple(200, body, "application/json; charset=utf-8")

    # -- request handling --------------------------------------------------

    def dispatch(self):
        with self.server.lock:
            self.server.busy += 1
            self.busy = True
        try:
            self._dispatch()
        except (OSError, ValueError) as e:
            # Client went away, or sent a malformed body: drop the connection.
            self.close_connection = True
            if VERBOSE:
                sys.stderr.write("standin: %s %s: %r\n" % (self.command, self.raw_target, e))
        finally:
            with self.server.lock:
                self.server.busy -= 1
                self.busy = False
            if self.server.stopping.is_set():
                self.close_connection = True

    def _dispatch(self):
        self.raw_target = self.path
        words = self.requestline.split()
        self.raw_target = words[1] if len(words) >= 2 else self.path
        if LOG_ARRIVALS:
            sys.stdout.write("standin[%d]: arrived %s %s\n" % (PID, self.command, self.raw_target))
            sys.stdout.flush()
        target = self.raw_target
        if "://" in target.split("?", 1)[0]:  # absolute-form
            u = urllib.parse.urlsplit(target)
            target = (u.path or "/") + ("?" + u.query if u.query else "")
        raw_path, sep, query = target.partition("?")
        self.query = sep + query
        self.query_params = urllib.parse.parse_qs(query, keep_blank_values=True)
        self.path_base, self.route_path = split_path_base(kestrel_decode_path(raw_path))
        self.header_list = [(k, v.strip().replace("\r\n", " ")) for k, v in self.headers.items()]
        peer_ip, peer_port = self.client_address[:2]
        self.remote_ip, self.remote_port, self.scheme = apply_forwarded(
            self.header_list, peer_ip, peer_port, "http")
        try:
            self.body = BodyReader(self)
        except ValueError:
            self.close_connection = True
            self.send_text(400, "bad Content-Length\n")
            return

        # IISMiddleware: pairing token, then the ANCM shutdown event.
        if TOKEN is not None and self.header_value("MS-ASPNETCORE-TOKEN") != TOKEN:
            if VERBOSE:
                sys.stderr.write("standin: MS-ASPNETCORE-TOKEN mismatch, request rejected\n")
            self.body.drain()
            self.send_simple(400)
            return
        if (self.command == "POST" and self.route_path.lower() == "/iisintegration"
                and (self.header_value("MS-ASPNETCORE-EVENT") or "").lower() == "shutdown"):
            self.body.drain()
            if IGNORE_SHUTDOWN:
                sys.stderr.write("standin: shutdown event refused (STANDIN_IGNORE_SHUTDOWN)\n")
                sys.stderr.flush()
                self.send_simple(400)
                return
            self.send_simple(202)
            self.wfile.flush()
            self.server.begin_stop("shutdown event")
            return

        self.route()
        self.body.drain()

    def header_value(self, name):
        """Like (string)Request.Headers[name] in ASP.NET Core: repeats joined with ','."""
        values = [v for k, v in self.header_list if k.lower() == name.lower()]
        return ",".join(values) if values else None

    def qint(self, name, default):
        try:
            return int(self.query_params.get(name, [default])[0])
        except ValueError:
            return default

    def route(self):
        p = self.route_path
        key = p.lower().rstrip("/")
        if key == "/echo" or key.startswith("/echo/"):
            return self.h_echo()
        get_routes = {
            "": self.h_root,
            "/env": self.h_env,
            "/pid": self.h_pid,
            "/sleep": self.h_sleep,
            "/stream": self.h_stream,
            "/crash": self.h_crash,
            "/bytes": self.h_bytes,
            "/cookies": self.h_cookies,
            "/print": self.h_print,
            "/spawn-child": self.h_spawn_child,
            "/alloc": self.h_alloc,
        }
        handler = get_routes.get(key)
        if handler is None and key.startswith("/status/"):
            code = key[len("/status/"):]
            if code.isdigit() and 200 <= int(code) <= 599:
                handler = lambda: self.h_status(int(code))
        if handler is None:
            return self.send_simple(404)
        if self.command not in ("GET", "HEAD"):
            return self.send_simple(405, headers=[("Allow", "GET, HEAD")])
        return handler()

    # -- endpoints ---------------------------------------------------------

    def h_root(self):
        self.send_text(200, "hello from standin\n")

    def h_echo(self):
        sha = hashlib.sha256()
        length = 0
        while True:
            data = self.body.read()
            if not data:
                break
            sha.update(data)
            length += len(data)
        self.send_json({
            "backend": BACKEND,
            "method": self.command,
            "path": self.route_path,
            "path_base": self.path_base,
            "raw_target": self.raw_target,
            "query": self.query,
            "headers": [[k, v] for k, v in self.header_list],
            "body_length": length,
            "body_sha256": sha.hexdigest(),
            "remote_ip": self.remote_ip,
            "remote_port": self.remote_port,
            "scheme": self.scheme,
            "host": self.headers.get("Host", ""),
            "pid": PID,
        })

    def h_env(self):
        self.send_json(dict(sorted(os.environ.items())))

    def h_pid(self):
        ms = max(0, self.qint("ms", 0))
        if ms:
            time.sleep(ms / 1000.0)
        self.send_text(200, "%d" % PID)

    def h_alloc(self):
        mib = max(0, min(self.qint("mib", 0), 65536))
        block = bytearray(mib << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1          # touch every page: resident, not just reserved
        HELD.append(block)
        self.send_text(200, "allocated %d MiB, held %d, pid %d\n"
                       % (mib, sum(len(b) for b in HELD) >> 20, PID))

    def h_print(self):
        n = max(0, self.qint("n", 1))
        text = "".join("standin print %d of %d pid %d\n" % (i, n, PID) for i in range(n))
        m = max(0, self.qint("warn", 0))
        text += "".join("warn: standin warning %d of %d pid %d\n" % (i, m, PID) for i in range(m))
        sys.stdout.write(text)
        sys.stdout.flush()
        self.send_text(200, "printed %d" % n)

    def h_spawn_child(self):
        self.send_text(200, "%d" % spawn_child())

    def h_sleep(self):
        ms = max(0, self.qint("ms", 0))
        time.sleep(ms / 1000.0)
        self.send_text(200, "slept %d" % ms)

    def h_stream(self):
        n = max(0, self.qint("n", 5))
        interval = max(0, self.qint("interval_ms", 100))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "HEAD":
            return
        for i in range(n):
            if i:
                time.sleep(interval / 1000.0)
            line = ("event %d\n" % i).encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.write(b"0\r\n\r\n")

    def h_crash(self):
        sys.stderr.write("standin: /crash requested, exiting with code 3\n")
        sys.stderr.flush()
        os._exit(3)

    def h_status(self, code):
        if code in (204, 304):
            self.send_simple(code)
        else:
            self.send_text(code, "status %d\n" % code)

    def h_bytes(self):
        n = max(0, self.qint("n", 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        left = n
        while left > 0:
            k = min(left, len(BYTES_PATTERN))
            self.wfile.write(BYTES_PATTERN[:k])
            left -= k

    def h_cookies(self):
        self.send_text(200, "cookies set\n",
                       headers=[("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/")])


def close_socket(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def spawn_child():
    """A grandchild in the stand-in's process group and session (no setsid/setpgid), the
    kind of helper process `dotnet` may start; its stdout/stderr stay the stand-in's."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\ntime.sleep(3600)", "standin-grandchild"],
        stdin=subprocess.DEVNULL, close_fds=True)
    GRANDCHILDREN.append(child)
    return child.pid


SQUATTER_CODE = r"""
import os, socket, sys, time
port, marker, parent, lifetime = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)   # no SO_REUSEADDR: the port is ours
tmp = marker + ".tmp"
try:
    s.bind(("127.0.0.1", port))
    text = "%d\n" % os.getpid()
except OSError as e:
    text = "error: the squatter cannot bind 127.0.0.1:%d: %s\n" % (port, e)
with open(tmp, "w") as f:
    f.write(text)
os.rename(tmp, marker)
if text.startswith("error"):
    sys.exit(1)
deadline = time.monotonic() + lifetime
while os.getppid() == parent and time.monotonic() < deadline:
    time.sleep(0.005)
s.listen(16)
while time.monotonic() < deadline:
    time.sleep(0.5)
"""


def squat_once(marker):
    """STANDIN_SQUAT_ONCE: simulate another program taking our port (see the top)."""
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return          # second start: behave normally
    os.close(fd)
    port = env_int("ASPNETCORE_PORT", 5000)
    lifetime = env_int("STANDIN_SQUAT_SECONDS", 300)
    subprocess.Popen([sys.executable, "-c", SQUATTER_CODE, str(port), marker, str(PID),
                      str(lifetime)],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(marker) as f:
                text = f.read().strip()
            if text.isdigit():
                break
            if text.startswith("error"):
                sys.stderr.write("standin: %s\n" % text)
                break
        except OSError:
            pass
        time.sleep(0.005)
    sys.stderr.write("standin: cannot listen on 127.0.0.1:%d: [Errno 98] Address already in use "
                     "(STANDIN_SQUAT_ONCE)\n" % port)
    sys.stderr.flush()
    os._exit(1)


def main():
    squat = os.environ.get("STANDIN_SQUAT_ONCE", "")
    if squat:
        squat_once(squat)

    if os.environ.get("STANDIN_CHILD_AT_START") == "1":
        sys.stdout.write("standin: started child %d\n" % spawn_child())
        sys.stdout.flush()

    exit_code = os.environ.get("STANDIN_EXIT_AT_START", "")
    fail_if = os.environ.get("STANDIN_FAIL_START_IF", "")
    if fail_if and os.path.exists(fail_if):
        exit_code = "3"
    if exit_code.strip():
        sys.stderr.write("standin: STANDIN_EXIT_AT_START=%s, exiting without listening\n" % exit_code)
        sys.stderr.flush()
        sys.exit(int(exit_code))

    delay = env_int("STANDIN_STARTUP_DELAY_MS", 0)
    if delay > 0:
        time.sleep(delay / 1000.0)

    global PATH_BASE
    PATH_BASE = path_base_from_env()
    port = env_int("ASPNETCORE_PORT", 5000)
    try:
        server = Server(("127.0.0.1", port), Handler)
    except OSError as e:
        sys.stderr.write("standin: cannot listen on 127.0.0.1:%d: %s\n" % (port, e))
        sys.exit(1)

    def on_signal(signum, _frame):
        server.begin_stop(signal.Signals(signum).name)

    if os.environ.get("STANDIN_IGNORE_SIGTERM") == "1" or IGNORE_SHUTDOWN:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN if IGNORE_SHUTDOWN else on_signal)

    sys.stdout.write("standin: listening on 127.0.0.1:%d pid %d\n" % (port, PID))
    sys.stdout.flush()

    server.serve_forever(poll_interval=0.1)

    if FAULT_STOP_LISTENING.is_set() and not server.stopping.is_set():
        # /fault/stop-listening: no listening socket any more, idle connections
        # closed, the process lives on (until told to stop)
        server.socket.close()
        with server.lock:
            idle = [h for h in server.handlers if not h.busy]
        for h in idle:
            close_socket(h.connection)
        sys.stderr.write("standin: stopped listening on 127.0.0.1:%d, staying alive\n" % port)
        sys.stderr.flush()
        server.stopping.wait()

    # Stopping: refuse new connections, close idle keep-alive connections,
    # let in-flight requests finish (bounded), then exit 0.
    server.socket.close()
    with server.lock:
        idle = [h for h in server.handlers if not h.busy]
    for h in idle:
        close_socket(h.connection)
    deadline = time.monotonic() + env_int("STANDIN_SHUTDOWN_GRACE_MS", 30000) / 1000.0
    while time.monotonic() < deadline:
        with server.lock:
            if server.busy == 0:
                break
        time.sleep(0.02)
    with server.lock:
        for h in list(server.handlers):
            close_socket(h.connection)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# ==========================================================================
# Opt-in additions for the forwarding tests (tests/integration/test_forwarding.py)
#
# Reached only through paths under /fwd/ and the knobs STANDIN_RECORD_REQUESTS,
# STANDIN_IDLE_CLOSE_MS and STANDIN_KEEPALIVE_MAX (see the top of the file):
# without them the stand-in behaves exactly as above. The hooks wrap Handler's
# methods instead of editing them.
# ==========================================================================

import base64 as _fwd_base64
import collections as _fwd_collections
import struct as _fwd_struct

FWD_RECORD = os.environ.get("STANDIN_RECORD_REQUESTS") == "1"
FWD_IDLE_CLOSE_MS = env_int("STANDIN_IDLE_CLOSE_MS", 0)
FWD_KEEPALIVE_MAX = env_int("STANDIN_KEEPALIVE_MAX", 0)
FWD_LOG = _fwd_collections.deque(maxlen=20000)   # recorded requests (STANDIN_RECORD_REQUESTS)
FWD_WS_SEEN = _fwd_collections.deque(maxlen=100)  # request headers of /fwd/ws handshakes
FWD_LOCK = threading.Lock()
FWD_SEQ = [0]
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _fwd_framing(headers):
    return [[k, v] for k, v in headers
            if k.lower() in ("content-length", "transfer-encoding", "expect")]


def _fwd_record(handler, **extra):
    with FWD_LOCK:
        FWD_SEQ[0] += 1
        entry = {
            "seq": FWD_SEQ[0],
            "method": handler.command,
            "target": handler.raw_target,
            "headers": [[k, v] for k, v in handler.headers.items()],
            "peer_port": handler.client_address[1],
            "conn_request": handler.fwd_requests_on_conn,
        }
        entry.update(extra)
        FWD_LOG.append(entry)
        return entry


# -- hooks --------------------------------------------------------------------

_fwd_base_handle_one_request = Handler.handle_one_request
_fwd_base_dispatch = Handler._dispatch
_fwd_base_route = Handler.route
_fwd_base_expect_100 = Handler.handle_expect_100


def _fwd_race_close(self):
    """STANDIN_KEEPALIVE_MAX: the connection has had its requests; the next one that comes
    is looked at (MSG_PEEK, to record it as dropped) and left unread, and the connection
    closed: the shutdown's FIN, then the close's reset for the unread bytes."""
    import select as _select
    sock = self.connection
    got = b""
    try:
        r, _, _ = _select.select([sock], [], [], 3600)
        got = sock.recv(65536, socket.MSG_PEEK) if r else b""
    except OSError:
        got = b""
    self.close_connection = True
    if not got:
        return
    words = got.split(b"\r\n", 1)[0].decode("latin-1", "replace").split()
    if FWD_RECORD and len(words) >= 2 and "/fwd/log" not in words[1].lower():
        with FWD_LOCK:
            FWD_SEQ[0] += 1
            FWD_LOG.append({"seq": FWD_SEQ[0], "method": words[0], "target": words[1],
                            "headers": [], "peer_port": self.client_address[1],
                            "conn_request": self.fwd_requests_on_conn + 1, "dropped": True})


def _fwd_handle_one_request(self):
    """STANDIN_IDLE_CLOSE_MS: a connection that stays silent that long between requests
    is closed (as Kestrel's KeepAliveTimeout does, only much shorter).
    STANDIN_KEEPALIVE_MAX: see _fwd_race_close."""
    if FWD_KEEPALIVE_MAX > 0 and getattr(self, "fwd_requests_on_conn", 0) >= FWD_KEEPALIVE_MAX:
        return _fwd_race_close(self)
    if FWD_IDLE_CLOSE_MS > 0:
        got = b""
        try:
            self.connection.settimeout(FWD_IDLE_CLOSE_MS / 1000.0)
            got = self.rfile.peek(1)
        except OSError:           # socket.timeout included
            got = b""
        if not got:
            self.close_connection = True
            if VERBOSE:
                sys.stderr.write("standin: closing a connection idle for %d ms\n" % FWD_IDLE_CLOSE_MS)
            return
        try:
            self.connection.settimeout(None)
        except OSError:
            pass
    return _fwd_base_handle_one_request(self)


def _fwd_dispatch(self):
    self.fwd_requests_on_conn = getattr(self, "fwd_requests_on_conn", 0) + 1
    words = self.requestline.split()
    self.raw_target = words[1] if len(words) >= 2 else self.path
    is_log = "/fwd/log" in self.raw_target.split("?", 1)[0].lower()
    entry = _fwd_record(self, dropped=False, finished=False, answered=False) \
        if FWD_RECORD and not is_log else None
    try:
        result = _fwd_base_dispatch(self)
        if entry is not None:
            entry["answered"] = True     # handled to the end (not cut off by an error)
        return result
    finally:
        if entry is not None:
            entry["finished"] = True


def _fwd_expect_100(self):
    """Requests to /fwd/expect decide themselves when (and whether) to say 100 Continue."""
    if "/fwd/expect" in self.path.split("?", 1)[0].lower():
        self.fwd_continue_pending = True
        return True
    self.fwd_continue_pending = False
    return _fwd_base_expect_100(self)


def _fwd_route(self):
    key = self.route_path.lower().rstrip("/")
    if not key.startswith("/fwd/"):
        return _fwd_base_route(self)
    handler = FWD_ROUTES.get(key[len("/fwd/"):])
    if handler is None:
        return self.send_simple(404)
    return handler(self)


Handler.handle_one_request = _fwd_handle_one_request
Handler._dispatch = _fwd_dispatch
Handler.handle_expect_100 = _fwd_expect_100
Handler.route = _fwd_route


# -- helpers ------------------------------------------------------------------

def _fwd_q(self, name, default=""):
    return self.query_params.get(name, [default])[0]


def _fwd_raw(self, data):
    self.wfile.write(data)
    self.wfile.flush()


def _fwd_reset(self):
    """Close the connection with a TCP RST (SO_LINGER 0) and nothing else: no FIN."""
    sock = self.connection
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _fwd_struct.pack("ii", 1, 0))
        os.close(sock.detach())
    except OSError:
        pass
    self.close_connection = True
    self.body.done = True


def _fwd_close(self):
    """Close the connection (FIN) once this request is done."""
    self.close_connection = True
    try:
        self.connection.shutdown(socket.SHUT_WR)
    except OSError:
        pass


# -- endpoints ----------------------------------------------------------------

def fwd_reason(self):
    """/fwd/reason?code=N&text=T: status N with reason phrase T."""
    code = int(_fwd_q(self, "code", "299"))
    text = _fwd_q(self, "text", "Fine")
    body = b"reason test\n"
    _fwd_raw(self, ("HTTP/1.1 %03d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                    % (code, text, len(body))).encode("latin-1") +
             (b"" if self.command == "HEAD" else body))


def fwd_headers(self):
    """/fwd/headers: repeated end-to-end fields, and hop-by-hop fields that a proxy must
    not pass on; the body is chunked (so the app's own Transfer-Encoding is in the head)."""
    body = b"hop-by-hop test body\n"
    head = [
        "HTTP/1.1 %s" % ("401 Unauthorized" if _fwd_q(self, "auth") else "200 OK"),
        "Content-Type: text/plain",
        "Set-Cookie: one=1; Path=/",
        "Set-Cookie: two=2; Path=/; HttpOnly",
        'WWW-Authenticate: Basic realm="standin"',
        "WWW-Authenticate: Bearer",
        "X-Multi: first",
        "X-Multi: second",
        "Connection: X-Private-Hop, keep-alive",
        "X-Private-Hop: must-not-pass",
        "Keep-Alive: timeout=77, max=7",
        "Proxy-Connection: keep-alive",
        "Upgrade: example/1",
        "Trailer: X-Never",
        "Transfer-Encoding: chunked",
        "X-End-To-End: kept",
    ]
    data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    if self.command != "HEAD":
        data += b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    _fwd_raw(self, data)


def fwd_bighead(self):
    """/fwd/bighead?fields=K&size=N: a response head of exactly K fields (Content-Length
    included) and, with size, exactly N bytes (status line and final CRLF included)."""
    k = max(1, self.qint("fields", 10))
    size = max(0, self.qint("size", 0))
    body = b"big head ok\n"
    status = "HTTP/1.1 200 OK\r\n"
    fixed = ["Content-Length: %d" % len(body)]
    names = ["X-F-%04d" % i for i in range(k - 1)]
    if size:
        # the head with empty values, then spread the rest over the values
        base = (len(status) + sum(len(f) + 2 for f in fixed)
                + sum(len(n) + 4 for n in names) + 2)
        left = size - base
        vals = []
        for i in range(len(names)):
            n = max(0, left) // (len(names) - i)
            vals.append("v" * n)
            left -= n
    else:
        vals = ["v"] * len(names)
    lines = fixed + ["%s: %s" % (n, v) for n, v in zip(names, vals)]
    head = (status + "".join(l + "\r\n" for l in lines) + "\r\n").encode("latin-1")
    if size and len(head) != size:
        return self.send_text(500, "cannot make a head of %d bytes with %d fields (got %d)\n"
                              % (size, k, len(head)))
    _fwd_raw(self, head + (b"" if self.command == "HEAD" else body))


def fwd_close_delimited(self):
    """/fwd/close-delimited?n=N[&version=1.0]: no Content-Length, no chunking: the body is
    N pattern bytes, ended by closing the connection."""
    n = max(0, self.qint("n", 1000))
    version = "HTTP/1.0" if _fwd_q(self, "version") == "1.0" else "HTTP/1.1"
    _fwd_raw(self, ("%s 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" % version)
             .encode("latin-1"))
    if self.command != "HEAD":
        left = n
        while left > 0:
            k = min(left, len(BYTES_PATTERN))
            self.wfile.write(BYTES_PATTERN[:k])
            left -= k
    _fwd_close(self)


def fwd_trailers(self):
    """/fwd/trailers?n=N: chunked body of N pattern bytes in chunks of 1000, then trailer
    fields (X-Checksum, X-Trailer-Two) after the last chunk."""
    n = max(0, self.qint("n", 5000))
    data = (BYTES_PATTERN * (n // len(BYTES_PATTERN) + 1))[:n]
    out = [b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
           b"Trailer: X-Checksum, X-Trailer-Two\r\nTransfer-Encoding: chunked\r\n\r\n"]
    if self.command != "HEAD":
        for i in range(0, n, 1000):
            piece = data[i:i + 1000]
            out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        out.append(b"0\r\nX-Checksum: sha256=%s\r\nX-Trailer-Two: 2\r\n\r\n"
                   % hashlib.sha256(data).hexdigest().encode())
    _fwd_raw(self, b"".join(out))


def fwd_sse(self):
    """/fwd/sse?n=N&interval_ms=M[&framing=chunked|length|close]: server-sent events, one
    every M ms, each written (and sent: unbuffered socket, TCP_NODELAY) on its own; its data
    is the stand-in's time.monotonic() just before the write (CLOCK_MONOTONIC: comparable
    across processes on this machine), in a fixed width so that the body's length is known
    in advance (framing=length: Content-Length; close: ended by closing the connection)."""
    n = max(0, self.qint("n", 5))
    interval = max(0, self.qint("interval_ms", 200))
    framing = _fwd_q(self, "framing") or "chunked"
    size = len(b"id: %d\ndata: %020.6f\n\n" % (0, 0.0))
    if framing == "length":
        frame = b"Content-Length: %d\r\n" % sum(size + len(str(i)) - 1 for i in range(n))
    elif framing == "close":
        frame = b"Connection: close\r\n"
    else:
        frame = b"Transfer-Encoding: chunked\r\n"
    _fwd_raw(self, b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                   + frame + b"\r\n")
    if self.command == "HEAD":
        return
    for i in range(n):
        if i:
            time.sleep(interval / 1000.0)
        event = b"id: %d\ndata: %020.6f\n\n" % (i, time.monotonic())
        self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event) if framing == "chunked" else event)
    if framing == "chunked":
        self.wfile.write(b"0\r\n\r\n")
    elif framing == "close":
        _fwd_close(self)


def fwd_reset(self):
    """/fwd/reset: the request is read, then the connection is reset (RST, no answer)."""
    self.body.drain()
    _fwd_reset(self)


GARBAGE = {
    "garbage": b"this is not HTTP at all\r\n\r\n",
    "status": b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
    "version": b"HTTP/9 200 OK\r\nContent-Length: 0\r\n\r\n",
    "nocolon": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nThis line has no colon\r\n\r\nok",
    "space": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    "cl": b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nok",
    "cl2": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nok",
    "te": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok",
    "chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
    "nul": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Bad: a\x00b\r\n\r\nok",
    "bare-cr": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Bad: a\rSet-Cookie: evil=1\r\n\r\nok",
    "fold": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Bad: a\r\n Set-Cookie: evil=1\r\n\r\nok",
}


def fwd_garbage(self):
    """/fwd/garbage?kind=K: a malformed response (see GARBAGE), then the connection closes."""
    kind = _fwd_q(self, "kind", "garbage")
    data = GARBAGE.get(kind)
    if data is None:
        return self.send_text(400, "unknown kind %r\n" % kind)
    self.body.drain()
    _fwd_raw(self, data)
    _fwd_close(self)


def fwd_truncate(self):
    """/fwd/truncate?framing=length|chunked&how=close|reset[&pause_ms=N]: a response that
    announces 100000 bytes (Content-Length) or is chunked, sends 10 body bytes, waits N ms
    (default 50), then the connection is closed (FIN) or reset (RST)."""
    framing = _fwd_q(self, "framing", "length")
    how = _fwd_q(self, "how", "close")
    self.body.drain()
    if framing == "chunked":
        data = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (10, BYTES_PATTERN[:10]))
    else:
        data = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Length: 100000\r\n\r\n" + BYTES_PATTERN[:10])
    _fwd_raw(self, data)
    # let the proxy pass the first bytes on before the failure (pause_ms=0: fail at once)
    time.sleep(max(0, self.qint("pause_ms", 50)) / 1000.0)
    if how == "reset":
        _fwd_reset(self)
    else:
        _fwd_close(self)


def fwd_expect(self):
    """/fwd/expect: for Expect: 100-continue tests.
    ?refuse=CODE  answer CODE at once, without 100 Continue and without reading the body
                  (the connection is closed afterwards)
    otherwise     after continue_after_ms=N ms (default 0) say 100 Continue (if the
                  request expects it), read the body, answer JSON: expect (the field as
                  received), continue_sent (monotonic time of the 100, or null),
                  body_length, body_sha256"""
    expect = self.header_value("Expect")
    pending = getattr(self, "fwd_continue_pending", False) and expect is not None
    self.fwd_continue_pending = False
    refuse = self.qint("refuse", 0)
    if refuse:
        self.body.done = True            # never read: the client was told not to send it
        self.close_connection = True
        body = b"refused by the app\n"
        _fwd_raw(self, b"HTTP/1.1 %d Refused\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (refuse, len(body), body))
        return
    sent = None
    if pending:
        time.sleep(max(0, self.qint("continue_after_ms", 0)) / 1000.0)
        sent = time.monotonic()
        _fwd_raw(self, b"HTTP/1.1 100 Continue\r\n\r\n")
    sha = hashlib.sha256()
    length = 0
    while True:
        data = self.body.read()
        if not data:
            break
        sha.update(data)
        length += len(data)
    self.send_json({"expect": expect, "continue_sent": sent, "body_length": length,
                    "body_sha256": sha.hexdigest(), "framing": _fwd_framing(self.header_list)})


def _fwd_peer_closed(sock, timeout):
    """Waits up to `timeout` s, without reading, for the peer to close (FIN or RST)."""
    import select
    p = select.poll()
    p.register(sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if p.poll(left * 1000.0):
            return True


def fwd_early(self):
    """/fwd/early?code=N&delay_ms=D&hold_ms=H: answers N (default 413) after D ms without
    reading the body and keeps the connection; then waits up to H ms for the proxy to
    close it (a closed connection is dropped, unread). Otherwise the bytes after the head
    are read as the next request(s), as a naive server does: whoever is sent the
    connection next gets the answers to requests hidden in this body."""
    code = self.qint("code", 413)
    time.sleep(max(0, self.qint("delay_ms", 0)) / 1000.0)
    self.body.done = True                 # never read: the rest is "the next request"
    body = b"refused early\n"
    _fwd_raw(self, b"HTTP/1.1 %d Early\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
             % (code, len(body), body))
    if _fwd_peer_closed(self.connection, max(0, self.qint("hold_ms", 0)) / 1000.0):
        self.close_connection = True


def fwd_chunk_ext(self):
    """/fwd/chunk-ext?count=K&size=N: chunked "hello" whose one chunk-size line carries K
    extensions ";e=" + N-3 bytes (N >= 3), written with the head in one write."""
    count = max(0, self.qint("count", 1))
    size = max(3, self.qint("size", 10))
    ext = b";e=" + b"v" * (size - 3)
    _fwd_raw(self, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
             + b"5" + ext * count + b"\r\nhello\r\n0\r\n\r\n")


def fwd_interim(self):
    """/fwd/interim?n=N&interval_ms=M&code=C: N interim responses (n=-1: for ever, until
    the connection fails), one every M ms, then a final 200."""
    n = self.qint("n", 1)
    interval = max(0, self.qint("interval_ms", 0)) / 1000.0
    code = self.qint("code", 102)
    interim = (b"HTTP/1.1 %d Interim\r\n%s\r\n"
               % (code, b"Link: </style.css>; rel=preload\r\n" if code == 103 else b""))
    self.body.drain()
    i = 0
    while n < 0 or i < n:
        if i and interval:
            time.sleep(interval)
        _fwd_raw(self, interim)          # OSError once the proxy has given up: the end
        i += 1
    body = b"after %d interim\n" % n
    _fwd_raw(self, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
             % (len(body), body))


def fwd_log(self):
    """/fwd/log: the requests recorded with STANDIN_RECORD_REQUESTS=1 (oldest first),
    without /fwd/log's own; ?clear=1 empties the record after reading it."""
    with FWD_LOCK:
        entries = list(FWD_LOG)
        if _fwd_q(self, "clear") == "1":
            FWD_LOG.clear()
    self.send_json({"recording": FWD_RECORD, "requests": entries})


def fwd_conns(self):
    """/fwd/conns: connections open to this process right now (this one included) and
    requests being handled."""
    with self.server.lock:
        self.send_json({"connections": len(self.server.handlers), "busy": self.server.busy,
                        "threads": threading.active_count()})


# -- WebSocket echo (RFC 6455, stdlib only) --------------------------------------

def _ws_read_exact(rfile, n):
    data = rfile.read(n) if n else b""
    if len(data) != n:
        raise ConnectionError("connection closed inside a WebSocket frame")
    return data


def _ws_read_frame(rfile):
    b0, b1 = _ws_read_exact(rfile, 2)
    fin, opcode, masked, n = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
    if n == 126:
        n = _fwd_struct.unpack("!H", _ws_read_exact(rfile, 2))[0]
    elif n == 127:
        n = _fwd_struct.unpack("!Q", _ws_read_exact(rfile, 8))[0]
    key = _ws_read_exact(rfile, 4) if masked else None
    payload = _ws_read_exact(rfile, n)
    if key:
        payload = _ws_unmask(payload, key)
    return bool(fin), opcode, payload


def _ws_unmask(payload, key):
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big") if n else b""


def _ws_frame(opcode, payload, fin=True):
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + _fwd_struct.pack("!H", n)
    else:
        head += bytes([127]) + _fwd_struct.pack("!Q", n)
    return head + payload


def fwd_ws(self):
    """/fwd/ws: a WebSocket echo. Each message comes back as it was received (text or
    binary), in frames of at most 16 KiB (so a large one is fragmented). A text message
    "server-close" makes the server start the closing handshake (1000 "bye"); a ping gets
    a pong; a close frame is answered with the same code, then the server closes the TCP
    connection. ?ext=1: the 101 also says Sec-WebSocket-Extensions: permessage-deflate
    (which a proxy must not pass on). The handshake's request headers are recorded
    (/fwd/ws-seen)."""
    with FWD_LOCK:
        FWD_WS_SEEN.append([[k, v] for k, v in self.header_list])
    key = self.header_value("Sec-WebSocket-Key")
    if (self.command != "GET" or not key or "websocket" not in (self.header_value("Upgrade") or "").lower()):
        return self.send_text(400, "not a WebSocket request\n")
    accept = _fwd_base64.b64encode(hashlib.sha1((key.strip() + WS_GUID).encode()).digest()).decode()
    head = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Accept: " + accept, "X-Standin-Ws: 1"]
    if _fwd_q(self, "ext") == "1":
        head.append("Sec-WebSocket-Extensions: permessage-deflate")
    _fwd_raw(self, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    self.close_connection = True
    self.body.done = True
    rfile, wfile = self.rfile, self.wfile
    message, msg_op, closing = [], None, False
    try:
        while True:
            fin, opcode, payload = _ws_read_frame(rfile)
            if opcode == 0x8:                               # close
                if not closing:
                    wfile.write(_ws_frame(0x8, payload[:2] or b""))
                break
            if opcode == 0x9:                               # ping
                wfile.write(_ws_frame(0xA, payload))
                continue
            if opcode == 0xA:
                continue
            if opcode in (0x1, 0x2):
                msg_op, message = opcode, [payload]
            elif opcode == 0x0 and msg_op is not None:
                message.append(payload)
            else:
                raise ConnectionError("unexpected WebSocket opcode %d" % opcode)
            if not fin:
                continue
            data = b"".join(message)
            if msg_op == 0x1 and data == b"server-close":
                wfile.write(_ws_frame(0x8, _fwd_struct.pack("!H", 1000) + b"bye"))
                closing = True
                continue
            if closing:
                continue
            if not data:
                wfile.write(_ws_frame(msg_op, b""))
            for i in range(0, len(data), 16384):
                piece = data[i:i + 16384]
                first, last = i == 0, i + 16384 >= len(data)
                wfile.write(_ws_frame(msg_op if first else 0x0, piece, fin=last))
    except (OSError, ConnectionError, ValueError):
        pass
    try:
        self.connection.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def fwd_ws_seen(self):
    """/fwd/ws-seen: request headers of every /fwd/ws handshake so far (oldest first)."""
    with FWD_LOCK:
        self.send_json({"handshakes": list(FWD_WS_SEEN)})


FWD_ROUTES = {
    "reason": fwd_reason,
    "headers": fwd_headers,
    "bighead": fwd_bighead,
    "close-delimited": fwd_close_delimited,
    "trailers": fwd_trailers,
    "sse": fwd_sse,
    "reset": fwd_reset,
    "garbage": fwd_garbage,
    "truncate": fwd_truncate,
    "expect": fwd_expect,
    "early": fwd_early,
    "chunk-ext": fwd_chunk_ext,
    "interim": fwd_interim,
    "log": fwd_log,
    "conns": fwd_conns,
    "ws": fwd_ws,
    "ws-seen": fwd_ws_seen,
}

# ==========================================================================
# End of the forwarding tests' additions
# ==========================================================================

# ==========================================================================
# Opt-in additions for the fault-injection suite and the soak
# (tests/integration/test_faults.py, tests/soak/soak.py)
#
# Reached only through paths under /fault/: without them the stand-in behaves
# exactly as above. Every connection gets an id "PID:N" (N counts the
# connections this process accepted); a fault that leaves its connection open
# in a state no proxy may reuse marks it "poisoned": a request that arrives on
# a poisoned connection afterwards is recorded (/fault/report: "reused") and
# answered 500 "REUSED AFTER FAULT" with Connection: close, so a test sees the
# reuse from both ends.
#   /fault/conn                 text "PID:N REQ" (connection id, request number on it)
#   /fault/die?at=request|body  SIGKILL itself: after reading the request (no answer),
#                               or after the head and 10000 of 100000 body bytes
#   /fault/hang                 read the request, never answer; the handler waits until
#                               the peer closes (recorded: "hang_closed") or sends more
#                               (a reuse of a hung connection: recorded)
#   /fault/garbage              "NOT HTTP" bytes, connection kept open (poisoned)
#   /fault/stall?framing=length|chunked  a head and 10 body bytes, then silence with
#                               the connection open (poisoned): a truncated body that
#                               only a timeout ends
#   /fault/badchunk             chunked head, a valid chunk, then "zz\r\n", kept open
#   /fault/bighead?size=N       a head of N bytes (default 70000), kept open (poisoned)
#   /fault/chunkext?size=N      chunked; the first chunk-size line carries N bytes (default
#                               1 MiB) of extensions ";a=b;a=b...", kept open (poisoned)
#   /fault/early?status=S[&pause_ms=N]  answer S (default 413, Content-Length,
#                               keep-alive) at once without reading the body (recorded:
#                               "early", with the connection id); after N ms (default 0)
#                               the rest of the connection is parsed as the next requests
#                               (as a naive server would: a body carrying requests
#                               smuggles them)
#   /fault/smuggled             text "SMUGGLED ANSWER" (a client must never see it)
#   /fault/close-after?n=N      N pattern bytes (Content-Length, no Connection: close),
#                               then the connection is closed (FIN) at once
#   /fault/sink                 reads a body slowly-tolerant; a body cut short by the
#                               peer is recorded ("cut": connection id, bytes read)
#   /fault/stop-listening       JSON {"pid","port"}; then the process closes its listening
#                               socket and its idle connections and stays alive (a ready
#                               app whose port another local user may take)
#   /fault/drop?id=X            read the request and its body, record it ("dropped": id,
#                               method, connection id, request number on it), then close
#                               the connection unanswered (FIN); the process lives on, as an
#                               app that calls HttpContext.Abort() does
#   /fault/report[?clear=1]     JSON: reused, hang_closed, cut, early, dropped (lists of events)
#   /fault/dying                text "dying PID"; then the process dies as a killed one can
#                               look from outside: the next request on a kept connection is read
#                               and closed unanswered (FIN), and the next new connection closes
#                               the listening socket, is reset (RST) and the process exits 1
# ==========================================================================

import itertools as _fault_itertools

FAULT_LOCK = threading.Lock()
FAULT_CONN_SEQ = _fault_itertools.count(1)
FAULT_EVENTS = {"reused": [], "hang_closed": [], "cut": [], "early": [], "dropped": []}
FAULT_EVENTS_MAX = 10000

_fault_base_setup = Handler.setup
_fault_base_dispatch = Handler._dispatch
_fault_base_route = Handler.route


def _fault_event(kind, **data):
    with FAULT_LOCK:
        if len(FAULT_EVENTS[kind]) < FAULT_EVENTS_MAX:
            FAULT_EVENTS[kind].append(data)


FAULT_DYING = threading.Event()


def _fault_setup(self):
    if FAULT_DYING.is_set():
        # /fault/dying: no listener any more, this connection reset, the process gone
        self.server.socket.close()
        sys.stderr.write("standin: /fault/dying: a new connection reset, exiting with code 1\n")
        sys.stderr.flush()
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                _fwd_struct.pack("ii", 1, 0))
        self.request.close()
        os._exit(1)
    _fault_base_setup(self)
    self.fault_conn_id = "%d:%d" % (PID, next(FAULT_CONN_SEQ))
    self.fault_requests = 0
    self.fault_poisoned = None


def _fault_dispatch(self):
    self.fault_requests += 1
    if FAULT_DYING.is_set():
        # /fault/dying: a kept connection is closed without an answer
        sys.stderr.write("standin: /fault/dying: a request on a kept connection closed "
                         "unanswered\n")
        sys.stderr.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return None
    if self.fault_poisoned:
        words = self.requestline.split()
        _fault_event("reused", conn=self.fault_conn_id, fault=self.fault_poisoned,
                     target=words[1] if len(words) >= 2 else self.requestline)
        self.close_connection = True
        body = b"REUSED AFTER FAULT\n"
        try:
            _fwd_raw(self, b"HTTP/1.1 500 Reused\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        except OSError:
            pass
        return None
    return _fault_base_dispatch(self)


def _fault_route(self):
    key = self.route_path.lower().rstrip("/")
    if not key.startswith("/fault/"):
        return _fault_base_route(self)
    handler = FAULT_ROUTES.get(key[len("/fault/"):])
    if handler is None:
        return self.send_simple(404)
    return handler(self)


Handler.setup = _fault_setup
Handler._dispatch = _fault_dispatch
Handler.route = _fault_route


def _fault_wait_peer(self, what):
    """Keep the connection open without answering until the peer closes it (returns) or
    sends more bytes (a reuse: recorded). Bounded by an hour."""
    sock = self.connection
    deadline = time.monotonic() + 3600
    import select as _select
    while time.monotonic() < deadline:
        try:
            r, _, _ = _select.select([sock], [], [], 0.5)
            if not r:
                continue
            got = sock.recv(4096, socket.MSG_PEEK)
        except OSError:
            got = b""
        if not got:
            _fault_event("hang_closed", conn=self.fault_conn_id, fault=what)
            break
        _fault_event("reused", conn=self.fault_conn_id, fault=what,
                     target=got.split(b"\r\n", 1)[0].decode("latin-1", "replace")[:200])
        break
    self.close_connection = True
    self.body.done = True


def fault_conn(self):
    self.send_text(200, "%s %d" % (self.fault_conn_id, self.fault_requests))


def fault_die(self):
    at = _fwd_q(self, "at", "request")
    self.body.drain()
    sys.stderr.write("standin: /fault/die?at=%s: SIGKILL\n" % at)
    sys.stderr.flush()
    if at == "body":
        _fwd_raw(self, b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                       b"Content-Length: 100000\r\n\r\n" + (BYTES_PATTERN * 1)[:10000])
        time.sleep(max(0, self.qint("pause_ms", 100)) / 1000.0)
    os.kill(PID, signal.SIGKILL)


def fault_dying(self):
    self.body.drain()
    self.send_text(200, "dying %d\n" % PID)
    self.wfile.flush()
    FAULT_DYING.set()


def fault_drop(self):
    self.body.drain()
    _fault_event("dropped", id=_fwd_q(self, "id", ""), method=self.command,
                 conn=self.fault_conn_id, request=self.fault_requests)
    self.close_connection = True
    try:
        self.connection.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def fault_hang(self):
    self.body.drain()
    _fault_wait_peer(self, "hang")


def fault_garbage(self):
    self.body.drain()
    self.fault_poisoned = "garbage"
    _fwd_raw(self, b"NOT HTTP AT ALL, just bytes\r\n\r\n")


def fault_stall(self):
    self.body.drain()
    framing = _fwd_q(self, "framing", "length")
    if framing == "chunked":
        _fwd_raw(self, b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\na\r\n" + BYTES_PATTERN[:10] + b"\r\n")
    else:
        _fwd_raw(self, b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                       b"Content-Length: 100000\r\n\r\n" + BYTES_PATTERN[:10])
    _fault_wait_peer(self, "stall-" + framing)


def fault_badchunk(self):
    self.body.drain()
    self.fault_poisoned = "badchunk"
    _fwd_raw(self, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nfirst\r\nzz\r\nsecond\r\n0\r\n\r\n")


def fault_bighead(self):
    size = max(1000, self.qint("size", 70000))
    self.body.drain()
    self.fault_poisoned = "bighead"
    status = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
    fields = []
    left = size - len(status) - 2
    i = 0
    while left > 0:
        n = min(left, 4000)
        name = b"X-Big-%04d: " % i
        val = b"v" * max(1, n - len(name) - 2)
        fields.append(name + val + b"\r\n")
        left -= len(fields[-1])
        i += 1
    _fwd_raw(self, status + b"".join(fields) + b"\r\nok")


def fault_chunkext(self):
    size = max(4, self.qint("size", 1 << 20))
    self.body.drain()
    self.fault_poisoned = "chunkext"
    _fwd_raw(self, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5" + b";a=b" * (size // 4) + b"\r\nhello\r\n0\r\n\r\n")


def fault_early(self):
    status = self.qint("status", 413)
    body = b"early answer %d\n" % status
    # not read: the next bytes on this connection are parsed as the next request
    self.body.done = True
    _fault_event("early", conn=self.fault_conn_id)
    _fwd_raw(self, b"HTTP/1.1 %d Early\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
             % (status, len(body), body))
    time.sleep(max(0, self.qint("pause_ms", 0)) / 1000.0)


def fault_smuggled(self):
    self.send_text(200, "SMUGGLED ANSWER\n")


def fault_close_after(self):
    n = max(0, self.qint("n", 100))
    self.body.drain()
    data = (BYTES_PATTERN * (n // len(BYTES_PATTERN) + 1))[:n]
    _fwd_raw(self, b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                   b"Content-Length: %d\r\n\r\n%s" % (n, data))
    self.close_connection = True
    close_socket(self.connection)


def fault_sink(self):
    got = 0
    try:
        while True:
            data = self.body.read()
            if not data:
                break
            got += len(data)
    except (OSError, ConnectionError, ValueError) as e:
        _fault_event("cut", conn=self.fault_conn_id, bytes=got, error=str(e)[:100])
        self.close_connection = True
        return
    self.send_text(200, "sank %d" % got)


def fault_report(self):
    with FAULT_LOCK:
        doc = {k: list(v) for k, v in FAULT_EVENTS.items()}
        if _fwd_q(self, "clear") == "1":
            for v in FAULT_EVENTS.values():
                v.clear()
    doc["pid"] = PID
    doc["conn"] = self.fault_conn_id
    self.send_json(doc)


FAULT_STOP_LISTENING = threading.Event()


def fault_stop_listening(self):
    self.body.drain()
    self.close_connection = True
    self.send_json({"pid": PID, "port": self.server.server_address[1]})
    FAULT_STOP_LISTENING.set()
    threading.Thread(target=self.server.shutdown, daemon=True).start()


FAULT_ROUTES = {
    "stop-listening": fault_stop_listening,
    "conn": fault_conn,
    "die": fault_die,
    "dying": fault_dying,
    "drop": fault_drop,
    "hang": fault_hang,
    "garbage": fault_garbage,
    "stall": fault_stall,
    "badchunk": fault_badchunk,
    "bighead": fault_bighead,
    "chunkext": fault_chunkext,
    "early": fault_early,
    "smuggled": fault_smuggled,
    "close-after": fault_close_after,
    "sink": fault_sink,
    "report": fault_report,
}

# ==========================================================================
# End of the fault-injection additions
# ==========================================================================

# ==========================================================================
# Opt-in additions for the health-check tests (tests/integration/test_health.py)
#
# Reached only through paths under /health: without them the stand-in behaves
# exactly as above.
#   /healthz                    the health endpoint (as MapHealthChecks("/healthz")):
#                               200 "Healthy", or what /health/set chose
#   /health/set?status=NNN      /healthz answers NNN (200-599) from now on ("Unhealthy"
#                               for 5xx); answers "health NNN"
#   /health/hang-all            a deadlock: answers "hanging", then every later request
#                               on any connection (the shutdown event and /healthz too) is
#                               read and never answered; the process keeps accepting
#                               connections, and a SIGTERM waits for those requests
#                               (STANDIN_SHUTDOWN_GRACE_MS), as a deadlocked app's does
#   /health/flood-1xx           /healthz then answers with interim "100 Continue" heads,
#                               as fast as it can for 15 s, and never a final one
# ==========================================================================

HEALTH_STATUS = [200]
HEALTH_HANG = threading.Event()
HEALTH_NEVER = threading.Event()        # never set: what a hung request waits on
HEALTH_FLOOD = threading.Event()

_health_base_dispatch = Handler._dispatch
_health_base_route = Handler.route


def _health_dispatch(self):
    if HEALTH_HANG.is_set():
        HEALTH_NEVER.wait(3600)
        self.close_connection = True
        return None
    return _health_base_dispatch(self)


def _health_route(self):
    key = self.route_path.lower().rstrip("/")
    if key == "/healthz" and HEALTH_FLOOD.is_set():
        chunk = b"HTTP/1.1 100 Continue\r\n\r\n" * 4096
        end = time.monotonic() + 15
        try:
            while time.monotonic() < end:
                self.wfile.write(chunk)
        except OSError:
            pass
        self.close_connection = True
        return None
    if key == "/health/flood-1xx":
        HEALTH_FLOOD.set()
        return self.send_text(200, "flooding")
    if key == "/healthz":
        code = HEALTH_STATUS[0]
        return self.send_text(code, "Healthy" if code < 500 else "Unhealthy")
    if key == "/health/set":
        code = self.qint("status", 200)
        if not 200 <= code <= 599:
            return self.send_text(400, "status must be 200-599\n")
        HEALTH_STATUS[0] = code
        return self.send_text(200, "health %d" % code)
    if key == "/health/hang-all":
        self.send_text(200, "hanging")
        self.wfile.flush()
        HEALTH_HANG.set()
        return None
    return _health_base_route(self)


Handler._dispatch = _health_dispatch
Handler.route = _health_route

# ==========================================================================
# End of the health-check additions
# ==========================================================================

if __name__ == "__main__":
    main()
