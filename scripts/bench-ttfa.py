#!/usr/bin/env python3
"""Time to first audio for a long answer against a short one: for each `speak` (played, waited
for), the time from sending the call to the player reading its first byte, for a one-sentence
text and for a 5,000-character one, alternately, against the fake ElevenLabs modelled as an
upstream whose first byte comes FIRST_MS plus US_PER_CHAR per character after the request (so a
5,000-character request sent whole would start 5,000 x US_PER_CHAR later than a sentence).
Prints the medians and their ratio.

With `--transport websocket` the server speaks over the `stream-input` WebSocket (the fake
models its first audio the same way), to compare the two transports.

Usage: scripts/bench-ttfa.py [--n 20] [--first-ms 150] [--us-per-char 100]
       [--transport http|websocket] [BIN [FAKE]]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_stdio import initialize, rpc  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=20)
ap.add_argument("--first-ms", type=int, default=150)
ap.add_argument("--us-per-char", type=int, default=100)
ap.add_argument("--transport", choices=["http", "websocket"], default="http")
ap.add_argument("bin", nargs="?", default="target/release/mcp-elevenlabs")
ap.add_argument("fake", nargs="?", default="target/release/examples/fake_elevenlabs")
a = ap.parse_args()
key = "sk_bench_0123456789abcdef"
fake = subprocess.Popen([a.fake, key, "8", "4096", "5", str(a.first_ms), str(a.us_per_char)],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

def sentence(i, k):
    return f"Call {i} sentence {k} reports that the build passed and the tests are green. "

try:
    url = fake.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as home:
        stamps = home + "/first-byte"
        env = {"PATH": os.environ["PATH"], "HOME": home, "XDG_CONFIG_HOME": home + "/c",
               "XDG_STATE_HOME": home + "/s", "XDG_DATA_HOME": home + "/d",
               "XDG_RUNTIME_DIR": home + "/r", "ELEVENLABS_API_KEY": key,
               "ELEVENLABS_BASE_URL": url, "MCP_ELEVENLABS_CACHE": "false",
               "MCP_ELEVENLABS_TRANSPORT": a.transport}
        os.makedirs(home + "/c/mcp-elevenlabs")
        os.makedirs(home + "/r", mode=0o700)
        # The player notes when its first byte arrives, then drains the rest.
        player = f"head -c 1 >/dev/null; date +%s%N >> {stamps}; cat >/dev/null"
        with open(home + "/c/mcp-elevenlabs/config.yaml", "w") as cfg:
            cfg.write(f"player: [sh, -c, {json.dumps(player)}]\n")
        srv = subprocess.Popen([a.bin], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=env, text=True, bufsize=1)
        initialize(srv)
        times = {"short": [], "long": []}
        for i in range(1, 2 * a.n + 1):
            kind = "short" if i % 2 else "long"
            text = sentence(i, 0).strip()
            if kind == "long":
                text = "".join(sentence(i, k) for k in range(64))[:5000].rsplit(". ", 1)[0] + "."
            sent = time.time_ns()
            r = rpc(srv, i, "tools/call", {"name": "speak", "arguments":
                    {"text": text, "raw": True, "delivery": "play", "wait": True}})
            if r["result"].get("isError") or r["result"]["structuredContent"]["delivery"] != "play":
                sys.exit(f"speak did not play: {r}")
            with open(stamps) as f:
                first = int(f.read().split()[-1])
            times[kind].append((first - sent) / 1e6)
        srv.stdin.close()
        srv.wait(timeout=30)
finally:
    fake.stdin.close()
    fake.wait(timeout=10)
s, l = statistics.median(times["short"]), statistics.median(times["long"])
print(f"upstream first byte: {a.first_ms} ms + {a.us_per_char} us/char (5,000 characters sent whole: +{5000 * a.us_per_char / 1000:.0f} ms)")
print(f"time to first audio ({a.transport}), median of {a.n}: one sentence {s:.1f} ms, 5,000 characters {l:.1f} ms, ratio {l / s:.2f}")
print(f"  (p90: {sorted(times['short'])[int(0.9 * a.n)]:.1f} ms / {sorted(times['long'])[int(0.9 * a.n)]:.1f} ms)")
