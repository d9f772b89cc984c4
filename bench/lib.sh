# Helpers the bench scripts share: `source "$(dirname "$0")/../lib.sh"`.

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The load average over 1, 5 and 15 minutes.
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Waits up to 10 s for the server at BASE to answer /readyz; fails (set -e) if it never does.
wait_ready() {
  local base="$1"
  for _ in $(seq 1 200); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && return
    sleep 0.05
  done
  curl -fsS "$base/readyz" >/dev/null
}
