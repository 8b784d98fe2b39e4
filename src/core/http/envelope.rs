//! What the transport reads of a POST body before a session sees it: is it a request, which
//! method, and the values the 2026-07-28 headers mirror. The session parses the message again
//! in full; this reads only the envelope, borrowing.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// One message's envelope.
#[derive(Debug, Default)]
pub(super) struct Envelope {
    /// `method`, if a string.
    pub(super) method: Option<String>,
    /// An `id` is present (a request, or a response).
    pub(super) has_id: bool,
    /// `params.name` (`tools/call`, `prompts/get`).
    pub(super) name: Option<String>,
    /// `params.uri` (`resources/read`).
    pub(super) uri: Option<String>,
    /// `params._meta["io.modelcontextprotocol/protocolVersion"]`.
    pub(super) version: Option<String>,
}

impl Envelope {
    /// Reads one JSON object's envelope; `None` if the body is not a JSON object.
    pub(super) fn read(body: &[u8]) -> Option<Self> {
        #[derive(Deserialize)]
        struct Raw<'a> {
            #[serde(borrow)]
            method: Option<&'a RawValue>,
            #[serde(borrow)]
            id: Option<&'a RawValue>,
            #[serde(borrow)]
            params: Option<&'a RawValue>,
        }
        #[derive(Deserialize)]
        struct Params<'a> {
            #[serde(borrow)]
            name: Option<&'a RawValue>,
            #[serde(borrow)]
            uri: Option<&'a RawValue>,
            #[serde(borrow, rename = "_meta")]
            meta: Option<&'a RawValue>,
        }
        #[derive(Deserialize)]
        struct Meta<'a> {
            // `session::META_VERSION` (an attribute takes only a literal).
            #[serde(borrow, rename = "io.modelcontextprotocol/protocolVersion")]
            version: Option<&'a RawValue>,
        }
        let raw: Raw<'_> = serde_json::from_slice(body).ok()?;
        let params = raw
            .params
            .and_then(|p| serde_json::from_str::<Params<'_>>(p.get()).ok());
        let version = params
            .as_ref()
            .and_then(|p| p.meta)
            .and_then(|m| serde_json::from_str::<Meta<'_>>(m.get()).ok())
            .and_then(|m| string(m.version));
        Some(Self {
            method: string(raw.method),
            has_id: raw.id.is_some_and(|id| id.get() != "null"),
            name: params.as_ref().and_then(|p| string(p.name)),
            uri: params.as_ref().and_then(|p| string(p.uri)),
            version,
        })
    }

    /// A request: it has a method and an id.
    pub(super) fn is_request(&self) -> bool {
        self.method.is_some() && self.has_id
    }

    /// The value `Mcp-Name` must mirror for this method, if the method names a target.
    pub(super) fn target(&self) -> Option<Option<&str>> {
        match self.method.as_deref() {
            Some("tools/call" | "prompts/get") => Some(self.name.as_deref()),
            Some("resources/read") => Some(self.uri.as_deref()),
            _ => None,
        }
    }
}

fn string(raw: Option<&RawValue>) -> Option<String> {
    raw.and_then(|r| serde_json::from_str::<Cow<'_, str>>(r.get()).ok())
        .map(Cow::into_owned)
}

/// A line the session wrote is a notification (not the reply that ends an exchange). Every
/// notification the session writes starts this way (`session::answer`; tested there and here).
pub(super) fn is_notification(line: &[u8]) -> bool {
    line.starts_with(b"{\"jsonrpc\":\"2.0\",\"method\":")
}

/// The HTTP status for the reply that ends an exchange: 400 for an error about a message whose
/// id could not be read, 404 for an unknown method in the stateless era, 200 otherwise.
pub(super) fn status_of(line: &[u8], stateless: bool) -> u16 {
    // The id comes first and may be long: look a little past it.
    let head = &line[..line.len().min(600)];
    let no_id = head.starts_with(b"{\"jsonrpc\":\"2.0\",\"error\"")
        || head.starts_with(b"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\"");
    if no_id {
        400
    } else if stateless && find(head, b",\"error\":{\"code\":-32601,").is_some() {
        404
    } else {
        200
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
