//! Stands in for `websocket.rs` in a build without the `websocket` feature: the core never asks
//! for the WebSocket then (`speak` uses HTTP and says so), so this only explains itself.

use super::http_client::{Client, StreamError};
use super::speech::Take;
use crate::core::Alignment;
use crate::core::elevenlabs::{HttpResponse, Transport};
use crate::core::stream_input::WsSpeech;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// What a synthesis brought: head, audio bytes, first chunk's time, timings.
pub(super) type Poured = (HttpResponse, u64, Option<Duration>, Option<Alignment>);

/// Refuses: this build has no WebSocket.
pub(super) fn pour(
    _: &Client,
    _: &WsSpeech,
    _: (u64, &AtomicBool),
    _: Take<'_>,
) -> Result<Poured, StreamError> {
    Err(StreamError::Transport(Transport::Setup(
        "this build has no WebSocket (feature `websocket`)".into(),
    )))
}
