//! The server's own log: stderr only (stdout carries protocol), level from `MCP_ELEVENLABS_LOG`,
//! and the API key redacted from every line whatever produced it.

use crate::core::session::Level;
use std::io::Write;

/// How much goes to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Debugging detail and everything below.
    Debug,
    /// Normal operation.
    Info,
    /// Problems worth a look (the default).
    Warn,
    /// Failures only.
    Error,
}

impl LogLevel {
    /// Parses `error|warn|info|debug` (also `warning`), case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "debug" | "trace" => Self::Debug,
            "info" => Self::Info,
            "warn" | "warning" => Self::Warn,
            "error" => Self::Error,
            _ => return None,
        })
    }

    fn from_core(level: Level) -> Self {
        match level {
            Level::Debug => Self::Debug,
            Level::Info | Level::Notice => Self::Info,
            Level::Warning => Self::Warn,
            _ => Self::Error,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// Writes log lines to stderr.
#[derive(Clone, Debug)]
pub struct Logger {
    level: LogLevel,
    secret: Option<String>,
}

impl Logger {
    /// A logger at `level` that redacts `secret` (the API key) from every line.
    pub fn new(level: LogLevel, secret: Option<String>) -> Self {
        Self {
            level,
            secret: secret.filter(|s| !s.is_empty()),
        }
    }

    /// From `MCP_ELEVENLABS_LOG` (default `warn`); a bad value is reported once and ignored.
    pub fn from_env(value: Option<String>, secret: Option<String>) -> Self {
        let parsed = value
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (v, LogLevel::parse(v)));
        let logger = Self::new(
            parsed.and_then(|(_, l)| l).unwrap_or(LogLevel::Warn),
            secret,
        );
        if let Some((raw, None)) = parsed {
            logger.warn(&format!(
                "MCP_ELEVENLABS_LOG={raw:?} is not one of error, warn, info, debug; using warn"
            ));
        }
        logger
    }

    /// Whether lines at `level` are written.
    pub fn enabled(&self, level: LogLevel) -> bool {
        level >= self.level
    }

    /// Logs a core log output.
    pub fn core(&self, level: Level, message: &str) {
        self.write(LogLevel::from_core(level), message);
    }

    /// Logs a warning.
    pub fn warn(&self, message: &str) {
        self.write(LogLevel::Warn, message);
    }

    /// Logs at `level`.
    pub fn write(&self, level: LogLevel, message: &str) {
        if !self.enabled(level) {
            return;
        }
        let message = match &self.secret {
            Some(key) if message.contains(key.as_str()) => {
                message.replace(key.as_str(), "[redacted]")
            }
            _ => message.to_string(),
        };
        let line = format!(
            "mcp-elevenlabs {}: {}\n",
            level.as_str(),
            message.replace('\n', " ")
        );
        // stderr is unbuffered: one write per line keeps lines whole.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(LogLevel::parse("WARNING"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::parse("loud"), None);
        let l = Logger::new(LogLevel::Info, None);
        assert!(
            l.enabled(LogLevel::Error) && l.enabled(LogLevel::Info) && !l.enabled(LogLevel::Debug)
        );
    }
}
