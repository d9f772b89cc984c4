# shellcheck shell=bash
# Shared by scripts/check-*.sh (sourced, not run): counting checks, ports, waiting for a server,
# and speaking to it as a device does.

passed=0
failed=0

# ok DESCRIPTION COMMAND...: runs the command, counts and prints the outcome.
ok() {
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok - $what"
  else
    failed=$((failed + 1))
    echo "FAIL - $what" >&2
  fi
}

# same DESCRIPTION EXPECTED ACTUAL: an equality check that shows both sides when it fails.
same() {
  if [ "$2" = "$3" ]; then
    passed=$((passed + 1))
    echo "ok - $1"
  else
    failed=$((failed + 1))
    printf 'FAIL - %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3" >&2
  fi
}

# Stops at once: later steps need what this one was to provide.
die() {
  echo "FAIL - $*" >&2
  failed=$((failed + 1))
  summary
  exit 1
}

# The closing line test runners print: "N passed, N failed".
summary() {
  echo "$passed passed, $failed failed"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL [CURL_ARGS...]: until URL answers 2xx, at most 20 s.
wait_http() {
  local url=$1
  shift
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$@" "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# device_update URL APP_ID [CURL_ARGS...]: POST /updates as a plugin on a fresh install would
# (the store-shipped bundle, native 1.0.0), printing the answer.
device_update() {
  local url=$1 app=$2
  shift 2
  curl -fsS "$@" -H 'content-type: application/json' --data @- "$url" <<EOF
{"platform":"android","device_id":"3f0c2a8e-5b1d-4c47-9a53-2d7e8f1b6c90","app_id":"$app","custom_id":"",
 "version_build":"1.0.0","version_code":"1","version_os":"14","version_name":"builtin",
 "plugin_version":"8.51.14","is_emulator":false,"is_prod":true}
EOF
}

# json_field FIELD: one top-level field of the JSON document on stdin.
json_field() {
  python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"
}

sha256_of() {
  sha256sum "$1" | cut -d' ' -f1
}

# metric FILE NAME [LABEL=VALUE...]: the value of one sample of a /metrics scrape, read with the
# Prometheus client library's parser (apt python3-prometheus-client), so a scrape it cannot
# parse fails here; 0 when the sample is absent (counters appear on first use).
metric() {
  /usr/bin/python3 - "$@" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
path, name, *pairs = sys.argv[1:]
wanted = dict(pair.split("=", 1) for pair in pairs)
samples = [s for family in text_string_to_metric_families(open(path).read()) for s in family.samples]
value = next((s.value for s in samples if s.name == name and s.labels == wanted), 0)
print(int(value) if float(value).is_integer() else value)
EOF
}
