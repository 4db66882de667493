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
//! so the guest needs no `sync`. A VM whose guest agent answers is also
//! quiesced: its file systems are frozen through the agent before the pause
//! and thawed after the resume, so that the snapshot's disks alone (what a
//! `lago start` after the revert, or an export, would boot from) are
//! consistent, not only crash-consistent. The freeze is saved into the
//! memory image, so a VM resumed from a quiesced image has frozen file
//! systems too: the revert thaws them through the agent before anything
//! else (the record's `quiesced` says whether it must). A VM whose agent
//! does not answer is snapshotted unquiesced. Stopped VMs get a disk-only
//! snapshot.
//!
//! Reverting to one: the VMs are destroyed, each disk gets a fresh overlay
//! on the snapshot's frozen file (as for a disk-only revert), and each VM is
//! started from its memory image (`virDomainRestoreFlags`) with the image's
//! own domain XML retargeted onto the fresh overlays
//! ([`crate::xml::retarget_disks`]). The guest resumes where it was: no
//! boot; its processes, their PIDs and its uptime continue. Its file
//! systems are thawed if the snapshot was quiesced, and its clock is set to
//! the host's (guest agent, else `date` over SSH, which is then also the
//! first SSH contact). This works on libvirt 9.0 / QEMU 7.2, whose
//! own revert of external snapshots does not exist yet.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::{debug, info, warn};

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
    /// The VM's memory in bytes (what a save goes through, about).
    pub bytes: u64,
}

/// The memory image of snapshot `name` of VM `vm` (with `memory_mib` of
/// memory), which must not exist yet.
pub fn plan_image(paths: &Paths, vm: &str, name: &str, memory_mib: u64) -> Result<MemoryStep> {
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
        bytes: memory_mib.saturating_mul(1024 * 1024),
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

/// Freezes the file systems of every domain of `domains` at once through
/// its guest agent; returns the ones frozen (a failure is logged: that VM
/// is snapshotted unquiesced).
pub fn freeze_all(provider: &dyn Provider, domains: &[String]) -> Vec<String> {
    let frozen = parallel::map(domains, "freezing a VM's file systems", |d| {
        Ok(match provider.freeze_filesystems(d) {
            Ok(n) => {
                info!(domain = %d, filesystems = n, "file systems frozen for the memory snapshot");
                true
            }
            Err(e) => {
                warn!(domain = %d, error = %e, "cannot quiesce the guest through its agent; its memory snapshot is taken unquiesced");
                false
            }
        })
    });
    domains
        .iter()
        .zip(frozen)
        .filter(|(_, f)| matches!(f, Ok(true)))
        .map(|(d, _)| d.clone())
        .collect()
}

/// How long a thaw is retried before it fails: right after a resume, the
/// guest agent may take a moment to answer.
const THAW_FOR: Duration = Duration::from_secs(30);

/// Thaws the file systems of domain `domain` through its guest agent,
/// retried for [`THAW_FOR`]; returns how many were thawed.
pub fn thaw(provider: &dyn Provider, domain: &str) -> Result<u32> {
    let deadline = std::time::Instant::now() + THAW_FOR;
    loop {
        match provider.thaw_filesystems(domain) {
            Ok(n) => return Ok(n),
            Err(e) if std::time::Instant::now() >= deadline => return Err(e.into()),
            Err(e) => {
                debug!(domain, error = %e, "the guest agent does not thaw yet; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// Thaws every domain of `domains` (each retried, see [`thaw`]); a failure
/// is logged with the command that thaws it.
pub fn thaw_all(provider: &dyn Provider, domains: &[String]) {
    let _ = parallel::map(domains, "thawing a VM's file systems", |d| {
        if let Err(e) = thaw(provider, d) {
            warn!(domain = %d, error = %e, "cannot thaw the guest's file systems after its memory snapshot: `virsh domfsthaw {d}` thaws them");
        }
        Ok(())
    });
}

/// How long a save runs before it shows progress (none under
/// [`crate::progress::TEST_UNTHROTTLED_ENV`]).
const QUIET_SAVE: Duration = Duration::from_secs(1);

/// How often the watcher of a save reads the job stats.
const SAVE_POLL: Duration = Duration::from_millis(250);

/// Runs `save` while a watcher reports the memory saved so far of
/// `domains` (`total` bytes of memory in all) as progress (task `saving the
/// memory of N VMs`), once the save has lasted [`QUIET_SAVE`]. The bytes
/// done are the sum of libvirt's job stats (`memory processed`) of the
/// domains, as last seen; the task ends with the save.
pub fn with_save_progress<R>(
    provider: &dyn Provider,
    domains: &[String],
    total: u64,
    save: impl FnOnce() -> R,
) -> R {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| watch_saves(provider, domains, total, &done));
        let out = save();
        done.store(true, Ordering::SeqCst);
        out
    })
}

fn watch_saves(provider: &dyn Provider, domains: &[String], total: u64, done: &AtomicBool) {
    if domains.is_empty() {
        return;
    }
    let (quiet, poll) = if crate::progress::unthrottled() {
        (Duration::ZERO, Duration::from_millis(10))
    } else {
        (QUIET_SAVE, SAVE_POLL)
    };
    let tick = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    while waited < quiet {
        if done.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(tick);
        waited += tick;
    }
    let mut progress = Progress::bytes(saving_task(domains.len()), total);
    let mut seen: HashMap<&str, u64> = HashMap::new();
    while !done.load(Ordering::SeqCst) {
        for d in domains {
            if let Ok(Some((processed, _))) = provider.memory_job(d) {
                seen.insert(d.as_str(), processed);
            }
        }
        progress.set(seen.values().sum::<u64>().min(total));
        std::thread::sleep(poll);
    }
    progress.set(total);
    progress.finish();
}

/// The progress task of a save of `n` VMs' memory.
fn saving_task(n: usize) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("saving the memory of {n} VM{s}")
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
    /// Whether the image holds frozen file systems: `Some(true)` they must
    /// be thawed, `Some(false)` not, `None` unknown (a snapshot completed by
    /// a repair, or recorded before lago quiesced): a thaw is tried once.
    pub quiesced: Option<bool>,
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

/// Thaws a VM just resumed from its memory image, if the image holds frozen
/// file systems (see [`Restore::quiesced`]).
pub fn thaw_restored(provider: &dyn Provider, r: &Restore) -> Result<()> {
    match r.quiesced {
        Some(true) => {
            let n = thaw(provider, &r.domain).map_err(|e| {
                let message = format!(
                    "VM '{}' was resumed with the file systems its snapshot froze, and its guest \
                     agent did not thaw them: {}; `virsh domfsthaw {}` thaws them",
                    r.vm,
                    e.full_message(),
                    r.domain
                );
                e.wrap(message)
            })?;
            info!(vm = %r.vm, filesystems = n, "file systems thawed");
        }
        Some(false) => {}
        None => match provider.thaw_filesystems(&r.domain) {
            Ok(n) => info!(vm = %r.vm, filesystems = n, "file systems thawed"),
            Err(e) => debug!(vm = %r.vm, error = %e, "no thaw (no guest agent, or nothing frozen)"),
        },
    }
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
        let m = plan_image(&paths, "vm0", "s1", 256).unwrap();
        assert_eq!(m.path, dir.path().join("images/vm0.s1.mem"));
        assert_eq!(m.bytes, 256 << 20);
        assert_eq!(m.stored, "$LAGO_PREFIX_PATH/images/vm0.s1.mem");
        fs::write(&m.path, b"x").unwrap();
        let e = plan_image(&paths, "vm0", "s1", 256).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert!(e.message().contains("vm0.s1.mem"), "{}", e.message());
        remove_image(&m.path);
        assert!(!m.path.exists());
        remove_image(&m.path); // gone already: nothing to say
    }

    #[test]
    fn the_save_task_counts_vms() {
        assert_eq!(saving_task(1), "saving the memory of 1 VM");
        assert_eq!(saving_task(3), "saving the memory of 3 VMs");
    }

    #[test]
    fn the_clock_command_takes_epoch_seconds() {
        assert_eq!(
            set_clock_command(1_765_000_000),
            "date -u -s @1765000000 >/dev/null"
        );
    }
}
