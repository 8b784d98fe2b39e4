//! Audio formats: what each `output_format` is on the wire and on disk, WAV headers for raw PCM
//! and G.711, durations, and the content hash used in file names.

/// The container or encoding of an `output_format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// MPEG audio layer III.
    Mp3,
    /// Opus in Ogg.
    Opus,
    /// Raw 16-bit little-endian PCM (saved wrapped in WAV).
    Pcm,
    /// G.711 μ-law, 8 bit (saved wrapped in WAV).
    Ulaw,
    /// G.711 A-law, 8 bit (saved wrapped in WAV).
    Alaw,
}

/// A parsed `output_format` such as `mp3_44100_128` or `wav_24000`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    /// How the bytes are encoded.
    pub codec: Codec,
    /// Samples per second.
    pub sample_rate: u32,
    /// kbit/s for mp3 and opus.
    pub kbps: Option<u32>,
    /// `wav_*` was asked for: request the PCM stream and wrap it.
    pub wav: bool,
}

impl Format {
    /// Parses a format name; `None` if unknown.
    pub fn parse(name: &str) -> Option<Self> {
        let mut parts = name.split('_');
        let kind = parts.next()?;
        let rate: u32 = parts.next()?.parse().ok()?;
        let kbps: Option<u32> = match parts.next() {
            Some(k) => Some(k.parse().ok()?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        let (codec, wav) = match kind {
            "mp3" => (Codec::Mp3, false),
            "opus" => (Codec::Opus, false),
            "pcm" => (Codec::Pcm, false),
            "wav" => (Codec::Pcm, true),
            "ulaw" => (Codec::Ulaw, false),
            "alaw" => (Codec::Alaw, false),
            _ => return None,
        };
        let needs_kbps = matches!(codec, Codec::Mp3 | Codec::Opus);
        (needs_kbps == kbps.is_some()).then_some(Self {
            codec,
            sample_rate: rate,
            kbps,
            wav,
        })
    }

    /// The format to request from the streaming endpoint (which has no `wav_*`).
    pub fn wire_name(self) -> String {
        match self.codec {
            Codec::Mp3 => format!("mp3_{}_{}", self.sample_rate, self.kbps.unwrap_or(128)),
            Codec::Opus => format!("opus_{}_{}", self.sample_rate, self.kbps.unwrap_or(64)),
            Codec::Pcm => format!("pcm_{}", self.sample_rate),
            Codec::Ulaw => format!("ulaw_{}", self.sample_rate),
            Codec::Alaw => format!("alaw_{}", self.sample_rate),
        }
    }

    /// Raw samples that are saved inside a WAV header.
    pub fn wrapped_in_wav(self) -> bool {
        matches!(self.codec, Codec::Pcm | Codec::Ulaw | Codec::Alaw)
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self.codec {
            Codec::Mp3 => "mp3",
            Codec::Opus => "opus",
            Codec::Pcm | Codec::Ulaw | Codec::Alaw => "wav",
        }
    }

    /// The MIME type of the saved (or inline) audio.
    pub fn mime(self) -> &'static str {
        match self.codec {
            Codec::Mp3 => "audio/mpeg",
            Codec::Opus => "audio/ogg",
            Codec::Pcm | Codec::Ulaw | Codec::Alaw => "audio/wav",
        }
    }

    /// The duration of `data_bytes` of audio (exact for raw samples, from the bitrate otherwise).
    pub fn duration_ms(self, data_bytes: u64) -> Option<u64> {
        let bytes_per_second: u64 = match self.codec {
            Codec::Pcm => u64::from(self.sample_rate) * 2,
            Codec::Ulaw | Codec::Alaw => u64::from(self.sample_rate),
            Codec::Mp3 | Codec::Opus => u64::from(self.kbps?) * 1000 / 8,
        };
        (bytes_per_second > 0).then(|| data_bytes.saturating_mul(1000) / bytes_per_second)
    }

    /// A 44-byte WAV header for `data_len` bytes of this format's samples (mono).
    pub fn wav_header(self, data_len: u32) -> [u8; WAV_HEADER_LEN] {
        let (code, bits): (u16, u16) = match self.codec {
            Codec::Ulaw => (7, 8),
            Codec::Alaw => (6, 8),
            _ => (1, 16),
        };
        let block_align = bits / 8;
        let byte_rate = self.sample_rate * u32::from(block_align);
        let mut h = [0u8; WAV_HEADER_LEN];
        h[0..4].copy_from_slice(b"RIFF");
        h[4..8].copy_from_slice(&data_len.saturating_add(36).to_le_bytes());
        h[8..12].copy_from_slice(b"WAVE");
        h[12..16].copy_from_slice(b"fmt ");
        h[16..20].copy_from_slice(&16u32.to_le_bytes());
        h[20..22].copy_from_slice(&code.to_le_bytes());
        h[22..24].copy_from_slice(&1u16.to_le_bytes());
        h[24..28].copy_from_slice(&self.sample_rate.to_le_bytes());
        h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
        h[32..34].copy_from_slice(&block_align.to_le_bytes());
        h[34..36].copy_from_slice(&bits.to_le_bytes());
        h[36..40].copy_from_slice(b"data");
        h[40..44].copy_from_slice(&data_len.to_le_bytes());
        h
    }
}

/// Length of the WAV header written before raw samples.
pub const WAV_HEADER_LEN: usize = 44;

/// FNV-1a, 64 bit: a content hash for file names (not for security).
#[derive(Clone, Copy, Debug)]
pub struct ContentHash(u64);

impl Default for ContentHash {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl ContentHash {
    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Eight hex digits.
    pub fn hex8(self) -> String {
        format!("{:08x}", (self.0 >> 32) as u32 ^ self.0 as u32)
    }
}

/// `YYYYMMDD-HHMMSS` (UTC) of a unix time, for file names.
pub fn timestamp(unix: u64) -> String {
    let (year, month, day) = super::httpdate::civil_from_days(unix / 86_400);
    let secs = unix % 86_400;
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `YYYY-MM-DD HH:MM UTC` of a unix time, for people; `None` before 1970.
pub fn utc_minute(unix: i64) -> Option<String> {
    let ts = timestamp(u64::try_from(unix).ok()?);
    Some(format!(
        "{}-{}-{} {}:{} UTC",
        &ts[0..4],
        &ts[4..6],
        &ts[6..8],
        &ts[9..11],
        &ts[11..13]
    ))
}

/// A voice name made safe for a file name: lower-case ASCII letters and digits, `-` between.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 24 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "voice".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let f = Format::parse("wav_24000").unwrap();
        assert!(f.wav && f.wrapped_in_wav());
        assert_eq!(f.wire_name(), "pcm_24000");
        assert_eq!((f.extension(), f.mime()), ("wav", "audio/wav"));
        assert_eq!(f.duration_ms(48_000), Some(1000));
        let m = Format::parse("mp3_44100_128").unwrap();
        assert_eq!(
            (m.extension(), m.mime(), m.wire_name().as_str()),
            ("mp3", "audio/mpeg", "mp3_44100_128")
        );
        assert_eq!(m.duration_ms(16_000), Some(1000));
        assert_eq!(Format::parse("opus_48000_64").unwrap().mime(), "audio/ogg");
        assert_eq!(
            Format::parse("ulaw_8000").unwrap().duration_ms(8000),
            Some(1000)
        );
        for bad in ["mp3_44100", "pcm_x", "flac_44100", "pcm_16000_1", ""] {
            assert_eq!(Format::parse(bad), None, "{bad}");
        }
        for name in crate::core::tools::speak::OUTPUT_FORMATS {
            assert!(Format::parse(name).is_some(), "{name}");
        }
    }

    #[test]
    fn wav_headers() {
        let h = Format::parse("pcm_16000").unwrap().wav_header(3200);
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()), 3236);
        assert_eq!(u16::from_le_bytes(h[20..22].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(h[24..28].try_into().unwrap()), 16000);
        assert_eq!(u32::from_le_bytes(h[28..32].try_into().unwrap()), 32000);
        assert_eq!(u16::from_le_bytes(h[34..36].try_into().unwrap()), 16);
        assert_eq!(u32::from_le_bytes(h[40..44].try_into().unwrap()), 3200);
        let u = Format::parse("ulaw_8000").unwrap().wav_header(10);
        assert_eq!(u16::from_le_bytes(u[20..22].try_into().unwrap()), 7);
        assert_eq!(u16::from_le_bytes(u[34..36].try_into().unwrap()), 8);
        let a = Format::parse("alaw_8000").unwrap().wav_header(10);
        assert_eq!(u16::from_le_bytes(a[20..22].try_into().unwrap()), 6);
    }

    #[test]
    fn names() {
        assert_eq!(timestamp(0), "19700101-000000");
        assert_eq!(timestamp(1_795_791_661), "20261127-150101");
        assert_eq!(timestamp(951_782_400), "20000229-000000");
        assert_eq!(
            utc_minute(1_767_225_600).as_deref(),
            Some("2026-01-01 00:00 UTC")
        );
        assert_eq!(utc_minute(-1), None);
        assert_eq!(slug("Rachel"), "rachel");
        assert_eq!(slug("Adam Stone (deep)"), "adam-stone-deep");
        assert_eq!(slug("日本"), "voice");
        let mut h = ContentHash::default();
        h.update(b"abc");
        assert_eq!(h.hex8().len(), 8);
    }
}
