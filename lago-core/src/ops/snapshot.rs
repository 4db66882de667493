//! Env-wide snapshots and reverts, persisted in Lago's format (contract §9).
//!
//! A snapshot `s` of a VM gives each of its disks a new qcow2 overlay
//! (`images/<vm>_<disk>.<s>.qcow2`) on top of the file the disk used so far,
//! which from then on is only ever read. In `virt/vm-<name>` the disk's
//! `path` becomes the overlay, its `format` `qcow2`, and `snapshots[s]` keeps
//! the disk dicts as they were (their `path` is the now-backing file). A
//! revert to `s` replaces each disk's current overlay with an empty one on
//! that backing file: what was written after the snapshot is gone.
//!
//! Running VMs get a disk-only external libvirt snapshot onto overlays lago
//! made beforehand (`REUSE_EXT`, `ATOMIC`, no libvirt metadata), after a
//! `sync` in the guest, and quiesced through the guest agent only when its
//! channel is connected (else, or if quiescing fails, crash-consistent).
//! With `memory`, running VMs are paused together and their memory is saved
//! too (see [`crate::ops::memory`]), recorded in the spec's
//! `memory-snapshots`. Stopped VMs (which Lago refused) simply get the
//! overlays. ISO disks are left out: they are read-only.
//!
//! Everything is checked before anything is made (names, existing
//! snapshots, free overlay names); a VM whose snapshot fails keeps nothing
//! of it, and the overlays of stopped VMs are removed again when another VM
//! failed. A running VM that was snapshotted runs on its new overlays from
//! then on, so its spec records the snapshot even when another VM failed
//! (the error says so).

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};
use tracing::{info, warn};

use crate::disk::{self, ImageFormat};
use crate::error::{Error, ErrorKind, Result};
use crate::host::Images;
use crate::host::images::tmp_name;
use crate::ops::memory::{self, MemoryStep};
use crate::ops::parallel;
use crate::ops::run;
use crate::paths::Paths;
use crate::prefix::record::MemoryRecord;
use crate::prefix::state::{PrefixState, Scalar, VmRecord, VmState as VmSpec};
use crate::prefix::{layout, naming};
use crate::provider::Provider;
use crate::xml::{self, SnapshotDisk};

/// Characters a snapshot name may hold (it becomes part of file names).
const NAME_CHARS: &str = "letters, digits, '.', '_' and '-', not starting with '.' or '-'";

/// Checks a snapshot name: non-empty, at most 64 of [`NAME_CHARS`].
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidInput,
            format!("invalid snapshot name '{name}': use 1 to 64 {NAME_CHARS}"),
        ))
    }
}

/// One disk of a planned snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskStep {
    /// Index in the VM's `disks`.
    pub index: usize,
    /// Target device.
    pub dev: String,
    /// The file the disk uses now (becomes the backing file).
    pub current: PathBuf,
    /// Its format.
    pub format: ImageFormat,
    /// The new overlay (absolute) and its stored form.
    pub overlay: PathBuf,
    /// `$LAGO_PREFIX_PATH/images/<file>`.
    pub overlay_stored: String,
}

/// One VM of a planned snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct VmStep {
    /// The VM's name.
    pub vm: String,
    /// Its libvirt name.
    pub domain: String,
    /// The disks that get an overlay (ISO disks do not).
    pub disks: Vec<DiskStep>,
    /// Its memory image, for a memory snapshot (taken if the VM runs).
    pub memory: Option<MemoryStep>,
}

/// The snapshots of `vm`, for messages: `s1, s2` or `none`.
fn names_of(vm: &VmSpec) -> String {
    let names = vm.snapshot_names();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// What a snapshot keeps of a running VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotKind {
    /// Its disks (a revert boots it).
    #[default]
    Disk,
    /// Its disks and its memory (a revert resumes it).
    Memory,
}

impl SnapshotKind {
    /// `disk` or `memory`, as `lago snapshot --list` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disk => "disk",
            Self::Memory => "memory",
        }
    }
}

/// Plans snapshot `name` of the chosen VMs (all when empty), with their
/// memory for [`SnapshotKind::Memory`]: fails, before anything is made, on a bad name, a VM
/// that has a snapshot of that name already, a disk file that is missing or
/// an overlay or memory image name that is taken.
pub fn plan(
    state: &PrefixState,
    names: &[String],
    name: &str,
    kind: SnapshotKind,
) -> Result<Vec<VmStep>> {
    validate_name(name)?;
    let vms = run::select(state, names)?;
    let mut steps = Vec::new();
    for vm in vms {
        if vm.snapshot_names().iter().any(|n| n == name) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "VM '{}' has a snapshot '{name}' already (its snapshots: {}); \
                     choose another name",
                    vm.name,
                    names_of(vm)
                ),
            ));
        }
        let mut disks = Vec::new();
        for (index, d) in vm.disks().into_iter().enumerate() {
            let format: ImageFormat = d.format.parse().map_err(|e: disk::DiskError| {
                Error::new(
                    ErrorKind::Config,
                    format!("VM '{}' disk {} ({}): {e}", vm.name, index, d.dev),
                )
            })?;
            if format == ImageFormat::Iso {
                continue;
            }
            let current = state.paths.expand(&d.path);
            // on a remote host, the host's libvirt says what is missing
            if state.host.is_none() && !current.exists() {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "VM '{}': its disk {} ({}) does not exist",
                        vm.name,
                        d.dev,
                        current.display()
                    ),
                ));
            }
            let disk_name = vm
                .spec
                .disk_records()
                .get(index)
                .and_then(|r| r.name_str())
                .map(str::to_string)
                .unwrap_or_else(|| {
                    if d.dev.is_empty() {
                        format!("disk{index}")
                    } else {
                        d.dev.clone()
                    }
                });
            let file = format!("{}_{}.{name}.qcow2", vm.name, disk_name);
            let overlay = state.paths.images().join(&file);
            if fs::symlink_metadata(&overlay).is_ok() {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!(
                        "VM '{}': the overlay for snapshot '{name}' exists already: {} \
                         (left by something else; remove it or choose another name)",
                        vm.name,
                        overlay.display()
                    ),
                ));
            }
            disks.push(DiskStep {
                index,
                dev: d.dev,
                current,
                format,
                overlay,
                overlay_stored: Paths::stored_image(&file),
            });
        }
        let memory = if kind == SnapshotKind::Memory {
            Some(memory::plan_image(
                &state.paths,
                &vm.name,
                name,
                crate::prefix::render::memory_mib(&vm.spec),
            )?)
        } else {
            None
        };
        steps.push(VmStep {
            vm: vm.name.clone(),
            domain: naming::domain_name(&state.uuid, &vm.name),
            disks,
            memory,
        });
    }
    Ok(steps)
}

/// Records snapshot `name` in a VM's spec: `snapshots[name]` = the disk
/// dicts as they were, and each snapshotted disk's `path`/`format` = its
/// overlay / `qcow2`.
pub fn record(spec: &mut VmRecord, step: &VmStep, name: &str) {
    let disks: Vec<(usize, String)> = step
        .disks
        .iter()
        .map(|d| (d.index, d.overlay_stored.clone()))
        .collect();
    record_disks(spec, &disks, name);
}

/// Records the memory image (stored form) of snapshot `name` in a VM's
/// spec, and whether it was quiesced (`None`: unknown).
pub fn record_memory(spec: &mut VmRecord, stored: &str, name: &str, quiesced: Option<bool>) {
    spec.memory_snapshots
        .get_or_insert_with(Default::default)
        .insert(
            name.to_string(),
            MemoryRecord {
                path: stored.to_string(),
                taken: Some(memory::unix_now()),
                quiesced,
            },
        );
}

/// The memory image of VM `vm`'s snapshot `name`, if it has one, and
/// whether it was quiesced (see [`MemoryRecord::quiesced`]).
pub fn memory_image(state: &PrefixState, vm: &str, name: &str) -> Option<(PathBuf, Option<bool>)> {
    state
        .vm(vm)?
        .spec
        .memory_snapshots
        .as_ref()?
        .get(name)
        .map(|m| (state.paths.expand(&m.path), m.quiesced))
}

/// [`record`] from `(disk index, stored overlay path)` pairs (what the
/// pending-operation record keeps, see [`crate::prefix::journal`]).
pub fn record_disks(spec: &mut VmRecord, disks_done: &[(usize, String)], name: &str) {
    let before = spec.disks.clone().unwrap_or_default();
    if let Some(disks) = &mut spec.disks {
        for (index, stored) in disks_done {
            if let Some(disk) = disks.get_mut(*index) {
                disk.path = Some(stored.clone().into());
                disk.format = Some("qcow2".into());
            }
        }
    }
    spec.snapshots
        .get_or_insert_with(Default::default)
        .insert(name.to_string(), before);
}

/// What the pending-operation record keeps of a planned snapshot.
pub fn journal_entry(steps: &[VmStep], name: &str) -> crate::prefix::journal::Pending {
    crate::prefix::journal::Pending::Snapshot {
        name: name.to_string(),
        vms: steps
            .iter()
            .map(|s| crate::prefix::journal::SnapshotVm {
                vm: s.vm.clone(),
                domain: s.domain.clone(),
                disks: s
                    .disks
                    .iter()
                    .map(|d| crate::prefix::journal::SnapshotDisk {
                        index: d.index,
                        dev: d.dev.clone(),
                        overlay: d.overlay.clone(),
                        overlay_stored: d.overlay_stored.clone(),
                    })
                    .collect(),
                memory: s.memory.as_ref().map(|m| m.stored.clone()),
            })
            .collect(),
    }
}

fn remove_overlays(images: &Images, disks: &[DiskStep], upto: usize) {
    for d in disks.iter().take(upto) {
        if let Err(e) = images.remove(&d.overlay) {
            warn!(path = %d.overlay.display(), error = %e, "cannot remove an overlay of a failed snapshot");
        }
    }
}

/// Makes the overlays of one VM (removing them again on failure). `live`:
/// the VM runs, so its images are not opened (qemu holds them locked).
fn make_overlays(images: &Images, step: &VmStep, live: bool) -> Result<()> {
    for (i, d) in step.disks.iter().enumerate() {
        if let Err(e) = images.overlay(&d.current, d.format, &d.overlay, live) {
            remove_overlays(images, &step.disks, i);
            return Err(e);
        }
    }
    Ok(())
}

/// How a VM's snapshot went.
#[derive(Debug)]
pub struct VmOutcome {
    /// The VM.
    pub vm: String,
    /// Whether it ran (snapshot taken live).
    pub live: bool,
    /// Whether its memory was saved.
    pub memory: bool,
    /// Whether its file systems were frozen for it (a memory snapshot).
    pub quiesced: bool,
    /// The result.
    pub result: Result<()>,
}

/// A VM whose overlays are made, ready for its libvirt snapshot.
struct Prepared {
    live: bool,
    disks: Vec<SnapshotDisk>,
    agent_connected: bool,
    /// The memory image to save (a running VM of a memory snapshot).
    memory: Option<PathBuf>,
}

/// The first half of one VM's snapshot: its overlays (after a `sync` in a
/// running guest, whose domain is checked to have the planned disks).
fn prepare_one(
    provider: &dyn Provider,
    images: &Images,
    step: &VmStep,
    sync: &(dyn Fn(&str) -> Result<()> + Sync),
) -> Result<Prepared> {
    let live = provider.vm_state(&step.domain)?.is_running();
    if !live {
        make_overlays(images, step, false)?;
        return Ok(Prepared {
            live,
            disks: Vec::new(),
            agent_connected: false,
            memory: None,
        });
    }
    // a memory snapshot keeps the guest's page cache: no sync needed
    if step.memory.is_none()
        && let Err(e) = sync(&step.vm)
    {
        warn!(vm = %step.vm, error = %e, "cannot sync the guest's file systems; the snapshot is crash-consistent");
    }
    let live_xml = provider.vm_xml(&step.domain)?.unwrap_or_default();
    let facts = xml::parse_live_domain(&live_xml);
    let disks: Vec<SnapshotDisk> = facts
        .disk_targets
        .iter()
        .map(|dev| SnapshotDisk {
            dev: dev.clone(),
            overlay: step
                .disks
                .iter()
                .find(|d| &d.dev == dev)
                .map(|d| images.host_path(&d.overlay).to_string_lossy().into_owned()),
        })
        .collect();
    if let Some(missing) = step
        .disks
        .iter()
        .find(|d| !facts.disk_targets.contains(&d.dev))
    {
        return Err(Error::new(
            ErrorKind::Libvirt,
            format!(
                "the running domain {} has no disk {} (was it started from another spec?)",
                step.domain, missing.dev
            ),
        ));
    }
    make_overlays(images, step, true)?;
    Ok(Prepared {
        live,
        disks,
        agent_connected: facts.agent_connected,
        memory: step.memory.as_ref().map(|m| images.host_path(&m.path)),
    })
}

/// The second half: a running VM's libvirt snapshot onto its overlays
/// (removed again if it fails).
fn commit_one(
    provider: &dyn Provider,
    images: &Images,
    step: &VmStep,
    name: &str,
    prep: &Prepared,
) -> Result<()> {
    if !prep.live {
        return Ok(());
    }
    if let Some(image) = &prep.memory {
        let doc = xml::snapshot_xml(name, &prep.disks, Some(&image.to_string_lossy()));
        let done = provider
            .snapshot_memory(&step.domain, &doc)
            .map_err(Error::from);
        match &done {
            Ok(()) => info!(vm = %step.vm, image = %image.display(), "memory snapshot taken"),
            Err(_) => {
                remove_overlays(images, &step.disks, step.disks.len());
                match &step.memory {
                    Some(m) if images.is_remote() => {
                        let _ = images.remove(&m.path);
                    }
                    _ => memory::remove_image(image),
                }
            }
        }
        return done;
    }
    let doc = xml::snapshot_xml(name, &prep.disks, None);
    let mut done = Err(Error::new(ErrorKind::Internal, "no snapshot attempted"));
    if prep.agent_connected {
        done = provider
            .snapshot_disks(&step.domain, &doc, true)
            .map_err(Error::from);
        if let Err(e) = &done {
            warn!(vm = %step.vm, error = %e, "quiesced snapshot failed; taking it without quiescing");
        }
    }
    if done.is_err() {
        done = provider
            .snapshot_disks(&step.domain, &doc, false)
            .map_err(Error::from);
    }
    match &done {
        Ok(()) => {
            info!(vm = %step.vm, quiesce_tried = prep.agent_connected, "live snapshot taken")
        }
        Err(_) => remove_overlays(images, &step.disks, step.disks.len()),
    }
    done
}

/// Takes the planned snapshot: every VM's overlays in parallel (phase
/// `snapshot:overlays`), then, when all were made, the running VMs'
/// libvirt snapshots in parallel. Returns every VM's outcome; on any
/// failure the overlays of stopped VMs are removed again, so only
/// successful live snapshots remain to be recorded. An interrupt at
/// `snapshot:overlays` removes every overlay and is the `Err`.
pub fn take(
    provider: &dyn Provider,
    images: &Images,
    steps: &[VmStep],
    name: &str,
    sync: &(dyn Fn(&str) -> Result<()> + Sync),
) -> Result<Vec<VmOutcome>> {
    let prepared = parallel::map(steps, "making snapshot overlays", |step| {
        Ok(prepare_one(provider, images, step, sync))
    });
    let prepared: Vec<Result<Prepared>> = prepared.into_iter().map(|r| r.and_then(|p| p)).collect();
    let drop_all = |prepared: &[Result<Prepared>]| {
        for (p, step) in prepared.iter().zip(steps) {
            if p.is_ok() {
                remove_overlays(images, &step.disks, step.disks.len());
            }
        }
    };
    if prepared.iter().any(Result::is_err) {
        drop_all(&prepared);
        // the VMs whose overlays were made (and removed) keep nothing:
        // reported as stopped ones that went well, which are not recorded
        // when another VM failed
        return Ok(prepared
            .into_iter()
            .zip(steps)
            .map(|(p, step)| VmOutcome {
                vm: step.vm.clone(),
                live: false,
                memory: false,
                quiesced: false,
                result: p.map(drop),
            })
            .collect());
    }
    if let Err(e) = crate::owner::phase("snapshot:overlays") {
        drop_all(&prepared);
        return Err(e);
    }
    let prepared: Vec<Prepared> = prepared.into_iter().flatten().collect();
    // a memory snapshot captures every running VM at one paused instant
    let paused: Vec<String> = steps
        .iter()
        .zip(&prepared)
        .filter(|(_, p)| p.memory.is_some())
        .map(|(s, _)| s.domain.clone())
        .collect();
    // ... quiesced first where the guest agent is there
    let with_agent: Vec<String> = steps
        .iter()
        .zip(&prepared)
        .filter(|(_, p)| p.memory.is_some() && p.agent_connected)
        .map(|(s, _)| s.domain.clone())
        .collect();
    let frozen = memory::freeze_all(provider, &with_agent);
    let paused_phase = if paused.is_empty() {
        Ok(())
    } else {
        memory::suspend_all(provider, &paused).and_then(|()| {
            crate::owner::phase("snapshot:paused").inspect_err(|_| {
                memory::resume_all(provider, &paused);
            })
        })
    };
    if let Err(e) = paused_phase {
        memory::thaw_all(provider, &frozen);
        drop_all(&prepared.into_iter().map(Ok).collect::<Vec<_>>());
        return Err(e);
    }
    let jobs: Vec<(&VmStep, &Prepared)> = steps.iter().zip(&prepared).collect();
    let sizes: Vec<u64> = steps
        .iter()
        .zip(&prepared)
        .filter(|(_, p)| p.memory.is_some())
        .filter_map(|(s, _)| s.memory.as_ref().map(|m| m.bytes))
        .collect();
    let results = memory::with_save_progress(provider, &paused, sizes.iter().sum(), || {
        parallel::map(&jobs, "taking a snapshot", |(step, prep)| {
            Ok(commit_one(provider, images, step, name, prep))
        })
    });
    memory::resume_all(provider, &paused);
    memory::thaw_all(provider, &frozen);
    let outcomes: Vec<VmOutcome> = results
        .into_iter()
        .zip(&jobs)
        .map(|(r, (step, prep))| VmOutcome {
            vm: step.vm.clone(),
            live: prep.live,
            memory: prep.memory.is_some(),
            quiesced: frozen.contains(&step.domain),
            result: r.and_then(|r| r),
        })
        .collect();
    if outcomes.iter().any(|o| o.result.is_err()) {
        for (o, step) in outcomes.iter().zip(steps) {
            if o.result.is_ok() && !o.live {
                remove_overlays(images, &step.disks, step.disks.len());
            }
        }
    }
    Ok(outcomes)
}

/// An interrupt after the snapshots were taken (phase `snapshot:taken`):
/// the stopped VMs' overlays are removed and their outcome becomes
/// `cancel`; the running VMs, which write to their new overlays now, keep
/// the snapshot (they are recorded).
pub fn cancel_taken(images: &Images, steps: &[VmStep], outcomes: &mut [VmOutcome], cancel: &Error) {
    for (o, step) in outcomes.iter_mut().zip(steps) {
        if o.result.is_ok() && !o.live {
            remove_overlays(images, &step.disks, step.disks.len());
            o.result = Err(Error::new(cancel.kind(), cancel.message().to_string()));
        }
    }
}

/// Records in `state` (and in each `virt/vm-<name>`) what holds of snapshot
/// `name`: every VM's, or after a failure only the live snapshots, whose VMs
/// run on the new overlays now. Returns the VMs that keep it.
pub fn record_outcomes(
    state: &mut PrefixState,
    steps: &[VmStep],
    outcomes: &[VmOutcome],
    name: &str,
) -> Result<Vec<String>> {
    let failed = outcomes.iter().any(|o| o.result.is_err());
    let mut kept = Vec::new();
    for (o, step) in outcomes.iter().zip(steps) {
        if o.result.is_err() || (failed && !o.live) {
            continue;
        }
        let path = state.paths.virt_vm(&step.vm);
        if let Some(vm) = state.vms.iter_mut().find(|v| v.name == step.vm) {
            record(&mut vm.spec, step, name);
            if let (true, Some(m)) = (o.memory, &step.memory) {
                record_memory(&mut vm.spec, &m.stored, name, Some(o.quiesced));
            }
            layout::write_json(&path, &vm.spec).map_err(Error::from)?;
            kept.push(vm.name.clone());
        }
    }
    Ok(kept)
}

/// The result of snapshot `name`: `Ok` when every VM took it, else the
/// first failure, naming how many others failed and what `kept` keeps.
pub fn outcome(outcomes: &[VmOutcome], kept: &[String], name: &str) -> Result<()> {
    let Some(bad) = outcomes.iter().find(|o| o.result.is_err()) else {
        info!(snapshot = name, vms = kept.len(), "snapshot taken");
        return Ok(());
    };
    let e = bad
        .result
        .as_ref()
        .err()
        .map(Error::full_message)
        .unwrap_or_default();
    let others = outcomes.iter().filter(|o| o.result.is_err()).count() - 1;
    let kept_note = if kept.is_empty() {
        "nothing was changed".to_string()
    } else {
        format!(
            "VMs {} were running and run on their new overlays now, so they keep \
             snapshot '{name}'; nothing else was changed",
            kept.join(", ")
        )
    };
    let more = if others > 0 {
        format!(" (and {others} other VMs failed too)")
    } else {
        String::new()
    };
    Err(Error::new(
        bad.result
            .as_ref()
            .err()
            .map_or(ErrorKind::Internal, Error::kind),
        format!(
            "snapshot '{name}' of VM '{}' failed{more}: {e}; {kept_note}",
            bad.vm
        ),
    ))
}

/// Reverts every planned VM at once: stops them all (`domain_of` gives a
/// VM's libvirt name; phase `revert:stopped` follows), then gives each disk
/// a fresh overlay on the snapshot's file. The first error is returned
/// after all VMs were tried.
pub fn revert(
    provider: &dyn Provider,
    images: &Images,
    plan: &[(String, Vec<RevertDisk>)],
    name: &str,
    domain_of: impl Fn(&str) -> String + Sync,
) -> Result<()> {
    parallel::each(plan, "stopping a VM", |(vm, _)| {
        provider.destroy_vm(&domain_of(vm)).map_err(Error::from)
    })?;
    crate::owner::phase("revert:stopped")?;
    parallel::each(plan, "reverting a VM", |(vm, disks)| {
        revert_disks(images, disks).map_err(|e| {
            let message = format!("revert of VM '{vm}' to '{name}': {}", e.full_message());
            e.wrap(message).with_vm(vm.as_str())
        })
    })
}

/// The temporary overlays a revert makes (see [`revert_disks`]).
pub fn revert_temps(plan: &[(String, Vec<RevertDisk>)]) -> Vec<PathBuf> {
    plan.iter()
        .flat_map(|(_, disks)| disks.iter().map(|d| tmp_name(&d.current)))
        .collect()
}

/// One disk to revert: its current file and the snapshot's file under it.
#[derive(Debug, Clone, PartialEq)]
pub struct RevertDisk {
    /// The disk's current overlay (replaced).
    pub current: PathBuf,
    /// The snapshot's file (the new overlay's backing file).
    pub backing: PathBuf,
    /// Its format.
    pub backing_format: ImageFormat,
}

/// Plans the revert of the chosen VMs to snapshot `name`: an unknown
/// snapshot is an error naming the VM and the snapshots it has.
pub fn plan_revert(
    state: &PrefixState,
    names: &[String],
    name: &str,
) -> Result<Vec<(String, Vec<RevertDisk>)>> {
    let vms = run::select(state, names)?;
    let mut out = Vec::new();
    for vm in vms {
        let snap = vm
            .spec
            .snapshots
            .as_ref()
            .and_then(|s| s.get(name))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "no snapshot '{name}' for VM '{}' (its snapshots: {})",
                        vm.name,
                        names_of(vm)
                    ),
                )
            })?;
        let disks = vm.disks();
        if snap.len() != disks.len() {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "VM '{}': snapshot '{name}' has {} disks, the VM has {}: the spec was \
                     changed by hand?",
                    vm.name,
                    snap.len(),
                    disks.len()
                ),
            ));
        }
        let mut steps = Vec::new();
        for (d, s) in disks.iter().zip(snap) {
            let path = s.path.as_ref().and_then(Scalar::as_str).unwrap_or_default();
            if path == d.path {
                continue; // not snapshotted (an ISO)
            }
            let fmt = s
                .format
                .as_ref()
                .and_then(Scalar::as_str)
                .unwrap_or("qcow2");
            let backing_format: ImageFormat = fmt.parse().map_err(|e: disk::DiskError| {
                Error::new(
                    ErrorKind::Config,
                    format!("VM '{}' snapshot '{name}': {e}", vm.name),
                )
            })?;
            let backing = state.paths.expand(path);
            if state.host.is_none() && !backing.exists() {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "VM '{}' snapshot '{name}': its file {} is gone",
                        vm.name,
                        backing.display()
                    ),
                ));
            }
            steps.push(RevertDisk {
                current: state.paths.expand(&d.path),
                backing,
                backing_format,
            });
        }
        out.push((vm.name.clone(), steps));
    }
    Ok(out)
}

/// Replaces each disk's current overlay with an empty one on the
/// snapshot's file (made aside, then renamed over it). The VM must be down.
pub fn revert_disks(images: &Images, disks: &[RevertDisk]) -> Result<()> {
    for d in disks {
        images.replace_overlay(&d.backing, d.backing_format, &d.current)?;
    }
    Ok(())
}

/// The key that marks, in `lago snapshot --list`, each disk dict of a
/// memory snapshot (`"snapshot-kind": "memory"`); disk-only snapshots are
/// listed exactly as Lago lists them.
pub const KIND_KEY: &str = "snapshot-kind";

/// `{vm: {snapshot: [disk dicts]}}` as `lago snapshot --list` prints it,
/// the disk dicts of memory snapshots marked with [`KIND_KEY`].
pub fn list(state: &PrefixState) -> Value {
    let mut out = Map::new();
    for vm in &state.vms {
        let mut snaps = vm
            .spec
            .snapshots
            .as_ref()
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or_else(|| Value::Object(Map::new()));
        let with_memory = vm.spec.memory_snapshots.as_ref();
        if let (Some(memory), Value::Object(snaps)) = (with_memory, &mut snaps) {
            for (name, disks) in snaps.iter_mut() {
                if !memory.contains_key(name) {
                    continue;
                }
                if let Value::Array(disks) = disks {
                    for d in disks.iter_mut().filter_map(Value::as_object_mut) {
                        d.insert(KIND_KEY.into(), Value::from(SnapshotKind::Memory.as_str()));
                    }
                }
            }
        }
        out.insert(vm.name.clone(), snaps);
    }
    Value::Object(out)
}

/// How long a guest may take to `sync`.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn state_with(dir: &Path, spec: Value) -> PrefixState {
        let paths = Paths::new(dir);
        PrefixState {
            paths,
            uuid: "0123456789abcdef0123456789abcdef".into(),
            nets: Vec::new(),
            vms: vec![VmSpec {
                name: "vm0".into(),
                spec: serde_json::from_value(spec).unwrap(),
            }],
            host: None,
        }
    }

    fn spec() -> Value {
        json!({
            "name": "vm0",
            "disks": [
                {"name": "root", "dev": "vda", "format": "raw", "path": "$LAGO_PREFIX_PATH/images/vm0_root.raw"},
                {"name": "cd", "dev": "hdc", "format": "iso", "path": "/abs/x.iso"}
            ],
            "snapshots": {"old": []}
        })
    }

    #[test]
    fn names_are_checked() {
        for ok in ["s1", "before-upgrade", "a.b_c"] {
            validate_name(ok).unwrap();
        }
        for bad in ["", ".x", "-x", "a/b", "a b", &"x".repeat(65)] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            assert!(e.message().contains("letters, digits"), "{}", e.message());
        }
    }

    #[test]
    fn plan_record_and_list() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("images")).unwrap();
        fs::write(dir.path().join("images/vm0_root.raw"), b"").unwrap();
        let state = state_with(dir.path(), spec());
        let steps = plan(&state, &[], "s1", SnapshotKind::Disk).unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].disks.len(), 1, "the ISO is left out");
        let d = &steps[0].disks[0];
        assert_eq!(
            d.overlay_stored,
            "$LAGO_PREFIX_PATH/images/vm0_root.s1.qcow2"
        );
        assert_eq!(d.format, ImageFormat::Raw);

        let e = plan(&state, &[], "old", SnapshotKind::Disk).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert!(
            e.message().contains("VM 'vm0' has a snapshot 'old'"),
            "{}",
            e.message()
        );
        let e = plan(&state, &["nope".into()], "s1", SnapshotKind::Disk).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);

        fs::write(&d.overlay, b"").unwrap();
        let e = plan(&state, &[], "s1", SnapshotKind::Disk).unwrap_err();
        assert!(e.message().contains("exists already"), "{}", e.message());
        fs::remove_file(&d.overlay).unwrap();

        let mut spec = state.vms[0].spec.clone();
        record(&mut spec, &steps[0], "s1");
        let v = spec.to_value();
        assert_eq!(
            v["disks"][0]["path"],
            "$LAGO_PREFIX_PATH/images/vm0_root.s1.qcow2"
        );
        assert_eq!(v["disks"][0]["format"], "qcow2");
        assert_eq!(v["disks"][1]["path"], "/abs/x.iso");
        assert_eq!(
            v["snapshots"]["s1"][0]["path"],
            "$LAGO_PREFIX_PATH/images/vm0_root.raw"
        );
        assert_eq!(v["snapshots"]["s1"][0]["format"], "raw");
        let keys: Vec<_> = v["snapshots"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["old", "s1"]);

        let mut state2 = state.clone();
        state2.vms[0].spec = spec;
        assert_eq!(list(&state2)["vm0"]["s1"][1]["dev"], "hdc");

        // revert: unknown names are named with what there is
        let e = plan_revert(&state2, &[], "s9").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.message(),
            "no snapshot 's9' for VM 'vm0' (its snapshots: old, s1)"
        );
        let r = plan_revert(&state2, &[], "s1").unwrap();
        assert_eq!(r[0].1.len(), 1, "the ISO is not touched");
        assert_eq!(r[0].1[0].backing, dir.path().join("images/vm0_root.raw"));
        assert_eq!(
            r[0].1[0].current,
            dir.path().join("images/vm0_root.s1.qcow2")
        );
    }

    #[test]
    fn list_without_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_with(dir.path(), json!({"name": "vm0"}));
        assert_eq!(list(&state), json!({"vm0": {}}));
    }
}
