//! Bootstrap: giving a guest what Lago's virt-sysprep gave it (hostname,
//! root password, the prefix's SSH key) without paying an appliance boot
//! per VM.
//!
//! Routes, chosen per VM at init ([`Choice::decide`]):
//! - [`nocloud`]: a per-VM seed image (`cidata`) attached read-only, for
//!   guests with cloud-init (declared by the template's `nocloud: true`, or
//!   learned at an earlier first boot, see [`learned`]);
//! - [`firstboot`] (`ssh`): the guest boots as the template is; lago logs in
//!   over SSH with the template's root password and does the rest — the
//!   default for plain Lago templates; init itself costs nothing;
//! - [`sysprep`]: Lago's way, virt-sysprep on the root disk
//!   (`bootstrap_mode: sysprep`);
//! - none, for `bootstrap: false` or `--skip-bootstrap`.

pub mod firstboot;
pub mod learned;
pub mod nocloud;
pub mod sysprep;

pub use learned::GuestFacts;

/// How a VM is bootstrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A NoCloud seed image.
    NoCloud,
    /// Over SSH at the first boot, logged in with the root password.
    Ssh,
    /// virt-sysprep on the root disk.
    Sysprep,
    /// Nothing.
    None,
}

impl Method {
    /// The name used in config, specs, logs and `lago status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::NoCloud => "nocloud",
            Method::Ssh => "ssh",
            Method::Sysprep => "sysprep",
            Method::None => "none",
        }
    }

    /// The method named `s` (as [`Method::as_str`] writes it).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "nocloud" => Some(Method::NoCloud),
            "ssh" => Some(Method::Ssh),
            "sysprep" => Some(Method::Sysprep),
            "none" => Some(Method::None),
            _ => None,
        }
    }
}

/// What is known of a template's guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// It applies NoCloud seeds (cloud-init): declared by the template's
    /// metadata (`nocloud: true`) or learned at a first boot.
    NoCloud,
    /// It was seen at a first boot without cloud-init.
    Plain,
    /// Nothing is known yet: a template version never booted here.
    Unknown,
}

impl Support {
    /// From a template's metadata (`nocloud`) and what a first boot of the
    /// same template version learned, if anything.
    pub fn of(declared_nocloud: bool, learned: Option<GuestFacts>) -> Self {
        match learned {
            _ if declared_nocloud => Support::NoCloud,
            Some(f) if f.cloud_init => Support::NoCloud,
            Some(_) => Support::Plain,
            None => Support::Unknown,
        }
    }
}

/// The bootstrap of one VM as init plans it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The route.
    pub method: Method,
    /// Whether a NoCloud seed is attached. With [`Method::Ssh`] on a
    /// template never booted here, the seed is a probe: a guest with
    /// cloud-init applies it (and the first boot records that, so the next
    /// init uses NoCloud alone); a guest without ignores it.
    pub seed: bool,
}

/// The bootstrap mode asked for (`bootstrap_mode` in the config or the init
/// file; `--skip-bootstrap` is [`Choice::Skip`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    /// NoCloud where the guest supports it, else first boot over SSH.
    #[default]
    Auto,
    /// Always a NoCloud seed.
    NoCloud,
    /// Always first boot over SSH.
    Ssh,
    /// Always virt-sysprep (Lago's exact behaviour).
    Sysprep,
    /// No bootstrap at all.
    Skip,
}

impl Choice {
    /// The values [`Choice::parse`] accepts, for messages.
    pub const VALID: &'static str = "auto, nocloud, ssh, sysprep or none";

    /// Parses `auto`, `nocloud`, `ssh`, `sysprep` or `none`/`skip`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "auto" => Some(Choice::Auto),
            "nocloud" => Some(Choice::NoCloud),
            "ssh" => Some(Choice::Ssh),
            "sysprep" => Some(Choice::Sysprep),
            "none" | "skip" => Some(Choice::Skip),
            _ => None,
        }
    }

    /// The name [`Choice::parse`] reads back.
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Auto => "auto",
            Choice::NoCloud => "nocloud",
            Choice::Ssh => "ssh",
            Choice::Sysprep => "sysprep",
            Choice::Skip => "none",
        }
    }

    /// The bootstrap of one VM: `wants` is its `bootstrap` key, `support`
    /// what is known of its template's guest, and `bootable` whether the
    /// root disk can be bootstrapped at all (not an `empty` disk or an ISO).
    pub fn decide(self, wants: bool, support: Support, bootable: bool) -> Decision {
        let method = |method, seed| Decision { method, seed };
        if !wants || !bootable {
            return method(Method::None, false);
        }
        match (self, support) {
            (Choice::Skip, _) => method(Method::None, false),
            (Choice::NoCloud, _) | (Choice::Auto, Support::NoCloud) => {
                method(Method::NoCloud, true)
            }
            (Choice::Sysprep, _) => method(Method::Sysprep, false),
            (Choice::Ssh, _) | (Choice::Auto, Support::Plain) => method(Method::Ssh, false),
            (Choice::Auto, Support::Unknown) => method(Method::Ssh, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(method: Method, seed: bool) -> Decision {
        Decision { method, seed }
    }

    #[test]
    fn auto_follows_what_is_known_of_the_guest() {
        let auto = Choice::Auto;
        assert_eq!(
            auto.decide(true, Support::NoCloud, true),
            d(Method::NoCloud, true)
        );
        assert_eq!(
            auto.decide(true, Support::Plain, true),
            d(Method::Ssh, false)
        );
        // never booted here: first boot over SSH, with a seed as a probe
        assert_eq!(
            auto.decide(true, Support::Unknown, true),
            d(Method::Ssh, true)
        );
    }

    #[test]
    fn explicit_choices_and_opt_outs_win() {
        for support in [Support::NoCloud, Support::Plain, Support::Unknown] {
            assert_eq!(
                Choice::Sysprep.decide(true, support, true),
                d(Method::Sysprep, false)
            );
            assert_eq!(
                Choice::Ssh.decide(true, support, true),
                d(Method::Ssh, false)
            );
            assert_eq!(
                Choice::NoCloud.decide(true, support, true),
                d(Method::NoCloud, true)
            );
            assert_eq!(
                Choice::Skip.decide(true, support, true),
                d(Method::None, false)
            );
            assert_eq!(
                Choice::Auto.decide(false, support, true),
                d(Method::None, false)
            );
            assert_eq!(
                Choice::Auto.decide(true, support, false),
                d(Method::None, false)
            );
        }
    }

    #[test]
    fn support_prefers_the_declaration_then_what_was_learned() {
        let facts = |cloud_init| Some(GuestFacts { cloud_init });
        assert_eq!(Support::of(true, facts(false)), Support::NoCloud);
        assert_eq!(Support::of(false, facts(true)), Support::NoCloud);
        assert_eq!(Support::of(false, facts(false)), Support::Plain);
        assert_eq!(Support::of(false, None), Support::Unknown);
    }

    #[test]
    fn names_round_trip() {
        for c in [
            Choice::Auto,
            Choice::NoCloud,
            Choice::Ssh,
            Choice::Sysprep,
            Choice::Skip,
        ] {
            assert_eq!(Choice::parse(c.as_str()), Some(c));
        }
        for m in [Method::NoCloud, Method::Ssh, Method::Sysprep, Method::None] {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
        assert_eq!(Choice::parse("skip"), Some(Choice::Skip));
        assert_eq!(Choice::parse("fast"), None);
    }
}
