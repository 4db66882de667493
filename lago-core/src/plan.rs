//! The network plan: which net is management, which address, MAC and DNS
//! names every NIC gets, as pure functions over plain inputs.
//!
//! Lago's rules (kept so that existing environments plan the same way):
//! - if no net says `management: true`, the alphabetically first net is the
//!   management net; a VM's management net is its last NIC on one;
//! - static addresses are registered first, for every VM in file order; on a
//!   net whose gateway lies in the leasable range only the last octet of a
//!   static address counts (it moves with the leased /24);
//! - then every NIC on a NAT net without an address gets the lowest free last
//!   octet from `.2`, VMs in file order, NICs in order; bridge NICs get none;
//! - MAC = `54:52:` + the four IPv4 octets in hex;
//! - each NIC adds names to its net's mapping: `<vm>-eth<i>`, `<vm>` on the
//!   VM's management net, `<vm>-<net>` for the first NIC of the VM on that
//!   net, and `<vm>-<net>-<n>` numbering them;
//! - management nets resolve the names of every net (their DNS records are
//!   the user's `dns_records` updated with all mappings); other nets forward
//!   DNS to the gateway of the last management net (in name order).
//!
//! Subnet leasing itself lives in [`crate::lease`]; this module receives the
//! gateways and never touches the filesystem.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;

use crate::error::{Error, ErrorKind};

/// The kind of a network, as the init file's `type` key says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetKind {
    /// A libvirt NAT network with a leased /24 (the default).
    Nat,
    /// A bridge to an existing host bridge: no addresses are planned.
    Bridge,
}

/// One network as planning needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetInput {
    /// The net's name in the init file.
    pub name: String,
    /// NAT or bridge.
    pub kind: NetKind,
    /// The `management` key, if the file sets it.
    pub management: Option<bool>,
    /// The gateway: leased or given for NAT nets, `None` for bridges.
    pub gw: Option<Ipv4Addr>,
    /// The net's MTU (1500 when not set).
    pub mtu: u32,
    /// The user's extra DNS records (`dns_records`), in file order.
    pub dns_records: Vec<(String, Ipv4Addr)>,
}

/// One NIC of a VM as written in the init file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicInput {
    /// The name of the net it is on.
    pub net: String,
    /// A static address, if the file gives one.
    pub ip: Option<Ipv4Addr>,
}

/// One VM as planning needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmInput {
    /// The VM's name in the init file.
    pub name: String,
    /// Its NICs, in order.
    pub nics: Vec<NicInput>,
}

/// The planned state of one NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicPlan {
    /// The net it is on.
    pub net: String,
    /// Its address (none on bridge nets).
    pub ip: Option<Ipv4Addr>,
    /// Its MAC, derived from the address (none without an address).
    pub mac: Option<String>,
    /// The net's MTU when it is not 1500.
    pub mtu: Option<u32>,
}

/// The planned state of one VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPlan {
    /// The VM's name.
    pub name: String,
    /// Its management net (`mgmt_net` in the persisted spec).
    pub mgmt_net: String,
    /// Its NICs, in the init file's order.
    pub nics: Vec<NicPlan>,
}

impl VmPlan {
    /// The VM's address on its management net (`vm.ip()` in Lago).
    #[cfg(test)]
    pub fn ip(&self) -> Option<Ipv4Addr> {
        self.nics
            .iter()
            .rev()
            .find(|n| n.net == self.mgmt_net)
            .and_then(|n| n.ip)
    }
}

/// The planned state of one net.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetPlan {
    /// The net's name.
    pub name: String,
    /// Whether it is a management net.
    pub management: bool,
    /// Its gateway, if any.
    pub gw: Option<Ipv4Addr>,
    /// Name → address for every NIC on this net, in insertion order (the
    /// persisted `mapping`).
    pub mapping: Vec<(String, Ipv4Addr)>,
    /// Management nets: every name of every net plus the user's records.
    pub dns_records: Vec<(String, Ipv4Addr)>,
    /// Other nets: the management gateway DNS is forwarded to.
    pub dns_forward: Option<Ipv4Addr>,
}

/// The whole plan, VMs and nets in the init file's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// One entry per VM.
    pub vms: Vec<VmPlan>,
    /// One entry per net.
    pub nets: Vec<NetPlan>,
}

/// Why a plan could not be made. Names the VM, NIC and address involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A NIC names a net that does not exist.
    #[error("domains.{vm}.nics[{nic}].net: unknown network '{net}' (valid: {valid})")]
    UnknownNet {
        /// The VM.
        vm: String,
        /// The NIC's index.
        nic: usize,
        /// The net it names.
        net: String,
        /// The nets that exist, comma separated.
        valid: String,
    },
    /// A VM has no NIC on a management net.
    #[error(
        "domains.{vm}.nics: VM '{vm}' has no NIC on a management network (management: {mgmts})"
    )]
    NoManagement {
        /// The VM.
        vm: String,
        /// The management nets, comma separated.
        mgmts: String,
    },
    /// A VM has NICs on more than one management net.
    #[error(
        "domains.{vm}.nics: VM '{vm}' has NICs on more than one management network ({nets}); it needs exactly one"
    )]
    TwoManagement {
        /// The VM.
        vm: String,
        /// The management nets it is on.
        nets: String,
    },
    /// A static address outside its net's /24.
    #[error(
        "domains.{vm}.nics[{nic}].ip: {ip} is outside the subnet of network '{net}' ({subnet}.0/24)"
    )]
    OutsideSubnet {
        /// The VM.
        vm: String,
        /// The NIC's index.
        nic: usize,
        /// The address.
        ip: Ipv4Addr,
        /// The net.
        net: String,
        /// The first three octets of the net's subnet.
        subnet: String,
    },
    /// A static address on a bridge net, or a NIC address on a net without a gateway.
    #[error(
        "domains.{vm}.nics[{nic}].ip: network '{net}' has no subnet to place {ip} in (a bridge network)"
    )]
    NoSubnet {
        /// The VM.
        vm: String,
        /// The NIC's index.
        nic: usize,
        /// The address.
        ip: Ipv4Addr,
        /// The net.
        net: String,
    },
    /// Two NICs with the same address on one net.
    #[error("domains.{vm}.nics[{nic}].ip: {ip} on network '{net}' is already taken by {owner}")]
    Duplicate {
        /// The VM.
        vm: String,
        /// The NIC's index.
        nic: usize,
        /// The address.
        ip: Ipv4Addr,
        /// The net.
        net: String,
        /// The name that holds the address already.
        owner: String,
    },
    /// A NAT net ran out of addresses (.2 to .254).
    #[error(
        "network '{net}' has no free address left for domains.{vm}.nics[{nic}] (.2 to .254 are taken)"
    )]
    Exhausted {
        /// The net.
        net: String,
        /// The VM.
        vm: String,
        /// The NIC's index.
        nic: usize,
    },
    /// A NAT net without a gateway reached the planner.
    #[error("network '{net}' is NAT but has no gateway: lease a subnet before planning")]
    MissingGateway {
        /// The net.
        net: String,
    },
}

impl From<PlanError> for Error {
    fn from(err: PlanError) -> Self {
        let kind = match err {
            PlanError::MissingGateway { .. } => ErrorKind::Internal,
            PlanError::Exhausted { .. } => ErrorKind::Config,
            _ => ErrorKind::InvalidInput,
        };
        let (vm, key_path) = err.location();
        let mut out = Error::with_source(kind, err.to_string(), err);
        if let Some(vm) = vm {
            out = out.with_vm(vm);
        }
        if let Some(key_path) = key_path {
            out = out.with_key_path(key_path);
        }
        out
    }
}

impl PlanError {
    /// The VM and the key path (in the init file's terms) the error is
    /// about, where there are.
    fn location(&self) -> (Option<String>, Option<String>) {
        match self {
            PlanError::UnknownNet { vm, nic, .. } => (
                Some(vm.clone()),
                Some(format!("domains.{vm}.nics[{nic}].net")),
            ),
            PlanError::NoManagement { vm, .. } | PlanError::TwoManagement { vm, .. } => {
                (Some(vm.clone()), Some(format!("domains.{vm}.nics")))
            }
            PlanError::OutsideSubnet { vm, nic, .. }
            | PlanError::NoSubnet { vm, nic, .. }
            | PlanError::Duplicate { vm, nic, .. } => (
                Some(vm.clone()),
                Some(format!("domains.{vm}.nics[{nic}].ip")),
            ),
            PlanError::Exhausted { vm, nic, .. } => {
                (Some(vm.clone()), Some(format!("domains.{vm}.nics[{nic}]")))
            }
            PlanError::MissingGateway { .. } => (None, None),
        }
    }
}

/// The MAC Lago gives an address: `54:52:` and the four octets in hex,
/// e.g. 192.168.200.2 → `54:52:c0:a8:c8:02`.
pub fn ipv4_to_mac(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("54:52:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// The names of the management nets: those marked `management: true`, or
/// else the alphabetically first net. Sorted by name.
pub fn management_nets(nets: &[NetInput]) -> Vec<String> {
    let mut marked: Vec<String> = nets
        .iter()
        .filter(|n| n.management == Some(true))
        .map(|n| n.name.clone())
        .collect();
    if marked.is_empty()
        && let Some(first) = nets.iter().map(|n| &n.name).min()
    {
        marked.push(first.clone());
    }
    marked.sort();
    marked
}

struct Subnet(Ipv4Addr);

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, _] = self.0.octets();
        write!(f, "{a}.{b}.{c}")
    }
}

fn same_24(a: Ipv4Addr, b: Ipv4Addr) -> bool {
    a.octets()[..3] == b.octets()[..3]
}

fn with_last_octet(gw: Ipv4Addr, last: u8) -> Ipv4Addr {
    let [a, b, c, _] = gw.octets();
    Ipv4Addr::new(a, b, c, last)
}

/// Sets `name` to `ip`, keeping the position of an existing entry (a Python
/// dict's update semantics, which Lago's persisted mappings follow).
fn upsert(map: &mut Vec<(String, Ipv4Addr)>, name: String, ip: Ipv4Addr) {
    match map.iter_mut().find(|(n, _)| *n == name) {
        Some(entry) => entry.1 = ip,
        None => map.push((name, ip)),
    }
}

/// Adds a NIC's names to its net's mapping, in Lago's order.
fn add_to_mapping(
    mapping: &mut Vec<(String, Ipv4Addr)>,
    vm: &VmInput,
    idx: usize,
    mgmt: &str,
    ip: Ipv4Addr,
) {
    let net = &vm.nics[idx].net;
    upsert(mapping, format!("{}-eth{idx}", vm.name), ip);
    if *net == mgmt {
        upsert(mapping, vm.name.clone(), ip);
    }
    let by_net = format!("{}-{net}", vm.name);
    let numbered = mapping
        .iter()
        .filter(|(n, _)| n.starts_with(&by_net) && *n != by_net)
        .count();
    if numbered == 0 {
        upsert(mapping, by_net.clone(), ip);
    }
    upsert(mapping, format!("{by_net}-{numbered}"), ip);
}

/// Plans addresses, MACs, MTUs and DNS for `vms` on `nets`.
///
/// `leasable(gw)` tells whether a gateway lies in the subnet-lease range,
/// where static addresses keep only their last octet.
pub fn plan(
    nets: &[NetInput],
    vms: &[VmInput],
    leasable: impl Fn(Ipv4Addr) -> bool,
) -> Result<Plan, PlanError> {
    let mgmts = management_nets(nets);
    let net_index = |vm: &VmInput, i: usize| -> Result<usize, PlanError> {
        let name = &vm.nics[i].net;
        nets.iter()
            .position(|n| n.name == *name)
            .ok_or_else(|| PlanError::UnknownNet {
                vm: vm.name.clone(),
                nic: i,
                net: name.clone(),
                valid: nets
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    };

    // management net per VM: exactly one, the last NIC on it wins
    let mut vm_mgmt = Vec::with_capacity(vms.len());
    for vm in vms {
        let mut on: Vec<&str> = Vec::new();
        for i in 0..vm.nics.len() {
            let net = &nets[net_index(vm, i)?];
            if mgmts.contains(&net.name) && !on.contains(&net.name.as_str()) {
                on.push(&net.name);
            }
        }
        match on.len() {
            0 => {
                return Err(PlanError::NoManagement {
                    vm: vm.name.clone(),
                    mgmts: mgmts.join(", "),
                });
            }
            1 => vm_mgmt.push(on[0].to_string()),
            _ => {
                return Err(PlanError::TwoManagement {
                    vm: vm.name.clone(),
                    nets: on.join(", "),
                });
            }
        }
    }

    let mut mappings: Vec<Vec<(String, Ipv4Addr)>> = vec![Vec::new(); nets.len()];
    let mut ips: Vec<Vec<Option<Ipv4Addr>>> =
        vms.iter().map(|v| vec![None; v.nics.len()]).collect();

    // static addresses first
    for (v, vm) in vms.iter().enumerate() {
        for (i, nic) in vm.nics.iter().enumerate() {
            let Some(given) = nic.ip else { continue };
            let n = net_index(vm, i)?;
            let net = &nets[n];
            let Some(gw) = net.gw else {
                return Err(PlanError::NoSubnet {
                    vm: vm.name.clone(),
                    nic: i,
                    ip: given,
                    net: net.name.clone(),
                });
            };
            let ip = if leasable(gw) {
                with_last_octet(gw, given.octets()[3])
            } else {
                given
            };
            if !same_24(ip, gw) {
                return Err(PlanError::OutsideSubnet {
                    vm: vm.name.clone(),
                    nic: i,
                    ip,
                    net: net.name.clone(),
                    subnet: Subnet(gw).to_string(),
                });
            }
            if let Some((owner, _)) = mappings[n].iter().find(|(_, a)| *a == ip) {
                return Err(PlanError::Duplicate {
                    vm: vm.name.clone(),
                    nic: i,
                    ip,
                    net: net.name.clone(),
                    owner: owner.clone(),
                });
            }
            ips[v][i] = Some(ip);
            add_to_mapping(&mut mappings[n], vm, i, &vm_mgmt[v], ip);
        }
    }

    // then the lowest free address for every other NIC on a NAT net
    for (v, vm) in vms.iter().enumerate() {
        for (i, nic) in vm.nics.iter().enumerate() {
            if nic.ip.is_some() {
                continue;
            }
            let n = net_index(vm, i)?;
            let net = &nets[n];
            if net.kind != NetKind::Nat {
                continue;
            }
            let gw = net.gw.ok_or_else(|| PlanError::MissingGateway {
                net: net.name.clone(),
            })?;
            let used: BTreeSet<u8> = mappings[n].iter().map(|(_, a)| a.octets()[3]).collect();
            let last =
                (2..=254u8)
                    .find(|o| !used.contains(o))
                    .ok_or_else(|| PlanError::Exhausted {
                        net: net.name.clone(),
                        vm: vm.name.clone(),
                        nic: i,
                    })?;
            let ip = with_last_octet(gw, last);
            ips[v][i] = Some(ip);
            add_to_mapping(&mut mappings[n], vm, i, &vm_mgmt[v], ip);
        }
    }

    let vm_plans = vms
        .iter()
        .zip(vm_mgmt)
        .zip(ips)
        .map(|((vm, mgmt_net), ips)| VmPlan {
            name: vm.name.clone(),
            mgmt_net,
            nics: vm
                .nics
                .iter()
                .zip(ips)
                .map(|(nic, ip)| {
                    let mtu = nets
                        .iter()
                        .find(|n| n.name == nic.net)
                        .map(|n| n.mtu)
                        .filter(|m| *m != 1500);
                    NicPlan {
                        net: nic.net.clone(),
                        ip,
                        mac: ip.map(ipv4_to_mac),
                        mtu,
                    }
                })
                .collect(),
        })
        .collect();

    // DNS: management nets know every name; the others forward
    let mut all_names: Vec<(String, Ipv4Addr)> = Vec::new();
    for mapping in &mappings {
        for (name, ip) in mapping {
            upsert(&mut all_names, name.clone(), *ip);
        }
    }
    let forward = mgmts
        .last()
        .and_then(|m| nets.iter().find(|n| n.name == *m))
        .and_then(|n| n.gw);
    let net_plans = nets
        .iter()
        .zip(mappings)
        .map(|(net, mapping)| {
            let management = mgmts.contains(&net.name);
            let dns_records = if management {
                let mut records = net.dns_records.clone();
                for (name, ip) in &all_names {
                    upsert(&mut records, name.clone(), *ip);
                }
                records
            } else {
                Vec::new()
            };
            NetPlan {
                name: net.name.clone(),
                management,
                gw: net.gw,
                mapping,
                dns_records,
                dns_forward: if management { None } else { forward },
            }
        })
        .collect();

    Ok(Plan {
        vms: vm_plans,
        nets: net_plans,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nat(name: &str, gw: [u8; 4]) -> NetInput {
        NetInput {
            name: name.into(),
            kind: NetKind::Nat,
            management: None,
            gw: Some(Ipv4Addr::from(gw)),
            mtu: 1500,
            dns_records: Vec::new(),
        }
    }

    fn vm(name: &str, nics: &[(&str, Option<[u8; 4]>)]) -> VmInput {
        VmInput {
            name: name.into(),
            nics: nics
                .iter()
                .map(|(net, ip)| NicInput {
                    net: (*net).into(),
                    ip: ip.map(Ipv4Addr::from),
                })
                .collect(),
        }
    }

    fn leasable(gw: Ipv4Addr) -> bool {
        let [a, b, c, _] = gw.octets();
        a == 192 && b == 168 && (200..=255).contains(&c)
    }

    fn names(m: &[(String, Ipv4Addr)]) -> Vec<String> {
        m.iter().map(|(n, ip)| format!("{n}={ip}")).collect()
    }

    #[test]
    fn mac_is_5452_and_octets() {
        assert_eq!(
            ipv4_to_mac(Ipv4Addr::new(192, 168, 200, 2)),
            "54:52:c0:a8:c8:02"
        );
    }

    #[test]
    fn first_net_by_name_is_management_by_default() {
        let nets = [nat("n1", [192, 168, 201, 1]), nat("n0", [192, 168, 200, 1])];
        assert_eq!(management_nets(&nets), vec!["n0".to_string()]);
        let mut marked = nets.clone();
        marked[0].management = Some(true);
        assert_eq!(management_nets(&marked), vec!["n1".to_string()]);
    }

    #[test]
    fn dynamic_addresses_lowest_free_in_file_order_after_statics() {
        let nets = [nat("n0", [192, 168, 200, 1])];
        let vms = [
            vm("vm0", &[("n0", None)]),
            vm("vm1", &[("n0", Some([192, 168, 200, 2]))]),
            vm("vm2", &[("n0", None)]),
        ];
        let p = plan(&nets, &vms, leasable).unwrap();
        let ips: Vec<_> = p.vms.iter().map(|v| v.ip().unwrap().to_string()).collect();
        assert_eq!(ips, ["192.168.200.3", "192.168.200.2", "192.168.200.4"]);
        assert_eq!(p.vms[0].nics[0].mac.as_deref(), Some("54:52:c0:a8:c8:03"));
    }

    #[test]
    fn static_ip_follows_the_leased_subnet() {
        // the file says .200.7 but the lease gave .205: only the last octet counts
        let nets = [nat("n0", [192, 168, 205, 1])];
        let vms = [vm("vm0", &[("n0", Some([192, 168, 200, 7]))])];
        let p = plan(&nets, &vms, leasable).unwrap();
        assert_eq!(p.vms[0].ip(), Some(Ipv4Addr::new(192, 168, 205, 7)));
    }

    #[test]
    fn static_ip_outside_unleased_subnet_is_an_error() {
        let nets = [nat("n0", [10, 0, 0, 1])];
        let vms = [vm("vm0", &[("n0", Some([10, 0, 1, 7]))])];
        let err = plan(&nets, &vms, leasable).unwrap_err();
        assert_eq!(
            err.to_string(),
            "domains.vm0.nics[0].ip: 10.0.1.7 is outside the subnet of network 'n0' (10.0.0.0/24)"
        );
    }

    #[test]
    fn duplicate_static_ip_names_the_owner() {
        let nets = [nat("n0", [192, 168, 200, 1])];
        let vms = [
            vm("vm0", &[("n0", Some([192, 168, 200, 9]))]),
            vm("vm1", &[("n0", Some([192, 168, 200, 9]))]),
        ];
        let err = plan(&nets, &vms, leasable).unwrap_err().to_string();
        assert!(
            err.starts_with("domains.vm1.nics[0].ip: 192.168.200.9"),
            "{err}"
        );
        assert!(err.contains("taken by vm0-eth0"), "{err}");
    }

    #[test]
    fn mapping_names_in_lagos_order() {
        let nets = [nat("n0", [192, 168, 200, 1]), nat("n1", [192, 168, 201, 1])];
        let vms = [vm("vm0", &[("n0", None), ("n1", None), ("n1", None)])];
        let p = plan(&nets, &vms, leasable).unwrap();
        assert_eq!(
            names(&p.nets[0].mapping),
            [
                "vm0-eth0=192.168.200.2",
                "vm0=192.168.200.2",
                "vm0-n0=192.168.200.2",
                "vm0-n0-0=192.168.200.2"
            ]
        );
        assert_eq!(
            names(&p.nets[1].mapping),
            [
                "vm0-eth1=192.168.201.2",
                "vm0-n1=192.168.201.2",
                "vm0-n1-0=192.168.201.2",
                "vm0-eth2=192.168.201.3",
                "vm0-n1-1=192.168.201.3",
            ]
        );
    }

    #[test]
    fn management_dns_knows_every_net_and_user_records() {
        let mut n0 = nat("n0", [192, 168, 200, 1]);
        n0.dns_records = vec![("extra".into(), Ipv4Addr::new(192, 168, 200, 250))];
        let nets = [n0, nat("n1", [192, 168, 201, 1])];
        let vms = [vm("vm0", &[("n0", None), ("n1", None)])];
        let p = plan(&nets, &vms, leasable).unwrap();
        let records = names(&p.nets[0].dns_records);
        assert_eq!(records[0], "extra=192.168.200.250");
        assert!(records.contains(&"vm0=192.168.200.2".to_string()));
        assert!(records.contains(&"vm0-eth1=192.168.201.2".to_string()));
        assert!(p.nets[1].dns_records.is_empty());
        assert_eq!(p.nets[1].dns_forward, Some(Ipv4Addr::new(192, 168, 200, 1)));
        assert_eq!(p.nets[0].dns_forward, None);
    }

    #[test]
    fn bridge_nics_get_no_address_and_mtu_is_copied() {
        let mut br = nat("br", [0, 0, 0, 0]);
        br.kind = NetKind::Bridge;
        br.gw = None;
        br.mtu = 9000;
        let nets = [nat("a", [192, 168, 200, 1]), br];
        let vms = [vm("vm0", &[("a", None), ("br", None)])];
        let p = plan(&nets, &vms, leasable).unwrap();
        assert_eq!(p.vms[0].nics[1].ip, None);
        assert_eq!(p.vms[0].nics[1].mac, None);
        assert_eq!(p.vms[0].nics[1].mtu, Some(9000));
        assert_eq!(p.vms[0].nics[0].mtu, None);
    }

    #[test]
    fn management_errors_name_the_vm() {
        let mut n1 = nat("n1", [192, 168, 201, 1]);
        n1.management = Some(true);
        let mut n0 = nat("n0", [192, 168, 200, 1]);
        n0.management = Some(true);
        let nets = [n0, n1, nat("n2", [192, 168, 202, 1])];
        let two = plan(&nets, &[vm("vm0", &[("n0", None), ("n1", None)])], leasable).unwrap_err();
        assert!(
            two.to_string()
                .contains("more than one management network (n0, n1)"),
            "{two}"
        );
        let none = plan(&nets, &[vm("vm0", &[("n2", None)])], leasable).unwrap_err();
        assert!(
            none.to_string()
                .starts_with("domains.vm0.nics: VM 'vm0' has no NIC"),
            "{none}"
        );
        let unknown = plan(&nets, &[vm("vm0", &[("n9", None)])], leasable).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "domains.vm0.nics[0].net: unknown network 'n9' (valid: n0, n1, n2)"
        );
    }

    #[test]
    fn a_full_net_is_reported() {
        let nets = [nat("n0", [192, 168, 200, 1])];
        let vms: Vec<VmInput> = (0..254)
            .map(|i| vm(&format!("vm{i}"), &[("n0", None)]))
            .collect();
        let err = plan(&nets, &vms, leasable).unwrap_err();
        assert!(
            matches!(err, PlanError::Exhausted { ref vm, .. } if vm == "vm253"),
            "{err}"
        );
    }
}
