#!/usr/bin/env bash
# Everything CI runs, in order: installs what it needs (scripts/install-tools.sh: idempotent,
# quiet), fails on the first problem, and says how long each stage took.
# Usage: scripts/check.sh
# Env: FUZZ_SECONDS (per fuzz target, default 30); CHECK_SKIP_PROBE=1 where ../shared/tools and
# ../shared/emotion are absent (GitHub Actions).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# Size budgets of the stripped release binary (DESIGN.md §2; measured figures in BENCHMARKS.md).
BUDGET_DEFAULT=$((4500 * 1024))
BUDGET_MINIMAL=$((2500 * 1024))
# Lines of src/core/ the test suite must cover (percent).
COVERAGE_MIN=80
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
MUSL=x86_64-unknown-linux-musl
WINDOWS=x86_64-pc-windows-gnu

total_start=$(date +%s)
times=()
stage() {
  local name=$1; shift
  local start; start=$(date +%s)
  echo "==> $name"
  "$@"
  local took=$(( $(date +%s) - start ))
  times+=("$(printf '%6d s  %s' "$took" "$name")")
  echo "    $name: $took s"
}

fmt() {
  cargo fmt --all --check
  cargo fmt --manifest-path fuzz/Cargo.toml --all --check
}

# clippy on every target with no features, each feature alone, and all of them (`cargo hack
# --each-feature`; the features are independent stand-ins, so the powerset's 2^n runs would add
# minutes and no case); `cargo hack check` is implied: clippy runs check.
clippy() {
  cargo hack clippy --locked --each-feature --all-targets -q -- -D warnings
}

# src/core/fence_probe.rs holds one forbidden I/O call per line; every one must be rejected.
fence() {
  local probe=src/core/fence_probe.rs out expected got
  out=$(cargo clippy --locked --lib -q --color never --message-format short -- --cfg fence_probe -D warnings 2>&1 || true)
  expected=$(grep -n '^    [^/]' "$probe" | cut -d: -f1 | sort -un)
  got=$(grep -o "^$probe:[0-9]*" <<<"$out" | cut -d: -f2 | sort -un)
  if [ "$expected" != "$got" ]; then
    echo "the core's I/O fence has a hole: lines of $probe not rejected by clippy:" >&2
    comm -23 <(echo "$expected") <(echo "$got") >&2
    echo "$out" | tail -20 >&2
    return 1
  fi
  echo "    $(wc -l <<<"$expected") forbidden calls rejected inside src/core"
}

# Cargo.toml's rust-version is a promise: every target type-checks with that toolchain.
msrv() {
  local v; v=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
  cargo "+$v" check --locked --all-targets -q
  echo "    all targets check with Rust $v ($(cargo "+$v" --version | cut -d' ' -f2))"
}

docs() {
  RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --document-private-items -q
}

dependency_policy() {
  # Advisories need the network: GitHub Actions runs `cargo deny check advisories`.
  cargo deny --locked --log-level error check licenses bans sources
}

# The test suite, instrumented: the integration tests' server processes are measured too.
tests_and_coverage() {
  cargo llvm-cov --locked --all-targets --no-report -q
  local json; json=$(mktemp)
  cargo llvm-cov report --summary-only --json --output-path "$json" -q
  local rc=0
  python3 - "$json" "$COVERAGE_MIN" <<'EOF' || rc=$?
import json, sys
data = json.load(open(sys.argv[1]))["data"][0]["files"]
def pct(c, n): return 100.0 * c / n if n else 100.0
core = [(f["filename"].split("/src/", 1)[-1], f["summary"]["lines"]) for f in data if "/src/core/" in f["filename"]]
all_lines = [f["summary"]["lines"] for f in data if "/src/" in f["filename"]]
for name, l in sorted(core):
    print(f"    {name:24} {l['covered']:6}/{l['count']:<6} {pct(l['covered'], l['count']):5.1f}%")
c, n = sum(l["covered"] for _, l in core), sum(l["count"] for _, l in core)
ac, an = sum(l["covered"] for l in all_lines), sum(l["count"] for l in all_lines)
print(f"    src/core lines covered: {c}/{n} = {pct(c, n):.1f}% (minimum {sys.argv[2]}%); all of src/: {pct(ac, an):.1f}%")
sys.exit(0 if pct(c, n) >= float(sys.argv[2]) else 1)
EOF
  rm -f "$json"
  return $rc
}

# Stripped release binaries within budget: default features, and --no-default-features when that
# is a different build (no optional feature exists yet, so today it is the same binary).
release_and_size() {
  local defaults
  defaults=$(cargo metadata --locked --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["packages"][0]["features"].get("default", [])))')
  if [ -n "$defaults" ]; then
    cargo build --locked --release -q --no-default-features
    within_budget "--no-default-features" "$BUDGET_MINIMAL"
    cargo build --locked --release -q
    within_budget "default features ($defaults)" "$BUDGET_DEFAULT"
  else
    cargo build --locked --release -q
    within_budget "default = --no-default-features (no optional features yet)" "$BUDGET_MINIMAL"
  fi
}

# The stripped release binary just built is at most BUDGET bytes.
within_budget() {
  local size; size=$(stat -c %s target/release/mcp-elevenlabs)
  echo "    $1: $size bytes (budget $2)"
  [ "$size" -le "$2" ] || { echo "size budget exceeded: $size > $2 bytes" >&2; return 1; }
}

# Sends `initialize` on stdin and checks the reply names a protocol version.
answers_initialize() {
  local reply home; home=$(mktemp -d)
  reply=$(printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"check","version":"1"}}}' |
    env -u XDG_CONFIG_HOME -u XDG_STATE_HOME -u MCP_ELEVENLABS_CONFIG HOME="$home" timeout 10 "$1")
  rm -rf "$home"
  grep -q '"protocolVersion":"2025-06-18"' <<<"$reply" || { echo "no initialize reply from $1: $reply" >&2; return 1; }
}

# A fully static x86_64 musl binary: linked statically, runs, answers the handshake.
static_musl() {
  cargo build --locked --release -q --target "$MUSL"
  local bin=target/$MUSL/release/mcp-elevenlabs
  # Rust's musl binaries are static-pie: `file` says "static-pie linked", ldd "statically linked".
  file -b "$bin" | grep -Eq "static(-pie)? linked" || { file "$bin" >&2; return 1; }
  ldd "$bin" 2>&1 | grep -Eq "statically linked|not a dynamic executable" || { ldd "$bin" >&2; return 1; }
  if readelf -d "$bin" | grep -q NEEDED || readelf -l "$bin" | grep -q INTERP; then
    echo "$bin needs shared libraries or an interpreter" >&2; return 1
  fi
  "$bin" --version >/dev/null
  answers_initialize "$bin"
  echo "    $MUSL: $(stat -c %s "$bin") bytes, $(file -b "$bin" | cut -d, -f1,2,4,6 | tr -s ' ')"
  echo "    x86_64-unknown-linux-gnu: $(stat -c %s target/release/mcp-elevenlabs) bytes"
}

# Windows: cross-built with MinGW-w64 (linked, not run: no Windows here).
windows_build() {
  cargo build --locked --release -q --target "$WINDOWS"
  local bin=target/$WINDOWS/release/mcp-elevenlabs.exe
  file -b "$bin" | grep -q "PE32+ executable" || { file "$bin" >&2; return 1; }
  echo "    $WINDOWS: $(stat -c %s "$bin") bytes, $(file -b "$bin")"
}

# Each fuzz target for FUZZ_SECONDS from the seed corpus and the saved regressions. libFuzzer's
# coverage instrumentation needs unstable flags: the machine's nightly when it has one, else
# stable with RUSTC_BOOTSTRAP=1 (both work here). No sanitizer: the crate forbids unsafe code,
# and without ASan the targets run ~10x faster (debug assertions and overflow checks stay on).
fuzz() {
  local toolchain=()
  if rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=(+nightly)
  else
    export RUSTC_BOOTSTRAP=1
  fi
  local root=$PWD
  local flags=(-O -a -s none --target-dir "$root/target/fuzz")
  local work; work=$(mktemp -d)
  if ! (cd fuzz && cargo "${toolchain[@]}" fuzz build "${flags[@]}") >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    return 1
  fi
  local t log rc failed=0
  for t in $(cd fuzz && cargo "${toolchain[@]}" fuzz list); do
    mkdir -p "$work/$t" "target/fuzz/artifacts/$t"
    log=$work/$t.log
    rc=0
    (cd fuzz && cargo "${toolchain[@]}" fuzz run "${flags[@]}" "$t" "$work/$t" "corpus/$t" "regressions/$t" -- \
      -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$root/target/fuzz/artifacts/$t/") >"$log" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
      failed=1
      echo "fuzz target $t failed:" >&2
      grep -E -A12 "panicked|ERROR|SUMMARY" "$log" | head -40 >&2 || tail -40 "$log" >&2
      local a
      for a in target/fuzz/artifacts/"$t"/*; do
        [ -f "$a" ] || continue
        cp "$a" "fuzz/regressions/$t/"
        echo "saved $a as fuzz/regressions/$t/$(basename "$a"): fix the bug and commit it (tests/fuzz_regressions.rs replays it)" >&2
      done
    else
      awk -v t="$t" '/stat::number_of_executed_units/ {n=$2} /stat::average_exec_per_sec/ {r=$2}
        /^#[0-9]+[ \t]+DONE/ {for (i=1;i<=NF;i++) if ($i=="cov:") c=$(i+1)}
        END {printf "    %-8s %9d executions, %6d/s, coverage %s edges\n", t, n, r, c}' "$log"
    fi
  done
  rm -rf "$work"
  return $failed
}

# Every way users install it, for this machine: versions, server.json, the MCP Bundle, the npm
# packages offline, the container's Dockerfile (scripts/package.sh); the PyPI wheel through pip
# and uvx (scripts/package-wheel.sh, reusing the static build).
packaging() {
  scripts/package.sh "target/$MUSL/release/mcp-elevenlabs"
  scripts/package-wheel.sh
}

# The tone model (feature `emotion`): retrained from train.tsv it must be the committed one byte
# for byte, and the release binary's `analyze` must still reach accuracy and macro-F1 0.68 on
# dev.tsv (deterministic: a model change that loses quality fails here).
emotion_model() {
  scripts/emotion/train.sh --check
  local out
  local data=${EMOTION_DATA:-../shared/emotion}
  [ -f "$data/dev.tsv" ] || data=/work/shared/emotion
  out=$(python3 scripts/emotion/evaluate.py "$data/dev.tsv" target/release/mcp-elevenlabs)
  sed 's/^/    /' <<<"$out"
  awk '/^accuracy/ {a=$2} /^macro-F1/ {f=$2} END {exit !(a >= 0.68 && f >= 0.68)}' <<<"$out" ||
    { echo "the tone model fell below 0.68 accuracy or macro-F1 on dev.tsv" >&2; return 1; }
}

contract_and_clients() {
  cargo build --locked --release -q --example fake_elevenlabs --example http_load
  scripts/contract.sh target/release/mcp-elevenlabs
  scripts/python-sdk.sh target/release/mcp-elevenlabs target/release/examples/fake_elevenlabs
}

# `serve --http` under load: 100 clients x 100 calls, mixed, on loopback against the fake
# ElevenLabs (examples/http_load.rs; about 15 s). Errors fail it; the figures are reported
# (BENCHMARKS.md), not asserted.
http_load() {
  target/release/examples/http_load target/release/mcp-elevenlabs 100 100
}

stage "install tools" scripts/install-tools.sh
stage "vendor schemas" vendor-schemas/sync
stage "fmt" fmt
stage "workflows lint" scripts/lint-workflows.sh
stage "layout (file size, layering)" scripts/layout.sh
stage "clippy (each feature, all targets)" clippy
stage "core I/O fence" fence
stage "MSRV" msrv
stage "docs" docs
stage "dependency policy (cargo deny)" dependency_policy
stage "tests + coverage" tests_and_coverage
stage "release build + size budget" release_and_size
if [ "${CHECK_SKIP_PROBE:-}" = 1 ]; then
  # GitHub Actions: the labelled texts ship with the workplace's shared data, not with this repository.
  echo "==> emotion model: skipped (CHECK_SKIP_PROBE=1)"
else
  stage "emotion model (reproducible, dev-set figures)" emotion_model
fi
stage "static musl build" static_musl
stage "packaging (registry entry, bundle, npm, container, wheel)" packaging
stage "windows build" windows_build
stage "fuzz (${FUZZ_SECONDS} s per target)" fuzz
stage "contract (prism) + python sdk client (stdio and http)" contract_and_clients
stage "http load (100 clients x 100 calls)" http_load
if [ "${CHECK_SKIP_PROBE:-}" = 1 ]; then
  # GitHub Actions: the probe ships with the workplace's shared tools, not with this repository.
  echo "==> probe: skipped (CHECK_SKIP_PROBE=1)"
else
  stage "probe (reported, not asserted)" scripts/bench.sh --report
fi

echo "==> stage times"
printf '%s\n' "${times[@]}"
echo "==> all checks passed in $(( $(date +%s) - total_start )) s"
