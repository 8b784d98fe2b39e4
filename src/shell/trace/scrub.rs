//! What keeps a trace small and safe to attach to a bug report: the API key replaced by a mask of
//! the same length (so the core behaves the same on the masked text), audio reduced to its length
//! and SHA-256, and the stand-in audio a replay feeds instead of the bytes it does not have.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::collections::VecDeque;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The longest run of bytes the core may put before an input's audio in a blob (the WAV header
/// it adds to raw samples is 44).
pub(crate) const MAX_PREFIX: usize = 64;
/// Audio inputs remembered for matching blobs; the oldest unmatched is forgotten past this.
const MAX_AUDIOS: usize = 1024;

/// The SHA-256 of `bytes` in lower-case hex (ring is already linked for TLS: no size cost).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut hex = String::with_capacity(64);
    for b in digest.as_ref() {
        hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    hex
}

/// `{"len": N, "sha256": "…"}`: how audio bytes appear in a trace.
pub(crate) fn audio_digest(bytes: &[u8]) -> Value {
    json!({"len": bytes.len(), "sha256": sha256_hex(bytes)})
}

/// The bytes a replay feeds for `len` bytes of audio of input `n`: distinct per input (splitmix64
/// seeded by `n`), so a core that hands out the wrong input's audio is caught.
pub(crate) fn placeholder(n: u64, len: usize) -> Vec<u8> {
    let mut state = n ^ 0x7472_6163_655f_6175; // "trace_au"
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Replaces the API key with a mask of the same byte length wherever it appears.
#[derive(Clone, Debug, Default)]
pub(crate) struct Redactor {
    key: Option<Vec<u8>>,
    mask: Vec<u8>,
}

impl Redactor {
    /// Masks `key` (nothing to do without one).
    pub(crate) fn new(key: Option<&str>) -> Self {
        let key = key.filter(|k| !k.is_empty()).map(|k| k.as_bytes().to_vec());
        let len = key.as_ref().map_or(0, Vec::len);
        let mask = if len >= 10 {
            let mut m = b"[redacted".to_vec();
            m.resize(len - 1, b'*');
            m.push(b']');
            m
        } else {
            vec![b'*'; len]
        };
        Self { key, mask }
    }

    /// Masks every whole occurrence in place.
    pub(crate) fn bytes(&self, data: &mut [u8]) {
        let Some(key) = &self.key else { return };
        let mut i = 0;
        while let Some(at) = find(&data[i..], key) {
            let start = i + at;
            data[start..start + key.len()].copy_from_slice(&self.mask);
            i = start + key.len();
        }
    }

    /// A string with every occurrence masked (the mask is ASCII, so it stays UTF-8).
    pub(crate) fn string(&self, s: &str) -> String {
        match &self.key {
            Some(key) if find(s.as_bytes(), key).is_some() => {
                let mut b = s.as_bytes().to_vec();
                self.bytes(&mut b);
                String::from_utf8(b)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
            }
            _ => s.to_string(),
        }
    }

    /// Masks every string (and object key) of a JSON value.
    pub(crate) fn value(&self, v: &mut Value) {
        if self.key.is_none() {
            return;
        }
        match v {
            Value::String(s) => *s = self.string(s),
            Value::Array(items) => items.iter_mut().for_each(|i| self.value(i)),
            Value::Object(map) => {
                let old = std::mem::take(map);
                *map = old
                    .into_iter()
                    .map(|(k, mut v)| {
                        self.value(&mut v);
                        (self.string(&k), v)
                    })
                    .collect::<Map<_, _>>();
            }
            _ => {}
        }
    }

    /// How many bytes at the end of `data` are a proper prefix of the key: they may be the start
    /// of a key that the next stdin chunk completes, so the recorder holds them back.
    pub(crate) fn partial_tail(&self, data: &[u8]) -> usize {
        let Some(key) = &self.key else { return 0 };
        (1..key.len().min(data.len() + 1))
            .rev()
            .find(|&q| data[data.len() - q..] == key[..q])
            .unwrap_or(0)
    }

    /// The mask for `n` bytes (for a partial key that never got completed).
    pub(crate) fn mask_prefix(&self, n: usize) -> Vec<u8> {
        self.mask[..n.min(self.mask.len())].to_vec()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One input's audio, remembered to recognise it in later output blobs.
#[derive(Clone, Debug)]
struct Audio {
    n: u64,
    len: usize,
    sha256: [u8; 32],
}

/// The audio of recent inputs, and the markers that replace output blobs.
///
/// A blob that is `prefix ‖ audio of input K` (prefix at most [`MAX_PREFIX`] bytes, e.g. a WAV
/// header) becomes `{"audio":{"len":N,"input":K,"prefix":"<base64>"}}`: the audio's digest is in
/// input K's line, so this pins the blob exactly. Record and replay build the table the same way,
/// from the bytes fed to the core (the real audio, or the replay's placeholders), so a core that
/// passes input K's audio through yields the same marker in both. Any other blob becomes
/// `{"audio":{"len":N,"sha256":"…"}}`, which a replay cannot reproduce: it shows up as a
/// divergence.
#[derive(Debug, Default)]
pub(crate) struct AudioTable {
    audios: VecDeque<Audio>,
}

impl AudioTable {
    /// Notes that input `n` carried these audio bytes.
    pub(crate) fn add(&mut self, n: u64, bytes: &[u8]) {
        if self.audios.len() >= MAX_AUDIOS {
            self.audios.pop_front();
        }
        self.audios.push_back(Audio {
            n,
            len: bytes.len(),
            sha256: sha(bytes),
        });
    }

    /// The marker for a base64 blob seen while handling input `current`.
    pub(crate) fn marker(&mut self, current: u64, blob_b64: &str) -> Value {
        let Ok(bytes) = B64.decode(blob_b64) else {
            return json!({"audio": {"len": blob_b64.len(), "sha256": sha256_hex(blob_b64.as_bytes()), "invalid_base64": true}});
        };
        // The input being handled first (a direct reply), then the oldest (a batch answers in
        // the order its members finished).
        let order = self
            .audios
            .iter()
            .position(|a| a.n == current)
            .into_iter()
            .chain(0..self.audios.len());
        let mut found = None;
        for i in order {
            let a = &self.audios[i];
            let Some(prefix) = bytes.len().checked_sub(a.len) else {
                continue;
            };
            if prefix <= MAX_PREFIX && sha(&bytes[prefix..]) == a.sha256 {
                found = Some((i, prefix));
                break;
            }
        }
        match found {
            Some((i, prefix)) => {
                let a = self.audios.remove(i).map_or(0, |a| a.n);
                json!({"audio": {"len": bytes.len(), "input": a, "prefix": B64.encode(&bytes[..prefix])}})
            }
            None => json!({"audio": {"len": bytes.len(), "sha256": sha256_hex(&bytes)}}),
        }
    }

    /// Replaces every audio blob in a stdout message: `blob` strings (resource contents) and the
    /// `data` of `type: "audio"` content, at any depth (batches included).
    pub(crate) fn scrub(&mut self, current: u64, v: &mut Value) {
        match v {
            Value::Array(items) => items.iter_mut().for_each(|i| self.scrub(current, i)),
            Value::Object(map) => {
                let audio = map.get("type").and_then(Value::as_str) == Some("audio");
                for (k, item) in map.iter_mut() {
                    let is_blob = k == "blob" || (audio && k == "data");
                    match item {
                        Value::String(s) if is_blob => *item = self.marker(current, s),
                        _ => self.scrub(current, item),
                    }
                }
            }
            _ => {}
        }
    }
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn placeholders_are_stable_and_distinct_per_input() {
        assert_eq!(placeholder(3, 100), placeholder(3, 100));
        assert_eq!(placeholder(3, 37).len(), 37);
        assert_eq!(placeholder(3, 100)[..37], placeholder(3, 37)[..]);
        assert_ne!(placeholder(3, 64), placeholder(4, 64));
        assert!(placeholder(0, 0).is_empty());
    }

    #[test]
    fn the_key_is_masked_with_the_same_length() {
        let key = "sk_0123456789abcdef";
        let r = Redactor::new(Some(key));
        let s = r.string(&format!("a {key} b {key}"));
        assert!(!s.contains(key), "{s}");
        assert_eq!(s.len(), 2 * key.len() + 5);
        assert!(s.starts_with("a [redacted*********] b"), "{s}");
        let mut v = json!({"x": [format!("<{key}>")], key: 1});
        r.value(&mut v);
        assert!(!v.to_string().contains(key), "{v}");
        // Short keys become stars; no key, nothing changes.
        assert_eq!(Redactor::new(Some("abc")).string("xabcx"), "x***x");
        assert_eq!(Redactor::new(None).string("abc"), "abc");
        assert_eq!(Redactor::new(Some("")).string("abc"), "abc");
    }

    #[test]
    fn a_key_prefix_at_the_end_of_a_chunk_is_found() {
        let r = Redactor::new(Some("sk_secret_key"));
        assert_eq!(r.partial_tail(b"hello sk_se"), 5);
        assert_eq!(r.partial_tail(b"hello s"), 1);
        assert_eq!(r.partial_tail(b"hello\n"), 0);
        assert_eq!(r.partial_tail(b"sk_secret_ke"), 12);
        assert_eq!(r.partial_tail(b"x"), 0);
        // A whole key is not a partial one (it is masked before this is asked).
        assert_eq!(r.partial_tail(b"sk_secret_key"), 0);
        assert_eq!(r.mask_prefix(3), b"[re");
        assert_eq!(Redactor::new(Some("sk_short")).mask_prefix(3), b"***");
        assert_eq!(Redactor::new(None).partial_tail(b"abc"), 0);
    }

    #[test]
    fn blobs_of_an_input_become_markers_that_name_it() {
        let b64 = |b: &[u8]| B64.encode(b);
        let audio = b"some audio bytes".to_vec();
        let mut t = AudioTable::default();
        t.add(4, b"other audio");
        t.add(7, &audio);
        // As is: prefix empty.
        let m = t.marker(7, &b64(&audio));
        assert_eq!(m, json!({"audio": {"len": 16, "input": 7, "prefix": ""}}));
        // Matched entries are used up.
        assert_eq!(
            t.marker(7, &b64(&audio))["audio"]["sha256"]
                .as_str()
                .map(str::len),
            Some(64)
        );
        // With a header in front.
        t.add(8, &audio);
        let mut wav = b"RIFF....WAVE".to_vec();
        wav.extend_from_slice(&audio);
        let m = t.marker(9, &b64(&wav));
        assert_eq!(m["audio"]["input"], 8);
        assert_eq!(m["audio"]["prefix"], b64(b"RIFF....WAVE"));
        assert_eq!(m["audio"]["len"], wav.len());
        // Anything else carries its own digest.
        let m = t.marker(9, &b64(b"unrelated"));
        assert_eq!(m["audio"]["sha256"], sha256_hex(b"unrelated"));
        // A prefix longer than the limit is not a match.
        t.add(10, b"x");
        let long = [vec![0u8; MAX_PREFIX + 1], b"x".to_vec()].concat();
        assert!(t.marker(10, &b64(&long))["audio"].get("input").is_none());
    }

    #[test]
    fn scrub_finds_blobs_at_any_depth() {
        let mut t = AudioTable::default();
        t.add(1, b"abc");
        t.add(2, b"def");
        let mut v = json!([
            {"result": {"content": [{"type": "audio", "data": "YWJj", "mimeType": "audio/mpeg"},
                                    {"type": "text", "data": "not audio"}]}},
            {"result": {"contents": [{"uri": "audio://x.mp3", "blob": "ZGVm"}]}}
        ]);
        t.scrub(5, &mut v);
        assert_eq!(v[0]["result"]["content"][0]["data"]["audio"]["input"], 1);
        assert_eq!(v[0]["result"]["content"][1]["data"], "not audio");
        assert_eq!(v[1]["result"]["contents"][0]["blob"]["audio"]["input"], 2);
    }

    #[test]
    fn the_current_input_wins_over_older_identical_audio() {
        let mut t = AudioTable::default();
        t.add(1, b"same");
        t.add(2, b"same");
        assert_eq!(t.marker(2, "c2FtZQ==")["audio"]["input"], 2);
        assert_eq!(t.marker(3, "c2FtZQ==")["audio"]["input"], 1);
    }
}
