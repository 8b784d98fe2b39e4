//! What the fuzz targets run, and what `tests/fuzz_regressions.rs` replays on stable.
//!
//! Each function takes the raw fuzz input, drives one part of the core and panics when an
//! invariant breaks. The same file is compiled into the fuzz crate (as its library) and into the
//! main crate's regression test (with `#[path]`), so a crash found by `cargo fuzz` is replayed by
//! `cargo test` once its input is saved under `fuzz/regressions/<target>/`.
//!
//! Inputs are text-friendly so the seed corpus can be real transcripts:
//! - `framer`: byte 0 picks the line limit, bytes 1..4 pick where the stream is cut, the rest is
//!   the stream.
//! - `config`: `config.yaml`, then optionally `\n%%state\n` and the state file, then optionally
//!   `\n%%env\n` and `NAME=value` lines.
//! - `server`: a script, one item per line. A line is sent to the server as client input unless it
//!   starts with `#!`, which makes it a directive for the fake shell around the core:
//!   `#!wait MS`, `#!eof`, `#!raw TEXT` (no newline added), `#!ok K STATUS BODY` (the K-th running
//!   job finishes with this status and body), `#!fail K N` (it fails in the N-th way its kind can
//!   fail), `#!progress K BYTES`, `#!playing K` (its player has the first audio). Unknown
//!   directives are sent as client lines.
//! - `http` (feature `http-server`): raw HTTP/1.1 requests, one after another as a client
//!   pipelines them; a line `#!gone`, `#!ok`, `#!fail`, `#!wait MS` or `#!stop` between them acts
//!   as the `server` target's directives do (on the oldest running job, or the last connection).

use mcp_elevenlabs::core::cache::{CacheKey, FOOTER_LEN};
use mcp_elevenlabs::core::elevenlabs::{HttpResponse, Transport};
use mcp_elevenlabs::core::frame::{Frame, Framer};
use mcp_elevenlabs::core::player::{Player, PlayerKind};
use mcp_elevenlabs::core::settings::{self, ApiKey, Inputs, Settings};
use mcp_elevenlabs::core::usage::{Refusal, Reserved, Used};
use mcp_elevenlabs::core::{
    Config, FileError, Input, Job, JobId, JobResult, Output, Server, Sink, SpeechDone, SpeechFailed,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// The API key the server and config targets run with; it must never be printed.
pub const SECRET: &str = "sk_fuzzsecret_5f1e2d3c4b5a6978";

/// Steps after the script ends to let the server wind down before it must have finished.
const WIND_DOWN_STEPS: usize = 1_000;

/// Feeds the stream whole and cut in up to three places; both must give the same frames, every
/// line must respect the limit, and memory must stay bounded.
pub fn framer(data: &[u8]) {
    let Some((&limit_byte, rest)) = data.split_first() else {
        return;
    };
    // Small limits reach the over-long paths; 255 stands for the real 1 MiB default.
    let limit = if limit_byte == 255 {
        mcp_elevenlabs::core::frame::MAX_LINE
    } else {
        usize::from(limit_byte % 64) + 1
    };
    let (cuts, stream) = rest.split_at(rest.len().min(3));
    let whole = frames(limit, &[stream]);

    let mut points: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) * stream.len() / 256)
        .collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut at = 0;
    for p in points {
        pieces.push(&stream[at..p]);
        at = p;
    }
    pieces.push(&stream[at..]);
    assert_eq!(frames(limit, &pieces), whole, "a cut changed the frames");
}

fn frames(limit: usize, pieces: &[&[u8]]) -> Vec<Result<Vec<u8>, usize>> {
    let mut framer = Framer::new(limit);
    let mut out = Vec::new();
    let drain = |framer: &mut Framer, out: &mut Vec<_>| {
        while let Some(frame) = framer.next_frame() {
            match frame {
                Frame::Line(line) => {
                    assert!(!line.is_empty(), "empty lines are skipped");
                    assert!(
                        line.len() <= limit,
                        "a line longer than the limit got through"
                    );
                    assert!(!line.contains(&b'\n'), "a line holds a newline");
                    out.push(Ok(line.to_vec()));
                }
                Frame::TooLong { limit: l } => {
                    assert_eq!(l, limit);
                    out.push(Err(l));
                }
            }
        }
        // Bounded memory: what stays buffered is at most one partial line within the limit.
        assert!(
            framer.buffered() <= limit,
            "{} bytes buffered",
            framer.buffered()
        );
    };
    for piece in pieces {
        framer.push(piece);
        drain(&mut framer, &mut out);
    }
    framer.finish();
    drain(&mut framer, &mut out);
    out
}

/// Loads settings from a fuzzed config file, state file and environment. Loading never panics, the
/// key never shows in a problem or in `config list`, and a server built from the result answers
/// the handshake, `tools/list`, a tool call and a health read with valid JSON.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (config_text, rest) = text.split_once("\n%%state\n").unwrap_or((text, ""));
    let (state_text, env_text) = rest.split_once("\n%%env\n").unwrap_or((rest, ""));
    let mut env: HashMap<String, String> = env_text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.entry("ELEVENLABS_API_KEY".to_string())
        .or_insert_with(|| SECRET.to_string());
    let lookup = |name: &str| env.get(name).cloned();
    let loaded = settings::load(&Inputs {
        config: Some((config_text, "config.yaml")),
        state: (!state_text.is_empty()).then_some((state_text, "state.json")),
        env: &lookup,
    });
    // Only the harness's own key is checked: text the input itself contains may be echoed.
    let check_secret = !text.contains(SECRET);
    let mut shown = String::new();
    for p in loaded.problems.iter().chain(&loaded.warnings) {
        shown.push_str(&p.to_string());
        shown.push('\n');
    }
    for path in settings::key_paths() {
        shown.push_str(&settings::show(&loaded.settings, path));
        shown.push('\n');
    }
    if check_secret {
        assert!(!shown.contains(SECRET), "the key leaked:\n{shown}");
    }

    let config = Config::default().settings(loaded.settings, loaded.problems);
    let mut shell = Shell::new(config);
    for line in [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"speak","arguments":{"text":"Hello."}}}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"health://status"}}"#,
    ] {
        shell.line(line.as_bytes());
    }
    shell.finish(check_secret);
}

/// Runs a script (see the crate docs) against the core, playing the shell: jobs are finished as
/// the script says, time advances only when it says so. Checked throughout: every stdout write is
/// whole lines of JSON, the key never appears, job ids are fresh, cancels name running jobs. At
/// the end every job fails, stdin closes and time runs on: the server must then finish.
pub fn server(data: &[u8]) {
    let mut settings = Settings {
        api_key: Some(ApiKey::new(SECRET)),
        // The fallback voice and a rate limit, so their paths are explored too.
        fallback_command: vec!["espeak-ng".to_string(), "--stdout".to_string()],
        // A cache of one MiB: entries are stored, hit and evicted (the shell plays the cache).
        cache_max_mb: 1,
        ..Settings::default()
    };
    settings.limits.requests_per_minute = 600;
    let mut config = Config::default().settings(settings, Vec::new());
    // A player, so that the default `auto` delivery plays and the speech queue is explored.
    config.player = Some(Player {
        kind: PlayerKind::Aplay,
        argv: vec!["aplay".to_string()],
    });
    let mut shell = Shell::new(config);
    let check_secret = !data.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
    for line in data.split(|&b| b == b'\n') {
        let Some(directive) = line.strip_prefix(b"#!") else {
            shell.line(line);
            continue;
        };
        let text = String::from_utf8_lossy(directive);
        let mut words = text.splitn(2, ' ');
        let verb = words.next().unwrap_or("");
        let args = words.next().unwrap_or("");
        match verb {
            "wait" => shell.wait(Duration::from_millis(number(args).min(600_000))),
            "eof" => shell.input(Input::StdinClosed),
            "raw" => shell.input(Input::Stdin(args.as_bytes().to_vec())),
            "ok" => {
                let mut parts = args.splitn(3, ' ');
                let k = number(parts.next().unwrap_or(""));
                let status = u16::try_from(number(parts.next().unwrap_or(""))).unwrap_or(200);
                let body = parts.next().unwrap_or("").as_bytes().to_vec();
                shell.finish_job(k, |job| ok(job, status, body));
            }
            "fail" => {
                let mut parts = args.splitn(2, ' ');
                let k = number(parts.next().unwrap_or(""));
                let how = number(parts.next().unwrap_or(""));
                shell.finish_job(k, |job| fail(job, how));
            }
            "progress" => {
                let mut parts = args.splitn(2, ' ');
                let k = number(parts.next().unwrap_or(""));
                let bytes = number(parts.next().unwrap_or(""));
                if let Some(id) = shell.running_id(k) {
                    shell.input(Input::Progress { id, bytes });
                }
            }
            "playing" => {
                if let Some(id) = shell.running_id(number(args)) {
                    let request_id = Some("req-fuzz".to_string());
                    shell.input(Input::Playing { id, request_id });
                }
            }
            _ => shell.line(line),
        }
    }
    shell.finish(check_secret);
}

fn number(s: &str) -> u64 {
    s.trim().parse().unwrap_or(0)
}

/// A successful outcome of the job's kind carrying `status` and `body`.
fn ok(job: &Job, status: u16, body: Vec<u8>) -> JobResult {
    let head = HttpResponse {
        status,
        headers: vec![("request-id".to_string(), "req-fuzz".to_string())],
        body,
    };
    match job {
        Job::ReadAudio { .. } => JobResult::Audio(Ok(head.body)),
        Job::Http { .. } => JobResult::Http(Ok(head)),
        Job::WriteState { .. } | Job::Record(_) | Job::Release(_) => JobResult::Written(Ok(())),
        Job::Reserve(r) if (200..300).contains(&status) => {
            JobResult::Reserved(Ok(Reserved::Held {
                id: i64::from(status),
                used: Used {
                    day: r.characters,
                    month: r.characters,
                },
            }))
        }
        Job::Reserve(r) => JobResult::Reserved(Ok(Reserved::Refused(Refusal {
            key: "limits.daily_characters",
            limit: r.budgets.daily,
            used: u64::from(status),
            asked: r.characters,
            resets: Some(r.day.end),
        }))),
        Job::Report(_) => JobResult::Report(Ok(Box::default())),
        Job::CacheScan | Job::CacheRead { .. } | Job::CacheEvict { .. } => {
            unreachable!("the shell answers the cache's jobs itself")
        }
        Job::Speech { sink, .. } | Job::Fallback { sink, .. } if (200..300).contains(&status) => {
            let bytes = head.body.len() as u64;
            let (file, data) = match sink {
                Sink::File { .. } => (Some("20261127-000000-fuzz-00000000.mp3".to_string()), None),
                Sink::Memory { .. } => (None, Some(head.body.clone())),
                Sink::Player(_) => (None, None),
            };
            JobResult::Speech(Ok(SpeechDone {
                first_byte_us: Some(12),
                head: HttpResponse {
                    body: Vec::new(),
                    ..head
                },
                data_bytes: bytes,
                total_bytes: bytes,
                file,
                data,
                cache_entry: match job {
                    Job::Speech {
                        cache: Some((_, max)),
                        ..
                    } => (bytes <= *max).then_some(bytes + FOOTER_LEN),
                    _ => None,
                },
                player_failed: None,
                alignment: None,
            }))
        }
        Job::Speech { .. } => JobResult::Speech(Err(SpeechFailed::Status(head))),
        Job::Fallback { .. } => JobResult::Speech(Err(SpeechFailed::Command(format!(
            "exited with status {status}"
        )))),
    }
}

/// The `how`-th way a job of this kind can fail.
fn fail(job: &Job, how: u64) -> JobResult {
    let transports = [
        Transport::Dns,
        Transport::ConnectionRefused,
        Transport::Tls("bad certificate".to_string()),
        Transport::Timeout,
        Transport::Io("connection reset".to_string()),
        Transport::TooLarge,
        Transport::Cancelled,
        Transport::Setup("bad CA file".to_string()),
    ];
    let transport = transports[(how % transports.len() as u64) as usize].clone();
    match job {
        Job::ReadAudio { max_bytes, .. } => JobResult::Audio(Err(match how % 3 {
            0 => FileError::NotFound,
            1 => FileError::TooLarge { limit: *max_bytes },
            _ => FileError::Other("permission denied".to_string()),
        })),
        Job::Http { .. } => JobResult::Http(Err(transport)),
        Job::WriteState { .. } | Job::CacheEvict { .. } | Job::Record(_) | Job::Release(_) => {
            JobResult::Written(Err("read-only file system".to_string()))
        }
        Job::Reserve(_) => JobResult::Reserved(Err("database is locked".to_string())),
        Job::Report(_) => JobResult::Report(Err("file is not a database".to_string())),
        Job::CacheScan => JobResult::CacheScanned(Vec::new()),
        Job::CacheRead { .. } => JobResult::Cached(None),
        Job::Fallback { .. } => JobResult::Speech(Err(match how % 2 {
            0 => SpeechFailed::Command("`espeak-ng` was not found".to_string()),
            _ => SpeechFailed::Sink("no space left on device".to_string()),
        })),
        Job::Speech { .. } => JobResult::Speech(Err(match how % 11 {
            8 => SpeechFailed::Sink("no space left on device".to_string()),
            9 => SpeechFailed::InlineTooLarge { limit: 1 << 20 },
            _ => SpeechFailed::Transport {
                error: transport,
                bytes: how / 11,
            },
        })),
    }
}

/// The fake shell: owns the core, the clock and the running jobs, and checks every output.
struct Shell {
    server: Server,
    now: Instant,
    /// Running jobs, oldest first.
    running: Vec<(JobId, Job)>,
    seen: HashSet<JobId>,
    stdout: Vec<u8>,
    /// The cache's entries and their sizes: the shell answers the cache's jobs at once.
    cache: HashMap<CacheKey, u64>,
    /// Cache jobs started and not yet answered.
    cache_jobs: Vec<(JobId, Job)>,
}

impl Shell {
    fn new(config: Config) -> Self {
        let now = Instant::now();
        Self {
            server: Server::new(config, now),
            now,
            running: Vec::new(),
            seen: HashSet::new(),
            stdout: Vec::new(),
            // Entries from an earlier run, found by the scan at start.
            cache: HashMap::from([
                (CacheKey::of(&["earlier"]), 300 << 10),
                (CacheKey::of(&["older"]), 500 << 10),
            ]),
            cache_jobs: Vec::new(),
        }
    }

    /// What the cache does with one of its jobs.
    fn cache_result(&mut self, job: &Job) -> JobResult {
        match job {
            Job::CacheScan => {
                let mut entries: Vec<_> = self.cache.iter().map(|(k, s)| (*k, *s)).collect();
                entries.sort();
                JobResult::CacheScanned(entries)
            }
            Job::CacheEvict { keys } => {
                for key in keys {
                    self.cache.remove(key);
                }
                JobResult::Written(Ok(()))
            }
            Job::CacheRead { key, sink, .. } => {
                JobResult::Cached(self.cache.get(key).map(|size| {
                    let n = size - FOOTER_LEN;
                    let (file, data) = match sink {
                        Sink::File { .. } => (Some("cached-00000000.mp3".to_string()), None),
                        Sink::Memory { max_bytes } if n > *max_bytes => {
                            return Err(SpeechFailed::InlineTooLarge { limit: *max_bytes });
                        }
                        Sink::Memory { .. } => (None, Some(vec![0; n as usize])),
                        Sink::Player(_) => (None, None),
                    };
                    Ok(SpeechDone {
                        first_byte_us: None,
                        head: HttpResponse {
                            status: 200,
                            ..HttpResponse::default()
                        },
                        data_bytes: n,
                        total_bytes: n,
                        file,
                        data,
                        cache_entry: Some(*size),
                        player_failed: None,
                        alignment: None,
                    })
                }))
            }
            _ => unreachable!("not a cache job"),
        }
    }

    fn line(&mut self, line: &[u8]) {
        let mut bytes = line.to_vec();
        bytes.push(b'\n');
        self.input(Input::Stdin(bytes));
    }

    fn input(&mut self, input: Input) {
        if matches!(input, Input::StdinClosed) && self.server.is_finished() {
            return;
        }
        self.server.handle_input(self.now, input);
        self.drain();
    }

    fn wait(&mut self, by: Duration) {
        self.now += by;
        if self.server.poll_timeout().is_some_and(|at| at <= self.now) {
            self.server.handle_timeout(self.now);
        }
        self.drain();
    }

    fn running_id(&self, k: u64) -> Option<JobId> {
        let n = self.running.len() as u64;
        (n > 0).then(|| self.running[(k % n) as usize].0)
    }

    fn finish_job(&mut self, k: u64, result: impl FnOnce(&Job) -> JobResult) {
        let Some(id) = self.running_id(k) else {
            return;
        };
        let at = self
            .running
            .iter()
            .position(|(j, _)| *j == id)
            .expect("running");
        let (id, job) = self.running.remove(at);
        let result = result(&job);
        if let (
            Job::Speech {
                cache: Some((key, _)),
                ..
            },
            JobResult::Speech(Ok(SpeechDone {
                cache_entry: Some(size),
                ..
            })),
        ) = (&job, &result)
        {
            self.cache.insert(*key, *size);
        }
        self.input(Input::JobDone { id, result });
    }

    fn drain(&mut self) {
        self.drain_outputs();
        while let Some((id, job)) = self.cache_jobs.pop() {
            let result = self.cache_result(&job);
            self.server
                .handle_input(self.now, Input::JobDone { id, result });
            self.drain_outputs();
        }
    }

    fn drain_outputs(&mut self) {
        while let Some(output) = self.server.poll_output() {
            match output {
                Output::Stdout(bytes) => {
                    assert!(bytes.ends_with(b"\n"), "a stdout write ends mid-line");
                    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                        if let Err(e) = serde_json::from_slice::<serde_json::Value>(line) {
                            panic!(
                                "invalid JSON on stdout ({e}): {}",
                                String::from_utf8_lossy(line)
                            );
                        }
                    }
                    self.stdout.extend(bytes);
                }
                Output::Start { id, job } => {
                    assert!(self.seen.insert(id), "job id {id:?} reused");
                    match job {
                        Job::CacheScan | Job::CacheRead { .. } | Job::CacheEvict { .. } => {
                            self.cache_jobs.push((id, job));
                        }
                        job => self.running.push((id, job)),
                    }
                }
                Output::Cancel(id) => {
                    // The shell reports a cancelled job like any other: as failed.
                    if let Some(at) = self.running.iter().position(|(j, _)| *j == id) {
                        let (id, job) = self.running.remove(at);
                        let result = fail(&job, 6);
                        self.server
                            .handle_input(self.now, Input::JobDone { id, result });
                    } else {
                        assert!(self.seen.contains(&id), "cancel of unknown job {id:?}");
                    }
                }
                Output::Log { message, .. } => {
                    self.stdout.extend(message.as_bytes());
                    self.stdout.push(b'\n');
                }
                // The stdio server never writes to HTTP connections.
                #[allow(unreachable_patterns)]
                _ => panic!("an HTTP reply from the stdio server"),
            }
        }
    }

    /// Fails every job, closes stdin and lets time run on; the server must finish.
    fn finish(mut self, check_secret: bool) {
        self.input(Input::StdinClosed);
        for step in 0..WIND_DOWN_STEPS {
            if self.server.is_finished() {
                break;
            }
            if !self.running.is_empty() {
                self.finish_job(0, |job| fail(job, step as u64));
            } else if let Some(at) = self.server.poll_timeout() {
                self.now = self.now.max(at);
                self.server.handle_timeout(self.now);
                self.drain();
            } else {
                panic!(
                    "stuck: {} requests in flight, no job running and no timer",
                    self.server.in_flight()
                );
            }
        }
        assert!(self.server.is_finished(), "the server did not finish");
        if check_secret {
            let all = String::from_utf8_lossy(&self.stdout);
            assert!(!all.contains(SECRET), "the key leaked");
        }
    }
}

/// Parses requests as the shell does (httparse, the guard) and hands them to the HTTP server;
/// every reply must be well-formed HTTP in order (a stream opened before its events, ended
/// once), JSON bodies must parse, the API key and the bearer token never appear, and after a
/// stop everything must finish.
#[cfg(feature = "http-server")]
pub fn http(data: &[u8]) {
    use mcp_elevenlabs::core::http::{ConnId, HttpIn, HttpServer, Limits, Policy, Reply};
    use mcp_elevenlabs::shell::http_server::parse::{Framing, parse_head};
    const TOKEN: &str = "fuzz-bearer-token-0123";
    let settings = Settings {
        api_key: Some(ApiKey::new(SECRET)),
        cache_enabled: false,
        usage_enabled: false,
        ..Settings::default()
    };
    let limits = Limits {
        max_sessions: 3,
        session_idle: Duration::from_secs(5),
        max_in_flight: 3,
        secret: [7; 32],
    };
    let mut now = Instant::now();
    let mut server = HttpServer::new(
        Config::default().settings(settings, Vec::new()),
        limits,
        now,
    );
    // With a leading `T` every request needs the token.
    let policy = Policy {
        token: data
            .first()
            .is_some_and(|&b| b == b'T')
            .then(|| TOKEN.to_string()),
        loopback: true,
        allowed_hosts: vec!["voice.lan".to_string()],
        allowed_origins: vec!["https://app.example".to_string()],
    };
    let check_secret = !data.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes());
    // What a request echoes back (a header's value in an error) may be the key it carried.
    let check_key = !data.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
    let mut running: Vec<(JobId, Job)> = Vec::new();
    let mut open: HashSet<ConnId> = HashSet::new();
    // Connections whose request has not been answered yet (the shell sends no other on them).
    let mut busy: HashSet<ConnId> = HashSet::new();
    let mut conn = ConnId(1);
    let mut buf = data.get(1..).unwrap_or_default().to_vec();
    let drain = |server: &mut HttpServer,
                 running: &mut Vec<(JobId, Job)>,
                 open: &mut HashSet<ConnId>,
                 busy: &mut HashSet<ConnId>| {
        while let Some(output) = server.poll_output() {
            match output {
                Output::Start { id, job } => running.push((id, job)),
                Output::Cancel(id) => running.retain(|(j, _)| *j != id),
                Output::Log { message, .. } => assert!(!check_key || !message.contains(SECRET)),
                Output::Http(reply) => {
                    let c = reply.conn();
                    match reply {
                        Reply::Whole { response, .. } => {
                            assert!(!open.contains(&c), "a whole response inside a stream");
                            busy.remove(&c);
                            assert!((200..600).contains(&response.status));
                            let text = String::from_utf8_lossy(&response.body);
                            assert!(
                                !check_key || !text.contains(SECRET),
                                "the API key in a response"
                            );
                            assert!(
                                !check_secret || !text.contains(TOKEN),
                                "the token in a response"
                            );
                            let json = response
                                .headers
                                .iter()
                                .any(|(n, v)| *n == "Content-Type" && v == "application/json");
                            if json && !response.body.is_empty() {
                                serde_json::from_slice::<serde_json::Value>(&response.body)
                                    .expect("a JSON body");
                            }
                        }
                        Reply::Open { .. } => assert!(open.insert(c), "a stream opened twice"),
                        Reply::Event { data, .. } => {
                            assert!(open.contains(&c), "an event outside a stream");
                            let text = String::from_utf8_lossy(&data);
                            assert!(
                                data.ends_with(b"\n\n") && (!check_key || !text.contains(SECRET))
                            );
                        }
                        Reply::End { .. } => {
                            assert!(open.remove(&c), "a stream ended twice");
                            busy.remove(&c);
                        }
                    }
                }
                _ => {}
            }
        }
    };
    for _ in 0..64 {
        if buf.is_empty() {
            break;
        }
        if let Some(rest) = buf.strip_prefix(b"#!") {
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let text = String::from_utf8_lossy(&rest[..end]).into_owned();
            buf.drain(..(2 + end + 1).min(buf.len()));
            let (verb, arg) = text.split_once(' ').unwrap_or((text.as_str(), ""));
            let input = match verb {
                "gone" => {
                    // Its stream, if any, goes with it (nothing more is written to it).
                    open.remove(&conn);
                    busy.remove(&conn);
                    Some(Input::Http(HttpIn::Gone(conn)))
                }
                "stop" => Some(Input::Http(HttpIn::Stop)),
                "ok" | "fail" if !running.is_empty() => {
                    let (id, job) = running.remove(0);
                    let result = if verb == "ok" {
                        ok(&job, 200, arg.as_bytes().to_vec())
                    } else {
                        fail(&job, number(arg))
                    };
                    Some(Input::JobDone { id, result })
                }
                "wait" => {
                    now += Duration::from_millis(number(arg).min(60_000));
                    server.handle_timeout(now);
                    None
                }
                _ => None,
            };
            if let Some(input) = input {
                server.handle_input(now, input);
            }
            drain(&mut server, &mut running, &mut open, &mut busy);
            continue;
        }
        let parsed = match parse_head(&buf, 64 * 1024) {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(r) => {
                assert!(r.status >= 400);
                break;
            }
        };
        buf.drain(..parsed.len);
        let body = match parsed.framing {
            Framing::Length(n) => buf.drain(..n.min(buf.len())).collect(),
            Framing::Chunked => std::mem::take(&mut buf),
        };
        // A connection with a request in flight or a stream open sends no other: take the next.
        if open.contains(&conn) || busy.contains(&conn) || parsed.head.path.ends_with("/new") {
            conn = ConnId(conn.0 + 1);
        }
        if let Err(r) = policy.check(&parsed.head) {
            assert!(matches!(r.status, 400 | 401 | 403));
            continue;
        }
        let head = Box::new(parsed.head);
        busy.insert(conn);
        server.handle_input(now, Input::Http(HttpIn::Request { conn, head, body }));
        drain(&mut server, &mut running, &mut open, &mut busy);
    }
    // Stop: what runs finishes (or is cancelled after the grace), streams end.
    server.handle_input(now, Input::Http(HttpIn::Stop));
    drain(&mut server, &mut running, &mut open, &mut busy);
    for _ in 0..WIND_DOWN_STEPS {
        if server.is_finished() {
            break;
        }
        if let Some((id, job)) = running.pop() {
            let result = fail(&job, 0);
            server.handle_input(now, Input::JobDone { id, result });
        } else {
            now += Duration::from_secs(1);
            server.handle_timeout(now);
        }
        drain(&mut server, &mut running, &mut open, &mut busy);
    }
    assert!(
        server.is_finished(),
        "the HTTP server did not finish after a stop"
    );
    assert!(open.is_empty(), "streams left open after a stop: {open:?}");
}
