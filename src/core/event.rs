//! The vocabulary between the core and the shell: what happens ([`Input`]), what to do
//! ([`Output`]), the jobs the shell runs off the core loop ([`Job`]) and their results.
//!
//! A leaf: it imports nothing of the core but the API types it carries.

use super::audio;
use super::cache::CacheKey;
use super::elevenlabs;
use super::player::PlayerInput;
use super::stream_input;
use super::usage;
use serde_json::Value;

/// Identifies one job the shell runs for the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
        /// The request (the first piece of a long text).
        request: elevenlabs::HttpRequest,
        /// A long text's other pieces.
        more: Option<Box<More>>,
        /// Speak over the WebSocket `stream-input` endpoint instead (`request`, for the whole
        /// text, is what it stands for: the gate counts its characters).
        websocket: Option<Box<stream_input::WsSpeech>>,
        /// Where the audio goes.
        sink: Sink,
        /// Refuse streams longer than this.
        max_bytes: u64,
        /// Also store the audio in the cache under this key, unless it grows past the size.
        cache: Option<(CacheKey, u64)>,
        /// The reply is newline-delimited JSON (`/stream/with-timestamps`): base64 audio for the
        /// sink, and character timings for [`SpeechDone::alignment`].
        timestamps: bool,
    },
    /// Serve audio from the cache entry `key` into a sink, as a [`Job::Speech`] would have;
    /// reported as [`JobResult::Cached`]. An entry that is not whole is removed, and a miss.
    CacheRead {
        /// The entry.
        key: CacheKey,
        /// Where the audio goes.
        sink: Sink,
        /// Refuse entries longer than this.
        max_bytes: u64,
    },
    /// List the cache's entries for the index ([`JobResult::CacheScanned`]).
    CacheScan,
    /// Delete these cache entries (reported as [`JobResult::Written`]).
    CacheEvict {
        /// The entries.
        keys: Vec<CacheKey>,
    },
    /// Speak with the offline fallback voice: run `argv` (no shell), `text` on its stdin, and
    /// take the WAV it writes on stdout into the sink. Reported as a [`JobResult::Speech`].
    Fallback {
        /// The program and its arguments (`fallback.command`).
        argv: Vec<String>,
        /// What to say.
        text: String,
        /// Where the WAV goes (a file gets no header added: it is one already).
        sink: Sink,
        /// Refuse more audio than this.
        max_bytes: u64,
        /// Stop the program after this long.
        timeout_ms: u64,
    },
    /// Add a row to the usage ledger, settling its reservation (reported as
    /// [`JobResult::Written`] once committed).
    Record(Box<usage::UsageRow>),
    /// Hold characters against the budgets in the usage ledger, atomically over every process
    /// of the user, if [`usage::admit`] lets them fit ([`JobResult::Reserved`]).
    Reserve(Box<usage::Reserve>),
    /// Give back a reservation whose call never sent its request (reported as
    /// [`JobResult::Written`]).
    Release(i64),
    /// Read the usage ledger's totals ([`JobResult::Report`]).
    Report(usage::Ask),
    /// Set one key of the state file, keeping the others (atomically, mode 0600).
    WriteState {
        /// The key path, e.g. `elevenlabs.default_voice_id`.
        key: String,
        /// Its new value.
        value: Value,
    },
}

/// A long text's pieces after the first: their audio follows the first's, reassembled in order
/// whatever order it arrives in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct More {
    /// Their requests, in order.
    pub requests: Vec<elevenlabs::HttpRequest>,
    /// Pieces requested at once, at most (the gate counts each as a request running).
    pub parallel: usize,
    /// How long to wait before each retry of a piece that failed before any of its audio
    /// arrived, in a way `service::retry::piece_wait` allows (set by the gate).
    pub retry_ms: Vec<u64>,
}

impl Job {
    /// The requests to ElevenLabs it sends (what `limits.requests_per_minute` counts).
    pub fn requests(&self) -> u64 {
        match self {
            Self::Http { .. } => 1,
            Self::Speech { more, .. } => 1 + more.as_ref().map_or(0, |m| m.requests.len() as u64),
            _ => 0,
        }
    }

    /// The requests it has in flight at once, at most: the slots it takes under the cap.
    pub fn slots(&self) -> usize {
        match self {
            Self::Speech { more: Some(m), .. } => (1 + m.requests.len()).min(m.parallel).max(1),
            _ => 1,
        }
    }
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
    /// A player process, as the audio arrives ([`Input::Playing`] when it has the first bytes);
    /// the job ends when the player exits.
    Player(Box<PlayerSink>),
}

/// A player to feed, and what to do if it cannot play.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayerSink {
    /// The program and its arguments (`player::command`).
    pub argv: Vec<String>,
    /// Stdin, or a temp file whose path is added to `argv`.
    pub input: PlayerInput,
    /// The audio's format (for its length in time).
    pub format: audio::Format,
    /// Raw samples of this format: a file gets a WAV header first.
    pub wav: Option<audio::Format>,
    /// If the player fails, save the audio as this file instead (`auto` delivery); `None`
    /// fails the job.
    pub or_file: Option<FileName>,
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
    /// The size of the cache entry the audio was stored in, or served from.
    pub cache_entry: Option<u64>,
    /// Why the player could not play, when the audio was saved as a file instead.
    pub player_failed: Option<String>,
    /// The character timings of a `timestamps` request.
    pub alignment: Option<Box<Alignment>>,
}

/// When each character was spoken, as ElevenLabs aligned them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Alignment {
    /// The characters (one `char` each), in order.
    pub chars: Vec<char>,
    /// When each starts, in milliseconds from the start of the audio.
    pub start_ms: Vec<u32>,
    /// When each ends.
    pub end_ms: Vec<u32>,
    /// Where each piece after the first of a long text starts; the times of a piece's
    /// characters count from the start of its own audio ([`crate::core::timing`] joins them).
    pub joins: Vec<Join>,
}

/// Where one piece of a long text starts in its [`Alignment`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Join {
    /// Its first character's index.
    pub char: usize,
    /// The audio bytes of the pieces before it.
    pub audio_bytes: u64,
}

impl Alignment {
    /// Adds the timings of the next piece of a long text, whose audio follows `audio_bytes`.
    pub fn append(&mut self, piece: Self, audio_bytes: u64) {
        self.joins.push(Join {
            char: self.chars.len(),
            audio_bytes,
        });
        self.chars.extend(piece.chars);
        self.start_ms.extend(piece.start_ms);
        self.end_ms.extend(piece.end_ms);
    }
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
    /// The fallback voice's program failed (not found, an exit status, no WAV), said how.
    Command(String),
    /// The player failed (could not start, or exited before the audio ended), said how.
    Player(String),
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
    /// The end of a [`Job::WriteState`], [`Job::CacheEvict`] or [`Job::Record`].
    Written(Result<(), String>),
    /// The end of a [`Job::CacheRead`]: `None` when there was no whole entry.
    Cached(Option<Result<SpeechDone, SpeechFailed>>),
    /// The cache's entries with their sizes, least recently used first.
    CacheScanned(Vec<(CacheKey, u64)>),
    /// The end of a [`Job::Reserve`]: held or refused, or the ledger could not be used.
    Reserved(Result<usage::Reserved, String>),
    /// The totals a [`Job::Report`] asked for.
    Report(Result<Box<usage::Summary>, String>),
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
    /// A player job's player has its first audio bytes: playback started.
    Playing {
        /// Which job.
        id: JobId,
        /// ElevenLabs' id of the request (none for audio from the cache).
        request_id: Option<String>,
    },
    /// A running speech job has received this many audio bytes so far.
    Progress {
        /// Which job.
        id: JobId,
        /// Audio bytes so far.
        bytes: u64,
    },
    /// Something happened on the HTTP transport (a request read whole, a client gone).
    #[cfg(feature = "http-server")]
    Http(super::http::HttpIn),
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
    /// Send this on an HTTP connection.
    #[cfg(feature = "http-server")]
    Http(super::http::Reply),
}

/// Log levels of `notifications/message` and of the server's own log, least severe first
/// (RFC 5424 order reversed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Normal but significant.
    Notice,
    /// Something to look at.
    Warning,
    /// A failure.
    Error,
    /// A critical failure.
    Critical,
    /// Act now.
    Alert,
    /// Unusable.
    Emergency,
}

impl Level {
    /// Parses an MCP level name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "debug" => Self::Debug,
            "info" => Self::Info,
            "notice" => Self::Notice,
            "warning" => Self::Warning,
            "error" => Self::Error,
            "critical" => Self::Critical,
            "alert" => Self::Alert,
            "emergency" => Self::Emergency,
            _ => return None,
        })
    }

    /// The MCP level name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
            Self::Alert => "alert",
            Self::Emergency => "emergency",
        }
    }
}
