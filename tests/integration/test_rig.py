"""Self-tests of the integration rig, against plain httpd (no mod_aspnetcore loaded)."""

import os
import re
import time

import pytest

import httpclient
import procs
from rigutil import WaitTimeout, wait_until


def test_static_file_served(apache, mpm):
    srv = apache.start("", aspnetcore=False)
    r = srv.get("/")
    assert r.status == 200, r
    assert r.body == ("static index of %s\n" % srv.name).encode()
    # the configured MPM is the one running
    assert re.search(r"\[mpm_%s:notice\]" % mpm, srv.error_log()), srv.log_tail()
    # parent runs as root, its children as www-data
    kids = srv.children()
    assert kids, "httpd parent has no children"
    for k in kids:
        assert procs.uids(k.pid)[1] == 33, procs.describe(k.pid)
    served = wait_until(srv.served_by, 10, "the access log to record the request")
    assert served <= {k.pid for k in srv.descendants()}, (served, srv.descendants())


def test_placeholders_and_keepalive_raw_client(apache):
    srv = apache.start('Alias /aliased "{docroot}"\n# literal braces survive: %{Host}i\n',
                       aspnetcore=False)
    assert "%{Host}i" in srv.conf()
    assert 'Alias /aliased "%s"' % srv.docroot in srv.conf()
    with srv.connect() as c:
        for path in ("/aliased/index.html", "/index.html", "/missing"):
            r = c.request("GET", path)
            assert r.status == (404 if path == "/missing" else 200), r
        r = c.request("HEAD", "/index.html")
        assert r.status == 200 and r.body == b""
        assert int(r.header("Content-Length")) == len(("static index of %s\n" % srv.name).encode())
        r = c.request("GET", "/index.html", headers=[("Connection", "close")])
        assert r.status == 200
        assert c.peer_closed(wait=2.0)


def test_chunked_response_parsing(apache):
    """mod_mime + a static file fetched in two ranges, and a chunked response via
    a request httpd answers with its own chunked body (autoindex)."""
    srv = apache.start('<Location /ix>\n  Options +Indexes\n</Location>\nAlias /ix "{docroot}"\n'
                       "DirectoryIndex disabled\n",
                       aspnetcore=False, modules=["autoindex"])
    with srv.connect() as c:
        r = c.request("GET", "/ix/")
        assert r.status == 200, r
        assert b"index.html" in r.body
        if r.chunked:
            assert r.chunk_sizes[-1] == 0


def test_graceful_restart_keeps_parent(apache):
    srv = apache.start("", aspnetcore=False)
    parent = srv.pid
    kids_before = {k.pid for k in srv.children()}
    srv.write_file("htdocs/new.html", "new\n")
    srv.graceful('Alias /new "{docroot}/new.html"\n')
    assert srv.pid == parent and procs.alive(parent)
    r = srv.get("/new")
    assert r.status == 200 and r.body == b"new\n"
    # a graceful restart replaces the MPM children eventually; wait for a new one
    wait_until(lambda: {k.pid for k in srv.children()} - kids_before, 15,
               "a new httpd child after graceful restart")


def test_configtest_error_is_reported(apache):
    srv = apache.new("ThisIsNotADirective on\n", aspnetcore=False)
    with pytest.raises(AssertionError) as ei:
        srv.start()
    assert "configtest failed" in str(ei.value)
    assert "ThisIsNotADirective" in str(ei.value)


def test_error_log_scan_flags_and_expect_log(apache):
    srv = apache.start("", aspnetcore=False)
    path = srv.write_file("htdocs/secret.html", "x", mode=0o600)   # www-data cannot read it
    assert os.path.exists(path)
    r = srv.get("/secret.html")
    assert r.status == 403
    srv.wait_for_log(r"\[core:error\].*AH00132")
    bad = srv.unexpected_log_lines()
    assert bad and "AH00132" in bad[0], bad
    srv.expect_log(r"AH00132")
    assert srv.unexpected_log_lines() == []


def _cgi_modules(mpm):
    return ["cgi"] if mpm == "prefork" else ["cgid"]


def test_leftover_descendant_is_detected_and_killed(apache, mpm):
    """A CGI leaves a background `sleep` behind (in its own session, so that prefork's
    killpg at shutdown does not reach it): the rig must notice it survived httpd's stop,
    SIGKILL it by pid and report it."""
    srv = apache.new('ScriptAlias /cgi/ "{tmp}/cgi/"\n'
                     '<IfModule cgid_module>\n  ScriptSock "{rundir}/cgid.sock"\n</IfModule>\n',
                     aspnetcore=False, modules=_cgi_modules(mpm))
    srv.write_file("cgi/orphan.sh",
                   "#!/bin/sh\n/usr/bin/setsid /bin/sleep 60 </dev/null >/dev/null 2>&1 &\n"
                   "echo $! > %s/cgi-sleep.pid\n/bin/sleep 1\n"
                   "printf 'Content-Type: text/plain\\r\\n\\r\\norphaned\\n'\n" % srv.rundir,
                   mode=0o755)
    os.chmod(srv.rundir, 0o777)   # let the CGI (www-data) write its pid file
    srv.start()
    r = srv.get("/cgi/orphan.sh")
    assert r.status == 200 and r.body == b"orphaned\n", (r, r.body, srv.log_tail())
    with open(os.path.join(srv.rundir, "cgi-sleep.pid")) as f:
        sleep_pid = int(f.read())
    assert procs.alive(sleep_pid)
    assert any(k[0] == sleep_pid for k in srv.seen_pids()), \
        "sampler did not see the CGI's child %d: %s" % (sleep_pid, srv.seen_pids())
    problems = srv.stop(raise_on_problem=False, gone_timeout=2)
    assert any(str(sleep_pid) in p and "survived" in p for p in problems), problems
    wait_until(lambda: not procs.alive(sleep_pid), 5, "leftover sleep %d to be killed" % sleep_pid)
    srv.problems.clear()      # the leftover was the point of this test


def test_stop_leaves_nothing(apache):
    srv = apache.start("", aspnetcore=False)
    srv.get("/")
    tree = srv.descendants()
    assert len(tree) >= 2
    parent = srv.pid
    srv.stop()
    assert not procs.alive(parent)
    assert not [p for p in tree if procs.alive(p.pid, p.starttime)]


def test_wait_until_is_bounded():
    t0 = time.monotonic()
    with pytest.raises(WaitTimeout) as ei:
        wait_until(lambda: False, 0.3, "nothing")
    assert 0.25 <= time.monotonic() - t0 < 2
    assert "nothing" in str(ei.value)
    assert wait_until(lambda: 42, 1, "x") == 42


def test_http_clients_against_each_other(apache):
    """Both clients see the same duplicate response headers and body."""
    srv = apache.start("Header add X-Dup one\nHeader add X-Dup two\n",
                       aspnetcore=False, modules=["headers"])
    r1 = srv.get("/")
    r2 = srv.raw_request("GET", "/")
    assert r1.headers_all("X-Dup") == ["one", "two"] == r2.headers_all("X-Dup")
    assert r1.body == r2.body
    r3 = httpclient.raw_request(srv.port, "GET", "/", version="HTTP/1.0", host=False)
    assert r3.status == 200 and r3.version == "HTTP/1.1"


def test_proc_helpers():
    me = os.getpid()
    assert procs.alive(me)
    assert procs.environ(me).get("PATH") == os.environ.get("PATH")
    assert procs.cwd(me) == os.getcwd()
    assert procs.uids(me)[0] == os.getuid()
    assert os.getppid() in procs.ancestors(me)
    assert me in {p.pid for p in procs.descendants(os.getppid())}
