//! `serve --http`: the HTTP transports' I/O. One thread accepts connections (at most
//! `http.max_connections`: an idle keep-alive one is closed to make room, else the newcomer gets
//! 503), one thread per connection reads and writes it (`conn.rs`), and this thread runs the
//! core's [`HttpServer`] and the jobs, as `serve` does for stdio. Replies reach a connection
//! through its own bounded queue: a client that stops reading is dropped, never waited for.

mod conn;
pub mod parse;

use super::log::{LogLevel, Logger};
use super::{Next, Runner, files::Paths, handle_output};
use crate::core::http::{ConnId, HttpIn, HttpServer, Limits, Policy, Reply, Response};
use crate::core::{self, Input, Output};
use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Inputs waiting for the core loop (requests and job results).
const INPUT_QUEUE: usize = 1024;
/// Replies waiting for one connection's thread; a client this far behind is dropped.
const REPLY_QUEUE: usize = 256;
/// Bytes of replies waiting for one connection's thread, past which a client that is not
/// reading is dropped (one larger reply alone still goes).
const REPLY_BYTES: usize = 16 << 20;
/// Stack of a connection's thread (bodies and buffers are on the heap).
const CONN_STACK: usize = 128 * 1024;
/// Bytes of request bodies being read at once, over all connections, at least.
const BODY_BUDGET: usize = 64 << 20;

/// How the server listens and what it lets in.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to listen (port 0: any free port).
    pub addr: SocketAddr,
    /// The guard's policy.
    pub policy: Policy,
    /// The core's bounds.
    pub limits: Limits,
    /// Connections open at once.
    pub max_connections: usize,
    /// An idle keep-alive connection is closed after this long.
    pub idle_timeout: Duration,
    /// The largest request head.
    pub max_head: usize,
    /// The largest request body.
    pub max_body: usize,
}

/// What a connection's thread needs of the others.
pub(super) struct ConnLimits {
    idle_timeout: Duration,
    max_head: usize,
    max_body: usize,
}

struct Handle {
    replies: SyncSender<Reply>,
    /// To close it from outside (eviction, a client too slow).
    stream: TcpStream,
    /// Waiting for its next (or first) request since then.
    idle_since: Option<Instant>,
    /// An event stream is open on it.
    streaming: bool,
    /// Bytes of replies given to it and not yet written.
    queued: Arc<AtomicUsize>,
}

/// A request body's share of the bytes being read at once, given back when dropped.
pub(super) struct BodyBytes {
    used: Arc<AtomicUsize>,
    n: usize,
}

impl Drop for BodyBytes {
    fn drop(&mut self) {
        self.used.fetch_sub(self.n, Ordering::Relaxed);
    }
}

/// What the threads share.
pub(super) struct Shared {
    inputs: SyncSender<Input>,
    policy: Policy,
    limits: ConnLimits,
    conns: Mutex<HashMap<ConnId, Handle>>,
    /// Bytes of request bodies being read, and the most allowed.
    bodies: Arc<AtomicUsize>,
    body_budget: usize,
}

impl Shared {
    fn set_idle(&self, conn: ConnId, idle: bool) {
        if let Ok(mut conns) = self.conns.lock()
            && let Some(h) = conns.get_mut(&conn)
        {
            h.idle_since = idle.then(Instant::now);
        }
    }

    /// Still registered (not closed to make room, nor dropped for being slow).
    fn is_open(&self, conn: ConnId) -> bool {
        self.conns.lock().is_ok_and(|c| c.contains_key(&conn))
    }

    /// Reserves `n` bytes for a body about to be read, if the budget has them.
    fn hold_body(&self, n: usize) -> Option<BodyBytes> {
        let mut used = self.bodies.load(Ordering::Relaxed);
        loop {
            if used + n > self.body_budget {
                return None;
            }
            match self.bodies.compare_exchange_weak(
                used,
                used + n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let used = self.bodies.clone();
                    return Some(BodyBytes { used, n });
                }
                Err(now) => used = now,
            }
        }
    }

    fn streaming(&self, conn: ConnId) -> bool {
        self.conns
            .lock()
            .ok()
            .and_then(|c| c.get(&conn).map(|h| h.streaming))
            .unwrap_or(false)
    }

    /// Tells the core the connection's client is gone.
    fn gone(&self, conn: ConnId) {
        let _ = self.inputs.send(Input::Http(HttpIn::Gone(conn)));
    }
}

/// Binds the address, or says why not (the error names it).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Serves MCP over HTTP on `listener` until SIGTERM or SIGINT, then lets in-flight calls finish
/// (cancelling them after `shutdown_grace`). Prints `listening on http://ADDR/mcp` to stderr.
pub fn serve(
    config: core::Config,
    paths: &Paths,
    log: &Logger,
    listener: TcpListener,
    options: Options,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let (tx, rx) = sync_channel::<Input>(INPUT_QUEUE);
    let mut runner = Runner::new(&config, paths, tx.clone());
    let shared = Arc::new(Shared {
        inputs: tx.clone(),
        policy: options.policy.clone(),
        limits: ConnLimits {
            idle_timeout: options.idle_timeout,
            max_head: options.max_head,
            max_body: options.max_body,
        },
        conns: Mutex::new(HashMap::new()),
        bodies: Arc::new(AtomicUsize::new(0)),
        body_budget: BODY_BUDGET.max(options.max_body.saturating_mul(4)),
    });
    let stopping = Arc::new(AtomicBool::new(false));
    watch_signals(tx.clone(), stopping.clone(), log)?;
    {
        let shared = shared.clone();
        let max = options.max_connections;
        let log = log.clone();
        thread::Builder::new()
            .name("http-accept".into())
            .stack_size(CONN_STACK)
            .spawn(move || accept(&listener, &shared, max, &log))?;
    }
    let mut server = HttpServer::new(config, options.limits, Instant::now());
    super::files::sweep_partials(&runner.output_dir);
    // The one line a supervisor or a test waits for.
    eprintln!("mcp-elevenlabs: listening on http://{local}/mcp");
    let mut failed = Vec::new();
    let mut gone = Vec::new();
    loop {
        while let Some(output) = server.poll_output() {
            match output {
                Output::Http(reply) => deliver(reply, &shared, &mut gone),
                other => {
                    handle_output(other, &mut runner, log, &mut failed, |_| true);
                }
            }
        }
        if !failed.is_empty() || !gone.is_empty() {
            for input in failed.drain(..) {
                server.handle_input(Instant::now(), input);
            }
            for conn in gone.drain(..) {
                server.handle_input(Instant::now(), Input::Http(HttpIn::Gone(conn)));
            }
            continue;
        }
        if server.is_finished() {
            break;
        }
        match super::next(&rx, &mut runner, server.poll_timeout()) {
            Next::Input(input) => server.handle_input(Instant::now(), input),
            Next::Timeout => server.handle_timeout(Instant::now()),
            Next::Closed => break,
        }
    }
    runner.stop(&rx, Duration::from_secs(2));
    written(&shared, Duration::from_secs(2));
    log.write(LogLevel::Info, "stopped");
    Ok(())
}

/// Waits (at most `limit`) until every connection has written what it was given: the last
/// replies reach their clients before the process exits.
fn written(shared: &Shared, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let busy = shared
            .conns
            .lock()
            .map_or(0, |c| c.values().filter(|h| h.idle_since.is_none()).count());
        if busy == 0 {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Hands a reply to its connection's thread; a connection that is gone or too far behind is
/// closed and reported back to the core.
fn deliver(reply: Reply, shared: &Shared, gone: &mut Vec<ConnId>) {
    let conn = reply.conn();
    let Ok(mut conns) = shared.conns.lock() else {
        return;
    };
    let Some(handle) = conns.get_mut(&conn) else {
        gone.push(conn);
        return;
    };
    match &reply {
        Reply::Open { .. } => handle.streaming = true,
        Reply::End { .. } | Reply::Whole { .. } => handle.streaming = false,
        Reply::Event { .. } => {}
    }
    let size = conn::size(&reply);
    let queued = handle.queued.load(Ordering::Relaxed);
    let behind = queued > 0 && queued + size > REPLY_BYTES;
    if !behind {
        handle.queued.fetch_add(size, Ordering::Relaxed);
    }
    if behind || handle.replies.try_send(reply).is_err() {
        let _ = handle.stream.shutdown(Shutdown::Both);
        conns.remove(&conn);
        gone.push(conn);
    }
}

/// Accepts connections for as long as the process runs.
fn accept(listener: &TcpListener, shared: &Arc<Shared>, max: usize, log: &Logger) {
    let mut next = 1u64;
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors, most likely: give the others a moment to close.
                log.warn(&format!("accept failed: {e}"));
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if !make_room(shared, max) {
            let msg = format!("too many connections (http.max_connections = {max}); retry shortly");
            let r = Response::text(503, &msg).header("Retry-After", "1");
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = conn::write_whole(&mut stream, &r.closing());
            continue;
        }
        let conn = ConnId(next);
        next += 1;
        let Ok(copy) = stream.try_clone() else {
            continue;
        };
        let (replies_tx, replies_rx) = sync_channel(REPLY_QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        if let Ok(mut conns) = shared.conns.lock() {
            let handle = Handle {
                replies: replies_tx,
                stream: copy,
                idle_since: Some(Instant::now()),
                streaming: false,
                queued: queued.clone(),
            };
            conns.insert(conn, handle);
        }
        let shared2 = shared.clone();
        let spawned = thread::Builder::new()
            .name(format!("http-{}", conn.0))
            .stack_size(CONN_STACK)
            .spawn(move || {
                conn::serve(stream, conn, &replies_rx, &queued, &shared2);
                if let Ok(mut conns) = shared2.conns.lock() {
                    conns.remove(&conn);
                }
                shared2.gone(conn);
            });
        if let Err(e) = spawned {
            log.warn(&format!("could not start a connection thread: {e}"));
            if let Ok(mut conns) = shared.conns.lock() {
                conns.remove(&conn);
            }
        }
    }
}

/// Below the cap, or an idle keep-alive connection closed to get below it.
fn make_room(shared: &Shared, max: usize) -> bool {
    let Ok(mut conns) = shared.conns.lock() else {
        return false;
    };
    if conns.len() < max {
        return true;
    }
    // The connection idle the longest: a new one that has not sent its request yet goes last.
    let idle = conns
        .iter()
        .filter_map(|(c, h)| h.idle_since.map(|t| (t, *c)))
        .min()
        .map(|(_, c)| c);
    match idle.and_then(|c| conns.remove(&c)) {
        Some(h) => {
            let _ = h.stream.shutdown(Shutdown::Both);
            true
        }
        None => false,
    }
}

/// SIGTERM or SIGINT stops the server gracefully; a second one ends the process at once.
#[cfg(unix)]
fn watch_signals(tx: SyncSender<Input>, stopping: Arc<AtomicBool>, log: &Logger) -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    let log = log.clone();
    thread::Builder::new()
        .name("signals".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            for signal in signals.forever() {
                if stopping.swap(true, Ordering::SeqCst) {
                    log.warn("second signal: exiting now");
                    std::process::exit(128 + signal);
                }
                log.write(
                    LogLevel::Info,
                    "signal received: finishing in-flight requests",
                );
                let _ = tx.send(Input::Http(HttpIn::Stop));
            }
        })?;
    Ok(())
}

/// Windows: Ctrl-C ends the process (the OS's default).
#[cfg(not(unix))]
fn watch_signals(_: SyncSender<Input>, _: Arc<AtomicBool>, _: &Logger) -> io::Result<()> {
    Ok(())
}
