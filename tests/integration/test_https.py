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
import json
import os
import re
import shutil
import ssl
import subprocess

import pytest

import httpclient
import tlsutil
from rigutil import free_port, wait_until, expect_status

FIRST_REQUEST_TIMEOUT = 60.0
HTTPS_PORT_ENV = "ASPNETCORE_ANCM_HTTPS_PORT"
STANDIN_APP = """AspNetCoreProcessPath /usr/bin/python3
    AspNetCoreArguments "{standin}"
    AspNetCoreAppRoot "{app}"
"""


def https_request(port, method, path, headers=None, cert=None, timeout=30.0, host="127.0.0.1"):
    """One request over TLS (trusting the session CA; cert: None, "client" or "rogue")."""
    return httpclient.request(port, method, path, headers, timeout=timeout, host=host,
                              context=tlsutil.client_context(cert))


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
    return httpclient.get(port, path, headers=headers, timeout=FIRST_REQUEST_TIMEOUT)


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
    gets nothing (a redirect would land on another app). Both apps run: the http and the
    https host of one name are two sites (the second app used to replace the first, whose
    requests then got 503)."""
    plain, tls = free_port(), free_port()
    srv = apache.new(
        http_host(plain, STANDIN_APP, server_name="shop.test")
        + "\n" + ssl_host(tls, STANDIN_APP.replace("{app}", "{tmp}/app2"), server_name="shop.test"),
        modules=tlsutil.TLS_MODULES)
    srv.mkdir("app2")
    srv.start()
    plain_env = env_over_http(srv, plain)
    assert HTTPS_PORT_ENV not in plain_env
    tls_env = env_over_https(srv, tls)
    assert tls_env.get(HTTPS_PORT_ENV) == str(tls)
    assert plain_env["ASPNETCORE_PORT"] != tls_env["ASPNETCORE_PORT"], "one process for two apps"


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


WEB_CONFIG = """<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <system.webServer>
    <handlers>
      <add name="aspNetCore" path="*" verb="*" modules="AspNetCoreModuleV2" resourceType="Unspecified" />
    </handlers>
    <aspNetCore processPath="/usr/bin/python3" arguments="%s" hostingModel="outofprocess" />
  </system.webServer>
</configuration>
"""


def test_directive_with_a_web_config_app(apache):
    """An app whose settings come from its web.config: AspNetCoreHttpsPort in its scope
    applies like the other per-app directives (web.config has no such setting: IIS takes it
    from the site's bindings)."""
    srv = apache.new("<Location />\n    AspNetCoreAppRoot \"{app}\"\n    AspNetCoreWebConfig\n"
                     "    AspNetCoreHttpsPort 7443\n</Location>")
    srv.write_file("app/web.config", WEB_CONFIG % srv.placeholders()["standin"])
    srv.start()
    assert env_over_http(srv).get(HTTPS_PORT_ENV) == "7443"


def test_htaccess_app_in_an_ssl_host(apache):
    """Apps known only at request time (.htaccess): the port of their host when it runs TLS
    on one port, or what their AspNetCoreHttpsPort says."""
    tls = free_port()
    srv = apache.new(ssl_host(tls, "<Directory {docroot}>\n    AllowOverride Options\n"
                                   "</Directory>"), modules=tlsutil.TLS_MODULES)
    app = "AspNetCoreProcessPath /usr/bin/python3\nAspNetCoreArguments \"%s\"\n" % (
        srv.placeholders()["standin"])
    srv.write_file("htdocs/shop/.htaccess", app)
    srv.write_file("htdocs/own/.htaccess", app + "AspNetCoreHttpsPort 5443\n")
    srv.start()
    assert env_over_https(srv, tls, "/shop/env").get(HTTPS_PORT_ENV) == str(tls)
    assert env_over_https(srv, tls, "/own/env").get(HTTPS_PORT_ENV) == "5443"


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


def test_graceful_that_adds_the_https_host_restarts_the_app(apache):
    """A derived port is a launch setting too: adding the https virtual host of the same
    name that runs the same app gives the http host's app the port at the graceful (a new
    process); removing it again takes the port away."""
    plain, tls = free_port(), free_port()
    http_only = http_host(plain, STANDIN_APP, server_name="shop.test")
    both = http_only + "\n" + ssl_host(tls, STANDIN_APP, server_name="shop.test")
    srv = apache.start(http_only, modules=tlsutil.TLS_MODULES)
    assert HTTPS_PORT_ENV not in env_over_http(srv, plain)
    pid_before = http_get(plain, "/pid").text().strip()
    srv.graceful(both)
    wait_until(lambda: env_over_http(srv, plain).get(HTTPS_PORT_ENV) == str(tls), 30,
               "the http app to run with the https port")
    assert http_get(plain, "/pid").text().strip() != pid_before, "the same process"
    srv.graceful(http_only)
    wait_until(lambda: HTTPS_PORT_ENV not in env_over_http(srv, plain), 30,
               "the http app to run without the https port again")


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


# --- 2. client certificates -------------------------------------------------------------------

CERT_FIELD = "MS-ASPNETCORE-CLIENTCERT"
FORGED = base64.b64encode(b"0\x82forged by the client").decode()


def cert_fields(resp):
    """The MS-ASPNETCORE-CLIENTCERT values the stand-in saw (its /echo lists every field)."""
    return [v for k, v in resp.json()["headers"] if k.lower() == CERT_FIELD.lower()]


def client_der_b64(which="client"):
    return base64.b64encode(tlsutil.tls_material().der(which)).decode()


def start_tls_standin(apache, verify, env=""):
    tls = free_port()
    srv = apache.start(ssl_host(tls, STANDIN_APP + env, verify=verify),
                       modules=tlsutil.TLS_MODULES)
    return srv, tls


def test_client_cert_reaches_the_app_as_base64_der(apache):
    """SSLVerifyClient optional, the client presents the CA-signed certificate: the app gets
    exactly one MS-ASPNETCORE-CLIENTCERT, the base64 of the certificate's DER on one line;
    one the client sent as well is not passed on (nor is a lower-case one)."""
    srv, tls = start_tls_standin(apache, "optional")
    want = client_der_b64()
    r = https_request(tls, "GET", "/echo", cert="client", timeout=FIRST_REQUEST_TIMEOUT)
    expect_status(r, 200, "GET /echo with a client certificate", srv)
    assert cert_fields(r) == [want]
    r = https_request(tls, "GET", "/echo", cert="client",
                      headers=[(CERT_FIELD, FORGED), ("ms-aspnetcore-clientcert", FORGED)])
    expect_status(r, 200, "GET /echo with a certificate and a forged field", srv)
    assert cert_fields(r) == [want]


def test_no_verified_cert_no_field(apache):
    """No certificate over TLS, and plain http: a client-sent MS-ASPNETCORE-CLIENTCERT (even
    one holding the real certificate's value) never reaches the app, nor does anything in
    its place."""
    tls, plain = free_port(), free_port()
    srv = apache.start(ssl_host(tls, STANDIN_APP, verify="optional") + "\n"
                       + http_host(plain, STANDIN_APP), modules=tlsutil.TLS_MODULES)
    forged = [(CERT_FIELD, FORGED), ("ms-aspnetcore-clientcert", client_der_b64())]
    r = https_request(tls, "GET", "/echo", headers=forged, timeout=FIRST_REQUEST_TIMEOUT)
    expect_status(r, 200, "GET /echo over TLS without a certificate", srv)
    assert cert_fields(r) == []
    r = http_get(plain, "/echo", headers=dict(forged[:1]))
    expect_status(r, 200, "GET /echo over plain http", srv)
    assert cert_fields(r) == []
    r = http_get(plain, "/echo", headers=dict(forged[1:]))
    expect_status(r, 200, "GET /echo over plain http", srv)
    assert cert_fields(r) == []


def test_unverified_cert_not_passed(apache):
    """SSLVerifyClient optional_no_ca accepts the rogue (self-signed) certificate without
    verifying it (SSL_CLIENT_VERIFY is GENEROUS): the app gets no certificate, since it could
    not tell it from a verified one."""
    srv, tls = start_tls_standin(apache, "optional_no_ca")
    r = https_request(tls, "GET", "/echo", cert="rogue", timeout=FIRST_REQUEST_TIMEOUT)
    expect_status(r, 200, "GET /echo with the rogue certificate", srv)
    assert cert_fields(r) == []
    r = https_request(tls, "GET", "/echo", cert="client")
    assert cert_fields(r) == [client_der_b64()]


def test_require_with_rogue_cert_never_reaches_the_app(apache):
    """SSLVerifyClient require and the rogue certificate: the handshake fails (mod_ssl's
    part); the app sees no request at all, while a good client gets through."""
    srv, tls = start_tls_standin(
        apache, "require", env="    AspNetCoreEnvironmentVariable STANDIN_LOG_ARRIVALS 1\n")
    apache.expect_log(r"\[ssl:error\] .* AH02039: Certificate Verification: Error")   # mod_ssl's
    r = https_request(tls, "GET", "/echo/good-first", cert="client", timeout=FIRST_REQUEST_TIMEOUT)
    expect_status(r, 200, "GET with the good certificate", srv)
    for path in ("/echo/rogue", "/echo/none"):
        try:
            r = https_request(tls, "GET", path, cert="rogue" if "rogue" in path else None,
                              headers=[(CERT_FIELD, FORGED)], timeout=10)
        except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError):
            continue
        assert r.status >= 400 and not r.body.startswith(b"{"), \
            "%s answered %s: %r" % (path, r.status, r.body[:200])
    r = https_request(tls, "GET", "/echo/good-last", cert="client")
    assert cert_fields(r) == [client_der_b64()]
    srv.wait_for_log(r"arrived GET /echo/good-last")
    arrivals = re.findall(r"arrived GET (\S+)", srv.error_log())
    assert arrivals == ["/echo/good-first", "/echo/good-last"], arrivals


def big_client_cert(d, dns_names):
    """A client certificate signed by the session CA, made big by `dns_names` SAN entries."""
    m = tlsutil.tls_material()
    with open(os.path.join(d, "big.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"
                "subjectAltName=@alt\n[alt]\n")
        for i in range(dns_names):
            f.write("DNS.%d = host-%05d.a-long-name-for-a-big-certificate.test\n" % (i + 1, i))
    run = lambda *a: subprocess.run(("openssl",) + a, cwd=d, check=True, timeout=60,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "big.key", "-out", "big.csr",
        "-subj", "/CN=big client")
    run("x509", "-req", "-in", "big.csr", "-CA", m.ca, "-CAkey", m.path("ca.key"),
        "-CAcreateserial", "-CAserial", os.path.join(d, "ca.srl"), "-out", "big.pem",
        "-days", "2", "-extfile", "big.ext")
    return os.path.join(d, "big.pem"), os.path.join(d, "big.key")


def test_cert_over_the_bound_is_dropped_with_a_log_line(apache, tmp_path):
    """A verified certificate of more than 16 KiB of DER is not passed on (Kestrel's default
    32 KiB limit on all request fields): the request still goes to the app, without the
    field, and the error log says why. One just under the bound is passed on whole."""
    srv, tls = start_tls_standin(apache, "optional")
    for names, passed in ((240, True), (420, False)):
        d = tmp_path / str(names)
        d.mkdir()
        pem, key = big_client_cert(str(d), names)
        with open(pem) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        assert (len(der) <= 16384) == passed, "certificate of %d bytes" % len(der)
        ctx = tlsutil.client_context()
        ctx.load_cert_chain(pem, key)
        r = httpclient.request(tls, "GET", "/echo", timeout=FIRST_REQUEST_TIMEOUT, context=ctx)
        assert r.status == 200, (r.status, r.body[:300])
        fields = cert_fields(r)
        if passed:
            assert fields == [base64.b64encode(der).decode()]
        else:
            assert fields == []
            srv.wait_for_log(r"client's certificate is not passed to the app "
                             r"\(MS-ASPNETCORE-CLIENTCERT\): the certificate has more than "
                             r"16384 bytes")


@pytest.mark.mpms("event", "worker")      # mod_http2 does not run under prefork
def test_client_cert_over_http2(apache):
    """HTTP/2 (mod_http2, ALPN h2): the stream's request still carries the certificate of
    the TLS connection it came on (curl, built with nghttp2)."""
    if not shutil.which("curl"):
        pytest.skip("curl is not installed: the HTTP/2 client of this test")
    tls = free_port()
    srv = apache.start("Protocols h2 http/1.1\n" + ssl_host(tls, STANDIN_APP, verify="optional"),
                       modules=tlsutil.TLS_MODULES + ("http2",))
    m = tlsutil.tls_material()
    cert, key = m.client_pair("client")
    p = subprocess.run(["curl", "-sS", "--http2", "--cacert", m.ca, "--cert", cert, "--key", key,
                        "-H", "%s: %s" % (CERT_FIELD, FORGED), "-o", "-", "-w", "\\n%{http_version}",
                        "https://127.0.0.1:%d/echo" % tls], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=FIRST_REQUEST_TIMEOUT)
    assert p.returncode == 0, p.stderr
    body, version = p.stdout.rsplit(b"\n", 1)
    assert version == b"2", "curl did not speak HTTP/2: %r" % version
    fields = [v for k, v in json.loads(body)["headers"] if k.lower() == CERT_FIELD.lower()]
    assert fields == [client_der_b64()]


# --- RealApp: what ASP.NET Core makes of it ----------------------------------------------------

def test_realapp_redirects_http_to_https(apache, real_app):
    """RealApp (UseHttpsRedirection, as the templates have it) declared in the http and the
    https virtual host of one name: over http it answers 307 to the same URL on the https
    port; over https it serves (200), sees https and the port in its environment."""
    plain, tls = free_port(), free_port()
    app = real_app.directives()
    srv = apache.start(http_host(plain, app) + "\n" + ssl_host(tls, app),
                       modules=tlsutil.TLS_MODULES)
    r = http_get(plain, "/whoami?x=1")
    assert r.status == 307, (r.status, r.body[:300], srv.log_tail(20))
    assert r.header("Location") == "https://127.0.0.1:%d/whoami?x=1" % tls, r.headers
    r = https_request(tls, "GET", "/whoami?x=1", timeout=FIRST_REQUEST_TIMEOUT)
    expect_status(r, 200, "GET https /whoami", srv)
    who = r.json()
    assert (who["scheme"], who["isHttps"], who["httpsPortEnv"]) == ("https", True, str(tls)), who
    assert who["clientCert"] is None, who


def test_realapp_sees_the_client_cert(apache, real_app):
    """SSLVerifyClient optional: with the CA-signed client certificate RealApp's
    HttpContext.Connection.ClientCertificate is that certificate (subject, thumbprint, raw
    bytes); without one, or with a forged MS-ASPNETCORE-CLIENTCERT, it has none."""
    tls = free_port()
    srv = apache.start(ssl_host(tls, real_app.directives(), verify="optional"),
                       modules=tlsutil.TLS_MODULES)
    der = tlsutil.tls_material().der("client")
    r = https_request(tls, "GET", "/clientcert", cert="client", timeout=FIRST_REQUEST_TIMEOUT)
    expect_status(r, 200, "GET /clientcert with the client certificate", srv)
    seen = r.json()
    assert seen["present"] is True, seen
    assert seen["cert"]["subject"] == "CN=%s" % tlsutil.CLIENT_CN, seen
    assert seen["cert"]["thumbprint"] == hashlib.sha1(der).hexdigest().upper(), seen
    assert seen["cert"]["rawBase64"] == base64.b64encode(der).decode(), seen
    r = https_request(tls, "GET", "/whoami", cert="client")
    assert r.json()["clientCert"]["thumbprint"] == hashlib.sha1(der).hexdigest().upper()
    for headers in ([], [(CERT_FIELD, base64.b64encode(der).decode())]):
        r = https_request(tls, "GET", "/clientcert", headers=headers)
        expect_status(r, 200, "GET /clientcert without a certificate", srv)
        assert r.json()["present"] is False, (headers and "forged", r.json())
