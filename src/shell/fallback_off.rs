//! The offline fallback voice in a build without the `fallback` feature
//! (`--no-default-features`): the core never asks for it; if asked, it explains.

use crate::core::{Sink, SpeechDone, SpeechFailed};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Always fails: this build has no fallback voice.
#[allow(clippy::too_many_arguments)]
pub(super) fn speak(
    _: &[String],
    _: &str,
    _: Sink,
    _: u64,
    _: Duration,
    _: &Path,
    _: u64,
    _: &AtomicBool,
) -> Result<SpeechDone, SpeechFailed> {
    Err(SpeechFailed::Command(
        "this build of mcp-elevenlabs has no fallback voice (it was built without the `fallback` feature)".into(),
    ))
}
