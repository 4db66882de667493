//! Security facts on a real guest, through the SASL listener of the test
//! host's libvirtd (`libvirt_username` / `libvirt_password` set):
//!
//! - the libvirt password never shows in lago's log events (every level,
//!   span fields included), in any file of the workdir, or in the command
//!   line of any process while init, start, SSH, snapshot, revert, stop and
//!   destroy run (`/proc/*/cmdline` watched all along);
//! - nothing is created in `TMPDIR` (pointed at an empty folder);
//! - the guest's host key is pinned in `<prefix>/known_hosts` at first
//!   contact; new keys made in the guest (or an edited pin) are an error
//!   naming the VM and that file; a revert (lago re-creates the disks) pins
//!   the key the guest then has: the old one (a snapshot with it), or a new
//!   one (a snapshot from before its first boot).
//!
//! One test: `TMPDIR` and the log subscriber are the whole process's.
//!
//!     tests/host/run cargo test -p lago-core --test guest_security -- --ignored

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // test code

mod support;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lago_core::Env;
use lago_core::ErrorKind;
use lago_core::ops::init::InitOptions;
use lago_core::{HostKey, KnownHosts};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const T: Duration = Duration::from_secs(60);

/// Every event and span field, at every level, as text.
#[derive(Clone, Default)]
struct Capture {
    text: Arc<Mutex<String>>,
    next_id: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut line = format!("span {}", span.metadata().name());
        span.record(&mut Fields(&mut line));
        line.push('\n');
        self.text.lock().unwrap().push_str(&line);
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut line = String::from("span record");
        values.record(&mut Fields(&mut line));
        line.push('\n');
        self.text.lock().unwrap().push_str(&line);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = format!("{} {}", event.metadata().level(), event.metadata().target());
        event.record(&mut Fields(&mut line));
        line.push('\n');
        self.text.lock().unwrap().push_str(&line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Watches every process's command line for `secret` until stopped.
struct ArgvWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u64, Vec<String>)>,
}

impl ArgvWatch {
    fn start(secret: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let secret = secret.as_bytes().to_vec();
        let thread = std::thread::spawn(move || {
            let (mut rounds, mut hits) = (0u64, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                rounds += 1;
                for entry in fs::read_dir("/proc").unwrap().flatten() {
                    let Ok(argv) = fs::read(entry.path().join("cmdline")) else {
                        continue;
                    };
                    if argv.windows(secret.len()).any(|w| w == secret) {
                        hits.push(String::from_utf8_lossy(&argv).replace('\0', " "));
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (rounds, hits)
        });
        Self { stop, thread }
    }

    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Every regular file under `dir` holding `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let ty = entry.file_type().unwrap();
        if ty.is_dir() {
            out.extend(files_holding(&entry.path(), needle));
        } else if ty.is_file()
            && fs::read(entry.path()).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        {
            out.push(entry.path());
        }
    }
    out
}

fn auth_host() -> (String, String, String) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run through tests/host/run on a test host with the SASL listener")
        })
    };
    (
        var("LAGO_TEST_AUTH_URI"),
        var("LAGO_TEST_AUTH_USER"),
        var("LAGO_TEST_AUTH_PASSWORD"),
    )
}

const ONE_VM: &str = "\
domains:
  vm0:
    memory: 256
    vcpu: 1
    root-password: rootpw-h6-31
    nics: [{net: mgmt}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
nets:
  mgmt: {type: nat, management: true, dhcp: {start: 100, end: 254}}
";

fn run_true(env: &Env) -> lago_core::Result<()> {
    let r = env.ssh("vm0", &["true".into()], T)?;
    assert_eq!(r.code, 0);
    Ok(())
}

#[test]
#[ignore = "real guests: tests/host/run cargo test -p lago-core --test guest_security -- --ignored"]
fn libvirt_password_tmpdir_and_pinned_host_keys() {
    support::guest::require_namespace();
    let (uri, user, password) = auth_host();
    let capture = Capture::default();
    tracing::subscriber::set_global_default(capture.clone()).unwrap();

    let (root, mut config) = support::scratch::scratch("lago-guest-security");
    let tmpdir = root.join("tmpdir");
    fs::create_dir(&tmpdir).unwrap();
    // SAFETY: the only test of this binary; no other thread reads the
    // environment while it is set
    unsafe { std::env::set_var("TMPDIR", &tmpdir) };
    config.set("lago", "libvirt_url", &uri);
    config.set("lago", "libvirt_username", &user);
    config.set("lago", "libvirt_password", &password);
    let initfile = root.join("LagoInitFile");
    fs::write(&initfile, ONE_VM).unwrap();
    let watch = ArgvWatch::start(&password);

    let env = Env::init(
        &InitOptions::new(root.join(".lago"), &initfile),
        config.clone(),
    )
    .unwrap();
    let prefix = env.paths().prefix_path().to_path_buf();
    let known_hosts = prefix.join("known_hosts");
    // a snapshot of the never-booted VM: its disk has no host key yet
    env.snapshot("fresh", &[]).unwrap();
    env.start(&[]).unwrap();
    env.wait_for_ssh_all(&[], None).unwrap();
    run_true(&env).unwrap();

    // pinned at first contact, in the prefix
    let ip = env.state().vm("vm0").unwrap().ip().unwrap().to_string();
    let kh = KnownHosts::new(&known_hosts);
    let first = kh.lookup(&ip).unwrap();
    assert_eq!(first.len(), 1, "{first:?}");
    env.snapshot("s1", &[]).unwrap();

    // the guest gets new host keys (its sshd restarted with them): the
    // next connection is refused with an error naming the VM and the file
    let _ = env.ssh(
        "vm0",
        &[
            "sh".into(),
            "-c".into(),
            "rm -f /etc/dropbear/dropbear_*_host_key && /usr/lib/lago-tiny/hostkeys && \
             for p in $(pidof dropbear); do \
             [ \"$(cut -d' ' -f4 /proc/$p/stat)\" = 1 ] && kill $p; done; true"
                .into(),
        ],
        T,
    );
    drop(env);
    let env = Env::load(&root.join(".lago"), "current", config.clone()).unwrap();
    let err = env
        .wait_for_ssh("vm0", Some(Duration::from_secs(60)))
        .unwrap_err();
    println!("changed key: {}", err.full_message());
    assert_eq!(err.kind(), ErrorKind::Ssh);
    assert_eq!(err.vm(), Some("vm0"));
    assert_eq!(err.path(), Some(known_hosts.as_path()));
    let msg = err.message();
    assert!(
        msg.starts_with("VM 'vm0': its SSH host key is not the one pinned in its prefix"),
        "{msg}"
    );
    assert!(msg.contains(&known_hosts.display().to_string()), "{msg}");
    assert!(msg.contains(&first[0].fingerprint()), "{msg}");
    assert!(run_true(&env).is_err(), "refused for every command");
    // and the pin is not replaced by the failed attempts
    assert_eq!(kh.lookup(&ip).unwrap(), first);

    // an edited pin is refused the same way
    let mut blob = Vec::new();
    for field in [&b"ssh-ed25519"[..], &[0x42; 32][..]] {
        blob.extend_from_slice(&(field.len() as u32).to_be_bytes());
        blob.extend_from_slice(field);
    }
    let other = HostKey::from_blob(&blob).unwrap();
    kh.record(&ip, &other).unwrap();
    let err = run_true(&env).unwrap_err();
    assert_eq!(err.vm(), Some("vm0"));
    assert!(err.message().contains(&other.fingerprint()), "{err}");

    // lago re-creates the disks (revert to s1, whose disk has the first
    // keys): the key the guest then has is pinned again
    env.revert("s1", &[]).unwrap();
    run_true(&env).unwrap();
    assert_eq!(kh.lookup(&ip).unwrap(), first);
    // to a snapshot from before the guest had keys: it makes new ones at
    // boot, and they are pinned
    env.revert("fresh", &[]).unwrap();
    env.start(&[]).unwrap();
    env.wait_for_ssh_all(&[], None).unwrap();
    run_true(&env).unwrap();
    let renewed = kh.lookup(&ip).unwrap();
    assert_eq!(renewed.len(), 1, "{renewed:?}");
    assert_ne!(renewed, first, "a new guest key");

    env.stop(&[]).unwrap();
    // no file of the workdir holds the libvirt password (config is in memory)
    let holding = files_holding(&root, password.as_bytes());
    assert!(holding.is_empty(), "hold the libvirt password: {holding:?}");
    env.destroy().unwrap();

    let (rounds, hits) = watch.finish();
    assert!(rounds > 10, "the argv watch ran {rounds} rounds");
    assert!(hits.is_empty(), "the libvirt password in argv: {hits:?}");
    let logged = capture.text.lock().unwrap().clone();
    assert!(
        logged.contains("host key recorded") && logged.contains("DEBUG"),
        "the capture saw lago's events:\n{logged}"
    );
    assert!(
        !logged.contains(&password),
        "the libvirt password was logged"
    );
    let left: Vec<PathBuf> = fs::read_dir(&tmpdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    println!(
        "{} log lines checked, {rounds} argv scans",
        logged.lines().count()
    );
    let _ = fs::remove_dir_all(&root);
}
