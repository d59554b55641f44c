"""App limits with cgroups (issue 14: AspNetCoreMemoryLimit, AspNetCoreCpuLimit,
AspNetCoreMaxProcesses; docs/configuration.md "AspNetCoreMemoryLimit", docs/operations.md
"Memory, CPU and process limits", docs/security.md "Who sets the limits").

This machine mounts cgroup v1 controllers (memory, cpu, pids) and an empty v2 hierarchy, so
these run the v1 path for real: the root httpd parent makes each app's cgroup under its own
(<controller>/<Apache's cgroup>/aspnetcore/<app id>), writes the limits (root's files) and
gives only cgroup.procs and tasks to www-data; each backend joins its cgroups itself before
execve. The stand-in's /alloc?mib=N allocates and touches N MiB. Every test removes what it
made: the rig stops Apache (the parent removes the cgroups once the supervisor is gone) and the
test checks that nothing is left.
"""

import os
import re
import subprocess

import pytest

from rigutil import wait_until
from test_config import WWW_DATA_UID, app_pid, htaccess_app, section, standin_lines

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="LOUD SKIP: only root makes cgroups; these "
                       "tests need the rig to run as root"),
    pytest.mark.skipif(not os.path.isdir("/sys/fs/cgroup/memory"), reason="LOUD SKIP: no cgroup "
                       "v1 memory controller mounted at /sys/fs/cgroup/memory (these tests read "
                       "the v1 files; the v2 paths are unit-tested in tests/unit/check_cgroup.c)"),
    # the parent's and the supervisor's work, the same under every MPM
    pytest.mark.mpms("event"),
]

MIB = 1 << 20
KILLED = r"process \d+ was killed by its memory limit \(AspNetCoreMemoryLimit 64 MiB\)"


def cgroup_of(pid, controller):
    """The cgroup directory of `pid` in the v1 hierarchy of `controller`."""
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            _, ctls, path = line.rstrip("\n").split(":", 2)
            if controller in ctls.split(","):
                return "/sys/fs/cgroup/%s%s" % (controller, path.rstrip("/"))
    raise AssertionError("pid %d has no %s cgroup" % (pid, controller))


def read(path):
    with open(path) as f:
        return f.read()


def own_base(controller):
    """<controller mount>/<the test's (so Apache's) cgroup>/aspnetcore."""
    return os.path.join(cgroup_of(os.getpid(), controller), "aspnetcore")


MADE = []   # the id prefixes of the apps these tests limit: removed at the end whatever happens


def teardown_module(module):
    """Never leave a cgroup behind on the machine: after every test of the file (and the
    rig's stops), whatever a failed test left (empty cgroups only; rmdir cannot remove one
    that holds a process) goes."""
    for c in ("memory", "cpu", "pids"):
        base = own_base(c)
        if not os.path.isdir(base):
            continue
        for e in os.listdir(base):
            if any(e.startswith(prefix) for prefix in MADE):
                try:
                    os.rmdir(os.path.join(base, e))
                except OSError:
                    pass
        try:
            os.rmdir(base)
        except OSError:
            pass


def sanitised(app_root):
    """The readable part of an app's id (modules/ac_statedir.h, ac_cgroup.h)."""
    return re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9._-]", "-", app_root)).strip("-")[-64:]


def test_limits_in_the_apps_cgroup_oom_kill_said_and_restarted(apache):
    """AspNetCoreMemoryLimit 64, AspNetCoreCpuLimit 50, AspNetCoreMaxProcesses 32: the
    backend runs in its app's cgroup in each controller (its pid in cgroup.procs), the limit
    files say 64 MiB, 50 ms per 100 ms and 32 tasks and are root's, cgroup.procs is
    www-data's; /alloc?mib=100 gets the process killed by the OOM killer of its cgroup, the
    log says so (not a plain crash), a new process serves; after `apache2 -k stop` the
    cgroups are gone."""
    srv = apache.new(section("Location /app", standin_lines("{tmp}/app", extra=(
        "AspNetCoreMemoryLimit 64\nAspNetCoreCpuLimit 50\nAspNetCoreMaxProcesses 32"))))
    MADE.append(sanitised(os.path.join(srv.dir, "app")))
    srv.mkdir("app")
    srv.expect_log(KILLED)
    # the request that made it pass its limit died with it
    srv.expect_log(r"at /app\] [^\n]*\(502\.3\)")
    srv.start()
    pid = app_pid(srv, "/app")
    dirs = {c: cgroup_of(pid, c) for c in ("memory", "cpu", "pids")}
    app_id = os.path.basename(dirs["memory"])
    assert re.fullmatch(re.escape(sanitised(os.path.join(srv.dir, "app")))
                        + r"-[0-9a-f]{8}-[0-9a-f]{8}", app_id), app_id
    for c, d in dirs.items():
        assert d == os.path.join(own_base(c), app_id), (c, d)
        assert str(pid) in read(os.path.join(d, "cgroup.procs")).split(), (c, d)
        assert os.stat(os.path.join(d, "cgroup.procs")).st_uid == WWW_DATA_UID, d
        assert os.stat(os.path.join(d, "tasks")).st_uid == WWW_DATA_UID, d
    assert int(read(os.path.join(dirs["memory"], "memory.limit_in_bytes"))) == 64 * MIB
    assert int(read(os.path.join(dirs["cpu"], "cpu.cfs_quota_us"))) == 50000
    assert int(read(os.path.join(dirs["cpu"], "cpu.cfs_period_us"))) == 100000
    assert read(os.path.join(dirs["pids"], "pids.max")).strip() == "32"
    for f in ("memory/memory.limit_in_bytes", "cpu/cpu.cfs_quota_us", "pids/pids.max"):
        c, name = f.split("/")
        st = os.stat(os.path.join(dirs[c], name))
        assert st.st_uid == 0 and not st.st_mode & 0o022, (f, st.st_uid, oct(st.st_mode))

    r = srv.get("/app/alloc?mib=100", timeout=30)
    assert r.status == 502, (r.status, r.body[:200])
    wait_until(lambda: re.search(KILLED, srv.error_log()), 20,
               "the log saying the process was killed by its memory limit")
    assert not re.search(r"process %d was killed by signal 9" % pid, srv.error_log())
    new = wait_until(lambda: (lambda p: p != pid and p)(app_pid(srv, "/app")), 30,
                     "a new process serving")
    assert str(new) in read(os.path.join(dirs["memory"], "cgroup.procs")).split()
    # below the limit it keeps serving
    assert srv.get("/app/alloc?mib=16").status == 200
    assert app_pid(srv, "/app") == new

    srv.stop()
    for c, d in dirs.items():
        assert not os.path.exists(d), "%s left behind after apache2 -k stop" % d


@pytest.mark.expect_log(r"AspNetCoreMemoryLimit not allowed here")
def test_limits_refused_in_htaccess(apache):
    """Only root makes cgroups, at start-up: an .htaccess (even with AllowOverride All) cannot
    set a limit; the request gets Apache's 500 and the log names the directive."""
    srv = apache.new(section("Directory {docroot}/dyn", "AllowOverride All"))
    srv.write_file("htdocs/dyn/.htaccess", htaccess_app("AspNetCoreMemoryLimit 64"))
    srv.start()
    r = srv.get("/dyn/pid")
    assert r.status == 500, r.status


def test_without_cgroups_the_memory_limit_recycles(apache):
    """AspNetCoreCgroups Off (an admin's setting, documented): no cgroup is made, one line at
    start-up says how the limits are enforced, and a process past AspNetCoreMemoryLimit is
    recycled (one line with the reason) within about a second; a new process serves."""
    srv = apache.new("AspNetCoreCgroups Off\n" + section("Location /app", standin_lines(
        "{tmp}/app", extra="AspNetCoreMemoryLimit 64")))
    MADE.append(sanitised(os.path.join(srv.dir, "app")))
    srv.mkdir("app")
    srv.start()
    assert re.search(r"app limits: AspNetCoreCgroups Off: AspNetCoreMemoryLimit is enforced by "
                     r"recycling", srv.error_log())
    pid = app_pid(srv, "/app")
    assert cgroup_of(pid, "memory") == cgroup_of(os.getpid(), "memory")
    base = own_base("memory")
    assert not [e for e in (os.listdir(base) if os.path.isdir(base) else [])
                if e.startswith(sanitised(os.path.join(srv.dir, "app")))], os.listdir(base)
    assert srv.get("/app/alloc?mib=100", timeout=30).status == 200
    wait_until(lambda: re.search(r"recycling process %d: resident memory \d+ MiB past "
                                 r"AspNetCoreMemoryLimit 64 MiB \(no cgroup\)" % pid,
                                 srv.error_log()), 15, "the recycle past the memory limit")
    wait_until(lambda: (lambda p: p != pid and p)(app_pid(srv, "/app")), 30,
               "a new process serving")


def test_cgroup_of_an_app_no_longer_limited_goes_at_a_reload(apache):
    """A graceful that drops the app's limit: the new process runs outside any app cgroup,
    and once the old one is gone, the next reload removes its cgroup (Apache keeps
    running)."""
    limited = section("Location /app", standin_lines("{tmp}/app", extra="AspNetCoreMemoryLimit 64"))
    srv = apache.new(limited)
    MADE.append(sanitised(os.path.join(srv.dir, "app")))
    srv.mkdir("app")
    srv.start()
    pid = app_pid(srv, "/app")
    d = cgroup_of(pid, "memory")
    assert os.path.dirname(d) == own_base("memory"), d
    plain = section("Location /app", standin_lines("{tmp}/app"))
    srv.graceful(plain)
    new = wait_until(lambda: (lambda p: p != pid and p)(app_pid(srv, "/app")), 30,
                     "the app restarted without its limit")
    assert cgroup_of(new, "memory") == cgroup_of(os.getpid(), "memory")
    wait_until(lambda: not os.path.exists("/proc/%d" % pid), 15, "the old process gone")
    srv.graceful(plain)
    wait_until(lambda: not os.path.exists(d), 10, "its cgroup removed at the reload")
    # and one a reload could not remove (its process still there) goes at the stop
    srv.graceful(limited)
    pid = wait_until(lambda: (lambda p: cgroup_of(p, "memory") == d and p)(app_pid(srv, "/app")),
                     30, "the app limited again")
    srv.graceful(plain)
    wait_until(lambda: app_pid(srv, "/app") != pid, 30, "the app restarted without its limit")
    srv.stop()
    assert not os.path.exists(d), "%s left behind after apache2 -k stop" % d


def test_oom_kill_of_another_process_in_the_cgroup_leaves_broken_checks_working(apache):
    """The OOM killer of the app's cgroup kills a process the app started (here: one put in
    the cgroup by the test), not the app's own process: that kill is no reason to take every
    later connect failure for a kill not yet reaped. The app's process then closes its
    listener: it is still found and replaced (it was let be for ever, its slot kept from
    every request)."""
    srv = apache.new(section("Location /app", standin_lines("{tmp}/app", extra=(
        "AspNetCoreMemoryLimit 64"))))
    MADE.append(sanitised(os.path.join(srv.dir, "app")))
    srv.mkdir("app")
    replaced = r"process %d no longer listens on port \d+ \([^)]*\): replacing it"
    srv.expect_log(r"no longer listens on port \d+ \([^)]*\): replacing it")
    srv.expect_log(r"cannot connect to the app's process")
    srv.expect_log(r"process \d+ was killed by signal 9")   # the replacement's SIGKILL
    srv.expect_log(r"at /app\] [^\n]*\(50[23](\.\d+)?\)")
    srv.start()
    pid = app_pid(srv, "/app")
    memdir = cgroup_of(pid, "memory")
    kills = lambda: int(re.search(r"oom_kill (\d+)", read(os.path.join(
        memdir, "memory.oom_control"))).group(1))
    before = kills()
    hog = subprocess.run(["sh", "-c", "echo $$ > %s/cgroup.procs && exec python3 -c "
                          "'b = b\"x\" * (200 << 20)'" % memdir], timeout=60)
    assert hog.returncode in (-9, 137), hog.returncode
    assert kills() == before + 1
    assert app_pid(srv, "/app") == pid         # the app's own process lives on
    mark = srv.log_mark()
    r = srv.get("/app/fault/stop-listening", headers={"Connection": "close"}, timeout=30)
    assert r.status == 200, r.status

    def found():
        try:
            srv.get("/app/pid", timeout=5)
        except Exception:                       # noqa: BLE001 - a failed request is expected
            pass
        return re.search(replaced % pid, srv.error_log()[mark:])
    wait_until(found, 15, lambda: "process %d replaced\n%s" % (pid, srv.log_tail(20)),
               interval=0.5)
    new = wait_until(lambda: (lambda p: p != pid and p)(app_pid(srv, "/app")), 30,
                     "a new process serving")
    assert str(new) in read(os.path.join(memdir, "cgroup.procs")).split()
