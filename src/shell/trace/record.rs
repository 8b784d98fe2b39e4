//! Writes a trace while the server runs: the first line, then one line per input and one per
//! output, buffered and flushed after every drained step. A write error is logged once and ends
//! the trace; the server carries on as if it had never been asked for one.

use super::codec::{self, bytes_value};
use super::config;
use super::scrub::{AudioTable, Redactor};
use crate::core::{self, Input, Output};
use crate::shell::log::Logger;
use serde_json::{Value, json};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The trace format written here (the first line's `"trace"`).
pub const FORMAT: u64 = 1;

/// Records one session.
#[derive(Debug)]
pub struct Recorder {
    out: Option<BufWriter<File>>,
    path: PathBuf,
    log: Logger,
    start: Instant,
    redactor: Redactor,
    audio: AudioTable,
    /// The number of the last input written (outputs before any input belong to 0).
    n: u64,
    /// Whether every output of the last input has been polled.
    drained: bool,
    /// The end of the last stdin chunk, held back because it may be the start of the key that
    /// the next chunk completes (written with that chunk, or masked at EOF).
    held: Vec<u8>,
}

impl Recorder {
    /// Creates `path` (mode 0600: a trace holds what was spoken) and writes the first line.
    /// `start` is the instant the core is created with. `None`, with a warning, if that fails.
    pub fn create(
        path: &Path,
        config: &core::Config,
        start: Instant,
        log: &Logger,
    ) -> Option<Self> {
        let file = match open(path) {
            Ok(f) => f,
            Err(e) => {
                log.warn(&format!(
                    "cannot write the trace {}: {e}; serving without one",
                    path.display()
                ));
                return None;
            }
        };
        let key = config.settings.api_key.as_ref().map(|k| k.expose());
        let mut rec = Self {
            out: Some(BufWriter::with_capacity(64 * 1024, file)),
            path: path.to_path_buf(),
            log: log.clone(),
            start,
            redactor: Redactor::new(key),
            audio: AudioTable::default(),
            n: 0,
            drained: true,
            held: Vec::new(),
        };
        // Members in reading order (a `Value` would sort them).
        rec.line(format!(
            "{{\"trace\":{FORMAT},\"version\":{},\"config\":{}}}",
            json!(core::VERSION),
            config::encode_config(config)
        ));
        rec.flush();
        Some(rec)
    }

    /// Records an input about to be handed to the core at `now`.
    pub fn input(&mut self, now: Instant, input: &Input) {
        let value = match input {
            Input::Stdin(bytes) => {
                let mut data = std::mem::take(&mut self.held);
                data.extend_from_slice(bytes);
                self.redactor.bytes(&mut data);
                let keep = data.len() - self.redactor.partial_tail(&data);
                self.held = data.split_off(keep);
                json!({ "stdin": bytes_value(&data, &self.redactor) })
            }
            Input::StdinClosed if !self.held.is_empty() => {
                // A key prefix the stream never completed: the core sees it as the last partial
                // line; the trace shows it masked.
                let masked = self.redactor.mask_prefix(self.held.len());
                self.held.clear();
                self.step(
                    now,
                    json!({ "stdin": bytes_value(&masked, &self.redactor) }),
                );
                codec::encode_input(input, &self.redactor)
            }
            _ => codec::encode_input(input, &self.redactor),
        };
        self.step(now, value);
        if let Some(audio) = codec::input_audio(input) {
            self.audio.add(self.n, audio);
        }
    }

    /// Records a timer firing at `now`.
    pub fn timeout(&mut self, now: Instant) {
        self.step(now, "timeout".into());
    }

    fn step(&mut self, now: Instant, input: Value) {
        self.n += 1;
        self.drained = false;
        let t =
            u64::try_from(now.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX);
        self.line(format!(
            "{{\"n\":{},\"t_ns\":{t},\"input\":{input}}}",
            self.n
        ));
    }

    /// Records an output just polled from the core.
    pub fn output(&mut self, output: &Output) {
        let (n, audio) = (self.n, &mut self.audio);
        let values = codec::encode_output(output, &self.redactor, &mut |mut v| {
            audio.scrub(n, &mut v);
            v
        });
        for v in values {
            self.line(format!("{{\"n\":{n},\"output\":{v}}}"));
        }
    }

    /// The core has nothing more to say about the last input: flush, so a crash loses nothing.
    pub fn drained(&mut self) {
        if !self.drained {
            self.drained = true;
            self.flush();
        }
    }

    /// Writes the last line and flushes. `drained`: the last input's outputs were all polled (the
    /// shell stops polling when stdout closes).
    pub fn finish(mut self) {
        let drained = self.drained;
        self.line(format!(
            "{{\"end\":{{\"inputs\":{},\"drained\":{drained}}}}}",
            self.n
        ));
        self.flush();
    }

    fn line(&mut self, text: String) {
        let Some(out) = self.out.as_mut() else { return };
        let mut text = text.into_bytes();
        // The codec masks the key field by field; this catches it anywhere else.
        self.redactor.bytes(&mut text);
        text.push(b'\n');
        if let Err(e) = out.write_all(&text) {
            self.fail(&e);
        }
    }

    fn flush(&mut self) {
        if let Some(Err(e)) = self.out.as_mut().map(Write::flush) {
            self.fail(&e);
        }
    }

    fn fail(&mut self, e: &io::Error) {
        self.out = None;
        self.log.warn(&format!(
            "stopped writing the trace {}: {e}; the server carries on",
            self.path.display()
        ));
    }
}

fn open(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}
