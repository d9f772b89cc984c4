#!/usr/bin/env bash
# `make dist`, after the Makefile's release build of the three binaries: the console's .deb
# (Tauri's bundler, from the UI's npm packages) and the server's .deb (cargo-deb, both the server
# and the `capstan` CLI) in dist/. Packaging only: nothing here compiles again.
set -euo pipefail
cd "$(dirname "$0")/.."

release=${CARGO_TARGET_DIR:?run through make}/release
out=dist
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
tauri=ui/node_modules/.bin/tauri
mkdir -p "$out"

# What the console's binary links, as Debian's own packages declare it: dpkg-shlibdeps maps each
# shared library to its package and the oldest version with the symbols used. It wants a
# debian/control to run in, so it runs in a scratch directory.
shlibdeps() {
  local scratch binary=$1
  binary=$(realpath "$binary")
  scratch=$(mktemp -d)
  mkdir "$scratch/debian"
  printf 'Source: capstan\n\nPackage: capstan-console\nArchitecture: any\n' >"$scratch/debian/control"
  (cd "$scratch" && dpkg-shlibdeps -O "$binary" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
  rm -rf "$scratch"
}

# cargo-deb strips the server's binaries; Tauri's bundler leaves symbols in (a fifth of its size).
strip "$release/capstan-console"
depends=$(shlibdeps "$release/capstan-console")
[ -n "$depends" ] || { echo "dist: dpkg-shlibdeps found no dependencies for the console" >&2; exit 1; }
depends_json=$(python3 -c 'import json,sys; print(json.dumps([d.strip() for d in sys.argv[1].split(",")]))' "$depends")
# The bundler appends its own two (WebKitGTK, GTK) to these, unversioned: a harmless repetition.
"$tauri" bundle --bundles deb --config "{\"bundle\":{\"linux\":{\"deb\":{\"depends\":$depends_json}}}}"
# The bundler names the file after the product name ("Capstan Console"); the package inside
# is already `capstan-console`.
cp "$release/bundle/deb/Capstan Console_${version}_${arch}.deb" "$out/capstan-console_${version}_${arch}.deb"

# An AppImage needs linuxdeploy and its plugins, which Tauri's bundler downloads from GitHub:
# only on machines that can reach it (APPIMAGE=1).
if [ -n "${APPIMAGE:-}" ]; then
  "$tauri" bundle --bundles appimage
  cp "$release/bundle/appimage/Capstan Console_${version}_"*.AppImage "$out/capstan-console_${version}_${arch}.AppImage"
fi

cargo deb --package capstan-server --no-build --output "$out/capstan-server_${version}_${arch}.deb"

echo "packages in $out/:"
ls -l "$out"
