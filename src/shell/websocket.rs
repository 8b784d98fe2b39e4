//! Speech over ElevenLabs' WebSocket `stream-input` endpoint: the socket (through an HTTP
//! CONNECT tunnel when `HTTPS_PROXY` applies, TLS by rustls with the same ring provider and roots
//! as the HTTP client), tungstenite's handshake with the key in the `xi-api-key` header, the
//! messages of `core::stream_input` sent at once, then every frame read and parsed by the core
//! until the final one and the close. Waits for bytes come in slices of [`SLICE`], so a cancel
//! ends the job within that, whatever the server does; silence longer than
//! `limits.request_timeout_ms` is a timeout.

use super::http_client::{Client, StreamError, kept_headers};
use super::speech::{Take, Timed};
use crate::core::Alignment;
use crate::core::elevenlabs::{HttpResponse, Transport};
use crate::core::stream_input::{self, Ended, Frame, WsError, WsSpeech};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tungstenite::{HandshakeError, Message, WebSocket};

/// The longest a cancel goes unnoticed while the socket is silent.
const SLICE: Duration = Duration::from_millis(50);
/// The largest text frame accepted (a chunk of audio in base64, with its timings).
const MAX_FRAME: usize = 8 << 20;

/// The socket: plain TCP (an `http://` base URL, for tests on 127.0.0.1) or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// Speaks `ws`, handing each piece of audio to `take` as it arrives.
pub(super) fn pour(
    client: &Client,
    ws: &WsSpeech,
    (max_bytes, cancel): (u64, &AtomicBool),
    take: Take<'_>,
) -> Result<Timed, StreamError> {
    let transport = |t: Transport| StreamError::Transport(t);
    let cancelled = || cancel.load(Ordering::Relaxed);
    let (mut socket, head) = open(client, ws, cancel)?;
    let timeout = client.timeout();
    for m in &ws.messages {
        // Nothing more is sent once the call is cancelled: the end of input is what bills.
        if cancelled() {
            return Err(transport(Transport::Cancelled));
        }
        socket
            .send(Message::text(m.as_str()))
            .map_err(|e| transport(Transport::Io(format!("sending to the WebSocket: {e}"))))?;
    }
    let mut total = 0u64;
    let mut first = None;
    let mut timings: Option<Alignment> = None;
    let mut finished = false;
    let mut said: Option<WsError> = None;
    let mut heard = Instant::now();
    let close = loop {
        if cancelled() {
            return Err(transport(Transport::Cancelled));
        }
        let text = match socket.read() {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(frame)) => break Some(frame.map_or(1000, |f| u16::from(f.code))),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e)) if idle(&e) => {
                // All the audio came: a close that does not follow changes nothing.
                if finished {
                    break None;
                }
                if heard.elapsed() > timeout {
                    return Err(transport(Transport::Timeout));
                }
                continue;
            }
            Err(_) => break None,
        };
        heard = Instant::now();
        match stream_input::parse_frame(&text).map_err(|e| transport(Transport::Io(e)))? {
            Frame::Audio(audio, alignment) => {
                let before = total;
                total += audio.len() as u64;
                if total > max_bytes {
                    return Err(transport(Transport::TooLarge));
                }
                let arrived = Instant::now();
                take(&head, &audio).map_err(StreamError::Sink)?;
                first.get_or_insert_with(|| arrived.elapsed());
                if let Some(a) = alignment {
                    timings.get_or_insert_default().append(a, before);
                }
            }
            Frame::Final => finished = true,
            Frame::Error(e) => said = Some(e),
            Frame::Other => {}
        }
    };
    // A close was answered by tungstenite; the socket goes with it.
    let _ = socket.flush();
    match stream_input::ended(close, said.as_ref(), finished, total) {
        Ended::Done => Ok((head, total, first, timings)),
        Ended::Refused(resp) => Err(StreamError::Status(resp)),
        Ended::Broken(why) => Err(transport(Transport::Io(why))),
    }
}

/// A read that found nothing within the socket's timeout slice.
fn idle(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Connects, tunnels, secures and upgrades; returns the socket and the upgrade's head.
fn open(
    client: &Client,
    ws: &WsSpeech,
    cancel: &AtomicBool,
) -> Result<(WebSocket<Conn>, HttpResponse), StreamError> {
    let transport = |t: Transport| StreamError::Transport(t);
    let base = client.base_url();
    let unreachable = || {
        transport(Transport::Setup(format!(
            "cannot reach `{base}` by WebSocket"
        )))
    };
    let uri: ureq::http::Uri = base.parse().map_err(|_| unreachable())?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(unreachable()),
    };
    let host = uri.host().ok_or_else(unreachable)?;
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = uri.authority().map_or(host, |a| a.as_str());
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let timeout = client.timeout();
    let tcp = connect(host, port, timeout, tls)?;
    let _ = tcp.set_nodelay(true);
    let io_err = |e: io::Error| transport(Transport::Io(e.to_string()));
    // Reads in slices from here on: the handshake and the stream notice a cancel within one.
    tcp.set_read_timeout(Some(SLICE)).map_err(io_err)?;
    tcp.set_write_timeout(Some(timeout)).map_err(io_err)?;
    let conn = if tls {
        let config = client
            .ws_tls
            .get_or_init(|| tls_config(client.extra_roots()))
            .clone();
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| transport(Transport::Setup(format!("`{host}`: {e}"))))?;
        let session = rustls::ClientConnection::new(config, name)
            .map_err(|e| transport(Transport::Tls(e.to_string())))?;
        Conn::Tls(Box::new(rustls::StreamOwned::new(session, tcp)))
    } else {
        Conn::Plain(tcp)
    };
    let scheme = if tls { "wss" } else { "ws" };
    let url = format!("{scheme}://{authority}{}", ws.path);
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(url.as_str())
        .map_err(|e| transport(Transport::Setup(e.to_string())))?;
    let headers = request.headers_mut();
    if let Some(key) = client.key().and_then(|k| k.parse().ok()) {
        headers.insert("xi-api-key", key);
    }
    headers.insert(
        "user-agent",
        tungstenite::http::HeaderValue::from_static(concat!(
            "mcp-elevenlabs/",
            env!("CARGO_PKG_VERSION")
        )),
    );
    let mut config = tungstenite::protocol::WebSocketConfig::default();
    config.max_message_size = Some(MAX_FRAME);
    config.max_frame_size = Some(MAX_FRAME);
    let started = Instant::now();
    let mut shaking = tungstenite::client::client_with_config(request, conn, Some(config));
    while let Err(HandshakeError::Interrupted(mid)) = shaking {
        if cancel.load(Ordering::Relaxed) {
            return Err(transport(Transport::Cancelled));
        }
        if started.elapsed() > timeout {
            return Err(transport(Transport::Timeout));
        }
        shaking = mid.handshake();
    }
    match shaking {
        Ok((socket, response)) => {
            let head = HttpResponse {
                status: 200,
                headers: kept_headers(response.headers()),
                body: Vec::new(),
            };
            Ok((socket, head))
        }
        Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            let body = response.into_body().unwrap_or_default();
            Err(StreamError::Status(HttpResponse {
                status,
                headers: Vec::new(),
                body: body.into_iter().take(64 * 1024).collect(),
            }))
        }
        Err(HandshakeError::Failure(tungstenite::Error::Io(e))) => Err(transport(io_transport(&e))),
        Err(e) => Err(transport(Transport::Io(format!(
            "WebSocket handshake: {e}"
        )))),
    }
}

/// A TCP connection to `host:port`, through the proxy of the environment when one applies
/// (an HTTP CONNECT tunnel; other proxies are refused with a hint).
fn connect(host: &str, port: u16, timeout: Duration, tls: bool) -> Result<TcpStream, StreamError> {
    let transport = |t: Transport| StreamError::Transport(t);
    let scheme = if tls { "https" } else { "http" };
    let target: ureq::http::Uri = format!("{scheme}://{host}:{port}/")
        .parse()
        .map_err(|e| transport(Transport::Setup(format!("`{host}`: {e}"))))?;
    let proxy = ureq::Proxy::try_from_env().filter(|p| !p.is_no_proxy(&target));
    let Some(proxy) = proxy else {
        return dial(host, port, timeout);
    };
    if proxy.protocol() != ureq::ProxyProtocol::Http {
        return Err(transport(Transport::Setup(format!(
            "the proxy `{}` is not an http:// proxy, which the WebSocket needs (a CONNECT tunnel); set `elevenlabs.transport: http`",
            proxy.host()
        ))));
    }
    let mut tcp = dial(proxy.host(), proxy.port(), timeout)?;
    let io_err = |e: io::Error| transport(io_transport(&e));
    tcp.set_read_timeout(Some(timeout)).map_err(io_err)?;
    let mut ask = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
    if let (Some(user), Some(pass)) = (proxy.username(), proxy.password()) {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        ask.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    ask.push_str("\r\n");
    tcp.write_all(ask.as_bytes()).map_err(io_err)?;
    // The reply's head, read a byte at a time: nothing after it may be taken from the socket.
    let mut reader = BufReader::with_capacity(1, tcp.try_clone().map_err(io_err)?);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).map_err(io_err)?;
    let mut line = String::new();
    let mut read = status_line.len();
    while read < 64 * 1024 {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io_err)?;
        read += n;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let code = status_line.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        return Err(transport(Transport::Io(format!(
            "proxy: the tunnel to {host}:{port} was refused ({})",
            status_line.trim()
        ))));
    }
    Ok(tcp)
}

/// A plain TCP connection, the first address that answers within `timeout`.
fn dial(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, StreamError> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|_| StreamError::Transport(Transport::Dns))?
        .collect();
    let mut last = Transport::Dns;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = io_transport(&e),
        }
    }
    Err(StreamError::Transport(last))
}

fn io_transport(e: &io::Error) -> Transport {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Transport::ConnectionRefused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Transport::Timeout,
        io::ErrorKind::InvalidData => Transport::Tls(e.to_string()),
        _ => Transport::Io(e.to_string()),
    }
}

/// rustls with ring, the Mozilla roots and `elevenlabs.ca_file`'s: what the HTTP client trusts.
fn tls_config(extra: &[rustls::pki_types::CertificateDer<'static>]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra {
        // A certificate the HTTP client accepted; one rustls refuses is left out.
        let _ = roots.add(cert.clone());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    // The provider supports the default versions, so this cannot fail; if it did, a config
    // without roots fails every handshake with a TLS error rather than panicking.
    Arc::new(config.unwrap_or_else(|_| {
        rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    }))
}
