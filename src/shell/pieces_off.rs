//! Stands in for `pieces.rs` in a build without the `long-text` feature: the core never splits
//! a text then (`speak` refuses one over the model's limit), so this only explains itself.

use super::http_client::StreamError;
use super::speech::{Stream, Take, Timed};
use crate::core::More;
use crate::core::elevenlabs::Transport;

/// Refuses: this build has no long text.
pub(super) fn pour(_: &Stream<'_>, _: &More, _: Take<'_>) -> Result<Timed, StreamError> {
    Err(StreamError::Transport(Transport::Setup(
        "this build has no long text (feature `long-text`)".into(),
    )))
}
