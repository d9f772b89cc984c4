#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with a fresh, unlocked gnome-keyring, so tests
# use a real Secret Service without touching the user's own keychain.
set -euo pipefail
if [ "${CAPSTAN_IN_KEYRING_SESSION:-}" != 1 ]; then
  export CAPSTAN_IN_KEYRING_SESSION=1
  exec dbus-run-session -- "$0" "$@"
fi
XDG_DATA_HOME=$(mktemp -d)
export XDG_DATA_HOME
trap 'rm -rf "$XDG_DATA_HOME"' EXIT
echo -n capstan-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
"$@"
