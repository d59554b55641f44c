"""The pairing token never appears in a log (issue 12, point 7; docs/security.md): ASP.NET
Core's IIS integration logs the token it expects when a request comes to its port without
it ("'MS-ASPNETCORE-TOKEN' does not match the expected pairing token '<token>', request
rejected."), and a process may print it itself.  The module takes the process's token out of
everything it relays or keeps of the process's output: the error log, the stdout log files
(written by the supervisor), the startup-output files in the runtime directory and the
502.5 page that shows them.

Without the fix the token is in error.log, in the stdout log and in startup-<n>.log."""

import glob
import os
import re
import socket

import pytest

import httpclient
import procs
from backends import parse_pid
from rigutil import wait_until
from test_config import make_writable_by_www_data
from test_errors import EXPECT_FAILED_START, page_502_5, script_app
from test_supervision import expect_status, section

MASK = "[token]"
REJECTED = "does not match the expected pairing token"
REJECTED_RX = r"'MS-ASPNETCORE-TOKEN' does not match the expected pairing token '\[token\]'"


def app_token_and_port(srv, prefix):
    pid = parse_pid(expect_status(srv.get(prefix + "/pid", timeout=60), 200, "GET /pid", srv))
    env = procs.environ(pid)
    token = env.get("ASPNETCORE_TOKEN")
    assert token and len(token) == 32, "process %d: ASPNETCORE_TOKEN %r" % (pid, token)
    return pid, token, int(env["ASPNETCORE_PORT"])


def tokenless_request(port):
    """GET / straight to the app's port, without MS-ASPNETCORE-TOKEN: the app says 400."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = httpclient.read_until_closed(s)
    assert data.startswith(b"HTTP/1.1 400"), data[:200]


def files_under(*dirs):
    """Every file under dirs but the record of running backends (backends-<pid> in the
    runtime dir, mode 0600 in a 0700 directory: the token is how the module recognises its
    own backends after a hard kill, docs/architecture.md), which is no log."""
    out = []
    for d in dirs:
        for root, _, names in os.walk(d):
            out += [os.path.join(root, n) for n in names if not n.startswith("backends-")]
    return out


def assert_nowhere(token, paths, srv):
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        assert token.encode() not in data, "the token of a backend is in %s:\n%s" % (
            p, data.decode("utf-8", "replace")[-2000:])
    assert token not in srv.error_log(), "the token is in error.log"


def test_rejection_line_relayed_without_the_token(apache, aspnetcore_backend):
    srv = apache.new(
        section("Location /relayed", aspnetcore_backend.directives(app_root="{tmp}/relayed"))
        + section("Location /logged", aspnetcore_backend.directives(app_root="{tmp}/logged", extra=(
            "AspNetCoreStdoutLogEnabled On\nAspNetCoreStdoutLogFile ./logs/stdout"))))
    srv.mkdir("relayed")
    logged = srv.mkdir("logged")
    make_writable_by_www_data(logged)
    srv.start()
    pid1, token1, port1 = app_token_and_port(srv, "/relayed")
    pid2, token2, port2 = app_token_and_port(srv, "/logged")
    mark = srv.log_mark()
    tokenless_request(port1)
    tokenless_request(port2)
    # relayed to the error log, with the token taken out
    line = srv.wait_for_log(r"(?m)^.* pid %d\] .*%s.*$" % (pid1, REJECTED_RX), timeout=20,
                            start=mark).group(0)
    assert "/relayed" in line, line
    # written to the app's stdout log by the supervisor, with the token taken out
    logs = os.path.join(logged, "logs")

    def stdout_log():
        for p in glob.glob(os.path.join(logs, "stdout_*_%d.log" % pid2)):
            with open(p, errors="replace") as f:
                if re.search(REJECTED_RX, f.read()):
                    return p
        return None
    wait_until(stdout_log, 20, lambda: "the rejection line in %s/stdout_*_%d.log (files: %s)" % (
        logs, pid2, files_under(logs)))
    assert "pid %d" % pid2 not in srv.error_log(), \
        "with AspNetCoreStdoutLogEnabled On the output must not go to the error log"
    for token in (token1, token2):
        assert_nowhere(token, files_under(logs, srv.rundir), srv)
    assert REJECTED in srv.error_log()


SPLIT_SCRIPT = r"""#!/bin/sh
# prints its token whole and in two writes (a token split between two reads of the pipe),
# then fails to start; every start adds its token to the file named by $1
printf '%s\n' "$ASPNETCORE_TOKEN" >> "$1"
echo "whole: $ASPNETCORE_TOKEN"
printf 'split: %s' "$(printf '%s' "$ASPNETCORE_TOKEN" | cut -c1-13)"
sleep 0.2
printf '%s end\n' "$(printf '%s' "$ASPNETCORE_TOKEN" | cut -c14-)"
exit 7
"""


@pytest.mark.expect_log(*EXPECT_FAILED_START)
def test_startup_output_and_502_5_page_without_the_token(apache):
    srv = apache.new(script_app("{app}/fail.sh", env={"ASPNETCORE_ENVIRONMENT": "Development"},
                                # one retry after the answer, then no start for a minute
                                extra="AspNetCoreStartMode OnDemand\nAspNetCoreRapidFailsPerMinute 1\n"
                                      'AspNetCoreArguments "{tmp}/out/token"'))
    srv.write_file("app/fail.sh", SPLIT_SCRIPT, mode=0o755)
    out = srv.mkdir("out")
    make_writable_by_www_data(out)
    told = os.path.join(out, "token")
    srv.start()
    _, body = page_502_5(srv)
    # the supervisor's retry of the failed start runs after that answer: the files it writes
    # (the token, startup-0.log through a temporary file) are looked at once it has ended
    srv.wait_for_log(r"2 failures within a minute \(rapidFailsPerMinute 1\): not starting it")
    with open(told) as f:
        tokens = f.read().split()
    assert len(tokens) == 2 and all(len(t) == 32 for t in tokens), tokens
    # the detailed page shows the output, without the token
    assert "whole: %s" % MASK in body and "split: %s end" % MASK in body, body
    kept = os.path.join(srv.rundir, "aspnetcore", "startup-0.log")
    with open(kept) as f:
        text = f.read()
    assert "whole: %s" % MASK in text and "split: %s end" % MASK in text, text
    for token in tokens:
        assert token not in body, "the token is on the 502.5 page:\n%s" % body
        assert_nowhere(token, files_under(srv.rundir), srv)
    assert "whole: %s" % MASK in srv.error_log()
