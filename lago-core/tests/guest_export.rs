//! Export on real guests through [`Env`]: a 2-VM environment is started, a
//! marker file written in each VM, and the VMs stopped; export refuses while
//! they run; a standalone and a layered export (and one xz-compressed VM)
//! are made and checked (`.hash`, `.metadata`); the original is destroyed,
//! and a new prefix is initialized from each exported init file, started,
//! and every VM answers SSH with its marker still there.
//!
//!     tests/host/run cargo test -p lago-core --test guest_export -- --ignored --test-threads=1

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // test code

mod support;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lago_core::BootstrapChoice as Choice;
use lago_core::Config;
use lago_core::Env;
use lago_core::ErrorKind;
use lago_core::ops::export::{self, ExportOptions, MUST_BE_OFF};
use lago_core::ops::init::InitOptions;
use serde_json::Value;

const T: Duration = Duration::from_secs(60);

fn scratch(tag: &str) -> (PathBuf, Config) {
    let (root, config) = support::scratch::scratch(&format!("lago-guest-export-{tag}"));
    (root, config)
}

const TWO_VMS: &str = "\
domains:
  vm0:
    memory: 256
    vcpu: 1
    nics: [{net: mgmt}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
  vm1:
    memory: 256
    vcpu: 1
    nics: [{net: mgmt}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
nets:
  mgmt: {type: nat, management: true, gw: 192.168.OCTET.1, dhcp: {start: 100, end: 254}}
";

/// A third octet for the management subnet that no bridge in the namespace
/// uses yet, from the top of the lease range (other tests take the lowest
/// free subnets of the shared lease folder, so this keeps clear of them).
fn free_octet() -> u8 {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr"])
        .output()
        .unwrap();
    let used = String::from_utf8_lossy(&out.stdout).into_owned();
    let start = 240 + (std::process::id() % 16) as u8;
    (0..16u8)
        .map(|i| 240 + (start - 240 + i) % 16)
        .find(|o| !used.contains(&format!("192.168.{o}.")))
        .expect("a free subnet in 192.168.240-255")
}

fn sh(env: &Env, vm: &str, cmd: &str) -> (i32, String) {
    let r = env
        .ssh(vm, &["sh".into(), "-c".into(), cmd.into()], T)
        .unwrap();
    (r.code, r.stdout_lossy().trim().to_string())
}

fn check_files(dir: &std::path::Path, standalone: bool) {
    for vm in ["vm0", "vm1"] {
        let img = dir.join(format!("{vm}_root.qcow2"));
        let hash = fs::read_to_string(dir.join(format!("{vm}_root.qcow2.hash"))).unwrap();
        assert_eq!(hash, export::sha1_file(&img).unwrap(), "{}", img.display());
        let meta: Value = serde_json::from_str(
            &fs::read_to_string(dir.join(format!("{vm}_root.qcow2.metadata"))).unwrap(),
        )
        .unwrap();
        assert_eq!(meta["sha1"], Value::from(hash.as_str()));
        assert_eq!(meta["size"], fs::metadata(&img).unwrap().len());
        assert_eq!(meta["name"], format!("{vm}_root.qcow2"));
        assert!(meta["version"].as_str().unwrap().ends_with(".0"));
        let base = if standalone {
            "None".to_string()
        } else {
            format!("{vm}_root.qcow2")
        };
        assert_eq!(meta["base"], Value::from(base));
        assert_eq!(meta["nocloud"], true, "the template's metadata is kept");
    }
}

/// Destroys the env when dropped, also when the test panics.
struct Guard(Option<Env>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(env) = self.0.take()
            && let Err(e) = env.destroy()
        {
            eprintln!("cleanup: {e}");
        }
    }
}

impl Guard {
    fn env(&self) -> &Env {
        self.0.as_ref().unwrap()
    }

    fn destroy(mut self) {
        self.0.take().unwrap().destroy().unwrap();
    }
}

/// Inits a prefix and starts it; if its subnet is taken by another test's
/// network on the same daemon, destroys it and tries again (at most 3 times).
fn boot(opts: &InitOptions, config: &Config) -> Guard {
    for attempt in 1.. {
        let t0 = Instant::now();
        let env = Env::init(opts, config.clone()).unwrap();
        println!("init {}: {:.2?}", opts.initfile.display(), t0.elapsed());
        let t0 = Instant::now();
        match env.start(&[]) {
            Ok(_) => {
                env.wait_for_ssh_all(&[], None).unwrap();
                println!("start -> SSH: {:.2?}", t0.elapsed());
                return Guard(Some(env));
            }
            Err(e) if attempt < 3 && e.message().contains("in use") => {
                println!("attempt {attempt}: {e}; again in 10 s");
                env.destroy().unwrap();
                std::thread::sleep(Duration::from_secs(10));
            }
            Err(e) => {
                env.destroy().ok();
                panic!("{e}");
            }
        }
    }
    unreachable!()
}

#[test]
#[ignore = "real guests: tests/host/run cargo test -p lago-core --test guest_export -- --ignored"]
fn export_and_init_again() {
    support::guest::require_namespace();
    let (root, config) = scratch("two");
    let initfile = root.join("LagoInitFile");
    fs::write(
        &initfile,
        TWO_VMS.replace("OCTET", &free_octet().to_string()),
    )
    .unwrap();
    let guard = boot(&InitOptions::new(root.join(".lago"), &initfile), &config);
    let env = guard.env();
    for vm in env.vm_names() {
        let (code, _) = sh(
            env,
            &vm,
            &format!("echo {vm}-marker > /root/marker && sync"),
        );
        assert_eq!(code, 0);
    }

    // running VMs cannot be exported, and nothing is written
    let standalone = root.join("standalone");
    let mut opts = ExportOptions::new(&standalone);
    opts.standalone = true;
    let err = env.export(&opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.message(), format!("{MUST_BE_OFF}\nvm0\nvm1"));
    assert!(!standalone.exists());
    env.stop(&[]).unwrap();

    let t0 = Instant::now();
    let got = env.export(&opts).unwrap();
    println!("standalone export of 2 VMs: {:.2?}", t0.elapsed());
    assert_eq!(
        got["vm0"],
        serde_json::json!([standalone.join("vm0_root.qcow2")])
    );
    check_files(&standalone, true);

    let layered = root.join("layered");
    let t0 = Instant::now();
    env.export(&ExportOptions::new(&layered)).unwrap();
    println!("layered export of 2 VMs: {:.2?}", t0.elapsed());
    check_files(&layered, false);

    let packed = root.join("xz");
    let mut xz = ExportOptions::new(&packed);
    xz.vms = vec!["vm1".into()];
    xz.compress = true;
    let t0 = Instant::now();
    let got = env.export(&xz).unwrap();
    println!("xz export of 1 VM (layered): {:.2?}", t0.elapsed());
    assert_eq!(
        got["vm1"],
        serde_json::json!([packed.join("vm1_root.qcow2.xz")])
    );
    assert!(packed.join("vm1_root.qcow2.xz").is_file());
    assert!(!packed.join("vm1_root.qcow2").exists());
    assert!(packed.join("vm1_root.qcow2.hash").is_file());
    assert!(got.get("vm0").is_none());
    guard.destroy();

    // a new prefix from each export boots, with the markers in place
    for dir in [&standalone, &layered] {
        let mut opts = InitOptions::new(dir.with_extension("workdir"), dir.join("LagoInitFile"));
        opts.bootstrap = Choice::NoCloud;
        let guard = boot(&opts, &config);
        let again = guard.env();
        for vm in ["vm0", "vm1"] {
            assert_eq!(
                sh(again, vm, "cat /root/marker"),
                (0, format!("{vm}-marker")),
                "{}",
                dir.display()
            );
        }
        guard.destroy();
        assert!(!opts.workdir.exists());
    }
    // the link is named `<template>:<version>` (the version names the
    // tiny template's build inputs)
    let linked = fs::read_dir(&layered)
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name().to_string_lossy().starts_with("tiny:") && fs::read_link(e.path()).is_ok()
        });
    assert!(linked, "the layered re-init linked its template");
    fs::remove_dir_all(&root).unwrap();
}
