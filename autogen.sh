#!/bin/sh
# Generates ./configure from configure.ac (needs autoconf, automake, libtool, pkg-config).
# --werror: autoconf's and automake's warnings are errors (tools/build.sh, for
# development); without it they are shown only (debian/rules: a newer automake's new
# warning must not fail a distribution's build).
set -e
cd "$(dirname "$0")"
mkdir -p m4
if [ "${1:-}" = "--werror" ]; then
  exec autoreconf --force --install -W all,error
fi
exec autoreconf --force --install
