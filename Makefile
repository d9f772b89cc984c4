# Capstan: the two commands a user needs are `make run` and `make test`; the rest are the
# helpers a contributor needs (fmt, lint, bench). Every target installs what it needs first.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# One target directory outside the clone, so a fresh clone on the same machine reuses earlier
# builds while a new machine simply builds cold.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/capstan/target
export CARGO_TERM_COLOR ?= never

# Debian packages the build and the tests use: zip/unzip and a JRE are the real tools the
# bundle tests compare against (Android extracts with java.util.zip).
APT_PACKAGES := build-essential pkg-config zip unzip default-jre-headless python3

.PHONY: help deps run test fmt fmt-check lint bench bench-pack

help:
	@echo "make run    pack and inspect the sample web build with the capstan CLI"
	@echo "make test   every check: formatting, clippy, unit, integration and end-to-end tests"
	@echo "make fmt    format the code        make lint   clippy with warnings as errors"
	@echo "make bench  benchmarks (ratios against baselines measured in the same run)"

## Install missing system packages (Debian/Ubuntu; needs root or sudo).
deps:
	@missing=""; for pkg in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v cargo >/dev/null || { echo "cargo is missing: install Rust from https://rustup.rs"; exit 1; }

run: deps
	cargo build -q -p capstan-cli
	$(CARGO_TARGET_DIR)/debug/capstan bundle pack examples/hello-app/www --out $(CARGO_TARGET_DIR)/hello-app.zip
	$(CARGO_TARGET_DIR)/debug/capstan bundle inspect $(CARGO_TARGET_DIR)/hello-app.zip

test: deps fmt-check lint
	cargo test --workspace --all-targets --locked
	cargo test --workspace --doc --locked

fmt:
	cargo fmt --all

fmt-check:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets --locked -- -D warnings

bench: deps bench-pack

bench-pack:
	python3 bench/pack/run.py
