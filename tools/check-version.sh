#!/usr/bin/env bash
# The version lives in configure.ac (AC_INIT); debian/changelog and CHANGELOG.md must
# follow it. Fails, saying which disagrees, when:
#   * the newest entries of debian/changelog and CHANGELOG.md are not AC_INIT's version
#     (a native package: the Debian version is the version itself, no "-1" revision);
#   * the two changelogs do not list the same versions in the same order.
# Run by tools/test.sh (well under a second).
set -euo pipefail
cd "$(dirname "$0")/.."

ac=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' configure.ac)
[ -n "$ac" ] || { echo "check-version: no version in configure.ac's AC_INIT" >&2; exit 1; }
# "libapache2-mod-aspnetcore (0.2.0) unstable; urgency=medium"
deb_versions=$(sed -n 's/^[a-z0-9][a-z0-9.+-]* (\([^)]*\)) .*/\1/p' debian/changelog)
# "## 0.2.0 — 2026-12-02"
md_versions=$(sed -n 's/^## \([0-9][^ ]*\).*/\1/p' CHANGELOG.md)

failed=0
deb_top=$(head -n 1 <<<"$deb_versions")
md_top=$(head -n 1 <<<"$md_versions")
if [ "$deb_top" != "$ac" ]; then
  echo "check-version: debian/changelog's newest entry is '$deb_top', configure.ac says '$ac'" >&2
  failed=1
fi
if [ "$md_top" != "$ac" ]; then
  echo "check-version: CHANGELOG.md's newest entry is '$md_top', configure.ac says '$ac'" >&2
  failed=1
fi
if [ "$deb_versions" != "$md_versions" ]; then
  echo "check-version: debian/changelog and CHANGELOG.md list different versions:" >&2
  diff <(echo "$deb_versions") <(echo "$md_versions") | sed 's/^/  /' >&2 || true
  failed=1
fi
[ "$failed" -eq 0 ] || exit 1
echo "version $ac: configure.ac, debian/changelog and CHANGELOG.md agree"
