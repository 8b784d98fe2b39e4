//! The real binary over stdio, in every protocol version, every reply validated against the
//! vendored schema of that version, per method.

mod support;

use serde_json::{Value, json};
use support::{Home, Schemas, Server, VERSIONS, initialize, req};

const TOOL_NAMES: [&str; 6] = [
    "speak",
    "list_voices",
    "set_default_voice",
    "list_models",
    "get_usage",
    "stop_speaking",
];

fn defs(version: &str) -> (&'static str, &'static str) {
    if version >= "2025-11-25" {
        ("JSONRPCResultResponse", "JSONRPCErrorResponse")
    } else {
        ("JSONRPCResponse", "JSONRPCError")
    }
}

/// Checks a result envelope and its result against `def`.
fn ok(s: &Schemas, version: &str, reply: &Value, def: &str) {
    assert!(
        reply.get("error").is_none(),
        "{version}: unexpected error {reply}"
    );
    s.check(version, defs(version).0, reply);
    s.check(version, def, &reply["result"]);
    if version == "2026-07-28" {
        assert_eq!(reply["result"]["resultType"], "complete", "{reply}");
        assert_eq!(
            reply["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
            "mcp-elevenlabs"
        );
    } else {
        assert!(
            reply["result"].get("resultType").is_none(),
            "{version}: {reply}"
        );
    }
}

/// Checks an error reply with a known id.
fn err(s: &Schemas, version: &str, reply: &Value, code: i64) {
    s.check(version, defs(version).1, reply);
    assert_eq!(reply["error"]["code"], code, "{version}: {reply}");
    assert!(!reply["error"]["message"].as_str().unwrap().is_empty());
}

/// Checks an error reply whose request id was unknown.
fn err_no_id(s: &Schemas, version: &str, reply: &Value, code: i64) {
    assert_eq!(reply["error"]["code"], code, "{version}: {reply}");
    if version <= "2025-06-18" {
        // JSON-RPC's `"id": null`; these schemas type ids as string|integer, so check the rest.
        assert_eq!(reply.get("id"), Some(&Value::Null), "{version}: {reply}");
        let mut with_id = reply.clone();
        with_id["id"] = json!(0);
        s.check(version, defs(version).1, &with_id);
    } else {
        assert!(reply.get("id").is_none(), "{version}: {reply}");
        s.check(version, defs(version).1, reply);
    }
}

fn text(reply: &Value) -> &str {
    reply["result"]["content"][0]["text"].as_str().unwrap()
}

#[test]
fn every_version_every_method_validates() {
    let schemas = Schemas::load();
    for version in VERSIONS {
        let home = Home::new("versions");
        let mut srv = Server::start(&home, &[("MCP_ELEVENLABS_LOG", "debug")]);
        let s = &schemas;
        let v = version;
        let stateless = v == "2026-07-28";
        if stateless {
            let r = srv.call(&req(v, 1, "server/discover", Value::Null));
            ok(s, v, &r, "DiscoverResult");
            assert_eq!(r["result"]["supportedVersions"], json!(VERSIONS));
            let r = srv.call(&req(v, 2, "ping", Value::Null));
            err(s, v, &r, -32601);
            let mut bad = req(v, 3, "tools/list", Value::Null);
            bad["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2025-06-18");
            let r = srv.call(&bad);
            s.check(v, "UnsupportedProtocolVersionError", &r);
            assert_eq!(r["error"]["data"]["requested"], "2025-06-18");
            let mut bad = req(v, 4, "tools/list", Value::Null);
            bad["params"]["_meta"]
                .as_object_mut()
                .unwrap()
                .remove("io.modelcontextprotocol/clientCapabilities");
            err(s, v, &srv.call(&bad), -32602);
            let r = srv.call(&json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}));
            err(s, v, &r, -32602);
            assert!(r["error"]["message"].as_str().unwrap().contains("_meta"));
        } else {
            let r = srv.call(&initialize(1, v));
            ok(s, v, &r, "InitializeResult");
            assert_eq!(r["result"]["protocolVersion"], v);
            srv.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
            ok(
                s,
                v,
                &srv.call(&req(v, 2, "ping", Value::Null)),
                "EmptyResult",
            );
        }

        let r = srv.call(&req(v, 10, "tools/list", Value::Null));
        ok(s, v, &r, "ListToolsResult");
        let names: Vec<&str> = r["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, TOOL_NAMES);
        assert!(
            srv.seen.last().unwrap().len() <= 4096,
            "{v}: tools/list is {} bytes",
            srv.seen.last().unwrap().len()
        );
        if v >= "2025-06-18" {
            let speak = &r["result"]["tools"][0];
            assert!(speak["outputSchema"].is_object());
            assert_eq!(speak["annotations"]["readOnlyHint"], false);
            assert_eq!(speak["annotations"]["openWorldHint"], true);
            assert_eq!(speak["annotations"]["idempotentHint"], false);
        }
        err(
            s,
            v,
            &srv.call(&req(v, 11, "tools/list", json!({"cursor": "abc"}))),
            -32602,
        );

        let r = srv.call(&req(
            v,
            20,
            "tools/call",
            json!({"name": "get_usage", "arguments": {}}),
        ));
        ok(s, v, &r, "CallToolResult");
        assert_eq!(r["result"]["isError"], true);
        assert!(text(&r).contains("ELEVENLABS_API_KEY"), "{r}");
        let r = srv.call(&req(
            v,
            21,
            "tools/call",
            json!({"name": "speak", "arguments": {"text": 5, "pitch": 2}}),
        ));
        ok(s, v, &r, "CallToolResult");
        assert!(
            text(&r).contains("`text` must be a string")
                && text(&r).contains("`pitch` is not an argument"),
            "{r}"
        );
        // Empty optional strings are absent, so validation passes and the missing key is reported.
        let r = srv.call(&req(v, 22, "tools/call", json!({"name": "speak", "arguments": {"text": "hi", "voice": "", "model": "", "delivery": ""}})));
        ok(s, v, &r, "CallToolResult");
        assert!(text(&r).contains("No ElevenLabs API key"), "{r}");
        err(
            s,
            v,
            &srv.call(&req(v, 23, "tools/call", json!({"name": "shout"}))),
            -32602,
        );
        err(
            s,
            v,
            &srv.call(&req(v, 24, "tools/call", json!({"arguments": {}}))),
            -32602,
        );

        ok(
            s,
            v,
            &srv.call(&req(v, 30, "resources/list", Value::Null)),
            "ListResourcesResult",
        );
        ok(
            s,
            v,
            &srv.call(&req(v, 31, "resources/templates/list", Value::Null)),
            "ListResourceTemplatesResult",
        );
        let r = srv.call(&req(
            v,
            32,
            "resources/read",
            json!({"uri": "health://status"}),
        ));
        ok(s, v, &r, "ReadResourceResult");
        let health: Value =
            serde_json::from_str(r["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(health["api_key"], "missing");
        let not_found = if stateless { -32602 } else { -32002 };
        err(
            s,
            v,
            &srv.call(&req(
                v,
                33,
                "resources/read",
                json!({"uri": "audio://missing.mp3"}),
            )),
            not_found,
        );
        err(
            s,
            v,
            &srv.call(&req(
                v,
                34,
                "resources/read",
                json!({"uri": "file:///etc/passwd"}),
            )),
            not_found,
        );
        err(
            s,
            v,
            &srv.call(&req(v, 35, "resources/list", json!({"cursor": "x"}))),
            -32602,
        );

        // Logging: session level (handshake) or per request (stateless).
        let mut call = req(v, 40, "tools/call", json!({"name": "list_models"}));
        if stateless {
            call["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("debug");
        } else {
            let (r, _) = srv.request(&req(v, 39, "logging/setLevel", json!({"level": "debug"})));
            ok(s, v, &r, "EmptyResult");
            err(
                s,
                v,
                &srv.call(&req(v, 38, "logging/setLevel", json!({"level": "loud"}))),
                -32602,
            );
        }
        let (r, notes) = srv.request(&call);
        ok(s, v, &r, "CallToolResult");
        assert_eq!(notes.len(), 1, "{v}: {notes:?}");
        s.check(v, "JSONRPCNotification", &notes[0]);
        let mut note = notes[0].clone();
        if !s.declares(v, "LoggingMessageNotification", "jsonrpc") {
            note.as_object_mut().unwrap().remove("jsonrpc");
        }
        s.check(v, "LoggingMessageNotification", &note);

        err(
            s,
            v,
            &srv.call(&req(v, 50, "prompts/list", Value::Null)),
            -32601,
        );
        srv.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":51,\"method\":\n");
        err_no_id(s, v, &srv.recv(), -32700);
        srv.send_raw(b"{\"jsonrpc\":\"1.0\",\"id\":52,\"method\":\"ping\"}\n");
        err(s, v, &srv.recv(), -32600);
        // Notifications are never answered; the next reply belongs to the next request.
        srv.send(&json!({"jsonrpc": "2.0", "method": "notifications/unknown"}));
        srv.send(&json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 999}}));
        let r = srv.call(&req(v, 53, "tools/list", Value::Null));
        assert_eq!(r["id"], 53);

        let (status, stderr, seen) = srv.finish(std::time::Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "{v}: exit {status:?}; stderr: {stderr}"
        );
        for line in seen {
            let m: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(m["jsonrpc"], "2.0", "only protocol on stdout: {line}");
        }
    }
}

#[test]
fn batches_under_2025_03_26_only() {
    let schemas = Schemas::load();
    let home = Home::new("batch");
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, "2025-03-26"));
    let batch = json!([
        {"jsonrpc": "2.0", "id": 2, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 4, "method": "nope"},
        {"jsonrpc": "2.0", "id": 5, "method": "resources/read", "params": {"uri": "audio://none.mp3"}}
    ]);
    srv.send(&batch);
    let r = srv.recv();
    schemas.check("2025-03-26", "JSONRPCMessage", &r);
    let ids: Vec<i64> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [2, 3, 4, 5]);
    srv.send(&json!([]));
    assert_eq!(srv.recv()["error"]["code"], -32600);

    let home = Home::new("nobatch");
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, "2025-06-18"));
    srv.send(&json!([{"jsonrpc": "2.0", "id": 2, "method": "ping"}]));
    let r = srv.recv();
    assert_eq!(r["error"]["code"], -32600);
    assert_eq!(r["id"], Value::Null);
}

#[test]
fn framing_tolerates_crlf_bom_and_blank_lines_and_survives_huge_lines() {
    let home = Home::new("framing");
    let mut srv = Server::start(&home, &[]);
    srv.send_raw(b"\xEF\xBB\xBF{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r\n\r\n\n");
    assert_eq!(srv.recv()["id"], 1);
    // A 3 MiB line: one error, memory bounded, and the next request is served.
    let mut huge =
        b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":{\"x\":\"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 3 << 20));
    huge.extend(b"\"}}\n");
    srv.send_raw(&huge);
    let r = srv.recv();
    assert_eq!(r["error"]["code"], -32600);
    assert!(r["error"]["message"].as_str().unwrap().contains("too long"));
    srv.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}\n");
    assert_eq!(srv.recv()["id"], 3);
    let peak = srv.peak_rss_kib();
    assert!(peak < 16 * 1024, "peak RSS {peak} KiB after a 3 MiB line");
}

#[test]
fn a_flood_of_100k_pings_is_answered_with_bounded_memory() {
    let home = Home::new("flood");
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(0, "2025-06-18"));
    let n = 100_000u64;
    let mut flood = Vec::with_capacity(n as usize * 48);
    for i in 1..=n {
        flood.extend_from_slice(
            format!("{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"ping\"}}\n").as_bytes(),
        );
    }
    // Write from a thread while this one reads: the server applies backpressure both ways.
    let mut stdin = srv.take_stdin();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&flood).unwrap();
        stdin
    });
    let mut next = 1u64;
    while next <= n {
        let r = srv.recv();
        assert_eq!(r["id"], next, "responses in order, one per request");
        next += 1;
    }
    let peak = srv.peak_rss_kib();
    drop(writer.join().unwrap());
    assert!(
        peak <= 16 * 1024,
        "peak RSS {peak} KiB under a 100k-request flood"
    );
}
