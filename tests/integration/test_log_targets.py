"""Where the lines about an app go (issue 13): to the error log of the virtual host that
declared the app, at that host's LogLevel; and after the error logs were renamed and Apache
restarted gracefully (what logrotate does), to the new files. The supervisor is forked once
and kept across graceful restarts: the parent hands it each generation's error logs."""

import os
import re

import pytest

import procs

from test_supervision import get_ok, label, section, standin
from rigutil import wait_until

pytestmark = pytest.mark.every_mpm("prefork")


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_in(path, regex, timeout=15, what=None):
    rx = re.compile(regex, re.M)
    return wait_until(lambda: rx.search(read(path)), timeout,
                      lambda: "%s in %s:\n%s" % (what or regex, path, read(path)[-3000:]))


def two_hosts(srv, a_level, b_level):
    """Two name-based virtual hosts, each with its own ErrorLog, LogLevel and app."""
    srv.mkdir("app-b")
    return "".join(
        section("VirtualHost 127.0.0.1:{port}",
                "ServerName %s.test\nErrorLog \"{tmp}/%s.log\"\nLogLevel %s\n%s"
                % (name, name, level, standin(app_root=root)))
        for name, level, root in (("a", a_level, "{app}"), ("b", b_level, "{tmp}/app-b")))


def started_rx(root):
    return r"\[%s\] started process \d+ on port" % re.escape(label(root))


def test_each_app_logs_in_its_own_virtual_host(apache):
    srv = apache.new(log_level="warn")
    srv.write_conf(two_hosts(srv, "info", "warn"))
    srv.start()
    a_log, b_log = os.path.join(srv.dir, "a.log"), os.path.join(srv.dir, "b.log")
    root_b = os.path.join(srv.dir, "app-b")
    get_ok_host(srv, "a.test", "/print?n=1")
    get_ok_host(srv, "b.test", "/print?n=1")
    # a (LogLevel info): its app's notice and its output (info) are there
    wait_in(a_log, started_rx(srv.app))
    wait_in(a_log, r"\[%s pid \d+\] standin print 0 of 1" % re.escape(label(srv.app)))
    # b (LogLevel warn): its notice, never its info lines; nothing of a's
    wait_in(b_log, started_rx(root_b))
    b = read(b_log)
    assert "standin print" not in b, b
    assert label(srv.app) not in b, b
    assert label(root_b) not in read(a_log)
    main = srv.error_log()
    assert label(srv.app) not in main and label(root_b) not in main, main


def get_ok_host(srv, host, path):
    r = srv.get(path, headers={"Host": host}, timeout=60)
    assert r.status == 200, "%s %s: %s\n%s" % (host, path, r.status, srv.log_tail(30))
    return r


def test_lines_go_to_the_new_files_after_rotation(apache):
    srv = apache.new(log_level="warn")
    srv.write_conf(two_hosts(srv, "info", "info"))
    srv.start()
    a_log = os.path.join(srv.dir, "a.log")
    get_ok_host(srv, "a.test", "/print?n=1")
    wait_in(a_log, r"standin print 0 of 1")
    # what logrotate does: rename, then graceful
    os.rename(a_log, a_log + ".1")
    os.rename(srv.error_log_path, srv.error_log_path + ".1")
    srv.apache2("-k", "graceful", check=True)
    wait_in(srv.error_log_path, r"resuming normal operations", what="the graceful restart")
    get_ok_host(srv, "a.test", "/print?n=2")
    wait_in(a_log, r"standin print 1 of 2", what="the app's output after the rotation")
    assert "standin print 1 of 2" not in read(a_log + ".1")
    # the supervisor's own lines follow the main log too
    wait_in(srv.error_log_path, r"configuration applied: 2 app\(s\) kept")
    assert "standin print 1 of 2" not in read(srv.error_log_path + ".1")
    holds_only_the_new(srv, a_log, os.path.join(srv.dir, "b.log"), srv.error_log_path)


def test_an_htaccess_app_logs_in_its_virtual_host(apache):
    """An app registered at request time (.htaccess) names the host of the request: its lines
    go to that host's ErrorLog."""
    from test_config import htaccess_app
    srv = apache.new(log_level="warn")
    docroot = srv.mkdir("htdocs-c")
    srv.write_file("htdocs-c/shop/.htaccess", htaccess_app())
    srv.write_conf(section("VirtualHost 127.0.0.1:{port}",
                           "ServerName c.test\nErrorLog \"{tmp}/c.log\"\nLogLevel info\n"
                           "DocumentRoot \"%s\"\n" % docroot
                           + section("Directory %s/shop" % docroot,
                                     "AllowOverride Options FileInfo")))
    srv.start()
    c_log = os.path.join(srv.dir, "c.log")
    get_ok_host(srv, "c.test", "/shop/print?n=1")
    shop = os.path.join(docroot, "shop")
    wait_in(c_log, r"\[%s[^\]]*\] started process \d+ on port" % re.escape(shop))
    wait_in(c_log, r"\[%s[^\]]* pid \d+\] standin print 0 of 1" % re.escape(shop))
    assert shop not in srv.error_log(), srv.log_tail(20)


def test_the_main_error_log_follows_a_rotation(apache):
    """The defect: the supervisor, forked once, kept writing to the first generation's
    error log after logrotate renamed it and Apache restarted gracefully."""
    srv = apache.start(standin(), log_level="warn aspnetcore:info")
    log = srv.error_log_path
    get_ok(srv, "/print?n=1")
    wait_in(log, r"standin print 0 of 1")
    os.rename(log, log + ".1")
    srv.apache2("-k", "graceful", check=True)
    wait_in(log, r"resuming normal operations", what="the graceful restart")
    wait_in(log, r"configuration applied: 1 app\(s\) kept", what="the supervisor's line")
    get_ok(srv, "/print?n=2")
    wait_in(log, r"\[%s pid \d+\] standin print 1 of 2" % re.escape(label(srv.app)))
    old = read(log + ".1")
    assert "configuration applied: 1 app(s) kept" not in old and "print 1 of 2" not in old, old
    holds_only_the_new(srv, log)


def holds_only_the_new(srv, *logs):
    """The supervisor keeps nothing of the renamed files open (their disk space would not
    be freed), and has the new ones."""
    (sup,) = procs.supervisors(srv.pid)
    fds = "/proc/%d/fd" % sup.pid
    held = [os.readlink(os.path.join(fds, fd)) for fd in os.listdir(fds)]
    for log in logs:
        assert not [h for h in held if h.startswith(log + ".1")], held
        assert log in held, held


@pytest.mark.expect_log(r"exited with code 7 before it listened", r"failed to start \(502\.5\)")
def test_a_failed_start_is_told_in_its_virtual_host(apache):
    """The supervisor's lines (the exit, the last lines printed) and the request's own line
    (502.5, from the httpd child) are all in the virtual host's log, none in the main one."""
    srv = apache.new(log_level="warn")
    srv.write_conf(section("VirtualHost 127.0.0.1:{port}",
                           "ServerName d.test\nErrorLog \"{tmp}/d.log\"\n"
                           + standin(env={"STANDIN_EXIT_AT_START": "7"},
                                     extra="AspNetCoreStartMode OnDemand")))
    srv.start()
    d_log = os.path.join(srv.dir, "d.log")
    r = srv.get("/", headers={"Host": "d.test"}, timeout=30)
    assert r.status == 502, (r.status, read(d_log)[-2000:])
    tag = re.escape(label(srv.app))
    wait_in(d_log, r"\[%s\] process \d+ exited with code 7 before it listened" % tag)
    wait_in(d_log, r"\[%s pid \d+\] before it stopped: standin: STANDIN_EXIT_AT_START=7" % tag)
    wait_in(d_log, r"\[%s\] failed to start \(502\.5\)" % tag)
    assert label(srv.app) not in srv.error_log(), srv.log_tail(20)
    # the rig checks the main log only: the vhost's error lines are the ones declared
    bad = [l for l in read(d_log).splitlines() if re.search(r"\[aspnetcore:(error|crit)\]", l)
           and not re.search(r"exited with code 7 before it listened|failed to start \(502\.5\)"
                             r"|\] before it stopped: ", l)]
    assert not bad, bad


def test_a_piped_error_log_gets_the_lines_after_a_graceful_restart(apache):
    """A virtual host's piped ErrorLog: Apache starts a new logger at each generation (and
    ends the old one); the app's lines go to the new one."""
    srv = apache.new(log_level="warn")
    p_log = os.path.join(srv.dir, "piped.log")
    srv.write_conf(section("VirtualHost 127.0.0.1:{port}",
                           "ServerName p.test\nErrorLog \"|/usr/bin/tee -a %s >/dev/null\"\n"
                           "LogLevel info\n%s" % (p_log, standin())))
    srv.start()
    get_ok_host(srv, "p.test", "/print?n=1")
    wait_in(p_log, r"standin print 0 of 1")
    srv.apache2("-k", "graceful", check=True)
    wait_in(srv.error_log_path, r"configuration applied: 1 app\(s\) kept")
    get_ok_host(srv, "p.test", "/print?n=2")
    wait_in(p_log, r"standin print 1 of 2", what="the app's output through the new logger")
