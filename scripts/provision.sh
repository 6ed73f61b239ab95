#!/usr/bin/env bash
# Installs what a fresh machine lacks, idempotently (seconds when everything is present):
# the wasm32 target, wasm-bindgen-cli pinned to the exact version in Cargo.lock, Debian's
# chromium + chromium-driver, and the npm devDependencies (npm ci). Nothing is downloaded from
# outside the package registries: no browser downloads, no prebuilt binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '[provision] %s\n' "$*"; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

WB=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$WB" ]; then
  step "cargo install wasm-bindgen-cli $WB (about 3 minutes, once)"
  # Not --locked: the CLI's own lockfile pins a crate the index no longer has (see TOOLCHAIN.md).
  cargo install wasm-bindgen-cli --version "$WB" --force
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  step "apt-get install chromium chromium-driver"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq chromium chromium-driver >/dev/null
fi

# npm ci only when node_modules was not installed from this exact lockfile.
LOCK_HASH=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.lock-hash 2>/dev/null)" != "$LOCK_HASH" ]; then
  step "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$LOCK_HASH" > node_modules/.lock-hash
fi
step "ready: $(rustc --version | cut -d' ' -f2) rust, wasm-bindgen $WB, $(chromium --version 2>/dev/null | cut -d' ' -f2) chromium, node $(node --version)"
