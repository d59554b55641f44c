"""A deploy with app_offline.htm (issue 6): "drop app_offline.htm, copy the files, remove
it" with the real ASP.NET Core sample, whose DLL is replaced in between by another build.

Two publishes of samples/HelloApp: build/sample (version 1.0.0) and build/sample-v2
(2.0.0); their /version endpoint answers the assembly's informational version, the
process id and $HELLOAPP_DEPLOY_TAG.  v1 is copied into an app root and served through the
module; then the recipe, step by step as an admin does it (docs/operations.md, "Deploying
with app_offline.htm"):

1. write app_offline.htm: within a second every request gets 503 with the file's bytes;
2. wait until the old process has exited (gracefully), and nothing holds a file of the
   app root open or mapped;
3. copy the v2 files over the app root, in place (same inodes, as `cp -r` does);
4. remove app_offline.htm: v2 answers from a new process; AlwaysRunning starts it without
   a request, OnDemand with the next request.

A load thread sends GET /version the whole time and records every answer, in order: only
200 and 503, and exactly "v1 from the old process, then the offline page, then v2 from the
new process", nothing mixed.  The web.config variants deploy a new web.config too (with an
environment variable the app reports): every v2 answer must come with it.
"""

import os
import re
import shutil
import threading
import time

import pytest

import backends
import procs
from rigutil import wait_until

V2 = backends.SAMPLE_V2_VERSION
PAGE = (b"<!DOCTYPE html>\n<html><head><title>Deploying</title></head>\n"
        b"<body><h1>Down for a deploy</h1><p>Back in a minute.</p></body></html>\n")
DEPLOY_TAG = "v2-deploy-with-new-web.config"

OFFLINE_WITHIN = 2.0        # the module looks for the file twice a second: "within a second"
OLD_PROCESS_GONE = 20.0     # the shutdown event, then SIGTERM, SIGKILL after 10 s
APP_START = 60.0            # dotnet start-up on a busy machine
V2_ANSWERS_WANTED = 20      # load-thread answers from v2 before the load stops


# --- the two builds ---------------------------------------------------------------------

@pytest.fixture(scope="session")
def sample_v2_dll(hello_app_dll):
    """The second publish (after the first one: they share the build's obj/)."""
    dll, err = backends.build_sample_v2()
    if err:
        pytest.fail("cannot build the second version of the sample app: %s" % err, pytrace=False)
    return dll


def published_files(dll):
    """Relative paths of a publish directory's files (without the build script's stamp)."""
    root = os.path.dirname(dll)
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            rel = os.path.relpath(os.path.join(d, f), root)
            if rel != ".build-sample.stamp":
                out.append(rel)
    return sorted(out)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_the_two_builds_differ(hello_app_dll, sample_v2_dll):
    """The deploy tests replace one build by a genuinely different one."""
    assert published_files(hello_app_dll) == published_files(sample_v2_dll)
    v1, v2 = read(hello_app_dll), read(sample_v2_dll)
    assert v1 != v2, "%s and %s are the same bytes" % (hello_app_dll, sample_v2_dll)
    # the informational version is in the assembly's metadata (UTF-8 custom attribute blob)
    assert V2.encode() in v2 and V2.encode() not in v1


# --- copying as an admin does -------------------------------------------------------------

def copy_in_place(src_root, dst_root, files, replace=None):
    """`cp -r src/. dst/`: every file written over the one already there (opened with
    O_TRUNC: same inode), new ones created, all readable by Apache's User.  `replace`
    maps a relative path to other bytes to write instead (an edited web.config)."""
    for rel in files:
        src, dst = os.path.join(src_root, rel), os.path.join(dst_root, rel)
        os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
        if replace and rel in replace:
            with open(dst, "wb") as f:
                f.write(replace[rel])
        else:
            shutil.copyfile(src, dst)
        os.chmod(dst, 0o644)


def holders_of(root):
    """Processes that have a file under root open or mapped: {pid: [paths]}."""
    root = os.path.realpath(root) + "/"
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid, paths = int(name), set()
        try:
            with open("/proc/%d/maps" % pid) as f:
                for line in f:
                    parts = line.split(None, 5)
                    if len(parts) == 6 and parts[5].strip().startswith(root):
                        paths.add(parts[5].strip())
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    continue
                if target.startswith(root):
                    paths.add(target)
        except OSError:
            continue
        if paths:
            out[pid] = sorted(paths)
    return out


def with_deploy_tag(web_config):
    """The published web.config with an environment variable added to <aspNetCore>."""
    text = web_config.decode("utf-8-sig")
    new, n = re.subn(r"(<aspNetCore\b[^>]*?)\s*/>",
                     r'\1>\n        <environmentVariables>\n'
                     r'          <environmentVariable name="HELLOAPP_DEPLOY_TAG" value="%s" />\n'
                     r'        </environmentVariables>\n      </aspNetCore>' % DEPLOY_TAG, text)
    assert n == 1, "no <aspNetCore ... /> element in the published web.config:\n%s" % text
    return new.encode("utf-8")


# --- the load ----------------------------------------------------------------------------

class Load(threading.Thread):
    """GET /version back to back; every answer recorded in order as
    (sent_at, done_at, status, version, pid, deploy_tag, body).  pause()/resume() hold it between
    two requests."""

    def __init__(self, srv):
        super().__init__(name="deploy-load", daemon=True)
        self.srv = srv
        self.results = []
        self.errors = []
        self.stop = threading.Event()
        self._run = threading.Event()
        self._run.set()
        self._idle = threading.Event()

    def run(self):
        while not self.stop.is_set():
            if not self._run.is_set():
                self._idle.set()
                self._run.wait(1.0)
                continue
            self._idle.clear()
            sent = time.monotonic()
            try:
                r = self.srv.get("/version", timeout=APP_START)
            except Exception as exc:  # noqa: BLE001 - a failed request is a result too
                self.errors.append((sent, repr(exc)))
                continue
            version = pid = tag = None
            if r.status == 200:
                try:
                    j = r.json()
                    version, pid, tag = j["version"], j["pid"], j["deploy_tag"]
                except Exception:  # noqa: BLE001 - kept as a malformed 200
                    pass
            self.results.append((sent, time.monotonic(), r.status, version, pid, tag, r.body))

    def pause(self):
        self._run.clear()
        self._idle.clear()
        wait_until(self._idle.is_set, APP_START + 5, "the load thread to pause")

    def resume(self):
        self._run.set()

    def count(self, pred):
        return sum(1 for x in list(self.results) if pred(x))

    def finish(self):
        self.stop.set()
        self._run.set()
        self.join(APP_START + 10)
        assert not self.is_alive(), "the load thread did not stop"


def summary(results):
    """Runs of equal answers, for failure messages: [(status, version, pid, tag, n)]."""
    runs = []
    for _, _, status, version, pid, tag, _ in results:
        key = (status, version, pid, tag)
        if runs and runs[-1][0] == key:
            runs[-1][1] += 1
        else:
            runs.append([key, 1])
    return [k + (n,) for k, n in runs]


# --- the test ----------------------------------------------------------------------------

def directives_config(start_mode):
    return """
AspNetCoreProcessPath "%s"
AspNetCoreArguments ./HelloApp.dll
AspNetCoreAppRoot "{app}"
AspNetCoreStartMode %s
AspNetCoreEnvironmentVariable HelloApp__TestEndpoints true
""" % (backends.find_dotnet(), start_mode)


def web_config_config(start_mode):
    # the app's own published web.config says what to run; Apache adds the start mode and
    # the opt-in of the sample's test endpoints
    return """
AspNetCoreAppRoot "{app}"
AspNetCoreWebConfig
AspNetCoreStartMode %s
AspNetCoreEnvironmentVariable HelloApp__TestEndpoints true
""" % start_mode


def started_pids(srv, start=0):
    return [int(p) for p in re.findall(r"\] started process (\d+) on port",
                                       srv.error_log()[start:])]


@pytest.mark.parametrize("start_mode", ["AlwaysRunning", "OnDemand"])
@pytest.mark.parametrize("config", ["directives", "web.config"])
def test_deploy_replaces_the_dll_behind_app_offline(apache, hello_app_dll, sample_v2_dll,
                                                    start_mode, config):
    use_web_config = config == "web.config"
    srv = apache.new(web_config_config(start_mode) if use_web_config
                     else directives_config(start_mode))
    v1_dir, v2_dir = os.path.dirname(hello_app_dll), os.path.dirname(sample_v2_dll)
    files = published_files(hello_app_dll)
    copy_in_place(v1_dir, srv.app, files)
    assert "web.config" in files
    release = {}
    if use_web_config:
        release["web.config"] = with_deploy_tag(read(os.path.join(v2_dir, "web.config")))
    dll = os.path.join(srv.app, "HelloApp.dll")
    dll_inode = os.stat(dll).st_ino
    srv.start()

    # --- v1 runs --------------------------------------------------------------------------
    if start_mode == "AlwaysRunning":
        # started with Apache, before any request
        first_started = wait_until(lambda: started_pids(srv), APP_START,
                                   lambda: "v1 to be started without a request\n" + srv.log_tail(20))[0]
        srv.wait_for_log(r"process %d listens on port" % first_started, timeout=APP_START)
    else:
        assert not started_pids(srv), "an OnDemand app started before any request"
    r = srv.get("/version", timeout=APP_START)
    assert r.status == 200, (r.status, r.body[:300], srv.log_tail(20))
    j = r.json()
    v1_version, old_pid = j["version"], j["pid"]
    assert v1_version != V2, "the app root runs v2 before the deploy: %r" % j
    assert j["deploy_tag"] is None, j
    assert started_pids(srv) == [old_pid], (started_pids(srv), old_pid)
    assert os.path.realpath(procs.cwd(old_pid)) == os.path.realpath(srv.app)
    assert holders_of(srv.app).get(old_pid), "v1 (pid %d) does not map its DLL from %s?" % (
        old_pid, srv.app)

    load = Load(srv)
    load.start()
    try:
        wait_until(lambda: load.count(lambda x: x[2] == 200) >= 10, APP_START,
                   "the load to get answers from v1")

        # --- 1. app_offline.htm: 503 with its bytes within a second ----------------------
        offline = os.path.join(srv.app, "app_offline.htm")
        with open(offline + ".tmp", "wb") as f:
            f.write(PAGE)
        os.chmod(offline + ".tmp", 0o644)
        dropped_at = time.monotonic()
        os.rename(offline + ".tmp", offline)          # appears at once, whole

        def offline_page():
            r = srv.get("/version", timeout=10)
            return r if r.status == 503 else None
        r = wait_until(offline_page, OFFLINE_WITHIN, "503 within a second of app_offline.htm")
        offline_after = time.monotonic() - dropped_at
        assert r.body == PAGE
        assert (r.header("content-type") or "").startswith("text/html"), r.headers

        # --- 2. the old process exits (gracefully); nothing holds the app's files --------
        wait_until(lambda: not procs.alive(old_pid), OLD_PROCESS_GONE,
                   lambda: "v1 (pid %d) to exit\n%s" % (old_pid, srv.log_tail(20)))
        srv.wait_for_log(r"\] process %d stopped \(exited with code 0\)" % old_pid, timeout=5)
        # (Apache's children read app_offline.htm itself to serve it: that one does not count)
        held = {pid: paths for pid, paths in holders_of(srv.app).items()
                if paths != [offline]}
        assert not held, "files of the app root still open or mapped: %s" % held
        n_offline = load.count(lambda x: x[2] == 503)

        # --- 3. copy v2 over the app root, in place ---------------------------------------
        copy_mark = srv.log_mark()
        copy_in_place(v2_dir, srv.app, files, replace=release)
        assert os.stat(dll).st_ino == dll_inode, "HelloApp.dll was replaced, not overwritten"
        assert read(dll) == read(sample_v2_dll)
        if use_web_config:
            # The load's requests make the children take the new web.config while the app
            # is still offline (the parent would too, within ~10 s: see
            # test_deployed_web_config_used_at_once_without_traffic), and the new settings
            # are offline too.
            srv.wait_for_log(r"web\.config changed: settings reloaded", timeout=10,
                             start=copy_mark)
            srv.wait_for_log(r"registered by a request: .*%s" % start_mode, timeout=10,
                             start=copy_mark)
            srv.wait_for_log(r"app_offline\.htm: appeared, stopping the app", timeout=5,
                             start=copy_mark)
        wait_until(lambda: load.count(lambda x: x[2] == 503) > n_offline, 10,
                   "the load to see the offline page after the copy")

        # --- 4. remove app_offline.htm ----------------------------------------------------
        mark = srv.log_mark()
        if start_mode == "AlwaysRunning":
            # no request while the file goes: the app must start on its own
            load.pause()
        removed_at = time.monotonic()
        os.unlink(offline)
        srv.wait_for_log(r"app_offline\.htm: removed, the app starts again", timeout=5, start=mark)
        if start_mode == "AlwaysRunning":
            new_pid = wait_until(lambda: started_pids(srv, mark), APP_START,
                                 lambda: "v2 to start without a request\n" + srv.log_tail(20))[0]
            srv.wait_for_log(r"process %d listens on port" % new_pid, timeout=APP_START,
                             start=mark)
            load.resume()
        wait_until(lambda: load.count(lambda x: x[2] == 200 and x[0] > removed_at)
                   >= V2_ANSWERS_WANTED, APP_START,
                   lambda: "%d answers from the app after the deploy (%s)\n%s" % (
                       V2_ANSWERS_WANTED, summary(load.results)[-5:], srv.log_tail(20)))
    finally:
        load.finish()

    results = list(load.results)
    runs = summary(results)
    assert not load.errors, "requests failed: %s" % load.errors[:5]
    statuses = sorted({x[2] for x in results})
    assert set(statuses) <= {200, 503}, "statuses other than 200/503 (a 502 ...): %s" % runs

    # the answers, in order: v1 (old pid), the offline page, v2 (one new pid): no mixture
    started = started_pids(srv, mark)
    assert len(started) == 1, "one process started after the deploy, not %s" % started
    new_pid = started[0]
    assert new_pid != old_pid
    phase = 0       # 0: v1, 1: offline, 2: v2
    for sent, done, status, version, pid, tag, body in results:
        if status == 200 and (version, pid) == (v1_version, old_pid) and phase == 0:
            assert tag is None
            continue
        if status == 503 and phase in (0, 1):
            phase = 1
            # the file's bytes; a plain 503 only for a request still running when the
            # file was removed (the module notices the removal up to half a second later)
            assert body == PAGE or done >= removed_at, (
                "503 without the offline page before the file was removed: %r\n%s" % (body, runs))
            continue
        if status == 200 and (version, pid) == (V2, new_pid) and phase in (1, 2):
            phase = 2
            if use_web_config:
                assert tag == DEPLOY_TAG, (
                    "v2 answered without the deployed web.config's variable (tag %r): %s"
                    % (tag, runs))
            else:
                assert tag is None
            continue
        raise AssertionError("answer out of order or mixed (phase %d): %r\nall answers: %s"
                             % (phase, (status, version, pid, tag, body[:200]), runs))
    assert phase == 2, runs
    assert procs.cmdline(new_pid)[-1].endswith("HelloApp.dll")
    assert os.path.realpath(procs.cwd(new_pid)) == os.path.realpath(srv.app)
    print("deploy %s/%s: offline page %.2f s after the file appeared; answers: %s"
          % (config, start_mode, offline_after, runs))


@pytest.mark.not_under_sanitizers("the deploy of test_deploy_replaces_the_dll_behind_app_offline"
                                  "[web.config-AlwaysRunning], which runs under the sanitizers, "
                                  "on a quiet site: its time goes to waiting")
def test_deployed_web_config_used_at_once_without_traffic(apache, hello_app_dll, sample_v2_dll):
    """The deploy of test_deploy_replaces_the_dll_behind_app_offline[web.config-AlwaysRunning]
    on a quiet site (no request from before app_offline.htm until after its removal): the
    process the module starts on its own after the removal must already have the settings of
    the web.config that was deployed."""
    srv = apache.new(web_config_config("AlwaysRunning"))
    v1_dir, v2_dir = os.path.dirname(hello_app_dll), os.path.dirname(sample_v2_dll)
    files = published_files(hello_app_dll)
    copy_in_place(v1_dir, srv.app, files)
    srv.start()
    old_pid = wait_until(lambda: started_pids(srv), APP_START, "v1 to start")[0]
    srv.wait_for_log(r"process %d listens on port" % old_pid, timeout=APP_START)

    offline = os.path.join(srv.app, "app_offline.htm")
    with open(offline, "wb") as f:
        f.write(PAGE)
    srv.wait_for_log(r"app_offline\.htm: appeared, stopping the app", timeout=OFFLINE_WITHIN)
    wait_until(lambda: not procs.alive(old_pid), OLD_PROCESS_GONE, "v1 to exit")
    copy_in_place(v2_dir, srv.app, files, replace={
        "web.config": with_deploy_tag(read(os.path.join(v2_dir, "web.config")))})
    mark = srv.log_mark()
    os.unlink(offline)
    srv.wait_for_log(r"app_offline\.htm: removed, the app starts again", timeout=5, start=mark)
    new_pid = wait_until(lambda: started_pids(srv, mark), APP_START, "the app to start again")[0]
    srv.wait_for_log(r"process %d listens on port" % new_pid, timeout=APP_START, start=mark)
    env = procs.environ(new_pid)
    assert env.get("HELLOAPP_DEPLOY_TAG") == DEPLOY_TAG, (
        "the process started after the deploy (pid %d) runs without the deployed web.config's "
        "HELLOAPP_DEPLOY_TAG (it has %r)" % (new_pid, env.get("HELLOAPP_DEPLOY_TAG")))
    # and the first request after the deploy is answered with the new settings
    r = srv.get("/version", timeout=APP_START)
    assert r.status == 200 and r.json()["deploy_tag"] == DEPLOY_TAG, (r.status, r.body[:300])
