//! ElevenLabs' WebSocket `stream-input` endpoint as data: the connection a synthesis opens and
//! the messages it sends (initialise, the text, end of input), the frames it receives parsed
//! (audio in base64 with the timings of its characters, the final frame, errors), and a close
//! with an error turned into the response the rest of the core reads errors from.
//!
//! The shell opens the socket (adding the key as the `xi-api-key` header), sends the messages
//! in order and hands every text frame to [`parse_frame`].

use super::elevenlabs::{HttpResponse, Speech, encode};
use super::event::Alignment;
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// Output formats the WebSocket endpoint takes (a subset of HTTP's).
const FORMATS: &[&str] = &[
    "mp3_22050_32",
    "mp3_44100_32",
    "mp3_44100_64",
    "mp3_44100_96",
    "mp3_44100_128",
    "mp3_44100_192",
    "pcm_8000",
    "pcm_16000",
    "pcm_22050",
    "pcm_24000",
    "pcm_44100",
    "ulaw_8000",
    "alaw_8000",
    "opus_48000_32",
    "opus_48000_64",
    "opus_48000_96",
    "opus_48000_128",
    "opus_48000_192",
];

/// The seconds of silence after which ElevenLabs closes the socket (its default is 20; at
/// most 180). All the text is sent at once, so this only bounds a stall on its side.
const INACTIVITY_S: u64 = 60;

/// A synthesis over the WebSocket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsSpeech {
    /// The path and query of the socket, e.g. `/v1/text-to-speech/{voice}/stream-input?…`.
    pub path: String,
    /// The text frames to send, in order.
    pub messages: Vec<String>,
}

/// Why the WebSocket cannot be used for a synthesis, if it cannot.
pub fn unsuitable(model_id: &str, wire_format: &str) -> Option<String> {
    if model_id.starts_with("eleven_v3") {
        return Some(format!("`{model_id}` has no WebSocket endpoint"));
    }
    (!FORMATS.contains(&wire_format))
        .then(|| format!("the WebSocket endpoint has no `{wire_format}`"))
}

/// The socket and messages that speak `speech` with `voice_id`: the text goes in `pieces`
/// (each ending in a space, as the protocol asks), the first flushed so that its audio starts
/// at once, then the end of input, after which ElevenLabs sends the rest and closes.
pub fn speech(voice_id: &str, wire_format: &str, speech: &Speech, pieces: &[&str]) -> WsSpeech {
    let mut path = format!(
        "/v1/text-to-speech/{}/stream-input?model_id={}&output_format={}&inactivity_timeout={INACTIVITY_S}&auto_mode=true",
        encode(voice_id),
        encode(&speech.model_id),
        encode(wire_format),
    );
    if let Some(lang) = &speech.language_code {
        path.push_str(&format!("&language_code={}", encode(lang)));
    }
    if let Some(seed) = speech.seed {
        path.push_str(&format!("&seed={seed}"));
    }
    if speech.timestamps {
        path.push_str("&sync_alignment=true");
    }
    let mut init = Map::new();
    init.insert("text".into(), " ".into());
    if !speech.voice_settings.is_empty() {
        init.insert(
            "voice_settings".into(),
            Value::Object(speech.voice_settings.clone()),
        );
    }
    let mut messages = vec![Value::Object(init).to_string()];
    for (k, piece) in pieces.iter().enumerate() {
        let mut text = (*piece).to_string();
        if !text.ends_with(' ') {
            text.push(' ');
        }
        let mut m = json!({"text": text});
        if k == 0 {
            m["flush"] = true.into();
        }
        messages.push(m.to_string());
    }
    messages.push(json!({"text": ""}).to_string());
    WsSpeech { path, messages }
}

/// A frame from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Audio, with the timings of its characters (counted from the start of this audio).
    Audio(Vec<u8>, Option<Alignment>),
    /// All the audio has been sent.
    Final,
    /// An error; a close follows.
    Error(WsError),
    /// Nothing to act on (a frame without audio).
    Other,
}

/// An error frame: `{"message", "error", "code"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WsError {
    /// The close code it announces, if any.
    pub code: Option<u16>,
    /// The error's name, e.g. `input_timeout_exceeded`.
    pub error: String,
    /// What it says.
    pub message: String,
}

/// How a synthesis over the WebSocket ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// All the audio came.
    Done,
    /// ElevenLabs refused or failed before any audio: this response (read like an HTTP error,
    /// and retried like one when it may be).
    Refused(HttpResponse),
    /// It broke off (after some audio, or without saying why): not to be retried, since
    /// what came was billed.
    Broken(String),
}

/// What the end of a synthesis means: `close` is the close code (`None`: the connection
/// dropped without a close), `said` the error frame before it, `finished` whether the final
/// frame came, `audio` the bytes of audio that did.
pub fn ended(close: Option<u16>, said: Option<&WsError>, finished: bool, audio: u64) -> Ended {
    let abnormal = close.filter(|c| *c != 1000);
    if said.is_none() && abnormal.is_none() {
        if finished {
            return Ended::Done;
        }
        let how = if close.is_some() { "closed" } else { "dropped" };
        return Ended::Broken(format!(
            "ElevenLabs {how} the WebSocket after {audio} bytes of audio, before the end"
        ));
    }
    let quiet = WsError::default();
    let e = said.unwrap_or(&quiet);
    let code = abnormal.or(e.code).unwrap_or(1006);
    if audio == 0 {
        return Ended::Refused(failure(code, &e.error, &e.message));
    }
    let what = [e.message.as_str(), e.error.as_str(), "no reason given"]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    Ended::Broken(format!(
        "ElevenLabs closed the WebSocket with code {code} after {audio} bytes of audio: {what}"
    ))
}

/// Parses a text frame.
pub fn parse_frame(text: &str) -> Result<Frame, String> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| format!("ElevenLabs sent a WebSocket frame that is not JSON ({e})"))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    if s("error").is_some() || (s("message").is_some() && v.get("audio").is_none()) {
        return Ok(Frame::Error(WsError {
            code: v
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok()),
            error: s("error").unwrap_or("error").to_string(),
            message: s("message").unwrap_or_default().to_string(),
        }));
    }
    let is_final = [v.get("isFinal"), v.get("is_final")]
        .into_iter()
        .any(|f| f == Some(&Value::Bool(true)));
    match s("audio").filter(|a| !a.is_empty()) {
        Some(b64) => {
            let audio = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("ElevenLabs sent audio that is not base64 ({e})"))?;
            Ok(Frame::Audio(audio, v.get("alignment").and_then(alignment)))
        }
        None if is_final => Ok(Frame::Final),
        None => Ok(Frame::Other),
    }
}

/// `{chars, charStartTimesMs, charsDurationsMs}` as an [`Alignment`].
fn alignment(v: &Value) -> Option<Alignment> {
    let list = |k: &str| v.get(k)?.as_array();
    let ms = |k: &str| -> Option<Vec<u32>> {
        list(k)?
            .iter()
            .map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok()))
            .collect()
    };
    let chars: Vec<char> = list("chars")?
        .iter()
        .map(|c| c.as_str().and_then(|c| c.chars().next()).unwrap_or(' '))
        .collect();
    let start_ms = ms("charStartTimesMs")?;
    let end_ms = start_ms
        .iter()
        .zip(ms("charsDurationsMs")?)
        .map(|(s, d)| s.saturating_add(d))
        .collect();
    Some(Alignment {
        chars,
        start_ms,
        end_ms,
        joins: Vec::new(),
    })
}

/// A close with `code` (and the error frame before it, if any) as an error response: 1011 is
/// ElevenLabs failing (read as a 500, retried and counted by the breaker like one); 1008 is a
/// refusal (a key problem as a 401, anything else as a 400 quoting ElevenLabs); any other code
/// is a broken connection (a 502).
pub fn failure(code: u16, error: &str, message: &str) -> HttpResponse {
    let said = format!("{error} {message}").to_ascii_lowercase();
    let status = match code {
        1011 => 500,
        1008 if said.contains("api key") || said.contains("unauthori") => 401,
        1008 => 400,
        _ => 502,
    };
    let name = if error.is_empty() {
        "websocket_closed"
    } else {
        error
    };
    let text = if message.is_empty() {
        format!("the WebSocket was closed with code {code}")
    } else {
        format!("{message} (WebSocket closed with code {code})")
    };
    HttpResponse {
        status,
        headers: Vec::new(),
        body: json!({"detail": {"status": name, "message": text}})
            .to_string()
            .into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_and_messages_of_a_synthesis() {
        let s = Speech {
            model_id: "eleven_flash_v2_5".into(),
            language_code: Some("en".into()),
            seed: Some(3),
            timestamps: true,
            ..Speech::default()
        };
        let ws = speech("v/1", "pcm_16000", &s, &["Hi there.", "More "]);
        assert_eq!(
            ws.path,
            "/v1/text-to-speech/v%2F1/stream-input?model_id=eleven_flash_v2_5&output_format=pcm_16000&inactivity_timeout=60&auto_mode=true&language_code=en&seed=3&sync_alignment=true"
        );
        assert_eq!(
            ws.messages,
            [
                r#"{"text":" "}"#,
                r#"{"flush":true,"text":"Hi there. "}"#,
                r#"{"text":"More "}"#,
                r#"{"text":""}"#
            ]
        );
        assert!(unsuitable("eleven_v3", "mp3_44100_128").is_some());
        assert!(unsuitable("eleven_flash_v2_5", "pcm_48000").is_some());
        assert_eq!(unsuitable("eleven_flash_v2_5", "mp3_44100_128"), None);
    }

    #[test]
    fn frames() {
        let f = parse_frame(r#"{"audio":"AAEC","isFinal":null,"alignment":{"chars":["H","i"],"charStartTimesMs":[0,70],"charsDurationsMs":[70,80]}}"#).unwrap();
        let Frame::Audio(audio, Some(a)) = f else {
            panic!("{f:?}")
        };
        assert_eq!(audio, [0, 1, 2]);
        assert_eq!(
            (a.chars, a.start_ms, a.end_ms),
            (vec!['H', 'i'], vec![0, 70], vec![70, 150])
        );
        assert_eq!(parse_frame(r#"{"isFinal":true}"#), Ok(Frame::Final));
        assert_eq!(
            parse_frame(r#"{"audio":null,"is_final":true}"#),
            Ok(Frame::Final)
        );
        assert_eq!(parse_frame(r#"{"audio":""}"#), Ok(Frame::Other));
        assert_eq!(
            parse_frame(
                r#"{"message":"Have not received…","error":"input_timeout_exceeded","code":1008}"#
            ),
            Ok(Frame::Error(WsError {
                code: Some(1008),
                error: "input_timeout_exceeded".into(),
                message: "Have not received…".into()
            }))
        );
        assert!(parse_frame("nope").is_err());
        assert!(parse_frame(r#"{"audio":"***"}"#).is_err());
    }

    #[test]
    fn how_a_synthesis_ended() {
        assert_eq!(ended(Some(1000), None, true, 10), Ended::Done);
        assert_eq!(
            ended(None, None, true, 10),
            Ended::Done,
            "dropped after the end"
        );
        assert!(
            matches!(ended(Some(1000), None, false, 10), Ended::Broken(m) if m.contains("before the end"))
        );
        assert!(matches!(ended(None, None, false, 0), Ended::Broken(m) if m.contains("dropped")));
        let said = WsError {
            code: Some(1008),
            error: "quota_exceeded".into(),
            message: "No credits".into(),
        };
        // The error frame counts even when the connection then drops.
        let Ended::Refused(r) = ended(None, Some(&said), false, 0) else {
            panic!()
        };
        assert_eq!(r.status, 400);
        assert!(matches!(ended(Some(1011), None, false, 0), Ended::Refused(r) if r.status == 500));
        assert!(
            matches!(ended(Some(1011), Some(&said), true, 5), Ended::Broken(m) if m.contains("1011") && m.contains("No credits"))
        );
    }

    #[test]
    fn closes_as_errors() {
        assert_eq!(failure(1011, "", "").status, 500);
        assert_eq!(failure(1008, "auth", "Invalid API key").status, 401);
        let r = failure(1008, "input_timeout_exceeded", "Have not received");
        assert_eq!(r.status, 400);
        let e = super::super::elevenlabs::parse_error(r.status, &r.body);
        assert!(e.message.unwrap().contains("Have not received"));
        assert_eq!(failure(1006, "", "").status, 502);
    }
}
