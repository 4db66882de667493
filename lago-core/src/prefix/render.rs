//! From a prefix's persisted state to the libvirt XML inputs of its networks
//! and VMs (what `start` hands to the provider).
//!
//! Lago's choices, with two deliberate changes: a CPU mode that the domain
//! type can run (host-passthrough is refused under software emulation, so
//! `qemu` domains get `maximum`), and DHCP host entries on every NAT net
//! even without a `dhcp` range, so guests that ask for an address always get
//! their planned one (Lago left such guests without any address).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::paths::Paths;
use crate::plan::ipv4_to_mac;
use crate::prefix::naming;
use crate::prefix::state::{NetState, PrefixState, Scalar, VmState};
use crate::xml::{
    Cpu, CpuFeature, Dhcp, DhcpHost, DhcpRange, Disk, DiskFormat, DomainType, DomainXml,
    ManagementDns, NatNetwork, NetworkKind, NetworkXml, Nic, PrefixTag,
};

/// Lago's default memory when a VM does not say (MiB).
pub const DEFAULT_MEMORY_MIB: u64 = 16 * 1024;
/// Lago's default vCPU count.
pub const DEFAULT_VCPU: u32 = 2;
/// Lago's default DNS domain of management nets.
pub const DEFAULT_DNS_DOMAIN: &str = "lago.local";

/// The host CPU vendor as libvirt's capabilities name it (`Intel`, `AMD`).
pub fn host_cpu_vendor(capabilities: &str) -> Option<String> {
    let host = capabilities.split("<host>").nth(1)?;
    let vendor = host.split("<vendor>").nth(1)?.split("</vendor>").next()?;
    Some(vendor.trim().to_string())
}

fn tag(state: &PrefixState, name: &str) -> PrefixTag {
    PrefixTag {
        path: state.paths.prefix_path().to_string_lossy().into_owned(),
        uuid: state.uuid.clone(),
        name: name.to_string(),
    }
}

fn as_u64(v: &Option<Scalar>) -> Option<u64> {
    v.as_ref().and_then(Scalar::as_u64)
}

/// The memory a VM's domain gets, in MiB (its spec's, else the default).
pub fn memory_mib(spec: &crate::prefix::record::VmRecord) -> u64 {
    as_u64(&spec.memory).unwrap_or(DEFAULT_MEMORY_MIB)
}

/// The XML input of net `net`.
pub fn network(state: &PrefixState, net: &NetState) -> NetworkXml {
    let name = naming::network_name(&state.uuid, &net.name);
    let kind = match (net.kind().as_str(), net.gw()) {
        ("nat", Some(gw)) => {
            let mut hosts: Vec<(String, Ipv4Addr)> = net.spec.mapping_addrs();
            hosts.sort();
            let range = net.spec.dhcp.as_ref().and_then(|d| {
                let start = u8::try_from(as_u64(&d.start)?).ok()?;
                let end = u8::try_from(as_u64(&d.end)?).ok()?;
                Some(DhcpRange { start, end })
            });
            let management = net.is_management().then(|| {
                let mut dns: BTreeMap<Ipv4Addr, Vec<String>> = BTreeMap::new();
                for (host, ip) in net.spec.dns_record_addrs() {
                    dns.entry(ip).or_default().push(host);
                }
                ManagementDns {
                    dns_domain_name: net
                        .spec
                        .dns_domain_name
                        .as_deref()
                        .unwrap_or(DEFAULT_DNS_DOMAIN)
                        .to_string(),
                    hosts: dns,
                }
            });
            NetworkKind::Nat(NatNetwork {
                bridge_name: naming::bridge_name(&name),
                gw,
                dhcp: Some(Dhcp {
                    range,
                    hosts: hosts
                        .into_iter()
                        .map(|(name, ip)| DhcpHost {
                            mac: ipv4_to_mac(ip),
                            ip,
                            name,
                        })
                        .collect(),
                }),
                ipv6: true,
                mtu: as_u64(&net.spec.mtu)
                    .and_then(|m| u32::try_from(m).ok())
                    .filter(|m| *m != 1500),
                management,
            })
        }
        _ => NetworkKind::Bridge {
            bridge_name: name.clone(),
        },
    };
    NetworkXml {
        name,
        tag: tag(state, &net.name),
        kind,
    }
}

/// The CPU of a VM: `cpu_custom`, `cpu_model` (+vmx/svm when the host's
/// vendor is the model's and the domain runs under KVM), else the mode the
/// domain type supports.
pub fn cpu(vm: &VmState, domain_type: DomainType, host_vendor: Option<&str>) -> Cpu {
    if let Some(custom) = &vm.spec.cpu_custom {
        return Cpu::Custom(custom.clone());
    }
    if let Some(model) = vm.spec.cpu_model.as_ref().and_then(Scalar::as_str) {
        let feature = match (domain_type, host_vendor) {
            (DomainType::Kvm, Some("Intel"))
                if !model.starts_with("EPYC") && !model.starts_with("Opteron") =>
            {
                Some(CpuFeature::Vmx)
            }
            (DomainType::Kvm, Some("AMD"))
                if model.starts_with("EPYC") || model.starts_with("Opteron") =>
            {
                Some(CpuFeature::Svm)
            }
            _ => None,
        };
        return Cpu::Model {
            name: model.to_string(),
            require_feature: feature,
        };
    }
    Cpu::default_for(domain_type)
}

fn disk_format(s: &str) -> DiskFormat {
    match s {
        "raw" => DiskFormat::Raw,
        "iso" => DiskFormat::Iso,
        _ => DiskFormat::Qcow2,
    }
}

/// Where the libvirt host sees the prefix's file `local` (see
/// [`crate::host`]): `local` itself on this machine.
pub fn host_path(state: &PrefixState, local: &std::path::Path) -> String {
    match &state.host {
        Some(host) => host.host_path(&state.paths, local),
        None => local.to_path_buf(),
    }
    .to_string_lossy()
    .into_owned()
}

/// The XML input of VM `vm`. `extra_disks` (e.g. a NoCloud seed) are added
/// read-only after the VM's own disks.
pub fn domain(
    state: &PrefixState,
    vm: &VmState,
    domain_type: DomainType,
    host_vendor: Option<&str>,
    extra_disks: &[(String, String)],
) -> DomainXml {
    let paths: &Paths = &state.paths;
    let mut disks: Vec<Disk> = vm
        .disks()
        .into_iter()
        .map(|d| Disk {
            path: host_path(state, &paths.expand(&d.path)),
            format: disk_format(&d.format),
            dev: d.dev,
            read_only: false,
        })
        .collect();
    for (path, dev) in extra_disks {
        disks.push(Disk {
            path: path.clone(),
            format: DiskFormat::Raw,
            dev: dev.clone(),
            read_only: true,
        });
    }
    let nics = vm
        .spec
        .nic_records()
        .iter()
        .map(|nic| Nic {
            network: naming::network_name(&state.uuid, nic.net_name()),
            mac: nic.ipv4().map(ipv4_to_mac),
            mtu: as_u64(&nic.mtu).and_then(|m| u32::try_from(m).ok()),
        })
        .collect();
    DomainXml {
        name: naming::domain_name(&state.uuid, &vm.name),
        tag: tag(state, &vm.name),
        domain_type,
        memory_mib: memory_mib(&vm.spec),
        vcpu: as_u64(&vm.spec.vcpu)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(DEFAULT_VCPU),
        cpu: cpu(vm, domain_type, host_vendor),
        emulator: None,
        disks,
        nics,
        console_log: Some(match &state.host {
            Some(host) => host.console_log(&vm.name),
            None => paths
                .logs()
                .join(format!("{}.console.log", vm.name))
                .to_string_lossy()
                .into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workdir::Workdir;
    use std::path::Path;

    fn fixture() -> PrefixState {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream-workdir");
        let w = Workdir::load(dir).unwrap();
        PrefixState::load(&w.prefix("current").unwrap()).unwrap()
    }

    #[test]
    fn vendor_from_capabilities() {
        let caps = "<capabilities><host><cpu><arch>x86_64</arch><model>Skylake</model>\
                    <vendor>Intel</vendor></cpu></host></capabilities>";
        assert_eq!(host_cpu_vendor(caps).as_deref(), Some("Intel"));
        assert_eq!(host_cpu_vendor("<capabilities/>"), None);
    }

    #[test]
    fn management_net_of_an_upstream_prefix() {
        let state = fixture();
        let n0 = network(&state, state.net("n0").unwrap());
        assert_eq!(n0.name, "fe68-n0");
        let NetworkKind::Nat(nat) = &n0.kind else {
            panic!("n0 is NAT")
        };
        assert_eq!(nat.bridge_name, "fe68-n0-nic");
        assert_eq!(nat.gw, Ipv4Addr::new(192, 168, 201, 1));
        let dhcp = nat.dhcp.as_ref().unwrap();
        assert_eq!(
            dhcp.range,
            Some(DhcpRange {
                start: 100,
                end: 254
            })
        );
        // sorted names, so each address is first named by the bare VM name
        let first = dhcp
            .hosts
            .iter()
            .find(|h| h.ip == Ipv4Addr::new(192, 168, 201, 2))
            .unwrap();
        assert_eq!(first.name, "vm0");
        assert_eq!(first.mac, "54:52:c0:a8:c9:02");
        let dns = nat.management.as_ref().unwrap();
        assert_eq!(dns.dns_domain_name, "lago.local");
        assert!(dns.hosts[&Ipv4Addr::new(192, 168, 201, 3)].contains(&"vm1".to_string()));
        let n1 = network(&state, state.net("n1").unwrap());
        let NetworkKind::Nat(nat1) = &n1.kind else {
            panic!("n1 is NAT")
        };
        assert!(nat1.management.is_none());
        assert!(nat1.dhcp.as_ref().unwrap().range.is_none());
        assert!(!nat1.dhcp.as_ref().unwrap().hosts.is_empty());
    }

    #[test]
    fn domain_of_an_upstream_prefix() {
        let state = fixture();
        let vm = state.vm("vm0").unwrap();
        let seed = vec![("/p/seed.img".to_string(), "vdz".to_string())];
        let d = domain(&state, vm, DomainType::Qemu, None, &seed);
        assert_eq!(d.name, "fe689d3c-vm0");
        assert_eq!(d.memory_mib, 2048);
        assert_eq!(d.vcpu, 2);
        assert_eq!(d.cpu, Cpu::Maximum);
        assert_eq!(
            d.disks[0].path,
            state
                .paths
                .prefix_path()
                .join("images/vm0_root.qcow2")
                .to_string_lossy()
        );
        assert!(d.disks[2].read_only);
        assert_eq!(d.nics[1].network, "fe68-n1");
        assert_eq!(d.nics[1].mac.as_deref(), Some("54:52:c0:a8:ca:02"));
        assert!(d.console_log.unwrap().ends_with("logs/vm0.console.log"));
    }

    #[test]
    fn cpu_choices() {
        let state = fixture();
        let mut vm = state.vm("vm1").unwrap().clone();
        assert_eq!(
            cpu(&vm, DomainType::Kvm, Some("Intel")),
            Cpu::HostPassthrough
        );
        vm.spec.cpu_model = Some("Skylake-Client".into());
        assert_eq!(
            cpu(&vm, DomainType::Kvm, Some("Intel")),
            Cpu::Model {
                name: "Skylake-Client".into(),
                require_feature: Some(CpuFeature::Vmx)
            }
        );
        assert_eq!(
            cpu(&vm, DomainType::Qemu, Some("Intel")),
            Cpu::Model {
                name: "Skylake-Client".into(),
                require_feature: None
            }
        );
        vm.spec.cpu_custom = Some(serde_json::json!({"@mode": "custom"}));
        assert!(matches!(cpu(&vm, DomainType::Kvm, None), Cpu::Custom(_)));
    }
}
