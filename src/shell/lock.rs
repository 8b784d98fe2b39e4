//! The speaker lock: one file in the runtime directory that every server process of this user
//! locks while its player plays, so that two hosts open at once take turns instead of talking
//! over each other. The operating system releases it when the process dies, however it dies.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a waiting process tries the lock again.
const RETRY: Duration = Duration::from_millis(20);

/// Where the lock is.
#[derive(Debug, Clone)]
pub(super) struct SpeakerLock {
    path: PathBuf,
}

/// The lock, held until dropped.
#[derive(Debug)]
pub(super) struct Held(#[allow(dead_code)] File);

impl SpeakerLock {
    /// The lock file `speaker.lock` in `dir`.
    pub(super) fn new(dir: PathBuf) -> Self {
        Self {
            path: dir.join("speaker.lock"),
        }
    }

    /// Waits for the lock (another process is playing) until it is free or `cancel` is set
    /// (`Ok(None)`). The file stays; only the lock on it comes and goes.
    pub(super) fn acquire(&self, cancel: &AtomicBool) -> io::Result<Option<Held>> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.path)?;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Some(Held(file))),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(e),
            }
            if cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            std::thread::sleep(RETRY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_a_waiter_can_give_up() {
        let dir = std::env::temp_dir().join(format!("mcp-el-lock-{}", std::process::id()));
        let lock = SpeakerLock::new(dir.clone());
        let never = AtomicBool::new(false);
        let held = lock.acquire(&never).unwrap().expect("free");
        // Another handle (as another process would have) cannot take it; a cancel ends the wait.
        let given_up = AtomicBool::new(true);
        assert!(lock.acquire(&given_up).unwrap().is_none());
        drop(held);
        assert!(
            lock.acquire(&given_up).unwrap().is_some(),
            "free again once dropped"
        );
        let _ = fs::remove_dir_all(dir);
    }
}
