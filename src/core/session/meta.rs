//! What a request's `params` say about how to serve it: its `_meta` (2026-07-28: version,
//! client capabilities, log level), and the checks shared by the list methods.

use super::super::event::Level;
use super::super::jsonrpc::{self, Id};
use super::Ctx;
use super::version::{META_CAPABILITIES, META_LOG_LEVEL, META_VERSION, Version};
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// `_meta` fields the core looks at.
pub(super) struct Meta<'a> {
    pub(super) version: Option<Cow<'a, str>>,
    pub(super) has_capabilities: bool,
    pub(super) log_level: Option<Cow<'a, str>>,
}

impl<'a> Meta<'a> {
    pub(super) fn parse(params: Option<&'a RawValue>) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Params<'a> {
            #[serde(borrow, rename = "_meta", default)]
            meta: Option<&'a RawValue>,
        }
        #[derive(Deserialize)]
        struct Raw<'a> {
            #[serde(borrow, rename = "io.modelcontextprotocol/protocolVersion", default)]
            version: Option<Cow<'a, str>>,
            #[serde(borrow, rename = "io.modelcontextprotocol/clientCapabilities", default)]
            capabilities: Option<&'a RawValue>,
            #[serde(borrow, rename = "io.modelcontextprotocol/logLevel", default)]
            log_level: Option<Cow<'a, str>>,
        }
        let none = Self {
            version: None,
            has_capabilities: false,
            log_level: None,
        };
        let Some(params) = params else {
            return Ok(none);
        };
        let Ok(Params { meta: Some(meta) }) = serde_json::from_str::<Params<'a>>(params.get())
        else {
            return Ok(none);
        };
        if meta.get() == "null" {
            return Ok(none);
        }
        let raw: Raw<'a> = serde_json::from_str(meta.get()).map_err(|_| {
            format!(
                "`_meta` must be an object whose \"{}\" and \"{}\" are strings",
                META_VERSION, META_LOG_LEVEL
            )
        })?;
        if raw.capabilities.is_some_and(|c| !c.get().starts_with('{')) {
            return Err(format!(
                "_meta[\"{}\"] must be an object",
                META_CAPABILITIES
            ));
        }
        Ok(Self {
            version: raw.version,
            has_capabilities: raw.capabilities.is_some(),
            log_level: raw.log_level,
        })
    }
}

pub(super) fn level_error(level: &str) -> String {
    let shown: String = level.chars().take(32).collect();
    format!(
        "unknown log level {shown:?}: use debug, info, notice, warning, error, critical, alert or emergency"
    )
}

/// This server offers a single page of everything: any cursor is one it never issued.
pub(super) fn check_cursor(params: Option<&RawValue>) -> Result<(), String> {
    #[derive(Deserialize)]
    struct P {
        #[serde(default)]
        cursor: Option<Value>,
    }
    let p = params.and_then(|p| serde_json::from_str::<P>(p.get()).ok());
    match p.and_then(|p| p.cursor) {
        None | Some(Value::Null) => Ok(()),
        Some(_) => {
            Err("invalid cursor: this list has a single page, so no cursor is valid".to_string())
        }
    }
}

/// The context of a request in the stateless era, or the error that refuses it.
pub(super) fn stateless_ctx(
    method: &str,
    meta: &Meta<'_>,
) -> Result<Ctx, (i64, String, Option<String>)> {
    // `server/discover` without `_meta` is answered anyway: it is how a client learns what to send.
    let requested = meta
        .version
        .as_deref()
        .unwrap_or(Version::V2026_07_28.as_str());
    if Version::parse(requested) != Some(Version::V2026_07_28) {
        let supported: Vec<&str> = Version::ALL.iter().map(|v| v.as_str()).collect();
        let data = json!({"supported": supported, "requested": requested}).to_string();
        let msg = if Version::parse(requested).is_some() {
            format!(
                "protocol {requested} needs the `initialize` handshake; per-request _meta is for 2026-07-28"
            )
        } else {
            let shown: String = requested.chars().take(32).collect();
            format!("unsupported protocol version {shown:?}")
        };
        return Err((jsonrpc::UNSUPPORTED_VERSION, msg, Some(data)));
    }
    if method != "server/discover" && !meta.has_capabilities {
        return Err((
            jsonrpc::INVALID_PARAMS,
            format!("missing _meta[\"{META_CAPABILITIES}\"] (an object; {{}} if none)"),
            None,
        ));
    }
    let log = match meta.log_level.as_deref() {
        None => None,
        Some(l) => {
            Some(Level::parse(l).ok_or_else(|| (jsonrpc::INVALID_PARAMS, level_error(l), None))?)
        }
    };
    Ok(Ctx {
        version: Version::V2026_07_28,
        log,
    })
}

/// The params of `tools/call`.
pub(super) struct ToolCall<'a> {
    pub(super) name: Cow<'a, str>,
    pub(super) arguments: Option<&'a RawValue>,
    /// `_meta.progressToken`: a string or an integer, like a request id.
    pub(super) progress_token: Option<Id>,
}

impl<'a> ToolCall<'a> {
    pub(super) fn parse(params: Option<&'a RawValue>) -> Option<Self> {
        #[derive(Deserialize)]
        struct P<'a> {
            #[serde(borrow)]
            name: Cow<'a, str>,
            #[serde(borrow, default)]
            arguments: Option<&'a RawValue>,
            #[serde(borrow, rename = "_meta", default)]
            meta: Option<ProgressMeta<'a>>,
        }
        #[derive(Deserialize)]
        struct ProgressMeta<'a> {
            #[serde(borrow, rename = "progressToken", default)]
            token: Option<&'a RawValue>,
        }
        let p = serde_json::from_str::<P<'a>>(params?.get()).ok()?;
        Some(Self {
            name: p.name,
            arguments: p.arguments,
            progress_token: p.meta.and_then(|m| m.token).and_then(Id::from_raw),
        })
    }
}

/// The version `initialize` settles on: the client's, or our latest handshake version when we
/// do not speak its own there.
pub(super) fn initialize_version(params: Option<&RawValue>) -> Result<Version, &'static str> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct P<'a> {
        #[serde(borrow)]
        protocol_version: Cow<'a, str>,
    }
    let p = params
        .and_then(|p| serde_json::from_str::<P<'_>>(p.get()).ok())
        .ok_or("initialize needs `protocolVersion`")?;
    Ok(match Version::parse(&p.protocol_version) {
        Some(v) if !v.is_stateless() => v,
        _ => Version::LATEST_HANDSHAKE,
    })
}

/// The level `logging/setLevel` asks for.
pub(super) fn level_param(params: Option<&RawValue>) -> Result<Level, String> {
    #[derive(Deserialize)]
    struct P<'a> {
        #[serde(borrow)]
        level: Cow<'a, str>,
    }
    let p = params
        .and_then(|p| serde_json::from_str::<P<'_>>(p.get()).ok())
        .ok_or("logging/setLevel needs `level`")?;
    Level::parse(&p.level).ok_or_else(|| level_error(&p.level))
}

/// A batch's members (2025-03-26 only, 1 to `max` of them), or the error for the whole line.
pub(super) fn batch(
    line: &[u8],
    allowed: bool,
    max: usize,
) -> Result<Vec<&RawValue>, (i64, String)> {
    let items: Vec<&RawValue> = serde_json::from_slice(line)
        .map_err(|e| (jsonrpc::PARSE_ERROR, format!("parse error: {e}")))?;
    if !allowed {
        let msg =
            "JSON-RPC batches are only accepted after negotiating protocol version 2025-03-26";
        return Err((jsonrpc::INVALID_REQUEST, msg.into()));
    }
    if items.is_empty() {
        return Err((jsonrpc::INVALID_REQUEST, "empty batch".into()));
    }
    if items.len() > max {
        let msg = format!("batch too large: at most {max} messages per batch");
        return Err((jsonrpc::INVALID_REQUEST, msg));
    }
    Ok(items)
}
