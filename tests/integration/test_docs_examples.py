"""Every ```apache block of README.md and docs/*.md passes `apache2 -t` with the built module.

An admin copies these blocks into /etc/apache2; one that Apache rejects ("AllowEncodedSlashes
takes one argument", from a `#` comment after a directive) stops the reload. Each block is
written, as it is, at the end of a generated configuration (the rig's base: a temp
ServerRoot, the built module loaded, as Debian's package enables it) and checked with
`apache2 -t` (which reads and checks the configuration without binding a port or starting
anything). What the wrapper adds, so that a fragment can be checked alone:

* A standard set of Debian's modules (ssl, rewrite, headers, status, proxy, http2, ...), as
  a Debian server typically has enabled; a block's own `LoadModule` lines replace the
  wrapper's for those modules (`LoadModule aspnetcore_module <any path>` loads the built
  module).
* Filesystem paths the block names and this machine does not have (`/srv/shop`) are moved
  under a temp root, like a chroot: `DocumentRoot`, `<Directory>`, `Alias` targets,
  `AspNetCoreAppRoot` are made there as directories (and the directory of an `ErrorLog`
  or `CustomLog`, which Apache checks), `SSLCertificateFile`/`KeyFile` get a
  test certificate, the other path directives (`AspNetCoreStateDirectory`, web.config
  files, logs) just point there. The docs keep their real-looking paths.
* `Define`s of what Debian's /etc/apache2/envvars exports (`${APACHE_LOG_DIR}`), pointing
  there too.

A block fails when `apache2 -t` exits non-zero or prints anything but "Syntax OK" (a warning
such as "module aspnetcore_module is already loaded" is a failure too), or when a line has a
`#` comment after a directive (Apache 2.4 has no trailing comments: most directives reject
the extra words, some would take them as arguments). The failure names the file, the
block's line and Apache's message.

A block that is deliberately not a whole configuration is fenced as ```text, or has
`<!-- not-config: why -->` on the line before its fence (docs/development.md).
"""

import glob
import os
import re
import shutil

import pytest

import httpd
from rigutil import REPO

# a Debian server's usual modules, loaded when present (the rig adds authz_core, mime, dir, alias)
STANDARD_MODULES = (
    "authn_core", "authn_file", "auth_basic", "authz_host", "authz_user", "access_compat",
    "env", "setenvif", "headers", "rewrite", "status", "reqtimeout", "deflate", "filter",
    "expires", "remoteip", "socache_shmcb", "ssl", "http2", "proxy", "proxy_http",
    "proxy_wstunnel", "negotiation", "autoindex",
)

FENCE_RE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
NOT_CONFIG_RE = re.compile(r"^\s*<!--\s*not-config\b")
LOADMODULE_RE = re.compile(r"^\s*LoadModule\s+(\w+)_module\s+(\S+)", re.I)
CONF_LINE_RE = re.compile(r"on line (\d+) of (\S+?):?\s")

# directive (lower case) -> (index of the path argument, what to make there)
PATH_DIRECTIVES = {
    "documentroot": (0, "dir"),
    "aspnetcoreapproot": (0, "dir"),
    "aspnetcorestatedirectory": (0, None),
    "aspnetcorestateroot": (0, None),
    "aspnetcorewebconfig": (0, None),
    "alias": (1, "dir"),
    "sslcertificatefile": (0, "cert"),
    "sslcertificatekeyfile": (0, "key"),
    "errorlog": (0, "parent"),
    "customlog": (0, "parent"),
}
DEBIAN_ENVVARS = (("APACHE_LOG_DIR", "log"), ("APACHE_RUN_DIR", "run"), ("APACHE_LOCK_DIR", "lock"))
SECTION_PATH_RE = re.compile(r"^(\s*<Directory\s+)(\"?)(/[^\">\s]*)(\"?\s*>)", re.I)


def doc_files():
    files = [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
    return [f for f in files if os.path.isfile(f)]


def apache_blocks(path):
    """[(first line number of the block's content, text)] of the ```apache blocks of a
    Markdown file, and the number skipped as <!-- not-config -->."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    blocks, skipped = [], 0
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent, lang = m.group("fence"), len(m.group("indent")), m.group("lang").lower()
        start = i + 1
        j = start
        # a closing fence: the fence's characters only, at least as many (CommonMark)
        close = re.compile(r"^\s*%s%s*\s*$" % (re.escape(fence), re.escape(fence[0])))
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        if lang == "apache":
            prev = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            if NOT_CONFIG_RE.match(prev):
                skipped += 1
            else:
                body = [l[indent:] if l[:indent].strip() == "" else l for l in lines[start:j]]
                blocks.append((start + 1, "\n".join(body)))
        i = j + 1
    return blocks, skipped


def _split_words(line):
    """The words of a directive line as Apache splits them (quotes group)."""
    return re.findall(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|\S+', line)


def trailing_comment(line):
    """True when a `#` starts a word after a directive (outside quotes)."""
    if not line.strip() or line.lstrip().startswith("#"):
        return False
    return any(w.startswith("#") for w in _split_words(line)[1:])


class PathRoot:
    """Moves the paths a block names, that do not exist here, under a temp root."""

    def __init__(self, root):
        self.root = root

    def _tls_file(self, kind):
        snakeoil = {"cert": "/etc/ssl/certs/ssl-cert-snakeoil.pem",
                    "key": "/etc/ssl/private/ssl-cert-snakeoil.key"}[kind]
        if os.path.isfile(snakeoil):
            return snakeoil
        import tlsutil
        mat = tlsutil.tls_material()
        return mat.server_cert if kind == "cert" else mat.server_key

    def move(self, path, kind):
        if os.path.exists(path):
            return path
        moved = os.path.join(self.root, path.lstrip("/"))
        if kind == "dir":
            os.makedirs(moved, exist_ok=True)
        elif kind == "parent":      # Apache checks a log's directory at configtest
            os.makedirs(os.path.dirname(moved), exist_ok=True)
        elif kind in ("cert", "key"):
            os.makedirs(os.path.dirname(moved), exist_ok=True)
            if not os.path.exists(moved):
                shutil.copy(self._tls_file(kind), moved)
        return moved

    def rewrite_line(self, line):
        m = SECTION_PATH_RE.match(line)
        if m:
            return m.group(1) + m.group(2) + self.move(m.group(3), "dir") + m.group(4) + line[m.end():]
        words = _split_words(line)
        if not words or words[0].lower() not in PATH_DIRECTIVES:
            return line
        index, kind = PATH_DIRECTIVES[words[0].lower()]
        if len(words) <= index + 1:
            return line
        arg = words[index + 1]
        bare = arg.strip("\"'")
        if not bare.startswith("/"):
            return line
        new = self.move(bare, kind)
        if new == bare:
            return line
        return line.replace(arg, arg.replace(bare, new), 1)


def wrap_block(text, root):
    """(config body, modules the wrapper loads) for one block."""
    paths = PathRoot(root)
    # what Debian's /etc/apache2/envvars gives apache2ctl (${APACHE_LOG_DIR} in a site)
    out = []
    for name, value in DEBIAN_ENVVARS:
        os.makedirs(os.path.join(root, "envvars", value), exist_ok=True)
        out.append('Define %s "%s"' % (name, os.path.join(root, "envvars", value)))
    own_modules = set()
    for line in text.splitlines():
        m = LOADMODULE_RE.match(line)
        if m:
            own_modules.add(m.group(1))
            if m.group(1) == "aspnetcore":
                line = line.replace(m.group(2), httpd.module_so_path(), 1)
        out.append(paths.rewrite_line(line))
    modules = [m for m in STANDARD_MODULES
               if m not in own_modules and os.path.isfile(os.path.join(httpd.MODULES_DIR, "mod_%s.so" % m))]
    return "\n".join(out), modules, "aspnetcore" not in own_modules


def _doc_line(msg, conf_text, conf_path, first_line):
    """Apache's 'on line N of <conf>' as the line of the Markdown file."""
    body_at = conf_text.splitlines().index("# ---- test body ----") + 2 + len(DEBIAN_ENVVARS)
    m = CONF_LINE_RE.search(msg)
    if m and m.group(2).rstrip(":") == conf_path:
        n = int(m.group(1))
        if n >= body_at:
            return first_line + n - body_at
    return None


def check_block(srv, n, rel, first_line, text):
    """[problem strings] of one block, checked in srv's configuration."""
    problems = []
    for k, line in enumerate(text.splitlines()):
        if trailing_comment(line):
            problems.append("%s:%d: a `#` comment after a directive (Apache 2.4 has no trailing "
                            "comments; put it on its own line above):\n    %s"
                            % (rel, first_line + k, line.strip()))
    body, modules, load_ours = wrap_block(text, os.path.join(srv.dir, "root-%d" % n))
    srv.modules = list(httpd.DEFAULT_MODULES) + [m for m in modules if m not in httpd.DEFAULT_MODULES]
    srv.aspnetcore = load_ours
    if not load_ours:
        # the block loads the module itself: keep the rig's test-only state root anyway
        body += '\nAspNetCoreStateRoot "%s"' % srv.state_root
    srv.write_conf(body)
    rc, out = srv.apache2("-t")
    extra = [l for l in out.splitlines() if l.strip() and l.strip() != "Syntax OK"]
    if rc != 0 or extra:
        conf_copy = srv.conf_path + ".%d" % n
        shutil.copy(srv.conf_path, conf_copy)
        where = _doc_line(out, srv.conf(), srv.conf_path, first_line)
        problems.append("%s: the ```apache block at line %d%s: apache2 -t exited %d:\n    %s\n"
                        "  (the configuration checked: %s)" % (
                            rel, first_line, " (its line %d)" % where if where else "", rc,
                            "\n    ".join(extra or out.splitlines()), conf_copy))
    return problems


@pytest.mark.mpms("event")
def test_docs_apache_blocks_pass_configtest(apache):
    """Every ```apache block of README.md and docs/*.md passes apache2 -t alone, with nothing
    printed but "Syntax OK", and has no `#` comment after a directive."""
    problems, checked, skipped, per_file = [], 0, 0, {}
    srv = apache.new("", log_level="warn")
    for path in doc_files():
        rel = os.path.relpath(path, REPO)
        blocks, n_skipped = apache_blocks(path)
        skipped += n_skipped
        per_file[rel] = len(blocks)
        for first_line, text in blocks:
            checked += 1
            problems += check_block(srv, checked, rel, first_line, text)
    print("checked %d ```apache blocks (%d marked not-config): %s" % (
        checked, skipped, ", ".join("%s %d" % kv for kv in per_file.items() if kv[1])))
    # the extraction found the blocks (a broken fence regex would pass everything)
    assert per_file.get("README.md", 0) >= 1 and per_file.get(os.path.join("docs", "configuration.md"), 0) >= 5, \
        "too few ```apache blocks found: %s" % per_file
    assert not problems, "%d problems in %d ```apache blocks:\n%s" % (
        len(problems), checked, "\n".join(problems))


def test_block_extraction_and_trailing_comments(tmp_path):
    """The extraction (indented blocks, other fences, not-config) and the comment check."""
    md = tmp_path / "x.md"
    md.write_text("intro\n\n```apache\nA 1\n```\n\n```sh\n```apache inside sh is no fence\n```\n\n"
                  "<!-- not-config: an error shown -->\n```apache\nBad\n```\n\n"
                  "* item\n\n  ```apache\n  B 2\n  ```\n")
    blocks, skipped = apache_blocks(str(md))
    assert blocks == [(4, "A 1"), (19, "B 2")] and skipped == 1, blocks
    assert trailing_comment("AllowEncodedSlashes NoDecode   # hand %2F to the app")
    assert trailing_comment("    AspNetCore Off # static")
    assert not trailing_comment("    # a comment line")
    assert not trailing_comment('Header set X-A "a #b"')
    assert not trailing_comment("LogFormat \"%h #\" x")


def test_paths_moved_under_the_temp_root(tmp_path):
    """Missing paths are moved (and made) under the temp root; existing ones are kept."""
    root = str(tmp_path / "root")
    body, modules, ours = wrap_block(
        "<Directory /srv/shop/wwwroot>\n</Directory>\nDocumentRoot \"/srv/shop\"\n"
        "AspNetCoreStateDirectory /var/lib/shop\nAlias /static /srv/shop/static\n"
        "ErrorLog /var/log/shop/error.log\nSSLCertificateFile /no/such/cert.pem\n"
        "AspNetCoreAppRoot /tmp\nLoadModule aspnetcore_module /usr/lib/apache2/modules/mod_aspnetcore.so\n"
        "<Location /shop>\n</Location>", root)
    lines = body.splitlines()
    assert "<Directory %s/srv/shop/wwwroot>" % root in lines and os.path.isdir(root + "/srv/shop/wwwroot")
    assert 'DocumentRoot "%s/srv/shop"' % root in lines
    assert "AspNetCoreStateDirectory %s/var/lib/shop" % root in lines and not os.path.exists(root + "/var/lib/shop")
    assert "Alias /static %s/srv/shop/static" % root in lines and os.path.isdir(root + "/srv/shop/static")
    assert os.path.isdir(root + "/var/log/shop") and "ErrorLog %s/var/log/shop/error.log" % root in lines
    assert os.path.getsize(root + "/no/such/cert.pem") > 0
    assert "AspNetCoreAppRoot /tmp" in lines and "<Location /shop>" in lines
    assert "LoadModule aspnetcore_module %s" % httpd.module_so_path() in lines and not ours
    assert "ssl" in modules

