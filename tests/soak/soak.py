#!/usr/bin/python3
"""soak.py - mod_aspnetcore under a long mixed load with faults (issue 11, section 4).

Starts a real Apache httpd with the built module (the integration rig's httpd.py) in front
of the stand-in app (tests/backends/standin.py, 2 processes), then sends --requests requests
of mixed kinds from --clients concurrent clients (threads, spread over --procs client
processes; measured on the 2-core test machine, 6,000 requests: 1 process 1,027-1,164
requests/s, 2 processes 906/s, 4 processes 744/s: the clients wait on the network, the
GIL is not what limits them, so 1 is the default):

  small GET (/echo), 64 KiB GET (/bytes), 1 MiB POST with Content-Length and chunked
  (/echo, the app's SHA-256 checked), a WebSocket echo (open, 3 messages, close) and
  server-sent events (/fwd/sse, 3 events)

while it SIGKILLs one app process (by pid) every --kill-every requests, runs `graceful`
every --graceful-every seconds, and httpd recycles its children (MaxConnectionsPerChild).
The app runs with the app-pool settings an admin would give it for months: as its own
user (--user, AspNetCoreUser nobody), each process
recycled after --recycle-requests requests (a rolling restart, AspNetCoreRecycle), health
probes every 5 s (AspNetCoreHealthCheck /healthz) and a cgroup memory limit of
--memory-limit MiB (AspNetCoreMemoryLimit).

Checks (exit status 1 on any failure; the figures are printed either way):
  * the httpd parent is the same process from start to end;
  * every request succeeded, or failed while it overlapped a kill window (from the kill
    until a new process of the app served); failures outside any window are unexplained;
  * fds and RSS of the httpd parent, the supervisor and the MPM children (mean per child)
    sampled every second: the least-squares slope per 10,000 requests; a clear growth
    fails (growth over the run above a floor and above 3 x the noise, see check_slope);
  * no "exit signal" / "Segmentation fault" in the error log, no unexpected error line;
  * recycles happened (at least one when the run is long enough for one), and no process
    was replaced for failing its health checks outside a kill window.

Run: /usr/bin/python3 tests/soak/soak.py [--requests 200000] (make soak), or the short
run of the test command: --requests 20000.  Only the standard library; Apache 2.4 from
Debian (/usr/sbin/apache2) and the built module (.libs/mod_aspnetcore.so).
"""

import argparse
import hashlib
import multiprocessing
import os
import queue
import random
import re
import signal
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import backends  # noqa: E402
import httpclient  # noqa: E402
import httpd  # noqa: E402
import procs  # noqa: E402
import wsclient  # noqa: E402
from rigutil import wait_until  # noqa: E402

MIB = 1 << 20
KINDS = (  # (name, weight)
    ("get-small", 50), ("get-64k", 20), ("post-1m-length", 4), ("post-1m-chunked", 4),
    ("websocket", 6), ("sse", 6), ("pid", 10),
)
POST_BODY = os.urandom(MIB)
POST_SHA = hashlib.sha256(POST_BODY).hexdigest()
PATTERN = bytes(i % 251 for i in range(251))
BYTES_64K = (PATTERN * (65536 // 251 + 1))[:65536]

# error lines a kill of the app causes (the same as the integration tests declare)
EXPECTED_LOG = (
    r"\(502\.3\)", r"the app's response broke off",
    r"\] process \d+ (exited with code \d+|was killed by signal 9) after \d+ s: starting a new one",
    r"\] cannot connect to the app's process \d+ on port \d+",
    r"\] process \d+ no longer listens on port \d+ \([^)]*\): replacing it",
    # a probe that meets a process as it is killed; a replacement for failed probes is
    # counted and fails the run outside a kill window (pool_events)
    r"\] process \d+ failed a health check \(",
)

# What counts as a clear growth over the run (see check_slope): the fitted growth must
# exceed both the noise (3 residual standard deviations) and a floor: fds: 8 (a backend
# restart holds a few pipes and sockets for a moment; 8 is twice what one restart can
# hold); RSS: 8 MiB (allocator high-water marks of a child that served 1 MiB bodies move
# by a few MiB without a leak).
FLOOR = {"fds": 8, "rss_kib": 8 * 1024}


# --- one client ------------------------------------------------------------------------------

class Client:
    def __init__(self, port, rng):
        self.port = port
        self.rng = rng
        self.conn = None
        self.reused = False

    def _conn(self):
        if self.conn is None:
            self.conn = httpclient.RawConnection(self.port, timeout=60)
            self.reused = False
        return self.conn

    def drop(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def http(self, fn):
        """fn(conn) on the kept-alive connection; a connection the server closed while idle
        (graceful, MaxConnectionsPerChild, KeepAliveTimeout) before any response byte is a
        keep-alive race: sent once more on a new connection (as browsers do). Returns
        (result, races)."""
        races = 0
        while True:
            c = self._conn()
            was_reused = self.reused
            try:
                out = fn(c)
                self.reused = True
                if out.get("close"):
                    self.drop()
                return out, races
            except (httpclient.ConnectionClosed, ConnectionResetError, BrokenPipeError) as e:
                self.drop()
                if was_reused and not getattr(e, "got_bytes", False) and races == 0 \
                        and not c.buf and not getattr(c, "fault_got_head", False):
                    races += 1
                    continue
                raise

    def one(self, kind):
        if kind == "websocket":
            return self.websocket(), 0
        return self.http(lambda c: getattr(self, kind.replace("-", "_"))(c))

    def get_small(self, c):
        path = "/echo/soak-%d" % self.rng.randrange(1 << 30)
        r = c.request("GET", path)
        ok = r.status == 200 and r.json()["path"] == path
        return {"ok": ok, "why": "%s %r" % (r.status, r.body[:100]), "close": _closes(r)}

    def get_64k(self, c):
        r = c.request("GET", "/bytes?n=65536")
        return {"ok": r.status == 200 and r.body == BYTES_64K, "why": "%s len %d" % (r.status, len(r.body)),
                "close": _closes(r)}

    def pid(self, c):
        r = c.request("GET", "/pid")
        return {"ok": r.status == 200 and r.body.strip().isdigit(), "why": "%s %r" % (r.status, r.body[:80]),
                "close": _closes(r)}

    def post_1m_length(self, c):
        r = c.request("POST", "/echo/post", body=POST_BODY)
        return _post_result(r)

    def post_1m_chunked(self, c):
        c.send_chunked("POST", "/echo/post-chunked",
                       (POST_BODY[i:i + 65536] for i in range(0, MIB, 65536)))
        r = c.read_response("POST")
        return _post_result(r)

    def sse(self, c):
        r = c.request("GET", "/fwd/sse?n=3&interval_ms=2")
        events = r.body.count(b"\n\n")
        return {"ok": r.status == 200 and events == 3, "why": "%s events %d" % (r.status, events),
                "close": _closes(r)}

    def websocket(self):
        ws, head = wsclient.connect(self.port, "/fwd/ws", timeout=60)
        if ws is None:
            return {"ok": False, "why": "refused %s" % head.status}
        with ws:
            for i in range(3):
                payload = os.urandom(self.rng.choice((10, 1000, 20000)))
                got = ws.echo(0x2, payload)
                if got != (0x2, payload) and got != payload:
                    return {"ok": False, "why": "echo mismatch %r" % (got[:1],)}
            ws.close()
        return {"ok": True, "why": ""}


def _closes(r):
    return (r.header("Connection") or "").lower() == "close"


def _post_result(r):
    try:
        ok = r.status == 200 and r.json()["body_sha256"] == POST_SHA
    except ValueError:
        ok = False
    return {"ok": ok, "why": "%s %r" % (r.status, r.body[:100]), "close": _closes(r)}


def client_thread(port, seed, counter, stop, limit, failures, races, kinds_done):
    rng = random.Random(seed)
    names = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    cl = Client(port, rng)
    while not stop.is_set():
        with counter.get_lock():
            if counter.value >= limit:
                break
            counter.value += 1
        kind = rng.choices(names, weights)[0]
        t0 = time.monotonic()
        failure, r = None, 0
        try:
            out, r = cl.one(kind)
            if not out["ok"]:
                failure = (t0, time.monotonic(), kind, out["why"][:200])
        except Exception as e:  # noqa: BLE001 - every failure is counted
            failure = (t0, time.monotonic(), kind, repr(e)[:200])
        if failure:
            cl.drop()
        with LOCK:
            races[0] += r
            kinds_done[kind] = kinds_done.get(kind, 0) + 1
            if failure:
                failures.append(failure)
    cl.drop()


LOCK = threading.Lock()     # the counts of one client process


def client_process(port, seeds, counter, stop, limit, out_q):
    failures, races, kinds = [], [0], {}
    threads = [threading.Thread(target=client_thread,
                                args=(port, s, counter, stop, limit, failures, races, kinds))
               for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out_q.put({"failures": failures, "races": races[0], "kinds": kinds})


# --- sampling and the fit --------------------------------------------------------------------

def sample(srv, done):
    table = procs.all_procs()
    kids = [p.pid for p in procs.mpm_children(srv.pid, table)]
    sups = [p.pid for p in procs.supervisors(srv.pid, table)]
    row = {"t": time.monotonic(), "requests": done, "children": kids,
           "parent_fds": procs.fd_count(srv.pid), "parent_rss_kib": procs.rss_kib(srv.pid)}
    if len(sups) == 1:
        row["supervisor_pid"] = sups[0]
        row["supervisor_fds"] = procs.fd_count(sups[0])
        row["supervisor_rss_kib"] = procs.rss_kib(sups[0])
    fds = [n for n in (procs.fd_count(p) for p in kids) if n is not None]
    rss = [n for n in (procs.rss_kib(p) for p in kids) if n is not None]
    if fds and rss:
        row["child_fds"] = sum(fds) / len(fds)
        row["child_rss_kib"] = sum(rss) / len(rss)
        row["child_fds_max"] = max(fds)
        row["child_rss_kib_max"] = max(rss)
    return row


def fit(points):
    """Least-squares slope (per 10,000 requests), intercept and residual sd of (x, y)."""
    n = len(points)
    if n < 3:
        return None
    xs = [p[0] / 10000.0 for p in points]
    ys = [p[1] for p in points]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    icpt = my - slope * mx
    sd = (sum((y - (icpt + slope * x)) ** 2 for x, y in zip(xs, ys)) / max(1, n - 2)) ** 0.5
    return slope, icpt, sd, (max(xs) - min(xs))


def check_slope(name, samples, key, unit, warm):
    """(line, failed): a clear growth is a fitted growth over the run larger than the floor
    for its unit and than 3 residual standard deviations. Samples before `warm` requests
    (pools filling, children started, the allocator's first 1 MiB bodies) are left out."""
    samples = [s for s in samples if s["requests"] >= warm]
    pts = [(s["requests"], s[key]) for s in samples if s.get(key) is not None]
    if name == "supervisor":
        # one supervisor throughout is expected; if it was replaced, fit its last life only
        pids = [s.get("supervisor_pid") for s in samples if s.get(key) is not None]
        last = pids[-1] if pids else None
        pts = [(s["requests"], s[key]) for s in samples
               if s.get(key) is not None and s.get("supervisor_pid") == last]
        if len(set(pids)) > 1:
            name = "supervisor (replaced %d times)" % (len(set(pids)) - 1)
    f = fit(pts)
    if f is None:
        return "%-10s %-8s: too few samples" % (name, unit), False
    slope, _, sd, span = f
    growth = slope * span
    floor = FLOOR["fds" if "fds" in key else "rss_kib"]
    failed = growth > floor and growth > 3 * sd
    return ("%-10s %-8s slope %+9.3f per 10k requests (growth over the run %+.1f, noise sd %.2f, "
            "first %.0f last %.0f)%s" % (name, unit, slope, growth, sd, pts[0][1], pts[-1][1],
                                         "  <-- CLEAR GROWTH" if failed else "")), failed


# --- the run ---------------------------------------------------------------------------------

def pool_directives(args):
    """The app-pool settings the soak runs the app with."""
    lines = []
    if args.user:
        lines.append("AspNetCoreUser %s" % args.user)
    if args.recycle_requests:
        lines.append("AspNetCoreRecycle requests=%d" % args.recycle_requests)
    if args.health:
        # generous: 64 clients on 2 cores keep the stand-in busy, and a probe waits its turn
        lines.append("AspNetCoreHealthCheck /healthz interval=5 timeout=5 failures=3")
    if args.memory_limit:
        lines.append("AspNetCoreMemoryLimit %d" % args.memory_limit)
    return "\n".join(lines)


RECYCLED_RX = re.compile(r"\] recycled process \d+ \(")
HEALTH_REPLACED_RX = re.compile(r"\] recycling process (\d+): failed \d+ health checks? in a row")


def pool_events(srv, windows):
    """(recycles done, health replacements outside every kill window) from the error log."""
    recycled, replaced = 0, []
    for line in srv.error_log().splitlines():
        if RECYCLED_RX.search(line):
            recycled += 1
        m = HEALTH_REPLACED_RX.search(line)
        if m:
            replaced.append((int(m.group(1)), line))
    killed = {victim for _, _, victim in windows}
    # a process replaced for its probes is one the soak killed (its probes failed as it
    # died) or an unexplained one
    return recycled, [line for pid, line in replaced if pid not in killed]


def config(args):
    so = httpd.module_so_path()
    if not os.path.isfile(so):
        sys.exit("soak: %s not built (tools/build.sh)" % so)
    app = backends.standin().directives(
        app_root="{app}", extra="AspNetCoreProcessesPerApplication 2\n"
                                "AspNetCoreMaxWebSockets 1000\nAspNetCoreStartupTimeLimit 30\n"
                                # a kill every 4,000 requests is ~10 a minute at 700/s: past
                                # the default limit of 10, which would stop the app for the
                                # rest of the minute (test_supervision.py tests that limit)
                                "AspNetCoreRapidFailsPerMinute 100\n"
                                + pool_directives(args))
    mpm_conf = {
        "prefork": "StartServers 8\nMinSpareServers 8\nMaxSpareServers 16\nServerLimit 120\n"
                   "MaxRequestWorkers 100\nMaxConnectionsPerChild %d\n",
    }.get(args.mpm, "StartServers 3\nServerLimit 16\nThreadLimit 32\nThreadsPerChild 32\n"
                    "MinSpareThreads 32\nMaxSpareThreads 128\nMaxRequestWorkers 160\n"
                    "MaxConnectionsPerChild %d\n") % args.max_conns_per_child
    return app, mpm_conf


class Faults(threading.Thread):
    """Kills an app process every kill_every requests; graceful every graceful_every s."""

    def __init__(self, srv, counter, args, stop):
        super().__init__(daemon=True)
        self.srv, self.counter, self.args, self.stop_ev = srv, counter, args, stop
        self.windows = []       # (t_kill, t_recovered)
        self.gracefuls = 0
        self.errors = []
        self.parent_gone = False

    def app_pids(self):
        """The app's processes that listen (ready), by their listening sockets."""
        listening = {"socket:[%d]" % e.inode for e in procs.tcp_entries() if e.state == "LISTEN"}
        return [p.pid for p in self.srv.descendants()
                if p.state not in ("Z", "X") and _is_standin(p.pid)
                and listening & set(procs.fd_targets(p.pid).values())]

    def run(self):
        # gracefuls on their own thread: a kill waits (up to ~30 s) for the app to recover
        g = threading.Thread(target=self.gracefuls_loop, daemon=True)
        g.start()
        next_kill = self.args.kill_every
        rng = random.Random(7)
        while not self.stop_ev.is_set():
            if not procs.alive(*self.srv.parent):
                self.parent_gone = True
                break
            try:
                if self.args.requests > self.counter.value >= next_kill:
                    next_kill += self.args.kill_every
                    self.kill_one(rng)
            except Exception as e:  # noqa: BLE001 - reported
                self.errors.append(repr(e)[:300])
            self.stop_ev.wait(0.1)
        g.join(60)

    def gracefuls_loop(self):
        while not self.stop_ev.wait(self.args.graceful_every):
            if not procs.alive(*self.srv.parent):
                self.parent_gone = True
                return
            if self.counter.value >= self.args.requests:
                continue
            try:
                rc, out = self.srv.apache2("-k", "graceful")
                if rc != 0:
                    self.errors.append("graceful exited %d: %s" % (rc, out.strip()[:200]))
                self.gracefuls += 1
            except Exception as e:  # noqa: BLE001 - reported
                self.errors.append(repr(e)[:300])

    def kill_one(self, rng):
        pids = self.app_pids()
        if len(pids) < 2:
            return          # not both ready yet (a restart backing off): kill later
        victim = rng.choice(pids)
        t0 = time.monotonic()
        os.kill(victim, signal.SIGKILL)

        def recovered():
            now = self.app_pids()
            return victim not in now and len(now) >= 2
        try:
            # the supervisor backs off restarts of an app that crashed again within 30 s
            # (up to 30 s), so recovery can take that long
            wait_until(recovered, 90, "the app to be restarted")
        except AssertionError as e:
            self.errors.append(str(e)[:300])
        # recovered: both processes listen again. A request that went to the killed
        # process's pooled connections may still fail a moment after: the window ends 1 s
        # after recovery
        self.windows.append((t0, time.monotonic() + 1.0, victim))


def _is_standin(pid):
    try:
        return any("standin.py" in a for a in procs.cmdline(pid))
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--procs", type=int, default=1, help="client processes (threads split over them)")
    ap.add_argument("--kill-every", type=int, default=4000, help="requests between app kills")
    ap.add_argument("--graceful-every", type=float, default=5.0, help="seconds between gracefuls")
    ap.add_argument("--max-conns-per-child", type=int, default=500)
    ap.add_argument("--mpm", default="event", choices=httpd.MPMS)
    ap.add_argument("--recycle-requests", type=int, default=2500,
                    help="AspNetCoreRecycle requests= (0: no recycling)")
    ap.add_argument("--health", action=argparse.BooleanOptionalAction, default=True,
                    help="AspNetCoreHealthCheck /healthz every 5 s")
    ap.add_argument("--memory-limit", type=int, default=512,
                    help="AspNetCoreMemoryLimit in MiB (0: none)")
    ap.add_argument("--user", default="nobody",
                    help="AspNetCoreUser: the user the app runs as ('': Apache's User)")
    ap.add_argument("--keep", action="store_true", help="keep the server's temp dir")
    args = ap.parse_args()

    fac = httpd.HttpdFactory(args.mpm, "soak")
    fac.keep = args.keep
    for rx in EXPECTED_LOG:
        fac.expect_log(rx)
    app, mpm_conf = config(args)
    # notice for the app's recycles (counted below)
    srv = fac.new(app, mpm_conf=mpm_conf, log_level="warn aspnetcore:notice")
    failed = []
    t_start = time.monotonic()
    try:
        srv.start()
        wait_until(lambda: srv.get("/pid", timeout=30).status == 200, 60, "the app to answer")
        parent = srv.parent
        counter = multiprocessing.Value("q", 0)
        stop = multiprocessing.Event()
        out_q = multiprocessing.Queue()
        per = [list(range(i, args.clients, args.procs)) for i in range(args.procs)]
        workers = [multiprocessing.Process(target=client_process,
                                           args=(srv.port, seeds, counter, stop, args.requests, out_q))
                   for seeds in per if seeds]
        faults = Faults(srv, counter, args, stop)
        samples = [sample(srv, 0)]
        t0 = time.monotonic()
        for w in workers:
            w.start()
        faults.start()
        last_print = t0
        results = []
        while len(results) < len(workers):
            # read the results as they come: a client process cannot exit before its
            # result has gone through the queue's pipe
            try:
                results.append(out_q.get(timeout=1.0))
                continue
            except queue.Empty:
                pass
            if not any(w.is_alive() for w in workers) and out_q.empty():
                failed.append("%d client process(es) died without a result" % (len(workers) - len(results)))
                break
            if not procs.alive(*parent):
                failed.append("the httpd parent %d exited" % parent[0])
                stop.set()
                break
            samples.append(sample(srv, counter.value))
            if time.monotonic() - last_print >= 30:
                last_print = time.monotonic()
                print("soak: %d requests, %.0f s, %d kills, %d gracefuls" % (
                    counter.value, last_print - t0, len(faults.windows), faults.gracefuls), flush=True)
        for w in workers:
            w.join(30)
        stop.set()
        faults.join(90)
        duration = time.monotonic() - t0
        samples.append(sample(srv, counter.value))
        if not procs.alive(*parent) or srv.read_pid_file() != parent[0]:
            failed.append("the httpd parent %d is gone (pid file says %s)" % (parent[0], srv.read_pid_file()))
        if faults.parent_gone and "exited" not in " ".join(failed):
            failed.append("the httpd parent exited during the run")
        failed += ["fault thread: " + e for e in faults.errors]

        failures = [f for r in results for f in r["failures"]]
        races = sum(r["races"] for r in results)
        kinds = {}
        for r in results:
            for k, v in r["kinds"].items():
                kinds[k] = kinds.get(k, 0) + v
        windows = faults.windows
        in_window = [f for f in failures if any(f[0] <= w1 and f[1] >= w0 for w0, w1, _ in windows)]
        unexplained = [f for f in failures if f not in in_window]
        total = sum(kinds.values())
        print("soak: %d requests (%s) from %d clients in %d processes, %.0f s (%.0f/s), mpm %s" % (
            total, ", ".join("%s %d" % kv for kv in sorted(kinds.items())), args.clients,
            len(workers), duration, total / max(duration, 1e-9), args.mpm))
        print("soak: %d app kills, %d gracefuls, MaxConnectionsPerChild %d, %d keep-alive races "
              "resent" % (len(windows), faults.gracefuls, args.max_conns_per_child, races))
        spans = [w1 - 1.0 - w0 for w0, w1, _ in windows]
        covered = sum(w1 - w0 for w0, w1, _ in windows) / max(duration, 1e-9)
        print("soak: failed requests: %d, in a kill window: %d, outside any: %d (a kill window: from "
              "the SIGKILL until the app has 2 processes again + 1 s; mean %.2f s, max %.2f s; "
              "the windows cover %.0f %% of the run; every error line in the log is one a kill "
              "causes, or the run fails)" % (
                  len(failures), len(in_window), len(unexplained),
                  sum(spans) / len(spans) if spans else 0, max(spans) if spans else 0, 100 * covered))
        for f in unexplained[:20]:
            print("soak:   unexplained failure at +%.1f s (%.2f s) %s: %s" % (f[0] - t0, f[1] - f[0], f[2], f[3]))
        if unexplained:
            failed.append("%d failed requests outside any kill window" % len(unexplained))
        recycled, health_replaced = pool_events(srv, windows)
        print("soak: app pool: %d rolling recycles (AspNetCoreRecycle requests=%d), %d processes "
              "replaced for their health checks outside the kill windows (health checks %s, "
              "memory limit %s, user %s)" % (
                  recycled, args.recycle_requests, len(health_replaced),
                  "on" if args.health else "off",
                  "%d MiB" % args.memory_limit if args.memory_limit else "off",
                  args.user or "Apache's"))
        # each of the 2 processes serves about half the requests
        if args.recycle_requests and total >= 3 * args.recycle_requests and not recycled:
            failed.append("no process was recycled in %d requests (AspNetCoreRecycle "
                          "requests=%d)" % (total, args.recycle_requests))
        for line in health_replaced[:5]:
            print("soak:   replaced for its health checks: %s" % line[-200:])
        if health_replaced:
            failed.append("%d processes replaced for failed health checks" % len(health_replaced))
        if total < args.requests:
            failed.append("only %d of %d requests were made" % (total, args.requests))
        warm = max(2000, args.requests // 10)
        children_seen = set()
        for row in samples:
            children_seen.update(row.get("children", ()))
        print("soak: %d httpd children over the run (recycled by graceful and MaxConnectionsPerChild);"
              " slopes fitted from request %d on, %d samples" % (len(children_seen), warm, len(samples)))
        why = {}
        for f in failures:
            k = "%s: %s" % (f[2], re.sub(r"\d+", "N", f[3])[:80])
            why[k] = why.get(k, 0) + 1
        for k, v in sorted(why.items(), key=lambda kv: -kv[1])[:8]:
            print("soak:   %5d x %s" % (v, k))
        for name, key, unit in (("parent", "parent_fds", "fds"), ("parent", "parent_rss_kib", "RSS KiB"),
                                ("supervisor", "supervisor_fds", "fds"),
                                ("supervisor", "supervisor_rss_kib", "RSS KiB"),
                                ("children", "child_fds", "fds"), ("children", "child_rss_kib", "RSS KiB")):
            line, bad = check_slope(name, samples, key, unit, warm)
            print("soak: " + line)
            if bad:
                failed.append("clear growth: " + line)
    finally:
        # stopped as Debian's apache2.service stops Apache (systemctl stop): graceful-stop.
        # An ungraceful stop (-k stop) that meets a child still closing connections (right
        # as the load ends, or after a graceful) can crash that child in httpd 2.4's event
        # MPM: close_worker_sockets() closes the socket of a worker that has already given
        # its connection's pool back (docs/troubleshooting.md).
        if srv.running:
            srv.stop(raise_on_problem=False, how="graceful-stop")
        problems = fac.finish()
        failed += problems
        crash = [l for l in srv.error_log().splitlines() if re.search(r"exit signal|Segmentation fault", l)]
        print("soak: error log: %d crash lines (exit signal / Segmentation fault)" % len(crash))
        if failed:
            fac.keep = True
        fac.cleanup()
        if fac.keep:
            print("soak: kept %s" % srv.dir)
    print("soak: %s after %.0f s" % ("FAILED: " + "; ".join(failed)[:3000] if failed else "PASSED",
                                     time.monotonic() - t_start))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
