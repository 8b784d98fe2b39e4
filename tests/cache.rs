//! The audio cache end to end: the real binary, the fake ElevenLabs API, real files.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::fake_elevenlabs::{FakeElevenLabs, RACHEL, StreamConfig};
use support::{Home, Server, initialize, req};

const KEY: &str = "sk_test_cache_0123456789abcdef";
const V: &str = "2025-11-25";

fn serve(home: &Home, base_url: &str) -> Server {
    let env = [
        ("ELEVENLABS_API_KEY", KEY),
        ("ELEVENLABS_BASE_URL", base_url),
        ("MCP_ELEVENLABS_LOG", "debug"),
    ];
    let mut srv = Server::start(home, &env);
    srv.call(&initialize(1, V));
    srv
}

fn speak(srv: &mut Server, id: u64, text: &str, delivery: &str) -> Value {
    let args = json!({"text": text, "voice": RACHEL, "delivery": delivery});
    let r = srv.call(&req(
        V,
        id,
        "tools/call",
        json!({"name": "speak", "arguments": args}),
    ));
    r["result"].clone()
}

fn tts_requests(fake: &FakeElevenLabs) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.path.starts_with("/v1/text-to-speech/"))
        .count()
}

fn entries(home: &Home) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(home.cache_dir())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// The bytes of an inline result.
fn inline_audio(result: &Value) -> Vec<u8> {
    use base64::Engine as _;
    let data = result["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "audio")
        .expect("an audio block")["data"]
        .as_str()
        .unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap()
}

#[test]
fn the_same_speak_twice_makes_one_request_and_the_same_audio() {
    let home = Home::new("cache-twice");
    let fake = FakeElevenLabs::start(KEY);
    let mut srv = serve(&home, &fake.url());
    let first = speak(&mut srv, 2, "The same sentence, twice.", "inline");
    assert_eq!(first["isError"], false, "{first}");
    assert!(first["structuredContent"].get("cached").is_none());
    assert_eq!(tts_requests(&fake), 1);
    let second = speak(&mut srv, 3, "The same sentence, twice.", "inline");
    assert_eq!(second["isError"], false, "{second}");
    assert_eq!(second["structuredContent"]["cached"], true, "{second}");
    assert_eq!(tts_requests(&fake), 1, "the second came from the cache");
    assert_eq!(inline_audio(&first), inline_audio(&second));
    // Saved as a file too, from the same entry.
    let file = speak(&mut srv, 4, "The same sentence, twice.", "file");
    assert_eq!(file["structuredContent"]["cached"], true, "{file}");
    let path = file["structuredContent"]["path"].as_str().unwrap();
    assert_eq!(std::fs::read(path).unwrap(), inline_audio(&first));
    assert_eq!(tts_requests(&fake), 1);
    // Another text is another request.
    speak(&mut srv, 5, "A different sentence.", "inline");
    assert_eq!(tts_requests(&fake), 2);
    let health = srv.call(&req(
        V,
        6,
        "resources/read",
        json!({"uri": "health://status"}),
    ));
    let health: Value =
        serde_json::from_str(health["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(health["cache"]["hits"], 2, "{health}");
    assert_eq!(health["cache"]["entries"], 2, "{health}");
    let (status, stderr, _) = srv.finish(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{stderr}");
    assert_eq!(entries(&home).len(), 2);
}

#[test]
fn cached_audio_plays_after_a_restart_with_the_network_down_and_a_damaged_entry_is_a_miss() {
    let home = Home::new("cache-offline");
    let fake = FakeElevenLabs::start(KEY);
    let mut srv = serve(&home, &fake.url());
    let first = speak(&mut srv, 2, "Remember me.", "inline");
    speak(&mut srv, 3, "Me too.", "inline");
    srv.finish(Duration::from_secs(10));
    drop(fake);
    // Nothing listens there now.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);

    let mut srv = serve(&home, &url);
    let again = speak(&mut srv, 2, "Remember me.", "inline");
    assert_eq!(again["isError"], false, "{again}");
    assert_eq!(again["structuredContent"]["cached"], true);
    assert_eq!(inline_audio(&again), inline_audio(&first));

    // One flipped byte in the other entry: never served, removed, and the call goes to the
    // (unreachable) network instead.
    let audio = inline_audio(&first);
    let other = entries(&home)
        .into_iter()
        .find(|p| !std::fs::read(p).unwrap().starts_with(&audio))
        .unwrap();
    let mut bytes = std::fs::read(&other).unwrap();
    bytes[5] ^= 0x40;
    std::fs::write(&other, bytes).unwrap();
    let damaged = speak(&mut srv, 3, "Me too.", "inline");
    assert_eq!(damaged["isError"], true, "{damaged}");
    assert!(!other.exists(), "a damaged entry is removed");
    srv.finish(Duration::from_secs(10));

    // `cache stats` and `cache clear`.
    let (code, out, _) = home.run(&["cache", "stats"], &[], "");
    assert_eq!(code, 0);
    assert!(out.contains("entries    1"), "{out}");
    std::fs::write(home.cache_dir().join("keep.txt"), "not ours").unwrap();
    let (code, out, _) = home.run(&["cache", "clear"], &[], "");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("removed 1 entries"), "{out}");
    let left: Vec<_> = entries(&home);
    assert_eq!(left, vec![home.cache_dir().join("keep.txt")]);
}

#[test]
fn a_stream_cut_short_leaves_no_entry() {
    let home = Home::new("cache-cut");
    let fake = FakeElevenLabs::start(KEY);
    fake.fail_next(
        "/v1/text-to-speech/",
        1,
        support::fake_elevenlabs::Reply::ResetAfter(3000),
    );
    let mut srv = serve(&home, &fake.url());
    let r = speak(&mut srv, 2, "Cut me off.", "file");
    assert_eq!(r["isError"], true, "{r}");
    srv.finish(Duration::from_secs(10));
    assert!(entries(&home).is_empty(), "{:?}", entries(&home));
    let files = std::fs::read_dir(home.audio_dir()).map_or(0, |d| d.count());
    assert_eq!(files, 0, "no partial audio file either");
}

#[test]
fn cache_off_asks_every_time() {
    let home = Home::new("cache-off");
    let fake = FakeElevenLabs::start(KEY);
    let url = fake.url();
    let env = [
        ("ELEVENLABS_API_KEY", KEY),
        ("ELEVENLABS_BASE_URL", url.as_str()),
        ("MCP_ELEVENLABS_CACHE", "false"),
    ];
    let mut srv = Server::start(&home, &env);
    srv.call(&initialize(1, V));
    speak(&mut srv, 2, "Again and again.", "inline");
    let r = speak(&mut srv, 3, "Again and again.", "inline");
    assert!(r["structuredContent"].get("cached").is_none(), "{r}");
    assert_eq!(tts_requests(&fake), 2);
    srv.finish(Duration::from_secs(10));
    assert!(entries(&home).is_empty());
}

/// An entry file is whole: its footer's length and SHA-256 match the audio before it.
fn entry_is_whole(bytes: &[u8]) -> bool {
    let Some(audio_len) = bytes.len().checked_sub(40) else {
        return false;
    };
    let (audio, footer) = bytes.split_at(audio_len);
    let len = u64::from_le_bytes(footer[..8].try_into().unwrap());
    let hash = ring::digest::digest(&ring::digest::SHA256, audio);
    len == audio_len as u64 && hash.as_ref() == &footer[8..]
}

/// `kill -9` at random points while audio streams into a file and the cache: afterwards no
/// file under a final name is partial, no cache entry is damaged, and a restarted server
/// serves every entry it finds whole and fetches the rest.
#[cfg(unix)]
#[test]
fn kill_9_during_writes_leaves_no_partial_file_nor_damaged_entry() {
    use support::fake_elevenlabs::fake_audio;
    const RUNS: u64 = 24;
    let home = Home::new("cache-kill9");
    let fake = FakeElevenLabs::start(KEY);
    // 16 chunks of 4 KiB, 6 ms apart: a stream takes about 100 ms.
    fake.set_stream(StreamConfig {
        chunks: 16,
        chunk_bytes: 4096,
        first_byte_delay: Duration::from_millis(5),
        chunk_delay: Duration::from_millis(6),
        ..StreamConfig::default()
    });
    let url = fake.url();
    let full = |i: u64| {
        fake_audio(
            &format!("Crash run number {i}."),
            "mp3_44100_128",
            16 * 4096,
        )
    };
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..RUNS {
        let mut srv = serve(&home, &url);
        let args =
            json!({"text": format!("Crash run number {i}."), "voice": RACHEL, "delivery": "file"});
        srv.send(&req(
            V,
            2,
            "tools/call",
            json!({"name": "speak", "arguments": args}),
        ));
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = Duration::from_millis(rng % 250);
        std::thread::sleep(delay);
        let killed = std::process::Command::new("kill")
            .args(["-9", &srv.pid().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let _ = srv.child.wait();
        for file in std::fs::read_dir(home.audio_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue; // a temp file: never served, swept at the next start
            }
            let bytes = std::fs::read(file.path()).unwrap();
            assert!(
                (0..=i).any(|k| bytes == full(k)),
                "run {i} (killed after {delay:?}): {name} is partial ({} bytes)",
                bytes.len()
            );
        }
        for entry in entries(&home) {
            let name = entry.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let bytes = std::fs::read(&entry).unwrap();
            assert!(
                entry_is_whole(&bytes),
                "run {i} (killed after {delay:?}): entry {name} is damaged"
            );
        }
    }
    // Every run again: whole entries are served, the rest fetched; all audio is right.
    let whole = entries(&home)
        .iter()
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .count() as u64;
    eprintln!("{whole} of {RUNS} runs left a whole entry before the kill");
    let before = tts_requests(&fake);
    let mut srv = serve(&home, &url);
    let mut hits = 0;
    for i in 0..RUNS {
        let r = speak(&mut srv, 10 + i, &format!("Crash run number {i}."), "file");
        assert_eq!(r["isError"], false, "{r}");
        hits += u64::from(r["structuredContent"]["cached"] == true);
        let path = r["structuredContent"]["path"].as_str().unwrap();
        assert_eq!(std::fs::read(path).unwrap(), full(i), "run {i}");
    }
    assert_eq!(hits, whole);
    assert_eq!(tts_requests(&fake) - before, (RUNS - whole) as usize);
    srv.finish(Duration::from_secs(10));
}
