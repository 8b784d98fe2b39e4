//! `mcp-elevenlabs`: an MCP server that gives AI agents a voice with ElevenLabs text-to-speech.
//!
//! In scope: the Model Context Protocol over stdio in all five protocol versions (2024-11-05 to
//! 2026-07-28), its tools and resources, configuration and the command line.
//!
//! The crate is split the sans-IO way:
//! - [`core`] is pure: bytes and events in ([`core::Input`]), bytes and commands out
//!   ([`core::Output`]), time passed in as data. No files, sockets, threads, clock or environment.
//! - `shell` (private) does the I/O: the stdio reader and writer threads, workers for jobs, the
//!   config and state files, stderr logging.
//!
//! Out of scope here: the binary's argument parsing lives in `src/cli.rs` of the binary.
#![forbid(unsafe_code)]

pub mod core;
pub mod shell;
