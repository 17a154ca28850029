#!/usr/bin/env bash
# Runs every test quizroom has, on a fresh machine too: the Rust unit and
# black-box tests (real server on port 0, real WebSocket clients), the load
# generator's smoke run, and the browser tests in headless Chromium (which
# tests/e2e/run.sh installs when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# The store and cluster tests start their own PostgreSQL and Redis servers
# (on free loopback ports, in temporary folders) from Debian's packages.
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

# No incremental caches: they double the size of target/ and a fresh
# machine gains nothing from them.
export CARGO_INCREMENTAL=0

# Free disk space before and after, so a machine that runs short says so.
df -h . | tail -1 | awk '{print "== disk: " $4 " free"}'
trap 'df -h . | tail -1 | awk "{print \"== disk: \" \$4 \" free\"}"' EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test"
cargo test --workspace

echo "== browser tests"
bash tests/e2e/run.sh
