//! The real binary as an HTTP server (`serve --http 127.0.0.1:0`), and the client of
//! `http_client.rs`.

use super::Home;
use super::http_client::Conn;
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// `serve --http` on a free loopback port.
pub struct HttpServer {
    pub child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl HttpServer {
    /// Starts the server with `env` and extra `args`, and waits for its `listening on` line.
    pub fn start(home: &Home, env: &[(&str, &str)], args: &[&str]) -> Self {
        let mut child = home
            .command(env)
            .args(["serve", "--http", "127.0.0.1:0"])
            .args(args)
            // A service: stdin at EOF does not stop it.
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = super::capture(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            let text = stderr.lock().unwrap().clone();
            if let Some(rest) = text.split("listening on http://").nth(1) {
                let addr = rest.split("/mcp").next().unwrap();
                break addr.parse().unwrap();
            }
            if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                panic!("the HTTP server did not start: {text}");
            }
            thread::sleep(Duration::from_millis(10));
        };
        Self {
            child,
            addr,
            stderr,
        }
    }

    pub fn connect(&self) -> Conn {
        Conn::open(self.addr)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (the caller waits for the exit).
    pub fn sigterm(&self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
