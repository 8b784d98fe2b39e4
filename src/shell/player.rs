//! Playing audio: a player process fed as the audio arrives (or, for players that only read
//! files, from a temp file once it is whole), stopped at once on cancel. With `or_file` (the
//! `auto` delivery) the audio also goes to a temp file in the output directory, saved under its
//! final name only if the player fails, so a host without sound still gets the audio, billed once.

use super::files::AudioWriter;
use super::lock;
use crate::core::audio::Format;
use crate::core::player::{self, Player, PlayerInput, PlayerKind};
use crate::core::{FileName, SpeechFailed};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The running player of a job, where the runner can kill it the moment the job is cancelled.
pub type PlayerSlot = Arc<Mutex<Option<Child>>>;

/// A player still running this long after it started counts as playing; one that exits sooner
/// has failed (no audio device, a format it cannot read; mpv and ffplay open the device only
/// once they have audio). The audio is never held back: only the answer "playing" waits.
const STARTUP: Duration = Duration::from_millis(200);
/// How long a player may go on after the audio's own length before it is stopped.
const OVERRUN: Duration = Duration::from_secs(30);
/// Bytes of the player's stderr kept for the error message.
const STDERR_KEPT: u64 = 400;

/// What a player job asked for.
pub struct Plan<'a> {
    /// The program and its arguments.
    pub argv: &'a [String],
    /// Stdin, or a temp file.
    pub input: &'a PlayerInput,
    /// Raw samples of this format: a temp file gets a WAV header.
    pub wav: Option<Format>,
    /// Save the audio here if the player fails.
    pub or_file: Option<&'a FileName>,
    /// Where the speaker lock shared with the other server processes is.
    pub lock_dir: &'a Path,
    /// The job's cancel flag (a wait for the lock ends on it).
    pub cancel: &'a AtomicBool,
}

/// One playback in progress.
pub struct Playback<'a> {
    plan: Plan<'a>,
    /// The speaker lock, held while this plays.
    _lock: Option<lock::Held>,
    slot: &'a PlayerSlot,
    stdin: Option<ChildStdin>,
    started: Instant,
    /// The copy kept for `or_file`, or the whole audio for a player that reads files.
    copy: Option<AudioWriter>,
    /// For `PlayerInput::File`: the audio, written to a temp file when it is whole.
    whole: Vec<u8>,
    /// Why the player failed, once it did.
    failed: Option<String>,
    data: u64,
    playing: bool,
}

/// How a playback ended: the file the audio was saved to when the player failed (with why).
pub struct Ended {
    /// The saved file and its size.
    pub file: Option<(String, u64)>,
    /// Why the player failed.
    pub failed: Option<String>,
}

impl<'a> Playback<'a> {
    /// Starts the player (at once for stdin players, so that one without a device has failed
    /// by the time the first audio arrives); `dir` and `tag` name the `or_file` copy.
    /// The speaker lock is taken first: while another server process plays, this waits (and
    /// nothing is requested from ElevenLabs meanwhile).
    pub fn start(plan: Plan<'a>, slot: &'a PlayerSlot, dir: &Path, tag: u64) -> io::Result<Self> {
        let held = lock::SpeakerLock::new(plan.lock_dir.to_path_buf()).acquire(plan.cancel)?;
        let Some(held) = held else {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        };
        let copy = match plan.or_file {
            Some(_) => Some(AudioWriter::create(dir, tag, plan.wav)?),
            None => None,
        };
        let mut p = Self {
            plan,
            _lock: Some(held),
            slot,
            stdin: None,
            started: Instant::now(),
            copy,
            whole: Vec::new(),
            failed: None,
            data: 0,
            playing: false,
        };
        if *p.plan.input == PlayerInput::Stdin {
            match spawn(p.plan.argv, None) {
                Ok(mut child) => {
                    p.stdin = child.stdin.take();
                    *lock(p.slot) = Some(child);
                    // A cancel that came before the child was in its slot killed nothing.
                    if p.plan.cancel.load(Ordering::Relaxed) {
                        kill(p.slot);
                        return Err(io::Error::other("cancelled"));
                    }
                }
                Err(e) => p.fail(e),
            }
        }
        Ok(p)
    }

    /// Audio bytes so far.
    pub fn data_bytes(&self) -> u64 {
        self.data
    }

    /// The player failed and nothing can take the audio: the stream should stop.
    pub fn is_dead(&self) -> bool {
        self.failed.is_some() && self.copy.is_none()
    }

    /// Feeds audio; returns true the first time the player has audio (playback started).
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<bool> {
        if self.plan.cancel.load(Ordering::Relaxed) {
            return Err(io::Error::other("cancelled"));
        }
        self.data += chunk.len() as u64;
        if let Some(copy) = &mut self.copy {
            copy.write(chunk)?;
        }
        if let PlayerInput::File { .. } = self.plan.input {
            self.whole.extend_from_slice(chunk);
            return Ok(false);
        }
        if self.failed.is_some() {
            return Ok(false);
        }
        // The audio goes in at once; only the news that it plays waits for the player to have
        // survived its start (one without a device fails within `STARTUP`).
        if let Some(Err(e)) = self.stdin.as_mut().map(|s| s.write_all(chunk)) {
            let why = self
                .exited()
                .unwrap_or_else(|| format!("it stopped reading ({e})"));
            self.fail(why);
            return Ok(false);
        }
        Ok(self.started.elapsed() >= STARTUP && self.announce())
    }

    /// Whether the player now counts as playing: true once, when it is still running.
    fn announce(&mut self) -> bool {
        if self.playing || self.failed.is_some() {
            return false;
        }
        if let Some(why) = self.exited() {
            self.fail(why);
            return false;
        }
        self.playing = true;
        true
    }

    /// The stream is whole: lets the player finish (stopped on `cancel` or when it overruns
    /// the audio's length), then keeps the copy if the player failed. `duration` is the audio's
    /// length, when known.
    pub fn finish(
        mut self,
        cancel: &AtomicBool,
        duration: Option<Duration>,
        on_start: impl FnOnce(),
    ) -> Result<Ended, SpeechFailed> {
        let mut temp = None;
        let started = match (self.plan.input, &self.failed) {
            (PlayerInput::File { ext }, None) => match self.play_file(ext) {
                Ok(path) => {
                    temp = Some(path);
                    true
                }
                Err(why) => {
                    self.fail(why);
                    false
                }
            },
            (PlayerInput::Stdin, None) if !self.playing => {
                // All the audio came before the player was past its start (a cache hit, a
                // short clip): it plays if it is still running then.
                std::thread::sleep(STARTUP.saturating_sub(self.started.elapsed()));
                self.announce()
            }
            _ => false,
        };
        if started {
            on_start();
        }
        drop(self.stdin.take());
        if self.failed.is_none() {
            let limit = duration.unwrap_or(Duration::ZERO) + OVERRUN;
            if let Err(why) = wait(self.slot, cancel, limit) {
                self.fail(why);
            }
        }
        if let Some(path) = temp {
            let _ = std::fs::remove_file(path);
        }
        if cancel.load(Ordering::Relaxed) {
            // Stopped on purpose: nothing is saved (the copy is removed when dropped).
            return Err(SpeechFailed::Player("stopped".into()));
        }
        let Some(why) = self.failed.take() else {
            return Ok(Ended {
                file: None,
                failed: None,
            });
        };
        match (self.copy.take(), self.plan.or_file) {
            (Some(copy), Some(name)) => {
                let file = copy
                    .finish(name)
                    .map_err(|e| SpeechFailed::Sink(e.to_string()))?;
                Ok(Ended {
                    file: Some(file),
                    failed: Some(why),
                })
            }
            _ => Err(SpeechFailed::Player(why)),
        }
    }

    /// Writes the whole audio to a temp file and starts the player on it.
    fn play_file(&mut self, ext: &str) -> Result<PathBuf, String> {
        let path = std::env::temp_dir().join(format!(
            "mcp-elevenlabs-play-{}-{}.{ext}",
            std::process::id(),
            self.started.elapsed().as_nanos()
        ));
        let mut bytes = Vec::with_capacity(self.whole.len() + 44);
        if let Some(f) = self.plan.wav {
            bytes.extend_from_slice(&f.wav_header(u32::try_from(self.whole.len()).unwrap_or(0)));
        }
        bytes.extend_from_slice(&self.whole);
        std::fs::write(&path, bytes)
            .map_err(|e| format!("could not write the temp file the player reads: {e}"))?;
        match spawn(self.plan.argv, Some(&path)) {
            Ok(child) => {
                *lock(self.slot) = Some(child);
                Ok(path)
            }
            Err(why) => {
                let _ = std::fs::remove_file(&path);
                Err(why)
            }
        }
    }

    /// The player's exit, if it has exited: why that is a failure.
    fn exited(&self) -> Option<String> {
        let (status, stderr) = {
            let mut slot = lock(self.slot);
            let child = slot.as_mut()?;
            let status = child.try_wait().ok()??;
            (status, child.stderr.take())
        };
        Some(describe_exit(stderr, status))
    }

    fn fail(&mut self, why: String) {
        if self.failed.is_none() {
            self.failed = Some(why);
        }
        self.stdin = None;
        kill(self.slot);
    }
}

impl Drop for Playback<'_> {
    fn drop(&mut self) {
        // Unfinished (error or cancel): the player stops, the copy is removed by its own drop.
        kill(self.slot);
    }
}

fn lock(slot: &PlayerSlot) -> std::sync::MutexGuard<'_, Option<Child>> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Kills and reaps the player in `slot`, if any.
pub fn kill(slot: &PlayerSlot) {
    if let Some(mut child) = lock(slot).take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Starts `argv` (with `file` as its last argument when given): stdin piped for stdin players.
fn spawn(argv: &[String], file: Option<&Path>) -> Result<Child, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("`player` is empty".into());
    };
    let mut args = args.to_vec();
    if let Some(f) = file {
        // `{file}` in an argument (PowerShell's script) stands for the path, single-quoted;
        // else the path is the last argument.
        let path = f.display().to_string();
        let quoted = format!("'{}'", path.replace('\'', "''"));
        if args.iter().any(|a| a.contains("{file}")) {
            args = args.iter().map(|a| a.replace("{file}", &quoted)).collect();
        } else {
            args.push(path);
        }
    }
    let stdin = if file.is_some() {
        Stdio::null()
    } else {
        Stdio::piped()
    };
    Command::new(program)
        .args(&args)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => format!("`{program}` was not found"),
            _ => format!("`{program}` could not start: {e}"),
        })
}

/// Waits for the player in `slot` to exit: stopped on `cancel`, or after `limit`.
fn wait(slot: &PlayerSlot, cancel: &AtomicBool, limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        {
            let mut guard = lock(slot);
            let Some(child) = guard.as_mut() else {
                return Ok(()); // killed by a cancel
            };
            match child.try_wait() {
                Ok(Some(status)) if status.success() => {
                    guard.take();
                    return Ok(());
                }
                Ok(Some(status)) => {
                    let stderr = child.stderr.take();
                    guard.take();
                    drop(guard);
                    return Err(describe_exit(stderr, status));
                }
                Ok(None) => {}
                Err(e) => return Err(format!("could not wait for the player: {e}")),
            }
        }
        if cancel.load(Ordering::Relaxed) {
            kill(slot);
            return Ok(());
        }
        if start.elapsed() > limit {
            kill(slot);
            return Err(format!(
                "it was still running {} s after the audio should have ended",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An exit status and the start of the player's stderr.
fn describe_exit(
    stderr: Option<std::process::ChildStderr>,
    status: std::process::ExitStatus,
) -> String {
    let mut err = String::new();
    if let Some(stderr) = stderr {
        let _ = stderr.take(STDERR_KEPT).read_to_string(&mut err);
    }
    let err = err.trim();
    let code = status
        .code()
        .map_or_else(|| "a signal".to_string(), |c| format!("status {c}"));
    if err.is_empty() {
        format!("the player exited with {code}")
    } else {
        format!("the player exited with {code}: {err}")
    }
}

/// The player to use: `player` from the config (a known program is driven as that program, after
/// the arguments given, e.g. `[aplay, -D, null]`; anything else gets the audio on stdin as
/// configured), else the first program of `player::SEARCH` found on `PATH`. `None`: nothing to
/// play with.
pub fn find(configured: &[String], path: Option<std::ffi::OsString>) -> Option<Player> {
    let known = |name: &str| {
        let base = Path::new(name)
            .file_stem()
            .map(|s| s.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        player::SEARCH
            .iter()
            .find(|(n, _)| *n == base)
            .map(|(_, k)| *k)
    };
    if let Some(first) = configured.first() {
        let kind = known(first).unwrap_or(PlayerKind::Custom);
        return Some(Player {
            kind,
            argv: configured.to_vec(),
        });
    }
    let dirs: Vec<PathBuf> = std::env::split_paths(&path?).collect();
    let exts: &[&str] = if cfg!(windows) { &[".exe", ""] } else { &[""] };
    for (name, kind) in player::SEARCH {
        for dir in &dirs {
            for ext in exts {
                let candidate = dir.join(format!("{name}{ext}"));
                if is_program(&candidate) {
                    return Some(Player {
                        kind: *kind,
                        argv: vec![candidate.display().to_string()],
                    });
                }
            }
        }
    }
    None
}

/// A file that can be run.
fn is_program(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}
