//! A small blocking HTTP/1.1 client that shows the tests every byte: statuses, headers, chunked
//! event streams. std and serde_json only, so that `examples/http_load.rs` includes it too.
#![allow(dead_code, unreachable_pub, missing_docs)]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{e}: {} {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn is_stream(&self) -> bool {
        self.header("content-type") == Some("text/event-stream")
    }

    /// The JSON of every `message` event of an event stream.
    pub fn events(&self) -> Vec<Value> {
        events(&self.body)
            .into_iter()
            .filter(|(e, _)| e == "message")
            .map(|(_, d)| serde_json::from_str(&d).unwrap())
            .collect()
    }

    /// The reply: the JSON body, or the last message of the stream.
    pub fn reply(&self) -> Value {
        if self.is_stream() {
            self.events().pop().expect("a reply event")
        } else {
            self.json()
        }
    }
}

/// (event, data) of each event in `body`.
pub fn events(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty() && !e.starts_with(':'))
        .map(|e| {
            let mut event = "message".to_string();
            let mut data = String::new();
            for line in e.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_string();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            (event, data)
        })
        .collect()
}

/// A keep-alive HTTP/1.1 connection.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut out = format!("{method} {path} HTTP/1.1\r\n");
        let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
        if !has("host") {
            out.push_str("Host: 127.0.0.1\r\n");
        }
        if !body.is_empty() && !has("content-type") {
            out.push_str("Content-Type: application/json\r\n");
        }
        if !has("content-length") && !has("transfer-encoding") {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (n, v) in headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes).unwrap();
    }

    /// Sends and reads the whole response (an event stream to its end).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        self.send(method, path, headers, body);
        self.response()
    }

    /// POSTs JSON to `/mcp`, taking JSON or an event stream.
    pub fn post(&mut self, headers: &[(&str, &str)], body: &Value) -> Resp {
        let mut h = vec![("Accept", "application/json, text/event-stream")];
        h.extend_from_slice(headers);
        self.request("POST", "/mcp", &h, body.to_string().as_bytes())
    }

    /// Reads a response head; `None` if the connection closed first.
    pub fn head(&mut self) -> Option<Resp> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if !self.fill() {
                return None;
            }
        };
        let head = String::from_utf8(self.buf.drain(..end + 4).collect()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_string(), v.trim().to_string())
            })
            .collect();
        Some(Resp {
            status,
            headers,
            body: Vec::new(),
        })
    }

    /// Reads a whole response.
    pub fn response(&mut self) -> Resp {
        let mut r = self.head().expect("a response");
        if r.header("transfer-encoding") == Some("chunked") {
            while let Some(chunk) = self.chunk() {
                r.body.extend(chunk);
            }
        } else {
            let n: usize = r.header("content-length").unwrap_or("0").parse().unwrap();
            while self.buf.len() < n {
                assert!(self.fill(), "the body ended early");
            }
            r.body = self.buf.drain(..n).collect();
        }
        r
    }

    /// The next chunk of a chunked body; `None` at its end.
    pub fn chunk(&mut self) -> Option<Vec<u8>> {
        let line_end = loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            assert!(self.fill(), "the stream ended without its last chunk");
        };
        let size_line = String::from_utf8(self.buf.drain(..line_end + 2).collect()).unwrap();
        let size = usize::from_str_radix(size_line.trim(), 16).unwrap();
        while self.buf.len() < size + 2 {
            assert!(self.fill(), "the chunk ended early");
        }
        let chunk: Vec<u8> = self.buf.drain(..size).collect();
        self.buf.drain(..2);
        (size > 0).then_some(chunk)
    }

    /// Reads more; `false` at EOF (or a reset).
    pub fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 16 * 1024];
        match self.stream.read(&mut tmp) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }

    /// The server closed the connection (EOF within `limit`).
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        self.stream.set_read_timeout(Some(limit)).unwrap();
        let mut tmp = [0u8; 1024];
        matches!(self.stream.read(&mut tmp), Ok(0)) || {
            matches!(self.stream.read(&mut tmp), Ok(0))
        }
    }
}
