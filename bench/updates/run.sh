#!/usr/bin/env bash
# Benchmarks the device hot path against a baseline measured in the same run, on loopback:
#   1. POST /updates (realistic bodies, 200 000 distinct devices) vs nginx serving a static JSON
#      file, both with wrk; prints both req/s and the ratio (goal: >= 0.8), and the CPU time each
#      server spent per request (user + system from /proc/PID/stat over the run, divided by the
#      requests wrk completed): steadier than req/s when wrk competes for the same cores.
#   2. POST /stats batches of 200 events; prints events/s (goal: >= 50 000) and checks that every
#      acknowledged event is stored and queryable through the management API.
#   3. The same against two replicas on PostgreSQL + S3, printed beside these figures (scale.sh;
#      BENCH_SCALE=0 skips it).
# Needs: cargo, wrk, nginx, curl, zip, python3 (apt: wrk nginx-light curl zip python3).
# Knobs: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 64), BENCH_THREADS (default 2).
# BENCH_SERVER_BIN: a capstan-server binary to measure instead of building this tree (e.g. an
# older commit's build, to compare two in the same session).
# BENCH_PERF_DATA=FILE also samples the server with `perf record` during the /updates run and
# writes FILE (see PROFILE.md); perf's own cost then inflates that run's server figures.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
root="$(cd "$here/../.." && pwd)"
seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-64}"
threads="${BENCH_THREADS:-2}"
app="com.bench.app"
version="1.0.1"

for tool in cargo wrk nginx curl zip python3; do
  command -v "$tool" >/dev/null || { echo "bench: missing $tool (apt-get install wrk nginx-light curl zip python3)" >&2; exit 2; }
done
perf_data="${BENCH_PERF_DATA:-}"
if [ -n "$perf_data" ]; then
  command -v perf >/dev/null || { echo "bench: BENCH_PERF_DATA needs perf (apt-get install linux-perf)" >&2; exit 2; }
  perf_data="$(realpath -m "$perf_data")"
fi

# These machines are shared: the load average says how much to trust the figures below.
load_before="$(load)"

bin="${BENCH_SERVER_BIN:-}"
if [ -z "$bin" ]; then
  echo "== building capstan-server (release)"
  (cd "$root" && cargo build --release -p capstan-server --quiet)
  bin="${CARGO_TARGET_DIR:-$root/target}/release/capstan-server"
fi
echo "== server: $bin"

work="$(mktemp -d)"
server_pid=""
nginx_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT


export CAPSTAN_DATA_DIR="$work/data" CAPSTAN_LOG=warn NO_COLOR=1
# Every request comes from 127.0.0.1: the per-address limits and /stats budgets would measure
# the policy, not the server's capacity.
export CAPSTAN_RATE_LIMIT_PER_SECOND=0 CAPSTAN_STATS_EVENTS_PER_SECOND=0 CAPSTAN_STATS_BYTES_PER_SECOND=0
port="$(free_port)"
export CAPSTAN_LISTEN="127.0.0.1:$port"
base="http://127.0.0.1:$port"
token="$("$bin" token create --role admin --name bench)"

"$bin" serve 2>"$work/server.log" &
server_pid=$!
wait_ready "$base"

echo "== seeding $app with bundle $version"
mkdir -p "$work/www"
printf '<!doctype html><script src="app.js"></script>' >"$work/www/index.html"
printf 'CapacitorUpdater.notifyAppReady();' >"$work/www/app.js"
(cd "$work/www" && zip -q -r "$work/bundle.zip" .)
sha="$(sha256sum "$work/bundle.zip" | cut -d' ' -f1)"
auth=(-H "Authorization: Bearer $token")
curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d "{\"id\":\"$app\"}" "$base/api/v1/apps" >/dev/null
curl -fsS "${auth[@]}" --data-binary "@$work/bundle.zip" "$base/api/v1/apps/$app/bundles?version=$version&sha256=$sha" >/dev/null
curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d "{\"version\":\"$version\"}" \
  "$base/api/v1/apps/$app/channels/production/publish" >/dev/null

# The static baseline answers with what /updates answers a device that needs the bundle: the
# same plugin version as updates.lua's devices, so the same bytes (with the per-file manifest
# such plugins get).
nginx_port="$(free_port)"
mkdir -p "$work/nginx/html" "$work/nginx/logs"
curl -fsS -H 'Content-Type: application/json' \
  -d "{\"platform\":\"android\",\"device_id\":\"probe\",\"app_id\":\"$app\",\"version_build\":\"1.0.0\",\"version_name\":\"builtin\",\"plugin_version\":\"8.51.14\"}" \
  "$base/updates" >"$work/nginx/html/answer.json"
# Both sides must answer the same thing: an update offer, not a refusal (also HTTP 200).
grep -q '"url"' "$work/nginx/html/answer.json" || { echo "bench: /updates offers no bundle: $(cat "$work/nginx/html/answer.json")" >&2; exit 1; }
# How the offer delivers the bundle: a whole zip at `url`, or a per-file manifest.
delivery="$(python3 -c 'import json, sys; print("manifest" if "manifest" in json.load(sys.stdin) else "zip")' <"$work/nginx/html/answer.json")"
cat >"$work/nginx/nginx.conf" <<NGINX
user root;
worker_processes 1;
daemon off;
error_log $work/nginx/logs/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp_body;
  proxy_temp_path $work/nginx/tmp_proxy;
  fastcgi_temp_path $work/nginx/tmp_fastcgi;
  uwsgi_temp_path $work/nginx/tmp_uwsgi;
  scgi_temp_path $work/nginx/tmp_scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/nginx/html;
    location / { default_type application/json; }
  }
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$nginx_port/answer.json" >/dev/null 2>&1 && break
  sleep 0.05
done

rps() { awk '/^Requests\/sec:/ { print $2 }'; }
# Requests wrk saw completed ("311110 requests in 10.06s").
completed() { awk '/ requests in / { print $1 }'; }
# CPU time (user + system, in clock ticks, every thread) of a process and its direct children:
# nginx answers from its worker process, the master only forks it.
cpu_ticks() {
  local pid total=0 fields
  for pid in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    # Fields after the ")" closing the command name: utime and stime are the 12th and 13th.
    fields="$(sed 's/.*) //' /proc/"$pid"/stat 2>/dev/null)" || continue
    total=$((total + $(echo "$fields" | awk '{ print $12 + $13 }')))
  done
  echo "$total"
}
clock_ticks="$(getconf CLK_TCK)"
# After wrk stops, the server still writes the device states it buffered (every
# CAPSTAN_DEVICE_FLUSH_MS, 1 s by default): that is part of the cost of the requests, so the
# CPU reading waits for it: at least 1.5 s, then until the process spends at most one tick in
# half a second (an idle server spends nothing), at most 30 s.
settle() { # PID
  local before now waited=0
  sleep 1.5
  before="$(cpu_ticks "$1")"
  while [ "$waited" -lt 60 ]; do
    sleep 0.5
    now="$(cpu_ticks "$1")"
    [ $((now - before)) -le 1 ] && return
    before="$now"
    waited=$((waited + 1))
  done
}

echo "== nginx static JSON: wrk -t$threads -c$connections -d${seconds}s"
nginx_ticks_before="$(cpu_ticks "$nginx_pid")"
nginx_out="$(wrk -t"$threads" -c"$connections" -d"${seconds}s" "http://127.0.0.1:$nginx_port/answer.json")"
settle "$nginx_pid"
nginx_ticks=$(($(cpu_ticks "$nginx_pid") - nginx_ticks_before))
echo "$nginx_out" | sed 's/^/   /'
nginx_rps="$(echo "$nginx_out" | rps)"
nginx_requests="$(echo "$nginx_out" | completed)"

echo "== capstan POST /updates: wrk -t$threads -c$connections -d${seconds}s"
perf_pid=""
if [ -n "$perf_data" ]; then
  # 499 Hz (not a multiple of the scheduler tick); DWARF unwinding because release builds keep
  # no frame pointers.
  perf record -q -F 499 --call-graph dwarf,16384 -p "$server_pid" -o "$perf_data" 2>"$work/perf.log" &
  perf_pid=$!
  sleep 0.5
fi
server_ticks_before="$(cpu_ticks "$server_pid")"
updates_out="$(BENCH_APP="$app" BENCH_VERSION="$version" wrk -t"$threads" -c"$connections" -d"${seconds}s" -s "$here/updates.lua" "$base/updates")"
settle "$server_pid"
server_ticks=$(($(cpu_ticks "$server_pid") - server_ticks_before))
if [ -n "$perf_pid" ]; then
  kill -INT "$perf_pid"
  # perf record exits with 128 + SIGINT once it has written its file.
  perf_status=0
  wait "$perf_pid" || perf_status=$?
  [ "$perf_status" -eq 0 ] || [ "$perf_status" -eq 130 ] || { cat "$work/perf.log" >&2; exit 1; }
  echo "   perf samples written to $perf_data"
fi
echo "$updates_out" | sed 's/^/   /'
updates_rps="$(echo "$updates_out" | rps)"
updates_requests="$(echo "$updates_out" | completed)"
if echo "$updates_out" | grep -q "Non-2xx"; then
  echo "bench: /updates answered non-2xx statuses" >&2
  exit 1
fi

echo "== capstan POST /stats, 200 events per request: wrk -t$threads -c$connections -d${seconds}s"
stats_out="$(BENCH_APP="$app" wrk -t"$threads" -c"$connections" -d"${seconds}s" -s "$here/stats.lua" "$base/stats")"
echo "$stats_out" | sed 's/^/   /'
acked_batches="$(echo "$stats_out" | awk -F= '/^ACKED_BATCHES=/ { print $2 }')"
stats_rps="$(echo "$stats_out" | rps)"
acked_events=$((acked_batches * 200))
# Queryable through the management API (the hourly counters)...
stored="$(curl -fsS "${auth[@]}" "$base/api/v1/apps/$app/stats/timeline?bucket=day&days=1" |
  python3 -c 'import json, sys; print(sum(b["count"] for b in json.load(sys.stdin)["buckets"]))')"
# ...and as rows in the database, read directly after a graceful stop.
kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=""
rows="$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from events where app_id = ?", (sys.argv[2],)).fetchone()[0])' "$work/data/capstan.db" "$app")"

echo "== load average (1, 5, 15 min) on $(nproc) cores: before $load_before, after $(load)"
python3 - "$nginx_rps" "$updates_rps" "$stats_rps" "$acked_events" "$stored" "$seconds" "$rows" \
  "$nginx_ticks" "$nginx_requests" "$server_ticks" "$updates_requests" "$clock_ticks" "$delivery" <<'PY'
import sys
(nginx, updates, stats_rps, acked, stored, seconds, rows,
 nginx_ticks, nginx_requests, server_ticks, updates_requests, clock_ticks) = (float(x) for x in sys.argv[1:13])
delivery = sys.argv[13]
ratio = updates / nginx if nginx else 0.0
events = acked / seconds
def verdict(ok): return "meets goal" if ok else "BELOW GOAL"
def cpu_us(ticks, requests): return ticks / clock_ticks * 1e6 / requests if requests else 0.0
capstan_cpu, nginx_cpu = cpu_us(server_ticks, updates_requests), cpu_us(nginx_ticks, nginx_requests)
cpu_ratio = capstan_cpu / nginx_cpu if nginx_cpu else 0.0
print()
print(f"/updates  capstan {updates:,.0f} req/s   nginx static {nginx:,.0f} req/s   ratio {ratio:.2f}  (goal >= 0.80: {verdict(ratio >= 0.8)})")
print(f"/updates  CPU-µs per request: capstan {capstan_cpu:.1f}   nginx static {nginx_cpu:.1f}   capstan/nginx {cpu_ratio:.2f}"
      f"  ({server_ticks:.0f} and {nginx_ticks:.0f} ticks of 1/{clock_ticks:.0f} s for {updates_requests:,.0f} and {nginx_requests:,.0f} requests)")
print(f"/updates  delivery: {delivery}")
print(f"/stats    {events:,.0f} events/s acknowledged ({stats_rps * 200:,.0f} by wrk's request rate)  (goal >= 50,000: {verdict(events >= 50_000)})")
print(f"/stats    acknowledged {int(acked):,} events; counted by the API {int(stored):,}; rows in the database {int(rows):,}")
if stored < acked or rows < acked:
    print("FAIL: acknowledged events are missing", file=sys.stderr)
    sys.exit(1)
PY

# PostgreSQL + S3 with two replicas, beside the SQLite and nginx figures above (see scale.sh).
if [ "${BENCH_SCALE:-1}" != 0 ]; then
  echo
  bash "$here/scale.sh" "$bin" "$nginx_rps" "$updates_rps" "$((acked_events / seconds))"
fi
