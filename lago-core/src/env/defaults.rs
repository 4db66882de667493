//! The default values of the environment operations' knobs, in one place
//! for every front end (C, Python, CLI): a caller that gives no value (0 in
//! C, None in Python) gets these.

use std::time::Duration;

/// How long `shutdown` waits for each VM to go down: Lago's `shutdown`
/// waits at most 5 minutes.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(300);

/// How long one command run in a guest over SSH may take: Lago's
/// `vm.ssh` default of 10 minutes.
pub const SSH_COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// The libvirt URI lago connects to when the configuration names none
/// (`[lago] libvirt_url`).
pub const LIBVIRT_URL: &str = crate::provider::libvirt::DEFAULT_URI;

/// `timeout`, or `default` when it is None.
pub fn or_default(timeout: Option<Duration>, default: Duration) -> Duration {
    timeout.unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_lagos() {
        assert_eq!(SHUTDOWN_TIMEOUT, Duration::from_secs(300));
        assert_eq!(SSH_COMMAND_TIMEOUT, Duration::from_secs(600));
        assert_eq!(LIBVIRT_URL, "qemu:///system");
        assert_eq!(or_default(None, SHUTDOWN_TIMEOUT), Duration::from_secs(300));
        assert_eq!(
            or_default(Some(Duration::from_secs(1)), SHUTDOWN_TIMEOUT),
            Duration::from_secs(1)
        );
    }
}
