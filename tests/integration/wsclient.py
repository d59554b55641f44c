"""A minimal WebSocket client (RFC 6455) for the integration tests, stdlib only.

    ws, resp = wsclient.connect(port, "/ws", headers=[...])   # resp: the handshake answer
    ws, resp = wsclient.connect(port, "/ws", ssl_context=ctx)  # wss: TLS first (tlsutil)
    if ws is None: resp.status is not 101 (resp.body read when framed)
    ws.send_text("hi"); ws.recv_message() -> (opcode, payload bytes)
    ws.send_binary(data, fragment=16384)   # several frames, continuation opcodes
    ws.close()                             # closing handshake, then waits for the TCP end

Client frames are masked as the RFC requires; received messages are reassembled from
their fragments; pings are answered. Close frames are returned by recv_message as
(OP_CLOSE, payload).
"""

import base64
import hashlib
import os
import socket
import struct
import time

import httpclient

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WsError(AssertionError):
    pass


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def _mask(payload, key):
    n = len(payload)
    if not n:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def connect(port, path, headers=None, timeout=30.0, host="127.0.0.1", ssl_context=None):
    """Open a TCP connection (TLS with ssl_context: wss), send the upgrade request; returns
    (WebSocket, head) on 101, else (None, Response) with the non-101 answer (its body read
    if it has one)."""
    conn = httpclient.RawConnection(port, host=host, timeout=timeout)
    if ssl_context is not None:
        try:
            conn.sock = ssl_context.wrap_socket(conn.sock, server_hostname=host)
        except BaseException:
            conn.close()
            raise
    key = base64.b64encode(os.urandom(16)).decode()
    hdrs = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13")] + list(headers or [])
    try:
        conn.send(conn.build_request("GET", path, hdrs))
        head = conn.read_head()
        if head.status != 101:
            try:
                head.body = b"".join(conn.iter_body(head, "GET"))
            except (httpclient.ConnectionClosed, OSError):
                pass
            conn.close()
            return None, head
    except BaseException:
        conn.close()
        raise
    want = accept_key(key)
    if head.header("Sec-WebSocket-Accept") != want:
        conn.close()
        raise WsError("bad Sec-WebSocket-Accept %r (want %r); head %r" % (
            head.header("Sec-WebSocket-Accept"), want, head.raw_head))
    return WebSocket(conn), head


class WebSocket:
    def __init__(self, conn):
        self.conn = conn            # httpclient.RawConnection (its buffer may hold frames)
        self.sock = conn.sock
        self.close_received = None  # payload of the peer's close frame
        self.close_sent = False
        self.frames_received = 0

    # -- sending --------------------------------------------------------------------
    def send_frame(self, opcode, payload=b"", fin=True):
        key = os.urandom(4)
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        self.sock.sendall(head + key + _mask(payload, key))

    def send_message(self, opcode, payload, fragment=None):
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        if not fragment or len(payload) <= fragment:
            self.send_frame(opcode, payload)
            return
        for i in range(0, len(payload), fragment):
            first, last = i == 0, i + fragment >= len(payload)
            self.send_frame(opcode if first else OP_CONT, payload[i:i + fragment], fin=last)

    def send_text(self, text, fragment=None):
        self.send_message(OP_TEXT, text, fragment)

    def send_binary(self, data, fragment=None):
        self.send_message(OP_BINARY, data, fragment)

    def send_close(self, code=1000, reason=b"done"):
        self.send_frame(OP_CLOSE, struct.pack("!H", code) + reason)
        self.close_sent = True

    # -- receiving ------------------------------------------------------------------
    def recv_frame(self):
        c = self.conn
        b0, b1 = c._read_exact(2)
        fin, opcode, masked, n = bool(b0 & 0x80), b0 & 0x0F, b1 & 0x80, b1 & 0x7F
        if b0 & 0x70:
            raise WsError("frame with RSV bits set (an extension the proxy should have "
                          "kept out): first byte 0x%02x" % b0)
        if n == 126:
            n = struct.unpack("!H", c._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", c._read_exact(8))[0]
        if masked:
            raise WsError("a server frame is masked")
        payload = c._read_exact(n) if n else b""
        self.frames_received += 1
        return fin, opcode, payload

    def recv_message(self):
        """The next data message (opcode, payload) reassembled, or (OP_CLOSE, payload)."""
        parts, op = [], None
        while True:
            fin, opcode, payload = self.recv_frame()
            if opcode == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                self.close_received = payload
                return OP_CLOSE, payload
            if opcode in (OP_TEXT, OP_BINARY):
                if op is not None:
                    raise WsError("new message (opcode %d) inside a fragmented one" % opcode)
                op = opcode
            elif opcode == OP_CONT:
                if op is None:
                    raise WsError("continuation frame without a message")
            else:
                raise WsError("unknown opcode %d" % opcode)
            parts.append(payload)
            if fin:
                return op, b"".join(parts)

    def echo(self, opcode, payload, fragment=None):
        """Send a message and return the (opcode, payload) that comes back."""
        self.send_message(opcode, payload, fragment)
        return self.recv_message()

    # -- ending ---------------------------------------------------------------------
    def wait_eof(self, timeout):
        """True once the peer closed the TCP connection (data that arrives meanwhile is
        discarded), False if it is still open after timeout seconds."""
        deadline = time.monotonic() + timeout
        if self.conn.eof:
            return True
        self.conn.buf = b""
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    return False
                except OSError:          # reset: closed too
                    self.conn.eof = True
                    return True
                if not data:
                    self.conn.eof = True
                    return True
        finally:
            try:
                self.sock.settimeout(self.conn.timeout)
            except OSError:
                pass

    def close(self, code=1000, timeout=10.0):
        """Client-initiated closing handshake: send close, read until the peer's close
        frame; returns its payload (None if the connection ended without one)."""
        if not self.close_sent:
            self.send_close(code)
        while self.close_received is None:
            try:
                op, payload = self.recv_message()
            except (httpclient.ConnectionClosed, OSError):
                return None
            if op == OP_CLOSE:
                break
        return self.close_received

    def abort(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.conn.close()
