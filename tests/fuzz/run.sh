#!/usr/bin/env bash
# Fuzzes the web.config importer with libFuzzer for a bounded time.
#
#   tests/fuzz/run.sh [seconds]     (default 20)
#
# Builds tests/fuzz/fuzz_webconfig.c with the importer's sources (not the
# libtool library: they must be instrumented) into build/fuzz/, seeds it with
# the unit tests' web.config samples, and runs it. The corpus it grows stays
# in build/fuzz/corpus for the next run; a finding is saved under
# build/fuzz/artifacts/ and makes this script fail. Needs clang with
# libFuzzer (Debian 12: clang + libclang-rt-14-dev, see tools/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-20}"
case "$seconds" in
  ''|*[!0-9]*) echo "usage: $0 [seconds]" >&2; exit 2 ;;
esac
cc="${FUZZ_CC:-clang}"
out=build/fuzz
bin="$out/fuzz_webconfig"
log="$out/last-run.log"

command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (tools/deps.sh installs it)" >&2; exit 1; }
mkdir -p "$out/corpus" "$out/artifacts"

# shellcheck disable=SC2046  # pkg-config output is a list of words
"$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Wall -Wextra -Werror -Imodules $(pkg-config --cflags apr-1 apr-util-1 libxml-2.0) \
  tests/fuzz/fuzz_webconfig.c modules/ac_parse.c modules/ac_webconfig.c \
  $(pkg-config --libs apr-1 apr-util-1 libxml-2.0) -o "$bin"

# The first directory receives new inputs; the samples only seed it. -max_len
# keeps inputs web.config-sized (the 1 MiB limit is a unit test).
rc=0
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -dict=tests/fuzz/webconfig.dict -artifact_prefix="$out/artifacts/" \
    -print_final_stats=1 "$out/corpus" tests/unit/data >"$log" 2>&1 || rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
corpus=$(find "$out/corpus" -type f | wc -l)
if [ "$rc" -ne 0 ] || grep -qE '^(==[0-9]+==ERROR|SUMMARY: |.*runtime error:)' "$log"; then
  tail -n 60 "$log" >&2
  echo "fuzz: FINDING after ${execs:-?} execs (exit $rc); input saved in $out/artifacts/, log in $log" >&2
  exit 1
fi
echo "fuzz: ${execs:-?} execs in ${seconds} s (${rate:-?}/s), corpus ${corpus} inputs, no findings"
