"""Recycling (issue 14): `AspNetCoreRecycle requests=N time=D memory=MiB schedule=HH:MM`
(IIS periodicRestart) replaces a process by a rolling restart: its replacement starts
beside it, and only once that one listens does the old one take no new request and stop
gracefully (the shutdown event) when its requests are done. A client sending requests the
whole time (a keep-alive connection and a new connection per request) gets 200 for every
one. One log line says why a recycle begins, one that it is done; the status page counts
them and shows, per process, its user, resident memory, CPU time, requests and uptime
(checked against /proc here).

The schedule's parsing and its decision are unit tests (tests/unit/check_recycle.c, with a
made-up clock): a real one would wait for the next minute.
"""

import os
import pwd
import re

import pytest

import procs
from rigutil import wait_until
from test_status import STATUS_LOCATION, status_html, status_json, find_app
from test_supervision import (Load, app_pid, backend_pids, get_ok, label, log_matches,
                              standin, started, wait_log)

pytestmark = pytest.mark.mpms("event")

RECYCLES_WANTED = 3
RECYCLE_TIMEOUT = 60.0          # a few recycles, python start-ups on a loaded machine
GONE_TIMEOUT = 20.0             # the old process drains and stops
FAILED_REPLACEMENT = r"\] process \d+ exited with code 3 before it listened on port \d+"


def recycled(srv, start=0):
    """[(old pid, new pid)] of the "recycled" lines."""
    rx = r"\] recycled process (\d+) \(([^)]*(?:\([^)]*\))?[^)]*)\): process (\d+) serves in its place"
    return [(int(m.group(1)), int(m.group(3))) for _, m in log_matches(srv, rx, start)]


def wait_recycles(srv, n, start=0, timeout=RECYCLE_TIMEOUT):
    return wait_until(lambda: len(recycled(srv, start)) >= n and recycled(srv, start), timeout,
                      lambda: "%d recycles (so far %s)\n%s" % (n, recycled(srv, start),
                                                               srv.log_tail(30)))


def check_rolling(srv, pairs, reason_rx, start=0):
    """Every recycle: one line with the reason at its start, the replacement listening before
    the old process got the shutdown event, the old one stopped gracefully."""
    for old, new in pairs:
        assert new != old
        begins = log_matches(srv, r"\] recycling process %d: %s; starting its replacement"
                             % (old, reason_rx), start)
        # (a replacement that lost its port to another program is tried again, said so)
        retried = log_matches(srv, r"\] recycling process %d failed" % old, start)
        assert len(begins) == 1 + len(retried), (
            "one line at the start of the recycle of %d: %s\n%s" % (old, begins,
                                                                    srv.log_tail(40)))
        listens = log_matches(srv, r"\] process %d listens on port \d+" % new, start)
        assert len(listens) == 1, srv.log_tail(40)
        wait_until(lambda: not procs.alive(old), GONE_TIMEOUT,
                   lambda: "recycled process %d to exit\n%s" % (old, srv.log_tail(20)))
        event = wait_log(srv, r"\] sent the shutdown event to process %d\b" % old, start=start)
        assert event, srv.log_tail(20)
        sent = log_matches(srv, r"\] sent the shutdown event to process %d\b" % old, start)
        assert listens[0][0] <= sent[0][0], (
            "process %d got the shutdown event before its replacement %d listened\n%s" % (
                old, new, srv.log_tail(40)))
        wait_log(srv, r"\] process %d stopped \(exited with code 0\)" % old, start=start)
        assert not log_matches(srv, r"process %d (did not accept|cannot send) the shutdown event"
                               % old, start), srv.log_tail(20)


def test_recycle_after_requests_under_load(apache):
    """requests=20: recycled again and again under continuous load, no request failing."""
    srv = apache.start(standin(extra="AspNetCoreRecycle requests=20") + STATUS_LOCATION)
    first = app_pid(srv)
    mark = srv.log_mark()
    load = Load(srv)
    try:
        pairs = wait_recycles(srv, RECYCLES_WANTED, mark)
        load.wait_more(20)
    finally:
        load.stop()
    assert not load.failures, "load across recycles: %s\n%s" % (load.failures[:10],
                                                                 load.summary())
    assert pairs[0][0] == first
    served_by = set(load.pids())
    assert len(served_by) >= RECYCLES_WANTED, "served by %s" % served_by
    check_rolling(srv, pairs[:RECYCLES_WANTED], r"served (\d+) requests \(AspNetCoreRecycle "
                  r"requests=20\)", mark)
    for _, m in log_matches(srv, r"\] recycling process \d+: served (\d+) requests", mark):
        assert int(m.group(1)) >= 20, m.group(0)
    # one process again (the replacement counted instead of the old one, nothing extra)
    wait_until(lambda: len(backend_pids(srv)) == 1, GONE_TIMEOUT,
               lambda: "one backend (now %s)" % backend_pids(srv))
    # every process started was a replacement: none for a slot being replaced, none extra
    # (polled: a recycle may have begun as the load stopped)
    starts = lambda: [p for _, p, _ in started(srv, srv.app, start=mark, collisions=False)]
    wait_until(lambda: starts() == [new for _, new in recycled(srv, mark)]
               and len(backend_pids(srv)) == 1, GONE_TIMEOUT,
               lambda: "the processes started %s to be the replacements %s (backends %s)" % (
                   starts(), recycled(srv, mark), backend_pids(srv)))
    app = find_app(status_json(srv), srv.app)
    assert app["recycles"] >= RECYCLES_WANTED, app
    assert "AspNetCoreRecycle requests=20" in app["last_recycle"]["why"], app["last_recycle"]
    assert app["last_recycle"]["pid"] in served_by
    assert app["processes_configured"] == 1, app
    assert re.search(r"<th>recycles</th><td>\d+ \(the last: process \d+ at [^,]+, served \d+ "
                     r"requests", status_html(srv)), status_html(srv)


@pytest.mark.not_under_sanitizers("its time goes to waiting out two 3-s lifetimes; rolling "
                                  "recycles run under the sanitizers in the other tests of "
                                  "this file")
def test_recycle_by_time_one_process_at_a_time(apache):
    """time=3s with two processes: each is replaced after 3 s, never two at once, and the
    app keeps two processes (plus one replacement while it starts)."""
    srv = apache.start(standin(extra="AspNetCoreProcessesPerApplication 2\n"
                                     "AspNetCoreRecycle time=3s"))
    get_ok(srv, "/pid")
    mark = srv.log_mark()
    load = Load(srv)
    try:
        pairs = wait_recycles(srv, 3, mark)
        load.wait_more(10)
    finally:
        load.stop()
    assert not load.failures, "load across recycles: %s\n%s" % (load.failures[:10],
                                                                 load.summary())
    check_rolling(srv, pairs[:3], r"ran (\d+) s \(AspNetCoreRecycle time=3s\)", mark)
    # one at a time: each recycle is done before the next begins
    lines = [l for l in srv.error_log()[mark:].splitlines()
             if re.search(r"\] (recycling|recycled) process", l)]
    under_way, done = None, 0
    for l in lines:
        pid = int(re.search(r"\] recycl\w+ process (\d+)", l).group(1))
        if "recycled process" in l:
            assert under_way == pid, "\n".join(lines)
            under_way, done = None, done + 1
        elif " failed: " in l:
            under_way = None
        else:
            assert under_way in (None, pid), "two recycles at once:\n" + "\n".join(lines)
            under_way = pid
    assert done >= 3, "\n".join(lines)
    for _, m in log_matches(srv, r"\] recycling process \d+: ran (\d+) s", mark):
        assert int(m.group(1)) >= 3, m.group(0)
    news = [p for _, p, _ in started(srv, srv.app, start=mark, collisions=False)]
    assert len(news) == len(set(news)) and set(n for _, n in pairs) <= set(news)
    wait_until(lambda: len(backend_pids(srv)) in (2, 3), GONE_TIMEOUT,
               lambda: "two backends (now %s)" % backend_pids(srv))


def test_recycle_by_memory_of_the_process(apache):
    """memory=80: a process that grows past 80 MiB resident is replaced."""
    srv = apache.start(standin(extra="AspNetCoreRecycle memory=80"))
    pid = app_pid(srv)
    mark = srv.log_mark()
    assert get_ok(srv, "/alloc?mib=100").text().startswith("allocated 100 MiB")
    pairs = wait_recycles(srv, 1, mark, timeout=30)
    assert pairs[0][0] == pid
    check_rolling(srv, pairs[:1], r"holds (\d+) MiB of resident memory with its children "
                  r"\(AspNetCoreRecycle memory=80\)", mark)
    assert app_pid(srv) == pairs[0][1]


@pytest.mark.expect_log(FAILED_REPLACEMENT)
def test_failed_replacement_leaves_the_old_process_serving(apache):
    srv = apache.new(standin(env={"STANDIN_FAIL_START_IF": "{tmp}/fail"},
                             extra="AspNetCoreRecycle requests=20"))
    srv.mkdir("app")
    srv.start()
    pid = app_pid(srv)
    mark = srv.log_mark()
    srv.write_file("fail", "")
    for _ in range(25):
        assert app_pid(srv) == pid
    wait_log(srv, r"\] recycling process %d failed: its replacement did not start; it serves "
             r"on" % pid, timeout=30, start=mark)
    assert log_matches(srv, FAILED_REPLACEMENT, mark)
    for _ in range(5):
        assert app_pid(srv) == pid, "the old process serves on"
    assert recycled(srv, mark) == []
    os.unlink(os.path.join(srv.dir, "fail"))
    pairs = wait_recycles(srv, 1, mark, timeout=30)
    assert pairs[0][0] == pid
    # the old process is published as stopping just after the "recycled" line: until then
    # both are ready and either may answer
    wait_until(lambda: app_pid(srv) == pairs[0][1], 10,
               lambda: "requests to go to the replacement %d" % pairs[0][1])


def cpu_ms_of(pid):
    """User + system CPU time of pid from /proc/PID/stat, in ms."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) * 1000 // os.sysconf("SC_CLK_TCK")


def test_status_page_figures_per_process(apache):
    """user, resident memory, CPU time, requests served and uptime of each process, as /proc
    and the requests sent say; health is present: none without a health check."""
    srv = apache.start(standin(extra="AspNetCoreProcessesPerApplication 2") + STATUS_LOCATION)
    sent = {}
    for _ in range(30):
        p = app_pid(srv)
        sent[p] = sent.get(p, 0) + 1
    pids = wait_until(lambda: len(backend_pids(srv)) == 2 and backend_pids(srv), 30,
                      lambda: "two backends (now %s)" % backend_pids(srv))
    # one process grows by 40 MiB: its figure must follow (the stand-ins share nothing)
    big = int(re.search(r"^allocated 40 MiB, held \d+, pid (\d+)$",
                        get_ok(srv, "/alloc?mib=40").text()).group(1))
    assert big in pids
    big_rss = procs.rss_kib(big)
    assert big_rss > 40 * 1024, big_rss

    def figures_fresh():
        app = find_app(status_json(srv), srv.app)
        mine = {p["pid"]: p for p in app["processes"]}
        # a request is counted as served after its answer reached the client
        ok = (set(mine) == set(pids) and all(p["memory_kib"] for p in mine.values())
              and mine[big]["memory_kib"] > 40 * 1024
              and all(mine.get(q, {}).get("served", 0) >= n for q, n in sent.items()))
        return app if ok else None
    app = wait_until(figures_fresh, 10, lambda: "the figures on the status page\n"
                     + srv.log_tail(20))
    for p in app["processes"]:
        pid = p["pid"]
        assert p["user"] == pwd.getpwuid(procs.uids(pid)[1]).pw_name, (p, procs.uids(pid))
        assert p["uid"] == procs.uids(pid)[1]
        rss = procs.rss_kib(pid)
        assert abs(p["memory_kib"] - rss) <= max(8 * 1024, rss // 5), (p, rss)
        assert 0 <= p["cpu_ms"] <= cpu_ms_of(pid), (p, cpu_ms_of(pid))
        assert p["served"] >= sent.get(pid, 0), (p, sent)
        assert p["tasks"] >= 1 and p["uptime"] >= 0
        assert "health" in p and p["health"] is None
    page = status_html(srv)
    assert "<th>user</th><th>memory</th><th>CPU time (s)</th><th>health</th>" in page, page
    for p in app["processes"]:
        assert re.search(r"<td>%d</td>.*<td>%s</td><td>[\d.]+ (KiB|MiB)</td><td>[\d.]+</td>"
                         r"<td>-</td>" % (p["pid"], re.escape(p["user"])), page), page
