//! The offline fallback voice: a local program (`fallback.command`, e.g. `espeak-ng --stdout`)
//! that reads the text on stdin and writes a WAV on stdout. Run directly, never through a shell;
//! the text never appears in its arguments. Stopped when the call is cancelled or after its
//! timeout. Its WAV goes into a new file (never replacing one) or into memory.

use super::files::AudioWriter;
use crate::core::elevenlabs::HttpResponse;
use crate::core::{Sink, SpeechDone, SpeechFailed};
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Bytes of the program's stderr kept for the error message.
const STDERR_KEPT: usize = 400;

/// Runs the fallback voice for `text` into `sink`; `tag` names its temp file (the job id).
#[allow(clippy::too_many_arguments)]
pub(super) fn speak(
    argv: &[String],
    text: &str,
    sink: Sink,
    max_bytes: u64,
    timeout: Duration,
    dir: &Path,
    tag: u64,
    cancel: &AtomicBool,
) -> Result<SpeechDone, SpeechFailed> {
    let failed = SpeechFailed::Command;
    let Some((program, args)) = argv.split_first() else {
        return Err(failed("`fallback.command` is empty".into()));
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            failed(match e.kind() {
                io::ErrorKind::NotFound => format!(
                    "`{program}` was not found: install it (e.g. `apt install espeak-ng`) or fix `fallback.command`"
                ),
                _ => format!("`{program}` could not start: {e}"),
            })
        })?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let child = Mutex::new(child);
    let done = AtomicBool::new(false);
    let mut said = Vec::new();
    let (result, timed_out) = thread::scope(|s| {
        // The text goes in from its own thread, so a program that writes before it has read
        // everything cannot deadlock with us.
        s.spawn(move || {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(text.as_bytes());
            }
        });
        let said = &mut said;
        s.spawn(move || {
            if let Some(mut stderr) = stderr {
                let mut buf = [0u8; 1024];
                while let Ok(n @ 1..) = stderr.read(&mut buf) {
                    let room = STDERR_KEPT.saturating_sub(said.len());
                    said.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        });
        let watchdog = s.spawn(|| watch(&child, &done, cancel, timeout));
        let result = read_wav(stdout, sink, max_bytes, dir, tag, program);
        done.store(true, Ordering::Relaxed);
        (result, watchdog.join().unwrap_or(false))
    });
    let status = child.into_inner().unwrap_or_else(|e| e.into_inner()).wait();
    if cancel.load(Ordering::Relaxed) {
        return Err(failed("cancelled".into()));
    }
    if timed_out {
        let ms = timeout.as_millis();
        return Err(failed(format!("`{program}` did not finish within {ms} ms")));
    }
    let status = status.map_err(|e| failed(format!("`{program}` could not be waited for: {e}")))?;
    if !status.success() {
        let said = String::from_utf8_lossy(&said);
        let said = said.trim();
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        return Err(failed(format!("`{program}` failed ({status}){said}")));
    }
    result
}

/// Kills the program when the call is cancelled or the timeout passes; `true` on a timeout.
fn watch(child: &Mutex<Child>, done: &AtomicBool, cancel: &AtomicBool, timeout: Duration) -> bool {
    let started = Instant::now();
    while !done.load(Ordering::Relaxed) {
        let late = started.elapsed() >= timeout;
        if late || cancel.load(Ordering::Relaxed) {
            let _ = child.lock().unwrap_or_else(|e| e.into_inner()).kill();
            return late;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Reads the program's WAV into the sink; it must start like one (`RIFF`).
fn read_wav(
    stdout: Option<ChildStdout>,
    sink: Sink,
    max_bytes: u64,
    dir: &Path,
    tag: u64,
    program: &str,
) -> Result<SpeechDone, SpeechFailed> {
    let Some(mut stdout) = stdout else {
        return Err(SpeechFailed::Command(format!("`{program}` has no stdout")));
    };
    let sink_failed = |e: io::Error| SpeechFailed::Sink(e.to_string());
    let mut head: Vec<u8> = Vec::with_capacity(4);
    let mut buf = vec![0u8; 16 * 1024];
    let mut total: u64 = 0;
    let (limit, mut writer, mut data) = match &sink {
        Sink::File { .. } => (
            max_bytes,
            Some(AudioWriter::create(dir, tag, None).map_err(sink_failed)?),
            None,
        ),
        Sink::Memory { max_bytes: inline } => ((*inline).min(max_bytes), None, Some(Vec::new())),
        // `speak` saves the fallback voice's WAV (or returns it inline); it never plays it.
        Sink::Player(_) => {
            return Err(SpeechFailed::Command(
                "the fallback voice is not played".into(),
            ));
        }
    };
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(SpeechFailed::Command(format!(
                    "reading `{program}`'s output: {e}"
                )));
            }
        };
        total += n as u64;
        if total > limit {
            return Err(match sink {
                Sink::Memory { max_bytes } => SpeechFailed::InlineTooLarge { limit: max_bytes },
                Sink::File { .. } | Sink::Player(_) => {
                    SpeechFailed::Command(format!("`{program}` wrote more than {limit} bytes"))
                }
            });
        }
        if head.len() < 4 {
            let want = 4 - head.len();
            head.extend(buf[..n].iter().take(want));
        }
        match (&mut writer, &mut data) {
            (Some(w), _) => w.write(&buf[..n]).map_err(sink_failed)?,
            (_, Some(d)) => d.extend_from_slice(&buf[..n]),
            _ => {}
        }
    }
    if head != b"RIFF" {
        return Err(SpeechFailed::Command(format!(
            "`{program}` did not write a WAV file on stdout (it must start with RIFF; espeak-ng needs `--stdout`)"
        )));
    }
    let head_ok = HttpResponse {
        status: 200,
        ..HttpResponse::default()
    };
    let (file, total_bytes) = match (writer, &sink) {
        (Some(w), Sink::File { name, .. }) => {
            let (file, size) = w.finish(name).map_err(sink_failed)?;
            (Some(file), size)
        }
        _ => (None, total),
    };
    Ok(SpeechDone {
        first_byte_us: None,
        head: head_ok,
        data_bytes: total,
        total_bytes,
        file,
        data,
        cache_entry: None,
        player_failed: None,
        alignment: None,
    })
}
