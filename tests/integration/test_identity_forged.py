"""A compromised httpd child against the supervisor (issue 14, "Identity"; docs/security.md
"Apps under their own user").

httpd children run as Apache's User (www-data) and send the supervisor datagrams over an
unnamed AF_UNIX socketpair they inherit (modules/ac_channel.h); AC_REQ_REGISTER carries an
app's serialized launch settings (modules/ac_launch.c, ac_launch_serialize), including the
user its processes run as. With AspNetCoreUser configured the supervisor keeps CAP_SETUID and
CAP_SETGID, so a child that could make it take any settings could run anything as any user.
These tests play such a child for real: they take a running httpd child's own datagram socket
(pidfd_open + pidfd_getfd, as root), write REGISTER datagrams by hand (a serializer mirroring
ac_launch_serialize) and check the supervisor's answer in the error log and in /proc: settings
under Apache's User are taken (the control: the forged path reaches the supervisor), settings
that name another user are refused unless they replace an app of the main configuration that
runs as that user at that place and pass ac_ownerpolicy's rules (modules/ac_sup_identity.c),
root and malformed users are refused when read; settings for the app root's owner
(AspNetCoreUserFromOwner On in the main configuration) are taken only for that owner, with
exactly the app's state directory, plain paths, a debug log that is a .log file of the app's
and nothing that moves where the host loads code from; nothing runs as the named user,
nothing crashes.

The socket is found, not guessed: the kernel's sock_diag (NETLINK_SOCK_DIAG, UDIAG_SHOW_PEER,
what `ss -x` reads) gives each AF_UNIX socket's peer; the child's request socket is its
datagram socket whose peer is a socket the supervisor (the httpd parent's child outside its
process group) holds. pidfd_getfd then gives this process a copy of it: what it sends comes
from the child's own socket, which the supervisor cannot tell from the child's writes.
"""

import ctypes
import hashlib
import os
import pwd
import re
import shutil
import socket
import struct
import tempfile

import pytest

import procs
from rigutil import wait_until
from test_config import (STANDIN, app_env, app_pid, get_ok, section, standin_lines,
                         wait_backends_in)

DAEMON = pwd.getpwnam("daemon")
NOBODY = pwd.getpwnam("nobody")
WWW_DATA = pwd.getpwnam("www-data")

SYS_PIDFD_GETFD = 438       # the same number on every architecture (since Linux 5.6)


def _pidfd_getfd_usable():
    """Why pidfd_getfd cannot be used here, or None."""
    if not hasattr(os, "pidfd_open"):
        return "this Python has no os.pidfd_open"
    libc = ctypes.CDLL(None, use_errno=True)
    r, w = os.pipe()
    pidfd = os.pidfd_open(os.getpid())
    try:
        fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, r, 0)
        if fd < 0:
            return "pidfd_getfd fails: %s" % os.strerror(ctypes.get_errno())
        os.close(fd)
        return None
    finally:
        for fd in (pidfd, r, w):
            os.close(fd)


_NO_GETFD = _pidfd_getfd_usable() if os.geteuid() == 0 else None

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="LOUD SKIP: only an Apache started as root "
                       "runs apps as other users, and only root may take a descriptor from an "
                       "httpd child; these tests need the rig to run as root"),
    pytest.mark.skipif(_NO_GETFD is not None, reason="LOUD SKIP: cannot take an httpd child's "
                       "socket to play a compromised child: %s" % _NO_GETFD),
    # the supervisor's own check: the same under every MPM
    pytest.mark.mpms("event"),
]

# ---- the wire format (modules/ac_channel.h, ac_channel.c, ac_launch.c) --------------------

REQUEST_MAGIC = 0x41435251   # "ACRQ", ac_channel.c
AC_REQ_REGISTER = 3
LAUNCH_FORMAT = 8
NULL_STRING = 0xFFFFFFFF
USER_APACHE, USER_CONFIG, USER_OWNER = 0, 1, 2


def request_datagram(msg_type, payload, app=0, slot=0, incarnation=0):
    """ac_request_msg_t (a native C struct: four uint32 then a uint64, no padding) + payload."""
    return struct.pack("@IIIIQ", REQUEST_MAGIC, msg_type, app, slot, incarnation) + payload


def _u32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)     # put_u32: big-endian


def _str(s):
    if s is None:
        return _u32(NULL_STRING)
    b = s.encode()
    return _u32(len(b)) + b


def _pairs(pairs):
    return _u32(len(pairs)) + b"".join(_str(k) + _str(v) for k, v in pairs)


def launch_settings(process_path, arguments, app_root, virtual_path, site, env=(),
                    ondemand=0, state_dir=None, user_source=USER_APACHE, uid=0, gid=0,
                    user_name=None, stdout_log=None, handler=()):
    """ac_launch_serialize, field by field, in its order. stdout_log: the stdout log file
    (then enabled), handler: the handler settings (debugFile, debugLevel, ...)."""
    return b"".join([
        _u32(LAUNCH_FORMAT),
        _str(process_path), _str(arguments), _str(app_root), _str(virtual_path), _str(site),
        _pairs(env),
        # stdout log: enabled, file, max KiB, keep
        _u32(stdout_log is not None), _str(stdout_log), _u32(0), _u32(0),
        _pairs(handler),                          # handler settings
        _u32(ondemand), _u32(1),                  # OnDemand, processes
        _u32(120), _u32(10), _u32(10), _u32(0),   # startup, shutdown, rapid fails, websockets
        _str(None), _str(state_dir),              # web.config, state directory
        _u32(0), _u32(0),                         # https port, idle timeout
        _u32(0), _u32(0), _u32(0),                # memory, CPU, task limits
        _str(None), _str(None), _u32(0), _u32(0), _u32(0),   # health check: none
        _u32(0), _u32(0), _u32(0), _u32(0),       # recycling: none, no schedule
        _u32(user_source), _u32(uid), _u32(gid), _str(user_name),
    ])


# ---- taking a child's socket ----------------------------------------------------------------

def unix_socket_peers():
    """{inode: (socket type, peer inode or None)} of this network namespace's AF_UNIX sockets,
    from the kernel's sock_diag (what `ss -x` shows)."""
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4)        # NETLINK_SOCK_DIAG
    try:
        # unix_diag_req: every state, every inode, UDIAG_SHOW_PEER
        req = struct.pack("=BBHIIIII", socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0, 0x4,
                          0xFFFFFFFF, 0xFFFFFFFF)
        # nlmsghdr: SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP
        nl.sendto(struct.pack("=IHHII", 16 + len(req), 20, 0x301, 1, 0) + req, (0, 0))
        out = {}
        while True:
            data = nl.recv(1 << 16)
            off = 0
            while off + 16 <= len(data):
                length, msg_type = struct.unpack_from("=IH", data, off)
                if msg_type == 3:                                     # NLMSG_DONE
                    return out
                if msg_type == 2:                                     # NLMSG_ERROR
                    err = -struct.unpack_from("=i", data, off + 16)[0]
                    raise OSError(err, "sock_diag: %s" % os.strerror(err))
                # unix_diag_msg: family, type, state, pad, inode, cookie; then attributes
                sock_type, inode = struct.unpack_from("=xBxxI", data, off + 16)
                peer, attr = None, off + 32
                while attr + 4 <= off + length:
                    alen, atype = struct.unpack_from("=HH", data, attr)
                    if alen < 4:
                        break
                    if atype == 2:                                    # UNIX_DIAG_PEER
                        peer = struct.unpack_from("=I", data, attr + 4)[0]
                    attr += (alen + 3) & ~3
                out[inode] = (sock_type, peer)
                off += (length + 3) & ~3
    finally:
        nl.close()


def socket_fds(pid):
    """{fd: socket inode} of pid."""
    out = {}
    for fd, target in procs.fd_targets(pid).items():
        m = re.match(r"socket:\[(\d+)\]$", target)
        if m:
            out[fd] = int(m.group(1))
    return out


def take_request_socket(srv):
    """A copy of an httpd child's request socket: the child's AF_UNIX datagram socket whose
    peer is a socket the supervisor holds. Returns (socket, child pid, supervisor pid)."""
    supervisors = procs.supervisors(srv.pid)
    assert len(supervisors) == 1, supervisors
    sup = supervisors[0].pid
    sup_inodes = set(socket_fds(sup).values())
    peers = unix_socket_peers()
    for child in procs.mpm_children(srv.pid):
        assert procs.uids(child.pid)[1] == WWW_DATA.pw_uid, procs.uids(child.pid)
        for fd, inode in socket_fds(child.pid).items():
            sock_type, peer = peers.get(inode, (None, None))
            if sock_type == socket.SOCK_DGRAM and peer in sup_inodes:
                libc = ctypes.CDLL(None, use_errno=True)
                pidfd = os.pidfd_open(child.pid)
                try:
                    got = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
                    if got < 0:
                        raise OSError(ctypes.get_errno(), "pidfd_getfd(%d, %d)" % (child.pid, fd))
                finally:
                    os.close(pidfd)
                return socket.socket(fileno=got), child.pid, sup
    raise AssertionError("no httpd child holds a datagram socket connected to the supervisor "
                         "(pid %d): %s" % (sup, {c.pid: procs.fd_targets(c.pid)
                                                 for c in procs.mpm_children(srv.pid)}))


def uids_or_none(pid):
    """pid's uids, () once it is gone."""
    try:
        return procs.uids(pid)
    except OSError:
        return ()


# ---- the rig --------------------------------------------------------------------------------

class Forger:
    """A running httpd whose main configuration runs the stand-in as daemon at /w (its app
    root owned by daemon), and a compromised child's request socket."""

    def __init__(self, apache, extra="", before_start=None):
        self.srv = srv = apache.new(section("Location /w", standin_lines(
            "{tmp}/w", extra="AspNetCoreUser daemon")) + extra)
        srv.mkdir("w")
        os.chown(os.path.join(srv.dir, "w"), DAEMON.pw_uid, DAEMON.pw_gid)
        if before_start:
            before_start(srv)
        srv.start()
        self.root = os.path.join(srv.dir, "w")
        self.app_pid = app_pid(srv, "/w")
        assert procs.uids(self.app_pid)[1] == DAEMON.pw_uid
        self.home = app_env(srv, "/w")["HOME"]
        # the configured app's scope (ac_resolve.c scope_site): the main server's
        # "<ServerName>:<port>" (no port in the rig's ServerName: 0) and the Location
        self.site = "127.0.0.1:0 location /w"
        self.sock, self.child, self.supervisor = take_request_socket(srv)
        # what /bin/sh would write if the supervisor ran it as daemon (daemon may write here)
        self.witness = os.path.join(self.root, "forged-id")

    def send(self, settings):
        self.sock.send(request_datagram(AC_REQ_REGISTER, settings))

    def shell_as(self, site, user_source=USER_CONFIG, uid=DAEMON.pw_uid, gid=DAEMON.pw_gid,
                 name="daemon", root=None):
        """AlwaysRunning settings that would run `id > witness` as the user named."""
        return launch_settings("/bin/sh", '-c "id > %s"' % self.witness, root or self.root,
                               "/w", site, state_dir=self.home, user_source=user_source,
                               uid=uid, gid=gid, user_name=name)

    def refused(self, regex, mark):
        """Waits for the refusal's log line (after `mark`): the supervisor has read and
        dropped the settings; then nothing of them may run."""
        line = self.srv.wait_for_log(regex, start=mark).group(0)
        self.assert_nothing_ran_as_daemon()
        return line

    def assert_nothing_ran_as_daemon(self):
        srv = self.srv
        as_daemon = [p.pid for p in srv.descendants()
                     if p.state not in ("Z", "X") and p.pid != self.app_pid
                     and DAEMON.pw_uid in uids_or_none(p.pid)]
        assert not as_daemon, [procs.describe(p) for p in as_daemon]
        assert not os.path.exists(self.witness), open(self.witness).read()
        started = re.findall(r"started process (\d+) on port \d+ as daemon", srv.error_log())
        assert started == [str(self.app_pid)], started
        forged = [d for d in srv.seen_pids().values() if "/bin/sh" in d]
        assert not forged, forged

    def assert_unharmed(self):
        """The supervisor is the one from the start, and the configured app still answers."""
        srv = self.srv
        assert [p.pid for p in procs.supervisors(srv.pid)] == [self.supervisor]
        assert app_pid(srv, "/w") == self.app_pid
        get_ok(srv, "/w/")
        self.assert_nothing_ran_as_daemon()

    def close(self):
        self.sock.close()


@pytest.fixture
def forger(apache):
    f = Forger(apache)
    yield f
    f.close()


# ---- the tests ------------------------------------------------------------------------------

def test_forged_settings_under_apaches_user_are_taken(forger):
    """The control: settings under Apache's User for a site no app has, written by hand on a
    child's socket, are registered and (AlwaysRunning) started, as www-data: the forged path
    reaches the supervisor, and a child gains no other user by it."""
    srv = forger.srv
    root = srv.mkdir("forged")
    mark = srv.log_mark()
    forger.send(launch_settings("/usr/bin/python3", STANDIN, root, "/forged",
                                "127.0.0.1:0 location /forged"))
    srv.wait_for_log(r"registered by a request: /usr/bin/python3 \S*standin\.py, 1 process",
                     start=mark)
    pid = wait_backends_in(srv, root)[0]
    assert procs.uids(pid) == (WWW_DATA.pw_uid,) * 4, procs.uids(pid)
    forger.assert_unharmed()


@pytest.mark.expect_log(r"app settings from a request refused: they would run as daemon what "
                        r"is not that user's own: ")
def test_forged_settings_cannot_run_a_shell_as_the_configured_user(forger):
    """Settings naming daemon for the very place where the main configuration runs an app as
    daemon, but whose program is /bin/sh (root's, not the .NET host) running `id`: refused
    with the rule's line, nothing runs as daemon, the witness file is never written."""
    srv = forger.srv
    mark = srv.log_mark()
    forger.send(forger.shell_as(forger.site))
    line = forger.refused(r"\[%s at /w\] app settings from a request refused: they would run "
                          r"as daemon what is not that user's own: [^\n]*"
                          % re.escape(forger.root), mark)
    # the rule names a path (the first rule broken: a directory others can write, or a
    # program that is not daemon's own)
    assert re.search(r"own: /\S* ", line), line
    forger.assert_unharmed()


def _refusal_case(name, expected):
    """A case of the test below, with the error line it expects declared for the rig."""
    return pytest.param(name, expected, marks=pytest.mark.expect_log(expected), id=name)


OTHER_SITE = "127.0.0.1:0 location /elsewhere"


@pytest.mark.parametrize("case,expected", [
    _refusal_case("other-site", r"app settings from a request refused: they name user daemon, "
                  r"as whom no app of the main configuration runs at %s" % re.escape(OTHER_SITE)),
    _refusal_case("root", r"bad app settings from httpd: launch settings name root as the "
                  r"app's user"),
    _refusal_case("owner", r"app settings from a request refused: they ask for the owner of "
                  r"\S+/w as the user, and the main configuration has no AspNetCoreUserFromOwner On there"),
    _refusal_case("bad-source", r"bad app settings from httpd: malformed launch settings"),
    _refusal_case("slash-name", r"bad app settings from httpd: malformed launch settings"),
])
def test_forged_settings_for_another_user_are_refused(forger, case, expected):
    """Settings that name a user where no app of the main configuration runs as that user
    (another site), root (uid and gid 0), the directory owner (AspNetCoreUserFromOwner, which
    no configuration allows yet), an unknown kind of user, or a user name with a '/': each is
    refused with its line; nothing runs as daemon, nothing crashes."""
    settings = {
        "other-site": forger.shell_as(OTHER_SITE),
        "root": forger.shell_as(forger.site, uid=0, gid=0, name="root"),
        "owner": forger.shell_as(forger.site, user_source=USER_OWNER),
        "bad-source": forger.shell_as(forger.site, user_source=7),
        "slash-name": forger.shell_as(forger.site, name="../daemon"),
    }[case]
    srv = forger.srv
    mark = srv.log_mark()
    forger.send(settings)
    forger.refused(expected, mark)
    forger.assert_unharmed()


# ---- AspNetCoreUserFromOwner ----------------------------------------------------------------

def state_app_id(app_root):
    """ac_statedir_app_id: the app root with each run of other characters than letters,
    digits, '.' and '_' made one '-' (none leading or trailing), its last 64 characters,
    '-' and the first 4 bytes of its SHA-1 in hex."""
    out, dash = [], True
    for c in app_root:
        if (c.isascii() and c.isalnum()) or c in "._" or (c == "-" and not dash):
            out.append(c)
            dash = c == "-"
        elif not dash:
            out.append("-")
            dash = True
    kept = "".join(out).rstrip("-")[-64:]
    return (kept + "-" if kept else "") + hashlib.sha1(app_root.encode()).hexdigest()[:8]


@pytest.fixture
def run_dir():
    """A directory under /run (root's, 0755: every directory above an app root there is
    root's and writable by no one else, unlike /tmp); removed afterwards. Set up before
    the httpd, so removed after it stopped."""
    base = tempfile.mkdtemp(prefix="aspnetcore-it-forged-", dir="/run")
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def owner_forger(run_dir, apache, hello_app_dll):
    """The forger's httpd with AspNetCoreUserFromOwner On for run_dir (in the main
    configuration), run_dir/app a copy of the published HelloApp owned by nobody (dirs 0755,
    files 0644), and <state root>/nobody made for nobody (0700) beforehand, as the docs say."""
    app = os.path.join(run_dir, "app")
    shutil.copytree(os.path.dirname(hello_app_dll), app)
    for root, _dirs, files in os.walk(app):
        for e in [root] + [os.path.join(root, x) for x in files]:
            os.chown(e, NOBODY.pw_uid, NOBODY.pw_gid)
            os.chmod(e, 0o755 if os.path.isdir(e) else 0o644)

    def nobodys_state(srv):
        os.makedirs(os.path.join(srv.state_root, "nobody"), mode=0o700)
        os.chown(os.path.join(srv.state_root, "nobody"), NOBODY.pw_uid, NOBODY.pw_gid)

    f = Forger(apache, section('Directory "%s"' % run_dir,
                               "AllowOverride All\nAspNetCoreUserFromOwner On"), nobodys_state)
    f.owned = app
    yield f
    f.close()


def runs_as_nobody_in(base):
    """Processes of nobody whose working directory is under base."""
    found = []
    for pid in procs.all_procs():
        try:
            if procs.uids(pid)[1] == NOBODY.pw_uid and procs.cwd(pid).startswith(base + "/"):
                found.append(pid)
        except OSError:
            pass
    return found


def _owner_case(name, expected):
    """A case of the test below; a refusal declares its error line for the rig."""
    marks = [pytest.mark.expect_log(expected)] if expected else []
    return pytest.param(name, expected, marks=marks, id=name)


_OWNER_REFUSED = r"\] app settings from a request refused: "


@pytest.mark.parametrize("case,expected", [
    _owner_case("control", None),
    _owner_case("debug-file", _OWNER_REFUSED + r"their debug log \S*/app/\.bashrc is not a "
                r"\.log file inside the app root"),
    _owner_case("state-dir", _OWNER_REFUSED + r"they name a state directory other than the "
                r"app's own"),
    _owner_case("double-slash", _OWNER_REFUSED + r"their app root \S*//app or state directory "
                r"\S+ is not a plain absolute path"),
    _owner_case("home-env", _OWNER_REFUSED + r"they would run as nobody what is not that "
                r"user's own: environment variable HOME changes what code the app loads"),
    _owner_case("content-root-arg", _OWNER_REFUSED + r"they would run as nobody what is not "
                r"that user's own: argument --contentRoot=/tmp sets where the host loads "
                r"code or content from"),
    _owner_case("other-user", _OWNER_REFUSED + r"they name user daemon, and \S+/app belongs "
                r"to nobody"),
])
def test_forged_settings_as_the_directorys_owner(owner_forger, run_dir, case, expected):
    """Settings for AspNetCoreUserFromOwner (the app root's owner as the user), where the main
    configuration has it On: the control, nobody's `dotnet HelloApp.dll` in nobody's app dir
    with exactly the state directory <state root>/nobody/<app id>, is taken and runs as
    nobody (the forged path reaches the owner check); each broken once (a debug log that is
    not a .log file, a state directory elsewhere with the right tail, an app root with '//',
    HOME in the environment, a --contentRoot argument, daemon claimed for nobody's dir) is
    refused with its line, nothing runs as nobody there, the supervisor is unharmed."""
    f = owner_forger
    srv = f.srv
    app = f.owned
    user = (NOBODY.pw_uid, NOBODY.pw_gid, "nobody")
    state_dir = os.path.join(srv.state_root, "nobody", state_app_id(app))
    kw = dict(ondemand=0, state_dir=state_dir, user_source=USER_OWNER)
    arguments, root = "HelloApp.dll", app
    if case == "debug-file":
        kw["handler"] = [("debugFile", ".bashrc"), ("debugLevel", "FILE,INFO")]
    elif case == "state-dir":
        # nobody's own directory with the right tail, outside the state root: taken
        # without the check
        other = os.path.join(srv.dir, "elsewhere", "nobody")
        os.makedirs(other, mode=0o700)
        os.chown(other, NOBODY.pw_uid, NOBODY.pw_gid)
        kw["state_dir"] = os.path.join(other, state_app_id(app))
    elif case == "double-slash":
        # the same directory by another name, with its own state directory: taken without
        # the check (a second state directory, a second app for the same place)
        root = run_dir + "//app"
        kw["state_dir"] = os.path.join(srv.state_root, "nobody", state_app_id(root))
    elif case == "home-env":
        kw["env"] = [("HOME", "/tmp/x")]
    elif case == "content-root-arg":
        arguments = "HelloApp.dll --contentRoot=/tmp"
    elif case == "other-user":
        user = (DAEMON.pw_uid, DAEMON.pw_gid, "daemon")
        kw["state_dir"] = os.path.join(srv.state_root, "daemon", state_app_id(app))
    mark = srv.log_mark()
    f.send(launch_settings("dotnet", arguments, root, "/owned", "127.0.0.1:0 location /owned",
                           uid=user[0], gid=user[1], user_name=user[2], **kw))
    if case == "control":
        m = srv.wait_for_log(r"started process (\d+) on port \d+ as nobody: ", start=mark,
                             timeout=60)
        pid = int(m.group(1))
        assert procs.uids(pid) == (NOBODY.pw_uid,) * 4, procs.uids(pid)
        assert procs.cmdline(pid)[1:] == ["HelloApp.dll"], procs.describe(pid)
        assert procs.cwd(pid) == app, procs.describe(pid)
    else:
        srv.wait_for_log(r"\[%s at /owned%s" % (re.escape(root), expected), start=mark)
        assert not runs_as_nobody_in(run_dir), [procs.describe(p)
                                                for p in runs_as_nobody_in(run_dir)]
        started = re.findall(r"started process \d+ on port \d+ as nobody", srv.error_log())
        assert not started, srv.error_log()[mark:]
    f.assert_unharmed()
