//! libvirt XML for external snapshots (disk-only, or with the memory saved
//! to a file lago names), and the two facts a snapshot needs from a running
//! domain's live XML: its disk targets and whether its guest agent is
//! connected.
//!
//! The snapshot document names every disk of the domain: the ones to
//! snapshot with `snapshot='external'` and the overlay file lago made for
//! it (created beforehand, used with `REUSE_EXT`), every other one (the
//! NoCloud seed, cdroms) with `snapshot='no'`, so libvirt touches nothing
//! lago did not plan.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::writer::XmlOut;

/// The name of the QEMU guest agent's virtio channel.
pub const GUEST_AGENT_CHANNEL: &str = "org.qemu.guest_agent.0";

/// One disk of a snapshot: its target device and, when it is snapshotted,
/// the (absolute) path of its new overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotDisk {
    /// The target device (`vda`).
    pub dev: String,
    /// The new overlay, or `None` for a disk left out (`snapshot='no'`).
    pub overlay: Option<String>,
}

/// The `<domainsnapshot>` document for an external snapshot: disk-only
/// when `memory` is `None`, else with the guest's memory and device state
/// saved to the file `memory` (an external checkpoint).
pub fn snapshot_xml(name: &str, disks: &[SnapshotDisk], memory: Option<&str>) -> String {
    let mut out = XmlOut::new();
    out.start("domainsnapshot", &[]);
    out.leaf("name", &[], name);
    if let Some(file) = memory {
        out.empty("memory", &[("snapshot", "external"), ("file", file)]);
    }
    out.start("disks", &[]);
    for d in disks {
        match &d.overlay {
            Some(path) => {
                out.start("disk", &[("name", &d.dev), ("snapshot", "external")]);
                out.empty("driver", &[("type", "qcow2")]);
                out.empty("source", &[("file", path)]);
                out.end("disk");
            }
            None => out.empty("disk", &[("name", &d.dev), ("snapshot", "no")]),
        }
    }
    out.end("disks");
    out.end("domainsnapshot");
    out.finish()
}

/// What a snapshot needs to know of a live domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveDomain {
    /// The target devices of its disks, in XML order.
    pub disk_targets: Vec<String>,
    /// Whether the guest agent channel reports `state='connected'`.
    pub agent_connected: bool,
}

/// The value of attribute `key` of `e`, unescaped.
pub(super) fn attr(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == key)
        .and_then(|a| {
            a.normalized_value(XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// Reads [`LiveDomain`] from a domain's live XML (`virsh dumpxml`). XML that
/// cannot be read gives what was found up to the problem.
pub fn parse_live_domain(xml: &str) -> LiveDomain {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut live = LiveDomain::default();
    loop {
        let (e, empty) = match reader.read_event() {
            Ok(Event::Start(e)) => (e, false),
            Ok(Event::Empty(e)) => (e, true),
            Ok(Event::End(_)) => {
                stack.pop();
                continue;
            }
            Ok(Event::Eof) => break,
            Ok(_) => continue,
            Err(err) => {
                tracing::debug!(error = %err, "unreadable live domain XML");
                break;
            }
        };
        let name = e.local_name().as_ref().to_string();
        let parents: Vec<&str> = stack.iter().map(String::as_str).collect();
        if name == "target" {
            match parents.as_slice() {
                ["domain", "devices", "disk"] => {
                    if let Some(dev) = attr(&e, "dev") {
                        live.disk_targets.push(dev);
                    }
                }
                ["domain", "devices", "channel"]
                    if attr(&e, "name").as_deref() == Some(GUEST_AGENT_CHANNEL)
                        && attr(&e, "state").as_deref() == Some("connected") =>
                {
                    live.agent_connected = true;
                }
                _ => {}
            }
        }
        if !empty {
            stack.push(name);
        }
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_document() {
        let xml = snapshot_xml(
            "s1",
            &[
                SnapshotDisk {
                    dev: "vda".into(),
                    overlay: Some("/p/images/vm0_root.s1.qcow2".into()),
                },
                SnapshotDisk {
                    dev: "vdz".into(),
                    overlay: None,
                },
            ],
            None,
        );
        assert_eq!(
            xml,
            "<domainsnapshot>\n  <name>s1</name>\n  <disks>\n    \
             <disk name=\"vda\" snapshot=\"external\">\n      <driver type=\"qcow2\"/>\n      \
             <source file=\"/p/images/vm0_root.s1.qcow2\"/>\n    </disk>\n    \
             <disk name=\"vdz\" snapshot=\"no\"/>\n  </disks>\n</domainsnapshot>\n"
        );
        let with_memory = snapshot_xml(
            "m1",
            &[SnapshotDisk {
                dev: "vda".into(),
                overlay: Some("/p/a&b.qcow2".into()),
            }],
            Some("/p/images/vm0.m1.mem"),
        );
        assert!(
            with_memory.contains(
                "<name>m1</name>\n  <memory snapshot=\"external\" file=\"/p/images/vm0.m1.mem\"/>"
            ),
            "{with_memory}"
        );
        assert!(
            with_memory.contains("file=\"/p/a&amp;b.qcow2\""),
            "{with_memory}"
        );
    }

    #[test]
    fn live_domain_facts() {
        let xml = "<domain type='qemu'><name>x</name><devices>\
            <disk type='file' device='disk'><source file='/a'/><target dev='vda' bus='virtio'/>\
            <backingStore type='file'><source file='/b'/></backingStore></disk>\
            <disk type='file' device='disk'><target dev='vdz' bus='virtio'/></disk>\
            <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' state='disconnected'/></channel>\
            <console type='pty'><target type='serial' port='0'/></console>\
            </devices></domain>";
        let live = parse_live_domain(xml);
        assert_eq!(live.disk_targets, ["vda", "vdz"]);
        assert!(!live.agent_connected);
        let live = parse_live_domain(&xml.replace("'disconnected'", "'connected'"));
        assert!(live.agent_connected);
        assert_eq!(
            parse_live_domain("<domain><devices>"),
            LiveDomain::default()
        );
    }
}
