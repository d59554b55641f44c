#!/usr/bin/env bash
# bench/run.sh - throughput and latency of mod_aspnetcore against mod_proxy_http
# and against the app on its own, in one run, on this machine.
#
# Setups (the same ASP.NET Core app, samples/HelloApp, in all three; each setup
# gets a freshly started app process and the same sequence of requests):
#   direct          wrk -> Kestrel (the app started by this script with the ANCM
#                   environment; wrk sends MS-ASPNETCORE-TOKEN itself)
#   mod_proxy_http  wrk -> Apache (mpm_event) + mod_proxy_http, pooled keep-alive
#                   backend connections -> the app started the same way
#   mod_aspnetcore  wrk -> Apache (same MPM settings) + mod_aspnetcore, which
#                   starts and supervises the app itself
#   apache_alone    wrk -> Apache (same MPM settings) answering the same requests
#                   itself, from a minimal handler (bench/floor/mod_bench_floor.c),
#                   no app: what Apache costs per request before any forwarding,
#                   which bounds what a forwarding module can reach on this machine
# Workloads, each with a warm-up run and then a measured run of wrk
# (-t2 -c32 keep-alive connections, --latency):
#   small_get  GET /pid                (a few bytes)
#   get_64k    GET /bytes?n=65536      (64 KiB body)
#   post_1m    POST /discard, 1 MiB body (the app reads and drops it, answers its length)
#
# Prints the tables (req/s, p50, p99; CPU time and context switches per request
# of Apache, the app and wrk) and the ratios, and writes them as markdown to
# bench/results/latest.md (BENCH_OUT=... for another file). See docs/performance.md.
# Exit status: 0; 2 when any run had non-2xx/3xx responses or socket errors, or
# Apache logged errors (the table is still written, with the problems listed).
#
# Environment knobs:
#   BENCH_SECONDS=10         length of each measured run
#   BENCH_WARMUP_SECONDS=5   length of each warm-up run (0: none)
#   BENCH_CONNECTIONS=32     wrk connections      BENCH_THREADS=2  wrk threads
#   BENCH_SETUPS="direct mod_proxy_http mod_aspnetcore apache_alone"   (a subset, in that order)
#   BENCH_WORKLOADS="small_get get_64k post_1m"           (a subset)
#   BENCH_OUT=bench/results/latest.md
#   BENCH_KEEP=1             keep the temp dir (configs, logs, raw wrk output)
#   BENCH_QUIET_WAIT=20      before each workload, wait up to this many seconds for
#                            the machine to be idle (other processes < 10% CPU)
#   BENCH_RETRIES=2          measure a run again (at most this often) when other
#                            processes took >= 10% of the CPU during it
#   BENCH_ROUNDS=1           run every setup this many times (each time with fresh
#                            processes; every other round in the reverse order); the
#                            tables show the median run, the req/s range and the
#                            range of the ratio within a round. Runs differ by
#                            +-10-15% here: use 5 or more to judge a change of less
#                            than 20%.
#   BENCH_PIN=1              diagnostic: Apache and the app on CPU 0, wrk on CPU 1
#                            (the default lets everything share every CPU)
#   BENCH_PROXY_EXTRA="..."  diagnostic: more configuration lines for the mod_proxy_http
#                            setup (e.g. "ProxyIOBufferSize 65536")
#   BENCH_PROFILE=1          diagnostic: also count the system calls of Apache and
#                            of the app per request with `perf stat` (costs some
#                            throughput; context switches are counted with perf
#                            whenever it works, else read from /proc)
#
# Needs root or sudo only to install missing Debian packages (wrk, apache2, ...)
# and the .NET SDK for the sample. Touches nothing outside a temp dir and
# BENCH_OUT: no /etc/apache2, no port 80, no system service; everything listens
# on 127.0.0.1 on free ports. Every process it starts is stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

secs=${BENCH_SECONDS:-10}
warm=${BENCH_WARMUP_SECONDS:-5}
conns=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-2}
setups=${BENCH_SETUPS:-"direct mod_proxy_http mod_aspnetcore apache_alone"}
workloads=${BENCH_WORKLOADS:-"small_get get_64k post_1m"}
out=${BENCH_OUT:-$repo/bench/results/latest.md}
quiet_wait=${BENCH_QUIET_WAIT:-20}
retries=${BENCH_RETRIES:-2}
rounds=${BENCH_ROUNDS:-1}
pin=${BENCH_PIN:-}
profile=${BENCH_PROFILE:-}
token="bench-pairing-token-5f0c2a9e"

# The MPM settings of both Apache setups: two children, each able to serve all
# 32 connections at once. (With 32 threads per child, an uneven split of the
# connections leaves a child without an idle worker; mpm_event then closes
# its keep-alive connections, which wrk counts as read errors, and logs AH10159.)
mpm_conf="StartServers 2
ServerLimit 2
ThreadLimit 64
ThreadsPerChild 64
MinSpareThreads 32
MaxSpareThreads 128
MaxRequestWorkers 128
MaxConnectionsPerChild 0"

say() { printf 'bench: [%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }

for v in secs warm conns threads quiet_wait retries rounds; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "not a number: $v=${!v}"
done
[ "$secs" -ge 1 ] || die "BENCH_SECONDS must be at least 1"
[ "$rounds" -ge 1 ] || die "BENCH_ROUNDS must be at least 1"
for s in $setups; do
  case $s in direct|mod_proxy_http|mod_aspnetcore|apache_alone) ;; *) die "unknown setup: $s" ;; esac
done
for w in $workloads; do
  case $w in small_get|get_64k|post_1m) ;; *) die "unknown workload: $w" ;; esac
done
if [ -n "$profile" ]; then
  command -v perf >/dev/null || die "BENCH_PROFILE needs perf (Debian package linux-perf)"
fi
server_cpu=()
client_cpu=()
if [ -n "$pin" ]; then
  [ "$(nproc)" -ge 2 ] || die "BENCH_PIN needs at least 2 CPUs"
  command -v taskset >/dev/null || die "BENCH_PIN needs taskset (util-linux)"
  server_cpu=(taskset -c 0)
  client_cpu=(taskset -c 1)
fi

# ---- dependencies and builds --------------------------------------------

ensure_wrk() {
  command -v wrk >/dev/null && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "wrk is missing: run as root or install the Debian package wrk"
    sudo="sudo"
  fi
  say "installing wrk"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk \
      >/dev/null
  command -v wrk >/dev/null || die "wrk still missing after apt-get install"
}

tools/deps.sh
ensure_wrk
command -v dotnet >/dev/null || die "the .NET SDK (dotnet) is needed for the sample app"
command -v python3 >/dev/null || die "python3 is needed"
command -v curl >/dev/null || die "curl is needed"
tools/build.sh >/dev/null
tools/build-sample.sh >/dev/null
[ -f "$repo/.libs/mod_aspnetcore.so" ] || die "no $repo/.libs/mod_aspnetcore.so after tools/build.sh"
[ -f "$repo/build/sample/HelloApp/HelloApp.dll" ] || die "no build/sample/HelloApp/HelloApp.dll"

# ---- temp dir, processes, cleanup -----------------------------------------

tmp=$(mktemp -d /tmp/mod_aspnetcore-bench.XXXXXX)
chmod 755 "$tmp"
backend_pid=""
httpd_pid=""

# alive PID: running (a zombie waiting for us to reap it is not)
alive() {
  local s
  [ -n "$1" ] && s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [ "${s:0:1}" != Z ]
}

# stop_pid PID SECONDS: SIGTERM, wait (bounded), then SIGKILL.
stop_pid() {
  local pid=$1 limit=$2 i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 10; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    say "pid $pid did not stop within ${limit}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# Processes whose working directory is the app copy: the app, however started.
app_pids() {
  local d
  for d in $(find /proc -mindepth 2 -maxdepth 2 -name cwd -lname "$tmp/app" 2>/dev/null); do
    d=${d#/proc/}
    echo "${d%/cwd}"
  done
  return 0
}

# After an Apache with mod_aspnetcore stopped, its supervisor stops the app:
# wait for that (bounded); what is left was started by this run: kill it by pid.
wait_app_gone() {
  local i left
  for ((i = 0; i < 150; i++)); do
    left=$(app_pids)
    [ -z "$left" ] && return 0
    sleep 0.1
  done
  say "app processes still running 15s after Apache stopped: $left (SIGKILL)"
  for p in $left; do kill -KILL "$p" 2>/dev/null || true; done
}

stop_httpd() {
  [ -n "$httpd_pid" ] || return 0
  stop_pid "$httpd_pid" 30
  httpd_pid=""
  # the app mod_aspnetcore ran (the directly started one is not Apache's)
  [ -n "$backend_pid" ] || wait_app_gone
}

stop_backend() {
  [ -n "$backend_pid" ] || return 0
  stop_pid "$backend_pid" 15
  backend_pid=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_httpd || true
  stop_backend || true
  wait_app_gone || true
  if [ -n "${BENCH_KEEP:-}" ]; then
    say "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_ok URL SECONDS PID [curl args...]: until URL answers 200 (or PID died).
wait_ok() {
  local url=$1 limit=$2 pid=$3 code i
  shift 3
  for ((i = 0; i < limit * 5; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" || true)
    [ "$code" = 200 ] && return 0
    alive "$pid" || return 1
    sleep 0.2
  done
  return 1
}

# The apache_alone setup's handler, built with apxs like any third-party module.
floor_so=""
if [[ " $setups " == *" apache_alone "* ]]; then
  mkdir -p "$tmp/floor"
  cp bench/floor/mod_bench_floor.c "$tmp/floor/"
  (cd "$tmp/floor" && apxs -Wc,-Wall -Wc,-Wextra -Wc,-Werror -c mod_bench_floor.c) \
      >"$tmp/floor/build.log" 2>&1 || { cat "$tmp/floor/build.log" >&2; die "cannot build bench/floor/mod_bench_floor.c"; }
  floor_so="$tmp/floor/.libs/mod_bench_floor.so"
  chmod -R a+rX "$tmp/floor"
fi

# A copy of the published app that Apache's User (www-data) can read.
cp -r build/sample/HelloApp "$tmp/app"
rm -f "$tmp/app/.build-sample.stamp"
chmod -R a+rX "$tmp/app"
head -c 1048576 /dev/zero | tr '\0' x > "$tmp/body-1m"

# Run the app as Apache would (www-data) when we are root.
as_user=()
user_lines=""
if [ "$(id -u)" -eq 0 ] && id www-data >/dev/null 2>&1; then
  as_user=(setpriv --reuid=www-data --regid=www-data --init-groups)
  user_lines=$'User www-data\nGroup www-data'
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

start_backend() {
  backend_port=$(free_port)
  say "starting the app directly on 127.0.0.1:$backend_port"
  (
    cd "$tmp/app"
    exec env ASPNETCORE_PORT="$backend_port" ASPNETCORE_APPL_PATH=/ \
      ASPNETCORE_TOKEN="$token" ASPNETCORE_IIS_HTTPAUTH='anonymous;' \
      ASPNETCORE_IIS_WEBSOCKETS_SUPPORTED=false HelloApp__TestEndpoints=true \
      "${server_cpu[@]}" "${as_user[@]}" dotnet HelloApp.dll
  ) >"$tmp/direct-app.log" 2>&1 </dev/null &
  backend_pid=$!
  wait_ok "http://127.0.0.1:$backend_port/pid" 60 "$backend_pid" \
      -H "MS-ASPNETCORE-TOKEN: $token" || {
    tail -n 30 "$tmp/direct-app.log" >&2
    die "the directly started app did not answer within 60s"
  }
}

# start_httpd NAME EXTRA_CONFIG: a throwaway Apache in $tmp/NAME, mpm_event.
start_httpd() {
  local name=$1 extra=$2 dir="$tmp/$1" mods=/usr/lib/apache2/modules
  httpd_port=$(free_port)
  httpd_dir=$dir
  mkdir -p "$dir/htdocs"
  chmod 755 "$dir" "$dir/htdocs"
  cat >"$dir/httpd.conf" <<CONF
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$httpd_port
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$dir/error.log"
LogLevel warn
$user_lines
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
$mpm_conf
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 15
Timeout 60
AllowEncodedSlashes NoDecode
DocumentRoot "$dir/htdocs"
<Directory />
    Require all granted
    # as in Debian's apache2.conf; with overrides on, every request also looks
    # for .htaccess in each directory above DocumentRoot (see docs/performance.md)
    AllowOverride None
</Directory>
# no access log in either Apache setup (mod_log_config is not loaded)

$extra
CONF
  say "starting Apache ($name) on 127.0.0.1:$httpd_port"
  "${server_cpu[@]}" /usr/sbin/apache2 -d "$dir" -f "$dir/httpd.conf" -DFOREGROUND \
      >"$dir/stdout.log" 2>&1 </dev/null &
  httpd_pid=$!
}

# ---- measuring -------------------------------------------------------------

clk_tck=$(getconf CLK_TCK)

# CPU ticks (user+system) of the given pids, summed.
cpu_of() {
  local t=0 p s f
  for p in "$@"; do
    s=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    read -ra f <<<"$s"
    # after "pid (comm) ": state is field 0, utime 11, stime 12
    t=$((t + ${f[11]:-0} + ${f[12]:-0}))
  done
  echo "$t"
}

# Apache's processes: the parent and its children (the MPM children and, with
# mod_aspnetcore, the supervisor, which is idle while serving).
httpd_pids() {
  [ -n "$httpd_pid" ] || return 0
  echo "$httpd_pid"
  ps -o pid= --ppid "$httpd_pid" 2>/dev/null | while read -r p; do
    [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$tmp/app" ] || echo "$p"
  done
  return 0
}

# context switches (voluntary and not) of the given pids' live threads, summed
# (the fallback without perf: threads that exit meanwhile take theirs along)
ctxsw_of() {
  local globs=() p
  for p in "$@"; do globs+=("/proc/$p/task/"*/status); done
  [ ${#globs[@]} -gt 0 ] || { echo 0; return 0; }
  awk '/ctxt_switches/ { s += $2 } END { print s + 0 }' "${globs[@]}" 2>/dev/null || echo 0
}

# perf_count OUT SECONDS PIDS...: count perf_events (context switches, and
# system calls with BENCH_PROFILE) of PIDS and their threads in the background;
# its pid in perf_pid ("" when there are no PIDS)
perf_count() {
  local out=$1 dur=$2 list
  shift 2
  perf_pid=""
  list=$(echo "$@" | tr ' ' ',')
  [ -n "$list" ] || return 0
  perf stat -x, -o "$out" -e "$perf_events" -p "$list" -- sleep "$dur" >/dev/null 2>&1 &
  perf_pid=$!
}
# perf_value FILE EVENT: the count perf stat wrote, or -1
perf_value() {
  local n
  n=$(grep ",$2," "$1" 2>/dev/null | head -n 1 | cut -d, -f1)
  [[ $n =~ ^[0-9]+$ ]] && echo "$n" || echo -1
}
use_perf=""
perf_events="context-switches"
[ -n "$profile" ] && perf_events+=",raw_syscalls:sys_enter"
if command -v perf >/dev/null && perf stat -e "$perf_events" -- true >/dev/null 2>&1; then
  use_perf=1
elif [ -n "$profile" ]; then
  die "BENCH_PROFILE: perf stat -e $perf_events does not work here"
fi

# busy and total jiffies of the whole machine
machine_cpu() {
  local _cpu user nice system idle iowait irq softirq steal
  read -r _cpu user nice system idle iowait irq softirq steal _ </proc/stat
  echo "$((user + nice + system + irq + softirq + steal)) $((user + nice + system + idle + iowait + irq + softirq + steal))"
}

# children_ms VAR: CPU time (ms) of this shell's reaped children (wrk, between
# two calls) into VAR. Not in $(...): a subshell has children of its own.
children_ms() {
  local line
  times >"$tmp/times.txt"
  line=$(tail -n 1 "$tmp/times.txt")        # "0m1.234s 0m0.567s"
  printf -v "$1" '%d' $(( $(to_ms "${line% *}") + $(to_ms "${line#* }") ))
}
to_ms() {  # 1m2.345s -> 62345
  local v=${1%s} m sec
  m=${v%%m*}; sec=${v#*m}
  [[ $sec == *.* ]] || sec="$sec.000"
  echo $(( 10#$m * 60000 + 10#${sec%.*} * 1000 + 10#${sec#*.} ))
}

# wait_quiet: until the machine is idle (other processes use < 10% CPU), at
# most BENCH_QUIET_WAIT seconds; other test suites running meanwhile would
# take CPU from the measured run.
wait_quiet() {
  local t0 t1 o0 o1 b i pct=0 waited=0 ours
  ours=$(echo $(httpd_pids) $(app_pids))
  for ((i = 0; i <= quiet_wait; i++)); do
    o0=$(cpu_of $ours); t0=$(machine_cpu); sleep 1; t1=$(machine_cpu); o1=$(cpu_of $ours)
    b=$(( ${t1% *} - ${t0% *} - (o1 - o0) )); pct=$(( 100 * b / ( ${t1#* } - ${t0#* } + 1 ) ))
    if [ "$pct" -lt 10 ]; then
      [ "$waited" -gt 0 ] && say "machine idle after ${waited}s"
      return 0
    fi
    [ "$waited" -eq 0 ] && [ "$quiet_wait" -gt 0 ] &&
      say "machine busy (${pct}% CPU used by other processes): waiting up to ${quiet_wait}s"
    waited=$((waited + 1))
  done
  say "machine still busy (${pct}% CPU used by other processes): measuring anyway"
  echo "busy machine before $1 (${pct}% CPU used by other processes)" >>"$tmp/warnings.txt"
}

results="$tmp/results.tsv"
problems="$tmp/problems.txt"
: >"$results"
: >"$problems"
: >"$tmp/warnings.txt"

workload_path() {
  case $1 in
    small_get) echo "/pid" ;;
    get_64k) echo "/bytes?n=65536" ;;
    post_1m) echo "/discard" ;;
  esac
}

# check_endpoints BASE [curl args]: each workload's request answers as expected.
check_endpoints() {
  local base=$1 got
  shift
  got=$(curl -s --max-time 10 "$@" "$base/pid") || true
  [[ $got =~ ^[0-9]+$ ]] || die "$base/pid answered '${got:0:200}'"
  got=$(curl -s --max-time 10 "$@" "$base/bytes?n=65536" | wc -c) || true
  [ "$got" = 65536 ] || die "$base/bytes?n=65536 answered $got bytes"
  got=$(curl -s --max-time 20 "$@" -H 'Content-Type: application/octet-stream' \
        --data-binary @"$tmp/body-1m" "$base/discard") || true
  [ "$got" = 1048576 ] || die "$base/discard answered '${got:0:200}' (not 1048576)"
}

# run_wrk SETUP WORKLOAD URL_BASE [wrk args]
run_wrk() {
  local setup=$1 workload=$2 base=$3 path post=0 raw line pids b0 b1 m0 m1 a0 a1 w0 w1
  local attempt other best=-1 best_other=101 rec apids ac0 ac1 bc0 bc1 pa pb label
  local -a record=()
  shift 3
  path=$(workload_path "$workload")
  [ "$workload" = post_1m ] && post=1048576
  raw="$tmp/wrk-$setup-$workload-r$round"
  label="$setup $workload"
  [ "$rounds" -eq 1 ] || label+=" (round $round)"
  wait_quiet "$label"
  if [ "$warm" -gt 0 ]; then
    say "$setup $workload: warm-up ${warm}s"
    BENCH_POST_BYTES=$post "${client_cpu[@]}" wrk -t"$threads" -c"$conns" -d"${warm}s" --latency \
        -s bench/wrk.lua "$@" "$base$path" >"$raw.warmup.txt" 2>&1 || true
  fi
  # A run that other processes took CPU from is measured again (at most
  # BENCH_RETRIES times); the least disturbed one counts. Every attempt is kept
  # in the results: errors in any of them are reported.
  for ((attempt = 1; attempt <= 1 + retries; attempt++)); do
    say "$setup $workload: measuring ${secs}s$([ "$attempt" -gt 1 ] && echo " (attempt $attempt)")"
    pids=$(httpd_pids)
    apids=$(app_pids)
    ac0=$(ctxsw_of $pids); bc0=$(ctxsw_of $apids)
    pa=""; pb=""
    if [ -n "$use_perf" ]; then
      # counts for as long as wrk runs
      perf_count "$raw.$attempt.perf-apache" "$secs" $pids
      pa=$perf_pid
      perf_count "$raw.$attempt.perf-app" "$secs" $apids
      pb=$perf_pid
    fi
    a0=$(cpu_of $pids); b0=$(cpu_of $apids); children_ms w0; m0=$(machine_cpu)
    BENCH_POST_BYTES=$post "${client_cpu[@]}" wrk -t"$threads" -c"$conns" -d"${secs}s" --latency \
        -s bench/wrk.lua "$@" "$base$path" >"$raw.$attempt.txt" 2>&1 ||
      echo "$setup $workload: wrk failed: $(tail -n 3 "$raw.$attempt.txt" | tr '\n' ' ')" >>"$problems"
    m1=$(machine_cpu); children_ms w1; a1=$(cpu_of $pids); b1=$(cpu_of $apids)
    ac1=$(ctxsw_of $pids); bc1=$(ctxsw_of $apids)
    [ -n "$pa" ] && wait "$pa" 2>/dev/null
    [ -n "$pb" ] && wait "$pb" 2>/dev/null
    line=$(grep '^BENCH ' "$raw.$attempt.txt" | tail -n 1 || true)
    if [ -z "$line" ]; then
      echo "$setup $workload: no result from wrk" >>"$problems"
      cat "$raw.$attempt.txt" >&2
      return 0
    fi
    grep -E 'Requests/sec|Latency  |Non-2xx|Socket errors' "$raw.$attempt.txt" |
      sed "s/^/bench:   /" >&2 || true
    # busy CPU not charged to Apache, the app or wrk, in % of the machine
    other=$(( ( (${m1% *} - ${m0% *} - (a1 - a0) - (b1 - b0)) * 1000 / clk_tck - (w1 - w0) ) * 100
              / ( (${m1#* } - ${m0#* }) * 1000 / clk_tck + 1 ) ))
    [ "$other" -lt 0 ] && other=0
    # BENCH k=v ... plus CPU: ticks of Apache, of the app, wrk's ms, the machine's ticks
    rec="setup=$setup workload=$workload round=$round attempt=$attempt ${line#BENCH }"
    rec+=" clk_tck=$clk_tck"
    rec+=" apache_ticks=$((a1 - a0)) app_ticks=$((b1 - b0)) wrk_ms=$((w1 - w0))"
    rec+=" machine_busy=$(( ${m1% *} - ${m0% *} )) machine_total=$(( ${m1#* } - ${m0#* } ))"
    if [ -n "$use_perf" ]; then
      [ -n "$pids" ] && rec+=" apache_cs=$(perf_value "$raw.$attempt.perf-apache" context-switches)"
      rec+=" app_cs=$(perf_value "$raw.$attempt.perf-app" context-switches)"
      if [ -n "$profile" ]; then
        [ -n "$pids" ] &&
          rec+=" apache_syscalls=$(perf_value "$raw.$attempt.perf-apache" raw_syscalls:sys_enter)"
        rec+=" app_syscalls=$(perf_value "$raw.$attempt.perf-app" raw_syscalls:sys_enter)"
      fi
    else
      rec+=" apache_cs=$((ac1 - ac0)) app_cs=$((bc1 - bc0))"
    fi
    record[attempt]=$rec
    if [ "$other" -lt "$best_other" ]; then
      best=$attempt
      best_other=$other
    fi
    [ "$other" -lt 10 ] && break
    if [ "$attempt" -le "$retries" ]; then
      say "$setup $workload: other processes took ${other}% of the CPU: measuring again"
      wait_quiet "$label, attempt $((attempt + 1))"
    fi
  done
  for ((attempt = 1; attempt <= ${#record[@]}; attempt++)); do
    echo "${record[attempt]} used=$([ "$attempt" -eq "$best" ] && echo 1 || echo 0)" >>"$results"
  done
  cp "$raw.$best.txt" "$raw.txt"
}

# check_log NAME: error-level lines in an Apache's error log are a problem.
check_log() {
  local name=$1 log="$tmp/$1/error.log" n
  [ -f "$log" ] || return 0
  n=$(grep -cE '^\[[^]]*\] \[[^]:]*:(error|crit|alert|emerg)\]' "$log" || true)
  if [ "$n" -gt 0 ]; then
    echo "$name: $n error-level lines in Apache's error log, e.g.:" >>"$problems"
    grep -E '^\[[^]]*\] \[[^]:]*:(error|crit|alert|emerg)\]' "$log" | head -n 5 |
      sed 's/^/    /' >>"$problems"
  fi
}

# measure_httpd SETUP SECONDS WHAT: once the Apache just started answers (within
# SECONDS), every workload against it.
measure_httpd() {
  local setup=$1 limit=$2 what=$3 w
  wait_ok "http://127.0.0.1:$httpd_port/pid" "$limit" "$httpd_pid" || {
    tail -n 30 "$httpd_dir/error.log" "$httpd_dir/stdout.log" >&2 || true
    die "Apache with $what did not answer within ${limit}s"
  }
  check_endpoints "http://127.0.0.1:$httpd_port"
  for w in $workloads; do
    run_wrk "$setup" "$w" "http://127.0.0.1:$httpd_port"
  done
}

started=$(date +%s)
say "measured runs ${secs}s (warm-up ${warm}s), wrk -t$threads -c$conns; setups: $setups"

# Every setup gets a fresh app process and the same sequence of requests, so
# that the app's JIT and thread pool are equally warm in all three.
for ((round = 1; round <= rounds; round++)); do
  [ "$rounds" -gt 1 ] && say "round $round of $rounds"
  # every other round in the reverse order: a setup is not always measured
  # on a machine that has been busy longer
  round_setups=$setups
  [ $((round % 2)) -eq 0 ] && round_setups=$(echo "$setups" | tr ' ' '\n' | tac | tr '\n' ' ')
  for setup in $round_setups; do
    case $setup in
      direct)
        start_backend
        check_endpoints "http://127.0.0.1:$backend_port" -H "MS-ASPNETCORE-TOKEN: $token"
        for w in $workloads; do
          run_wrk direct "$w" "http://127.0.0.1:$backend_port" -H "MS-ASPNETCORE-TOKEN: $token"
        done
        stop_backend
        ;;
      mod_proxy_http)
        start_backend
        mods=/usr/lib/apache2/modules
        start_httpd "mod_proxy_http-r$round" "LoadModule proxy_module $mods/mod_proxy.so
  LoadModule proxy_http_module $mods/mod_proxy_http.so
  LoadModule headers_module $mods/mod_headers.so
  ProxyRequests Off
  ProxyPreserveHost On
  # a pool of keep-alive connections per child (max = ThreadsPerChild)
  ProxyPass / http://127.0.0.1:$backend_port/ enablereuse=on keepalive=On max=64 ttl=60
  RequestHeader set MS-ASPNETCORE-TOKEN \"$token\"
${BENCH_PROXY_EXTRA:-}"
        measure_httpd mod_proxy_http 30 mod_proxy_http
        stop_httpd
        stop_backend
        check_log "mod_proxy_http-r$round"
        ;;
      mod_aspnetcore)
        start_httpd "mod_aspnetcore-r$round" "LoadModule aspnetcore_module \"$repo/.libs/mod_aspnetcore.so\"
  AspNetCoreStateRoot \"$tmp/state\"
  AspNetCoreProcessPath dotnet
  AspNetCoreArguments HelloApp.dll
  AspNetCoreAppRoot \"$tmp/app\"
  AspNetCoreEnvironmentVariable HelloApp__TestEndpoints true"
        measure_httpd mod_aspnetcore 90 mod_aspnetcore
        stop_httpd
        check_log "mod_aspnetcore-r$round"
        ;;
      apache_alone)
        start_httpd "apache_alone-r$round" "LoadModule bench_floor_module \"$floor_so\"
  <Location />
    SetHandler bench-floor
  </Location>"
        measure_httpd apache_alone 30 "the bench's own handler"
        stop_httpd
        check_log "apache_alone-r$round"
        ;;
    esac
  done
done
stop_backend
elapsed=$(( $(date +%s) - started ))

# ---- report ------------------------------------------------------------------

meta="$tmp/meta.txt"
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- modules mod_aspnetcore.c 2>/dev/null || echo ' (module sources modified)')"
  echo "cpus=$(nproc)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  echo "kernel=$(uname -r)"
  echo "apache=$(/usr/sbin/apache2 -v | sed -n 's/^Server version: //p')"
  echo "dotnet=$(dotnet --list-runtimes 2>/dev/null | sed -n 's/^Microsoft.AspNetCore.App \([^ ]*\).*/ASP.NET Core \1/p' | tail -n 1)"
  echo "wrk=$(wrk -v 2>&1 | head -n 1 | awk '{print $1, $2}')"
  echo "secs=$secs"
  echo "warm=$warm"
  echo "conns=$conns"
  echo "threads=$threads"
  echo "rounds=$rounds"
  echo "proxy_extra=${BENCH_PROXY_EXTRA:-}"
  echo "elapsed=$elapsed"
  echo "pinned=${pin:+Apache and the app on CPU 0, wrk on CPU 1}"
} >"$meta"

mkdir -p "$(dirname "$out")"
set +e
python3 bench/report.py "$results" "$problems" "$meta" "$out" "$tmp/warnings.txt"
report_rc=$?
set -e
say "markdown written to $out"
if [ "$report_rc" -ne 0 ]; then
  exit 2
fi
