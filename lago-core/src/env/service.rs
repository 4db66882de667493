//! Services in an env's VMs (Lago's `vm.service(name)`, `guest_agent()`,
//! `has_guest_agent()`): the guest's service manager is detected once over
//! SSH and kept in the VM's spec as `service_provider`; the guest agent's
//! service name (`qemu-guest-agent` or `qemu-ga`) as `guest-agent`. Both are
//! written back to `virt/vm-<name>` the way Lago writes specs, so a later
//! run (or Lago itself) reuses them without probing.

use std::sync::Arc;

use tracing::{debug, info};

use super::Env;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::run;
use crate::prefix::layout;
use crate::prefix::state::VmRecord;
use crate::ssh::{ServiceManager, ServiceState, SshClient};

/// The service names Lago tries, in order, for the guest agent.
pub const GUEST_AGENT_SERVICES: [&str; 2] = ["qemu-guest-agent", "qemu-ga"];

/// One service of one VM, driven through the VM's (kept) SSH client.
#[derive(Debug, Clone)]
pub struct VmService {
    client: Arc<SshClient>,
    vm: String,
    name: String,
    manager: ServiceManager,
}

impl VmService {
    /// The service's name in the guest.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The VM it runs in.
    pub fn vm(&self) -> &str {
        &self.vm
    }

    /// The manager it is driven through (`systemd`, `sysvinit`).
    pub fn manager(&self) -> ServiceManager {
        self.manager
    }

    /// Its current state.
    pub fn state(&self) -> Result<ServiceState> {
        Ok(self
            .client
            .service_with(&self.name, self.manager)?
            .state()?)
    }

    /// Whether it exists in the guest.
    pub fn exists(&self) -> Result<bool> {
        Ok(self.state()? != ServiceState::Missing)
    }

    /// Whether it is running.
    pub fn alive(&self) -> Result<bool> {
        Ok(self.state()? == ServiceState::Active)
    }

    /// Starts it; a missing service is a [`ErrorKind::NotFound`] error.
    pub fn start(&self) -> Result<()> {
        info!(vm = %self.vm, service = %self.name, "starting service");
        Ok(self
            .client
            .service_with(&self.name, self.manager)?
            .start()?)
    }

    /// Stops it; a missing service is a [`ErrorKind::NotFound`] error.
    pub fn stop(&self) -> Result<()> {
        info!(vm = %self.vm, service = %self.name, "stopping service");
        Ok(self.client.service_with(&self.name, self.manager)?.stop()?)
    }
}

impl Env {
    /// Sets the field `field` picks to `value` in VM `vm`'s spec and writes
    /// `virt/vm-<vm>`.
    fn persist_vm_field(
        &self,
        vm: &str,
        field: fn(&mut VmRecord) -> &mut Option<String>,
        value: &str,
    ) -> Result<()> {
        let mut state = self.state.write();
        let path = state.paths.virt_vm(vm);
        let spec = state
            .vms
            .iter_mut()
            .find(|v| v.name == vm)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no VM named '{vm}'")))?;
        let slot = field(&mut spec.spec);
        if slot.as_deref() == Some(value) {
            return Ok(());
        }
        *slot = Some(value.to_string());
        layout::write_json(&path, &spec.spec).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "cannot save the spec of VM '{vm}' ({}): {e}",
                    path.display()
                ),
            )
        })
    }

    fn stored_field(
        &self,
        vm: &str,
        field: fn(&VmRecord) -> &Option<String>,
    ) -> Result<Option<String>> {
        let state = self.state.read();
        let spec = run::select(&state, &[vm.to_string()])?[0];
        Ok(field(&spec.spec).clone())
    }

    fn require_running(&self, vm: &str) -> Result<()> {
        if self.vm_state(vm)?.is_running() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::InvalidInput,
                format!("VM '{vm}' is not running: start it first"),
            ))
        }
    }

    /// The service manager of VM `vm`: `spec['service_provider']` when the
    /// spec has a known one, else detected over SSH and persisted there.
    /// A guest with neither systemd nor SysV init is an error (Lago's "No
    /// service provider detected").
    pub fn service_provider(&self, vm: &str) -> Result<ServiceManager> {
        if let Some(name) = self.stored_field(vm, |r| &r.service_provider)? {
            if let Some(manager) = ServiceManager::from_name(&name) {
                return Ok(manager);
            }
            debug!(vm, provider = %name, "unknown stored service provider: detecting again");
        }
        self.require_running(vm)?;
        let manager = self.guest(vm)?.service_manager()?.ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "No service provider detected for VM '{vm}' (neither systemd nor SysV init)"
                ),
            )
        })?;
        info!(vm, provider = manager.name(), "detected service provider");
        self.persist_vm_field(vm, |r| &mut r.service_provider, manager.name())?;
        Ok(manager)
    }

    /// Service `name` of VM `vm` (Lago's `vm.service(name)`) under the VM's
    /// [`service_provider`](Env::service_provider); the VM must be running.
    /// The service need not exist: ask [`VmService::state`].
    pub fn service(&self, vm: &str, name: &str) -> Result<VmService> {
        self.require_running(vm)?;
        let manager = self.service_provider(vm)?;
        self.service_with(vm, name, manager)
    }

    /// Service `name` of VM `vm` driven through `manager` (a provider chosen
    /// by the caller, e.g. a Python service plugin class), without detecting
    /// or persisting anything.
    pub fn service_with(&self, vm: &str, name: &str, manager: ServiceManager) -> Result<VmService> {
        let client = self.guest(vm)?;
        // checks the name once, here
        client.service_with(name, manager)?;
        Ok(VmService {
            client,
            vm: vm.to_string(),
            name: name.to_string(),
            manager,
        })
    }

    /// The guest agent's service in VM `vm`, if it has one:
    /// `spec['guest-agent']` if stored and present, else the first of
    /// [`GUEST_AGENT_SERVICES`] that exists, persisted as `guest-agent`.
    fn find_guest_agent(&self, vm: &str) -> Result<Option<VmService>> {
        if let Some(name) = self.stored_field(vm, |r| &r.guest_agent)? {
            let svc = self.service(vm, &name)?;
            if svc.exists()? {
                return Ok(Some(svc));
            }
        }
        for name in GUEST_AGENT_SERVICES {
            let svc = self.service(vm, name)?;
            if svc.exists()? {
                self.persist_vm_field(vm, |r| &mut r.guest_agent, name)?;
                return Ok(Some(svc));
            }
        }
        Ok(None)
    }

    /// The guest agent's service in VM `vm` (Lago's `guest_agent()`); the
    /// name found is persisted as `spec['guest-agent']`. Neither of
    /// [`GUEST_AGENT_SERVICES`] existing is a [`ErrorKind::NotFound`] error.
    pub fn guest_agent(&self, vm: &str) -> Result<VmService> {
        self.find_guest_agent(vm)?.ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "No guest agent service found in VM '{vm}' (tried {})",
                    GUEST_AGENT_SERVICES.join(", ")
                ),
            )
        })
    }

    /// Whether VM `vm` has a guest agent service (Lago's
    /// `has_guest_agent()`); the one found is persisted as `guest-agent`.
    /// Failing to ask (VM down, SSH) is an error, not `false`.
    pub fn has_guest_agent(&self, vm: &str) -> Result<bool> {
        Ok(self.find_guest_agent(vm)?.is_some())
    }
}
