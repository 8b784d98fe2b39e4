//! Test support: the real binary over stdio in an isolated environment, and the vendored MCP
//! schemas to validate what it says.
#![allow(dead_code, unreachable_pub)]

pub mod connect_proxy;
pub mod fake_elevenlabs;
#[cfg(feature = "http-server")]
pub mod http;
#[cfg(feature = "http-server")]
pub mod http_client;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mcp-elevenlabs");
pub const VERSIONS: [&str; 5] = [
    "2024-11-05",
    "2025-03-26",
    "2025-06-18",
    "2025-11-25",
    "2026-07-28",
];
const WAIT: Duration = Duration::from_secs(20);

/// A private HOME with XDG directories, removed on drop.
pub struct Home {
    pub dir: PathBuf,
}

impl Home {
    pub fn new(name: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("mcp-el-test-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config/mcp-elevenlabs/config.yaml")
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state/mcp-elevenlabs/state.json")
    }

    pub fn audio_dir(&self) -> PathBuf {
        self.dir.join("data/mcp-elevenlabs/audio")
    }

    /// The audio cache (`$HOME/.cache`, as no `XDG_CACHE_HOME` is set).
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.join(".cache/mcp-elevenlabs/tts")
    }

    pub fn write_config(&self, text: &str) {
        let p = self.config_path();
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// A command for the binary with only this home's environment.
    pub fn command(&self, env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("XDG_STATE_HOME", self.dir.join("state"))
            .env("XDG_DATA_HOME", self.dir.join("data"));
        // Under `cargo llvm-cov` the server's own coverage goes where the tests' goes.
        if let Some(profile) = std::env::var_os("LLVM_PROFILE_FILE") {
            cmd.env("LLVM_PROFILE_FILE", profile);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a CLI command to completion: (exit code, stdout, stderr).
    pub fn run(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: impl AsRef<[u8]>,
    ) -> (i32, String, String) {
        let mut child = self
            .command(env)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_ref())
            .unwrap();
        let out = wait_output(child);
        (out.0.code().unwrap_or(-1), out.1, out.2)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_output(mut child: Child) -> (ExitStatus, String, String) {
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let status = wait_bounded(&mut child, WAIT).expect("the binary did not exit in time");
    (status, out.join().unwrap(), err.join().unwrap())
}

/// Waits for `child` to exit, killing it after `limit`.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Collects what `from` writes, as it comes.
pub fn capture(mut from: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

/// The server running over stdio.
pub struct Server {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    /// Every stdout line so far, to check that nothing but protocol was written.
    pub seen: Vec<String>,
}

impl Server {
    pub fn start(home: &Home, env: &[(&str, &str)]) -> Self {
        let mut child = home
            .command(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = capture(child.stderr.take().unwrap());
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin
            .as_mut()
            .expect("stdin open")
            .write_all(bytes)
            .unwrap();
        self.stdin.as_mut().unwrap().flush().unwrap();
    }

    pub fn send(&mut self, msg: &Value) {
        let mut line = serde_json::to_vec(msg).unwrap();
        line.push(b'\n');
        self.send_raw(&line);
    }

    /// The next stdout line as JSON; panics if it is not JSON or does not come in time.
    pub fn recv(&mut self) -> Value {
        self.recv_within(WAIT)
            .expect("no reply from the server in time")
    }

    pub fn recv_within(&mut self, limit: Duration) -> Option<Value> {
        let line = self.lines.recv_timeout(limit).ok()?;
        self.seen.push(line.clone());
        Some(
            serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}")),
        )
    }

    /// Sends a request and returns its response, collecting notifications seen before it.
    pub fn request(&mut self, msg: &Value) -> (Value, Vec<Value>) {
        self.send(msg);
        let mut notes = Vec::new();
        loop {
            let v = self.recv();
            if v.get("id").is_some() && v.get("method").is_none() && v["id"] == msg["id"] {
                return (v, notes);
            }
            notes.push(v);
        }
    }

    pub fn call(&mut self, msg: &Value) -> Value {
        self.request(msg).0
    }

    /// Hands stdin to the caller (e.g. a writer thread); the server sees EOF when it is dropped.
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.stdin.take().expect("stdin open")
    }

    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Closes stdin and waits for a clean exit.
    pub fn finish(mut self, limit: Duration) -> (Option<ExitStatus>, String, Vec<String>) {
        self.close_stdin();
        let status = wait_bounded(&mut self.child, limit);
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
        thread::sleep(Duration::from_millis(50));
        let stderr = self.stderr();
        (status, stderr, std::mem::take(&mut self.seen))
    }

    /// Peak resident memory (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc status")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn initialize(id: u64, version: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "tests", "version": "1"}}})
}

/// A request; for 2026-07-28 with the per-request `_meta`.
pub fn req(version: &str, id: u64, method: &str, params: Value) -> Value {
    let mut params = if params.is_null() { json!({}) } else { params };
    if version == "2026-07-28" {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": version,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "tests", "version": "1"}
        });
    }
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// The vendored MCP schemas, one per version.
pub struct Schemas {
    docs: HashMap<&'static str, Value>,
}

impl Schemas {
    pub fn load() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor-schemas/mcp");
        let mut docs = HashMap::new();
        for v in VERSIONS {
            let path = root.join(v).join("schema.json");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run `vendor-schemas/sync` first (scripts/check.sh does)",
                    path.display()
                )
            });
            docs.insert(v, serde_json::from_str(&text).unwrap());
        }
        Self { docs }
    }

    fn defs(&self, version: &str) -> (&'static str, &serde_json::Map<String, Value>) {
        let doc = &self.docs[version];
        if let Some(d) = doc.get("definitions") {
            ("definitions", d.as_object().unwrap())
        } else {
            ("$defs", doc["$defs"].as_object().unwrap())
        }
    }

    /// Whether `def` declares the member `name` (older schemas leave the envelope out).
    pub fn declares(&self, version: &str, def: &str, name: &str) -> bool {
        self.defs(version).1[def]["properties"].get(name).is_some()
    }

    pub fn has(&self, version: &str, def: &str) -> bool {
        self.defs(version).1.contains_key(def)
    }

    /// Validates `value` against the definition `def` of `version`'s schema, and checks that no
    /// object carries a member its (closed-by-intent) definition does not declare.
    pub fn check(&self, version: &str, def: &str, value: &Value) {
        let (key, defs) = self.defs(version);
        assert!(defs.contains_key(def), "{version} has no definition {def}");
        let mut schema = self.docs[version].clone();
        schema["$ref"] = json!(format!("#/{key}/{def}"));
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{version} {def}: {errors:#?}\n{value:#}");
        let mut extra = Vec::new();
        self.strict(defs, &defs[def], value, String::new(), &mut extra);
        assert!(
            extra.is_empty(),
            "{version} {def}: members the schema does not declare: {extra:?}\n{value:#}"
        );
    }

    fn strict(
        &self,
        defs: &serde_json::Map<String, Value>,
        schema: &Value,
        value: &Value,
        path: String,
        extra: &mut Vec<String>,
    ) {
        let schema = resolve(defs, schema);
        match value {
            Value::Object(map) => {
                let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                    return;
                };
                let open = schema.get("additionalProperties").is_some();
                for (k, v) in map {
                    // Free-form by definition: JSON Schemas, structured output, metadata.
                    if matches!(
                        k.as_str(),
                        "inputSchema" | "outputSchema" | "structuredContent" | "_meta"
                    ) {
                        continue;
                    }
                    match props.get(k) {
                        Some(s) => self.strict(defs, s, v, format!("{path}/{k}"), extra),
                        None if !open => extra.push(format!("{path}/{k}")),
                        None => {}
                    }
                }
            }
            Value::Array(items) => {
                if let Some(s) = schema.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.strict(defs, s, v, format!("{path}/{i}"), extra);
                    }
                }
            }
            _ => {}
        }
    }
}

fn resolve<'a>(defs: &'a serde_json::Map<String, Value>, schema: &'a Value) -> &'a Value {
    let mut s = schema;
    for _ in 0..8 {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => s = &defs[r.rsplit('/').next().unwrap()],
            None => break,
        }
    }
    s
}

/// A text of `n` different sentences made from `sentence` (which gets each sentence's number),
/// long enough from a few dozen on to be spoken in pieces.
pub fn long_text(n: usize, sentence: impl Fn(usize) -> String) -> String {
    (0..n)
        .map(|i| sentence(i) + " ")
        .collect::<String>()
        .trim_end()
        .to_string()
}
