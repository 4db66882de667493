//! Benchmark: `init` of a 10-VM, 2-network environment from a cached
//! template (no bootstrap), against the cost of the qemu-img calls it makes.
//!
//!     cargo bench -p lago-core --bench init
//!
//! Uses the tiny test template (tests/templates/build-tiny) through a
//! temporary store that the first, untimed init fills; leases and workdirs
//! are temporary too. Prints median/min/max of 5 rounds. Target (issue
//! "Core: from a LagoInitFile to an initialized environment"): under 1 s.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // a benchmark program

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use lago_core::Config;
use lago_core::Workdir;
use lago_core::ops::destroy::destroy;
use lago_core::ops::init::{InitOptions, init};

const ROUNDS: usize = 5;
const VMS: usize = 10;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let repo =
        PathBuf::from(std::env::var("LAGO_TEST_ROOT").unwrap_or("/var/lib/lago-tests".into()))
            .join("repo/repo.metadata");
    assert!(
        repo.is_file(),
        "{} missing: run tests/templates/build-tiny",
        repo.display()
    );
    let root = std::env::temp_dir().join(format!("lago-bench-init-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();

    let mut text = String::from("domains:\n");
    for i in 0..VMS {
        text += &format!(
            "  vm{i}:\n    memory: 256\n    nics:\n      - net: mgmt\n      - net: data\n    disks:\n      \
             - {{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}}\n"
        );
    }
    text += "nets:\n  mgmt: {type: nat, management: true, dhcp: {start: 100, end: 254}}\n  data: {type: nat}\n";
    let initfile = root.join("LagoInitFile");
    fs::write(&initfile, text).unwrap();

    let mut config = Config::new();
    config.set("lago", "lease_dir", root.join("leases").to_string_lossy());
    config.set(
        "init",
        "template_store",
        root.join("store").to_string_lossy(),
    );
    config.set("init", "template_repo_path", repo.to_string_lossy());

    let run = |n: usize| -> Duration {
        let wd = root.join(format!("w{n}"));
        let t0 = Instant::now();
        init(&InitOptions::new(&wd, &initfile), &config).unwrap();
        let took = t0.elapsed();
        destroy(&Workdir::load(&wd).unwrap(), "current", &config, None).unwrap();
        took
    };
    let first = run(0); // fills the store: not counted
    let inits: Vec<Duration> = (1..=ROUNDS).map(run).collect();

    // the qemu-img calls init makes: one overlay per VM, one after another
    let store_image = fs::read_dir(root.join("store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_none() && !p.to_string_lossy().ends_with(".lock"))
        .unwrap();
    let mut qemu = Vec::new();
    for r in 0..ROUNDS {
        let dir = root.join(format!("q{r}"));
        fs::create_dir_all(&dir).unwrap();
        let t0 = Instant::now();
        for i in 0..VMS {
            let ok = Command::new("qemu-img")
                .args([
                    "create",
                    "-q",
                    "-f",
                    "qcow2",
                    "-o",
                    "lazy_refcounts=on",
                    "-F",
                    "raw",
                    "-b",
                ])
                .arg(&store_image)
                .arg(dir.join(format!("vm{i}.qcow2")))
                .status()
                .unwrap();
            assert!(ok.success());
        }
        qemu.push(t0.elapsed());
    }
    let (mi, ma) = (*inits.iter().min().unwrap(), *inits.iter().max().unwrap());
    let m = median(inits);
    let q = median(qemu);
    println!(
        "init {VMS} VMs / 2 nets from a cached template ({ROUNDS} rounds; first init with store fill {first:.2?}):"
    );
    println!(
        "  init          median {m:.3?}  min {mi:.3?}  max {ma:.3?}   target < 1 s: {}",
        if m < Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "  qemu-img x{VMS}  median {q:.3?}  ({:.0}% of init)",
        100.0 * q.as_secs_f64() / m.as_secs_f64()
    );
    println!("  init without qemu-img  ~{:.3?}", m.saturating_sub(q));
    fs::remove_dir_all(&root).unwrap();
}
