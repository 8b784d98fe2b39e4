//! What the core needs to know, built by the shell: the merged settings, their problems, limits
//! and the few facts of the outside world the core may not read itself (start time, seed).

use super::frame;
use super::player::Player;
use super::settings::{self, Problem, Settings};
use std::collections::BTreeMap;
use std::time::Duration;

/// What the core needs to know; built by the shell.
#[derive(Clone, Debug)]
pub struct Config {
    /// The merged settings.
    pub settings: Settings,
    /// Problems found while loading them; tools refuse to run until they are fixed.
    pub problems: Vec<Problem>,
    /// The longest accepted line.
    pub max_line: usize,
    /// How long in-flight work may finish after stdin closes.
    pub shutdown_grace: Duration,
    /// Jobs waiting for a free slot beyond `limits.max_concurrent`.
    pub max_queued: usize,
    /// The largest file `resources/read` returns (as base64 it grows by a third).
    pub max_read_bytes: u64,
    /// The output directory as shown to people (resolved by the shell).
    pub output_dir: String,
    /// Where each setting came from (for `set_default_voice`'s env note).
    pub sources: BTreeMap<&'static str, settings::Source>,
    /// Wall-clock unix seconds at start; the core adds its own elapsed time.
    pub start_unix: u64,
    /// Seed for retry jitter.
    pub rng_seed: u64,
    /// The audio player found on this host (`player`, else the first of `player::SEARCH`).
    pub player: Option<Player>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            settings: Settings::default(),
            problems: Vec::new(),
            max_line: frame::MAX_LINE,
            shutdown_grace: Duration::from_secs(5),
            max_queued: 256,
            max_read_bytes: 4 << 20,
            output_dir: String::new(),
            sources: BTreeMap::new(),
            start_unix: 0,
            rng_seed: 0,
            player: None,
        }
    }
}

impl Config {
    /// Sets the settings and their problems.
    pub fn settings(mut self, settings: Settings, problems: Vec<Problem>) -> Self {
        self.settings = settings;
        self.problems = problems;
        self
    }

    /// Sets the longest accepted line.
    pub fn max_line(mut self, bytes: usize) -> Self {
        self.max_line = bytes;
        self
    }

    /// Sets how long in-flight work may finish after stdin closes.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
}
