//! The audio cache's index: which entries exist, how large they are, which was used least
//! recently, and which to evict to stay within `cache.max_mb`. Pure: the entries are files the
//! shell writes, reads (verifying length and hash) and deletes when the index says so.
//!
//! The index is advisory. A lookup never trusts it: a `speak` asks the shell for the entry by
//! key, so an entry another process wrote is a hit and one it deleted is a miss. What the index
//! decides is what to evict and what `health://status` counts. It starts empty and learns the
//! directory from a scan the service asks for at start (`loaded`); entries stored or used before
//! the scan arrives count as newer than everything it lists.

use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Bytes an entry takes beyond its audio: the footer of length and SHA-256.
pub const FOOTER_LEN: u64 = 8 + 32;

/// What an entry is stored under: the SHA-256 of what was asked for.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    /// The key of a request, from its parts in a fixed order (length-prefixed, so no two lists
    /// of parts give the same bytes).
    pub fn of(parts: &[&str]) -> Self {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"mcp-elevenlabs audio cache v1\n");
        for part in parts {
            ctx.update(&(part.len() as u64).to_le_bytes());
            ctx.update(part.as_bytes());
        }
        let mut key = [0; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        Self(key)
    }

    /// 64 lowercase hex digits: the entry's file name.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key a file name stands for, if it is one.
    pub fn from_hex(name: &str) -> Option<Self> {
        let bytes = name.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut key = [0; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let digit = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            key[i] = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(Self(key))
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CacheKey({})", &self.hex()[..16])
    }
}

/// The index of the cache directory.
#[derive(Debug, Default)]
pub(crate) struct Index {
    max_bytes: u64,
    /// Each entry's size on disk and the tick it was last used at.
    entries: BTreeMap<CacheKey, (u64, u64)>,
    /// Entries by last use: the first is evicted first.
    by_use: BTreeMap<u64, CacheKey>,
    bytes: u64,
    /// The next tick; ticks before it are taken.
    tick: u64,
    /// The directory's scan arrived.
    loaded: bool,
    /// The directory's scan was asked for.
    scan_asked: bool,
    /// The next tick for a scanned entry (below every use's).
    scan_tick: u64,
    hits: u64,
    misses: u64,
    stored: u64,
    /// Entries to delete, not yet handed out.
    evict: Vec<CacheKey>,
}

impl Index {
    /// An empty index for a cache of at most `max_bytes`.
    pub(crate) fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            // Ticks below this are for the scan, so scanned entries are older than any use.
            tick: 1 << 40,
            ..Self::default()
        }
    }

    /// The directory's entries, least recently used first. Entries already known (stored or
    /// used since the start) keep their place as the most recent.
    pub(crate) fn loaded(&mut self, scanned: &[(CacheKey, u64)]) {
        self.loaded = true;
        for (key, size) in scanned {
            if !self.entries.contains_key(key) {
                self.put(*key, *size, self.scan_tick);
                self.scan_tick += 1;
            }
        }
        self.trim();
    }

    /// The entry was found and served; it is now the most recently used.
    pub(crate) fn hit(&mut self, key: CacheKey, size: u64) {
        self.hits += 1;
        self.used(key, size);
    }

    /// The entry was not there (or not whole, and the shell removed it).
    pub(crate) fn miss(&mut self, key: CacheKey) {
        self.misses += 1;
        self.remove(key);
    }

    /// A new entry of `size` bytes was written.
    pub(crate) fn stored(&mut self, key: CacheKey, size: u64) {
        self.stored += 1;
        self.used(key, size);
    }

    /// No scan was asked for yet; true once.
    pub(crate) fn unscanned(&mut self) -> bool {
        !std::mem::replace(&mut self.scan_asked, true)
    }

    /// The entries to delete now, once each.
    pub(crate) fn evictions(&mut self) -> Vec<CacheKey> {
        std::mem::take(&mut self.evict)
    }

    /// The counts `health://status` shows.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "enabled": true,
            "hits": self.hits,
            "misses": self.misses,
            "stored": self.stored,
            "entries": self.entries.len(),
            "bytes": self.bytes,
            "max_bytes": self.max_bytes,
            "scanned": self.loaded,
        })
    }

    fn used(&mut self, key: CacheKey, size: u64) {
        let tick = self.tick;
        self.tick += 1;
        self.remove(key);
        self.put(key, size, tick);
        self.trim();
    }

    fn put(&mut self, key: CacheKey, size: u64, tick: u64) {
        self.entries.insert(key, (size, tick));
        self.by_use.insert(tick, key);
        self.bytes += size;
    }

    fn remove(&mut self, key: CacheKey) {
        if let Some((size, tick)) = self.entries.remove(&key) {
            self.by_use.remove(&tick);
            self.bytes -= size;
        }
    }

    /// Evicts the least recently used entries until the rest fit.
    fn trim(&mut self) {
        while self.bytes > self.max_bytes {
            let Some((_, key)) = self.by_use.pop_first() else {
                break;
            };
            if let Some((size, _)) = self.entries.remove(&key) {
                self.bytes -= size;
            }
            self.evict.push(key);
        }
    }

    #[cfg(test)]
    fn check(&self) {
        assert_eq!(self.entries.len(), self.by_use.len());
        assert_eq!(
            self.bytes,
            self.entries.values().map(|(s, _)| s).sum::<u64>()
        );
        for (tick, key) in &self.by_use {
            assert_eq!(self.entries[key].1, *tick);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_are_hex_round_trips_and_part_boundaries_matter() {
        let k = CacheKey::of(&["ab", "c"]);
        assert_ne!(k, CacheKey::of(&["a", "bc"]));
        assert_ne!(k, CacheKey::of(&["abc"]));
        assert_eq!(k, CacheKey::of(&["ab", "c"]));
        assert_eq!(CacheKey::from_hex(&k.hex()), Some(k));
        assert_eq!(k.hex().len(), 64);
        assert_eq!(CacheKey::from_hex("xyz"), None);
        assert_eq!(CacheKey::from_hex(&k.hex().to_uppercase()), None);
        assert_eq!(CacheKey::from_hex(&format!("{}.tmp", &k.hex()[..60])), None);
    }

    #[test]
    fn least_recently_used_goes_first_and_scanned_entries_are_older() {
        let key = |n: u8| CacheKey([n; 32]);
        let mut ix = Index::new(100);
        ix.stored(key(1), 40);
        ix.loaded(&[(key(2), 30), (key(3), 30), (key(1), 40)]);
        // 1 (40, newest) + 2 + 3 = 100: fits.
        assert!(ix.evictions().is_empty());
        ix.hit(key(2), 30);
        ix.stored(key(4), 20);
        // Over by 20: 3 is the least recently used.
        assert_eq!(ix.evictions(), vec![key(3)]);
        ix.miss(key(1));
        assert_eq!(ix.to_json()["entries"], 2);
        assert_eq!(ix.to_json()["bytes"], 50);
        assert_eq!(ix.to_json()["hits"], 1);
        assert_eq!(ix.to_json()["misses"], 1);
        ix.check();
    }

    #[derive(Clone, Debug)]
    enum Op {
        Stored(u8, u64),
        Hit(u8, u64),
        Miss(u8),
        Loaded(Vec<(u8, u64)>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..16, 0u64..400).prop_map(|(k, s)| Op::Stored(k, s)),
            (0u8..16, 0u64..400).prop_map(|(k, s)| Op::Hit(k, s)),
            (0u8..16).prop_map(Op::Miss),
            proptest::collection::vec((0u8..16, 0u64..400), 0..8).prop_map(Op::Loaded),
        ]
    }

    proptest! {
        /// After every step the entries fit in the cap; an evicted entry was the least recently
        /// used of those present; the bookkeeping agrees with the entries.
        #[test]
        fn never_over_size_and_evicts_least_recently_used(
            max in 0u64..1000,
            ops in proptest::collection::vec(op(), 0..60),
        ) {
            let mut ix = Index::new(max);
            for op in ops {
                let before: Vec<CacheKey> = ix.by_use.values().copied().collect();
                let touched = match &op {
                    Op::Stored(k, s) => { ix.stored(CacheKey([*k; 32]), *s); Some(*k) }
                    Op::Hit(k, s) => { ix.hit(CacheKey([*k; 32]), *s); Some(*k) }
                    Op::Miss(k) => { ix.miss(CacheKey([*k; 32])); None }
                    Op::Loaded(list) => {
                        let list: Vec<_> = list.iter().map(|(k, s)| (CacheKey([*k; 32]), *s)).collect();
                        ix.loaded(&list);
                        None
                    }
                };
                ix.check();
                prop_assert!(ix.bytes <= max, "{} > {max}", ix.bytes);
                let evicted = ix.evictions();
                if let (Some(k), Op::Stored(..) | Op::Hit(..)) = (touched, &op) {
                    // The evicted entries are a prefix of the old order (minus the one used).
                    let order: Vec<CacheKey> =
                        before.into_iter().filter(|e| *e != CacheKey([k; 32])).collect();
                    let n = evicted.iter().filter(|e| **e != CacheKey([k; 32])).count();
                    prop_assert_eq!(&order[..n.min(order.len())], &evicted[..n.min(order.len())]);
                }
                for e in &evicted {
                    prop_assert!(!ix.entries.contains_key(e) || touched == Some(e.0[0]));
                }
            }
        }
    }
}
