"""TLS in front of the app (issue 12, points 1 and 2).

1. ASPNETCORE_ANCM_HTTPS_PORT, the port the app's UseHttpsRedirection() sends http requests
   to: set by AspNetCoreHttpsPort, else derived from the configuration where it is certain
   (the app's host runs TLS on one port; the app is declared in an http and an https virtual
   host of one ServerName), else not set (with a log line saying why). It is a launch
   setting: a graceful that changes it restarts the app. RealApp redirects for real.
2. Client certificates: with SSLVerifyClient the app gets the verified certificate in
   MS-ASPNETCORE-CLIENTCERT (base64 of the DER, one line), and never one a client sent.

The stand-in shows the exact environment (/env) and request fields (/echo); RealApp (the
real-app sample) shows what ASP.NET Core makes of them (/whoami, /clientcert, redirects).
"""

import base64
import hashlib
import http.client
import re

import pytest

import tlsutil
from rigutil import free_port, wait_until, expect_status
from httpclient import Response

FIRST_REQUEST_TIMEOUT = 60.0
HTTPS_PORT_ENV = "ASPNETCORE_ANCM_HTTPS_PORT"
STANDIN_APP = """AspNetCoreProcessPath /usr/bin/python3
    AspNetCoreArguments "{standin}"
    AspNetCoreAppRoot "{app}"
"""


def https_request(port, method, path, headers=None, cert=None, timeout=30.0, host="127.0.0.1"):
    """One request over TLS (trusting the session CA; cert: None, "client" or "rogue")."""
    conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                       context=tlsutil.client_context(cert))
    try:
        hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        conn.putrequest(method, path, skip_accept_encoding=True,
                        skip_host=any(k.lower() == "host" for k, _ in hdrs))
        for k, v in hdrs:
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        resp = Response("HTTP/%d.%d" % divmod(r.version, 10), r.status, r.reason,
                        list(r.getheaders()), b"")
        resp.body = r.read()
        return resp
    finally:
        conn.close()


def ssl_host(port, body, server_name="127.0.0.1", verify=None):
    return "%s\n%s" % (tlsutil.listen_line(port), tlsutil.ssl_vhost(port, body, verify=verify,
                                                                     server_name=server_name))


def http_host(port, body, server_name="127.0.0.1", listen=True):
    return "%s<VirtualHost 127.0.0.1:%d>\n    ServerName %s\n%s\n</VirtualHost>" % (
        "Listen 127.0.0.1:%d\n" % port if listen else "", port, server_name, body)


def env_over_http(srv, port=None, path="/env"):
    r = srv.get(path, timeout=FIRST_REQUEST_TIMEOUT) if port is None else \
        http_get(port, path)
    expect_status(r, 200, "GET %s" % path, srv)
    return r.json()


def http_get(port, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=FIRST_REQUEST_TIMEOUT)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        resp = Response("HTTP/%d.%d" % divmod(r.version, 10), r.status, r.reason,
                        list(r.getheaders()), b"")
        resp.body = r.read()
        return resp
    finally:
        conn.close()


def env_over_https(srv, port, path="/env"):
    r = https_request(port, "GET", path, timeout=FIRST_REQUEST_TIMEOUT)
    expect_status(r, 200, "GET https %s" % path, srv)
    return r.json()


# --- 1. ASPNETCORE_ANCM_HTTPS_PORT -----------------------------------------------------------

def test_directive_sets_the_port(apache):
    """AspNetCoreHttpsPort N gives the app's processes ASPNETCORE_ANCM_HTTPS_PORT=N, in a
    plain http host where nothing could be derived."""
    srv = apache.start("<Location />\n    %s    AspNetCoreHttpsPort 8443\n</Location>" % STANDIN_APP)
    assert env_over_http(srv).get(HTTPS_PORT_ENV) == "8443"


def test_no_port_without_https(apache):
    """No TLS anywhere: nothing is set (the variable is not invented)."""
    srv = apache.start("<Location />\n    %s</Location>" % STANDIN_APP)
    assert HTTPS_PORT_ENV not in env_over_http(srv)


def test_derived_from_the_one_ssl_vhost(apache):
    """The app declared in a mod_ssl virtual host on one port gets that port; `Off` in
    another such host sets nothing, and a number there wins over the derived one."""
    tls1, tls2, tls3 = free_port(), free_port(), free_port()
    srv = apache.new(
        ssl_host(tls1, STANDIN_APP, server_name="one.test")
        + "\n" + ssl_host(tls2, STANDIN_APP.replace("{app}", "{tmp}/app2")
                          + "    AspNetCoreHttpsPort Off\n", server_name="two.test")
        + "\n" + ssl_host(tls3, STANDIN_APP.replace("{app}", "{tmp}/app3")
                          + "    AspNetCoreHttpsPort 4443\n", server_name="three.test"),
        modules=tlsutil.TLS_MODULES)
    srv.mkdir("app2")
    srv.mkdir("app3")
    srv.start()
    assert env_over_https(srv, tls1).get(HTTPS_PORT_ENV) == str(tls1)
    assert HTTPS_PORT_ENV not in env_over_https(srv, tls2)
    assert env_over_https(srv, tls3).get(HTTPS_PORT_ENV) == "4443"


def test_derived_from_sslengine_on_a_plain_listener(apache):
    """`Listen N` (protocol http) with `SSLEngine on` in the host: mod_ssl runs TLS there,
    and so the port is derived (SSLEngine decides, not the listener's protocol)."""
    tls = free_port()
    srv = apache.start("Listen 127.0.0.1:%d\n%s" % (tls, tlsutil.ssl_vhost(tls, STANDIN_APP)),
                       modules=tlsutil.TLS_MODULES)
    assert env_over_https(srv, tls).get(HTTPS_PORT_ENV) == str(tls)


def test_sslengine_off_on_an_https_listener(apache):
    """`Listen N https` but `SSLEngine off` in the host: plain http there; nothing is
    derived from the listener's protocol."""
    port = free_port()
    srv = apache.start("Listen 127.0.0.1:%d https\n<VirtualHost 127.0.0.1:%d>\n"
                       "    SSLEngine off\n    %s</VirtualHost>" % (port, port, STANDIN_APP),
                       modules=tlsutil.TLS_MODULES)
    assert HTTPS_PORT_ENV not in env_over_http(srv, port)


def test_derived_for_http_and_https_hosts_of_one_name(apache):
    """The same app (program, app root, URL path) declared in the http and the https
    virtual host of one ServerName: both get the https host's port. A host of another name
    declaring the same app gets nothing."""
    plain, tls, other = free_port(), free_port(), free_port()
    srv = apache.start(
        http_host(plain, STANDIN_APP, server_name="shop.test")
        + "\n" + ssl_host(tls, STANDIN_APP, server_name="shop.test")
        + "\n" + http_host(other, STANDIN_APP, server_name="other.test"),
        modules=tlsutil.TLS_MODULES)
    assert env_over_http(srv, plain).get(HTTPS_PORT_ENV) == str(tls)
    assert env_over_https(srv, tls).get(HTTPS_PORT_ENV) == str(tls)
    assert HTTPS_PORT_ENV not in env_over_http(srv, other)


def test_other_app_in_the_https_host_derives_nothing(apache):
    """The https host of the same name runs another app (another app root): the http app
    gets nothing (a redirect would land on another app)."""
    plain, tls = free_port(), free_port()
    srv = apache.new(
        http_host(plain, STANDIN_APP, server_name="shop.test")
        + "\n" + ssl_host(tls, STANDIN_APP.replace("{app}", "{tmp}/app2"), server_name="shop.test"),
        modules=tlsutil.TLS_MODULES)
    srv.mkdir("app2")
    srv.start()
    assert HTTPS_PORT_ENV not in env_over_http(srv, plain)


def test_ambiguous_sets_nothing_and_says_why(apache):
    """The app in the http host of a name whose two https hosts (ports A and B) both run
    it, and an app in an https host with two ports: nothing is set, and one info line per
    app names the ports and AspNetCoreHttpsPort."""
    plain, tls_a, tls_b, tls_c, tls_d = (free_port() for _ in range(5))
    two_ports = (tlsutil.ssl_vhost(tls_c, STANDIN_APP.replace("{app}", "{tmp}/app2"),
                                   server_name="two.test")
                 .replace("<VirtualHost 127.0.0.1:%d>" % tls_c,
                          "<VirtualHost 127.0.0.1:%d 127.0.0.1:%d>" % (tls_c, tls_d)))
    srv = apache.new(
        http_host(plain, STANDIN_APP, server_name="shop.test")
        + "\n" + ssl_host(tls_a, STANDIN_APP, server_name="shop.test")
        + "\n" + ssl_host(tls_b, STANDIN_APP, server_name="shop.test")
        + "\n%s\n%s\n%s" % (tlsutil.listen_line(tls_c), tlsutil.listen_line(tls_d), two_ports),
        modules=tlsutil.TLS_MODULES, log_level="warn aspnetcore:info")
    srv.mkdir("app2")
    srv.start()
    assert HTTPS_PORT_ENV not in env_over_http(srv, plain)
    assert HTTPS_PORT_ENV not in env_over_https(srv, tls_c)
    log = srv.error_log()
    lines = [l for l in log.splitlines() if HTTPS_PORT_ENV + " is not set" in l]
    shop = [l for l in lines if "%s at /" % srv.app in l and "shop.test" in l]
    assert len(shop) == 1, "one line for the http app of shop.test:\n%s" % "\n".join(lines)
    assert re.search(r"ports (%d, %d|%d, %d)" % (tls_a, tls_b, tls_b, tls_a), shop[0]), shop[0]
    assert "AspNetCoreHttpsPort" in shop[0]
    two = [l for l in lines if "app2 at /" in l]
    assert len(two) == 1 and re.search(r"ports (%d, %d|%d, %d)" % (tls_c, tls_d, tls_d, tls_c),
                                        two[0]), "\n".join(lines)
    # the https apps of shop.test each have their port: nothing to say about them
    assert len(lines) == 2, "\n".join(lines)


HTTPS_PORT_CASES = ["0x1bb", "65536", "-1", "443.0", "on", "'443 444'"]


@pytest.mark.parametrize("value", HTTPS_PORT_CASES)
def test_configtest_rejects_bad_https_port(apache, value):
    srv = apache.new("<Location />\n    %s    AspNetCoreHttpsPort %s\n</Location>"
                     % (STANDIN_APP, value.replace("'", '"')))
    rc, out = srv.apache2("-t")
    assert rc != 0, "apache2 -t accepted AspNetCoreHttpsPort %s:\n%s" % (value, out)
    assert "AspNetCoreHttpsPort" in out and "is not a port: give 1-65535, or Off" in out, out
    assert re.search(r"httpd\.conf", out), out


@pytest.mark.parametrize("value", ["1", "65535", "off", "0"])
def test_configtest_accepts_https_port(apache, value):
    srv = apache.new("<Location />\n    %s    AspNetCoreHttpsPort %s\n</Location>"
                     % (STANDIN_APP, value))
    srv.configtest()


def test_graceful_with_another_port_restarts_the_app(apache):
    """The port is a launch setting: a graceful that changes it stops the old process and
    starts one with the new value; a graceful that keeps it keeps the process."""
    conf = "<Location />\n    %s    AspNetCoreHttpsPort %%d\n</Location>" % STANDIN_APP
    srv = apache.start(conf % 8443)
    first = env_over_http(srv)
    assert first.get(HTTPS_PORT_ENV) == "8443"
    pid1 = srv.get("/pid", timeout=10).text().strip()
    srv.graceful(conf % 8443)
    assert srv.get("/pid", timeout=FIRST_REQUEST_TIMEOUT).text().strip() == pid1
    srv.graceful(conf % 9443)
    env = wait_until(lambda: (lambda e: e if e.get(HTTPS_PORT_ENV) == "9443" else None)(
        env_over_http(srv)), 30, "the app to run with port 9443")
    pid2 = srv.get("/pid", timeout=10).text().strip()
    assert pid2 != pid1
    wait_until(lambda: not _alive(int(pid1)), 30, "the old process %s to stop" % pid1)
    assert env.get(HTTPS_PORT_ENV) == "9443"


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False
