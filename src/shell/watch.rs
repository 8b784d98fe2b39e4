//! Cancelling a request that is waiting for bytes, even when the server has gone silent. ureq
//! has no per-request abort (only `Agent::shutdown`, for every request at once), so every
//! connection is wrapped in a transport that waits for input in slices of at most [`SLICE`] and
//! gives up as soon as the job on whose thread it runs is cancelled: the error drops the
//! connection (it is never returned to the pool), which closes its socket. Pooled connections
//! are wrapped too, so a reused one is just as cancellable.
//!
//! Uses ureq's unversioned transport API, hence the exact `=3.5.2` pin in Cargo.toml.

use std::cell::RefCell;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use ureq::Timeout;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

/// The longest a cancelled request goes unnoticed while it waits for bytes.
pub(super) const SLICE: std::time::Duration = std::time::Duration::from_millis(50);

thread_local! {
    /// The cancel flag of the job this thread runs.
    static CANCEL: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Requests made on this thread from now on end soon after `flag` is set.
pub(super) fn watch(flag: Arc<AtomicBool>) {
    CANCEL.with(|c| *c.borrow_mut() = Some(flag));
}

/// The job of this thread was cancelled.
pub(super) fn cancelled() -> bool {
    CANCEL.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    })
}

/// The last link of the connector chain: wraps whatever transport the chain made.
#[derive(Debug)]
pub(super) struct Watcher;

impl<In: Transport> Connector<In> for Watcher {
    type Out = Watched<In>;

    fn connect(
        &self,
        _: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(Watched))
    }
}

/// A transport whose waits for input notice a cancel within [`SLICE`].
#[derive(Debug)]
pub(super) struct Watched<T>(T);

impl<T: Transport> Transport for Watched<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        // What the caller allows: the remaining budget, capped by the per-read timeout.
        let mut limit = *timeout.after;
        let mut reason = timeout.reason;
        if let Some(per_read) = timeout.per_read
            && *per_read < limit
        {
            limit = *per_read;
            reason = Timeout::PerRead;
        }
        let started = std::time::Instant::now();
        loop {
            if cancelled() {
                // Not `Interrupted`: `read_to_end` would retry that for ever.
                return Err(io::Error::other("cancelled").into());
            }
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(ureq::Error::Timeout(reason));
            }
            let slice = NextTimeout {
                per_read: Some(left.min(SLICE).into()),
                ..timeout
            };
            match self.0.await_input(slice) {
                Err(ureq::Error::Timeout(_)) => {}
                other => return other,
            }
        }
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}
