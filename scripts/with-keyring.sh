#!/usr/bin/env bash
# Runs a command with a real, unlocked Secret Service: a private D-Bus session bus with
# gnome-keyring-daemon holding a fresh login keyring in a throwaway data directory.
#
#   scripts/with-keyring.sh cargo test -p capstan-client --test keychain
#   scripts/with-keyring.sh --locked COMMAND   # the same keyring, locked (as after a screen lock)
#
# XDG_DATA_HOME (not HOME) is redirected, so cargo and rustup stay visible. Needs the Debian
# packages dbus, dbus-x11 and gnome-keyring (`make deps` installs them).
set -euo pipefail
locked=0
if [ "${1:-}" = "--locked" ]; then
  locked=1
  shift
fi
if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi
for tool in dbus-run-session gnome-keyring-daemon; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing: apt-get install dbus dbus-x11 gnome-keyring" >&2; exit 1; }
done
export CAPSTAN_KEYRING_LOCK="$locked"
# The bus daemon and anything it starts inherit stdout; keep their chatter on stderr and give
# the command the real stdout (fd 3), so its output stays parseable.
exec 3>&1
exec dbus-run-session -- bash -c '
  set -euo pipefail
  export XDG_DATA_HOME="$(mktemp -d)"
  trap "rm -rf \"$XDG_DATA_HOME\"" EXIT
  echo -n capstan-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
  # The daemon claims its bus name asynchronously: wait, or the first client would D-Bus-activate
  # a second daemon.
  for _ in $(seq 100); do
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true" && break
    sleep 0.05
  done
  if [ "$CAPSTAN_KEYRING_LOCK" = 1 ]; then
    dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
      org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null
  fi
  export CAPSTAN_KEYRING_TEST=1
  "$@" >&3 3>&-
' with-keyring "$@" >&2
