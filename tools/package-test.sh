#!/usr/bin/env bash
# The Debian package, built and tried for real:
#   1. the binary package (dpkg-buildpackage -b, DEB_BUILD_OPTIONS="nocheck parallel=2":
#      the unit tests have run before this in the test command), then the source package
#      (dpkg-buildpackage -S) from the same tree, whose tarball must hold no build product;
#   2. lintian -I --pedantic on both: any E: or W: tag fails;
#   3. the autopkgtest (debian/tests/serve-app, through `autopkgtest ... -- null`) against
#      the package installed on this machine: the system's Apache on port 80 serves a
#      published app, graceful keeps it, stop ends it, purge leaves nothing.
# Everything is built in a temp copy of the tree (tracked and not-ignored files, as
# tools/build-sanitizers.sh copies them): dpkg-buildpackage writes to the parent of the
# source tree, so nothing lands outside the temp dir and the working tree stays clean.
#
# THIS IS THE ONLY TEST THAT TOUCHES THE SYSTEM: it installs and purges
# libapache2-mod-aspnetcore, writes a site into /etc/apache2, and starts and stops the
# system's Apache on port 80 (apache2ctl, no systemd needed). It records the state first
# and puts it back: step 3 is skipped, saying why, when the package is already installed
# (its version could not be put back), when the system's Apache runs (pid file
# /run/apache2/apache2.pid) or port 80 is taken, or when dotnet or the published app
# ($ASPNETCORE_SAMPLE_DLL, default build/sample/HelloApp/HelloApp.dll) is missing. The
# modules and sites enabled before are enabled again, those added disabled, the Apache it
# started stopped by its pid, the package purged, and a policy-rc.d it added (so that the
# maintainer scripts do not start Apache on their own) removed.
#
# Apache's logs in /var/log/apache2 are cut back to their size before the test; what the
# test's Apache wrote there is kept in build/package/apache-*.log, with the other logs.
#
# Exit: 0 all passed; 77 the builds and lintian passed, step 3 skipped (the reason is
# printed); anything else a failure. Logs: build/package/ (kept).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
PKG=libapache2-mod-aspnetcore
PID_FILE=/run/apache2/apache2.pid
logs=$repo/build/package
mkdir -p "$logs"
rm -f "$logs"/*.log

secs() { echo $(( $(date +%s) - $1 )); }
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }

version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' configure.ac)
work=$(mktemp -d /tmp/aspnetcore-package-test.XXXXXX)
src=$work/$PKG-$version
restore_work() { rm -rf "$work"; }
trap restore_work EXIT

mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do
      [ -f "$f" ] || continue               # deleted in the work tree
      mkdir -p "$src/$(dirname "$f")"
      cp -p "$f" "$src/$f"
    done

# --- 1. the packages --------------------------------------------------------------------
t0=$(date +%s)
if ! (cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -b -us -uc) \
    >"$logs/build-binary.log" 2>&1; then
  tail -n 40 "$logs/build-binary.log" >&2
  fail "dpkg-buildpackage -b failed (whole log: build/package/build-binary.log)"
fi
t_bin=$(secs "$t0")
t0=$(date +%s)
if ! (cd "$src" && dpkg-buildpackage -S -us -uc) >"$logs/build-source.log" 2>&1; then
  tail -n 40 "$logs/build-source.log" >&2
  fail "dpkg-buildpackage -S failed (whole log: build/package/build-source.log)"
fi
t_src=$(secs "$t0")
deb=$work/${PKG}_${version}_$(dpkg --print-architecture).deb
tarball=$work/${PKG}_${version}.tar.xz
[ -f "$deb" ] || fail "no $deb"
[ -f "$tarball" ] || fail "no $tarball"
# the source tarball of a tree that was just built: no build product in it
products=$(tar -tf "$tarball" | grep -E '(^|/)(configure|Makefile\.in|Makefile|aclocal\.m4|config\.(h|log|status)|libtool|autom4te\.cache|build-aux|build|\.libs|\.git)(/|$)|\.(o|lo|la|so|log|trs)$|m4/l' || true)
[ -z "$products" ] || fail "build products in the source package: $(echo $products | head -c 300)"
echo "package-test: built $(basename "$deb") in ${t_bin}s, the source package in ${t_src}s"

# --- 2. lintian ---------------------------------------------------------------------------
t0=$(date +%s)
lintian -I --pedantic "$work"/${PKG}_${version}_*.changes "$work"/${PKG}_${version}_source.changes \
  >"$logs/lintian.log" 2>&1 || true
grep -v "running with root privileges is not recommended" "$logs/lintian.log" | sed 's/^/  /' || true
if grep -qE '^[EW]: ' "$logs/lintian.log"; then
  fail "lintian reports E: or W: tags (above; build/package/lintian.log)"
fi
echo "package-test: lintian -I --pedantic: no E: or W: tag ($(grep -cE '^[IP]: ' "$logs/lintian.log" || true) I:/P: tags) in $(secs "$t0")s"

# --- 3. the autopkgtest on this machine -------------------------------------------------
skip() { echo "package-test: SKIP the install test (debian/tests/serve-app): $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "not root"
command -v autopkgtest >/dev/null || skip "autopkgtest is not installed (tools/deps.sh installs it)"
command -v dotnet >/dev/null || skip "dotnet is not installed: no ASP.NET Core app can run"
app_dll=${ASPNETCORE_SAMPLE_DLL:-$repo/build/sample/HelloApp/HelloApp.dll}
[ -f "$app_dll" ] || skip "no published app at $app_dll (tools/build-sample.sh makes it)"
pkg_status=$(dpkg-query -W -f='${Status} ${Version}' $PKG 2>/dev/null || true)
case "$pkg_status" in
  *" installed "*|*config-files*) skip "$PKG is installed here ($pkg_status): the test would purge it" ;;
esac
if pid=$(cat "$PID_FILE" 2>/dev/null) && [[ "$pid" =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ]; then
  skip "the system's Apache runs (pid $pid in $PID_FILE): it is not taken over"
fi
if ss -Hltn 'sport = :80' | grep -q .; then
  skip "port 80 is in use: $(ss -Hltnp 'sport = :80' | head -n 1)"
fi

# the state to put back
mods_before=$(ls /etc/apache2/mods-enabled/ 2>/dev/null | sed -n 's/\.load$//p' | sort)
sites_before=$(ls /etc/apache2/sites-enabled/ 2>/dev/null | sed -n 's/\.conf$//p' | sort)
policy_added=""
# the directories apache2ctl and a2dissite make (removed again when they made them, and
# empty), and the sizes of Apache's logs (what the test's Apache appended is moved to
# build/package/ and the logs cut back to their size)
made_dirs=()
for d in /run/apache2/socks /run/apache2 /var/lock/apache2 /var/lib/apache2/site/disabled_by_admin; do [ -e "$d" ] || made_dirs+=("$d"); done
declare -A log_size
for f in /var/log/apache2/error.log /var/log/apache2/access.log /var/log/apache2/other_vhosts_access.log; do
  log_size[$f]=$(stat -c %s "$f" 2>/dev/null || echo absent)
done
restore() {
  local pid m
  if pid=$(cat "$PID_FILE" 2>/dev/null) && [[ "$pid" =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ]; then
    echo "package-test: stopping the Apache the test started (pid $pid)" >&2
    apache2ctl stop >/dev/null 2>&1 || true
    for ((i = 0; i < 300; i++)); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  fi
  rm -f /etc/apache2/sites-enabled/aspnetcore-autopkgtest.conf \
        /etc/apache2/sites-available/aspnetcore-autopkgtest.conf \
        /var/lib/apache2/site/*_by_admin/aspnetcore-autopkgtest
  if dpkg-query -W -f='${Status}' $PKG 2>/dev/null | grep -q "installed\|config-files"; then
    echo "package-test: purging $PKG (it was not installed before)" >&2
    dpkg --purge $PKG >/dev/null 2>&1 || true
  fi
  local mods_now sites_now
  mods_now=$(ls /etc/apache2/mods-enabled/ 2>/dev/null | sed -n 's/\.load$//p' | sort)
  sites_now=$(ls /etc/apache2/sites-enabled/ 2>/dev/null | sed -n 's/\.conf$//p' | sort)
  for m in $(comm -23 <(echo "$mods_before") <(echo "$mods_now")); do a2enmod -q "$m" >/dev/null || true; done
  for m in $(comm -13 <(echo "$mods_before") <(echo "$mods_now")); do a2dismod -q -f -p "$m" >/dev/null || true; done
  for m in $(comm -23 <(echo "$sites_before") <(echo "$sites_now")); do a2ensite -q "$m" >/dev/null || true; done
  for m in $(comm -13 <(echo "$sites_before") <(echo "$sites_now")); do a2dissite -q -p "$m" >/dev/null || true; done
  for m in "${made_dirs[@]}"; do rmdir "$m" 2>/dev/null || true; done
  local f size
  for f in "${!log_size[@]}"; do
    size=${log_size[$f]}
    [ -f "$f" ] || continue
    if [ "$size" = absent ]; then
      mv "$f" "$logs/apache-$(basename "$f")"
    elif [ "$(stat -c %s "$f")" -gt "$size" ]; then
      tail -c +"$((size + 1))" "$f" >"$logs/apache-$(basename "$f")"
      truncate -s "$size" "$f"
    fi
  done
  if [ -n "$policy_added" ]; then rm -f /usr/sbin/policy-rc.d; fi
  restore_work
}
trap restore EXIT
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# tools/package-test.sh: the maintainer scripts do not start Apache\nexit 101\n' \
    >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  policy_added=1
fi

t0=$(date +%s)
set +e
autopkgtest --no-built-binaries --env=ASPNETCORE_SAMPLE_DLL="$app_dll" \
  --output-dir "$work/autopkgtest" "$deb" "$src" -- null >"$logs/autopkgtest.log" 2>&1
rc=$?
set -e
t_apt=$(secs "$t0")
grep -E '^serve-app: |^serve-app +(PASS|FAIL|SKIP)' "$logs/autopkgtest.log" | awk '!seen[$0]++' \
  | sed 's/^/  /' || true
case $rc in
  0) echo "package-test: autopkgtest passed in ${t_apt}s" ;;
  2) skip "autopkgtest skipped the test (build/package/autopkgtest.log says why)" ;;
  *) tail -n 40 "$logs/autopkgtest.log" >&2
     fail "autopkgtest exited $rc (whole log: build/package/autopkgtest.log)" ;;
esac
