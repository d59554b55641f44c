"""debian/aspnetcore.conf (the package's /etc/apache2/mods-available/aspnetcore.conf): every
directive in it is commented out, and must still work when an admin uncomments it. The test
uncomments every directive line, loads the file after the built module, and runs `apache2 -t`.
(The ```apache blocks of README.md and docs/ are checked elsewhere.)"""
import os
import re

from rigutil import REPO

CONF = os.path.join(REPO, "debian", "aspnetcore.conf")
# The server-config-only directives (docs/configuration.md): the file names each of them.
SERVER_WIDE = ("AspNetCoreStateRoot", "AspNetCorePortRange", "AspNetCoreBackendIdleTimeout",
               "AspNetCoreDynamicAppIdleTimeout", "AspNetCoreMaxWebSockets", "AspNetCoreCgroups")
# "#AspNetCore... value", "#<Location ...>", "#    SetHandler ...": a commented directive
COMMENTED_DIRECTIVE = re.compile(r"^(\s*)#(?=\s*(</?[A-Za-z]+|AspNetCore\w+|SetHandler|Require)\b)")


def uncommented(text):
    return "\n".join(COMMENTED_DIRECTIVE.sub(r"\1", l) for l in text.splitlines()) + "\n"


def test_aspnetcore_conf_uncommented_passes_configtest(apache):
    with open(CONF) as f:
        text = f.read()
    conf = uncommented(text)
    directives = [l.split()[0] for l in conf.splitlines()
                  if l.strip() and not l.lstrip().startswith("#")]
    # the module's own list: the directives it allows in the server config only
    with open(os.path.join(REPO, "modules", "ac_config.c")) as f:
        in_module = set(re.findall(r'AP_INIT_\w+\("(AspNetCore\w+)",[^,]+,[^,]+, RSRC_CONF,',
                                   f.read()))
    assert in_module == set(SERVER_WIDE), \
        "server-config-only directives of the module %s, here %s" % (sorted(in_module),
                                                                    sorted(SERVER_WIDE))
    for name in SERVER_WIDE:
        assert name in directives, "%s is not in %s" % (name, CONF)
    assert "SetHandler" in directives and "Require" in directives, \
        "no status-page example in %s" % CONF
    for line in text.splitlines():
        if line.lstrip().startswith(("AspNetCore", "<Location", "SetHandler", "Require")):
            raise AssertionError("%s: a directive is not commented out: %r" % (CONF, line))
        m = re.match(r"\s*#?\s*(AspNetCore\w+|SetHandler|Require)\s.*#", line)
        assert not m, "%s: a '#' after a directive on one line: %r" % (CONF, line)

    state_root_existed = os.path.exists("/var/lib/apache2/aspnetcore")
    # the file as a2enmod includes it: after the module's LoadModule
    srv = apache.new(conf, modules=("authz_host",))
    out = srv.configtest()
    assert "Syntax OK" in out, out
    # apache2 -t does not run post_config: the uncommented state root was not made
    assert os.path.exists("/var/lib/apache2/aspnetcore") == state_root_existed

    # the <IfModule> really holds the directives once the module is loaded: a bad value
    # in it fails (a wrong module name would make the whole file pass unread)
    bad = conf.replace("AspNetCorePortRange 10000-48000", "AspNetCorePortRange 48000-10000")
    assert bad != conf, "the port range line changed: update this test"
    srv.write_conf(bad)
    rc, out = srv.apache2("-t")
    assert rc != 0 and "AspNetCorePortRange" in out, \
        "a bad value inside the file's <IfModule> was not read (rc %d):\n%s" % (rc, out)
