//! Orphans: running libvirt objects that a lago prefix made and that no
//! prefix owns any more — their workdir was deleted, or the prefix was
//! re-initialized with a new uuid. Upstream Lago could not even see them,
//! and the next environment that leased their subnet failed to start.
//!
//! Every domain and network lago creates carries its prefix in
//! `<metadata>` ([`crate::xml::PrefixTag`]); an object is an orphan when
//! `<path>/uuid` no longer exists or holds another uuid. Objects without a
//! lago tag (the host's own networks, other tools' guests) are never
//! touched.

use std::fs;
use std::path::Path;

use tracing::warn;

use crate::error::Result;
use crate::provider::Provider;
use crate::xml::{PrefixTag, parse_prefix_tag};

/// What kind of libvirt object an orphan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrphanKind {
    /// A domain.
    Vm,
    /// A network.
    Network,
}

/// A running libvirt object whose prefix is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// Domain or network.
    pub kind: OrphanKind,
    /// Its libvirt name.
    pub libvirt_name: String,
    /// The prefix it says it belongs to.
    pub tag: PrefixTag,
}

/// Whether the prefix a tag names still exists with that uuid.
fn owner_exists(tag: &PrefixTag) -> bool {
    fs::read_to_string(Path::new(&tag.path).join("uuid"))
        .map(|u| u.trim() == tag.uuid)
        .unwrap_or(false)
}

/// Every running domain and network tagged by a prefix that no longer
/// exists. An object that vanishes while being looked at is skipped.
pub fn find(provider: &dyn Provider) -> Result<Vec<Orphan>> {
    let mut found = Vec::new();
    let mut check = |kind: OrphanKind, name: String, xml: Option<String>| {
        if let Some(tag) = xml.as_deref().and_then(parse_prefix_tag)
            && !owner_exists(&tag)
        {
            found.push(Orphan {
                kind,
                libvirt_name: name,
                tag,
            });
        }
    };
    for name in provider.list_vms()? {
        let xml = provider.vm_xml(&name)?;
        check(OrphanKind::Vm, name, xml);
    }
    for name in provider.list_networks()? {
        let xml = provider.network_xml(&name)?;
        check(OrphanKind::Network, name, xml);
    }
    Ok(found)
}

/// Stops `orphans`: domains first, then networks (a network is only
/// destroyed once no orphan domain uses it). Each is logged.
pub fn remove(provider: &dyn Provider, orphans: &[Orphan]) -> Result<()> {
    let by_kind = |k: OrphanKind| orphans.iter().filter(move |o| o.kind == k);
    for o in by_kind(OrphanKind::Vm).chain(by_kind(OrphanKind::Network)) {
        warn!(
            object = %o.libvirt_name,
            vm_or_net = %o.tag.name,
            prefix = %o.tag.path,
            "stopping an orphan: its prefix no longer exists"
        );
        match o.kind {
            OrphanKind::Vm => provider.destroy_vm(&o.libvirt_name)?,
            OrphanKind::Network => provider.destroy_network(&o.libvirt_name)?,
        }
    }
    Ok(())
}

/// Finds and stops every orphan; returns what was stopped.
pub fn clean(provider: &dyn Provider) -> Result<Vec<Orphan>> {
    let orphans = find(provider)?;
    remove(provider, &orphans)?;
    Ok(orphans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::libvirt::Libvirt;

    fn tagged(kind: &str, name: &str, path: &Path, uuid: &str) -> String {
        let meta = format!(
            "<metadata><lago:prefix xmlns:lago='{}'><lago:path>{}</lago:path>\
             <lago:uuid>{uuid}</lago:uuid><lago:name>x</lago:name></lago:prefix></metadata>",
            crate::xml::LAGO_XMLNS,
            path.display()
        );
        match kind {
            "net" => format!("<network><name>{name}</name>{meta}<bridge name='{name}'/></network>"),
            _ => format!(
                "<domain type='test'><name>{name}</name>{meta}<memory unit='MiB'>64</memory>\
                 <os><type>hvm</type></os></domain>"
            ),
        }
    }

    #[test]
    fn only_tagged_objects_of_gone_prefixes_are_orphans() {
        // the test driver is per connection: a fresh, private host
        let lv = Libvirt::connect("test:///default").unwrap();
        let live = tempfile::tempdir().unwrap();
        fs::write(live.path().join("uuid"), "aaaa\n").unwrap();
        let gone = live.path().join("deleted-prefix");
        let reinit = tempfile::tempdir().unwrap();
        fs::write(reinit.path().join("uuid"), "new").unwrap();

        lv.create_network(&tagged("net", "orph-n0", &gone, "bbbb"))
            .unwrap();
        lv.create_network(&tagged("net", "live-n0", live.path(), "aaaa"))
            .unwrap();
        lv.create_network("<network><name>untagged</name><bridge name='untagged'/></network>")
            .unwrap();
        lv.create_vm(&tagged("vm", "orph-vm0", &gone, "bbbb"))
            .unwrap();
        lv.create_vm(&tagged("vm", "reinit-vm0", reinit.path(), "old"))
            .unwrap();
        lv.create_vm(&tagged("vm", "live-vm0", live.path(), "aaaa"))
            .unwrap();

        let mut names: Vec<_> = find(&lv)
            .unwrap()
            .into_iter()
            .map(|o| o.libvirt_name)
            .collect();
        names.sort();
        assert_eq!(names, ["orph-n0", "orph-vm0", "reinit-vm0"]);

        let cleaned = clean(&lv).unwrap();
        assert_eq!(cleaned.len(), 3);
        assert!(find(&lv).unwrap().is_empty());
        let nets = lv.list_networks().unwrap();
        assert!(nets.contains(&"live-n0".to_string()), "{nets:?}");
        assert!(nets.contains(&"untagged".to_string()), "{nets:?}");
        assert!(!nets.contains(&"orph-n0".to_string()), "{nets:?}");
        let vms = lv.list_vms().unwrap();
        assert!(vms.contains(&"live-vm0".to_string()), "{vms:?}");
        assert!(
            !vms.iter()
                .any(|v| v.starts_with("orph") || v.starts_with("reinit"))
        );
    }
}
