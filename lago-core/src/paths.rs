//! Where everything of one prefix lives on disk, in Lago's layout.
//!
//! ```text
//! <prefix>/
//! ├── initialized              marks an initialized prefix
//! ├── uuid                     32 hex characters, no newline
//! ├── id_rsa, id_rsa.pub       the prefix's SSH key pair (RSA, PEM)
//! ├── metadata                 {"lago_version": "..."}
//! ├── logs/lago.log
//! ├── images/<vm>_<disk>.<fmt>
//! ├── scripts/<deploy script path with / turned into _>
//! └── virt/env, virt/net-<name>, virt/vm-<name>
//! ```
//!
//! Paths stored inside specs are written as `$LAGO_PREFIX_PATH/...` so that a
//! prefix can move; [`Paths::expand`] turns them back into real paths.

use std::path::{Path, PathBuf};

/// The variable stored paths are relative to.
pub const PREFIX_VAR: &str = "$LAGO_PREFIX_PATH";

/// The paths of one prefix (Lago's `lago.paths.Paths`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    prefix: PathBuf,
}

impl Paths {
    /// Paths of the prefix at `prefix`.
    pub fn new(prefix: impl Into<PathBuf>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix folder itself.
    pub fn prefix_path(&self) -> &Path {
        &self.prefix
    }

    /// `<prefix>/<part>`.
    pub fn prefixed(&self, part: impl AsRef<Path>) -> PathBuf {
        self.prefix.join(part)
    }

    /// The file marking an initialized prefix (`prefix_lagofile` in Lago).
    pub fn initialized(&self) -> PathBuf {
        self.prefixed("initialized")
    }

    /// The file holding the prefix's uuid.
    pub fn uuid(&self) -> PathBuf {
        self.prefixed("uuid")
    }

    /// The private SSH key guests trust.
    pub fn ssh_id_rsa(&self) -> PathBuf {
        self.prefixed("id_rsa")
    }

    /// The public half of [`Paths::ssh_id_rsa`].
    pub fn ssh_id_rsa_pub(&self) -> PathBuf {
        self.prefixed("id_rsa.pub")
    }

    /// `metadata` (the Lago version that made the prefix).
    pub fn metadata(&self) -> PathBuf {
        self.prefixed("metadata")
    }

    /// The log folder.
    pub fn logs(&self) -> PathBuf {
        self.prefixed("logs")
    }

    /// The prefix's log file.
    pub fn log_file(&self) -> PathBuf {
        self.logs().join("lago.log")
    }

    /// The image folder.
    pub fn images(&self) -> PathBuf {
        self.prefixed("images")
    }

    /// The copies of deploy scripts.
    pub fn scripts(&self) -> PathBuf {
        self.prefixed("scripts")
    }

    /// Where a deploy script at `script` is copied: its path with every `/`
    /// turned into `_` (as Lago names them).
    pub fn script_copy(&self, script: &str) -> PathBuf {
        self.scripts().join(script.replace('/', "_"))
    }

    /// The folder of persisted specs.
    pub fn virt(&self) -> PathBuf {
        self.prefixed("virt")
    }

    /// `virt/env`: the names of the nets and VMs.
    pub fn virt_env(&self) -> PathBuf {
        self.virt().join("env")
    }

    /// `virt/vm-<name>`: one VM's persisted spec.
    pub fn virt_vm(&self, name: &str) -> PathBuf {
        self.virt().join(format!("vm-{name}"))
    }

    /// `virt/net-<name>`: one net's persisted spec.
    pub fn virt_net(&self, name: &str) -> PathBuf {
        self.virt().join(format!("net-{name}"))
    }

    /// The stored (relocatable) form of a file in `images/`:
    /// `$LAGO_PREFIX_PATH/images/<file>`.
    pub fn stored_image(file: &str) -> String {
        format!("{PREFIX_VAR}/images/{file}")
    }

    /// Turns a stored path back into a real one: a leading
    /// `$LAGO_PREFIX_PATH` (or `${LAGO_PREFIX_PATH}`) becomes this prefix's
    /// folder; any other path is returned as it is.
    pub fn expand(&self, stored: &str) -> PathBuf {
        for var in [PREFIX_VAR, "${LAGO_PREFIX_PATH}"] {
            if let Some(rest) = stored.strip_prefix(var) {
                return self.prefix.join(rest.trim_start_matches('/'));
            }
        }
        PathBuf::from(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_names() {
        let p = Paths::new("/w/.lago/default");
        assert_eq!(p.virt_vm("vm0"), Path::new("/w/.lago/default/virt/vm-vm0"));
        assert_eq!(p.virt_net("n0"), Path::new("/w/.lago/default/virt/net-n0"));
        assert_eq!(p.virt_env(), Path::new("/w/.lago/default/virt/env"));
        assert_eq!(p.initialized(), Path::new("/w/.lago/default/initialized"));
        assert_eq!(p.log_file(), Path::new("/w/.lago/default/logs/lago.log"));
        assert_eq!(
            p.script_copy("/home/u/deploy/setup.sh"),
            Path::new("/w/.lago/default/scripts/_home_u_deploy_setup.sh")
        );
    }

    #[test]
    fn stored_paths_round_trip() {
        let p = Paths::new("/w/.lago/default");
        let stored = Paths::stored_image("vm0_root.qcow2");
        assert_eq!(stored, "$LAGO_PREFIX_PATH/images/vm0_root.qcow2");
        assert_eq!(
            p.expand(&stored),
            Path::new("/w/.lago/default/images/vm0_root.qcow2")
        );
        assert_eq!(
            p.expand("${LAGO_PREFIX_PATH}/images/x.raw"),
            Path::new("/w/.lago/default/images/x.raw")
        );
        assert_eq!(p.expand("/abs/disk.iso"), Path::new("/abs/disk.iso"));
    }
}
