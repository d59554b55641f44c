#!/usr/bin/env bash
# The whole test suite: the version check (configure.ac, debian/changelog,
# CHANGELOG.md), C unit tests (Check, then again under valgrind
# memcheck), a short libFuzzer run of each target in tests/fuzz/, the Debian
# package (tools/package-test.sh: built, lintian, installed on this machine's
# Apache, purged; the only step that touches the system), then the
# integration tests (pytest: a real Apache on 127.0.0.1 with the built module,
# against the stand-in backend and the real ASP.NET Core samples) under the
# three MPMs in one pytest run - everything under event, and under worker and
# prefork the files marked every_mpm (request path, forwarding, tunnels; and
# under prefork the supervision, status, fault and client-abort files too) -
# and once more under event against the AddressSanitizer + UBSan build of the
# module (build/asan/), with the stand-in for the tests that take either
# backend. ASPNETCORE_TEST_NARROW_MPMS= (empty) runs every test under every MPM.
# Exits non-zero when anything failed; the last line sums both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh

echo "== version: configure.ac, debian/changelog, CHANGELOG.md"
tools/check-version.sh

echo "== unit tests (Check)"
if ! make check >/dev/null 2>&1; then
  cat tests/unit/check_core.log 2>/dev/null || true
  echo "unit tests failed" >&2
  exit 1
fi
grep -E '^[0-9]+%: Checks' tests/unit/check_core.log

if command -v dotnet >/dev/null; then
  echo "== building the sample ASP.NET Core apps (HelloApp, RealApp)"
  tools/build-sample.sh
  tools/build-sample.sh --app RealApp
else
  echo "!! dotnet is not installed: the real ASP.NET Core app tests will be SKIPPED" >&2
fi

# The binary and source packages, lintian, and the autopkgtest on this machine's Apache
# (the only step that touches the system: tools/package-test.sh says how it puts it back).
# It runs in the background while valgrind and the fuzzers (one core each, at most)
# run, and is waited for before the soak; its output is shown then. 77: the install
# test was skipped, and it says why.
echo "== Debian package (tools/package-test.sh), in the background until the soak"
mkdir -p build
tools/package-test.sh >build/package-test.out 2>&1 &
package_pid=$!
# a step failing meanwhile ends this script: the package test still finishes (and puts
# the machine back) before it exits
trap '[ -z "$package_pid" ] || wait "$package_pid" 2>/dev/null || true' EXIT
package_wait() {
  local rc=0
  wait "$package_pid" || rc=$?
  package_pid=
  echo "== Debian package (tools/package-test.sh): its output"
  cat build/package-test.out
  case $rc in
    0) ;;
    77) echo "!! the Debian package's install test was SKIPPED (the reason is above)" >&2 ;;
    *) echo "Debian package test failed" >&2; exit 1 ;;
  esac
}

echo "== unit tests under valgrind memcheck"
mkdir -p build
if ! make check-valgrind >build/check-valgrind.log 2>&1; then
  tail -n 100 build/check-valgrind.log
  echo "unit tests under valgrind failed (whole log: build/check-valgrind.log)" >&2
  exit 1
fi
grep -E '^[0-9]+%: Checks' build/check-valgrind.log

echo "== fuzzing the parsers and deserializers (12 s per target)"
tests/fuzz/run.sh 12

package_wait

echo "== soak, short (20,000 mixed requests, app kills, gracefuls; make soak runs 200,000)"
if ! /usr/bin/python3 tests/soak/soak.py --requests 20000; then
  echo "soak failed (its temp dir is kept; see the figures above)" >&2
  exit 1
fi
echo "soak passed"

echo "== building the sanitizer variant of the module (build/asan)"
tools/build-sanitizers.sh

# Two pytest runs; both always run, and a failure in either fails this script.
# Each run's closing line is kept, and the last line of the output sums them.
summaries=()
failed=0
run_pytest() {   # title, log name, then env assignments for pytest
  local title="$1" log="build/pytest-$2.log" rc
  shift 2
  echo "== integration tests: $title"
  set +e
  env "$@" /usr/bin/python3 -m pytest tests/integration -q -rs -p no:cacheprovider --durations=40 "${pytest_args[@]}" \
    2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" -eq 0 ] || failed=1
  # pytest's closing line ends "in 12.34s" or "in 700.12s (0:11:40)"
  summaries+=("$title: $({ grep -E ' in [0-9.]+s( \([0-9:]+\))? *=*$' "$log" || echo "no summary"; } \
    | tail -n 1 | tr -d '=' | sed 's/^ *//; s/ *$//') (exit $rc)")
}
pytest_args=("$@")
run_pytest "three MPMs" mpms ASPNETCORE_TEST_MPMS="${ASPNETCORE_TEST_MPMS:-event,worker,prefork}" \
  ASPNETCORE_TEST_NARROW_MPMS="${ASPNETCORE_TEST_NARROW_MPMS-worker,prefork}"
# The same suite under one MPM against the ASan + UBSan build: any sanitizer report
# fails the test that caused it (the rig preloads libasan and sets MaxMemFree 1; see
# docs/development.md).
# The tests that take either backend run with the stand-in only here: the module's
# code paths are the same, and the real app's start-up costs time, not coverage
# (the tests written for the real apps still run with them).
run_pytest "sanitizer build, event" sanitizers ASPNETCORE_TEST_MPMS=event \
  ASPNETCORE_TEST_BACKENDS="${ASPNETCORE_TEST_BACKENDS:-standin}" \
  ASPNETCORE_MODULE_SO="$(pwd)/build/asan/src/.libs/mod_aspnetcore.so"

echo "== integration summary"
printf '%s\n' "${summaries[@]}"
# the counts of both runs summed, in pytest's words and order, as the last line
printf '%s\n' "${summaries[@]}" | sed 's/^[^:]*: //; s/ in [0-9.]*s.*//' \
  | grep -oE '[0-9]+ [a-z]+' | awk '
    { k = $2; sub(/s$/, "", k); n[k] += $1 }   # "2 errors" and "1 error" alike
    END {
      if (!("passed" in n)) n["passed"] = 0
      if (!("failed" in n)) n["failed"] = 0
      split("passed failed skipped deselected xfailed xpassed warning error", order, " ")
      line = ""
      for (i = 1; i <= 8; i++) {
        k = order[i]
        if (!(k in n)) continue
        w = k; if ((k == "warning" || k == "error") && n[k] != 1) w = k "s"
        line = line (line == "" ? "" : ", ") n[k] " " w
      }
      print "integration: " line
    }'
exit "$failed"
