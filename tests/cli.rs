//! The command line and configuration, end to end: files, precedence, masking, exit codes, and
//! the server's behaviour with broken or missing settings.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{Home, Schemas, Server, initialize, req};

const KEY: &str = "sk_9f8e7d6c5b4a39281706f5e4d3c2b1a0";

#[test]
fn version_and_help_on_every_command() {
    let home = Home::new("help");
    let (code, out, _) = home.run(&["--version"], &[], "");
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("mcp-elevenlabs {}", env!("CARGO_PKG_VERSION"))
    );
    for args in [
        &["--help"][..],
        &["-h"],
        &["serve", "--help"],
        &["config", "--help"],
        &["config", "init", "--help"],
        &["config", "list", "--help"],
        &["config", "path", "--help"],
        &["config", "clean", "--help"],
        &["--init", "--help"],
    ] {
        let (code, out, err) = home.run(args, &[], "");
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(
            out.starts_with("Usage") || out.starts_with("mcp-elevenlabs"),
            "{args:?}: {out}"
        );
    }
    for args in [
        &["speek"][..],
        &["config"],
        &["config", "lst"],
        &["--bogus"],
        &["config", "init", "--yes"],
    ] {
        let (code, out, err) = home.run(args, &[], "");
        assert_eq!(code, 2, "{args:?}");
        assert!(out.is_empty());
        assert!(err.contains("--help"), "{args:?}: {err}");
    }
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let home = Home::new("pipe");
    for args in [
        &["config", "path"][..],
        &["config", "list"],
        &["--help"],
        &["--version"],
    ] {
        let mut child = home
            .command(&[])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader went away, like `| head -0`
        let status = support::wait_bounded(&mut child, Duration::from_secs(10)).unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}");
    }
}

#[test]
fn init_writes_a_private_template_once() {
    let home = Home::new("init");
    let (code, out, _) = home.run(&["--init"], &[], "");
    assert_eq!(code, 0);
    assert_eq!(out.trim(), home.config_path().display().to_string());
    let text = std::fs::read_to_string(home.config_path()).unwrap();
    assert!(text.contains("api_key") && text.contains("breaker_cooldown_ms"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.config_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::write(home.config_path(), "elevenlabs:\n  model: eleven_v3\n").unwrap();
    let (code, _, err) = home.run(&["config", "init"], &[], "");
    assert_eq!(code, 2);
    assert!(err.contains("--force"));
    assert!(
        std::fs::read_to_string(home.config_path())
            .unwrap()
            .contains("eleven_v3"),
        "kept"
    );
    let (code, _, _) = home.run(&["config", "init", "--force"], &[], "");
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(home.config_path()).unwrap(), text);
    // The template itself is a valid config.
    let (code, _, err) = home.run(&["config", "list"], &[], "");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn list_shows_sources_and_masks_the_key() {
    let home = Home::new("list");
    home.write_config(&format!(
        "elevenlabs:\n  api_key: {KEY}\n  default_voice_id: fromconfig\n  model: eleven_v3\nlimits:\n  max_retries: 5\n"
    ));
    std::fs::create_dir_all(home.state_path().parent().unwrap()).unwrap();
    std::fs::write(
        home.state_path(),
        r#"{"elevenlabs.default_voice_id":"fromstate"}"#,
    )
    .unwrap();
    let (code, out, err) = home.run(
        &["config", "list"],
        &[("ELEVENLABS_MODEL_ID", "eleven_flash_v2")],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(KEY) && !err.contains(KEY));
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key} in {out}"))
            .to_string()
    };
    assert!(
        line("elevenlabs.api_key").contains("sk_…1a0")
            || line("elevenlabs.api_key").contains("sk_…b1a0"),
        "{out}"
    );
    assert!(line("elevenlabs.api_key").contains("[config file]"));
    assert!(
        line("elevenlabs.default_voice_id").contains("fromstate")
            && line("elevenlabs.default_voice_id").contains("[state file]")
    );
    assert!(
        line("elevenlabs.model").contains("eleven_flash_v2")
            && line("elevenlabs.model").contains("[env ELEVENLABS_MODEL_ID]")
    );
    assert!(
        line("limits.max_retries").contains('5')
            && line("limits.max_retries").contains("[config file]")
    );
    assert!(line("limits.max_concurrent").contains("[default]"));
    let audio = home.audio_dir().display().to_string();
    assert!(line("output.dir").contains(&audio), "{out}");
}

#[test]
fn path_honours_the_override() {
    let home = Home::new("path");
    let (code, out, _) = home.run(&["config", "path"], &[], "");
    assert_eq!(code, 0);
    assert_eq!(out.trim(), home.config_path().display().to_string());
    let custom = home.dir.join("elsewhere.yaml");
    let (_, out, _) = home.run(
        &["config", "path"],
        &[("MCP_ELEVENLABS_CONFIG", custom.to_str().unwrap())],
        "",
    );
    assert_eq!(out.trim(), custom.display().to_string());
}

#[test]
fn clean_asks_unless_yes() {
    let home = Home::new("clean");
    home.run(&["--init"], &[], "");
    std::fs::create_dir_all(home.state_path().parent().unwrap()).unwrap();
    std::fs::write(home.state_path(), "{}").unwrap();
    let (code, _, err) = home.run(&["config", "clean"], &[], "n\n");
    assert_eq!(code, 1);
    assert!(err.contains("Continue?") && err.contains("nothing deleted"));
    assert!(home.config_path().exists() && home.state_path().exists());
    let (code, out, _) = home.run(&["config", "clean"], &[], "y\n");
    assert_eq!(code, 0);
    assert!(out.contains("removed"));
    assert!(!home.config_path().exists() && !home.state_path().exists());
    home.run(&["--init"], &[], "");
    let (code, _, _) = home.run(&["config", "clean", "--yes"], &[], "");
    assert_eq!(code, 0);
    assert!(!home.config_path().exists());
    let (code, _, err) = home.run(&["config", "clean", "--yes"], &[], "");
    assert_eq!(code, 0);
    assert!(err.contains("nothing to clean"));
}

#[test]
fn a_broken_config_never_stops_the_server() {
    let home = Home::new("broken");
    home.write_config(
        "elevenlabs:\n  api_key: x\n  modle: eleven_v3\nlimits:\n  max_retries: -1\n",
    );
    let (code, _, err) = home.run(&["config", "list"], &[], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("`elevenlabs.modle`") && err.contains("did you mean `model`"),
        "{err}"
    );
    assert!(
        err.contains("`limits.max_retries` must be a whole number from 0 to 10 (got -1)"),
        "{err}"
    );

    let schemas = Schemas::load();
    let mut srv = Server::start(&home, &[]);
    let r = srv.call(&initialize(1, "2025-11-25"));
    schemas.check("2025-11-25", "InitializeResult", &r["result"]);
    let r = srv.call(&req(
        "2025-11-25",
        2,
        "tools/call",
        json!({"name": "speak", "arguments": {"text": "hi"}}),
    ));
    assert_eq!(r["result"]["isError"], true);
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains(&home.config_path().display().to_string()),
        "{text}"
    );
    assert!(
        text.contains("limits.max_retries") && text.contains("elevenlabs.modle"),
        "{text}"
    );
    let r = srv.call(&req(
        "2025-11-25",
        3,
        "resources/read",
        json!({"uri": "health://status"}),
    ));
    let health: Value =
        serde_json::from_str(r["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(health["status"], "config_error");

    // Not YAML at all: same story.
    home.write_config("elevenlabs: [unclosed\n");
    let (code, _, err) = home.run(&["config", "list"], &[], "");
    assert_eq!(code, 2);
    assert!(err.contains("not valid YAML"), "{err}");
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, "2025-06-18"));
    let r = srv.call(&req(
        "2025-06-18",
        2,
        "tools/call",
        json!({"name": "get_usage"}),
    ));
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("not valid YAML")
    );
}

#[test]
fn the_api_key_never_appears_in_output_or_logs() {
    let home = Home::new("secret");
    let fake = support::fake_elevenlabs::FakeElevenLabs::start(KEY);
    home.write_config(&format!(
        "elevenlabs:\n  api_key: {KEY}\n  base_url: {}\n",
        fake.url()
    ));
    let env = [("MCP_ELEVENLABS_LOG", "debug"), ("ELEVENLABS_API_KEY", KEY)];
    let mut srv = Server::start(&home, &env);
    srv.call(&initialize(1, "2025-11-25"));
    srv.call(&req(
        "2025-11-25",
        2,
        "logging/setLevel",
        json!({"level": "debug"}),
    ));
    let tools = [
        "speak",
        "list_voices",
        "set_default_voice",
        "list_models",
        "get_usage",
    ];
    for (i, tool) in tools.iter().enumerate() {
        let args = json!({"name": tool, "arguments": {"bogus": KEY}});
        let r = srv.call(&req("2025-11-25", 10 + i as u64, "tools/call", args));
        assert_eq!(r["result"]["isError"], true);
    }
    let args = json!({"name": "speak", "arguments": {"text": "hello"}});
    let r = srv.call(&req("2025-11-25", 20, "tools/call", args));
    assert_eq!(r["result"]["isError"], false, "{r}\n{}", srv.stderr());
    for (i, tool) in ["list_voices", "list_models", "get_usage"]
        .iter()
        .enumerate()
    {
        let r = srv.call(&req(
            "2025-11-25",
            30 + i as u64,
            "tools/call",
            json!({"name": tool}),
        ));
        assert_eq!(r["result"]["isError"], false, "{r}");
    }
    let r = srv.call(&req(
        "2025-11-25",
        21,
        "resources/read",
        json!({"uri": "health://status"}),
    ));
    assert!(
        r["result"]["contents"][0]["text"]
            .as_str()
            .unwrap()
            .contains("\"api_key\":\"set\"")
    );
    let (status, stderr, seen) = srv.finish(Duration::from_secs(10));
    assert!(status.unwrap().success());
    assert!(
        stderr.contains("tools/call speak"),
        "debug logging is on: {stderr}"
    );
    assert!(!stderr.contains(KEY), "{stderr}");
    for line in seen {
        assert!(!line.contains(KEY), "{line}");
    }
    for r in fake.requests() {
        assert_eq!(r.header("xi-api-key"), Some(KEY));
    }

    // A key in the wrong shape is a config problem, reported without the key.
    home.write_config(&format!("elevenlabs:\n  api_key: [{KEY}]\n"));
    let (code, out, err) = home.run(&["config", "list"], &[], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("elevenlabs.api_key") && !err.contains(KEY) && !out.contains(KEY),
        "{err}"
    );
    let mut srv = Server::start(&home, &[("MCP_ELEVENLABS_LOG", "debug")]);
    srv.call(&initialize(1, "2025-11-25"));
    let r = srv.call(&req(
        "2025-11-25",
        2,
        "tools/call",
        json!({"name": "get_usage"}),
    ));
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("elevenlabs.api_key") && !text.contains(KEY),
        "{text}"
    );
    let (_, stderr, _) = srv.finish(Duration::from_secs(10));
    assert!(
        stderr.contains("elevenlabs.api_key") && !stderr.contains(KEY),
        "{stderr}"
    );
}

#[cfg(unix)]
#[test]
fn ping_is_answered_while_a_read_is_blocked_and_eof_waits_boundedly() {
    use std::io::Write;
    let home = Home::new("fifo");
    std::fs::create_dir_all(home.audio_dir()).unwrap();
    let fifo = home.audio_dir().join("slow.mp3");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let mut srv = Server::start(&home, &[]);
    srv.call(&initialize(1, "2025-11-25"));
    // Reading a FIFO blocks its worker until something writes: a call in flight.
    srv.send(&req(
        "2025-11-25",
        2,
        "resources/read",
        json!({"uri": "audio://slow.mp3"}),
    ));
    let r = srv.call(&req("2025-11-25", 3, "ping", Value::Null));
    assert_eq!(r["result"], json!({}));
    let r = srv.call(&req("2025-11-25", 4, "tools/list", Value::Null));
    assert_eq!(r["id"], 4);
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(b"ID3abc").unwrap();
    drop(w);
    let r = srv.recv();
    assert_eq!(r["id"], 2);
    assert_eq!(r["result"]["contents"][0]["blob"], "SUQzYWJj");
    assert_eq!(r["result"]["contents"][0]["mimeType"], "audio/mpeg");

    // EOF with a read still blocked: the server exits after its grace period, not never.
    srv.send(&req(
        "2025-11-25",
        5,
        "resources/read",
        json!({"uri": "audio://slow.mp3"}),
    ));
    std::thread::sleep(Duration::from_millis(100));
    let started = std::time::Instant::now();
    let (status, stderr, _) = srv.finish(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?}: {stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(12));
    assert!(stderr.contains("cancelled 1 request"), "{stderr}");
}
