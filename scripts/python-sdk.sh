#!/usr/bin/env bash
# Run the official Python MCP SDK (mcp==2.3.0) against the server binary: over stdio, then over
# HTTP (`serve --http`: Streamable HTTP in both eras and the legacy SSE transport).
# Usage: scripts/python-sdk.sh [path/to/mcp-elevenlabs [path/to/fake_elevenlabs]]
#        (defaults: target/debug/mcp-elevenlabs, target/debug/examples/fake_elevenlabs)
# Idempotent: the venv at <repo>/.venv is created/updated only when mcp==2.3.0 is missing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

binary="${1:-target/debug/mcp-elevenlabs}"
fake="${2:-target/debug/examples/fake_elevenlabs}"
mcp_version="2.3.0"

if [[ ! -x "$binary" ]]; then
    echo "python-sdk: server binary not found or not executable: $binary (run cargo build)" >&2
    exit 1
fi

py=$(scripts/venv.sh "mcp==$mcp_version")

if [[ ! -x "$fake" ]]; then
    echo "python-sdk: fake ElevenLabs not found: $fake (run cargo build --example fake_elevenlabs)" >&2
    exit 1
fi

"$py" tests/python/sdk_client.py "$binary" "$fake"
exec "$py" tests/python/http_client.py "$binary" "$fake"
