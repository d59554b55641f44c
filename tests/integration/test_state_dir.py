"""Every app's private, persistent state directory and HOME (issue 12, point 5;
docs/configuration.md "AspNetCoreStateDirectory", docs/operations.md "Where apps keep their
state").

Apache's User has no writable home, so ASP.NET Core kept its Data Protection keys in memory:
login cookies and antiforgery tokens died at every restart and differed between the app's
processes. Now each app gets <AspNetCoreStateRoot>/<user>/<app id> (or the directory its
AspNetCoreStateDirectory names), owned by the app's user, mode 0700, and HOME pointing at it
unless the admin set HOME. The rig points AspNetCoreStateRoot into each test's temp dir
({state}); nothing here touches /var/lib.

The stand-in shows the directories, their owners and modes, HOME, and the refusal of planted
links; RealApp shows what it is for: its keys in $HOME/.aspnet/DataProtection-Keys, a login
cookie and an antiforgery token accepted after a kill -9 and a graceful that restarts the
app, and across the two processes of an app.
"""

import hashlib
import os
import re
import signal
import stat
import urllib.parse

import pytest

import httpclient
import procs
from rigutil import wait_until
from test_config import (WWW_DATA_UID, app_env, backend_procs, htaccess_app, section,
                         standin_lines)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="LOUD SKIP: the state directories are made by "
                       "Apache's root parent and given to www-data; these tests need the rig to "
                       "run as root"),
    # the parent's and the supervisor's work, the same under every MPM
    pytest.mark.mpms("event"),
]

NOT_FOLLOWED = r"is a symbolic link: not followed"


def app_id(app_root):
    """The documented scheme (modules/ac_statedir.h): the app root with every character
    other than [A-Za-z0-9._-] turned into '-' (runs into one, no leading or trailing '-'),
    at most its last 64 characters, then '-' and 8 hex digits of the root's SHA-1."""
    name = re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9._-]", "-", app_root)).strip("-")
    name = name[-64:]
    return "%s-%s" % (name, hashlib.sha1(app_root.encode()).hexdigest()[:8])


def default_dir(srv, app_root):
    return os.path.join(srv.state_root, "www-data", app_id(app_root))


def owner_mode(path):
    st = os.lstat(path)
    return st.st_uid, stat.S_IMODE(st.st_mode), stat.S_ISDIR(st.st_mode)


# --- the stand-in: directories, owners, modes, HOME ------------------------------------------

def test_each_app_gets_its_own_private_state_dir_as_home(apache):
    """Three apps: two with the default layout (distinct directories, created as www-data,
    0700, under a root-owned 0755 root and a www-data 0700 user directory), one whose admin
    set HOME (it wins; the app's directory is still made). Plus an .htaccess app, registered
    by a request: the supervisor makes its directory as the User. Then a graceful gives one
    app an AspNetCoreStateDirectory: the parent makes it, and the app restarts with it."""
    config = (
        section("Location /one", standin_lines("{tmp}/one")) + "\n"
        + section("Location /two", standin_lines("{tmp}/two")) + "\n"
        + section("Location /mine", standin_lines("{tmp}/mine", env={"HOME": "{tmp}/adminhome"}))
        + "\n" + section("Directory {docroot}/dyn", "AllowOverride Options FileInfo"))
    srv = apache.new(config)
    for d in ("one", "two", "mine"):
        srv.mkdir(d)
    srv.write_file("htdocs/dyn/.htaccess", htaccess_app())
    srv.start()

    homes = {}
    for prefix, root in (("/one", "one"), ("/two", "two"), ("/dyn", "htdocs/dyn")):
        app_root = os.path.join(srv.dir, root)
        want = default_dir(srv, app_root)
        env = app_env(srv, prefix)
        assert env.get("HOME") == want, (prefix, env.get("HOME"), want)
        assert owner_mode(want) == (WWW_DATA_UID, 0o700, True), (want, owner_mode(want))
        homes[prefix] = want
    assert len(set(homes.values())) == 3, homes
    assert owner_mode(srv.state_root) == (0, 0o755, True)
    assert owner_mode(os.path.join(srv.state_root, "www-data")) == (WWW_DATA_UID, 0o700, True)

    env = app_env(srv, "/mine")
    assert env["HOME"] == os.path.join(srv.dir, "adminhome"), env["HOME"]
    assert owner_mode(default_dir(srv, os.path.join(srv.dir, "mine")))[:2] == (WWW_DATA_UID, 0o700)

    # AspNetCoreStateDirectory is a launch setting: a graceful restarts the app with it; the
    # root parent makes it, its missing parents root's (0755), itself www-data's (0700)
    srv.graceful(config.replace('<Location /two>', '<Location /two>\n    '
                                'AspNetCoreStateDirectory "{tmp}/srv/state/two"'))
    moved = os.path.join(srv.dir, "srv", "state", "two")
    env = wait_until(lambda: (lambda e: e.get("HOME") == moved and e)(app_env(srv, "/two")),
                     30, "the app at /two restarted with its new state directory")
    assert owner_mode(moved) == (WWW_DATA_UID, 0o700, True)
    assert owner_mode(os.path.dirname(moved)) == (0, 0o755, True)
    assert owner_mode(os.path.join(srv.dir, "srv")) == (0, 0o755, True)


@pytest.mark.expect_log(NOT_FOLLOWED)
def test_links_planted_at_state_dirs_are_not_followed(apache):
    """A symbolic link where a state directory belongs: root (the parent, for
    AspNetCoreStateDirectory) and the supervisor (www-data, for the default layout) refuse it
    with one error line each, never touch its target, and the app still starts, HOME left as
    it was. Without O_NOFOLLOW the root parent would give the link's target (here a
    root-owned directory) to www-data."""
    srv = apache.new(
        section("Location /one", standin_lines("{tmp}/one",
                                               extra='AspNetCoreStateDirectory "{tmp}/explicit"'))
        + "\n" + section("Location /two", standin_lines("{tmp}/two")))
    for d in ("one", "two"):
        srv.mkdir(d)
    victim = srv.mkdir("victim", mode=0o755)                 # root's
    srv.write_file("victim/keep", "root's file\n")
    os.symlink(victim, os.path.join(srv.dir, "explicit"))
    # the default layout, made beforehand as the module would, with a link in it
    userdir = os.path.join(srv.state_root, "www-data")
    os.makedirs(userdir)
    os.chmod(srv.state_root, 0o755)
    os.chown(userdir, WWW_DATA_UID, WWW_DATA_UID)
    os.chmod(userdir, 0o700)
    victim2 = srv.mkdir("victim2", mode=0o750)
    os.chown(victim2, WWW_DATA_UID, WWW_DATA_UID)      # www-data's own: only O_NOFOLLOW refuses
    planted = default_dir(srv, os.path.join(srv.dir, "two"))
    os.symlink(victim2, planted)
    before = {p: owner_mode(p) for p in (victim, victim2)}
    srv.start()

    for prefix in ("/one", "/two"):
        env = app_env(srv, prefix)
        assert env.get("HOME") not in (victim, victim2, planted,
                                       os.path.join(srv.dir, "explicit")), env.get("HOME")
    assert {p: owner_mode(p) for p in (victim, victim2)} == before
    assert os.listdir(victim) == ["keep"] and os.listdir(victim2) == []
    assert os.path.islink(planted) and os.path.islink(os.path.join(srv.dir, "explicit"))
    log = srv.error_log()
    assert re.search(r"AspNetCoreStateDirectory \(.*\): %s is a symbolic link: not followed"
                     % re.escape(os.path.join(srv.dir, "explicit")), log), srv.log_tail(20)
    assert re.search(r"state directory: %s is a symbolic link: not followed: the process starts "
                     r"without it" % re.escape(planted), log), srv.log_tail(20)


def test_state_dir_in_a_parent_the_user_can_write_is_made_by_the_user(apache):
    """An AspNetCoreStateDirectory whose parent belongs to www-data: root makes nothing there
    (between its mkdir and its chown, www-data could swap one of root's directories of that
    parent in, and root would give it away; tests/unit/check_statedir.c plays that race), the
    supervisor makes it as www-data at the process's start, and the app gets it as HOME, with
    no error line."""
    srv = apache.new(section("Location /one", standin_lines(
        "{tmp}/one", extra='AspNetCoreStateDirectory "{tmp}/wwwdata/state"')))
    srv.mkdir("one")
    parent = srv.mkdir("wwwdata", mode=0o755)
    os.chown(parent, WWW_DATA_UID, WWW_DATA_UID)
    srv.start()
    want = os.path.join(parent, "state")
    env = app_env(srv, "/one")
    assert env.get("HOME") == want, (env.get("HOME"), srv.log_tail(20))
    assert owner_mode(want) == (WWW_DATA_UID, 0o700, True), owner_mode(want)


@pytest.mark.parametrize("body, said", [
    ("<VirtualHost 127.0.0.1:{port}>\nAspNetCoreStateRoot /srv/x\n</VirtualHost>",
     r"AspNetCoreStateRoot: server-wide only"),
    ("<Location /a>\n%s\nAspNetCoreStateDirectory /\n</Location>" % standin_lines("{app}"),
     r"AspNetCoreStateDirectory: not the root directory"),
], ids=["root-in-vhost", "dir-is-slash"])
def test_configtest_refuses_bad_state_directives(apache, body, said):
    srv = apache.new(body)
    rc, out = srv.apache2("-t")
    assert rc != 0 and re.search(said, out), (rc, out)


# --- RealApp: what the state directory is for --------------------------------------------------

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FIRST_REQUEST_TIMEOUT = 90.0       # dotnet starts slowly on a loaded machine
EXPECT_KILL = (r"\] process \d+ was killed by signal 9 after \d+ s: starting a new one",
               r"\] error reading the response \(502\.3\)",
               r"\] cannot connect to the app's process \d+ on port \d+",
               r"\] process \d+ no longer listens on port \d+ \([^)]*\): replacing it",
               r"\] the app closed the connection without a response \(502\.3\)")


def cookies_of(resp, jar=None):
    jar = dict(jar or {})
    for value in resp.headers_all("Set-Cookie"):
        name, _, rest = value.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]
    return jar


def cookie_header(jar):
    return "; ".join("%s=%s" % kv for kv in sorted(jar.items()))


def whoami(srv, timeout=30.0):
    r = srv.get("/whoami", timeout=timeout)
    assert r.status == 200, (r.status, r.body[:300], srv.log_tail(20))
    return r.json()


def sign_in_and_take_a_form(srv):
    """A login cookie and an antiforgery token (with its cookie), as a browser holds them."""
    r = srv.request("POST", "/login", headers=FORM, body="user=alice", timeout=FIRST_REQUEST_TIMEOUT)
    assert r.status == 200 and r.text().startswith("signed in alice by "), (r.status, r.body[:300])
    jar = cookies_of(r)
    assert "RealApp.Auth" in jar, r.headers
    r = srv.get("/form", headers={"Cookie": cookie_header(jar)})
    assert r.status == 200, (r.status, r.body[:300])
    jar = cookies_of(r, jar)
    m = re.search(r'<input type="hidden" id="af" name="([^"]+)" value="([^"]+)"', r.text())
    assert m, r.text()
    return jar, {m.group(1): m.group(2).replace("&#x2B;", "+").replace("&#x2F;", "/")}


def accepted_by(srv, jar, field):
    """/me with the login cookie and a POST of the form with its token: both must be taken.
    Returns the pids that answered them."""
    me = srv.get("/me", headers={"Cookie": cookie_header(jar)})
    assert me.status == 200 and me.text().startswith("user alice pid "), \
        ("the login cookie is rejected", me.status, me.body[:300])
    body = urllib.parse.urlencode(dict(field, text="hello"))
    post = srv.request("POST", "/form", headers=dict(FORM, Cookie=cookie_header(jar)), body=body)
    assert post.status == 200 and post.text().startswith("accepted hello by "), \
        ("the antiforgery token is rejected", post.status, post.body[:300])
    return int(me.text().split()[-1]), int(post.text().split()[-1])


def new_pid(srv, old):
    def changed():
        try:
            r = srv.get("/whoami", timeout=10)
        except OSError:
            return None
        return r.status == 200 and r.json()["pid"] != old and r.json()["pid"]
    return wait_until(changed, FIRST_REQUEST_TIMEOUT, "a new process of the app")


def check_key_ring(srv, app_root):
    keys = srv.get("/keys").json()
    home = default_dir(srv, app_root)
    assert keys["home"] == home, keys
    assert keys["keyDir"] == os.path.join(home, ".aspnet", "DataProtection-Keys"), keys
    assert keys["keyFiles"], keys
    on_disk = sorted(f for f in os.listdir(keys["keyDir"]) if f.endswith(".xml"))
    assert on_disk == sorted(keys["keyFiles"]), (on_disk, keys)
    assert os.stat(os.path.join(keys["keyDir"], on_disk[0])).st_uid == WWW_DATA_UID
    return on_disk


@pytest.mark.expect_log(*EXPECT_KILL)
def test_login_and_antiforgery_survive_a_kill_and_a_restart_of_the_app(apache, real_app):
    """The report: after a crash restart or a deploy, every user was logged out and every open
    form failed with 400 (keys in memory). Now the key ring is in $HOME/.aspnet in the app's
    state directory, and the restarted process reads the same keys."""
    app_root = os.path.dirname(real_app.arguments)
    srv = apache.start(real_app.directives())
    first = whoami(srv, FIRST_REQUEST_TIMEOUT)
    assert first["home"] == default_dir(srv, app_root), first
    ring = check_key_ring(srv, app_root)
    jar, field = sign_in_and_take_a_form(srv)
    assert accepted_by(srv, jar, field) == (first["pid"], first["pid"])

    os.kill(first["pid"], signal.SIGKILL)
    second = new_pid(srv, first["pid"])
    assert accepted_by(srv, jar, field) == (second, second)

    # a deploy: a changed launch setting makes a new version of the app on a graceful
    srv.graceful(real_app.directives(env={"STATE_TEST_DEPLOY": "2"}))
    third = new_pid(srv, second)
    assert accepted_by(srv, jar, field) == (third, third)
    assert check_key_ring(srv, app_root) == ring         # the same keys, none made anew


class OneProcess:
    """Requests to one process of the app, straight to its port with its pairing token (as
    Apache sends them): which process issues and which one checks is then certain, where
    Apache's choice (the fewest requests in flight) is not."""

    def __init__(self, pid):
        env = procs.environ(pid)
        self.pid = pid
        self.port = int(env["ASPNETCORE_PORT"])
        self.token = env["ASPNETCORE_TOKEN"]

    def request(self, method, path, headers=None, body=None, timeout=30.0):
        headers = dict(headers or {}, **{"MS-ASPNETCORE-TOKEN": self.token})
        return httpclient.request(self.port, method, path, headers=headers, body=body,
                                  timeout=timeout)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)


def test_two_processes_of_an_app_share_their_keys(apache, real_app):
    """The report: with AspNetCoreProcessesPerApplication 2, a form posted to the other
    process failed. A login cookie and a form's token issued by one process are accepted by
    the other (and the other way round); through Apache, both processes answer with the
    same key ring."""
    srv = apache.start(real_app.directives(extra="AspNetCoreProcessesPerApplication 2"))
    pids = wait_until(lambda: (lambda p: len(p) == 2 and sorted(p))(
        backend_procs(srv, "RealApp.dll")), FIRST_REQUEST_TIMEOUT, "both processes")
    a, b = OneProcess(pids[0]), OneProcess(pids[1])
    wait_until(lambda: all(p.get("/whoami").status == 200 for p in (a, b)),
               FIRST_REQUEST_TIMEOUT, "both processes answering")
    for issuer, checker in ((a, b), (b, a)):
        jar, field = sign_in_and_take_a_form(issuer)
        assert accepted_by(checker, jar, field) == (checker.pid, checker.pid)
    # and through Apache, whichever process it picks
    jar, field = sign_in_and_take_a_form(srv)
    assert accepted_by(srv, jar, field)[0] in pids
    assert check_key_ring(srv, os.path.dirname(real_app.arguments))
