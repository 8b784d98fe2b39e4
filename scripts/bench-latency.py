#!/usr/bin/env python3
"""Latency the server adds to streamed audio: for each `speak`, the time from the first audio
chunk arriving from (fake) ElevenLabs to it being written to the file (`--delivery file`) or
into the player's stdin (`--delivery play`, the player being `cat` into /dev/null), as the
server measures it and logs at debug level. Runs N sequential calls over stdio; prints p50/p99.

With `--chars N` each text is N characters of sentences (over 600: a long text, spoken in pieces
that pass through the reassembly between threads).

Usage: scripts/bench-latency.py [--n 1000] [--delivery file|play] [--chars N] [BIN [FAKE]]
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_stdio import initialize, rpc  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=1000)
ap.add_argument("--delivery", choices=["file", "play"], default="file")
ap.add_argument("--chars", type=int, default=0)
ap.add_argument("bin", nargs="?", default="target/release/mcp-elevenlabs")
ap.add_argument("fake", nargs="?", default="target/release/examples/fake_elevenlabs")
a = ap.parse_args()
key = "sk_bench_0123456789abcdef"
fake = subprocess.Popen([a.fake, key], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
try:
    url = fake.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryFile("w+") as err:
        env = {"PATH": os.environ["PATH"], "HOME": home, "XDG_CONFIG_HOME": home + "/c",
               "XDG_STATE_HOME": home + "/s", "XDG_DATA_HOME": home + "/d",
               "ELEVENLABS_API_KEY": key, "ELEVENLABS_BASE_URL": url, "MCP_ELEVENLABS_LOG": "debug",
               "MCP_ELEVENLABS_CACHE": "false"}
        os.makedirs(home + "/c/mcp-elevenlabs")
        with open(home + "/c/mcp-elevenlabs/config.yaml", "w") as cfg:
            cfg.write("player: [cat]\n")
        srv = subprocess.Popen([a.bin], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                               env=env, text=True, bufsize=1)
        initialize(srv)
        for i in range(1, a.n + 1):
            text = f"Bench {i}"
            if a.chars:
                text = "".join(f"Bench {i} sentence {k} is here. " for k in range(a.chars // 20 + 1))[:a.chars]
            args = {"text": text, "raw": True, "delivery": a.delivery, "wait": True}
            r = rpc(srv, i, "tools/call", {"name": "speak", "arguments": args})
            if r["result"].get("isError"):
                sys.exit(f"speak failed: {r}")
        srv.stdin.close()
        srv.wait(timeout=30)
        err.seek(0)
        us = [int(m.group(1)) for m in re.finditer(r"first audio byte written (\d+) us", err.read())]
finally:
    fake.stdin.close()
    fake.wait(timeout=10)
if len(us) != a.n:
    sys.exit(f"expected {a.n} measurements, got {len(us)}")
us.sort()
p = lambda q: us[min(len(us) - 1, int(q * len(us)))]
print(f"speak ({a.delivery}{f', {a.chars} chars' if a.chars else ''}) x{a.n}: first audio byte in -> written: p50 {p(0.50)} us, p99 {p(0.99)} us, max {us[-1]} us, mean {statistics.mean(us):.0f} us")
