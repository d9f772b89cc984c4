#!/usr/bin/env bash
# Times the fleet preview (POST /api/v1/apps/{app}/preview) over 1 000 000 devices seen in the
# last 30 days, on the release server over loopback HTTP, on SQLite and then on PostgreSQL (under
# scripts/test-services.sh; BENCH_POSTGRES=0 skips it).
#
# The devices are written straight into the `devices` table with one SQL statement (a generated
# series), not through /updates: 1 000 000 /updates calls would time the ingest path, not the
# preview. The app, its channels, bundles and rollout are set up through the real API. The mix:
# 3 platforms × 20 native versions × 4 running bundles × 3 requested channels × prod/dev ×
# device/emulator, and 1 000 overrides; production rolls 1.0.3 out to 10 % of its line.
#
# Printed per backend and change: the preview's wall time as curl measured it (best and median
# of BENCH_RUNS, default 3), with the device and group counts the preview answered. Two kinds of
# change: ones whose decision depends only on what devices report (decided once per group), and
# ones that read a rollout share (every device of the rolling line is hashed into its bucket).
# Knobs: BENCH_DEVICES (default 1000000), BENCH_RUNS (default 3), BENCH_POSTGRES (default 1);
# BENCH_CHURN=P (PostgreSQL only, default 0): after the vacuum, P % of the devices report again,
# as a live fleet does between two autovacuums.
# CAPSTAN_LOG=info also prints, per change, the server's split of its last run (grouped read,
# streamed device ids).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
root="$(cd "$here/../.." && pwd)"
devices="${BENCH_DEVICES:-1000000}"
runs="${BENCH_RUNS:-3}"
churn="${BENCH_CHURN:-0}"
app="com.bench.preview"
backend="${1:-sqlite}"

for tool in cargo curl zip python3 sqlite3; do
  command -v "$tool" >/dev/null || { echo "bench: missing $tool (apt-get install curl zip python3 sqlite3)" >&2; exit 2; }
done

# BENCH_PROFILE=debug times an unoptimised build (for a quick look; figures are not comparable).
profile="${BENCH_PROFILE:-release}"
# BENCH_SERVER_BIN: a capstan-server binary to measure instead of building this tree (e.g. an
# older commit's build, to compare two in the same session).
bin="${BENCH_SERVER_BIN:-}"
if [ "$backend" = sqlite ]; then
  if [ -z "$bin" ]; then
    echo "== building capstan-server ($profile)"
    (cd "$root" && cargo build $([ "$profile" = release ] && echo --release) -p capstan-server --quiet)
  fi
  echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
bin="${bin:-${CARGO_TARGET_DIR:-$root/target}/$profile/capstan-server}"
echo "== server: $bin"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT


export CAPSTAN_DATA_DIR="$work/data" CAPSTAN_LOG="${CAPSTAN_LOG:-warn}" NO_COLOR=1 CAPSTAN_RATE_LIMIT_PER_SECOND=0
if [ "$backend" = postgres ]; then
  [ -n "${CAPSTAN_TEST_POSTGRES_URL:-}" ] || { echo "bench: postgres needs scripts/test-services.sh" >&2; exit 2; }
  psql="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/psql"
  db="capstan_bench_preview_$$"
  "$psql" -q "$CAPSTAN_TEST_POSTGRES_URL" -c "CREATE DATABASE $db"
  export CAPSTAN_DATABASE_URL="${CAPSTAN_TEST_POSTGRES_URL%/*}/$db"
fi
port="$(free_port)"
export CAPSTAN_LISTEN="127.0.0.1:$port"
base="http://127.0.0.1:$port"
token="$("$bin" token create --role admin --name bench)"
"$bin" serve 2>"$work/server.log" &
server_pid=$!
wait_ready "$base"

auth=(-H "Authorization: Bearer $token")
api() { # METHOD PATH [JSON]
  curl -fsS "${auth[@]}" -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$base/api/v1/apps$2" >/dev/null
}
upload() { # VERSION [MIN_NATIVE]
  mkdir -p "$work/www-$1"
  printf '<!doctype html><script src="app.js"></script>' >"$work/www-$1/index.html"
  printf "console.log('%s'); CapacitorUpdater.notifyAppReady();" "$1" >"$work/www-$1/app.js"
  (cd "$work/www-$1" && zip -q -r "$work/$1.zip" .)
  local sha
  sha="$(sha256sum "$work/$1.zip" | cut -d' ' -f1)"
  curl -fsS "${auth[@]}" --data-binary "@$work/$1.zip" \
    "$base/api/v1/apps/$app/bundles?version=$1&sha256=$sha${2:+&min_native_version=$2}" >/dev/null
}
echo "== [$backend] seeding $app"
api POST "" "{\"id\":\"$app\"}"
api POST "/$app/channels" '{"name":"beta","allow_self_set":true}'
for v in 1.0.1 1.0.2 1.0.3 1.1.0; do upload "$v"; done
upload 2.0.0 2.0.0
upload 2.1.0 2.0.0
api POST "/$app/channels/production/publish" '{"version":"1.0.2"}'
api POST "/$app/channels/production/publish" '{"version":"2.0.0"}'
api POST "/$app/channels/beta/publish" '{"version":"1.0.3"}'
api POST "/$app/channels/production/rollout" '{"version":"1.0.3","percent":10}'
for i in $(seq 0 999); do
  api PUT "/$app/devices/$(printf 'override-%04d' "$i")/override" '{"channel":"beta"}'
done

echo "== [$backend] writing $devices devices (one INSERT … SELECT over a generated series)"
now_ms="$(($(date +%s) * 1000))"
# Columns: app, id, custom id, platform, native, bundle, plugin, os, prod, emulator, channel,
# key id, first seen, last seen, requested channel, on builtin. The first 1 000 ids are the
# overridden devices.
fill_sql() { # SERIES_SQL HEX_ID_SQL
  cat <<SQL
INSERT INTO devices (app_id, device_id, custom_id, platform, native_version, bundle_version, plugin_version,
  os_version, is_prod, is_emulator, channel, key_id, first_seen_ms, last_seen_ms, requested_channel, on_builtin)
SELECT '$app', CASE WHEN i < 1000 THEN 'override-' || substr('000' || i, -4, 4) ELSE $2 END, '',
  CASE i % 3 WHEN 0 THEN 'android' WHEN 1 THEN 'ios' ELSE 'electron' END,
  (1 + (i / 3) % 2) || '.' || ((i / 6) % 10) || '.0',
  CASE (i / 60) % 4 WHEN 0 THEN (1 + (i / 3) % 2) || '.' || ((i / 6) % 10) || '.0' WHEN 1 THEN '1.0.1'
    WHEN 2 THEN '1.0.2' ELSE '2.0.0' END,
  '7.0.0', '14', (i % 13) <> 0, (i % 17) = 0, 'production', NULL, $now_ms - (i % 30) * 3600000,
  $now_ms - (i % 30) * 3600000, CASE (i / 240) % 3 WHEN 0 THEN NULL WHEN 1 THEN 'beta' ELSE 'production' END,
  (i / 60) % 4 = 0
FROM $1;
SQL
}
fill_start="$(date +%s%N)"
if [ "$backend" = sqlite ]; then
  {
    echo "WITH RECURSIVE series(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM series WHERE i < $devices - 1)"
    fill_sql series "printf('%08x-0000-4000-8000-%012x', (i * 2654435761) % 4294967296, i)"
  } | sqlite3 -cmd '.timeout 60000' "$work/data/capstan.db"
else
  fill_sql "generate_series(0, $devices - 1) AS series(i)" \
    "lpad(to_hex((i::bigint * 2654435761) % 4294967296), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0')" \
    | sed 's/substr(.000. || i, -4, 4)/lpad(i::text, 4, $$0$$)/; s/(1 + (i \/ 3) % 2) ||/(1 + (i \/ 3) % 2)::text ||/g; s/((i \/ 6) % 10) ||/((i \/ 6) % 10)::text ||/g' \
    | "$psql" -q -v ON_ERROR_STOP=1 "$CAPSTAN_DATABASE_URL"
  # Vacuumed as autovacuum would after a million inserts, but now: otherwise its run overlaps
  # the first previews and times the vacuum (7-8 s instead of 3 s, measured), and until then
  # every index read checks the table for visibility. The CHECKPOINT first: the test cluster
  # commits asynchronously, and until the insert's commit record is flushed VACUUM can neither
  # set the rows' hint bits nor mark their pages all-visible (it then left all 20,000 pages
  # unmarked, and each preview read the table once per device: 3 s instead of 0.3 s for the
  # grouping alone, measured with EXPLAIN ANALYZE).
  "$psql" -q "$CAPSTAN_DATABASE_URL" -c "CHECKPOINT" -c "VACUUM (ANALYZE) devices"
  if [ "$churn" -gt 0 ]; then
    # A live fleet between two autovacuums: devices report, each report is a new row version,
    # and its page is no longer all-visible until the next vacuum (which autovacuum starts at
    # 20 % of the rows changed, by default). Index-only reads then check the table.
    echo "   churn: $churn % of the devices report again after the vacuum"
    "$psql" -q "$CAPSTAN_DATABASE_URL" -c "UPDATE devices SET last_seen_ms = last_seen_ms + 1 \
      WHERE abs(hashtext(device_id)) % 100 < $churn" -c "CHECKPOINT"
  fi
fi
echo "   written in $(( ($(date +%s%N) - fill_start) / 1000000 )) ms"

preview() { # LABEL CHANGE_JSON
  local times=() out="$work/preview.json"
  for _ in $(seq 1 "$runs"); do
    times+=("$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -o "$out" -w '%{time_total}' \
      -d "{\"change\":$2,\"days\":30}" "$base/api/v1/apps/$app/preview")")
  done
  python3 - "$1" "$out" "${times[@]}" <<'PY'
import json, statistics, sys
label, out, times = sys.argv[1], sys.argv[2], sorted(float(t) for t in sys.argv[3:])
answer = json.load(open(out))
print(f"   {label:<44} best {times[0]:6.3f} s  median {statistics.median(times):6.3f} s"
      f"  ({answer['devices']:,} devices, {len(answer['groups'])} groups, {answer['changed']:,} change)")
PY
  # With CAPSTAN_LOG=info the server logs where each preview spent its time: the last run's.
  { grep 'fleet preview' "$work/server.log" || true; } | tail -1 | sed 's/.*fleet preview/      server:/'
}
echo "== [$backend] preview over $devices devices seen in the last 30 days ($runs runs each)"
preview "publish 1.1.0 on beta" '{"kind":"publish","channel":"beta","version":"1.1.0"}'
preview "channel switch: beta refuses electron" '{"kind":"settings","channel":"beta","settings":{"electron":false}}'
preview "rollout 10 % -> 50 % (buckets of every device)" '{"kind":"rollout_change","channel":"production","percent":50}'
preview "publish 2.1.0 on production (rolling line)" '{"kind":"publish","channel":"production","version":"2.1.0"}'
preview "abort the production rollout" '{"kind":"rollout_abort","channel":"production","min_native":"any"}'

if [ "$backend" = sqlite ] && [ "${BENCH_POSTGRES:-1}" != 0 ]; then
  cleanup
  server_pid=""
  trap - EXIT
  if command -v s3s-fs >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    "$root/scripts/test-services.sh" bash "$here/run.sh" postgres
  else
    echo "== PostgreSQL skipped (needs postgresql and s3s-fs: make tools)"
  fi
fi
