#!/usr/bin/env bash
# Builds the AddressSanitizer + UndefinedBehaviorSanitizer variant of the
# module (./configure --enable-sanitizers) into build/asan/, next to the normal
# in-tree build that tools/build.sh makes. Prints the path of the module.
#
# Automake refuses a second, out-of-tree configure of a source dir that is
# configured in place, so the sources (tracked and not-ignored files, with
# their timestamps, so that make rebuilds only what changed) are mirrored into
# build/asan/src and configured there.
#
#   tools/build-sanitizers.sh   -> build/asan/src/.libs/mod_aspnetcore.so
set -euo pipefail
cd "$(dirname "$0")/.."
src=build/asan/src
mkdir -p "$src"

# the mirror: every source file (not build outputs), copied only when changed
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do
      [ -f "$f" ] || continue               # deleted in the work tree
      if ! cmp -s "$f" "$src/$f" 2>/dev/null; then
        mkdir -p "$src/$(dirname "$f")"
        cp -p "$f" "$src/$f"
      fi
    done

cd "$src"
[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] \
  || ./autogen.sh --werror >/dev/null
[ -f Makefile ] && [ config.status -nt configure ] \
  && grep -q -- '--enable-werror' <<<"$(./config.status --config)" \
  || ./configure --quiet --enable-sanitizers --enable-werror
make -j"$(nproc)" >/dev/null
echo "built $(pwd)/.libs/mod_aspnetcore.so"
