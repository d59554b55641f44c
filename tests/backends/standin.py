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
  /pid                   text pid
  /sleep?ms=N            "slept N" after N ms
  /stream?n=N&interval_ms=M   chunked, "event i\\n" for i = 0..N-1, flushed
  /crash                 process exits with code 3 without answering
  /status/NNN            status NNN (200-599) with a short body
  /bytes?n=N             N bytes, byte i = i % 251
  /cookies               two Set-Cookie headers

Environment knobs:
  ASPNETCORE_PORT, ASPNETCORE_APPL_PATH, ASPNETCORE_TOKEN  the ANCM contract
  STANDIN_VERBOSE=1            log requests to stderr
  STANDIN_STARTUP_DELAY_MS=N   sleep N ms before listening
  STANDIN_EXIT_AT_START=CODE   print a line to stderr and exit CODE at once
  STANDIN_IGNORE_SIGTERM=1     ignore SIGTERM (to test SIGKILL escalation)
  STANDIN_SHUTDOWN_GRACE_MS=N  max wait for in-flight requests when stopping

Run it with Debian's /usr/bin/python3 (stdlib only, no third-party imports).
"""

import hashlib
import http.server
import ipaddress
import json
import os
import signal
import socket
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
        self.send_text(200, "%d" % PID)

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


def main():
    exit_code = os.environ.get("STANDIN_EXIT_AT_START", "")
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

    if os.environ.get("STANDIN_IGNORE_SIGTERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    sys.stdout.write("standin: listening on 127.0.0.1:%d pid %d\n" % (port, PID))
    sys.stdout.flush()

    server.serve_forever(poll_interval=0.1)

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


if __name__ == "__main__":
    main()
