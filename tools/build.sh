#!/usr/bin/env bash
# Builds mod_aspnetcore (.libs/mod_aspnetcore.so) from a fresh checkout or an
# existing build tree. Warnings are errors here (autogen.sh --werror, configure
# --enable-werror); a tree configured without --enable-werror is configured again.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x configure ] && [ configure -nt configure.ac ] || ./autogen.sh --werror >/dev/null
if [ ! -f Makefile ] || ! grep -q -- '--enable-werror' <<<"$(./config.status --config)"; then
  ./configure --quiet --enable-werror
fi
make -j"$(nproc)" >/dev/null
echo "built $(pwd)/.libs/mod_aspnetcore.so"
