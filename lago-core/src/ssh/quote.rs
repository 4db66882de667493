//! POSIX shell quoting of argument vectors into one remote command line.
//!
//! An SSH `exec` request carries a single string that the server hands to
//! the user's login shell (`$SHELL -c '…'`), exactly as OpenSSH's `ssh host
//! cmd args…` does. To run an argument vector unchanged, every argument is
//! quoted for a POSIX shell and the quoted words are joined with spaces:
//!
//! - a word made only of characters no shell treats specially
//!   (`A-Z a-z 0-9 _ @ % + = : , . / -`) is left as it is;
//! - the empty string becomes `''`;
//! - anything else is put in single quotes, where nothing is special, and
//!   each `'` inside becomes `'\''` (close, escaped quote, reopen).
//!
//! Arguments that are not valid UTF-8 (an [`OsStr`] holding arbitrary
//! bytes) are supported too: the SSH request has to be UTF-8 text, so each
//! byte outside a valid UTF-8 run is written as `"$(printf '\NNN')"`, an
//! octal escape that POSIX `printf` turns back into that byte. Command
//! substitution only strips trailing newlines, and such a byte is never a
//! newline, so the argument arrives byte for byte.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Whether `c` can appear in a shell word without quoting.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '_' | '@' | '%' | '+' | '=' | ':' | ',' | '.' | '/' | '-')
}

/// Appends `text` (valid UTF-8) to `out`, quoted for a POSIX shell.
fn push_quoted_str(out: &mut String, text: &str) {
    if !text.is_empty() && text.chars().all(is_plain) {
        out.push_str(text);
        return;
    }
    out.push('\'');
    for c in text.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
}

/// Quotes one argument for a POSIX shell, so that the shell reads it back
/// as exactly one word equal to `arg`.
///
/// (Examples: the unit tests below.)
pub fn quote(arg: impl AsRef<OsStr>) -> String {
    let bytes = arg.as_ref().as_bytes();
    let mut out = String::with_capacity(bytes.len() + 2);
    if let Ok(text) = std::str::from_utf8(bytes) {
        push_quoted_str(&mut out, text);
        return out;
    }
    // Valid runs single-quoted, every other byte through printf; adjacent
    // pieces without spaces between them form one word.
    for chunk in bytes.utf8_chunks() {
        if !chunk.valid().is_empty() {
            push_quoted_str(&mut out, chunk.valid());
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\"$(printf '\\{byte:03o}')\""));
        }
    }
    out
}

/// Joins `argv` into one command line for a POSIX shell, quoting every
/// argument with [`quote`].
///
/// (Examples: the unit tests below.)
pub fn join_command<S: AsRef<OsStr>>(argv: &[S]) -> String {
    let mut out = String::new();
    for (i, arg) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&quote(arg));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quote_examples() {
        assert_eq!(quote("plain-word_1.txt"), "plain-word_1.txt");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("it's"), r#"'it'\''s'"#);
    }

    #[test]
    fn join_command_examples() {
        assert_eq!(
            join_command(&["echo", "a b", "$HOME"]),
            "echo 'a b' '$HOME'"
        );
    }

    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::process::Command;

    use super::*;

    #[test]
    fn plain_words_stay_unquoted() {
        for word in [
            "true",
            "/usr/bin/tar",
            "a=b",
            "x,y:z",
            "user@host",
            "50%",
            "-rf",
            "+x",
        ] {
            assert_eq!(quote(word), word);
        }
    }

    #[test]
    fn special_words_are_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("$HOME"), "'$HOME'");
        assert_eq!(quote("*"), "'*'");
        assert_eq!(quote("~"), "'~'");
        assert_eq!(quote("a\nb"), "'a\nb'");
        assert_eq!(quote("tab\there"), "'tab\there'");
        assert_eq!(quote("\"double\""), "'\"double\"'");
        assert_eq!(quote("back\\slash"), "'back\\slash'");
        assert_eq!(quote("é"), "'é'");
    }

    #[test]
    fn single_quotes_are_escaped() {
        assert_eq!(quote("'"), r"''\'''");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("''"), r"''\'''\'''");
    }

    #[test]
    fn non_utf8_bytes_go_through_printf() {
        let arg = OsString::from_vec(vec![b'a', 0xff, b' ', 0xfe]);
        assert_eq!(quote(&arg), r#"a"$(printf '\377')"' '"$(printf '\376')""#);
    }

    #[test]
    fn join_quotes_each_argument() {
        assert_eq!(
            join_command(&["echo", "a b", "$HOME"]),
            "echo 'a b' '$HOME'"
        );
        assert_eq!(join_command::<&str>(&[]), "");
        assert_eq!(join_command(&["printf", "%s|", ""]), "printf '%s|' ''");
    }

    /// Round trip through a real POSIX shell: every argument comes back as
    /// one word, byte for byte.
    #[test]
    fn round_trip_through_sh() {
        let args: Vec<OsString> = vec![
            "plain".into(),
            "".into(),
            "a b".into(),
            "$HOME `id` $(id)".into(),
            "it's \"quoted\"".into(),
            "line1\nline2\n".into(),
            "\\n*?[a]".into(),
            "ünïcødé".into(),
            OsString::from_vec(vec![0x80, b'x', 0xff, 0xc3]),
            "-n".into(),
        ];
        let mut argv: Vec<OsString> = vec!["printf".into(), "%s\\0".into()];
        argv.extend(args.iter().cloned());
        let line = join_command(&argv);
        let out = Command::new("sh").arg("-c").arg(&line).output().unwrap();
        assert!(out.status.success(), "{line}");
        let mut expected = Vec::new();
        for arg in &args {
            expected.extend_from_slice(arg.as_bytes());
            expected.push(0);
        }
        assert_eq!(out.stdout, expected, "{line}");
    }
}
