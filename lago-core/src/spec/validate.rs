//! Cross-checks of a read environment: nic networks exist, each VM has
//! exactly one management network, DNS settings sit on management networks,
//! and static IPs are valid, inside their network and not used twice.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::env::EnvSpec;
use super::error::{SpecError, SpecErrorKind};
use super::net::NetSpec;
use super::path::KeyPath;
use super::read::Ctx;

/// Runs every cross-check on `env`; the first failure is returned.
pub(crate) fn validate(env: &EnvSpec, ctx: &Ctx<'_>) -> Result<(), SpecError> {
    check_dns_settings(env, ctx)?;
    check_nics(env, ctx)?;
    check_static_ips(env, ctx)
}

fn nics_path(vm: &str) -> KeyPath {
    KeyPath::root().key("domains").key(vm).key("nics")
}

/// Lago refuses DNS settings on a network that has no `management` key when
/// there is more than one network.
fn check_dns_settings(env: &EnvSpec, ctx: &Ctx<'_>) -> Result<(), SpecError> {
    if env.nets.len() < 2 {
        return Ok(());
    }
    for net in env.nets.values() {
        if net.management || net.management_declared.is_some() {
            continue;
        }
        let key = if net.dns_domain_name.is_some() {
            "dns_domain_name"
        } else if net.main_dns.is_some() {
            "main_dns"
        } else {
            continue;
        };
        let path = KeyPath::root().key("nets").key(&net.name).key(key);
        return Err(ctx
            .error(
                SpecErrorKind::Conflict,
                &path,
                format!(
                    "DNS settings are only supported on management networks, and '{}' is not one",
                    net.name
                ),
            )
            .valid(format!(
                "remove {key}, or mark the network with 'management: true'"
            )));
    }
    Ok(())
}

/// Every nic is on a known network, and each VM has nics on exactly one
/// management network.
fn check_nics(env: &EnvSpec, ctx: &Ctx<'_>) -> Result<(), SpecError> {
    let all_nets = || env.nets.keys().cloned().collect::<Vec<_>>().join(", ");
    let mgmt_nets = env.management_nets().join(", ");
    for vm in env.domains.values() {
        let mut mgmt: Option<(&str, usize)> = None;
        for (i, nic) in vm.nics.iter().enumerate() {
            let path = nics_path(&vm.name).index(i).key("net");
            let Some(net) = env.nets.get(&nic.net) else {
                return Err(ctx
                    .error(
                        SpecErrorKind::UnknownReference,
                        &path,
                        format!("unknown network '{}'", nic.net),
                    )
                    .valid(all_nets()));
            };
            if !net.management {
                continue;
            }
            match mgmt {
                None => mgmt = Some((&net.name, i)),
                Some((first, _)) if first == net.name => {}
                Some((first, first_index)) => {
                    return Err(ctx
                        .error(
                            SpecErrorKind::Management,
                            &path,
                            format!(
                                "VM '{}' has nics on two management networks: '{first}' (nics[{first_index}]) and '{}'",
                                vm.name, net.name
                            ),
                        )
                        .valid(format!(
                            "nics on exactly one of the management networks {mgmt_nets}"
                        )));
                }
            }
        }
        if mgmt.is_none() {
            return Err(ctx
                .error(
                    SpecErrorKind::Management,
                    &nics_path(&vm.name),
                    format!("VM '{}' has no nic on a management network", vm.name),
                )
                .valid(format!(
                    "a nic on one of the management networks {mgmt_nets}"
                )));
        }
    }
    Ok(())
}

/// What makes two static IPs on one network the same address: with a `gw`
/// the full address; without, the last octet, because Lago moves every
/// static IP into the /24 it leases for the network.
fn ip_identity(net: &NetSpec, ip: Ipv4Addr) -> u32 {
    match net.gw {
        Some(_) => u32::from(ip),
        None => u32::from(ip.octets()[3]),
    }
}

/// Static IPs: inside the network's /24 (when it has a `gw`), not the
/// gateway, not a network or broadcast address, and not used twice on the
/// same network.
fn check_static_ips(env: &EnvSpec, ctx: &Ctx<'_>) -> Result<(), SpecError> {
    let mut used: HashMap<(&str, u32), (&str, usize, Ipv4Addr)> = HashMap::new();
    for vm in env.domains.values() {
        for (i, nic) in vm.nics.iter().enumerate() {
            let Some(ip) = nic.ip else {
                continue;
            };
            let Some(net) = env.nets.get(&nic.net) else {
                continue;
            };
            let path = nics_path(&vm.name).index(i).key("ip");
            let last = ip.octets()[3];
            match net.gw {
                Some(gw) => {
                    let [a, b, c, _] = gw.octets();
                    if ip.octets()[..3] != gw.octets()[..3] {
                        return Err(ctx
                            .error(
                                SpecErrorKind::Conflict,
                                &path,
                                format!(
                                    "{ip} is outside network '{}' ({a}.{b}.{c}.0/24, from its gw {gw})",
                                    net.name
                                ),
                            )
                            .valid(format!("an address from {a}.{b}.{c}.2 to {a}.{b}.{c}.254")));
                    }
                    if ip == gw {
                        return Err(ctx
                            .error(
                                SpecErrorKind::Conflict,
                                &path,
                                format!("{ip} is the gateway of network '{}'", net.name),
                            )
                            .valid(format!("another address in {a}.{b}.{c}.0/24")));
                    }
                    if last == 0 || last == 255 {
                        return Err(ctx
                            .error(
                                SpecErrorKind::InvalidValue,
                                &path,
                                format!("{ip} is the network or broadcast address"),
                            )
                            .valid(format!("an address from {a}.{b}.{c}.1 to {a}.{b}.{c}.254")));
                    }
                }
                None => {
                    if !(2..=254).contains(&last) {
                        return Err(ctx
                            .error(
                                SpecErrorKind::InvalidValue,
                                &path,
                                format!(
                                    "{ip} cannot be used: network '{}' has no gw, so its gateway is .1 of the leased /24",
                                    net.name
                                ),
                            )
                            .valid("a last octet from 2 to 254"));
                    }
                }
            }
            let key = (net.name.as_str(), ip_identity(net, ip));
            if let Some((other_vm, other_index, other_ip)) = used.get(&key) {
                let first = nics_path(other_vm).index(*other_index).key("ip");
                let line = ctx
                    .locator
                    .find(&first)
                    .map(|pos| format!(", line {}", pos.line))
                    .unwrap_or_default();
                let same = if *other_ip == ip {
                    String::new()
                } else {
                    format!(" as {other_ip} (same last octet, both move into the leased /24)")
                };
                return Err(ctx
                    .error(
                        SpecErrorKind::Conflict,
                        &path,
                        format!(
                            "{ip} on network '{}' is already used by {first}{same}{line}",
                            net.name
                        ),
                    )
                    .valid("a different address for each nic of a network"));
            }
            used.insert(key, (vm.name.as_str(), i, ip));
        }
    }
    Ok(())
}
