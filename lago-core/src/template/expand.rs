//! `$VAR` and `~` expansion in paths, with Python's `os.path.expandvars` and
//! `os.path.expanduser` semantics (Lago expands a `file` source's root with
//! `expanduser(expandvars(root))`).
//!
//! Variables come from a lookup function, so callers decide what is visible
//! (the process environment plus `LAGO_INITFILE_PATH`, say) and tests need
//! no environment.

use std::path::PathBuf;

/// Looks a variable up in the process environment (non-UTF-8 values count
/// as unset).
pub fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Replaces `$name` and `${name}` with the value `lookup` gives: the init
/// file's expansion ([`crate::spec::expand_vars`], Python's `expandvars`
/// with ASCII names), taking a `dyn` lookup.
pub fn expand_vars(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    crate::spec::expand_vars(input, lookup)
}

/// Replaces a leading `~` or `~/` with `HOME` from `lookup`, and `~user` with
/// that user's home folder from `/etc/passwd`. Left as is when unknown.
pub fn expand_user(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let Some(after) = input.strip_prefix('~') else {
        return input.to_owned();
    };
    let (user, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    let home = if user.is_empty() {
        lookup("HOME")
    } else {
        std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|passwd| home_of(user, &passwd))
    };
    match home {
        Some(home) => {
            let home = if rest.is_empty() {
                home.as_str()
            } else {
                home.trim_end_matches('/')
            };
            format!("{home}{rest}")
        }
        None => input.to_owned(),
    }
}

/// The home folder of `user` in the text of `/etc/passwd`.
fn home_of(user: &str, passwd: &str) -> Option<String> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[0] == user).then(|| fields[5].to_owned())
    })
}

/// `expanduser(expandvars(input))`, as Lago expands a repo's `root`.
pub fn expand_path(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    PathBuf::from(expand_user(&expand_vars(input, lookup), lookup))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "LAGO_INITFILE_PATH" => Some("/suite".into()),
            "HOME" => Some("/home/alice".into()),
            "EMPTY" => Some(String::new()),
            "A_1" => Some("x".into()),
            _ => None,
        }
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(
            expand_vars("$LAGO_INITFILE_PATH/repo", &vars),
            "/suite/repo"
        );
        assert_eq!(
            expand_vars("${LAGO_INITFILE_PATH}repo", &vars),
            "/suiterepo"
        );
        assert_eq!(expand_vars("a$A_1-b", &vars), "ax-b");
        assert_eq!(expand_vars("[$EMPTY]", &vars), "[]");
    }

    #[test]
    fn unknown_and_malformed_stay() {
        assert_eq!(expand_vars("$NOPE/x", &vars), "$NOPE/x");
        assert_eq!(expand_vars("${NOPE}/x", &vars), "${NOPE}/x");
        assert_eq!(expand_vars("cost: 5$", &vars), "cost: 5$");
        assert_eq!(expand_vars("$/x", &vars), "$/x");
        assert_eq!(expand_vars("${HOME", &vars), "${HOME");
        assert_eq!(expand_vars("${}", &vars), "${}");
        assert_eq!(expand_vars("$$HOME", &vars), "$/home/alice");
        assert_eq!(expand_vars("no vars", &vars), "no vars");
    }

    #[test]
    fn tilde() {
        assert_eq!(expand_user("~", &vars), "/home/alice");
        assert_eq!(expand_user("~/repo", &vars), "/home/alice/repo");
        assert_eq!(expand_user("/a/~/b", &vars), "/a/~/b");
        assert_eq!(
            expand_user("~no-such-user-xyz/r", &vars),
            "~no-such-user-xyz/r"
        );
        assert_eq!(expand_user("~/r", &|_| None), "~/r");
        assert_eq!(expand_user("~root/r", &vars), "/root/r");
    }

    #[test]
    fn passwd_home() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nbob:x:1:1::/srv/bob:/bin/sh\n";
        assert_eq!(home_of("bob", passwd).as_deref(), Some("/srv/bob"));
        assert_eq!(home_of("bo", passwd), None);
    }

    #[test]
    fn vars_then_user() {
        let lookup = |n: &str| match n {
            "R" => Some("~/templates".to_owned()),
            other => vars(other),
        };
        assert_eq!(
            expand_path("$R/x", &lookup),
            PathBuf::from("/home/alice/templates/x")
        );
    }
}
