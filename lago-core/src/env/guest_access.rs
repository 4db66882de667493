//! How an [`Env`] reaches its guests: one kept SSH client per VM, the wait
//! for a booting VM (driven by its DHCP lease, bounded by its boot time),
//! and commands, interactive sessions and copies in a VM. SSH errors come
//! back naming the VM.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info};

use super::Env;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::parallel;
use crate::ops::run;
use crate::prefix::state::Scalar;
use crate::ssh::{CopyStats, ExecResult, SshClient, SshTarget};

impl Env {
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
        drop(state);
        let client = Arc::new(match self.jump_host()? {
            Some(jump) => SshClient::via(target, jump),
            None => SshClient::new(target),
        });
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
        let took = wait_in_slices(vm, &client, timeout, &address)?;
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
        (self.guest(vm)?.copy_to(local, remote)).map_err(|e| self.if_vm_stopped(vm, for_vm(vm)(e)))
    }

    /// Copies a file or tree out of VM `vm`.
    pub fn copy_from(&self, vm: &str, remote: &Path, local: &Path) -> Result<CopyStats> {
        (self.guest(vm)?.copy_from(remote, local))
            .map_err(|e| self.if_vm_stopped(vm, for_vm(vm)(e)))
    }
}

/// How long one slice of a wait for SSH lasts: an interrupt is seen
/// between slices.
const WAIT_SLICE: Duration = Duration::from_secs(10);

/// `client.wait_for_ssh_from(timeout, address)` in slices of
/// [`WAIT_SLICE`], checking for an interrupt ([`crate::cancel`]) before
/// each; a slice's time-out only ends the wait when the whole `timeout` is
/// spent (and then says how long the whole wait took).
fn wait_in_slices(
    vm: &str,
    client: &SshClient,
    timeout: Duration,
    address: &dyn Fn() -> Option<IpAddr>,
) -> Result<Duration> {
    let start = std::time::Instant::now();
    // progress (in seconds of the time allowed, unit "items") only once a
    // first slice has passed: a VM that answers at once shows nothing
    let mut progress: Option<crate::progress::Progress> = None;
    loop {
        crate::cancel::check(&format!("waiting for VM '{vm}' to answer SSH"))?;
        let left = timeout.saturating_sub(start.elapsed());
        match client.wait_for_ssh_from(left.min(WAIT_SLICE), address) {
            Ok(_) => {
                if let Some(p) = progress.take() {
                    p.finish();
                }
                return Ok(start.elapsed());
            }
            Err(crate::ssh::SshError::Timeout { .. }) if left > WAIT_SLICE => {
                progress
                    .get_or_insert_with(|| {
                        crate::progress::Progress::items(
                            format!("waiting for VM '{vm}' to answer SSH"),
                            timeout.as_secs(),
                        )
                    })
                    .set(start.elapsed().as_secs());
            }
            Err(crate::ssh::SshError::Timeout {
                target, op, detail, ..
            }) => {
                return Err(for_vm(vm)(crate::ssh::SshError::Timeout {
                    target,
                    op,
                    after: start.elapsed(),
                    detail,
                }));
            }
            Err(e) => return Err(for_vm(vm)(e)),
        }
    }
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
    use crate::config::Config;
    use crate::provider::{Provider, ProviderError, VmState};
    use parking_lot::Mutex;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

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
}
