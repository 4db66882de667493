//! A reader for the INI dialect of Python's `configparser.ConfigParser` with
//! its default settings, which is what Lago reads `lago.conf` with.
//!
//! Rules (those of configparser):
//! - `[name]` starts a section; the name is everything between the first `[`
//!   and the last `]` (case-sensitive, not trimmed). `[DEFAULT]` holds values
//!   every section inherits.
//! - `key = value` or `key: value`, split at the first `=` or `:`; the key is
//!   trimmed and lower-cased, the value trimmed. An empty key is an error, and
//!   so is a line with neither delimiter.
//! - A line indented deeper than its key line continues the value (joined
//!   with `\n`); blank lines inside such a value are kept, trailing ones
//!   dropped.
//! - Lines whose first non-blank character is `#` or `;` are comments, even
//!   inside a continued value. There are no inline comments: in
//!   `key = a # b` the value is `a # b`.
//! - Options before the first section header, a section twice in one file,
//!   or a key twice in one section of one file are errors.
//!
//! `%` interpolation is not applied: values are taken literally.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// One `key = value` read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Item {
    /// The section, exactly as written between the brackets.
    pub(super) section: String,
    /// The lower-cased key.
    pub(super) key: String,
    /// The value, with continuation lines joined by `\n`.
    pub(super) value: String,
    /// The 1-based line of the key.
    pub(super) line: usize,
}

/// Parses `text`, the content of `path`, into its items in file order.
pub(super) fn parse(text: &str, path: &Path) -> Result<Vec<Item>, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let syntax = |line: usize, message: String| ConfigError::Syntax {
        path: PathBuf::from(path),
        line,
        message,
    };

    let mut items: Vec<Item> = Vec::new();
    // Continuation lines of the current option, joined at the end.
    let mut pending: Vec<Vec<String>> = Vec::new();
    let mut section: Option<String> = None;
    let mut current: Option<usize> = None;
    let mut indent_level = 0usize;
    let mut sections_seen: HashMap<String, usize> = HashMap::new();
    let mut keys_seen: HashMap<(String, String), usize> = HashMap::new();

    for (index, raw) in text.split('\n').enumerate() {
        let lineno = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let stripped = line.trim();
        if stripped.starts_with('#') || stripped.starts_with(';') {
            continue;
        }
        if stripped.is_empty() {
            if let Some(current) = current {
                pending[current].push(String::new());
            }
            continue;
        }
        let indent = line.chars().take_while(|c| c.is_whitespace()).count();
        if let Some(current) = current
            && indent > indent_level
        {
            pending[current].push(stripped.to_string());
            continue;
        }
        indent_level = indent;

        if let Some(name) = section_header(stripped) {
            if name != "DEFAULT" {
                if let Some(first) = sections_seen.get(name) {
                    return Err(syntax(
                        lineno,
                        format!("section [{name}] appears twice (first on line {first})"),
                    ));
                }
                sections_seen.insert(name.to_string(), lineno);
            }
            section = Some(name.to_string());
            current = None;
            continue;
        }

        let Some(section_name) = section.as_ref() else {
            return Err(syntax(
                lineno,
                format!(
                    "{stripped:?} comes before any section header; start the file with a \
                     section such as [lago]"
                ),
            ));
        };
        let Some(split) = stripped.find(['=', ':']) else {
            return Err(syntax(
                lineno,
                format!("expected `key = value`, `key: value` or `[section]`, found {stripped:?}"),
            ));
        };
        let key = stripped[..split].trim_end();
        if key.is_empty() {
            return Err(syntax(
                lineno,
                format!("missing key before the delimiter in {stripped:?}"),
            ));
        }
        let key = key.to_lowercase();
        let value = stripped[split + 1..].trim();
        let seen_key = (section_name.clone(), key.clone());
        if let Some(first) = keys_seen.get(&seen_key) {
            return Err(syntax(
                lineno,
                format!(
                    "key `{key}` appears twice in section [{section_name}] (first on line {first})"
                ),
            ));
        }
        keys_seen.insert(seen_key, lineno);
        items.push(Item {
            section: section_name.clone(),
            key,
            value: String::new(),
            line: lineno,
        });
        pending.push(vec![value.to_string()]);
        current = Some(items.len() - 1);
    }

    for (item, lines) in items.iter_mut().zip(pending) {
        item.value = lines.join("\n").trim_end().to_string();
    }
    Ok(items)
}

/// The name in a `[name]` header line (already trimmed), if it is one.
fn section_header(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Vec<(String, String, String, usize)> {
        parse(text, Path::new("/t/lago.conf"))
            .unwrap()
            .into_iter()
            .map(|i| (i.section, i.key, i.value, i.line))
            .collect()
    }

    fn item(section: &str, key: &str, value: &str, line: usize) -> (String, String, String, usize) {
        (section.into(), key.into(), value.into(), line)
    }

    fn error(text: &str) -> String {
        parse(text, Path::new("/t/lago.conf"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    // Expected results were checked against Python 3.11's
    // configparser.ConfigParser(interpolation=None).read_string().
    fn sections_keys_delimiters_and_comments() {
        let text = "\
# a comment
; another
[lago]
ssh_user = admin
SSH_Tries: 7
  indented_key=v
url = http://h:8080/x=y   # not a comment

[init]
template_store=/srv/store
empty =
";
        assert_eq!(
            items(text),
            [
                item("lago", "ssh_user", "admin", 4),
                // Deeper indentation continues the previous value.
                item("lago", "ssh_tries", "7\nindented_key=v", 5),
                item("lago", "url", "http://h:8080/x=y   # not a comment", 7),
                item("init", "template_store", "/srv/store", 10),
                item("init", "empty", "", 11),
            ]
        );
    }

    #[test]
    fn indentation_is_relative_to_the_key_line() {
        assert_eq!(
            items("[lago]\n  indented_key=v\nb = 1\n    more\n"),
            [
                item("lago", "indented_key", "v", 2),
                item("lago", "b", "1\nmore", 3)
            ]
        );
    }

    #[test]
    fn continuation_lines() {
        let text = "[s]\nkey = first\n    second\n\n  # comment inside\n\tthird\n\n\nnext = x\r\n";
        assert_eq!(
            items(text),
            [
                item("s", "key", "first\nsecond\n\nthird", 2),
                item("s", "next", "x", 9),
            ]
        );
    }

    #[test]
    fn header_forms_and_default_section() {
        let text = "\u{feff}[DEFAULT]\na = 1\n[ spaced ]\nb = 2\n[x]y]\nc = 3\n[DEFAULT]\nd = 4\n";
        assert_eq!(
            items(text),
            [
                item("DEFAULT", "a", "1", 2),
                item(" spaced ", "b", "2", 4),
                item("x]y", "c", "3", 6),
                item("DEFAULT", "d", "4", 8),
            ]
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = error("ssh_user = root\n");
        assert!(e.starts_with("/t/lago.conf:1: "), "{e}");
        assert!(e.contains("before any section header"), "{e}");

        let e = error("[lago]\nssh_user root\n");
        assert!(e.starts_with("/t/lago.conf:2: "), "{e}");
        assert!(e.contains("expected `key = value`"), "{e}");

        let e = error("[lago]\n = x\n");
        assert!(e.starts_with("/t/lago.conf:2: missing key"), "{e}");

        let e = error("[lago]\na = 1\n[init]\n[lago]\n");
        assert!(
            e.starts_with("/t/lago.conf:4: section [lago] appears twice (first on line 1)"),
            "{e}"
        );

        let e = error("[lago]\na = 1\nA: 2\n");
        assert!(
            e.starts_with("/t/lago.conf:3: key `a` appears twice"),
            "{e}"
        );

        let e = error("[]\n");
        assert!(e.starts_with("/t/lago.conf:1: "), "{e}");
    }
}
