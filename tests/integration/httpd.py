"""A throwaway Apache httpd for integration tests.

Each Httpd lives in a fresh temp dir (mode 0755 so www-data can traverse it), listens on
a free 127.0.0.1 port, and is driven with `apache2 -d <dir> -f <conf> -k start|stop|graceful`.
While it runs, a sampler thread records every descendant of the httpd parent (walking
PPid in /proc) so that on stop we can prove that none of them - MPM children, the
aspnetcore supervisor, backends - survived.  The error log is scanned for unexpected
error-level lines.

Config bodies given by tests may use these placeholders (only these; other braces, e.g.
`%{Host}i`, are left alone): {tmp} {port} {repo} {docroot} {app} {rundir} {python}
{standin} {modules_dir} {name} {state}.
"""

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import httpclient
import procs
from rigutil import REPO, WaitTimeout, port_accepts, free_port, tail, wait_until

APACHE_BIN = os.environ.get("APACHE_BIN", "/usr/sbin/apache2")
MODULES_DIR = os.environ.get("APACHE_MODULES_DIR", "/usr/lib/apache2/modules")
MPMS = ("event", "worker", "prefork")
DEFAULT_MODULES = ("authz_core", "mime", "dir", "alias")
DEFAULT_LOG_LEVEL = os.environ.get("ASPNETCORE_TEST_LOGLEVEL", "warn aspnetcore:debug")
RUN_USER = "www-data"
RUN_GROUP = "www-data"

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
DESCENDANTS_GONE_TIMEOUT = 15.0
SAMPLE_INTERVAL = 0.2

# "[Mon Nov 23 17:48:16.188419 2026] [core:error] [pid 1:tid 2] ..."
LOG_LEVEL_RE = re.compile(r"^\[[^\]]*\] \[(?P<module>[^:\]]*):(?P<level>[a-z0-9]+)\]")
BAD_LEVELS = {"error", "crit", "alert", "emerg"}
BAD_TEXT_RE = re.compile(r"Segmentation fault|exit signal", re.I)
# Sanitizer output in the error log (the processes' stderr): UBSan's reports in a build
# with ASan too ignore log_path (gcc 12) and go to stderr; ASan's do when log_path fails.
SANITIZER_TEXT_RE = re.compile(r": runtime error: |==\d+==ERROR: \w*Sanitizer|SUMMARY: \w*Sanitizer")
READY_RE = re.compile(r"resuming normal operations")
# What an app printed, relayed at the level .NET gave it ("[<app> pid N] ...", issue 13): an
# exception a test provokes in the app is the app's error, not the module's
APP_OUTPUT_RE = re.compile(r"^\[[^\]]*\] \[aspnetcore:[a-z]+\] \[pid \d+(?::tid \d+)?\] "
                           r"\[[^\]]* pid \d+\] ")

_THREADED_MPM_CONF = """\
StartServers 2
ServerLimit 4
ThreadLimit 25
ThreadsPerChild 10
MinSpareThreads 10
MaxSpareThreads 30
MaxRequestWorkers 40
MaxConnectionsPerChild 0
"""

MPM_CONF = {
    "event": _THREADED_MPM_CONF,
    "worker": _THREADED_MPM_CONF,
    "prefork": """\
StartServers 2
MinSpareServers 2
MaxSpareServers 4
ServerLimit 10
MaxRequestWorkers 10
MaxConnectionsPerChild 0
""",
}


def module_so_path():
    return os.environ.get("ASPNETCORE_MODULE_SO") or os.path.join(REPO, ".libs", "mod_aspnetcore.so")


def standin_path():
    return os.path.join(REPO, "tests", "backends", "standin.py")


# ---- sanitizer builds (./configure --enable-sanitizers) --------------------------------
# Debian's apache2 is not instrumented, so a module built with ASan only loads into an
# apache2 started with the ASan runtime preloaded. Reports go to files in the server's
# temp dir (<dir>/asan/report.<pid>); any such file fails the test (HttpdFactory.finish).
SANITIZER_ENV_NAMES = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
_sanitizer_cache = {}


def sanitizer_runtime():
    """The ASan runtime to preload when the module to load is a sanitizer build (it needs
    libasan, or ASPNETCORE_TEST_SANITIZERS=1 says so), else None."""
    so = module_so_path()
    if so not in _sanitizer_cache:
        forced = os.environ.get("ASPNETCORE_TEST_SANITIZERS", "") == "1"
        needed = ""
        if os.path.isfile(so):
            needed = subprocess.run(["readelf", "-d", so], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL).stdout.decode("utf-8", "replace")
        runtime = None
        if forced or re.search(r"\(NEEDED\).*\[libasan\.so", needed):
            runtime = subprocess.run(["gcc", "-print-file-name=libasan.so"], stdout=subprocess.PIPE,
                                     check=True).stdout.decode().strip()
            runtime = os.path.realpath(runtime)
            if not os.path.isfile(runtime):
                raise RuntimeError("sanitizer build of %s, but gcc's libasan (%s) is missing"
                                   % (so, runtime))
        _sanitizer_cache[so] = runtime
    return _sanitizer_cache[so]


def sanitizer_build():
    return sanitizer_runtime() is not None



def _kill_survivors(seen, ppid, after, gone_timeout):
    """Waits (bounded) until every process in `seen` ({(pid, starttime): description}) is gone;
    SIGKILLs the survivors by pid and returns a problem naming them ([] when none)."""
    def survivors():
        return {k: v for k, v in seen.items() if procs.alive(*k)}

    try:
        wait_until(lambda: not survivors(), gone_timeout,
                   lambda: "descendants of httpd %d to exit after its %s: %s" % (
                       ppid, after, "; ".join(survivors().values())))
        return []
    except WaitTimeout:
        left = survivors()
        descr = ["%s [now: %s]" % (v, procs.describe(k[0])) for k, v in left.items()]
        for k in left:
            procs.kill_ident(*k)
        return ["%d process(es) that descended from httpd parent %d survived its %s by %.0fs and "
                "were SIGKILLed: %s" % (len(left), ppid, after, gone_timeout,
                                        "\n  ".join([""] + descr))]

class HttpdError(AssertionError):
    pass


def _numbered(text):
    return "\n".join("%4d  %s" % (i + 1, l) for i, l in enumerate(text.splitlines()))


class Httpd:
    """One httpd instance.  Create through HttpdFactory (the `apache` fixture)."""

    def __init__(self, factory, name, mpm, body="", log_level=None, modules=(),
                 aspnetcore=True, mpm_conf=None, base_dir=None, placeholders=None, env=None):
        if mpm not in MPMS:
            raise ValueError("unknown MPM %r (known: %s)" % (mpm, ", ".join(MPMS)))
        self.factory = factory
        self.name = name
        self.mpm = mpm
        self.log_level = log_level or DEFAULT_LOG_LEVEL
        self.modules = list(DEFAULT_MODULES) + [m for m in modules if m not in DEFAULT_MODULES]
        self.aspnetcore = aspnetcore
        self.mpm_conf = mpm_conf if mpm_conf is not None else MPM_CONF[mpm]
        self.dir = tempfile.mkdtemp(prefix="aspnetcore-it-%s-" % name, dir=base_dir)
        os.chmod(self.dir, 0o755)
        self.docroot = self._mkdir("htdocs")
        self.rundir = self._mkdir("run")
        self.app = self._mkdir("app")
        # AspNetCoreStateRoot: made by the module (root 0755, <user> 0700 inside)
        self.state_root = os.path.join(self.dir, "state")
        self.sanitizer_runtime = sanitizer_runtime() if aspnetcore else None
        self.asan_dir = None
        if self.sanitizer_runtime:
            # the children (www-data) write their reports here too
            self.asan_dir = self._mkdir("asan")
            if os.geteuid() == 0:
                pw = pwd.getpwnam(RUN_USER)
                os.chown(self.asan_dir, pw.pw_uid, pw.pw_gid)
        with open(os.path.join(self.docroot, "index.html"), "w") as f:
            f.write("static index of %s\n" % name)
        self.conf_path = os.path.join(self.dir, "httpd.conf")
        self.pid_file = os.path.join(self.dir, "httpd.pid")
        self.error_log_path = os.path.join(self.dir, "error.log")
        self.access_log_path = os.path.join(self.dir, "access.log")
        self.port = free_port()
        self.extra_placeholders = dict(placeholders or {})
        self.extra_env = {k: str(v) for k, v in (env or {}).items()}   # added to apache2's environment
        self.body = body
        self.expected = []              # compiled regexes of tolerated bad log lines
        self.problems = []              # strings; reported at finish
        self.parent = None              # (pid, starttime) of the httpd parent
        self.running = False
        self.parent_killed = None       # kill_parent(): Apache's children left behind
        self.seen = {}                  # (pid, starttime) -> description, all descendants seen
        self._sampler = None
        self._sampler_stop = threading.Event()
        self._lock = threading.Lock()
        self.write_conf(body)

    # -- files & config --------------------------------------------------------------
    def _mkdir(self, rel, mode=0o755):
        path = os.path.join(self.dir, rel)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)
        return path

    def mkdir(self, rel, mode=0o755):
        """Create a directory under the server's temp dir (traversable by www-data)."""
        return self._mkdir(rel, mode)

    def write_file(self, rel, content, mode=0o644):
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)
        os.chmod(path, mode)
        return path

    def placeholders(self):
        ph = {
            "tmp": self.dir, "port": str(self.port), "repo": REPO, "docroot": self.docroot,
            "app": self.app, "rundir": self.rundir, "python": "/usr/bin/python3",
            "standin": standin_path(), "modules_dir": MODULES_DIR, "name": self.name,
            "state": self.state_root,
        }
        ph.update({k: str(v) for k, v in self.extra_placeholders.items()})
        return ph

    def render(self, text):
        ph = self.placeholders()
        pattern = re.compile(r"\{(%s)\}" % "|".join(re.escape(k) for k in ph))
        return pattern.sub(lambda m: ph[m.group(1)], text)

    def config_text(self, body):
        lines = [
            "# generated by tests/integration/httpd.py for %s" % self.name,
            'ServerRoot "%s"' % self.dir,
            'DefaultRuntimeDir "%s"' % self.rundir,
            'PidFile "%s"' % self.pid_file,
            'Mutex file:%s default' % self.rundir,
            "Listen 127.0.0.1:%d" % self.port,
            "ServerName 127.0.0.1",
            'ErrorLog "%s"' % self.error_log_path,
            'LogFormat "%h:%{remote}p %P:%{tid}P \\"%r\\" %>s %b %D \\"%{Host}i\\"" rig',
            'CustomLog "%s" rig' % self.access_log_path,
            "Timeout 60",
            "KeepAlive On",
            "KeepAliveTimeout 5",
            "MaxKeepAliveRequests 1000",
        ]
        if os.geteuid() == 0:
            lines += ["User %s" % RUN_USER, "Group %s" % RUN_GROUP]
        lines.append("LoadModule mpm_%s_module %s/mod_mpm_%s.so" % (self.mpm, MODULES_DIR, self.mpm))
        for m in self.modules:
            lines.append("LoadModule %s_module %s/mod_%s.so" % (m, MODULES_DIR, m))
        if self.aspnetcore:
            so = module_so_path()
            if not os.path.isfile(so):
                raise HttpdError(
                    "mod_aspnetcore.so not found at %s: build the module first "
                    "(autoreconf -fi && ./configure && make) or set ASPNETCORE_MODULE_SO" % so)
            lines.append("LoadModule aspnetcore_module %s" % so)
            # the apps' state directories, never the real /var/lib
            lines.append('AspNetCoreStateRoot "%s"' % self.state_root)
        level = self.log_level
        if not self.aspnetcore:   # 'aspnetcore:debug' is a syntax error without the module
            level = " ".join(w for w in level.split() if not w.startswith("aspnetcore:")) or "warn"
        lines.append("LogLevel %s" % level)
        lines += [self.mpm_conf.rstrip("\n")]
        if self.sanitizer_runtime:
            # APR keeps freed pool memory in its allocator, where ASan cannot see a use
            # after free; with MaxMemFree 1 (KiB) every freed block goes back to malloc
            lines.append("MaxMemFree 1")
        if "mime" in self.modules and os.path.exists("/etc/mime.types"):
            lines.append("TypesConfig /etc/mime.types")
        if "dir" in self.modules:
            lines.append("DirectoryIndex index.html")
        lines += [
            'DocumentRoot "%s"' % self.docroot,
            "<Directory />",
            "    AllowOverride None",
            "    Require all granted" if "authz_core" in self.modules else "",
            "</Directory>",
            "# ---- test body ----",
            self.render(body),
            "",
        ]
        return "\n".join(lines)

    def write_conf(self, body=None):
        if body is not None:
            self.body = body
        with open(self.conf_path, "w") as f:
            f.write(self.config_text(self.body))
        os.chmod(self.conf_path, 0o644)

    def conf(self):
        with open(self.conf_path) as f:
            return f.read()

    # -- running apache2 --------------------------------------------------------------
    def _env(self):
        env = dict(os.environ)
        env.pop("PYTEST_CURRENT_TEST", None)
        env.setdefault("LANG", "C")
        env.update(self.extra_env)
        if self.sanitizer_runtime:
            env.update(self.sanitizer_env(env.get("LD_PRELOAD", "")))
        return env

    def sanitizer_env(self, ld_preload=""):
        """What apache2 runs with for a sanitizer build of the module: libasan preloaded
        (it must come first), reports to files in <dir>/asan. detect_leaks=0: APR's pools
        are still allocated when a process exits, which LeakSanitizer reports as leaks."""
        common = "log_path=%s:print_stacktrace=1" % os.path.join(self.asan_dir, "report")
        return {
            "LD_PRELOAD": " ".join([self.sanitizer_runtime] + ld_preload.split()),
            "ASAN_OPTIONS": common + ":detect_leaks=0:abort_on_error=0:halt_on_error=1"
                                     ":detect_stack_use_after_return=0:allow_user_segv_handler=0",
            "UBSAN_OPTIONS": common + ":halt_on_error=1",
        }

    def sanitizer_reports(self):
        """[(path, text)] of the sanitizer reports written by this server's processes."""
        if not self.asan_dir or not os.path.isdir(self.asan_dir):
            return []
        out = []
        for name in sorted(os.listdir(self.asan_dir)):
            path = os.path.join(self.asan_dir, name)
            with open(path, "r", encoding="utf-8", errors="replace") as f:
                out.append((path, f.read()))
        return out

    def apache2(self, *args, timeout=60, check=False):
        cmd = [APACHE_BIN, "-d", self.dir, "-f", self.conf_path] + list(args)
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, env=self._env())
        out = p.stdout.decode("utf-8", "replace")
        if check and p.returncode != 0:
            raise HttpdError("`%s` exited %d:\n%s\n--- error.log tail ---\n%s" % (
                " ".join(cmd), p.returncode, out, self.log_tail()))
        return p.returncode, out

    def configtest(self):
        rc, out = self.apache2("-t")
        if rc != 0:
            raise HttpdError("httpd configtest failed (apache2 -t exited %d):\n%s\n"
                             "--- %s ---\n%s" % (rc, out, self.conf_path, _numbered(self.conf())))
        return out

    def read_pid_file(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def ready_count(self):
        return len(READY_RE.findall(self.error_log()))

    def start(self, timeout=START_TIMEOUT):
        if self.running:
            raise HttpdError("%s already running" % self.name)
        self.configtest()
        for attempt in range(3):
            log_size = self._log_size()
            rc, out = self.apache2("-k", "start")
            if rc != 0:
                text = out + self.error_log()[log_size:]
                if "Address already in use" in text and attempt < 2:
                    self.port = free_port()
                    self.write_conf()
                    continue
                raise HttpdError("`apache2 -k start` exited %d:\n%s\n--- error.log tail ---\n%s"
                                 % (rc, out, self.log_tail()))
            break

        def up():
            pid = self.read_pid_file()
            if not pid or not procs.alive(pid):
                if "Address already in use" in self.error_log()[log_size:]:
                    raise HttpdError("port %d already in use" % self.port)
                return False
            return port_accepts(self.port) and self.ready_count() > 0 and pid

        try:
            pid = wait_until(up, timeout, "httpd %s to come up on 127.0.0.1:%d" % (self.name, self.port))
        except (WaitTimeout, HttpdError) as exc:
            pid = self.read_pid_file()
            if pid:
                self.parent = procs.ident(pid)
                self.running = self.parent is not None
                self._sample()
            raise HttpdError("%s\n--- apache2 output ---\n%s\n--- error.log tail ---\n%s"
                             % (exc, out, self.log_tail())) from None
        self.parent = procs.ident(pid)
        self.running = True
        self._sample()
        self._sampler_stop.clear()
        self._sampler = threading.Thread(target=self._sample_loop, name="sampler-%s" % self.name,
                                         daemon=True)
        self._sampler.start()
        return self

    @property
    def pid(self):
        return self.parent[0] if self.parent else None

    def _sample(self):
        if not self.parent:
            return
        table = procs.all_procs()
        parent = table.get(self.parent[0])
        if parent is None or parent.starttime != self.parent[1]:
            return
        for p in procs.descendants(self.parent[0], table):
            key = (p.pid, p.starttime)
            if key not in self.seen:
                try:
                    cmd = " ".join(procs.cmdline(p.pid))[:200]
                except OSError:
                    cmd = "?"
                with self._lock:
                    self.seen[key] = "pid %d (ppid %d, %s) %s" % (p.pid, p.ppid, p.comm, cmd)

    def _sample_loop(self):
        while not self._sampler_stop.wait(SAMPLE_INTERVAL):
            try:
                self._sample()
            except Exception:  # noqa: BLE001 - keep sampling
                pass

    def _stop_sampler(self):
        self._sampler_stop.set()
        if self._sampler is not None:
            self._sampler.join(5)
            self._sampler = None

    def children(self):
        """Live direct children of the httpd parent (MPM workers + supervisor)."""
        return procs.children(self.pid) if self.running else []

    def descendants(self):
        self._sample()
        return procs.descendants(self.pid) if self.running else []

    def seen_pids(self):
        with self._lock:
            return dict(self.seen)

    def kill_parent(self):
        """SIGKILL the httpd parent (as `kill -9` or the OOM killer would); returns its
        (pid, starttime).  Apache's own MPM children (the children in the parent's process
        group) outlive a killed parent and keep serving, with or without this module: stop()
        then SIGKILLs those by pid instead of running `apache2 -k stop`, and still requires
        every other descendant ever seen (supervisor, backends) to be gone."""
        if not self.running:
            raise HttpdError("%s is not running" % self.name)
        self._sample()
        table = procs.all_procs()
        pgrp = table[self.pid].pgrp
        self.parent_killed = [(p.pid, p.starttime) for p in procs.children(self.pid, table)
                              if p.pgrp == pgrp]
        os.kill(self.pid, signal.SIGKILL)
        return self.parent

    def _stop_killed(self, timeout, gone_timeout, raise_on_problem):
        problems = []
        self._stop_sampler()
        ppid, pstart = self.parent
        try:
            wait_until(lambda: not procs.alive(ppid, pstart), timeout,
                       "killed httpd parent %d to be gone" % ppid)
        except WaitTimeout as exc:
            problems.append(str(exc))
        mpm_children = set(self.parent_killed)
        for k in mpm_children:
            procs.kill_ident(*k)
        self.running = False
        seen = {k: v for k, v in self.seen_pids().items() if k not in mpm_children}

        problems += _kill_survivors(seen, ppid, "SIGKILL", gone_timeout)
        self.problems += problems
        if problems and raise_on_problem:
            raise HttpdError("\n".join(problems) + "\n--- error.log tail ---\n" + self.log_tail())
        return problems

    def stop(self, timeout=STOP_TIMEOUT, gone_timeout=DESCENDANTS_GONE_TIMEOUT, raise_on_problem=True,
             how="stop"):
        """`apache2 -k stop` (or `how`: "graceful-stop", as Debian's apache2.service stops
        Apache); wait for the parent to exit; then wait (bounded) until every descendant
        ever seen is gone; SIGKILL survivors by pid and report them."""
        if not self.running:
            return []
        if self.parent_killed is not None:
            return self._stop_killed(timeout, gone_timeout, raise_on_problem)
        problems = []
        self._sample()
        self._stop_sampler()
        ppid, pstart = self.parent
        rc, out = self.apache2("-k", how, timeout=timeout)
        if rc != 0:
            problems.append("`apache2 -k %s` exited %d: %s" % (how, rc, out.strip()))
            if procs.alive(ppid, pstart):
                os.kill(ppid, signal.SIGTERM)
        try:
            wait_until(lambda: not procs.alive(ppid, pstart), timeout,
                       "httpd parent %d to exit" % ppid)
        except WaitTimeout as exc:
            problems.append(str(exc) + "; sent SIGKILL")
            procs.kill_ident(ppid, pstart)
        self.running = False
        seen = self.seen_pids()

        problems += _kill_survivors(seen, ppid, "stop", gone_timeout)
        self.problems += problems
        if problems and raise_on_problem:
            raise HttpdError("\n".join(problems) + "\n--- error.log tail ---\n" + self.log_tail())
        return problems

    def graceful(self, body=None, timeout=START_TIMEOUT):
        """Graceful restart (`-k graceful`), optionally with a new config body; waits until
        httpd logged 'resuming normal operations' again and accepts connections."""
        if body is not None:
            self.write_conf(body)
            self.configtest()
        before = self.ready_count()
        self.apache2("-k", "graceful", check=True)
        wait_until(lambda: self.ready_count() > before and port_accepts(self.port), timeout,
                   lambda: "httpd %s to finish a graceful restart\n%s" % (self.name, self.log_tail(30)))
        self._sample()

    def restart(self, body=None, timeout=START_TIMEOUT):
        """Hard restart (`-k restart`)."""
        if body is not None:
            self.write_conf(body)
            self.configtest()
        before = self.ready_count()
        self.apache2("-k", "restart", check=True)
        wait_until(lambda: self.ready_count() > before and port_accepts(self.port), timeout,
                   lambda: "httpd %s to finish a restart\n%s" % (self.name, self.log_tail(30)))
        self._sample()

    # -- logs ------------------------------------------------------------------------
    def _log_size(self):
        try:
            return os.path.getsize(self.error_log_path)
        except OSError:
            return 0

    def error_log(self):
        try:
            with open(self.error_log_path, "r", encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def access_log(self):
        try:
            with open(self.access_log_path, "r", encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=80):
        return tail(self.error_log(), lines)

    def wait_for_log(self, regex, timeout=10.0, start=0):
        """Wait until the error log (from character offset ``start``) matches regex."""
        rx = re.compile(regex)
        return wait_until(lambda: rx.search(self.error_log()[start:]), timeout,
                          lambda: "error log to match %r\n%s" % (regex, self.log_tail(30)))

    def log_mark(self):
        """An offset into the error log, for wait_for_log(start=...)."""
        return len(self.error_log())

    def expect_log(self, regex):
        """Declare that error-level log lines matching regex are expected in this test."""
        self.expected.append(re.compile(regex))

    def unexpected_log_lines(self):
        pats = self.expected + self.factory.expected
        bad = []
        for line in self.error_log().splitlines():
            m = LOG_LEVEL_RE.match(line)
            flagged = ((m and m.group("level") in BAD_LEVELS and not APP_OUTPUT_RE.match(line))
                       or BAD_TEXT_RE.search(line)
                       or SANITIZER_TEXT_RE.search(line))
            if flagged and not any(p.search(line) for p in pats):
                bad.append(line)
        return bad

    def served_by(self):
        """pids of the httpd children that served requests, from the access log."""
        pids = set()
        for line in self.access_log().splitlines():
            m = re.match(r"\S+ (\d+):", line)
            if m:
                pids.add(int(m.group(1)))
        return pids

    # -- HTTP shortcuts -----------------------------------------------------------------
    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def request(self, method, path, **kw):
        return httpclient.request(self.port, method, path, **kw)

    def get(self, path, **kw):
        return httpclient.request(self.port, "GET", path, **kw)

    def connect(self, timeout=30.0):
        return httpclient.RawConnection(self.port, timeout=timeout)

    def raw_request(self, method, target, headers=None, body=None, **kw):
        return httpclient.raw_request(self.port, method, target, headers, body, **kw)

    def __repr__(self):
        return "<Httpd %s mpm=%s port=%d dir=%s>" % (self.name, self.mpm, self.port, self.dir)


class HttpdFactory:
    """The `apache` fixture: starts httpd instances for one test and checks them at the end.

    apache.start(body, **kw) -> Httpd (started);  apache.new(body, **kw) -> Httpd (not started)
    apache.expect_log(regex)  tolerate matching error-level lines in every server's log
    """

    def __init__(self, mpm, test_name="test", base_dir=None):
        self.mpm = mpm
        self.test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)[:60]
        self.base_dir = base_dir
        self.servers = []
        self.expected = []
        self.finished = False
        self.problems = []
        self.keep = bool(os.environ.get("ASPNETCORE_TEST_KEEP"))

    def new(self, body="", **kw):
        kw.setdefault("base_dir", self.base_dir)
        name = "%s-%d" % (self.test_name, len(self.servers) + 1)
        srv = Httpd(self, name, kw.pop("mpm", self.mpm), body, **kw)
        self.servers.append(srv)
        return srv

    def start(self, body="", **kw):
        return self.new(body, **kw).start()

    def expect_log(self, regex):
        self.expected.append(re.compile(regex))

    def finish(self):
        """Stop every server, then collect problems: survivors, stop failures, unexpected
        error-log lines.  Idempotent; returns the list of problem strings."""
        if self.finished:
            return self.problems
        self.finished = True
        problems = []
        for srv in self.servers:
            try:
                srv.stop(raise_on_problem=False)
            except Exception as exc:  # noqa: BLE001 - report, keep cleaning up
                srv.problems.append("stopping %s failed: %r" % (srv.name, exc))
            for p in srv.problems:
                problems.append("[%s] %s" % (srv.name, p))
            for path, text in srv.sanitizer_reports():
                problems.append("[%s] sanitizer report %s:\n%s" % (
                    srv.name, path, "\n".join(text.splitlines()[:80])))
            bad = srv.unexpected_log_lines()
            if bad:
                problems.append("[%s] unexpected error-level lines in %s (declare them with "
                                "apache.expect_log(regex) if they are expected):\n  %s"
                                % (srv.name, srv.error_log_path, "\n  ".join(bad[:40])))
        self.problems = problems
        return problems

    def report_sections(self):
        out = []
        for srv in self.servers:
            out.append(("httpd %s (%s, port %d) error.log tail" % (srv.name, srv.mpm, srv.port),
                        srv.log_tail(60) or "(empty)"))
        return out

    def cleanup(self):
        for srv in self.servers:
            if self.keep:
                continue
            shutil.rmtree(srv.dir, ignore_errors=True)
