#!/usr/bin/env bash
# Checks the reverse proxy setups in docs/https.md for real: nginx, and Caddy when it is
# installed, each with a self-signed certificate in front of a real capstan-server on loopback.
# The proxy configurations are read from docs/https.md (the blocks after `<!-- tested: NAME -->`),
# so the page cannot drift from what was checked. Through each proxy:
#   - publish a 60 MB bundle with the `capstan` CLI (a large upload, streamed through the proxy);
#   - a device asks POST /updates and gets an https download link on the proxy;
#   - a full download has the bundle's SHA-256;
#   - `Range: bytes=N-` answers 206 with the right Content-Range and exactly the bytes from N on.
# Needs: the release binaries (CAPSTAN_BIN_DIR, default $CARGO_TARGET_DIR/release), nginx,
# openssl, curl, python3; caddy is optional. Changes nothing outside a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/check-lib.sh

bin=${CAPSTAN_BIN_DIR:-${CARGO_TARGET_DIR:?set CARGO_TARGET_DIR or CAPSTAN_BIN_DIR}/release}
for tool in "$bin/capstan-server" "$bin/capstan"; do
  [ -x "$tool" ] || { echo "missing $tool: run make dist first (or set CAPSTAN_BIN_DIR)" >&2; exit 1; }
done
command -v nginx >/dev/null || { echo "nginx is missing: apt-get install nginx-light" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    if kill "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

# A private CA and a server certificate from it for localhost and 127.0.0.1 (clients built on
# rustls refuse a CA certificate used as the server's own, as a self-signed one would be).
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=Capstan check CA" \
  -keyout "$work/ca-key.pem" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$work/key.pem" -out "$work/server.csr" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" -CAcreateserial -days 1 \
  -extfile "$work/server.ext" -out "$work/cert.pem" 2>/dev/null

# A realistic large web build: an app shell, script chunks, and images that do not compress
# (as media in real bundles), about 60 MB zipped.
python3 - "$work/www" <<'EOF'
import os, random, sys
root = sys.argv[1]
os.makedirs(f"{root}/assets/img")
with open(f"{root}/index.html", "w") as f:
    f.write('<!doctype html><html><head><script type="module" src="assets/app.js"></script></head><body></body></html>')
rng = random.Random(15)
with open(f"{root}/assets/app.js", "w") as f:
    f.write("import { CapacitorUpdater } from '@capgo/capacitor-updater';\nCapacitorUpdater.notifyAppReady();\n")
    for i in range(60000):
        f.write(f"export function handler{i}(event) {{ return event.detail + {rng.randint(0, 10**6)}; }}\n")
for i in range(48):
    with open(f"{root}/assets/img/photo-{i:02}.jpg", "wb") as f:
        f.write(rng.randbytes(1_200_000))
EOF
"$bin/capstan" bundle pack "$work/www" --out "$work/bundle.zip" --json >"$work/pack.json"
bundle_sha=$(sha256_of "$work/bundle.zip")
bundle_size=$(stat -c %s "$work/bundle.zip")
ok "the test bundle is large (${bundle_size} bytes > 55 MB)" [ "$bundle_size" -gt 55000000 ]

# The server as docs/https.md sets it up: loopback, the proxy's address as public_url, the
# device address from X-Real-IP.
start_server() {
  local name=$1 public_url=$2
  upstream_port=$(free_port)
  local data="$work/$name-data"
  mkdir -p "$data"
  local server=(env CAPSTAN_DATA_DIR="$data" CAPSTAN_LISTEN="127.0.0.1:$upstream_port" CAPSTAN_PUBLIC_URL="$public_url"
    CAPSTAN_CLIENT_IP_HEADER=x-real-ip CAPSTAN_LOG=warn "$bin/capstan-server")
  token=$("${server[@]}" token create --role admin --name "https check")
  "${server[@]}" serve 2>"$work/$name-server.log" &
  pids+=($!)
  wait_http "http://127.0.0.1:$upstream_port/healthz" || die "$name: capstan-server did not start: $(cat "$work/$name-server.log")"
}

# The configuration block that follows `<!-- tested: NAME -->` in docs/https.md.
doc_block() {
  awk -v marker="<!-- tested: $1 -->" '
    $0 == marker { armed = 1; next }
    armed && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }' docs/https.md
}

# The nginx server block from the docs, on test ports and with the test certificate, inside a
# minimal nginx.conf that keeps every file nginx writes in the work directory.
start_nginx() {
  local port=$1 dir="$work/nginx"
  mkdir -p "$dir"
  doc_block nginx |
    sed -e "s|listen 443 ssl|listen 127.0.0.1:$port ssl|" -e '/listen \[::\]:443/d' \
      -e "s|server_name updates.example.com|server_name localhost|" \
      -e "s|ssl_certificate .*|ssl_certificate $work/cert.pem;|" \
      -e "s|ssl_certificate_key .*|ssl_certificate_key $work/key.pem;|" \
      -e "s|127.0.0.1:8080|127.0.0.1:$upstream_port|" >"$dir/capstan.conf"
  grep -q "proxy_pass http://127.0.0.1:$upstream_port" "$dir/capstan.conf" || die "nginx block not found in docs/https.md"
  # Run as root, nginx's workers would switch to `nobody`, who cannot write the temporary files
  # in this private work directory; a test run keeps them as whoever runs it.
  local user=""
  [ "$(id -u)" = 0 ] && user="user root;"
  cat >"$dir/nginx.conf" <<EOF
$user
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 256; }
http {
  log_format requests '\$request_method \$uri \$status \$request_length';
  access_log $dir/access.log requests;
  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  default_type application/octet-stream;
  include $dir/capstan.conf;
}
EOF
  nginx -t -q -c "$dir/nginx.conf" -p "$dir" 2>"$dir/test.log" || die "nginx rejects the docs' configuration: $(cat "$dir/test.log")"
  nginx -c "$dir/nginx.conf" -p "$dir" &
  pids+=($!)
}

# The Caddyfile site from the docs, on a test port with the test certificate instead of ACME.
start_caddy() {
  local port=$1 dir="$work/caddy"
  mkdir -p "$dir"
  {
    printf '{\n\tadmin off\n\tauto_https disable_redirects\n\tstorage file_system %s\n}\n' "$dir/storage"
    doc_block caddy |
      sed -e "s|^updates.example.com {|https://localhost:$port {\n\ttls $work/cert.pem $work/key.pem|" \
        -e "s|127.0.0.1:8080|127.0.0.1:$upstream_port|"
  } >"$dir/Caddyfile"
  grep -q "reverse_proxy 127.0.0.1:$upstream_port" "$dir/Caddyfile" || die "Caddyfile not found in docs/https.md"
  HOME=$dir XDG_DATA_HOME=$dir XDG_CONFIG_HOME=$dir caddy run --config "$dir/Caddyfile" --adapter caddyfile \
    >"$dir/caddy.log" 2>&1 &
  pids+=($!)
}

check_proxy() {
  local name=$1 port
  port=$(free_port)
  local public="https://localhost:$port"
  echo "# $name on $public"
  start_server "$name" "$public"
  "start_$name" "$port"
  wait_http "$public/healthz" --cacert "$work/ca.pem" || die "$name did not answer on $public"

  # The CLI trusts the private CA the way docs/https.md says users should: through the system's
  # trust store, here pointed at the test CA by SSL_CERT_FILE.
  local cli=(env SSL_CERT_FILE="$work/ca.pem" CAPSTAN_SERVER="$public" CAPSTAN_TOKEN="$token" "$bin/capstan")
  local app="com.example.https.$name"
  "${cli[@]}" app create "$app" --name "HTTPS check" >/dev/null || die "$name: app create through the proxy"
  "${cli[@]}" publish "$work/bundle.zip" --app "$app" --channel production --version 1.0.1 --json \
    >"$work/$name-publish.json" 2>"$work/$name-publish.err" || die "$name: publish through the proxy: $(cat "$work/$name-publish.err")"
  same "$name: the server verified the uploaded bundle's SHA-256" "$bundle_sha" "$(json_field sha256 <"$work/$name-publish.json")"

  local answer url
  answer=$(device_update "$public/updates" "$app" --cacert "$work/ca.pem")
  same "$name: a device is offered the new bundle" "1.0.1" "$(json_field version <<<"$answer")"
  url=$(json_field url <<<"$answer")
  ok "$name: the download link is on the proxy's https address ($url)" test "${url#"$public"/}" != "$url"

  curl -fsS --cacert "$work/ca.pem" -o "$work/$name-full.zip" "$url"
  same "$name: a full download has the bundle's SHA-256" "$bundle_sha" "$(sha256_of "$work/$name-full.zip")"

  # Resume from an odd offset in the middle, as a device does after a dropped connection.
  local offset=$((bundle_size / 2 + 12345))
  local status
  status=$(curl -sS --cacert "$work/ca.pem" -H "Range: bytes=$offset-" -D "$work/$name-range.headers" \
    -o "$work/$name-range.part" -w '%{http_code}' "$url")
  same "$name: Range: bytes=$offset- answers 206" 206 "$status"
  same "$name: Content-Range names the bytes from the offset to the end" \
    "bytes $offset-$((bundle_size - 1))/$bundle_size" \
    "$(sed -n 's/^content-range: *//Ip' "$work/$name-range.headers" | tr -d '\r')"
  same "$name: the partial body is exactly the bundle's bytes from the offset" \
    "$(tail -c +$((offset + 1)) "$work/bundle.zip" | sha256sum | cut -d' ' -f1)" "$(sha256_of "$work/$name-range.part")"
}

check_proxy nginx
# The upload went through nginx as one large request, not around it.
upload_bytes=$(awk '$1 == "POST" && $2 ~ /\/bundles$/ && $3 ~ /^2/ { print $4 }' "$work/nginx/access.log" | head -1)
ok "nginx: the whole upload passed through it (a 2xx POST .../bundles of ${upload_bytes:-0} bytes)" \
  test "${upload_bytes:-0}" -gt "$bundle_size"
# nginx warns when it spools a request or a response to a temporary file: streamed, it does not.
ok "nginx: streamed the upload and the downloads (no temporary file in its log)" \
  test -z "$(grep 'buffered to a temporary file' "$work/nginx/error.log")"

if command -v caddy >/dev/null; then
  check_proxy caddy
else
  echo "# caddy is not installed: its configuration was not checked (apt-get install caddy)"
fi

summary
[ "$failed" -eq 0 ]
