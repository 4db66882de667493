//! Snapshots and reverts on real guests through [`Env`]: two tiny VMs, one
//! running and one stopped when the snapshots are taken; files written
//! before and after each snapshot; revert to the older of two snapshots and
//! back to the newer; the persisted format, `snapshots()` and status; the
//! errors (a name used twice, an unknown name); destroy leaves nothing.
//!
//!     tests/host/run cargo test -p lago-core --test guest_snapshot -- --ignored --test-threads=1

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // test code

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use lago_core::Config;
use lago_core::Env;
use lago_core::ErrorKind;
use lago_core::ops::init::InitOptions;
use lago_core::provider::VmState;
use serde_json::Value;
use support::env_sh::sh;

fn scratch(tag: &str) -> (PathBuf, Config) {
    support::scratch::scratch(&format!("lago-guest-snap-{tag}"))
}

/// The files of /root named f-*, sorted, as one line.
fn files(env: &Env, vm: &str) -> String {
    sh(
        env,
        vm,
        "cd /root && ls f-* 2>/dev/null | sort | tr '\\n' ' '; true",
    )
    .trim()
    .to_string()
}

fn write(env: &Env, vm: &str, file: &str) {
    sh(env, vm, &format!("echo {file} > /root/{file} && sync"));
}

const TWO_VMS: &str = "\
domains:
  live:
    memory: 256
    vcpu: 1
    nics: [{net: mgmt}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
  idle:
    memory: 256
    vcpu: 1
    nics: [{net: mgmt}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
nets:
  mgmt: {type: nat, management: true, dhcp: {start: 100, end: 254}}
";

fn backing_of(path: &std::path::Path) -> String {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["backing-filename"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Init and start, both VMs answering SSH.
fn up(root: &std::path::Path, initfile: &std::path::Path, config: &Config) -> Env {
    let t0 = Instant::now();
    let env = Env::init(
        &InitOptions::new(root.join(".lago"), initfile),
        config.clone(),
    )
    .unwrap();
    println!("init: {:.2?}", t0.elapsed());
    let t0 = Instant::now();
    env.start(&[]).unwrap();
    env.wait_for_ssh_all(&[], None).unwrap();
    println!("start -> both answer SSH: {:.2?}", t0.elapsed());
    env
}

#[test]
#[ignore = "real guests: tests/host/run cargo test -p lago-core --test guest_snapshot -- --ignored"]
fn snapshot_and_revert_running_and_stopped_vms() {
    support::guest::require_namespace();
    let (root, config) = scratch("two");
    let initfile = root.join("LagoInitFile");
    fs::write(&initfile, TWO_VMS).unwrap();
    let env = up(&root, &initfile, &config);
    let prefix = env.paths().prefix_path().to_path_buf();
    let uuid8 = env.uuid()[..8].to_string();

    // idle: a file written, then the VM stopped: it is snapshotted stopped
    write(&env, "idle", "f-idle-pre");
    env.stop(&["idle".into()]).unwrap();
    assert_eq!(env.vm_state("idle").unwrap(), VmState::Down);
    write(&env, "live", "f-a");

    // s1: live running, idle stopped
    let t0 = Instant::now();
    env.snapshot("s1", &[]).unwrap();
    println!("snapshot s1 (1 running, 1 stopped): {:.2?}", t0.elapsed());
    assert_eq!(env.vm_state("live").unwrap(), VmState::Running);
    assert_eq!(env.vm_state("idle").unwrap(), VmState::Down);

    // persisted in Lago's format
    let spec: Value =
        serde_json::from_str(&fs::read_to_string(prefix.join("virt/vm-live")).unwrap()).unwrap();
    assert_eq!(
        spec["disks"][0]["path"],
        "$LAGO_PREFIX_PATH/images/live_root.s1.qcow2"
    );
    assert_eq!(spec["disks"][0]["format"], "qcow2");
    assert_eq!(
        spec["snapshots"]["s1"][0]["path"],
        "$LAGO_PREFIX_PATH/images/live_root.qcow2"
    );
    for vm in ["live", "idle"] {
        let overlay = prefix.join(format!("images/{vm}_root.s1.qcow2"));
        assert_eq!(
            fs::metadata(&overlay).unwrap().permissions().mode() & 0o777,
            0o666,
            "{vm}"
        );
        assert_eq!(
            PathBuf::from(backing_of(&overlay)),
            prefix.join(format!("images/{vm}_root.qcow2"))
        );
    }
    // snapshots(): {vm: {snap: [disk dicts]}}
    let snaps = env.snapshots();
    let obj = snaps.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["live", "idle"]);
    for vm in ["live", "idle"] {
        let disks = snaps[vm]["s1"].as_array().unwrap();
        assert_eq!(disks.len(), 1);
        assert_eq!(disks[0]["dev"], "vda");
        assert_eq!(disks[0]["name"], "root");
        assert_eq!(disks[0]["format"], "qcow2");
        assert_eq!(disks[0]["type"], "template");
        assert_eq!(
            disks[0]["path"],
            format!("$LAGO_PREFIX_PATH/images/{vm}_root.qcow2")
        );
    }
    let status = env.status().unwrap();
    assert_eq!(status["Prefix"]["VMs"]["live"]["snapshots"], "s1");

    // the same name again: a clear error, nothing changed
    let before = fs::read(prefix.join("virt/vm-live")).unwrap();
    let err = env.snapshot("s1", &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(
        err.message().contains("has a snapshot 's1' already"),
        "{}",
        err.message()
    );
    assert_eq!(fs::read(prefix.join("virt/vm-live")).unwrap(), before);

    // s2 after file b; then c
    write(&env, "live", "f-b");
    let t0 = Instant::now();
    env.snapshot("s2", &[]).unwrap();
    println!("snapshot s2: {:.2?}", t0.elapsed());
    write(&env, "live", "f-c");
    assert_eq!(files(&env, "live"), "f-a f-b f-c");
    assert_eq!(
        env.status().unwrap()["Prefix"]["VMs"]["idle"]["snapshots"],
        "s1, s2"
    );

    // unknown snapshot: names the VM and what it has
    let err = env.revert("nope", &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.message(),
        "no snapshot 'nope' for VM 'live' (its snapshots: s1, s2)"
    );

    // back to the older one
    let t0 = Instant::now();
    env.revert("s1", &[]).unwrap();
    println!(
        "revert s1 (1 running -> answers SSH again): {:.2?}",
        t0.elapsed()
    );
    assert_eq!(env.vm_state("live").unwrap(), VmState::Running);
    assert_eq!(env.vm_state("idle").unwrap(), VmState::Down);
    assert_eq!(files(&env, "live"), "f-a");

    // the stopped VM's disk as it was: started, its file is there
    env.start(&["idle".into()]).unwrap();
    env.wait_for_ssh("idle", None).unwrap();
    assert_eq!(files(&env, "idle"), "f-idle-pre");
    write(&env, "idle", "f-idle-post");

    // forward to the newer one, for both (idle runs now)
    env.revert("s2", &[]).unwrap();
    assert_eq!(files(&env, "live"), "f-a f-b");
    assert_eq!(files(&env, "idle"), "f-idle-pre");
    // a snapshot after reverts still works
    env.snapshot("s3", &["live".into()]).unwrap();
    assert_eq!(
        env.status().unwrap()["Prefix"]["VMs"]["live"]["snapshots"],
        "s1, s2, s3"
    );
    write(&env, "live", "f-d");
    env.revert("s3", &["live".into()]).unwrap();
    assert_eq!(files(&env, "live"), "f-a f-b");

    env.destroy().unwrap();
    assert!(!root.join(".lago").exists());
    let out = Command::new("virsh")
        .args(["-q", "-c", "qemu:///system", "list", "--all", "--name"])
        .output()
        .unwrap();
    let left = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!left.contains(&uuid8), "domains left: {left}");
    let out = Command::new("virsh")
        .args(["-q", "-c", "qemu:///system", "net-list", "--all", "--name"])
        .output()
        .unwrap();
    let left = String::from_utf8_lossy(&out.stdout).into_owned();
    let net_prefix = format!("{}-", &uuid8[..4]);
    assert!(
        !left.lines().any(|l| l.trim().starts_with(&net_prefix)),
        "networks left: {left}"
    );
    fs::remove_dir_all(&root).unwrap();
}
