"""Read-only /proc helpers: process table, process trees, environ/cmdline/uid/cwd, sockets;
RssSampler, the peak memory of httpd's MPM children while a test runs.

Processes are identified by (pid, starttime) so that a recycled pid is never taken for
the process we saw before.  Zombies count as gone (they hold nothing but their pid, and
pid 1 on this machine does not necessarily reap them).
"""

import collections
import os
import signal
import threading

ProcInfo = collections.namedtuple("ProcInfo", "pid ppid state starttime comm pgrp")


def _parse_stat(data):
    # "pid (comm) state ppid pgrp session tty tpgid flags ... starttime(22) ..."
    lpar = data.index("(")
    rpar = data.rindex(")")
    pid = int(data[:lpar].strip())
    comm = data[lpar + 1:rpar]
    rest = data[rpar + 2:].split()
    state = rest[0]
    ppid = int(rest[1])
    pgrp = int(rest[2])
    starttime = int(rest[19])  # field 22 overall; rest[0] is field 3
    return ProcInfo(pid, ppid, state, starttime, comm, pgrp)


def proc_info(pid):
    """ProcInfo for pid, or None if it does not exist."""
    try:
        with open("/proc/%d/stat" % pid, "r", encoding="utf-8", errors="replace") as f:
            return _parse_stat(f.read())
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return None


def all_procs():
    """{pid: ProcInfo} for every process currently in /proc."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        info = proc_info(int(name))
        if info is not None:
            out[info.pid] = info
    return out


def children(pid, table=None):
    table = table if table is not None else all_procs()
    return [p for p in table.values() if p.ppid == pid]


def descendants(pid, table=None):
    """All live descendants of pid (walking PPid), as a list of ProcInfo."""
    table = table if table is not None else all_procs()
    kids = collections.defaultdict(list)
    for p in table.values():
        kids[p.ppid].append(p)
    out, todo = [], [pid]
    seen = set()
    while todo:
        cur = todo.pop()
        for child in kids.get(cur, ()):
            if child.pid in seen:
                continue
            seen.add(child.pid)
            out.append(child)
            todo.append(child.pid)
    return out


def ancestors(pid, table=None):
    """[ppid, grandparent, ...] up to pid 1 / 0."""
    table = table if table is not None else all_procs()
    chain = []
    cur = table.get(pid)
    while cur is not None and cur.ppid > 0:
        chain.append(cur.ppid)
        if cur.ppid == 1:
            break
        cur = table.get(cur.ppid)
    return chain


def alive(pid, starttime=None):
    """True if pid exists, is not a zombie and (if given) has the same starttime."""
    info = proc_info(pid)
    if info is None or info.state in ("Z", "X"):
        return False
    return starttime is None or info.starttime == starttime


def ident(pid):
    """(pid, starttime) for a live pid, or None."""
    info = proc_info(pid)
    return None if info is None else (info.pid, info.starttime)


def kill_ident(pid, starttime, sig=signal.SIGKILL):
    """Send sig to pid only if it is still the same process."""
    if alive(pid, starttime):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def status_fields(pid):
    out = {}
    with open("/proc/%d/status" % pid, "r", encoding="utf-8", errors="replace") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip()
    return out


def uids(pid):
    """(real, effective, saved, fs) uids."""
    return tuple(int(x) for x in status_fields(pid)["Uid"].split())


def gids(pid):
    return tuple(int(x) for x in status_fields(pid)["Gid"].split())


def environ(pid):
    """The process's initial environment as a dict (needs root or the same uid)."""
    with open("/proc/%d/environ" % pid, "rb") as f:
        raw = f.read()
    env = {}
    for item in raw.split(b"\0"):
        if not item:
            continue
        k, _, v = item.partition(b"=")
        env[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    return env


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        raw = f.read()
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0")[:-1]] if raw else []


def cwd(pid):
    return os.readlink("/proc/%d/cwd" % pid)


def exe(pid):
    return os.readlink("/proc/%d/exe" % pid)


def describe(pid):
    """One-line human description of a pid, for failure messages."""
    info = proc_info(pid)
    if info is None:
        return "%d (gone)" % pid
    try:
        cmd = " ".join(cmdline(pid))
    except OSError:
        cmd = "?"
    return "%d ppid=%d state=%s comm=%s cmd=%r" % (pid, info.ppid, info.state, info.comm, cmd[:200])


# --- sockets -------------------------------------------------------------------------

TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
    "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}

TcpEntry = collections.namedtuple("TcpEntry", "local_port remote_port state inode")


def tcp_entries():
    """Every IPv4/IPv6 TCP socket in this network namespace (from /proc/net/tcp{,6})."""
    out = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, remote, st = parts[1], parts[2], parts[3]
                    out.append(TcpEntry(int(local.rsplit(":", 1)[1], 16),
                                        int(remote.rsplit(":", 1)[1], 16),
                                        TCP_STATES.get(st, st), int(parts[9])))
        except FileNotFoundError:
            pass
    return out


def peer_ports_of(port):
    """Ephemeral ports of every non-listening TCP socket talking to ``port`` (either end,
    any state incl. TIME_WAIT): a count of distinct connections made to a server port."""
    peers = set()
    for e in tcp_entries():
        if e.state == "LISTEN":
            continue
        if e.local_port == port and e.remote_port != port:
            peers.add(e.remote_port)
        elif e.remote_port == port and e.local_port != port:
            peers.add(e.local_port)
    return peers


def tcp_summary(port):
    """A human summary of the sockets of connections to a server port, e.g. which end holds
    TIME_WAIT (the end that closed first): 'client side: TIME_WAIT x30; server side: ...'."""
    import collections as _c
    client, server = _c.Counter(), _c.Counter()
    for e in tcp_entries():
        if e.state == "LISTEN":
            continue
        if e.local_port == port and e.remote_port != port:
            server[e.state] += 1
        elif e.remote_port == port and e.local_port != port:
            client[e.state] += 1
    fmt = lambda c: ", ".join("%s x%d" % kv for kv in sorted(c.items())) or "none"
    return "connecting side: %s; port %d side: %s" % (fmt(client), port, fmt(server))


def listening_inodes(port):
    return {e.inode for e in tcp_entries() if e.state == "LISTEN" and e.local_port == port}


def pids_with_socket_inode(inodes):
    """pids holding an fd on one of the given socket inodes."""
    wanted = {"socket:[%d]" % i for i in inodes}
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            for fd in os.listdir("/proc/%s/fd" % name):
                try:
                    if os.readlink("/proc/%s/fd/%s" % (name, fd)) in wanted:
                        found.add(int(name))
                        break
                except OSError:
                    continue
        except OSError:
            continue
    return found


def listener_pids(port):
    """pids that hold the listening socket of a TCP port."""
    return pids_with_socket_inode(listening_inodes(port))


# --- resources of Apache's processes (fault-injection suite, soak) ------------------------

def fd_count(pid):
    """Number of open fds of pid, or None if it is gone (or not readable)."""
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def fd_targets(pid):
    """{fd: readlink target} of pid ({} if it is gone): to name what leaked."""
    out = {}
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return out
    for name in names:
        try:
            out[int(name)] = os.readlink("/proc/%d/fd/%s" % (pid, name))
        except OSError:
            continue
    return out


def rss_kib(pid):
    """Resident set size of pid in KiB (VmRSS), or None if it is gone."""
    try:
        return int(status_fields(pid).get("VmRSS", "0 kB").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def mpm_children(parent_pid, table=None):
    """The httpd parent's MPM worker processes: its live children in its own process group
    (the module's supervisor runs in a process group of its own)."""
    table = table if table is not None else all_procs()
    parent = table.get(parent_pid)
    if parent is None:
        return []
    return [p for p in children(parent_pid, table)
            if p.pgrp == parent.pgrp and p.state not in ("Z", "X")]


def supervisors(parent_pid, table=None):
    """The httpd parent's live children outside its process group: the module's
    supervisor (normally one; two for a moment while one replaces another)."""
    table = table if table is not None else all_procs()
    parent = table.get(parent_pid)
    if parent is None:
        return []
    return [p for p in children(parent_pid, table)
            if p.pgrp != parent.pgrp and p.state not in ("Z", "X")]


class RssSampler(threading.Thread):
    """The largest VmRSS (KiB) of each MPM child of httpd parent_pid, sampled every 50 ms
    until stop(): max_kib[pid]."""

    def __init__(self, parent_pid):
        super().__init__(daemon=True)
        self.parent_pid = parent_pid
        self.max_kib = {}
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.wait(0.05):
            for p in mpm_children(self.parent_pid):
                v = rss_kib(p.pid)
                if v is not None and v > self.max_kib.get(p.pid, 0):
                    self.max_kib[p.pid] = v

    def stop(self):
        self.stop_event.set()
        self.join(5)


def fd_snapshot(pids):
    """{pid: fd count} of the live ones among pids."""
    out = {}
    for pid in pids:
        n = fd_count(pid)
        if n is not None:
            out[pid] = n
    return out


def fd_growth(before, after):
    """Per-pid growth of fd counts of the pids present in both snapshots ({pid: delta})."""
    return {pid: after[pid] - before[pid] for pid in set(before) & set(after)}
