//! The fake's WebSocket `stream-input` endpoint (reference §3): the upgrade, the init message,
//! text messages buffered until a `flush` or the end of input (`""`), audio for each generation
//! in `StreamConfig`'s chunks as base64 frames (with `sync_alignment`, each frame's characters
//! timed 70 ms apart from the frame's start), `{"isFinal": true}` and a normal close. Errors are
//! a JSON frame then a close with the same code: a bad key or an unusable model (1008), a
//! message that is not the protocol's (1008 `invalid_input_message`), silence past
//! `inactivity_timeout` (1008 `input_timeout_exceeded`), and the injected [`WsFault`]s.
//! The messages received are recorded as the upgrade request's body, one per line.

use super::{Request, Shared, StreamConfig, audio_len, fake_audio, lock, nap, parse_query};
use base64::Engine as _;
use serde_json::{Value, json};
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tungstenite::protocol::Role;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// A fault the next WebSocket synthesis meets.
#[derive(Clone, Debug)]
pub enum WsFault {
    /// An error frame and a close with `code`, before any audio.
    Before { code: u16, error: String },
    /// The same after the first audio frame.
    After { code: u16, error: String },
    /// No frame at all for this long after the input, then the connection drops.
    Stall(Duration),
}

/// Serves one upgraded connection (request number `n`).
pub(super) fn serve(shared: &Arc<Shared>, mut stream: TcpStream, req: &Request, n: u64) {
    let Some(key) = req.header("sec-websocket-key") else {
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\nrequest-id: req_{n}\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut ws = WebSocket::from_raw_socket(stream, Role::Server, None);
    let q = parse_query(&req.raw_query);
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let model = param("model_id").unwrap_or("eleven_multilingual_v2");
    let format = param("output_format")
        .unwrap_or("mp3_44100_128")
        .to_string();
    let timed = param("sync_alignment") == Some("true");
    let inactivity = Duration::from_secs(
        param("inactivity_timeout")
            .and_then(|s| s.parse().ok())
            .unwrap_or(20),
    );
    if req.header("xi-api-key") != Some(shared.key.as_str()) {
        return fail(&mut ws, 1008, "invalid_api_key", "Invalid API key");
    }
    if model.starts_with("eleven_v3")
        || !lock(&shared.state)
            .models
            .iter()
            .any(|m| m["model_id"] == model)
    {
        return fail(
            &mut ws,
            1008,
            "invalid_model",
            &format!("Model {model} is not available for WebSocket"),
        );
    }
    let fault = lock(&shared.state).ws_fault.take();
    let cfg = lock(&shared.state).stream.clone();
    let (len, cfg) = audio_len(&cfg, &format);
    let mut pending = String::new();
    let mut initialised = false;
    let mut heard = Instant::now();
    let mut sent_audio = false;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let msg = match ws.read() {
            Ok(Message::Text(t)) => t.to_string(),
            Ok(Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed) => return,
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e)) if idle(&e) => {
                if heard.elapsed() > inactivity {
                    let m = format!(
                        "Have not received a new text input within the timeout of {} seconds.",
                        inactivity.as_secs()
                    );
                    return fail(&mut ws, 1008, "input_timeout_exceeded", &m);
                }
                continue;
            }
            Err(_) => return,
        };
        heard = Instant::now();
        note(shared, n, &msg);
        let Ok(v) = serde_json::from_str::<Value>(&msg) else {
            return fail(
                &mut ws,
                1008,
                "invalid_input_message",
                "Could not parse input message.",
            );
        };
        let Some(text) = v["text"].as_str() else {
            return fail(
                &mut ws,
                1008,
                "invalid_input_message",
                "Could not parse input message.",
            );
        };
        if !initialised {
            if text != " " {
                return fail(
                    &mut ws,
                    1008,
                    "invalid_input_message",
                    "The first message must have the text \" \".",
                );
            }
            initialised = true;
            if let Some(WsFault::Before { code, error }) = &fault {
                return fail(&mut ws, *code, error, "injected");
            }
            continue;
        }
        let end = text.is_empty();
        pending.push_str(text);
        if !(end || v["flush"] == true) {
            continue;
        }
        if let Some(WsFault::Stall(d)) = &fault {
            nap(*d, &shared.stop);
            return;
        }
        if !pending.is_empty() {
            let spoken = std::mem::take(&mut pending);
            let chars = spoken.chars().count();
            {
                let mut st = lock(&shared.state);
                let used = st.subscription["character_count"].as_u64().unwrap_or(0);
                st.subscription["character_count"] = json!(used + chars as u64);
            }
            let delay = cfg.first_byte_delay
                + cfg.first_byte_per_char * u32::try_from(chars).unwrap_or(u32::MAX);
            if !nap(delay, &shared.stop) {
                return;
            }
            let audio = fake_audio(&spoken, &format, len);
            if generate(&mut ws, shared, &cfg, &spoken, &audio, timed).is_err() {
                return;
            }
            sent_audio = true;
        }
        if let (true, Some(WsFault::After { code, error })) = (sent_audio, &fault) {
            return fail(&mut ws, *code, error, "injected");
        }
        if end {
            let _ = ws.send(Message::text(json!({"isFinal": true}).to_string()));
            let _ = ws.close(None);
            return closing(&mut ws);
        }
    }
}

/// One generation's audio in `cfg.chunks` frames.
fn generate(
    ws: &mut WebSocket<TcpStream>,
    shared: &Shared,
    cfg: &StreamConfig,
    text: &str,
    audio: &[u8],
    timed: bool,
) -> tungstenite::Result<()> {
    let chars: Vec<char> = text.chars().collect();
    let frames = cfg.chunks.max(1);
    let per = audio.len().div_ceil(frames).max(1);
    for (i, chunk) in audio.chunks(per).enumerate() {
        if i > 0 && !nap(cfg.chunk_delay, &shared.stop) {
            return Err(tungstenite::Error::ConnectionClosed);
        }
        let mut frame = json!({
            "audio": base64::engine::general_purpose::STANDARD.encode(chunk),
            "isFinal": null,
        });
        if timed {
            let (from, to) = (chars.len() * i / frames, chars.len() * (i + 1) / frames);
            let mine = &chars[from..to.min(chars.len())];
            frame["alignment"] = json!({
                "chars": mine.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                "charStartTimesMs": (0..mine.len()).map(|j| j * 70).collect::<Vec<_>>(),
                "charsDurationsMs": vec![70; mine.len()],
            });
        }
        ws.send(Message::text(frame.to_string()))?;
    }
    Ok(())
}

/// An error frame, then a close with the same code.
fn fail(ws: &mut WebSocket<TcpStream>, code: u16, error: &str, message: &str) {
    let frame = json!({"message": message, "error": error, "code": code});
    let _ = ws.send(Message::text(frame.to_string()));
    let _ = ws.close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: error.to_string().into(),
    }));
    let _ = ws.flush();
    closing(ws);
}

/// Reads until the client has answered the close, for a second at most.
fn closing(ws: &mut WebSocket<TcpStream>) {
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        match ws.read() {
            Err(tungstenite::Error::Io(e)) if idle(&e) => {}
            Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Appends a received message to the upgrade request's recorded body.
fn note(shared: &Shared, n: u64, msg: &str) {
    let mut st = lock(&shared.state);
    if let Some(r) = st.requests.iter_mut().find(|r| r.n == n) {
        r.body.extend_from_slice(msg.as_bytes());
        r.body.push(b'\n');
    }
}

/// A read that found nothing within the socket's timeout slice.
fn idle(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
