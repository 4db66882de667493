//! Benchmark of an environment on a remote libvirt host (issue 19), as a
//! ratio to the raw floor taken on that same host in the same run
//! (tests/bench/remote_floor.py: plain libvirt boots the same template on
//! the host, the first SSH reaches each guest through the host), the rounds
//! interleaved. Target: start of 3 VMs until every VM answers SSH (through
//! the host) at most 1.3x that floor.
//!
//! In the remote lab's client namespace:
//!     tests/host/remote-up
//!     tests/host/remote-run cargo bench -p lago-core --bench remote

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // a benchmark program

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::{host_load, median, verdict};
use lago_core::Env;
use lago_core::ops::init::InitOptions;

const ROUNDS: usize = 3;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run this benchmark with tests/host/remote-run (after tests/host/remote-up)")
    })
}

/// One round of the remote floor for 3 guests on `uri`: seconds.
fn remote_floor(uri: &str) -> f64 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/bench/remote_floor.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["--uri", uri, "--guests", "3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "remote_floor.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["median_s"].as_f64().unwrap()
}

fn main() {
    let uri = var("LAGO_TEST_REMOTE_URIS")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (root, mut config) = common::scratch("remote");
    let leases = root.join("leases");
    fs::create_dir_all(&leases).unwrap();
    config.set("lago", "lease_dir", leases.to_string_lossy());
    config.set("lago", "libvirt_url", uri.as_str());
    config.set("lago", "libvirt_pool", var("LAGO_TEST_REMOTE_POOL"));
    config.set("lago", "host_ssh_key", var("LAGO_TEST_REMOTE_KEY"));
    config.set(
        "lago",
        "host_known_hosts",
        var("LAGO_TEST_REMOTE_KNOWN_HOSTS"),
    );
    // KVM does not run guests here; the floor runs domain type qemu too
    config.set("lago", "domain_type", "qemu");
    let initfile = common::tiny_initfile(&root, 3);

    let (mut floors, mut inits, mut starts) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..ROUNDS {
        eprintln!("round {r}: the floor on {uri} (3 guests), then lago there ...");
        floors.push(remote_floor(&uri));
        let t0 = Instant::now();
        let env = Env::init(
            &InitOptions::new(root.join(format!("w{r}")), &initfile),
            config.clone(),
        )
        .unwrap();
        inits.push(t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        env.start(&[]).unwrap();
        env.wait_for_ssh_all(&[], None).unwrap();
        starts.push(t0.elapsed().as_secs_f64());
        env.destroy().unwrap();
    }
    let load = host_load();
    fs::remove_dir_all(&root).unwrap();

    let floor3 = median(floors.clone());
    let start_m = median(starts.clone());
    let init_m = median(inits.clone());
    let each = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "remote benchmark: 3 tiny VMs on {uri}, domain type qemu, medians of {ROUNDS} rounds (floor and lago interleaved)"
    );
    println!(
        "  floor on that host (virsh create -> first SSH through the host, 3 guests)  {floor3:6.2} s   rounds: {}",
        each(&floors)
    );
    println!(
        "  lago start -> all 3 answer SSH through the host                          {start_m:6.2} s   ratio {:.2}x floor   target <= 1.3x: {}   rounds: {}",
        start_m / floor3,
        verdict(start_m / floor3 <= 1.3),
        each(&starts)
    );
    println!(
        "  init (images uploaded to the host's pool, the template there already)    {init_m:6.2} s   rounds: {}",
        each(&inits)
    );
    println!("      at the end the machine had: {load}");
}
