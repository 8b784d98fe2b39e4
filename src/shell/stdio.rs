//! stdin reader and stdout writer threads, joined to the core loop by bounded channels.
//!
//! Memory stays bounded under any flood: the reader blocks when the input channel is full, so the
//! kernel pipe pushes back on the client; the writer's queue is bounded the same way.

use crate::core::Input;
use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{self, JoinHandle};

/// Bytes read from stdin per chunk.
const READ_CHUNK: usize = 64 * 1024;
/// Chunks of stdout waiting for the writer.
const WRITE_QUEUE: usize = 8;

/// Reads one chunk of stdin on the calling thread (before the reader thread exists).
pub fn read_once() -> Input {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match io::stdin().lock().read(&mut buf) {
            Ok(0) => return Input::StdinClosed,
            Ok(n) => {
                buf.truncate(n);
                return Input::Stdin(buf);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Input::StdinClosed,
        }
    }
}

/// Writes and flushes on the calling thread (before the writer thread exists). `false` once
/// stdout is gone.
pub fn write_now(bytes: &[u8]) -> bool {
    let mut out = io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).is_ok()
}

/// Starts the stdin reader: chunks as [`Input::Stdin`], then [`Input::StdinClosed`].
pub fn spawn_reader(tx: SyncSender<Input>) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("stdin".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            let stdin = io::stdin();
            let mut stdin = stdin.lock();
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send(Input::Stdin(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(Input::StdinClosed);
        })
}

/// The stdout writer thread and its queue.
pub struct Writer {
    tx: Option<SyncSender<Vec<u8>>>,
    handle: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread.
    pub fn spawn() -> io::Result<Self> {
        let (tx, rx) = sync_channel::<Vec<u8>>(WRITE_QUEUE);
        let handle = thread::Builder::new()
            .name("stdout".into())
            .stack_size(128 * 1024)
            .spawn(move || write_loop(&rx))?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Queues bytes; blocks while the queue is full. `false` once stdout is gone.
    pub fn send(&self, bytes: Vec<u8>) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(bytes).is_ok())
    }

    /// Flushes everything queued and stops the thread.
    pub fn finish(mut self) {
        self.tx.take();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn write_loop(rx: &Receiver<Vec<u8>>) {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    while let Ok(bytes) = rx.recv() {
        if out.write_all(&bytes).is_err() {
            return; // the client is gone; dropping `rx` tells the core loop
        }
        // Gather what else is queued, then flush once per drain.
        while let Ok(more) = rx.try_recv() {
            if out.write_all(&more).is_err() {
                return;
            }
        }
        if out.flush().is_err() {
            return;
        }
    }
    let _ = out.flush();
}
