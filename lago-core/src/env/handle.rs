//! The lifecycle of an environment a front end hands out (a C `lago_env`, a
//! Python `Env` object): open until `destroy`, then destroyed, every later
//! call refused with [`Destroyed`]. Kept here once so the C library and the
//! Python module behave the same.
//!
//! Calls run under a shared lock; [`EnvHandle::destroy`] takes it
//! exclusively, so it waits for the calls running on other threads, and
//! calls made while it runs wait for it and then see [`Destroyed`].

use parking_lot::RwLock;

use super::Env;
use crate::error::Result;

/// Why a call on a handle was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Destroyed {
    /// A call other than `destroy` after `destroy`.
    #[error("the environment was destroyed")]
    Used,
    /// `destroy` called again.
    #[error("the environment was already destroyed")]
    Again,
}

/// An environment until it is destroyed.
pub struct EnvHandle {
    /// `None` once destroyed.
    slot: RwLock<Option<Env>>,
}

impl EnvHandle {
    /// A handle on the open `env`.
    pub fn new(env: Env) -> Self {
        Self {
            slot: RwLock::new(Some(env)),
        }
    }

    /// Runs `f` on the env, unless it was destroyed. Calls from several
    /// threads run at once (a thread may nest calls).
    pub fn with<R>(&self, f: impl FnOnce(&Env) -> R) -> std::result::Result<R, Destroyed> {
        let guard = self.slot.read_recursive();
        let env = guard.as_ref().ok_or(Destroyed::Used)?;
        Ok(f(env))
    }

    /// Whether `destroy` has run (whether or not it succeeded).
    pub fn is_destroyed(&self) -> bool {
        self.slot.read_recursive().is_none()
    }

    /// Destroys the env ([`Env::destroy`]) after the running calls end. The
    /// handle is destroyed afterwards even if this fails.
    pub fn destroy(&self) -> std::result::Result<Result<()>, Destroyed> {
        let taken = self.slot.write().take();
        let env = taken.ok_or(Destroyed::Again)?;
        Ok(env.destroy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::ops::init::InitOptions;

    /// An env of one network and no VMs, in a temporary workdir.
    fn env(dir: &std::path::Path) -> Env {
        let initfile = dir.join("LagoInitFile");
        let text = "domains: {}\nnets:\n  lago:\n    type: nat\n    management: true\n";
        let mut opts = InitOptions::new(dir.join("wd"), initfile);
        opts.initfile_text = Some(text.into());
        let mut config = Config::new();
        config.set(
            "lago",
            "lease_dir",
            dir.join("leases").to_string_lossy().into_owned(),
        );
        // libvirt's in-memory test driver: no system libvirt is touched.
        config.set("lago", "libvirt_url", "test:///default");
        match Env::init(&opts, config) {
            Ok(env) => env,
            Err(e) => panic!("init: {e}"),
        }
    }

    #[test]
    fn calls_after_destroy_are_refused_and_destroy_runs_once() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let handle = EnvHandle::new(env(dir.path()));
        assert_eq!(handle.with(|e| e.vm_names()), Ok(Vec::<String>::new()));
        assert!(!handle.is_destroyed());
        assert!(matches!(handle.destroy(), Ok(Ok(()))));
        assert!(handle.is_destroyed());
        assert_eq!(handle.with(|e| e.net_names()), Err(Destroyed::Used));
        assert!(matches!(handle.destroy(), Err(Destroyed::Again)));
        assert!(
            !dir.path().join("wd").exists(),
            "the workdir went with its last prefix"
        );
    }

    #[test]
    fn destroy_waits_for_a_running_call() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let handle = std::sync::Arc::new(EnvHandle::new(env(dir.path())));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let h = handle.clone();
        let call = std::thread::spawn(move || {
            h.with(|e| {
                let _ = started_tx.send(());
                let _ = release_rx.recv();
                e.net_names()
            })
        });
        let _ = started_rx.recv();
        let h = handle.clone();
        let destroyer = std::thread::spawn(move || h.destroy().map(|r| r.is_ok()));
        let _ = release_tx.send(());
        assert_eq!(
            call.join().unwrap_or_else(|_| panic!("call")),
            Ok(vec!["lago".to_string()])
        );
        assert_eq!(
            destroyer.join().unwrap_or_else(|_| panic!("destroy")),
            Ok(true)
        );
        assert!(handle.is_destroyed());
    }
}
