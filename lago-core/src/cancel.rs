//! Cancellation of running operations (Ctrl-C).
//!
//! One process-wide flag. A front end sets it with [`request`] when the user
//! interrupts (the Python package on `SIGINT`, a C program from its own
//! signal handler through `lago_cancel`); long operations call [`check`] at
//! their phase boundaries and in their waits, and a set flag makes them
//! return an [`ErrorKind::Cancelled`] error. That error goes through the
//! same undo paths as any other failure: an init removes its staging prefix
//! and lease, a start stops what it started, a snapshot or export removes
//! what it made. A front end clears the flag with [`clear`] once the
//! interrupted call has returned.
//!
//! [`request`] only stores to an atomic, so it is async-signal-safe.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, ErrorKind, Result};

/// A cancel flag; the process has one, [`REQUESTED`].
#[derive(Debug, Default)]
pub struct Flag(AtomicBool);

impl Flag {
    /// A flag with no request.
    pub const fn new() -> Self {
        Self(AtomicBool::new(false))
    }

    /// Sets the request.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Clears the request.
    pub fn clear(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    /// Whether a request is set.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(Cancelled)` naming `what` was being done, if a request is set.
    pub fn check(&self, what: &str) -> Result<()> {
        if self.requested() {
            Err(Error::new(
                ErrorKind::Cancelled,
                format!("interrupted while {what}"),
            ))
        } else {
            Ok(())
        }
    }
}

/// The process's flag.
pub static REQUESTED: Flag = Flag::new();

/// Asks every running operation of this process to stop at its next check.
pub fn request() {
    REQUESTED.request();
}

/// Clears a request (the interrupted call has returned).
pub fn clear() {
    REQUESTED.clear();
}

/// Whether a cancel was requested and not cleared yet.
pub fn requested() -> bool {
    REQUESTED.requested()
}

/// `Err(Cancelled)` naming `what` was being done, if a cancel was requested.
pub fn check(what: &str) -> Result<()> {
    REQUESTED.check(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_fails_the_next_check_until_cleared() {
        // a flag of its own: the process's would cancel other tests
        let flag = Flag::new();
        assert!(flag.check("waiting").is_ok());
        flag.request();
        let e = flag.check("waiting for SSH").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
        assert_eq!(e.to_string(), "interrupted while waiting for SSH");
        flag.clear();
        assert!(flag.check("waiting").is_ok());
    }
}
