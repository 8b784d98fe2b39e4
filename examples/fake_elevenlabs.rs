//! The fake ElevenLabs API of the integration tests as a process, for clients written in other
//! languages (the Python SDK check). Prints its URL, serves until stdin closes.
//!
//! Usage: `cargo run --example fake_elevenlabs -- API_KEY`

#[path = "../tests/support/fake_elevenlabs.rs"]
mod fake_elevenlabs;

use std::io::Read;

fn main() {
    let key = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sk_fake".to_string());
    let fake = fake_elevenlabs::FakeElevenLabs::start(&key);
    println!("{}", fake.url());
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(fake);
}
