#!/usr/bin/env bash
# Runs a command with a real, unlocked Secret Service: a private D-Bus session bus with
# gnome-keyring-daemon holding a fresh login keyring in a throwaway data directory.
#
#   scripts/with-keyring.sh cargo test -p capstan-client --test keychain
#
# XDG_DATA_HOME (not HOME) is redirected, so cargo and rustup stay visible. Needs the Debian
# packages dbus, dbus-x11 and gnome-keyring (`make deps` installs them).
set -euo pipefail
if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi
for tool in dbus-run-session gnome-keyring-daemon; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing: apt-get install dbus dbus-x11 gnome-keyring" >&2; exit 1; }
done
exec dbus-run-session -- bash -c '
  set -euo pipefail
  export XDG_DATA_HOME="$(mktemp -d)"
  trap "rm -rf \"$XDG_DATA_HOME\"" EXIT
  echo -n capstan-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  export CAPSTAN_KEYRING_TEST=1
  "$@"
' with-keyring "$@"
