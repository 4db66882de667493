//! Golden-file tests of the libvirt XML renderer (`lago_core::xml`).
//!
//! Each case renders representative networks and domains and compares them
//! byte for byte with `tests/golden/xml/<case>-<object>.xml`. On a
//! difference the test fails and prints a line diff. After an intended
//! change, rewrite the files with
//!
//! ```sh
//! LAGO_BLESS=1 cargo test -p lago-core --test xml_golden
//! ```
//!
//! and review the diff in git.
//!
//! Every golden file is also validated against libvirt's own RelaxNG schemas
//! with `virt-xml-validate` (package `libvirt-clients`, plus `libxml2-utils`
//! for the `xmllint` it runs). A missing tool fails the test; set
//! `LAGO_NO_XML_VALIDATE=1` to skip validation on a machine without it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use lago_core::xml::{
    Cpu, CpuFeature, Dhcp, DhcpHost, DhcpRange, Disk, DiskFormat, DomainType, DomainXml,
    ManagementDns, NatNetwork, NetworkKind, NetworkXml, Nic, PrefixTag, domain_xml, network_xml,
    parse_prefix_tag,
};
use serde_json::json;

const PREFIX: &str = "/var/lib/lago-tests/work/.lago/default";
const UUID: &str = "5f3749a0c4f011eebc2c52540062e9f6";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/xml")
}

fn tag(name: &str) -> PrefixTag {
    PrefixTag {
        path: PREFIX.to_owned(),
        uuid: UUID.to_owned(),
        name: name.to_owned(),
    }
}

fn image(file: &str) -> String {
    format!("{PREFIX}/images/{file}")
}

fn console(vm: &str) -> Option<String> {
    Some(format!("{PREFIX}/logs/{vm}.console.log"))
}

/// Lago's MAC for an IPv4 address: `54:52:` + the four octets.
fn mac(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("54:52:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

fn dhcp_host(ip: Ipv4Addr, name: &str) -> DhcpHost {
    DhcpHost {
        mac: mac(ip),
        ip,
        name: name.to_owned(),
    }
}

fn disk(file: &str, format: DiskFormat, dev: &str) -> Disk {
    Disk {
        path: image(file),
        format,
        dev: dev.to_owned(),
        read_only: false,
    }
}

/// Which libvirt schema a rendered object belongs to.
#[derive(Clone, Copy)]
enum Schema {
    Network,
    Domain,
}

impl Schema {
    fn name(self) -> &'static str {
        match self {
            Schema::Network => "network",
            Schema::Domain => "domain",
        }
    }
}

/// Compares `actual` with the golden file (or rewrites it under
/// `LAGO_BLESS=1`), checks that the prefix tag reads back, and validates
/// the file against libvirt's schema.
fn check(file: &str, actual: &str, schema: Schema, expected_tag: &PrefixTag) {
    let path = golden_dir().join(file);
    if std::env::var_os("LAGO_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(golden_dir())
            .unwrap_or_else(|err| panic!("{}: {err}", golden_dir().display()));
        std::fs::write(&path, actual).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    } else {
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
            panic!(
                "{}: {err}; run with LAGO_BLESS=1 to create it",
                path.display()
            )
        });
        if expected != actual {
            panic!(
                "{} differs from the rendered XML (- golden, + rendered); \
                 if the change is intended, rerun with LAGO_BLESS=1\n{}",
                path.display(),
                line_diff(&expected, actual)
            );
        }
    }
    assert_eq!(
        parse_prefix_tag(actual).as_ref(),
        Some(expected_tag),
        "{file}: prefix tag does not read back"
    );
    validate(&path, schema);
}

/// Runs `virt-xml-validate FILE SCHEMA`.
fn validate(path: &Path, schema: Schema) {
    if std::env::var_os("LAGO_NO_XML_VALIDATE").is_some_and(|v| v == "1") {
        return;
    }
    let output = match Command::new("virt-xml-validate")
        .arg(path)
        .arg(schema.name())
        .output()
    {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "virt-xml-validate not found: install libvirt-clients, \
             or set LAGO_NO_XML_VALIDATE=1 to skip schema validation"
        ),
        Err(err) => panic!("running virt-xml-validate: {err}"),
    };
    // libvirt 9's virt-xml-validate is a shell script around xmllint
    // (package libxml2-utils, which libvirt-clients does not pull in).
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && stderr.contains("xmllint") && stderr.contains("not found") {
        panic!(
            "virt-xml-validate needs xmllint: install libxml2-utils, \
             or set LAGO_NO_XML_VALIDATE=1 to skip schema validation\n{stderr}"
        );
    }
    assert!(
        output.status.success(),
        "{} does not validate against libvirt's {} schema:\n{}{}",
        path.display(),
        schema.name(),
        String::from_utf8_lossy(&output.stdout),
        stderr
    );
}

/// A unified-style line diff of two short texts (longest common subsequence).
fn line_diff(expected: &str, actual: &str) -> String {
    let old: Vec<&str> = expected.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    // lcs[i][j]: length of the LCS of old[i..] and new[j..]
    let mut lcs = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            out.push_str(&format!("  {}\n", old[i]));
            i += 1;
            j += 1;
        } else if j < new.len() && (i == old.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", new[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", old[i]));
            i += 1;
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push_str("(the final line feed differs)\n");
    }
    out
}

#[test]
fn line_diff_marks_changes() {
    assert_eq!(line_diff("a\nb\nc\n", "a\nx\nc\n"), "  a\n+ x\n- b\n  c\n");
    assert_eq!(
        line_diff("a\n", "a"),
        "  a\n(the final line feed differs)\n"
    );
}

/// One VM on one NAT management network with DHCP, DNS and IPv6; KVM with
/// Lago's default host-passthrough CPU and 2 vCPUs (two NUMA cells).
#[test]
fn single_vm_single_nat_network() {
    let gw = Ipv4Addr::new(192, 168, 200, 1);
    let vm0 = Ipv4Addr::new(192, 168, 200, 2);
    let net = NetworkXml {
        name: "5f37-n0".to_owned(),
        tag: tag("n0"),
        kind: NetworkKind::Nat(NatNetwork {
            bridge_name: "n0-nic".to_owned(),
            gw,
            dhcp: Some(Dhcp {
                range: Some(DhcpRange {
                    start: 100,
                    end: 254,
                }),
                hosts: vec![dhcp_host(vm0, "vm0")],
            }),
            ipv6: true,
            mtu: None,
            management: Some(ManagementDns {
                dns_domain_name: "lago.local".to_owned(),
                hosts: BTreeMap::from([(vm0, vec!["vm0".to_owned()])]),
            }),
        }),
    };
    check(
        "single-net-n0.xml",
        &network_xml(&net),
        Schema::Network,
        &tag("n0"),
    );

    let dom = DomainXml {
        name: "5f3749a0-vm0".to_owned(),
        tag: tag("vm0"),
        domain_type: DomainType::Kvm,
        memory_mib: 1024,
        vcpu: 2,
        cpu: Cpu::default_for(DomainType::Kvm),
        emulator: None,
        disks: vec![disk("vm0_root.qcow2", DiskFormat::Qcow2, "vda")],
        nics: vec![Nic {
            network: "5f37-n0".to_owned(),
            mac: Some(mac(vm0)),
            mtu: None,
        }],
        console_log: console("vm0"),
    };
    check(
        "single-vm0.xml",
        &domain_xml(&dom),
        Schema::Domain,
        &tag("vm0"),
    );
}

/// Three VMs on two networks: a NAT management network with MTU 9000, a
/// static IP (vm1) and extra DNS records, and a bridge network. vm0: KVM,
/// `cpu_model` with vmx, 4 vCPUs (NUMA 2×2), virtio + SCSI + ISO disks.
/// vm1: `cpu_custom`. vm2: software emulation with CPU mode maximum,
/// 6 vCPUs (NUMA 3×2), an explicit emulator and a read-only seed disk.
#[test]
fn three_vms_two_networks() {
    let gw = Ipv4Addr::new(192, 168, 201, 1);
    let ip0 = Ipv4Addr::new(192, 168, 201, 2);
    let ip1 = Ipv4Addr::new(192, 168, 201, 50); // static `ip: 192.168.201.50`
    let ip2 = Ipv4Addr::new(192, 168, 201, 3);
    let db = Ipv4Addr::new(192, 168, 201, 200); // dns_records: {db: …}
    let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    let n0 = NetworkXml {
        name: "5f37-n0".to_owned(),
        tag: tag("n0"),
        kind: NetworkKind::Nat(NatNetwork {
            bridge_name: "n0-nic".to_owned(),
            gw,
            dhcp: Some(Dhcp {
                range: Some(DhcpRange {
                    start: 100,
                    end: 199,
                }),
                // mapping order; the second vm0 entry is deduplicated
                hosts: vec![
                    dhcp_host(ip0, "vm0"),
                    dhcp_host(ip0, "vm0-n0"),
                    dhcp_host(ip1, "vm1"),
                    dhcp_host(ip2, "vm2"),
                ],
            }),
            ipv6: true,
            mtu: Some(9000),
            management: Some(ManagementDns {
                dns_domain_name: "lago.local".to_owned(),
                hosts: BTreeMap::from([
                    (ip0, names(&["vm0-n0", "vm0"])),
                    (ip1, names(&["vm1"])),
                    (ip2, names(&["vm2"])),
                    (db, names(&["db", "db.lago.local"])),
                ]),
            }),
        }),
    };
    check(
        "multi-net-n0.xml",
        &network_xml(&n0),
        Schema::Network,
        &tag("n0"),
    );

    let br0 = NetworkXml {
        name: "5f37-br0".to_owned(),
        tag: tag("br0"),
        kind: NetworkKind::Bridge {
            bridge_name: "5f37-br0".to_owned(),
        },
    };
    check(
        "multi-net-br0.xml",
        &network_xml(&br0),
        Schema::Network,
        &tag("br0"),
    );

    let nic = |ip: Ipv4Addr| Nic {
        network: "5f37-n0".to_owned(),
        mac: Some(mac(ip)),
        mtu: Some(9000),
    };

    let vm0 = DomainXml {
        name: "5f3749a0-vm0".to_owned(),
        tag: tag("vm0"),
        domain_type: DomainType::Kvm,
        memory_mib: 2048,
        vcpu: 4,
        cpu: Cpu::Model {
            name: "Skylake-Client".to_owned(),
            require_feature: Some(CpuFeature::Vmx),
        },
        emulator: None,
        disks: vec![
            disk("vm0_root.qcow2", DiskFormat::Qcow2, "sda"),
            disk("vm0_data.qcow2", DiskFormat::Qcow2, "vdb"),
            disk("vm0_scratch.raw", DiskFormat::Raw, "sdc"),
            disk("vm0_install.iso", DiskFormat::Iso, "hdd"),
        ],
        nics: vec![
            nic(ip0),
            Nic {
                network: "5f37-br0".to_owned(),
                mac: None,
                mtu: None,
            },
        ],
        console_log: console("vm0"),
    };
    check(
        "multi-vm0.xml",
        &domain_xml(&vm0),
        Schema::Domain,
        &tag("vm0"),
    );

    // cpu_custom as an init file writes it (keys sorted here so that the
    // output does not depend on serde_json's map order)
    let custom = json!({
        "@match": "exact",
        "@mode": "custom",
        "feature": [
            {"@name": "vmx", "@policy": "optional"},
            {"@name": "x2apic", "@policy": "require"}
        ],
        "model": {"#text": "Westmere", "@fallback": "allow"},
        "numa": {"cell": [
            {"@cpus": "0", "@id": 0, "@memory": 512, "@unit": "MiB"},
            {"@cpus": "1", "@id": 1, "@memory": 512, "@unit": "MiB"}
        ]}
    });
    let vm1 = DomainXml {
        name: "5f3749a0-vm1".to_owned(),
        tag: tag("vm1"),
        domain_type: DomainType::Kvm,
        memory_mib: 1024,
        vcpu: 2,
        cpu: Cpu::Custom(custom),
        emulator: None,
        disks: vec![disk("vm1_root.qcow2", DiskFormat::Qcow2, "vda")],
        nics: vec![nic(ip1)],
        console_log: console("vm1"),
    };
    check(
        "multi-vm1.xml",
        &domain_xml(&vm1),
        Schema::Domain,
        &tag("vm1"),
    );

    let vm2 = DomainXml {
        name: "5f3749a0-vm2".to_owned(),
        tag: tag("vm2"),
        domain_type: DomainType::Qemu,
        memory_mib: 1536,
        vcpu: 6,
        cpu: Cpu::default_for(DomainType::Qemu),
        emulator: Some("/usr/bin/qemu-system-x86_64".to_owned()),
        disks: vec![
            disk("vm2_root.qcow2", DiskFormat::Qcow2, "vda"),
            Disk {
                read_only: true,
                ..disk("vm2_seed.raw", DiskFormat::Raw, "vdb")
            },
        ],
        nics: vec![nic(ip2)],
        console_log: console("vm2"),
    };
    check(
        "multi-vm2.xml",
        &domain_xml(&vm2),
        Schema::Domain,
        &tag("vm2"),
    );
}

/// A NAT network that is not the management network, without DHCP or IPv6:
/// DNS off, just the address.
#[test]
fn isolated_nat_network() {
    let net = NetworkXml {
        name: "5f37-n1".to_owned(),
        tag: tag("n1"),
        kind: NetworkKind::Nat(NatNetwork {
            bridge_name: "n1-nic".to_owned(),
            gw: Ipv4Addr::new(192, 168, 202, 1),
            dhcp: None,
            ipv6: false,
            mtu: Some(1500),
            management: None,
        }),
    };
    check(
        "isolated-net-n1.xml",
        &network_xml(&net),
        Schema::Network,
        &tag("n1"),
    );
}

/// Names and paths full of XML's special characters: the output must stay
/// well-formed, validate, and give the values back. (DNS and DHCP host names
/// must be DNS names for libvirt; their escaping is unit-tested.)
#[test]
fn special_characters_are_escaped() {
    let odd = "a&b<c>d'e\"f";
    let odd_tag = PrefixTag {
        path: format!("/tmp/{odd}/.lago/default"),
        uuid: UUID.to_owned(),
        name: odd.to_owned(),
    };
    let ip = Ipv4Addr::new(192, 168, 203, 2);
    let net = NetworkXml {
        name: format!("net-{odd}"),
        tag: odd_tag.clone(),
        kind: NetworkKind::Nat(NatNetwork {
            bridge_name: "n2-nic".to_owned(),
            gw: Ipv4Addr::new(192, 168, 203, 1),
            dhcp: Some(Dhcp {
                range: None,
                // host names are held to DNS syntax by libvirt's schema
                hosts: vec![dhcp_host(ip, "vm0")],
            }),
            ipv6: false,
            mtu: None,
            management: Some(ManagementDns {
                dns_domain_name: "lago.local".to_owned(),
                hosts: BTreeMap::from([(ip, vec!["vm0".to_owned()])]),
            }),
        }),
    };
    let net_xml = network_xml(&net);
    assert!(net_xml.contains("<name>net-a&amp;b&lt;c&gt;d'e\"f</name>"));
    check("escape-net.xml", &net_xml, Schema::Network, &odd_tag);

    let dom = DomainXml {
        name: format!("vm-{odd}"),
        tag: odd_tag.clone(),
        domain_type: DomainType::Qemu,
        memory_mib: 256,
        vcpu: 1,
        cpu: Cpu::Model {
            name: odd.to_owned(),
            require_feature: None,
        },
        emulator: Some(format!("/opt/{odd}/qemu")),
        disks: vec![Disk {
            path: format!("/tmp/{odd}/root.qcow2"),
            format: DiskFormat::Qcow2,
            dev: "vda".to_owned(),
            read_only: false,
        }],
        nics: vec![Nic {
            network: format!("net-{odd}"),
            mac: Some(mac(ip)),
            mtu: None,
        }],
        console_log: Some(format!("/tmp/{odd}/console.log")),
    };
    let dom_xml = domain_xml(&dom);
    assert!(dom_xml.contains("<source file=\"/tmp/a&amp;b&lt;c&gt;d&apos;e&quot;f/root.qcow2\"/>"));
    check("escape-vm.xml", &dom_xml, Schema::Domain, &odd_tag);
}
