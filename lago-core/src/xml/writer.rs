//! The small XML writer every renderer of this module goes through.
//!
//! [`XmlOut`] wraps a [`quick_xml::Writer`] over a `Vec<u8>` with two-space
//! indentation and does the escaping itself, so that the rules are explicit
//! and the same everywhere:
//!
//! - text: `&`, `<`, `>` become entity references and a carriage return
//!   becomes `&#13;` (an XML parser would otherwise turn it into a line feed);
//! - attribute values: additionally `"` and `'`, and tab, line feed and
//!   carriage return become character references (attribute-value
//!   normalisation would otherwise turn them into spaces);
//! - characters that XML 1.0 does not allow at all, even escaped (control
//!   characters other than tab, line feed and carriage return, U+FFFE and
//!   U+FFFF), are replaced with U+FFFD and logged as a warning, so that the
//!   output is always well-formed.
//!
//! Element and attribute names written by this module are literals, except
//! the keys of a user's `cpu_custom` mapping, which are checked with
//! [`is_xml_name`] first.

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::QName;

/// Indentation of nested elements, in spaces.
const INDENT: usize = 2;

/// An XML document being written into memory, indented by two spaces.
pub(crate) struct XmlOut {
    writer: Writer<Vec<u8>>,
    /// While above zero, no line breaks or indentation are added.
    compact: usize,
}

impl XmlOut {
    /// An empty document.
    pub(crate) fn new() -> Self {
        XmlOut {
            writer: Writer::new_with_indent(Vec::new(), b' ', INDENT),
            compact: 0,
        }
    }

    /// Writes `event` into the in-memory buffer.
    ///
    /// This is the one place where a write error is handled. The sink is a
    /// `Vec<u8>`, whose `io::Write` implementation never returns an error (it
    /// can only fail by aborting on allocation failure), so the error branch
    /// cannot run; should it ever, the event is dropped and the failure
    /// logged instead of panicking in the middle of a user's operation.
    fn emit(&mut self, event: Event<'_>) {
        if let Err(err) = self.writer.write_event(event) {
            tracing::error!(error = %err, "writing XML into memory failed; output is incomplete");
        }
    }

    /// Opens element `name` with `attrs` (values are escaped here).
    pub(crate) fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.before_tag();
        let start = start_tag(name, attrs);
        self.emit(Event::Start(start));
    }

    /// Closes element `name`.
    pub(crate) fn end(&mut self, name: &str) {
        self.before_tag();
        self.emit(Event::End(BytesEnd::new(name)));
    }

    /// Writes the empty element `<name attrs…/>`.
    pub(crate) fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.before_tag();
        let start = start_tag(name, attrs);
        self.emit(Event::Empty(start));
    }

    /// Writes escaped character data at the current position.
    pub(crate) fn text(&mut self, text: &str) {
        let escaped = escape_text(text);
        self.emit(Event::Text(BytesText::from_escaped(escaped)));
    }

    /// Starts a compact stretch: until the matching [`XmlOut::end_compact`],
    /// tags are written without line breaks or indentation.
    ///
    /// An element holding both text and child elements needs this for its
    /// children: the whitespace an indenting writer adds would become part
    /// of its text.
    pub(crate) fn begin_compact(&mut self) {
        self.compact += 1;
    }

    /// Ends the compact stretch started by [`XmlOut::begin_compact`].
    pub(crate) fn end_compact(&mut self) {
        self.compact = self.compact.saturating_sub(1);
    }

    /// In a compact stretch, keeps the next tag on the current line: the
    /// indenting writer adds no break after text, even empty text.
    fn before_tag(&mut self) {
        if self.compact > 0 {
            self.emit(Event::Text(BytesText::from_escaped("")));
        }
    }

    /// Writes `<name attrs…>text</name>` on one line.
    pub(crate) fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.start(name, attrs);
        self.text(text);
        self.end(name);
    }

    /// The finished document, ending with a line feed.
    pub(crate) fn finish(self) -> String {
        let mut bytes = self.writer.into_inner();
        bytes.push(b'\n');
        // Every piece written came from a `&str` or an ASCII literal, so the
        // buffer is UTF-8; the lossy branch only keeps this total.
        match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        }
    }
}

/// A start tag with escaped attribute values.
fn start_tag<'a>(name: &'a str, attrs: &[(&'a str, &str)]) -> BytesStart<'a> {
    let mut start = BytesStart::new(name);
    for (key, value) in attrs {
        start.push_attribute(Attribute {
            key: QName(key),
            value: Cow::Owned(escape_attr(value).into_owned()),
        });
    }
    start
}

/// Whether XML 1.0 allows `c` in a document at all (production `Char`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escapes `raw` for use as element text. See the module documentation.
pub(crate) fn escape_text(raw: &str) -> Cow<'_, str> {
    escape(raw, false)
}

/// Escapes `raw` for use as an attribute value, whichever quote delimits it.
pub(crate) fn escape_attr(raw: &str) -> Cow<'_, str> {
    escape(raw, true)
}

fn escape(raw: &str, attr: bool) -> Cow<'_, str> {
    let needs_work = |c: char| {
        matches!(c, '&' | '<' | '>' | '\r')
            || (attr && matches!(c, '"' | '\'' | '\t' | '\n'))
            || !is_xml_char(c)
    };
    if !raw.chars().any(needs_work) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len() + 16);
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if attr => out.push_str("&quot;"),
            '\'' if attr => out.push_str("&apos;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' if attr => out.push_str("&#10;"),
            c if !is_xml_char(c) => {
                tracing::warn!(
                    character = %c.escape_unicode(),
                    "character not allowed in XML replaced with U+FFFD"
                );
                out.push('\u{FFFD}');
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `name` is a valid XML 1.0 element or attribute name (production
/// `Name`, fifth edition; a colon is allowed, as in `prefix:local`).
pub(crate) fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if is_name_start_char(first) => chars.all(is_name_char),
        _ => false,
    }
}

fn is_name_start_char(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c,
            '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_markup_and_carriage_return_only() {
        assert_eq!(escape_text("plain"), "plain");
        assert!(matches!(escape_text("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape_text("a&b<c>d'e\"f\r\n\tg"),
            "a&amp;b&lt;c&gt;d'e\"f&#13;\n\tg"
        );
    }

    #[test]
    fn attr_escapes_quotes_and_whitespace() {
        assert_eq!(
            escape_attr("a&b<c>d'e\"f\r\n\tg"),
            "a&amp;b&lt;c&gt;d&apos;e&quot;f&#13;&#10;&#9;g"
        );
    }

    #[test]
    fn characters_xml_forbids_are_replaced() {
        assert_eq!(
            escape_text("a\u{0}b\u{1b}c\u{FFFE}"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}"
        );
        assert_eq!(escape_attr("\u{7}"), "\u{FFFD}");
        // non-ASCII that XML allows is kept as is
        assert_eq!(escape_text("héllo ✓ 𝄞"), "héllo ✓ 𝄞");
    }

    #[test]
    fn names() {
        for ok in ["cpu", "model", "a-b.c_d", "lago:prefix", "_x", "été", "x1"] {
            assert!(is_xml_name(ok), "{ok}");
        }
        for bad in ["", "1x", "-x", "a b", "a<b", "#text", "@name", "a&b", ".x"] {
            assert!(!is_xml_name(bad), "{bad}");
        }
    }

    #[test]
    fn document_is_indented_and_ends_with_newline() {
        let mut out = XmlOut::new();
        out.start("a", &[("k", "v'\"")]);
        out.leaf("b", &[], "t<");
        out.empty("c", &[("x", "1"), ("y", "2")]);
        out.end("a");
        assert_eq!(
            out.finish(),
            "<a k=\"v&apos;&quot;\">\n  <b>t&lt;</b>\n  <c x=\"1\" y=\"2\"/>\n</a>\n"
        );
    }

    #[test]
    fn compact_stretch_keeps_mixed_content_free_of_whitespace() {
        let mut out = XmlOut::new();
        out.start("r", &[]);
        out.start("a", &[]);
        out.begin_compact();
        out.empty("b", &[]);
        out.start("c", &[]);
        out.empty("d", &[]);
        out.end("c");
        out.text("tail");
        out.end_compact();
        out.end("a");
        out.empty("e", &[]);
        out.end("r");
        assert_eq!(
            out.finish(),
            "<r>\n  <a><b/><c><d/></c>tail</a>\n  <e/>\n</r>\n"
        );
    }
}
