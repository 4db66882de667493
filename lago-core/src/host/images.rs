//! What lago does to a prefix's image files (check, make an overlay,
//! remove), done where the images live: files on this machine, or volumes
//! of the pool on the prefix's remote host ([`super::HostRecord`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::HostRecord;
use crate::disk::{self, ImageFormat};
use crate::error::{Error, ErrorKind, Result};
use crate::paths::Paths;
use crate::provider::Provider;

/// Where a prefix's images live.
#[derive(Clone)]
pub enum Images {
    /// Files on this machine.
    Local,
    /// Volumes of a pool on the prefix's host.
    Pool {
        /// The host's provider.
        provider: Arc<dyn Provider>,
        /// Which host, pool and volume names.
        record: HostRecord,
        /// The prefix.
        paths: Paths,
    },
}

impl std::fmt::Debug for Images {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local => f.write_str("Images::Local"),
            Self::Pool { record, .. } => write!(f, "Images::Pool({} {})", record.uri, record.pool),
        }
    }
}

impl Images {
    /// The images of a prefix on `host` (this machine when `None`).
    pub fn new(host: Option<&HostRecord>, provider: Arc<dyn Provider>, paths: &Paths) -> Self {
        match host {
            Some(record) => Self::Pool {
                provider,
                record: record.clone(),
                paths: paths.clone(),
            },
            None => Self::Local,
        }
    }

    /// Whether the images live on another machine.
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::Pool { .. })
    }

    /// Where the libvirt host sees the prefix's file `local`.
    pub fn host_path(&self, local: &Path) -> PathBuf {
        match self {
            Self::Local => local.to_path_buf(),
            Self::Pool { record, paths, .. } => record.host_path(paths, local),
        }
    }

    /// The pool, the volume and the record, when `local` is a volume.
    fn volume<'a>(&'a self, local: &Path) -> Option<(&'a dyn Provider, &'a HostRecord, String)> {
        match self {
            Self::Local => None,
            Self::Pool {
                provider,
                record,
                paths,
            } => record
                .volume(paths, local)
                .map(|v| (provider.as_ref(), record, v)),
        }
    }

    /// Whether image `local` exists.
    pub fn exists(&self, local: &Path) -> Result<bool> {
        match self.volume(local) {
            Some((p, r, v)) => Ok(p.volume_capacity(&r.pool, &v)?.is_some()),
            None => Ok(std::fs::symlink_metadata(local).is_ok()),
        }
    }

    /// Makes `overlay`, a new qcow2 image on `backing` (format
    /// `backing_format`). `live`: a running VM uses `backing`, which is
    /// then not opened (qemu holds it locked).
    pub fn overlay(
        &self,
        backing: &Path,
        backing_format: ImageFormat,
        overlay: &Path,
        live: bool,
    ) -> Result<()> {
        match (self.volume(overlay), self.volume(backing)) {
            (Some((p, r, vol)), Some((_, _, backing_vol))) => {
                let capacity = p.volume_capacity(&r.pool, &backing_vol)?.ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        format!("volume {}/{backing_vol} on {} is gone", r.pool, r.name()),
                    )
                })?;
                let backing_host = self.host_path(backing);
                p.create_overlay_volume(
                    &r.pool,
                    &vol,
                    capacity,
                    &backing_host.to_string_lossy(),
                    backing_format.qemu_format(),
                )?;
                Ok(())
            }
            (None, None) => {
                if live {
                    let size = disk::info(backing)?.virtual_size;
                    disk::create_overlay_unopened(backing, backing_format, overlay, size)?;
                } else {
                    disk::create_overlay(backing, backing_format, overlay)?;
                }
                Ok(())
            }
            _ => Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "overlay {} and its backing file {} are not both on the host",
                    overlay.display(),
                    backing.display()
                ),
            )),
        }
    }

    /// Removes image `local`; `false` when there was none.
    pub fn remove(&self, local: &Path) -> Result<bool> {
        match self.volume(local) {
            Some((p, r, v)) => Ok(p.delete_volume(&r.pool, &v)?),
            None => match std::fs::remove_file(local) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(Error::new(
                    ErrorKind::Io,
                    format!("cannot remove {}: {e}", local.display()),
                )),
            },
        }
    }

    /// Replaces overlay `current` with an empty one on `backing` (the VM is
    /// down). A local file is made aside and renamed over it; a volume is
    /// deleted and made again (pools cannot rename).
    pub fn replace_overlay(
        &self,
        backing: &Path,
        backing_format: ImageFormat,
        current: &Path,
    ) -> Result<()> {
        if self.volume(current).is_some() {
            self.remove(current)?;
            return self.overlay(backing, backing_format, current, false);
        }
        let tmp = tmp_name(current);
        let _ = std::fs::remove_file(&tmp);
        disk::create_overlay(backing, backing_format, &tmp)?;
        if let Err(e) = std::fs::rename(&tmp, current) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::new(
                ErrorKind::Io,
                format!("cannot replace {}: {e}", current.display()),
            ));
        }
        Ok(())
    }
}

/// The temporary name a revert makes a local overlay under.
pub fn tmp_name(p: &Path) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!(".{name}.revert.{}", std::process::id()))
}
