"""HTTP/1.1 clients for the integration tests (stdlib only).

* RawConnection: a raw-socket client that sends byte-exact requests and parses responses
  itself (status, headers in order with duplicates, body with Content-Length / chunked /
  close-delimited framing, interim 1xx, trailers), supports keep-alive and incremental
  body reading with arrival timestamps.
* request(): a one-shot convenience wrapper around http.client (over TLS with a context).
* read_until_closed(): every byte on a socket until the peer closes it.
"""

import hashlib
import http.client
import json
import socket
import struct
import time


class Response:
    def __init__(self, version, status, reason, headers, raw_head, interim=None):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers          # [(name, value), ...] in wire order, duplicates kept
        self.raw_head = raw_head        # bytes, status line + header block
        self.interim = interim or []    # [Response] of 1xx responses received before
        self.body = b""
        self.trailers = []
        self.chunked = False
        self.chunk_sizes = []

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def headers_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_header(self, name):
        return bool(self.headers_all(name))

    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError as exc:
            raise AssertionError("response is not JSON (status %s): %r" % (self.status, self.body[:500])) from exc

    def sha256(self):
        return hashlib.sha256(self.body).hexdigest()

    def __repr__(self):
        return "<Response %s %s, %d header(s), %d body byte(s)>" % (
            self.status, self.reason, len(self.headers), len(self.body))


class ConnectionClosed(Exception):
    """The peer closed the connection before a complete response was read."""


def _no_body(method, status):
    return method.upper() == "HEAD" or status in (204, 304) or 100 <= status < 200


class RawConnection:
    """One TCP connection; send raw bytes, read HTTP responses."""

    def __init__(self, port, host="127.0.0.1", timeout=30.0):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    # -- plumbing --------------------------------------------------------------------
    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self):
        if self.eof:
            return False
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _read_line(self, limit=65536):
        while True:
            idx = self.buf.find(b"\n")
            if idx >= 0:
                line, self.buf = self.buf[:idx + 1], self.buf[idx + 1:]
                return line
            if len(self.buf) > limit:
                raise AssertionError("header line longer than %d bytes" % limit)
            if not self._fill():
                raise ConnectionClosed("connection closed while reading a line (got %r)" % self.buf[:200])

    def _read_exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionClosed("connection closed with %d of %d bytes read" % (len(self.buf), n))
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _read_some(self, maxlen):
        """Up to maxlen bytes, at least 1; b'' at EOF."""
        if not self.buf and not self._fill():
            return b""
        data, self.buf = self.buf[:maxlen], self.buf[maxlen:]
        return data

    def peer_closed(self, wait=0.0):
        """True if the peer has closed the connection (reads nothing that is pending)."""
        if self.eof:
            return True
        if self.buf:
            return False
        self.sock.settimeout(wait if wait > 0 else 0.001)
        try:
            data = self.sock.recv(65536)
            if not data:
                self.eof = True
                return True
            self.buf += data
            return False
        except (socket.timeout, BlockingIOError):
            return False
        except OSError:
            return True
        finally:
            self.sock.settimeout(self.timeout)

    # -- requests --------------------------------------------------------------------
    def build_request(self, method, target, headers=None, body=None, version="HTTP/1.1",
                      host=True):
        """Bytes of a request.  headers: list of (name, value) sent verbatim.  host=True adds
        'Host: 127.0.0.1:<port>' unless headers has one; a body gets Content-Length unless
        headers has Content-Length or Transfer-Encoding."""
        headers = list(headers or [])
        names = {k.lower() for k, _ in headers}
        if host and "host" not in names:
            headers.insert(0, ("Host", "%s:%d" % (self.host, self.port)))
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None and "content-length" not in names and "transfer-encoding" not in names:
            headers.append(("Content-Length", str(len(body))))
        if isinstance(target, str):
            target = target.encode("latin-1")
        head = method.encode("latin-1") + b" " + target + b" " + version.encode("latin-1") + b"\r\n"
        for k, v in headers:
            head += ("%s: %s\r\n" % (k, v)).encode("latin-1")
        head += b"\r\n"
        return head + (body or b"")

    def request(self, method, target, headers=None, body=None, **kw):
        """Send a request and read the complete response."""
        self.send(self.build_request(method, target, headers, body, **kw))
        return self.read_response(method)

    def send_chunked(self, method, target, chunks, headers=None, trailers=None):
        """Send a request whose body is chunked; chunks is an iterable of bytes."""
        headers = list(headers or []) + [("Transfer-Encoding", "chunked")]
        self.send(self.build_request(method, target, headers, None))
        for c in chunks:
            if c:
                self.sock.sendall(b"%x\r\n" % len(c) + c + b"\r\n")
        tail = b"0\r\n"
        for k, v in trailers or []:
            tail += ("%s: %s\r\n" % (k, v)).encode("latin-1")
        self.sock.sendall(tail + b"\r\n")

    # -- responses -------------------------------------------------------------------
    def read_head(self, keep_interim=True, return_interim=False):
        """Read status line + headers.  1xx responses (except 101) are collected into
        .interim and the final response head is returned; with return_interim=True the
        first head read is returned even if it is a 1xx."""
        interim = []
        while True:
            raw = b""
            line = self._read_line()
            while line in (b"\r\n", b"\n") and not raw:   # tolerate stray CRLF
                line = self._read_line()
            raw += line
            parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise AssertionError("bad status line %r" % line)
            version, status = parts[0], int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            headers = []
            while True:
                line = self._read_line()
                raw += line
                if line in (b"\r\n", b"\n"):
                    break
                text = line.decode("latin-1").rstrip("\r\n")
                if text[:1] in (" ", "\t") and headers:     # obsolete folding
                    k, v = headers[-1]
                    headers[-1] = (k, v + " " + text.strip())
                    continue
                k, _, v = text.partition(":")
                headers.append((k, v.strip()))
            resp = Response(version, status, reason, headers, raw)
            if 100 <= status < 200 and status != 101 and not return_interim:
                interim.append(resp)
                continue
            resp.interim = interim if keep_interim else []
            return resp

    def iter_body(self, resp, method="GET"):
        """Yield the body of resp piece by piece as bytes arrive (de-chunked)."""
        if _no_body(method, resp.status) or resp.status == 101:
            return
        te = ",".join(resp.headers_all("Transfer-Encoding")).lower()
        if "chunked" in te:
            resp.chunked = True
            while True:
                line = self._read_line()
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise AssertionError("bad chunk size line %r" % line)
                resp.chunk_sizes.append(size)
                if size == 0:
                    while True:                          # trailers
                        t = self._read_line()
                        if t in (b"\r\n", b"\n"):
                            return
                        k, _, v = t.decode("latin-1").rstrip("\r\n").partition(":")
                        resp.trailers.append((k, v.strip()))
                left = size
                while left:
                    data = self._read_some(left)
                    if not data:
                        raise ConnectionClosed("connection closed inside a chunk")
                    left -= len(data)
                    yield data
                crlf = self._read_exact(2)
                if crlf != b"\r\n":
                    raise AssertionError("chunk not followed by CRLF: %r" % crlf)
        elif resp.has_header("Content-Length"):
            lengths = {v.strip() for v in resp.headers_all("Content-Length")}
            if len(lengths) != 1:
                raise AssertionError("conflicting Content-Length headers %r" % lengths)
            left = int(lengths.pop())
            while left:
                data = self._read_some(min(left, 65536))
                if not data:
                    raise ConnectionClosed("connection closed with %d body bytes missing" % left)
                left -= len(data)
                yield data
        else:                                             # close-delimited
            while True:
                data = self._read_some(65536)
                if not data:
                    return
                yield data

    def read_response(self, method="GET"):
        resp = self.read_head()
        resp.body = b"".join(self.iter_body(resp, method))
        return resp

    def read_body_timed(self, resp, method="GET"):
        """Read the body; return [(monotonic_time, bytes), ...] as pieces arrived."""
        pieces = []
        for data in self.iter_body(resp, method):
            pieces.append((time.monotonic(), data))
        resp.body = b"".join(d for _, d in pieces)
        return pieces


def raw_request(port, method, target, headers=None, body=None, timeout=30.0, **kw):
    """One request on a fresh connection; returns the Response (connection closed)."""
    with RawConnection(port, timeout=timeout) as c:
        return c.request(method, target, headers, body, **kw)


def read_until_closed(sock):
    """Every byte the peer sends on sock until it closes the connection."""
    data = b""
    while True:
        got = sock.recv(65536)
        if not got:
            return data
        data += got


def request(port, method, path, headers=None, body=None, timeout=30.0, host="127.0.0.1",
            context=None):
    """One request with http.client on a fresh connection.  headers: dict or list of pairs;
    context: an ssl.SSLContext to make it over TLS (e.g. tlsutil.client_context()).
    Returns a Response (same type as RawConnection's)."""
    if context is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        hdrs = headers.items() if isinstance(headers, dict) else (headers or [])
        names = {k.lower() for k, _ in hdrs}
        conn.putrequest(method, path, skip_host="host" in names, skip_accept_encoding=True)
        for k, v in hdrs:
            conn.putheader(k, v)
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None and "content-length" not in names and "transfer-encoding" not in names:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        resp = Response("HTTP/%d.%d" % divmod(r.version, 10), r.status, r.reason,
                        list(r.getheaders()), b"")
        resp.body = r.read()
        return resp
    finally:
        conn.close()


def get(port, path, **kw):
    return request(port, "GET", path, **kw)


# --- clients that go away (reset, not a clean close) ---------------------------------------

def _reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def abort_download(port, target):
    """GET target, read the head and some body, then reset the connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode())
        got = b""
        while b"\r\n\r\n" not in got or len(got) < 2000:
            data = s.recv(65536)
            if not data:
                raise AssertionError("connection closed before any body: %r" % got[:300])
            got += data
        assert got.startswith(b"HTTP/1.1 200"), got[:200]
    finally:
        _reset(s)


def abort_upload(port, target, part, parts_declared, settle=0.0):
    """POST target declaring parts_declared * len(part) bytes, send one part, wait settle
    seconds (for the module to hand it on), then reset the connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % (target.encode(), parts_declared * len(part)))
        s.sendall(part)
        if settle:
            time.sleep(settle)
    finally:
        _reset(s)
