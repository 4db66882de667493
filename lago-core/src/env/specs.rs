//! What a front end may read from the host and write back into the specs,
//! and one network on its own: the host CPU as libvirt describes it (Lago's
//! `cpu_model` / `cpu_vendor` fall back to it), a whole VM or net spec a
//! plugin changed (Lago's `vm.save()`, `net.add_mapping()`), written in the
//! prefix's format, and starting or stopping one net (`net.start()`).

use serde_json::{Map, Value};

use super::Env;
use crate::error::{Error, ErrorKind, Result};
use crate::prefix::state::{NetRecord, Ordered, VmRecord};
use crate::prefix::{layout, naming, render};
use crate::xml;

/// The host CPU: libvirt's `<host><cpu><model>` and `<vendor>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostCpu {
    /// The model (`Skylake-Client-IBRS`, …), if libvirt names one.
    pub model: Option<String>,
    /// The vendor (`Intel`, `AMD`), if libvirt names one.
    pub vendor: Option<String>,
}

/// The text of the first `<tag>` inside the `<host><cpu>` of a
/// capabilities document.
fn host_cpu_field(capabilities: &str, tag: &str) -> Option<String> {
    let host = capabilities.split("<host>").nth(1)?;
    let cpu = host.split("<cpu>").nth(1)?.split("</cpu>").next()?;
    let open = format!("<{tag}");
    let rest = cpu.split(&open).nth(1)?;
    let text = rest.split_once('>')?.1.split('<').next()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

impl Env {
    /// The host CPU as the libvirt connection describes it.
    pub fn host_cpu(&self) -> Result<HostCpu> {
        let caps = &self.backend()?.capabilities;
        Ok(HostCpu {
            model: host_cpu_field(caps, "model"),
            vendor: render::host_cpu_vendor(caps).or_else(|| host_cpu_field(caps, "vendor")),
        })
    }

    /// Replaces VM `vm`'s spec with `spec` and writes `virt/vm-<vm>` (as
    /// Lago's `vm.save()` does with the spec a plugin changed). The spec
    /// must be an object whose `name` is the VM's.
    pub fn save_vm_spec(&self, vm: &str, spec: Map<String, Value>) -> Result<()> {
        let spec: Ordered<VmRecord> = Ordered::from_map(spec).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("the spec to save for VM '{vm}' is not a VM spec: {e}"),
            )
        })?;
        if spec.name.as_deref() != Some(vm) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("the spec to save for VM '{vm}' must have \"name\": \"{vm}\""),
            ));
        }
        let mut state = self.state.write();
        let path = state.paths.virt_vm(vm);
        let slot = state
            .vms
            .iter_mut()
            .find(|v| v.name == vm)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no VM named '{vm}'")))?;
        layout::write_json(&path, &spec).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "cannot save the spec of VM '{vm}' ({}): {e}",
                    path.display()
                ),
            )
        })?;
        slot.spec = spec;
        Ok(())
    }
}

impl Env {
    fn net_state(&self, net: &str) -> Result<crate::prefix::state::NetState> {
        let state = self.state.read();
        state
            .nets
            .iter()
            .find(|n| n.name == net)
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "no network '{net}' (networks: {})",
                        state
                            .nets
                            .iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    /// Replaces net `net`'s spec with `spec` and writes `virt/net-<net>`;
    /// the next start of the net uses it (e.g. its `mapping` for DNS).
    pub fn save_net_spec(&self, net: &str, spec: Map<String, Value>) -> Result<()> {
        self.net_state(net)?;
        let spec: Ordered<NetRecord> = Ordered::from_map(spec).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("the spec to save for network '{net}' is not a network spec: {e}"),
            )
        })?;
        let mut state = self.state.write();
        let path = state.paths.virt_net(net);
        layout::write_json(&path, &spec).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "cannot save the spec of network '{net}' ({}): {e}",
                    path.display()
                ),
            )
        })?;
        if let Some(slot) = state.nets.iter_mut().find(|n| n.name == net) {
            slot.spec = spec;
        }
        Ok(())
    }

    /// Starts net `net` alone; false if it was up already.
    pub fn start_net(&self, net: &str) -> Result<bool> {
        let spec = self.net_state(net)?;
        let provider = self.provider()?;
        let state = self.state.read();
        let name = naming::network_name(&state.uuid, net);
        if provider.network_active(&name)? {
            return Ok(false);
        }
        provider.create_network(&xml::network_xml(&render::network(&state, &spec)))?;
        Ok(true)
    }

    /// Stops net `net` (nothing happens if it is down). VMs still attached
    /// lose it: stop them first.
    pub fn stop_net(&self, net: &str) -> Result<()> {
        self.net_state(net)?;
        let name = naming::network_name(&self.uuid(), net);
        Ok(self.provider()?.destroy_network(&name)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: &str = "<capabilities><host><uuid>x</uuid><cpu><arch>x86_64</arch>\
        <model>Skylake-Client-IBRS</model><vendor>Intel</vendor>\
        <topology sockets='1'/></cpu></host><guest><cpu><model>other</model></cpu></guest>\
        </capabilities>";

    #[test]
    fn host_cpu_fields() {
        assert_eq!(
            host_cpu_field(CAPS, "model").as_deref(),
            Some("Skylake-Client-IBRS")
        );
        assert_eq!(host_cpu_field(CAPS, "vendor").as_deref(), Some("Intel"));
        assert_eq!(host_cpu_field(CAPS, "nope"), None);
        assert_eq!(host_cpu_field("<capabilities/>", "model"), None);
        let attr = "<host><cpu><model fallback='forbid'>EPYC</model></cpu></host>";
        assert_eq!(host_cpu_field(attr, "model").as_deref(), Some("EPYC"));
    }

    #[test]
    fn save_checks_the_name_and_writes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let env = crate::env::fixture_copy_on_test_driver(dir.path(), CAPS);
        let mut spec = env.state().vm("vm0").unwrap().spec.to_map();
        spec.insert("lago-plugin-key".into(), Value::from("kept"));
        let err = env.save_vm_spec("vm1", spec.clone()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        env.save_vm_spec("vm0", spec).unwrap();
        let again = Env::load(
            &dir.path().join("w"),
            "current",
            crate::config::Config::new(),
        )
        .unwrap();
        assert_eq!(
            again.state().vm("vm0").unwrap().spec.extra["lago-plugin-key"],
            "kept"
        );
        // one net on its own (the test driver), and its spec saved
        assert!(env.start_net("n1").unwrap());
        assert!(!env.start_net("n1").unwrap());
        let libvirt_n1 = naming::network_name(&env.uuid(), "n1");
        assert!(env.provider().unwrap().network_active(&libvirt_n1).unwrap());
        env.stop_net("n1").unwrap();
        assert!(!env.provider().unwrap().network_active(&libvirt_n1).unwrap());
        assert_eq!(
            env.start_net("nope").unwrap_err().kind(),
            ErrorKind::NotFound
        );
        let mut net = env.state().nets[0].spec.to_map();
        net.insert("lago-plugin-key".into(), Value::from(1));
        let n0 = env.state().nets[0].name.clone();
        env.save_net_spec(&n0, net).unwrap();
        let again = Env::load(
            &dir.path().join("w"),
            "current",
            crate::config::Config::new(),
        )
        .unwrap();
        assert_eq!(again.state().nets[0].spec.extra["lago-plugin-key"], 1);
        let cpu = env.host_cpu().unwrap();
        assert_eq!(cpu.vendor.as_deref(), Some("Intel"));
        assert_eq!(cpu.model.as_deref(), Some("Skylake-Client-IBRS"));
    }
}
