#!/usr/bin/env bash
# Browser tests on a fresh Debian machine too: installs Chromium and the
# npm packages when missing, builds the server, then runs every
# tests/e2e/*.test.mjs against the binary in headless Chromium.
# QUIZROOM_BIN may point at an already built binary (then nothing is built).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium"
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update && apt-get install -y chromium
  else
    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
  fi
fi

# A colour emoji font, so emoji nicknames render as players see them.
if ! fc-list 2>/dev/null | grep -qi "color emoji"; then
  echo "== installing an emoji font"
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update && apt-get install -y fonts-noto-color-emoji fontconfig
  else
    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y fonts-noto-color-emoji fontconfig
  fi
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "== installing nodejs and npm"
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update && apt-get install -y nodejs npm
  else
    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm
  fi
fi

if [ ! -d "$here/node_modules/playwright-core" ] || [ ! -d "$here/node_modules/fflate" ]; then
  echo "== npm ci"
  (cd "$here" && npm ci --no-audit --no-fund)
fi

if [ -z "${QUIZROOM_BIN:-}" ]; then
  echo "== building the server"
  (cd "$repo" && cargo build -p quizroom --bin quizroom)
  target="${CARGO_TARGET_DIR:-$repo/target}"
  case "$target" in /*) ;; *) target="$repo/$target" ;; esac
  export QUIZROOM_BIN="$target/debug/quizroom"
fi

echo "== browser tests with $QUIZROOM_BIN"
cd "$here"
exec node --test --test-concurrency=1 ./*.test.mjs
