#!/usr/bin/env bash
# Measures our release binary beside the floor (a bare serde_json loop) and rmcp (the official
# Rust SDK) in one run with ../shared/tools/mcp-probe, and writes the table into BENCHMARKS.md
# (between the probe markers) with the date and the command. Budgets (DESIGN.md §2) are shown,
# not asserted: the machines are shared and noisy.
# Usage: scripts/bench.sh [--report]     --report: print the table, leave BENCHMARKS.md alone
# Env: MCP_PROBE_DIR (default ../shared/tools/mcp-probe, else /work/shared/tools/mcp-probe),
#      PROBE_TARGET (where the floor and rmcp are built, as compare.sh does).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
write=1
case "${1:-}" in
  --report) write=0 ;;
  "") ;;
  *) echo "usage: scripts/bench.sh [--report]" >&2; exit 2 ;;
esac

probe=${MCP_PROBE_DIR:-}
for d in ../shared/tools/mcp-probe /work/shared/tools/mcp-probe; do
  [ -n "$probe" ] || { [ -f "$d/mcp_probe.py" ] && probe=$d; } || true
done
if [ -z "$probe" ]; then
  echo "mcp-probe not found (set MCP_PROBE_DIR); it ships in the workplace's shared/tools" >&2
  exit 1
fi

# The same builds compare.sh makes, so both share one PROBE_TARGET.
target=${PROBE_TARGET:-${TMPDIR:-/tmp}/mcp-probe-target}
floor=$target/release/mcp-floor
anchor=$target/release/rmcp-anchor
[ -x "$floor" ] || cargo build -q --release --manifest-path "$probe/floor/Cargo.toml" --target-dir "$target"
[ -x "$anchor" ] || cargo build -q --release --manifest-path "$probe/rmcp-anchor/Cargo.toml" --target-dir "$target"
[ -x target/release/mcp-elevenlabs ] || cargo build --locked --release -q
ours=target/release/mcp-elevenlabs

# The probe runs our binary with a throw-away home: no config, no key, nothing written.
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export HOME=$home
unset XDG_CONFIG_HOME XDG_STATE_HOME MCP_ELEVENLABS_CONFIG ELEVENLABS_API_KEY

python3 - "$probe/mcp_probe.py" "$ours" "$anchor" "$floor" "$write" <<'EOF'
import datetime, json, os, re, subprocess, sys

probe, ours, anchor, floor, write = sys.argv[1:6]

def run(*args):
    out = subprocess.run([sys.executable, probe, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(next(l for l in out.splitlines() if l.startswith("RESULT "))[7:])

def tools_list_bytes(binary, version):
    p = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    msgs = [{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": version,
             "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]
    out, _ = p.communicate("".join(json.dumps(m) + "\n" for m in msgs).encode(), timeout=10)
    return max(len(l) for l in out.splitlines() if b'"id":2' in l)

rows = {}
for name, binary in (("mcp-elevenlabs", ours), ("rmcp (official SDK)", anchor), ("floor (serde_json loop)", floor)):
    s = run("startup", "--runs", "25", "--", binary)
    ping = run("throughput", "--method", "ping", "--n", "100000", "--runs", "3", "--", binary)
    tl = run("throughput", "--method", "tools/list", "--runs", "3", "--", binary)
    rows[name] = dict(size=os.path.getsize(binary), startup=s["median_ms"], rss_idle=s["vmhwm_after_tools_list_kb_median"],
                      ping=ping["median_rps"], tools_list=tl["median_rps"], rss_flood=max(ping["max_vmhwm_kb"], tl["max_vmhwm_kb"]))

o, f = rows["mcp-elevenlabs"], rows["floor (serde_json loop)"]
sizes = {v: tools_list_bytes(ours, v) for v in ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")}
ok = lambda b: "met" if b else "**MISSED**"
lines = [
    "| binary | size (B) | startup median (ms) | ping/s | tools/list/s | RSS idle (kB) | RSS flood peak (kB) |",
    "|---|---:|---:|---:|---:|---:|---:|",
]
for name, r in rows.items():
    lines.append(f"| {name} | {r['size']:,} | {r['startup']:.2f} | {r['ping']:,.0f} | {r['tools_list']:,.0f} | {r['rss_idle']:,} | {r['rss_flood']:,} |")
ratio = o["startup"] / f["startup"]
lines += [
    "",
    "| budget (DESIGN.md §2) | measured | |",
    "|---|---|---|",
    f"| startup ≤ 1.5 × floor | {ratio:.2f} × | {ok(ratio <= 1.5)} |",
    f"| ≥ 500,000 pings/s | {o['ping']:,.0f} | {ok(o['ping'] >= 500_000)} |",
    f"| RSS idle ≤ 4 MB | {o['rss_idle'] / 1024:.1f} MB | {ok(o['rss_idle'] <= 4096)} |",
    f"| RSS under a 100,000-request flood ≤ 16 MB | {o['rss_flood'] / 1024:.1f} MB | {ok(o['rss_flood'] <= 16384)} |",
    f"| tools/list ≤ 4 KB | {max(sizes.values()):,} B (by version: {', '.join(f'{v} {b:,}' for v, b in sizes.items())}) | {ok(max(sizes.values()) <= 4096)} |",
]
table = "\n".join(lines)
print(table)
if write == "1":
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = (f"<!-- probe:start (written by scripts/bench.sh) -->\nMeasured {stamp} with `scripts/bench.sh` "
             f"(mcp-probe: startup over 25 runs, 100,000 pings and tools/list x 3 runs each; medians; "
             f"flood RSS is the peak over those runs).\n\n{table}\n<!-- probe:end -->")
    text = open("BENCHMARKS.md").read()
    pattern = re.compile(r"<!-- probe:start.*?<!-- probe:end -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n## Probe: startup, throughput, memory\n\n" + block + "\n"
    open("BENCHMARKS.md", "w").write(text)
    print("written to BENCHMARKS.md")
EOF
