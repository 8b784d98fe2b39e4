//! A long text's pieces, requested side by side and handed on strictly in order: at most
//! `parallel` requests at once, none more than `parallel` pieces ahead of the one being handed
//! on (which bounds the audio held), and the order kept by the core's [`Reassembly`]. The first
//! piece's audio goes on as it arrives; a later piece's waits only until the pieces before it
//! have gone.
//!
//! A piece that fails before any of its audio arrived, in a way the core retries speech for (a
//! 429 or 5xx, a connection that cannot have reached ElevenLabs), is asked for again after the
//! waits the gate gave the job; any other failure ends the job. Workers are scoped threads of
//! the job's own worker; one failure stops them all (each request watches a flag of this run,
//! which the job's cancel also sets, within 50 ms).

use super::http_client::{Client, StreamError};
use super::ndjson;
use super::speech::pour_stream;
use super::speech::{Stream, Take, Timed};
use super::watch;
use crate::core::elevenlabs::{HttpRequest, HttpResponse, Transport};
use crate::core::reassembly::Reassembly;
use crate::core::service::retry::piece_wait;
use crate::core::{Alignment, More, SpeechFailed};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often the hand-on loop looks at the job's cancel flag while it waits.
const LOOK: Duration = Duration::from_millis(20);

/// The pieces of one job.
struct Pieces<'a> {
    client: &'a Client,
    /// Every piece's request, in order.
    requests: Vec<&'a HttpRequest>,
    parallel: usize,
    /// The waits before a failed piece's retries.
    retry_ms: &'a [u64],
    /// The most audio, all pieces together.
    max_bytes: u64,
    cancel: &'a AtomicBool,
    /// `/stream/with-timestamps` bodies.
    timestamps: bool,
}

/// What the workers and the hand-on loop share.
struct State {
    order: Reassembly,
    /// Pieces started so far (the next to start).
    started: usize,
    /// Each piece's head, once it answered.
    heads: Vec<Option<HttpResponse>>,
    /// Each piece's timings, once it ended.
    timings: Vec<Option<Alignment>>,
    /// The first failure.
    failed: Option<StreamError>,
    /// When the first piece's first audio arrived.
    first_arrived: Option<Instant>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Requests `s`'s first piece and `more` and hands their audio to `take` in order, with the
/// head of the piece it belongs to.
pub(super) fn pour(s: &Stream<'_>, more: &More, take: Take<'_>) -> Result<Timed, StreamError> {
    let p = Pieces {
        client: s.client,
        requests: std::iter::once(s.request).chain(&more.requests).collect(),
        parallel: more.parallel,
        retry_ms: &more.retry_ms,
        max_bytes: s.max_bytes,
        cancel: s.cancel,
        timestamps: s.timestamps,
    };
    let count = p.requests.len();
    let parallel = p.parallel.clamp(1, count.max(1));
    let stop = Arc::new(AtomicBool::new(false));
    let shared = (
        Mutex::new(State {
            order: Reassembly::new(count),
            started: 0,
            heads: vec![None; count],
            timings: vec![None; count],
            failed: None,
            first_arrived: None,
        }),
        Condvar::new(),
    );
    let mut piece_bytes = vec![0u64; count];
    let mut total = 0u64;
    let mut first = None;
    let mut sink_error = None;
    std::thread::scope(|scope| {
        for _ in 0..parallel {
            let (shared, stop, p) = (&shared, stop.clone(), &p);
            scope.spawn(move || work(p, parallel, shared, &stop));
        }
        let (m, cv) = &shared;
        let mut st = lock(m);
        loop {
            if let Some((piece, chunk)) = st.order.pop() {
                let head = st.heads[piece].clone().unwrap_or_default();
                let arrived = st.first_arrived;
                drop(st);
                // The workers may run further ahead now.
                cv.notify_all();
                piece_bytes[piece] += chunk.len() as u64;
                total += chunk.len() as u64;
                let taken = if total > p.max_bytes {
                    Err(io::Error::other("the audio is longer than allowed"))
                } else {
                    take(&head, &chunk)
                };
                if let Err(e) = taken {
                    sink_error = Some(e);
                    halt(&shared, &stop);
                    return;
                }
                if first.is_none() {
                    first = arrived.map(|at| at.elapsed());
                }
                st = lock(m);
                continue;
            }
            if st.order.is_done() || st.failed.is_some() {
                return;
            }
            if p.cancel.load(Ordering::Relaxed) {
                drop(st);
                halt(&shared, &stop);
                return;
            }
            st = cv
                .wait_timeout(st, LOOK)
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
    });
    if let Some(e) = sink_error {
        return Err(StreamError::Sink(e));
    }
    let st = shared
        .0
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if p.cancel.load(Ordering::Relaxed) {
        return Err(StreamError::Transport(Transport::Cancelled));
    }
    if let Some(e) = st.failed {
        return Err(e);
    }
    let mut head = st.heads.first().cloned().flatten().unwrap_or_default();
    let cost: Option<u64> = st
        .heads
        .iter()
        .map(|h| {
            h.as_ref()?
                .header("character-cost")?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .sum();
    // The whole text's cost, or none: one piece's cost is not the text's.
    head.headers.retain(|(n, _)| n != "character-cost");
    if let Some(cost) = cost {
        head.headers
            .push(("character-cost".into(), cost.to_string()));
    }
    let timings = p.timestamps.then(|| {
        let mut pieces = st.timings.into_iter().map(Option::unwrap_or_default);
        let mut all = pieces.next().unwrap_or_default();
        let mut before = 0;
        for (piece, bytes) in pieces.zip(&piece_bytes) {
            before += bytes;
            all.append(piece, before);
        }
        all
    });
    Ok((head, total, first, timings))
}

/// How long to wait before asking again for a piece that failed this way before any of its
/// audio (the core decides, from the failure, the gate's `scheduled` wait and the time).
fn wait_for(e: &StreamError, scheduled: u64) -> Option<u64> {
    let failed = match e {
        StreamError::Status(resp) => SpeechFailed::Status(resp.clone()),
        StreamError::Transport(error) => SpeechFailed::Transport {
            error: error.clone(),
            bytes: 0,
        },
        StreamError::Sink(_) => return None,
    };
    let now_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    piece_wait(&failed, scheduled, now_unix)
}

/// Waits `wait` before a retry; false if the run stopped meanwhile.
fn pause((m, cv): (&Mutex<State>, &Condvar), stop: &AtomicBool, wait: Duration) -> bool {
    let until = Instant::now() + wait;
    let mut st = lock(m);
    while !stop.load(Ordering::Relaxed) && st.failed.is_none() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        st = cv
            .wait_timeout(st, left.min(LOOK))
            .map_or_else(|e| e.into_inner().0, |(g, _)| g);
    }
    false
}

/// Stops the run: set under the lock, so that no worker that has just looked misses it.
fn halt((m, cv): &(Mutex<State>, Condvar), stop: &AtomicBool) {
    let st = lock(m);
    stop.store(true, Ordering::Relaxed);
    drop(st);
    cv.notify_all();
}

/// One worker: takes the next piece when it may, streams it into the shared order.
fn work(
    p: &Pieces<'_>,
    parallel: usize,
    (m, cv): &(Mutex<State>, Condvar),
    stop: &Arc<AtomicBool>,
) {
    watch::watch(stop.clone());
    loop {
        let piece = {
            let mut st = lock(m);
            loop {
                if stop.load(Ordering::Relaxed)
                    || p.cancel.load(Ordering::Relaxed)
                    || st.failed.is_some()
                    || st.started >= st.heads.len()
                {
                    return;
                }
                if st.started <= st.order.current() + parallel {
                    break;
                }
                // Timed, so that no wake-up can be missed for longer than this.
                st = cv
                    .wait_timeout(st, LOOK)
                    .map_or_else(|e| e.into_inner().0, |(g, _)| g);
            }
            st.started += 1;
            st.started - 1
        };
        let mut attempt = 0;
        let (result, decoder) = loop {
            let mut decoder = p.timestamps.then(ndjson::Decoder::default);
            let mut arrived = false;
            let result = pour_stream(
                p.client,
                p.requests[piece],
                (p.max_bytes, stop.as_ref()),
                &mut decoder,
                |head, audio| {
                    arrived = true;
                    let mut st = lock(m);
                    if st.heads[piece].is_none() {
                        st.heads[piece] = Some(head.clone());
                    }
                    if piece == 0 && st.first_arrived.is_none() {
                        st.first_arrived = Some(Instant::now());
                    }
                    st.order.push(piece, audio.to_vec());
                    drop(st);
                    cv.notify_all();
                    Ok(())
                },
            );
            let again = match (&result, p.retry_ms.get(attempt)) {
                (Err(e), Some(&scheduled)) if !arrived => match wait_for(e, scheduled) {
                    Some(wait) => wait,
                    None => break (result, decoder),
                },
                _ => break (result, decoder),
            };
            if !pause((m, cv), stop, Duration::from_millis(again)) {
                return;
            }
            attempt += 1;
        };
        let mut st = lock(m);
        match result {
            Ok((head, _, _)) => {
                st.heads[piece] = Some(head);
                st.timings[piece] = decoder.map(|d| d.alignment);
                st.order.end(piece);
            }
            // Stopped because another piece failed or the job was cancelled: not the cause.
            Err(StreamError::Transport(Transport::Cancelled)) => {}
            Err(e) => {
                // Under the lock: see `halt`.
                st.failed.get_or_insert(e);
                stop.store(true, Ordering::Relaxed);
            }
        }
        drop(st);
        cv.notify_all();
    }
}
