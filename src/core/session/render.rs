//! How a session says things in its client's protocol version: the handshake and discovery
//! bodies, the tool list, and tool outcomes rendered with the content types the version has.

use super::super::tools::{self, Media, Outcome, Tool, args};
use super::super::{NAME, VERSION};
use super::version::{META_SERVER_INFO, Version};
use serde_json::{Map, Value, json};

/// Short guidance for the model, sent with `initialize` and `server/discover`.
pub(super) const INSTRUCTIONS: &str = "Gives you a voice through ElevenLabs text-to-speech. `speak` turns text into audio \
(saved file or inline) and spends the user's ElevenLabs credits, about one per character: speak what \
should be heard, not every reply. `list_voices` finds voices by name; `set_default_voice` remembers one; \
`get_usage` shows the credits left.";

/// The `initialize` result at `version`.
pub(super) fn initialize(version: Version) -> String {
    json!({
        "protocolVersion": version.as_str(),
        "capabilities": capabilities(),
        "serverInfo": server_info(version),
        "instructions": INSTRUCTIONS,
    })
    .to_string()
}

pub(super) fn capabilities() -> Value {
    json!({
        "tools": {"listChanged": false},
        "resources": {"subscribe": false, "listChanged": false},
        "logging": {},
    })
}

pub(super) fn server_info(version: Version) -> Value {
    let mut info = Map::new();
    info.insert("name".into(), NAME.into());
    info.insert("version".into(), VERSION.into());
    if version.has_structured() {
        info.insert("title".into(), "ElevenLabs voice".into());
    }
    Value::Object(info)
}

/// The members every 2026-07-28 result carries, `resultType` and serverInfo in `_meta`, as a
/// `,"…":…` run to append inside a non-empty result object; empty for other versions.
pub(super) fn result_suffix(version: Version) -> String {
    if !version.is_stateless() {
        return String::new();
    }
    let meta = json!({ META_SERVER_INFO: server_info(version) });
    format!(",\"resultType\":\"complete\",\"_meta\":{meta}")
}

/// The `server/discover` result body.
pub(super) fn discover() -> String {
    let supported: Vec<&str> = Version::ALL.iter().map(|v| v.as_str()).collect();
    json!({
        "supportedVersions": supported,
        "capabilities": capabilities(),
        "instructions": INSTRUCTIONS,
        "ttlMs": 3_600_000,
        "cacheScope": "public",
    })
    .to_string()
}

/// The whole `tools/list` result object of `version`, suffix included.
pub(super) fn tools_list(version: Version) -> String {
    let tools: Vec<Value> = tools::TOOLS.iter().map(|t| describe(t, version)).collect();
    let mut body = json!({ "tools": tools });
    if version.is_stateless() {
        body["ttlMs"] = 3_600_000.into();
        body["cacheScope"] = "public".into();
    }
    let mut out = Vec::new();
    super::super::jsonrpc::append_members(&mut out, &body.to_string(), &result_suffix(version));
    String::from_utf8(out).unwrap_or_default()
}

/// The `tools/list` entry of `tool` as `version` knows it.
fn describe(tool: &Tool, version: Version) -> Value {
    let mut t = Map::new();
    t.insert("name".into(), tool.name.into());
    if version.has_structured() {
        t.insert("title".into(), tool.title.into());
    }
    t.insert("description".into(), tool.description.into());
    t.insert(
        "inputSchema".into(),
        Value::Object(args::object_schema(tool.params)),
    );
    if version.has_structured()
        && let Some(schema) = tool.output_schema
    {
        t.insert("outputSchema".into(), schema());
    }
    if version.has_audio() {
        let h = &tool.hints;
        let mut a = Map::new();
        if !version.has_structured() {
            a.insert("title".into(), tool.title.into());
        }
        a.insert("readOnlyHint".into(), h.read_only.into());
        if !h.read_only {
            a.insert("destructiveHint".into(), h.destructive.into());
            a.insert("idempotentHint".into(), h.idempotent.into());
        }
        a.insert("openWorldHint".into(), h.open_world.into());
        t.insert("annotations".into(), Value::Object(a));
    }
    Value::Object(t)
}

/// A `tools/call` result body: the text, the audio as the version can carry it, and the
/// structured content (before 2025-06-18, as a text block after the audio).
pub(super) fn tool_result(version: Version, outcome: Outcome) -> String {
    let mut content = vec![json!({"type": "text", "text": outcome.text})];
    match &outcome.media {
        Some(Media::Inline { data, mime }) => {
            let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, data);
            content.push(if version.has_audio() {
                json!({"type": "audio", "data": b64, "mimeType": mime})
            } else {
                json!({"type": "resource", "resource": {"uri": "audio://inline", "mimeType": mime, "blob": b64}})
            });
        }
        Some(Media::File { name, mime, size }) if version.has_structured() => {
            let uri = format!("audio://{name}");
            content.push(json!({"type": "resource_link", "uri": uri, "name": name, "mimeType": mime, "size": size}));
        }
        Some(Media::File { .. }) | None => {}
    }
    if let (Some(structured), true, false) = (
        &outcome.structured,
        outcome.media.is_some(),
        version.has_structured(),
    ) {
        content.push(json!({"type": "text", "text": structured.to_string()}));
    }
    let mut body = json!({ "content": content, "isError": outcome.is_error });
    if let (Some(structured), true) = (outcome.structured, version.has_structured()) {
        body["structuredContent"] = structured;
    }
    body.to_string()
}
