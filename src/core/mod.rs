//! The sans-IO core: bytes and events in, bytes and commands out.
//!
//! No file, socket, thread, clock or environment access happens here. The shell feeds
//! [`Input`]s with the current [`Instant`], then drains [`Server::poll_output`] to `None` and
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
pub mod elevenlabs;
#[cfg(fence_probe)]
mod fence_probe;
pub mod frame;
pub mod jsonrpc;
mod resources;
pub mod session;
pub mod settings;
pub mod speech;
mod tools;
mod upstream;

use frame::{Frame, Framer};
use jsonrpc::{Id, Message, NoId};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use session::{Handshake, Level, Version};
use settings::{Problem, Settings};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// This server's name in `serverInfo`.
pub const NAME: &str = "mcp-elevenlabs";
/// This server's version in `serverInfo`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

const INSTRUCTIONS: &str = "Gives you a voice through ElevenLabs text-to-speech. `speak` turns text into audio \
(saved file or inline) and spends the user's ElevenLabs credits, about one per character: speak what \
should be heard, not every reply. `list_voices` finds voices by name; `set_default_voice` remembers one; \
`get_usage` shows the credits left.";

/// Stdout bytes gathered into one [`Output::Stdout`] before a new one starts.
const WRITE_BATCH: usize = 64 * 1024;
/// Messages accepted in one JSON-RPC batch (2025-03-26).
const MAX_BATCH_ITEMS: usize = 100;
/// Bytes of replies one batch may collect; larger replies are refused inside a batch.
const MAX_BATCH_REPLY: usize = 4 << 20;

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
    pub sources: std::collections::BTreeMap<&'static str, settings::Source>,
    /// Wall-clock unix seconds at start; the core adds its own elapsed time.
    pub start_unix: u64,
    /// Seed for retry jitter.
    pub rng_seed: u64,
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
            sources: std::collections::BTreeMap::new(),
            start_unix: 0,
            rng_seed: 0,
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

/// Identifies one job the shell runs for the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JobId(pub u64);

/// Work the shell does off the core loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    /// Read a generated audio file from the output directory.
    ReadAudio {
        /// The file name (already checked to be a plain name).
        name: String,
        /// Refuse files larger than this.
        max_bytes: u64,
    },
    /// Send a request to ElevenLabs and read the whole reply.
    Http {
        /// The request (the shell adds base URL and key).
        request: elevenlabs::HttpRequest,
        /// Refuse bodies larger than this.
        max_body: u64,
    },
    /// Stream synthesized audio from ElevenLabs into a sink as it arrives.
    Speech {
        /// The request.
        request: elevenlabs::HttpRequest,
        /// Where the audio goes.
        sink: Sink,
        /// Refuse streams longer than this.
        max_bytes: u64,
    },
    /// Set one key of the state file, keeping the others (atomically, mode 0600).
    WriteState {
        /// The key path, e.g. `elevenlabs.default_voice_id`.
        key: String,
        /// Its new value.
        value: Value,
    },
}

/// Where streamed audio goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sink {
    /// A new file in the output directory (never overwriting one).
    File {
        /// Its name.
        name: FileName,
        /// Raw samples of this format: write a WAV header before them.
        wav: Option<audio::Format>,
    },
    /// Memory, for inline delivery.
    Memory {
        /// Refuse more than this.
        max_bytes: u64,
    },
}

/// How the shell names a new audio file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileName {
    /// Exactly this (with `-1`, `-2`, … added if taken).
    Exact(String),
    /// `{stem}-{8 hex of the content hash}.{ext}`.
    Stem {
        /// `YYYYMMDD-HHMMSS-voice`.
        stem: String,
        /// Extension without the dot.
        ext: &'static str,
    },
}

/// A finished synthesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeechDone {
    /// How long the first audio chunk took from arriving to being written (microseconds).
    pub first_byte_us: Option<u64>,
    /// Status and kept headers (`request-id`, …).
    pub head: elevenlabs::HttpResponse,
    /// Audio bytes received.
    pub data_bytes: u64,
    /// Bytes saved (audio plus any WAV header).
    pub total_bytes: u64,
    /// The file name, for [`Sink::File`].
    pub file: Option<String>,
    /// The audio, for [`Sink::Memory`].
    pub data: Option<Vec<u8>>,
}

/// Why a synthesis failed; nothing is left under the final file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpeechFailed {
    /// A non-2xx response with its body.
    Status(elevenlabs::HttpResponse),
    /// No response, or the stream broke after `bytes`.
    Transport {
        /// What went wrong.
        error: elevenlabs::Transport,
        /// Audio bytes that had arrived.
        bytes: u64,
    },
    /// The sink failed (disk full, directory not writable).
    Sink(String),
    /// The audio outgrew the inline limit.
    InlineTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
}

/// Why a file could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileError {
    /// No such file.
    NotFound,
    /// Larger than the limit.
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Anything else, described without paths outside the output directory.
    Other(String),
}

/// The outcome of a [`Job`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobResult {
    /// The bytes of a [`Job::ReadAudio`].
    Audio(Result<Vec<u8>, FileError>),
    /// The reply to a [`Job::Http`].
    Http(Result<elevenlabs::HttpResponse, elevenlabs::Transport>),
    /// The end of a [`Job::Speech`].
    Speech(Result<SpeechDone, SpeechFailed>),
    /// The end of a [`Job::WriteState`].
    Written(Result<(), String>),
}

/// Something that happened, for the core to act on.
#[derive(Debug)]
pub enum Input {
    /// Bytes read from stdin.
    Stdin(Vec<u8>),
    /// Stdin reached EOF: finish or cancel in-flight work, then stop.
    StdinClosed,
    /// A job finished (also sent for cancelled jobs).
    JobDone {
        /// Which job.
        id: JobId,
        /// Its outcome.
        result: JobResult,
    },
    /// A running speech job has received this many audio bytes so far.
    Progress {
        /// Which job.
        id: JobId,
        /// Audio bytes so far.
        bytes: u64,
    },
}

/// Something for the shell to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes (whole lines) to stdout.
    Stdout(Vec<u8>),
    /// Run a job and report it with [`Input::JobDone`].
    Start {
        /// The job's id.
        id: JobId,
        /// What to do.
        job: Job,
    },
    /// Abandon a job if possible; its result will be ignored.
    Cancel(JobId),
    /// A line for the server's own log (stderr), filtered by the shell.
    Log {
        /// Severity.
        level: Level,
        /// The message; never contains the API key.
        message: String,
    },
}

/// How one request is served: its version and its log level.
#[derive(Clone, Copy, Debug)]
struct Ctx {
    version: Version,
    log: Option<Level>,
}

/// Where a response goes.
#[derive(Clone, Copy, Debug)]
enum Route {
    Direct,
    Batch(usize),
}

#[derive(Debug)]
struct Pending {
    /// The job running for it; `None` while a retry waits.
    job: Option<JobId>,
    ctx: Ctx,
    route: Route,
    op: Op,
}

/// What a pending request is doing.
#[derive(Debug)]
enum Op {
    ReadAudio { uri: String },
    Tool(Box<upstream::ToolRun>),
}

#[derive(Debug, Default)]
struct Batch {
    parts: Vec<Vec<u8>>,
    /// Bytes in `parts`.
    bytes: usize,
    waiting: usize,
    open: bool,
}

/// The MCP server state machine.
#[derive(Debug)]
pub struct Server {
    config: Config,
    framer: Framer,
    handshake: Handshake,
    /// Level set with `logging/setLevel` (handshake era).
    log_level: Option<Level>,
    pending: HashMap<Id, Pending>,
    /// Running or queued jobs and the request each serves (`None` once cancelled).
    jobs: HashMap<JobId, Option<Id>>,
    queued: VecDeque<(JobId, Job)>,
    running: usize,
    next_job: u64,
    batches: Vec<Option<Batch>>,
    out: VecDeque<Output>,
    tools_list: [Option<String>; 5],
    started: Instant,
    now: Instant,
    closing: Option<Instant>,
    /// `/v1/models`, when fetched.
    models: Option<(Instant, Vec<elevenlabs::Model>)>,
    /// Every voice of the account, when fetched.
    catalog: Option<(Instant, Vec<elevenlabs::Voice>)>,
    /// Recent `list_voices` pages by argument key.
    voice_pages: Vec<(String, Instant, elevenlabs::VoicePage)>,
    /// When credits reset, from the last subscription reply.
    last_reset: Option<i64>,
    /// Requests waiting to retry, and when.
    retries: Vec<(Instant, Id)>,
    /// What `health://status` reports about ElevenLabs.
    upstream: upstream::UpstreamStats,
    retries_issued: u32,
}

impl Server {
    /// A server that starts at `now`.
    pub fn new(config: Config, now: Instant) -> Self {
        Self {
            framer: Framer::new(config.max_line),
            config,
            handshake: Handshake::None,
            log_level: None,
            pending: HashMap::new(),
            jobs: HashMap::new(),
            queued: VecDeque::new(),
            running: 0,
            next_job: 0,
            batches: Vec::new(),
            out: VecDeque::new(),
            tools_list: Default::default(),
            started: now,
            now,
            closing: None,
            models: None,
            catalog: None,
            voice_pages: Vec::new(),
            last_reset: None,
            retries: Vec::new(),
            retries_issued: 0,
            upstream: upstream::UpstreamStats::default(),
        }
    }

    // ---- inputs -------------------------------------------------------------------------

    /// Feeds one input. Drain [`Server::poll_output`] afterwards.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        self.now = self.now.max(now);
        match input {
            Input::Stdin(bytes) => {
                self.framer.push(&bytes);
                self.drain_frames();
            }
            Input::StdinClosed => {
                self.framer.finish();
                self.drain_frames();
                self.closing = Some(self.now + self.config.shutdown_grace);
                if !self.pending.is_empty() {
                    self.log(
                        Level::Info,
                        format!(
                            "stdin closed; waiting for {} request(s) in flight",
                            self.pending.len()
                        ),
                    );
                }
            }
            Input::JobDone { id, result } => self.job_done(id, result),
            Input::Progress { id, bytes } => self.job_progress(id, bytes),
        }
    }

    /// Acts on timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        while let Some(id) = self.take_due_retry(self.now) {
            self.retry_now(id);
        }
        if let Some(deadline) = self.closing {
            if self.now >= deadline && !self.pending.is_empty() {
                let ids: Vec<Id> = self.pending.keys().cloned().collect();
                self.log(
                    Level::Warning,
                    format!(
                        "shutting down: cancelled {} request(s) still in flight",
                        ids.len()
                    ),
                );
                for id in ids {
                    self.cancel(&id);
                }
            }
        }
    }

    // ---- outputs ------------------------------------------------------------------------

    /// The next thing for the shell to do.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Server::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let closing = self.closing.filter(|_| !self.pending.is_empty());
        let retry = self.retries.iter().map(|(at, _)| *at).min();
        match (closing, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Stdin closed and nothing is left in flight: the shell may exit once output is drained.
    pub fn is_finished(&self) -> bool {
        self.closing.is_some() && self.pending.is_empty() && self.out.is_empty()
    }

    /// Requests waiting for a job.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    // ---- framing and envelopes ----------------------------------------------------------

    fn drain_frames(&mut self) {
        // Lines borrow the framer while handling them needs `&mut self`: hold it aside meanwhile.
        let mut framer = std::mem::take(&mut self.framer);
        while let Some(frame) = framer.next_frame() {
            match frame {
                Frame::Line(line) => self.handle_line(line),
                Frame::TooLong { limit } => {
                    self.log(
                        Level::Warning,
                        format!("dropped a message longer than {limit} bytes"),
                    );
                    let msg = format!("message too long: the limit is {limit} bytes per line");
                    self.error_unknown_id(Route::Direct, None, jsonrpc::INVALID_REQUEST, &msg);
                }
            }
        }
        self.framer = framer;
    }

    fn handle_line(&mut self, line: &[u8]) {
        if line.first() == Some(&b'[') {
            self.handle_batch(line);
        } else {
            self.handle_message(line, Route::Direct);
        }
    }

    /// How to write errors whose id is unknown, before any request tells us the version.
    fn no_id(&self) -> NoId {
        match self.handshake {
            Handshake::Initialized(v) => v.no_id(),
            Handshake::None => NoId::Omit,
        }
    }

    fn handle_batch(&mut self, line: &[u8]) {
        let items: Vec<&RawValue> = match serde_json::from_slice(line) {
            Ok(items) => items,
            Err(e) => {
                let msg = format!("parse error: {e}");
                return self.error_unknown_id(Route::Direct, None, jsonrpc::PARSE_ERROR, &msg);
            }
        };
        if !matches!(self.handshake, Handshake::Initialized(v) if v.has_batches()) {
            let msg =
                "JSON-RPC batches are only accepted after negotiating protocol version 2025-03-26";
            return self.error_unknown_id(Route::Direct, None, jsonrpc::INVALID_REQUEST, msg);
        }
        if items.is_empty() {
            return self.error_unknown_id(
                Route::Direct,
                None,
                jsonrpc::INVALID_REQUEST,
                "empty batch",
            );
        }
        if items.len() > MAX_BATCH_ITEMS {
            let msg = format!("batch too large: at most {MAX_BATCH_ITEMS} messages per batch");
            return self.error_unknown_id(Route::Direct, None, jsonrpc::INVALID_REQUEST, &msg);
        }
        let slot = match self.batches.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.batches.push(None);
                self.batches.len() - 1
            }
        };
        self.batches[slot] = Some(Batch {
            open: true,
            ..Batch::default()
        });
        for item in items {
            self.handle_message(item.get().as_bytes(), Route::Batch(slot));
        }
        if let Some(batch) = self.batches[slot].as_mut() {
            batch.open = false;
        }
        self.flush_batch(slot);
    }

    fn flush_batch(&mut self, slot: usize) {
        let done = matches!(&self.batches[slot], Some(b) if !b.open && b.waiting == 0);
        if !done {
            return;
        }
        let Some(batch) = self.batches[slot].take() else {
            return;
        };
        if batch.parts.is_empty() {
            return; // only notifications
        }
        let out = self.stdout();
        out.push(b'[');
        for (i, part) in batch.parts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(part);
        }
        out.extend_from_slice(b"]\n");
    }

    fn handle_message(&mut self, bytes: &[u8], route: Route) {
        match jsonrpc::parse(bytes) {
            Err(invalid) => {
                self.error_unknown_id(route, invalid.id.as_ref(), invalid.code, &invalid.message);
            }
            Ok(Message::Response) => self.log(
                Level::Debug,
                "ignored a response: this server sends no requests".into(),
            ),
            Ok(Message::Notification { method, params }) => {
                self.handle_notification(&method, params)
            }
            Ok(Message::Request { id, method, params }) => {
                self.handle_request(id, &method, params, route)
            }
        }
    }

    // ---- requests -----------------------------------------------------------------------

    fn handle_request(&mut self, id: Id, method: &str, params: Option<&RawValue>, route: Route) {
        if self.pending.contains_key(&id) {
            // Answering with this id would look like the reply to the request in flight.
            let msg = format!(
                "request id {} is already used by a request in flight",
                id.as_json().chars().take(64).collect::<String>()
            );
            return self.error_unknown_id(route, None, jsonrpc::INVALID_REQUEST, &msg);
        }
        if method == "initialize" {
            return self.initialize(id, params, route);
        }
        let meta = match Meta::parse(params) {
            Ok(meta) => meta,
            Err(msg) => return self.error(route, &id, jsonrpc::INVALID_PARAMS, &msg, None),
        };
        let ctx = if method == "server/discover" || meta.version.is_some() {
            match self.stateless_ctx(method, &meta) {
                Ok(ctx) => ctx,
                Err((code, msg, data)) => {
                    return self.error(route, &id, code, &msg, data.as_deref());
                }
            }
        } else {
            match self.handshake {
                Handshake::Initialized(version) => Ctx {
                    version,
                    log: self.log_level,
                },
                Handshake::None if method == "ping" => Ctx {
                    version: Version::LATEST_HANDSHAKE,
                    log: None,
                },
                Handshake::None => {
                    let msg = format!(
                        "missing _meta[\"{}\"]: send `initialize` first (protocol 2024-11-05 to 2025-11-25), or give every request _meta with \"{}\" and \"{}\" (2026-07-28)",
                        session::META_VERSION,
                        session::META_VERSION,
                        session::META_CAPABILITIES
                    );
                    return self.error(route, &id, jsonrpc::INVALID_PARAMS, &msg, None);
                }
            }
        };
        match method {
            "ping" if !ctx.version.is_stateless() => self.result(route, &id, ctx, "{}".into()),
            "server/discover" => {
                let body = self.discover();
                self.result(route, &id, ctx, body);
            }
            "tools/list" => self.tools_list(route, &id, ctx, params),
            "tools/call" => self.tools_call(route, &id, ctx, params),
            "resources/list" | "resources/templates/list" => {
                if let Err(msg) = check_cursor(params) {
                    return self.error(route, &id, jsonrpc::INVALID_PARAMS, &msg, None);
                }
                let body = if method == "resources/list" {
                    resources::list(ctx.version)
                } else {
                    resources::templates(ctx.version)
                };
                self.result(route, &id, ctx, body);
            }
            "resources/read" => self.resources_read(route, id, ctx, params),
            "logging/setLevel" if !ctx.version.is_stateless() => {
                #[derive(Deserialize)]
                struct P<'a> {
                    #[serde(borrow)]
                    level: Cow<'a, str>,
                }
                match params.and_then(|p| serde_json::from_str::<P<'_>>(p.get()).ok()) {
                    Some(p) => match Level::parse(&p.level) {
                        Some(level) => {
                            self.log_level = Some(level);
                            self.result(route, &id, ctx, "{}".into());
                        }
                        None => self.error(
                            route,
                            &id,
                            jsonrpc::INVALID_PARAMS,
                            &level_error(&p.level),
                            None,
                        ),
                    },
                    None => self.error(
                        route,
                        &id,
                        jsonrpc::INVALID_PARAMS,
                        "logging/setLevel needs `level`",
                        None,
                    ),
                }
            }
            _ => {
                let shown: String = method.chars().take(64).collect();
                let msg = format!(
                    "method not found: `{shown}` (protocol {})",
                    ctx.version.as_str()
                );
                self.error(route, &id, jsonrpc::METHOD_NOT_FOUND, &msg, None);
            }
        }
    }

    fn stateless_ctx(
        &self,
        method: &str,
        meta: &Meta<'_>,
    ) -> Result<Ctx, (i64, String, Option<String>)> {
        // `server/discover` without `_meta` is answered anyway: it is how a client learns what to send.
        let requested = meta
            .version
            .as_deref()
            .unwrap_or(Version::V2026_07_28.as_str());
        if Version::parse(requested) != Some(Version::V2026_07_28) {
            let supported: Vec<&str> = Version::ALL.iter().map(|v| v.as_str()).collect();
            let data = json!({"supported": supported, "requested": requested}).to_string();
            let msg = if Version::parse(requested).is_some() {
                format!(
                    "protocol {requested} needs the `initialize` handshake; per-request _meta is for 2026-07-28"
                )
            } else {
                let shown: String = requested.chars().take(32).collect();
                format!("unsupported protocol version {shown:?}")
            };
            return Err((jsonrpc::UNSUPPORTED_VERSION, msg, Some(data)));
        }
        if method != "server/discover" && !meta.has_capabilities {
            return Err((
                jsonrpc::INVALID_PARAMS,
                format!(
                    "missing _meta[\"{}\"] (an object; {{}} if none)",
                    session::META_CAPABILITIES
                ),
                None,
            ));
        }
        let log = match meta.log_level.as_deref() {
            None => None,
            Some(l) => Some(
                Level::parse(l).ok_or_else(|| (jsonrpc::INVALID_PARAMS, level_error(l), None))?,
            ),
        };
        Ok(Ctx {
            version: Version::V2026_07_28,
            log,
        })
    }

    fn initialize(&mut self, id: Id, params: Option<&RawValue>, route: Route) {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct P<'a> {
            #[serde(borrow)]
            protocol_version: Cow<'a, str>,
        }
        if let Handshake::Initialized(_) = self.handshake {
            return self.error(
                route,
                &id,
                jsonrpc::INVALID_REQUEST,
                "already initialized",
                None,
            );
        }
        let Some(p) = params.and_then(|p| serde_json::from_str::<P<'_>>(p.get()).ok()) else {
            return self.error(
                route,
                &id,
                jsonrpc::INVALID_PARAMS,
                "initialize needs `protocolVersion`",
                None,
            );
        };
        let version = match Version::parse(&p.protocol_version) {
            Some(v) if !v.is_stateless() => v,
            _ => Version::LATEST_HANDSHAKE,
        };
        self.handshake = Handshake::Initialized(version);
        let body = json!({
            "protocolVersion": version.as_str(),
            "capabilities": capabilities(),
            "serverInfo": server_info(version),
            "instructions": INSTRUCTIONS,
        });
        self.log(
            Level::Info,
            format!("initialized at protocol {}", version.as_str()),
        );
        self.result(route, &id, Ctx { version, log: None }, body.to_string());
    }

    fn discover(&self) -> String {
        let supported: Vec<&str> = Version::ALL.iter().map(|v| v.as_str()).collect();
        json!({
            "supportedVersions": supported,
            "capabilities": capabilities(),
            "instructions": INSTRUCTIONS,
            "ttlMs": 3_600_000,
            "cacheScope": "public",
        })
        .to_string()
    }

    fn tools_list(&mut self, route: Route, id: &Id, ctx: Ctx, params: Option<&RawValue>) {
        if let Err(msg) = check_cursor(params) {
            return self.error(route, id, jsonrpc::INVALID_PARAMS, &msg, None);
        }
        let slot = ctx.version.index();
        let body = self.tools_list[slot].take().unwrap_or_else(|| {
            let tools: Vec<Value> = tools::TOOLS
                .iter()
                .map(|t| tools::describe(t, ctx.version))
                .collect();
            let mut body = json!({ "tools": tools });
            if ctx.version.is_stateless() {
                body["ttlMs"] = 3_600_000.into();
                body["cacheScope"] = "public".into();
            }
            let mut out = Vec::new();
            jsonrpc::append_members(&mut out, &body.to_string(), &result_suffix(ctx.version));
            String::from_utf8(out).unwrap_or_default()
        });
        self.respond(route, |out| jsonrpc::write_result(out, id, &body));
        self.tools_list[slot] = Some(body);
    }

    fn tools_call(&mut self, route: Route, id: &Id, ctx: Ctx, params: Option<&RawValue>) {
        #[derive(Deserialize)]
        struct P<'a> {
            #[serde(borrow)]
            name: Cow<'a, str>,
            #[serde(borrow, default)]
            arguments: Option<&'a RawValue>,
            #[serde(borrow, rename = "_meta", default)]
            meta: Option<ProgressMeta<'a>>,
        }
        #[derive(Deserialize)]
        struct ProgressMeta<'a> {
            #[serde(borrow, rename = "progressToken", default)]
            token: Option<&'a RawValue>,
        }
        let Some(p) = params.and_then(|p| serde_json::from_str::<P<'_>>(p.get()).ok()) else {
            return self.error(
                route,
                id,
                jsonrpc::INVALID_PARAMS,
                "tools/call needs `name` (a string) and optional `arguments` (an object)",
                None,
            );
        };
        let Some(tool) = tools::find(&p.name) else {
            let shown: String = p.name.chars().take(64).collect();
            let msg = format!(
                "unknown tool `{shown}`; this server has: {}",
                tools::names()
            );
            return self.error(route, id, jsonrpc::INVALID_PARAMS, &msg, None);
        };
        // Every path below ends in one `finish_tool` (or a cancellation), which settles this.
        self.hold(route);
        let outcome = match tools::validate(tool, p.arguments) {
            Err(msg) => upstream::Outcome::error(msg),
            Ok(args) => match self.refusal(tool.name) {
                Some(msg) => upstream::Outcome::error(msg),
                None => {
                    let mut run = upstream::ToolRun::new(tool.name, args);
                    // A progress token is a string or an integer, like a request id.
                    let token = p.meta.and_then(|m| m.token).and_then(Id::from_raw);
                    run.set_progress_token(token);
                    return self.begin_tool(route, id.clone(), ctx, run);
                }
            },
        };
        self.finish_tool(route, id, ctx, tool.name, outcome);
    }

    /// Answers a tool call.
    fn finish_tool(
        &mut self,
        route: Route,
        id: &Id,
        ctx: Ctx,
        tool: &str,
        outcome: upstream::Outcome,
    ) {
        if tool == upstream::CATALOG {
            return self.catalog_result(route, id, ctx, outcome);
        }
        if outcome.is_error {
            self.log(Level::Info, format!("tools/call {tool}: {}", outcome.text));
            self.notify_log(ctx, Level::Warning, &format!("{tool}: {}", outcome.text));
        } else {
            self.log(Level::Debug, format!("tools/call {tool}: ok"));
        }
        let mut content = vec![json!({"type": "text", "text": outcome.text})];
        content.extend(outcome.blocks);
        let mut body = json!({ "content": content, "isError": outcome.is_error });
        if let (Some(structured), true) = (outcome.structured, ctx.version.has_structured()) {
            body["structuredContent"] = structured;
        }
        self.result(route, id, ctx, body.to_string());
        self.settle(route);
    }

    /// Answers `resources/read voices://catalog` (a run of the pseudo-tool [`upstream::CATALOG`]).
    fn catalog_result(&mut self, route: Route, id: &Id, ctx: Ctx, outcome: upstream::Outcome) {
        if outcome.is_error {
            self.error(route, id, jsonrpc::INTERNAL_ERROR, &outcome.text, None);
        } else {
            let text = outcome.structured.unwrap_or_default().to_string();
            let body = resources::text_contents(
                ctx.version,
                resources::CATALOG,
                "application/json",
                &text,
            );
            self.result(route, id, ctx, body);
        }
        self.settle(route);
    }

    /// Why a validated call cannot run: broken settings first, then the missing key.
    fn refusal(&self, tool: &str) -> Option<String> {
        if !self.config.problems.is_empty() {
            let list: Vec<String> = self
                .config
                .problems
                .iter()
                .map(ToString::to_string)
                .collect();
            return Some(format!(
                "The mcp-elevenlabs configuration has problems, so `{tool}` cannot run: {}. Fix them (check with `mcp-elevenlabs config list`), then restart the server.",
                list.join("; ")
            ));
        }
        if self.config.settings.api_key.is_none() {
            return Some("No ElevenLabs API key: run `mcp-elevenlabs --init` and put the key in the config file, or set ELEVENLABS_API_KEY in the server's environment, then restart the server.".to_string());
        }
        None
    }

    fn resources_read(&mut self, route: Route, id: Id, ctx: Ctx, params: Option<&RawValue>) {
        #[derive(Deserialize)]
        struct P {
            uri: String,
        }
        let Some(p) = params.and_then(|p| serde_json::from_str::<P>(p.get()).ok()) else {
            return self.error(
                route,
                &id,
                jsonrpc::INVALID_PARAMS,
                "resources/read needs `uri` (a string)",
                None,
            );
        };
        if p.uri == resources::HEALTH {
            let upstream = self
                .upstream
                .to_json(&self.config.settings.base_url, self.retries.len());
            let body = resources::health(
                &self.config,
                self.pending.len(),
                self.now - self.started,
                upstream,
            );
            let body = resources::text_contents(ctx.version, &p.uri, "application/json", &body);
            return self.result(route, &id, ctx, body);
        }
        if p.uri == resources::CATALOG {
            if let Some(why) = self.refusal("voices://catalog") {
                return self.error(route, &id, jsonrpc::INTERNAL_ERROR, &why, None);
            }
            self.hold(route);
            let run = upstream::ToolRun::new(upstream::CATALOG, tools::Args::default());
            return self.begin_tool(route, id, ctx, run);
        }
        let Some(name) = resources::audio_name(&p.uri) else {
            return self.not_found(route, &id, ctx, &p.uri);
        };
        let job = Job::ReadAudio {
            name: name.to_string(),
            max_bytes: self.config.max_read_bytes,
        };
        let Some(job_id) = self.start_job(job, id.clone()) else {
            return self.error(
                route,
                &id,
                jsonrpc::INTERNAL_ERROR,
                "too many requests in flight; try again shortly",
                None,
            );
        };
        self.hold(route);
        self.pending.insert(
            id,
            Pending {
                job: Some(job_id),
                ctx,
                route,
                op: Op::ReadAudio { uri: p.uri },
            },
        );
    }

    fn not_found(&mut self, route: Route, id: &Id, ctx: Ctx, uri: &str) {
        let data = json!({ "uri": uri }).to_string();
        let shown: String = uri.chars().take(200).collect();
        let msg = format!("resource not found: {shown}");
        self.error(
            route,
            id,
            ctx.version.resource_not_found(),
            &msg,
            Some(&data),
        );
    }

    // ---- jobs ---------------------------------------------------------------------------

    fn start_job(&mut self, job: Job, id: Id) -> Option<JobId> {
        let max = usize::try_from(self.config.settings.limits.max_concurrent)
            .unwrap_or(usize::MAX)
            .max(1);
        if self.running >= max && self.queued.len() >= self.config.max_queued {
            return None;
        }
        let job_id = JobId(self.next_job);
        self.next_job += 1;
        self.jobs.insert(job_id, Some(id));
        if self.running < max {
            self.running += 1;
            self.out.push_back(Output::Start { id: job_id, job });
        } else {
            self.queued.push_back((job_id, job));
        }
        Some(job_id)
    }

    fn job_done(&mut self, job_id: JobId, result: JobResult) {
        let Some(owner) = self.jobs.remove(&job_id) else {
            return;
        };
        self.running = self.running.saturating_sub(1);
        let max = usize::try_from(self.config.settings.limits.max_concurrent)
            .unwrap_or(usize::MAX)
            .max(1);
        while self.running < max {
            let Some((next, job)) = self.queued.pop_front() else {
                break;
            };
            self.running += 1;
            self.out.push_back(Output::Start { id: next, job });
        }
        let Some(id) = owner else { return };
        let Some(pending) = self.pending.remove(&id) else {
            return;
        };
        let Pending { ctx, route, op, .. } = pending;
        let uri = match op {
            Op::Tool(run) => return self.advance(route, id, ctx, run, Some(result)),
            Op::ReadAudio { uri } => uri,
        };
        match result {
            JobResult::Audio(Ok(bytes)) => self.blob_result(route, &id, ctx, &uri, &bytes),
            JobResult::Audio(Err(FileError::NotFound)) => self.not_found(route, &id, ctx, &uri),
            JobResult::Audio(Err(FileError::TooLarge { limit })) => {
                let msg = format!(
                    "{uri} is larger than {limit} bytes; open the file from the output directory instead"
                );
                self.error(route, &id, jsonrpc::INTERNAL_ERROR, &msg, None);
            }
            JobResult::Audio(Err(FileError::Other(why))) => {
                let msg = format!("could not read {uri}: {why}");
                self.error(route, &id, jsonrpc::INTERNAL_ERROR, &msg, None);
            }
            other => {
                let msg = format!("internal error: unexpected job result {other:?}");
                self.error(route, &id, jsonrpc::INTERNAL_ERROR, &msg, None);
            }
        }
        self.settle(route);
    }

    /// Drops a request without answering it (it was cancelled).
    fn cancel(&mut self, id: &Id) {
        let Some(pending) = self.pending.remove(id) else {
            return;
        };
        self.retries.retain(|(_, r)| r != id);
        if let Some(job) = pending.job {
            if let Some(owner) = self.jobs.get_mut(&job) {
                *owner = None;
            }
            if let Some(pos) = self.queued.iter().position(|(j, _)| *j == job) {
                self.queued.remove(pos);
                self.jobs.remove(&job);
            } else {
                self.out.push_back(Output::Cancel(job));
            }
        }
        self.settle(pending.route);
    }

    /// A batch member will be answered later: the batch waits for it (see [`Server::settle`]).
    fn hold(&mut self, route: Route) {
        if let Route::Batch(slot) = route {
            if let Some(b) = self.batches[slot].as_mut() {
                b.waiting += 1;
            }
        }
    }

    /// A pending batch member was answered or dropped.
    fn settle(&mut self, route: Route) {
        if let Route::Batch(slot) = route {
            if let Some(b) = self.batches[slot].as_mut() {
                b.waiting = b.waiting.saturating_sub(1);
            }
            self.flush_batch(slot);
        }
    }

    // ---- notifications ------------------------------------------------------------------

    fn handle_notification(&mut self, method: &str, params: Option<&RawValue>) {
        match method {
            "notifications/initialized" => {}
            "notifications/cancelled" => {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct P<'a> {
                    #[serde(borrow)]
                    request_id: &'a RawValue,
                }
                let id = params
                    .and_then(|p| serde_json::from_str::<P<'_>>(p.get()).ok())
                    .and_then(|p| Id::from_raw(p.request_id));
                if let Some(id) = id {
                    if self.pending.contains_key(&id) {
                        self.log(
                            Level::Info,
                            format!("request {} cancelled by the client", id.as_json()),
                        );
                        self.cancel(&id);
                    }
                }
            }
            other => {
                let shown: String = other.chars().take(64).collect();
                self.log(Level::Debug, format!("ignored notification {shown}"));
            }
        }
    }

    // ---- writing ------------------------------------------------------------------------

    fn stdout(&mut self) -> &mut Vec<u8> {
        let reuse = matches!(self.out.back(), Some(Output::Stdout(b)) if b.len() < WRITE_BATCH);
        if !reuse {
            self.out.push_back(Output::Stdout(Vec::with_capacity(4096)));
        }
        match self.out.back_mut() {
            Some(Output::Stdout(buf)) => buf,
            _ => unreachable!("a Stdout output was just ensured at the back"),
        }
    }

    fn respond(&mut self, route: Route, write: impl FnOnce(&mut Vec<u8>)) {
        match route {
            Route::Direct => {
                let out = self.stdout();
                write(out);
                out.push(b'\n');
            }
            Route::Batch(slot) => {
                let mut part = Vec::new();
                write(&mut part);
                if let Some(b) = self.batches[slot].as_mut() {
                    b.bytes += part.len();
                    b.parts.push(part);
                }
            }
        }
    }

    /// Whether a reply of `len` bytes still fits the batch it would join.
    fn fits(&self, route: Route, len: usize) -> bool {
        match route {
            Route::Direct => true,
            Route::Batch(slot) => self.batches[slot]
                .as_ref()
                .is_none_or(|b| b.bytes + len <= MAX_BATCH_REPLY),
        }
    }

    fn too_big_for_batch(&mut self, route: Route, id: &Id) {
        let msg = "this reply is too large for a batch; send the request on its own";
        self.error(route, id, jsonrpc::INTERNAL_ERROR, msg, None);
    }

    /// Writes a result object (`body` is its JSON), adding what the version requires.
    fn result(&mut self, route: Route, id: &Id, ctx: Ctx, body: String) {
        let suffix = result_suffix(ctx.version);
        if !self.fits(route, body.len() + suffix.len() + 48) {
            return self.too_big_for_batch(route, id);
        }
        self.respond(route, |out| {
            jsonrpc::write_result_with(out, id, &body, &suffix)
        });
    }

    /// A `resources/read` result with one blob, base64-encoded straight into the output.
    fn blob_result(&mut self, route: Route, id: &Id, ctx: Ctx, uri: &str, bytes: &[u8]) {
        let head = resources::blob_head(uri, resources::audio_mime(uri));
        // The rest of the result object after the blob's characters.
        let mut tail = String::from("\"}]");
        if ctx.version.is_stateless() {
            // A generated file never changes.
            tail.push_str(",\"ttlMs\":86400000,\"cacheScope\":\"private\"");
        }
        tail.push('}');
        let suffix = result_suffix(ctx.version);
        let engine = &base64::engine::general_purpose::STANDARD;
        let encoded = base64::encoded_len(bytes.len(), true).unwrap_or(usize::MAX);
        if !self.fits(
            route,
            head.len() + encoded.min(usize::MAX / 2) + tail.len() + 64,
        ) {
            return self.too_big_for_batch(route, id);
        }
        self.respond(route, |out| {
            jsonrpc::write_result_open(out, id);
            out.extend_from_slice(head.as_bytes());
            let start = out.len();
            out.resize(start + encoded, 0);
            let written =
                base64::Engine::encode_slice(engine, bytes, &mut out[start..]).unwrap_or(0);
            out.truncate(start + written);
            jsonrpc::append_members(out, &tail, &suffix);
            out.push(b'}');
        });
    }

    fn error(&mut self, route: Route, id: &Id, code: i64, message: &str, data: Option<&str>) {
        self.respond(route, |out| {
            jsonrpc::write_error(out, Some(id), NoId::Omit, code, message, data)
        });
    }

    /// An error reply to a line that may not have yielded an id: without one, the id is
    /// written as the negotiated version wants it (`null`, or left out).
    fn error_unknown_id(&mut self, route: Route, id: Option<&Id>, code: i64, message: &str) {
        let no_id = self.no_id();
        self.respond(route, |out| {
            jsonrpc::write_error(out, id, no_id, code, message, None)
        });
    }

    fn log(&mut self, level: Level, message: String) {
        self.out.push_back(Output::Log { level, message });
    }

    /// Sends `notifications/message` if the request's (or session's) level admits it.
    fn notify_log(&mut self, ctx: Ctx, level: Level, data: &str) {
        match ctx.log {
            Some(min) if level >= min => {}
            _ => return,
        }
        let msg = json!({
            "jsonrpc": "2.0",
            "method": "notifications/message",
            "params": {"level": level.as_str(), "logger": NAME, "data": data},
        });
        let out = self.stdout();
        out.extend_from_slice(msg.to_string().as_bytes());
        out.push(b'\n');
    }
}

/// `_meta` fields the core looks at.
struct Meta<'a> {
    version: Option<Cow<'a, str>>,
    has_capabilities: bool,
    log_level: Option<Cow<'a, str>>,
}

impl<'a> Meta<'a> {
    fn parse(params: Option<&'a RawValue>) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Params<'a> {
            #[serde(borrow, rename = "_meta", default)]
            meta: Option<&'a RawValue>,
        }
        #[derive(Deserialize)]
        struct Raw<'a> {
            #[serde(borrow, rename = "io.modelcontextprotocol/protocolVersion", default)]
            version: Option<Cow<'a, str>>,
            #[serde(borrow, rename = "io.modelcontextprotocol/clientCapabilities", default)]
            capabilities: Option<&'a RawValue>,
            #[serde(borrow, rename = "io.modelcontextprotocol/logLevel", default)]
            log_level: Option<Cow<'a, str>>,
        }
        let none = Self {
            version: None,
            has_capabilities: false,
            log_level: None,
        };
        let Some(params) = params else {
            return Ok(none);
        };
        let Ok(Params { meta: Some(meta) }) = serde_json::from_str::<Params<'a>>(params.get())
        else {
            return Ok(none);
        };
        if meta.get() == "null" {
            return Ok(none);
        }
        let raw: Raw<'a> = serde_json::from_str(meta.get()).map_err(|_| {
            format!(
                "`_meta` must be an object whose \"{}\" and \"{}\" are strings",
                session::META_VERSION,
                session::META_LOG_LEVEL
            )
        })?;
        if raw.capabilities.is_some_and(|c| !c.get().starts_with('{')) {
            return Err(format!(
                "_meta[\"{}\"] must be an object",
                session::META_CAPABILITIES
            ));
        }
        Ok(Self {
            version: raw.version,
            has_capabilities: raw.capabilities.is_some(),
            log_level: raw.log_level,
        })
    }
}

fn level_error(level: &str) -> String {
    let shown: String = level.chars().take(32).collect();
    format!(
        "unknown log level {shown:?}: use debug, info, notice, warning, error, critical, alert or emergency"
    )
}

/// This server offers a single page of everything: any cursor is one it never issued.
fn check_cursor(params: Option<&RawValue>) -> Result<(), String> {
    #[derive(Deserialize)]
    struct P {
        #[serde(default)]
        cursor: Option<Value>,
    }
    let p = params.and_then(|p| serde_json::from_str::<P>(p.get()).ok());
    match p.and_then(|p| p.cursor) {
        None | Some(Value::Null) => Ok(()),
        Some(_) => {
            Err("invalid cursor: this list has a single page, so no cursor is valid".to_string())
        }
    }
}

fn capabilities() -> Value {
    json!({
        "tools": {"listChanged": false},
        "resources": {"subscribe": false, "listChanged": false},
        "logging": {},
    })
}

fn server_info(version: Version) -> Value {
    let mut info = Map::new();
    info.insert("name".into(), NAME.into());
    info.insert("version".into(), VERSION.into());
    if version.has_structured() {
        info.insert("title".into(), "ElevenLabs voice".into());
    }
    Value::Object(info)
}

/// The members every 2026-07-28 result carries, `resultType` and serverInfo in `_meta`, as a
/// `,"…":…` run to append inside a non-empty result object; empty for other versions.
fn result_suffix(version: Version) -> String {
    if !version.is_stateless() {
        return String::new();
    }
    let meta = json!({ session::META_SERVER_INFO: server_info(version) });
    format!(",\"resultType\":\"complete\",\"_meta\":{meta}")
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests make their base `Instant` with `Instant::now`
mod tests;
