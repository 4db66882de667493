//! Native calls that Ctrl-C interrupts.
//!
//! A call that may run long (anything reaching libvirt, a guest, a disk
//! tool, the network or a lock) goes through [`call`] (or [`run`]): the
//! lago-core work runs on a worker thread while the calling thread waits
//! without the GIL, taking it every [`TICK`] to run Python's signal
//! handlers (`check_signals`) and to hand queued core log records to
//! `logging`. When a handler raises (`KeyboardInterrupt` on SIGINT, or the
//! exception of a program's own handler, such as the CLI's `SystemExit` on
//! SIGTERM), the core is asked to stop ([`lago_core::cancel::request`]): the
//! call undoes its partial work at its next check and returns
//! `ErrorKind::Cancelled`, or finishes. The caller keeps waiting for the
//! worker (which borrows the caller's objects), then clears the request and
//! raises the handler's exception, whatever the call returned: the user
//! asked to stop, and a tool that died of the same Ctrl-C (ssh, qemu-img,
//! virt-sysprep get it too from the terminal) must not surface as a
//! confusing tool failure. A `Cancelled` error of the call becomes the
//! exception's `__cause__`: what was interrupted and what was undone, which
//! the CLI prints in its one `lago: interrupted` line.
//!
//! CPython runs signal handlers in the main thread only: called from
//! another thread, `check_signals` does nothing and the call simply runs
//! without the GIL (the main thread gets the `KeyboardInterrupt`).
//!
//! Calls that end by themselves at once (reading a spec, a path) do not
//! need this; an interactive session keeps plain `detach`, its Ctrl-C
//! belongs to the guest.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use lago_core::{ErrorKind, cancel};
use pyo3::prelude::*;

use crate::{errors, logbridge};

/// How often a waiting caller looks at signals and log records.
pub const TICK: Duration = Duration::from_millis(50);

/// A call a signal handler's exception interrupted.
pub struct Interrupted<T> {
    /// The handler's exception (`KeyboardInterrupt`, ...): what is raised.
    pub signal: PyErr,
    /// What the call returned after it was asked to stop.
    pub result: T,
}

/// The exception an interrupted call raises: the handler's `signal`, with
/// the call's `error` as its `__cause__` when it is a `Cancelled` one (what
/// was interrupted and undone). Other errors are dropped: they are what the
/// interrupt did (a tool killed by the same Ctrl-C), not news.
pub fn raise(py: Python<'_>, signal: PyErr, error: Option<&lago_core::Error>) -> PyErr {
    if let Some(e) = error.filter(|e| e.kind() == ErrorKind::Cancelled) {
        signal.set_cause(py, Some(errors::to_py(e)));
    }
    signal
}

/// The worker's outcome: its value, or its panic.
type Outcome<T> = Result<T, Box<dyn Any + Send>>;

/// Waits up to [`TICK`] for the worker's outcome, without the GIL; hands
/// the receiver back (it cannot be shared with the waiting closure).
fn wait_tick<T: Send>(
    py: Python<'_>,
    rx: Receiver<Outcome<T>>,
) -> (Receiver<Outcome<T>>, Result<Outcome<T>, RecvTimeoutError>) {
    py.detach(move || {
        let got = rx.recv_timeout(TICK);
        (rx, got)
    })
}

/// Runs `f` on a worker thread, the caller running Python's signal
/// handlers meanwhile (see the module documentation); `Err` when a handler
/// raised, with what `f` returned all the same. A panic of `f` goes on in
/// the caller (PyO3 makes it a `PanicException`).
pub fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> Result<T, Interrupted<T>> {
    let (outcome, signal) = std::thread::scope(|scope| {
        let (tx, mut rx) = mpsc::sync_channel::<Outcome<T>>(1);
        scope.spawn(move || {
            let _ = tx.send(panic::catch_unwind(AssertUnwindSafe(f)));
        });
        let mut signal: Option<PyErr> = None;
        let outcome = loop {
            let (back, got) = wait_tick(py, rx);
            rx = back;
            match got {
                Ok(outcome) => break outcome,
                Err(RecvTimeoutError::Timeout) => {}
                // the worker sends before it ends, even when `f` panics
                Err(RecvTimeoutError::Disconnected) => {
                    break Err(Box::new("lago's worker thread ended without a result"));
                }
            }
            let tick = py.check_signals().and_then(|()| logbridge::try_flush(py));
            if let Err(e) = tick {
                // the first one counts; later ones (Ctrl-C pressed again
                // while the call undoes its work) are dropped
                if signal.is_none() {
                    cancel::request();
                    signal = Some(e);
                }
            }
        };
        (outcome, signal)
    });
    let requested = signal.is_some();
    if requested {
        cancel::clear();
    }
    let flushed = logbridge::try_flush(py);
    let value = match outcome {
        Ok(value) => value,
        Err(panic) => panic::resume_unwind(panic),
    };
    // A signal that came as the call ended (a tool killed by the same
    // Ctrl-C makes the call fail at once) is the caller's answer too.
    let signal = match signal {
        Some(s) => Some(s),
        None => flushed.and_then(|()| py.check_signals()).err(),
    };
    match signal {
        None => Ok(value),
        Some(signal) => Err(Interrupted {
            signal,
            result: value,
        }),
    }
}

/// [`run`] of a lago-core call, its error raised as lago's exception.
pub fn call<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> lago_core::Result<T> + Send,
) -> PyResult<T> {
    match run(py, f) {
        Ok(out) => out.map_err(|e| errors::to_py(&e)),
        Err(Interrupted { signal, result }) => Err(raise(py, signal, result.as_ref().err())),
    }
}
