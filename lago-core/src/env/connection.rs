//! How an [`Env`] reaches its provider: the libvirt connection opened on
//! first use (URI and credentials from the configuration), the host's
//! capabilities, and the domain type its VMs run with.
//!
//! The connection outlives a libvirtd restart: the provider notices a lost
//! connection on the call that fails with it, reconnects (for up to
//! [`RECONNECT_FOR`](crate::provider::libvirt::RECONNECT_FOR)) and runs the
//! call again, so the `Backend` kept here stays usable for the Env's life.

use std::path::PathBuf;
use std::sync::Arc;

use tracing::info;

use super::{Backend, Env};
use crate::error::{Error, ErrorKind, Result};
use crate::provider::Provider;
use crate::provider::auth::Credentials;
use crate::provider::domain_type::{self, DomainTypeSetting};
use crate::provider::libvirt::{DEFAULT_URI, Libvirt};
use crate::ssh::JumpHost;
use crate::xml::DomainType;

impl Env {
    pub(super) fn backend(&self) -> Result<&Backend> {
        if let Some(b) = self.backend.get() {
            return Ok(b);
        }
        // a prefix on a remote host talks to that host, whatever the
        // configuration says now
        let recorded = self.state.read().host.as_ref().map(|h| h.uri.clone());
        let uri = recorded
            .as_deref()
            .or_else(|| self.config.get("libvirt_url"))
            .unwrap_or(DEFAULT_URI);
        let lv = Libvirt::connect_with(uri, &Credentials::from_config(&self.config))
            .map_err(|e| on_host(Error::from(e), recorded.as_deref()))?;
        let capabilities = lv.capabilities()?;
        let _ = self.backend.set(Backend {
            provider: Arc::new(lv),
            capabilities,
        });
        self.backend
            .get()
            .ok_or_else(|| Error::new(ErrorKind::Internal, "libvirt connection vanished"))
    }

    /// The SSH connection guests are reached through, for a prefix on a
    /// remote host; `None` on this machine.
    pub(crate) fn jump_host(&self) -> Result<Option<Arc<JumpHost>>> {
        let Some(uri) = self.state.read().host.as_ref().map(|h| h.uri.clone()) else {
            return Ok(None);
        };
        if let Some(j) = self.jump.get() {
            return Ok(Some(j.clone()));
        }
        let target = crate::host::jump_target(&uri, &self.config)?;
        let _ = self.jump.set(Arc::new(JumpHost::new(target)));
        Ok(self.jump.get().cloned())
    }

    /// `err`, a failure talking to VM `vm` over SSH, saying first that the
    /// VM is not running any more when that is why (its domain was
    /// destroyed, crashed or powered off while lago used it); otherwise
    /// `err` as it is.
    pub(super) fn if_vm_stopped(&self, vm: &str, err: Error) -> Error {
        match self.vm_state(vm) {
            Ok(state) if !state.is_running() => err
                .wrap(format!("VM '{vm}' is not running any more ({state})"))
                .with_vm(vm),
            _ => err,
        }
    }

    /// Where the prefix's images live: files here, or volumes on its host.
    pub fn images(&self) -> Result<crate::host::Images> {
        let host = self.state.read().host.clone();
        Ok(crate::host::Images::new(
            host.as_ref(),
            self.provider()?,
            &self.paths,
        ))
    }

    /// The libvirt URI the prefix runs on: its remote host's, else the
    /// configured one.
    pub fn libvirt_uri(&self) -> String {
        self.state
            .read()
            .host
            .as_ref()
            .map(|h| h.uri.clone())
            .or_else(|| self.config.get("libvirt_url").map(str::to_string))
            .unwrap_or_else(|| DEFAULT_URI.to_string())
    }

    /// The console log of every VM (`<prefix>/logs/<vm>.console.log`) that
    /// exists, by VM. On a remote host the logs are written there (in the
    /// pool): each is fetched into that file first.
    pub fn console_logs(&self) -> Result<Vec<(String, PathBuf)>> {
        let host = self.state.read().host.clone();
        let logs = self.paths.logs();
        let mut out = Vec::new();
        for vm in self.vm_names() {
            let local = logs.join(format!("{vm}.console.log"));
            if let Some(h) = &host {
                let volume = format!("{}console-{vm}.log", h.volume_prefix);
                let fetched = self
                    .provider()?
                    .download_volume(&h.pool, &volume, &local)
                    .map_err(|e| {
                        Error::from(e).wrap(format!(
                            "cannot fetch the console log of VM '{vm}' from {}",
                            h.uri
                        ))
                    })?;
                if fetched.is_none() {
                    continue;
                }
            }
            if local.is_file() {
                out.push((vm, local));
            }
        }
        Ok(out)
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
            &probe_cache(self.state.read().host.as_ref().map(|h| h.uri.as_str())),
            probe_disk.as_deref(),
        )?;
        if setting == DomainTypeSetting::Auto {
            info!(domain_type = t.as_str(), "domain type chosen");
        }
        let _ = self.domain_type.set(t);
        Ok(t)
    }
}

/// `err` (a failure to reach the libvirt of a prefix's remote host, when
/// `host` is its URI) saying which host the prefix runs on.
fn on_host(err: Error, host: Option<&str>) -> Error {
    match host {
        Some(uri) => err.wrap(format!(
            "this environment runs on the libvirt host {uri}, which cannot be reached"
        )),
        None => err,
    }
}

/// Where the KVM probe's answer for this machine's libvirt, or for the
/// remote host `uri`, is cached.
fn probe_cache(uri: Option<&str>) -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let file = match uri.and_then(crate::host::HostUri::parse) {
        Some(u) => format!("kvm-probe-{}", u.host.replace(['/', ':'], "_")),
        None => "kvm-probe".to_string(),
    };
    base.join("lago").join(file)
}

#[cfg(test)]
mod tests {
    use crate::error::{Error, ErrorKind};

    #[test]
    fn an_ssh_failure_of_a_vm_that_went_down_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let env = crate::env::fixture_copy_on_test_driver(dir.path(), "<capabilities/>");
        // vm0 has no domain on the test driver: it is down
        let failed = Error::new(ErrorKind::Timeout, "copy_to a -> b: timed out after 60.0s");
        let err = env.if_vm_stopped("vm0", failed);
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(err.vm(), Some("vm0"));
        assert_eq!(
            err.full_message(),
            "VM 'vm0' is not running any more (down): copy_to a -> b: timed out after 60.0s"
        );
        // a VM lago cannot ask about: the error as it was
        let failed = Error::new(ErrorKind::Ssh, "connect: refused");
        let err = env.if_vm_stopped("nope", failed);
        assert_eq!(err.full_message(), "connect: refused");
    }
}
