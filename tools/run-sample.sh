#!/usr/bin/env bash
# Builds everything and runs a private Apache on http://127.0.0.1:8080 (PORT=...
# to change) that serves the bundled ASP.NET Core sample (samples/HelloApp)
# through mod_aspnetcore, in the foreground until Ctrl-C. Leaves nothing behind:
# its config, logs and the app copy live in a temp dir removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
port="${PORT:-8080}"

tools/deps.sh
tools/build.sh
command -v dotnet >/dev/null || { echo "run-sample: the .NET SDK (dotnet) is needed" >&2; exit 1; }
tools/build-sample.sh >/dev/null

tmp=$(mktemp -d /tmp/mod_aspnetcore-sample.XXXXXX)
chmod 755 "$tmp"
cleanup() {
  # The supervisor stops the app when Apache exits; wait for that (bounded)
  # before removing the directory the app runs in.
  for _ in $(seq 1 150); do
    busy=""
    for cwd in /proc/[0-9]*/cwd; do
      [ "$(readlink "$cwd" 2>/dev/null)" = "$tmp/app" ] && busy=1 && break
    done
    [ -z "$busy" ] && break
    sleep 0.1
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# A copy of the published app, so that Apache's User can read it wherever the
# checkout lives.
cp -r build/sample/HelloApp "$tmp/app"
chmod -R a+rX "$tmp/app"

user_lines=""
if [ "$(id -u)" -eq 0 ]; then
  user_lines=$'User www-data\nGroup www-data'
fi
cat > "$tmp/httpd.conf" <<CONF
ServerRoot "$tmp"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$tmp/httpd.pid"
DefaultRuntimeDir "$tmp"
ErrorLog /dev/stderr
LogLevel notice aspnetcore:info
$user_lines
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule aspnetcore_module "$repo/.libs/mod_aspnetcore.so"
# a throwaway server: the app's state directory (its HOME, its keys) goes with it
AspNetCoreStateRoot "$tmp/state"

# ASP.NET Core routes may contain %2F: hand the URI to the app undecoded.
AllowEncodedSlashes NoDecode
DocumentRoot "$tmp/app"
<Directory "$tmp/app">
    Require all granted
</Directory>

AspNetCoreProcessPath dotnet
AspNetCoreArguments HelloApp.dll
AspNetCoreAppRoot "$tmp/app"
AspNetCoreEnvironmentVariable ASPNETCORE_ENVIRONMENT Production
CONF

echo "Serving samples/HelloApp through Apache + mod_aspnetcore on http://127.0.0.1:$port/ (Ctrl-C stops)"
/usr/sbin/apache2 -d "$tmp" -f "$tmp/httpd.conf" -DFOREGROUND || true
