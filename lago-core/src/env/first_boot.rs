//! The first-boot bootstrap of an [`Env`]'s VMs (route `ssh`, see
//! [`crate::bootstrap::firstboot`]): when a VM whose spec still holds a
//! `first-boot` entry is first reached over SSH — by `wait_for_ssh` or by
//! any call that uses the guest — lago logs in with the template's root
//! password, runs the bootstrap script, records what it learned of the
//! template in the store, and removes the entry (and the login password
//! with it) from the VM's spec. Each VM has its own lock, so VMs bootstrap
//! in parallel and two callers of one VM never run the script twice.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::Env;
use crate::bootstrap::firstboot::{FirstBoot, Report};
use crate::bootstrap::{GuestFacts, learned};
use crate::error::{Error, ErrorKind, Result};
use crate::plan::ipv4_to_mac;
use crate::prefix::layout;
use crate::ssh::{SshClient, SshTarget};

/// The spec key of a pending first-boot bootstrap.
pub(crate) const PENDING: &str = "first-boot";

/// Limit on running the bootstrap script once logged in.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The root password set when the VM names none (Lago's).
const DEFAULT_ROOT_PASSWORD: &str = "123456";

/// A pending first boot, as init recorded it.
struct Pending {
    login_password: String,
    template_image: Option<PathBuf>,
}

impl Env {
    /// The first boot VM `vm` still waits for, if any.
    fn pending_first_boot(&self, vm: &str) -> Option<Pending> {
        let state = self.state.read();
        let entry = state.vm(vm)?.spec.first_boot.as_ref()?;
        Some(Pending {
            login_password: entry
                .login_password
                .as_deref()
                .unwrap_or(DEFAULT_ROOT_PASSWORD)
                .to_string(),
            template_image: entry.template_image.as_deref().map(PathBuf::from),
        })
    }

    /// Whether VM `vm` still waits for its first-boot bootstrap.
    pub fn first_boot_pending(&self, vm: &str) -> bool {
        self.pending_first_boot(vm).is_some()
    }

    /// The client to reach VM `vm` before its first-boot bootstrap: its own
    /// client when that logs in as root with the template's password, else
    /// a one-off client that does.
    pub(super) fn first_boot_client(&self, vm: &str) -> Result<Arc<SshClient>> {
        let client = self.ssh_client(vm)?;
        let Some(pending) = self.pending_first_boot(vm) else {
            return Ok(client);
        };
        let target = client.target();
        if target.user == "root" && target.password.as_deref() == Some(&pending.login_password) {
            return Ok(client);
        }
        let mut root = SshTarget {
            user: "root".into(),
            password: Some(pending.login_password),
            ..target
        };
        root.host = client.host();
        Ok(Arc::new(match client.jump() {
            Some(jump) => SshClient::via(root, jump.clone()),
            None => SshClient::new(root),
        }))
    }

    /// The SSH client of VM `vm`, once its first-boot bootstrap (if it
    /// still has one pending) is done: what every call that uses the guest
    /// goes through (front ends too, for calls the env does not wrap).
    pub fn guest(&self, vm: &str) -> Result<Arc<SshClient>> {
        if self.first_boot_pending(vm) {
            let client = self.first_boot_client(vm)?;
            self.run_first_boot(vm, &client)?;
        }
        self.ssh_client(vm)
    }

    /// Runs the first-boot bootstrap of VM `vm` over `client` (logged in as
    /// root), unless another caller did it meanwhile.
    pub(super) fn run_first_boot(&self, vm: &str, client: &SshClient) -> Result<()> {
        let lock = self
            .first_boot_locks
            .lock()
            .entry(vm.to_string())
            .or_default()
            .clone();
        let _one_at_a_time = lock.lock();
        let Some(pending) = self.pending_first_boot(vm) else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let job = self.first_boot_job(vm)?;
        let result = client.exec_stdin(&["sh", "-s"], job.script().as_bytes(), SCRIPT_TIMEOUT)?;
        let stdout = String::from_utf8_lossy(&result.stdout);
        let report = match (result.code, Report::parse(&stdout)) {
            (0, Some(report)) => report,
            (code, _) => {
                return Err(Error::new(
                    ErrorKind::Ssh,
                    format!(
                        "the first-boot bootstrap of VM '{vm}' failed (exit {code}): {}",
                        String::from_utf8_lossy(&result.stderr).trim()
                    ),
                ));
            }
        };
        if let Some(image) = &pending.template_image {
            let facts = GuestFacts {
                cloud_init: report.cloud_init,
            };
            if let Err(e) = learned::record(image, facts) {
                warn!(image = %image.display(), error = %e, "cannot record what the first boot learned");
            }
        }
        // Killed or interrupted here, the entry stays and the next use of
        // the VM runs the script again: it is idempotent, and the prefix's
        // key (added before the password changes) still lets lago in.
        crate::owner::phase("start:bootstrap")?;
        self.first_boot_done(vm)?;
        info!(
            vm,
            cloud_init = report.cloud_init,
            seed_applied = report.key_was_there,
            took = ?started.elapsed(),
            "bootstrapped over SSH at first boot"
        );
        Ok(())
    }

    /// What VM `vm` gets at its first boot.
    fn first_boot_job(&self, vm: &str) -> Result<FirstBoot> {
        let key_file = self.paths.ssh_id_rsa_pub();
        let authorized_key = std::fs::read_to_string(&key_file).map_err(|e| {
            Error::with_source(
                ErrorKind::Io,
                format!("cannot read the prefix's key {}", key_file.display()),
                e,
            )
        })?;
        let state = self.state.read();
        let spec = crate::ops::run::select(&state, &[vm.to_string()])?[0];
        let password = spec.root_password();
        Ok(FirstBoot {
            hostname: vm.to_string(),
            authorized_key,
            root_password: Some(if password.is_empty() {
                DEFAULT_ROOT_PASSWORD.to_string()
            } else {
                password
            }),
            distro: spec.distro(),
            nics: spec
                .nics()
                .iter()
                .enumerate()
                .filter_map(|(i, nic)| Some((format!("eth{i}"), ipv4_to_mac(nic.ip?))))
                .collect(),
        })
    }

    /// Removes the pending entry from VM `vm`'s spec, in memory and on disk.
    fn first_boot_done(&self, vm: &str) -> Result<()> {
        let mut state = self.state.write();
        let path = state.paths.virt_vm(vm);
        if let Some(spec) = state.vms.iter_mut().find(|v| v.name == vm) {
            spec.spec.first_boot = None;
            spec.spec.forget_key(PENDING);
            layout::write_json(&path, &spec.spec)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;
    use crate::env::Env;

    /// A first boot killed after its script changed the root password
    /// (and so after it added the prefix's key) is run again by the next
    /// use of the VM: the client it logs in with still offers the key
    /// first, so the changed password does not lock lago out.
    #[test]
    fn the_first_boot_client_offers_the_prefix_key_before_the_template_password() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream-workdir");
        let env = Env::load(&dir, "current", Config::new()).unwrap();
        {
            let mut state = env.state.write();
            let vm = state.vms.iter_mut().find(|v| v.name == "vm0").unwrap();
            vm.spec.first_boot = Some(
                serde_json::from_value(serde_json::json!({"login-password": "template-pw"}))
                    .unwrap(),
            );
        }
        assert!(env.first_boot_pending("vm0"));
        let target = env.first_boot_client("vm0").unwrap().target();
        assert_eq!(target.user, "root");
        assert_eq!(target.password.as_deref(), Some("template-pw"));
        assert_eq!(
            target.key.as_deref(),
            Some(env.paths.ssh_id_rsa().as_path())
        );
    }
}
