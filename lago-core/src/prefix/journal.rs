//! The prefix's pending-operation record (`pending.json`): what a verb that
//! changes files has in flight, so the next lago command can finish or undo
//! it when the verb was killed.
//!
//! A verb writes the record (mode 0644, atomically: a temporary file, then a
//! rename) before its first change and removes it after its last; its
//! failure and cancel paths undo their work themselves and remove it too.
//! Only a record whose owner ([`Owner::is_alive`]) is dead is acted on, by
//! [`recover`], which the next lago command that opens the prefix runs (a
//! reader only when it can take the writer lock without waiting):
//!
//! - **snapshot**: per VM, kept when its spec records the snapshot; rolled
//!   forward (recorded in the spec) when its running domain already writes
//!   to the new overlays; otherwise its overlays are removed;
//! - **revert**: the temporary overlays are removed; the VMs stay down
//!   (`lago revert NAME` again, or `lago start`, brings them back);
//! - **export**: the files it was to write are removed, and the destination
//!   folder when it created it (only if empty);
//! - **destroy**: nothing is undone: the record stays, and every verb but
//!   `destroy`, `stop` and `cleanup` refuses the prefix, saying to run
//!   `lago destroy -y`, which finishes the job.
//!
//! Each repair is one line, `<what> of a killed lago <verb> (pid N)`, logged
//! as a warning (target `lago::repair`, as [`super::staging::recover`]
//! does) and returned; a killed destroy's line is only returned (the verbs
//! that still work on the prefix log it, the others fail saying it).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::owner::Owner;
use crate::paths::Paths;
use crate::prefix::layout;
use crate::prefix::state::PrefixState;

/// The record's file name inside the prefix.
pub const FILE: &str = "pending.json";

/// One disk of a snapshot in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDisk {
    /// Index in the VM's `disks`.
    pub index: usize,
    /// Target device.
    pub dev: String,
    /// The new overlay (absolute).
    pub overlay: PathBuf,
    /// The overlay as the spec stores it (`$LAGO_PREFIX_PATH/images/...`).
    pub overlay_stored: String,
}

/// One VM of a snapshot in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotVm {
    /// The VM's name.
    pub vm: String,
    /// Its libvirt name.
    pub domain: String,
    /// The disks that get an overlay.
    pub disks: Vec<SnapshotDisk>,
    /// Its memory image (stored form), for a memory snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

/// What is in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pending {
    /// `lago snapshot NAME`.
    Snapshot {
        /// The snapshot's name.
        name: String,
        /// The VMs and their new overlays.
        vms: Vec<SnapshotVm>,
    },
    /// `lago revert NAME`: the overlays made aside before they replace the
    /// disks.
    Revert {
        /// The snapshot reverted to.
        name: String,
        /// The temporary overlays.
        temps: Vec<PathBuf>,
        /// Whether every disk was replaced (the VMs are still down).
        disks_replaced: bool,
    },
    /// `lago export`.
    Export {
        /// Every file it may write (none existed before).
        outputs: Vec<PathBuf>,
        /// The destination folder, when the export creates it.
        created_dir: Option<PathBuf>,
    },
    /// `lago destroy`.
    Destroy {
        /// The prefix's name.
        name: String,
    },
}

impl Pending {
    /// The verb that records it.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Snapshot { .. } => "snapshot",
            Self::Revert { .. } => "revert",
            Self::Export { .. } => "export",
            Self::Destroy { .. } => "destroy",
        }
    }
}

/// The record: who, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The lago process.
    pub owner: Owner,
    /// What it has in flight.
    pub op: Pending,
}

/// A written record; dropping it removes the file (the verb finished, or
/// its failure path undid its work).
#[derive(Debug)]
pub struct Entry {
    path: PathBuf,
    keep: bool,
}

impl Drop for Entry {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(file = %self.path.display(), error = %e, "cannot remove the pending-operation record");
        }
    }
}

impl Entry {
    /// Leaves the record in place when this entry is dropped (a destroy
    /// past the point of no return: the next `lago destroy -y` finishes).
    pub fn keep(mut self) {
        self.keep = true;
    }

    /// Replaces the record's operation (the verb went a step further).
    pub fn update(&self, op: Pending) -> Result<()> {
        write(&self.path, op)
    }
}

fn write(path: &Path, op: Pending) -> Result<()> {
    let journal = Journal {
        owner: Owner::current(op.verb()),
        op,
    };
    let text = serde_json::to_string_pretty(&journal)
        .map_err(|e| Error::with_source(ErrorKind::Internal, "cannot write JSON", e))?;
    layout::write_atomic_public(path, format!("{text}\n").as_bytes())?;
    Ok(())
}

/// The record's path in the prefix at `paths`.
pub fn path(paths: &Paths) -> PathBuf {
    paths.prefixed(FILE)
}

/// Writes the record of `op`, run by this process, into the prefix at
/// `paths`.
pub fn begin(paths: &Paths, op: Pending) -> Result<Entry> {
    let path = path(paths);
    write(&path, op)?;
    Ok(Entry { path, keep: false })
}

/// The record in the prefix at `paths`, if any (a file that does not parse
/// is none).
pub fn read(paths: &Paths) -> Option<Journal> {
    let text = fs::read_to_string(path(paths)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The record of a killed `destroy` of this prefix, if any.
pub fn killed_destroy(paths: &Paths) -> Option<Journal> {
    read(paths).filter(|j| matches!(j.op, Pending::Destroy { .. }) && !j.owner.is_alive())
}

/// The error of a verb refused on a prefix a killed destroy left.
pub fn destroy_unfinished(paths: &Paths, journal: &Journal) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "prefix {} was being destroyed by a killed lago destroy (pid {}): \
             run `lago destroy -y` to finish",
            paths.prefix_path().display(),
            journal.owner.pid
        ),
    )
    .with_path(paths.prefix_path().to_path_buf())
}

/// Whether running domain `domain` writes to `overlay` (for snapshot's
/// roll-forward decision).
pub type UsesOverlay<'a> = &'a dyn Fn(&str, &Path) -> Result<bool>;

/// Resumes domain `domain` if it is paused (a memory snapshot pauses its
/// VMs while it saves them); returns whether it did.
pub type ResumePaused<'a> = &'a dyn Fn(&str) -> Result<bool>;

/// [`recover_with`] for a provider whose domains are never left paused.
pub fn recover(paths: &Paths, uses_overlay: UsesOverlay<'_>) -> Option<String> {
    recover_with(paths, uses_overlay, &|_| Ok(false))
}

/// Repairs what a killed verb left in the prefix at `paths` (see the module
/// docs); returns its line, if it repaired (or found) something. A live
/// owner's record is left alone; a repair that cannot be decided (libvirt
/// not reachable) is logged and left for the next command.
pub fn recover_with(
    paths: &Paths,
    uses_overlay: UsesOverlay<'_>,
    resume: ResumePaused<'_>,
) -> Option<String> {
    let journal = read(paths)?;
    if journal.owner.is_alive() {
        return None;
    }
    let pid = journal.owner.pid;
    let verb = journal.op.verb();
    let line = match &journal.op {
        Pending::Snapshot { name, vms } => {
            match recover_snapshot(paths, name, vms, uses_overlay, resume) {
                Ok(what) => what,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot repair the snapshot '{name}' of a killed lago snapshot yet");
                    return None;
                }
            }
        }
        Pending::Revert {
            name,
            temps,
            disks_replaced: false,
        } => {
            remove_files(temps);
            format!(
                "removed the temporary disks of reverting to '{name}' (its VMs stay down, \
                 some disks may be reverted: run `lago revert {name}` again)"
            )
        }
        Pending::Revert { name, .. } => {
            format!("found the VMs reverted to '{name}' but down (`lago start` brings them back)")
        }
        Pending::Export {
            outputs,
            created_dir,
        } => {
            let removed = remove_files(outputs);
            if let Some(dir) = created_dir {
                let _ = fs::remove_dir(dir);
            }
            format!("removed the {removed} files written by the export")
        }
        Pending::Destroy { .. } => {
            // the record stays: `lago destroy -y` finishes and removes it
            // not logged here: the verbs that go on with the prefix say it
            // (the others fail saying it, see [`destroy_unfinished`])
            return Some(format!(
                "found the half-destroyed prefix {} of a killed lago destroy (pid {pid}): \
                 run `lago destroy -y` to finish",
                paths.prefix_path().display()
            ));
        }
    };
    let line = format!("{line} of a killed lago {verb} (pid {pid})");
    if let Err(e) = fs::remove_file(path(paths))
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e, "cannot remove the pending-operation record");
    }
    tracing::warn!(target: "lago::repair", "{line}");
    Some(line)
}

/// Removes the files that exist among `files`; returns how many went.
fn remove_files(files: &[PathBuf]) -> usize {
    files
        .iter()
        .filter(|f| match fs::remove_file(f) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => {
                tracing::warn!(path = %f.display(), error = %e, "cannot remove a file of a killed lago command");
                false
            }
        })
        .count()
}

/// What becomes of one VM of a killed snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotFate {
    /// Its spec records the snapshot: nothing to do.
    Kept,
    /// Its running domain writes to the overlays: record the snapshot.
    RollForward,
    /// Neither: remove its overlays.
    RollBack,
}

/// The fate of each VM of a killed snapshot `name` (see the module docs).
pub fn plan_snapshot(
    state: &PrefixState,
    name: &str,
    vms: &[SnapshotVm],
    uses_overlay: UsesOverlay<'_>,
) -> Result<Vec<SnapshotFate>> {
    vms.iter()
        .map(|v| {
            let recorded = state
                .vm(&v.vm)
                .is_some_and(|s| s.snapshot_names().iter().any(|n| n == name));
            if recorded {
                return Ok(SnapshotFate::Kept);
            }
            let live = match v.disks.first() {
                Some(d) => uses_overlay(&v.domain, &d.overlay)?,
                None => false,
            };
            Ok(if live {
                SnapshotFate::RollForward
            } else {
                SnapshotFate::RollBack
            })
        })
        .collect()
}

fn recover_snapshot(
    paths: &Paths,
    name: &str,
    vms: &[SnapshotVm],
    uses_overlay: UsesOverlay<'_>,
    resume: ResumePaused<'_>,
) -> Result<String> {
    let mut state = PrefixState::load(paths)?;
    let fates = plan_snapshot(&state, name, vms, uses_overlay)?;
    // a memory snapshot paused its VMs: the ones still paused resume
    let mut resumed = Vec::new();
    for v in vms.iter().filter(|v| v.memory.is_some()) {
        if resume(&v.domain)? {
            resumed.push(v.vm.clone());
        }
    }
    let mut kept = Vec::new();
    for (v, fate) in vms.iter().zip(&fates) {
        let image = v.memory.as_ref().map(|m| state.paths.expand(m));
        match fate {
            SnapshotFate::Kept => kept.push(v.vm.clone()),
            SnapshotFate::RollForward => {
                let file = state.paths.virt_vm(&v.vm);
                if let Some(vm) = state.vms.iter_mut().find(|s| s.name == v.vm) {
                    let disks: Vec<(usize, String)> = v
                        .disks
                        .iter()
                        .map(|d| (d.index, d.overlay_stored.clone()))
                        .collect();
                    crate::ops::snapshot::record_disks(&mut vm.spec, &disks, name);
                    // libvirt saves the memory before it switches the disks
                    if let (Some(stored), Some(image)) = (&v.memory, &image)
                        && image.exists()
                    {
                        crate::ops::snapshot::record_memory(&mut vm.spec, stored, name, None);
                    }
                    layout::write_json(&file, &vm.spec)?;
                    kept.push(v.vm.clone());
                }
            }
            SnapshotFate::RollBack => {
                let files: Vec<PathBuf> = v
                    .disks
                    .iter()
                    .map(|d| d.overlay.clone())
                    .chain(image)
                    .collect();
                remove_files(&files);
            }
        }
    }
    let resumed = if resumed.is_empty() {
        String::new()
    } else {
        format!(", resumed the paused VMs {}", resumed.join(", "))
    };
    Ok(if kept.is_empty() {
        format!("rolled back the snapshot '{name}'{resumed}")
    } else if kept.len() == vms.len() {
        format!("completed the snapshot '{name}'{resumed}")
    } else {
        format!(
            "completed the snapshot '{name}' of VMs {} (they run on its overlays) and rolled back the rest{resumed}",
            kept.join(", ")
        )
    })
}

#[cfg(test)]
mod tests;
