//! libvirt domain XML for lago's VMs.
//!
//! The domain is a plain x86-64 `pc` machine booting from its disks through
//! the BIOS (`<boot dev='hd'/>`: libvirt boots the first `device='disk'` disk,
//! which is the template's root disk), with:
//!
//! - one I/O thread shared by the virtio disks and the virtio-scsi controller;
//! - disks in the given order, their bus taken from the target name
//!   (`vdX` virtio-blk, `sdX` virtio-scsi, `hdX` IDE) and ISO images as IDE
//!   CD-ROMs, each with a 1-based `<serial>`;
//! - virtio NICs with two vhost queues (libvirt silently uses the userspace
//!   backend instead of vhost for domain type `qemu`);
//! - a serial console on a pty, also written to a log file by virtlogd, and
//!   the `<console>` that points at it;
//! - the QEMU guest agent channel, a virtio RNG fed from `/dev/urandom`, no
//!   memory balloon and no USB controller;
//! - no graphics and no video device: guests are reached over SSH and the
//!   serial console, and leaving them out saves memory and start time;
//! - ACPI (for a clean `shutdown`), APIC, PAE, the clock in UTC, and
//!   suspend to memory or disk turned off.

use super::cpu::{Cpu, write_cpu};
use super::network::DEFAULT_MTU;
use super::tag::{PrefixTag, write_metadata};
use super::writer::XmlOut;

/// The libvirt domain type: which accelerator runs the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainType {
    /// Hardware virtualisation through `/dev/kvm`.
    Kvm,
    /// Software emulation (QEMU's TCG), for hosts where KVM is missing or
    /// does not work.
    Qemu,
}

impl DomainType {
    /// The value of `<domain type=…>`: `kvm` or `qemu`.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainType::Kvm => "kvm",
            DomainType::Qemu => "qemu",
        }
    }
}

/// A VM lago creates: input of [`domain_xml`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainXml {
    /// The libvirt domain name, `<uuid[:8]>-<vm name>`.
    pub name: String,
    /// The owning prefix, written into `<metadata>`.
    pub tag: PrefixTag,
    /// KVM or software emulation.
    pub domain_type: DomainType,
    /// Guest memory in MiB (the init file's `memory`).
    pub memory_mib: u64,
    /// Number of vCPUs; also the number of sockets of the CPU topology.
    pub vcpu: u32,
    /// The guest CPU; see [`Cpu`] and [`Cpu::default_for`].
    pub cpu: Cpu,
    /// The emulator binary (`<emulator>`), e.g. from libvirt's capabilities;
    /// `None` lets libvirt choose its default for the domain type.
    pub emulator: Option<String>,
    /// Disks in the init file's order; the first is the root disk.
    pub disks: Vec<Disk>,
    /// NICs in the init file's order.
    pub nics: Vec<Nic>,
    /// File the serial console is logged to (appended), e.g.
    /// `<prefix>/logs/<vm>.console.log`; `None`: no log.
    pub console_log: Option<String>,
}

/// One disk of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// Absolute path of the image, with variables already expanded.
    pub path: String,
    /// The image format.
    pub format: DiskFormat,
    /// The target device name (`vda`, `sdb`, `hdc`), which also selects the
    /// bus: see [`Disk::bus`].
    pub dev: String,
    /// Attach read-only (`<readonly/>`), e.g. a NoCloud seed image. CD-ROMs
    /// are always read-only.
    pub read_only: bool,
}

/// The format of a disk image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiskFormat {
    /// A qcow2 image (template overlays, empty disks).
    Qcow2,
    /// A raw image.
    Raw,
    /// An ISO 9660 image, attached as a raw IDE CD-ROM.
    Iso,
}

/// The bus a disk is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiskBus {
    /// virtio-blk, with the domain's I/O thread.
    Virtio,
    /// virtio-scsi, on the domain's one virtio-scsi controller.
    Scsi,
    /// IDE (CD-ROMs, `hdX` disks).
    Ide,
}

impl DiskBus {
    /// The value of `<target bus=…>`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskBus::Virtio => "virtio",
            DiskBus::Scsi => "scsi",
            DiskBus::Ide => "ide",
        }
    }
}

impl Disk {
    /// The disk's bus: IDE for an ISO image; otherwise by the target name's
    /// prefix, `sd` → SCSI, `hd` → IDE, anything else (`vd`) → virtio.
    pub fn bus(&self) -> DiskBus {
        if self.format == DiskFormat::Iso || self.dev.starts_with("hd") {
            DiskBus::Ide
        } else if self.dev.starts_with("sd") {
            DiskBus::Scsi
        } else {
            DiskBus::Virtio
        }
    }
}

/// One NIC of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// The libvirt name of the network it is on (`fe68-n0`).
    pub network: String,
    /// Its MAC (`54:52:c0:a8:c8:02`); `None` lets libvirt pick one (Lago
    /// gives a MAC only to NICs that have an IP).
    pub mac: Option<String>,
    /// Its MTU, from the network's; written only when it is not 1500.
    pub mtu: Option<u32>,
}

/// Renders the libvirt XML of a domain. See [`DomainXml`].
pub fn domain_xml(dom: &DomainXml) -> String {
    let mut out = XmlOut::new();
    out.start("domain", &[("type", dom.domain_type.as_str())]);
    out.leaf("name", &[], &dom.name);
    write_metadata(&mut out, &dom.tag);
    out.leaf("memory", &[("unit", "MiB")], &dom.memory_mib.to_string());
    out.leaf("vcpu", &[], &dom.vcpu.to_string());
    out.leaf("iothreads", &[], "1");

    out.start("os", &[]);
    out.leaf("type", &[("arch", "x86_64"), ("machine", "pc")], "hvm");
    out.empty("boot", &[("dev", "hd")]);
    out.empty("bootmenu", &[("enable", "no")]);
    out.end("os");

    out.start("features", &[]);
    out.empty("acpi", &[]);
    out.empty("apic", &[]);
    out.empty("pae", &[]);
    out.end("features");

    write_cpu(
        &mut out,
        &dom.cpu,
        dom.domain_type,
        dom.vcpu,
        dom.memory_mib,
    );
    out.empty("clock", &[("offset", "utc")]);
    out.start("pm", &[]);
    out.empty("suspend-to-mem", &[("enabled", "no")]);
    out.empty("suspend-to-disk", &[("enabled", "no")]);
    out.end("pm");

    out.start("devices", &[]);
    if let Some(emulator) = &dom.emulator {
        out.leaf("emulator", &[], emulator);
    }
    for (index, disk) in dom.disks.iter().enumerate() {
        write_disk(&mut out, disk, index + 1);
    }
    if dom.disks.iter().any(|disk| disk.bus() == DiskBus::Scsi) {
        out.start(
            "controller",
            &[("type", "scsi"), ("index", "0"), ("model", "virtio-scsi")],
        );
        out.empty(
            "driver",
            &[("queues", &dom.vcpu.max(1).to_string()), ("iothread", "1")],
        );
        out.end("controller");
    }
    out.empty("controller", &[("type", "usb"), ("model", "none")]);
    for nic in &dom.nics {
        write_nic(&mut out, nic);
    }
    write_console(&mut out, dom.console_log.as_deref());
    out.start("channel", &[("type", "unix")]);
    out.empty(
        "target",
        &[("type", "virtio"), ("name", "org.qemu.guest_agent.0")],
    );
    out.end("channel");
    out.start("rng", &[("model", "virtio")]);
    out.leaf("backend", &[("model", "random")], "/dev/urandom");
    out.end("rng");
    out.empty("memballoon", &[("model", "none")]);
    out.end("devices");

    out.end("domain");
    out.finish()
}

fn write_disk(out: &mut XmlOut, disk: &Disk, serial: usize) {
    let bus = disk.bus();
    let cdrom = disk.format == DiskFormat::Iso;
    let format = match disk.format {
        DiskFormat::Qcow2 => "qcow2",
        DiskFormat::Raw | DiskFormat::Iso => "raw",
    };
    out.start(
        "disk",
        &[
            ("type", "file"),
            ("device", if cdrom { "cdrom" } else { "disk" }),
        ],
    );
    let mut driver = vec![("name", "qemu"), ("type", format)];
    if !cdrom {
        driver.extend([("discard", "unmap"), ("cache", "writeback")]);
    }
    if bus == DiskBus::Virtio {
        driver.extend([("iothread", "1"), ("queues", "1")]);
    }
    out.empty("driver", &driver);
    out.empty("source", &[("file", &disk.path)]);
    out.empty("target", &[("dev", &disk.dev), ("bus", bus.as_str())]);
    if cdrom || disk.read_only {
        out.empty("readonly", &[]);
    }
    out.leaf("serial", &[], &serial.to_string());
    out.end("disk");
}

fn write_nic(out: &mut XmlOut, nic: &Nic) {
    out.start("interface", &[("type", "network")]);
    out.empty("source", &[("network", &nic.network)]);
    if let Some(mac) = &nic.mac {
        out.empty("mac", &[("address", mac)]);
    }
    out.empty("model", &[("type", "virtio")]);
    out.empty("driver", &[("name", "vhost"), ("queues", "2")]);
    if let Some(mtu) = nic.mtu.filter(|&mtu| mtu != DEFAULT_MTU) {
        out.empty("mtu", &[("size", &mtu.to_string())]);
    }
    out.end("interface");
}

fn write_console(out: &mut XmlOut, log: Option<&str>) {
    out.start("serial", &[("type", "pty")]);
    if let Some(log) = log {
        out.empty("log", &[("file", log), ("append", "on")]);
    }
    out.empty("target", &[("port", "0")]);
    out.end("serial");
    out.start("console", &[("type", "pty")]);
    out.empty("target", &[("type", "serial"), ("port", "0")]);
    out.end("console");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(dev: &str, format: DiskFormat) -> Disk {
        Disk {
            path: format!("/p/images/{dev}"),
            format,
            dev: dev.to_owned(),
            read_only: false,
        }
    }

    fn dom() -> DomainXml {
        DomainXml {
            name: "01234567-vm0".to_owned(),
            tag: PrefixTag {
                path: "/p".to_owned(),
                uuid: "0123456789abcdef0123456789abcdef".to_owned(),
                name: "vm0".to_owned(),
            },
            domain_type: DomainType::Kvm,
            memory_mib: 1024,
            vcpu: 1,
            cpu: Cpu::HostPassthrough,
            emulator: None,
            disks: vec![disk("vda", DiskFormat::Qcow2)],
            nics: Vec::new(),
            console_log: None,
        }
    }

    #[test]
    fn bus_from_dev_and_format() {
        assert_eq!(disk("vda", DiskFormat::Qcow2).bus(), DiskBus::Virtio);
        assert_eq!(disk("sdb", DiskFormat::Raw).bus(), DiskBus::Scsi);
        assert_eq!(disk("hdc", DiskFormat::Raw).bus(), DiskBus::Ide);
        assert_eq!(disk("vdd", DiskFormat::Iso).bus(), DiskBus::Ide);
        assert_eq!(disk("sde", DiskFormat::Iso).bus(), DiskBus::Ide);
        assert_eq!(disk("xvda", DiskFormat::Raw).bus(), DiskBus::Virtio);
    }

    #[test]
    fn drivers_per_bus() {
        let mut d = dom();
        d.disks = vec![
            disk("vda", DiskFormat::Qcow2),
            disk("sdb", DiskFormat::Raw),
            disk("hdc", DiskFormat::Iso),
        ];
        d.vcpu = 3;
        let xml = domain_xml(&d);
        assert!(xml.contains(
            "<driver name=\"qemu\" type=\"qcow2\" discard=\"unmap\" cache=\"writeback\" iothread=\"1\" queues=\"1\"/>"
        ));
        assert!(xml.contains(
            "<driver name=\"qemu\" type=\"raw\" discard=\"unmap\" cache=\"writeback\"/>"
        ));
        assert!(xml.contains(
            "<disk type=\"file\" device=\"cdrom\">\n      <driver name=\"qemu\" type=\"raw\"/>"
        ));
        assert!(xml.contains(
            "<target dev=\"hdc\" bus=\"ide\"/>\n      <readonly/>\n      <serial>3</serial>"
        ));
        assert_eq!(xml.matches("model=\"virtio-scsi\"").count(), 1);
        assert!(xml.contains("<driver queues=\"3\" iothread=\"1\"/>"));
    }

    #[test]
    fn no_scsi_controller_without_scsi_disks() {
        assert!(!domain_xml(&dom()).contains("virtio-scsi"));
    }

    #[test]
    fn read_only_disk_and_serial_numbers() {
        let mut d = dom();
        let mut seed = disk("vdb", DiskFormat::Raw);
        seed.read_only = true;
        d.disks.push(seed);
        let xml = domain_xml(&d);
        assert_eq!(xml.matches("<readonly/>").count(), 1);
        assert!(xml.contains("<serial>1</serial>") && xml.contains("<serial>2</serial>"));
    }

    #[test]
    fn nic_mac_and_mtu_optional() {
        let mut d = dom();
        d.nics = vec![
            Nic {
                network: "0123-n0".to_owned(),
                mac: Some("54:52:c0:a8:c8:02".to_owned()),
                mtu: Some(1500),
            },
            Nic {
                network: "0123-br".to_owned(),
                mac: None,
                mtu: Some(9000),
            },
        ];
        let xml = domain_xml(&d);
        assert_eq!(xml.matches("<mac address=").count(), 1);
        assert_eq!(xml.matches("<mtu size=\"9000\"/>").count(), 1);
        assert_eq!(
            xml.matches("<driver name=\"vhost\" queues=\"2\"/>").count(),
            2
        );
    }

    #[test]
    fn console_log_optional() {
        let mut d = dom();
        assert!(!domain_xml(&d).contains("<log"));
        d.console_log = Some("/p/logs/vm0.console.log".to_owned());
        assert!(domain_xml(&d).contains("<log file=\"/p/logs/vm0.console.log\" append=\"on\"/>"));
    }

    #[test]
    fn type_and_emulator() {
        let mut d = dom();
        d.domain_type = DomainType::Qemu;
        d.emulator = Some("/usr/bin/qemu-system-x86_64".to_owned());
        let xml = domain_xml(&d);
        assert!(xml.starts_with("<domain type=\"qemu\">\n  <name>01234567-vm0</name>\n"));
        assert!(xml.contains("<emulator>/usr/bin/qemu-system-x86_64</emulator>"));
        assert!(xml.contains("<cpu mode=\"maximum\">"));
    }
}
