#!/usr/bin/env bash
# The whole test suite: C unit tests (Check), a 20 s libFuzzer run on the
# web.config importer, then the integration tests
# (pytest: a real Apache on 127.0.0.1 with the built module, against the
# stand-in backend and the real ASP.NET Core sample) under the event, worker
# and prefork MPMs in one pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh

echo "== unit tests (Check)"
if ! make check >/dev/null 2>&1; then
  cat tests/unit/check_core.log 2>/dev/null || true
  echo "unit tests failed" >&2
  exit 1
fi
grep -E '^[0-9]+%: Checks' tests/unit/check_core.log

echo "== fuzzing the web.config importer (20 s)"
tests/fuzz/run.sh 20

if command -v dotnet >/dev/null; then
  echo "== building the sample ASP.NET Core app"
  tools/build-sample.sh
else
  echo "!! dotnet is not installed: the real ASP.NET Core app tests will be SKIPPED" >&2
fi

echo "== soak, short (20,000 mixed requests, app kills, gracefuls; make soak runs 200,000)"
if ! /usr/bin/python3 tests/soak/soak.py --requests 20000; then
  echo "soak failed (its temp dir is kept; see the figures above)" >&2
  exit 1
fi
echo "soak passed"

echo "== integration tests"
export ASPNETCORE_TEST_MPMS="${ASPNETCORE_TEST_MPMS:-event,worker,prefork}"
exec /usr/bin/python3 -m pytest tests/integration -q -p no:cacheprovider "$@"
