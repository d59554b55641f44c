"""Who may configure what (docs/security.md; issue 11, reviewed concerns): variables the module
reserves, Group root, the status page in an .htaccess, a virtual path the client could choose,
and re-resolution after a web.config change using the scope's own settings.
"""

import json
import os
import re

import pytest

import backends as backends_mod
from backends import parse_env, parse_pid
from rigutil import wait_until, expect_status

STANDIN = backends_mod.STANDIN


def standin(app_root="{app}", env=None, extra=""):
    return backends_mod.standin().directives(app_root=app_root, env=env, extra=extra)


def web_config(env=None):
    children = ""
    if env:
        children = "<environmentVariables>\n%s\n</environmentVariables>" % "\n".join(
            '<environmentVariable name="%s" value="%s" />' % kv for kv in env.items())
    return ('<?xml version="1.0" encoding="utf-8"?>\n<configuration>\n<system.webServer>\n'
            '<aspNetCore processPath="/usr/bin/python3" arguments="%s">\n%s\n</aspNetCore>\n'
            '</system.webServer>\n</configuration>\n' % (STANDIN, children))


# --- ASPNETCORE_TOKEN, _PORT, _APPL_PATH are the module's ----------------------------------------

@pytest.mark.parametrize("name", ["ASPNETCORE_TOKEN", "ASPNETCORE_PORT", "aspnetcore_appl_path"])
def test_reserved_variable_directive_is_a_configtest_error(apache, name):
    srv = apache.new(standin(env={name: "x"}))
    rc, out = srv.apache2("-t")
    assert rc != 0 and "Syntax OK" not in out, out
    assert "AspNetCoreEnvironmentVariable" in out and name.upper() in out.upper(), out
    assert "set by the module" in out, out


@pytest.mark.expect_log(r"configuration error: .*environmentVariable ASPNETCORE_PORT is set by "
                        r"the module", r"cannot run until this is fixed")
def test_reserved_variable_in_web_config_is_a_500(apache):
    srv = apache.new('<Location /wc>\nAspNetCoreAppRoot "{tmp}/wc"\nAspNetCoreWebConfig\n'
                     '</Location>\n<Location /ok>\n%s\n</Location>\n'
                     % standin(app_root="{tmp}/ok"))
    srv.mkdir("ok")
    srv.write_file("wc/web.config", web_config({"ASPNETCORE_PORT": "1"}))
    srv.start()
    r = expect_status(srv.get("/wc/pid", timeout=30), 500, "GET /wc/pid", srv)
    assert "configuration is invalid" in r.text()
    srv.wait_for_log(r"configuration error: .*web\.config: environmentVariable ASPNETCORE_PORT")
    expect_status(srv.get("/ok/pid", timeout=60), 200, "another app", srv)


# --- Group root ------------------------------------------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="Apache switches to User/Group only when started "
                    "as root: run the tests as root to check that Group root is refused")
def test_group_root_is_refused(apache):
    srv = apache.new(standin() + "\nGroup root\n")
    rc, out = srv.apache2("-t")
    assert rc != 0 and "Syntax OK" not in out, out
    assert "Group is root" in out and "unprivileged Group" in out, out


# --- the status page is the server configuration's -----------------------------------------------

def test_status_page_from_htaccess_is_refused(apache):
    srv = apache.new('<Directory "{docroot}/st">\n    AllowOverride FileInfo\n</Directory>\n'
                     '<Location /aspnetcore-status>\n    SetHandler aspnetcore-status\n'
                     '</Location>\n<Location /shop>\n%s\n</Location>\n'
                     % standin(app_root="{tmp}/shop"))
    srv.mkdir("shop")
    srv.write_file("htdocs/st/.htaccess", "SetHandler aspnetcore-status\n")
    srv.write_file("htdocs/st/index.html", "x")
    srv.write_file("htdocs/mime/.htaccess", "AddHandler aspnetcore-status .html\n")
    srv.write_file("htdocs/mime/x.html", "x")
    srv.start()
    # the server configuration's page works and lists the app
    r = expect_status(srv.get("/aspnetcore-status?json"), 200, "the status page", srv)
    assert any(a["virtual_path"] == "/shop" for a in r.json()["apps"]), r.body[:500]
    # an .htaccess may not show it
    r = srv.get("/st/index.html")
    assert r.status == 403 and b"/shop" not in r.body, (r.status, r.body[:300])
    srv.wait_for_log(r"the aspnetcore-status page is refused: it is enabled only in the server "
                     r"configuration, not in an \.htaccess file")


# --- the virtual path comes from the configuration -------------------------------------------------

HTACCESS_APP = ("AspNetCoreProcessPath /usr/bin/python3\nAspNetCoreArguments \"%s\"\n"
                "AspNetCoreStartMode OnDemand\n" % STANDIN)


@pytest.mark.expect_log(r"has control characters")
def test_client_cannot_choose_the_virtual_path(apache):
    srv = apache.new('<Directory "{docroot}/app">\n    AllowOverride Options FileInfo\n'
                     '</Directory>\n<Directory "{tmp}/outside">\n    AllowOverride Options FileInfo\n'
                     '    Require all granted\n</Directory>\n'
                     'AliasMatch "^/([a-z]+)/app(/.*)?$" "{docroot}/app$2"\n'
                     'AliasMatch "^/x/(.*)/out(/.*)?$" "{tmp}/outside$2"\n'
                     '<Location /aspnetcore-status>\n    SetHandler aspnetcore-status\n'
                     '</Location>\n',
                     modules=("alias",))
    srv.write_file("htdocs/app/.htaccess", HTACCESS_APP)
    srv.write_file("outside/.htaccess", HTACCESS_APP)
    srv.start()
    # whatever prefix the client picks, one app, at the directory's own path (the app
    # answers: 404 from the app, since its path base is /app, not the client's prefix)
    for prefix in ("aaa", "bbb", "ccc"):
        r = srv.get("/%s/app/echo" % prefix, timeout=60)
        assert r.status in (200, 404), (prefix, r.status, r.body[:300])
    r = expect_status(srv.get("/app/echo", timeout=60), 200, "/app/echo", srv)
    assert r.json()["path_base"] == "/app"
    apps = [a for a in expect_status(srv.get("/aspnetcore-status?json"), 200, "status", srv)
            .json()["apps"] if a["root"] == os.path.join(srv.docroot, "app")]
    assert [a["virtual_path"] for a in apps] == ["/app"], apps
    # outside the DocumentRoot the URL decides, but never with CR/LF in it
    r = srv.get("/x/a%0d%0aX-Injected:%20yes/out/echo", timeout=30)
    assert r.status == 500, (r.status, r.body[:300])


# --- re-resolution after a web.config change ------------------------------------------------------

def test_reresolution_uses_the_scopes_own_settings(apache):
    srv = apache.new('<Location />\n%s\nAspNetCoreEnvironmentVariable OUTER from-location-root\n'
                     '</Location>\n<Location /wc>\nAspNetCoreAppRoot "{tmp}/wc"\n'
                     'AspNetCoreWebConfig\n</Location>\n' % standin())
    wc = srv.write_file("wc/web.config", web_config({"WC": "one"}))
    srv.start()
    env = parse_env(expect_status(srv.get("/wc/env", timeout=60), 200, "/wc/env", srv))
    assert env.get("WC") == "one" and "OUTER" not in env, env
    with open(wc, "w") as f:
        f.write(web_config({"WC": "two"}))

    def changed():
        r = srv.get("/wc/env", timeout=30)
        return parse_env(r) if r.status == 200 and parse_env(r).get("WC") == "two" else None
    env = wait_until(changed, 30, lambda: "the app to see WC=two\n" + srv.log_tail(20))
    assert "OUTER" not in env, ("the re-resolved app took the request's merged settings "
                                "(<Location />'s variable): %r" % env)
