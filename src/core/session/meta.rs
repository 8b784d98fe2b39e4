//! What a request's `params` say about how to serve it: its `_meta` (2026-07-28: version,
//! client capabilities, log level), and the checks shared by the list methods.

use super::version::{META_CAPABILITIES, META_LOG_LEVEL, META_VERSION};
use serde::Deserialize;
use serde_json::Value;
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
