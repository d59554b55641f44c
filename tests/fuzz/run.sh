#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ and runs each for a bounded time.
#
#   tests/fuzz/run.sh [seconds-per-target] [target...]
#
# seconds: per target, default $FUZZ_SECONDS or 12. Targets (default: all):
#   webconfig    the web.config importer              (ac_webconfig.c, ac_parse.c)
#   http1_head   the response-head parser             (ac_http1.c)
#   chunked      the chunked decoder, fed in pieces   (ac_http1.c)
#   parse        every value parser                   (ac_parse.c)
#   launch       the launch-settings deserializer     (ac_launch.c, ac_health.c, ac_recycle.c)
#   channel      request datagrams, control frames, the CONFIG payload
#                                                     (ac_channel.c, ac_launch.c)
#   pem          a PEM certificate as one line of base64 DER (ac_pem.c)
# Each target is tests/fuzz/fuzz_<target>.c built with the sources it tests
# (not the libtool library: they must be instrumented) into build/fuzz/, and
# starts from its committed seeds (tests/fuzz/<target>/) and dictionary
# (tests/fuzz/<target>.dict, if any). The corpus it grows stays in
# build/fuzz/corpus/<target>/ for the next run (not committed). A finding
# (crash, sanitizer report, leak, timeout, broken invariant) is saved as
# build/fuzz/artifacts/<target>-crash-* (or -leak-, -timeout-, -oom-); the
# script goes on with the other targets, then fails naming every artifact.
# Replay one: build/fuzz/fuzz_<target> build/fuzz/artifacts/<file>.
# Needs clang with libFuzzer (Debian 12: clang + libclang-rt-14-dev, see
# tools/deps.sh). One fuzzing process at a time (-jobs is not used).
set -euo pipefail
cd "$(dirname "$0")/../.."

all_targets="webconfig http1_head chunked parse launch channel pem"
seconds="${1:-${FUZZ_SECONDS:-12}}"
case "$seconds" in
  ''|*[!0-9]*|0) echo "usage: $0 [seconds-per-target] [target...]" >&2; exit 2 ;;
esac
[ $# -gt 0 ] && shift
targets="${*:-$all_targets}"
cc="${FUZZ_CC:-clang}"
out=build/fuzz

# What each target links, and the longest input it is given.
sources() {
  case "$1" in
    webconfig)  echo "modules/ac_parse.c modules/ac_webconfig.c" ;;
    http1_head|chunked) echo "modules/ac_http1.c" ;;
    parse)      echo "modules/ac_parse.c" ;;
    launch)     echo "modules/ac_launch.c modules/ac_health.c modules/ac_recycle.c modules/ac_parse.c modules/ac_event.c modules/ac_http1.c" ;;
    channel)    echo "modules/ac_channel.c modules/ac_ownerrules.c modules/ac_sockio.c modules/ac_launch.c modules/ac_health.c modules/ac_recycle.c modules/ac_parse.c modules/ac_event.c modules/ac_http1.c" ;;
    pem)        echo "modules/ac_pem.c" ;;
    *) return 1 ;;
  esac
}
max_len() {
  case "$1" in
    webconfig) echo 16384 ;;     # web.config-sized (the 1 MiB limit is a unit test)
    chunked)   echo 12288 ;;     # room for a size line past AC_CHUNKED_MAX_LINE
    *)         echo 8192 ;;
  esac
}
seeds() {
  case "$1" in
    webconfig) echo "tests/fuzz/webconfig tests/unit/data" ;;
    *)         echo "tests/fuzz/$1" ;;
  esac
}

for t in $targets; do
  sources "$t" >/dev/null || { echo "fuzz: unknown target '$t' (known: $all_targets)" >&2; exit 2; }
done
command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (tools/deps.sh installs it)" >&2; exit 1; }
mkdir -p "$out/artifacts"

for t in $targets; do
  # shellcheck disable=SC2046  # pkg-config output and source lists are lists of words
  "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -Imodules $(pkg-config --cflags apr-1 apr-util-1 libxml-2.0) \
    "tests/fuzz/fuzz_$t.c" $(sources "$t") \
    $(pkg-config --libs apr-1 apr-util-1 libxml-2.0) -o "$out/fuzz_$t"
done

findings=()
for t in $targets; do
  bin="$out/fuzz_$t" log="$out/$t.log" corpus="$out/corpus/$t"
  mkdir -p "$corpus"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  rc=0
  # The first directory receives new inputs; the seeds only start it.
  # shellcheck disable=SC2046
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
      "${dict[@]}" -artifact_prefix="$out/artifacts/$t-" -print_final_stats=1 \
      "$corpus" $(seeds "$t") >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
  inputs=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -ne 0 ] || grep -qE '^(==[0-9]+==ERROR|SUMMARY: |.*runtime error:)' "$log"; then
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    grep -E "FINDING|==ERROR|runtime error|SUMMARY" "$log" | head -n 5 >&2
    echo "fuzz: $t: FINDING after ${execs:-?} execs (exit $rc): ${artifact:-no artifact written}; log $log" >&2
    findings+=("$t: ${artifact:-see $log}")
  else
    echo "fuzz: $t: ${execs:-?} execs in ${seconds} s (${rate:-?}/s), ${cov:-cov ?}, corpus ${inputs} inputs, no findings"
  fi
done

if [ ${#findings[@]} -gt 0 ]; then
  echo "fuzz: ${#findings[@]} target(s) with findings:" >&2
  printf '  %s\n' "${findings[@]}" >&2
  exit 1
fi
