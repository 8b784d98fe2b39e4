"""Drive `mcp-elevenlabs serve --http` with the official Python MCP SDK (mcp==2.3.0):
Streamable HTTP in both eras (mode auto: 2026-07-28; mode legacy: the initialize handshake) and
the legacy HTTP+SSE client (2024-11-05 transport), against the fake ElevenLabs, with a bearer token.

Usage: http_client.py <path-to-mcp-elevenlabs-binary> <path-to-fake_elevenlabs-example>
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

# The stdio check's helpers and constants (this file runs beside it).
from sdk_client import EXPECTED_TOOLS, FAKE_KEY, CheckFailed, check, text_of

TOKEN = "http-token-for-the-sdk-test-0123"
TIMEOUT_S = 30


def start_server(binary: str, home: Path, fake_url: str) -> tuple[subprocess.Popen, str, Path]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "ELEVENLABS_API_KEY": FAKE_KEY,
        "ELEVENLABS_BASE_URL": fake_url,
        "ELEVENLABS_MCP_OUTPUT_MODE": "files",
        "MCP_ELEVENLABS_HTTP_TOKEN": TOKEN,
        "MCP_ELEVENLABS_LOG": "info",
    }
    errlog = home / "server.log"
    proc = subprocess.Popen([binary, "serve", "--http", "127.0.0.1:0"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(errlog, "wb"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = errlog.read_text(errors="replace")
        if "listening on http://" in text:
            base = text.split("listening on ")[1].split("/mcp")[0]
            return proc, base, errlog
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    raise CheckFailed(f"the server did not start: {errlog.read_text(errors='replace')}")


def http_client():
    return create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})


async def exercise(client: Client, label: str, audio_dir: Path) -> None:
    tools = (await client.list_tools()).tools
    check([t.name for t in tools] == EXPECTED_TOOLS, f"{label}: tools/list", [t.name for t in tools])
    voices = await client.call_tool("list_voices", {})
    check(not voices.is_error and "Rachel" in text_of(voices), f"{label}: list_voices", text_of(voices))
    progress: list[float] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append(p)

    r = await client.call_tool("speak", {"text": f"Hello from {label}."},
                               progress_callback=on_progress)
    check(not r.is_error, f"{label}: speak", text_of(r))
    saved = [p for p in audio_dir.iterdir() if p.suffix == ".mp3"] if audio_dir.is_dir() else []
    check(len(saved) >= 1, f"{label}: speak saved a file", saved)
    bad = await client.call_tool("speak", {"text": ""})
    check(bad.is_error, f"{label}: an empty text is a tool error, not a transport error", text_of(bad))


async def run_all(binary: str, fake_url: str) -> None:
    with tempfile.TemporaryDirectory(prefix="mcp-el-http-sdk-") as tmp:
        home = Path(tmp)
        proc, base, errlog = start_server(binary, home, fake_url)
        audio = home / ".local/share/mcp-elevenlabs/audio"
        try:
            with anyio.fail_after(TIMEOUT_S):
                # Streamable HTTP, mode auto: the SDK probes server/discover and goes stateless.
                transport = streamable_http_client(f"{base}/mcp", http_client=http_client())
                async with Client(transport, mode="auto") as client:
                    check(client.protocol_version == "2026-07-28", "auto: negotiated 2026-07-28",
                          client.protocol_version)
                    await exercise(client, "auto", audio)
                # Streamable HTTP, mode legacy: initialize, Mcp-Session-Id, DELETE at the end.
                transport = streamable_http_client(f"{base}/mcp", http_client=http_client())
                async with Client(transport, mode="legacy") as client:
                    check(client.protocol_version == "2025-11-25", "legacy: negotiated 2025-11-25",
                          client.protocol_version)
                    await exercise(client, "legacy", audio)
                # The 2024-11-05 HTTP+SSE transport.
                transport = sse_client(f"{base}/sse", headers={"Authorization": f"Bearer {TOKEN}"})
                async with Client(transport, mode="legacy") as client:
                    await exercise(client, "sse", audio)
                # Without the token nothing gets in.
                try:
                    transport = streamable_http_client(f"{base}/mcp")
                    async with Client(transport, mode="legacy") as client:
                        await client.list_tools()
                    raise CheckFailed("no token: the client got in")
                except CheckFailed:
                    raise
                except Exception as e:  # the SDK wraps the 401 (tests/http.rs checks its status)
                    check("error response" in repr(e) or "401" in repr(e), "no token: refused", repr(e))
            log = errlog.read_text(errors="replace")
            check(TOKEN not in log and FAKE_KEY not in log, "neither the token nor the key in the log")
        finally:
            proc.terminate()
            try:
                code = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise CheckFailed("the server did not stop on SIGTERM")
        check(code == 0, "SIGTERM: the server exits 0", code)


async def main(binary: str, fake: str) -> None:
    proc = subprocess.Popen([fake, FAKE_KEY], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        fake_url = proc.stdout.readline().strip()
        if not fake_url.startswith("http://127.0.0.1:"):
            raise CheckFailed(f"fake ElevenLabs did not start: {fake_url!r}")
        await run_all(binary, fake_url)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


if __name__ == "__main__":
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/mcp-elevenlabs")
    fake = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "target/debug/examples/fake_elevenlabs")
    try:
        anyio.run(main, binary, fake)
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
    print("python sdk over http: all checks passed")
