//! Protocol versions, their eras, and what each one can carry.
//!
//! 2024-11-05 to 2025-11-25 are the handshake era (`initialize` first); 2026-07-28 is the
//! stateless era (`server/discover`, and every request carries its version in `_meta`). One
//! server speaks all five; the era is decided per message.

use super::super::jsonrpc::{self, NoId};

/// A protocol version this server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// 2024-11-05: the first release.
    V2024_11_05,
    /// 2025-03-26: audio content, tool annotations, JSON-RPC batches.
    V2025_03_26,
    /// 2025-06-18: structured tool output, resource links, titles; batches removed.
    V2025_06_18,
    /// 2025-11-25: errors without a known id omit `id`.
    V2025_11_25,
    /// 2026-07-28: stateless, `server/discover`, per-request `_meta`.
    V2026_07_28,
}

/// The key in a request's `_meta` that carries its protocol version (2026-07-28).
pub const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The key in a request's `_meta` that carries the client's capabilities (2026-07-28).
pub const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// The key in a request's `_meta` that carries the wanted log level (2026-07-28).
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// The key in a result's `_meta` that carries serverInfo (2026-07-28).
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

impl Version {
    /// All versions, oldest first.
    pub const ALL: [Self; 5] = [
        Self::V2024_11_05,
        Self::V2025_03_26,
        Self::V2025_06_18,
        Self::V2025_11_25,
        Self::V2026_07_28,
    ];

    /// The version `initialize` answers with when the client asks for one we do not speak there.
    pub const LATEST_HANDSHAKE: Self = Self::V2025_11_25;

    /// Parses a version string.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The version string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2024_11_05 => "2024-11-05",
            Self::V2025_03_26 => "2025-03-26",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_11_25 => "2025-11-25",
            Self::V2026_07_28 => "2026-07-28",
        }
    }

    /// Index into per-version caches.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Stateless era: no handshake, `resultType` and cache hints on results.
    pub fn is_stateless(self) -> bool {
        self >= Self::V2026_07_28
    }

    /// `audio` content blocks and tool annotations exist.
    pub fn has_audio(self) -> bool {
        self >= Self::V2025_03_26
    }

    /// `structuredContent`, `outputSchema`, `resource_link` and `title` exist.
    pub fn has_structured(self) -> bool {
        self >= Self::V2025_06_18
    }

    /// JSON-RPC batches are accepted.
    pub fn has_batches(self) -> bool {
        self == Self::V2025_03_26
    }

    /// How an error with an unknown request id is written.
    pub fn no_id(self) -> NoId {
        if self <= Self::V2025_06_18 {
            NoId::Null
        } else {
            NoId::Omit
        }
    }

    /// The error code for a resource that does not exist.
    pub fn resource_not_found(self) -> i64 {
        if self.is_stateless() {
            jsonrpc::INVALID_PARAMS
        } else {
            jsonrpc::RESOURCE_NOT_FOUND
        }
    }
}

/// The handshake-era session state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Handshake {
    /// No `initialize` yet.
    #[default]
    None,
    /// `initialize` answered at this version.
    Initialized(Version),
}

#[cfg(test)]
mod tests {
    use super::super::super::event::Level;
    use super::*;

    #[test]
    fn versions_round_trip_and_order() {
        for v in Version::ALL {
            assert_eq!(Version::parse(v.as_str()), Some(v));
        }
        assert!(Version::parse("2025-01-01").is_none());
        assert_eq!(Version::V2025_06_18.no_id(), NoId::Null);
        assert_eq!(Version::V2025_11_25.no_id(), NoId::Omit);
        assert!(Version::V2025_03_26.has_batches() && !Version::V2025_06_18.has_batches());
        assert!(Level::Debug < Level::Emergency);
    }
}
