//! Context-aware speech end to end: what `analyze` says is what `speak` sends to the fake
//! ElevenLabs API (voice settings, or `eleven_v3` tags in the text), and a caller's own
//! settings always win.
#![cfg(feature = "emotion")]

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::fake_elevenlabs::FakeElevenLabs;
use support::{Home, Server, initialize, req};

const KEY: &str = "sk_test_5f4e3d2c1b0a99887766";
const V: &str = "2025-11-25";
const ALARM: &str = "Error: the disk is full. Evacuate the server room now!";
const MIXED: &str = "Great news, the release is out! Error: the upload to the mirror failed.";

struct Setup {
    home: Home,
    fake: FakeElevenLabs,
    srv: Server,
    next: u64,
}

fn start(name: &str, extra: &[(&str, &str)]) -> Setup {
    let home = Home::new(name);
    let fake = FakeElevenLabs::start(KEY);
    let url = fake.url();
    let mut env = vec![
        ("ELEVENLABS_API_KEY", KEY),
        ("ELEVENLABS_BASE_URL", url.as_str()),
        ("ELEVENLABS_MCP_OUTPUT_MODE", "files"),
        ("MCP_ELEVENLABS_CACHE", "false"),
    ];
    env.extend_from_slice(extra);
    let mut srv = Server::start(&home, &env);
    srv.call(&initialize(1, V));
    Setup {
        home,
        fake,
        srv,
        next: 2,
    }
}

impl Setup {
    /// `speak` with these arguments: its structured result and the body sent to ElevenLabs.
    fn speak(&mut self, args: Value) -> (Value, Value) {
        self.fake.clear_requests();
        self.next += 1;
        let r = self.srv.call(&req(
            V,
            self.next,
            "tools/call",
            json!({"name": "speak", "arguments": args}),
        ));
        assert_eq!(r["result"]["isError"], false, "{r}");
        let sent = self
            .fake
            .requests()
            .into_iter()
            .filter(|q| q.path.starts_with("/v1/text-to-speech"))
            .collect::<Vec<_>>();
        assert_eq!(sent.len(), 1, "the analysis adds no request");
        (r["result"]["structuredContent"].clone(), sent[0].json())
    }

    /// `mcp-elevenlabs analyze --json` for this text, with the same home and settings.
    fn analyze(&self, args: &[&str]) -> Value {
        let mut all = vec!["analyze", "--json"];
        all.extend_from_slice(args);
        let (code, out, err) = self.home.run(&all, &[], "");
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(out.trim()).unwrap()
    }

    fn finish(self) {
        let (status, stderr, _) = self.srv.finish(Duration::from_secs(10));
        assert!(status.is_some_and(|s| s.success()), "{stderr}");
    }
}

#[test]
fn speak_sends_what_analyze_says() {
    let mut s = start("emotion-auto", &[]);
    let expected = s.analyze(&[ALARM]);
    assert_eq!(expected["tone"], "urgent", "{expected}");
    let (sc, body) = s.speak(json!({"text": ALARM}));
    assert_eq!(
        sc["emotion"], expected,
        "the result reports what analyze says"
    );
    assert_eq!(body["voice_settings"], expected["voice_settings"]);
    assert_eq!(body["text"], ALARM, "the words are unchanged");

    // A neutral text keeps the voice's own settings.
    let (sc, body) = s.speak(json!({"text": "The meeting is at three in room four."}));
    assert_eq!(sc["emotion"]["tone"], "neutral");
    assert_eq!(body.get("voice_settings"), None, "{body}");

    // A tone imposed by the call.
    let (sc, body) = s.speak(json!({"text": "The meeting is at three.", "emotion": "happy"}));
    assert_eq!(sc["emotion"]["tone"], "happy");
    let imposed = s.analyze(&["--emotion", "happy", "The meeting is at three."]);
    assert_eq!(body["voice_settings"], imposed["voice_settings"]);

    // Off: nothing read, nothing added.
    let (sc, body) = s.speak(json!({"text": ALARM, "emotion": "off"}));
    assert_eq!(sc.get("emotion"), None);
    assert_eq!(body.get("voice_settings"), None);
    s.finish();
}

#[test]
fn the_callers_settings_always_win() {
    let mut s = start("emotion-given", &[]);
    let expected = s.analyze(&[ALARM]);
    let given = json!({"stability": 0.9, "speed": 0.8});
    let (sc, body) = s.speak(json!({"text": ALARM, "voice_settings": given}));
    let sent = body["voice_settings"].as_object().unwrap();
    assert_eq!(sent["stability"], 0.9);
    assert_eq!(sent["speed"], 0.8);
    for field in ["similarity_boost", "style"] {
        assert_eq!(sent[field], expected["voice_settings"][field], "{field}");
    }
    let reported = sc["emotion"]["voice_settings"].as_object().unwrap();
    assert!(
        !reported.contains_key("stability") && !reported.contains_key("speed"),
        "only what the analysis set is reported as its own: {sc}"
    );
    s.finish();
}

#[test]
fn eleven_v3_gets_tags_at_sentence_starts_and_no_settings() {
    let mut s = start("emotion-v3", &[]);
    let expected = s.analyze(&["--model", "eleven_v3", MIXED]);
    let tagged = expected["text"].as_str().unwrap();
    assert!(tagged.starts_with('[') && tagged.ends_with(MIXED.split("! ").nth(1).unwrap()));
    let (sc, body) = s.speak(json!({"text": MIXED, "model": "eleven_v3"}));
    assert_eq!(body["text"], tagged);
    assert_eq!(body.get("voice_settings"), None, "{body}");
    assert_eq!(sc["emotion"]["tags"], expected["tags"]);
    assert_eq!(sc["emotion"]["sentences"], expected["sentences"]);
    assert_eq!(
        sc["characters"],
        tagged.chars().count(),
        "tags are sent, and billed, as characters"
    );
    // `raw` text goes exactly as given.
    let (_, body) = s.speak(json!({"text": MIXED, "model": "eleven_v3", "raw": true}));
    assert_eq!(body["text"], MIXED);
    s.finish();
}

#[test]
fn speech_emotion_off_in_the_config_turns_it_off() {
    let mut s = start("emotion-off", &[("MCP_ELEVENLABS_EMOTION", "off")]);
    let (sc, body) = s.speak(json!({"text": ALARM}));
    assert_eq!(sc.get("emotion"), None);
    assert_eq!(body.get("voice_settings"), None);
    // The call can still ask for it.
    let (sc, body) = s.speak(json!({"text": ALARM, "emotion": "auto"}));
    assert_eq!(sc["emotion"]["tone"], "urgent");
    assert!(body["voice_settings"].is_object());
    s.finish();
}

#[test]
fn analyze_scores_stdin_line_by_line_and_explains_bad_input() {
    let home = Home::new("emotion-cli");
    let input = format!("{ALARM}\nHello! How can I help you today?\n\n{MIXED}\n");
    let (code, out, err) = home.run(&["analyze"], &[], &input);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["tone"], "urgent");
    assert_eq!(lines[1]["question"], true);
    assert_eq!(lines[2]["tone"], "neutral", "an empty line is neutral");
    assert!(lines[3]["sentences"].is_array());
    for (l, text) in lines
        .iter()
        .zip([ALARM, "Hello! How can I help you today?"])
    {
        let (_, one, _) = home.run(&["analyze", "--json", text], &[], "");
        assert_eq!(&serde_json::from_str::<Value>(one.trim()).unwrap(), l);
    }
    // Not UTF-8: an error object for that line, the others answered, exit 1.
    let (code, out, _) = home.run(&["analyze"], &[], b"fine\n\xff\xfe\nalso fine\n");
    assert_eq!(code, 1);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1], json!({"error": "line 2 is not UTF-8"}));
    assert!(lines[2]["tone"].is_string(), "the line after is answered");
    let (code, _, err) = home.run(&["analyze", "--emotion", "loud", "x"], &[], "");
    assert_eq!(code, 2);
    assert!(err.contains("--emotion takes auto"), "{err}");
    // Human-readable.
    let (code, out, _) = home.run(&["analyze", MIXED], &[], "");
    assert_eq!(code, 0);
    assert!(
        out.starts_with("tone: ") && out.contains("sentences:"),
        "{out}"
    );
}
