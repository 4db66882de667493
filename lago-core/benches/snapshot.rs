//! Benchmark of env-wide snapshots and reverts on a running 3-VM tiny
//! environment, with the raw floor (tests/bench/floor.py) measured in the
//! same run, its rounds interleaved with the revert rounds. Targets (issue 7):
//! - `Env::snapshot` of all 3 running VMs: under 3 s;
//! - `Env::revert` until every VM answers SSH again, as a ratio to the floor
//!   for 3 guests (a revert is a power cut, new overlays and a boot);
//! - `Env::collect_paths` of `/var/log` from the 3 running VMs (reported);
//! - memory snapshots (issue 18): `Env::snapshot_with(.., Memory)` of the 3
//!   running VMs under 2 s, and its revert until all 3 answer SSH again
//!   (resumed from memory, clocks set) at most 0.2x the floor.
//!
//! Inside the test namespace:
//!     tests/host/run cargo bench -p lago-core --bench snapshot

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // a benchmark program

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{ROUNDS, floor_once, median, memory_round, verdict};
use lago_core::Env;
use lago_core::ops::init::InitOptions;

fn main() {
    let (root, config) = common::scratch("snapshot");
    let initfile = common::tiny_initfile(&root, 3);

    // Each round: one round of the floor, then a fresh env started, a
    // snapshot, a write, and the revert. Interleaved, so that a change in
    // the machine's load meets both alike, and with no other guest running
    // during either. The last round's env stays for the collect rounds.
    let (mut floors, mut snaps, mut reverts) = (Vec::new(), Vec::new(), Vec::new());
    let (mut mem_snaps, mut mem_reverts) = (Vec::new(), Vec::new());
    let mut kept = None;
    let mut dtype = "";
    for r in 0..ROUNDS {
        eprintln!("round {r}: the floor (3 guests), then lago ...");
        floors.push(floor_once(3));
        let env = Env::init(
            &InitOptions::new(root.join(format!("w{r}")), &initfile),
            config.clone(),
        )
        .unwrap();
        dtype = env.domain_type().unwrap().as_str();
        env.start(&[]).unwrap();
        env.wait_for_ssh_all(&[], None).unwrap();
        let name = format!("s{r}");
        let t0 = Instant::now();
        env.snapshot(&name, &[]).unwrap();
        snaps.push(t0.elapsed().as_secs_f64());
        for vm in env.vm_names() {
            let w = env
                .ssh(
                    &vm,
                    &[
                        "sh".into(),
                        "-c".into(),
                        "echo x > /root/after && sync".into(),
                    ],
                    Duration::from_secs(30),
                )
                .unwrap();
            assert_eq!(w.code, 0);
        }
        let t0 = Instant::now();
        env.revert(&name, &[]).unwrap();
        reverts.push(t0.elapsed().as_secs_f64());
        for vm in env.vm_names() {
            let c = env
                .ssh(
                    &vm,
                    &["test".into(), "-e".into(), "/root/after".into()],
                    Duration::from_secs(30),
                )
                .unwrap();
            assert_eq!(
                c.code, 1,
                "{vm}: a file written after the snapshot survived the revert"
            );
        }
        let (snap, revert) = memory_round(&env, &format!("m{r}"));
        mem_snaps.push(snap);
        mem_reverts.push(revert);
        if r + 1 < ROUNDS {
            env.destroy().unwrap();
        } else {
            kept = Some(env);
        }
    }
    let env = kept.unwrap();
    // collect /var/log of the 3 VMs (the guest's kernel log and 1 MiB of
    // text in each, so there is something to carry)
    for vm in env.vm_names() {
        let w = env
            .ssh(
                &vm,
                &[
                    "sh".into(),
                    "-c".into(),
                    "dmesg > /var/log/dmesg; i=0; while [ $i -lt 16384 ]; do \
                     echo \"line $i of a log file that needs collecting....\"; \
                     i=$((i+1)); done > /var/log/app.log"
                        .into(),
                ],
                Duration::from_secs(120),
            )
            .unwrap();
        assert_eq!(w.code, 0, "{}", w.stderr_lossy());
    }
    let per_vm: Vec<(String, Vec<String>)> = env
        .vm_names()
        .into_iter()
        .map(|vm| (vm, vec!["/var/log".to_string()]))
        .collect();
    let mut collects = Vec::new();
    for r in 0..ROUNDS {
        let out = root.join(format!("collected-{r}"));
        let t0 = Instant::now();
        env.collect_paths(&out, false, &per_vm).unwrap();
        collects.push(t0.elapsed().as_secs_f64());
        for (vm, _) in &per_vm {
            let got = fs::metadata(out.join(vm).join("_var_log").join("app.log")).unwrap();
            assert!(got.len() > 500_000, "{vm}: app.log is {} bytes", got.len());
        }
    }
    env.destroy().unwrap();
    fs::remove_dir_all(&root).unwrap();

    let floor3 = median(floors);
    let (snap_m, revert_m, collect_m) = (median(snaps), median(reverts), median(collects));
    let (mem_snap_m, mem_revert_m) = (median(mem_snaps), median(mem_reverts));
    println!(
        "snapshot benchmark: 3 running tiny VMs, domain type {dtype}, medians of {ROUNDS} rounds (floor interleaved)"
    );
    println!("  floor (virsh create -> first SSH, 3 guests)  {floor3:6.2} s");
    println!(
        "  env-wide snapshot of 3 running VMs          {snap_m:6.2} s   target < 3 s: {}",
        verdict(snap_m < 3.0)
    );
    println!(
        "  revert -> all 3 answer SSH again            {revert_m:6.2} s   ratio {:.2}x floor",
        revert_m / floor3
    );
    println!(
        "  revert target <= 1.3x floor: {}",
        verdict(revert_m <= 1.3 * floor3)
    );
    println!("  collect /var/log of 3 running VMs (~1 MiB each)  {collect_m:6.2} s");
    println!(
        "  memory snapshot of 3 running VMs            {mem_snap_m:6.2} s   target <= 2 s: {}",
        verdict(mem_snap_m <= 2.0)
    );
    println!(
        "  memory revert -> all 3 answer SSH again     {mem_revert_m:6.2} s   ratio {:.2}x floor   target <= 0.2x: {}",
        mem_revert_m / floor3,
        verdict(mem_revert_m <= 0.2 * floor3)
    );
}
