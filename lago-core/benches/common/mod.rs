//! What the real-guest benchmarks share: the raw floor measured in the same
//! run (tests/bench/floor.py), medians, a scratch config on the test
//! template and the 3-VM init file, and the verdict wording.

#![allow(dead_code)] // each benchmark uses part of it

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lago_core::ops::snapshot::SnapshotKind;
use lago_core::{Config, Env};

/// Rounds of every measurement.
pub const ROUNDS: usize = 3;

/// The median of `v` (not empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// One round of the floor for `guests` guests: seconds from `virsh create`
/// to the first SSH command in every guest. Benchmarks interleave it with
/// their own rounds, so that a change in the machine's load meets both
/// alike.
pub fn floor_once(guests: u32) -> f64 {
    floor_of("tiny", 256, guests)
}

/// [`floor_once`] for test template `template` booted as it is (no seed,
/// root's password), each guest with `memory_mib`.
pub fn floor_of(template: &str, memory_mib: u32, guests: u32) -> f64 {
    let out = Command::new("python3")
        .arg(repo_root().join("tests/bench/floor.py"))
        .args(["--json", "--guests", &guests.to_string(), "--rounds", "1"])
        .args(["--template", template, "--memory", &memory_mib.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "floor.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    v["median_s"].as_f64().unwrap()
}

/// Seconds this host takes for a fixed amount of CPU work (one thread, no
/// memory traffic). Printed next to timings of guest-bound work, so that a
/// slow phase of the host shows: these machines are virtual machines
/// themselves, and a Python loop has been seen to take from 0.53 s to
/// 0.95 s within minutes (this probe has stayed within ±4% so far, while
/// rounds of guest commands varied by ±15%).
pub fn host_probe() -> f64 {
    let t0 = std::time::Instant::now();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..50_000_000u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    std::hint::black_box(x);
    t0.elapsed().as_secs_f64()
}

/// A fresh scratch folder `lago-bench-<tag>-<pid>` and a config using the
/// test template repository and store, and the lease folder the real-guest
/// tests share (`$LAGO_TEST_LEASES`, default `$LAGO_TEST_ROOT/leases`).
pub fn scratch(tag: &str) -> (PathBuf, Config) {
    let root = std::env::temp_dir().join(format!("lago-bench-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    let test_root = std::env::var("LAGO_TEST_ROOT").unwrap_or("/var/lib/lago-tests".into());
    let mut config = Config::new();
    let leases = std::env::var("LAGO_TEST_LEASES").unwrap_or(format!("{test_root}/leases"));
    fs::create_dir_all(&leases).unwrap();
    config.set("lago", "lease_dir", leases);
    config.set("init", "template_store", format!("{test_root}/store"));
    config.set(
        "init",
        "template_repo_path",
        format!("{test_root}/repo/repo.metadata"),
    );
    (root, config)
}

/// An init file of `n` tiny VMs (256 MiB, 1 vcpu) on one management net,
/// written to `<root>/LagoInitFile`.
pub fn tiny_initfile(root: &Path, n: usize) -> PathBuf {
    initfile(root, "tiny", 256, n)
}

/// An init file of `n` VMs of test template `template` (`memory_mib`, 1
/// vcpu) on one management net, written to `<root>/LagoInitFile`.
pub fn initfile(root: &Path, template: &str, memory_mib: u32, n: usize) -> PathBuf {
    let mut text = String::from("domains:\n");
    for i in 0..n {
        text += &format!(
            "  vm{i}:\n    memory: {memory_mib}\n    vcpu: 1\n    nics: [{{net: mgmt}}]\n    disks: [{{template_name: {template}, type: template, name: root, dev: vda, format: qcow2}}]\n"
        );
    }
    text += "nets:\n  mgmt: {type: nat, management: true, dhcp: {start: 100, end: 254}}\n";
    let initfile = root.join("LagoInitFile");
    fs::write(&initfile, text).unwrap();
    initfile
}

/// What else is using this host's CPUs: the 1-minute load average and how
/// many QEMU processes run, for a line next to guest-bound timings.
pub fn host_load() -> String {
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?").to_owned();
    let qemus = Command::new("pgrep")
        .args(["-c", "-f", "qemu-system"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "?".into());
    format!("load average {load}, {qemus} QEMU processes")
}

/// `met` or `NOT met`.
pub fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

/// A memory snapshot `name` of the running env, a file written and the
/// process of the snapshot's time killed, and the revert; checks that the
/// guests came back as they were. Returns (snapshot, revert) seconds.
pub fn memory_round(env: &Env, name: &str) -> (f64, f64) {
    let sh = |vm: &str, cmd: &str| -> String {
        let r = env
            .ssh(
                vm,
                &["sh".into(), "-c".into(), cmd.into()],
                Duration::from_secs(60),
            )
            .unwrap();
        assert_eq!(r.code, 0, "{vm}: {cmd}: {}", r.stderr_lossy());
        r.stdout_lossy().trim().to_string()
    };
    let vms = env.vm_names();
    let pids: Vec<String> = vms
        .iter()
        .map(|vm| sh(vm, "sleep 100003 </dev/null >/dev/null 2>&1 & echo $!"))
        .collect();
    let t0 = Instant::now();
    env.snapshot_with(name, &[], SnapshotKind::Memory).unwrap();
    let snap = t0.elapsed().as_secs_f64();
    // how many were quiesced through their guest agent (the spec says)
    let quiesced = vms
        .iter()
        .filter(|vm| {
            let text = std::fs::read_to_string(env.paths().virt_vm(vm)).unwrap_or_default();
            let spec: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            spec["memory-snapshots"][name]["quiesced"] == serde_json::json!(true)
        })
        .count();
    for (vm, pid) in vms.iter().zip(&pids) {
        sh(
            vm,
            &format!("kill {pid}; echo x > /root/after-{name} && sync"),
        );
    }
    let t0 = Instant::now();
    env.revert(name, &[]).unwrap();
    let revert = t0.elapsed().as_secs_f64();
    for (vm, pid) in vms.iter().zip(&pids) {
        let back = sh(
            vm,
            &format!("ls /root/after-{name} 2>/dev/null; tr '\\0' ' ' < /proc/{pid}/cmdline"),
        );
        assert_eq!(back, "sleep 100003", "{vm}: not the guest of the snapshot");
    }
    eprintln!(
        "  memory snapshot {snap:.2} s ({quiesced} of {} VMs quiesced by their guest agent), memory revert {revert:.2} s",
        vms.len()
    );
    (snap, revert)
}
