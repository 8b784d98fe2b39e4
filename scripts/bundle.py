#!/usr/bin/env python3
"""Stages one platform's MCP Bundle: packaging/mcpb/manifest.json narrowed to PLATFORM (darwin,
linux or win32) and the binary as server/mcp-elevenlabs[.exe], in DIR, ready for `mcpb pack`.
Used by scripts/package.sh (this machine's bundle) and release.yml (every platform's).

Usage: scripts/bundle.py PLATFORM BINARY DIR
"""
import json
import pathlib
import shutil
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent


def main(argv):
    if len(argv) != 3 or argv[0] not in ("darwin", "linux", "win32"):
        print(__doc__, file=sys.stderr)
        return 2
    platform, binary, out = argv[0], pathlib.Path(argv[1]), pathlib.Path(argv[2])
    manifest = json.loads((REPO / "packaging" / "mcpb" / "manifest.json").read_text())
    manifest["compatibility"]["platforms"] = [platform]
    server = manifest["server"]
    exe = "mcp-elevenlabs.exe" if platform == "win32" else "mcp-elevenlabs"
    server["entry_point"] = f"server/{exe}"
    server["mcp_config"]["command"] = "${__dirname}/server/" + exe
    server["mcp_config"].pop("platform_overrides", None)
    (out / "server").mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, out / "server" / exe)
    (out / "server" / exe).chmod(0o755)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
