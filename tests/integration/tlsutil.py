"""TLS material and mod_ssl config for integration tests (openssl CLI; nothing leaves the box).

`tls_material()` makes, once per test session, in a temp dir readable by www-data:
  * ca.pem / ca.key          a throwaway CA
  * server.pem / server.key  a server certificate for 127.0.0.1 and localhost, signed by the CA
  * client.pem / client.key  a client certificate (CN=mod-aspnetcore-test-client) signed by the CA
  * rogue.pem / rogue.key    a self-signed client certificate no server trusts

`ssl_vhost(port, body, verify=None)` is a `<VirtualHost>` on 127.0.0.1:port with mod_ssl on,
using that material; add `modules=TLS_MODULES` to the server (`apache.new(..., modules=TLS_MODULES)`).
`client_context(cert=None)` is an ssl.SSLContext that trusts the CA and optionally presents a
client certificate ("client" or "rogue").
"""

import atexit
import os
import shutil
import ssl
import subprocess
import tempfile
import threading

TLS_MODULES = ("socache_shmcb", "ssl")
CLIENT_CN = "mod-aspnetcore-test-client"

_lock = threading.Lock()
_material = None


class TlsMaterial:
    def __init__(self, d):
        self.dir = d

    def path(self, name):
        return os.path.join(self.dir, name)

    @property
    def ca(self):
        return self.path("ca.pem")

    @property
    def server_cert(self):
        return self.path("server.pem")

    @property
    def server_key(self):
        return self.path("server.key")

    def client_pair(self, which="client"):
        return self.path("%s.pem" % which), self.path("%s.key" % which)

    def der(self, which="client"):
        """The DER bytes of a certificate (what MS-ASPNETCORE-CLIENTCERT carries, base64)."""
        with open(self.path("%s.pem" % which)) as f:
            return ssl.PEM_cert_to_DER_cert(f.read())


def _openssl(*args, cwd):
    p = subprocess.run(("openssl",) + args, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed:\n%s" % (" ".join(args), p.stdout.decode("utf-8", "replace")))


def _make(d):
    days = "30"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", days, "-subj", "/CN=mod-aspnetcore test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, subj, ext in (
            ("server", "/CN=127.0.0.1",
             "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
             "basicConstraints=CA:FALSE\n"),
            ("client", "/CN=%s" % CLIENT_CN,
             "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                 "-subj", subj, cwd=d)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", name + ".pem", "-days", days, "-extfile", name + ".ext", cwd=d)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue.key", "-out", "rogue.pem",
             "-days", days, "-subj", "/CN=rogue client", cwd=d)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)     # test material: Apache reads keys as root anyway


def tls_material():
    """The session's TLS material (made on first use; removed at exit)."""
    global _material
    with _lock:
        if _material is None:
            if not shutil.which("openssl"):
                raise RuntimeError("the openssl command is needed for the TLS tests (apt-get install openssl)")
            d = tempfile.mkdtemp(prefix="aspnetcore-it-tls-")
            os.chmod(d, 0o755)
            atexit.register(shutil.rmtree, d, True)
            _make(d)
            _material = TlsMaterial(d)
        return _material


def ssl_vhost(port, body, verify=None, server_name="127.0.0.1", extra=""):
    """A mod_ssl <VirtualHost> on 127.0.0.1:port. verify: None, "optional" or "require"
    (SSLVerifyClient against the test CA). The caller adds `Listen 127.0.0.1:port` itself
    (see listen_line) so several vhosts can share a port."""
    m = tls_material()
    lines = [
        "<VirtualHost 127.0.0.1:%d>" % port,
        "    ServerName %s" % server_name,
        "    SSLEngine on",
        '    SSLCertificateFile "%s"' % m.server_cert,
        '    SSLCertificateKeyFile "%s"' % m.server_key,
    ]
    if verify:
        lines += ['    SSLCACertificateFile "%s"' % m.ca,
                  "    SSLVerifyClient %s" % verify,
                  "    SSLVerifyDepth 2"]
    if extra:
        lines.append(extra)
    lines += [body, "</VirtualHost>"]
    return "\n".join(lines)


def listen_line(port):
    return "Listen 127.0.0.1:%d https" % port


def client_context(cert=None, alpn=None):
    """An ssl.SSLContext trusting the test CA; cert: None, "client" or "rogue"."""
    m = tls_material()
    ctx = ssl.create_default_context(cafile=m.ca)
    if cert:
        ctx.load_cert_chain(*m.client_pair(cert))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx
