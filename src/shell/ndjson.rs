//! The body of `/stream/with-timestamps`: newline-delimited JSON objects, each with a piece of
//! the audio in base64 and the timings of the characters it speaks. Lines are assembled across
//! reads (a line may span many), decoded, and the audio handed on as it comes; blank lines are
//! skipped, as the official SDK does.

use crate::core::Alignment;
use base64::Engine as _;
use serde_json::Value;
use std::io;

/// The longest line accepted (one piece of audio in base64, with its timings).
const MAX_LINE: usize = 8 << 20;
/// The most characters whose timings are kept.
const MAX_CHARS: usize = 1_000_000;

/// Decodes the lines of one response.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    line: Vec<u8>,
    /// The timings so far.
    pub(super) alignment: Alignment,
}

impl Decoder {
    /// Takes raw body bytes; hands each complete line's audio to `audio`.
    pub(super) fn push(
        &mut self,
        raw: &[u8],
        audio: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut rest = raw;
        while let Some(at) = rest.iter().position(|&b| b == b'\n') {
            self.grow(&rest[..at])?;
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, audio)?;
            rest = &rest[at + 1..];
        }
        self.grow(rest)
    }

    /// The body ended: a last line without a newline is decoded too.
    pub(super) fn finish(
        &mut self,
        audio: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let line = std::mem::take(&mut self.line);
        self.line_done(&line, audio)
    }

    fn grow(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.line.len() + bytes.len() > MAX_LINE {
            return Err(io::Error::other(format!(
                "a line of the timestamped stream is longer than {MAX_LINE} bytes"
            )));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn line_done(
        &mut self,
        line: &[u8],
        audio: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        // Read as a `Value` (whose parser is linked anyway) rather than derived types: the same
        // checks, less code in the binary.
        let piece: Value = serde_json::from_slice(line)
            .map_err(|e| io::Error::other(format!("a timestamped piece is not valid: {e}")))?;
        if let Some(t) = piece.get("alignment").filter(|t| t.is_object()) {
            let list = |k: &str| {
                t.get(k)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            let ms = |v: &Value| {
                let s = v.as_f64().unwrap_or(0.0);
                (s * 1000.0).round().clamp(0.0, f64::from(u32::MAX)) as u32
            };
            let (chars, starts, ends) = (
                list("characters"),
                list("character_start_times_seconds"),
                list("character_end_times_seconds"),
            );
            for ((c, start), end) in chars.iter().zip(&starts).zip(&ends) {
                if self.alignment.chars.len() >= MAX_CHARS {
                    break;
                }
                let Some(c) = c.as_str().and_then(|s| s.chars().next()) else {
                    continue;
                };
                self.alignment.chars.push(c);
                self.alignment.start_ms.push(ms(start));
                self.alignment.end_ms.push(ms(end));
            }
        }
        let b64 = piece.get("audio_base64").and_then(Value::as_str);
        if let Some(b64) = b64.filter(|s| !s.is_empty()) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| io::Error::other(format!("a timestamped piece's audio: {e}")))?;
            audio(&bytes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_anywhere_give_the_same_audio_and_timings() {
        let body = concat!(
            r#"{"audio_base64":"AAEC","alignment":{"characters":["H","i"],"character_start_times_seconds":[0.0,0.1],"character_end_times_seconds":[0.1,0.25]}}"#,
            "\n\n",
            r#"{"audio_base64":"AwQ=","alignment":null}"#
        )
        .as_bytes();
        for cut in 1..body.len() {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            let mut take = |a: &[u8]| {
                got.extend_from_slice(a);
                Ok(())
            };
            d.push(&body[..cut], &mut take).unwrap();
            d.push(&body[cut..], &mut take).unwrap();
            d.finish(&mut take).unwrap();
            assert_eq!(got, [0, 1, 2, 3, 4], "cut at {cut}");
            assert_eq!(d.alignment.chars, ['H', 'i']);
            assert_eq!(d.alignment.start_ms, [0, 100]);
            assert_eq!(d.alignment.end_ms, [100, 250]);
        }
    }

    #[test]
    fn broken_lines_are_errors() {
        let mut d = Decoder::default();
        let mut take = |_: &[u8]| Ok(());
        assert!(d.push(b"{not json}\n", &mut take).is_err());
        let mut d = Decoder::default();
        assert!(d.push(b"{\"audio_base64\":\"!!\"}\n", &mut take).is_err());
    }
}
