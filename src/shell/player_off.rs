//! Playback in a build without the `play` feature (`--no-default-features`): no player is ever
//! found, so `auto` saves files and `play` explains; the core never asks for a player job.

use crate::core::audio::Format;
use crate::core::player::{Player, PlayerInput};
use crate::core::{FileName, SpeechFailed};
use std::io;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where a job's player would be.
pub type PlayerSlot = Arc<Mutex<Option<Child>>>;

/// What a player job asked for.
pub struct Plan<'a> {
    /// The program and its arguments.
    pub argv: &'a [String],
    /// Stdin, or a temp file.
    pub input: &'a PlayerInput,
    /// Raw samples of this format.
    pub wav: Option<Format>,
    /// Save the audio here if the player fails.
    pub or_file: Option<&'a FileName>,
    /// Where the speaker lock shared with the other server processes is.
    pub lock_dir: &'a Path,
    /// The job's cancel flag (a wait for the lock ends on it).
    pub cancel: &'a AtomicBool,
}

/// Never created in this build.
pub enum Playback {}

/// How a playback ended.
pub struct Ended {
    /// The saved file and its size.
    pub file: Option<(String, u64)>,
    /// Why the player failed.
    pub failed: Option<String>,
}

impl Playback {
    /// Always fails: this build cannot play.
    pub fn start(_: Plan<'_>, _: &PlayerSlot, _: &Path, _: u64) -> io::Result<Self> {
        Err(io::Error::other(
            "this build of mcp-elevenlabs cannot play audio (it was built without the `play` feature)",
        ))
    }

    /// Unreachable.
    pub fn data_bytes(&self) -> u64 {
        match *self {}
    }

    /// Unreachable.
    pub fn is_dead(&self) -> bool {
        match *self {}
    }

    /// Unreachable.
    pub fn write(&mut self, _: &[u8]) -> io::Result<bool> {
        match *self {}
    }

    /// Unreachable.
    pub fn finish(
        self,
        _: &AtomicBool,
        _: Option<Duration>,
        _: impl FnOnce(),
    ) -> Result<Ended, SpeechFailed> {
        match self {}
    }
}

/// Nothing to kill.
pub fn kill(_: &PlayerSlot) {}

/// No player in this build.
pub fn find(_: &[String], _: Option<std::ffi::OsString>) -> Option<Player> {
    None
}
