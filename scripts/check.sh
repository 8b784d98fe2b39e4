#!/usr/bin/env bash
# Everything CI runs, in order. Installs what it needs (idempotent, quiet) and fails on the first
# problem. Usage: scripts/check.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# Size budgets of the stripped release binary (DESIGN.md §2; measured figures in BENCHMARKS.md).
# No optional features exist yet, so the default build is also the --no-default-features build.
BUDGET_DEFAULT=$((3500 * 1024))
BUDGET_MINIMAL=$((2500 * 1024))

total_start=$(date +%s)
stage() {
  local name=$1; shift
  local start; start=$(date +%s)
  echo "==> $name"
  "$@"
  echo "    $name: $(( $(date +%s) - start )) s"
}

tools() {
  local have; have=$(rustup component list --installed 2>/dev/null || true)
  for c in rustfmt clippy; do
    grep -q "^$c" <<<"$have" || rustup component add "$c" >/dev/null 2>&1
  done
  command -v python3 >/dev/null || { echo "python3 is required" >&2; return 1; }
}

size_check() {
  local bin=target/release/mcp-elevenlabs size
  size=$(stat -c %s "$bin")
  echo "    release binary (stripped, default features = no-default-features): $size bytes"
  if [ "$size" -gt "$BUDGET_MINIMAL" ] || [ "$size" -gt "$BUDGET_DEFAULT" ]; then
    echo "size budget exceeded: $size > $BUDGET_MINIMAL bytes" >&2
    return 1
  fi
}

stage "install tools" tools
stage "vendor schemas" vendor-schemas/sync
stage "fmt" cargo fmt --all --check
stage "clippy" cargo clippy --locked --all-targets -q -- -D warnings
stage "tests" cargo test --locked -q
stage "release build" cargo build --locked --release -q
stage "size budget" size_check
stage "fake elevenlabs" cargo build --locked -q --example fake_elevenlabs
stage "contract (prism)" scripts/contract.sh target/release/mcp-elevenlabs
stage "python sdk client" scripts/python-sdk.sh target/release/mcp-elevenlabs target/debug/examples/fake_elevenlabs
echo "==> all checks passed in $(( $(date +%s) - total_start )) s"
