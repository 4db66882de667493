//! lago-core's SSH access against real `tiny` guests.
//!
//! Every test here talks to a guest booted with virsh inside the test
//! network namespace, so they are ignored by a plain `cargo test`. Run them
//! with the test host up (`sudo tests/host/up`):
//!
//! ```sh
//! tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored --test-threads=1
//! ```
//!
//! Most tests share one guest; the reboot test boots its own. Timings
//! (100 commands on one connection, 100 MiB copies against `scp`) are
//! printed with `--nocapture`.

// Tests may unwrap and print their timings (the support code included).
#![allow(clippy::print_stderr, clippy::unwrap_used)]

mod support;

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lago_core::ErrorKind;
use lago_core::{
    KnownHosts, PtySize, ServiceManager, ServiceState, SshClient, SshError, SshTarget,
};
use support::guest::{self, Guest, run};

const T: Duration = Duration::from_secs(30);

fn client(g: &Guest) -> SshClient {
    SshClient::new(g.target())
}

/// A scratch folder under the guest's folder, removed with the guest.
fn scratch(g: &Guest, name: &str) -> PathBuf {
    let dir = g.dir.join(format!("scratch-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Deterministic pseudo-random bytes (xorshift), every byte value included.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn md5_local(path: &Path) -> String {
    let out = run(Command::new("md5sum").arg(path));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn md5_remote(c: &SshClient, path: &str) -> String {
    let r = c.exec(&["md5sum", path], Duration::from_secs(120)).unwrap();
    assert!(r.success(), "md5sum {path}: {}", r.stderr_lossy());
    r.stdout_lossy()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

// ---- authentication -------------------------------------------------------

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn key_auth_and_password_fallback() {
    let g = guest::shared();
    let whoami = |target: SshTarget| SshClient::new(target).exec(&["id", "-un"], T);

    // RSA key (a prefix's id_rsa), no password at all.
    let r = whoami(g.target().with_password(None)).unwrap();
    assert_eq!((r.code, r.stdout.as_slice()), (0, b"root\n".as_slice()));
    // Ed25519 key.
    let r = whoami(g.target().with_key(&g.ed25519_key).with_password(None)).unwrap();
    assert_eq!(r.stdout, b"root\n");
    // A key the guest does not know: the password (default 123456) is used.
    let r = whoami(g.target().with_key(&g.stranger_key)).unwrap();
    assert_eq!(r.stdout, b"root\n");
    // No key file at all: password.
    let r = whoami(g.target().with_key(g.dir.join("no-such-key"))).unwrap();
    assert_eq!(r.stdout, b"root\n");
    let mut t = g.target();
    t.key = None;
    assert_eq!(whoami(t).unwrap().stdout, b"root\n");

    // Unknown key and a wrong password: an Ssh error naming user, host and
    // what was tried.
    let err = whoami(
        g.target()
            .with_key(&g.stranger_key)
            .with_password(Some("wrong")),
    )
    .unwrap_err();
    assert!(matches!(err, SshError::Auth { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("root@{}", g.ip)), "{msg}");
    assert!(
        msg.contains("authentication failed") && msg.contains("password"),
        "{msg}"
    );
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::Ssh);
}

// ---- exec -------------------------------------------------------------------

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn exec_code_and_exact_output() {
    let g = guest::shared();
    let c = client(&g);
    let r = c
        .exec(
            &[
                "sh",
                "-c",
                r"printf 'out\377\000x\n'; printf 'err\376\r' >&2; exit 42",
            ],
            T,
        )
        .unwrap();
    assert_eq!(r.code, 42);
    assert_eq!(r.stdout, b"out\xff\x00x\n");
    assert_eq!(r.stderr, b"err\xfe\r");

    let r = c.exec(&["true"], T).unwrap();
    assert_eq!((r.code, r.stdout.len(), r.stderr.len()), (0, 0, 0));
    let r = c.exec(&["false"], T).unwrap();
    assert_eq!(r.code, 1);
    // Killed by a signal: 128 + signal number, as a shell reports it.
    let r = c.exec(&["sh", "-c", "kill -9 $$"], T).unwrap();
    assert_eq!(r.code, 137, "{r:?}");
    // A command that does not exist: the shell's 127.
    let r = c.exec(&["no-such-command-here"], T).unwrap();
    assert_eq!(r.code, 127);
    assert!(!r.stderr.is_empty());
}

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn large_stderr_and_stdout_together() {
    let g = guest::shared();
    let c = client(&g);
    // 8 MiB on stderr and 4 MiB on stdout at the same time: reading only
    // one of them would deadlock once the other's window fills.
    let script = "(yes 0123456789abcdef | head -c 8388608 >&2) & \
                  (yes stdout-line | head -c 4194304); wait";
    let start = Instant::now();
    let r = c
        .exec(&["sh", "-c", script], Duration::from_secs(120))
        .unwrap();
    eprintln!("12 MiB of output in {:.2} s", start.elapsed().as_secs_f64());
    assert_eq!(r.code, 0);
    let expect_err: Vec<u8> = b"0123456789abcdef\n"
        .iter()
        .copied()
        .cycle()
        .take(8 << 20)
        .collect();
    let expect_out: Vec<u8> = b"stdout-line\n"
        .iter()
        .copied()
        .cycle()
        .take(4 << 20)
        .collect();
    assert!(r.stderr == expect_err, "stderr: {} bytes", r.stderr.len());
    assert!(r.stdout == expect_out, "stdout: {} bytes", r.stdout.len());
}

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn quoting_round_trip() {
    let g = guest::shared();
    let c = client(&g);
    let r = c.exec(&["echo", "a b", "$HOME"], T).unwrap();
    assert_eq!(r.stdout, b"a b $HOME\n");

    let args: Vec<OsString> = vec![
        "plain".into(),
        "".into(),
        "two  spaces".into(),
        "$HOME `id` $(id) ${PATH}".into(),
        "it's \"quoted\" \\ back".into(),
        "line1\nline2\n".into(),
        "*?[a-z]~".into(),
        ";|&<>(){}#!".into(),
        "ünïcødé ✓".into(),
        OsString::from_vec(vec![0x80, b'x', 0xff, 0xc3, b'\'']),
        "-n".into(),
    ];
    let mut argv: Vec<OsString> = vec!["printf".into(), "%s\\0".into()];
    argv.extend(args.iter().cloned());
    let r = c.exec(&argv, T).unwrap();
    let mut expected = Vec::new();
    for a in &args {
        expected.extend_from_slice(a.as_encoded_bytes());
        expected.push(0);
    }
    assert_eq!(r.code, 0, "{}", r.stderr_lossy());
    assert_eq!(r.stdout, expected);

    // A raw command line goes to the shell as it is.
    let r = c.exec_command("echo $((6 * 7)) | tr 4 X", None, T).unwrap();
    assert_eq!(r.stdout, b"X2\n");
}

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn stdin_is_passed_exactly() {
    let g = guest::shared();
    let c = client(&g);
    let data = noise(3 << 20, 7);
    let r = c
        .exec_stdin(&["cat"], &data, Duration::from_secs(120))
        .unwrap();
    assert_eq!(r.code, 0);
    assert!(
        r.stdout == data,
        "cat returned {} of {} bytes",
        r.stdout.len(),
        data.len()
    );
    let r = c.exec_stdin(&["wc", "-c"], b"12345", T).unwrap();
    assert_eq!(r.stdout_lossy().trim(), "5");
    // A command that does not read its input still finishes.
    let r = c.exec_stdin(&["echo", "ignored"], &data, T).unwrap();
    assert_eq!(r.stdout, b"ignored\n");
    // Without stdin the command sees end of file at once.
    let r = c.exec(&["cat"], T).unwrap();
    assert_eq!((r.code, r.stdout.len()), (0, 0));
}

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn timeout_fires_and_client_recovers() {
    let g = guest::shared();
    let c = client(&g);
    assert!(c.exec(&["true"], T).unwrap().success());
    let start = Instant::now();
    let err = c
        .exec(&["sleep", "30"], Duration::from_secs(1))
        .unwrap_err();
    let took = start.elapsed();
    assert!(err.is_timeout(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&g.ip.to_string()) && msg.contains("sleep 30"),
        "{msg}"
    );
    assert!(took < Duration::from_secs(10), "timeout took {took:?}");
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::Timeout);
    // The client is usable right after.
    let r = c.exec(&["echo", "still here"], T).unwrap();
    assert_eq!(r.stdout, b"still here\n");
}

/// The client port the guest sees, to tell connections apart.
fn client_port(c: &SshClient) -> String {
    let r = c.exec_command("echo $SSH_CLIENT", None, T).unwrap();
    let text = r.stdout_lossy();
    text.split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn hundred_commands_on_one_connection() {
    let g = guest::shared();
    let c = client(&g);
    let port = client_port(&c);
    assert!(!port.is_empty());
    let start = Instant::now();
    for _ in 0..100 {
        let r = c.exec(&["true"], T).unwrap();
        assert_eq!(r.code, 0);
    }
    let took = start.elapsed();
    eprintln!(
        "100 sequential exec([\"true\"]) on one connection: {:.3} s ({:.1} ms each)",
        took.as_secs_f64(),
        took.as_secs_f64() * 10.0
    );
    // How long they take is the run benchmark's business (rule: benchmarks,
    // not timed tests); here, that they all ran on the one connection.
    assert_eq!(client_port(&c), port, "the connection was not reused");

    // Shared between threads, still one connection.
    let c = std::sync::Arc::new(c);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let c = std::sync::Arc::clone(&c);
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let r = c.exec(&["echo", &i.to_string()], T).unwrap();
                    assert_eq!(r.stdout, format!("{i}\n").as_bytes());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(client_port(&c), port);
}

// ---- wait_for_ssh and reboot ---------------------------------------------------

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn wait_for_lease_then_reconnect_after_reboot() {
    let booted = Instant::now();
    let g = Guest::boot();
    // The address comes from the DHCP lease, as the provider will do.
    let c = SshClient::new(SshTarget {
        host: std::net::Ipv4Addr::UNSPECIFIED.into(),
        ..g.target()
    });
    let took = c
        .wait_for_ssh_from(Duration::from_secs(180), &|| g.lease())
        .unwrap_or_else(|e| panic!("{e}\n--- console ---\n{}", g.console_tail()));
    eprintln!(
        "wait_for_ssh: {:.2} s in the call, {:.2} s since virsh create",
        took.as_secs_f64(),
        booted.elapsed().as_secs_f64()
    );
    assert_eq!(c.host(), g.ip);
    assert!(c.is_connected());
    // Already up: returns at once on the held connection.
    assert!(c.wait_for_ssh(T).unwrap() < Duration::from_secs(5));

    // A copy now keeps an SFTP channel open on the connection.
    let marker = g.dir.join("marker");
    fs::write(&marker, b"before").unwrap();
    c.copy_to(&marker, "/root/marker").unwrap();
    let boot_id = |c: &SshClient| {
        c.exec(&["cat", "/proc/sys/kernel/random/boot_id"], T)
            .unwrap()
            .stdout
    };
    let first = boot_id(&c);
    let port = client_port(&c);
    // busybox reboot; the connection may or may not report the exit.
    let _ = c.exec(&["reboot"], Duration::from_secs(10));
    // Wait (independently of the client) for the guest to go down and
    // come back.
    let addr = std::net::SocketAddr::new(g.ip, 22);
    let deadline = Instant::now() + Duration::from_secs(60);
    while g.banner(&addr) {
        assert!(Instant::now() < deadline, "guest did not go down");
        std::thread::sleep(Duration::from_millis(100));
    }
    g.wait_banner(Duration::from_secs(180));
    // The old connection is dead; the client notices and reconnects, for
    // a copy (on the kept SFTP channel) as for a command.
    fs::write(&marker, b"after").unwrap();
    if !c.is_connected() {
        eprintln!("note: `reboot` broke the connection already; the copy starts on a new one");
    }
    c.copy_to(&marker, "/root/marker").unwrap();
    let port_after = client_port(&c);
    assert_ne!(port_after, port);
    assert_eq!(
        c.exec(&["cat", "/root/marker"], T).unwrap().stdout,
        b"after"
    );
    let second = boot_id(&c);
    assert_ne!(first, second, "not rebooted?");
    assert_eq!(client_port(&c), port_after);
    // The host key survived the reboot (it is on the guest's disk), so
    // the recorded one still matches.
    assert_eq!(
        KnownHosts::new(&g.known_hosts)
            .lookup(&g.ip.to_string())
            .unwrap()
            .len(),
        1
    );
}

// ---- files -------------------------------------------------------------------

fn build_tree(root: &Path) {
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::create_dir_all(root.join("private")).unwrap();
    fs::create_dir_all(root.join("empty dir")).unwrap();
    fs::write(root.join("plain.txt"), b"hello\n").unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    fs::write(root.join("sub/big.bin"), noise(3 << 20, 3)).unwrap();
    fs::write(root.join("sub/deeper/script.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::write(root.join("private/secret"), b"s3cret").unwrap();
    fs::write(root.join("name with spaces & ünï"), b"odd name").unwrap();
    fs::write(root.join("readonly"), b"ro").unwrap();
    symlink("sub/big.bin", root.join("link-to-big")).unwrap();
    symlink("../plain.txt", root.join("sub/up-link")).unwrap();
    symlink("/nonexistent/target", root.join("dangling")).unwrap();
    let modes = [
        ("sub/deeper/script.sh", 0o755),
        ("private/secret", 0o600),
        ("private", 0o700),
        ("readonly", 0o444),
        ("sub", 0o750),
        ("plain.txt", 0o640),
    ];
    for (p, m) in modes {
        fs::set_permissions(root.join(p), fs::Permissions::from_mode(m)).unwrap();
    }
}

/// Compares two local trees: names, types, modes, contents, link targets.
fn assert_same_tree(a: &Path, b: &Path) {
    let ma = fs::symlink_metadata(a).unwrap();
    let mb = fs::symlink_metadata(b).unwrap();
    assert_eq!(
        ma.file_type(),
        mb.file_type(),
        "{} vs {}",
        a.display(),
        b.display()
    );
    if ma.file_type().is_symlink() {
        assert_eq!(
            fs::read_link(a).unwrap(),
            fs::read_link(b).unwrap(),
            "{}",
            b.display()
        );
        return;
    }
    assert_eq!(
        ma.permissions().mode() & 0o7777,
        mb.permissions().mode() & 0o7777,
        "mode of {}",
        b.display()
    );
    if ma.is_dir() {
        let names = |p: &Path| {
            let mut v: Vec<_> = fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            v.sort();
            v
        };
        let (na, nb) = (names(a), names(b));
        assert_eq!(na, nb, "entries of {}", b.display());
        for n in na {
            assert_same_tree(&a.join(&n), &b.join(&n));
        }
    } else {
        assert!(
            fs::read(a).unwrap() == fs::read(b).unwrap(),
            "content of {}",
            b.display()
        );
        // SFTP carries whole seconds.
        assert_eq!(ma.mtime(), mb.mtime(), "mtime of {}", b.display());
    }
}

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn copy_tree_round_trip() {
    let g = guest::shared();
    let c = client(&g);
    let dir = scratch(&g, "tree");
    let tree = dir.join("tree");
    build_tree(&tree);
    let _ = c.exec(&["rm", "-rf", "/root/tree-copy"], T).unwrap();

    let stats = c.copy_to(&tree, "/root/tree-copy").unwrap();
    assert_eq!((stats.files, stats.symlinks), (7, 3), "{stats:?}");
    assert_eq!(stats.dirs, 5, "{stats:?}");
    // Seen from the guest.
    let r = c
        .exec(&["readlink", "/root/tree-copy/link-to-big"], T)
        .unwrap();
    assert_eq!(r.stdout, b"sub/big.bin\n");
    let r = c
        .exec(&["cat", "/root/tree-copy/name with spaces & ünï"], T)
        .unwrap();
    assert_eq!(r.stdout, b"odd name");
    assert_eq!(
        md5_remote(&c, "/root/tree-copy/sub/big.bin"),
        md5_local(&tree.join("sub/big.bin"))
    );
    let r = c
        .exec_command(
            "ls -ld /root/tree-copy/private /root/tree-copy/readonly",
            None,
            T,
        )
        .unwrap();
    let ls = r.stdout_lossy();
    assert!(
        ls.contains("drwx------") && ls.contains("-r--r--r--"),
        "{ls}"
    );

    // And back: the copy of the copy is the original.
    let back = dir.join("back");
    let stats = c.copy_from("/root/tree-copy", &back).unwrap();
    assert_eq!((stats.files, stats.dirs, stats.symlinks), (7, 5, 3));
    // The top folder's mode comes from the guest's copy of it.
    assert_same_tree(&tree, &back);

    // Into an existing folder, scp-style: /root/tree-copy/plain.txt.
    c.copy_to(tree.join("plain.txt"), "/root").unwrap();
    let r = c.exec(&["cat", "/root/plain.txt"], T).unwrap();
    assert_eq!(r.stdout, b"hello\n");
    let into = dir.join("into");
    fs::create_dir(&into).unwrap();
    c.copy_from("/root/plain.txt", &into).unwrap();
    assert_eq!(fs::read(into.join("plain.txt")).unwrap(), b"hello\n");

    // Missing paths: NotFound, with Lago's message ending.
    let err = c
        .copy_from("/root/no/such/path", dir.join("x"))
        .unwrap_err();
    assert!(
        err.to_string().ends_with(": No such file or directory"),
        "{err}"
    );
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::NotFound);
    let err = c.copy_to(dir.join("missing-local"), "/root/x").unwrap_err();
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::NotFound);
    // The connection survived those errors.
    assert!(c.exec(&["true"], T).unwrap().success());
    c.exec(&["rm", "-rf", "/root/tree-copy", "/root/plain.txt"], T)
        .unwrap();
}

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn copy_100_mib_against_scp() {
    const SIZE: usize = 100 << 20;
    let g = guest::shared();
    let c = client(&g);
    let long = Duration::from_secs(300);
    let remote = "/root/big.bin";
    // Let the guest's disk (a fresh qcow2 overlay) allocate its clusters
    // once, so neither side pays for that in the timing.
    c.exec_command(
        &format!("dd if=/dev/zero of={remote} bs=1M count=100 2>/dev/null; sync; rm -f {remote}"),
        None,
        long,
    )
    .unwrap();
    let r = c.exec_command("df -k /root | tail -1", None, T).unwrap();
    eprintln!("guest /root: {}", r.stdout_lossy().trim());
    let dir = scratch(&g, "big");
    let src = dir.join("big.bin");
    fs::write(&src, noise(SIZE, 11)).unwrap();
    let src_md5 = md5_local(&src);
    let mib = SIZE as f64 / (1 << 20) as f64;
    let opts = g.openssh_opts(&g.rsa_key);
    let dest = format!("root@{}:{remote}", g.ip);

    let ours_up = || {
        c.exec(&["rm", "-f", remote], T).unwrap();
        let t = Instant::now();
        c.copy_to(&src, remote).unwrap();
        t.elapsed().as_secs_f64()
    };
    let scp_up = || {
        c.exec(&["rm", "-f", remote], T).unwrap();
        let t = Instant::now();
        run(Command::new("scp").args(&opts).arg(&src).arg(&dest));
        t.elapsed().as_secs_f64()
    };
    let ours_file = dir.join("ours.bin");
    let scp_file = dir.join("scp.bin");
    let ours_down = || {
        let _ = fs::remove_file(&ours_file);
        let t = Instant::now();
        c.copy_from(remote, &ours_file).unwrap();
        t.elapsed().as_secs_f64()
    };
    let scp_down = || {
        let _ = fs::remove_file(&scp_file);
        let t = Instant::now();
        run(Command::new("scp").args(&opts).arg(&dest).arg(&scp_file));
        t.elapsed().as_secs_f64()
    };

    // ABBA order, best of two each: other work on the machine and the
    // emulated guest make single runs noisy.
    let (u1, s1) = (ours_up(), scp_up());
    assert_eq!(md5_remote(&c, remote), src_md5);
    let (s2, u2) = (scp_up(), ours_up());
    assert_eq!(md5_remote(&c, remote), src_md5);
    let (d1, t1) = (ours_down(), scp_down());
    let (t2, d2) = (scp_down(), ours_down());
    assert_eq!(md5_local(&ours_file), src_md5);
    assert_eq!(md5_local(&scp_file), src_md5);
    c.exec(&["rm", "-f", remote], T).unwrap();

    let (ours_up, scp_up) = (u1.min(u2), s1.min(s2));
    let (ours_down, scp_down) = (d1.min(d2), t1.min(t2));
    let up_ratio = scp_up / ours_up;
    let down_ratio = scp_down / ours_down;
    eprintln!("100 MiB copy_to   runs: ours {u1:.2}/{u2:.2} s, scp {s1:.2}/{s2:.2} s");
    eprintln!("100 MiB copy_from runs: ours {d1:.2}/{d2:.2} s, scp {t1:.2}/{t2:.2} s");
    eprintln!(
        "100 MiB copy_to:   ours {:.1} MiB/s, scp {:.1} MiB/s, ours/scp = {up_ratio:.2}",
        mib / ours_up,
        mib / scp_up
    );
    eprintln!(
        "100 MiB copy_from: ours {:.1} MiB/s, scp {:.1} MiB/s, ours/scp = {down_ratio:.2}",
        mib / ours_down,
        mib / scp_down
    );
    assert!(
        up_ratio >= 0.5,
        "copy_to at {up_ratio:.2} of scp's throughput"
    );
    assert!(
        down_ratio >= 0.5,
        "copy_from at {down_ratio:.2} of scp's throughput"
    );
}

// ---- scripts, PTY, interactive ----------------------------------------------------

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn ssh_script_keeps_code_and_output() {
    let g = guest::shared();
    let c = client(&g);
    let script =
        b"#!/bin/sh\nset -e\necho \"start in $(pwd)\"\necho oops >&2\nx=$((2 + 3))\nexit $x\n";
    let r = c.ssh_script(script, T).unwrap();
    assert_eq!(r.code, 5);
    assert_eq!(r.stdout, b"start in /root\n");
    assert_eq!(r.stderr, b"oops\n");
    let path = scratch(&g, "script").join("s.sh");
    fs::write(&path, b"echo from file\n").unwrap();
    let r = c.ssh_script_file(&path, T).unwrap();
    assert_eq!(
        (r.code, r.stdout.as_slice()),
        (0, b"from file\n".as_slice())
    );
    let err = c
        .ssh_script_file(&path.with_extension("missing"), T)
        .unwrap_err();
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::NotFound);
}

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn pty_exec_runs_on_a_terminal() {
    let g = guest::shared();
    let c = client(&g);
    let r = c.pty_exec(&["tty"], T).unwrap();
    let out = r.stdout_lossy();
    assert_eq!(r.code, 0, "{out}");
    assert!(
        out.starts_with("/dev/pts/") && out.ends_with("\r\n"),
        "{out:?}"
    );
    // Without a PTY there is no terminal.
    let r = c.exec(&["tty"], T).unwrap();
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, b"not a tty\n");
    // stderr shows on the terminal too.
    let r = c
        .pty_exec(&["sh", "-c", "echo to-err >&2; stty size"], T)
        .unwrap();
    assert_eq!(r.stdout_lossy(), "to-err\r\n24 80\r\n");
}

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn interactive_session_over_pipes() {
    let g = guest::shared();
    let c = client(&g);
    // Without a PTY: a command reading its input, separate stderr.
    let (reader, mut writer) = std::io::pipe().unwrap();
    use std::io::Write;
    writer
        .write_all(b"echo hi\necho err >&2\nexit 3\n")
        .unwrap();
    drop(writer);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = c
        .interactive_with(
            &["sh"],
            std::os::fd::AsFd::as_fd(&reader),
            &mut out,
            &mut err,
            None,
        )
        .unwrap();
    assert_eq!(
        (code, out.as_slice(), err.as_slice()),
        (3, b"hi\n".as_slice(), b"err\n".as_slice())
    );

    // With a PTY and the login shell.
    let (reader, mut writer) = std::io::pipe().unwrap();
    writer.write_all(b"stty size; exit 7\n").unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let size = PtySize {
        cols: 100,
        rows: 30,
    };
    let code = c
        .interactive_with::<&str>(
            &[],
            std::os::fd::AsFd::as_fd(&reader),
            &mut out,
            &mut err,
            Some(size),
        )
        .unwrap();
    drop(writer);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(code, 7, "{text}");
    assert!(text.contains("30 100"), "{text:?}");
}

// ---- services -------------------------------------------------------------------

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn services_on_tiny() {
    let g = guest::shared();
    let c = client(&g);
    assert_eq!(c.service_manager().unwrap(), Some(ServiceManager::Sysvinit));
    let missing = c.service("no-such-service").unwrap();
    assert_eq!(missing.manager(), ServiceManager::Sysvinit);
    assert_eq!(missing.state().unwrap(), ServiceState::Missing);
    assert!(!missing.exists().unwrap());
    let err = missing.start().unwrap_err();
    assert!(err.to_string().contains("no-such-service"), "{err}");
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::NotFound);

    // A SysV script of our own.
    let script = b"#!/bin/sh\ncase \"$1\" in\n\
        start) touch /tmp/lagofoo.running ;;\n\
        stop) rm -f /tmp/lagofoo.running ;;\n\
        status) if [ -e /tmp/lagofoo.running ]; then echo running; exit 0; else echo 'lagofoo is stopped'; exit 3; fi ;;\n\
        *) exit 2 ;;\nesac\n";
    let r = c
        .exec_stdin(&["sh", "-c", "cat > /etc/init.d/lagofoo && chmod 755 /etc/init.d/lagofoo && rm -f /tmp/lagofoo.running"], script, T)
        .unwrap();
    assert!(r.success(), "{}", r.stderr_lossy());
    let foo = c.service("lagofoo").unwrap();
    assert_eq!(foo.state().unwrap(), ServiceState::Inactive);
    foo.start().unwrap();
    assert_eq!(foo.state().unwrap(), ServiceState::Active);
    assert!(foo.alive().unwrap());
    foo.stop().unwrap();
    assert_eq!(foo.state().unwrap(), ServiceState::Inactive);
    // With a known manager, no detection.
    let foo = c.service_with("lagofoo", ServiceManager::Sysvinit).unwrap();
    assert!(foo.exists().unwrap());
    c.exec(&["rm", "-f", "/etc/init.d/lagofoo"], T).unwrap();
    assert_eq!(foo.state().unwrap(), ServiceState::Missing);
    assert!(c.service("../etc/passwd").is_err());
}

// ---- host keys --------------------------------------------------------------------

#[test]
#[ignore = "real guest: run with tests/host/run cargo test -p lago-core --test guest_ssh -- --ignored"]
fn host_key_recorded_checked_and_forgotten() {
    let g = guest::shared();
    let dir = scratch(&g, "hostkeys");
    let kh_path = dir.join("known_hosts");
    let target = g.target().with_known_hosts(&kh_path);
    let host = g.ip.to_string();

    SshClient::new(target.clone()).exec(&["true"], T).unwrap();
    let text = fs::read_to_string(&kh_path).unwrap();
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(fields[0], host);
    // The same key OpenSSH's ssh-keyscan sees.
    let scan = run(Command::new("ssh-keyscan").args(["-T", "10", "-t", fields[1], &host]));
    let scan = String::from_utf8_lossy(&scan.stdout);
    assert!(
        scan.lines()
            .any(|l| l.split_whitespace().nth(2) == Some(fields[2])),
        "recorded {text:?}, keyscan {scan:?}"
    );
    // Checked, not re-recorded, on the next connection.
    SshClient::new(target.clone()).exec(&["true"], T).unwrap();
    assert_eq!(fs::read_to_string(&kh_path).unwrap(), text);

    // Replace the entry with another key of the same type.
    let fake = dir.join("fake");
    let kind = if fields[1] == "ssh-ed25519" {
        "ed25519"
    } else {
        "ecdsa"
    };
    run(Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-t", kind, "-f"])
        .arg(&fake));
    let fake_pub = fs::read_to_string(fake.with_extension("pub")).unwrap();
    let fake_fields: Vec<&str> = fake_pub.split_whitespace().collect();
    fs::write(
        &kh_path,
        format!("{host} {} {}\n", fake_fields[0], fake_fields[1]),
    )
    .unwrap();
    let fp = |pubfile: &Path| {
        let out = run(Command::new("ssh-keygen").arg("-lf").arg(pubfile));
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    let fake_fp = fp(&fake.with_extension("pub"));
    let real_pub = dir.join("real.pub");
    fs::write(&real_pub, format!("{} {}\n", fields[1], fields[2])).unwrap();
    let real_fp = fp(&real_pub);

    let c = SshClient::new(target.clone());
    let err = c.exec(&["true"], T).unwrap_err();
    assert!(matches!(err, SshError::HostKeyMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&host), "{msg}");
    assert!(msg.contains(&fake_fp) && msg.contains(&real_fp), "{msg}");
    assert!(msg.contains(&kh_path.display().to_string()), "{msg}");
    eprintln!("mismatch message: {msg}");
    // wait_for_ssh gives up at once on a wrong key.
    let start = Instant::now();
    assert!(matches!(
        c.wait_for_ssh(T),
        Err(SshError::HostKeyMismatch { .. })
    ));
    assert!(start.elapsed() < Duration::from_secs(5));

    // Forgetting the host (a re-created VM) accepts and records the key anew.
    assert_eq!(c.forget_host_key().unwrap(), 1);
    assert!(c.exec(&["true"], T).unwrap().success());
    assert_eq!(fs::read_to_string(&kh_path).unwrap(), text);
}
