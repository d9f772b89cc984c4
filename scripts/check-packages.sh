#!/usr/bin/env bash
# Checks the packages `make dist` built (dist/*.deb), for real, on this machine:
#   - both: metadata, dependencies and files (dpkg-deb -I / -c), the desktop entry and icons,
#     the systemd unit, and that every library the binaries link comes from a declared dependency;
#   - the server: installs it (apt-get), checks the user, directories and the unit
#     (systemd-analyze verify and its security score), starts the server the way the unit does
#     (its ExecStart as its User, with its WorkingDirectory and UMask, no new privileges, no
#     capabilities), creates a token with `capstan-server token create` as that user, publishes a
#     bundle with the installed `capstan`, checks a device gets it, scrapes /metrics with a viewer
#     token (parsed by the Prometheus client library) and finds that traffic, then removes the package and
#     checks that the data in /var/lib/capstan is kept and served again after a reinstall, and
#     backs up and restores it as docs/install.md says (service stopped, tar);
#   - the console: installs it and starts it from its desktop entry's Exec line under Xvfb, and
#     checks that its window opens (a screenshot is kept in CAPSTAN_SCREENSHOT_DIR if set).
# PID 1 is not systemd on the machines this runs on: here the unit is checked by systemd-analyze,
# and scripts/check-systemd-unit.sh runs it under a real systemd in a container.
#
# Root only, and it changes the machine: it installs and removes capstan-server and
# capstan-console, and creates the system user `capstan`. It refuses to run where a Capstan
# server is installed or /var/lib/capstan exists, and removes what it created when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/check-lib.sh

[ "$(id -u)" = 0 ] || { echo "check-packages: run as root (it installs packages)" >&2; exit 1; }
dist=${1:-dist}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
server_deb=$(realpath "$dist/capstan-server_${version}_${arch}.deb")
console_deb=$(realpath "$dist/capstan-console_${version}_${arch}.deb")
for deb in "$server_deb" "$console_deb"; do
  [ -f "$deb" ] || { echo "missing $deb: run make dist first" >&2; exit 1; }
done

# Our marker says a previous run of this script made the user and the directory; anything else
# is someone's real installation.
marker=/var/tmp/capstan-check-packages.marker
if [ ! -e "$marker" ] &&
  { dpkg-query -W -f='${Status}' capstan-server capstan-console 2>/dev/null | grep -q installed || [ -e /var/lib/capstan ]; }; then
  echo "check-packages: Capstan is installed here (a package, or /var/lib/capstan): not touching it" >&2
  exit 1
fi
touch "$marker"

work=$(mktemp -d)
server_pid=""
purge_leftovers() {
  # dpkg, not apt-get: apt-get refuses the whole list when one of them was never installed.
  dpkg --purge capstan-server capstan-console >/dev/null 2>&1 || true
  rm -rf /var/lib/capstan /etc/capstan
  if getent passwd capstan >/dev/null; then userdel capstan; fi
  if getent group capstan >/dev/null; then groupdel capstan; fi
}
cleanup() {
  set +e
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; fi
  purge_leftovers
  rm -f "$marker"
  rm -rf "$work"
}
trap cleanup EXIT
# What an interrupted earlier run left behind.
purge_leftovers

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$work/apt.log" 2>&1 ||
    die "apt-get install $*: $(tail -5 "$work/apt.log")"
}

# Every shared library a binary links must come from a package its .deb depends on (found
# here independently of dpkg-shlibdeps, which `make dist` used to write the list).
links_only_declared() {
  local binary=$1 lib path pkg missing="" declared
  declared=$(tr ',|' '\n' <<<"$2" | sed 's/(.*//; s/ //g')
  for lib in $(objdump -p "$binary" | awk '$1 == "NEEDED" { print $2 }'); do
    path=$(ldconfig -p | awk -v lib="$lib" '$1 == lib { print $NF; exit }')
    [ -n "$path" ] || { missing+=" $lib(not found)"; continue; }
    # Debian 12 packages still list /lib paths, which merged /usr resolves under /usr/lib.
    pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(realpath "$path")" 2>/dev/null || true)
    pkg=$(head -1 <<<"$pkg" | cut -d: -f1)
    grep -qxF "$pkg" <<<"$declared" || missing+=" $lib(${pkg:-no package})"
  done
  [ -z "$missing" ] || { echo "  not declared:$missing" >&2; return 1; }
}

field() { dpkg-deb -f "$1" "$2"; }
has_file() { grep -qx "$2" <<<"$1"; }

echo "# the console's package: $(basename "$console_deb")"
# Paths as dpkg-deb lists them, from ./ (Tauri's bundler writes them without it); a name with a
# space ("Capstan Console.desktop") is the rest of the line.
deb_files() { dpkg-deb -c "$1" | sed -E 's|^([^ ]+ +){5}(\./)?|./|; s| -> .*||'; }
console_files=$(deb_files "$console_deb")
same "console: package name" capstan-console "$(field "$console_deb" Package)"
same "console: version" "$version" "$(field "$console_deb" Version)"
console_depends=$(field "$console_deb" Depends)
ok "console: depends on WebKitGTK 4.1 and GTK 3 ($console_depends)" \
  grep -q 'libwebkit2gtk-4.1-0.*libgtk-3-0\|libgtk-3-0.*libwebkit2gtk-4.1-0' <<<"$console_depends"
ok "console: has its binary" has_file "$console_files" ./usr/bin/capstan-console
desktop_path=$(grep '^\./usr/share/applications/.*\.desktop$' <<<"$console_files" | head -1)
ok "console: has a desktop entry" test -n "$desktop_path"
for size in 32x32 64x64 128x128 256x256@2 512x512; do
  ok "console: has its $size icon" has_file "$console_files" "./usr/share/icons/hicolor/$size/apps/capstan-console.png"
done
dpkg-deb -x "$console_deb" "$work/console"
desktop_file="$work/console/${desktop_path#./}"
ok "console: the desktop entry is valid (desktop-file-validate)" desktop-file-validate "$desktop_file"
same "console: the desktop entry starts the binary" capstan-console "$(sed -n 's/^Exec=//p' "$desktop_file")"
same "console: the desktop entry names its icon" capstan-console "$(sed -n 's/^Icon=//p' "$desktop_file")"
same "console: the desktop entry's name" "Capstan Console" "$(sed -n 's/^Name=//p' "$desktop_file")"
ok "console: every library it links is a declared dependency" \
  links_only_declared "$work/console/usr/bin/capstan-console" "$console_depends"

echo "# the server's package: $(basename "$server_deb")"
server_files=$(deb_files "$server_deb")
same "server: package name" capstan-server "$(field "$server_deb" Package)"
same "server: version" "$version" "$(field "$server_deb" Version)"
server_depends=$(field "$server_deb" Depends)
ok "server: depends on libc6 and passwd (useradd) ($server_depends)" \
  grep -q 'libc6.*passwd\|passwd.*libc6' <<<"$server_depends"
unit_path=$(grep -E '^\./(usr/)?lib/systemd/system/capstan-server\.service$' <<<"$server_files" | head -1)
ok "server: has the systemd unit ($unit_path)" test -n "$unit_path"
for file in ./usr/bin/capstan-server ./usr/bin/capstan ./etc/capstan/capstan.toml \
  ./usr/share/doc/capstan-server/README.md ./usr/share/doc/capstan-server/https.md; do
  ok "server: has $file" has_file "$server_files" "$file"
done
dpkg-deb -e "$server_deb" "$work/server-control"
ok "server: the config is a conffile (kept on remove, asked about on upgrade)" \
  grep -qx /etc/capstan/capstan.toml "$work/server-control/conffiles"
ok "server: postinst creates the system user" grep -q 'useradd --system' "$work/server-control/postinst"
dpkg-deb -x "$server_deb" "$work/server"
for binary in capstan-server capstan; do
  ok "server: every library $binary links is a declared dependency" \
    links_only_declared "$work/server/usr/bin/$binary" "$server_depends"
done

echo "# installing capstan-server"
apt_install "$server_deb"
unit=/${unit_path#./}
on_path() { command -v "$@" >/dev/null; }
ok "install: the binaries are on PATH" on_path capstan-server capstan
ok "install: a system user capstan without a login shell" \
  test "$(getent passwd capstan | cut -d: -f7)" = /usr/sbin/nologin -a "$(id -u capstan)" -lt 1000
same "install: /var/lib/capstan belongs to capstan, closed to others" "capstan:capstan 750" \
  "$(stat -c '%U:%G %a' /var/lib/capstan)"
systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 && verify_rc=0 || verify_rc=$?
same "install: systemd-analyze verify accepts the unit, without a warning" "0:" "$verify_rc:$(cat "$work/verify.log")"
systemd-analyze security --offline=yes "$unit" >"$work/security.log" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for capstan-server.service: \([0-9.]*\).*/\1/p' "$work/security.log")
echo "  systemd-analyze security: exposure ${exposure:-?} (0 = most confined, 10 = not at all)"
ok "install: the unit's sandbox scores below 2 in systemd-analyze security (${exposure:-none})" \
  python3 -c 'import sys; sys.exit(0 if sys.argv[1] and float(sys.argv[1]) < 2 else 1)' "${exposure:-}"

# The unit's own settings, read from the installed file: what systemd would do.
unit_value() { sed -n "s/^$1=//p" "$unit" | tail -1; }
exec_start=$(unit_value ExecStart)
service_user=$(unit_value User)
same "unit: runs as capstan" capstan "$service_user"
same "unit: reads /etc/capstan/capstan.toml" "/usr/bin/capstan-server --config /etc/capstan/capstan.toml serve" "$exec_start"

# Configure as an admin would: a free port, and the address devices use.
port=$(free_port)
sed -i -e "s|^listen = .*|listen = \"127.0.0.1:$port\"|" \
  -e "s|^# public_url = .*|public_url = \"http://127.0.0.1:$port\"|" /etc/capstan/capstan.toml

# As systemd runs ExecStart: the unit's user and group, working directory and umask, no new
# privileges and an empty capability bounding set (NoNewPrivileges=, CapabilityBoundingSet=).
# Run it in a subshell: it ends by becoming the command, so `$!` is the server itself.
as_service() {
  cd "$(unit_value WorkingDirectory)"
  umask "$(unit_value UMask)"
  exec setpriv --reuid="$service_user" --regid="$(unit_value Group)" --init-groups --no-new-privs \
    --bounding-set=-all --inh-caps=-all -- "$@"
}
start_service() {
  # shellcheck disable=SC2086 # ExecStart is a command line: split it as systemd does.
  (as_service $exec_start) 2>>"$work/server.log" &
  server_pid=$!
  wait_http "http://127.0.0.1:$port/healthz" || die "the server did not start as its unit does: $(cat "$work/server.log")"
  same "service: the process is the unit's ExecStart, as its user" "$service_user $exec_start" \
    "$(ps -o user= -p "$server_pid" | tr -d ' ') $(ps -o args= -p "$server_pid")"
}
stop_service() {
  kill -TERM "$server_pid"
  local rc=0
  wait "$server_pid" || rc=$?
  server_pid=""
  same "service: stops cleanly on SIGTERM (exit status)" 0 "$rc"
}

token=$(as_service capstan-server --config /etc/capstan/capstan.toml token create --role admin --name "package check")
ok "service: capstan-server token create as capstan printed a token" test -n "$token"
start_service
app=com.example.packaged
export CAPSTAN_SERVER="http://127.0.0.1:$port" CAPSTAN_TOKEN="$token"
capstan app create "$app" --name "Package check" >/dev/null || die "capstan app create against the installed server"
capstan bundle pack examples/hello-app/www --out "$work/hello.zip" --json >/dev/null
capstan publish "$work/hello.zip" --app "$app" --channel production --version 1.0.1 --json >"$work/publish.json" ||
  die "capstan publish against the installed server"
bundle_sha=$(sha256_of "$work/hello.zip")
same "service: the installed server verified the published bundle" "$bundle_sha" "$(json_field sha256 <"$work/publish.json")"
answer=$(device_update "http://127.0.0.1:$port/updates" "$app")
same "service: a device is offered the bundle" 1.0.1 "$(json_field version <<<"$answer")"
same "service: with its checksum" "$bundle_sha" "$(json_field checksum <<<"$answer")"
curl -fsS -o "$work/download.zip" "$(json_field url <<<"$answer")"
same "service: the device downloads the bundle" "$bundle_sha" "$(sha256_of "$work/download.zip")"
# Monitoring as docs/install.md sets it up: a viewer token for Prometheus.
viewer=$(as_service capstan-server --config /etc/capstan/capstan.toml token create --role viewer --name prometheus)
same "metrics: /metrics without a token is refused" 401 \
  "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")"
curl -fsS -H "Authorization: Bearer $viewer" -o "$work/metrics.txt" "http://127.0.0.1:$port/metrics" ||
  die "GET /metrics with a viewer token"
same "metrics: the device's update is counted" 1 \
  "$(metric "$work/metrics.txt" capstan_requests_total method=POST route=/updates outcome=update)"
same "metrics: the publish's upload is counted" 1 \
  "$(metric "$work/metrics.txt" capstan_requests_total method=POST route=/api/v1/apps/{app}/bundles outcome=ok)"
same "metrics: the download's bytes are counted" "$(stat -c %s "$work/hello.zip")" \
  "$(metric "$work/metrics.txt" capstan_download_bytes_total)"
same "metrics: /updates latency is in its histogram" 1 \
  "$(metric "$work/metrics.txt" capstan_request_duration_seconds_count method=POST route=/updates)"
stop_service
ok "service: its files in /var/lib/capstan belong to capstan" \
  test -z "$(find /var/lib/capstan ! -user capstan -print -quit)"
ok "service: wrote no file that others can read (UMask)" test -z "$(find /var/lib/capstan -type f -perm /o=r -print -quit)"

echo "# removing capstan-server"
data_before=$(find /var/lib/capstan -type f ! -name '*-shm' -printf '%P\n' | sort)
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq capstan-server >/dev/null 2>&1 || die "apt-get remove capstan-server"
ok "remove: the binaries are gone" test ! -e /usr/bin/capstan-server -a ! -e /usr/bin/capstan
ok "remove: the config is kept (a conffile)" test -f /etc/capstan/capstan.toml
same "remove: every data file in /var/lib/capstan is kept" "$data_before" \
  "$(find /var/lib/capstan -type f ! -name '*-shm' -printf '%P\n' | sort)"
ok "remove: the bundle is still there, byte for byte" \
  grep -qx "$bundle_sha" <(find /var/lib/capstan -type f -exec sha256sum {} + | cut -d' ' -f1)

echo "# reinstalling: the kept data is served again"
apt_install "$server_deb"
start_service
answer=$(device_update "http://127.0.0.1:$port/updates" "$app")
same "reinstall: a device is still offered the bundle" 1.0.1 "$(json_field version <<<"$answer")"
# Backup and restore as docs/install.md#backups says, with the service stopped: a bundle
# published after the backup is gone after the restore, and the backup's bundle is served.
echo "# backup with the service stopped, then restore"
stop_service
tar -C / -czf "$work/backup.tar.gz" var/lib/capstan etc/capstan || die "tar the data and settings"
start_service
cp -r examples/hello-app/www "$work/www-later"
echo "<!-- published after the backup -->" >>"$work/www-later/index.html"
capstan bundle pack "$work/www-later" --out "$work/later.zip" --json >/dev/null
capstan publish "$work/later.zip" --app "$app" --channel production --version 1.0.2 --json >/dev/null ||
  die "capstan publish after the backup"
same "backup: a bundle published after it is offered" 1.0.2 \
  "$(json_field version <<<"$(device_update "http://127.0.0.1:$port/updates" "$app")")"
stop_service
mv /var/lib/capstan "$work/data-before-restore"
tar -C / -xzf "$work/backup.tar.gz" || die "untar the backup"
ok "restore: the data belongs to capstan again" test -z "$(find /var/lib/capstan ! -user capstan -print -quit)"
start_service
answer=$(device_update "http://127.0.0.1:$port/updates" "$app")
same "restore: a device is offered the backup's bundle" 1.0.1 "$(json_field version <<<"$answer")"
curl -fsS -o "$work/restored.zip" "$(json_field url <<<"$answer")"
same "restore: and downloads it byte for byte" "$bundle_sha" "$(sha256_of "$work/restored.zip")"
stop_service
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq capstan-server >/dev/null 2>&1 || die "apt-get purge capstan-server"
ok "purge: the config is gone" test ! -e /etc/capstan/capstan.toml
ok "purge: the data is still kept" test -n "$(find /var/lib/capstan -type f -print -quit)"

echo "# installing capstan-console and starting it from its desktop entry"
apt_install "$console_deb"
installed_desktop=/${desktop_path#./}
ok "console: the desktop entry is installed" test -f "$installed_desktop"
exec_line=$(sed -n 's/^Exec=//p' "$installed_desktop" | sed 's/ %[fFuUick]//g')
ok "console: its Exec line runs a command on PATH ($exec_line)" on_path "${exec_line%% *}"
ok "console: its icon is installed in the icon theme" test -f /usr/share/icons/hicolor/128x128/apps/capstan-console.png
# A throwaway home: the console may write its settings and WebKit's caches there.
console_home="$work/home"
mkdir -p "$console_home"
# The Exec line as the desktop would run it, under Xvfb; wait for the window, take a screenshot.
# shellcheck disable=SC2016,SC2086 # the inner script expands its own $1; the Exec line is split as the desktop does
HOME=$console_home XDG_CONFIG_HOME=$console_home/.config XDG_DATA_HOME=$console_home/.local/share \
  xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
    out=$1
    shift
    "$@" &
    app=$!
    for _ in $(seq 1 300); do
      xwininfo -root -tree | grep -q "\"Capstan\": (" && break
      kill -0 $app 2>/dev/null || break
      sleep 0.1
    done
    # Until the web UI has drawn (a busy machine took more than the 2 s once given): a blank
    # window has a handful of colours, the rendered UI hundreds.
    for _ in $(seq 1 60); do
      sleep 1
      import -window root "$out/console.png"
      [ "$(convert "$out/console.png" -format %k info: 2>/dev/null || echo 0)" -gt 100 ] && break
    done
    xwininfo -root -tree >"$out/windows.txt"
    window=$(awk "/\"Capstan\": \\(/ { print \$1; exit }" "$out/windows.txt")
    [ -n "$window" ] && xprop -id "$window" WM_CLASS >"$out/wm_class.txt"
    kill $app 2>/dev/null
    wait $app 2>/dev/null
    true' _ "$work" $exec_line >"$work/console.log" 2>&1 || true
ok "console: its window \"Capstan\" opens under Xvfb" grep -q '"Capstan": (' "$work/windows.txt"
# Desktops match windows to their entry by WM_CLASS: the entry's StartupWMClass must be in it.
wm_class=$(sed -n 's/^StartupWMClass=//p' "$installed_desktop")
ok "console: the window's WM_CLASS has the entry's StartupWMClass ($wm_class; $(cat "$work/wm_class.txt" 2>/dev/null))" \
  grep -q "\"$wm_class\"" "$work/wm_class.txt"
# The embedded web UI rendered (text and widgets), not an empty or error page.
colours=$(convert "$work/console.png" -format %k info: 2>/dev/null || echo 0)
ok "console: the window shows the web UI (a screenshot of $colours colours)" test "$colours" -gt 100
if [ -n "${CAPSTAN_SCREENSHOT_DIR:-}" ] && [ -f "$work/console.png" ]; then
  mkdir -p "$CAPSTAN_SCREENSHOT_DIR"
  cp "$work/console.png" "$CAPSTAN_SCREENSHOT_DIR/installed-console.png"
  echo "  screenshot: $CAPSTAN_SCREENSHOT_DIR/installed-console.png"
fi
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq capstan-console >/dev/null 2>&1 || die "apt-get remove capstan-console"
ok "console: removed cleanly" test ! -e /usr/bin/capstan-console

summary
[ "$failed" -eq 0 ]
