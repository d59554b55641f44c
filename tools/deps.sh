#!/usr/bin/env bash
# Installs the Debian packages that building and testing mod_aspnetcore need,
# when any is missing. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential autoconf automake libtool pkg-config
  apache2 apache2-dev libapr1-dev libaprutil1-dev libxml2-dev libcap-dev
  check python3 python3-pytest curl openssl
  valgrind
  clang
  nodejs
  # the Debian package: its build, lintian, hardening-check and the autopkgtest
  # (tools/package-test.sh)
  dpkg-dev debhelper fakeroot lintian devscripts autopkgtest
)
# The SignalR client tests run @microsoft/signalr under node; npm installs it. Debian
# ships npm as its own package; NodeSource's nodejs package carries npm inside.
command -v npm >/dev/null || packages+=(npm)

# clang's -fsanitize=fuzzer (tests/fuzz) links libFuzzer and the sanitizer
# runtimes from libclang-rt-<major>-dev, which clang only recommends (and we
# install without recommends): Debian 12's clang is 14.
clang_major() {
  if command -v clang >/dev/null; then
    clang -dumpversion | cut -d. -f1
    return
  fi
  apt-cache show --no-all-versions clang 2>/dev/null \
    | sed -n 's/^Depends:.*clang-\([0-9][0-9]*\).*/\1/p' | head -n 1 | grep . || echo 14
}
packages+=("libclang-rt-$(clang_major)-dev")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: run as root or install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# The apache2 package would start the system's Apache on port 80; we never use it.
policy_added=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod 755 /usr/sbin/policy-rc.d
  policy_added=1
fi
trap '[ -n "$policy_added" ] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
