//! Audio into its sink: streamed from ElevenLabs (and copied into the cache as it arrives), or
//! served from a cache entry; with progress reports for the core.

use super::cache;
use super::files;
use super::http_client::{Client, StreamError};
use super::ndjson;
use super::pieces;
use super::player::{self, PlayerSlot};
use super::websocket;
use crate::core::{self, Input, Sink};
use std::io;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

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

    /// The player has its first audio (of the request with this id).
    fn playing(&self, request_id: Option<&str>) {
        let _ = self.tx.send(Input::Playing {
            id: self.id,
            request_id: request_id.map(String::from),
        });
    }

    fn add(&mut self, n: usize) {
        self.bytes += n as u64;
        if self.last.elapsed() >= Duration::from_millis(250) {
            self.last = Instant::now();
            let _ = self.tx.send(Input::Progress {
                id: self.id,
                bytes: self.bytes,
            });
        }
    }
}

/// What takes a stream's audio: called with each chunk and the head of its response. One type
/// (not a generic) so that the ways of pouring are compiled once, whatever the sink.
pub(super) type Take<'a> =
    &'a mut dyn FnMut(&core::elevenlabs::HttpResponse, &[u8]) -> io::Result<()>;

/// What feeds a player: called with the function that takes each chunk (and the request's id).
type Feed<'a> = &'a mut dyn FnMut(Option<&str>, &[u8]) -> io::Result<()>;

/// A request whose audio streams in, and the cache entry it is copied into.
pub(super) struct Stream<'a> {
    pub(super) client: &'a Client,
    pub(super) request: &'a core::elevenlabs::HttpRequest,
    /// A long text's other pieces.
    pub(super) more: Option<&'a core::More>,
    /// Speak over the WebSocket instead.
    pub(super) websocket: Option<&'a core::stream_input::WsSpeech>,
    pub(super) max_bytes: u64,
    pub(super) cancel: &'a AtomicBool,
    pub(super) tee: Option<cache::EntryWriter>,
    /// The body is `/stream/with-timestamps` JSON lines: decode them.
    pub(super) timestamps: bool,
}

/// What a stream's body brought: its head, the body's bytes, the first chunk's sink time.
type Poured = (core::elevenlabs::HttpResponse, u64, Option<Duration>);

/// What a long text's pieces or a WebSocket synthesis brought: the head (for pieces, the first
/// one's, with their `character-cost` added up), the audio bytes, the first chunk's time from
/// arriving to being taken, and the character timings (joined across pieces or frames).
pub(super) type Timed = (
    core::elevenlabs::HttpResponse,
    u64,
    Option<Duration>,
    Option<core::Alignment>,
);

/// Pours a job's audio into `take`: its one request, or a long text's pieces in order (see
/// [`pieces`]); a timed request's character timings go to `timings`.
fn pour_all(
    s: &Stream<'_>,
    timings: &mut Option<core::Alignment>,
    take: Take<'_>,
) -> Result<Poured, StreamError> {
    if let Some(ws) = s.websocket {
        let (head, n, first, t) = websocket::pour(s.client, ws, (s.max_bytes, s.cancel), take)?;
        *timings = t.filter(|_| s.timestamps);
        return Ok((head, n, first));
    }
    let Some(more) = s.more else {
        let mut decoder = s.timestamps.then(ndjson::Decoder::default);
        let poured = pour_stream(
            s.client,
            s.request,
            (s.max_bytes, s.cancel),
            &mut decoder,
            take,
        );
        *timings = decoder.map(|d| d.alignment);
        return poured;
    };
    let (head, n, first, t) = pieces::pour(s, more, take)?;
    *timings = t;
    Ok((head, n, first))
}

/// Sends the request and hands each piece of audio to `take` as it arrives: the body itself, or
/// the audio decoded from its JSON lines when `decoder` is set (which keeps the timings).
pub(super) fn pour_stream(
    client: &Client,
    request: &core::elevenlabs::HttpRequest,
    (max_bytes, cancel): (u64, &AtomicBool),
    decoder: &mut Option<ndjson::Decoder>,
    mut take: impl FnMut(&core::elevenlabs::HttpResponse, &[u8]) -> io::Result<()>,
) -> Result<Poured, StreamError> {
    let Some(dec) = decoder else {
        return client.stream(request, max_bytes, cancel, take);
    };
    // Base64 and the timings make the body larger than the audio it carries.
    let max_body = max_bytes.saturating_mul(2);
    let (head, n, first) = client.stream(request, max_body, cancel, |head, raw| {
        dec.push(raw, &mut |audio| take(head, audio))
    })?;
    dec.finish(&mut |audio| take(&head, audio))
        .map_err(StreamError::Sink)?;
    Ok((head, n, first))
}

/// Streams synthesized audio into a new file or into memory (and into the cache, when asked:
/// the entry is kept only if the whole stream arrived and was saved).
pub(super) fn speech(
    mut stream: Stream<'_>,
    sink: Sink,
    dir: &Path,
    (slot, lock_dir): (&PlayerSlot, &Path),
    mut progress: Progress<'_>,
) -> Result<core::SpeechDone, core::SpeechFailed> {
    use core::SpeechFailed;
    let failed = |e: StreamError, bytes: u64| match e {
        StreamError::Transport(error) => SpeechFailed::Transport { error, bytes },
        StreamError::Status(resp) => SpeechFailed::Status(resp),
        StreamError::Sink(io) => SpeechFailed::Sink(io.to_string()),
    };
    let mut tee = stream.tee.take();
    let cancel = stream.cancel;
    let mut timings = None;
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    if let Sink::Player(_) = sink {
        let feed = |take: Feed<'_>| {
            pour_all(&stream, &mut timings, &mut |head, chunk| {
                take(head.header("request-id"), chunk)
            })
            .map(|(head, _, first)| (head, first.map(micros)))
        };
        let pour = Pour {
            dir,
            cancel,
            slot,
            lock_dir,
        };
        let mut done = play(feed, sink, pour, progress, tee)?;
        done.alignment = timings.map(Box::new);
        return Ok(done);
    }
    match sink {
        Sink::Memory { max_bytes: limit } => {
            let mut data = Vec::new();
            let mut over = false;
            let result = pour_all(&stream, &mut timings, &mut |_, chunk| {
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
                player_failed: None,
                alignment: timings.map(Box::new),
            })
        }
        Sink::File { name, wav } => {
            let mut writer = files::AudioWriter::create(dir, progress.id.0, wav)
                .map_err(|e| SpeechFailed::Sink(e.to_string()))?;
            let result = pour_all(&stream, &mut timings, &mut |_, chunk| {
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
                player_failed: None,
                alignment: timings.map(Box::new),
            })
        }
        Sink::Player(_) => Err(SpeechFailed::Sink("internal error: a player".into())),
    }
}

/// Serves a cache entry's audio into a sink, as its stream was first served.
pub(super) fn serve_cached(
    audio: Vec<u8>,
    entry: u64,
    sink: Sink,
    pour: Pour<'_>,
    progress: Progress<'_>,
) -> Result<core::SpeechDone, core::SpeechFailed> {
    use core::SpeechFailed;
    let n = audio.len() as u64;
    let dir = pour.dir;
    let tag = progress.id.0;
    if let Sink::Player(_) = sink {
        let feed = |take: Feed<'_>| {
            // In pieces, as a stream would come: the player starts on the first, and a stop
            // is noticed between them.
            for piece in audio.chunks(16 * 1024) {
                take(None, piece).map_err(StreamError::Sink)?;
            }
            let head = core::elevenlabs::HttpResponse {
                status: 200,
                ..Default::default()
            };
            Ok((head, None))
        };
        let mut done = play(feed, sink, pour, progress, None)?;
        done.cache_entry = Some(entry);
        return Ok(done);
    }
    let head = core::elevenlabs::HttpResponse {
        status: 200,
        ..Default::default()
    };
    let (file, total, data) = match sink {
        Sink::Memory { max_bytes: limit } if n > limit => {
            return Err(SpeechFailed::InlineTooLarge { limit });
        }
        Sink::Memory { .. } => (None, n, Some(audio)),
        Sink::Player(_) => return Err(SpeechFailed::Sink("internal error: a player".into())),
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
        player_failed: None,
        alignment: None,
    })
}

/// Where a job's audio may go besides its sink: the output directory (for the `auto` copy), the
/// player's slot (for a cancel to kill it), the cancel flag.
pub(super) struct Pour<'a> {
    pub(super) dir: &'a Path,
    pub(super) cancel: &'a AtomicBool,
    pub(super) slot: &'a PlayerSlot,
    /// The directory of the speaker lock shared with other server processes.
    pub(super) lock_dir: &'a Path,
}

/// Plays what `feed` pours (a stream, or a cache entry): the player starts first, gets every
/// chunk as it arrives, and the job ends when it has played everything.
fn play(
    feed: impl FnOnce(Feed<'_>) -> Result<(core::elevenlabs::HttpResponse, Option<u64>), StreamError>,
    sink: Sink,
    pour: Pour<'_>,
    mut progress: Progress<'_>,
    mut tee: Option<cache::EntryWriter>,
) -> Result<core::SpeechDone, core::SpeechFailed> {
    use core::SpeechFailed;
    let Sink::Player(p) = sink else {
        return Err(SpeechFailed::Sink("internal error: not a player".into()));
    };
    let core::PlayerSink {
        argv,
        input,
        format,
        wav,
        or_file,
    } = *p;
    let plan = player::Plan {
        argv: &argv,
        input: &input,
        wav,
        or_file: or_file.as_ref(),
        lock_dir: pour.lock_dir,
        cancel: pour.cancel,
    };
    let mut playback = player::Playback::start(plan, pour.slot, pour.dir, progress.id.0)
        .map_err(|e| SpeechFailed::Player(format!("could not start playing: {e}")))?;
    let result = feed(&mut |request_id, chunk| {
        if playback.write(chunk)? {
            progress.playing(request_id);
        }
        if playback.is_dead() {
            return Err(io::Error::other("the player failed"));
        }
        if let Some(t) = &mut tee {
            t.write(chunk);
        }
        progress.add(chunk.len());
        Ok(())
    });
    let bytes = playback.data_bytes();
    if playback.is_dead() {
        // The stream stopped because the player did: that is the failure to report.
        let ended = playback.finish(pour.cancel, None, || {});
        return Err(match ended {
            Err(e) => e,
            Ok(_) => SpeechFailed::Player("the player stopped".into()),
        });
    }
    let (head, first) = result.map_err(|e| match e {
        StreamError::Transport(error) => SpeechFailed::Transport { error, bytes },
        StreamError::Status(resp) => SpeechFailed::Status(resp),
        StreamError::Sink(io) => SpeechFailed::Sink(io.to_string()),
    })?;
    let duration = format.duration_ms(bytes).map(Duration::from_millis);
    let request_id = head.header("request-id").map(String::from);
    let ended = playback.finish(pour.cancel, duration, || {
        progress.playing(request_id.as_deref());
    })?;
    let (file, total) = match ended.file {
        Some((name, size)) => (Some(name), size),
        None => (None, bytes),
    };
    Ok(core::SpeechDone {
        first_byte_us: first,
        head,
        data_bytes: bytes,
        total_bytes: total,
        file,
        data: None,
        cache_entry: tee.and_then(cache::EntryWriter::finish),
        player_failed: ended.failed,
        alignment: None,
    })
}
