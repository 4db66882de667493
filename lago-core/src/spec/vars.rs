//! [`expand_vars`]: `$NAME` / `${NAME}` expansion as Lago applies it to
//! selected fields of an init file (file-disk `path` and `url`,
//! `metadata.deploy-scripts`, template repository roots).

/// Expands `$NAME` and `${NAME}` in `text` with values from `lookup`, the way
/// Python's `os.path.expandvars` does, which is what Lago uses:
///
/// - `NAME` in `$NAME` is the longest run of ASCII letters, digits and `_`;
///   in `${NAME}` it is everything up to the next `}`;
/// - a variable that `lookup` does not know is left as written, so
///   `$LAGO_PREFIX_PATH/images/a.qcow2` survives until the prefix exists;
/// - there is no escape: `$$` and a `$` followed by anything else are kept.
///
/// The function is pure: all knowledge of variables comes from `lookup`.
///
/// (Examples: the unit tests below.)
pub fn expand_vars(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (name, written_len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let value = if written_len == 0 || name.is_empty() {
            None
        } else {
            lookup(name)
        };
        match value {
            Some(value) => {
                out.push_str(&value);
                rest = &after[written_len..];
            }
            None => {
                // Keep the `$` (and the name, copied with the text after it).
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn expand_vars_examples() {
        let lookup = |name: &str| (name == "LAGO_INITFILE_PATH").then(|| "/suite".to_string());
        assert_eq!(
            expand_vars("$LAGO_INITFILE_PATH/disk.img", lookup),
            "/suite/disk.img"
        );
        assert_eq!(expand_vars("${LAGO_INITFILE_PATH}x", lookup), "/suitex");
        assert_eq!(expand_vars("$UNSET/a", lookup), "$UNSET/a");
    }

    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("1".into()),
            "LAGO_INITFILE_PATH" => Some("/s p/dir".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_plain_and_braced() {
        assert_eq!(expand_vars("$A", env), "1");
        assert_eq!(expand_vars("x$A/y", env), "x1/y");
        assert_eq!(expand_vars("${A}B", env), "1B");
        assert_eq!(expand_vars("$AB", env), "$AB");
        assert_eq!(
            expand_vars("$LAGO_INITFILE_PATH/d.img", env),
            "/s p/dir/d.img"
        );
        assert_eq!(expand_vars("$EMPTY/x", env), "/x");
        assert_eq!(expand_vars("$A$A", env), "11");
    }

    #[test]
    fn leaves_unknown_and_malformed_alone() {
        for text in [
            "$", "$$", "a$", "${", "${A", "${}", "$-x", "$NOPE/x", "${NOPE}", "plain", "",
        ] {
            assert_eq!(expand_vars(text, env), text, "{text}");
        }
    }

    #[test]
    fn handles_non_ascii() {
        assert_eq!(expand_vars("é$A€", env), "é1€");
        assert_eq!(expand_vars("$é", env), "$é");
    }
}
