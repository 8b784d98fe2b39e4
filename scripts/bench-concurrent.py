#!/usr/bin/env python3
"""100 concurrent streamed `speak` calls: the server's peak RSS while they stream, and how fast
`ping` is answered meanwhile. The fake ElevenLabs streams each answer as 20 chunks of 4 KiB,
100 ms apart (2 s a call); `limits.max_concurrent` is raised to N so that all stream at once.

Usage: scripts/bench-concurrent.py [--n 100] [BIN [FAKE]]
"""
import argparse, json, os, queue, statistics, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=100)
ap.add_argument("bin", nargs="?", default="target/release/mcp-elevenlabs")
ap.add_argument("fake", nargs="?", default="target/release/examples/fake_elevenlabs")
a = ap.parse_args()
key = "sk_bench_0123456789abcdef"
fake = subprocess.Popen([a.fake, key, "20", "4096", "100"], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, text=True)
try:
    url = fake.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as home:
        os.makedirs(home + "/c/mcp-elevenlabs")
        with open(home + "/c/mcp-elevenlabs/config.yaml", "w") as cfg:
            cfg.write(f"limits:\n  max_concurrent: {a.n}\n")
        env = {"PATH": os.environ["PATH"], "HOME": home, "XDG_CONFIG_HOME": home + "/c",
               "XDG_STATE_HOME": home + "/s", "XDG_DATA_HOME": home + "/d",
               "ELEVENLABS_API_KEY": key, "ELEVENLABS_BASE_URL": url,
               "MCP_ELEVENLABS_CACHE": "false"}
        srv = subprocess.Popen([a.bin], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=env, text=True, bufsize=1)
        replies = queue.Queue()
        def reader():
            for line in srv.stdout:
                replies.put((time.perf_counter(), json.loads(line)))
        threading.Thread(target=reader, daemon=True).start()
        def send(msg):
            srv.stdin.write(json.dumps(msg) + "\n")
            srv.stdin.flush()
        send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}})
        replies.get(timeout=10)
        # Warm the model list, so that every call streams at once.
        send({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
              "params": {"name": "list_models", "arguments": {}}})
        replies.get(timeout=10)
        for i in range(a.n):
            send({"jsonrpc": "2.0", "id": 1000 + i, "method": "tools/call", "params": {
                "name": "speak",
                "arguments": {"text": f"Concurrent {i}", "raw": True, "delivery": "file"}}})
        sent_at, pings, done, peak = {}, [], 0, 0
        deadline = time.monotonic() + 60
        next_ping = 5000
        while done < a.n and time.monotonic() < deadline:
            sent_at[next_ping] = time.perf_counter()
            send({"jsonrpc": "2.0", "id": next_ping, "method": "ping"})
            next_ping += 1
            with open(f"/proc/{srv.pid}/status") as st:
                for line in st:
                    if line.startswith("VmRSS:"):
                        peak = max(peak, int(line.split()[1]))
            end = time.perf_counter() + 0.05
            while True:
                try:
                    at, msg = replies.get(timeout=max(0.0, end - time.perf_counter()))
                except queue.Empty:
                    break
                i = msg.get("id")
                if i in sent_at:
                    pings.append((at - sent_at.pop(i)) * 1000)
                elif isinstance(i, int) and i >= 1000:
                    if msg["result"].get("isError"):
                        sys.exit(f"speak failed: {msg}")
                    done += 1
        with open(f"/proc/{srv.pid}/status") as st:
            hwm = next(int(l.split()[1]) for l in st if l.startswith("VmHWM:"))
        srv.stdin.close()
        srv.wait(timeout=30)
finally:
    fake.stdin.close()
    fake.wait(timeout=10)
if done < a.n:
    sys.exit(f"only {done} of {a.n} calls finished")
# The first ping is sent right behind the N calls and waits for the server to take them all in;
# the others are sent while the calls stream.
burst, rest = pings[0], sorted(pings[1:])
p = lambda q: rest[min(len(rest) - 1, int(q * len(rest)))]
print(f"{a.n} concurrent streamed speak calls: peak RSS {hwm / 1024:.1f} MiB (VmHWM; sampled max {peak / 1024:.1f} MiB); "
      f"ping right behind the {a.n} calls: {burst:.2f} ms; "
      f"ping while they stream x{len(rest)}: p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, max {rest[-1]:.2f} ms")
