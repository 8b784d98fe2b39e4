//! The audio cache in a build without the `cache` feature (`--no-default-features`): the same
//! interface, holding nothing. The core never asks it (`cache.enabled` has no effect).

use crate::core::cache::CacheKey;
use std::io;
use std::path::{Path, PathBuf};

/// A cache that is always empty.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The cache that would be in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Where it would be.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Always a miss.
    pub fn read(&self, _: &CacheKey, _: u64) -> Option<(Vec<u8>, u64)> {
        None
    }

    /// Never written.
    pub fn writer(&self, _: CacheKey, _: u64, _: u64) -> Option<EntryWriter> {
        None
    }

    /// No entries.
    pub fn scan(&self) -> Vec<(CacheKey, u64)> {
        Vec::new()
    }

    /// Nothing to delete.
    pub fn evict(&self, _: &[CacheKey]) -> io::Result<()> {
        Ok(())
    }

    /// Nothing to delete.
    pub fn clear(&self) -> io::Result<(u64, u64)> {
        Ok((0, 0))
    }
}

/// Never created in this build.
#[derive(Debug)]
pub enum EntryWriter {}

impl EntryWriter {
    /// Unreachable: no writer exists.
    pub fn write(&mut self, _: &[u8]) {
        match *self {}
    }

    /// Unreachable: no writer exists.
    pub fn finish(self) -> Option<u64> {
        match self {}
    }
}
