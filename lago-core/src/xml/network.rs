//! libvirt network XML for lago's NAT and bridge networks.
//!
//! A NAT network is a /24 behind libvirt's NAT with its own bridge, optional
//! DHCP (a dynamic range and fixed host entries), optional IPv6 in Lago's
//! ULA prefix, and DNS: the management network serves the names of every VM
//! under its DNS domain, any other network has DNS turned off. A bridge
//! network is libvirt's `forward mode='bridge'` onto an existing host bridge
//! and carries no addresses. Both carry the [`PrefixTag`] in `<metadata>`.
//!
//! Ordering is fixed so that the same input always gives the same bytes:
//! DHCP hosts and DNS hosts are sorted by address, hostnames by name.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::tag::{PrefixTag, write_metadata};
use super::writer::XmlOut;

/// The MTU libvirt and Lago assume; not written out.
pub const DEFAULT_MTU: u32 = 1500;

/// The first 48 bits of every Lago IPv6 address: `fd8f:1391:3a82::/48`.
const LAGO_ULA: [u16; 3] = [0xfd8f, 0x1391, 0x3a82];

/// A libvirt network lago creates: input of [`network_xml`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkXml {
    /// The libvirt network name, already prefixed and shortened
    /// (`fe68-n0`, `5f37-930e31b9b9`).
    pub name: String,
    /// The owning prefix, written into `<metadata>`.
    pub tag: PrefixTag,
    /// NAT or bridge, with what each needs.
    pub kind: NetworkKind,
}

/// What kind of libvirt network, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkKind {
    /// `<forward mode='nat'>` on a bridge libvirt creates.
    Nat(NatNetwork),
    /// `<forward mode='bridge'>` onto the host bridge `bridge_name`, which
    /// must exist; libvirt assigns no addresses, runs no DHCP or DNS.
    Bridge {
        /// The host bridge device.
        bridge_name: String,
    },
}

/// The settings of a NAT network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatNetwork {
    /// The bridge device libvirt creates (`<net name>-nic`, at most 15 bytes).
    pub bridge_name: String,
    /// The gateway, the host's address on the network; the network is its /24.
    pub gw: Ipv4Addr,
    /// DHCP service; `None`: no `<dhcp>` at all (as Lago without `dhcp:`,
    /// guests that ask for an address get none).
    pub dhcp: Option<Dhcp>,
    /// Also give the network Lago's IPv6 prefix (see [`lago_ipv6_prefix`]),
    /// with DHCPv6 mirroring the IPv4 DHCP and AAAA records in DNS.
    pub ipv6: bool,
    /// The network's MTU; written only when it is not [`DEFAULT_MTU`].
    pub mtu: Option<u32>,
    /// `Some` on the management network (DNS domain and records);
    /// `None` elsewhere, which turns libvirt's DNS off (`<dns enable='no'/>`).
    pub management: Option<ManagementDns>,
}

/// DHCP on a NAT network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dhcp {
    /// The dynamic range; `None`: only the fixed `hosts` get addresses.
    pub range: Option<DhcpRange>,
    /// Fixed leases. Entries are deduplicated by IP (the first entry for an
    /// address wins, so list the preferred name first) and written sorted
    /// by IP.
    pub hosts: Vec<DhcpHost>,
}

/// A DHCP range inside the network's /24, by last octet (Lago's
/// `dhcp: {start: 100, end: 254}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpRange {
    /// Last octet of the first address handed out.
    pub start: u8,
    /// Last octet of the last address handed out.
    pub end: u8,
}

/// A fixed DHCP lease: `<host mac ip name/>` (and its DHCPv6 twin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpHost {
    /// The NIC's MAC, `aa:bb:cc:dd:ee:ff` (Lago: `54:52:` + the IPv4 octets).
    pub mac: String,
    /// The address the NIC gets.
    pub ip: Ipv4Addr,
    /// The host name dnsmasq hands out with it.
    pub name: String,
}

/// DNS of the management network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementDns {
    /// The DNS domain, `<domain name=… localOnly='yes'/>` (Lago default
    /// `lago.local`).
    pub dns_domain_name: String,
    /// Address records: IPv4 address → host names (VMs of every network
    /// and the init file's `dns_records`). Names are sorted and
    /// deduplicated; an address without names is left out. With
    /// [`NatNetwork::ipv6`] each address also gets the same names on its
    /// Lago IPv6 twin ([`lago_ipv6_addr`]).
    pub hosts: BTreeMap<Ipv4Addr, Vec<String>>,
}

/// Lago's IPv6 /64 for the IPv4 subnet whose third octet is `third_octet`:
/// `fd8f:1391:3a82:<third octet>::/64`, where the octet's decimal digits are
/// used as the hexadecimal group (192.168.200.0/24 → `fd8f:1391:3a82:200::`),
/// exactly as Lago writes it.
pub fn lago_ipv6_prefix(third_octet: u8) -> Ipv6Addr {
    let group = decimal_digits_as_hex(third_octet);
    Ipv6Addr::new(LAGO_ULA[0], LAGO_ULA[1], LAGO_ULA[2], group, 0, 0, 0, 0)
}

/// The IPv6 address Lago pairs with `ip`: its subnet's
/// [`lago_ipv6_prefix`] with the IPv4 address as the last 32 bits
/// (`fd8f:1391:3a82:200::192.168.200.5`, which is written canonically as
/// `fd8f:1391:3a82:200::c0a8:c805`).
pub fn lago_ipv6_addr(ip: Ipv4Addr) -> Ipv6Addr {
    let [a, b, c, d] = ip.octets();
    let prefix = lago_ipv6_prefix(c).segments();
    Ipv6Addr::new(
        prefix[0],
        prefix[1],
        prefix[2],
        prefix[3],
        0,
        0,
        u16::from_be_bytes([a, b]),
        u16::from_be_bytes([c, d]),
    )
}

/// `200` → `0x200`: every decimal octet (at most three digits) is a valid
/// hexadecimal group.
fn decimal_digits_as_hex(octet: u8) -> u16 {
    let [hundreds, tens, ones] = [octet / 100, (octet / 10) % 10, octet % 10];
    (u16::from(hundreds) << 8) | (u16::from(tens) << 4) | u16::from(ones)
}

/// The DHCPv6 client id (DUID-LL, type 3, hardware type 1) of `mac`, as
/// libvirt's `<host id=…>` wants it: `0:3:0:1:` followed by the MAC.
fn duid_ll(mac: &str) -> String {
    format!("0:3:0:1:{}", mac.to_ascii_lowercase())
}

/// Renders the libvirt XML of a network. See [`NetworkXml`].
pub fn network_xml(net: &NetworkXml) -> String {
    let mut out = XmlOut::new();
    out.start("network", &[]);
    out.leaf("name", &[], &net.name);
    write_metadata(&mut out, &net.tag);
    match &net.kind {
        NetworkKind::Bridge { bridge_name } => {
            out.empty("forward", &[("mode", "bridge")]);
            out.empty("bridge", &[("name", bridge_name)]);
        }
        NetworkKind::Nat(nat) => write_nat(&mut out, nat),
    }
    out.end("network");
    out.finish()
}

fn write_nat(out: &mut XmlOut, nat: &NatNetwork) {
    out.start("forward", &[("mode", "nat")]);
    out.start("nat", &[]);
    out.empty("port", &[("start", "1024"), ("end", "65535")]);
    out.end("nat");
    out.end("forward");
    // STP off: a bridge lago creates has no other bridge to loop with, and
    // with STP on Linux keeps every new port listening and learning for
    // twice its minimum forward delay (2 s each) before it forwards — the
    // guest's first DHCP requests are dropped and its boot waits for them.
    out.empty(
        "bridge",
        &[("name", &nat.bridge_name), ("stp", "off"), ("delay", "0")],
    );
    if let Some(mtu) = nat.mtu.filter(|&mtu| mtu != DEFAULT_MTU) {
        out.empty("mtu", &[("size", &mtu.to_string())]);
    }
    match &nat.management {
        Some(dns) => write_management_dns(out, dns, nat.ipv6),
        None => out.empty("dns", &[("enable", "no")]),
    }

    let hosts = nat.dhcp.as_ref().map(|dhcp| unique_hosts(&dhcp.hosts));
    let [a, b, c, _] = nat.gw.octets();
    let in_subnet = |last: u8| Ipv4Addr::new(a, b, c, last);

    let gw = nat.gw.to_string();
    let v4_attrs = [("address", gw.as_str()), ("netmask", "255.255.255.0")];
    match (&nat.dhcp, &hosts) {
        (Some(dhcp), Some(hosts)) => {
            out.start("ip", &v4_attrs);
            let attrs = |host: &DhcpHost| {
                vec![
                    ("mac", host.mac.clone()),
                    ("ip", host.ip.to_string()),
                    ("name", host.name.clone()),
                ]
            };
            write_dhcp(
                out,
                dhcp.range,
                hosts,
                |ip| ip.to_string(),
                attrs,
                in_subnet,
            );
            out.end("ip");
        }
        _ => out.empty("ip", &v4_attrs),
    }

    if nat.ipv6 {
        let mut gw6 = lago_ipv6_prefix(c).segments();
        gw6[7] = 1;
        let gw6 = Ipv6Addr::from(gw6).to_string();
        let v6_attrs = [
            ("family", "ipv6"),
            ("address", gw6.as_str()),
            ("prefix", "64"),
        ];
        match (&nat.dhcp, &hosts) {
            (Some(dhcp), Some(hosts)) => {
                out.start("ip", &v6_attrs);
                let attrs = |host: &DhcpHost| {
                    vec![
                        ("id", duid_ll(&host.mac)),
                        ("ip", lago_ipv6_addr(host.ip).to_string()),
                        ("name", host.name.clone()),
                    ]
                };
                let address = |ip: Ipv4Addr| lago_ipv6_addr(ip).to_string();
                write_dhcp(out, dhcp.range, hosts, address, attrs, in_subnet);
                out.end("ip");
            }
            _ => out.empty("ip", &v6_attrs),
        }
    }
}

/// The hosts with the first entry per IP kept, sorted by IP.
fn unique_hosts(hosts: &[DhcpHost]) -> Vec<&DhcpHost> {
    let mut by_ip: BTreeMap<Ipv4Addr, &DhcpHost> = BTreeMap::new();
    for host in hosts {
        by_ip.entry(host.ip).or_insert(host);
    }
    by_ip.into_values().collect()
}

/// Writes `<dhcp>` for one address family: the range (its ends through
/// `address`) and the host entries (their attributes through `host_attrs`).
fn write_dhcp(
    out: &mut XmlOut,
    range: Option<DhcpRange>,
    hosts: &[&DhcpHost],
    address: impl Fn(Ipv4Addr) -> String,
    host_attrs: impl Fn(&DhcpHost) -> Vec<(&'static str, String)>,
    in_subnet: impl Fn(u8) -> Ipv4Addr,
) {
    if range.is_none() && hosts.is_empty() {
        out.empty("dhcp", &[]);
        return;
    }
    out.start("dhcp", &[]);
    if let Some(range) = range {
        out.empty(
            "range",
            &[
                ("start", &address(in_subnet(range.start))),
                ("end", &address(in_subnet(range.end))),
            ],
        );
    }
    for host in hosts {
        let attrs = host_attrs(host);
        let refs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        out.empty("host", &refs);
    }
    out.end("dhcp");
}

fn write_management_dns(out: &mut XmlOut, dns: &ManagementDns, ipv6: bool) {
    out.empty(
        "domain",
        &[("name", &dns.dns_domain_name), ("localOnly", "yes")],
    );
    let records: Vec<(Ipv4Addr, BTreeSet<&str>)> = dns
        .hosts
        .iter()
        .map(|(ip, names)| (*ip, names.iter().map(String::as_str).collect()))
        .filter(|(_, names): &(Ipv4Addr, BTreeSet<&str>)| !names.is_empty())
        .collect();
    if records.is_empty() {
        out.empty("dns", &[("forwardPlainNames", "no")]);
        return;
    }
    out.start("dns", &[("forwardPlainNames", "no")]);
    let mut write_host = |ip: String, names: &BTreeSet<&str>| {
        out.start("host", &[("ip", &ip)]);
        for name in names {
            out.leaf("hostname", &[], name);
        }
        out.end("host");
    };
    for (ip, names) in &records {
        write_host(ip.to_string(), names);
    }
    if ipv6 {
        for (ip, names) in &records {
            write_host(lago_ipv6_addr(*ip).to_string(), names);
        }
    }
    out.end("dns");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag() -> PrefixTag {
        PrefixTag {
            path: "/w/.lago/default".to_owned(),
            uuid: "0123456789abcdef0123456789abcdef".to_owned(),
            name: "n0".to_owned(),
        }
    }

    fn nat(gw: Ipv4Addr) -> NatNetwork {
        NatNetwork {
            bridge_name: "n0-nic".to_owned(),
            gw,
            dhcp: None,
            ipv6: false,
            mtu: None,
            management: None,
        }
    }

    fn render(nat: NatNetwork) -> String {
        network_xml(&NetworkXml {
            name: "0123-n0".to_owned(),
            tag: tag(),
            kind: NetworkKind::Nat(nat),
        })
    }

    fn host(mac: &str, ip: [u8; 4], name: &str) -> DhcpHost {
        DhcpHost {
            mac: mac.to_owned(),
            ip: Ipv4Addr::from(ip),
            name: name.to_owned(),
        }
    }

    #[test]
    fn ipv6_prefix_uses_decimal_digits() {
        assert_eq!(lago_ipv6_prefix(200).to_string(), "fd8f:1391:3a82:200::");
        assert_eq!(lago_ipv6_prefix(5).to_string(), "fd8f:1391:3a82:5::");
        assert_eq!(lago_ipv6_prefix(0).to_string(), "fd8f:1391:3a82::");
        assert_eq!(
            lago_ipv6_addr(Ipv4Addr::new(192, 168, 200, 5)),
            "fd8f:1391:3a82:200::192.168.200.5"
                .parse::<Ipv6Addr>()
                .unwrap()
        );
        for octet in 0..=255u8 {
            let group = format!("{:x}", decimal_digits_as_hex(octet));
            assert_eq!(group, octet.to_string());
        }
    }

    #[test]
    fn isolated_nat_has_dns_off_and_no_dhcp() {
        let xml = render(nat(Ipv4Addr::new(192, 168, 201, 1)));
        assert!(xml.contains("<forward mode=\"nat\">"), "{xml}");
        assert!(xml.contains("<dns enable=\"no\"/>"), "{xml}");
        assert!(
            xml.contains("<ip address=\"192.168.201.1\" netmask=\"255.255.255.0\"/>"),
            "{xml}"
        );
        assert!(!xml.contains("dhcp"), "{xml}");
        assert!(!xml.contains("ipv6"), "{xml}");
        assert!(!xml.contains("<mtu"), "{xml}");
    }

    #[test]
    fn mtu_only_when_not_default() {
        let mut n = nat(Ipv4Addr::new(10, 0, 0, 1));
        n.mtu = Some(1500);
        assert!(!render(n.clone()).contains("<mtu"));
        n.mtu = Some(9000);
        assert!(render(n).contains("<mtu size=\"9000\"/>"));
    }

    #[test]
    fn dhcp_hosts_dedup_by_ip_first_wins_sorted() {
        let mut n = nat(Ipv4Addr::new(192, 168, 200, 1));
        n.dhcp = Some(Dhcp {
            range: Some(DhcpRange {
                start: 100,
                end: 254,
            }),
            hosts: vec![
                host("54:52:c0:a8:c8:0a", [192, 168, 200, 10], "vm1"),
                host("54:52:c0:a8:c8:02", [192, 168, 200, 2], "vm0"),
                host("54:52:c0:a8:c8:02", [192, 168, 200, 2], "vm0-n0"),
            ],
        });
        n.ipv6 = true;
        let xml = render(n);
        let v4: Vec<&str> = xml.lines().filter(|l| l.contains("<host mac")).collect();
        assert_eq!(v4.len(), 2, "{xml}");
        assert!(v4[0].contains("name=\"vm0\"") && v4[0].contains("ip=\"192.168.200.2\""));
        assert!(v4[1].contains("name=\"vm1\""));
        assert!(xml.contains("<range start=\"192.168.200.100\" end=\"192.168.200.254\"/>"));
        assert!(
            xml.contains("<ip family=\"ipv6\" address=\"fd8f:1391:3a82:200::1\" prefix=\"64\">")
        );
        assert!(xml.contains(
            "<range start=\"fd8f:1391:3a82:200::c0a8:c864\" end=\"fd8f:1391:3a82:200::c0a8:c8fe\"/>"
        ));
        assert!(xml.contains(
            "<host id=\"0:3:0:1:54:52:c0:a8:c8:02\" ip=\"fd8f:1391:3a82:200::c0a8:c802\" name=\"vm0\"/>"
        ), "{xml}");
    }

    #[test]
    fn dhcp_without_range_or_hosts_is_empty_element() {
        let mut n = nat(Ipv4Addr::new(192, 168, 200, 1));
        n.dhcp = Some(Dhcp {
            range: None,
            hosts: Vec::new(),
        });
        assert!(render(n).contains("<dhcp/>"));
    }

    #[test]
    fn management_dns_sorted_deduplicated_with_ipv6_twins() {
        let mut n = nat(Ipv4Addr::new(192, 168, 200, 1));
        n.ipv6 = true;
        let mut hosts = BTreeMap::new();
        hosts.insert(Ipv4Addr::new(192, 168, 201, 3), vec!["vm1-n1".to_owned()]);
        hosts.insert(
            Ipv4Addr::new(192, 168, 200, 2),
            vec!["vm0".to_owned(), "db".to_owned(), "vm0".to_owned()],
        );
        hosts.insert(Ipv4Addr::new(192, 168, 200, 9), Vec::new());
        n.management = Some(ManagementDns {
            dns_domain_name: "lago.local".to_owned(),
            hosts,
        });
        let xml = render(n);
        assert!(xml.contains("<domain name=\"lago.local\" localOnly=\"yes\"/>"));
        let dns: String = xml
            .lines()
            .skip_while(|l| !l.contains("<dns"))
            .take_while(|l| !l.contains("</dns>"))
            .map(str::trim)
            .collect();
        assert_eq!(
            dns,
            "<dns forwardPlainNames=\"no\">\
             <host ip=\"192.168.200.2\"><hostname>db</hostname><hostname>vm0</hostname></host>\
             <host ip=\"192.168.201.3\"><hostname>vm1-n1</hostname></host>\
             <host ip=\"fd8f:1391:3a82:200::c0a8:c802\"><hostname>db</hostname><hostname>vm0</hostname></host>\
             <host ip=\"fd8f:1391:3a82:201::c0a8:c903\"><hostname>vm1-n1</hostname></host>"
        );
    }

    #[test]
    fn names_are_escaped() {
        let mut n = nat(Ipv4Addr::new(192, 168, 200, 1));
        let odd = "a&b<c>d'e\"f";
        n.bridge_name = odd.to_owned();
        n.dhcp = Some(Dhcp {
            range: None,
            hosts: vec![host(odd, [192, 168, 200, 2], odd)],
        });
        n.management = Some(ManagementDns {
            dns_domain_name: odd.to_owned(),
            hosts: BTreeMap::from([(Ipv4Addr::new(192, 168, 200, 2), vec![odd.to_owned()])]),
        });
        let xml = network_xml(&NetworkXml {
            name: odd.to_owned(),
            tag: tag(),
            kind: NetworkKind::Nat(n),
        });
        let attr = "a&amp;b&lt;c&gt;d&apos;e&quot;f";
        let text = "a&amp;b&lt;c&gt;d'e\"f";
        assert!(xml.contains(&format!("<name>{text}</name>")), "{xml}");
        assert!(xml.contains(&format!("<bridge name=\"{attr}\"")), "{xml}");
        assert!(
            xml.contains(&format!(
                "<host mac=\"{attr}\" ip=\"192.168.200.2\" name=\"{attr}\"/>"
            )),
            "{xml}"
        );
        assert!(
            xml.contains(&format!("<domain name=\"{attr}\" localOnly=\"yes\"/>")),
            "{xml}"
        );
        assert!(
            xml.contains(&format!("<hostname>{text}</hostname>")),
            "{xml}"
        );
        assert_eq!(xml.matches('<').count(), xml.matches('>').count());
    }

    #[test]
    fn bridge_network() {
        let xml = network_xml(&NetworkXml {
            name: "0123-br".to_owned(),
            tag: tag(),
            kind: NetworkKind::Bridge {
                bridge_name: "0123-br".to_owned(),
            },
        });
        assert!(xml.contains("<forward mode=\"bridge\"/>\n  <bridge name=\"0123-br\"/>"));
        assert!(!xml.contains("<ip"));
        assert!(!xml.contains("<dns"));
    }
}
