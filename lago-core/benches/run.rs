//! Benchmark of running an environment, as ratios to the raw floor
//! (tests/bench/floor.py: plain `virsh create` + first SSH of the same
//! template) measured in the same run, its rounds interleaved with those of
//! the start comparison. Targets (issue "Core: run the environment"):
//! - start of 3 VMs until every VM answers SSH: at most 1.2x the floor for 3
//!   (the first start after init, so that both boot guests that never ran;
//!   restarts of a stopped env are printed too);
//! - init of that environment with NoCloud bootstrap: under 2 s;
//! - 100 sequential `ssh(['true'])` on one VM: under 2 s (the median of
//!   rounds of 100 after 20 warm-up commands; OpenSSH multiplexed over one
//!   connection, in rounds alternated with ours, is printed as a reference);
//! - copy_to / copy_from of 100 MiB: at least half of plain `scp`.
//!
//! Inside the test namespace:
//!     tests/host/run cargo bench -p lago-core --bench run

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // a benchmark program

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{ROUNDS, floor_once, host_load, host_probe, median, verdict};
use lago_core::Env;
use lago_core::ops::init::InitOptions;

/// Rounds of the start comparison: more than [`ROUNDS`], as its target is
/// a ratio of two noisy boot times.
const START_ROUNDS: usize = 5;

/// Rounds of 100 x ssh: more than [`ROUNDS`], as the guest's speed under
/// software emulation drifts by ±15% within minutes here.
const SSH_ROUNDS: usize = 5;

/// Untimed commands before the 100 x ssh rounds.
const WARM_UP: usize = 20;

/// OpenSSH's options for the guests: no host key checks, key only.
const OPENSSH_OPTS: &[&str] = &[
    "-q",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
];

/// Seconds for `n` runs of `f`.
fn times(n: usize, f: &dyn Fn()) -> f64 {
    let t0 = Instant::now();
    for _ in 0..n {
        f();
    }
    t0.elapsed().as_secs_f64()
}

/// `min / median / max` of `v`, for the spread of a timing.
fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::MAX, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    format!("{lo:.2} / {:.2} / {hi:.2} s", median(v.to_vec()))
}

fn scp(args: &[&str], key: &Path) -> f64 {
    let t0 = Instant::now();
    let ok = Command::new("scp")
        .args([
            "-q",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-i",
        ])
        .arg(key)
        .args(args)
        .status()
        .unwrap();
    assert!(ok.success());
    t0.elapsed().as_secs_f64()
}

fn main() {
    let (root, config) = common::scratch("run");
    let initfile = common::tiny_initfile(&root, 3);

    // Each round: one round of the floor, then a fresh init (NoCloud
    // bootstrap) and its first start, which like the floor's boots guests
    // that never ran (they make their host keys). Interleaved, so that the
    // machine's load changing meets both alike. The last round's env stays
    // for the rest.
    let (mut floors, mut inits, mut starts) = (Vec::new(), Vec::new(), Vec::new());
    let mut kept = None;
    let mut dtype = "";
    for r in 0..START_ROUNDS {
        eprintln!("round {r}: the floor (3 guests), then lago ...");
        floors.push(floor_once(3));
        let t0 = Instant::now();
        let env = Env::init(
            &InitOptions::new(root.join(format!("w{r}")), &initfile),
            config.clone(),
        )
        .unwrap();
        inits.push(t0.elapsed().as_secs_f64());
        // the one-time KVM probe (cached per host) is not part of start
        dtype = env.domain_type().unwrap().as_str();
        let t0 = Instant::now();
        env.start(&[]).unwrap();
        env.wait_for_ssh_all(&[], None).unwrap();
        starts.push(t0.elapsed().as_secs_f64());
        if r + 1 < START_ROUNDS {
            env.destroy().unwrap();
        } else {
            kept = Some(env);
        }
    }
    let env = kept.unwrap();

    // Restarts of that env: stop, then start until all answer again.
    let mut restarts = Vec::new();
    for _ in 0..ROUNDS {
        env.stop(&[]).unwrap();
        let t0 = Instant::now();
        env.start(&[]).unwrap();
        env.wait_for_ssh_all(&[], None).unwrap();
        restarts.push(t0.elapsed().as_secs_f64());
    }

    // 100 sequential ssh(['true']) on one VM, and the same over one
    // multiplexed OpenSSH connection (ControlMaster) for reference.
    let ip = env.state().vm("vm0").unwrap().ip().unwrap().to_string();
    let key = env.paths().ssh_id_rsa();
    let ours = || {
        let r = env
            .ssh("vm0", &["true".into()], Duration::from_secs(30))
            .unwrap();
        assert_eq!(r.code, 0);
    };
    let sock = root.join("cm.sock");
    // options, then the guest, then the command
    let openssh = |opts: &[&str], command: &[&str]| {
        let out = Command::new("ssh")
            .args(OPENSSH_OPTS)
            .arg("-i")
            .arg(&key)
            .arg("-S")
            .arg(&sock)
            .args(opts)
            .arg(format!("root@{ip}"))
            .args(command)
            .output()
            .unwrap();
        assert!(out.status.success(), "ssh {opts:?} {command:?}: {out:?}");
    };
    let load = host_load();
    openssh(&["-M", "-N", "-f"], &[]);
    let theirs = || openssh(&[], &["true"]);
    // The guest has only just booted: under software emulation its first
    // commands are slower (their code is translated on first use). Then
    // rounds of 100, ours and OpenSSH's alternated, so that a change in the
    // machine's load meets both alike.
    times(WARM_UP, &ours);
    times(WARM_UP, &theirs);
    let (mut ssh100s, mut cm100s, mut probes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..SSH_ROUNDS {
        probes.push(host_probe());
        ssh100s.push(times(100, &ours));
        cm100s.push(times(100, &theirs));
    }
    openssh(&["-O", "exit"], &[]);
    // What the guest alone spends on the same work: its shell starting
    // `/bin/sh -c true` 100 times (dropbear does that for each command,
    // after its own fork). The rest of a command is the guest's SSH server and
    // the network round trips.
    let guest_alone = {
        // busybox's date has no %N: the uptime's hundredths, read without a fork
        let script = "read a b < /proc/uptime; echo $a; i=0; while [ $i -lt 100 ]; do /bin/sh -c true; i=$((i+1)); done; read a b < /proc/uptime; echo $a";
        let mut v = Vec::new();
        for _ in 0..ROUNDS {
            let r = env
                .ssh(
                    "vm0",
                    &["sh".into(), "-c".into(), script.into()],
                    Duration::from_secs(60),
                )
                .unwrap();
            assert_eq!(r.code, 0, "{}", r.stderr_lossy());
            let up: Vec<f64> = r
                .stdout_lossy()
                .split_whitespace()
                .map(|t| t.parse().unwrap())
                .collect();
            v.push(up[1] - up[0]);
        }
        median(v)
    };

    // 100 MiB each way, ours and scp, best of two
    let blob = root.join("blob");
    let data: Vec<u8> = (0..100u32 * 1024 * 1024 / 4)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect();
    fs::write(&blob, &data).unwrap();
    let (mut ours_to, mut ours_from, mut scp_to, mut scp_from) =
        (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..2 {
        let t0 = Instant::now();
        env.copy_to("vm0", &blob, Path::new("/root/blob")).unwrap();
        ours_to = ours_to.min(t0.elapsed().as_secs_f64());
        let back = root.join("back");
        let t0 = Instant::now();
        env.copy_from("vm0", Path::new("/root/blob"), &back)
            .unwrap();
        ours_from = ours_from.min(t0.elapsed().as_secs_f64());
        assert_eq!(fs::read(&back).unwrap(), data);
        fs::remove_file(&back).unwrap();
        scp_to = scp_to.min(scp(
            &[&blob.to_string_lossy(), &format!("root@{ip}:/root/blob")],
            &key,
        ));
        scp_from = scp_from.min(scp(
            &[&format!("root@{ip}:/root/blob"), &back.to_string_lossy()],
            &key,
        ));
        fs::remove_file(&back).unwrap();
    }
    env.destroy().unwrap();
    fs::remove_dir_all(&root).unwrap();

    let mib = 100.0;
    let floor3 = median(floors);
    let start_m = median(starts);
    let restart_m = median(restarts);
    let init_m = median(inits);
    println!(
        "run benchmark: 3 tiny VMs, domain type {dtype}, medians of {START_ROUNDS} rounds (start, floor interleaved), {SSH_ROUNDS} (100 x ssh) and {ROUNDS} (the rest)"
    );
    println!("  floor (virsh create -> first SSH, 3 guests)  {floor3:6.2} s");
    println!(
        "  lago start -> all 3 answer SSH              {start_m:6.2} s   ratio {:.2}x floor   target <= 1.2x: {}",
        start_m / floor3,
        verdict(start_m / floor3 <= 1.2)
    );
    println!(
        "  restart (stop, start -> all answer SSH)     {restart_m:6.2} s   ratio {:.2}x floor",
        restart_m / floor3
    );
    println!(
        "  init with NoCloud bootstrap                 {init_m:6.2} s   target < 2 s: {}",
        verdict(init_m < 2.0)
    );
    let (ssh100, cm100) = (median(ssh100s.clone()), median(cm100s.clone()));
    println!(
        "  100 x ssh(['true']) on one VM               {ssh100:6.2} s   target < 2 s: {}   (OpenSSH over one ControlMaster connection: {cm100:.2} s)",
        verdict(ssh100 < 2.0)
    );
    println!(
        "      min / median / max of {SSH_ROUNDS} rounds: ours {}, OpenSSH {}",
        spread(&ssh100s),
        spread(&cm100s)
    );
    println!(
        "      each of our rounds (host probe just before it: a fixed CPU loop, less is a faster host): {}",
        ssh100s
            .iter()
            .zip(&probes)
            .map(|(s, p)| format!("{s:.2} s ({:.0} ms)", p * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("      while the host had: {load} (this env's 3 among them)");
    println!(
        "      the guest alone starting `/bin/sh -c true` 100 times: {guest_alone:.2} s ({:.0}% of ours)",
        100.0 * guest_alone / ssh100
    );
    let (rt, rf) = (scp_to / ours_to, scp_from / ours_from);
    println!(
        "  copy_to 100 MiB   {:6.1} MiB/s vs scp {:6.1} MiB/s   ratio {rt:.2}   target >= 0.5: {}",
        mib / ours_to,
        mib / scp_to,
        verdict(rt >= 0.5)
    );
    println!(
        "  copy_from 100 MiB {:6.1} MiB/s vs scp {:6.1} MiB/s   ratio {rf:.2}   target >= 0.5: {}",
        mib / ours_from,
        mib / scp_from,
        verdict(rf >= 0.5)
    );
}
