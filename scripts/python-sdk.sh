#!/usr/bin/env bash
# Run the official Python MCP SDK (mcp==2.3.0) against the server binary over stdio.
# Usage: scripts/python-sdk.sh [path/to/mcp-elevenlabs [path/to/fake_elevenlabs]]
#        (defaults: target/debug/mcp-elevenlabs, target/debug/examples/fake_elevenlabs)
# Idempotent: the venv at <repo>/.venv is created/updated only when mcp==2.3.0 is missing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

binary="${1:-target/debug/mcp-elevenlabs}"
fake="${2:-target/debug/examples/fake_elevenlabs}"
venv="$repo/.venv"
py="$venv/bin/python"
mcp_version="2.3.0"

if [[ ! -x "$binary" ]]; then
    echo "python-sdk: server binary not found or not executable: $binary (run cargo build)" >&2
    exit 1
fi

has_mcp() {
    "$py" -c "import importlib.metadata as m; assert m.version(\"mcp\")==\"$mcp_version\"" >/dev/null 2>&1
}

if ! "$py" -c '' >/dev/null 2>&1; then
    python3 -m venv --clear "$venv"   # missing or broken interpreter: (re)create
fi
if ! has_mcp; then
    "$py" -m pip install -q --disable-pip-version-check "mcp==$mcp_version"
    has_mcp || { echo "python-sdk: mcp==$mcp_version not importable after install" >&2; exit 1; }
    echo "python-sdk: installed mcp==$mcp_version into .venv"
fi

if [[ ! -x "$fake" ]]; then
    echo "python-sdk: fake ElevenLabs not found: $fake (run cargo build --example fake_elevenlabs)" >&2
    exit 1
fi

exec "$py" tests/python/sdk_client.py "$binary" "$fake"
