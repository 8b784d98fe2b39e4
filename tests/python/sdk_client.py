"""Drive mcp-elevenlabs with the official Python MCP SDK (mcp==2.3.0) over stdio.

Usage: sdk_client.py <path-to-mcp-elevenlabs-binary> <path-to-fake_elevenlabs-example>
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

import base64
import subprocess

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

EXPECTED_TOOLS = ["speak", "list_voices", "set_default_voice", "list_models", "get_usage",
                  "stop_speaking"]
FAKE_KEY = "sk_test_0123456789abcdef"
TIMEOUT_S = 30


class CheckFailed(Exception):
    pass


def check(cond: bool, what: str, detail: object = "") -> None:
    if not cond:
        raise CheckFailed(f"{what}: {detail}")
    print(f"ok: {what}")


def text_of(result) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")


def server_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    # stdio_client merges this over get_default_environment() (HOME, LOGNAME, PATH, SHELL,
    # TERM, USER): never ELEVENLABS_*, and HOME is overridden here.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "MCP_ELEVENLABS_LOG": "debug",
    }
    return env | (extra or {})


def connect(binary: str, home: Path, errlog, mode: str, extra: dict[str, str] | None = None) -> Client:
    params = StdioServerParameters(command=binary, env=server_env(home, extra), cwd=str(home))
    # Client(StdioServerParameters) offers no errlog; a stdio_client transport does.
    return Client(stdio_client(params, errlog=errlog), mode=mode)


async def expect_tools(client: Client, label: str):
    tools = (await client.list_tools()).tools
    names = [t.name for t in tools]
    check(names == EXPECTED_TOOLS, f"{label}: tools/list names {EXPECTED_TOOLS}", names)
    return tools


async def run_auto(binary: str, home: Path, errlog) -> None:
    with anyio.fail_after(TIMEOUT_S):
        async with connect(binary, home, errlog, "auto") as client:
            check(client.protocol_version == "2026-07-28", "run1(auto): negotiated 2026-07-28", client.protocol_version)
            tools = await expect_tools(client, "run1(auto)")
            speak = tools[0]
            ann = speak.annotations
            check(speak.output_schema is not None, "run1(auto): speak has outputSchema")
            check(
                ann is not None and ann.read_only_hint is False and ann.open_world_hint is True,
                "run1(auto): speak annotations readOnlyHint=false openWorldHint=true",
                ann,
            )
            r = await client.call_tool("get_usage", {})
            check(r.is_error is True and "ELEVENLABS_API_KEY" in text_of(r),
                  "run1(auto): get_usage without key -> isError mentioning ELEVENLABS_API_KEY", r)
            r = await client.call_tool("speak", {"text": 5})
            check(r.is_error is True and re.search(r"\btext\b", text_of(r)) is not None,
                  "run1(auto): speak {text:5} -> isError naming `text`", r)
            res = await client.read_resource("health://status")
            health = json.loads(res.contents[0].text)
            check(health.get("api_key") == "missing", 'run1(auto): health://status api_key == "missing"', health)


async def run_legacy(binary: str, home: Path, errlog) -> None:
    with anyio.fail_after(TIMEOUT_S):
        async with connect(binary, home, errlog, "legacy") as client:
            check(client.protocol_version == "2025-11-25", "run2(legacy): negotiated 2025-11-25", client.protocol_version)
            await expect_tools(client, "run2(legacy)")
            r = await client.call_tool("list_models", {})
            check(r.is_error is True and "ELEVENLABS_API_KEY" in text_of(r),
                  "run2(legacy): list_models without key -> isError mentioning ELEVENLABS_API_KEY", r)
            await client.session.send_ping()  # Client.send_ping is a deprecated alias of this
            print("ok: run2(legacy): ping")


async def run_with_key(binary: str, home: Path, errlog, fake_url: str) -> None:
    seen: list[str] = []
    extra = {"ELEVENLABS_API_KEY": FAKE_KEY, "ELEVENLABS_BASE_URL": fake_url}
    with anyio.fail_after(TIMEOUT_S):
        async with connect(binary, home, errlog, "auto", extra) as client:
            check(client.protocol_version == "2026-07-28", "run3(key): negotiated 2026-07-28", client.protocol_version)
            seen.append(client.session.discover_result.model_dump_json(by_alias=True))
            seen.append((await client.list_tools()).model_dump_json(by_alias=True))
            r = await client.call_tool("speak", {"text": "Hello from the SDK.", "delivery": "file"})
            seen.append(r.model_dump_json(by_alias=True))
            kinds = [c.type for c in r.content]
            check(r.is_error is False and kinds == ["text", "resource_link"],
                  "run3(key): speak (file) -> text + resource_link", r)
            sc = r.structured_content or {}
            path = Path(sc.get("path", ""))
            check(sc.get("mime_type") == "audio/mpeg" and path.is_file() and path.stat().st_size == sc.get("bytes"),
                  "run3(key): structuredContent names the saved mp3 and its size", sc)
            res = await client.read_resource(r.content[1].uri)
            check(base64.b64decode(res.contents[0].blob) == path.read_bytes(),
                  "run3(key): resources/read of the resource_link returns the file", len(res.contents))
            r = await client.call_tool("speak", {"text": "Inline please.", "delivery": "inline",
                                                  "output_format": "wav_16000"})
            seen.append(r.model_dump_json(by_alias=True))
            audio = [c for c in r.content if c.type == "audio"]
            check(r.is_error is False and len(audio) == 1 and audio[0].mime_type == "audio/wav"
                  and base64.b64decode(audio[0].data)[:4] == b"RIFF",
                  "run3(key): speak (inline, wav) -> audio content with a WAV", [c.type for c in r.content])
            res = await client.read_resource("health://status")
            seen.append(res.model_dump_json(by_alias=True))
    check(not any(FAKE_KEY in s for s in seen), "run3(key): fake key absent from all results")
    errlog.seek(0)
    check(FAKE_KEY not in errlog.read(), "run3(key): fake key absent from server stderr")


async def main(binary: str, fake: str) -> None:
    # The fake ElevenLabs API from tests/support, as a process on 127.0.0.1; stops when stdin closes.
    proc = subprocess.Popen([fake, FAKE_KEY], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        fake_url = proc.stdout.readline().strip()
        if not fake_url.startswith("http://127.0.0.1:"):
            raise CheckFailed(f"fake ElevenLabs did not start: {fake_url!r}")
        await run_all(binary, fake_url)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def run_all(binary: str, fake_url: str) -> None:
    runs = (
        lambda h, e: run_auto(binary, h, e),
        lambda h, e: run_legacy(binary, h, e),
        lambda h, e: run_with_key(binary, h, e, fake_url),
    )
    for name, run in zip(("run_auto", "run_legacy", "run_with_key"), runs):
        with tempfile.TemporaryDirectory(prefix="mcp-el-sdk-") as tmp, \
                tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:
            try:
                await run(Path(tmp), errlog)
            except BaseException:
                errlog.seek(0)
                tail = errlog.read()[-4000:]
                print(f"--- server stderr ({name}) ---\n{tail}", file=sys.stderr)
                raise


if __name__ == "__main__":
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/mcp-elevenlabs")
    fake = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "target/debug/examples/fake_elevenlabs")
    try:
        anyio.run(main, binary, fake)
    except Exception as e:  # failed checks, SDK rejections, timeouts, spawn errors
        while isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:
            e = e.exceptions[0]  # anyio task groups wrap the real error
        sys.exit(f"FAIL: {e}" if isinstance(e, CheckFailed) else f"FAIL: {type(e).__name__}: {e!r}")
