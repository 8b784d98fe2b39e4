//! JSON-RPC 2.0 envelopes: parsing a line into a typed message with raw `params`, and writing
//! responses straight into the output buffer.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Bad parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// A failure of ours.
pub const INTERNAL_ERROR: i64 = -32603;
/// Resource not found (handshake era).
pub const RESOURCE_NOT_FOUND: i64 = -32002;
/// The requested protocol version is not supported (2026-07-28).
pub const UNSUPPORTED_VERSION: i64 = -32022;
/// HTTP headers mirrored from the body are missing or disagree with it (2026-07-28).
pub const HEADER_MISMATCH: i64 = -32020;
/// The `Mcp-Session-Id` names no session (Streamable HTTP).
pub const SESSION_NOT_FOUND: i64 = -32001;

/// A request id: a string or an integer, kept as its JSON text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Id(Box<str>);

impl Id {
    /// The id as JSON.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// Parses a raw JSON id; `None` unless it is a string or an integer.
    pub fn from_raw(raw: &RawValue) -> Option<Self> {
        let text = raw.get();
        let first = *text.as_bytes().first()?;
        let ok = match first {
            // Re-serialize strings so equal ids compare equal whatever escapes they used.
            b'"' => {
                let s: String = serde_json::from_str(text).ok()?;
                return Some(Self(serde_json::to_string(&s).ok()?.into()));
            }
            b'-' | b'0'..=b'9' => text[1..].bytes().all(|b| b.is_ascii_digit()) && text != "-",
            _ => false,
        };
        ok.then(|| Self(text.into()))
    }
}

/// The envelope fields of one message.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// Keeps `"id": null` distinct from an absent id.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// One parsed message.
#[derive(Debug)]
pub enum Message<'a> {
    /// A request that needs exactly one response.
    Request {
        /// Its id.
        id: Id,
        /// The method name.
        method: Cow<'a, str>,
        /// The params object, unparsed.
        params: Option<&'a RawValue>,
    },
    /// A notification: never answered.
    Notification {
        /// The method name.
        method: Cow<'a, str>,
        /// The params object, unparsed.
        params: Option<&'a RawValue>,
    },
    /// A response from the client; we send no requests, so these are dropped.
    Response,
}

/// Why a line is not a message.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    /// The JSON-RPC error code.
    pub code: i64,
    /// What is wrong.
    pub message: String,
    /// The request id if one could be read.
    pub id: Option<Id>,
}

/// Parses one JSON object (not a batch).
pub fn parse(line: &[u8]) -> Result<Message<'_>, Invalid> {
    let env: Envelope<'_> = match serde_json::from_slice(line) {
        Ok(env) => env,
        Err(e) if e.is_data() => {
            let msg =
                "a message must be a JSON object with `jsonrpc`, `method` and an optional `id`";
            return Err(invalid(INVALID_REQUEST, msg, readable_id(line)));
        }
        Err(e) => return Err(invalid(PARSE_ERROR, &format!("parse error: {e}"), None)),
    };
    let id = match env.id {
        None => None,
        Some(raw) => match Id::from_raw(raw) {
            Some(id) => Some(id),
            None => {
                return Err(invalid(
                    INVALID_REQUEST,
                    "`id` must be a string or an integer",
                    None,
                ));
            }
        },
    };
    if env.jsonrpc.as_deref() != Some("2.0") {
        return Err(invalid(INVALID_REQUEST, "`jsonrpc` must be \"2.0\"", id));
    }
    let Some(method) = env.method else {
        if id.is_some() && (env.result.is_some() || env.error.is_some()) {
            return Ok(Message::Response);
        }
        return Err(invalid(INVALID_REQUEST, "missing `method`", id));
    };
    if let Some(params) = env.params
        && !params.get().starts_with('{')
    {
        return match id {
            Some(id) => Err(invalid(
                INVALID_PARAMS,
                "`params` must be an object",
                Some(id),
            )),
            // A notification with bad params is dropped like any notification error.
            None => Ok(Message::Notification {
                method,
                params: None,
            }),
        };
    }
    Ok(match id {
        Some(id) => Message::Request {
            id,
            method,
            params: env.params,
        },
        None => Message::Notification {
            method,
            params: env.params,
        },
    })
}

/// The id of a well-formed JSON object whose other members are wrong, if it has a valid one.
fn readable_id(line: &[u8]) -> Option<Id> {
    #[derive(Deserialize)]
    struct IdOnly<'a> {
        #[serde(borrow, default)]
        id: Option<&'a RawValue>,
    }
    let only: IdOnly<'_> = serde_json::from_slice(line).ok()?;
    Id::from_raw(only.id?)
}

fn invalid(code: i64, message: &str, id: Option<Id>) -> Invalid {
    Invalid {
        code,
        message: message.to_string(),
        id,
    }
}

/// How to write an error whose request id is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoId {
    /// `"id": null` (up to 2025-06-18).
    Null,
    /// No `id` member (from 2025-11-25).
    Omit,
}

/// Writes `{"jsonrpc":"2.0","id":…,"result":<result>}` (no newline).
pub fn write_result(out: &mut Vec<u8>, id: &Id, result: &str) {
    write_result_with(out, id, result, "");
}

/// Writes `{"jsonrpc":"2.0","id":…,"result":` and leaves the result for the caller.
pub fn write_result_open(out: &mut Vec<u8>, id: &Id) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.as_json().as_bytes());
    out.extend_from_slice(b",\"result\":");
}

/// Writes a result response whose result is the object `result` with the members `extra` (a
/// `,"name":value…` run, or empty) appended inside it.
pub fn write_result_with(out: &mut Vec<u8>, id: &Id, result: &str, extra: &str) {
    write_result_open(out, id);
    append_members(out, result, extra);
    out.push(b'}');
}

/// Writes the JSON object `object` with the members `extra` (`,"name":value…`) added at its end.
pub fn append_members(out: &mut Vec<u8>, object: &str, extra: &str) {
    let inner = match object.strip_suffix('}') {
        Some(inner) if !extra.is_empty() => inner,
        _ => {
            out.extend_from_slice(object.as_bytes());
            return;
        }
    };
    out.extend_from_slice(inner.as_bytes());
    let extra = if inner.trim_end().ends_with('{') {
        extra.strip_prefix(',').unwrap_or(extra)
    } else {
        extra
    };
    out.extend_from_slice(extra.as_bytes());
    out.push(b'}');
}

/// Writes an error response (no newline). `data` is JSON text.
pub fn write_error(
    out: &mut Vec<u8>,
    id: Option<&Id>,
    no_id: NoId,
    code: i64,
    message: &str,
    data: Option<&str>,
) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",");
    match (id, no_id) {
        (Some(id), _) => {
            out.extend_from_slice(b"\"id\":");
            out.extend_from_slice(id.as_json().as_bytes());
            out.push(b',');
        }
        (None, NoId::Null) => out.extend_from_slice(b"\"id\":null,"),
        (None, NoId::Omit) => {}
    }
    let mut tail = String::with_capacity(message.len() + 48);
    let _ = write!(tail, "\"error\":{{\"code\":{code},\"message\":");
    tail.push_str(&serde_json::to_string(message).unwrap_or_else(|_| "\"error\"".into()));
    if let Some(data) = data {
        tail.push_str(",\"data\":");
        tail.push_str(data);
    }
    tail.push_str("}}");
    out.extend_from_slice(tail.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_notifications_responses() {
        match parse(br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#).unwrap() {
            Message::Request { id, method, params } => {
                assert_eq!(id.as_json(), "7");
                assert_eq!(method, "ping");
                assert!(params.is_none());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap(),
            Message::Notification { .. }
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap(),
            Message::Response
        ));
    }

    #[test]
    fn invalid_messages() {
        assert_eq!(parse(b"{not json").unwrap_err().code, PARSE_ERROR);
        assert_eq!(parse(b"\"str\"").unwrap_err().code, INVALID_REQUEST);
        assert_eq!(
            parse(b"{\"id\":1,\"method\":\"x\"}").unwrap_err().id,
            Some(Id("1".into()))
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#)
                .unwrap_err()
                .code,
            INVALID_REQUEST
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#)
                .unwrap_err()
                .code,
            INVALID_REQUEST
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#)
                .unwrap_err()
                .code,
            INVALID_PARAMS
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":1,"method":3}"#)
                .unwrap_err()
                .code,
            INVALID_REQUEST
        );
    }

    #[test]
    fn string_ids_compare_by_value() {
        let a = Id::from_raw(&RawValue::from_string(r#""\u0061""#.into()).unwrap()).unwrap();
        let b = Id::from_raw(&RawValue::from_string(r#""a""#.into()).unwrap()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn members_appended_inside_the_object() {
        let mut out = Vec::new();
        append_members(&mut out, "{}", ",\"a\":1");
        assert_eq!(out, b"{\"a\":1}");
        let mut out = Vec::new();
        append_members(&mut out, "{\"x\":[]}", ",\"a\":1");
        assert_eq!(out, b"{\"x\":[],\"a\":1}");
        let mut out = Vec::new();
        write_result_with(&mut out, &Id("3".into()), "{\"x\":1}", "");
        assert_eq!(out, br#"{"jsonrpc":"2.0","id":3,"result":{"x":1}}"#);
    }

    #[test]
    fn error_shapes() {
        let mut out = Vec::new();
        write_error(&mut out, None, NoId::Null, PARSE_ERROR, "bad \"x\"", None);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad \"x\""}}"#
        );
        let mut out = Vec::new();
        write_error(&mut out, None, NoId::Omit, -1, "m", Some("{\"a\":1}"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"jsonrpc":"2.0","error":{"code":-1,"message":"m","data":{"a":1}}}"#
        );
    }
}
