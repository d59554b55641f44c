#!/usr/bin/python3
"""selfcheck.py - check that a test backend honours the ANCM contract.

Starts the backend directly (no Apache) on a free 127.0.0.1 port with the
environment mod_aspnetcore gives it, then exercises every common endpoint.
Use it to confirm that the Python stand-in and the real ASP.NET Core sample
behave the same:

    /usr/bin/python3 tests/backends/selfcheck.py standin
    /usr/bin/python3 tests/backends/selfcheck.py helloapp   # needs tools/build-sample.sh
    /usr/bin/python3 tests/backends/selfcheck.py all
    /usr/bin/python3 tests/backends/selfcheck.py compare    # same requests, diff answers
    ... --user www-data    run the backend as another user (HOME set to theirs)

Exit status 0 when every check passes. Stdlib only.
"""

import argparse
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOKEN = "abc"
BASE = "/shop"

BACKENDS = {
    "standin": ["/usr/bin/python3", os.path.join(HERE, "standin.py")],
    "helloapp": ["dotnet", os.path.join(REPO, "build", "sample", "HelloApp", "HelloApp.dll")],
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Backend:
    def __init__(self, name, user=None, extra_env=None):
        self.name = name
        self.port = free_port()
        env = dict(os.environ)
        env.update({
            "ASPNETCORE_PORT": str(self.port),
            "ASPNETCORE_APPL_PATH": BASE,
            "ASPNETCORE_TOKEN": TOKEN,
            "ASPNETCORE_IIS_HTTPAUTH": "anonymous;",
            "ASPNETCORE_IIS_WEBSOCKETS_SUPPORTED": "false",
            "HelloApp__TestEndpoints": "true",   # the sample's test endpoints are opt-in
        })
        env.update(extra_env or {})
        argv = list(BACKENDS[name])
        self.user = user
        creds = {}
        if user:
            import pwd
            pw = pwd.getpwnam(user)
            env.update(HOME=pw.pw_dir, USER=user, LOGNAME=user)
            creds = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        cwd = os.path.dirname(argv[-1])  # like ANCM: the app's directory
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True, **creds)
        self.startup_ms = None

    def wait_listening(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s before listening: %s" % (
                    self.name, self.proc.returncode, self.proc.stderr.read().decode()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                self.startup_ms = (time.monotonic() - self.t0) * 1000
                return
            except OSError:
                time.sleep(0.005)
        raise RuntimeError("%s did not listen within %ss" % (self.name, timeout))

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def wait_exit(self, timeout=15):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(15) is None:
                self.proc.kill()
                self.proc.wait()
        out, err = self.proc.communicate()
        return out.decode(errors="replace"), err.decode(errors="replace")


def request(conn, method, url, body=None, headers=None, token=True):
    h = {"MS-ASPNETCORE-TOKEN": TOKEN} if token else {}
    h.update(headers or {})
    conn.request(method, url, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    return r, data


class Checker:
    def __init__(self, backend):
        self.b = backend
        self.failures = 0

    def check(self, what, cond, detail=""):
        print("  %-4s %s%s" % ("ok" if cond else "FAIL", what, "" if cond else "  -> %s" % detail))
        if not cond:
            self.failures += 1

    def run_basic(self):
        b = self.b
        c = b.conn()
        r, d = request(c, "GET", BASE + "/")
        self.check("GET /shop/ with token -> 200", r.status == 200, (r.status, d[:80]))
        sock = c.sock
        r, d = request(c, "GET", BASE + "/", token=False)
        self.check("no token -> 400", r.status == 400, r.status)
        r, d = request(c, "GET", BASE + "/", headers={"MS-ASPNETCORE-TOKEN": "abd"})
        self.check("wrong token -> 400", r.status == 400, r.status)
        self.check("keep-alive: same connection reused", c.sock is sock)

        r, d = request(c, "GET", BASE + "/echo/a%2Fb%20c?x=1+2", headers={
            "X-Forwarded-For": "203.0.113.9:5555", "X-Forwarded-Proto": "https",
            "X-Dup": "1"})
        e = json.loads(d)
        self.check("echo content-type json", r.getheader("Content-Type", "").startswith("application/json"))
        self.check("echo backend", e["backend"] in ("standin", "aspnetcore"), e["backend"])
        self.check("echo path_base /shop", e["path_base"] == "/shop", e["path_base"])
        self.check("echo path %2F kept, %20 decoded", e["path"] == "/echo/a%2Fb c", e["path"])
        self.check("echo raw_target", e["raw_target"] == "/shop/echo/a%2Fb%20c?x=1+2", e["raw_target"])
        self.check("echo query", e["query"] == "?x=1+2", e["query"])
        self.check("X-Forwarded-For -> remote_ip", e["remote_ip"] == "203.0.113.9", e["remote_ip"])
        self.check("X-Forwarded-For -> remote_port", e["remote_port"] == 5555, e["remote_port"])
        self.check("X-Forwarded-Proto -> scheme", e["scheme"] == "https", e["scheme"])
        hdrs = {k.lower(): v for k, v in e["headers"]}
        self.check("echo headers as received (XFF)", hdrs.get("x-forwarded-for") == "203.0.113.9:5555", hdrs)
        self.check("echo host", e["host"] == "127.0.0.1:%d" % b.port, e["host"])
        self.check("echo method GET, empty body", e["method"] == "GET" and e["body_length"] == 0
                   and e["body_sha256"] == hashlib.sha256(b"").hexdigest())

        # duplicate headers, via putheader
        c.putrequest("PUT", BASE + "/echo", skip_accept_encoding=True)
        for k, v in [("MS-ASPNETCORE-TOKEN", TOKEN), ("X-Dup", "one"), ("X-Other", "z"),
                     ("X-Dup", "two, three"), ("Content-Length", "5")]:
            c.putheader(k, v)
        c.endheaders(b"hello")
        r = c.getresponse()
        e = json.loads(r.read())
        dups = [v for k, v in e["headers"] if k.lower() == "x-dup"]
        self.check("duplicate headers kept in order", dups == ["one", "two, three"], e["headers"])
        self.check("PUT body sha256", e["method"] == "PUT" and e["body_length"] == 5 and
                   e["body_sha256"] == hashlib.sha256(b"hello").hexdigest(), e)

        # path base variants
        for url, status, base, path in [
            ("/SHOP/echo", 200, "/SHOP", "/echo"),
            ("/shop/Echo/x/", 200, "/shop", "/Echo/x/"),
            ("/echo", 200, "", "/echo"),           # no PathBase match: still routed
            ("/shopping/echo", 404, None, None),    # not a segment boundary
            ("/shop/a/../echo/./b", 200, "/shop", "/echo/b"),
        ]:
            r, d = request(c, "GET", url)
            ok = r.status == status
            if ok and status == 200:
                e = json.loads(d)
                ok = e["path_base"] == base and e["path"] == path
            self.check("GET %s -> %d %s %s" % (url, status, base, path), ok, (r.status, d[:200]))

        r, d = request(c, "GET", BASE)
        self.check("GET /shop (empty path) -> 200 root", r.status == 200, r.status)
        r, d = request(c, "GET", BASE + "/pid/")
        self.check("trailing slash /pid/ -> 200", r.status == 200, r.status)

        # env / pid
        r, d = request(c, "GET", BASE + "/env")
        env = json.loads(d)
        self.check("/env has ASPNETCORE_TOKEN", env.get("ASPNETCORE_TOKEN") == TOKEN)
        self.check("/env has ASPNETCORE_APPL_PATH", env.get("ASPNETCORE_APPL_PATH") == BASE)
        r, d = request(c, "GET", BASE + "/pid")
        e_pid = json.loads(request(c, "GET", BASE + "/echo")[1])["pid"]
        self.check("/pid is the process pid", r.status == 200 and int(d) == e_pid == b.proc.pid,
                   (d, e_pid, b.proc.pid))
        self.check("/pid text/plain", r.getheader("Content-Type", "").startswith("text/plain"))

        # sleep
        t = time.monotonic()
        r, d = request(c, "GET", BASE + "/sleep?ms=300")
        dt = (time.monotonic() - t) * 1000
        self.check("/sleep?ms=300 -> 'slept 300' after >=300 ms", r.status == 200 and d == b"slept 300" and dt >= 295,
                   (d, dt))

        # status codes
        for code in (200, 201, 204, 304, 404, 418, 500, 503):
            r, d = request(c, "GET", BASE + "/status/%d" % code)
            body_ok = (d == b"") if code in (204, 304) else (d == b"status %d\n" % code)
            self.check("/status/%d" % code, r.status == code and body_ok, (r.status, d))
        r, d = request(c, "GET", BASE + "/status/99")
        self.check("/status/99 -> 404", r.status == 404, r.status)
        r, d = request(c, "GET", BASE + "/nosuch")
        self.check("unknown path -> 404", r.status == 404, r.status)
        r, d = request(c, "POST", BASE + "/pid", body=b"xyz")
        self.check("POST /pid -> 405", r.status == 405, r.status)

        # bytes, HEAD
        n = 1000003
        r, d = request(c, "GET", BASE + "/bytes?n=%d" % n)
        self.check("/bytes?n=%d pattern" % n, r.status == 200 and r.getheader("Content-Length") == str(n)
                   and d == bytes(i % 251 for i in range(n)))
        r, d = request(c, "HEAD", BASE + "/bytes?n=10")
        self.check("HEAD /bytes?n=10: Content-Length 10, no body",
                   r.status == 200 and r.getheader("Content-Length") == "10" and d == b"", (r.status, r.getheaders()))

        # cookies
        r, d = request(c, "GET", BASE + "/cookies")
        cookies = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
        self.check("/cookies two Set-Cookie", cookies == ["a=1; Path=/", "b=2; Path=/"], cookies)

        # stream
        c.request("GET", BASE + "/stream?n=4&interval_ms=250", headers={"MS-ASPNETCORE-TOKEN": TOKEN})
        t = time.monotonic()
        r = c.getresponse()
        self.check("/stream chunked, no Content-Length",
                   r.getheader("Transfer-Encoding") == "chunked" and r.getheader("Content-Length") is None,
                   r.getheaders())
        # read the chunks by hand to see when each one arrives
        lines = []
        t_first = None
        while True:
            size = int(r.fp.readline().strip(), 16)
            if size == 0:
                r.fp.readline()
                break
            lines.append(r.fp.read(size))
            r.fp.readline()
            if t_first is None:
                t_first = (time.monotonic() - t) * 1000
        t_all = (time.monotonic() - t) * 1000
        r.close()
        self.check("/stream lines", b"".join(lines) ==
                   b"event 0\nevent 1\nevent 2\nevent 3\n", lines)
        self.check("/stream first line flushed early (%.0f ms vs %.0f ms)" % (t_first, t_all),
                   t_first < 200 and t_all >= 740, (t_first, t_all))
        c.close()

        # big chunked upload on a fresh connection
        c = b.conn()
        blob = os.urandom(3 * 1024 * 1024 + 17)

        def gen():
            for i in range(0, len(blob), 65536):
                yield blob[i:i + 65536]
        c.request("POST", BASE + "/echo/upload", body=gen(), encode_chunked=True,
                  headers={"MS-ASPNETCORE-TOKEN": TOKEN, "Transfer-Encoding": "chunked"})
        r = c.getresponse()
        e = json.loads(r.read())
        self.check("chunked upload 3 MiB sha256", e["body_length"] == len(blob) and
                   e["body_sha256"] == hashlib.sha256(blob).hexdigest(), e["body_length"])
        c.request("POST", BASE + "/echo", body=blob, headers={"MS-ASPNETCORE-TOKEN": TOKEN,
                                                             "Expect": "100-continue"})
        r = c.getresponse()
        e = json.loads(r.read())
        self.check("Content-Length upload with Expect: 100-continue", e["body_length"] == len(blob) and
                   e["body_sha256"] == hashlib.sha256(blob).hexdigest(), e["body_length"])
        c.close()

    def run_crash(self):
        c = self.b.conn()
        try:
            r, d = request(c, "GET", BASE + "/crash")
            self.check("/crash gives no response", False, r.status)
        except (http.client.HTTPException, OSError):
            self.check("/crash gives no response", True)
        code = self.b.wait_exit(10)
        self.check("/crash exit code 3", code == 3, code)

    def run_shutdown(self):
        c = self.b.conn()
        r, d = request(c, "POST", BASE + "/iisintegration", headers={"MS-ASPNETCORE-EVENT": "shutdown"})
        self.check("shutdown event -> 202", r.status == 202, r.status)
        t = time.monotonic()
        code = self.b.wait_exit(15)
        self.check("exits 0 after shutdown event (%.0f ms)" % ((time.monotonic() - t) * 1000), code == 0, code)

    def run_sigterm(self):
        t = time.monotonic()
        os.killpg(self.b.proc.pid, signal.SIGTERM)
        code = self.b.wait_exit(15)
        self.check("exits 0 on SIGTERM (%.0f ms)" % ((time.monotonic() - t) * 1000), code == 0, code)


# Requests sent to both backends by "compare": (method, target, headers, body).
COMPARE_REQUESTS = [
    ("GET", "/shop/echo", {}, None),
    ("GET", "/shop/echo/%7Euser/a%2fb/%C3%A9?q=%20&x", {}, None),
    ("GET", "/shop", {}, None),
    ("GET", "/shop/", {}, None),
    ("HEAD", "/shop/", {}, None),
    ("GET", "/SHOP/ECHO/", {}, None),
    ("GET", "/shop//echo", {}, None),
    ("GET", "/shop/echo/..%2F..", {}, None),
    ("GET", "/shop/echo/../../x/echo", {}, None),
    ("GET", "/shopx/echo", {}, None),
    ("OPTIONS", "/shop/echo", {}, None),
    ("PATCH", "/shop/echo", {"Content-Type": "text/plain"}, b"patch body"),
    ("DELETE", "/shop/pid", {}, None),
    ("HEAD", "/shop/pid", {}, None),
    ("HEAD", "/shop/status/404", {}, None),
    ("GET", "/shop/status/abc", {}, None),
    ("GET", "/shop/status/600", {}, None),
    ("GET", "/shop/bytes", {}, None),
    ("GET", "/shop/bytes?n=abc", {}, None),
    ("GET", "/shop/sleep?ms=-5", {}, None),
    ("GET", "/shop/stream?n=0", {}, None),
    ("GET", "/shop/echo", {"X-Forwarded-For": "198.51.100.1, 203.0.113.9:5555",
                           "X-Forwarded-Proto": "http, https"}, None),
    ("GET", "/shop/echo", {"X-Forwarded-For": "203.0.113.9"}, None),
    ("GET", "/shop/echo", {"X-Forwarded-For": "[2001:db8::1]:443", "X-Forwarded-Proto": "wss"}, None),
    ("GET", "/shop/echo", {"X-Forwarded-For": "unknown", "X-Forwarded-Proto": "https"}, None),
    ("GET", "/shop/echo", {"X-Forwarded-Proto": "https"}, None),
    ("GET", "/shop/echo", {"X-Forwarded-Proto": "ht tp"}, None),
    ("GET", "/shop/iisintegration", {"MS-ASPNETCORE-EVENT": "shutdown"}, None),
    ("POST", "/shop/iisintegration", {"MS-ASPNETCORE-EVENT": "other"}, None),
    ("GET", "/shop/nosuch", {}, None),
]

COMPARED_HEADERS = ("content-type", "content-length", "transfer-encoding", "allow", "set-cookie")


def snapshot(b, method, target, headers, body):
    c = b.conn()
    h = {"MS-ASPNETCORE-TOKEN": TOKEN}
    h.update(headers)
    c.request(method, target, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    hdrs = {k.lower(): v for k, v in r.getheaders() if k.lower() in COMPARED_HEADERS}
    if data.startswith(b"{"):
        e = json.loads(data)
        for k in ("backend", "pid", "host"):
            e.pop(k, None)
        if e.get("remote_ip") == "127.0.0.1":
            e.pop("remote_port")
        # header order and name case differ between Kestrel and http.server
        e["headers"] = sorted([k.lower(), v] for k, v in e["headers"]
                              if k.lower() not in ("content-length", "user-agent", "host"))
        data = e
        hdrs.pop("content-length", None)
    elif target.rstrip("/") == "/shop":
        data, hdrs = "(home page: text or html)", {}
    return r.status, hdrs, data


def compare():
    a, b = Backend("standin"), Backend("helloapp")
    diffs = 0
    try:
        a.wait_listening()
        b.wait_listening()
        for req in COMPARE_REQUESTS:
            sa, sb = snapshot(a, *req), snapshot(b, *req)
            same = sa == sb
            diffs += not same
            print("  %-4s %s %s %s" % ("same" if same else "DIFF", req[0], req[1], req[2] or "") +
                  ("" if same else "\n       standin:  %r\n       helloapp: %r" % (sa, sb)))
    finally:
        a.stop()
        b.stop()
    print("%d difference(s)" % diffs)
    return diffs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("backend", choices=list(BACKENDS) + ["all", "compare"])
    ap.add_argument("--user", help="run the backend as this user (runuser)")
    ap.add_argument("--show-output", action="store_true")
    args = ap.parse_args()
    if args.backend == "compare":
        return 1 if compare() else 0
    names = list(BACKENDS) if args.backend == "all" else [args.backend]
    failures = 0
    for name in names:
        for phase in ("basic", "crash", "shutdown", "sigterm"):
            b = Backend(name, args.user)
            try:
                b.wait_listening()
                print("%s/%s: listening on %d after %.0f ms" % (name, phase, b.port, b.startup_ms))
                ch = Checker(b)
                getattr(ch, "run_" + phase)()
                failures += ch.failures
            finally:
                out, err = b.stop()
                if args.show_output:
                    print("---- stdout\n%s---- stderr\n%s----" % (out, err))
    print("FAILED: %d check(s)" % failures if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
