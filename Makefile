# Capstan: the two commands a user needs are `make run` and `make test`; the rest are the
# helpers a contributor needs (fmt, lint, bench). Every target installs what it needs first.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# One target directory outside the clone, so a fresh clone on the same machine reuses earlier
# builds while a new machine simply builds cold.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/capstan/target
export CARGO_TERM_COLOR ?= never

# Build: a C toolchain, and WebKitGTK and friends for the Tauri console.
BUILD_APT_PACKAGES := build-essential pkg-config file libssl-dev libwebkit2gtk-4.1-dev libgtk-3-dev \
  libayatana-appindicator3-dev librsvg2-dev libsoup-3.0-dev libxdo-dev
# Tests compare against real tools (zip/unzip, Java's ZipInputStream as Android extracts, brotli), drive
# the real console under Xvfb over WebDriver, keep tokens in a real Secret Service, and run the
# server on a throwaway PostgreSQL cluster (scripts/test-services.sh).
TEST_APT_PACKAGES := zip unzip brotli default-jre-headless python3 xvfb xauth webkit2gtk-driver dbus dbus-x11 \
  gnome-keyring imagemagick postgresql
# A real S3 API that checks request signatures, for the server's S3 tests (0.17 needs a newer Rust).
S3S_FS_VERSION := 0.14.1
# Benchmarks also need GNU time (peak memory), and wrk against nginx (the /updates baseline).
BENCH_APT_PACKAGES := time wrk nginx-light curl

# Packaging: dpkg-shlibdeps (dpkg-dev) reads what the binaries link; cargo-deb builds the server's
# package (pinned: newer releases may need a newer Rust).
DIST_APT_PACKAGES := dpkg-dev
CARGO_DEB_VERSION := 3.8.0
# Checking the packages: install them, run them as their service does and under a real systemd
# in a container (systemd-nspawn), and nginx and Caddy with a private CA in front of the server.
DIST_CHECK_APT_PACKAGES := systemd systemd-container openssl curl nginx-light caddy xvfb xauth x11-utils \
  imagemagick desktop-file-utils python3-prometheus-client

UI := ui

.PHONY: help deps tools services ui ui-check run test test-packages fmt fmt-check lint bench bench-deps bench-pack bench-updates \
  bench-delta bench-abuse bench-preview bench-fleet dist dist-tools dist-check

help:
	@echo "make run    start a local server and open the console connected to it"
	@echo "make test   every check: formatting, clippy, unit, integration and end-to-end tests"
	@echo "make fmt    format the code        make lint   clippy with warnings as errors"
	@echo "make bench  benchmarks (ratios against baselines measured in the same run)"
	@echo "make dist   installers in dist/: the console's .deb and the server's .deb"

## System packages (Debian/Ubuntu; root or sudo), Node.js for the UI, Rust.
deps:
	@scripts/apt-deps.sh $(BUILD_APT_PACKAGES) $(TEST_APT_PACKAGES)
	@command -v npm >/dev/null || scripts/apt-deps.sh nodejs npm
	@command -v cargo >/dev/null || { echo "cargo is missing: install Rust from https://rustup.rs"; exit 1; }

## Cargo-installed tools: tauri-driver bridges WebDriver to the console's WebKit view.
tools: deps services
	@command -v tauri-driver >/dev/null || cargo install tauri-driver --version '^2' --locked

## The storage services scripts/test-services.sh starts: PostgreSQL (apt, in deps) and s3s-fs.
services: deps
	@command -v s3s-fs >/dev/null || cargo install s3s-fs@$(S3S_FS_VERSION) --locked --features binary

## The console's web UI: npm packages from the lockfile, then the production build Tauri embeds.
## Built beside ui/dist and moved in only when it differs: Tauri's build script watches those
## files' times, and rewriting them unchanged recompiled the console (minutes in release, after
## every `make`).
ui: deps
	@cd $(UI) && { [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json node_modules/.capstan-lock || \
	  { npm ci --no-audit --no-fund && cp package-lock.json node_modules/.capstan-lock; }; }
	cd $(UI) && npm run --silent build -- --outDir dist.next
	@cd $(UI) && if diff -rq dist.next dist >/dev/null 2>&1; then rm -rf dist.next; else rm -rf dist && mv dist.next dist; fi

ui-check: ui
	cd $(UI) && npm run --silent typecheck && npm run --silent test

## A local server (SQLite + disk under ~/.local/share/capstan), an admin token in the OS
## keychain, and the console connected to it. Same cargo selection as `make test`.
run: ui
	cargo build --workspace --all-targets --locked -q
	scripts/run-local.sh

# One cargo selection (--workspace --all-targets) for building and testing, so shared crates
# are compiled with one feature set and never twice. Tests that need a display or a keychain
# start their own (Xvfb, a private D-Bus session with gnome-keyring): see scripts/. The server's
# PostgreSQL and S3 tests use the throwaway services scripts/test-services.sh starts around the
# run (and fail, rather than skip, under it if those are missing). `cargo test` alone does not
# link binaries of packages without integration tests (the console), which the end-to-end tests
# launch: `cargo build` first.
test: tools ui-check fmt-check lint
	cargo build --workspace --all-targets --locked
	timeout 3600 scripts/test-services.sh cargo test --workspace --all-targets --locked </dev/null
	cargo test --workspace --doc --locked
	@$(MAKE) --no-print-directory test-packages

## The installers, checked for real at the end of `make test`: `make dist` (a cold release build
## of the console, the server and the CLI, then both .debs) and `make dist-check` (inspects both
## packages, installs them on this machine and talks to them, boots the server's unit under
## systemd in a container, runs nginx and Caddy in front of it). Last, so that a quick failure
## above is seen first.
##
## Only as root, which CI is: the checks install and remove packages, create the system user
## `capstan`, mount an overlay and boot a container, none of which a user without root can do;
## they then say they were skipped. PACKAGE_CHECKS=no skips them for root too (a workstation
## where that is unwelcome); the scripts refuse to touch a machine where Capstan is installed.
##
## What it costs CI (a fresh 2-core machine, 90 minutes), measured on a 2-core machine shared
## with four other builds (load 10-14): with a cold target directory (crates already downloaded),
## `make dist` took 40 min, of which the release build 36m45s for 930 CPU-seconds (so about 8-10
## minutes on two free cores); the three check scripts about 2 minutes (packages 1 min, systemd
## 11 s, proxies 33 s).
## With nothing changed, `make dist` repackages only, in about 5 minutes at that load.
PACKAGE_CHECKS ?= yes
test-packages:
	@if [ "$(PACKAGE_CHECKS)" = no ]; then \
	  echo "make test: package checks skipped (PACKAGE_CHECKS=no)"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "make test: package checks skipped: they install packages on this machine and need root (make dist-check as root)"; \
	else \
	  $(MAKE) --no-print-directory dist-check; \
	fi

fmt:
	cargo fmt --all

fmt-check:
	cargo fmt --all -- --check

lint: ui
	cargo clippy --workspace --all-targets --locked -- -D warnings

## Installers: one release build of the three binaries (one cargo selection, so shared crates
## compile once), then packaging only: Tauri's bundler (the UI's @tauri-apps/cli) for the
## console, cargo-deb for the server and the CLI. See scripts/dist.sh.
dist: ui dist-tools
	cargo build --release --locked -p capstan-console -p capstan-server -p capstan-cli
	scripts/dist.sh

dist-tools: deps
	@scripts/apt-deps.sh $(DIST_APT_PACKAGES)
	@[ "$$(cargo deb --version 2>/dev/null)" = "cargo-deb $(CARGO_DEB_VERSION)" ] || \
	  cargo install cargo-deb --version $(CARGO_DEB_VERSION) --locked

## Installs the packages on this machine (root): see the scripts' headers for what they change.
dist-check: dist
	@scripts/apt-deps.sh $(DIST_CHECK_APT_PACKAGES)
	scripts/check-packages.sh
	scripts/check-systemd-unit.sh
	scripts/check-https-proxy.sh

bench-deps: deps services
	@scripts/apt-deps.sh $(BENCH_APT_PACKAGES)

bench: bench-deps bench-pack bench-updates bench-delta bench-abuse bench-preview bench-fleet

bench-pack:
	python3 bench/pack/run.py

bench-updates:
	bash bench/updates/run.sh

bench-delta:
	python3 bench/delta/run.py

bench-abuse:
	bash bench/abuse/run.sh

bench-preview:
	bash bench/preview/run.sh

## The console's calls with a million devices and ten million events, on SQLite and PostgreSQL
## (FLEET_DEVICES and FLEET_EVENTS make it smaller; see the script's header).
bench-fleet:
	bash bench/fleet/run.sh
