//! The tools, one file each, and the small interface through which the voice service drives them.
//!
//! A tool is a [`Tool`] descriptor (name, texts, argument specs, hints) and a call type: the state
//! machine of one call, whose states say what it waits for. The service starts a call with its
//! validated [`Args`], then feeds it the [`Reply`] to each job it asked for; the call answers with
//! the next [`Step`]: another job, or the finished [`Outcome`]. Calls never run I/O, never see the
//! MCP session, and never retry: a [`Failure`] goes back to the service, whose gate decides.
//!
//! Adding a tool: a file here with its descriptor and call type, and one line in [`TOOLS`].

pub(crate) mod args;
pub(crate) mod catalog;
mod get_usage;
mod list_models;
mod list_voices;
mod set_default_voice;
pub(crate) mod speak;
mod stop_speaking;
pub(crate) mod usage_report;
mod voice;

use super::Config;
use super::elevenlabs::{self as api, ApiError, HttpResponse, Model, Transport, Voice, VoicePage};
use super::event::{Job, SpeechDone};
use args::{Args, Param};
use serde_json::Value;
use std::fmt;
use std::time::{Duration, Instant};

/// Every tool, in the stable order `tools/list` shows them.
pub(crate) const TOOLS: &[Tool] = &[
    speak::TOOL,
    list_voices::TOOL,
    set_default_voice::TOOL,
    list_models::TOOL,
    get_usage::TOOL,
    stop_speaking::TOOL,
];

/// The largest non-audio reply read from the API.
const MAX_JSON_BODY: u64 = 8 << 20;

/// One tool: what `tools/list` shows and how a call of it starts.
pub(crate) struct Tool {
    /// The name clients call it by (`[a-z_]`).
    pub(crate) name: &'static str,
    /// A human title (2025-06-18 on).
    pub(crate) title: &'static str,
    /// What it does, for the model.
    pub(crate) description: &'static str,
    /// Its arguments: the `inputSchema` and the validation.
    pub(crate) params: &'static [Param],
    /// Behaviour hints (2025-03-26 on).
    pub(crate) hints: Hints,
    /// The schema every successful `structuredContent` matches, if declared.
    pub(crate) output_schema: Option<fn() -> Value>,
    /// A new call with validated arguments.
    pub(crate) start: fn(Args) -> Box<dyn Call>,
}

impl fmt::Debug for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool").field("name", &self.name).finish()
    }
}

/// Honest behaviour hints.
#[derive(Debug)]
pub(crate) struct Hints {
    pub(crate) read_only: bool,
    pub(crate) destructive: bool,
    pub(crate) idempotent: bool,
    pub(crate) open_world: bool,
}

/// A read-only call to the ElevenLabs API.
const READ_ONLY: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
    open_world: true,
};

/// Finds a tool by name.
pub(crate) fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The names of all tools, for error messages.
pub(crate) fn names() -> String {
    TOOLS.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

/// One call of a tool: a state machine driven by the service.
pub(crate) trait Call: fmt::Debug {
    /// The tool's name, for logs and messages.
    fn tool(&self) -> &'static str;

    /// Moves the call on: `None` to begin, else the reply to the job it last asked for. After
    /// it returns [`Step::Job`], its state reads that job's reply, however often the gate sends
    /// the job (retries never reach the call: the gate keeps failed jobs to itself). `Err` ends
    /// the call with the failure's message.
    fn advance(&mut self, cx: &mut Cx<'_>, reply: Option<Reply>) -> Result<Step, Failure>;

    /// This call will play audio: it takes its turn in the speech queue when it starts, so
    /// utterances play in the order they were asked for.
    fn plays(&self, _cx: &Cx<'_>) -> bool {
        false
    }

    /// ElevenLabs cannot answer (`why`): the job that speaks with the offline fallback voice
    /// instead, if this call speaks, one is configured, and it is not already using it.
    fn fallback(&mut self, _cx: &mut Cx<'_>, _why: &str) -> Option<Step> {
        None
    }
}

/// What a call asks for next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Run this job and bring back its reply.
    Job(Job),
    /// Finished.
    Done(Outcome),
    /// Nothing yet: the job asked for still runs (a `wait` playback that started).
    Pending,
    /// Stop what this server is saying and drop its queue; then [`Reply::Stopped`].
    StopSpeaking,
}

impl Step {
    /// An ElevenLabs request with a JSON reply.
    fn http(request: api::HttpRequest) -> Self {
        Self::Job(Job::Http {
            request,
            max_body: MAX_JSON_BODY,
        })
    }
}

/// A successful job, as a call receives it (failures never reach the call).
#[derive(Debug)]
pub(crate) enum Reply {
    /// A 2xx reply to [`Job::Http`].
    Http(HttpResponse),
    /// A finished [`Job::Speech`].
    Speech(SpeechDone),
    /// The end of a [`Job::CacheRead`]: the audio served, or `None` for a miss.
    Cached(Option<SpeechDone>),
    /// The player of the job asked for has its first audio.
    Playing {
        /// ElevenLabs' id of the request (none from the cache).
        request_id: Option<String>,
    },
    /// What [`Step::StopSpeaking`] stopped: an utterance in progress, and calls dropped from
    /// the queue.
    Stopped { playing: bool, dropped: usize },
    /// The end of a [`Job::WriteState`].
    Written(Result<(), String>),
    /// The usage ledger's totals, or why they cannot be read.
    Report(Result<Box<super::usage::Summary>, String>),
}

impl Reply {
    /// The body of an HTTP reply; anything else is the service's mistake.
    fn body(&self) -> Result<&[u8], Failure> {
        match self {
            Self::Http(resp) => Ok(&resp.body),
            _ => Err(Failure::unexpected(Some(self))),
        }
    }
}

/// Why a job or a call failed, for retry decisions and messages.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No usable reply: connection, timeout, TLS, setup.
    Transport(Transport),
    /// ElevenLabs said no; with its `Retry-After` in milliseconds.
    Api(ApiError, Option<u64>),
    /// Anything else, already phrased for the user.
    Other(String),
}

impl Failure {
    /// A reply (or a start, `None`) that the call's state has no use for: a bug of the service.
    fn unexpected(reply: Option<&Reply>) -> Self {
        let what = match reply {
            None => "a second start",
            Some(Reply::Http(_)) => "an HTTP reply",
            Some(Reply::Speech(_)) => "a finished synthesis",
            Some(Reply::Cached(_)) => "a cache lookup",
            Some(Reply::Playing { .. }) => "the start of playback",
            Some(Reply::Stopped { .. }) => "a stop",
            Some(Reply::Written(_)) => "a state-file write",
            Some(Reply::Report(_)) => "a usage report",
        };
        Self::Other(format!("internal error: the call did not wait for {what}"))
    }
}

impl From<String> for Failure {
    fn from(text: String) -> Self {
        Self::Other(text)
    }
}

/// A finished call, in no protocol version's terms: the session renders it for its client.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// The first text block (and the message of an error).
    pub(crate) text: String,
    /// The call failed: `isError`.
    pub(crate) is_error: bool,
    /// `structuredContent` (shown as text to clients before 2025-06-18 when it goes with audio).
    pub(crate) structured: Option<Value>,
    /// Audio that goes with it.
    pub(crate) media: Option<Media>,
}

impl Outcome {
    /// A failed call with this message.
    pub(crate) fn error(text: String) -> Self {
        Self {
            text,
            is_error: true,
            ..Self::default()
        }
    }

    /// A successful call.
    fn ok(text: String, structured: Value) -> Self {
        Self {
            text,
            is_error: false,
            structured: Some(structured),
            media: None,
        }
    }
}

/// Audio in a result.
#[derive(Debug)]
pub(crate) enum Media {
    /// The audio itself (inline delivery).
    Inline {
        /// The bytes, with any WAV header.
        data: Vec<u8>,
        /// Their MIME type.
        mime: &'static str,
    },
    /// A saved file, readable as `audio://{name}`.
    File {
        /// The file name in the output directory.
        name: String,
        /// Its MIME type.
        mime: &'static str,
        /// Its size in bytes.
        size: u64,
    },
}

/// What a call may read and change while it advances: the service's settings and memory.
#[derive(Debug)]
pub(crate) struct Cx<'a> {
    /// The core's clock.
    pub(crate) now: Instant,
    /// Wall-clock unix seconds at `now`.
    pub(crate) wall_now: u64,
    /// The service's configuration.
    pub(crate) config: &'a Config,
    /// What the service remembers between calls.
    pub(crate) memory: &'a mut Memory,
}

/// How long the model list is trusted.
const MODELS_TTL: Duration = Duration::from_secs(3600);

/// What the voice service remembers between calls, shared by every session.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// `/v1/models`, when fetched.
    models: Option<(Instant, Vec<Model>)>,
    /// Every voice of the account, when fetched.
    catalog: Option<(Instant, Vec<Voice>)>,
    /// Recent `list_voices` pages by argument key.
    voice_pages: Vec<(String, Instant, VoicePage)>,
    /// When credits reset, from the last subscription reply.
    pub(crate) last_reset: Option<i64>,
    /// The subscription's `character_count` and `character_limit`, from the last reply.
    pub(crate) subscription: Option<(u64, u64)>,
    /// The default voice chosen with `set_default_voice` since the start.
    default_voice: Option<String>,
    /// Why the player could not play, the last time `auto` tried: `auto` then saves files
    /// (in the format files get) instead of trying again; `play` still tries.
    pub(crate) player_failed: Option<String>,
    /// A usage row could not be written, and a result has said so (said once).
    pub(crate) ledger_failed_said: bool,
    /// The usage warnings said: what of, its period's start, the threshold.
    pub(crate) usage_warned: std::collections::BTreeSet<(&'static str, u64, u64)>,
}

impl Memory {
    /// The model list, if fetched within its time to live.
    fn models(&self, now: Instant) -> Option<&Vec<Model>> {
        self.models
            .as_ref()
            .filter(|(at, _)| now.saturating_duration_since(*at) < MODELS_TTL)
            .map(|(_, m)| m)
    }
}

impl Cx<'_> {
    /// The default voice: chosen in this process, else configured.
    fn default_voice(&self) -> Option<&str> {
        self.memory
            .default_voice
            .as_deref()
            .or(self.config.settings.default_voice_id.as_deref())
    }
}
