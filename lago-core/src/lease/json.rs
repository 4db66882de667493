//! The lease file format: the bytes Python's `json.dump([path, uuid], f,
//! indent=4)` writes, and a reader for any JSON array of two strings.
//!
//! Python's encoder escapes everything outside printable ASCII (`ensure_ascii`
//! is on by default): `"` and `\` with a backslash, `\n`, `\r`, `\t`, `\b`,
//! `\f` by name, every other character below U+0020 or above U+007E as
//! `\uXXXX` in lower-case hex (characters above U+FFFF as a surrogate pair).
//! It writes no trailing newline. A path that is not valid UTF-8 reaches
//! Python as a `str` holding "surrogate escapes" (byte `0xXY` becomes U+DCXY),
//! which the encoder writes as `\udcxy`; the writer and the reader here map
//! such bytes the same way, so a lease names the same path in both programs.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Encodes a lease: `[\n    "<uuid path>",\n    "<uuid>"\n]`.
pub(super) fn encode_lease(uuid_path: &Path, uuid: &str) -> String {
    let mut out = String::from("[\n    ");
    push_json_string(&mut out, uuid_path.as_os_str().as_bytes());
    out.push_str(",\n    ");
    push_json_string(&mut out, uuid.as_bytes());
    out.push_str("\n]");
    out
}

/// Decodes a lease file into the owner's uuid path and uuid.
///
/// Accepts any JSON whitespace layout; the value must be an array of exactly
/// two strings. The error is a short description of what is wrong.
pub(super) fn decode_lease(bytes: &[u8]) -> Result<(PathBuf, String), String> {
    let mut parser = Parser { bytes, pos: 0 };
    parser.skip_ws();
    parser.expect(b'[')?;
    parser.skip_ws();
    let path = parser.string()?;
    parser.skip_ws();
    parser.expect(b',')?;
    parser.skip_ws();
    let uuid = parser.string()?;
    parser.skip_ws();
    parser.expect(b']')?;
    parser.skip_ws();
    if parser.pos != bytes.len() {
        return Err(format!("unexpected data at byte {}", parser.pos));
    }
    let uuid = String::from_utf8(uuid).map_err(|_| "the uuid is not UTF-8 text".to_string())?;
    Ok((PathBuf::from(OsString::from_vec(path)), uuid))
}

/// Appends `bytes` as a JSON string literal the way Python's `json.dump`
/// writes the `str` that `os.fsdecode(bytes)` returns.
fn push_json_string(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_json_char(out, c);
        }
        for byte in chunk.invalid() {
            // surrogateescape: an undecodable byte b becomes U+DC00 + b.
            let _ = write!(out, "\\u{:04x}", 0xdc00 + u32::from(*byte));
        }
    }
    out.push('"');
}

fn push_json_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{08}' => out.push_str("\\b"),
        '\u{0c}' => out.push_str("\\f"),
        ' '..='~' => out.push(c),
        _ => {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
}

/// A minimal reader for the one JSON shape a lease file has.
struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, wanted: u8) -> Result<(), String> {
        match self.bytes.get(self.pos) {
            Some(&b) if b == wanted => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(format!(
                "expected '{}' at byte {}",
                char::from(wanted),
                self.pos
            )),
            None => Err(format!("expected '{}' at the end", char::from(wanted))),
        }
    }

    /// Reads a string literal into raw bytes: UTF-8 for characters, and the
    /// original byte for a surrogate escape U+DC80..=U+DCFF.
    fn string(&mut self) -> Result<Vec<u8>, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err("unterminated string".to_string());
            };
            self.pos += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => self.escape(&mut out)?,
                0x00..=0x1f => {
                    return Err(format!(
                        "control character in string at byte {}",
                        self.pos - 1
                    ));
                }
                _ => out.push(b),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let Some(&b) = self.bytes.get(self.pos) else {
            return Err("unterminated escape".to_string());
        };
        self.pos += 1;
        let simple = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let unit = self.hex4()?;
                return self.unicode_escape(unit, out);
            }
            _ => return Err(format!("invalid escape at byte {}", self.pos - 2)),
        };
        out.push(simple);
        Ok(())
    }

    fn unicode_escape(&mut self, unit: u16, out: &mut Vec<u8>) -> Result<(), String> {
        let code = match unit {
            0xd800..=0xdbff if self.bytes[self.pos..].starts_with(b"\\u") => {
                let save = self.pos;
                self.pos += 2;
                let low = self.hex4()?;
                if (0xdc00..=0xdfff).contains(&low) {
                    0x10000 + ((u32::from(unit) - 0xd800) << 10) + (u32::from(low) - 0xdc00)
                } else {
                    self.pos = save;
                    return Err(format!("lone surrogate \\u{unit:04x}"));
                }
            }
            0xdc80..=0xdcff => {
                // A surrogate escape: the low byte is the original byte.
                out.push((unit & 0xff) as u8);
                return Ok(());
            }
            0xd800..=0xdfff => return Err(format!("lone surrogate \\u{unit:04x}")),
            _ => u32::from(unit),
        };
        let c = char::from_u32(code).ok_or_else(|| format!("invalid code point {code:#x}"))?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, String> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| "truncated \\u escape".to_string())?;
        let text = std::str::from_utf8(digits).map_err(|_| "invalid \\u escape".to_string())?;
        let unit = u16::from_str_radix(text, 16).map_err(|_| "invalid \\u escape".to_string())?;
        self.pos += 4;
        Ok(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected bytes below were produced by CPython 3.11:
    //   io.StringIO(); json.dump([path, uuid], f, indent=4); f.getvalue()
    // with the path built by os.fsdecode() for the non-UTF-8 case.

    #[test]
    fn encodes_like_python_json_dump_indent_4() {
        let got = encode_lease(
            Path::new("/var/lib/x/.lago/default/uuid"),
            "0123456789abcdef0123456789abcdef",
        );
        assert_eq!(
            got,
            "[\n    \"/var/lib/x/.lago/default/uuid\",\n    \"0123456789abcdef0123456789abcdef\"\n]"
        );
    }

    #[test]
    fn escapes_like_python_ensure_ascii() {
        let path = "/tmp/é \"q\" \\ \u{1}\u{7f}\t\n/\u{1F600}/uuid";
        let got = encode_lease(Path::new(path), "u");
        let python = r#"[
    "/tmp/\u00e9 \"q\" \\ \u0001\u007f\t\n/\ud83d\ude00/uuid",
    "u"
]"#;
        assert_eq!(got, python);
        let (back, uuid) = decode_lease(got.as_bytes()).unwrap();
        assert_eq!(back, PathBuf::from(path));
        assert_eq!(uuid, "u");
    }

    #[test]
    fn non_utf8_paths_use_surrogate_escapes() {
        let raw = b"/tmp/\xff\xfeabc/uuid";
        let path = PathBuf::from(OsString::from_vec(raw.to_vec()));
        let got = encode_lease(&path, "u");
        assert_eq!(got, "[\n    \"/tmp/\\udcff\\udcfeabc/uuid\",\n    \"u\"\n]");
        let (back, _) = decode_lease(got.as_bytes()).unwrap();
        assert_eq!(back.as_os_str().as_bytes(), raw);
    }

    #[test]
    fn decodes_other_layouts_and_raw_utf8() {
        let (path, uuid) = decode_lease(" [\"/a/é/uuid\",\"x\"]\n".as_bytes()).unwrap();
        assert_eq!(path, PathBuf::from("/a/é/uuid"));
        assert_eq!(uuid, "x");
        let (path, _) = decode_lease(br#"["\/a\u00e9\ud83d\ude00", "x"]"#).unwrap();
        assert_eq!(path, PathBuf::from("/aé\u{1F600}"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b""[..],
            b"[",
            b"[\"a\"]",
            b"[\"a\", \"b\", \"c\"]",
            b"{\"a\": \"b\"}",
            b"[\"a\", 3]",
            b"[\"a\", \"b\"] x",
            b"[\"a\n\", \"b\"]",
            b"[\"\\ud800\", \"b\"]",
            b"[\"\\x\", \"b\"]",
            b"[\"a\", \"\\udcff\"]",
        ] {
            assert!(
                decode_lease(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
