#!/usr/bin/env bash
# Installs everything scripts/check.sh needs beyond the Rust toolchain itself. Idempotent and quiet:
# a second run does nothing and prints nothing. Cargo tools are pinned and installed once into
# ~/.cargo/bin (GitHub Actions caches that folder); a different pinned version replaces them.
# Usage: scripts/install-tools.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Pinned tool versions (bump deliberately; each needs rustc >= the version noted).
CARGO_TOOLS=(
  "cargo-fuzz 0.13.2"      # fuzzing driver (libFuzzer); rustc any
  "cargo-llvm-cov 0.9.1"   # coverage of src/core; rustc 1.87
  "cargo-hack 0.6.46"      # clippy per feature (--each-feature); rustc 1.85
  "cargo-deny 0.20.2"      # licenses, bans, sources; rustc 1.88
)
RUST_COMPONENTS=(rustfmt clippy llvm-tools)
RUST_TARGETS=(x86_64-unknown-linux-musl x86_64-pc-windows-gnu)
# Debian packages: musl-gcc for ring's C code in the static build; MinGW-w64 for the Windows check;
# espeak-ng, the offline fallback voice the tests run for real; alsa-utils, whose `aplay -D null`
# is the real player the playback tests run.
# file, which the static checks read; node and npm (Prism, the npm packages, the MCP Bundle CLI)
# when the machine has none yet.
APT_PACKAGES=(musl-tools gcc-mingw-w64-x86-64 espeak-ng alsa-utils file)
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)

quietly() {
  local log; log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    echo "install-tools: failed: $*" >&2
    return 1
  fi
  rm -f "$log"
}

# The toolchain of Cargo.toml's rust-version, for the MSRV check (minimal: rustc, cargo, std).
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
rustup run "$msrv" rustc --version >/dev/null 2>&1 ||
  quietly rustup toolchain install "$msrv" --profile minimal --no-self-update

have_components=$(rustup component list --installed 2>/dev/null)
for c in "${RUST_COMPONENTS[@]}"; do
  grep -q "^$c" <<<"$have_components" || quietly rustup component add "$c"
done
have_targets=$(rustup target list --installed 2>/dev/null)
for t in "${RUST_TARGETS[@]}"; do
  grep -qx "$t" <<<"$have_targets" || quietly rustup target add "$t"
done

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  quietly $sudo apt-get update -qq
  quietly env DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

for entry in "${CARGO_TOOLS[@]}"; do
  read -r name version <<<"$entry"
  sub=${name#cargo-}
  # `cargo fuzz --version` prints "cargo-fuzz 0.13.2"; the others print "cargo-<name> <version>" too.
  current=$(cargo "$sub" --version 2>/dev/null | awk '{print $2}' || true)
  [ "$current" = "$version" ] || quietly cargo install --locked --quiet "$name@$version"
done

command -v python3 >/dev/null || { echo "install-tools: python3 is required" >&2; exit 1; }
