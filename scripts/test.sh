#!/usr/bin/env bash
# Runs every test quizroom has, on a fresh machine too: the Rust unit and
# black-box tests (real server on port 0, real WebSocket clients), the load
# generator's smoke run, and the browser tests in headless Chromium (which
# tests/e2e/run.sh installs when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test"
cargo test --workspace

echo "== browser tests"
bash tests/e2e/run.sh
