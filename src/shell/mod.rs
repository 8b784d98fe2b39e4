//! The I/O shell: runs the core over stdio, executes its jobs on worker threads, and owns every
//! file, thread, clock and environment access.

#[cfg(feature = "cache")]
pub mod cache;
#[cfg(not(feature = "cache"))]
#[path = "cache_off.rs"]
pub mod cache;
#[cfg(feature = "fallback")]
mod fallback;
#[cfg(not(feature = "fallback"))]
#[path = "fallback_off.rs"]
mod fallback;
pub mod files;
pub mod http_client;
#[cfg(feature = "http-server")]
pub mod http_server;
#[cfg(feature = "usage-db")]
pub mod ledger;
#[cfg(not(feature = "usage-db"))]
#[path = "ledger_off.rs"]
pub mod ledger;
#[cfg(feature = "play")]
mod lock;
pub mod log;
mod ndjson;
pub mod outputs;
#[cfg(feature = "long-text")]
mod pieces;
#[cfg(not(feature = "long-text"))]
#[path = "pieces_off.rs"]
mod pieces;
#[cfg(feature = "play")]
pub mod player;
#[cfg(not(feature = "play"))]
#[path = "player_off.rs"]
pub mod player;
mod speech;
pub mod stdio;
#[cfg(feature = "trace")]
pub mod trace;
#[cfg(not(feature = "trace"))]
#[path = "trace_off.rs"]
pub mod trace;
mod watch;
#[cfg(feature = "websocket")]
mod websocket;
#[cfg(not(feature = "websocket"))]
#[path = "websocket_off.rs"]
mod websocket;

use crate::core::elevenlabs::Transport;
use crate::core::settings::Settings;
use crate::core::{self, Input, Job, Output, Server, Sink};
use files::Paths;
use http_client::Client;
use log::Logger;
use player::PlayerSlot;
use speech::{Pour, Progress, Stream, serve_cached, speech};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread;
use std::time::Instant;
use trace::{Recorder, Traced};

/// Inputs waiting for the core loop (stdin chunks and job results).
const INPUT_QUEUE: usize = 16;

/// Serves MCP over stdio until stdin closes and in-flight work is done (or its grace ends).
/// With `trace`, every input and output of the core is recorded there (see [`trace`]).
pub fn serve(
    config: core::Config,
    paths: &Paths,
    log: &Logger,
    trace: Option<&Path>,
) -> io::Result<()> {
    let (tx, rx) = sync_channel::<Input>(INPUT_QUEUE);
    let mut runner = Runner::new(&config, paths, tx.clone());
    let start = Instant::now();
    let recorder = trace.and_then(|path| Recorder::create(path, &config, start, log));
    let mut server = Traced::new(Server::new(config, start), recorder);
    // The first read and its replies happen on this thread, before any other starts: a host's
    // `initialize` is answered at single-threaded speed (the startup budget, DESIGN.md §2), and
    // the reader and writer threads take over from the second read on.
    let first = stdio::read_once();
    let closed = matches!(first, Input::StdinClosed);
    server.handle_input(Instant::now(), first);
    let mut failed = Vec::new();
    while let Some(output) = server.poll_output() {
        if !handle_output(output, &mut runner, log, &mut failed, |b| {
            stdio::write_now(&b)
        }) {
            log.write(log::LogLevel::Info, "stdout closed; stopping");
            runner.stop(&rx, std::time::Duration::from_secs(2));
            server.finish();
            return Ok(());
        }
    }
    for input in failed {
        server.handle_input(Instant::now(), input);
    }
    if closed {
        drop(tx);
    } else {
        stdio::spawn_reader(tx)?;
    }
    let writer = stdio::Writer::spawn()?;
    files::sweep_partials(&runner.output_dir);
    drive(&mut server, &mut runner, &rx, log, |bytes| {
        let open = writer.send(bytes);
        if !open {
            log.write(log::LogLevel::Info, "stdout closed; stopping");
        }
        open
    });
    server.finish();
    runner.stop(&rx, std::time::Duration::from_secs(2));
    writer.finish();
    Ok(())
}

/// Runs the fallback voice once on a test sentence (for `config test`): the WAV's size, or why
/// it failed.
pub fn try_fallback(argv: &[String], timeout_ms: u64) -> Result<u64, String> {
    let sink = Sink::Memory {
        max_bytes: 64 << 20,
    };
    let timeout = std::time::Duration::from_millis(timeout_ms);
    let text = "This is the mcp-elevenlabs fallback voice.";
    let dir = std::env::temp_dir();
    match fallback::speak(
        argv,
        text,
        sink,
        64 << 20,
        timeout,
        &dir,
        0,
        &AtomicBool::new(false),
    ) {
        Ok(done) => Ok(done.data_bytes),
        Err(core::SpeechFailed::Command(why) | core::SpeechFailed::Sink(why)) => Err(why),
        Err(other) => Err(format!("{other:?}")),
    }
}

/// Calls one tool in-process (for the CLI): the same core and shell as `serve`, with the request
/// given here instead of on stdin. Returns the `result` of the reply (or its `error`).
pub fn call_tool(
    config: core::Config,
    paths: &Paths,
    log: &Logger,
    tool: &str,
    arguments: serde_json::Value,
) -> serde_json::Value {
    let (tx, rx) = sync_channel::<Input>(INPUT_QUEUE);
    let mut runner = Runner::new(&config, paths, tx);
    let mut server = Traced::new(Server::new(config, Instant::now()), None);
    let request = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": {
            core::session::META_VERSION: core::session::Version::V2026_07_28.as_str(),
            core::session::META_CAPABILITIES: {},
        }},
    });
    let mut line = request.to_string().into_bytes();
    line.push(b'\n');
    server.handle_input(Instant::now(), Input::Stdin(line));
    let mut out = Vec::new();
    let mut reply = serde_json::Value::Null;
    drive(&mut server, &mut runner, &rx, log, |bytes| {
        out.extend_from_slice(&bytes);
        for l in out.split(|&b| b == b'\n') {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(l)
                && v["id"] == 1
            {
                reply = v;
                return false;
            }
        }
        true
    });
    if reply.get("result").is_some() {
        reply["result"].take()
    } else {
        reply["error"].take()
    }
}

/// The loop: drain the core's outputs, run jobs, wait for inputs or the next timer. Ends when
/// the core is finished or `stdout` returns `false`.
fn drive(
    server: &mut Traced,
    runner: &mut Runner,
    rx: &Receiver<Input>,
    log: &Logger,
    mut stdout: impl FnMut(Vec<u8>) -> bool,
) {
    let mut failed = Vec::new();
    loop {
        while let Some(output) = server.poll_output() {
            if !handle_output(output, runner, log, &mut failed, &mut stdout) {
                return;
            }
        }
        if !failed.is_empty() {
            for input in failed.drain(..) {
                server.handle_input(Instant::now(), input);
            }
            continue;
        }
        if server.is_finished() {
            return;
        }
        match next(rx, runner, server.poll_timeout()) {
            Next::Input(input) => server.handle_input(Instant::now(), input),
            Next::Timeout => server.handle_timeout(Instant::now()),
            Next::Closed => return,
        }
    }
}

/// What the loop gets while it waits.
enum Next {
    Input(Input),
    /// The core's timer is due.
    Timeout,
    /// Every sender is gone.
    Closed,
}

/// Waits for the next input, or until `at`; a finished job's worker is forgotten first.
fn next(rx: &Receiver<Input>, runner: &mut Runner, at: Option<Instant>) -> Next {
    let input = match at {
        Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
    };
    match input {
        Ok(input) => {
            if let Input::JobDone { id, .. } = &input {
                runner.done(*id);
            }
            Next::Input(input)
        }
        Err(RecvTimeoutError::Timeout) => Next::Timeout,
        Err(RecvTimeoutError::Disconnected) => Next::Closed,
    }
}

/// Acts on one output of the core; a job that cannot start is reported back through `failed`.
/// `false` once stdout is gone.
fn handle_output(
    output: Output,
    runner: &mut Runner,
    log: &Logger,
    failed: &mut Vec<Input>,
    mut stdout: impl FnMut(Vec<u8>) -> bool,
) -> bool {
    match output {
        Output::Stdout(bytes) => return stdout(bytes),
        Output::Start { id, job } => {
            log.write(
                log::LogLevel::Debug,
                &format!("job {} started: {}", id.0, describe(&job)),
            );
            let failed_to_spawn = spawn_failed(&job);
            if let Err(e) = runner.start(id, job) {
                log.warn(&format!("could not start a worker thread: {e}"));
                failed.push(Input::JobDone {
                    id,
                    result: failed_to_spawn,
                });
            }
        }
        Output::Cancel(id) => runner.cancel(id),
        Output::Log { level, message } => log.core(level, &message),
        // Only the HTTP server's loop sees these (`http_server::serve`).
        #[cfg(feature = "http-server")]
        Output::Http(_) => {}
    }
    true
}

/// A job's log line, without request bodies (they hold the user's text).
fn describe(job: &Job) -> String {
    match job {
        Job::ReadAudio { name, .. } => format!("read {name}"),
        Job::Http { request, .. } | Job::Speech { request, .. } => {
            format!("{:?} {}", request.method, request.path)
        }
        Job::WriteState { .. } => "write state file".to_string(),
        Job::Record(_) => "usage ledger row".to_string(),
        Job::Reserve(r) => format!("usage ledger reservation of {} characters", r.characters),
        Job::Release(id) => format!("usage ledger release of reservation {id}"),
        Job::Report(_) => "usage ledger report".to_string(),
        Job::CacheRead { key, .. } => format!("cache read {key:?}"),
        Job::CacheScan => "cache scan".to_string(),
        Job::CacheEvict { keys } => format!("cache evict {} entries", keys.len()),
        Job::Fallback { argv, .. } => format!(
            "fallback voice {}",
            argv.first().map_or("(none)", String::as_str)
        ),
    }
}

/// Why a job did not run.
const NO_WORKER: &str = "the server could not start a worker thread";

/// The result of a job that could not start, in the job's own kind (so a failed state-file
/// write is not counted as an ElevenLabs failure, nor retried as one).
fn spawn_failed(job: &Job) -> core::JobResult {
    use core::{FileError, JobResult, SpeechFailed};
    match job {
        Job::ReadAudio { .. } => JobResult::Audio(Err(FileError::Other(NO_WORKER.into()))),
        Job::Http { .. } => JobResult::Http(Err(Transport::Io(NO_WORKER.into()))),
        Job::Speech { .. } => JobResult::Speech(Err(SpeechFailed::Transport {
            error: Transport::Io(NO_WORKER.into()),
            bytes: 0,
        })),
        Job::WriteState { .. } | Job::CacheEvict { .. } | Job::Record(_) | Job::Release(_) => {
            JobResult::Written(Err(NO_WORKER.into()))
        }
        Job::Reserve(_) => JobResult::Reserved(Err(NO_WORKER.into())),
        Job::Report(_) => JobResult::Report(Err(NO_WORKER.into())),
        Job::Fallback { .. } => JobResult::Speech(Err(SpeechFailed::Command(NO_WORKER.into()))),
        Job::CacheRead { .. } => JobResult::Cached(None),
        Job::CacheScan => JobResult::CacheScanned(Vec::new()),
    }
}

/// Runs jobs on worker threads and keeps what they share.
pub(crate) struct Runner {
    output_dir: PathBuf,
    state_path: PathBuf,
    bounds: Arc<outputs::Bounds>,
    cache: Arc<cache::Store>,
    ledger: Arc<ledger::Ledger>,
    /// The runtime directory, where the speaker lock is.
    lock_dir: PathBuf,
    ca_file: Option<PathBuf>,
    settings: Settings,
    client: Option<Result<Arc<Client>, String>>,
    /// Each running job's cancel flag and the slot of its player (killed at once on cancel).
    cancels: HashMap<core::JobId, (Arc<AtomicBool>, PlayerSlot)>,
    tx: SyncSender<Input>,
}

impl Runner {
    fn new(config: &core::Config, paths: &Paths, tx: SyncSender<Input>) -> Self {
        let output_dir = paths.output_dir(config.settings.output_dir.as_deref());
        let state_dir = paths.state.parent().unwrap_or(Path::new("."));
        let s = &config.settings;
        let bounds =
            outputs::Bounds::new(&output_dir, state_dir, s.output_max_mb, s.output_keep_days);
        Self {
            bounds: Arc::new(bounds),
            cache: Arc::new(cache::Store::new(paths.cache.clone())),
            ledger: Arc::new(ledger::Ledger::new(paths.usage.clone())),
            lock_dir: paths.runtime.clone(),
            output_dir,
            state_path: paths.state.clone(),
            ca_file: config.settings.ca_file.as_deref().map(|f| paths.resolve(f)),
            settings: config.settings.clone(),
            client: None,
            cancels: HashMap::new(),
            tx,
        }
    }

    /// The HTTP client, built on first use (a bad CA file surfaces as the calls' error).
    fn client(&mut self) -> Result<Arc<Client>, String> {
        let s = &self.settings;
        let ca = self.ca_file.as_deref();
        self.client
            .get_or_insert_with(|| {
                let key = s.api_key.as_ref().map(|k| k.expose().to_string());
                let pool = usize::try_from(s.limits.max_concurrent).unwrap_or(4);
                Client::new(&s.base_url, key, s.limits.request_timeout_ms, pool, ca).map(Arc::new)
            })
            .clone()
    }

    fn start(&mut self, id: core::JobId, job: Job) -> io::Result<()> {
        let cancel = Arc::new(AtomicBool::new(false));
        let client = match &job {
            Job::Http { .. } | Job::Speech { .. } => Some(self.client()),
            _ => None,
        };
        let slot = PlayerSlot::default();
        self.cancels.insert(id, (cancel.clone(), slot.clone()));
        let tx = self.tx.clone();
        let dir = self.output_dir.clone();
        let state = self.state_path.clone();
        let bounds = self.bounds.clone();
        let store = self.cache.clone();
        let ledger = self.ledger.clone();
        let lock_dir = self.lock_dir.clone();
        thread::Builder::new()
            .name(format!("job-{}", id.0))
            .stack_size(256 * 1024)
            .spawn(move || {
                let progress = Progress::new(id, &tx);
                let places = Places {
                    dir: &dir,
                    state: &state,
                    cache: &store,
                    ledger: &ledger,
                    slot: &slot,
                    lock_dir: &lock_dir,
                };
                // Requests of this job end within `watch::SLICE` of a cancel, even if stalled.
                watch::watch(cancel.clone());
                let result = run(job, client, &places, &cancel, progress);
                let saved = match &result {
                    core::JobResult::Speech(Ok(core::SpeechDone {
                        file: Some(name), ..
                    })) => Some(name.clone()),
                    _ => None,
                };
                if let Some(name) = saved {
                    // Before the reply, so that it is done before the process may exit (a pass
                    // is one stat per recorded file). If it fails, files stay.
                    let _ = bounds.add(&name);
                }
                let _ = tx.send(Input::JobDone { id, result });
            })
            .map(drop)
    }

    fn cancel(&mut self, id: core::JobId) {
        if let Some((flag, slot)) = self.cancels.get(&id) {
            flag.store(true, Ordering::Relaxed);
            // The player stops now, whatever the stream is doing.
            player::kill(slot);
        }
    }

    fn done(&mut self, id: core::JobId) {
        self.cancels.remove(&id);
    }

    /// Cancels what still runs and waits (at most `limit`) for the workers to clean up, so a
    /// cancelled stream's temp file is gone before the process exits.
    fn stop(&mut self, rx: &Receiver<Input>, limit: std::time::Duration) {
        for (flag, slot) in self.cancels.values() {
            flag.store(true, Ordering::Relaxed);
            player::kill(slot);
        }
        let deadline = Instant::now() + limit;
        while !self.cancels.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Input::JobDone { id, .. }) => self.done(id),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
}

/// Where a job's files are.
struct Places<'a> {
    /// The output directory.
    dir: &'a Path,
    /// The state file.
    state: &'a Path,
    /// The audio cache.
    cache: &'a cache::Store,
    /// The usage ledger.
    ledger: &'a ledger::Ledger,
    /// Where the job's player is, for a cancel to kill it.
    slot: &'a PlayerSlot,
    /// The directory of the speaker lock.
    lock_dir: &'a Path,
}

/// Does one job on a worker thread.
fn run(
    job: Job,
    client: Option<Result<Arc<Client>, String>>,
    places: &Places<'_>,
    cancel: &AtomicBool,
    progress: Progress<'_>,
) -> core::JobResult {
    let Places { dir, state, .. } = *places;
    use core::{JobResult, SpeechFailed};
    let client = match client {
        Some(Ok(c)) => Some(c),
        Some(Err(why)) => {
            let t = Transport::Setup(why);
            return match job {
                Job::Speech { .. } => {
                    JobResult::Speech(Err(SpeechFailed::Transport { error: t, bytes: 0 }))
                }
                _ => JobResult::Http(Err(t)),
            };
        }
        None => None,
    };
    match job {
        Job::ReadAudio { name, max_bytes } => files::read_audio(dir, &name, max_bytes),
        Job::Record(row) => JobResult::Written(places.ledger.record(&row)),
        Job::Reserve(r) => JobResult::Reserved(places.ledger.reserve(&r)),
        Job::Release(id) => JobResult::Written(places.ledger.release(id)),
        Job::Report(ask) => JobResult::Report(places.ledger.summary(&ask).map(Box::new)),
        Job::WriteState { key, value } => {
            JobResult::Written(files::update_state(state, &key, value).map_err(|e| e.to_string()))
        }
        Job::Fallback {
            argv,
            text,
            sink,
            max_bytes,
            timeout_ms,
        } => {
            let timeout = std::time::Duration::from_millis(timeout_ms);
            let tag = progress.id.0;
            JobResult::Speech(fallback::speak(
                &argv, &text, sink, max_bytes, timeout, dir, tag, cancel,
            ))
        }
        Job::Http { request, max_body } => match client {
            Some(c) => JobResult::Http(c.call(&request, max_body)),
            None => JobResult::Http(Err(Transport::Io(NO_WORKER.into()))),
        },
        Job::Speech {
            request,
            more,
            websocket,
            sink,
            max_bytes,
            cache,
            timestamps,
        } => match client {
            Some(c) => {
                let tee = cache.and_then(|(key, max)| places.cache.writer(key, progress.id.0, max));
                let stream = Stream {
                    client: &c,
                    request: &request,
                    more: more.as_deref(),
                    websocket: websocket.as_deref(),
                    max_bytes,
                    cancel,
                    tee,
                    timestamps,
                };
                let player = (places.slot, places.lock_dir);
                JobResult::Speech(speech(stream, sink, dir, player, progress))
            }
            None => JobResult::Http(Err(Transport::Io(NO_WORKER.into()))),
        },
        Job::CacheRead {
            key,
            sink,
            max_bytes,
        } => JobResult::Cached(places.cache.read(&key, max_bytes).map(|(audio, size)| {
            let pour = Pour {
                dir,
                cancel,
                slot: places.slot,
                lock_dir: places.lock_dir,
            };
            serve_cached(audio, size, sink, pour, progress)
        })),
        Job::CacheScan => JobResult::CacheScanned(places.cache.scan()),
        Job::CacheEvict { keys } => {
            JobResult::Written(places.cache.evict(&keys).map_err(|e| e.to_string()))
        }
    }
}
