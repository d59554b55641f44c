"""The two backends the integration tests run behind mod_aspnetcore.

* standin: tests/backends/standin.py under /usr/bin/python3 - fast, exposes raw wire details.
* aspnetcore: the real ASP.NET Core sample build/sample/HelloApp/HelloApp.dll under `dotnet`,
  built once per session by tools/build-sample.sh.

Both expose the same endpoints (/, /echo, /env, /pid, /sleep, /stream, /crash, /status/N,
/bytes, /cookies) and implement ANCM's IIS-integration contract.
"""

import json
import os
import shutil
import subprocess

from rigutil import REPO

BACKEND_NAMES = ("standin", "aspnetcore")
SAMPLE_DLL = os.environ.get("ASPNETCORE_SAMPLE_DLL") or os.path.join(
    REPO, "build", "sample", "HelloApp", "HelloApp.dll")
BUILD_SCRIPT = os.path.join(REPO, "tools", "build-sample.sh")
# A second publish of the same sample with another version, for the deploy tests
# (test_deploy.py): the DLL that replaces the first one.
SAMPLE_V2_VERSION = "2.0.0"
SAMPLE_V2_DLL = os.environ.get("ASPNETCORE_SAMPLE_V2_DLL") or os.path.join(
    REPO, "build", "sample-v2", "HelloApp", "HelloApp.dll")
STANDIN = os.path.join(REPO, "tests", "backends", "standin.py")
# The real-app conformance sample (samples/RealApp): antiforgery, cookie login, SignalR, SSE,
# static files, HTTPS redirection, client certificates, RequestAborted (test_realapp*.py).
REALAPP_DLL = os.environ.get("ASPNETCORE_REALAPP_DLL") or os.path.join(
    REPO, "build", "realapp", "RealApp", "RealApp.dll")


class Backend:
    def __init__(self, name, process_path, arguments):
        self.name = name
        self.process_path = process_path
        self.arguments = arguments

    @property
    def real(self):
        return self.name in ("aspnetcore", "realapp")

    def directives(self, app_root="{app}", env=None, extra=""):
        """Directive lines that run this backend (to put in a server/vhost/location scope)."""
        lines = [
            "AspNetCoreProcessPath %s" % self.process_path,
            'AspNetCoreArguments "%s"' % self.arguments,
        ]
        if app_root:
            lines.append('AspNetCoreAppRoot "%s"' % app_root)
        env = dict(env or {})
        if self.name == "aspnetcore":
            # the sample's test endpoints (/echo, /env, /crash ...) are opt-in
            env.setdefault("HelloApp__TestEndpoints", "true")
        elif self.name == "realapp":
            env.setdefault("RealApp__TestEndpoints", "true")
        for k, v in env.items():
            lines.append('AspNetCoreEnvironmentVariable %s "%s"' % (k, v))
        if extra:
            lines.append(extra)
        return "\n".join(lines)

    def __repr__(self):
        return "<Backend %s: %s %s>" % (self.name, self.process_path, self.arguments)


def standin():
    if not os.path.isfile(STANDIN):
        raise AssertionError("stand-in backend %s is missing (tests/backends/standin.py is "
                             "part of the repo)" % STANDIN)
    return Backend("standin", "/usr/bin/python3", STANDIN)


def find_dotnet():
    return shutil.which("dotnet") or (os.path.exists("/usr/share/dotnet/dotnet") and
                                      "/usr/share/dotnet/dotnet") or None


def build_sample():
    """Make sure the sample app is built: run tools/build-sample.sh once (it does nothing
    when the output is newer than the sources).  Returns (dll_path, None) or
    (None, reason_to_fail).  With ASPNETCORE_SAMPLE_DLL set, that file is used as is."""
    return _build(SAMPLE_DLL, "ASPNETCORE_SAMPLE_DLL", None)


def build_sample_v2():
    """The same sample published again as version SAMPLE_V2_VERSION into build/sample-v2
    (tools/build-sample.sh with SAMPLE_VERSION; shares the restore and obj/ of the first,
    nothing is done when up to date).  (dll_path, None) or (None, reason_to_fail).  With
    ASPNETCORE_SAMPLE_V2_DLL set, that file is used as is."""
    return _build(SAMPLE_V2_DLL, "ASPNETCORE_SAMPLE_V2_DLL", SAMPLE_V2_VERSION)


def build_real_app():
    """samples/RealApp published into build/realapp/RealApp (tools/build-sample.sh --app
    RealApp; nothing is done when up to date).  (dll_path, None) or (None, reason_to_fail).
    With ASPNETCORE_REALAPP_DLL set, that file is used as is."""
    return _build(REALAPP_DLL, "ASPNETCORE_REALAPP_DLL", None, app="RealApp")


def _build(dll, env_name, version, app=None):
    if os.environ.get(env_name):
        if os.path.isfile(dll):
            return dll, None
        return None, "%s=%s does not exist" % (env_name, dll)
    if not os.path.isfile(BUILD_SCRIPT):
        if os.path.isfile(dll):
            return dll, None
        return None, "%s is missing and %s does not exist to build it" % (dll, BUILD_SCRIPT)
    cmd = ["sh", BUILD_SCRIPT]
    if app:
        cmd += ["--app", app]
    env = dict(os.environ)
    env.pop("SAMPLE_VERSION", None)     # the first build: the script's default version
    if version:
        cmd.append(os.path.dirname(dll))
        env["SAMPLE_VERSION"] = version
    try:
        p = subprocess.run(cmd, cwd=REPO, stdin=subprocess.DEVNULL, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    except subprocess.TimeoutExpired:
        return None, "%s did not finish within 900 s" % BUILD_SCRIPT
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        return None, "%s exited %d:\n%s" % (" ".join(cmd), p.returncode, out[-4000:])
    if not os.path.isfile(dll):
        return None, "%s succeeded but %s does not exist:\n%s" % (" ".join(cmd), dll, out[-4000:])
    return dll, None


def aspnetcore(dll):
    return Backend("aspnetcore", find_dotnet(), dll)


class RealAppBackend(Backend):
    """RealApp under dotnet; its diagnostic endpoints (/whoami, /keys, /work ...) are on.
    Its app root defaults to the publish directory, as in a real deployment (the app finds
    wwwroot there); pass app_root="{app}" for a test's own directory (the app then serves no
    static files unless ASPNETCORE_CONTENTROOT points back at the publish directory)."""

    def directives(self, app_root=None, env=None, extra=""):
        return super().directives(app_root or os.path.dirname(self.arguments), env, extra)


def real_app(dll):
    return RealAppBackend("realapp", find_dotnet(), dll)


# --- helpers for the common endpoints ----------------------------------------------------

def parse_pid(resp):
    """/pid answers either a bare number or JSON with a pid field."""
    text = resp.body.decode("utf-8", "replace").strip()
    try:
        return int(text)
    except ValueError:
        pass
    data = json.loads(text)
    if isinstance(data, int):
        return data
    return int(data["pid"])


def parse_env(resp):
    """/env answers a JSON object (or a list of [name, value] pairs); returns a dict."""
    data = resp.json()
    if isinstance(data, dict) and "env" in data and isinstance(data["env"], (dict, list)) \
            and "PATH" not in data:
        data = data["env"]
    if isinstance(data, list):
        data = {k: v for k, v in data}
    return data


def echo_headers(echo):
    """The headers list of an /echo JSON answer as [(name, value), ...]."""
    hdrs = echo["headers"]
    if isinstance(hdrs, dict):
        out = []
        for k, v in hdrs.items():
            for item in (v if isinstance(v, list) else [v]):
                out.append((k, item))
        return out
    return [(k, v) for k, v in hdrs]


def header_values(echo, name):
    name = name.lower()
    return [v for k, v in echo_headers(echo) if k.lower() == name]
