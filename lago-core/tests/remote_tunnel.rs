//! SSH to a guest that only its libvirt host can reach, through the host's
//! SSH connection (issue 19): [`JumpHost`] and [`SshClient::via`] against a
//! real remote test host (docs/testing.md, "Remote test hosts").
//!
//! ```sh
//! tests/host/remote-up && \
//!   tests/host/remote-run cargo test -p lago-core --test remote_tunnel -- --ignored
//! ```
//!
//! The test boots its own guest on host 1 with `tests/host/remote-guest`
//! (and removes it at the end, also when it fails).
#![allow(clippy::unwrap_used, clippy::print_stderr)] // test code

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use lago_core::{JumpHost, JumpTarget, SshClient, SshError, SshTarget};

const NAME: &str = "tunnel";
const T: Duration = Duration::from_secs(60);

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/host/remote-guest")
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run this test inside tests/host/remote-run (after tests/host/remote-up)")
    })
}

/// The guest `tests/host/remote-guest` booted on host 1; removed on drop.
struct Guest {
    ip: IpAddr,
    key: PathBuf,
}

impl Guest {
    fn up() -> Guest {
        let out = Command::new(script())
            .args(["up", NAME, "1"])
            .output()
            .expect("run tests/host/remote-guest");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "remote-guest up failed:\n{}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut words = stdout.split_whitespace();
        let (Some(ip), Some(key)) = (words.next(), words.next()) else {
            panic!("remote-guest up printed {stdout:?}, not `IP KEY`");
        };
        Guest {
            ip: ip.parse().expect("guest IP"),
            key: key.into(),
        }
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        match Command::new(script()).args(["down", NAME, "1"]).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "remote-guest down failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("remote-guest down: {e}"),
        }
    }
}

/// Host 1 as `LAGO_TEST_REMOTE_HOSTS` names it, with the client's key and
/// the hosts' known_hosts.
fn jump_target() -> JumpTarget {
    let hosts = var("LAGO_TEST_REMOTE_HOSTS");
    let first = hosts.split_whitespace().next().expect("a remote host");
    let (user, address) = first.split_once('@').expect("user@host");
    JumpTarget::new(
        address,
        var("LAGO_TEST_REMOTE_KEY"),
        var("LAGO_TEST_REMOTE_KNOWN_HOSTS"),
    )
    .with_user(user)
}

fn guest_target(guest: &Guest, known_hosts: &Path) -> SshTarget {
    SshTarget::new(guest.ip)
        .with_key(&guest.key)
        .with_password(None)
        .with_known_hosts(known_hosts)
}

#[test]
#[ignore = "needs the remote test hosts: tests/host/remote-up, then run inside tests/host/remote-run"]
fn guest_behind_a_remote_host_through_its_ssh_connection() {
    // First, alone: the host connection is killed further down, and no
    // other test's connection to the host may be in the way.
    jump_host_key_must_be_known();
    let jump_target = jump_target();
    let guest = Guest::up();
    let tmp = tempfile::tempdir().unwrap();
    let known_hosts = tmp.path().join("known_hosts");

    // Not reachable without the host.
    let direct = TcpStream::connect_timeout(&SocketAddr::new(guest.ip, 22), Duration::from_secs(3));
    assert!(
        direct.is_err(),
        "the guest {} answers the client directly",
        guest.ip
    );
    let direct = SshClient::new(guest_target(&guest, &known_hosts));
    assert!(
        direct.exec(&["true"], Duration::from_secs(10)).is_err(),
        "an SshClient without the jump host reached the guest"
    );

    let jump = Arc::new(JumpHost::new(jump_target.clone()));
    assert!(!jump.is_connected());
    let client = SshClient::via(guest_target(&guest, &known_hosts), jump.clone());

    // wait_for_ssh probes through the host too; the guest key is recorded.
    client
        .wait_for_ssh(T)
        .expect("wait_for_ssh through the jump host");
    assert!(jump.is_connected());
    let kh = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(kh.starts_with(&format!("{} ", guest.ip)), "{kh}");

    // Commands: output, exit code, standard input.
    let r = client.exec(&["hostname"], T).unwrap();
    assert_eq!((r.code, r.stdout_lossy().trim()), (0, "rg-tunnel"), "{r:?}");
    let r = client
        .exec(&["sh", "-c", "echo out; echo err >&2; exit 3"], T)
        .unwrap();
    assert_eq!(r.code, 3);
    assert_eq!(r.stdout_lossy(), "out\n");
    assert_eq!(r.stderr_lossy(), "err\n");
    let input: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let r = client.exec_stdin(&["cat"], &input, T).unwrap();
    assert!(
        r.success() && r.stdout == input,
        "cat echoed {} bytes",
        r.stdout.len()
    );

    // Files both ways (SFTP over the same tunnelled session), 3 MiB so the
    // channel windows and the pump's buffers fill many times.
    let data: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let up = tmp.path().join("up.bin");
    std::fs::File::create(&up)
        .unwrap()
        .write_all(&data)
        .unwrap();
    client.copy_to(&up, "/tmp/lago-tunnel.bin").unwrap();
    let r = client
        .exec(&["wc", "-c", "/tmp/lago-tunnel.bin"], T)
        .unwrap();
    assert!(
        r.stdout_lossy().starts_with(&format!("{} ", data.len())),
        "{r:?}"
    );
    let down = tmp.path().join("down.bin");
    client.copy_from("/tmp/lago-tunnel.bin", &down).unwrap();
    assert!(
        std::fs::read(&down).unwrap() == data,
        "the file came back changed"
    );

    // Two sessions at once through the one jump host: the first blocks
    // reading a FIFO until the second, on its own connection, writes it.
    let other = SshClient::via(guest_target(&guest, &known_hosts), jump.clone());
    let fifo = "/tmp/lago-tunnel.fifo";
    let r = client
        .exec(&["sh", "-c", &format!("rm -f {fifo} && mkfifo {fifo}")], T)
        .unwrap();
    assert!(r.success(), "{r:?}");
    std::thread::scope(|s| {
        let reader = s.spawn(|| client.exec(&["cat", fifo], T));
        let w = other
            .exec(&["sh", "-c", &format!("echo through-one-host > {fifo}")], T)
            .unwrap();
        assert!(w.success(), "{w:?}");
        let r = reader.join().unwrap().unwrap();
        assert_eq!(r.stdout_lossy(), "through-one-host\n", "{r:?}");
    });
    assert!(client.is_connected() && other.is_connected());

    // A port nothing listens on: an error naming the host and the guest.
    let err = jump.connect_to(guest.ip, 23).unwrap_err();
    assert!(matches!(err, SshError::Tunnel { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&jump_target.name()) && text.contains(&format!("{}:23", guest.ip)),
        "{text}"
    );
    // ... and the host connection is still good for the others.
    assert!(other.exec(&["true"], T).unwrap().success());

    // The host connection dropped under the clients: their held sessions
    // are dead, and the next call reconnects (a new host connection).
    jump.disconnect();
    assert!(!jump.is_connected());
    let r = client.exec(&["echo", "again"], T).unwrap();
    assert_eq!(r.stdout_lossy(), "again\n");
    assert!(jump.is_connected());
    let r = other.exec(&["echo", "again"], T).unwrap();
    assert_eq!(r.stdout_lossy(), "again\n");

    // The host connection dies under everyone (its TCP connection is
    // destroyed, as a host crash would): the next call makes a new one.
    let out = Command::new("ss")
        .args(["-K", "-tn", "dst", &jump_target.address, "dport", "=", "22"])
        .output()
        .expect("run ss");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // (`ss -K` without kernel support kills nothing and still succeeds.)
    let left = Command::new("ss")
        .args(["-Htn", "state", "established", "dst", &jump_target.address])
        .args(["dport", "=", "22"])
        .output()
        .expect("run ss");
    assert!(
        left.status.success() && left.stdout.is_empty(),
        "ss -K left connections to the host: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    let r = client.exec(&["echo", "after a crash"], T).unwrap();
    assert_eq!(r.stdout_lossy(), "after a crash\n");
    let r = other.exec(&["echo", "after a crash"], T).unwrap();
    assert_eq!(r.stdout_lossy(), "after a crash\n");

    // Dropping the clients closes their channels; the jump host stays
    // usable for a new one.
    drop(client);
    drop(other);
    let third = SshClient::via(guest_target(&guest, &known_hosts), jump.clone());
    assert!(
        third
            .exec(&["rm", "-f", "/tmp/lago-tunnel.bin", fifo], T)
            .unwrap()
            .success()
    );
}

/// The jump host's key is checked, never recorded: unknown or different
/// fails before anything is sent to the host.
fn jump_host_key_must_be_known() {
    let tmp = tempfile::tempdir().unwrap();
    let mut target = jump_target();
    // An empty known_hosts: the host's key is refused, not recorded.
    let empty = tmp.path().join("known_hosts");
    std::fs::write(&empty, "").unwrap();
    target.known_hosts = empty.clone();
    let jump = JumpHost::new(target.clone());
    let err = jump
        .connect_to("192.168.232.10".parse().unwrap(), 22)
        .unwrap_err();
    assert!(matches!(err, SshError::KnownHosts { .. }), "{err}");
    assert!(err.to_string().contains(&target.address), "{err}");
    assert_eq!(std::fs::read_to_string(&empty).unwrap(), "");

    // Another key recorded for the host: a mismatch naming the file.
    let real = std::fs::read_to_string(var("LAGO_TEST_REMOTE_KNOWN_HOSTS")).unwrap();
    let other_host = real
        .lines()
        .find(|l| !l.starts_with(&format!("{} ", target.address)))
        .expect("a second host's key");
    let (_, key) = other_host.split_once(' ').unwrap();
    std::fs::write(&empty, format!("{} {key}\n", target.address)).unwrap();
    let err = JumpHost::new(target)
        .connect_to("192.168.232.10".parse().unwrap(), 22)
        .unwrap_err();
    assert!(matches!(err, SshError::HostKeyMismatch { .. }), "{err}");
}
