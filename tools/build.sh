#!/usr/bin/env bash
# Builds mod_aspnetcore (.libs/mod_aspnetcore.so) from a fresh checkout or an
# existing build tree.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x configure ] || ./autogen.sh >/dev/null
[ -f Makefile ] || ./configure --quiet
make -j"$(nproc)" >/dev/null
echo "built $(pwd)/.libs/mod_aspnetcore.so"
