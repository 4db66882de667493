//! Bootstrap: making a guest reachable before it first boots.
//!
//! - [`nocloud`]: a per-VM seed image (`cidata`) attached read-only — the
//!   default for templates whose metadata says `"nocloud": true`;
//! - [`sysprep`]: Lago's way, virt-sysprep on the root disk;
//! - none, for `bootstrap: false`.

pub mod nocloud;
pub mod sysprep;

/// How a VM is bootstrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A NoCloud seed image.
    NoCloud,
    /// virt-sysprep on the root disk.
    Sysprep,
    /// Nothing.
    None,
}

impl Method {
    /// The name used in config and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::NoCloud => "nocloud",
            Method::Sysprep => "sysprep",
            Method::None => "none",
        }
    }
}

/// The choice made for `init` (`--skip-bootstrap` is [`Choice::Skip`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    /// NoCloud where the template supports it, else virt-sysprep.
    #[default]
    Auto,
    /// Always a NoCloud seed.
    NoCloud,
    /// Always virt-sysprep.
    Sysprep,
    /// No bootstrap at all.
    Skip,
}

impl Choice {
    /// Parses `auto`, `nocloud`, `sysprep` or `none`/`skip`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "auto" => Some(Choice::Auto),
            "nocloud" => Some(Choice::NoCloud),
            "sysprep" => Some(Choice::Sysprep),
            "none" | "skip" => Some(Choice::Skip),
            _ => None,
        }
    }

    /// The method for one VM: `wants` is its `bootstrap` key, `nocloud`
    /// whether its root disk's template declares NoCloud support, and
    /// `bootable` whether the root disk can be bootstrapped at all (not an
    /// `empty` disk or an ISO).
    pub fn method_for(self, wants: bool, nocloud: bool, bootable: bool) -> Method {
        if !wants || !bootable {
            return Method::None;
        }
        match self {
            Choice::Skip => Method::None,
            Choice::NoCloud => Method::NoCloud,
            Choice::Sysprep => Method::Sysprep,
            Choice::Auto if nocloud => Method::NoCloud,
            Choice::Auto => Method::Sysprep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_choice() {
        assert_eq!(Choice::Auto.method_for(true, true, true), Method::NoCloud);
        assert_eq!(Choice::Auto.method_for(true, false, true), Method::Sysprep);
        assert_eq!(Choice::Auto.method_for(false, true, true), Method::None);
        assert_eq!(
            Choice::Sysprep.method_for(true, true, true),
            Method::Sysprep
        );
        assert_eq!(Choice::NoCloud.method_for(true, true, false), Method::None);
        assert_eq!(Choice::Skip.method_for(true, true, true), Method::None);
        assert_eq!(Choice::parse("none"), Some(Choice::Skip));
    }
}
