//! Memory snapshots: the guests' RAM and device state saved beside a
//! snapshot's disk overlays, and the revert that resumes them from it.
//!
//! Taking one (`lago snapshot NAME --memory`): every running VM of the
//! snapshot is paused first, so that all of them are captured at one
//! instant; then each gets libvirt's external snapshot with its memory
//! (`images/<vm>.<snapshot>.mem`, libvirt's save-image format) and new disk
//! overlays (the same ones a disk-only snapshot makes: the files the VM
//! wrote so far freeze, and it goes on writing to the overlays); then all
//! are resumed. Memory and disks are captured at the same paused instant,
//! so the guest needs neither a `sync` nor the guest agent's file-system
//! freeze (which would be saved into the image: the restored guest would
//! find its file systems frozen). Stopped VMs get a disk-only snapshot.
//!
//! Reverting to one: the VMs are destroyed, each disk gets a fresh overlay
//! on the snapshot's frozen file (as for a disk-only revert), and each VM is
//! started from its memory image (`virDomainRestoreFlags`) with the image's
//! own domain XML retargeted onto the fresh overlays
//! ([`crate::xml::retarget_disks`]). The guest resumes where it was: no
//! boot; its processes, their PIDs and its uptime continue. Its clock is
//! then set to the host's (guest agent, else `date` over SSH), which is
//! also the first SSH contact. This works on libvirt 9.0 / QEMU 7.2, whose
//! own revert of external snapshots does not exist yet.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use crate::error::{Error, ErrorKind, Result};
use crate::ops::parallel;
use crate::paths::Paths;
use crate::progress::Progress;
use crate::provider::Provider;
use crate::xml;

/// The memory image of one VM's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryStep {
    /// The image (absolute).
    pub path: PathBuf,
    /// Its stored form, `$LAGO_PREFIX_PATH/images/<vm>.<snapshot>.mem`.
    pub stored: String,
}

/// The memory image of snapshot `name` of VM `vm`, which must not exist
/// yet.
pub fn plan_image(paths: &Paths, vm: &str, name: &str) -> Result<MemoryStep> {
    let file = format!("{vm}.{name}.mem");
    let path = paths.images().join(&file);
    if fs::symlink_metadata(&path).is_ok() {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "VM '{vm}': the memory image for snapshot '{name}' exists already: {} \
                 (left by something else; remove it or choose another name)",
                path.display()
            ),
        ));
    }
    Ok(MemoryStep {
        path,
        stored: Paths::stored_image(&file),
    })
}

/// Removes a memory image of a snapshot that did not happen.
pub fn remove_image(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        warn!(path = %path.display(), error = %e, "cannot remove the memory image of a failed snapshot");
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Pauses every domain of `domains` at once. On a failure the ones paused
/// are resumed again and the first error returned.
pub fn suspend_all(provider: &dyn Provider, domains: &[String]) -> Result<()> {
    let results = parallel::map(domains, "pausing a VM", |d| {
        provider.suspend_vm(d).map_err(Error::from)
    });
    if results.iter().all(Result::is_ok) {
        return Ok(());
    }
    let paused: Vec<String> = domains
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .map(|(d, _)| d.clone())
        .collect();
    resume_all(provider, &paused);
    results.into_iter().collect::<Result<Vec<()>>>().map(drop)
}

/// Resumes every domain of `domains`; a failure is logged (the VM stays
/// paused; the line says how to resume it).
pub fn resume_all(provider: &dyn Provider, domains: &[String]) {
    let _ = parallel::map(domains, "resuming a VM", |d| {
        if let Err(e) = provider.resume_vm(d) {
            warn!(domain = %d, error = %e, "cannot resume a VM after its memory snapshot: `virsh resume {d}` resumes it");
        }
        Ok(())
    });
}

/// How long a save runs before it shows progress.
const QUIET_SAVE: Duration = Duration::from_secs(1);

/// Runs `save` while a watcher reports the memory saved so far of
/// `domains` as progress (task `saving the memory of N VMs`), once the save
/// has lasted [`QUIET_SAVE`].
pub fn with_save_progress<R>(
    provider: &dyn Provider,
    domains: &[String],
    save: impl FnOnce() -> R,
) -> R {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| watch_saves(provider, domains, &done));
        let out = save();
        done.store(true, Ordering::SeqCst);
        out
    })
}

fn watch_saves(provider: &dyn Provider, domains: &[String], done: &AtomicBool) {
    let tick = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    while waited < QUIET_SAVE {
        if done.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(tick);
        waited += tick;
    }
    let mut progress: Option<Progress> = None;
    let mut seen: HashMap<&str, (u64, u64)> = HashMap::new();
    while !done.load(Ordering::SeqCst) {
        for d in domains {
            if let Ok(Some(job)) = provider.memory_job(d) {
                seen.insert(d.as_str(), job);
            }
        }
        let (sofar, total) = seen
            .values()
            .fold((0u64, 0u64), |(a, b), (x, y)| (a + x, b + y));
        if total > 0 {
            progress
                .get_or_insert_with(|| {
                    Progress::bytes(format!("saving the memory of {} VMs", domains.len()), total)
                })
                .set(sofar.min(total));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    if let Some(p) = progress {
        p.finish();
    }
}

/// One VM to start from its memory image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    /// The VM.
    pub vm: String,
    /// Its libvirt name.
    pub domain: String,
    /// The memory image.
    pub image: PathBuf,
    /// Each snapshotted disk: the file the image names (the snapshot's
    /// frozen file) → the fresh overlay on it that the VM runs on now.
    pub disks: Vec<(PathBuf, PathBuf)>,
}

/// Starts one VM from its memory image, running, on its fresh overlays.
pub fn restore(provider: &dyn Provider, r: &Restore) -> Result<()> {
    let saved = provider.memory_image_xml(&r.image)?;
    let files: HashMap<String, String> = r
        .disks
        .iter()
        .map(|(from, to)| {
            (
                from.to_string_lossy().into_owned(),
                to.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let domain_xml = xml::retarget_disks(&saved, &files).map_err(|e| {
        Error::with_source(
            ErrorKind::Config,
            format!("VM '{}': {e} ({})", r.vm, r.image.display()),
            e,
        )
    })?;
    provider.restore_vm(&r.image, &domain_xml)?;
    info!(vm = %r.vm, image = %r.image.display(), "resumed from its memory image");
    Ok(())
}

/// The shell command that sets a guest's clock to `unix_seconds` (UTC):
/// GNU date and BusyBox date both take `@seconds`.
pub fn set_clock_command(unix_seconds: u64) -> String {
    format!("date -u -s @{unix_seconds} >/dev/null")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_named_after_vm_and_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        fs::create_dir_all(paths.images()).unwrap();
        let m = plan_image(&paths, "vm0", "s1").unwrap();
        assert_eq!(m.path, dir.path().join("images/vm0.s1.mem"));
        assert_eq!(m.stored, "$LAGO_PREFIX_PATH/images/vm0.s1.mem");
        fs::write(&m.path, b"x").unwrap();
        let e = plan_image(&paths, "vm0", "s1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert!(e.message().contains("vm0.s1.mem"), "{}", e.message());
        remove_image(&m.path);
        assert!(!m.path.exists());
        remove_image(&m.path); // gone already: nothing to say
    }

    #[test]
    fn the_clock_command_takes_epoch_seconds() {
        assert_eq!(
            set_clock_command(1_765_000_000),
            "date -u -s @1765000000 >/dev/null"
        );
    }
}
