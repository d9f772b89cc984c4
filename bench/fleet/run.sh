#!/usr/bin/env bash
# The console at fleet scale: fills a server through the device endpoints (POST /updates once
# per device, then POST /stats batches of 200 events, over real HTTP on loopback from many
# clients at once), then times every call a console screen makes (bundle health, channel
# adoption, timelines, device search by id prefix or custom id, device detail, audit): FLEET_REPS
# repetitions each, median and max, against the goal of 100 ms. On each backend: SQLite, and
# PostgreSQL (a throwaway cluster from scripts/test-services.sh). Beside them, the baseline
# measured in the same run: the statements the server ran for the calls migration 0015 changed
# (active devices, device search), timed in the database on the same data.
#
# Knobs: FLEET_DEVICES (default 1000000), FLEET_EVENTS (default 10000000), FLEET_BACKENDS
# (default "sqlite postgres"), FLEET_REPS (default 9), FLEET_CONNECTIONS (default 32),
# FLEET_SERVER_BIN (a capstan-server binary to measure instead of building this tree, e.g. an
# older build to compare against).
# Needs: cargo, curl, zip, python3; PostgreSQL (apt postgresql) and s3s-fs for the PostgreSQL run.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
root="$(cd "$here/../.." && pwd)"
devices="${FLEET_DEVICES:-1000000}"
events="${FLEET_EVENTS:-10000000}"
backends="${FLEET_BACKENDS:-sqlite postgres}"
reps="${FLEET_REPS:-9}"
app="com.fleet.app"

for tool in cargo curl zip python3; do
  command -v "$tool" >/dev/null || { echo "bench: missing $tool (apt-get install curl zip python3)" >&2; exit 2; }
done

# PostgreSQL: rerun this script inside the throwaway services, once.
if [[ " $backends " == *" postgres "* ]] && [ -z "${CAPSTAN_TEST_POSTGRES_URL:-}" ]; then
  exec "$root/scripts/test-services.sh" bash "$0" "$@"
fi

bin="${FLEET_SERVER_BIN:-}"
if [ -z "$bin" ]; then
  echo "== building capstan-server (release)"
  (cd "$root" && cargo build --release -p capstan-server --quiet)
  bin="${CARGO_TARGET_DIR:-$root/target}/release/capstan-server"
fi

work="$(mktemp -d)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true; fi
  server_pid=""
}
cleanup() {
  stop_server
  # The servers' logs outlive the run (a failed fill is explained there).
  mkdir -p "${TMPDIR:-/tmp}/capstan-bench-fleet" && cp "$work"/server-*.log "${TMPDIR:-/tmp}/capstan-bench-fleet/" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT


# Every request comes from 127.0.0.1: the per-address limits and /stats budgets would measure
# the policy, not the server.
export CAPSTAN_LOG=warn NO_COLOR=1
export CAPSTAN_RATE_LIMIT_PER_SECOND=0 CAPSTAN_STATS_EVENTS_PER_SECOND=0 CAPSTAN_STATS_BYTES_PER_SECOND=0

run_backend() {
  local backend="$1"
  export CAPSTAN_DATA_DIR="$work/$backend"
  unset CAPSTAN_DATABASE_URL
  if [ "$backend" = postgres ]; then
    psql -q "$CAPSTAN_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS capstan_fleet" -c "CREATE DATABASE capstan_fleet"
    export CAPSTAN_DATABASE_URL="${CAPSTAN_TEST_POSTGRES_URL%/*}/capstan_fleet"
  fi
  local port base token
  port="$(free_port)"
  export CAPSTAN_LISTEN="127.0.0.1:$port"
  base="http://127.0.0.1:$port"
  token="$("$bin" token create --role admin --name bench)"
  "$bin" serve 2>"$work/server-$backend.log" &
  server_pid=$!
  wait_ready "$base"

  echo "== $backend: app $app with bundles 1.0.0-1.0.3, channels production and beta"
  local auth=(-H "Authorization: Bearer $token")
  curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d "{\"id\":\"$app\"}" "$base/api/v1/apps" >/dev/null
  curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d '{"name":"beta"}' "$base/api/v1/apps/$app/channels" >/dev/null
  mkdir -p "$work/www"
  for version in 1.0.0 1.0.1 1.0.2 1.0.3; do
    printf '<!doctype html><script src="app.js"></script><!-- %s -->' "$version" >"$work/www/index.html"
    printf 'CapacitorUpdater.notifyAppReady();' >"$work/www/app.js"
    rm -f "$work/bundle.zip"
    (cd "$work/www" && zip -q -r "$work/bundle.zip" .)
    local sha
    sha="$(sha256sum "$work/bundle.zip" | cut -d' ' -f1)"
    curl -fsS "${auth[@]}" --data-binary "@$work/bundle.zip" "$base/api/v1/apps/$app/bundles?version=$version&sha256=$sha" >/dev/null
  done
  curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d '{"version":"1.0.3"}' \
    "$base/api/v1/apps/$app/channels/production/publish" >/dev/null
  curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d '{"version":"1.0.2"}' \
    "$base/api/v1/apps/$app/channels/beta/publish" >/dev/null

  echo "== $backend: filling to $devices devices and $events events (load before: $(load))"
  local started=$SECONDS
  python3 "$here/fleet.py" fill "$base" "$app" "$devices" "$events"
  # The events the server acknowledged are committed by its group commits, the devices by its
  # flushes: the management API reads its own writes (bundle health flushes first), and the
  # timeline's total says when every event is counted.
  for _ in $(seq 1 600); do
    local counted
    counted="$(curl -fsS "${auth[@]}" "$base/api/v1/apps/$app/stats/timeline?bucket=day&days=2" |
      python3 -c 'import json, sys; print(sum(b["count"] for b in json.load(sys.stdin)["buckets"]))')"
    [ "$counted" -ge "$events" ] && break
    sleep 1
  done
  echo "   filled in $((SECONDS - started)) s; events counted by the API: $counted (load after: $(load))"
  python3 "$here/fleet.py" time "$base" "$app" "$token" "$reps" "$devices" \
    "== $backend: console calls with $devices devices and $counted events ($reps repetitions each; load $(load))"
  # The baseline, on the same data: what the server ran for these calls before migration 0015.
  local database="$CAPSTAN_DATA_DIR/capstan.db"
  [ "$backend" = postgres ] && database="$CAPSTAN_DATABASE_URL"
  python3 "$here/fleet.py" previous "$database" "$app" "$reps" "$devices" \
    "== $backend: the statements before migration 0015, on the same data (in the database, without HTTP)"
  stop_server
  if [ "$backend" = postgres ]; then
    psql -q "$CAPSTAN_TEST_POSTGRES_URL" -c "DROP DATABASE capstan_fleet"
  else
    rm -rf "$CAPSTAN_DATA_DIR"
  fi
}

echo "== $(nproc) cores; load average (1, 5, 15 min): $(load)"
for backend in $backends; do
  run_backend "$backend"
done
