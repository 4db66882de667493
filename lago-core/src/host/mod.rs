//! Where a prefix runs when its libvirt is not this machine's (issue 19).
//!
//! With `libvirt_url = qemu+ssh://root@HOST/system` (or a host chosen from
//! `libvirt_hosts`, see [`crate::ops::placement`]), init records the host in
//! `<prefix>/host` ([`HostRecord`]): its URI, the storage pool lago keeps
//! the prefix's images in there, that pool's folder on the host, and the
//! prefix's volume-name prefix. From then on every command on the prefix
//! talks to that host, whatever the configuration says.
//!
//! The prefix keeps Lago's layout and specs: a disk's `path` still reads
//! `$LAGO_PREFIX_PATH/images/<file>`. On the host, that file is the volume
//! `lago-<uuid>-<file>` of the pool ([`HostRecord::volume`]); the domain
//! XML names the volume's path there ([`HostRecord::host_path`]). Template
//! images are kept once per host by content (see
//! [`crate::provider::storage`]). [`Images`] does what lago does to image
//! files (make overlays, check, remove) on whichever side they live.
//!
//! Guests are reached through the host: [`jump_target`] says how to log in
//! on it (user and port from the URI; key and `known_hosts` from the URI's
//! `keyfile` / `known_hosts` parameters, else `[lago] host_ssh_key` /
//! `host_known_hosts`, else the user's `~/.ssh`).

pub(crate) mod images;
mod uri;

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use images::Images;
pub use uri::{HostUri, jump_target, lease_dir, proxy_command};

use crate::paths::Paths;

/// The file in a prefix that says which host it runs on.
pub const RECORD_FILE: &str = "host";

/// The remote host a prefix runs on, as `<prefix>/host` keeps it (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// The host's libvirt URI.
    pub uri: String,
    /// The storage pool holding the prefix's images.
    pub pool: String,
    /// That pool's folder on the host.
    pub pool_dir: String,
    /// What the names of the prefix's volumes start with (`lago-<uuid>-`).
    pub volume_prefix: String,
}

impl HostRecord {
    /// The record of a new prefix with uuid `uuid` on `uri`, pool `pool`
    /// (folder `pool_dir` on the host).
    pub fn new(uri: &str, pool: &str, pool_dir: &str, uuid: &str) -> Self {
        Self {
            uri: uri.to_string(),
            pool: pool.to_string(),
            pool_dir: pool_dir.trim_end_matches('/').to_string(),
            volume_prefix: format!("lago-{uuid}-"),
        }
    }

    /// Reads `<prefix>/host`; `None` for a prefix on this machine.
    pub fn read(paths: &Paths) -> io::Result<Option<Self>> {
        let file = paths.prefixed(RECORD_FILE);
        match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not a host record: {e}", file.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `<prefix>/host`.
    pub fn write(&self, paths: &Paths) -> crate::error::Result<()> {
        crate::prefix::layout::write_json(&paths.prefixed(RECORD_FILE), self).map_err(Into::into)
    }

    /// `user@host` (or the host), for `status` and `list`.
    pub fn name(&self) -> String {
        HostUri::parse(&self.uri).map_or_else(|| self.uri.clone(), |u| u.display_name())
    }

    /// The volume that holds the prefix's file `local`, when it is one of
    /// its images (`<prefix>/images/<file>`).
    pub fn volume(&self, paths: &Paths, local: &Path) -> Option<String> {
        if local.parent()? != paths.images() {
            return None;
        }
        let file = local.file_name()?.to_str()?;
        Some(format!("{}{file}", self.volume_prefix))
    }

    /// Where the host sees the prefix's file `local`: its volume's path for
    /// an image, `local` itself for anything else.
    pub fn host_path(&self, paths: &Paths, local: &Path) -> PathBuf {
        match self.volume(paths, local) {
            Some(v) => Path::new(&self.pool_dir).join(v),
            None => local.to_path_buf(),
        }
    }

    /// The console log of VM `vm` on the host (a file in the pool's folder,
    /// so that `destroy` removes it with the volumes).
    pub fn console_log(&self, vm: &str) -> String {
        format!("{}/{}console-{vm}.log", self.pool_dir, self.volume_prefix)
    }

    /// Whether volume `name` belongs to this prefix.
    pub fn owns(&self, name: &str) -> bool {
        name.starts_with(&self.volume_prefix)
    }

    /// Deletes every volume of the prefix on its host (disks, seeds,
    /// memory images, console logs: those named `lago-<uuid>-…`) through
    /// `provider`, a connection to that host; the templates there stay for
    /// other environments. Returns how many were deleted.
    pub fn remove_volumes(
        &self,
        provider: &dyn crate::provider::Provider,
    ) -> Result<usize, crate::provider::ProviderError> {
        let mut removed = 0;
        for v in provider.list_volumes(&self.pool)? {
            if self.owns(&v) && provider.delete_volume(&self.pool, &v)? {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_map_to_volumes_in_the_pool_folder() {
        let paths = Paths::new("/w/.lago/default");
        let rec = HostRecord::new(
            "qemu+ssh://root@h1/system",
            "default",
            "/var/lib/libvirt/images/",
            "0123abcd",
        );
        let img = paths.images().join("vm0_root.qcow2");
        assert_eq!(
            rec.volume(&paths, &img).as_deref(),
            Some("lago-0123abcd-vm0_root.qcow2")
        );
        assert_eq!(
            rec.host_path(&paths, &img),
            Path::new("/var/lib/libvirt/images/lago-0123abcd-vm0_root.qcow2")
        );
        // files elsewhere are not images: they keep their path
        let other = Path::new("/srv/iso/x.iso");
        assert_eq!(rec.volume(&paths, other), None);
        assert_eq!(rec.host_path(&paths, other), other);
        assert_eq!(
            rec.console_log("vm0"),
            "/var/lib/libvirt/images/lago-0123abcd-console-vm0.log"
        );
        assert!(rec.owns("lago-0123abcd-console-vm0.log"));
        assert!(!rec.owns("lago-template-abc.raw"));
        assert_eq!(rec.name(), "root@h1");
    }

    #[test]
    fn the_record_round_trips_and_its_absence_means_local() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        assert_eq!(HostRecord::read(&paths).unwrap(), None);
        let rec = HostRecord::new("qemu+ssh://h/system", "p", "/d", "u");
        rec.write(&paths).unwrap();
        assert_eq!(HostRecord::read(&paths).unwrap(), Some(rec));
        std::fs::write(paths.prefixed(RECORD_FILE), "{").unwrap();
        let e = HostRecord::read(&paths).unwrap_err();
        assert!(e.to_string().contains("not a host record"), "{e}");
    }
}
