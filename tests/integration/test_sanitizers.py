"""Memory-safety regressions, and what the sanitizer build (./configure --enable-sanitizers,
tools/build-sanitizers.sh) must not change for the apps.

These tests run against any build. Against the sanitizer build (the rig preloads libasan and
sets `MaxMemFree 1`, see httpd.py), any AddressSanitizer / UBSan report written by an httpd
process fails the test that caused it, besides the asserts below.
"""

import os

import pytest

import procs
from backends import parse_pid
from httpd import SANITIZER_ENV_NAMES, sanitizer_build
from rigutil import expect_status, wait_until

# MPM-sensitive: runs under every MPM even where the test command narrows one (conftest.py)
pytestmark = pytest.mark.every_mpm

UPLOAD_CHUNKS = 300000          # 1-byte chunks: ~1.8 MB on the wire


def mpm_children(srv):
    """The MPM's worker processes: the parent's children in its process group (the
    supervisor has a process group of its own)."""
    table = procs.all_procs()
    parent = table.get(srv.pid)
    return [p for p in procs.children(srv.pid, table) if parent and p.pgrp == parent.pgrp]


def crash_lines(srv):
    return [l for l in srv.error_log().splitlines()
            if "exit signal" in l or "Segmentation fault" in l]


# Also under prefork in a one-MPM run (the sanitizer run uses event): only prefork gives the
# child pool an allocator of its own, which MaxMemFree bounds; under event and worker the
# child pool's freed memory stays in the parent's allocator, out of ASan's sight.
@pytest.mark.also_mpms("prefork")
def test_child_exit_with_pooled_connections(apache, standin_backend):
    """Defect 2.1 of issue 11: a child that exits (here: graceful) while it holds an idle
    pooled connection to the app must exit cleanly. The close-all cleanup ran on the child
    pool after the subpool holding the idle arrays had been destroyed: it read freed memory
    and closed whatever fd numbers it found (SIGSEGV once an upload in many chunks had made
    the allocator give memory back to malloc). The sanitizer build reports the use after
    free on every such exit (MaxMemFree 1)."""
    srv = apache.start(standin_backend.directives())
    with srv.connect(timeout=60) as c:
        # one keep-alive client connection: both requests in the same child
        expect_status(c.request("GET", "/echo/first"), 200, "first request", srv)
        head = c.build_request("POST", "/echo/upload", [("Transfer-Encoding", "chunked")], None)
        c.sock.sendall(head + b"1\r\nx\r\n" * UPLOAD_CHUNKS + b"0\r\n\r\n")
        r = c.read_response("POST")
        expect_status(r, 200, "the upload in %d chunks" % UPLOAD_CHUNKS, srv)
        assert r.json()["body_length"] == UPLOAD_CHUNKS, r.body[:300]
    # the child now holds an idle pooled connection to the app
    before = [(p.pid, p.starttime) for p in mpm_children(srv)]
    assert before, "no MPM child before the graceful restart"
    srv.graceful()
    wait_until(lambda: not any(procs.alive(*k) for k in before), 30,
               lambda: "the children from before the graceful restart to exit: %s"
               % [k for k in before if procs.alive(*k)])
    assert not crash_lines(srv), "a child crashed at exit:\n%s\n--- error.log ---\n%s" % (
        "\n".join(crash_lines(srv)), srv.log_tail(30))
    reports = srv.sanitizer_reports()
    assert not reports, "sanitizer report at child exit:\n%s" % "\n\n".join(
        "%s:\n%s" % (path, text[:6000]) for path, text in reports)
    # and the new children serve
    expect_status(srv.get("/echo/after"), 200, "a request after the graceful restart", srv)


SANITIZER_LIBS = ("libasan.so", "libubsan.so", "liblsan.so")


def sanitizer_traces(pid):
    """What of a sanitizer runtime process `pid` has: environment entries, mapped libraries."""
    env = procs.environ(pid)
    found = ["%s=%s" % (k, env[k]) for k in SANITIZER_ENV_NAMES if k in env]
    if any(lib in env.get("LD_PRELOAD", "") for lib in SANITIZER_LIBS):
        found.append("LD_PRELOAD=%s" % env["LD_PRELOAD"])
    with open("/proc/%d/maps" % pid) as f:
        found += sorted({line.split()[-1] for line in f
                         if any(lib in line for lib in SANITIZER_LIBS)})
    return found


def test_backends_get_no_sanitizer_runtime(apache, backend):
    """Apache runs a sanitizer build with libasan preloaded and ASAN_OPTIONS/UBSAN_OPTIONS
    set (the rig does it, see httpd.py); the app's processes inherit Apache's environment
    otherwise, but none of that: the app runs as it would under a normal build."""
    srv = apache.start(backend.directives(env={"APP_MARK": "kept"}))
    r = srv.get("/pid", timeout=60)
    expect_status(r, 200, "the app's /pid", srv)
    pid = parse_pid(r)
    assert procs.environ(pid).get("APP_MARK") == "kept", "not the app's process: %d" % pid
    assert not sanitizer_traces(pid), "the app (pid %d) got the sanitizer runtime: %s" % (
        pid, sanitizer_traces(pid))
    if sanitizer_build():
        # the test is meaningful: Apache's own processes do carry it
        assert sanitizer_traces(srv.pid), "a sanitizer build but Apache runs without libasan"
        # and the app serves normally
        expect_status(srv.get("/echo/after"), 200, "a request to the app", srv)
