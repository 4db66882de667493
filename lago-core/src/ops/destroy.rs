//! `destroy`: stop what runs, release the subnet leases, remove the prefix
//! folder (and the workdir with its last prefix). Nothing outside the
//! prefix folder is deleted but this prefix's own lease files.

use tracing::info;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::lease::SubnetStore;
use crate::ops::run;
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
        run::stop(state, provider, &[])?;
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
