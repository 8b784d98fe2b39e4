//! The fake ElevenLabs API of the integration tests as a process, for clients written in other
//! languages (the Python SDK check). Prints its URL, serves until stdin closes.
//!
//! Usage: `cargo run --example fake_elevenlabs -- API_KEY [CHUNKS CHUNK_BYTES CHUNK_DELAY_MS
//! [FIRST_BYTE_MS [FIRST_BYTE_US_PER_CHAR]]]` (the optional numbers shape every TTS stream, for
//! the benches).

#[path = "../tests/support/fake_elevenlabs.rs"]
mod fake_elevenlabs;

use std::io::Read;

fn main() {
    let key = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sk_fake".to_string());
    let fake = fake_elevenlabs::FakeElevenLabs::start(&key);
    let shape: Vec<u64> = std::env::args()
        .skip(2)
        .filter_map(|a| a.parse().ok())
        .collect();
    if let [chunks, bytes, delay_ms, ref first @ ..] = shape[..] {
        use std::time::Duration;
        fake.set_stream(fake_elevenlabs::StreamConfig {
            chunks: chunks as usize,
            chunk_bytes: bytes as usize,
            chunk_delay: Duration::from_millis(delay_ms),
            first_byte_delay: Duration::from_millis(first.first().copied().unwrap_or(0)),
            first_byte_per_char: Duration::from_micros(first.get(1).copied().unwrap_or(0)),
            ..fake_elevenlabs::StreamConfig::default()
        });
    }
    println!("{}", fake.url());
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(fake);
}
