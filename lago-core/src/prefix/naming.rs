//! The names lago gives libvirt objects, as Lago gives them, so that both
//! find each other's objects: domain `<uuid[:8]>-<vm>`, network
//! `<uuid[:4]>-<net>` (a net name longer than 10 characters becomes the
//! first 10 hex digits of its sha1, keeping the name within the 15
//! characters Linux allows an interface), NAT bridge `<network>-nic` cut to
//! 12 characters.

use sha1::{Digest, Sha1};

/// The libvirt name of VM `vm` in the prefix with uuid `uuid`.
pub fn domain_name(uuid: &str, vm: &str) -> String {
    format!("{}-{vm}", head(uuid, 8))
}

/// The libvirt name of net `net` in the prefix with uuid `uuid`.
pub fn network_name(uuid: &str, net: &str) -> String {
    let short = if net.chars().count() > 10 {
        let digest = Sha1::digest(net.as_bytes());
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()[..10]
            .to_string()
    } else {
        net.to_string()
    };
    format!("{}-{short}", head(uuid, 4))
}

/// The bridge device of a NAT network called `network_name` in libvirt.
pub fn bridge_name(network_name: &str) -> String {
    format!("{network_name}-nic").chars().take(12).collect()
}

fn head(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "fe689d3c39d011e5b22b54ee755a00ca";

    #[test]
    fn names_as_lago_makes_them() {
        assert_eq!(domain_name(UUID, "vm0"), "fe689d3c-vm0");
        assert_eq!(network_name(UUID, "n0"), "fe68-n0");
        assert_eq!(network_name(UUID, "ten-chars!"), "fe68-ten-chars!");
        // Python: hashlib.sha1(b"management-net").hexdigest()[:10]
        assert_eq!(network_name(UUID, "management-net"), "fe68-c56c13816c");
        assert_eq!(bridge_name("fe68-n0"), "fe68-n0-nic");
        assert_eq!(bridge_name("fe68-0123456789"), "fe68-0123456");
    }
}
