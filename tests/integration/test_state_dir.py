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

import backends as backends_mod
from rigutil import wait_until
from test_config import WWW_DATA_UID, app_env, htaccess_app, section, standin_lines

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="LOUD SKIP: the state directories "
                                "are made by Apache's root parent and given to www-data; these "
                                "tests need the rig to run as root")

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
    by a request: the supervisor makes its directory as the User."""
    srv = apache.new(
        section("Location /one", standin_lines("{tmp}/one")) + "\n"
        + section("Location /two", standin_lines("{tmp}/two")) + "\n"
        + section("Location /mine", standin_lines("{tmp}/mine", env={"HOME": "{tmp}/adminhome"}))
        + "\n" + section("Directory {docroot}/dyn", "AllowOverride Options FileInfo"))
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
