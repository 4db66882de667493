//! `destroy`: stop what runs, release the subnet leases, remove the prefix
//! folder (and the workdir with its last prefix). Nothing outside the
//! prefix folder is deleted but this prefix's own lease files.

use tracing::{info, warn};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::lease::SubnetStore;
use crate::prefix::naming;
use crate::prefix::state::PrefixState;
use crate::provider::Provider;
use crate::workdir::Workdir;

/// Destroys prefix `name` of `workdir`. With a provider, its VMs and nets are
/// stopped first (in parallel; those already gone are skipped).
pub fn destroy(
    workdir: &Workdir,
    name: &str,
    config: &Config,
    provider: Option<&dyn Provider>,
) -> Result<()> {
    let paths = workdir.prefix(name)?;
    // a half-made or broken prefix is still removed; only what can be read is stopped
    let state = PrefixState::load(&paths).ok();
    if let (Some(state), Some(provider)) = (&state, provider) {
        stop_all(state, provider)?;
    }
    let lease_dir = config
        .get("lease_dir")
        .ok_or_else(|| Error::new(ErrorKind::Config, "configuration has no [lago] lease_dir"))?;
    let released = SubnetStore::new(lease_dir).release_all_of(&paths.uuid())?;
    for subnet in &released {
        info!(%subnet, "subnet lease released");
    }
    workdir.remove_prefix(name)?;
    info!(prefix = %paths.prefix_path().display(), "prefix destroyed");
    Ok(())
}

/// Stops every VM, then every net, of a prefix; VMs in parallel (a software
/// emulated guest takes about 2 s to destroy).
pub fn stop_all(state: &PrefixState, provider: &dyn Provider) -> Result<()> {
    let errors: Vec<Error> = std::thread::scope(|s| {
        let handles: Vec<_> = state
            .vms
            .iter()
            .map(|vm| {
                let name = naming::domain_name(&state.uuid, &vm.name);
                s.spawn(move || provider.destroy_vm(&name))
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(Error::from(e)),
                Err(_) => Some(Error::new(
                    ErrorKind::Internal,
                    "a thread stopping a VM panicked",
                )),
            })
            .collect()
    });
    if let Some(first) = errors.into_iter().next() {
        return Err(first);
    }
    for net in &state.nets {
        let name = naming::network_name(&state.uuid, &net.name);
        if let Err(e) = provider.destroy_network(&name) {
            warn!(network = %name, error = %e, "cannot stop network");
            return Err(e.into());
        }
    }
    Ok(())
}
