#!/usr/bin/env bash
# Builds the PyPI wheel for this machine with maturin (`bindings = "bin"`, from the static musl
# build, so one wheel serves glibc and musl Linux: it is tagged for both, as a static binary
# may be), then installs it into a fresh venv and runs it through uvx, offline: each answers
# `--version` and an `initialize` over stdio. release.yml builds the other platforms' wheels.
# Usage: scripts/package-wheel.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MUSL=x86_64-unknown-linux-musl
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
py=$(scripts/venv.sh maturin==1.16.0 uv==0.13.9 wheel==0.48.0)
venv_bin=$(dirname "$py")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The same cargo build as check.sh's static stage (target, profile, features, environment):
# nothing is compiled again.
# (Run where its pyproject.toml is, which names ../../Cargo.toml.)
(cd packaging/pypi &&
  "$venv_bin/maturin" build --quiet --release --target "$MUSL" --compatibility musllinux_1_2 \
    --out "$work/dist" >/dev/null)
built=("$work"/dist/*.whl)
[ ${#built[@]} -eq 1 ] || { echo "expected one wheel, got: ${built[*]}" >&2; exit 1; }
# Static: valid on glibc (manylinux) as well as musl Linux.
"$py" -m wheel tags --remove --platform-tag "manylinux_2_17_x86_64.musllinux_1_2_x86_64" "${built[0]}" >/dev/null
wheel=$(ls "$work"/dist/*manylinux_2_17_x86_64.musllinux_1_2_x86_64.whl)
case "$(basename "$wheel")" in
  mcp_elevenlabs_rs-"$version"-py3-none-*) ;;
  *) echo "unexpected wheel name: $wheel" >&2; exit 1 ;;
esac

answers() {
  local reply said
  reply=$(printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"wheel","version":"1"}}}' |
    env HOME="$work/home" timeout 60 "$@")
  grep -q '"protocolVersion":"2025-06-18"' <<<"$reply" || { echo "no initialize reply from $*: $reply" >&2; return 1; }
  said=$(env HOME="$work/home" timeout 60 "$@" --version)
  [ "$said" = "mcp-elevenlabs $version" ] || { echo "$* --version said: $said" >&2; return 1; }
}
mkdir -p "$work/home"

# A fresh venv, the wheel alone, no index.
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --no-index --disable-pip-version-check "$wheel"
answers "$work/venv/bin/mcp-elevenlabs"
# uvx, as the README's host config runs it, offline and with an empty cache.
answers env UV_CACHE_DIR="$work/uv-cache" UV_OFFLINE=1 UV_NO_CONFIG=1 \
  "$venv_bin/uvx" --from "$wheel" mcp-elevenlabs

echo "    wheel $(basename "$wheel"): $(stat -c %s "$wheel") B"
