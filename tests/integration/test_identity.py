"""Apps under their own user (issue 14, "Identity"; docs/configuration.md "AspNetCoreUser",
docs/security.md "Apps under their own user").

`AspNetCoreUser USER [GROUP]` (main configuration only, never root) runs an app's processes
as that user, with its groups. The supervisor then keeps CAP_SETUID, CAP_SETGID and CAP_KILL
(nothing else) as Apache's User; without AspNetCoreUser it keeps none. The
app's state directory (HOME) and stdout logs are its user's; another app's user cannot read
its environment (token), state or logs. Users that exist on every Debian machine are used:
nobody (65534, group nogroup) and daemon (1, group daemon); no account is created or changed.
"""

import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile

import pytest

import procs
from rigutil import wait_until
from test_config import (STANDIN, app_env, app_pid, htaccess_app, section, standin_lines,
                         web_config, write_replacing)
from test_status import STATUS_LOCATION, find_app, status_json

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="LOUD SKIP: only an Apache started as root "
                       "can run apps as other users; these tests need the rig to run as root"),
    # the parent's, the supervisor's and the spawn's work: the same under every MPM
    pytest.mark.mpms("event"),
]

NOBODY = pwd.getpwnam("nobody")
DAEMON = pwd.getpwnam("daemon")
WWW_DATA = pwd.getpwnam("www-data")
# CAP_KILL 5, CAP_SETGID 6, CAP_SETUID 7
KEPT_CAPS = (1 << 5) | (1 << 6) | (1 << 7)


def caps(pid, which):
    return int(procs.status_fields(pid)[which], 16)


def supervisor_pid(srv):
    return status_json(srv)["supervisor"]["pid"]


def as_user(user, argv):
    """Runs argv as `user` (its uid, gid and groups), returns (exit code, stderr)."""
    p = subprocess.run(["setpriv", "--reuid=%d" % user.pw_uid, "--regid=%d" % user.pw_gid,
                        "--init-groups", "--"] + argv, capture_output=True, timeout=30)
    return p.returncode, p.stderr.decode(errors="replace")


def two_apps(srv_factory):
    """/a as nobody, /b as daemon (stdout logs on), and the status page."""
    conf = (section("Location /a", standin_lines("{tmp}/a", extra="AspNetCoreUser nobody"))
            + section("Location /b", standin_lines("{tmp}/b", extra=(
                "AspNetCoreUser daemon\nAspNetCoreStdoutLogEnabled On\n"
                "AspNetCoreStdoutLogFile ./logs/stdout")))
            + STATUS_LOCATION)
    srv = srv_factory.new(conf)
    for d in ("a", "b"):
        srv.mkdir(d)
    os.chown(os.path.join(srv.dir, "b"), DAEMON.pw_uid, DAEMON.pw_gid)
    srv.start()
    return srv


def test_apps_run_as_their_users_isolated_from_each_other(apache):
    """Each app's process has its user's uid, gid and groups and no capability; HOME is a
    state directory of that user (0700); the stdout log is the user's and not readable by
    others; nobody (app A's user) cannot read daemon's (app B's) environment with its token,
    state directory or stdout log; the status page names each process's user."""
    srv = two_apps(apache)
    pa, pb = app_pid(srv, "/a"), app_pid(srv, "/b")
    for pid, user in ((pa, NOBODY), (pb, DAEMON)):
        assert procs.uids(pid) == (user.pw_uid,) * 4, (pid, procs.uids(pid))
        assert procs.gids(pid) == (user.pw_gid,) * 4, (pid, procs.gids(pid))
        groups = {int(g) for g in procs.status_fields(pid)["Groups"].split()}
        assert groups == set(os.getgrouplist(user.pw_name, user.pw_gid)), (pid, groups)
        for field in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
            assert caps(pid, field) == 0, (pid, field, procs.status_fields(pid)[field])
    env_a, env_b = app_env(srv, "/a"), app_env(srv, "/b")
    for env, user in ((env_a, NOBODY), (env_b, DAEMON)):
        home = env["HOME"]
        assert home.startswith(os.path.join(srv.state_root, user.pw_name) + "/"), home
        st = os.stat(home)
        assert (st.st_uid, st.st_gid) == (user.pw_uid, user.pw_gid), (home, st)
        assert stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)
    logs = wait_until(lambda: [f for f in os.listdir(os.path.join(srv.dir, "b", "logs"))
                               if f.startswith("stdout_")], 15, "app B's stdout log")
    log = os.path.join(srv.dir, "b", "logs", logs[0])
    st = os.stat(log)
    assert st.st_uid == DAEMON.pw_uid and not st.st_mode & 0o007, (log, st.st_uid, oct(st.st_mode))

    # app A's user against app B's secrets
    rc, err = as_user(NOBODY, ["cat", "/proc/%d/environ" % pb])
    assert rc != 0 and "Permission denied" in err, (rc, err)
    rc, err = as_user(NOBODY, ["ls", env_b["HOME"]])
    assert rc != 0 and "Permission denied" in err, (rc, err)
    rc, err = as_user(NOBODY, ["cat", log])
    assert rc != 0 and "Permission denied" in err, (rc, err)
    # control: its own user reads them (the denial above is the user's, not a missing file)
    assert as_user(DAEMON, ["cat", "/proc/%d/environ" % pb])[0] == 0
    assert as_user(DAEMON, ["cat", log])[0] == 0

    doc = status_json(srv)
    users = {p["pid"]: p["user"] for a in doc["apps"] for p in a["processes"]}
    assert users.get(pa) == "nobody" and users.get(pb) == "daemon", users
    assert re.search(r"started process %d on port \d+ as nobody: " % pa, srv.error_log())


def test_supervisor_keeps_three_capabilities_only_when_needed(apache):
    """With AspNetCoreUser: the supervisor runs as www-data with CAP_SETUID, CAP_SETGID and
    CAP_KILL effective and permitted, nothing inheritable, ambient, or in
    its bounding set beyond them; without: no capability at all. A graceful restart that
    adds AspNetCoreUser replaces a supervisor that holds none (the app then runs as its
    user), and one that removes it replaces the supervisor by one without any."""
    plain = section("Location /a", standin_lines("{tmp}/a")) + STATUS_LOCATION
    srv = apache.new(plain)
    srv.mkdir("a")
    srv.start()
    sup = supervisor_pid(srv)
    assert procs.uids(sup)[1] == WWW_DATA.pw_uid
    for field in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert caps(sup, field) == 0, (field, procs.status_fields(sup)[field])
    pid = app_pid(srv, "/a")
    assert procs.uids(pid)[1] == WWW_DATA.pw_uid

    srv.graceful(section("Location /a", standin_lines("{tmp}/a", extra="AspNetCoreUser nobody"))
                 + STATUS_LOCATION)
    new_sup = wait_until(lambda: (lambda p: p != sup and p)(supervisor_pid(srv)), 30,
                         "a new supervisor")
    assert re.search(r"are new in this configuration: the supervisor \(pid %d\) is replaced"
                     % sup, srv.error_log())
    assert procs.uids(new_sup)[:3] == (WWW_DATA.pw_uid,) * 3
    # its filesystem uid is the app's user only while it opens the app's files (state
    # directory, stdout log, the output it copies), and back to www-data between them
    wait_until(lambda: procs.uids(new_sup) == (WWW_DATA.pw_uid,) * 4, 10,
               "the supervisor's filesystem uid back to www-data")
    assert caps(new_sup, "CapEff") == KEPT_CAPS and caps(new_sup, "CapPrm") == KEPT_CAPS
    assert caps(new_sup, "CapInh") == 0 and caps(new_sup, "CapAmb") == 0
    assert caps(new_sup, "CapBnd") == KEPT_CAPS, procs.status_fields(new_sup)["CapBnd"]
    wait_until(lambda: procs.uids(app_pid(srv, "/a"))[1] == NOBODY.pw_uid, 30,
               "the app running as nobody")
    # and back: a supervisor that no longer needs them keeps no capability
    srv.graceful(plain)
    last = wait_until(lambda: (lambda p: p != new_sup and p)(supervisor_pid(srv)), 30,
                      "a supervisor without capabilities")
    assert re.search(r"are gone from this configuration: the supervisor \(pid %d\) is "
                     r"replaced by one without capabilities" % new_sup, srv.error_log())
    for field in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert caps(last, field) == 0, (field, procs.status_fields(last)[field])
    wait_until(lambda: procs.uids(app_pid(srv, "/a"))[1] == WWW_DATA.pw_uid, 30,
               "the app running as www-data again")


@pytest.mark.parametrize("args,message", [
    ("root", r"'root' is root \(uid 0\): apps never run as root"),
    ("www-data root", r"'www-data root' is root \(gid 0\): apps never run as root"),
    ("#0", r"'#0' is root \(uid 0\)"),
    ("no-such-user-here", r"no user named 'no-such-user-here'"),
    ("nobody no-such-group", r"no group named 'no-such-group'"),
])
def test_user_refused_at_configtest(apache, args, message):
    """Root (by name, by group, by number) and unknown users or groups fail configtest with a
    line naming the reason."""
    srv = apache.new(section("Location /a", standin_lines("{tmp}/a", extra="AspNetCoreUser "
                                                          + args)))
    srv.mkdir("a")
    rc, out = srv.apache2("-t")
    assert rc != 0 and re.search(r"AspNetCoreUser: " + message, out), out


@pytest.mark.expect_log(r"AspNetCoreUser not allowed here")
def test_user_refused_in_htaccess(apache):
    """An .htaccess cannot name a user, even with AllowOverride All: Apache's 500, and the
    log names the directive."""
    srv = apache.new(section("Directory {docroot}/dyn", "AllowOverride All"))
    srv.write_file("htdocs/dyn/.htaccess", htaccess_app("AspNetCoreUser nobody"))
    srv.start()
    assert srv.get("/dyn/pid").status == 500


@pytest.mark.expect_log(r"app settings from a request refused: they would run as daemon what "
                        r"is not that user's own: ")
@pytest.mark.expect_log(r"the supervisor did not take the app in time \(the app table is full, "
                        r"or it refused the settings")
def test_new_settings_from_a_request_cannot_run_other_code_as_the_user(apache):
    """An app of the main configuration that runs as daemon imports a web.config; a changed
    web.config is read by an httpd child (Apache's User), whose word the supervisor does not
    take: its new settings run as daemon only if the program is daemon's own (or the .NET
    host with daemon's .dll, in directories no one else can write): the supervisor refuses
    them with a line naming the rule, starts nothing as daemon from them, and the request
    gets 503."""
    srv = apache.new(section("Location /w", 'AspNetCoreAppRoot "{tmp}/w"\nAspNetCoreWebConfig\n'
                             "AspNetCoreUser daemon"))
    srv.mkdir("w")
    os.chown(os.path.join(srv.dir, "w"), DAEMON.pw_uid, DAEMON.pw_gid)

    def wc(value):
        return web_config([("processPath", "/usr/bin/python3"), ("arguments", STANDIN)],
                          '<environmentVariables>\n'
                          '  <environmentVariable name="WC_VALUE" value="%s" />\n'
                          '</environmentVariables>\n' % value)[0]
    srv.write_file("w/web.config", wc("one"))
    srv.start()
    pid = app_pid(srv, "/w")
    assert procs.uids(pid)[1] == DAEMON.pw_uid
    write_replacing(os.path.join(srv.dir, "w", "web.config"), wc("two"))
    # a request after the change (a child looks at web.config at most once a second) has
    # it registered, and waits for the app as for any the supervisor does not take: 503
    wait_until(lambda: srv.get("/w/env", timeout=30).status == 503, 30,
               lambda: "a request answered 503 after the change\n" + srv.log_tail(20))
    line = srv.wait_for_log(r"app settings from a request refused: they would run as daemon "
                            r"what is not that user's own: [^\n]*").group(0)
    # here the first rule broken is the app root's place: /tmp, above it, is writable by
    # others (tests/unit/check_ownerpolicy.c goes through every rule)
    assert re.search(r"own: /\S* is writable by others", line), line
    started = re.findall(r"started process (\d+) on port \d+ as daemon", srv.error_log())
    assert started == [str(pid)], started


# --- AspNetCoreUserFromOwner ------------------------------------------------------------------

@pytest.fixture
def owned_root():
    """A directory for apps run as their directory's owner: under /run, so that every
    directory above an app root is root's and writable by no one else (the rig's temp dirs
    are under /tmp, which everyone may write: an app root there is refused, rightly).
    Removed afterwards."""
    base = tempfile.mkdtemp(prefix="aspnetcore-it-owner-", dir="/run")
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def owned_app(base, name, user, hello_dll=None, htaccess=None):
    """base/name owned by `user`: a copy of the published HelloApp (or nothing) and an
    .htaccess declaring it with `dotnet HelloApp.dll`."""
    d = os.path.join(base, name)
    if hello_dll:
        shutil.copytree(os.path.dirname(hello_dll), d)
    else:
        os.mkdir(d)
    with open(os.path.join(d, ".htaccess"), "w") as f:
        f.write(htaccess or "AspNetCoreProcessPath dotnet\nAspNetCoreArguments HelloApp.dll\n"
                "AspNetCoreEnvironmentVariable HelloApp__TestEndpoints true\n")
    for root, dirs, files in os.walk(d):
        for e in [root] + [os.path.join(root, x) for x in files]:
            os.chown(e, user.pw_uid, user.pw_gid)
            os.chmod(e, 0o755 if os.path.isdir(e) else 0o644)
    return d


def owner_site(base, extra=""):
    return ('Alias /owned "%s"\n' % base
            + section('Directory "%s"' % base, "AllowOverride All\nRequire all granted\n"
                      "AspNetCoreUserFromOwner On\n" + extra))


def test_htaccess_app_runs_as_its_directorys_owner(apache, owned_root, hello_app_dll):
    """AspNetCoreUserFromOwner On for a <Directory>: the HelloApp copy owned by nobody
    (uid 65534, above the default AspNetCoreMinUid 1000), declared in its .htaccess, runs as
    nobody with nobody's groups, its HOME the state directory <root>/nobody/<app id> (made
    by root beforehand, as the docs say); a sibling directory without the directive's scope
    (the same app, under AllowOverride All elsewhere) runs as www-data."""
    owned_app(owned_root, "app", NOBODY, hello_app_dll)
    srv = apache.new(owner_site(owned_root))
    os.makedirs(os.path.join(srv.state_root, "nobody"), mode=0o700)
    os.chown(os.path.join(srv.state_root, "nobody"), NOBODY.pw_uid, NOBODY.pw_gid)
    srv.start()
    pid = app_pid(srv, "/owned/app")
    assert procs.uids(pid) == (NOBODY.pw_uid,) * 4, procs.uids(pid)
    assert procs.gids(pid) == (NOBODY.pw_gid,) * 4, procs.gids(pid)
    assert caps(pid, "CapEff") == 0 and caps(pid, "CapPrm") == 0
    home = app_env(srv, "/owned/app")["HOME"]
    assert home.startswith(os.path.join(srv.state_root, "nobody") + "/"), home
    st = os.stat(home)
    assert st.st_uid == NOBODY.pw_uid and stat.S_IMODE(st.st_mode) == 0o700, (home, st)
    assert re.search(r"started process %d on port \d+ as nobody: " % pid, srv.error_log())


@pytest.mark.parametrize("case", ["below-min-uid", "not-dotnet", "code-loading-env",
                                  "group-writable"])
def test_htaccess_app_refused_as_owner_with_a_500_naming_the_rule(apache, owned_root,
                                                                  hello_app_dll, case):
    """Each suexec-style rule, broken once: daemon's directory (uid 1, below AspNetCoreMinUid
    1000), a program that is not the owner's own or root's dotnet (python3 with a script),
    an environment variable that loads code (LD_PRELOAD), an app root its group may write:
    the request gets a 500 that shows no path, one error-log line names the rule, and
    nothing runs as that user."""
    user, htaccess, rule = NOBODY, None, None
    if case == "below-min-uid":
        user, rule = DAEMON, r"uid 1 is below AspNetCoreMinUid 1000"
    elif case == "not-dotnet":
        htaccess = "AspNetCoreProcessPath /usr/bin/python3\nAspNetCoreArguments x.py\n"
        rule = r"python3[^\n]*(not|outside)"
    elif case == "code-loading-env":
        htaccess = ("AspNetCoreProcessPath dotnet\nAspNetCoreArguments HelloApp.dll\n"
                    "AspNetCoreEnvironmentVariable LD_PRELOAD /tmp/x.so\n")
        rule = r"LD_PRELOAD"
    d = owned_app(owned_root, "app", user, hello_app_dll, htaccess)
    if case == "group-writable":
        os.chmod(d, 0o775)
        rule = r"is writable by its group"
    srv = apache.new(owner_site(owned_root))
    srv.expect_log(r"cannot run as [^\n]*\(AspNetCoreUserFromOwner\): [^\n]*" + rule)
    srv.start()
    r = srv.get("/owned/app/pid", timeout=30)
    assert r.status == 500, (r.status, r.body[:300])
    assert owned_root.encode() not in r.body, r.body
    lines = [l for l in srv.error_log().splitlines() if "(AspNetCoreUserFromOwner)" in l]
    assert lines and re.search(rule, lines[0]), lines
    assert not runs_as(user, owned_root), "something of the app runs as " + user.pw_name


def runs_as(user, root):
    """Processes of `user` whose working directory is under `root`."""
    found = []
    for pid in procs.all_procs():
        try:
            if procs.uids(pid)[1] == user.pw_uid and procs.cwd(pid).startswith(root):
                found.append(pid)
        except OSError:
            pass
    return found


def test_user_from_owner_refused_in_location_and_patterns(apache):
    """The supervisor looks app roots up by path: AspNetCoreUserFromOwner in a <Location>,
    a <Directory> with a wildcard, a <Directory ~> or a <DirectoryMatch> (where Apache's
    path is an expression the supervisor would take as a path) fails configtest saying so."""
    for conf, msg in ((section("Location /x", "AspNetCoreUserFromOwner On"),
                       r"AspNetCoreUserFromOwner cannot occur within <Location> section"),
                      (section('Directory "/srv/*/www"', "AspNetCoreUserFromOwner On"),
                       r"AspNetCoreUserFromOwner: only in the server configuration, a "
                       r"<VirtualHost> or a <Directory> given by its absolute path"),
                      (section('Directory "/srv"', "AspNetCoreMinUid 0"),
                       r"AspNetCoreMinUid: '0' is not a uid from 1 to 2147483647"),
                      (section('DirectoryMatch "/private"', "AspNetCoreUserFromOwner Off"),
                       r"AspNetCoreUserFromOwner: only in the server configuration"),
                      (section('Directory ~ "/srv/www/system"', "AspNetCoreMinUid 5000"),
                       r"AspNetCoreMinUid: only in the server configuration")):
        srv = apache.new(conf)
        rc, out = srv.apache2("-t")
        assert rc != 0 and re.search(msg, out), out
    # sections that only choose what is read are no scope of their own
    srv = apache.new(section('Directory "/srv"', section("IfModule mod_aspnetcore.c",
                                                         "AspNetCoreUserFromOwner On")))
    rc, out = srv.apache2("-t")
    assert rc == 0, out


@pytest.mark.expect_log(r"process \d+ exited with code 7 before it listened")
@pytest.mark.expect_log(r"before it stopped: ")
@pytest.mark.expect_log(r"failed to start \(502\.5\)")
def test_failed_start_output_is_the_users_own(apache):
    """What an app of its own user printed before a failed start is kept in its state
    directory as that user (mode 0600), not in Apache's runtime directory where whatever runs
    as www-data could read it; its last lines are in the error log."""
    srv = apache.new(section("Location /a", standin_lines("{tmp}/a", extra=(
        "AspNetCoreUser daemon\nAspNetCoreEnvironmentVariable STANDIN_EXIT_AT_START 7\n"
        "AspNetCoreStartMode OnDemand"))))
    srv.mkdir("a")
    srv.start()
    assert srv.get("/a/pid", timeout=60).status == 502
    home = os.path.join(srv.state_root, "daemon")
    kept = wait_until(lambda: [os.path.join(home, d, "startup-output.log") for d in os.listdir(home)
                               if os.path.exists(os.path.join(home, d, "startup-output.log"))],
                      15, "the startup output kept in the app's state directory")[0]
    st = os.stat(kept)
    assert st.st_uid == DAEMON.pw_uid and stat.S_IMODE(st.st_mode) == 0o600, (kept, st)
    with open(kept) as f:
        assert "STANDIN_EXIT_AT_START=7, exiting without listening" in f.read()
    ours = os.path.join(srv.rundir, "aspnetcore")
    assert not [f for f in os.listdir(ours) if f.startswith("startup-")], os.listdir(ours)
    assert re.search(r"before it stopped: ", srv.error_log())


@pytest.mark.expect_log(r"process \d+ was killed by signal 9")
@pytest.mark.expect_log(r"process \d+ no longer listens on port \d+ \(nothing does\): replacing it")
@pytest.mark.expect_log(r"cannot connect to the app's process \d+ on port \d+ \(502\.3\)")
def test_web_config_change_of_an_app_with_a_user_restarts_under_it(apache, owned_root,
                                                                   hello_app_dll):
    """An AspNetCoreUser app (HelloApp, owned by daemon, under /run so every directory above
    it is root's) imports its web.config: a changed web.config, read by an httpd child, is
    taken by the supervisor (daemon's own .dll run by root's dotnet, nothing that loads
    other code) and runs as daemon; once the old version is retired, a kill of the new
    process is followed by a restart as daemon (the place is remembered from the
    configuration, not from the retired entry)."""
    d = owned_app(owned_root, "w", DAEMON, hello_app_dll, htaccess="")

    def wc(value):
        return web_config([("processPath", "dotnet"), ("arguments", "HelloApp.dll")],
                          '<environmentVariables>\n'
                          '  <environmentVariable name="HelloApp__TestEndpoints" value="true" />\n'
                          '  <environmentVariable name="WC_VALUE" value="%s" />\n'
                          '</environmentVariables>\n' % value)[0]
    path = os.path.join(d, "web.config")
    with open(path, "w") as f:
        f.write(wc("one"))
    srv = apache.new(section("Location /w", 'AspNetCoreAppRoot "%s"\nAspNetCoreWebConfig\n'
                             "AspNetCoreUser daemon" % d))
    srv.start()
    pid1 = app_pid(srv, "/w")
    assert procs.uids(pid1)[1] == DAEMON.pw_uid
    write_replacing(path, wc("two"))
    wait_until(lambda: app_env(srv, "/w").get("WC_VALUE") == "two", 60,
               lambda: "the new web.config's settings serving\n" + srv.log_tail(20))
    pid2 = app_pid(srv, "/w")
    assert pid2 != pid1 and procs.uids(pid2)[1] == DAEMON.pw_uid
    wait_until(lambda: not procs.alive(pid1), 20, "the old version gone")
    os.kill(pid2, signal.SIGKILL)
    pid3 = wait_until(lambda: (lambda p: p != pid2 and p)(app_pid(srv, "/w")), 60,
                      lambda: "a new process after the kill\n" + srv.log_tail(20))
    assert procs.uids(pid3)[1] == DAEMON.pw_uid
    assert app_env(srv, "/w").get("WC_VALUE") == "two"
    assert not re.search(r"settings from a request refused|are refused now",
                         srv.error_log()), srv.log_tail(30)
