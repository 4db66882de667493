//! The one way operations run work per VM (or per disk) at once: a scoped
//! thread per item, all joined, results in the items' order. A thread that
//! panics becomes an [`ErrorKind::Internal`] error naming what it was doing.

use crate::error::{Error, ErrorKind, Result};

/// Runs `f` for every item on its own thread and returns every result, in
/// the items' order. `what` says what a thread does ("stopping a VM"), for
/// the error of a thread that panicked.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    what: &str,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Vec<Result<R>> {
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items.iter().map(|it| s.spawn(move || f(it))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::new(
                        ErrorKind::Internal,
                        format!("a thread {what} panicked"),
                    ))
                })
            })
            .collect()
    })
}

/// Runs `f` for every item on its own thread, waits for all of them, and
/// returns the first error (in the items' order), if any.
pub fn each<T: Sync>(items: &[T], what: &str, f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    map(items, what, f)
        .into_iter()
        .collect::<Result<Vec<()>>>()
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order() {
        let out = map(&[3u64, 1, 2], "sleeping", |n| {
            std::thread::sleep(std::time::Duration::from_millis(n * 5));
            Ok(n * 10)
        });
        let out: Vec<u64> = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(out, [30, 10, 20]);
    }

    #[test]
    fn every_item_runs_and_the_first_error_is_kept() {
        let ran = std::sync::atomic::AtomicUsize::new(0);
        let err = each(&[0, 1, 2, 3], "testing", |n| {
            ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match n {
                1 => Err(Error::new(ErrorKind::Io, "first")),
                3 => Err(Error::new(ErrorKind::Io, "second")),
                _ => Ok(()),
            }
        })
        .unwrap_err();
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 4);
        assert!(err.to_string().contains("first"), "{err}");
    }

    #[test]
    fn a_panic_is_an_internal_error_saying_what_the_thread_did() {
        let err = each(&[()], "stopping a VM", |_| -> Result<()> { panic!("boom") }).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(
            err.to_string().contains("a thread stopping a VM panicked"),
            "{err}"
        );
    }
}
