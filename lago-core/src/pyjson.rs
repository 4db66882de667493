//! JSON text exactly as Python's `json.dump` writes it, so files Lago users
//! and tools already read (persisted specs, lease files, metadata) stay
//! byte-for-byte the same.
//!
//! Python's defaults differ from serde_json's in two ways that show in the
//! bytes: non-ASCII characters are escaped as `\uXXXX` (surrogate pairs above
//! U+FFFF), and without an indent the separators are `", "` and `": "`. With
//! `indent=4` the layout matches serde_json's pretty printer, including `{}`
//! and `[]` for empty containers, and no newline at the end.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, PrettyFormatter, Serializer};

/// Python's `json.dumps(value, indent=4)`.
pub fn dumps_indent4<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::new();
    let fmt = AsciiOnly(PrettyFormatter::with_indent(b"    "));
    value.serialize(&mut Serializer::with_formatter(&mut out, fmt))?;
    Ok(into_string(out))
}

/// Python's `json.dumps(value)`: one line, `", "` and `": "` separators.
pub fn dumps<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::new();
    value.serialize(&mut Serializer::with_formatter(&mut out, AsciiOnly(Spaced)))?;
    Ok(into_string(out))
}

/// The formatter only ever writes ASCII, so this cannot lose anything; a
/// lossy conversion keeps it free of a panic path all the same.
fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Python's compact-but-spaced separators: `, ` between items, `: ` after keys.
struct Spaced;

impl Formatter for Spaced {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

/// Wraps a formatter so that string contents are ASCII: every character
/// above U+007F becomes `\uXXXX`, as with Python's `ensure_ascii=True`.
struct AsciiOnly<F>(F);

impl<F: Formatter> Formatter for AsciiOnly<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        // Python writes control characters as \u00XX too, but \b \f \n \r \t
        // and the quotes/backslash short forms like serde_json does.
        self.0.write_char_escape(w, escape)
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }

    fn end_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Expected strings below are what CPython 3 prints for the same values.

    #[test]
    fn indent4_matches_python() {
        // keys in sorted order, so the test holds with or without preserve_order
        let v = json!({"b": true, "n": 3, "nets": ["n0", "n1"], "vms": [], "x": {}, "z": null});
        assert_eq!(
            dumps_indent4(&v).unwrap(),
            "{\n    \"b\": true,\n    \"n\": 3,\n    \"nets\": [\n        \"n0\",\n        \"n1\"\n    ],\n    \"vms\": [],\n    \"x\": {},\n    \"z\": null\n}"
        );
    }

    #[test]
    fn lease_file_bytes() {
        // json.dump(["/p/uuid", "ab"], f, indent=4)
        let v = json!(["/p/uuid", "ab"]);
        assert_eq!(
            dumps_indent4(&v).unwrap(),
            "[\n    \"/p/uuid\",\n    \"ab\"\n]"
        );
    }

    #[test]
    fn non_ascii_is_escaped_like_ensure_ascii() {
        assert_eq!(
            dumps(&json!("é😀\n\"")).unwrap(),
            r#""\u00e9\ud83d\ude00\n\"""#
        );
    }

    #[test]
    fn one_line_separators() {
        assert_eq!(
            dumps(&json!({"a": [1, 2], "b": "c"})).unwrap(),
            r#"{"a": [1, 2], "b": "c"}"#
        );
    }
}
