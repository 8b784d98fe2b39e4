//! Audio into its sink: streamed from ElevenLabs (and copied into the cache as it arrives), or
//! served from a cache entry; with progress reports for the core.

use super::cache;
use super::files;
use super::http_client::{Client, StreamError};
use crate::core::{self, Input, Sink};
use std::io;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::SyncSender;
use std::time::Instant;

/// Reports a stream's bytes to the core, at most every 250 ms (for `notifications/progress`).
pub(super) struct Progress<'a> {
    pub(super) id: core::JobId,
    tx: &'a SyncSender<Input>,
    bytes: u64,
    last: Instant,
}

impl<'a> Progress<'a> {
    pub(super) fn new(id: core::JobId, tx: &'a SyncSender<Input>) -> Self {
        Self {
            id,
            tx,
            bytes: 0,
            last: Instant::now(),
        }
    }

    fn add(&mut self, n: usize) {
        self.bytes += n as u64;
        if self.last.elapsed() >= std::time::Duration::from_millis(250) {
            self.last = Instant::now();
            let _ = self.tx.send(Input::Progress {
                id: self.id,
                bytes: self.bytes,
            });
        }
    }
}

/// A request whose audio streams in, and the cache entry it is copied into.
pub(super) struct Stream<'a> {
    pub(super) client: &'a Client,
    pub(super) request: &'a core::elevenlabs::HttpRequest,
    pub(super) max_bytes: u64,
    pub(super) cancel: &'a AtomicBool,
    pub(super) tee: Option<cache::EntryWriter>,
}

/// Streams synthesized audio into a new file or into memory (and into the cache, when asked:
/// the entry is kept only if the whole stream arrived and was saved).
pub(super) fn speech(
    stream: Stream<'_>,
    sink: Sink,
    dir: &Path,
    mut progress: Progress<'_>,
) -> Result<core::SpeechDone, core::SpeechFailed> {
    use core::SpeechFailed;
    let failed = |e: StreamError, bytes: u64| match e {
        StreamError::Transport(error) => SpeechFailed::Transport { error, bytes },
        StreamError::Status(resp) => SpeechFailed::Status(resp),
        StreamError::Sink(io) => SpeechFailed::Sink(io.to_string()),
    };
    let Stream {
        client,
        request,
        max_bytes,
        cancel,
        mut tee,
    } = stream;
    let micros = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    match sink {
        Sink::Memory { max_bytes: limit } => {
            let mut data = Vec::new();
            let mut over = false;
            let result = client.stream(request, max_bytes, cancel, |chunk| {
                if data.len() as u64 + chunk.len() as u64 > limit {
                    over = true;
                    return Err(io::Error::other("inline limit"));
                }
                data.extend_from_slice(chunk);
                if let Some(t) = &mut tee {
                    t.write(chunk);
                }
                progress.add(chunk.len());
                Ok(())
            });
            let n = data.len() as u64;
            if over {
                return Err(SpeechFailed::InlineTooLarge { limit });
            }
            let (head, _, first) = result.map_err(|e| failed(e, n))?;
            Ok(core::SpeechDone {
                first_byte_us: first.map(micros),
                head,
                data_bytes: n,
                total_bytes: n,
                file: None,
                data: Some(data),
                cache_entry: tee.and_then(cache::EntryWriter::finish),
            })
        }
        Sink::File { name, wav } => {
            let mut writer = files::AudioWriter::create(dir, progress.id.0, wav)
                .map_err(|e| SpeechFailed::Sink(e.to_string()))?;
            let result = client.stream(request, max_bytes, cancel, |chunk| {
                writer.write(chunk)?;
                if let Some(t) = &mut tee {
                    t.write(chunk);
                }
                progress.add(chunk.len());
                Ok(())
            });
            let bytes = writer.data_bytes();
            let (head, _, first) = result.map_err(|e| failed(e, bytes))?;
            let (file, total) = writer
                .finish(&name)
                .map_err(|e| SpeechFailed::Sink(e.to_string()))?;
            Ok(core::SpeechDone {
                first_byte_us: first.map(micros),
                head,
                data_bytes: bytes,
                total_bytes: total,
                file: Some(file),
                data: None,
                cache_entry: tee.and_then(cache::EntryWriter::finish),
            })
        }
    }
}

/// Serves a cache entry's audio into a sink, as its stream was first served.
pub(super) fn serve_cached(
    audio: Vec<u8>,
    entry: u64,
    sink: Sink,
    dir: &Path,
    tag: u64,
) -> Result<core::SpeechDone, core::SpeechFailed> {
    use core::SpeechFailed;
    let n = audio.len() as u64;
    let head = core::elevenlabs::HttpResponse {
        status: 200,
        ..Default::default()
    };
    let (file, total, data) = match sink {
        Sink::Memory { max_bytes: limit } if n > limit => {
            return Err(SpeechFailed::InlineTooLarge { limit });
        }
        Sink::Memory { .. } => (None, n, Some(audio)),
        Sink::File { name, wav } => {
            let sink_err = |e: io::Error| SpeechFailed::Sink(e.to_string());
            let mut writer = files::AudioWriter::create(dir, tag, wav).map_err(sink_err)?;
            writer.write(&audio).map_err(sink_err)?;
            let (file, total) = writer.finish(&name).map_err(sink_err)?;
            (Some(file), total, None)
        }
    };
    Ok(core::SpeechDone {
        first_byte_us: None,
        head,
        data_bytes: n,
        total_bytes: total,
        file,
        data,
        cache_entry: Some(entry),
    })
}
