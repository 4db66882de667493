//! A libvirt URI's remote parts (`driver[+transport]://[user@]host[:port]/path[?k=v&…]`):
//! whether it names another machine, how to log in there over SSH to
//! reach its guests, and where the subnet leases of its environments are
//! kept on this machine.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::ssh::JumpTarget;

/// The parts of a URI that names another machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUri {
    /// `ssh`, `tls`, `tcp`, `libssh2`… (empty: libvirt's default, TLS).
    pub transport: String,
    /// The user, if the URI names one.
    pub user: Option<String>,
    /// The host name or address (without brackets for IPv6).
    pub host: String,
    /// The port, if the URI names one.
    pub port: Option<u16>,
    /// The query parameters, in order.
    pub params: Vec<(String, String)>,
}

impl HostUri {
    /// The remote parts of `uri`; `None` for a URI of this machine
    /// (`qemu:///system`, `test:///default`) or one that is not a URI.
    pub fn parse(uri: &str) -> Option<Self> {
        let (scheme, rest) = uri.split_once("://")?;
        let transport = scheme
            .split_once('+')
            .map(|(_, t)| t.to_string())
            .unwrap_or_default();
        let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return None;
        }
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => Some(p.parse().ok()?),
            None => None,
        };
        // this machine, reached over a network transport (a TCP or TLS
        // listener of the local libvirtd): not a remote host
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if host.is_empty() || loopback {
            return None;
        }
        let params = tail
            .split_once('?')
            .map(|(_, q)| {
                q.split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            transport,
            user,
            host,
            port,
            params,
        })
    }

    /// Query parameter `key`, if given.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `user@host` or `host`, for messages.
    pub fn display_name(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

/// Where the subnet leases of environments on `uri` are kept: `base` for
/// this machine's libvirt, `base/host-<host>` for another machine (each
/// libvirt host has its own networks, so subnets are per host).
pub fn lease_dir(base: &Path, uri: &str) -> PathBuf {
    match HostUri::parse(uri) {
        Some(u) => {
            let safe: String = u
                .host
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || ".-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            base.join(format!("host-{safe}"))
        }
        None => base.to_path_buf(),
    }
}

/// The user's `~/.ssh/<file>`.
fn home_ssh(file: &str) -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ssh").join(file))
}

/// How to log in over SSH on the host of `uri` to reach its guests: the
/// URI's user (else `[lago] host_ssh_user`, else `root`) and port when its
/// transport is SSH (else 22); the key from the URI's `keyfile`, else
/// `[lago] host_ssh_key`, else the first of `~/.ssh/id_ed25519`,
/// `id_ecdsa`, `id_rsa`; `known_hosts` from the URI's `known_hosts`, else
/// `[lago] host_known_hosts`, else `~/.ssh/known_hosts`.
pub fn jump_target(uri: &str, config: &Config) -> Result<JumpTarget> {
    let u = HostUri::parse(uri).ok_or_else(|| {
        Error::new(
            ErrorKind::Internal,
            format!("{uri} is not a remote libvirt URI"),
        )
    })?;
    let key = u
        .param("keyfile")
        .map(PathBuf::from)
        .or_else(|| config.get("host_ssh_key").map(PathBuf::from))
        .or_else(|| {
            ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .filter_map(|f| home_ssh(f))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "no SSH key to reach the guests on {} with: set [lago] host_ssh_key \
                     (or LAGO_HOST_SSH_KEY) or add ?keyfile=PATH to the libvirt URI",
                    u.display_name()
                ),
            )
        })?;
    let known_hosts = u
        .param("known_hosts")
        .map(PathBuf::from)
        .or_else(|| config.get("host_known_hosts").map(PathBuf::from))
        .or_else(|| home_ssh("known_hosts"))
        .unwrap_or_else(|| PathBuf::from("/etc/ssh/ssh_known_hosts"));
    let user = u
        .user
        .clone()
        .or_else(|| config.get("host_ssh_user").map(str::to_string))
        .unwrap_or_else(|| "root".to_string());
    let ssh = u.transport == "ssh" || u.transport == "libssh2" || u.transport == "libssh";
    let port = u.port.filter(|_| ssh).unwrap_or(22);
    Ok(JumpTarget::new(u.host, key, known_hosts)
        .with_user(user)
        .with_port(port))
}

/// The OpenSSH `ProxyCommand` that reaches a guest through the host of
/// `jump` as lago does (its key, its `known_hosts`, strict checking): for
/// Ansible and for a user's own `ssh -o ProxyCommand=…`.
pub fn proxy_command(jump: &JumpTarget) -> String {
    format!(
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} -i {} -p {} -W %h:%p {}@{}",
        jump.known_hosts.display(),
        jump.key.display(),
        jump.port,
        jump.user,
        jump.address
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_uris_are_not_hosts() {
        for uri in [
            "qemu:///system",
            "qemu:///session",
            "test:///default",
            "qemu+unix:///system",
            "nonsense",
            // the local libvirtd's TCP and TLS listeners
            "qemu+tcp://127.0.0.1:16509/system",
            "qemu+tls://localhost/system",
            "qemu+ssh://root@[::1]/system",
        ] {
            assert_eq!(HostUri::parse(uri), None, "{uri}");
        }
    }

    #[test]
    fn remote_uris_give_user_host_port_and_parameters() {
        let u = HostUri::parse("qemu+ssh://root@10.0.0.2:2222/system?keyfile=/k&no_tty=1").unwrap();
        assert_eq!(u.transport, "ssh");
        assert_eq!(u.user.as_deref(), Some("root"));
        assert_eq!(u.host, "10.0.0.2");
        assert_eq!(u.port, Some(2222));
        assert_eq!(u.param("keyfile"), Some("/k"));
        assert_eq!(u.param("no_tty"), Some("1"));
        assert_eq!(u.display_name(), "root@10.0.0.2");
        let v6 = HostUri::parse("qemu+tls://[fd00::2]:16514/system").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("fd00::2", Some(16514)));
        assert_eq!(v6.user, None);
        assert_eq!(HostUri::parse("qemu+ssh://h:x/system"), None);
    }

    #[test]
    fn leases_are_per_host() {
        let base = Path::new("/var/lib/lago/subnets");
        assert_eq!(lease_dir(base, "qemu:///system"), base);
        assert_eq!(
            lease_dir(base, "qemu+ssh://root@10.231.1.2/system"),
            base.join("host-10.231.1.2")
        );
        // two URIs of one host share its leases
        assert_eq!(
            lease_dir(base, "qemu+tls://10.231.1.2/system"),
            lease_dir(base, "qemu+ssh://me@10.231.1.2:22/system")
        );
    }

    #[test]
    fn the_jump_login_comes_from_the_uri_then_the_config() {
        let mut config = Config::default();
        config.set("lago", "host_ssh_key", "/cfg/key");
        config.set("lago", "host_known_hosts", "/cfg/kh");
        let t = jump_target("qemu+ssh://admin@h:2200/system", &config).unwrap();
        assert_eq!(
            (t.address.as_str(), t.port, t.user.as_str()),
            ("h", 2200, "admin")
        );
        assert_eq!(t.key, Path::new("/cfg/key"));
        assert_eq!(t.known_hosts, Path::new("/cfg/kh"));
        let t = jump_target(
            "qemu+tls://h:16514/system?keyfile=/u/key&known_hosts=/u/kh",
            &config,
        )
        .unwrap();
        // a TLS port is libvirt's, not sshd's
        assert_eq!((t.port, t.user.as_str()), (22, "root"));
        assert_eq!(
            proxy_command(&t),
            "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/u/kh \
             -i /u/key -p 22 -W %h:%p root@h"
        );
        assert_eq!(t.key, Path::new("/u/key"));
        assert_eq!(t.known_hosts, Path::new("/u/kh"));
    }
}
