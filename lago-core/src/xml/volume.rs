//! libvirt storage volume XML (`virStorageVolCreateXML`): the volumes a
//! remote host keeps lago's images in, a plain one to upload a file into,
//! or a qcow2 overlay on a backing volume.

use super::writer::XmlOut;

/// A storage volume to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeXml {
    /// Its name in the pool (the file name, for a `dir` pool).
    pub name: String,
    /// Its size as the guest sees it, in bytes.
    pub capacity: u64,
    /// Its format (`raw`, `qcow2`, `iso`…).
    pub format: String,
    /// For an overlay: the backing volume's path on the host and format.
    pub backing: Option<(String, String)>,
}

/// The `<volume>` document of `vol`. A volume without backing is created
/// with no allocation (`<allocation>0</allocation>`): an upload fills it.
pub fn volume_xml(vol: &VolumeXml) -> String {
    let mut out = XmlOut::new();
    out.start("volume", &[("type", "file")]);
    out.leaf("name", &[], &vol.name);
    out.leaf("capacity", &[("unit", "bytes")], &vol.capacity.to_string());
    out.leaf("allocation", &[("unit", "bytes")], "0");
    out.start("target", &[]);
    out.empty("format", &[("type", &vol.format)]);
    out.end("target");
    if let Some((path, format)) = &vol.backing {
        out.start("backingStore", &[]);
        out.leaf("path", &[], path);
        out.empty("format", &[("type", format)]);
        out.end("backingStore");
    }
    out.end("volume");
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_overlay_volumes() {
        let plain = VolumeXml {
            name: "tiny&1.qcow2".into(),
            capacity: 1 << 20,
            format: "qcow2".into(),
            backing: None,
        };
        let xml = volume_xml(&plain);
        assert!(xml.contains("<name>tiny&amp;1.qcow2</name>"), "{xml}");
        assert!(
            xml.contains(r#"<capacity unit="bytes">1048576</capacity>"#),
            "{xml}"
        );
        assert!(xml.contains(r#"<format type="qcow2"/>"#), "{xml}");
        assert!(!xml.contains("backingStore"), "{xml}");
        let overlay = VolumeXml {
            backing: Some(("/pool/base.qcow2".into(), "qcow2".into())),
            ..plain
        };
        let xml = volume_xml(&overlay);
        assert!(
            xml.contains("<backingStore>\n    <path>/pool/base.qcow2</path>"),
            "{xml}"
        );
    }
}
