//! [`KeyPath`]: where a value sits inside an init file, such as
//! `domains.vm0.nics[1].net`, used to name the culprit in error messages and
//! to look up its line and column.

use std::fmt;

/// One step of a [`KeyPath`]: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A key of a mapping, e.g. `domains` or `vm0`.
    Key(String),
    /// A position in a sequence, counted from 0.
    Index(usize),
}

/// The path from the top of an init file to one value, e.g.
/// `domains.vm0.nics[1].net`. The empty path is the whole document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// The path of the whole document.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path followed by the mapping key `key`.
    pub fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Segment::Key(key.to_owned()));
        Self(segs)
    }

    /// This path followed by the sequence index `index`.
    pub fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Segment::Index(index));
        Self(segs)
    }

    /// The steps of this path, outermost first.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// Whether this is the path of the whole document.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path one step up, or `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        let (_, rest) = self.0.split_last()?;
        Some(Self(rest.to_vec()))
    }

    /// This path followed by every step of `rest`.
    pub(crate) fn join(&self, rest: &[Segment]) -> Self {
        let mut segs = self.0.clone();
        segs.extend_from_slice(rest);
        Self(segs)
    }
}

/// Whether `key` can be printed bare in a path: it is non-empty and has no
/// character that would make the path ambiguous.
fn is_bare(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '.' | '[' | ']' | '"'))
}

impl fmt::Display for KeyPath {
    /// Keys joined by `.`, indexes as `[n]`; a key that holds `.`, brackets,
    /// quotes or spaces is printed in double quotes (`domains."vm.a".memory`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_bare(key) {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{key:?}")?;
                    }
                }
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_keys_and_indexes() {
        let path = KeyPath::root()
            .key("domains")
            .key("vm0")
            .key("nics")
            .index(1)
            .key("net");
        assert_eq!(path.to_string(), "domains.vm0.nics[1].net");
        assert_eq!(KeyPath::root().to_string(), "");
        assert_eq!(KeyPath::root().index(0).to_string(), "[0]");
    }

    #[test]
    fn quotes_awkward_keys() {
        let path = KeyPath::root().key("domains").key("vm.a").key("");
        assert_eq!(path.to_string(), r#"domains."vm.a"."""#);
    }

    #[test]
    fn parent_steps_up() {
        let path = KeyPath::root().key("a").index(2);
        assert_eq!(path.parent(), Some(KeyPath::root().key("a")));
        assert_eq!(KeyPath::root().parent(), None);
        assert!(KeyPath::root().is_root());
    }
}
