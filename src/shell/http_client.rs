//! The HTTP client: ureq over rustls (ring) with the Mozilla roots, an optional extra CA bundle,
//! the proxy from `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY`, keep-alive reuse, and timeouts that bound
//! connecting and each wait for bytes rather than a whole stream. It only moves bytes: requests
//! come from `core::elevenlabs`, and the API key is added here, on the wire and nowhere else.

use super::watch;
use crate::core::elevenlabs::{HttpRequest, HttpResponse, KEPT_HEADERS, Method, Transport};
use rustls_pki_types::CertificateDer;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{Connector, DefaultConnector};

/// Bytes read from a body per step; also how often a cancelled stream notices.
const READ_STEP: usize = 16 * 1024;
/// The longest any one call may take, streams included.
const CALL_DEADLINE: Duration = Duration::from_secs(600);

/// A configured client. Cheap to share across worker threads. `Debug` leaves the key out.
pub struct Client {
    agent: ureq::Agent,
    base_url: String,
    key: Option<String>,
    /// `limits.request_timeout_ms`.
    #[cfg(feature = "websocket")]
    timeout: Duration,
    /// The certificates of `elevenlabs.ca_file`, added to the built-in roots.
    #[cfg(feature = "websocket")]
    extra_roots: Vec<CertificateDer<'static>>,
    /// The WebSocket's TLS settings, made when first needed.
    #[cfg(feature = "websocket")]
    pub(super) ws_tls: std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// Why a streamed request ended early.
#[derive(Debug)]
pub enum StreamError {
    /// No usable response (or it broke mid-stream).
    Transport(Transport),
    /// A non-2xx response, with its (bounded) body.
    Status(HttpResponse),
    /// The sink refused the bytes (e.g. disk full).
    Sink(io::Error),
}

impl Client {
    /// Builds the client; `ca_file` adds PEM certificates to the built-in roots.
    pub fn new(
        base_url: &str,
        key: Option<String>,
        timeout_ms: u64,
        pool: usize,
        ca_file: Option<&Path>,
    ) -> Result<Self, String> {
        let extra_roots = match ca_file {
            None => Vec::new(),
            Some(path) => {
                let extra = read_pem(path)?;
                if extra.is_empty() {
                    return Err(format!("{}: no PEM certificates found", path.display()));
                }
                extra
            }
        };
        let roots = if extra_roots.is_empty() {
            RootCerts::WebPki
        } else {
            let certs: Vec<Certificate<'static>> = builtin_certificates()
                .iter()
                .chain(&extra_roots)
                .map(|der| Certificate::from_der(der.as_ref()).to_owned())
                .collect();
            RootCerts::from(certs)
        };
        let timeout = Some(Duration::from_millis(timeout_ms));
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("mcp-elevenlabs/", env!("CARGO_PKG_VERSION")))
            .proxy(ureq::Proxy::try_from_env())
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .timeout_resolve(timeout)
            .timeout_connect(timeout)
            .timeout_send_request(timeout)
            .timeout_recv_response(timeout)
            .timeout_per_read(timeout)
            .timeout_per_call(Some(CALL_DEADLINE))
            .max_idle_connections(pool.max(1))
            .max_idle_connections_per_host(pool.max(1))
            .input_buffer_size(32 * 1024)
            .output_buffer_size(32 * 1024)
            .max_redirects(0)
            .build();
        let connector = DefaultConnector::new().chain(watch::Watcher);
        Ok(Self {
            agent: ureq::Agent::with_parts(config, connector, DefaultResolver::default()),
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            #[cfg(feature = "websocket")]
            timeout: Duration::from_millis(timeout_ms),
            #[cfg(feature = "websocket")]
            extra_roots,
            #[cfg(feature = "websocket")]
            ws_tls: std::sync::OnceLock::new(),
        })
    }

    /// The API's base URL, without a trailing slash.
    #[cfg(feature = "websocket")]
    pub(super) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The API key, for the one header that carries it.
    #[cfg(feature = "websocket")]
    pub(super) fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// How long connecting, and each wait for bytes, may take.
    #[cfg(feature = "websocket")]
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The certificates of `elevenlabs.ca_file`.
    #[cfg(feature = "websocket")]
    pub(super) fn extra_roots(&self) -> &[CertificateDer<'static>] {
        &self.extra_roots
    }

    fn send(&self, req: &HttpRequest) -> Result<ureq::http::Response<ureq::Body>, Transport> {
        let url = format!("{}{}", self.base_url, req.path);
        let result = match req.method {
            Method::Get => {
                let mut r = self.agent.get(&url).header("accept", "application/json");
                if let Some(key) = &self.key {
                    r = r.header("xi-api-key", key);
                }
                r.call()
            }
            Method::Post => {
                let mut r = self
                    .agent
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("accept", "*/*");
                if let Some(key) = &self.key {
                    r = r.header("xi-api-key", key);
                }
                r.send(req.body.as_deref().unwrap_or(b"{}"))
            }
        };
        result.map_err(|e| {
            if watch::cancelled() {
                Transport::Cancelled
            } else {
                transport(&e)
            }
        })
    }

    /// Sends `req` and reads the whole body (at most `max_body` bytes).
    pub fn call(&self, req: &HttpRequest, max_body: u64) -> Result<HttpResponse, Transport> {
        let resp = self.send(req)?;
        let (status, headers) = head(&resp);
        let body = resp
            .into_body()
            .with_config()
            .limit(max_body)
            .read_to_vec()
            .map_err(|e| transport(&e))?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// Sends `req` and hands a 2xx body to `sink` as it arrives, checking `cancel` between reads.
    /// Returns the response head, the byte count, and how long the sink took with the first
    /// chunk: the latency this server adds between audio arriving and audio leaving.
    pub fn stream(
        &self,
        req: &HttpRequest,
        max_body: u64,
        cancel: &AtomicBool,
        mut sink: impl FnMut(&HttpResponse, &[u8]) -> io::Result<()>,
    ) -> Result<(HttpResponse, u64, Option<Duration>), StreamError> {
        let resp = self.send(req).map_err(StreamError::Transport)?;
        let (status, headers) = head(&resp);
        let mut body = resp.into_body();
        let mut reader = body.with_config().limit(max_body).reader();
        if !(200..300).contains(&status) {
            let mut text = Vec::new();
            let _ = reader.by_ref().take(64 * 1024).read_to_end(&mut text);
            return Err(StreamError::Status(HttpResponse {
                status,
                headers,
                body: text,
            }));
        }
        let head = HttpResponse {
            status,
            headers,
            body: Vec::new(),
        };
        let mut buf = vec![0u8; READ_STEP];
        let mut total = 0u64;
        let mut first = None;
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(StreamError::Transport(Transport::Cancelled));
            }
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) if cancel.load(Ordering::Relaxed) || watch::cancelled() => {
                    return Err(StreamError::Transport(Transport::Cancelled));
                }
                Err(e) => return Err(StreamError::Transport(io_transport(&e))),
            };
            let arrived = std::time::Instant::now();
            sink(&head, &buf[..n]).map_err(StreamError::Sink)?;
            if first.is_none() {
                first = Some(arrived.elapsed());
            }
            total += n as u64;
        }
        Ok((head, total, first))
    }
}

fn head(resp: &ureq::http::Response<ureq::Body>) -> (u16, Vec<(String, String)>) {
    (resp.status().as_u16(), kept_headers(resp.headers()))
}

/// The [`KEPT_HEADERS`] among `headers` (values cut to 200 characters).
pub(super) fn kept_headers(headers: &ureq::http::HeaderMap) -> Vec<(String, String)> {
    KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let v = headers.get(*name)?.to_str().ok()?;
            Some((name.to_string(), v.chars().take(200).collect()))
        })
        .collect()
}

fn transport(e: &ureq::Error) -> Transport {
    match e {
        ureq::Error::Timeout(_) => Transport::Timeout,
        ureq::Error::HostNotFound => Transport::Dns,
        ureq::Error::ConnectionFailed => Transport::ConnectionRefused,
        ureq::Error::Io(io) => io_transport(io),
        ureq::Error::Tls(why) => Transport::Tls((*why).to_string()),
        ureq::Error::Rustls(err) => Transport::Tls(err.to_string()),
        ureq::Error::BodyExceedsLimit(_) => Transport::TooLarge,
        ureq::Error::ConnectProxyFailed(why) => Transport::Io(format!("proxy: {why}")),
        other => Transport::Io(other.to_string()),
    }
}

fn io_transport(e: &io::Error) -> Transport {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Transport::ConnectionRefused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Transport::Timeout,
        _ => {
            // ureq wraps its own errors in io::Error when reading a body.
            let inner = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>());
            match inner {
                Some(u) => transport(u),
                None => {
                    let text = e.to_string();
                    if text.contains("lookup address") || text.contains("resolve") {
                        Transport::Dns
                    } else {
                        Transport::Io(text)
                    }
                }
            }
        }
    }
}

/// The built-in roots as certificates, to which `elevenlabs.ca_file`'s are added.
#[cfg(feature = "extra-roots")]
fn builtin_certificates() -> &'static [CertificateDer<'static>] {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
}

/// Without the `extra-roots` feature, `elevenlabs.ca_file`'s certificates are the only roots.
#[cfg(not(feature = "extra-roots"))]
fn builtin_certificates() -> &'static [CertificateDer<'static>] {
    &[]
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let iter = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: cannot read CA file ({e})", path.display()))?;
    let mut certs = Vec::new();
    for cert in iter {
        let cert = cert.map_err(|e| format!("{}: bad PEM certificate ({e})", path.display()))?;
        certs.push(cert);
    }
    Ok(certs)
}
