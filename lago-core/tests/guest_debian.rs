//! A real Debian guest (the `debian-bookworm` test template: systemd,
//! OpenSSH, qemu-guest-agent, cloud-init) through [`Env`]: NoCloud bootstrap
//! by cloud-init (hostname, root's key), `hostname -f` from the management
//! network's DNS, services through systemd with the provider and the guest
//! agent persisted in the VM's spec, the guest agent answering libvirt, and
//! snapshots (disk-only and memory) quiesced through it.
//!
//!     tests/templates/build-debian
//!     tests/host/run cargo test -p lago-core --test guest_debian -- --ignored

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // test code

mod support;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use lago_core::Config;
use lago_core::Env;
use lago_core::ErrorKind;
use lago_core::ops::init::InitOptions;
use lago_core::ops::snapshot::SnapshotKind;
use lago_core::{ServiceManager, ServiceState};

const T: Duration = Duration::from_secs(120);

fn scratch(tag: &str) -> (PathBuf, Config) {
    let (root, config) = support::scratch::scratch(&format!("lago-guest-deb-{tag}"));
    (root, config)
}

fn sh(env: &Env, vm: &str, cmd: &str) -> lago_core::ExecResult {
    env.ssh(vm, &["sh".into(), "-c".into(), cmd.into()], T)
        .unwrap()
}

fn spec_key(env: &Env, vm: &str, key: &str) -> Option<serde_json::Value> {
    let text = fs::read_to_string(env.paths().virt_vm(vm)).unwrap();
    let spec: serde_json::Value = serde_json::from_str(&text).unwrap();
    spec.get(key).cloned()
}

/// Destroys the env when the test ends, also when an assertion fails.
struct Teardown(Option<Env>, PathBuf);

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Some(Err(e)) = self.0.take().map(Env::destroy) {
            eprintln!("teardown: {e}");
        }
        let _ = fs::remove_dir_all(&self.1);
    }
}

const ONE_VM: &str = "\
domains:
  deb0:
    memory: 512
    vcpu: 1
    nics: [{net: mgmt}]
    disks: [{template_name: debian-bookworm, type: template, name: root, dev: vda, format: qcow2}]
nets:
  mgmt: {type: nat, management: true, gw: 192.168.217.1, dhcp: {start: 100, end: 254}}
";

#[test]
#[ignore = "real guest: tests/host/run cargo test -p lago-core --test guest_debian -- --ignored"]
fn debian_guest_services_and_agent() {
    support::guest::require_namespace();
    let (root, config) = scratch("svc");
    let initfile = root.join("LagoInitFile");
    fs::write(&initfile, ONE_VM).unwrap();
    let t0 = Instant::now();
    let env = Env::init(&InitOptions::new(root.join(".lago"), &initfile), config).unwrap();
    println!("init: {:.2?}", t0.elapsed());
    let guard = Teardown(Some(env), root.clone());
    let env = guard.0.as_ref().unwrap();
    let t0 = Instant::now();
    env.start(&[]).unwrap();
    env.wait_for_ssh("deb0", None).unwrap();
    println!("start -> SSH: {:.2?}", t0.elapsed());
    let vm = "deb0";

    // cloud-init applied the NoCloud seed: hostname, root's key (the
    // prefix's, which is how SSH just got in), host keys made in the guest
    assert_eq!(sh(env, vm, "hostname").stdout_lossy().trim(), vm);
    let pubkey = fs::read_to_string(env.paths().ssh_id_rsa_pub()).unwrap();
    let keys = sh(env, vm, "cat /root/.ssh/authorized_keys").stdout_lossy();
    let key_body = pubkey.split_whitespace().nth(1).unwrap();
    assert!(keys.contains(key_body), "authorized_keys: {keys}");
    let ci = sh(env, vm, "cat /run/cloud-init/status.json");
    assert!(
        ci.stdout_lossy().contains("DataSourceNoCloud"),
        "{}",
        ci.stdout_lossy()
    );
    // `hostname -f` from the management network's DNS and DHCP search domain
    let fqdn = sh(env, vm, "hostname -f");
    assert_eq!(
        fqdn.stdout_lossy().trim(),
        format!("{vm}.lago.local"),
        "stderr: {} resolv.conf: {}",
        fqdn.stderr_lossy(),
        sh(env, vm, "cat /etc/resolv.conf /etc/hosts").stdout_lossy()
    );
    let pid1 = sh(env, vm, "cat /proc/1/comm").stdout_lossy();
    assert_eq!(pid1.trim(), "systemd");

    // services: detected once, persisted, then read from the spec
    assert_eq!(spec_key(env, vm, "service_provider"), None);
    let agent = env.service(vm, "qemu-guest-agent").unwrap();
    assert_eq!(agent.manager(), ServiceManager::Systemd);
    assert_eq!(
        spec_key(env, vm, "service_provider"),
        Some("systemd".into())
    );
    assert_eq!(env.service_provider(vm).unwrap(), ServiceManager::Systemd);
    assert_eq!(agent.state().unwrap(), ServiceState::Active);
    assert!(agent.exists().unwrap() && agent.alive().unwrap());
    agent.stop().unwrap();
    assert_eq!(agent.state().unwrap(), ServiceState::Inactive);
    let active = sh(env, vm, "systemctl is-active qemu-guest-agent").stdout_lossy();
    assert_eq!(active.trim(), "inactive");
    agent.start().unwrap();
    assert_eq!(agent.state().unwrap(), ServiceState::Active);
    assert!(agent.alive().unwrap());

    // a missing service
    let missing = env.service(vm, "lago-no-such-service").unwrap();
    assert_eq!(missing.state().unwrap(), ServiceState::Missing);
    assert!(!missing.exists().unwrap());
    let err = missing.start().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(env.service(vm, "../etc/passwd").is_err());

    // the guest agent: found, persisted, and answering libvirt
    assert_eq!(spec_key(env, vm, "guest-agent"), None);
    assert!(env.has_guest_agent(vm).unwrap());
    assert_eq!(
        spec_key(env, vm, "guest-agent"),
        Some("qemu-guest-agent".into())
    );
    assert_eq!(env.guest_agent(vm).unwrap().name(), "qemu-guest-agent");
    let dom = env.vm_libvirt_name(vm);
    let mut pong = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let out = Command::new("virsh")
            .args(["-c", "qemu:///system", "qemu-agent-command", &dom])
            .arg(r#"{"execute":"guest-ping"}"#)
            .output()
            .unwrap();
        pong = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            break;
        }
        pong += &String::from_utf8_lossy(&out.stderr);
        std::thread::sleep(Duration::from_secs(2));
    }
    assert_eq!(pong, r#"{"return":{}}"#);

    // a live snapshot with a guest agent is quiesced: the agent froze the
    // guest's filesystems for it; revert brings back what was on disk then
    assert_eq!(sh(env, vm, "echo before > /root/marker && sync").code, 0);
    env.snapshot("quiesced", &[]).unwrap();
    assert_eq!(sh(env, vm, "echo after > /root/marker && sync").code, 0);
    let log = sh(
        env,
        vm,
        "journalctl -b -u qemu-guest-agent --no-pager -o cat",
    )
    .stdout_lossy();
    assert!(
        log.contains("guest-fsfreeze called"),
        "the agent saw no freeze:\n{log}"
    );
    env.revert("quiesced", &[]).unwrap();
    assert_eq!(
        sh(env, vm, "cat /root/marker").stdout_lossy().trim(),
        "before"
    );

    // a memory snapshot is quiesced too: the agent freezes the file systems
    // before the pause and thaws them after the resume; the image holds them
    // frozen, so a revert thaws them before anything else
    let agent = |cmd: &str| -> String {
        let out = Command::new("virsh")
            .args(["-c", "qemu:///system", "qemu-agent-command", &dom, cmd])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let freezes = |env: &Env| {
        sh(
            env,
            vm,
            "journalctl -b -u qemu-guest-agent --no-pager -o cat | grep -c 'guest-fsfreeze called'",
        )
        .stdout_lossy()
        .trim()
        .parse::<u32>()
        .unwrap()
    };
    let before = freezes(env);
    env.snapshot_with("warm", &[], SnapshotKind::Memory)
        .unwrap();
    let record = spec_key(env, vm, "memory-snapshots").unwrap();
    assert_eq!(
        record["warm"]["quiesced"],
        serde_json::json!(true),
        "{record}"
    );
    assert_eq!(
        agent(r#"{"execute":"guest-fsfreeze-status"}"#),
        r#"{"return":"thawed"}"#
    );
    assert_eq!(freezes(env), before + 1);
    assert_eq!(sh(env, vm, "echo later > /root/warm && sync").code, 0);
    env.revert("warm", &[]).unwrap();
    assert_eq!(
        agent(r#"{"execute":"guest-fsfreeze-status"}"#),
        r#"{"return":"thawed"}"#
    );
    // writable at once, and the file written after the snapshot is gone
    assert_eq!(
        sh(
            env,
            vm,
            "test ! -e /root/warm && echo ok > /root/again && sync"
        )
        .code,
        0
    );

    // a reloaded env reads both from the spec
    let again = Env::load(&root.join(".lago"), "current", Config::new()).unwrap();
    assert_eq!(again.service_provider(vm).unwrap(), ServiceManager::Systemd);

    drop(again);
    let mut guard = guard;
    guard.0.take().unwrap().destroy().unwrap();
}
