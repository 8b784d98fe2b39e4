//! Stands in for `pieces.rs` in a build without the `long-text` feature: the core never splits
//! a text then (`speak` refuses one over the model's limit), so this only explains itself.

use super::http_client::StreamError;
use super::speech::{Stream, Take};
use crate::core::elevenlabs::{HttpResponse, Transport};
use crate::core::{Alignment, More};
use std::time::Duration;

/// What the pieces brought: head, audio bytes, the first chunk's time, timings.
pub(super) type Poured = (HttpResponse, u64, Option<Duration>, Option<Alignment>);

/// Refuses: this build has no long text.
pub(super) fn pour(_: &Stream<'_>, _: &More, _: Take<'_>) -> Result<Poured, StreamError> {
    Err(StreamError::Transport(Transport::Setup(
        "this build has no long text (feature `long-text`)".into(),
    )))
}
