//! The stdio server: one [`Session`] over one [`Service`], with the line framing stdio needs and
//! the shutdown rule of a process whose client closed stdin. The HTTP transport will hold many
//! sessions over one service and route the service's events the same way.

use super::Config;
use super::event::{Input, Level, Output};
use super::frame::{Frame, Framer};
use super::service::{Service, SessionId};
use super::session::Session;
use std::time::{Duration, Instant};

/// The MCP server of one stdio client.
#[derive(Debug)]
pub struct Server {
    framer: Framer,
    session: Session,
    service: Service,
    shutdown_grace: Duration,
    /// Stdin closed: in-flight work is cancelled at this time.
    closing: Option<Instant>,
    now: Instant,
}

impl Server {
    /// A server that starts at `now`.
    pub fn new(config: Config, now: Instant) -> Self {
        Self {
            framer: Framer::new(config.max_line),
            shutdown_grace: config.shutdown_grace,
            session: Session::new(SessionId(0)),
            service: Service::new(config, now),
            closing: None,
            now,
        }
    }

    // ---- inputs -------------------------------------------------------------------------

    /// Feeds one input. Drain [`Server::poll_output`] afterwards.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        self.now = self.now.max(now);
        match input {
            Input::Stdin(bytes) => {
                self.framer.push(&bytes);
                self.drain_frames();
            }
            Input::StdinClosed => {
                self.framer.finish();
                self.drain_frames();
                self.closing = Some(self.now + self.shutdown_grace);
                let in_flight = self.session.in_flight();
                if in_flight > 0 {
                    let message =
                        format!("stdin closed; waiting for {in_flight} request(s) in flight");
                    self.log(Level::Info, message);
                }
            }
            Input::Playing { id, request_id } => {
                self.service.handle_playing(self.now, id, request_id);
                self.route();
            }
            Input::JobDone { id, result } => {
                self.service.handle_job(self.now, id, result);
                self.route();
            }
            Input::Progress { id, bytes } => {
                self.service.handle_progress(self.now, id, bytes);
                self.route();
            }
            // The stdio server has no HTTP clients.
            #[cfg(feature = "http-server")]
            Input::Http(_) => {}
        }
    }

    /// Acts on timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.service.handle_timeout(self.now);
        self.route();
        if let Some(deadline) = self.closing {
            let in_flight = self.session.in_flight();
            if self.now >= deadline && in_flight > 0 {
                let message =
                    format!("shutting down: cancelled {in_flight} request(s) still in flight");
                self.log(Level::Warning, message);
                self.session.cancel_all(None, &mut self.service);
                // A cancel may free a slot and settle queued calls: their answers still route.
                self.route();
            }
        }
    }

    // ---- outputs ------------------------------------------------------------------------

    /// The next thing for the shell to do.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.service
            .poll_output()
            .or_else(|| self.session.poll_output())
    }

    /// When [`Server::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let closing = self.closing.filter(|_| self.session.in_flight() > 0);
        match (closing, self.service.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Stdin closed and nothing is left in flight: the shell may exit once output is drained.
    pub fn is_finished(&self) -> bool {
        self.closing.is_some()
            && self.session.in_flight() == 0
            && self.session.is_drained()
            && self.service.is_drained()
    }

    /// Requests waiting for a job.
    pub fn in_flight(&self) -> usize {
        self.session.in_flight()
    }

    // ---- internals ----------------------------------------------------------------------

    fn drain_frames(&mut self) {
        while let Some(frame) = self.framer.next_frame() {
            match frame {
                Frame::Line(line) => {
                    self.session
                        .handle_message(self.now, line, 0, &mut self.service);
                    self.route();
                }
                Frame::TooLong { limit } => self.session.handle_too_long(limit),
            }
        }
    }

    /// Hands the service's answers, progress reports and notices to the session.
    fn route(&mut self) {
        while let Some(event) = self.service.poll_event() {
            debug_assert_eq!(event.session, self.session.id());
            self.session.handle_event(event.call, event.kind);
        }
        while let Some((level, text)) = self.service.poll_notice() {
            self.session.handle_notice(level, &text);
        }
    }

    fn log(&mut self, level: Level, message: String) {
        // Through the session's queue, so it keeps its place among the session's lines.
        self.session.log(level, message);
    }
}
