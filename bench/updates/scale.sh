#!/usr/bin/env bash
# The /updates and /stats load of run.sh against two replicas sharing PostgreSQL and an S3 store
# (the throwaway services of scripts/test-services.sh, with durable commits like SQLite's
# default), printed beside the SQLite and nginx figures run.sh measured in the same run:
#   1. POST /updates: first on replica a alone with run.sh's wrk settings (one server, as the
#      SQLite figure), then one wrk per replica at once (half the threads and connections each)
#      and the sum of both (goal: >= 0.8 of the SQLite figure). On a machine of few cores, note
#      that two server processes get a larger share of the cores against wrk than one does.
#   2. POST /stats, 200 events per request, the same way; events/s acknowledged by both, and a
#      check that every acknowledged event is stored in PostgreSQL.
# Usage (run.sh calls it): scale.sh SERVER_BIN NGINX_RPS SQLITE_UPDATES_RPS SQLITE_EVENTS_PER_S
# Needs: PostgreSQL (apt postgresql), s3s-fs (cargo install s3s-fs@0.14.1 --locked --features binary), wrk, curl.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
root="$(cd "$here/../.." && pwd)"
[ $# -eq 4 ] || { echo "usage: $0 SERVER_BIN NGINX_RPS SQLITE_UPDATES_RPS SQLITE_EVENTS_PER_S" >&2; exit 2; }
if [ -z "${CAPSTAN_TEST_POSTGRES_URL:-}" ]; then
  exec env CAPSTAN_SERVICES_DURABLE=1 "$root/scripts/test-services.sh" bash "$0" "$@"
fi
bin="$1"
nginx_rps="$2"
sqlite_updates_rps="$3"
sqlite_events_per_s="$4"
seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-64}"
threads="${BENCH_THREADS:-2}"
half_connections=$((connections / 2))
half_threads=$(((threads + 1) / 2))
app="com.bench.app"
version="1.0.1"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

psql -q "$CAPSTAN_TEST_POSTGRES_URL" -c "CREATE DATABASE capstan_bench"
export CAPSTAN_DATABASE_URL="${CAPSTAN_TEST_POSTGRES_URL%/*}/capstan_bench"
export CAPSTAN_STORAGE_URL="s3://$CAPSTAN_TEST_S3_BUCKET/bench"
export CAPSTAN_S3_ENDPOINT="$CAPSTAN_TEST_S3_ENDPOINT" CAPSTAN_S3_REGION=us-east-1 CAPSTAN_S3_PATH_STYLE=true
export AWS_ACCESS_KEY_ID="$CAPSTAN_TEST_S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$CAPSTAN_TEST_S3_SECRET_KEY"
export CAPSTAN_LOG=warn NO_COLOR=1 CAPSTAN_RATE_LIMIT_PER_SECOND=0
token="$(CAPSTAN_DATA_DIR="$work/a" "$bin" token create --role admin --name bench)"
auth=(-H "Authorization: Bearer $token")

bases=()
for replica in a b; do
  port="$(free_port)"
  CAPSTAN_DATA_DIR="$work/$replica" CAPSTAN_LISTEN="127.0.0.1:$port" "$bin" serve 2>"$work/$replica.log" &
  pids+=($!)
  bases+=("http://127.0.0.1:$port")
done
for base in "${bases[@]}"; do
  wait_ready "$base"
done

echo "== postgres+s3: seeding $app with bundle $version through replica a"
mkdir -p "$work/www"
printf '<!doctype html><script src="app.js"></script>' >"$work/www/index.html"
printf 'CapacitorUpdater.notifyAppReady();' >"$work/www/app.js"
(cd "$work/www" && zip -q -r "$work/bundle.zip" .)
sha="$(sha256sum "$work/bundle.zip" | cut -d' ' -f1)"
a="${bases[0]}"
curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d "{\"id\":\"$app\"}" "$a/api/v1/apps" >/dev/null
curl -fsS "${auth[@]}" --data-binary "@$work/bundle.zip" "$a/api/v1/apps/$app/bundles?version=$version&sha256=$sha" >/dev/null
curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d "{\"version\":\"$version\"}" \
  "$a/api/v1/apps/$app/channels/production/publish" >/dev/null
# Replica b learns of it through the database (within its revision check interval).
for base in "${bases[@]}"; do
  for _ in $(seq 1 100); do
    curl -fsS -H 'Content-Type: application/json' \
      -d "{\"platform\":\"android\",\"device_id\":\"probe\",\"app_id\":\"$app\",\"version_build\":\"1.0.0\",\"version_name\":\"builtin\"}" \
      "$base/updates" | grep -q '"url"' && break
    sleep 0.05
  done
done

rps() { awk '/^Requests\/sec:/ { print $2 }'; }
echo "== postgres+s3 POST /updates on replica a alone: wrk -t$threads -c$connections -d${seconds}s"
BENCH_APP="$app" BENCH_VERSION="$version" wrk -t"$threads" -c"$connections" -d"${seconds}s" \
  -s "$here/updates.lua" "${bases[0]}/updates" >"$work/alone-updates.out"
sed 's/^/   /' "$work/alone-updates.out"
one_replica_rps="$(rps <"$work/alone-updates.out")"

echo "== postgres+s3 POST /updates on 2 replicas: wrk -t$half_threads -c$half_connections -d${seconds}s on each"
BENCH_APP="$app" BENCH_VERSION="$version" wrk -t"$half_threads" -c"$half_connections" -d"${seconds}s" \
  -s "$here/updates.lua" "${bases[0]}/updates" >"$work/updates-0.out" &
w0=$!
BENCH_APP="$app" BENCH_VERSION="$version" wrk -t"$half_threads" -c"$half_connections" -d"${seconds}s" \
  -s "$here/updates.lua" "${bases[1]}/updates" >"$work/updates-1.out" &
w1=$!
wait "$w0" "$w1"
sed 's/^/   a: /' "$work/updates-0.out"
sed 's/^/   b: /' "$work/updates-1.out"
if cat "$work"/*updates*.out | grep -q "Non-2xx"; then
  echo "bench: /updates answered non-2xx statuses on postgres+s3" >&2
  exit 1
fi
updates_rps="$(cat "$work/updates-0.out" "$work/updates-1.out" | rps | awk '{ s += $1 } END { print s }')"

echo "== postgres+s3 POST /stats, 200 events per request, on 2 replicas"
BENCH_APP="$app" wrk -t"$half_threads" -c"$half_connections" -d"${seconds}s" -s "$here/stats.lua" "${bases[0]}/stats" \
  >"$work/stats-0.out" &
w0=$!
BENCH_APP="$app" wrk -t"$half_threads" -c"$half_connections" -d"${seconds}s" -s "$here/stats.lua" "${bases[1]}/stats" \
  >"$work/stats-1.out" &
w1=$!
wait "$w0" "$w1"
sed 's/^/   a: /' "$work/stats-0.out"
sed 's/^/   b: /' "$work/stats-1.out"
acked_batches="$(cat "$work"/stats-*.out | awk -F= '/^ACKED_BATCHES=/ { s += $2 } END { print s }')"
acked_events=$((acked_batches * 200))

# Every acknowledged event, in PostgreSQL after both replicas stopped gracefully.
for pid in "${pids[@]}"; do kill -TERM "$pid"; wait "$pid" || true; done
pids=()
rows="$(psql -qtA "$CAPSTAN_DATABASE_URL" -c "SELECT COUNT(*) FROM events WHERE app_id = '$app'")"

python3 - "$nginx_rps" "$sqlite_updates_rps" "$updates_rps" "$sqlite_events_per_s" "$acked_events" "$seconds" "$rows" "$one_replica_rps" <<'PY'
import sys
nginx, sqlite_updates, pg_updates, sqlite_events, acked, seconds, rows, one_replica = (float(x) for x in sys.argv[1:])
pg_events = acked / seconds
ratio = pg_updates / sqlite_updates if sqlite_updates else 0.0
print()
print(f"/updates  postgres+s3, 2 replicas {pg_updates:,.0f} req/s   sqlite, 1 server {sqlite_updates:,.0f} req/s   "
      f"nginx static {nginx:,.0f} req/s   ratio to sqlite {ratio:.2f}  "
      f"(goal >= 0.80: {'meets goal' if ratio >= 0.8 else 'BELOW GOAL'})")
print(f"/updates  postgres+s3, 1 replica alone {one_replica:,.0f} req/s   ratio to sqlite {one_replica / sqlite_updates if sqlite_updates else 0:.2f}")
print(f"/stats    postgres, 2 replicas {pg_events:,.0f} events/s acknowledged   sqlite, 1 server {sqlite_events:,.0f} events/s")
print(f"/stats    postgres: acknowledged {int(acked):,} events; rows in the database {int(rows):,}")
if rows < acked:
    print("FAIL: acknowledged events are missing from PostgreSQL", file=sys.stderr)
    sys.exit(1)
PY
