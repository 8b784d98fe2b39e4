//! The I/O shell: runs the core over stdio, executes its jobs on worker threads, and owns every
//! file, thread, clock and environment access.

pub mod files;
pub mod http_client;
pub mod log;
pub mod stdio;

use crate::core::{self, Input, Job, Output, Server};
use files::Paths;
use log::Logger;
use std::io;
use std::path::Path;
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::thread;
use std::time::Instant;

/// Inputs waiting for the core loop (stdin chunks and job results).
const INPUT_QUEUE: usize = 16;

/// Serves MCP over stdio until stdin closes and in-flight work is done (or its grace ends).
pub fn serve(config: core::Config, paths: &Paths, log: &Logger) -> io::Result<()> {
    let output_dir = paths.output_dir(config.settings.output_dir.as_deref());
    let (tx, rx) = sync_channel::<Input>(INPUT_QUEUE);
    stdio::spawn_reader(tx.clone())?;
    let writer = stdio::Writer::spawn()?;
    let mut server = Server::new(config, Instant::now());
    let mut failed = Vec::new();
    loop {
        while let Some(output) = server.poll_output() {
            match output {
                Output::Stdout(bytes) => {
                    if !writer.send(bytes) {
                        log.write(log::LogLevel::Info, "stdout closed; stopping");
                        return Ok(());
                    }
                }
                Output::Start { id, job } => {
                    if let Err(e) = start_job(id, job, &output_dir, tx.clone(), log) {
                        log.warn(&format!("could not start a worker thread: {e}"));
                        let why = core::FileError::Other(
                            "the server could not start a worker thread".into(),
                        );
                        failed.push(Input::JobDone {
                            id,
                            result: core::JobResult::Audio(Err(why)),
                        });
                    }
                }
                Output::Cancel(id) => {
                    log.write(log::LogLevel::Debug, &format!("job {} abandoned", id.0))
                }
                Output::Log { level, message } => log.core(level, &message),
            }
        }
        if !failed.is_empty() {
            for input in failed.drain(..) {
                server.handle_input(Instant::now(), input);
            }
            continue;
        }
        if server.is_finished() {
            break;
        }
        let input = match server.poll_timeout() {
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match input {
            Ok(input) => server.handle_input(Instant::now(), input),
            Err(RecvTimeoutError::Timeout) => server.handle_timeout(Instant::now()),
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    writer.finish();
    Ok(())
}

fn start_job(
    id: core::JobId,
    job: Job,
    output_dir: &Path,
    tx: SyncSender<Input>,
    log: &Logger,
) -> io::Result<()> {
    log.write(
        log::LogLevel::Debug,
        &format!("job {} started: {job:?}", id.0),
    );
    let dir = output_dir.to_path_buf();
    thread::Builder::new()
        .name(format!("job-{}", id.0))
        .stack_size(256 * 1024)
        .spawn(move || {
            let result = match job {
                Job::ReadAudio { name, max_bytes } => files::read_audio(&dir, &name, max_bytes),
            };
            let _ = tx.send(Input::JobDone { id, result });
        })
        .map(drop)
}
