//! [`Env`]: one environment (a prefix of a workdir) and everything done to
//! it as a whole — the API the C library, the Python module and the CLI
//! share, so an operation behaves the same from each of them.
//!
//! An `Env` is `Send + Sync`: its persisted state sits behind a lock and the
//! libvirt connection (thread-safe itself) is opened on first use, so a
//! status query never needs libvirt and a plain `load` is cheap.

pub mod defaults;
pub mod handle;
pub mod service;
pub mod view;
pub use handle::{Destroyed, EnvHandle};
pub use service::VmService;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::destroy;
use crate::ops::export::{self, ExportOptions};
use crate::ops::init::{InitOptions, init};
use crate::ops::memory;
use crate::ops::orphans::{self, Orphan};
use crate::ops::parallel;
use crate::ops::run;
use crate::ops::snapshot::{self, SnapshotKind};
use crate::ops::status::status_info;
use crate::paths::Paths;
use crate::prefix::journal;
use crate::prefix::naming;
use crate::prefix::render;
use crate::prefix::state::{PrefixState, StateError};
use crate::prefix::writer;
use crate::provider::{Provider, VmState};
use crate::ssh::SshClient;
use crate::workdir::Workdir;
use crate::xml::DomainType;

mod connection;
mod first_boot;
mod guest_access;
mod guest_ops;
mod specs;

/// The provider an `Env` runs on, with what it knows of the host.
struct Backend {
    provider: Arc<dyn Provider>,
    capabilities: String,
}

/// One environment.
pub struct Env {
    workdir: Workdir,
    prefix_name: String,
    paths: Paths,
    config: Config,
    state: RwLock<PrefixState>,
    backend: OnceLock<Backend>,
    domain_type: OnceLock<DomainType>,
    ssh: Mutex<HashMap<String, Arc<SshClient>>>,
    /// The SSH connection to the remote host guests are reached through
    /// (a prefix on a remote libvirt host; see [`crate::host`]).
    jump: OnceLock<Arc<crate::ssh::JumpHost>>,
    /// One lock per VM around its first-boot bootstrap.
    first_boot_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// The line about a destroy that was killed halfway, until a verb that
    /// still works on the prefix (`status`, `stop`, `cleanup`, `destroy`)
    /// logs it; the other verbs fail saying to run `lago destroy -y`.
    unfinished_destroy: Mutex<Option<String>>,
    /// Why the prefix's state could not be read, when it is half made or
    /// cleaned up (no `initialized`): only `stop`, `cleanup` and `destroy`
    /// work on it, and `status` says what to run.
    half_made: Option<String>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("prefix", &self.paths.prefix_path())
            .finish()
    }
}

impl Env {
    fn open(workdir: Workdir, prefix_name: String, config: Config) -> Result<Self> {
        let paths = workdir.prefix(&prefix_name)?;
        let state = match PrefixState::load(&paths) {
            Ok(state) => state,
            Err(e @ StateError::NotAPrefix(_)) => {
                // half made, or cleaned up: open it empty so that it can be
                // destroyed; everything else says what to run
                let uuid = std::fs::read_to_string(paths.uuid()).map_err(|_| Error::from(e))?;
                let message = format!(
                    "{} is not an initialized lago prefix (no 'initialized' file): it was cleaned \
                     up, or its init did not finish; `lago destroy -y` removes it",
                    paths.prefix_path().display()
                );
                let host = crate::host::HostRecord::read(&paths).ok().flatten();
                let state = PrefixState {
                    paths,
                    uuid,
                    nets: Vec::new(),
                    vms: Vec::new(),
                    host,
                };
                let mut env = Self::with_state(workdir, prefix_name, config, state);
                env.half_made = Some(message);
                env.recover_pending();
                return Ok(env);
            }
            Err(e) => return Err(e.into()),
        };
        let env = Self::with_state(workdir, prefix_name, config, state);
        env.recover_pending();
        Ok(env)
    }

    /// Repairs what a killed verb left in this prefix (see
    /// [`crate::prefix::journal`]), when the writer lock is free right now
    /// (a live writer is left alone; the next command repairs).
    fn recover_pending(&self) {
        let Some(pending) = journal::read(&self.paths) else {
            return;
        };
        if pending.owner.is_alive() {
            return;
        }
        let Ok(_writer) = writer::lock(&self.paths, "recover", Duration::ZERO) else {
            return;
        };
        let uses_overlay = |domain: &str, overlay: &Path| -> Result<bool> {
            let provider = self.provider()?;
            if !provider.vm_state(domain)?.is_running() {
                return Ok(false);
            }
            let xml = provider.vm_xml(domain)?.unwrap_or_default();
            let file = overlay.to_string_lossy();
            Ok(xml.contains(&format!("'{file}'")) || xml.contains(&format!("\"{file}\"")))
        };
        let resume = |domain: &str| -> Result<bool> {
            let provider = self.provider()?;
            let state = provider.vm_state(domain)?;
            let paused = state == VmState::Paused;
            if paused {
                provider.resume_vm(domain)?;
            } else if !state.is_running() {
                return Ok(false);
            }
            // killed while quiesced, the guest's file systems may be frozen
            match provider.thaw_filesystems(domain) {
                Ok(0) => {}
                Ok(n) => info!(
                    domain,
                    filesystems = n,
                    "thawed the file systems a killed memory snapshot froze"
                ),
                Err(e) => debug!(domain, error = %e, "no thaw after a killed memory snapshot"),
            }
            Ok(paused)
        };
        let repaired = journal::recover_with(&self.paths, &uses_overlay, &resume);
        if matches!(pending.op, journal::Pending::Destroy { .. }) {
            *self.unfinished_destroy.lock() = repaired;
            return;
        }
        if repaired.is_some()
            && self.half_made.is_none()
            && let Ok(state) = PrefixState::load(&self.paths)
        {
            *self.state.write() = state;
        }
    }

    /// Logs the line about a destroy killed halfway (once), if there was
    /// one: the verbs that still work on such a prefix call it.
    fn report_unfinished_destroy(&self) {
        if let Some(line) = self.unfinished_destroy.lock().take() {
            tracing::warn!(target: "lago::repair", "{line}");
        }
    }

    /// The error of a half-made prefix (see [`Env::open`]), if it is one.
    fn check_loaded(&self) -> Result<()> {
        match &self.half_made {
            Some(message) => Err(Error::new(ErrorKind::NotFound, message.clone())
                .with_path(self.paths.prefix_path().to_path_buf())),
            None => Ok(()),
        }
    }

    /// An env over `state`, already read (or just made by `init`).
    fn with_state(
        workdir: Workdir,
        prefix_name: String,
        config: Config,
        state: PrefixState,
    ) -> Self {
        Self {
            workdir,
            prefix_name,
            paths: state.paths.clone(),
            config,
            state: RwLock::new(state),
            backend: OnceLock::new(),
            domain_type: OnceLock::new(),
            ssh: Mutex::new(HashMap::new()),
            jump: OnceLock::new(),
            first_boot_locks: Mutex::new(HashMap::new()),
            unfinished_destroy: Mutex::new(None),
            half_made: None,
        }
    }

    /// Initializes a new prefix from an init file (see
    /// [`crate::ops::init`]) and opens it on the state init made (nothing
    /// is read back).
    pub fn init(opts: &InitOptions, config: Config) -> Result<Self> {
        let done = init(opts, &config)?;
        let name = done
            .paths
            .prefix_path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self::with_state(
            Workdir::load(&done.workdir)?,
            name,
            config,
            done.state,
        ))
    }

    /// Opens prefix `prefix` (`current` allowed) of the workdir at `workdir`.
    pub fn load(workdir: &Path, prefix: &str, config: Config) -> Result<Self> {
        let workdir = Workdir::load(workdir)?;
        let name = workdir.resolve_name(prefix)?;
        Self::open(workdir, name, config)
    }

    /// Opens the prefix at `prefix_dir` on its own, without a workdir
    /// around it (Lago's `--prefix-path`; see [`Workdir::of_prefix`]).
    pub fn load_prefix(prefix_dir: &Path, config: Config) -> Result<Self> {
        let (workdir, name) = Workdir::of_prefix(prefix_dir)?;
        Self::open(workdir, name, config)
    }

    /// Runs this env on `provider` instead of the libvirt connection the
    /// configuration names (another backend, or a test double).
    pub fn with_provider(self, provider: Arc<dyn Provider>, capabilities: String) -> Self {
        let _ = self.backend.set(Backend {
            provider,
            capabilities,
        });
        self
    }

    /// The workdir's folder.
    pub fn workdir(&self) -> &Path {
        self.workdir.path()
    }

    /// The prefix's name in its workdir.
    pub fn prefix_name(&self) -> &str {
        &self.prefix_name
    }

    /// The prefix's paths.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The configuration in effect.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A snapshot of the persisted state.
    pub fn state(&self) -> PrefixState {
        self.state.read().clone()
    }

    /// The prefix's uuid.
    pub fn uuid(&self) -> String {
        self.state.read().uuid.clone()
    }

    /// The VMs' names, in init-file order.
    pub fn vm_names(&self) -> Vec<String> {
        self.state
            .read()
            .vms
            .iter()
            .map(|v| v.name.clone())
            .collect()
    }

    /// The nets' names, in init-file order.
    pub fn net_names(&self) -> Vec<String> {
        self.state
            .read()
            .nets
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// Re-reads the persisted specs (after another process changed them).
    pub fn reload(&self) -> Result<()> {
        *self.state.write() = PrefixState::load(&self.paths)?;
        Ok(())
    }

    /// Starts the named VMs (all when empty) and the nets they need.
    /// Returns the VMs this call started.
    ///
    /// Orphans — running objects lago made for a prefix that no longer
    /// exists, which would hold the subnet this env may have leased again —
    /// are stopped first (see [`crate::ops::orphans`]).
    pub fn start(&self, vms: &[String]) -> Result<Vec<String>> {
        let _writer = self.write_lock("start")?;
        let t = self.domain_type()?;
        let backend = self.backend()?;
        self.clean_orphans_quietly(backend.provider.as_ref());
        let vendor = render::host_cpu_vendor(&backend.capabilities);
        let state = self.state.read();
        let started = run::start(&state, backend.provider.as_ref(), t, vendor.as_deref(), vms)?;
        // A connection held to a VM that was not running is dead (the VM
        // was stopped, perhaps behind our back): waiting on it would last
        // until TCP's retransmission met the new guest.
        self.disconnect(&started);
        Ok(started)
    }

    /// Drops the held SSH connections of the named VMs (the clients stay;
    /// their next call connects afresh).
    fn disconnect(&self, vms: &[String]) {
        let clients = self.ssh.lock();
        for vm in vms {
            if let Some(c) = clients.get(vm) {
                c.disconnect();
            }
        }
    }

    /// The named VMs, all when empty.
    fn names_or_all(&self, vms: &[String]) -> Vec<String> {
        if vms.is_empty() {
            self.vm_names()
        } else {
            vms.to_vec()
        }
    }

    /// Stops every orphan on this env's libvirt connection (objects lago
    /// made for prefixes that no longer exist) and returns them.
    pub fn clean_orphans(&self) -> Result<Vec<Orphan>> {
        orphans::clean(self.backend()?.provider.as_ref())
    }

    fn clean_orphans_quietly(&self, provider: &dyn Provider) {
        match orphans::clean(provider) {
            Ok(gone) if !gone.is_empty() => {
                info!(count = gone.len(), "stopped orphans of deleted prefixes");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not look for orphans"),
        }
    }

    /// Stops the named VMs (all when empty) at once, and the nets no
    /// running VM uses any more.
    pub fn stop(&self, vms: &[String]) -> Result<()> {
        let _writer = self.write_lock("stop")?;
        // Connections go first, while their guests can still see them close.
        self.disconnect(&self.names_or_all(vms));
        let state = self.state.read();
        let provider = self.backend()?.provider.clone();
        run::stop_vms(&state, provider.as_ref(), vms)?;
        // an interrupt here leaves the VMs down and the nets up: a
        // consistent point (`lago stop` again stops the nets)
        crate::owner::phase("stop:domains")?;
        run::stop_unused_nets(&state, provider.as_ref())
    }

    /// The state of VM `vm` (Lago's strings through [`VmState::as_str`]).
    pub fn vm_state(&self, vm: &str) -> Result<VmState> {
        let state = self.state.read();
        run::select(&state, &[vm.to_string()])?;
        self.backend()?
            .provider
            .vm_state(&naming::domain_name(&state.uuid, vm))
            .map_err(|e| Error::from(e).with_vm(vm))
    }

    /// The libvirt name of VM `vm`.
    pub fn vm_libvirt_name(&self, vm: &str) -> String {
        naming::domain_name(&self.state.read().uuid, vm)
    }

    /// The status information `lago status` prints (contract §1.3).
    pub fn status(&self) -> Result<Value> {
        self.report_unfinished_destroy();
        self.with_live_state(|state, vm_state, net_up| status_info(state, vm_state, net_up))
    }

    /// The environment as a Graphviz DOT graph (`lago status --format dot`):
    /// nets, VMs, NICs with IPs, and their live state.
    pub fn status_dot(&self) -> Result<String> {
        self.with_live_state(|state, vm_state, net_up| {
            crate::ops::graph::dot(state, vm_state, net_up)
        })
    }

    /// Runs `f` on the state with the provider's live state of each VM (its
    /// state string, `failed to get state` when libvirt cannot tell) and net
    /// (active or not).
    fn with_live_state<T>(
        &self,
        f: impl FnOnce(&PrefixState, &dyn Fn(&str) -> String, &dyn Fn(&str) -> bool) -> T,
    ) -> Result<T> {
        self.check_loaded()?;
        let provider = self.backend()?.provider.clone();
        let state = self.state.read();
        let uuid = state.uuid.clone();
        let vm_state = |vm: &str| {
            provider
                .vm_state(&naming::domain_name(&uuid, vm))
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| "failed to get state".into())
        };
        let net_up = |net: &str| {
            provider
                .network_active(&naming::network_name(&uuid, net))
                .unwrap_or(false)
        };
        Ok(f(&state, &vm_state, &net_up))
    }

    /// Shuts the named VMs (all when empty) down cleanly, or reboots them:
    /// ACPI through libvirt, falling back to `poweroff`/`reboot` over SSH when
    /// the guest ignores it; waits at most `timeout` for each VM to go down,
    /// then stops the nets no running VM uses (not on reboot).
    pub fn shutdown(&self, vms: &[String], reboot: bool, timeout: Duration) -> Result<()> {
        let _writer = self.write_lock("shutdown")?;
        let names: Vec<String> = {
            let state = self.state.read();
            run::select(&state, vms)?
                .iter()
                .map(|v| v.name.clone())
                .collect()
        };
        let provider = self.provider()?;
        parallel::each(&names, "shutting down a VM", |vm| {
            self.shutdown_one(provider.as_ref(), vm, reboot, timeout)
        })?;
        // The guests closed their side (or are gone): nothing held is usable.
        self.disconnect(&names);
        if !reboot {
            let state = self.state.read();
            run::stop(&state, provider.as_ref(), &names)?;
        }
        Ok(())
    }

    fn shutdown_one(
        &self,
        provider: &dyn Provider,
        vm: &str,
        reboot: bool,
        timeout: Duration,
    ) -> Result<()> {
        let ask_guest = |command: &str, limit: Duration| -> Result<()> {
            self.ssh_client(vm)?.exec_command(command, None, limit).ok();
            Ok(())
        };
        run::shutdown_vm(
            provider,
            vm,
            &self.vm_libvirt_name(vm),
            reboot,
            timeout,
            &ask_guest,
        )
    }

    /// Takes snapshot `name` of the named VMs (all when empty), in parallel
    /// (see [`crate::ops::snapshot`]): running VMs live (disk-only, after
    /// a `sync` in the guest), stopped VMs by new overlays. A name a VM has
    /// already is an error and nothing changes; a VM that fails keeps
    /// nothing of the snapshot and the error names it.
    pub fn snapshot(&self, name: &str, vms: &[String]) -> Result<()> {
        self.snapshot_with(name, vms, SnapshotKind::Disk)
    }

    /// [`Env::snapshot`] of the given kind: with [`SnapshotKind::Memory`],
    /// the running VMs are paused together and their memory is saved too
    /// (see [`crate::ops::memory`]), so that a revert resumes them.
    pub fn snapshot_with(&self, name: &str, vms: &[String], kind: SnapshotKind) -> Result<()> {
        let _writer = self.write_lock("snapshot")?;
        let state = self.state();
        let steps = snapshot::plan(&state, vms, name, kind)?;
        let provider = self.provider()?;
        let sync = |vm: &str| -> Result<()> {
            let r = self.guest(vm)?.exec(&["sync"], snapshot::SYNC_TIMEOUT)?;
            if r.code == 0 {
                Ok(())
            } else {
                Err(Error::new(
                    ErrorKind::Ssh,
                    format!("`sync` in VM '{vm}' exited with {}", r.code),
                ))
            }
        };
        let _pending = journal::begin(&self.paths, snapshot::journal_entry(&steps, name))?;
        let images = self.images()?;
        let mut outcomes = snapshot::take(provider.as_ref(), &images, &steps, name, &sync)?;
        let cancelled = crate::owner::phase("snapshot:taken").err();
        if let Some(cancel) = &cancelled {
            snapshot::cancel_taken(&images, &steps, &mut outcomes, cancel);
        }
        let kept = snapshot::record_outcomes(&mut self.state.write(), &steps, &outcomes, name)?;
        match cancelled {
            Some(cancel) if kept.is_empty() => Err(cancel.wrap(format!(
                "snapshot '{name}' interrupted; nothing was changed"
            ))),
            Some(cancel) => Err(cancel.wrap(format!(
                "snapshot '{name}' interrupted; VMs {} were running and run on their new \
                 overlays now, so they keep snapshot '{name}'; nothing else was changed",
                kept.join(", ")
            ))),
            None => snapshot::outcome(&outcomes, &kept, name),
        }
    }

    /// Reverts the named VMs (all when empty) to snapshot `name`: the
    /// running ones are stopped, every disk gets a fresh overlay on the
    /// snapshot's file, and the VMs that were running are started again
    /// and waited for until they answer SSH (each bounded by
    /// [`Env::boot_timeout`]). The VMs whose snapshot holds their memory
    /// are resumed from it instead (running, whatever their state before:
    /// no boot; see [`crate::ops::memory`]), their clocks set. A VM without
    /// that snapshot is an error naming the snapshots it has, and nothing
    /// is touched.
    pub fn revert(&self, name: &str, vms: &[String]) -> Result<()> {
        let _writer = self.write_lock("revert")?;
        // the plan first: a bad name fails before libvirt is asked anything
        let plan = snapshot::plan_revert(&self.state.read(), vms, name)?;
        let images = self.images()?;
        let (plan, memory_images) = {
            let state = self.state.read();
            let memory_images: Vec<Option<(PathBuf, Option<bool>)>> = plan
                .iter()
                .map(|(vm, _)| {
                    snapshot::memory_image(&state, vm, name).filter(|(image, _)| {
                        let there = images.exists(image).unwrap_or(false);
                        if !there {
                            warn!(vm = %vm, image = %image.display(), "the memory image of the snapshot is gone: the VM boots from the snapshot's disks");
                        }
                        there
                    })
                })
                .collect();
            (plan, memory_images)
        };
        let provider = self.provider()?;
        let mut was_running = Vec::new();
        for (vm, _) in &plan {
            if provider.vm_state(&self.vm_libvirt_name(vm))?.is_running() {
                was_running.push(vm.clone());
            }
        }
        let temps = snapshot::revert_temps(&plan);
        let pending = journal::begin(
            &self.paths,
            journal::Pending::Revert {
                name: name.to_string(),
                temps: temps.clone(),
                disks_replaced: false,
            },
        )?;
        let reverted = snapshot::revert(provider.as_ref(), &images, &plan, name, |vm| {
            self.vm_libvirt_name(vm)
        });
        // lago re-created these disks: whatever host key the guest now has
        // (the snapshot may predate the one pinned) is pinned afresh
        let why = format!("reverted to snapshot '{name}'");
        let forgotten: Result<Vec<()>> = plan
            .iter()
            .map(|(vm, _)| self.forget_host_key(vm, &why))
            .collect();
        {
            let mut ssh = self.ssh.lock();
            for (vm, _) in &plan {
                ssh.remove(vm);
            }
        }
        if let Err(e) = reverted {
            if e.kind() == ErrorKind::Cancelled {
                return Err(e.wrap(format!(
                    "revert to '{name}' interrupted: its VMs are down with their disks as they \
                     were; run `lago revert {name}` again, or `lago start`"
                )));
            }
            return Err(e);
        }
        forgotten?;
        info!(snapshot = name, vms = plan.len(), "disks reverted");
        pending.update(journal::Pending::Revert {
            name: name.to_string(),
            temps,
            disks_replaced: true,
        })?;
        // interrupted here, the VMs stay down on their reverted disks
        crate::owner::phase("revert:disks").map_err(|e| {
            e.wrap(format!(
                "revert to '{name}' interrupted: its disks are reverted and its VMs down; \
                 `lago start` brings them back"
            ))
        })?;
        drop(pending);
        let restores: Vec<memory::Restore> = plan
            .iter()
            .zip(&memory_images)
            .filter_map(|((vm, disks), image)| {
                let (image, quiesced) = image.clone()?;
                // the host's paths: where the image and the disks are for libvirt
                Some(memory::Restore {
                    vm: vm.clone(),
                    domain: self.vm_libvirt_name(vm),
                    image: images.host_path(&image),
                    quiesced,
                    disks: disks
                        .iter()
                        .map(|d| (images.host_path(&d.backing), images.host_path(&d.current)))
                        .collect(),
                })
            })
            .collect();
        if !restores.is_empty() {
            self.resume_from_memory(provider.as_ref(), name, &restores)?;
        }
        let boot: Vec<String> = was_running
            .into_iter()
            .filter(|vm| !restores.iter().any(|r| &r.vm == vm))
            .collect();
        if !boot.is_empty() {
            self.start(&boot)?;
            self.wait_for_ssh_all(&boot, None)?;
        }
        Ok(())
    }

    /// The second half of a revert to a memory snapshot: the nets the VMs
    /// need, then each VM (all at once) started from its memory image and
    /// its clock set (guest agent, else `date` over SSH) once it answers
    /// SSH.
    fn resume_from_memory(
        &self,
        provider: &dyn Provider,
        name: &str,
        restores: &[memory::Restore],
    ) -> Result<()> {
        let vm_names: Vec<String> = restores.iter().map(|r| r.vm.clone()).collect();
        {
            let state = self.state.read();
            let vms = run::select(&state, &vm_names)?;
            run::start_nets(&state, provider, &vms)?;
        }
        // each VM on its own: resumed, then its clock set as soon as it
        // answers (no VM waits for the others' restores)
        parallel::each(restores, "resuming a VM from memory", |r| {
            memory::restore(provider, r).map_err(|e| {
                let message = format!(
                    "revert of VM '{}' to '{name}': cannot resume it from its memory image: {}; \
                     its disks are reverted: `lago start` boots it from them",
                    r.vm,
                    e.full_message()
                );
                e.wrap(message).with_vm(r.vm.as_str())
            })?;
            memory::thaw_restored(provider, r).map_err(|e| e.with_vm(r.vm.as_str()))?;
            let by_agent = provider
                .set_guest_time(&r.domain, i64::try_from(memory::unix_now()).unwrap_or(0))
                .inspect_err(|e| debug!(vm = %r.vm, error = %e, "no guest agent to set the clock"))
                .is_ok();
            self.wait_for_ssh(&r.vm, None)?;
            if !by_agent {
                let argv = [
                    "sh".to_string(),
                    "-c".into(),
                    memory::set_clock_command(memory::unix_now()),
                ];
                match self.ssh(&r.vm, &argv, Duration::from_secs(30)) {
                    Ok(out) if out.code == 0 => {}
                    Ok(out) => {
                        warn!(vm = %r.vm, code = out.code, "cannot set the guest clock after the revert: `date -s` failed")
                    }
                    Err(e) => {
                        warn!(vm = %r.vm, error = %e, "cannot set the guest clock after the revert")
                    }
                }
            }
            info!(vm = %r.vm, agent = by_agent, "guest clock set");
            Ok(())
        })
    }

    /// `{vm: {snapshot: [disk dicts]}}`, as `lago snapshot --list` prints it.
    pub fn snapshots(&self) -> Value {
        snapshot::list(&self.state.read())
    }

    /// Exports the disks of the named VMs (all when empty; they must be
    /// down) and an init file re-creating them (see
    /// [`crate::ops::export`]). Returns `{vm: [paths], "init-file": path}`,
    /// or with `collect_only` `{vm: [source paths]}`.
    pub fn export(&self, opts: &ExportOptions) -> Result<Value> {
        let _writer = self.write_lock("export")?;
        export::check_names(&self.state.read(), &opts.vms)?;
        if let Some(host) = &self.state.read().host {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "lago export reads the disks as files of this machine, and this \
                     environment's disks are volumes on the libvirt host {} (pool {}): \
                     exporting them is not supported yet",
                    host.uri, host.pool
                ),
            ));
        }
        let provider = self.provider()?;
        let state = self.state.read();
        let uuid = state.uuid.clone();
        let is_running = |vm: &str| -> Result<bool> {
            Ok(provider
                .vm_state(&naming::domain_name(&uuid, vm))?
                .is_running())
        };
        export::export(&state, opts, &is_running)
    }

    /// Lago's `cleanup`: stops every VM and network, then removes the
    /// prefix's `initialized` file, so the prefix no longer loads (its
    /// files stay; `destroy` removes them).
    pub fn cleanup(&self) -> Result<()> {
        let _writer = self.write_lock("cleanup")?;
        self.stop(&[])?;
        let marker = self.paths.initialized();
        match std::fs::remove_file(&marker) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("cleanup: cannot remove {}: {e}", marker.display()),
                ));
            }
        }
        info!(prefix = %self.paths.prefix_path().display(), "prefix cleaned up (uninitialized)");
        Ok(())
    }

    /// Takes this prefix's writer lock for `verb` (see
    /// [`crate::prefix::writer`]): every method that changes the prefix or
    /// its VMs holds it while it runs; readers never take it.
    pub fn write_lock(&self, verb: &str) -> Result<writer::WriterLock> {
        if matches!(verb, "stop" | "cleanup" | "destroy") {
            self.report_unfinished_destroy();
        } else {
            self.check_loaded()?;
            if let Some(killed) = journal::killed_destroy(&self.paths) {
                return Err(journal::destroy_unfinished(&self.paths, &killed));
            }
        }
        writer::lock(&self.paths, verb, writer::timeout(&self.config)?)
    }

    /// Stops everything, releases the leases and removes the prefix (and the
    /// workdir with its last prefix).
    pub fn destroy(self) -> Result<()> {
        let _writer = self.write_lock("destroy")?;
        // SSH connections go first, while their guests may still answer
        // the goodbye (a dead guest costs a bounded wait per connection).
        self.ssh.lock().clear();
        // a prefix on a remote host needs that host: the error says why
        let remote = self.state.read().host.is_some();
        let provider = match self.backend() {
            Ok(b) => Some(b.provider.clone()),
            Err(e) if remote => return Err(e),
            Err(_) => None,
        };
        destroy::destroy(
            &self.workdir,
            &self.prefix_name,
            &self.config,
            provider.as_deref(),
        )
    }
}

/// Test-only: a writable copy of the `upstream-workdir` fixture made in
/// `dir` (as `dir/w`), opened on libvirt's test driver with host
/// capabilities `caps`.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn fixture_copy_on_test_driver(dir: &Path, caps: &str) -> Env {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream-workdir");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&fixture)
        .arg(dir.join("w"))
        .status()
        .unwrap();
    assert!(status.success());
    let libvirt = crate::provider::libvirt::Libvirt::connect("test:///default").unwrap();
    Env::load(&dir.join("w"), "current", Config::new())
        .unwrap()
        .with_provider(Arc::new(libvirt), caps.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::libvirt::Libvirt;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn env_is_send_and_sync() {
        assert_send_sync::<Env>();
    }

    #[test]
    fn upstream_prefix_status_on_the_test_driver() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream-workdir");
        let lv = Libvirt::connect("test:///default").unwrap();
        let env = Env::load(&dir, "current", Config::new())
            .unwrap()
            .with_provider(Arc::new(lv), String::new());
        assert_eq!(env.vm_names(), ["vm0", "vm1"]);
        assert_eq!(env.vm_state("vm0").unwrap(), VmState::Down);
        let err = env.vm_state("nope").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.message().contains("VMs: vm0, vm1"), "{}", err.message());
        let status = env.status().unwrap();
        assert_eq!(status["Prefix"]["VMs"]["vm1"]["status"], "down");
        assert_eq!(status["Prefix"]["Networks"]["n0"]["status"], "down");
    }
}
