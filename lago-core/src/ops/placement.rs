//! Where a new environment runs when the configuration names several
//! libvirt hosts (issue 19's host pool): on the host with the most memory
//! left for it — the host's free memory (`virNodeGetFreeMemory`) minus what
//! lago's environments already running there claim but have not touched
//! yet — among the hosts where it fits. None fitting is an error that names
//! every host and its figures, so the user sees why.
//!
//! Pure planning: the figures are gathered by the caller.

use crate::error::{Error, ErrorKind, Result};

/// One candidate host and its memory figures, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLoad {
    /// Its libvirt URI.
    pub uri: String,
    /// Its free memory now.
    pub free: u64,
    /// Memory lago's running environments there are given but do not use
    /// yet (it will not stay free).
    pub claimed: u64,
}

impl HostLoad {
    /// The memory a new environment can count on.
    pub fn room(&self) -> u64 {
        self.free.saturating_sub(self.claimed)
    }
}

/// `bytes` as GiB with one decimal, for messages.
fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// The index in `hosts` of the host for environment `env`, which needs
/// `need` bytes: the one with the most [`HostLoad::room`] among those with
/// at least `need` (the first listed on a tie).
pub fn place(hosts: &[HostLoad], env: &str, need: u64) -> Result<usize> {
    let best = hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.room() >= need)
        .max_by(|(i, a), (j, b)| a.room().cmp(&b.room()).then(j.cmp(i)));
    if let Some((i, _)) = best {
        return Ok(i);
    }
    if hosts.is_empty() {
        return Err(Error::new(
            ErrorKind::Config,
            format!("no libvirt host to place environment '{env}' on: the host list is empty"),
        ));
    }
    let figures: Vec<String> = hosts
        .iter()
        .map(|h| {
            format!(
                "{} ({} free, {} of it claimed by lago's running environments)",
                h.uri,
                gib(h.free),
                gib(h.claimed)
            )
        })
        .collect();
    Err(Error::new(
        ErrorKind::Config,
        format!(
            "no libvirt host has room for environment '{env}', which needs {}: {}",
            gib(need),
            figures.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 1 << 30;

    fn host(uri: &str, free: u64, claimed: u64) -> HostLoad {
        HostLoad {
            uri: uri.into(),
            free,
            claimed,
        }
    }

    #[test]
    fn the_most_room_wins_among_those_that_fit() {
        let hosts = [
            host("qemu+ssh://a/system", 8 * G, 0),
            host("qemu+ssh://b/system", 12 * G, 6 * G),
            host("qemu+ssh://c/system", 10 * G, G),
        ];
        // room: a 8, b 6, c 9
        assert_eq!(place(&hosts, "e", 2 * G).unwrap(), 2);
        assert_eq!(place(&hosts, "e", 9 * G).unwrap(), 2);
        // a tie goes to the first listed
        let tie = [host("a", 4 * G, 0), host("b", 5 * G, G)];
        assert_eq!(place(&tie, "e", G).unwrap(), 0);
    }

    #[test]
    fn none_fitting_names_every_host() {
        let hosts = [
            host("qemu+ssh://a/system", 2 * G, 0),
            host("qemu+ssh://b/system", 4 * G, 3 * G),
        ];
        let e = place(&hosts, "big", 3 * G).unwrap_err();
        assert_eq!(
            e.message(),
            "no libvirt host has room for environment 'big', which needs 3.0 GiB: \
             qemu+ssh://a/system (2.0 GiB free, 0.0 GiB of it claimed by lago's running environments), \
             qemu+ssh://b/system (4.0 GiB free, 3.0 GiB of it claimed by lago's running environments)"
        );
        assert!(
            place(&[], "e", 1)
                .unwrap_err()
                .message()
                .contains("host list is empty")
        );
        // claims larger than what is free leave no room, not an overflow
        assert_eq!(host("x", G, 2 * G).room(), 0);
    }
}
