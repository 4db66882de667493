//! The prefix tag: which lago prefix owns a libvirt object.
//!
//! Every network and domain lago creates carries, in its `<metadata>`, one
//! element in lago's own XML namespace [`LAGO_XMLNS`]:
//!
//! ```xml
//! <metadata>
//!   <lago:prefix xmlns:lago="https://github.com/lago-project/lago/xmlns/prefix/1">
//!     <lago:path>/home/me/project/.lago/default</lago:path>
//!     <lago:uuid>5f3749a0c4f011eebc2c52540062e9f6</lago:uuid>
//!     <lago:name>vm0</lago:name>
//!   </lago:prefix>
//! </metadata>
//! ```
//!
//! libvirt keeps a `<metadata>` child as long as it is in a namespace (one
//! element per namespace), in both domain and network XML, and hands it back
//! in `virDomainGetXMLDesc`/`virNetworkGetXMLDesc` and, for domains, in
//! `virDomainGetMetadata(VIR_DOMAIN_METADATA_ELEMENT, LAGO_XMLNS)` — there
//! with the namespace stripped (`<prefix><path>…`), checked with libvirt 9.0.
//! A later
//! `cleanup` lists every domain and network, reads the tag back with
//! [`parse_prefix_tag`] and treats the object as an orphan when
//! `<path>/uuid` no longer exists or holds another uuid.
//!
//! The namespace URI is an identifier, not a web page; its last segment is the
//! version of this format. Readers match the URI, never the `lago:` prefix,
//! which libvirt or another writer may change.

use quick_xml::NsReader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, Event};
use quick_xml::name::{Namespace, ResolveResult};

use super::writer::XmlOut;

/// The XML namespace of lago's metadata in libvirt objects (version 1).
pub const LAGO_XMLNS: &str = "https://github.com/lago-project/lago/xmlns/prefix/1";

/// The namespace prefix lago writes for [`LAGO_XMLNS`] (`lago:`).
pub const LAGO_XMLNS_PREFIX: &str = "lago";

/// The owner of a libvirt object: the prefix that created it.
///
/// Rendered into every network and domain by [`network_xml`] and
/// [`domain_xml`], read back by [`parse_prefix_tag`].
///
/// [`network_xml`]: super::network_xml
/// [`domain_xml`]: super::domain_xml
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrefixTag {
    /// Absolute path of the prefix folder (the one holding `uuid`).
    pub path: String,
    /// The prefix's uuid, as stored in its `uuid` file (32 hex digits).
    pub uuid: String,
    /// The object's name inside the environment, unprefixed (`vm0`, `n0`):
    /// libvirt names are shortened or hashed, this is what people know.
    pub name: String,
}

/// Element names inside `<lago:prefix>`.
const PREFIX: &str = "prefix";
const PATH: &str = "path";
const UUID: &str = "uuid";
const NAME: &str = "name";

/// Writes `<metadata>` with the tag as its only child.
pub(crate) fn write_metadata(out: &mut XmlOut, tag: &PrefixTag) {
    let qualified = |local: &str| format!("{LAGO_XMLNS_PREFIX}:{local}");
    let xmlns = format!("xmlns:{LAGO_XMLNS_PREFIX}");
    out.start("metadata", &[]);
    out.start(&qualified(PREFIX), &[(&xmlns, LAGO_XMLNS)]);
    out.leaf(&qualified(PATH), &[], &tag.path);
    out.leaf(&qualified(UUID), &[], &tag.uuid);
    out.leaf(&qualified(NAME), &[], &tag.name);
    out.end(&qualified(PREFIX));
    out.end("metadata");
}

/// Which field of the tag the reader is inside.
#[derive(Clone, Copy)]
enum Field {
    Path,
    Uuid,
    Name,
}

/// Reads the [`PrefixTag`] back from XML.
///
/// `xml` may be a whole domain or network description (as libvirt returns
/// it), just the `<lago:prefix>` element, or the element as
/// `virDomainGetMetadata(…, LAGO_XMLNS)` returns it: libvirt strips the
/// namespace there, so a document whose root is a `prefix` element in no
/// namespace is accepted too. Otherwise the first element named `prefix`
/// in namespace [`LAGO_XMLNS`] is used, wherever it is and whatever
/// prefix binds the namespace; field elements are matched in the same
/// namespace as that `prefix` element, and elements not known are ignored.
///
/// Returns `None` when there is no such element, when it lacks `path`,
/// `uuid` or `name`, or when the XML is not well-formed up to the end of
/// the tag: an object without a readable tag is not lago's.
pub fn parse_prefix_tag(xml: &str) -> Option<PrefixTag> {
    let mut reader = NsReader::from_str(xml);
    // Depth of the open elements below <lago:prefix>, once inside it.
    let mut inside: Option<usize> = None;
    let mut field: Option<Field> = None;
    let mut text = String::new();
    let (mut path, mut uuid, mut name) = (None, None, None);
    let mut root_seen = false;
    // The namespace the fields must be in: lago's, or none for a bare
    // `<prefix>` root as virDomainGetMetadata returns it.
    let mut field_ns_is_none = false;
    loop {
        let (ns, event) = match reader.read_resolved_event() {
            Ok(next) => next,
            Err(err) => {
                tracing::debug!(error = %err, "unreadable XML while looking for the lago prefix tag");
                return None;
            }
        };
        let lago_ns = matches!(ns, ResolveResult::Bound(Namespace(uri)) if uri == LAGO_XMLNS);
        let no_ns = matches!(ns, ResolveResult::Unbound);
        let at_root = matches!(event, Event::Start(_) | Event::Empty(_)) && !root_seen;
        if at_root {
            root_seen = true;
        }
        let prefix_start = lago_ns || (at_root && no_ns);
        let ours = if field_ns_is_none { no_ns } else { lago_ns };
        match event {
            Event::Start(start) => {
                let local = start.local_name();
                match inside {
                    None if prefix_start && local.as_ref() == PREFIX => {
                        inside = Some(0);
                        field_ns_is_none = !lago_ns;
                    }
                    None => {}
                    Some(depth) => {
                        if depth == 0 && ours {
                            field = field_named(local.as_ref());
                            text.clear();
                        }
                        inside = Some(depth + 1);
                    }
                }
            }
            Event::Empty(start) => {
                let local = start.local_name();
                match inside {
                    // <lago:prefix/>: a tag without fields
                    None if prefix_start && local.as_ref() == PREFIX => return None,
                    Some(0) if ours => match field_named(local.as_ref()) {
                        Some(Field::Path) => path = Some(String::new()),
                        Some(Field::Uuid) => uuid = Some(String::new()),
                        Some(Field::Name) => name = Some(String::new()),
                        None => {}
                    },
                    _ => {}
                }
            }
            Event::End(_) => match inside {
                Some(0) => {
                    return Some(PrefixTag {
                        path: path?,
                        uuid: uuid?,
                        name: name?,
                    });
                }
                Some(1) => {
                    match field.take() {
                        Some(Field::Path) => path = Some(std::mem::take(&mut text)),
                        Some(Field::Uuid) => uuid = Some(std::mem::take(&mut text)),
                        Some(Field::Name) => name = Some(std::mem::take(&mut text)),
                        None => {}
                    }
                    inside = Some(0);
                }
                Some(depth) => inside = Some(depth - 1),
                None => {}
            },
            Event::Text(content) if inside == Some(1) && field.is_some() => {
                text.push_str(&content.xml10_content());
            }
            Event::CData(content) if inside == Some(1) && field.is_some() => {
                text.push_str(&content.xml10_content());
            }
            Event::GeneralRef(reference) if inside == Some(1) && field.is_some() => {
                text.push_str(&resolve_reference(&reference)?);
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

fn field_named(local: &str) -> Option<Field> {
    match local {
        PATH => Some(Field::Path),
        UUID => Some(Field::Uuid),
        NAME => Some(Field::Name),
        _ => None,
    }
}

/// The text an entity or character reference stands for: a character
/// reference or one of XML's five predefined entities. Anything else (a
/// DTD-declared entity) is not something lago or libvirt writes: `None`.
fn resolve_reference(reference: &BytesRef<'_>) -> Option<String> {
    if reference.is_char_ref() {
        match reference.resolve_char_ref() {
            Ok(Some(c)) => Some(c.to_string()),
            _ => None,
        }
    } else {
        let name = reference.xml10_content();
        resolve_predefined_entity(&name).map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag() -> PrefixTag {
        PrefixTag {
            path: "/srv/a b/&<>'\"\r\n\t/.lago/default".to_owned(),
            uuid: "0123456789abcdef0123456789abcdef".to_owned(),
            name: "vm-&-0".to_owned(),
        }
    }

    fn rendered(tag: &PrefixTag) -> String {
        let mut out = XmlOut::new();
        out.start("domain", &[]);
        write_metadata(&mut out, tag);
        out.end("domain");
        out.finish()
    }

    #[test]
    fn round_trip_with_awkward_characters() {
        let tag = tag();
        assert_eq!(parse_prefix_tag(&rendered(&tag)), Some(tag));
    }

    #[test]
    fn layout() {
        let tag = PrefixTag {
            path: "/p".to_owned(),
            uuid: "u".to_owned(),
            name: "n".to_owned(),
        };
        assert_eq!(
            rendered(&tag),
            format!(
                "<domain>\n  <metadata>\n    <lago:prefix xmlns:lago=\"{LAGO_XMLNS}\">\n      \
                 <lago:path>/p</lago:path>\n      <lago:uuid>u</lago:uuid>\n      \
                 <lago:name>n</lago:name>\n    </lago:prefix>\n  </metadata>\n</domain>\n"
            )
        );
    }

    #[test]
    fn namespace_not_prefix_is_matched() {
        let xml = format!(
            "<network><metadata><x:prefix xmlns:x='{LAGO_XMLNS}'><x:other><x:path>no</x:path></x:other>\
             <x:path>/p&amp;q</x:path><x:uuid><![CDATA[u<1>]]></x:uuid><x:name/></x:prefix></metadata></network>"
        );
        assert_eq!(
            parse_prefix_tag(&xml),
            Some(PrefixTag {
                path: "/p&q".to_owned(),
                uuid: "u<1>".to_owned(),
                name: String::new(),
            })
        );
        // the bare element
        let bare = format!(
            "<lago:prefix xmlns:lago=\"{LAGO_XMLNS}\"><lago:path>&#47;p</lago:path>\
             <lago:uuid>u</lago:uuid><lago:name>n</lago:name></lago:prefix>"
        );
        assert_eq!(
            parse_prefix_tag(&bare).map(|t| t.path),
            Some("/p".to_owned())
        );
    }

    #[test]
    fn namespace_stripped_root_as_get_metadata_returns_it() {
        // verbatim shape of `virsh metadata DOM URI` with libvirt 9.0
        let stripped =
            "<prefix>\n  <path>/p</path>\n  <uuid>u</uuid>\n  <name>vm0</name>\n</prefix>\n";
        assert_eq!(
            parse_prefix_tag(stripped),
            Some(PrefixTag {
                path: "/p".to_owned(),
                uuid: "u".to_owned(),
                name: "vm0".to_owned(),
            })
        );
        // but an unqualified <prefix> below the root is not lago's
        assert_eq!(
            parse_prefix_tag("<d><prefix><path>p</path><uuid>u</uuid><name>n</name></prefix></d>"),
            None
        );
        // and in a lago-qualified tag, unqualified fields do not count
        let mixed = format!(
            "<lago:prefix xmlns:lago='{LAGO_XMLNS}'><path>p</path><lago:uuid>u</lago:uuid>\
             <lago:name>n</lago:name></lago:prefix>"
        );
        assert_eq!(parse_prefix_tag(&mixed), None);
    }

    #[test]
    fn foreign_or_incomplete_tags_are_none() {
        assert_eq!(parse_prefix_tag("<domain><name>x</name></domain>"), None);
        assert_eq!(parse_prefix_tag(""), None);
        // same local names, other namespace or none
        assert_eq!(
            parse_prefix_tag(
                "<m><prefix xmlns='urn:other'><path>p</path><uuid>u</uuid><name>n</name></prefix>\
                 <prefix><path>p</path><uuid>u</uuid><name>n</name></prefix></m>"
            ),
            None
        );
        // missing uuid
        let xml = format!(
            "<lago:prefix xmlns:lago='{LAGO_XMLNS}'><lago:path>p</lago:path><lago:name>n</lago:name></lago:prefix>"
        );
        assert_eq!(parse_prefix_tag(&xml), None);
        // empty tag
        assert_eq!(
            parse_prefix_tag(&format!("<lago:prefix xmlns:lago='{LAGO_XMLNS}'/>")),
            None
        );
        // malformed before the tag ends
        let broken = format!(
            "<d><lago:prefix xmlns:lago='{LAGO_XMLNS}'><lago:path>p</lago:uuid></lago:prefix></d>"
        );
        assert_eq!(parse_prefix_tag(&broken), None);
        // unknown entity
        let entity = format!(
            "<lago:prefix xmlns:lago='{LAGO_XMLNS}'><lago:path>&nbsp;</lago:path>\
             <lago:uuid>u</lago:uuid><lago:name>n</lago:name></lago:prefix>"
        );
        assert_eq!(parse_prefix_tag(&entity), None);
    }
}
