//! One HTTP/1.1 connection on its own thread: read a request (httparse for the head, bounded in
//! size and time), let the guard check it, hand it to the core loop whole, write what the core
//! answers (a whole response, or an event stream in chunks), and go round again while the
//! client keeps the connection alive.

use super::Shared;
use super::parse::{Framing, Parsed, parse_head};
use crate::core::Input;
use crate::core::http::{ConnId, Head, HttpIn, Method, Reply, Response};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A request's head must arrive whole within this long of its first byte (or the keep-alive
/// timeout, if shorter).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Each wait for bytes of a body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a connection waiting for the core checks that its client is still there.
const WATCH: Duration = Duration::from_millis(100);
/// An event stream with nothing to say sends a comment this often (proxies keep it open, and a
/// client that left is noticed).
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long, and how much, a closing connection reads and drops (see [`linger`]).
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;
/// Bytes read at a time.
const READ_CHUNK: usize = 8 * 1024;
/// Writes to a client that stopped reading give up after this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// A request read whole, or why not.
enum Read1 {
    /// The request, and its body's share of `http_server::BODY_BUDGET` (held until handed on).
    Request(Box<Head>, Vec<u8>, super::BodyBytes),
    /// The client closed, or stayed idle past the keep-alive timeout.
    Closed,
    /// Refused while reading (400, 408, 413, 431): send it and close.
    Refused(Response),
}

/// Serves one connection until it closes.
pub(super) fn serve(
    mut stream: TcpStream,
    conn: ConnId,
    replies: &Receiver<Reply>,
    queued: &AtomicUsize,
    shared: &Shared,
) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // A large body's buffer is not kept while the connection idles.
        buf.shrink_to(READ_CHUNK);
        shared.set_idle(conn, true);
        let read = read_request(&mut stream, &mut buf, conn, shared);
        let (head, body, held) = match read {
            Read1::Request(head, body, held) => (head, body, held),
            Read1::Closed => return,
            Read1::Refused(r) => {
                if write_whole(&mut stream, &r.closing()).is_ok() {
                    linger(&mut stream);
                }
                return;
            }
        };
        let close = head.close;
        // Closed to make room while it was read: the request is not started.
        if !shared.is_open(conn) {
            return;
        }
        let input = Input::Http(HttpIn::Request { conn, head, body });
        if shared.inputs.send(input).is_err() {
            return;
        }
        drop(held);
        match await_replies(&mut stream, conn, replies, queued, shared) {
            Ok(true) if !close => {}
            _ => return,
        }
    }
}

/// Writes the core's replies to one request. `Ok(true)`: the connection may take another.
fn await_replies(
    stream: &mut TcpStream,
    conn: ConnId,
    replies: &Receiver<Reply>,
    queued: &AtomicUsize,
    shared: &Shared,
) -> io::Result<bool> {
    let mut last_write = Instant::now();
    loop {
        let next = replies.recv_timeout(WATCH);
        if let Ok(reply) = &next {
            queued.fetch_sub(size(reply), Ordering::Relaxed);
        }
        match next {
            Ok(Reply::Whole { response, .. }) => {
                write_whole(stream, &response)?;
                return Ok(!response.close);
            }
            Ok(Reply::Open { headers, .. }) => {
                write_open(stream, &headers)?;
                last_write = Instant::now();
            }
            Ok(Reply::Event { data, .. }) => {
                write_chunk(stream, &data).inspect_err(|_| shared.gone(conn))?;
                last_write = Instant::now();
            }
            Ok(Reply::End { .. }) => {
                stream.write_all(b"0\r\n\r\n")?;
                return Ok(true);
            }
            Err(RecvTimeoutError::Timeout) => {
                if peer_closed(stream) {
                    shared.gone(conn);
                    return Ok(false);
                }
                if last_write.elapsed() >= KEEP_ALIVE && shared.streaming(conn) {
                    write_chunk(stream, b": keep-alive\n\n").inspect_err(|_| shared.gone(conn))?;
                    last_write = Instant::now();
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(false),
        }
    }
}

/// The client closed its side (or the socket failed). Bytes waiting (a pipelined request)
/// mean it is still there.
fn peer_closed(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let closed = match stream.peek(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    closed
}

/// Reads one request: the head within the keep-alive timeout of the last one and
/// [`HEAD_TIMEOUT`] of its first byte, the guard's check, then the body.
fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>, conn: ConnId, shared: &Shared) -> Read1 {
    let limits = &shared.limits;
    let head_timeout = HEAD_TIMEOUT.min(limits.idle_timeout);
    let mut deadline = Instant::now() + limits.idle_timeout;
    let mut started = !buf.is_empty();
    if started {
        deadline = Instant::now() + head_timeout;
        shared.set_idle(conn, false);
    }
    let parsed = loop {
        if !buf.is_empty() {
            match parse_head(buf, limits.max_head) {
                Ok(Some(parsed)) => break parsed,
                Ok(None) => {}
                Err(r) => return Read1::Refused(r),
            }
        }
        match read_some(stream, buf, deadline, limits.max_head + 1) {
            Ok(0) => return Read1::Closed,
            Ok(_) if !started => {
                // A request has begun: the connection is no longer idle (not closed for room).
                started = true;
                deadline = Instant::now() + head_timeout;
                shared.set_idle(conn, false);
            }
            Ok(_) => {}
            Err(e) if is_timeout(&e) && started => {
                return Read1::Refused(Response::text(408, "the request head took too long"));
            }
            Err(_) => return Read1::Closed,
        }
    };
    buf.drain(..parsed.len);
    if let Err(r) = shared.policy.check(&parsed.head) {
        return Read1::Refused(r);
    }
    if parsed.head.method == Method::Head {
        // Answered here: a response to HEAD has no body, which the core's responses all have.
        return Read1::Refused(Response::empty(405).header("Allow", "GET, POST, DELETE"));
    }
    let wanted = match parsed.framing {
        Framing::Length(n) => n.min(limits.max_body),
        Framing::Chunked => limits.max_body,
    };
    let Some(held) = shared.hold_body(wanted) else {
        let msg = "too many request bodies being read at once; retry shortly";
        return Read1::Refused(Response::text(503, msg).header("Retry-After", "1"));
    };
    let body = match parsed.framing {
        Framing::Length(n) if n > limits.max_body => {
            let msg = format!(
                "request body of {n} bytes is over the limit of {} (http.max_body_kb)",
                limits.max_body
            );
            return Read1::Refused(Response::text(413, &msg));
        }
        Framing::Length(n) => {
            continue_if_asked(stream, &parsed);
            read_exact_body(stream, buf, n)
        }
        Framing::Chunked => {
            continue_if_asked(stream, &parsed);
            read_chunked(stream, buf, limits.max_body)
        }
    };
    match body {
        Ok(body) => Read1::Request(Box::new(parsed.head), body, held),
        Err(r) => Read1::Refused(r),
    }
}

fn continue_if_asked(stream: &mut TcpStream, head: &Parsed) {
    if head.expect_continue {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
}

/// Reads until `buf` holds `n` body bytes (taking them out of `buf`).
fn read_exact_body(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    n: usize,
) -> Result<Vec<u8>, Response> {
    while buf.len() < n {
        let deadline = Instant::now() + BODY_READ_TIMEOUT;
        match read_some(stream, buf, deadline, n) {
            Ok(0) => return Err(Response::text(400, "the body ended early")),
            Ok(_) => {}
            Err(_) => return Err(Response::text(408, "the request body took too long")),
        }
    }
    Ok(buf.drain(..n).collect())
}

/// Reads a chunked body of at most `max` bytes.
fn read_chunked(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<Vec<u8>, Response> {
    let mut body = Vec::new();
    loop {
        let (skip, size) = loop {
            match httparse::parse_chunk_size(buf) {
                Ok(httparse::Status::Complete((skip, size))) => break (skip, size),
                Ok(httparse::Status::Partial) if buf.len() < 1024 => {
                    let deadline = Instant::now() + BODY_READ_TIMEOUT;
                    match read_some(stream, buf, deadline, 1024) {
                        Ok(0) | Err(_) => return Err(Response::text(400, "the body ended early")),
                        Ok(_) => {}
                    }
                }
                _ => return Err(Response::text(400, "bad chunk size")),
            }
        };
        buf.drain(..skip);
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if body.len().saturating_add(size) > max {
            let msg = format!("request body over the limit of {max} bytes (http.max_body_kb)");
            return Err(Response::text(413, &msg));
        }
        // The chunk and its CRLF (the last chunk: its CRLF, trailers not taken).
        let chunk = read_exact_body(stream, buf, size + 2)?;
        if &chunk[size..] != b"\r\n" {
            return Err(Response::text(400, "bad chunk"));
        }
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// One read into `buf`, waiting until `deadline`; never grows `buf` past `cap` (a read with no
/// room reads nothing and is treated as progress by the callers' size checks). Reads land in a
/// small buffer on the stack first: an idle connection holds only what it was sent.
fn read_some(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    deadline: Instant,
    cap: usize,
) -> io::Result<usize> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    stream.set_read_timeout(Some(left))?;
    let mut chunk = [0u8; READ_CHUNK];
    let room = cap.saturating_sub(buf.len()).clamp(1, READ_CHUNK);
    loop {
        match stream.read(&mut chunk[..room]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
        }
    }
}

/// After a response that closes the connection: reads and drops what the client still sends
/// (a body it is uploading, pipelined requests), briefly, so that closing with unread input
/// does not reset the connection before the client has read the response.
fn linger(stream: &mut TcpStream) {
    let deadline = Instant::now() + LINGER;
    let mut chunk = [0u8; READ_CHUNK];
    let mut left = LINGER_BYTES;
    while left > 0 {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() || stream.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

// ---- writing ------------------------------------------------------------------------------

/// The bytes a reply holds while it waits to be written (for the slow-client bound).
pub(super) fn size(reply: &Reply) -> usize {
    match reply {
        Reply::Whole { response, .. } => response.body.len() + 256,
        Reply::Event { data, .. } => data.len() + 16,
        Reply::Open { .. } | Reply::End { .. } => 64,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Writes a whole response in one write.
pub(super) fn write_whole(stream: &mut TcpStream, r: &Response) -> io::Result<()> {
    let mut out = Vec::with_capacity(256 + r.body.len());
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", r.status, reason(r.status));
    for (name, value) in &r.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    // A 204 has no body and no length (RFC 9110 §8.6).
    if r.status != 204 {
        let _ = write!(out, "Content-Length: {}\r\n", r.body.len());
    }
    if r.close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"Cache-Control: no-store\r\n\r\n");
    out.extend_from_slice(&r.body);
    stream.write_all(&out)?;
    if r.close {
        let _ = stream.shutdown(Shutdown::Write);
    }
    Ok(())
}

fn write_open(stream: &mut TcpStream, headers: &[(&'static str, String)]) -> io::Result<()> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n");
    for (name, value) in headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.extend_from_slice(b"\r\n");
    stream.write_all(&out)
}

fn write_chunk(stream: &mut TcpStream, data: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    stream.write_all(&out)
}
