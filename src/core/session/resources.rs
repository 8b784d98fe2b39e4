//! Resources: `health://status`, `voices://catalog` and the `audio://{id}` template for
//! generated files, as the session lists and renders them (the service produces their data).

use super::super::service::Request;
use super::version::Version;
use serde_json::{Map, Value, json};

/// The health resource.
pub(crate) const HEALTH: &str = "health://status";
/// The account's voices.
pub(crate) const CATALOG: &str = "voices://catalog";
/// What the usage ledger holds (feature `usage-db`).
pub(crate) const USAGE: &str = "usage://report";
const AUDIO_PREFIX: &str = "audio://";

/// Cache hints for list results (2026-07-28).
fn cacheable(version: Version, body: &mut Value, ttl_ms: u64, scope: &str) {
    if version.is_stateless() {
        body["ttlMs"] = ttl_ms.into();
        body["cacheScope"] = scope.into();
    }
}

fn titled(version: Version, mut entry: Map<String, Value>, title: &str) -> Value {
    if version.has_structured() {
        entry.insert("title".into(), title.into());
    }
    Value::Object(entry)
}

/// The `resources/list` result body.
pub(crate) fn list(version: Version) -> String {
    let mut health = Map::new();
    health.insert("uri".into(), HEALTH.into());
    health.insert("name".into(), "health".into());
    health.insert(
        "description".into(),
        "Server health: configuration, API key, upstream state.".into(),
    );
    health.insert("mimeType".into(), "application/json".into());
    let mut catalog = Map::new();
    catalog.insert("uri".into(), CATALOG.into());
    catalog.insert("name".into(), "voices".into());
    catalog.insert(
        "description".into(),
        "Every voice of the account: id, name, category, labels, languages.".into(),
    );
    catalog.insert("mimeType".into(), "application/json".into());
    let mut resources = vec![
        titled(version, health, "Server health"),
        titled(version, catalog, "Voice catalog"),
    ];
    if cfg!(feature = "usage-db") {
        let mut usage = Map::new();
        usage.insert("uri".into(), USAGE.into());
        usage.insert("name".into(), "usage".into());
        usage.insert(
            "description".into(),
            "Characters billed today and this month, budgets and what is left, cost estimate, cache hit rate, by model and voice.".into(),
        );
        usage.insert("mimeType".into(), "application/json".into());
        resources.push(titled(version, usage, "Usage report"));
    }
    let mut body = json!({ "resources": resources });
    cacheable(version, &mut body, 60_000, "private");
    body.to_string()
}

/// The `resources/templates/list` result body.
pub(crate) fn templates(version: Version) -> String {
    let mut audio = Map::new();
    audio.insert("uriTemplate".into(), "audio://{id}".into());
    audio.insert("name".into(), "audio".into());
    audio.insert(
        "description".into(),
        "A generated audio file by name, as returned by speak.".into(),
    );
    let mut body = json!({ "resourceTemplates": [titled(version, audio, "Generated audio")] });
    cacheable(version, &mut body, 3_600_000, "public");
    body.to_string()
}

/// The `resources/read` result body for one text content (health changes all the time).
pub(crate) fn text_contents(version: Version, uri: &str, mime: &str, text: &str) -> String {
    let mut body = json!({ "contents": [{ "uri": uri, "mimeType": mime, "text": text }] });
    cacheable(version, &mut body, 0, "private");
    body.to_string()
}

/// The start of a `resources/read` result with one blob, up to the blob's opening quote.
pub(crate) fn blob_head(uri: &str, mime: &str) -> String {
    let item = json!({ "uri": uri, "mimeType": mime }).to_string();
    format!("{{\"contents\":[{},\"blob\":\"", item.trim_end_matches('}'))
}

/// The JSON resource a call computes at `uri`, and the URI as a constant.
pub(crate) fn computed(uri: &str) -> Option<(Request<'static>, &'static str)> {
    match uri {
        CATALOG => Some((Request::Catalog, CATALOG)),
        USAGE => Some((Request::UsageReport, USAGE)),
        _ => None,
    }
}

/// The file name in an `audio://` URI, if it is a plain, safe name.
pub(crate) fn audio_name(uri: &str) -> Option<&str> {
    let name = uri.strip_prefix(AUDIO_PREFIX)?;
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    ok.then_some(name)
}

/// The MIME type of an audio file by its extension.
pub(crate) fn audio_mime(name: &str) -> &'static str {
    match name
        .rsplit('.')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "opus" | "ogg" => "audio/ogg",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_names_cannot_escape() {
        assert_eq!(
            audio_name("audio://20261127-120000-rachel-0a1b2c3d.mp3"),
            Some("20261127-120000-rachel-0a1b2c3d.mp3")
        );
        for bad in [
            "audio://",
            "audio://../x",
            "audio://a/b",
            "audio://.hidden",
            "audio://a%2Fb",
            "file:///etc/passwd",
            "audio://a\\b",
        ] {
            assert_eq!(audio_name(bad), None, "{bad}");
        }
        assert_eq!(audio_mime("x.wav"), "audio/wav");
    }
}
