"""The status page (issue 6): `SetHandler aspnetcore-status` lists every app (root, virtual
path, state, processes with pid, port, uptime, requests served and in flight, restarts,
rapid-fail state, last exit, why the last start failed, last error) as HTML, or as JSON with
`?json`; mod_status's server-status shows a summary (and `Key: value` lines with `?auto`).

Facts on the page are checked against the real processes (/proc: pids, their working
directory, the sockets they listen on, their environment) and against the requests the test
itself sent. No test here loads mod_status except test_mod_status_shows_a_summary: every
other one also proves that the module loads and serves its page without it.
"""

import json
import os
import re
import signal
import time

import pytest

import procs
from backends import parse_pid
from rigutil import wait_until
from test_supervision import (EXPECT_CRASH, Timed, backend_pids, expect_status, get_ok, label,
                              section, standin, supervisor_of, wait_backends)

# Depends on how the MPM runs its children (prefork: one request per process): runs under
# prefork even where the test command narrows it (conftest.py); worker shares event's threads
pytestmark = pytest.mark.every_mpm("prefork")

STATUS_PATH = "/aspnetcore-status"
STATUS_LOCATION = "\n" + section("Location %s" % STATUS_PATH, "SetHandler aspnetcore-status")
STATUS_TIMEOUT = 30.0            # an app's state shows on the page (starts, crashes, offline)


# --- helpers -----------------------------------------------------------------------------------

def status_json(srv, path=STATUS_PATH + "?json"):
    r = expect_status(srv.get(path, timeout=10), 200, "GET " + path, srv)
    assert r.header("content-type") == "application/json", r.headers
    assert r.header("cache-control") == "no-store", r.headers
    # a well-formed document in UTF-8, whatever the apps' strings are
    doc = json.loads(r.body.decode("utf-8"))
    doc["_raw"] = r.body
    return doc


def status_html(srv):
    r = expect_status(srv.get(STATUS_PATH, timeout=10), 200, "GET " + STATUS_PATH, srv)
    assert (r.header("content-type") or "").startswith("text/html"), r.headers
    assert r.header("cache-control") == "no-store", r.headers
    return r.body.decode("utf-8")


def find_app(doc, root, vpath="/"):
    found = [a for a in doc["apps"] if a["root"] == root and a["virtual_path"] == vpath]
    assert len(found) == 1, "app %s at %s on the status page: %s" % (
        root, vpath, [(a["root"], a["virtual_path"], a["state"]) for a in doc["apps"]])
    return found[0]


def wait_app(srv, root, cond, what, vpath="/", timeout=STATUS_TIMEOUT):
    """Polls the JSON page until cond(app) holds for the app; returns (doc, app)."""
    last = {}

    def check():
        doc = status_json(srv)
        app = find_app(doc, root, vpath)
        last["app"] = app
        return (doc, app) if cond(app) else None
    return wait_until(check, timeout, lambda: "%s (app now: %s)\n%s" % (
        what, json.dumps(last.get("app"), indent=1), srv.log_tail(15)))


def running_with(count):
    return lambda a: (a["state"] == "running" and len(a["processes"]) == count
                      and all(p["state"] == "ready" for p in a["processes"]))


def tokens_of(pids):
    """The pairing tokens the module gave these backends (their real environment)."""
    out = []
    for pid in pids:
        tok = procs.environ(pid).get("ASPNETCORE_TOKEN")
        assert tok and len(tok) >= 16, "process %d has no ASPNETCORE_TOKEN" % pid
        out.append(tok)
    return out


def assert_no_token(tokens, *bodies):
    for body in bodies:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        for tok in tokens:
            assert tok not in text, "a backend's token is on the status page"


def check_processes_are_real(srv, app, root, started_before):
    """Every process the page lists is a live backend of this httpd, runs in the app's root
    and listens on the port the page says; uptime and start time agree with the clock."""
    now = time.time()
    for p in app["processes"]:
        pid, port = p["pid"], p["port"]
        assert procs.alive(pid), "pid %d on the page is not alive" % pid
        supervisor_of(srv, pid)
        assert procs.cwd(pid) == root, (pid, procs.cwd(pid), root)
        assert pid in procs.listener_pids(port), "process %d does not listen on port %d (%s)" % (
            pid, port, procs.listener_pids(port))
        assert started_before - 1 <= p["started"] <= now + 1, (p, started_before, now)
        assert abs((now - p["started"]) - p["uptime"]) <= 2, (p, now)
        assert 0 <= p["uptime"] <= now - started_before + 1, (p, now - started_before)


# --- the page and what it lists -----------------------------------------------------------------

def test_json_lists_every_app_with_real_processes(apache):
    """Two apps, one with two processes; the page's own Location lies inside the first app's
    scope (the whole site), where the status handler must still win."""
    t0 = time.time()
    two = "{tmp}/two"
    srv = apache.new(standin() + "\n" + section("Location /two", standin(
        app_root=two, extra="AspNetCoreProcessesPerApplication 2")) + STATUS_LOCATION)
    root_two = srv.render(two)
    os.makedirs(root_two)
    os.chmod(root_two, 0o755)
    srv.start()
    assert "mod_status" not in srv.conf()
    pids = wait_backends(srv, 3)
    doc, one = wait_app(srv, srv.app, running_with(1), "the first app running")
    doc, two_app = wait_app(srv, root_two, running_with(2), "the second app running with 2 "
                            "processes", vpath="/two")
    one = find_app(doc, srv.app)

    assert len(doc["apps"]) == 2, [a["label"] for a in doc["apps"]]
    assert one["label"] == label(srv.app) and two_app["label"] == label(root_two, "/two")
    assert one["processes_configured"] == 1 and two_app["processes_configured"] == 2
    listed = sorted(p["pid"] for a in (one, two_app) for p in a["processes"])
    assert listed == sorted(pids) == backend_pids(srv), (listed, pids)
    assert len({p["port"] for a in (one, two_app) for p in a["processes"]}) == 3
    assert sorted(p["slot"] for p in two_app["processes"]) == [0, 1]
    check_processes_are_real(srv, one, srv.app, t0)
    check_processes_are_real(srv, two_app, root_two, t0)
    for a in (one, two_app):
        assert (a["restarts"], a["recent_failures"], a["rapid_fail_tripped"]) == (0, 0, False), a
        assert a["last_exit"] is None and a["start_failure"] is None, a
        assert a["last_error"] is None and a["rapid_fail_until"] is None, a
        assert a["replaces"] is None and a["replaced_by"] is None, a
        assert a["in_flight"] == 0, a
    # table-wide facts
    assert doc["supervisor"]["pid"] == supervisor_of(srv, pids[0]), doc["supervisor"]
    assert doc["supervisor"]["starts"] == 1
    assert doc["websockets"]["open"] == 0 and doc["websockets"]["limit"] >= 1, doc["websockets"]
    assert abs(doc["time"] - time.time()) <= 2, doc["time"]
    # the uptime moves with the clock
    first = two_app["processes"][0]
    wait_until(lambda: find_app(status_json(srv), root_two, "/two")["processes"][0]["uptime"]
               > first["uptime"], 5, "the uptime to grow")

    # the same facts for people
    page = status_html(srv)
    for a in (one, two_app):
        assert "<h2>%s <span class=\"running\">running</span></h2>" % a["label"] in page, page
        for p in a["processes"]:
            assert "<td>%d</td><td>ready</td><td>%d</td><td>%d</td>" % (
                p["slot"], p["pid"], p["port"]) in page, page
    # the apps still get their requests (the status Location is the only exception)
    assert parse_pid(get_ok(srv, "/pid")) in [p["pid"] for p in one["processes"]]
    assert parse_pid(get_ok(srv, "/two/pid")) in [p["pid"] for p in two_app["processes"]]
    # no token anywhere, as JSON or HTML
    assert_no_token(tokens_of(pids), doc["_raw"], page, status_json(srv)["_raw"])


def test_served_and_in_flight_counts(apache):
    srv = apache.start(standin(extra="AspNetCoreProcessesPerApplication 2") + STATUS_LOCATION)
    wait_backends(srv, 2)
    _, before = wait_app(srv, srv.app, running_with(2), "the app running")
    served_before = {p["pid"]: p["served"] for p in before["processes"]}

    answered = {}
    for _ in range(7):
        pid = parse_pid(get_ok(srv, "/pid"))
        answered[pid] = answered.get(pid, 0) + 1
    # each process counts exactly the requests it answered (counted when a request ends,
    # which may be a moment after the client has the response)
    want = {pid: served_before[pid] + answered.get(pid, 0) for pid in served_before}
    _, after = wait_app(srv, srv.app, lambda a: {p["pid"]: p["served"] for p in a["processes"]}
                        == want, "served counts %s after %s" % (want, answered))
    assert after["served"] == before["served"] + 7, (before["served"], after["served"])
    assert sum(answered.values()) == 7 and set(answered) <= set(served_before), answered

    # a slow request is in flight on the process that answers it, and only while it runs
    slow = Timed(srv, "/pid?ms=4000")
    _, during = wait_app(srv, srv.app, lambda a: a["in_flight"] == 1, "one request in flight")
    busy = [p for p in during["processes"] if p["in_flight"]]
    assert len(busy) == 1 and busy[0]["in_flight"] == 1, during["processes"]
    resp = expect_status(slow.join().resp, 200, slow.path, srv)
    assert parse_pid(resp) == busy[0]["pid"], (parse_pid(resp), busy)
    _, done = wait_app(srv, srv.app, lambda a: a["in_flight"] == 0 and a["served"] == after["served"] + 1,
                       "the slow request counted as served")
    assert all(p["in_flight"] == 0 for p in done["processes"]), done["processes"]
    assert {p["pid"]: p["served"] for p in done["processes"]}[busy[0]["pid"]] == \
        want[busy[0]["pid"]] + 1


def test_real_aspnetcore_app(apache, aspnetcore_backend):
    """The real sample under dotnet: the page names the dotnet process that listens, counts
    its requests and never shows its token."""
    t0 = time.time()
    srv = apache.start(section("Location /shop", aspnetcore_backend.directives()) + STATUS_LOCATION)
    pid, = wait_backends(srv, 1, marker="HelloApp.dll")
    _, app = wait_app(srv, srv.app, running_with(1), "the sample running", vpath="/shop",
                      timeout=60)
    assert app["processes"][0]["pid"] == pid
    check_processes_are_real(srv, app, srv.app, t0)
    for _ in range(3):
        assert parse_pid(get_ok(srv, "/shop/pid")) == pid
    doc, app = wait_app(srv, srv.app, lambda a: a["processes"][0]["served"] == 3,
                        "3 requests counted", vpath="/shop")
    assert app["served"] == 3, app
    assert_no_token(tokens_of([pid]), doc["_raw"], status_html(srv))


# --- crashes, failed starts, offline ------------------------------------------------------------

@pytest.mark.expect_log(*EXPECT_CRASH)
def test_kill_9_counts_a_restart_and_the_signal(apache):
    srv = apache.start(standin() + STATUS_LOCATION)
    pid, = wait_backends(srv, 1)
    wait_app(srv, srv.app, running_with(1), "the app running")
    for _ in range(3):
        assert parse_pid(get_ok(srv, "/pid")) == pid
    wait_app(srv, srv.app, lambda a: a["processes"][0]["served"] == 3, "3 requests counted")
    t_kill = time.time()
    os.kill(pid, signal.SIGKILL)
    doc, app = wait_app(srv, srv.app, lambda a: a["restarts"] == 1 and a["state"] == "running"
                        and a["processes"] and a["processes"][0]["pid"] != pid,
                        "the restart after kill -9 of %d" % pid)
    last = app["last_exit"]
    assert last["pid"] == pid and last["signal"] == 9 and last["exit_code"] is None, last
    assert t_kill - 1 <= last["time"] <= time.time() + 1, (last, t_kill)
    assert app["recent_failures"] == 1 and not app["rapid_fail_tripped"], app
    assert "killed by signal 9" in app["last_error"] and str(pid) in app["last_error"], app
    assert app["start_failure"] is None, app        # it was a crash, not a failed start
    new = app["processes"][0]
    # the app's count keeps what the dead process served; the new process starts at 0
    assert app["served"] == 3 and new["served"] == 0, app
    assert new["pid"] == wait_backends(srv, 1, exclude=[pid])[0]
    check_processes_are_real(srv, app, srv.app, t_kill)
    page = status_html(srv)
    assert "pid %d, killed by signal 9, at " % pid in page, page
    assert "<tr><th>restarts</th><td>1</td></tr>" in page, page


@pytest.mark.expect_log(r"exited with code 7 before it listened", r"failed to start \(502\.5\)",
                        r"1 failures within a minute \(rapidFailsPerMinute 0\)")
def test_failed_start_shows_failed_and_why(apache):
    srv = apache.start(standin(env={"STANDIN_EXIT_AT_START": "7"},
                               extra="AspNetCoreStartMode OnDemand\n"
                                     "AspNetCoreRapidFailsPerMinute 0") + STATUS_LOCATION)
    _, app = wait_app(srv, srv.app, lambda a: a["state"] == "stopped", "an OnDemand app "
                      "not started yet")
    assert app["processes"] == [] and app["start_failure"] is None, app
    t0 = time.time()
    expect_status(srv.get("/", timeout=30), 502, "an app that exits with 7 at start", srv)
    _, app = wait_app(srv, srv.app, lambda a: a["state"] == "failed", "the app shown failed")
    fail = app["start_failure"]
    assert fail["reason"] == "exit" and fail["code"] == 7, fail
    assert fail["text"] == "exited with code 7 before it listened", fail
    assert t0 - 1 <= fail["time"] <= time.time() + 1, fail
    assert app["last_exit"]["exit_code"] == 7 and app["last_exit"]["signal"] is None, app
    assert app["restarts"] == 0, app                 # a failed start is not a restart
    # rapidFailsPerMinute 0: the one failure trips the limit for a minute
    assert app["recent_failures"] == 1 and app["rapid_fail_tripped"] is True, app
    assert time.time() + 30 < app["rapid_fail_until"] < time.time() + 62, app
    page = status_html(srv)
    assert '<span class="failed">failed</span>' in page, page
    assert "exited with code 7 before it listened, at " in page, page
    assert "1 within a minute: rapid-fail limit reached, no start before " in page, page


def test_offline_app_shows_offline(apache):
    srv = apache.start(standin() + STATUS_LOCATION)
    pid, = wait_backends(srv, 1)
    wait_app(srv, srv.app, running_with(1), "the app running")
    path = os.path.join(srv.app, "app_offline.htm")
    with open(path, "w") as f:
        f.write("<p>deploying</p>")
    _, app = wait_app(srv, srv.app, lambda a: a["state"] == "offline" and not a["processes"],
                      "the app offline, its process stopped")
    assert not procs.alive(pid)
    assert app["restarts"] == 0 and app["last_error"] is None, app   # a stop asked for
    assert '<span class="offline">offline</span>' in status_html(srv)
    os.unlink(path)
    wait_app(srv, srv.app, running_with(1), "the app running again")


# --- escaping, methods, scopes ---------------------------------------------------------------

def test_strings_are_escaped_in_html_and_json(apache):
    srv = apache.new("")
    root = srv.mkdir("app<b>&'x")
    srv.write_conf(standin(app_root=root) + STATUS_LOCATION)
    srv.start()
    pid, = wait_backends(srv, 1)
    doc, app = wait_app(srv, root, running_with(1), "the app running")
    assert app["label"] == label(root), app
    raw = doc["_raw"]
    assert b"<b>" not in raw and b"&'x" not in raw, raw          # escaped as \u003c ... \u0026
    assert b"app\\u003cb\\u003e\\u0026'x" in raw, raw
    page = status_html(srv)
    assert "<b>" not in page, page
    assert "app&lt;b&gt;&amp;'x at /" in page and "<td>%s</td>" % root.replace(
        "<", "&lt;").replace(">", "&gt;").replace("&'", "&amp;'") in page, page
    assert_no_token(tokens_of([pid]), raw, page)


def test_methods_and_a_page_outside_any_app(apache):
    """The page in a scope that declares no app (the apps live under Locations)."""
    srv = apache.start(section("Location /one", standin()) + STATUS_LOCATION)
    wait_backends(srv, 1)
    wait_app(srv, srv.app, running_with(1), "the app running", vpath="/one")
    for method in ("POST", "PUT", "DELETE"):
        r = srv.request(method, STATUS_PATH + "?json", body=b"x")
        assert r.status == 405, (method, r.status, r.body[:200])
        assert {"GET", "HEAD"} <= set(re.split(r",\s*", r.header("allow") or "")), r.headers
    r = srv.request("HEAD", STATUS_PATH + "?json")
    assert r.status == 200 and r.body == b"", (r.status, r.body[:100])
    assert r.header("content-type") == "application/json"
    # other arguments beside json, and no json at all
    assert status_json(srv, STATUS_PATH + "?x=1&json")["apps"]
    assert status_json(srv, STATUS_PATH + "?json=1")["apps"]
    assert "<h1>ASP.NET Core apps</h1>" in status_html(srv)


# --- mod_status ---------------------------------------------------------------------------------

def test_mod_status_shows_a_summary(apache):
    srv = apache.start(section("Location /one", standin()) + section("Location /two", standin(
        extra="AspNetCoreProcessesPerApplication 2")) + STATUS_LOCATION
        + section("Location /server-status", "SetHandler server-status"), modules=("status",))
    pids = wait_backends(srv, 3)
    wait_app(srv, srv.app, running_with(1), "app one running", vpath="/one")
    wait_app(srv, srv.app, running_with(2), "app two running", vpath="/two")
    for path in ("/one/pid", "/two/pid", "/two/pid"):
        get_ok(srv, path)
    wait_until(lambda: sum(a["served"] for a in status_json(srv)["apps"]) == 3, 10,
               "3 requests counted")

    r = expect_status(srv.get("/server-status?auto", timeout=10), 200, "server-status?auto", srv)
    auto = r.text()
    lines = dict(l.split(": ", 1) for l in auto.splitlines() if l.startswith("AspNetCore"))
    assert lines == {"AspNetCoreApps": "2", "AspNetCoreAppsFailed": "0",
                     "AspNetCoreAppsOffline": "0", "AspNetCoreAppsIdle": "0",
                     "AspNetCoreAppsDraining": "0",
                     "AspNetCoreProcessesReady": "3", "AspNetCoreProcessesStarting": "0",
                     "AspNetCoreRequestsInFlight": "0", "AspNetCoreRequestsServed": "3",
                     "AspNetCoreWebSockets": "0"}, auto
    assert "<" not in auto, auto        # the short report stays plain text

    page = expect_status(srv.get("/server-status", timeout=10), 200, "server-status", srv).text()
    assert "<h2>ASP.NET Core apps (mod_aspnetcore)</h2>" in page, page
    assert "2 app(s): 0 failed, 0 offline, 0 idle" in page and "3 process(es) ready, 0 starting" in page
    assert "0 request(s) in flight, 3 served" in page, page
    assert_no_token(tokens_of(pids), auto, page)
