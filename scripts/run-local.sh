#!/usr/bin/env bash
# `make run`: a local Capstan, ready to publish. Starts capstan-server (SQLite + a directory on
# disk, under the user's data directory), makes sure an admin token for it sits in the OS
# keychain as the profile `local`, registers the sample app, and opens the console on it.
# The server stops when the console window closes.
set -euo pipefail

target=${CARGO_TARGET_DIR:?run through make}/debug
data=${XDG_DATA_HOME:-$HOME/.local/share}/capstan/local-server
port=${CAPSTAN_LOCAL_PORT:-8787}
url=http://127.0.0.1:$port
app=com.example.hello
mkdir -p "$data"

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  cat >&2 <<EOF
make run: no display here (neither DISPLAY nor WAYLAND_DISPLAY is set), so the console window
cannot open. Run it from a desktop session, or use the server and the CLI instead:
  $target/capstan-server serve            # CAPSTAN_DATA_DIR=$data CAPSTAN_LISTEN=127.0.0.1:$port
  $target/capstan bundle pack examples/hello-app/www
EOF
  exit 1
fi

server() { CAPSTAN_DATA_DIR=$data CAPSTAN_LISTEN=127.0.0.1:$port "$target/capstan-server" "$@"; }

server serve >"$data/server.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q ready "$data/server.log" 2>/dev/null && break
  kill -0 $server_pid 2>/dev/null || { cat "$data/server.log" >&2; exit 1; }
  sleep 0.1
done
grep -q ready "$data/server.log" || { echo "capstan-server did not start within 10 s:" >&2; cat "$data/server.log" >&2; exit 1; }
echo "capstan-server on $url (data: $data, log: $data/server.log)"

# The profile `local` works when its token is in the keychain and the server accepts it;
# otherwise mint a new admin token and log in again (the token never touches a file).
capstan() { "$target/capstan" "$@"; }
if ! CAPSTAN_PROFILE=local capstan app list >/dev/null 2>&1; then
  server token create --role admin --name "local console" |
    capstan login "$url" --name local --default-app "$app" --token-stdin >/dev/null
fi
capstan profile use local >/dev/null
capstan app list --json | grep -q "\"$app\"" || capstan app create "$app" --name "Hello (sample)" >/dev/null

echo "opening the console; publish examples/hello-app/www to try it"
"$target/capstan-console"
