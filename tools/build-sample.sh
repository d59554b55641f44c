#!/bin/sh
# build-sample.sh [--app NAME] [OUTDIR] - publish samples/NAME (Release) into OUTDIR.
#
# NAME is HelloApp (the default: the README's sample) or RealApp (the real-app
# conformance sample of the tests). OUTDIR defaults to <repo>/build/sample/HelloApp
# or <repo>/build/realapp/RealApp. Intermediate files (obj/, bin/) go to
# <repo>/build/sample/artifacts or <repo>/build/realapp/artifacts, never into samples/. The sample
# uses only the shared framework, so no NuGet source is needed (its NuGet.config
# clears them). Nothing is rebuilt when OUTDIR is newer than every source file
# and was built with the same version; set FORCE=1 to rebuild anyway. The
# output is made readable by everyone so that Apache's user (www-data) can run it.
#
# SAMPLE_VERSION (default 1.0.0) is the app's version and informational version
# (what its /version endpoint answers). The deploy tests publish a second copy:
#     SAMPLE_VERSION=2.0.0 tools/build-sample.sh build/sample-v2/HelloApp
# It shares the artifacts (restore and obj) with the first: only the compile and
# the publish copy run again.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
app=HelloApp
if [ "${1:-}" = --app ]; then
    [ $# -ge 2 ] || { echo "build-sample.sh: --app needs a name" >&2; exit 1; }
    app=$2
    shift 2
fi
case $app in
    HelloApp) build_base="$repo/build/sample" ;;
    RealApp) build_base="$repo/build/realapp" ;;
    *) echo "build-sample.sh: unknown app '$app' (HelloApp or RealApp)" >&2; exit 1 ;;
esac
project_dir="$repo/samples/$app"
project="$project_dir/$app.csproj"
outdir=${1:-"$build_base/$app"}
artifacts="$build_base/artifacts"
stamp="$outdir/.build-sample.stamp"
version=${SAMPLE_VERSION:-1.0.0}
case $version in
    ''|*[!0-9A-Za-z.+-]*) echo "build-sample.sh: bad SAMPLE_VERSION '$version'" >&2; exit 1 ;;
esac

die() { echo "build-sample.sh: $*" >&2; exit 1; }

[ -f "$project" ] || die "project not found: $project"
command -v dotnet >/dev/null 2>&1 ||
    die "'dotnet' not found in PATH: install the .NET SDK 10 (https://dot.net) to build the sample"

# Up to date? (the stamp is written after a successful publish)
if [ "${FORCE:-0}" != 1 ] && [ -f "$stamp" ] && [ -f "$outdir/$app.dll" ] &&
   [ "$(cat "$stamp")" = "version $version" ]; then
    newer=$(find "$project_dir" "$0" \( -name bin -o -name obj \) -prune -o \
                 -type f -newer "$stamp" -print | head -n 1)
    if [ -z "$newer" ]; then
        echo "build-sample.sh: $outdir is up to date"
        exit 0
    fi
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE=1 DOTNET_GENERATE_ASPNET_CERTIFICATE=false
export MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_USE_MSBUILD_SERVER=0

# dotnet wants a writable home for its first-run files and NuGet's cache.
if [ -z "${HOME:-}" ] || [ ! -w "$HOME" ]; then
    export DOTNET_CLI_HOME="$build_base/dotnet-home"
    export NUGET_PACKAGES="$DOTNET_CLI_HOME/.nuget/packages"
    mkdir -p "$DOTNET_CLI_HOME"
fi

mkdir -p "$outdir" "$artifacts"
rm -f "$stamp"
# The version is no input of the restore: when it has been done (by a build of
# another version, say), do not let the version change make it run again.
restore=
if [ -f "$artifacts/obj/$app/project.assets.json" ] &&
   [ -z "$(find "$project_dir" -maxdepth 1 -name '*.csproj' -newer "$artifacts/obj/$app/project.assets.json")" ]; then
    restore=--no-restore
fi
echo "build-sample.sh: publishing $app $version to $outdir"
dotnet publish "$project" -c Release -o "$outdir" --artifacts-path "$artifacts" $restore \
    -nologo -v:quiet -clp:NoSummary -p:UseSharedCompilation=false \
    -p:Version="$version" -p:InformationalVersion="$version" \
    -p:IncludeSourceRevisionInInformationalVersion=false ||
    die "dotnet publish failed"

chmod -R a+rX "$outdir"
echo "version $version" >"$stamp"
echo "build-sample.sh: done; run it with: dotnet $outdir/$app.dll"
