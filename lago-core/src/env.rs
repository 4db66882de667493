//! [`Env`]: one environment (a prefix of a workdir) and everything done to
//! it as a whole — the API the C library, the Python module and the CLI
//! share, so an operation behaves the same from each of them.
//!
//! An `Env` is `Send + Sync`: its persisted state sits behind a lock and the
//! libvirt connection (thread-safe itself) is opened on first use, so a
//! status query never needs libvirt and a plain `load` is cheap.

pub mod service;
pub use service::VmService;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tracing::{debug, info};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::destroy;
use crate::ops::export::{self, ExportOptions};
use crate::ops::init::{InitOptions, init};
use crate::ops::orphans::{self, Orphan};
use crate::ops::parallel;
use crate::ops::run;
use crate::ops::snapshot;
use crate::ops::status::status_info;
use crate::paths::Paths;
use crate::prefix::naming;
use crate::prefix::render;
use crate::prefix::state::PrefixState;
use crate::prefix::state::Scalar;
use crate::provider::auth::Credentials;
use crate::provider::domain_type::{self, DomainTypeSetting};
use crate::provider::libvirt::{DEFAULT_URI, Libvirt};
use crate::provider::{Provider, VmState};
use crate::ssh::{CopyStats, ExecResult, SshClient, SshTarget};
use crate::workdir::Workdir;
use crate::xml::DomainType;

mod first_boot;
mod guest_ops;
mod specs;
pub use specs::HostCpu;

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
    /// One lock per VM around its first-boot bootstrap.
    first_boot_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
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
        let state = PrefixState::load(&paths)?;
        Ok(Self::with_state(workdir, prefix_name, config, state))
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
            first_boot_locks: Mutex::new(HashMap::new()),
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

    fn backend(&self) -> Result<&Backend> {
        if let Some(b) = self.backend.get() {
            return Ok(b);
        }
        let uri = self.config.get("libvirt_url").unwrap_or(DEFAULT_URI);
        let lv = Libvirt::connect_with(uri, &Credentials::from_config(&self.config))?;
        let capabilities = lv.capabilities()?;
        let _ = self.backend.set(Backend {
            provider: Arc::new(lv),
            capabilities,
        });
        self.backend
            .get()
            .ok_or_else(|| Error::new(ErrorKind::Internal, "libvirt connection vanished"))
    }

    /// The provider (libvirt, connected on first use).
    pub fn provider(&self) -> Result<Arc<dyn Provider>> {
        Ok(self.backend()?.provider.clone())
    }

    /// The domain type VMs run with: `[lago] domain_type`, where `auto`
    /// probes KVM once per host (cached in `$XDG_CACHE_HOME/lago`).
    pub fn domain_type(&self) -> Result<DomainType> {
        if let Some(t) = self.domain_type.get() {
            return Ok(*t);
        }
        let setting = self.config.domain_type().map_err(Error::from)?;
        let backend = self.backend()?;
        // the probe boots what will run: the first VM's root disk
        let probe_disk = {
            let state = self.state.read();
            state
                .vms
                .iter()
                .find_map(|vm| vm.disks().first().map(|d| self.paths.expand(&d.path)))
                .filter(|p| p.is_file())
        };
        let t = domain_type::resolve(
            setting,
            backend.provider.as_ref(),
            &backend.capabilities,
            &probe_cache(),
            probe_disk.as_deref(),
        )?;
        if setting == DomainTypeSetting::Auto {
            info!(domain_type = t.as_str(), "domain type chosen");
        }
        let _ = self.domain_type.set(t);
        Ok(t)
    }

    /// Starts the named VMs (all when empty) and the nets they need.
    /// Returns the VMs this call started.
    ///
    /// Orphans — running objects lago made for a prefix that no longer
    /// exists, which would hold the subnet this env may have leased again —
    /// are stopped first (see [`crate::ops::orphans`]).
    pub fn start(&self, vms: &[String]) -> Result<Vec<String>> {
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
        // Connections go first, while their guests can still see them close.
        self.disconnect(&self.names_or_all(vms));
        let state = self.state.read();
        run::stop(&state, self.backend()?.provider.as_ref(), vms)
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
        Ok(status_info(&state, vm_state, net_up))
    }

    /// The SSH client of VM `vm`: one per VM, kept and reused (its one
    /// connection too). Key: the prefix's `id_rsa`; password: the VM's root
    /// password; host keys recorded in `<prefix>/known_hosts`.
    pub fn ssh_client(&self, vm: &str) -> Result<Arc<SshClient>> {
        if let Some(c) = self.ssh.lock().get(vm) {
            return Ok(c.clone());
        }
        let state = self.state.read();
        let spec = run::select(&state, &[vm.to_string()])?[0];
        let ip = spec.ip().ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("VM '{vm}' has no address on its management network"),
            )
        })?;
        let user = spec
            .spec
            .ssh_user_str()
            .or_else(|| self.config.get("ssh_user"))
            .unwrap_or("root")
            .to_string();
        let password = Some(spec.root_password()).filter(|p| !p.is_empty());
        let mut target = SshTarget::new(ip.into())
            .with_key(self.paths.ssh_id_rsa())
            .with_user(user)
            .with_password(password.as_deref())
            .with_known_hosts(self.paths.prefixed("known_hosts"));
        if let Ok(Some(t)) = self.config.get_u64("ssh_timeout") {
            target.connect_timeout = Duration::from_secs(t.max(1));
        }
        let client = Arc::new(SshClient::new(target));
        Ok(self
            .ssh
            .lock()
            .entry(vm.to_string())
            .or_insert(client)
            .clone())
    }

    /// Forgets the SSH host key pinned for VM `vm` in `<prefix>/known_hosts`
    /// (lago re-created its disks: `why`), so the next key it presents is
    /// pinned. Any other change of a pinned key is an error.
    pub(crate) fn forget_host_key(&self, vm: &str, why: &str) -> Result<()> {
        // a VM without a management address has nothing pinned
        let Ok(client) = self.ssh_client(vm) else {
            return Ok(());
        };
        let removed = client.forget_host_key().map_err(for_vm(vm))?;
        if removed > 0 {
            info!(
                vm,
                file = %self.paths.prefixed("known_hosts").display(),
                "{why}: the host key pinned for the VM is forgotten; the next one it presents is pinned"
            );
        }
        Ok(())
    }

    /// How long to wait for VM `vm` to answer SSH: its `boot_time_sec`
    /// (Lago's default 600 s), longer under software emulation.
    pub fn boot_timeout(&self, vm: &str) -> Duration {
        let secs = self
            .state
            .read()
            .vm(vm)
            .and_then(|v| v.spec.boot_time_sec.as_ref().and_then(Scalar::as_u64))
            .unwrap_or(600);
        let factor = self.domain_type.get().map_or(1, |t| t.timeout_factor());
        Duration::from_secs(secs.saturating_mul(u64::from(factor)))
    }

    /// Waits until VM `vm` answers SSH (bounded by [`Env::boot_timeout`]
    /// or `timeout`); returns how long it took. Fails at once if the VM is
    /// not running.
    pub fn wait_for_ssh(&self, vm: &str, timeout: Option<Duration>) -> Result<Duration> {
        if !self.vm_state(vm)?.is_running() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("VM '{vm}' is not running: start it first"),
            ));
        }
        // before its first-boot bootstrap, a VM is reached with the
        // template's password, and bootstrapped as soon as it answers
        let pending = self.first_boot_pending(vm);
        let client = if pending {
            self.first_boot_client(vm)?
        } else {
            self.ssh_client(vm)?
        };
        let timeout = timeout.unwrap_or_else(|| self.boot_timeout(vm));
        let address = self.lease_lookup(vm)?;
        let took = client
            .wait_for_ssh_from(timeout, &address)
            .map_err(for_vm(vm))?;
        if pending {
            self.run_first_boot(vm, &client)?;
            // a one-off client's address is the main one's too
            self.ssh_client(vm)?.set_host(client.host());
        }
        Ok(took)
    }

    /// Where to probe VM `vm` while waiting for it: the address the DHCP
    /// server of its management net has leased to its management NIC,
    /// else (no lease yet, or a net without DHCP) the address its init
    /// planned. Lago's host entries make the two the same, so a lease
    /// that says otherwise is the guest's own choice and wins.
    fn lease_lookup(&self, vm: &str) -> Result<impl Fn() -> Option<IpAddr> + use<>> {
        let planned = {
            let state = self.state.read();
            run::select(&state, &[vm.to_string()])?[0].ip()
        };
        let provider = self.backend()?.provider.clone();
        let domain = self.vm_libvirt_name(vm);
        let mac = planned.map(crate::plan::ipv4_to_mac);
        Ok(move || {
            let leased = mac.as_deref().and_then(|mac| {
                provider
                    .leased_ipv4(&domain, mac)
                    .inspect_err(|e| debug!(error = %e, "no DHCP lease read"))
                    .ok()
                    .flatten()
            });
            leased.or(planned).map(IpAddr::V4)
        })
    }

    /// Waits for every named VM (all when empty) in parallel.
    pub fn wait_for_ssh_all(&self, vms: &[String], timeout: Option<Duration>) -> Result<()> {
        let names = self.names_or_all(vms);
        parallel::each(&names, "waiting for SSH", |vm| {
            self.wait_for_ssh(vm, timeout).map(drop)
        })
    }

    /// Runs `argv` in VM `vm` (each argument quoted for the guest's shell).
    pub fn ssh(&self, vm: &str, argv: &[String], timeout: Duration) -> Result<ExecResult> {
        self.guest(vm)?.exec(argv, timeout).map_err(for_vm(vm))
    }

    /// Like [`Env::ssh`], with `stdin` as the command's standard input
    /// (then end of file).
    pub fn ssh_stdin(
        &self,
        vm: &str,
        argv: &[String],
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<ExecResult> {
        (self.guest(vm)?.exec_stdin(argv, stdin, timeout)).map_err(for_vm(vm))
    }

    /// Runs `argv` (the login shell when empty) in VM `vm` on this
    /// process's standard input and output, with a PTY when standard input
    /// is a terminal (see [`SshClient::interactive`]); returns the remote
    /// exit code. No time limit.
    pub fn interactive(&self, vm: &str, argv: &[String]) -> Result<i32> {
        self.guest(vm)?.interactive(argv).map_err(for_vm(vm))
    }

    /// Copies a local file or tree into VM `vm`.
    pub fn copy_to(&self, vm: &str, local: &Path, remote: &Path) -> Result<CopyStats> {
        self.guest(vm)?.copy_to(local, remote).map_err(for_vm(vm))
    }

    /// Copies a file or tree out of VM `vm`.
    pub fn copy_from(&self, vm: &str, remote: &Path, local: &Path) -> Result<CopyStats> {
        self.guest(vm)?.copy_from(remote, local).map_err(for_vm(vm))
    }

    /// Shuts the named VMs (all when empty) down cleanly, or reboots them:
    /// ACPI through libvirt, falling back to `poweroff`/`reboot` over SSH when
    /// the guest ignores it; waits at most `timeout` for each VM to go down,
    /// then stops the nets no running VM uses (not on reboot).
    pub fn shutdown(&self, vms: &[String], reboot: bool, timeout: Duration) -> Result<()> {
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
        let state = self.state();
        let steps = snapshot::plan(&state, vms, name)?;
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
        let outcomes = snapshot::take(provider.as_ref(), &steps, name, &sync);
        let kept = snapshot::record_outcomes(&mut self.state.write(), &steps, &outcomes, name)?;
        snapshot::outcome(&outcomes, &kept, name)
    }

    /// Reverts the named VMs (all when empty) to snapshot `name`: the
    /// running ones are stopped, every disk gets a fresh overlay on the
    /// snapshot's file, and the VMs that were running are started again
    /// and waited for until they answer SSH (each bounded by
    /// [`Env::boot_timeout`]). A VM without that snapshot is an error naming
    /// the snapshots it has, and nothing is touched.
    pub fn revert(&self, name: &str, vms: &[String]) -> Result<()> {
        let plan = {
            let state = self.state.read();
            snapshot::plan_revert(&state, vms, name)?
        };
        let provider = self.provider()?;
        let mut was_running = Vec::new();
        for (vm, _) in &plan {
            if provider.vm_state(&self.vm_libvirt_name(vm))?.is_running() {
                was_running.push(vm.clone());
            }
        }
        let reverted = snapshot::revert(provider.as_ref(), &plan, name, |vm| {
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
        reverted?;
        forgotten?;
        info!(snapshot = name, vms = plan.len(), "disks reverted");
        if !was_running.is_empty() {
            self.start(&was_running)?;
            self.wait_for_ssh_all(&was_running, None)?;
        }
        Ok(())
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
        export::check_names(&self.state.read(), &opts.vms)?;
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

    /// Stops everything, releases the leases and removes the prefix (and the
    /// workdir with its last prefix).
    pub fn destroy(self) -> Result<()> {
        // SSH connections go first, while their guests may still answer
        // the goodbye (a dead guest costs a bounded wait per connection).
        self.ssh.lock().clear();
        let provider = self.backend().ok().map(|b| b.provider.clone());
        destroy::destroy(
            &self.workdir,
            &self.prefix_name,
            &self.config,
            provider.as_deref(),
        )
    }
}

/// Where the KVM probe's answer is cached.
fn probe_cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("lago").join("kvm-probe")
}

/// Converts an SSH error of VM `vm` into an [`Error`] naming the VM. A
/// host key other than the one pinned in the prefix says which VM and which
/// file in its message too.
fn for_vm(vm: &str) -> impl FnOnce(crate::ssh::SshError) -> Error + '_ {
    move |e| {
        let pinned = matches!(e, crate::ssh::SshError::HostKeyMismatch { .. }).then(|| {
            format!(
                "VM '{vm}': its SSH host key is not the one pinned in its prefix: {e} \
                 (lago forgets a pinned key itself only when it re-creates the VM's disks: \
                 init, revert)"
            )
        });
        let err = Error::from(e);
        match pinned {
            Some(message) => err.wrap(message),
            None => err,
        }
        .with_vm(vm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderError;
    use std::net::Ipv4Addr;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn env_is_send_and_sync() {
        assert_send_sync::<Env>();
    }

    #[test]
    fn ssh_errors_of_a_vm_name_it() {
        let err = for_vm("vm0")(crate::ssh::SshError::RemoteNotFound {
            target: "root@192.168.200.2".into(),
            op: "copy_from".into(),
            path: "/nope".into(),
        });
        assert_eq!(err.vm(), Some("vm0"));
        assert_eq!(err.path(), Some(std::path::Path::new("/nope")));
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn a_changed_host_key_names_the_vm_and_the_pinning_file() {
        let err = for_vm("vm0")(crate::ssh::SshError::HostKeyMismatch {
            target: "root@192.168.200.2".into(),
            known_hosts: "/w/.lago/default/known_hosts".into(),
            recorded: "ssh-ed25519 SHA256:old".into(),
            presented: "ssh-ed25519 SHA256:new".into(),
        });
        assert_eq!(err.vm(), Some("vm0"));
        assert_eq!(err.kind(), ErrorKind::Ssh);
        assert_eq!(
            err.path(),
            Some(std::path::Path::new("/w/.lago/default/known_hosts"))
        );
        assert_eq!(
            err.full_message(),
            "VM 'vm0': its SSH host key is not the one pinned in its prefix: ssh \
             root@192.168.200.2: host key mismatch: /w/.lago/default/known_hosts pins \
             ssh-ed25519 SHA256:old but the host presented ssh-ed25519 SHA256:new; if its \
             key was changed on purpose, remove its line from that file (lago forgets a \
             pinned key itself only when it re-creates the VM's disks: init, revert)"
        );
    }

    /// A provider that knows only DHCP leases (planning logic, no VMs).
    struct LeasesOnly(Mutex<HashMap<(String, String), Ipv4Addr>>);

    impl Provider for LeasesOnly {
        fn network_active(&self, _: &str) -> std::result::Result<bool, ProviderError> {
            Ok(false)
        }
        fn create_network(&self, _: &str) -> std::result::Result<(), ProviderError> {
            Ok(())
        }
        fn destroy_network(&self, _: &str) -> std::result::Result<(), ProviderError> {
            Ok(())
        }
        fn vm_state(&self, _: &str) -> std::result::Result<VmState, ProviderError> {
            Ok(VmState::Running)
        }
        fn create_vm(&self, _: &str) -> std::result::Result<(), ProviderError> {
            Ok(())
        }
        fn destroy_vm(&self, _: &str) -> std::result::Result<(), ProviderError> {
            Ok(())
        }
        fn shutdown_vm(&self, _: &str) -> std::result::Result<(), ProviderError> {
            Ok(())
        }
        fn reboot_vm(&self, _: &str) -> std::result::Result<(), ProviderError> {
            Ok(())
        }
        fn vm_xml(&self, _: &str) -> std::result::Result<Option<String>, ProviderError> {
            Ok(None)
        }
        fn network_xml(&self, _: &str) -> std::result::Result<Option<String>, ProviderError> {
            Ok(None)
        }
        fn list_vms(&self) -> std::result::Result<Vec<String>, ProviderError> {
            Ok(Vec::new())
        }
        fn list_networks(&self) -> std::result::Result<Vec<String>, ProviderError> {
            Ok(Vec::new())
        }
        fn leased_ipv4(
            &self,
            name: &str,
            mac: &str,
        ) -> std::result::Result<Option<Ipv4Addr>, ProviderError> {
            Ok(self.0.lock().get(&(name.into(), mac.into())).copied())
        }
    }

    #[test]
    fn the_probe_goes_where_the_lease_says_else_to_the_planned_address() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream-workdir");
        let leases = Arc::new(LeasesOnly(Mutex::new(HashMap::new())));
        let env = Env::load(&dir, "current", Config::new())
            .unwrap()
            .with_provider(leases.clone(), String::new());
        let planned = Ipv4Addr::new(192, 168, 201, 2);
        let address = env.lease_lookup("vm0").unwrap();
        // no lease yet: the address init planned on the management net
        assert_eq!(address(), Some(IpAddr::V4(planned)));
        // the lease of vm0's management NIC, asked for on each call
        let leased = Ipv4Addr::new(192, 168, 201, 77);
        let key = (
            env.vm_libvirt_name("vm0"),
            crate::plan::ipv4_to_mac(planned),
        );
        leases.0.lock().insert(key, leased);
        assert_eq!(address(), Some(IpAddr::V4(leased)));
        // another VM's lease is not vm0's
        let other = env.lease_lookup("vm1").unwrap();
        assert_eq!(other(), Some(IpAddr::V4(Ipv4Addr::new(192, 168, 201, 3))));
        assert_eq!(
            env.lease_lookup("nope").err().map(|e| e.kind()),
            Some(ErrorKind::NotFound)
        );
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
