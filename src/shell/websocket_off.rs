//! Stands in for `websocket.rs` in a build without the `websocket` feature: the core never asks
//! for the WebSocket then (`speak` uses HTTP and says so), so this only explains itself.

use super::http_client::{Client, StreamError};
use super::speech::{Take, Timed};
use crate::core::elevenlabs::Transport;
use crate::core::stream_input::WsSpeech;
use std::sync::atomic::AtomicBool;

/// Refuses: this build has no WebSocket.
pub(super) fn pour(
    _: &Client,
    _: &WsSpeech,
    _: (u64, &AtomicBool),
    _: Take<'_>,
) -> Result<Timed, StreamError> {
    Err(StreamError::Transport(Transport::Setup(
        "this build has no WebSocket (feature `websocket`)".into(),
    )))
}
