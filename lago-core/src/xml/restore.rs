//! The domain XML a memory snapshot is restored with.
//!
//! A memory image embeds the XML of its domain as it was when it was saved:
//! its disks name the files the guest wrote to at that moment, which the
//! snapshot froze (they became the backing files of the overlays the VM ran
//! on afterwards). A revert gives each such disk a fresh overlay on that
//! frozen file; [`retarget_disks`] rewrites the embedded XML so that each
//! disk's `<source file=…>` names the fresh overlay instead (and drops any
//! `<backingStore>` recorded for it, which libvirt probes again). Everything
//! else passes through unchanged, so libvirt accepts the document as a
//! host-side change of the saved domain (`virDomainRestoreFlags`' `dxml`).

use std::collections::HashMap;
use std::io::Cursor;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, Writer};

use super::snapshot::attr;

/// Why the embedded XML could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RetargetError {
    /// The XML does not parse.
    #[error("the memory image's domain XML does not parse: {0}")]
    Parse(String),
    /// A disk to retarget is not in the XML.
    #[error("the memory image's domain has no disk on {0}")]
    Missing(String),
}

/// `e` with attribute `file` set to `value` (other attributes kept).
fn with_file(e: &BytesStart<'_>, value: &str) -> BytesStart<'static> {
    let name = e.name().as_ref().to_string();
    let mut out = BytesStart::new(name);
    for a in e.attributes().flatten() {
        if a.key.as_ref() == "file" {
            continue;
        }
        out.push_attribute(a);
    }
    out.push_attribute(("file", value));
    out
}

/// Rewrites `xml` (a domain document) so that every `devices/disk` whose
/// `source file` is a key of `files` names the mapped file instead, without
/// its `backingStore` chain. Every key must be found.
pub fn retarget_disks(xml: &str, files: &HashMap<String, String>) -> Result<String, RetargetError> {
    let mut reader = Reader::from_str(xml);
    let mut writer = Writer::new(Cursor::new(Vec::new()));
    let mut stack: Vec<String> = Vec::new();
    // depth of a <backingStore> being skipped (inside a retargeted disk)
    let mut skipping: Option<usize> = None;
    // whether the <disk> being read had its source retargeted
    let mut disk_retargeted = false;
    let mut found: Vec<&str> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| RetargetError::Parse(e.to_string()))?;
        let depth = stack.len();
        match &event {
            Event::Eof => break,
            Event::Start(e) => stack.push(e.name().as_ref().to_string()),
            Event::End(_) => {
                stack.pop();
            }
            _ => {}
        }
        if let Some(at) = skipping {
            if matches!(event, Event::End(_)) && stack.len() == at {
                skipping = None;
            }
            continue;
        }
        let parents: Vec<&str> = stack.iter().map(String::as_str).collect();
        let out = match &event {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.name();
                let in_disk = match &event {
                    Event::Start(_) => parents.get(..parents.len().saturating_sub(1)),
                    _ => Some(parents.as_slice()),
                };
                let in_disk = in_disk == Some(&["domain", "devices", "disk"][..]);
                if name.as_ref() == "disk" {
                    disk_retargeted = false;
                }
                if in_disk && name.as_ref() == "source" {
                    if let Some(to) = attr(e, "file").and_then(|f| {
                        files.get_key_value(&f).map(|(k, v)| {
                            found.push(k.as_str());
                            v.clone()
                        })
                    }) {
                        disk_retargeted = true;
                        let rewritten = with_file(e, &to);
                        if matches!(event, Event::Start(_)) {
                            Event::Start(rewritten)
                        } else {
                            Event::Empty(rewritten)
                        }
                    } else {
                        event.clone()
                    }
                } else if in_disk && disk_retargeted && name.as_ref() == "backingStore" {
                    if matches!(event, Event::Start(_)) {
                        skipping = Some(depth);
                    }
                    continue;
                } else {
                    event.clone()
                }
            }
            _ => event.clone(),
        };
        writer
            .write_event(out)
            .map_err(|e| RetargetError::Parse(e.to_string()))?;
    }
    if let Some(missing) = files.keys().find(|k| !found.contains(&k.as_str())) {
        return Err(RetargetError::Missing(missing.clone()));
    }
    String::from_utf8(writer.into_inner().into_inner())
        .map_err(|e| RetargetError::Parse(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVED: &str = "<domain type='qemu'>\n  <name>ab-vm0</name>\n  <metadata><lago:prefix xmlns:lago='x' path='/p'/></metadata>\n  <devices>\n    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n      <source file='/p/images/vm0_root.qcow2'/>\n      <backingStore type='file'>\n        <format type='raw'/>\n        <source file='/store/tiny'/>\n      </backingStore>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n    <disk type='file' device='disk'>\n      <source file='/p/images/vm0_cidata.img'/>\n      <target dev='vdz' bus='virtio'/>\n    </disk>\n  </devices>\n</domain>";

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
            .collect()
    }

    #[test]
    fn the_snapshotted_disk_names_its_fresh_overlay() {
        let out = retarget_disks(
            SAVED,
            &map(&[("/p/images/vm0_root.qcow2", "/p/images/vm0_root.m1.qcow2")]),
        )
        .unwrap();
        assert!(
            out.contains("<source file=\"/p/images/vm0_root.m1.qcow2\"/>"),
            "{out}"
        );
        assert!(!out.contains("vm0_root.qcow2'"), "{out}");
        assert!(!out.contains("backingStore"), "{out}");
        assert!(!out.contains("/store/tiny"), "{out}");
        // the rest passes through
        assert!(
            out.contains("<source file='/p/images/vm0_cidata.img'/>"),
            "{out}"
        );
        assert!(
            out.contains("<lago:prefix xmlns:lago='x' path='/p'/>"),
            "{out}"
        );
        assert!(out.contains("<target dev='vda' bus='virtio'/>"), "{out}");
        assert!(out.contains("<driver name='qemu' type='qcow2'/>"), "{out}");
    }

    #[test]
    fn odd_characters_are_escaped_and_missing_disks_named() {
        let saved = SAVED.replace("/p/images/vm0_root.qcow2", "/p &amp; q/root.qcow2");
        let out =
            retarget_disks(&saved, &map(&[("/p & q/root.qcow2", "/p & q/new'.qcow2")])).unwrap();
        assert!(out.contains("file=\"/p &amp; q/new&apos;.qcow2\""), "{out}");

        let e = retarget_disks(SAVED, &map(&[("/elsewhere.qcow2", "/x")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the memory image's domain has no disk on /elsewhere.qcow2"
        );
        let e = retarget_disks("<domain><devices></disk>", &map(&[])).unwrap_err();
        assert!(matches!(e, RetargetError::Parse(_)), "{e}");
    }
}
