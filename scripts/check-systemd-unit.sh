#!/usr/bin/env bash
# Runs the server package's systemd unit under a real systemd, with every hardening option in
# force, although PID 1 on this machine is not systemd: systemd-nspawn boots this machine's own
# systemd in a container whose root is a throwaway overlay of this machine's root (so nothing
# the container installs or writes reaches the machine). Inside, the package is installed with
# dpkg, systemd starts capstan-server.service, and a one-shot check service records what systemd
# made of it; this script then checks:
#   - the service runs as `capstan` with no capabilities, no new privileges, a seccomp filter,
#     a read-only root and a writable /var/lib/capstan, a private /tmp, no /home;
#   - a token created as `capstan`, a bundle published with the installed CLI, a device given
#     it, the download's SHA-256;
#   - Restart=on-failure brings it back after a SIGKILL; `systemctl stop` ends it cleanly.
# Root only; needs systemd-nspawn (apt systemd-container) and overlayfs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/check-lib.sh

[ "$(id -u)" = 0 ] || { echo "check-systemd-unit: run as root (it mounts an overlay and boots a container)" >&2; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "systemd-nspawn is missing: apt-get install systemd-container" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
server_deb=$(realpath "${1:-dist}/capstan-server_${version}_$(dpkg --print-architecture).deb")
[ -f "$server_deb" ] || { echo "missing $server_deb: run make dist first" >&2; exit 1; }

# The overlay's upper layer must not be on an overlay itself, nor on a tmpfs too small for it.
work=$(mktemp -d /var/tmp/capstan-unit-check.XXXXXX)
root=$work/root
cleanup() {
  set +e
  mountpoint -q "$root" && umount "$root"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/upper" "$work/overlay-work" "$root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/overlay-work" "$root"

container() {
  systemd-nspawn --directory="$root" --private-network --register=no --keep-unit --link-journal=no --quiet "$@"
}

cp "$server_deb" "$root/root/capstan-server.deb"
container dpkg -i /root/capstan-server.deb >"$work/dpkg.log" 2>&1 || die "dpkg -i in the container: $(tail -5 "$work/dpkg.log")"
# Boot only what the check needs: the services this machine has enabled stay off.
find "$root/etc/systemd/system/multi-user.target.wants" -mindepth 1 \
  ! -name capstan-server.service -delete
cp -r examples/hello-app/www "$root/root/www"

# The check service: facts into /root/out, one file each, for this script to judge.
cat >"$root/root/check.sh" <<'EOF'
#!/bin/bash
out=/root/out
mkdir -p $out
exec 2>$out/trace.log
set -x
healthy() { for _ in $(seq 1 100); do curl -fsS -o /dev/null http://127.0.0.1:8080/healthz && return 0; sleep 0.1; done; return 1; }
healthy
show() { systemctl show capstan-server -p "$1" --value; }
pid=$(show MainPID)
echo "$(show ActiveState) $(show SubState) $(show User)" >$out/state
grep -E '^(Uid|NoNewPrivs|Seccomp|CapBnd|CapEff):' /proc/$pid/status | tr -s '\t' ' ' >$out/proc-status
awk '{ print $5, $6 }' /proc/$pid/mountinfo >$out/mounts
id -u capstan >$out/uid
token=$(runuser -u capstan -- capstan-server --config /etc/capstan/capstan.toml token create --role admin --name unit-check)
export CAPSTAN_SERVER=http://127.0.0.1:8080 CAPSTAN_TOKEN=$token
capstan app create com.example.unit >/dev/null
capstan bundle pack /root/www --out /root/www.zip --json >/dev/null
sha256sum /root/www.zip | cut -d' ' -f1 >$out/bundle-sha
capstan publish /root/www.zip --app com.example.unit --channel production --version 1.0.1 --json >$out/publish.json
curl -fsS -H 'content-type: application/json' --data '{"platform":"android","device_id":"3f0c2a8e-5b1d-4c47-9a53-2d7e8f1b6c90","app_id":"com.example.unit","custom_id":"","version_build":"1.0.0","version_code":"1","version_os":"14","version_name":"builtin","plugin_version":"8.51.14","is_emulator":false,"is_prod":true}' \
  http://127.0.0.1:8080/updates >$out/update.json
curl -fsS -o /root/download.zip "$(python3 -c 'import json; print(json.load(open("/root/out/update.json"))["url"])')"
sha256sum /root/download.zip | cut -d' ' -f1 >$out/download-sha
# Restart=on-failure: a crash (SIGKILL) is followed by a new process that serves again.
kill -KILL $pid
sleep 3
healthy && echo serving >$out/after-kill
echo "$(show NRestarts) $( [ "$(show MainPID)" != "$pid" ] && echo new-pid )" >$out/restarts
systemctl stop capstan-server
echo "$(show Result) $(show ExecMainStatus)" >$out/stop
journalctl -u capstan-server --no-pager >$out/journal.log
echo done >$out/done
systemctl poweroff
EOF
chmod +x "$root/root/check.sh"
cat >"$root/etc/systemd/system/capstan-check.service" <<'EOF'
[Unit]
Description=Checks capstan-server.service from the inside
Wants=capstan-server.service
After=capstan-server.service
[Service]
Type=oneshot
ExecStart=/root/check.sh
EOF
ln -s /etc/systemd/system/capstan-check.service "$root/etc/systemd/system/multi-user.target.wants/"

echo "# booting systemd in a container with capstan-server installed"
timeout 180 systemd-nspawn --directory="$root" --private-network --register=no --keep-unit --link-journal=no \
  --quiet --boot >"$work/boot.log" 2>&1 || true
out=$root/root/out
[ -f "$out/done" ] || die "the check inside the container did not finish: $(tail -20 "$out/trace.log" "$work/boot.log" 2>/dev/null)"

same "systemd: the service is active, running as capstan" "active running capstan" "$(cat "$out/state")"
status=$(cat "$out/proc-status")
uid=$(cat "$out/uid")
ok "systemd: the process runs as capstan's uid ($uid)" grep -q "^Uid: $uid $uid $uid $uid" <<<"$status"
ok "systemd: no capabilities (CapabilityBoundingSet=)" grep -q '^CapBnd: 0000000000000000' <<<"$status"
ok "systemd: no effective capabilities" grep -q '^CapEff: 0000000000000000' <<<"$status"
ok "systemd: no new privileges (NoNewPrivileges=, also implied by the filters)" grep -q '^NoNewPrivs: 1' <<<"$status"
ok "systemd: a seccomp filter (SystemCallFilter=, MemoryDenyWriteExecute=, ...)" grep -q '^Seccomp: 2' <<<"$status"
mounts=$(cat "$out/mounts")
ok "systemd: the root is read-only (ProtectSystem=strict)" grep -q '^/ ro,' <<<"$mounts"
ok "systemd: /var/lib/capstan is writable (StateDirectory=)" grep -q '^/var/lib/capstan rw,' <<<"$mounts"
ok "systemd: /home is out of reach (ProtectHome=)" grep -q '^/home ro,nosuid,nodev,noexec' <<<"$mounts"
ok "systemd: a private /tmp (PrivateTmp=)" test "$(grep -c '^/tmp ' <<<"$mounts")" -ge 2
bundle_sha=$(cat "$out/bundle-sha")
same "systemd: the sandboxed server verified the published bundle" "$bundle_sha" "$(json_field sha256 <"$out/publish.json")"
same "systemd: a device is offered it" 1.0.1 "$(json_field version <"$out/update.json")"
same "systemd: and downloads it" "$bundle_sha" "$(cat "$out/download-sha")"
ok "systemd: serves again after a SIGKILL (Restart=on-failure)" test -f "$out/after-kill"
same "systemd: restarted once, as a new process" "1 new-pid" "$(cat "$out/restarts")"
same "systemd: systemctl stop ends it cleanly" "success 0" "$(cat "$out/stop")"
ok "systemd: the server logged a clean stop" grep -q 'stopped cleanly' "$out/journal.log"

summary
[ "$failed" -eq 0 ]
