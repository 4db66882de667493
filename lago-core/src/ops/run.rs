//! Running a prefix: start its nets and VMs, stop them, ask after their
//! state. Starting what runs and stopping what is down are no-ops.
//!
//! `start` makes the nets first, then every VM in parallel; if anything
//! fails, what this call started is stopped again, so a failed start leaves
//! the environment as it found it. Before a VM starts, every image it uses
//! is checked to be reachable by the user qemu runs as (Lago's most reported
//! failure was an image under a folder qemu cannot search).

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use tracing::{info, warn};

use crate::disk;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::parallel;
use crate::prefix::naming;
use crate::prefix::render;
use crate::prefix::state::{PrefixState, VmState as VmSpec};
use crate::provider::{Provider, VmState};
use crate::xml::{self, DomainType};

/// The VMs named in `names` (all when empty), checked to exist.
pub fn select<'a>(state: &'a PrefixState, names: &[String]) -> Result<Vec<&'a VmSpec>> {
    if names.is_empty() {
        return Ok(state.vms.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            state.vm(n).ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "no VM '{n}' in prefix {} (VMs: {})",
                        state.paths.prefix_path().display(),
                        state
                            .vms
                            .iter()
                            .map(|v| v.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with_vm(n.clone())
            })
        })
        .collect()
}

/// The images a VM uses: its disks and its NoCloud seed.
fn images(state: &PrefixState, vm: &VmSpec) -> (Vec<std::path::PathBuf>, Option<String>) {
    let mut paths: Vec<_> = vm
        .disks()
        .iter()
        .map(|d| state.paths.expand(&d.path))
        .collect();
    let seed = vm
        .spec
        .nocloud_seed
        .as_deref()
        .map(|s| state.paths.expand(s).to_string_lossy().into_owned());
    if let Some(s) = &seed {
        paths.push(s.into());
    }
    (paths, seed)
}

/// A free virtio target for the seed disk, after the VM's own.
fn seed_dev(vm: &VmSpec) -> String {
    let used: HashSet<String> = vm.disks().into_iter().map(|d| d.dev).collect();
    ('b'..='z')
        .rev()
        .map(|c| format!("vd{c}"))
        .find(|d| !used.contains(d))
        .unwrap_or_else(|| "vdz".into())
}

/// The state of each VM (Lago's strings: `running`, `down`, …).
pub fn vm_states(state: &PrefixState, provider: &dyn Provider) -> Result<Vec<(String, VmState)>> {
    state
        .vms
        .iter()
        .map(|vm| {
            let s = provider.vm_state(&naming::domain_name(&state.uuid, &vm.name))?;
            Ok((vm.name.clone(), s))
        })
        .collect()
}

/// Starts the nets the chosen VMs need, then the VMs, in parallel. Returns
/// the names of the VMs this call started.
pub fn start(
    state: &PrefixState,
    provider: &dyn Provider,
    domain_type: DomainType,
    host_vendor: Option<&str>,
    names: &[String],
) -> Result<Vec<String>> {
    let vms = select(state, names)?;
    let mut to_start = Vec::new();
    for vm in &vms {
        let libvirt_name = naming::domain_name(&state.uuid, &vm.name);
        if provider.vm_state(&libvirt_name)?.is_running() {
            info!(vm = %vm.name, "already running");
            continue;
        }
        let (paths, seed) = images(state, vm);
        for p in &paths {
            let volume = state
                .host
                .as_ref()
                .and_then(|h| Some((h, h.volume(&state.paths, p)?)));
            let there = match volume {
                Some((h, v)) => provider.volume_capacity(&h.pool, &v)?.is_some(),
                None => p.exists(),
            };
            if !there {
                let on = match &state.host {
                    Some(h) => format!(" (on {})", h.name()),
                    None => String::new(),
                };
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "VM '{}': its image {}{on} does not exist",
                        vm.name,
                        p.display()
                    ),
                ));
            }
            if state.host.is_none() {
                disk::check_qemu_can_reach(p)?;
            }
        }
        let extra: Vec<(String, String)> = seed
            .into_iter()
            .map(|s| (render::host_path(state, Path::new(&s)), seed_dev(vm)))
            .collect();
        let dom = render::domain(state, vm, domain_type, host_vendor, &extra);
        to_start.push((vm.name.clone(), xml::domain_xml(&dom)));
    }

    let started_nets = start_nets(state, provider, &vms)?;
    if let Err(e) = crate::owner::phase("start:nets") {
        undo(provider, &[], &started_nets);
        return Err(e);
    }

    let results: Vec<(String, Result<()>)> = to_start
        .iter()
        .map(|(vm, _)| vm.clone())
        .zip(parallel::map(&to_start, "starting a VM", |(_, xml)| {
            provider.create_vm(xml).map_err(Error::from)
        }))
        .collect();
    let started: Vec<String> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(v, _)| v.clone())
        .collect();
    if let Some((vm, Err(e))) = results.into_iter().find(|(_, r)| r.is_err()) {
        let doms: Vec<String> = started
            .iter()
            .map(|v| naming::domain_name(&state.uuid, v))
            .collect();
        undo(provider, &doms, &started_nets);
        let message = format!("cannot start VM '{vm}': {}", e.full_message());
        return Err(e.wrap(message).with_vm(vm));
    }
    for vm in &started {
        info!(vm = %vm, "VM started");
    }
    if let Err(e) = crate::owner::phase("start:domains") {
        let doms: Vec<String> = started
            .iter()
            .map(|v| naming::domain_name(&state.uuid, v))
            .collect();
        undo(provider, &doms, &started_nets);
        return Err(e);
    }
    Ok(started)
}

/// Starts the nets that `vms` use and are not active; returns the libvirt
/// names of those it started (on a failure, these are stopped again).
pub fn start_nets(
    state: &PrefixState,
    provider: &dyn Provider,
    vms: &[&VmSpec],
) -> Result<Vec<String>> {
    let wanted: HashSet<String> = vms
        .iter()
        .flat_map(|v| v.nics().into_iter().map(|n| n.net))
        .collect();
    let mut started_nets = Vec::new();
    for net in state.nets.iter().filter(|n| wanted.contains(&n.name)) {
        let name = naming::network_name(&state.uuid, &net.name);
        let made = provider.network_active(&name).and_then(|active| {
            if active {
                Ok(false)
            } else {
                provider
                    .create_network(&xml::network_xml(&render::network(state, net)))
                    .map(|()| true)
            }
        });
        match made {
            Ok(false) => {}
            Ok(true) => {
                info!(net = %net.name, libvirt = %name, "network started");
                started_nets.push(name);
            }
            Err(e) => {
                undo(provider, &[], &started_nets);
                return Err(e.into());
            }
        }
    }
    Ok(started_nets)
}

fn undo(provider: &dyn Provider, domains: &[String], nets: &[String]) {
    for d in domains {
        if let Err(e) = provider.destroy_vm(d) {
            warn!(domain = %d, error = %e, "cannot stop a VM of the failed start");
        }
    }
    for n in nets {
        if let Err(e) = provider.destroy_network(n) {
            warn!(network = %n, error = %e, "cannot stop a network of the failed start");
        }
    }
}

/// Stops the chosen VMs at once (in parallel), then every net of the prefix
/// no running VM of it uses any more.
pub fn stop(state: &PrefixState, provider: &dyn Provider, names: &[String]) -> Result<()> {
    stop_vms(state, provider, names)?;
    stop_unused_nets(state, provider)
}

/// Stops the chosen VMs (all when empty) at once, in parallel.
pub fn stop_vms(state: &PrefixState, provider: &dyn Provider, names: &[String]) -> Result<()> {
    let vms = select(state, names)?;
    parallel::each(&vms, "stopping a VM", |vm| {
        provider
            .destroy_vm(&naming::domain_name(&state.uuid, &vm.name))
            .map_err(Error::from)
    })
}

/// Stops every net of the prefix no running VM of it uses.
pub fn stop_unused_nets(state: &PrefixState, provider: &dyn Provider) -> Result<()> {
    let mut in_use: HashSet<String> = HashSet::new();
    for (vm, s) in vm_states(state, provider)? {
        if s.is_running()
            && let Some(v) = state.vm(&vm)
        {
            in_use.extend(v.nics().into_iter().map(|n| n.net));
        }
    }
    for net in state.nets.iter().filter(|n| !in_use.contains(&n.name)) {
        provider.destroy_network(&naming::network_name(&state.uuid, &net.name))?;
    }
    Ok(())
}

/// Shuts VM `vm` (libvirt name `domain`) down cleanly, or reboots it: ACPI
/// through libvirt, falling back to `poweroff`/`reboot` in the guest
/// (`ask_guest(command, time limit)`, which fails only when the guest cannot
/// be reached at all) when libvirt refuses or the guest has not reacted
/// after half of `timeout`. Waits at most `timeout` for it to go down (not
/// on reboot). A VM that is not running is left alone. An interrupt
/// ([`crate::cancel`]) ends the wait (the VM may still be going down).
pub fn shutdown_vm(
    provider: &dyn Provider,
    vm: &str,
    domain: &str,
    reboot: bool,
    timeout: Duration,
    ask_guest: &dyn Fn(&str, Duration) -> Result<()>,
) -> Result<()> {
    if !provider.vm_state(domain)?.is_running() {
        return Ok(());
    }
    let command = if reboot { "reboot" } else { "poweroff" };
    let acpi = if reboot {
        provider.reboot_vm(domain)
    } else {
        provider.shutdown_vm(domain)
    };
    let mut used_ssh = false;
    if let Err(e) = acpi {
        info!(vm, error = %e, "ACPI request refused, asking the guest over SSH");
        ask_guest(command, Duration::from_secs(30))?;
        used_ssh = true;
    }
    if reboot {
        return Ok(());
    }
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        crate::cancel::check(&format!("waiting for VM '{vm}' to shut down"))?;
        if !provider.vm_state(domain)?.is_running() {
            info!(vm, took = ?start.elapsed(), "VM shut down");
            return Ok(());
        }
        if !used_ssh && start.elapsed() > timeout / 2 {
            info!(vm, "no reaction to ACPI, asking the guest over SSH");
            ask_guest(command, Duration::from_secs(10)).ok();
            used_ssh = true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(Error::new(
        ErrorKind::Timeout,
        format!("VM '{vm}' did not shut down within {timeout:?} (ACPI, then {command} over SSH)"),
    ))
}
