#!/usr/bin/env bash
# Runs a command with throwaway storage services on loopback, then stops and removes them:
#   - a PostgreSQL cluster (initdb + pg_ctl from the Debian `postgresql` package; as the
#     `postgres` user when run as root), exported as CAPSTAN_TEST_POSTGRES_URL (a maintenance
#     URL: each test creates and drops a database of its own);
#   - s3s-fs, a real S3 API over a directory that checks request signatures
#     (`cargo install s3s-fs@0.14.1 --locked --features binary`), exported as
#     CAPSTAN_TEST_S3_ENDPOINT, CAPSTAN_TEST_S3_BUCKET, CAPSTAN_TEST_S3_ACCESS_KEY and
#     CAPSTAN_TEST_S3_SECRET_KEY (each test uses a prefix of its own in that bucket).
# CAPSTAN_TEST_SERVICES=required tells the tests that need these to fail, not skip, without them.
# PostgreSQL runs without fsync (a test cluster need not survive power loss) unless
# CAPSTAN_SERVICES_DURABLE=1 (benchmarks, which compare against SQLite's durable commits).
# CAPSTAN_SERVICES_PG_OPTIONS adds server options (benchmarks: -c shared_buffers=1GB).
#
# Usage: scripts/test-services.sh COMMAND [ARGS...]     e.g. scripts/test-services.sh cargo test -p capstan-server
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
[ -x "$pg_bin/initdb" ] || { echo "test-services: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 2; }
s3s="$(command -v s3s-fs || true)"
[ -n "$s3s" ] || { echo "test-services: s3s-fs is missing (cargo install s3s-fs@0.14.1 --locked --features binary)" >&2; exit 2; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

work="$(mktemp -d /tmp/capstan-services.XXXXXX)"
s3_pid=""
pg_started=""
as_pg=()
if [ "$(id -u)" = 0 ]; then
  # initdb refuses to run as root.
  chown postgres: "$work"
  as_pg=(runuser -u postgres --)
fi
cleanup() {
  if [ -n "$pg_started" ]; then
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/pg" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "$s3_pid" ]; then
    kill "$s3_pid" 2>/dev/null || true
    wait "$s3_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

started_ns=$(date +%s%N)
pg_port="$(free_port)"
"${as_pg[@]}" "$pg_bin/initdb" -D "$work/pg" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$work/initdb.log" 2>&1 ||
  { cat "$work/initdb.log" >&2; exit 1; }
# Connections: several servers and replicas per test, each with a pool, and tests run in parallel.
pg_options="-p $pg_port -k $work -c listen_addresses=127.0.0.1 -c max_connections=400"
if [ "${CAPSTAN_SERVICES_DURABLE:-}" != 1 ]; then
  pg_options="$pg_options -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
# More, for benchmarks: e.g. "-c shared_buffers=1GB" (the default 128 MB holds less than a
# million devices' table and indexes, so every read goes to the kernel's page cache).
pg_options="$pg_options ${CAPSTAN_SERVICES_PG_OPTIONS:-}"
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/pg" -w -l "$work/pg.log" -o "$pg_options" start >/dev/null ||
  { cat "$work/pg.log" >&2; exit 1; }
pg_started=1

s3_port="$(free_port)"
s3_root="$work/s3"
mkdir -p "$s3_root/capstan-test"
[ "$(id -u)" = 0 ] && chown -R root: "$s3_root"
s3_key="capstan-test-key"
s3_secret="capstan-test-secret-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
"$s3s" --host 127.0.0.1 --port "$s3_port" --access-key "$s3_key" --secret-key "$s3_secret" "$s3_root" \
  >"$work/s3.log" 2>&1 &
s3_pid=$!
for _ in $(seq 1 100); do
  (echo >"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null && break
  sleep 0.05
done
(echo >"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null || { cat "$work/s3.log" >&2; exit 1; }
echo "test-services: PostgreSQL on 127.0.0.1:$pg_port and s3s-fs on 127.0.0.1:$s3_port," \
  "up in $((($(date +%s%N) - started_ns) / 1000000)) ms" >&2

export CAPSTAN_TEST_SERVICES=required
export CAPSTAN_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
export CAPSTAN_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
export CAPSTAN_TEST_S3_BUCKET="capstan-test"
export CAPSTAN_TEST_S3_ACCESS_KEY="$s3_key"
export CAPSTAN_TEST_S3_SECRET_KEY="$s3_secret"
# In the background, so that a TERM (from `timeout`, CI) reaches the command before cleanup.
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' INT TERM
status=0
wait "$child" || status=$?
while kill -0 "$child" 2>/dev/null; do wait "$child" || status=$?; done
exit $status
