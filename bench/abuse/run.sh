#!/usr/bin/env bash
# Hostile traffic against a release build, on loopback, at default settings (issue 16):
#   1. /updates alone, then /updates during a flood of legacy setChannel calls, with 10,000
#      device-chosen channels stored beforehand; prints both req/s and the ratio (goal >= 0.6).
#   2. /updates latency (wrk, few connections) alone, then during 10 s of maximal /stats traffic
#      from one address; prints both p99 and how much the data directory grew (goal < 60 MB).
#   3. idle_sockets.py: open-files limits at 1,024 (soft and hard), 1,100 idle sockets; /healthz
#      and /updates must still answer, and an unfinished request head is closed in time.
# The general per-address limit is off (CAPSTAN_RATE_LIMIT_PER_SECOND=0): every client here is
# 127.0.0.1, and /updates is the measure, not the attacker. The limits under test are the ones
# these floods meet: channel_self.* and stats_limit.*, at their defaults.
# Needs: cargo, wrk, curl, zip, python3, prlimit (util-linux). Knobs: BENCH_SECONDS (default 10).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
root="$(cd "$here/../.." && pwd)"
seconds="${BENCH_SECONDS:-10}"
app="com.bench.app"
version="1.0.1"

for tool in cargo wrk curl zip python3 prlimit; do
  command -v "$tool" >/dev/null || { echo "bench: missing $tool (apt-get install wrk curl zip python3)" >&2; exit 2; }
done
load_before="$(load)"

echo "== building capstan-server (release)"
(cd "$root" && cargo build --release -p capstan-server --quiet)
bin="${CARGO_TARGET_DIR:-$root/target}/release/capstan-server"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export CAPSTAN_DATA_DIR="$work/data" CAPSTAN_LOG=warn NO_COLOR=1 CAPSTAN_LISTEN="127.0.0.1:$port"
export CAPSTAN_RATE_LIMIT_PER_SECOND=0
base="http://127.0.0.1:$port"
token="$("$bin" token create --role admin --name bench)"
auth=(-H "Authorization: Bearer $token")

start() {
  "$bin" serve "$@" 2>>"$work/server.log" &
  server_pid=$!
  wait_ready "$base"
}
stop() {
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=""
}

# Seeding needs the setChannel bounds off; the measurements run with the defaults.
cat >"$work/seed.toml" <<TOML
[channel_self]
writes_per_second = 0
device_change_interval_ms = 0
TOML
start --config "$work/seed.toml"

echo "== seeding $app: bundle $version, channels beta and alpha, 10,000 legacy setChannel choices"
mkdir -p "$work/www"
printf '<!doctype html><script src="app.js"></script>' >"$work/www/index.html"
printf 'CapacitorUpdater.notifyAppReady();' >"$work/www/app.js"
(cd "$work/www" && zip -q -r "$work/bundle.zip" .)
sha="$(sha256sum "$work/bundle.zip" | cut -d' ' -f1)"
curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d "{\"id\":\"$app\"}" "$base/api/v1/apps" >/dev/null
curl -fsS "${auth[@]}" --data-binary "@$work/bundle.zip" "$base/api/v1/apps/$app/bundles?version=$version&sha256=$sha" >/dev/null
curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d "{\"version\":\"$version\"}" \
  "$base/api/v1/apps/$app/channels/production/publish" >/dev/null
for channel in beta alpha; do
  curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d "{\"name\":\"$channel\",\"allow_self_set\":true}" \
    "$base/api/v1/apps/$app/channels" >/dev/null
done
python3 - "$port" "$app" <<'PY'
import http.client, json, sys
port, app = int(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection("127.0.0.1", port)
for n in range(10_000):
    body = json.dumps({"platform": "android", "device_id": f"legacy-{n}", "app_id": app, "custom_id": "",
                       "version_build": "1.0.0", "version_code": "100", "version_os": "14", "version_name": "builtin",
                       "plugin_version": "6.27.0", "is_emulator": False, "is_prod": True, "channel": "beta"})
    conn.request("POST", "/channel_self", body, {"Content-Type": "application/json"})
    answer = conn.getresponse()
    text = answer.read()
    if answer.status != 200 or json.loads(text).get("status") != "ok":
        sys.exit(f"seeding setChannel {n}: {answer.status} {text!r}")
PY
stop
overrides="$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from overrides").fetchone()[0])' "$work/data/capstan.db")"
echo "   $overrides overrides stored"

start
rps() { awk '/^Requests\/sec:/ { print $2 }'; }
p99() { awk '$1 == "99%" { print $2 }'; }
statuses() { awk '/Non-2xx/ { print $NF }'; }
updates_wrk() { # connections, then extra wrk options
  local c="$1"
  shift
  BENCH_APP="$app" BENCH_VERSION="$version" wrk -t1 -c"$c" -d"${seconds}s" "$@" -s "$root/bench/updates/updates.lua" "$base/updates"
}

echo "== 1. /updates alone: wrk -t1 -c32 -d${seconds}s"
alone="$(updates_wrk 32)"
echo "$alone" | sed 's/^/   /'
echo "== 1. /updates during a setChannel flood (wrk -t1 -c16 on /channel_self, same ${seconds}s)"
BENCH_APP="$app" wrk -t1 -c16 -d"${seconds}s" -s "$here/setchannel.lua" "$base/channel_self" >"$work/flood.txt" &
flood_pid=$!
flooded="$(updates_wrk 32)"
wait "$flood_pid"
echo "$flooded" | sed 's/^/   /'
sed 's/^/   flood: /' "$work/flood.txt" | grep -E "Requests/sec|requests in|Non-2xx"

echo "== 2. /updates latency alone: wrk -t1 -c4 -d${seconds}s --latency"
calm="$(updates_wrk 4 --latency)"
echo "$calm" | grep -E "Requests/sec|99%" | sed 's/^/   /'
du_before="$(du -sb "$work/data" | cut -f1)"
echo "== 2. /updates latency during maximal /stats traffic from one address (wrk -t1 -c16, 200-event bodies)"
BENCH_APP="$app" wrk -t1 -c16 -d"${seconds}s" -s "$root/bench/updates/stats.lua" "$base/stats" >"$work/stats.txt" &
stats_pid=$!
stormy="$(updates_wrk 4 --latency)"
wait "$stats_pid"
sleep 1.5
du_after="$(du -sb "$work/data" | cut -f1)"
echo "$stormy" | grep -E "Requests/sec|99%" | sed 's/^/   /'
sed 's/^/   stats flood: /' "$work/stats.txt" | grep -E "Requests/sec|requests in|ACKED|OTHER"
acked="$(awk -F= '/^ACKED_BATCHES=/ { print $2 }' "$work/stats.txt")"
stop

echo "== 3. 1,100 idle sockets against open-files limits of 1,024"
python3 "$here/idle_sockets.py" "$bin"

echo "== load average (1, 5, 15 min) on $(nproc) cores: before $load_before, after $(load)"
python3 - "$(echo "$alone" | rps)" "$(echo "$flooded" | rps)" "$(echo "$calm" | p99)" "$(echo "$stormy" | p99)" \
  "$du_before" "$du_after" "$acked" "$seconds" <<'PY'
import sys
alone, flooded, calm, stormy, before, after, acked, seconds = sys.argv[1:9]
def ms(text):
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    raise SystemExit(f"bench: unreadable latency {text!r}")
alone, flooded = float(alone), float(flooded)
ratio = flooded / alone if alone else 0.0
grown = (int(after) - int(before)) / 1e6
print()
print(f"setChannel flood  /updates alone {alone:,.0f} req/s   during the flood {flooded:,.0f} req/s   ratio {ratio:.2f}"
      f"  (goal >= 0.6: {'meets goal' if ratio >= 0.6 else 'BELOW GOAL'})")
print(f"/stats flood      /updates p99 alone {ms(calm):.2f} ms   during the flood {ms(stormy):.2f} ms")
print(f"/stats flood      data directory grew {grown:.1f} MB in {seconds} s, {int(acked) * 200:,} events acknowledged"
      f"  (goal < 60 MB: {'meets goal' if grown < 60 else 'BELOW GOAL'})")
PY
