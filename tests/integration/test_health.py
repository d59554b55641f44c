"""AspNetCoreHealthCheck (issue 14, beyond ANCM and IIS): the supervisor probes each ready
process with `GET <virtual path><PATH>` carrying its pairing token, and replaces a process
after N failures in a row (a 5xx, a 404, no answer head within the timeout, no connection).

The stand-in's health endpoint is switchable (`/healthz`, `/health/set?status=NNN`) and it can
deadlock (`/health/hang-all`: every later request is read and never answered, the shutdown
event included, and a SIGTERM waits for them). Small settings keep the clocks short:
interval=1 timeout=1 failures=2. Event MPM only: the probes are the supervisor's, whatever
the MPM.
"""

import json
import re
import threading
import time

import pytest

import procs
from backends import parse_env, parse_pid
from rigutil import wait_until
from test_faults import TOKEN_HEADER, RogueListener
from test_config import htaccess_app
from test_status import STATUS_LOCATION, find_app, status_json
from test_supervision import expect_status, get_ok, label, log_matches, section, standin, wait_log

pytestmark = pytest.mark.mpms("event")

PREFIX = "/shop"
CHECK = "AspNetCoreHealthCheck /healthz interval=1 timeout=1 failures=2"
REPLACED = r"failed 2 health checks in a row \(GET /shop/healthz: %s\): replacing it"


def shop(extra=CHECK, env=None, more=""):
    """The stand-in under <Location /shop> with a health check, and the status page."""
    return section("Location %s" % PREFIX, standin(
        env=env, extra=extra + ("\n" + more if more else ""))) + STATUS_LOCATION


def shop_app(srv):
    return find_app(status_json(srv), srv.app, PREFIX)


def one_process(srv):
    app = shop_app(srv)
    ready = [p for p in app["processes"] if p["state"] == "ready"]
    return (app, ready[0]) if len(ready) == 1 and len(app["processes"]) == 1 else None


def wait_health(srv, cond, what, timeout=15):
    """Polls the status page until cond(app, process) for the app's one ready process."""
    last = {}

    def check():
        got = one_process(srv)
        last["app"] = got and got[0]
        return got if got and cond(*got) else None
    return wait_until(check, timeout, lambda: "%s (app now: %s)\n%s" % (
        what, json.dumps(last.get("app"), indent=1), srv.log_tail(20)), interval=0.05,
        max_interval=0.1)


def pid_of(srv):
    return parse_pid(get_ok(srv, PREFIX + "/pid"))


def lab(srv):
    return re.escape(label(srv.app, PREFIX))


class Load:
    """Requests to /shop/pid, one after the other on new connections, until stopped: every
    answer's status and pid."""

    def __init__(self, srv):
        self.srv, self.results, self.stop = srv, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                r = self.srv.get(PREFIX + "/pid", timeout=30)
                self.results.append((r.status, r.body.decode("latin-1", "replace")))
            except Exception as e:          # noqa: BLE001 - a failed request is a result
                self.results.append((None, repr(e)))
            time.sleep(0.02)

    def finish(self):
        self.stop.set()
        self.thread.join(40)
        assert not self.thread.is_alive(), "the load thread hangs"
        return self.results


@pytest.mark.expect_log(r"failed a health check")
def test_healthy_process_is_probed_and_one_answering_again_in_time_is_kept(apache):
    t0 = time.monotonic()
    srv = apache.start(shop(env={"STANDIN_RECORD_REQUESTS": "1"}, extra="AspNetCoreHealthCheck "
                            "/healthz interval=1 timeout=1 failures=4"))
    pid = pid_of(srv)
    token = parse_env(get_ok(srv, PREFIX + "/env"))["ASPNETCORE_TOKEN"]

    def probes():
        log = json.loads(get_ok(srv, PREFIX + "/fwd/log").body)["requests"]
        found = [e for e in log if e["target"] == "/shop/healthz"]
        return found if len(found) >= 2 else None
    found = wait_until(probes, 10, lambda: "2 probes of /shop/healthz\n" + srv.log_tail(20))
    for e in found:
        headers = {k.lower(): v for k, v in e["headers"]}
        assert e["method"] == "GET", e
        assert headers.get("ms-aspnetcore-token") == token, e     # the process's own token
        assert headers.get("host") == "127.0.0.1", e              # the server's ServerName
        assert headers.get("connection") == "close", e
        assert e["conn_request"] == 1, e        # a new connection each time, never pooled
        assert e["answered"], e
    assert len({e["peer_port"] for e in found}) == len(found), found
    # one a second (interval=1), not a burst: at most one per second since the start
    assert len(found) <= time.monotonic() - t0 + 1, (len(found), time.monotonic() - t0)
    app, proc = wait_health(srv, lambda a, p: p["health"] == {"state": "healthy", "failures": 0},
                            "the process shown healthy")
    assert proc["pid"] == pid and app["health_replacements"] == 0, app
    assert "<td>healthy</td>" in srv.get("/aspnetcore-status").body.decode()
    assert not log_matches(srv, r"health check"), srv.log_tail(20)
    # failing probes, then passing ones again before the limit: the process is kept
    mark = srv.log_mark()
    get_ok(srv, PREFIX + "/health/set?status=500")
    wait_health(srv, lambda a, p: p["health"]["state"] == "failing", "a failed probe")
    # (the count goes on rising, one a second, until the probe passes again)
    assert re.search(r"<td>failing \d+</td>", srv.get("/aspnetcore-status").body.decode())
    get_ok(srv, PREFIX + "/health/set?status=200")
    app, proc = wait_health(srv, lambda a, p: p["health"]["state"] == "healthy",
                            "healthy again", timeout=8)
    wait_log(srv, r"\[%s\] process %d passes its health check again" % (lab(srv), pid),
             start=mark)
    assert proc["pid"] == pid and app["health_replacements"] == 0, app
    assert pid_of(srv) == pid
    assert not log_matches(srv, r"replacing it", mark), srv.log_tail(20)


@pytest.mark.expect_log(REPLACED % "503")
def test_process_answering_503_is_replaced_without_a_failed_request(apache):
    srv = apache.start(shop())
    old = pid_of(srv)
    mark = srv.log_mark()
    load = Load(srv)
    try:
        get_ok(srv, PREFIX + "/health/set?status=503")
        wait_until(lambda: not procs.alive(old), 15, lambda: "process %d replaced\n%s" % (
            old, srv.log_tail(20)))
        app, proc = wait_health(srv, lambda a, p: p["pid"] != old and p["health"]["state"]
                                == "healthy", "the new process ready and healthy")
        wait_until(lambda: any(s == 200 and body == str(proc["pid"])
                               for s, body in list(load.results)), 10,
                   "a request answered by the new process")
    finally:
        results = load.finish()
    assert app["health_replacements"] == 1, app
    new = proc["pid"]
    # one warning when the streak began, one error when it reached the limit
    warned = log_matches(srv, r"\[%s\] process %d failed a health check \(GET /shop/healthz: "
                              r"503\); it is replaced after 2 failures in a row" % (lab(srv), old),
                         mark)
    assert len(warned) == 1, srv.log_tail(20)
    replaced = log_matches(srv, r"\[%s\] process %d %s" % (lab(srv), old, REPLACED % "503"), mark)
    assert len(replaced) == 1, srv.log_tail(20)
    assert "<tr><th>health replacements</th><td>1</td></tr>" in srv.get(
        "/aspnetcore-status").body.decode()
    # requests went on across the replacement: every one answered, by the old or the new
    bad = [r for r in results if r[0] != 200]
    assert not bad, bad[:5]
    pids = {int(body) for _, body in results}
    assert old in pids and new in pids, (old, new, pids)


@pytest.mark.expect_log(REPLACED % r"no answer within 1 s")
@pytest.mark.expect_log(r"did not stop within 2 s \(shutdownTimeLimit\)")
def test_deadlocked_process_is_replaced_and_killed(apache):
    srv = apache.start(shop(more="AspNetCoreShutdownTimeLimit 2"))
    old = pid_of(srv)
    mark = srv.log_mark()
    expect_status(srv.get(PREFIX + "/health/hang-all", timeout=10), 200, "hang-all", srv)
    # it still accepts connections: only the probes can tell
    wait_until(lambda: not procs.alive(old), 20, lambda: "deadlocked process %d gone\n%s" % (
        old, srv.log_tail(20)))
    (t_replaced, _), = log_matches(srv, r"\[%s\] process %d %s" % (
        lab(srv), old, REPLACED % r"no answer within 1 s"), mark)
    (t_killed, _), = log_matches(srv, r"\[%s\] process %d did not stop within 2 s "
                                      r"\(shutdownTimeLimit\): killing it" % (lab(srv), old), mark)
    assert 1.5 <= t_killed - t_replaced <= 3.5, (t_replaced, t_killed)
    wait_log(srv, r"\[%s\] process %d stopped \(was killed by signal 9\)" % (lab(srv), old),
             start=mark)
    new = pid_of(srv)
    assert new != old
    app, _ = wait_health(srv, lambda a, p: p["pid"] == new, "the new process on the page")
    assert app["health_replacements"] == 1, app


@pytest.mark.expect_log(r"\] process \d+ no longer listens on port \d+ \(another program does\): "
                        r"replacing it",
                        r"\] process \d+ was killed by signal 9 after \d+ s: starting a new one")
def test_probe_never_takes_the_token_to_another_program_on_the_port(apache):
    """A process that closed its listener but lives on leaves its port to any local user: the
    probe checks who listens before it connects, and such a process is killed and replaced at
    once (no probe, no shutdown event: both would carry its token)."""
    srv = apache.start(shop())
    stopped = get_ok(srv, PREFIX + "/fault/stop-listening").json()
    pid, port = stopped["pid"], stopped["port"]
    rogue = RogueListener(port)
    try:
        wait_log(srv, r"\[%s\] process %d no longer listens on port %d \(another program does\): "
                      r"replacing it" % (lab(srv), pid, port), timeout=10)
        new = pid_of(srv)
        got = rogue.received()
    finally:
        rogue.close()
    assert new != pid
    assert not any(TOKEN_HEADER in b.lower() for b in got), got
    assert not got, "the port's new owner got %d connection(s): %r" % (len(got), got)


@pytest.mark.expect_log(r"failed 2 health checks in a row \(GET /shop/no-such-health: 404\)")
def test_wrong_path_is_a_failure_with_one_hint(apache):
    srv = apache.start(shop(extra="AspNetCoreHealthCheck /no-such-health interval=1 timeout=1 "
                                  "failures=2"))
    old = pid_of(srv)
    wait_until(lambda: not procs.alive(old), 15, lambda: "process %d replaced\n%s" % (
        old, srv.log_tail(20)))
    assert len(log_matches(srv, r"\[%s\] process %d failed 2 health checks in a row \(GET "
                                r"/shop/no-such-health: 404\): replacing it" % (lab(srv), old)
                           )) == 1, srv.log_tail(20)
    # the hint, once for the app however many probes fail
    hints = log_matches(srv, r"health check GET /shop/no-such-health answered 404: is "
                             r"/no-such-health the path the app maps its health checks to "
                             r"\(MapHealthChecks\)\?")
    assert len(hints) == 1, srv.log_tail(20)
    assert pid_of(srv) != old


def probe_connection(supervisor, port):
    """The local port of the supervisor's open connection to `port` (its probe), or None."""
    conns = {e.inode: e.local_port for e in procs.tcp_entries()
             if e.remote_port == port and e.state == "ESTABLISHED"}
    for inode, local in conns.items():
        if supervisor in procs.pids_with_socket_inode({inode}):
            return local
    return None


@pytest.mark.expect_log(r"failed a health check")
def test_a_hung_probe_holds_up_no_other_app(apache):
    """The probes never block the supervisor's loop, which serves every app: while a probe of
    a deadlocked app waits for its answer, another app is started and served. A blocking
    probe would hold the loop until its timeout closed that connection."""
    # (a short shutdownTimeLimit: the deadlocked process is killed soon when the test stops;
    # an 8 s probe timeout leaves the other app's start room on a loaded machine)
    hung = shop(extra="AspNetCoreHealthCheck /healthz interval=8 timeout=8 failures=100",
                more="AspNetCoreShutdownTimeLimit 1")
    other = section("Location /other", standin(app_root="{tmp}/other",
                                               extra="AspNetCoreStartMode OnDemand"))
    srv = apache.new(hung + other)
    srv.mkdir("other")
    srv.start()
    pid_of(srv)
    doc = status_json(srv)
    supervisor = doc["supervisor"]["pid"]
    port = find_app(doc, srv.app, PREFIX)["processes"][0]["port"]
    get_ok(srv, PREFIX + "/health/hang-all")
    probe = wait_until(lambda: probe_connection(supervisor, port), 20,
                       lambda: "the supervisor's probe of port %d\n%s" % (port, srv.log_tail(20)))
    assert parse_pid(get_ok(srv, "/other/pid", timeout=30)) > 0
    # that probe is still waiting for its answer: the other app did not wait for it
    assert probe_connection(supervisor, port) == probe, procs.tcp_summary(port)


@pytest.mark.expect_log(r"failed 1 health check in a row \(GET /shop/healthz: 503\)")
def test_htaccess_app_is_health_checked(apache):
    """Set in an .htaccess (AllowOverride Options, like the other launch settings): the app a
    request registers carries its health check to the supervisor."""
    srv = apache.new(section("Directory {docroot}/shop", "AllowOverride Options FileInfo")
                     + STATUS_LOCATION)
    srv.write_file("htdocs/shop/.htaccess", htaccess_app(
        "AspNetCoreHealthCheck /healthz interval=1 timeout=1 failures=1\n"))
    srv.start()
    old = pid_of(srv)
    get_ok(srv, PREFIX + "/health/set?status=503")
    wait_until(lambda: not procs.alive(old), 15, lambda: "process %d replaced\n%s" % (
        old, srv.log_tail(20)))
    assert pid_of(srv) != old
    root = srv.docroot + "/shop"
    app = find_app(status_json(srv), root, PREFIX)
    assert app["health_replacements"] == 1, app


@pytest.mark.expect_log(r"failed 1 health check in a row \(GET /shop/healthz: no answer within "
                        r"1 s\): replacing it")
def test_probe_answered_by_endless_interim_heads_times_out(apache):
    """An app answering the probe with "100 Continue" heads as fast as it can, never a final
    one, fails it at the timeout: the supervisor reads the probe a bit at a time between its
    other work instead of for as long as bytes keep coming (then the timeout was never looked
    at, and no app was served, until the app stopped writing), and its memory does not grow
    with the heads."""
    srv = apache.start(shop(extra="AspNetCoreHealthCheck /healthz interval=1 timeout=1 "
                                  "failures=1"))
    old = pid_of(srv)
    mark = srv.log_mark()
    sup = int(wait_log(srv, r"supervisor started, pid (\d+)").group(1))
    rss_before = supervisor_rss_kib(sup)
    expect_status(srv.get(PREFIX + "/health/flood-1xx", timeout=10), 200, "flood-1xx", srv)
    # the stand-in floods for 15 s: well before that, the 1 s timeout
    wait_log(srv, r"\[%s\] process %d failed 1 health check in a row \(GET /shop/healthz: no "
                  r"answer within 1 s\): replacing it" % (lab(srv), old), timeout=8, start=mark)
    wait_until(lambda: not procs.alive(old), 20, lambda: "process %d replaced\n%s" % (
        old, srv.log_tail(20)))
    assert pid_of(srv) != old
    # each interim head is parsed and forgotten: the supervisor does not keep a copy of
    # each (it grew by about 250 MiB a second of such a probe, for good)
    grown = supervisor_rss_kib(sup) - rss_before
    assert grown < 32 * 1024, "the supervisor grew by %d KiB" % grown


def supervisor_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
