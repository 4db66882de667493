//! `destroy`: stop what runs, release the subnet leases, remove the prefix
//! folder (and the workdir with its last prefix). Nothing outside the
//! prefix folder is deleted but this prefix's own lease files.
//!
//! Destroy is the repair command, so once past its `destroy:locked` phase
//! it finishes: an interrupt is not checked at `destroy:stopped` and
//! `destroy:released` (they are pause points for the fault tests only). It
//! records itself in the prefix ([`crate::prefix::journal`]) before it
//! stops anything, and from the release of the leases on the record stays
//! when it fails, so a destroy that was killed or failed is finished by the
//! next `lago destroy -y` and no other verb uses the half-destroyed prefix.
//! The folder goes by a rename to a trash name first (see
//! [`Workdir::remove_prefix`]).

use tracing::info;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::host::HostRecord;
use crate::lease::SubnetStore;
use crate::ops::run;
use crate::owner;
use crate::prefix::journal;
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
    let host = HostRecord::read(&paths).ok().flatten();
    if let (Some(h), None) = (&host, provider) {
        return Err(Error::new(
            ErrorKind::Libvirt,
            format!(
                "environment '{name}' runs on the libvirt host {}, which cannot be reached: its \
                 VMs, nets and volumes there cannot be removed, so nothing was; run `lago \
                 destroy` again once the host is back",
                h.uri
            ),
        ));
    }
    let pending = journal::begin(
        &paths,
        journal::Pending::Destroy {
            name: name.to_string(),
        },
    )?;
    // a half-made or broken prefix is still removed; only what can be read is stopped
    let state = PrefixState::load(&paths).ok();
    if let (Some(state), Some(provider)) = (&state, provider) {
        run::stop(state, provider, &[])?;
    }
    if let (Some(h), Some(provider)) = (&host, provider) {
        let removed = h.remove_volumes(provider)?;
        info!(host = %h.uri, pool = %h.pool, volumes = removed, "volumes removed from the host");
    }
    owner::test_pause("destroy:stopped");
    let lease_dir = config
        .get("lease_dir")
        .ok_or_else(|| Error::new(ErrorKind::Config, "configuration has no [lago] lease_dir"))?;
    let lease_dir = match &host {
        Some(h) => crate::host::lease_dir(std::path::Path::new(lease_dir), &h.uri),
        None => std::path::PathBuf::from(lease_dir),
    };
    let released = SubnetStore::new(lease_dir).release_all_of(&paths.uuid())?;
    for subnet in &released {
        info!(%subnet, "subnet lease released");
    }
    // from here the prefix has no lease: only a destroy may go on with it
    pending.keep();
    owner::test_pause("destroy:released");
    workdir.remove_prefix(name)?;
    info!(prefix = %paths.prefix_path().display(), "prefix destroyed");
    Ok(())
}
