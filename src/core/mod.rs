//! The sans-IO core: bytes and events in, bytes and commands out.
//!
//! No file, socket, thread, clock or environment access happens here. The shell feeds
//! [`Input`]s with the current `Instant`, then drains [`Server::poll_output`] to `None` and
//! waits until [`Server::poll_timeout`]. Protocol errors are outputs (JSON-RPC errors or tool
//! results with `isError`), never `Err`.
//!
//! The fence is enforced: clippy's `disallowed_*` lints (listed in `clippy.toml`) are denied in
//! this module and nowhere else.
#![deny(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

pub mod audio;
pub mod cache;
mod config;
pub mod elevenlabs;
#[cfg(feature = "emotion")]
pub mod emotion;
mod event;
#[cfg(fence_probe)]
mod fence_probe;
pub mod frame;
#[cfg(feature = "http-server")]
pub mod http;
mod httpdate;
pub mod jsonrpc;
pub mod player;
pub mod reassembly;
mod server;
pub mod service;
pub mod session;
pub mod settings;
pub mod speech;
pub mod split;
pub mod stream_input;
pub mod timing;
mod tools;
pub mod usage;

pub use config::Config;
pub use event::{
    Alignment, FileError, FileName, Input, Job, JobId, JobResult, Join, Level, More, Output,
    PlayerSink, Sink, SpeechDone, SpeechFailed,
};
pub use server::Server;

/// This server's name in `serverInfo`.
pub const NAME: &str = "mcp-elevenlabs";
/// This server's version in `serverInfo`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(all(test, feature = "usage-db"))]
mod budget_tests;
#[cfg(all(test, feature = "cache"))]
mod cache_tests;
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests make their base `Instant` with `Instant::now`
mod resilience_tests;
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests make their base `Instant` with `Instant::now`
mod server_tests;
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests make their base `Instant` with `Instant::now`
mod sessions_tests;
