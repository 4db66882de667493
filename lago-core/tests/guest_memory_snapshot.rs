//! Memory snapshots on real guests through [`Env`]: two tiny VMs, both
//! running. A process started before the snapshot, a file and a process made
//! after it; the revert resumes the guests from memory — the file is gone,
//! the first process runs again with its PID, the second does not, the boot
//! ID is the snapshot's and the uptime continues from its value (no boot),
//! the clock is the host's, SSH answers at once. Reverting twice works, and
//! so does reverting with the VMs (and their nets) down; a disk-only
//! snapshot of the same env still reverts by a boot; destroy removes the
//! memory images with the prefix.
//!
//!     tests/host/run cargo test -p lago-core --test guest_memory_snapshot -- --ignored

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // test code

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lago_core::Env;
use lago_core::ops::init::InitOptions;
use lago_core::ops::snapshot::SnapshotKind;
use lago_core::provider::VmState;
use support::env_sh::sh;

const TWO_VMS: &str = "\
domains:
  a:
    memory: 256
    vcpu: 1
    nics: [{net: mgmt}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
  b:
    memory: 256
    vcpu: 1
    nics: [{net: mgmt}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
nets:
  mgmt: {type: nat, management: true}
";

/// Starts `sleep SECONDS` detached in the guest; returns its PID.
fn spawn_sleep(env: &Env, vm: &str, seconds: u32) -> String {
    sh(
        env,
        vm,
        &format!("sleep {seconds} </dev/null >/dev/null 2>&1 & echo $!"),
    )
}

/// Whether process `pid` runs `sleep SECONDS`.
fn sleeping(env: &Env, vm: &str, pid: &str, seconds: u32) -> bool {
    sh(
        env,
        vm,
        &format!("tr '\\0' ' ' < /proc/{pid}/cmdline 2>/dev/null; true"),
    ) == format!("sleep {seconds}")
}

fn uptime(env: &Env, vm: &str) -> f64 {
    let line = sh(env, vm, "cat /proc/uptime");
    line.split_whitespace().next().unwrap().parse().unwrap()
}

fn boot_id(env: &Env, vm: &str) -> String {
    sh(env, vm, "cat /proc/sys/kernel/random/boot_id")
}

fn host_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn domains_of(uuid8: &str) -> String {
    let out = Command::new("virsh")
        .args(["-q", "-c", "qemu:///system", "list", "--all", "--name"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(uuid8))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What each VM looked like when the memory snapshot was taken.
struct AtSnapshot {
    pid: String,
    uptime: f64,
    boot_id: String,
}

/// Checks that `vm` is the guest of the snapshot again: same boot, its
/// process back, the later file and process gone, uptime from the
/// snapshot's value on, clock set.
fn assert_resumed(env: &Env, vm: &str, at: &AtSnapshot, later_pid: &str, before_revert: f64) {
    assert_eq!(boot_id(env, vm), at.boot_id, "{vm}: the guest booted");
    let up = uptime(env, vm);
    assert!(
        up >= at.uptime && up < before_revert,
        "{vm}: uptime {up} is not from the snapshot's {} on (it was {before_revert} before the revert)",
        at.uptime
    );
    assert!(
        sleeping(env, vm, &at.pid, 100_001),
        "{vm}: the process of the snapshot's time (pid {}) does not run",
        at.pid
    );
    assert!(
        !sleeping(env, vm, later_pid, 200_002),
        "{vm}: a process started after the snapshot survived the revert"
    );
    assert_eq!(sh(env, vm, "ls /root/dirty 2>/dev/null; true"), "");
    let guest: i64 = sh(env, vm, "date +%s").parse().unwrap();
    assert!(
        (guest - host_now()).abs() <= 3,
        "{vm}: the guest clock ({guest}) was not set to the host's ({})",
        host_now()
    );
}

#[test]
#[ignore = "real guests: tests/host/run cargo test -p lago-core --test guest_memory_snapshot -- --ignored"]
fn memory_snapshots_resume_the_guests_where_they_were() {
    let (root, config) = support::scratch::scratch("lago-guest-memsnap");
    let initfile = root.join("LagoInitFile");
    fs::write(&initfile, TWO_VMS).unwrap();
    let env = Env::init(
        &InitOptions::new(root.join(".lago"), &initfile),
        config.clone(),
    )
    .unwrap();
    let uuid8 = env.uuid()[..8].to_string();
    env.start(&[]).unwrap();
    env.wait_for_ssh_all(&[], None).unwrap();
    let vms = ["a", "b"];

    let mut at = Vec::new();
    for vm in vms {
        at.push(AtSnapshot {
            pid: spawn_sleep(&env, vm, 100_001),
            uptime: uptime(&env, vm),
            boot_id: boot_id(&env, vm),
        });
    }
    let t0 = Instant::now();
    env.snapshot_with("m1", &[], SnapshotKind::Memory).unwrap();
    println!("memory snapshot of 2 VMs: {:.2?}", t0.elapsed());
    let images = root.join(".lago/default/images");
    for vm in vms {
        assert!(
            images.join(format!("{vm}.m1.mem")).is_file(),
            "{vm}: no image"
        );
        assert_eq!(env.vm_state(vm).unwrap(), VmState::Running, "{vm} resumed");
    }
    let listed = env.snapshots();
    assert_eq!(listed["a"]["m1"][0]["snapshot-kind"], "memory", "{listed}");
    // the persisted spec names the image in the prefix
    let spec: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(root.join(".lago/default/virt/vm-a")).unwrap())
            .unwrap();
    assert_eq!(
        spec["memory-snapshots"]["m1"]["path"],
        "$LAGO_PREFIX_PATH/images/a.m1.mem"
    );

    // twice: each time the guests come back as they were
    for round in 0..2 {
        let mut later = Vec::new();
        for vm in vms {
            sh(&env, vm, "echo x > /root/dirty && sync");
            later.push(spawn_sleep(&env, vm, 200_002));
        }
        sh(&env, "a", &format!("kill {}", at[0].pid));
        // time enough for an uptime that continued to differ from one that
        // went back to the snapshot's (the revert itself takes ~1 s)
        std::thread::sleep(Duration::from_secs(3));
        let before: Vec<f64> = vms.iter().map(|vm| uptime(&env, vm)).collect();
        let t0 = Instant::now();
        env.revert("m1", &[]).unwrap();
        println!(
            "revert {round} to the memory snapshot (2 VMs answer SSH): {:.2?}",
            t0.elapsed()
        );
        for (i, vm) in vms.iter().enumerate() {
            assert_resumed(&env, vm, &at[i], &later[i], before[i]);
        }
    }

    // with the VMs and their net down, a revert resumes them too
    env.stop(&[]).unwrap();
    env.revert("m1", &[]).unwrap();
    for (i, vm) in vms.iter().enumerate() {
        assert_eq!(env.vm_state(vm).unwrap(), VmState::Running);
        assert_eq!(boot_id(&env, vm), at[i].boot_id, "{vm} booted");
        assert!(sleeping(&env, vm, &at[i].pid, 100_001));
    }

    // a disk-only snapshot of the same env still reverts by a boot
    env.snapshot("d1", &["a".into()]).unwrap();
    assert!(!images.join("a.d1.mem").exists());
    assert!(env.snapshots()["a"]["d1"][0].get("snapshot-kind").is_none());
    sh(&env, "a", "echo x > /root/after-d1 && sync");
    env.revert("d1", &["a".into()]).unwrap();
    assert_eq!(sh(&env, "a", "ls /root/after-d1 2>/dev/null; true"), "");
    assert_ne!(boot_id(&env, "a"), at[0].boot_id, "a disk revert boots");

    // a name taken by a memory image that lago did not make is refused
    fs::write(images.join("b.m2.mem"), b"not lago's").unwrap();
    let e = env
        .snapshot_with("m2", &[], SnapshotKind::Memory)
        .unwrap_err();
    assert!(e.message().contains("b.m2.mem"), "{}", e.message());
    assert!(
        env.snapshots()["a"].get("m2").is_none(),
        "nothing was taken"
    );
    fs::remove_file(images.join("b.m2.mem")).unwrap();

    env.destroy().unwrap();
    assert!(
        !Path::new(&images).exists(),
        "the memory images went with the prefix"
    );
    assert_eq!(domains_of(&uuid8), "", "domains left");
    fs::remove_dir_all(&root).unwrap();
}
