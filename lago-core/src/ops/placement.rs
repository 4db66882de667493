//! Where a new environment runs when the configuration names several
//! libvirt hosts (issue 19's host pool): on the host with the most memory
//! left for it — the host's free memory (`virNodeGetFreeMemory`) minus what
//! lago's environments already running there claim but have not touched
//! yet — among the hosts where it fits. None fitting is an error that names
//! every host and its figures, so the user sees why.
//!
//! [`place`] is pure planning; [`choose`] gathers the figures from the
//! hosts (`[lago] libvirt_hosts`) and connects to the chosen one.

use std::path::Path;
use std::sync::Arc;

use tracing::{info, warn};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::host::{self, HostUri};
use crate::lease::{LeaseStatus, SubnetStore};
use crate::provider::Provider;
use crate::provider::auth::Credentials;
use crate::provider::libvirt::Libvirt;

/// The remote host a new environment runs on.
pub struct Target {
    /// Its libvirt URI.
    pub uri: String,
    /// The storage pool for the environment's images (`[lago] libvirt_pool`).
    pub pool: String,
    /// The connection to it.
    pub provider: Arc<Libvirt>,
}

/// The storage pool lago keeps images in on a remote host.
pub fn pool_name(config: &Config) -> String {
    config
        .get("libvirt_pool")
        .filter(|p| !p.is_empty())
        .unwrap_or("default")
        .to_string()
}

/// The URIs of `[lago] libvirt_hosts` (separated by spaces, commas or
/// lines).
pub fn host_list(config: &Config) -> Vec<String> {
    config
        .get("libvirt_hosts")
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Memory that lago's environments running on `provider` (those holding
/// a subnet lease in `leases`) are given but do not use yet.
fn claimed(provider: &dyn Provider, leases: &SubnetStore) -> Result<u64> {
    let heads: Vec<String> = leases
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.status == LeaseStatus::Valid)
        .filter_map(|e| {
            e.owner
                .map(|o| format!("{}-", o.uuid.chars().take(8).collect::<String>()))
        })
        .collect();
    let mut sum = 0u64;
    for vm in provider.list_vms()? {
        if !heads.iter().any(|h| vm.starts_with(h.as_str())) {
            continue;
        }
        if let Ok(Some((given, rss))) = provider.vm_memory(&vm) {
            sum = sum.saturating_add(given.saturating_sub(rss));
        }
    }
    Ok(sum)
}

/// The remote host environment `env` (needing `need` bytes of memory)
/// runs on: with `[lago] libvirt_hosts`, the one [`place`] picks (a host
/// that cannot be reached is left out, with a warning); else the host of
/// `[lago] libvirt_url` when that is not this machine; `None` for this
/// machine. `lease_base` is `[lago] lease_dir`.
pub fn choose(config: &Config, env: &str, need: u64, lease_base: &Path) -> Result<Option<Target>> {
    let creds = Credentials::from_config(config);
    let pool = pool_name(config);
    let hosts = host_list(config);
    if hosts.is_empty() {
        let uri = config
            .get("libvirt_url")
            .unwrap_or(crate::provider::libvirt::DEFAULT_URI);
        if HostUri::parse(uri).is_none() {
            return Ok(None);
        }
        let provider = Arc::new(Libvirt::connect_with(uri, &creds)?);
        return Ok(Some(Target {
            uri: uri.to_string(),
            pool,
            provider,
        }));
    }
    let mut loads = Vec::new();
    let mut conns = Vec::new();
    let mut unreachable = Vec::new();
    for uri in &hosts {
        let figures = Libvirt::connect_with(uri, &creds)
            .map_err(Error::from)
            .and_then(|lv| {
                let free = lv.host_free_memory()?;
                let leases = SubnetStore::new(host::lease_dir(lease_base, uri));
                let claimed = claimed(&lv, &leases)?;
                Ok((lv, free, claimed))
            });
        match figures {
            Ok((lv, free, claimed)) => {
                loads.push(HostLoad {
                    uri: uri.clone(),
                    free,
                    claimed,
                });
                conns.push(lv);
            }
            Err(e) => {
                warn!(host = %uri, error = %e.full_message(), "libvirt host left out: cannot reach it");
                unreachable.push(format!("{uri} ({})", e.full_message()));
            }
        }
    }
    if loads.is_empty() {
        return Err(Error::new(
            ErrorKind::Libvirt,
            format!(
                "no libvirt host of [lago] libvirt_hosts can be reached to place environment \
                 '{env}' on: {}",
                unreachable.join(", ")
            ),
        ));
    }
    let i = place(&loads, env, need)?;
    let load = &loads[i];
    info!(
        host = %load.uri,
        free_gib = load.free as f64 / f64::from(1u32 << 30),
        claimed_gib = load.claimed as f64 / f64::from(1u32 << 30),
        "environment placed"
    );
    let provider = Arc::new(conns.swap_remove(i));
    if HostUri::parse(&load.uri).is_none() {
        return Ok(None);
    }
    Ok(Some(Target {
        uri: load.uri.clone(),
        pool,
        provider,
    }))
}

/// One candidate host and its memory figures, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLoad {
    /// Its libvirt URI.
    pub uri: String,
    /// Its free memory now.
    pub free: u64,
    /// Memory lago's running environments there are given but do not use
    /// yet (it will not stay free).
    pub claimed: u64,
}

impl HostLoad {
    /// The memory a new environment can count on.
    pub fn room(&self) -> u64 {
        self.free.saturating_sub(self.claimed)
    }
}

/// `bytes` as GiB with one decimal, for messages.
fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// The index in `hosts` of the host for environment `env`, which needs
/// `need` bytes: the one with the most [`HostLoad::room`] among those with
/// at least `need` (the first listed on a tie).
pub fn place(hosts: &[HostLoad], env: &str, need: u64) -> Result<usize> {
    let best = hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.room() >= need)
        .max_by(|(i, a), (j, b)| a.room().cmp(&b.room()).then(j.cmp(i)));
    if let Some((i, _)) = best {
        return Ok(i);
    }
    if hosts.is_empty() {
        return Err(Error::new(
            ErrorKind::Config,
            format!("no libvirt host to place environment '{env}' on: the host list is empty"),
        ));
    }
    let figures: Vec<String> = hosts
        .iter()
        .map(|h| {
            format!(
                "{} ({} free, {} of it claimed by lago's running environments)",
                h.uri,
                gib(h.free),
                gib(h.claimed)
            )
        })
        .collect();
    Err(Error::new(
        ErrorKind::Config,
        format!(
            "no libvirt host has room for environment '{env}', which needs {}: {}",
            gib(need),
            figures.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 1 << 30;

    fn host(uri: &str, free: u64, claimed: u64) -> HostLoad {
        HostLoad {
            uri: uri.into(),
            free,
            claimed,
        }
    }

    #[test]
    fn the_most_room_wins_among_those_that_fit() {
        let hosts = [
            host("qemu+ssh://a/system", 8 * G, 0),
            host("qemu+ssh://b/system", 12 * G, 6 * G),
            host("qemu+ssh://c/system", 10 * G, G),
        ];
        // room: a 8, b 6, c 9
        assert_eq!(place(&hosts, "e", 2 * G).unwrap(), 2);
        assert_eq!(place(&hosts, "e", 9 * G).unwrap(), 2);
        // a tie goes to the first listed
        let tie = [host("a", 4 * G, 0), host("b", 5 * G, G)];
        assert_eq!(place(&tie, "e", G).unwrap(), 0);
    }

    #[test]
    fn none_fitting_names_every_host() {
        let hosts = [
            host("qemu+ssh://a/system", 2 * G, 0),
            host("qemu+ssh://b/system", 4 * G, 3 * G),
        ];
        let e = place(&hosts, "big", 3 * G).unwrap_err();
        assert_eq!(
            e.message(),
            "no libvirt host has room for environment 'big', which needs 3.0 GiB: \
             qemu+ssh://a/system (2.0 GiB free, 0.0 GiB of it claimed by lago's running environments), \
             qemu+ssh://b/system (4.0 GiB free, 3.0 GiB of it claimed by lago's running environments)"
        );
        assert!(
            place(&[], "e", 1)
                .unwrap_err()
                .message()
                .contains("host list is empty")
        );
        // claims larger than what is free leave no room, not an overflow
        assert_eq!(host("x", G, 2 * G).room(), 0);
    }
}
