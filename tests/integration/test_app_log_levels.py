"""What an admin sees of an app at Debian's default `LogLevel warn` (issue 13): .NET's
console levels mapped onto Apache's (warn -> warn, fail -> error, crit -> crit, the rest
info), with the message lines under a header at the header's level."""

import re

import pytest

from rigutil import wait_until

LEVEL_RE = re.compile(r"^\[[^\]]*\] \[aspnetcore:([a-z0-9]+)\]")


def level_of(srv, regex, once=True):
    """The level of the line matching regex (of all of them, if not `once`: one level)."""
    rx = re.compile(regex)
    found = [l for l in srv.error_log().splitlines() if rx.search(l)]
    assert found and (len(found) == 1 or not once), \
        "one line matching %r, found:\n%s\n--- log ---\n%s" % (regex, "\n".join(found),
                                                            srv.log_tail(40))
    levels = {LEVEL_RE.match(l).group(1) for l in found}
    assert len(levels) == 1, found
    return levels.pop()


def test_dotnet_levels_map_onto_apache_levels(apache, real_app):
    srv = apache.start(real_app.directives(), log_level="warn")
    for level, mark in (("Information", "INFO-MARK"), ("Warning", "WARN-MARK"),
                        ("Error", "FAIL-MARK"), ("Critical", "CRIT-MARK")):
        r = srv.get("/log?level=%s&msg=%s" % (level, mark), timeout=60)
        assert r.status == 200, (r.status, srv.log_tail(30))
    srv.wait_for_log(r"\]\s+CRIT-MARK$", timeout=15)
    assert level_of(srv, r"\] warn: RealApp\.Log\[0\]$") == "warn"
    assert level_of(srv, r"\]\s+WARN-MARK$") == "warn"
    assert level_of(srv, r"\] fail: RealApp\.Log\[0\]$") == "error"
    assert level_of(srv, r"\]\s+FAIL-MARK$") == "error"
    assert level_of(srv, r"\] crit: RealApp\.Log\[0\]$") == "crit"
    assert level_of(srv, r"\]\s+CRIT-MARK$") == "crit"
    # the information entry came first, on the same pipe: it is not there at warn
    assert "INFO-MARK" not in srv.error_log()


@pytest.mark.expect_log(r"exited with code 7 before it listened", r"failed to start \(502\.5\)")
def test_a_failed_start_leaves_its_last_lines_at_error(apache):
    from test_supervision import label, standin
    srv = apache.start(standin(env={"STANDIN_EXIT_AT_START": "7"},
                               extra="AspNetCoreStartMode OnDemand"), log_level="warn")
    r = srv.get("/", timeout=30)
    assert r.status == 502, (r.status, srv.log_tail(20))
    line = r"\[%s pid \d+\] before it stopped: standin: STANDIN_EXIT_AT_START=7, exiting without " \
           r"listening$" % re.escape(label(srv.app))
    srv.wait_for_log(line, timeout=10)
    # (a retry may have printed it again)
    assert level_of(srv, line, once=False) == "error"
    # the 502.5 page says where that is
    body = r.body.decode("utf-8", "replace")
    assert "the last lines it printed before it stopped follow, at level error" in body, body
    assert "carry what it printed" not in body


@pytest.mark.expect_log(r"cannot create the stdout log in ")
def test_an_unwritable_stdout_log_directory_is_said_once_at_error(apache):
    """AspNetCoreStdoutLogEnabled with a directory Apache's User cannot write (root's, 0755):
    one error naming the directory and the user for the app's settings, not one per
    process; the output goes to the error log."""
    import os
    from test_supervision import label, standin
    if os.geteuid() != 0:
        pytest.skip("needs root: the directory must be one Apache's User (www-data) cannot write")
    srv = apache.new(standin(extra="AspNetCoreProcessesPerApplication 2\n"
                                   "AspNetCoreStdoutLogEnabled On\n"
                                   "AspNetCoreStdoutLogFile ./logs/stdout"), log_level="warn")
    logs = srv.mkdir("app/logs", 0o755)      # root's
    srv.start()
    rx = r"\[%s\] cannot create the stdout log in %s: Permission denied for user www-data " \
         r"\(uid \d+\); the app's output goes to the error log instead" % (
             re.escape(label(srv.app)), re.escape(logs))
    srv.wait_for_log(rx, timeout=15)
    # both processes started (each tried its own file)
    wait_until(lambda: len(re.findall(r"started process \d+", srv.error_log())) >= 2, 15,
               lambda: "two processes started\n" + srv.log_tail(20))
    wait_until(lambda: srv.get("/pid", timeout=30).status == 200, 30, "the app answers")
    assert level_of(srv, rx) == "error"
    assert os.listdir(logs) == []


def configure_ac_version():
    import os
    from httpd import REPO
    with open(os.path.join(REPO, "configure.ac")) as f:
        m = re.search(r"^AC_INIT\(\[mod_aspnetcore\],\s*\[([^\]]+)\]", f.read(), re.M)
    assert m, "AC_INIT in configure.ac"
    return m.group(1)


def test_the_version_is_on_the_status_page_and_in_the_error_log_once(apache):
    from test_status import STATUS_LOCATION, status_html, status_json
    version = configure_ac_version()
    srv = apache.start(STATUS_LOCATION, log_level="warn")
    assert status_json(srv)["version"] == version
    assert "mod_aspnetcore %s." % version in status_html(srv)
    rx = r"(?m)\[aspnetcore:notice\] .* mod_aspnetcore/%s configured$" % re.escape(version)
    srv.wait_for_log(rx)
    srv.graceful()
    assert len(re.findall(rx, srv.error_log())) == 1, srv.log_tail(20)
    # not in the Server header (ServerTokens decides what that says)
    assert "aspnetcore" not in (srv.get("/").header("server") or "").lower()


def test_warnings_are_not_starved_by_a_flood_of_info_lines(apache):
    """The 200-lines-a-second limit counts the lines at warn and above apart: 2000 info lines
    and then 5 warnings in one write: the info lines are cut at 200, every warning is there."""
    from test_supervision import get_ok, label, standin
    srv = apache.start(standin(), log_level="warn aspnetcore:info")
    pid = int(get_ok(srv, "/pid").body)
    get_ok(srv, "/print?n=2000&warn=5")
    tag = r"\[%s pid %d\] " % (re.escape(label(srv.app)), pid)
    srv.wait_for_log(tag + r"warn: standin warning 4 of 5", timeout=10)
    for i in range(5):
        assert level_of(srv, tag + r"warn: standin warning %d of 5 pid" % i) == "warn"
    info = re.findall(tag + r"standin print \d+ of 2000", srv.error_log())
    assert 0 < len(info) <= 200, len(info)
