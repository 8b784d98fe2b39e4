#!/usr/bin/env python3
"""Contract driver: every request kind the client sends, against Prism serving the official spec.

Standard library only. Speaks MCP (newline-delimited JSON-RPC over stdio) to the server binary and
runs the CLI commands that `--help` lists, all pointed at a `prism mock` of the ElevenLabs OpenAPI
spec. After each call it reads what Prism logged since the previous call, so every upstream request
is attributed to the call that made it.

Usage: contract.py BINARY PRISM_URL PRISM_LOG REPORT

Fails (exit 1, details on stderr and in REPORT) when:
  - Prism answered any request 422 or logged a violation for it;
  - a tool result or CLI output mentions "HTTP 422" or "rejected the request";
  - a speak call did not reach the text-to-speech endpoint, or a request kind never reached Prism;
  - a tool call got a JSON-RPC error, a CLI command a usage error (exit 2), or anything timed out.
Tool results with isError (Prism's examples are odd data) are reported, not failed.
On success prints one summary line on stdout; the full report is in REPORT.
"""

import http.client
import http.server
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

PROTOCOL = "2025-11-25"
VOICE_ID = "21m00Tcm4TlvDq8ikWAM"
# The model in Prism's /v1/models example; the only one the direct session can use.
EXAMPLE_MODEL = "eleven_multilingual_v2"
# Models the shim adds to /v1/models (copies of the example) so the default model and a model
# that takes `language_code` can be exercised too.
SHIM_MODELS = ["eleven_flash_v2_5"]
FORMATS = (
    "mp3_22050_32 mp3_24000_48 mp3_44100_32 mp3_44100_64 mp3_44100_96 mp3_44100_128 "
    "mp3_44100_192 opus_48000_32 opus_48000_64 opus_48000_96 opus_48000_128 opus_48000_192 "
    "pcm_8000 pcm_16000 pcm_22050 pcm_24000 pcm_32000 pcm_44100 pcm_48000 ulaw_8000 alaw_8000 "
    "wav_8000 wav_16000 wav_22050 wav_24000 wav_32000 wav_44100 wav_48000"
).split()
TEXT = "Hello from the contract check."
FAIL_MARKERS = ("HTTP 422", "rejected the request")
CALL_TIMEOUT = 60
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Request kinds, by method and path pattern (the Prism log has no query string).
KINDS = [
    ("GET /v1/models", re.compile(r"^GET /v1/models$")),
    ("GET /v1/user/subscription", re.compile(r"^GET /v1/user/subscription$")),
    ("GET /v2/voices", re.compile(r"^GET /v2/voices$")),
    ("GET /v1/voices/{id}", re.compile(r"^GET /v1/voices/[^/]+$")),
    ("POST /v1/text-to-speech/{id}/stream", re.compile(r"^POST /v1/text-to-speech/[^/]+/stream$")),
]
TTS = KINDS[4][0]


def kind_of(method, path):
    line = f"{method} {path}"
    for name, pattern in KINDS:
        if pattern.match(line):
            return name
    return line


class PrismLog:
    """Reads Prism's log incrementally and splits it into requests."""

    received = re.compile(r"\[HTTP SERVER\] (\w+) (\S+) .*Request received")
    responding = re.compile(r'Responding with "(\d+)"')
    violation = re.compile(r"Violation: (.*)")

    def __init__(self, path):
        self.path = path
        self.pos = os.path.getsize(path)

    def _pending(self):
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            return f.read()

    def take(self, timeout=5.0):
        """Requests logged since the last take, once the log is quiet and every request answered."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            data = self._pending()
            text = ANSI.sub("", data.decode("utf-8", "replace"))
            balanced = len(self.received.findall(text)) == len(self.responding.findall(text))
            if (balanced and data == last) or time.monotonic() > deadline:
                break
            last = data
            time.sleep(0.05)
        self.pos += len(data)
        requests = []
        for line in text.splitlines():
            m = self.received.search(line)
            if m:
                method, path = m.group(1).upper(), m.group(2)
                requests.append({"method": method, "path": path, "kind": kind_of(method, path),
                                 "status": None, "violations": [], "invalid": False})
                continue
            if not requests:
                continue
            m = self.responding.search(line)
            if m:
                requests[-1]["status"] = int(m.group(1))
            m = self.violation.search(line)
            if m:
                requests[-1]["violations"].append(m.group(1).strip())
            if "did not pass the validation rules" in line:
                requests[-1]["invalid"] = True
        return requests


class Shim:
    """A pass-through proxy to Prism that only adds SHIM_MODELS to the /v1/models answer."""

    hop = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
           "proxy-connection", "te", "trailer", "upgrade"}

    def __init__(self, upstream_host, upstream_port):
        shim = self
        self.seen = []  # every request forwarded: method, target (with query), status, body

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else None

            def _forward(self):
                body = self._body()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in shim.hop}
                conn = http.client.HTTPConnection(upstream_host, upstream_port, timeout=CALL_TIMEOUT)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    out_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in shim.hop]
                    status = resp.status
                finally:
                    conn.close()
                if self.command == "GET" and self.path.split("?")[0] == "/v1/models" and status == 200:
                    data = shim.augment(data)
                shim.seen.append({"method": self.command, "target": self.path, "status": status,
                                  "body": body.decode("utf-8", "replace") if body else None})
                self.send_response(status)
                for k, v in out_headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def augment(data):
        models = json.loads(data)
        have = {m.get("model_id") for m in models}
        template = next((m for m in models if m.get("can_do_text_to_speech")), models[0])
        for model_id in SHIM_MODELS:
            if model_id not in have:
                extra = dict(template, model_id=model_id, name=f"{model_id} (contract shim)")
                models.append(extra)
        return json.dumps(models).encode()

    def take(self):
        seen, self.seen = self.seen, []
        return seen

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def isolated_env(base_url, root):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ELEVENLABS_", "MCP_ELEVENLABS_"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    for name in ("config", "state", "data", "cache"):
        os.makedirs(os.path.join(root, name), exist_ok=True)
    env.update({
        "HOME": root,
        "XDG_CONFIG_HOME": os.path.join(root, "config"),
        "XDG_STATE_HOME": os.path.join(root, "state"),
        "XDG_DATA_HOME": os.path.join(root, "data"),
        "XDG_CACHE_HOME": os.path.join(root, "cache"),
        "ELEVENLABS_API_KEY": "sk_contract_test",
        "ELEVENLABS_BASE_URL": base_url,
        # Every call must reach Prism: no audio cache, and saved files rather than playback.
        "MCP_ELEVENLABS_CACHE": "false",
        "ELEVENLABS_MCP_OUTPUT_MODE": "files",
        "NO_PROXY": "127.0.0.1,localhost",
    })
    return env


class Session:
    """One MCP server process over stdio."""

    def __init__(self, binary, env, stderr_path):
        self.stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.next_id = 0
        init = self.request("initialize", {
            "protocolVersion": PROTOCOL, "capabilities": {},
            "clientInfo": {"name": "contract", "version": "1"}})
        if "result" not in init:
            raise RuntimeError(f"initialize failed: {init}")
        self.notify("notifications/initialized")

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _send(self, msg):
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self._send(msg)

    def request(self, method, params):
        self.next_id += 1
        rid = self.next_id
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        deadline = time.monotonic() + CALL_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{method}: no answer in {CALL_TIMEOUT} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"{method}: server exited (code {self.proc.poll()})")
            msg = json.loads(line)
            if msg.get("id") == rid and ("result" in msg or "error" in msg):
                return msg

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


class Driver:
    def __init__(self, binary, prism_url, prism_log, report):
        self.binary = os.path.abspath(binary)
        self.prism_url = prism_url
        self.log = PrismLog(prism_log)
        self.report_path = report
        self.calls = []     # every tool call / CLI command with what reached Prism
        self.failures = []
        self.notes = []
        self.tmp = tempfile.mkdtemp(prefix="mcp-elevenlabs-contract-")

    # --- bookkeeping -------------------------------------------------------------------------

    def record(self, label, where, text, is_error, requests, expect_tts=False, problem=None):
        entry = {"label": label, "where": where, "text": text, "is_error": is_error,
                 "requests": requests}
        self.calls.append(entry)
        for r in requests:
            if r["status"] == 422 or r["violations"] or r["invalid"]:
                self.failures.append(
                    f"{label}: Prism rejected {r['method']} {r['path']} (HTTP {r['status']}): "
                    + ("; ".join(r["violations"]) or "request did not pass validation"))
            elif r["status"] is None:
                self.failures.append(f"{label}: {r['method']} {r['path']} got no answer from Prism")
        for marker in FAIL_MARKERS:
            if marker in (text or ""):
                self.failures.append(f"{label}: result mentions {marker!r}: {text}")
        if expect_tts and not any(r["kind"] == TTS for r in requests):
            self.failures.append(f"{label}: did not reach {TTS} (result: {text})")
        if problem:
            self.failures.append(f"{label}: {problem}")

    def drain(self, label, where):
        """Records requests made outside any call (start-up, shut-down) so none goes unchecked."""
        requests = self.log.take()
        if requests:
            self.record(label, where, "", False, requests)

    # --- MCP ---------------------------------------------------------------------------------

    def tool(self, session, where, label, name, args, expect_tts=False):
        problem, text, is_error, result = None, "", False, None
        try:
            msg = session.request("tools/call", {"name": name, "arguments": args})
            if "error" in msg:
                problem = f"JSON-RPC error {msg['error']}"
                text = json.dumps(msg["error"])
            else:
                result = msg["result"]
                is_error = bool(result.get("isError"))
                text = " | ".join(c.get("text", f"<{c.get('type')}>")
                                  for c in result.get("content", []))
        except (TimeoutError, RuntimeError) as e:
            problem = str(e)
        self.record(label, where, text, is_error, self.log.take(), expect_tts, problem)
        return result

    def resource(self, session, where, uri):
        problem, text, is_error = None, "", False
        try:
            msg = session.request("resources/read", {"uri": uri})
            if "error" in msg:
                is_error, text = True, json.dumps(msg["error"])
            else:
                contents = msg["result"].get("contents", [])
                text = " | ".join(c.get("text", "<blob>")[:200] for c in contents)
        except (TimeoutError, RuntimeError) as e:
            problem = str(e)
        self.record(f"resources/read {uri}", where, text, is_error, self.log.take(), False, problem)

    def session(self, name, base_url):
        root = os.path.join(self.tmp, name)
        env = isolated_env(base_url, root)
        return Session(self.binary, env, os.path.join(root, "stderr.log"))

    def mcp_direct(self):
        where = "mcp→prism"
        s = self.session("mcp-direct", self.prism_url)
        try:
            self.drain("(mcp-direct start-up)", where)
            self.tool(s, where, "list_models", "list_models", {})
            self.tool(s, where, "get_usage", "get_usage", {})
            first = self.tool(s, where, "list_voices", "list_voices", {})
            self.tool(s, where, "list_voices search", "list_voices", {"search": "Rachel"})
            self.tool(s, where, "list_voices category", "list_voices", {"category": "premade"})
            self.tool(s, where, "list_voices page_size", "list_voices", {"page_size": 5})
            self.tool(s, where, "list_voices all filters", "list_voices",
                      {"search": "warm", "category": "professional", "page_size": 50})
            cursor = ((first or {}).get("structuredContent") or {}).get("next_cursor")
            if cursor:
                self.tool(s, where, f"list_voices cursor={cursor}", "list_voices",
                          {"cursor": cursor, "page_size": 5})
            else:
                self.notes.append("list_voices returned no next_cursor; the cursor request was not sent")
            self.resource(s, where, "voices://catalog")
            self.tool(s, where, "set_default_voice id", "set_default_voice", {"voice": VOICE_ID})
            self.tool(s, where, "set_default_voice name", "set_default_voice", {"voice": "Rachel"})
            base = {"text": TEXT, "voice": VOICE_ID, "model": EXAMPLE_MODEL, "raw": True}
            for fmt in FORMATS:
                self.tool(s, where, f"speak {fmt}", "speak", dict(base, output_format=fmt),
                          expect_tts=True)
            self.tool(s, where, "speak voice_settings", "speak", dict(base, voice_settings={
                "stability": 0.4, "similarity_boost": 0.8, "style": 0.2, "speed": 1.1,
                "use_speaker_boost": True}), expect_tts=True)
            self.tool(s, where, "speak seed", "speak", dict(base, seed=4294967295), expect_tts=True)
            self.tool(s, where, "speak inline", "speak", dict(base, delivery="inline"),
                      expect_tts=True)
            self.tool(s, where, f"speak language=de ({EXAMPLE_MODEL}: dropped)", "speak",
                      dict(base, language="de"), expect_tts=True)
            self.tool(s, where, "speak everything", "speak", dict(
                base, output_format="wav_22050", seed=7, delivery="inline", language="en",
                voice_settings={"stability": 1, "similarity_boost": 0, "style": 1, "speed": 0.7,
                                "use_speaker_boost": False}), expect_tts=True)
            self.tool(s, where, "speak by voice name (resolve)", "speak",
                      {"text": TEXT, "voice": "Rachel", "model": EXAMPLE_MODEL, "raw": True},
                      expect_tts=True)
            self.tool(s, where, "speak markdown (prepared)", "speak",
                      {"text": "# Hi\n**Bold** [link](https://example.com/x) and `code`.",
                       "voice": VOICE_ID, "model": EXAMPLE_MODEL}, expect_tts=True)
        finally:
            s.close()
            self.drain("(mcp-direct shut-down)", where)

    def sent(self, shim, expect_body=None):
        """What the shim forwarded for the last call; checks the TTS body has `expect_body`."""
        sent = shim.take()
        self.calls[-1]["sent"] = sent
        if expect_body is None:
            return
        bodies = [json.loads(r["body"]) for r in sent
                  if r["method"] == "POST" and "/text-to-speech/" in r["target"] and r["body"]]
        if not bodies:
            self.failures.append(f"{self.calls[-1]['label']}: no TTS body went through the shim")
            return
        for key, want in expect_body.items():
            got = bodies[-1].get(key)
            if got != want:
                self.failures.append(f"{self.calls[-1]['label']}: TTS body {key}={got!r}, "
                                     f"expected {want!r} (body: {bodies[-1]})")

    def mcp_shim(self, shim):
        """The default model and `language_code`, which need a model Prism's example lacks."""
        where = "mcp→shim→prism"
        s = self.session("mcp-shim", shim.url)
        try:
            self.drain("(mcp-shim start-up)", where)
            shim.take()
            self.tool(s, where, "list_models (shim)", "list_models", {})
            self.sent(shim)
            self.tool(s, where, "speak default model (eleven_flash_v2_5)", "speak",
                      {"text": TEXT, "voice": VOICE_ID, "raw": True}, expect_tts=True)
            self.sent(shim, {"model_id": "eleven_flash_v2_5", "text": TEXT})
            self.tool(s, where, "speak language=de eleven_flash_v2_5", "speak",
                      {"text": TEXT, "voice": VOICE_ID, "raw": True, "language": "de",
                       "model": "eleven_flash_v2_5"}, expect_tts=True)
            self.sent(shim, {"model_id": "eleven_flash_v2_5", "language_code": "de"})
            settings = {"stability": 0.5, "similarity_boost": 0.75, "style": 0, "speed": 1.2,
                        "use_speaker_boost": True}
            self.tool(s, where, "speak language+settings+seed eleven_flash_v2_5 pcm_16000", "speak",
                      {"text": TEXT, "voice": VOICE_ID, "raw": True, "language": "en",
                       "model": "eleven_flash_v2_5", "output_format": "pcm_16000", "seed": 0,
                       "voice_settings": settings}, expect_tts=True)
            self.sent(shim, {"language_code": "en", "seed": 0, "voice_settings": settings})
        finally:
            s.close()
            self.drain("(mcp-shim shut-down)", where)
            shim.take()

    # --- CLI ---------------------------------------------------------------------------------

    def cli_commands(self):
        """Which of the issue's CLI commands this binary's help lists."""
        def help_of(*args):
            env = isolated_env(self.prism_url, os.path.join(self.tmp, "help"))
            p = subprocess.run([self.binary, *args], capture_output=True, text=True, env=env,
                               timeout=30)
            return p.stdout + p.stderr
        top = help_of("--help")
        listed = {c for c in ("models", "usage", "voices", "speak")
                  if re.search(rf"^\s*mcp-elevenlabs\s+{c}\b", top, re.M)}
        config_help = help_of("config", "--help")
        config_line = "\n".join(l for l in top.splitlines() if re.search(r"\bconfig\b", l))
        if re.search(r"\btest\b", config_help + "\n" + config_line):
            listed.add("config test")
        return listed

    def cli(self, where, base_url, label, args, expect_tts=False):
        root = os.path.join(self.tmp, "cli-" + re.sub(r"\W+", "-", label))
        env = isolated_env(base_url, root)
        argv = [self.binary, *args]
        problem = None
        try:
            p = subprocess.run(argv, capture_output=True, text=True, env=env,
                               timeout=CALL_TIMEOUT, stdin=subprocess.DEVNULL)
            code, out = p.returncode, (p.stdout + p.stderr).strip()
            if code == 2:
                problem = f"usage error (exit 2): {out}"
        except subprocess.TimeoutExpired:
            code, out, problem = None, "", f"no exit in {CALL_TIMEOUT} s"
        text = f"exit {code}: {out}"
        self.record(f"cli {label}", where, text, code not in (0, None), self.log.take(),
                    expect_tts, problem)

    def run_cli(self, shim):
        listed = self.cli_commands()
        self.drain("(cli --help)", "cli")
        where = "cli→prism"
        out = os.path.join(self.tmp, "cli-out")
        os.makedirs(out, exist_ok=True)
        if "models" in listed:
            self.cli(where, self.prism_url, "models", ["models"])
        if "usage" in listed:
            self.cli(where, self.prism_url, "usage", ["usage"])
        if "voices" in listed:
            self.cli(where, self.prism_url, "voices", ["voices"])
            self.cli(where, self.prism_url, "voices --search", ["voices", "--search", "Rachel"])
        if "speak" in listed:
            for fmt, ext in (("mp3_44100_128", "mp3"), ("wav_16000", "wav"), ("opus_48000_64", "opus")):
                self.cli(where, self.prism_url, f"speak --format {fmt}",
                         ["speak", TEXT, "--voice", VOICE_ID, "--model", EXAMPLE_MODEL,
                          "--format", fmt, "--out", os.path.join(out, f"cli-{fmt}.{ext}")],
                         expect_tts=True)
            self.cli(where, self.prism_url, "speak --voice name",
                     ["speak", TEXT, "--voice", "Rachel", "--model", EXAMPLE_MODEL,
                      "--out", os.path.join(out, "cli-name.mp3")], expect_tts=True)
            self.cli("cli→shim→prism", shim.url, "speak (defaults, shim)",
                     ["speak", TEXT, "--out", os.path.join(out, "cli-default.mp3")],
                     expect_tts=True)
        if "config test" in listed:
            self.cli("cli→shim→prism", shim.url, "config test (shim)", ["config", "test"])
            self.cli(where, self.prism_url, "config test", ["config", "test"])
        return sorted(listed)

    # --- report ------------------------------------------------------------------------------

    def write_report(self, cli_ran):
        kinds, total = {}, 0
        for c in self.calls:
            for r in c["requests"]:
                kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
                total += 1
        lines = ["# Contract run against prism mock", ""]
        lines.append("## Requests that reached Prism, by kind")
        for name, n in sorted(kinds.items()):
            lines.append(f"  {n:4d}  {name}")
        lines.append(f"  {total:4d}  total")
        lines.append("")
        lines.append(f"CLI commands run: {', '.join(cli_ran) or 'none (not listed by --help)'}")
        for n in self.notes:
            lines.append(f"note: {n}")
        lines.append("")
        lines.append("## Calls")
        for c in self.calls:
            reqs = ", ".join(f"{r['method']} {r['path']} → {r['status']}" for r in c["requests"])
            flag = "isError " if c["is_error"] else ""
            lines.append(f"- [{c['where']}] {c['label']}: {flag}{c['text'][:400]}")
            lines.append(f"    upstream: {reqs or '(none)'}")
            for r in c.get("sent", []):
                lines.append(f"    via shim: {r['method']} {r['target']} → {r['status']}"
                             + (f" body {r['body']}" if r["body"] else ""))
        errs = [c for c in self.calls if c["is_error"]]
        lines.append("")
        lines.append(f"## isError results ({len(errs)}; reported, not failures)")
        for c in errs:
            lines.append(f"- {c['label']}: {c['text'][:400]}")
        lines.append("")
        lines.append(f"## Failures ({len(self.failures)})")
        lines.extend(f"- {f}" for f in self.failures)
        with open(self.report_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return kinds, total, errs

    def run(self):
        shim = Shim(*self.prism_url.split("//", 1)[1].split(":"))
        cli_ran = []
        try:
            self.mcp_direct()
            self.mcp_shim(shim)
            cli_ran = self.run_cli(shim)
        except Exception as e:  # noqa: BLE001 - any crash is a failure with its reason
            self.failures.append(f"driver: {type(e).__name__}: {e}")
        finally:
            shim.close()
        for name, _ in KINDS:
            if not any(r["kind"] == name for c in self.calls for r in c["requests"]):
                self.failures.append(f"request kind never reached Prism: {name}")
        tts_formats = sum(1 for c in self.calls if c["label"].startswith("speak ")
                          and c["label"].split()[1] in FORMATS
                          and any(r["kind"] == TTS for r in c["requests"]))
        if tts_formats != len(FORMATS):
            self.failures.append(f"only {tts_formats} of {len(FORMATS)} output formats reached {TTS}")
        kinds, total, errs = self.write_report(cli_ran)
        if self.failures:
            print(f"contract: {len(self.failures)} failure(s) (report: {self.report_path})",
                  file=sys.stderr)
            for f in self.failures:
                print(f"  - {f}", file=sys.stderr)
            return 1
        shutil.rmtree(self.tmp, ignore_errors=True)
        tools = sum(1 for c in self.calls if not c["label"].startswith(("cli ", "(")))
        per_kind = ", ".join(f"{name.split(' ', 1)[1].replace('/{id}', '/…')} {kinds.get(name, 0)}"
                             for name, _ in KINDS)
        print(f"{tools} MCP calls ({len(FORMATS)} formats) + CLI [{', '.join(cli_ran) or 'none'}]"
              f" → {total} requests ({per_kind}), 0 rejected, {len(errs)} isError")
        return 0


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    return Driver(*argv[1:]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
