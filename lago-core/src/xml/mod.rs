//! libvirt XML for lago's networks, domains, snapshots and storage volumes.
//!
//! A pure renderer: the planning stage fills the plain input structs
//! [`NetworkXml`] and [`DomainXml`], and [`network_xml`] and [`domain_xml`]
//! turn them into the XML handed to `virNetworkCreateXML` and
//! `virDomainCreateXML`. Nothing here touches libvirt, the file system or the
//! init file, and nothing fails: input is taken as planned (validation
//! happens before), and the output is always well-formed XML. All text and
//! attribute values are escaped (`&`, `<`, `>` everywhere, quotes and
//! tab/line feed/carriage return in attribute values, carriage return in
//! text); characters XML 1.0 forbids even escaped (most control characters)
//! are replaced with U+FFFD and logged.
//!
//! Output is deterministic: the same input gives the same bytes. It is
//! indented by two spaces, attribute values are in double quotes, and it ends
//! with a line feed. Element order follows what `virsh dumpxml` prints.
//! The golden files (`lago-core/tests/golden/xml/`) validate against
//! libvirt's schemas; the same shapes (NAT with DHCPv6, DNS and MTU, bridge,
//! every disk bus, NUMA, the CPU modes software emulation supports) were
//! also created and started with libvirt 9.0 / QEMU 7.2, domain type `qemu`,
//! when this module was written.
//!
//! Every object carries a [`PrefixTag`] in its `<metadata>`, in namespace
//! [`LAGO_XMLNS`], so that objects whose prefix is gone can be found again
//! with [`parse_prefix_tag`] and removed.
//!
//! The layout follows Lago's (compatibility contract §5) with these
//! deliberate differences: the CPU mode is chosen per domain type
//! (host-passthrough is refused by libvirt for type `qemu`), the serial
//! console is logged to a file, there is no graphics or video device, and the
//! root disk boots through `<boot dev='hd'/>`.

mod cpu;
mod domain;
mod network;
mod restore;
mod snapshot;
mod tag;
mod volume;
mod writer;
mod xmltodict;

pub use cpu::{Cpu, CpuFeature, NumaCell, numa_cells};
pub use domain::{Disk, DiskBus, DiskFormat, DomainType, DomainXml, Nic, domain_xml};
pub use network::{
    DEFAULT_MTU, Dhcp, DhcpHost, DhcpRange, ManagementDns, NatNetwork, NetworkKind, NetworkXml,
    lago_ipv6_addr, lago_ipv6_prefix, network_xml,
};
pub use restore::{RetargetError, retarget_disks};
pub use snapshot::{
    GUEST_AGENT_CHANNEL, LiveDomain, SnapshotDisk, parse_live_domain, snapshot_xml,
};
pub use tag::{LAGO_XMLNS, LAGO_XMLNS_PREFIX, PrefixTag, parse_prefix_tag};
pub use volume::{VolumeXml, volume_xml};
