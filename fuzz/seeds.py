#!/usr/bin/env python3
"""Writes the committed seed corpus: fuzz/corpus/{framer,server,config}/.

Seeds are real transcripts in the input formats of fuzz/src/lib.rs: every method in every protocol
version, every tool with the ElevenLabs replies it expects (and the errors it must explain), and
config files of every shape. Re-run after adding a method, tool or setting; the files are small.
Usage: python3 fuzz/seeds.py
"""
import json
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"
HANDSHAKE = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
MODERN = "2026-07-28"
META = "io.modelcontextprotocol/"


def line(obj):
    return json.dumps(obj, separators=(",", ":"))


def req(i, method, params=None, version=None):
    msg = {"jsonrpc": "2.0", "id": i, "method": method}
    if params is not None:
        msg["params"] = params
    if version == MODERN:
        p = msg.setdefault("params", {})
        p["_meta"] = {
            META + "protocolVersion": MODERN,
            META + "clientCapabilities": {},
            META + "clientInfo": {"name": "seed", "version": "1"},
            "progressToken": "p%s" % i,
        }
    return line(msg)


def call(i, name, args=None, version=None):
    params = {"name": name}
    if args is not None:
        params["arguments"] = args
    return req(i, "tools/call", params, version)


VOICES = {
    "voices": [
        {"voice_id": "21m00Tcm4TlvDq8ikWAM", "name": "Rachel", "category": "premade",
         "labels": {"accent": "american", "gender": "female"}, "description": "calm"},
        {"voice_id": "pNInz6obpgDQGcFmaJgB", "name": "Adam", "category": "premade", "labels": {}},
    ],
    "has_more": True, "total_count": 40, "next_page_token": "page2",
}
MODELS = [
    {"model_id": "eleven_multilingual_v2", "name": "Multilingual v2", "can_do_text_to_speech": True,
     "max_characters_request_free_user": 10000, "max_characters_request_subscribed_user": 10000,
     "languages": [{"language_id": "en", "name": "English"}]},
    {"model_id": "eleven_flash_v2_5", "name": "Flash v2.5", "can_do_text_to_speech": True,
     "max_characters_request_subscribed_user": 40000, "languages": []},
]
SUBSCRIPTION = {"tier": "creator", "character_count": 1200, "character_limit": 100000,
                "next_character_count_reset_unix": 1767225600, "status": "active"}
VOICE = {"voice_id": "pNInz6obpgDQGcFmaJgB", "name": "Adam", "category": "premade"}
ERRORS = [
    (401, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}),
    (401, {"detail": {"status": "quota_exceeded", "message": "This request exceeds your quota."}}),
    (422, {"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "value_error.missing"}]}),
    (429, {"detail": {"status": "too_many_concurrent_requests", "message": "Too many requests"}}),
    (404, {"detail": {"status": "voice_not_found", "message": "A voice for the voice_id x was not found."}}),
    (500, "<html>Internal Server Error</html>"),
    (503, {"error": {"type": "service_unavailable", "message": "try later"}}),
]


def ok(k, status, body):
    text = body if isinstance(body, str) else line(body)
    return "#!ok %d %d %s" % (k, status, text)


def session(version):
    """The opening of a session: the handshake, or nothing for the stateless era."""
    if version == MODERN:
        return [req(0, "server/discover", {}, MODERN)]
    return [
        req(0, "initialize", {"protocolVersion": version, "capabilities": {},
                              "clientInfo": {"name": "seed", "version": "1"}}),
        line({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    ]


def server_seeds():
    seeds = {}
    for v in HANDSHAKE + [MODERN]:
        tag = v.replace("-", "")
        s = session(v)
        seeds["%s-basics" % tag] = s + [
            req(1, "ping", None if v != MODERN else {}, v),
            req(2, "tools/list", None, v),
            req(3, "resources/list", None, v),
            req(4, "resources/templates/list", None, v),
            req(5, "resources/read", {"uri": "health://status"}, v),
            req(6, "logging/setLevel", {"level": "debug"}, v),
            req(7, "prompts/list", None, v),
            req(8, "bogus/method", None, v),
            "#!eof",
        ]
        seeds["%s-speak-file" % tag] = s + [
            call(1, "speak", {"text": "# Hello\n\nThis is **bold** and `code`: https://x.y",
                              "voice": "21m00Tcm4TlvDq8ikWAM", "output_format": "mp3_44100_128"}, v),
            ok(0, 200, MODELS),
            "#!progress 0 4096",
            "#!wait 300",
            "#!progress 0 9000",
            ok(0, 200, "ID3audio-bytes"),
            req(2, "resources/read", {"uri": "audio://20261127-000000-fuzz-00000000.mp3"}, v),
            ok(0, 200, "ID3audio-bytes"),
        ]
        seeds["%s-speak-inline-wav" % tag] = s + [
            call(1, "speak", {"text": "Hi.", "delivery": "inline", "output_format": "wav_16000"}, v),
            ok(0, 200, MODELS),
            ok(0, 200, "\u0000\u0001" * 8),
        ]
        seeds["%s-tools" % tag] = s + [
            call(1, "list_voices", {"search": "rach", "page_size": 2}, v),
            ok(0, 200, VOICES),
            call(2, "list_voices", {"cursor": "page2"}, v),
            ok(0, 200, dict(VOICES, has_more=False, next_page_token=None)),
            call(3, "list_models", None, v),
            ok(0, 200, MODELS),
            call(4, "get_usage", {}, v),
            ok(0, 200, SUBSCRIPTION),
            call(5, "set_default_voice", {"voice": "pNInz6obpgDQGcFmaJgB"}, v),
            ok(0, 200, VOICE),
            ok(0, 200, "{}"),
            req(6, "resources/read", {"uri": "voices://catalog"}, v),
            ok(0, 200, VOICES),
            ok(0, 200, dict(VOICES, has_more=False, next_page_token=None)),
        ]
        for n, (status, body) in enumerate(ERRORS):
            seeds["%s-error-%d-%d" % (tag, status, n)] = s + [
                call(1, "speak", {"text": "Hello there."}, v),
                ok(0, 200, MODELS),
                ok(0, status, body),
                "#!wait 1000",
                ok(0, status, body),
                "#!wait 60000",
                call(2, "get_usage", None, v),
                ok(0, status, body),
            ]
        seeds["%s-transport-cancel" % tag] = s + [
            call(1, "speak", {"text": "A long one."}, v),
            call(2, "list_models", None, v),
            "#!fail 1 0",
            "#!wait 2000",
            "#!fail 0 3",
            line({"jsonrpc": "2.0", "method": "notifications/cancelled",
                  "params": {"requestId": 1, "reason": "user"}}),
            call(3, "speak", {"text": ""}, v),
            call(4, "speak", {"text": "x", "speed": 9, "bogus": True}, v),
            "#!raw {\"jsonrpc\":\"2.0\",",
            "\"id\":5,\"method\":\"ping\"}",
            "#!eof",
        ]
    seeds["20250326-batch"] = session("2025-03-26") + [
        line([json.loads(req(1, "ping")), json.loads(call(2, "get_usage")),
              {"jsonrpc": "2.0", "method": "notifications/progress"}]),
        ok(0, 200, SUBSCRIPTION),
        "[]",
    ]
    seeds["garbage"] = ["{", "null", "[1,2", '{"jsonrpc":"1.0","id":1}', '{"id":{},"method":3}',
                        "\ufeff" + req(1, "ping"), "#!wait 999999999"]
    return {k: "\n".join(v) + "\n" for k, v in seeds.items()}


def framer_seeds():
    stream = (req(1, "ping") + "\r\n\n" + req(2, "tools/list") + "\n").encode()
    return {
        "crlf-bom": b"\xff\x10\x80\xc0" + b"\xef\xbb\xbf" + stream,
        "small-limit": b"\x07\x01\x02\x03" + b"0123456789abcdef\nok\n" * 3,
        "partial-tail": b"\x30\x40\x50\x60" + stream + b'{"unterminated":',
        "empty-lines": b"\x05\x00\xff\x80" + b"\n\r\n\n\n a \n",
    }


def config_seeds():
    full = """\
elevenlabs:
  api_key: sk_0123456789abcdef0123456789abcdef
  default_voice_id: 21m00Tcm4TlvDq8ikWAM
  model: eleven_multilingual_v2
  optimize_streaming: true
  base_url: https://api.elevenlabs.io
  ca_file: /etc/ssl/extra.pem
output:
  dir: ~/Music/agent
  delivery: file
  format: mp3_44100_128
limits:
  max_concurrent: 4
  request_timeout_ms: 30000
  max_inline_bytes: 1048576
"""
    return {
        "full": full,
        "empty": "",
        "typos": "elevenlabs:\n  apikey: x\n  modle: eleven_v3\noutput:\n  delivery: shout\nlimits:\n  max_concurrent: 0\n",
        "types": "elevenlabs: 3\noutput: [1, 2]\nlimits:\n  request_timeout_ms: -5\n",
        "yaml-edge": "%YAML 1.2\n---\nelevenlabs: &a {model: x}\noutput: *a\n...\n",
        "with-state": full + '\n%%state\n{"elevenlabs":{"default_voice_id":"pNInz6obpgDQGcFmaJgB"}}',
        "bad-state": "{}\n%%state\n{not json",
        "env": "output:\n  dir: /tmp/a\n%%state\n\n%%env\nELEVENLABS_MODEL_ID=eleven_flash_v2_5\n"
               "ELEVENLABS_API_RESIDENCY=eu\nELEVENLABS_MCP_OUTPUT_MODE=resources\n"
               "ELEVENLABS_MCP_BASE_PATH=/srv/out\n",
    }


def http_request(method, path, body="", headers=()):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:8765"]
    if body:
        lines.append("Content-Type: application/json")
        lines.append("Content-Length: %d" % len(body.encode()))
    lines.extend(headers)
    return "\r\n".join(lines) + "\r\n\r\n" + body


def http_seeds():
    """Raw requests in the `http` target's format: the first byte (`T` or not) says whether a
    bearer token is required; directives (#!ok, #!fail, #!gone, #!wait, #!stop) between them."""
    accept = "Accept: application/json, text/event-stream"
    seeds = {}
    for v in HANDSHAKE[1:]:
        init = req(0, "initialize", {"protocolVersion": v, "capabilities": {},
                                     "clientInfo": {"name": "seed", "version": "1"}})
        # The session id is not known ahead: the requests after it test the 400 and 404 paths,
        # and a real session id would only come from a fuzzer's luck.
        seeds["session-" + v] = "-" + "".join([
            http_request("POST", "/mcp", init, [accept]),
            http_request("POST", "/mcp", line({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                         ["Mcp-Session-Id: 00000000000000000000000000000000"]),
            http_request("POST", "/mcp", req(1, "tools/list"), [accept, "MCP-Protocol-Version: " + v]),
            http_request("GET", "/mcp", "", ["Accept: text/event-stream", "Mcp-Session-Id: x"]),
            http_request("DELETE", "/mcp", "", ["Mcp-Session-Id: x"]),
        ])
    modern = [accept, "MCP-Protocol-Version: " + MODERN]
    seeds["stateless"] = "-" + "".join([
        http_request("POST", "/mcp", req(1, "server/discover", {}, MODERN), modern + ["Mcp-Method: server/discover"]),
        http_request("POST", "/mcp", req(2, "tools/list", {}, MODERN), modern + ["Mcp-Method: tools/list"]),
        http_request("POST", "/mcp", call(3, "list_voices", {}, MODERN), modern + ["Mcp-Method: tools/call", "Mcp-Name: list_voices"]),
        "#!ok " + json.dumps(VOICES) + "\n",
        http_request("POST", "/mcp/new", call(4, "speak", {"text": "Hello there."}, MODERN), modern + ["Mcp-Method: tools/call", "Mcp-Name: speak"]),
        "#!progress 0 100\n#!fail 0\n",
        http_request("POST", "/mcp", req(5, "resources/read", {"uri": "health://status"}, MODERN), modern + ["Mcp-Method: resources/read", "Mcp-Name: health://status"]),
        http_request("POST", "/mcp", req(6, "nope", {}, MODERN), modern + ["Mcp-Method: nope"]),
        http_request("POST", "/mcp", req(7, "tools/list", {}, MODERN), modern + ["Mcp-Method: tools/call"]),
        http_request("GET", "/mcp", "", ["MCP-Protocol-Version: " + MODERN]),
    ])
    seeds["legacy"] = "-" + "".join([
        http_request("GET", "/sse", "", ["Accept: text/event-stream"]),
        http_request("POST", "/messages?session_id=0", req(0, "initialize", {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "s", "version": "1"}})),
        "#!gone\n",
        http_request("POST", "/messages", "{}"),
    ])
    seeds["guard"] = "T" + "".join([
        http_request("POST", "/mcp", req(1, "ping"), ["Authorization: Bearer nope"]),
        http_request("POST", "/mcp", req(1, "ping"), ["Authorization: Bearer fuzz-bearer-token-0123", "Origin: http://evil.example"]),
        http_request("OPTIONS", "/mcp", "", ["Origin: https://app.example", "Authorization: Bearer fuzz-bearer-token-0123"]),
        "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    ])
    seeds["framing"] = "-" + "".join([
        "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
        "#!wait 6000\n#!stop\n",
    ])
    return seeds


def write(target, seeds):
    d = ROOT / target
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    for name, data in sorted(seeds.items()):
        (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


if __name__ == "__main__":
    write("server", server_seeds())
    write("framer", framer_seeds())
    write("config", config_seeds())
    write("http", http_seeds())
    for t in ("server", "framer", "config", "http"):
        print(t, len(list((ROOT / t).iterdir())), "seeds")
