//! Real guests through [`Env`], the API every front end uses: a 3-VM
//! environment on two networks (one management, one with a custom gateway
//! and a static address), SSH into every VM, DNS names between guests,
//! exact command results, a tree copied in and back, stop/start, destroy;
//! and one VM bootstrapped with virt-sysprep instead of NoCloud.
//!
//!     tests/host/run cargo test -p lago-core --test guest_env -- --ignored

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // test code

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lago_core::BootstrapChoice as Choice;
use lago_core::Config;
use lago_core::Env;
use lago_core::ops::init::InitOptions;
use lago_core::provider::libvirt::Libvirt;
use lago_core::provider::{Provider, VmState};

const T: Duration = Duration::from_secs(60);

fn scratch(tag: &str) -> (PathBuf, Config) {
    let (root, config) = support::scratch::scratch(&format!("lago-guest-env-{tag}"));
    (root, config)
}

fn sh(env: &Env, vm: &str, cmd: &str) -> lago_core::ExecResult {
    env.ssh(vm, &["sh".into(), "-c".into(), cmd.into()], T)
        .unwrap()
}

const THREE_VMS: &str = "\
domains:
  vm0:
    memory: 256
    vcpu: 1
    nics: [{net: mgmt}, {net: data, ip: 192.168.232.10}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
  vm1:
    memory: 256
    vcpu: 1
    nics: [{net: mgmt}, {net: data}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
  vm2:
    memory: 256
    vcpu: 1
    nics: [{net: mgmt}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
nets:
  mgmt: {type: nat, management: true, dhcp: {start: 100, end: 254}}
  data: {type: nat, gw: 192.168.232.4, dhcp: {start: 100, end: 254}}
";

fn tree(root: &Path) {
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::write(
        root.join("a/b/data.bin"),
        (0..=255u8).cycle().take(300_000).collect::<Vec<_>>(),
    )
    .unwrap();
    fs::write(root.join("a/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("a/run.sh"), fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("b/data.bin", root.join("a/link")).unwrap();
}

#[test]
#[ignore = "real guests: tests/host/run cargo test -p lago-core --test guest_env -- --ignored"]
fn three_vms_two_networks() {
    support::guest::require_namespace();
    let (root, config) = scratch("three");
    let initfile = root.join("LagoInitFile");
    fs::write(&initfile, THREE_VMS).unwrap();
    let t0 = Instant::now();
    let env = Env::init(
        &InitOptions::new(root.join(".lago"), &initfile),
        config.clone(),
    )
    .unwrap();
    println!("init: {:.2?}", t0.elapsed());

    for round in 0..2 {
        let t0 = Instant::now();
        env.start(&[]).unwrap();
        env.wait_for_ssh_all(&[], None).unwrap();
        println!(
            "round {round}: start -> all VMs answer SSH: {:.2?}",
            t0.elapsed()
        );
        let provider = env.provider().unwrap();
        for vm in env.vm_names() {
            assert_eq!(env.vm_state(&vm).unwrap(), VmState::Running);
            assert_eq!(sh(&env, &vm, "hostname").stdout_lossy().trim(), vm);
            // wait_for_ssh probes the address dnsmasq leased to the
            // management NIC: the one init planned
            let planned = env.state().vm(&vm).unwrap().ip().unwrap();
            let mac = lago_core::ipv4_to_mac(planned);
            assert_eq!(
                provider
                    .leased_ipv4(&env.vm_libvirt_name(&vm), &mac)
                    .unwrap(),
                Some(planned),
                "{vm}"
            );
            assert_eq!(env.ssh_client(&vm).unwrap().host(), planned);
        }
        if round == 0 {
            // A VM stopped behind lago's back: the next start starts only it,
            // and drops its dead connection (a wait on it would last until
            // TCP's retransmission met the new guest) but keeps the others.
            Libvirt::connect("qemu:///system")
                .unwrap()
                .destroy_vm(&env.vm_libvirt_name("vm0"))
                .unwrap();
            assert!(env.ssh_client("vm0").unwrap().is_connected());
            assert_eq!(env.start(&[]).unwrap(), vec!["vm0".to_string()]);
            assert!(!env.ssh_client("vm0").unwrap().is_connected());
            assert!(env.ssh_client("vm1").unwrap().is_connected());
            env.wait_for_ssh("vm0", None).unwrap();
            assert_eq!(sh(&env, "vm0", "hostname").stdout_lossy().trim(), "vm0");

            let t0 = Instant::now();
            env.stop(&[]).unwrap();
            println!("stop (3 VMs): {:.2?}", t0.elapsed());
            assert_eq!(env.vm_state("vm0").unwrap(), VmState::Down);
            // stop closes the connections, which could only go stale
            for vm in env.vm_names() {
                assert!(!env.ssh_client(&vm).unwrap().is_connected(), "{vm}");
            }
            env.stop(&[]).unwrap(); // stopping a stopped env is a no-op
        }
    }

    // the static address on the custom-gateway network, its gateway as route
    let out = sh(&env, "vm0", "ip -4 -o addr show eth1; ip route").stdout_lossy();
    assert!(out.contains("192.168.232.10/24"), "{out}");
    assert!(out.contains("via 192.168.232.4"), "{out}");

    // guests find each other by name on the management network
    let state = env.state();
    for (from, to) in [("vm0", "vm1"), ("vm2", "vm0"), ("vm1", "vm2-eth0")] {
        let ip = state
            .vm(to.split('-').next().unwrap())
            .unwrap()
            .ip()
            .unwrap();
        let out = sh(&env, from, &format!("nslookup {to}")).stdout_lossy();
        assert!(out.contains(&ip.to_string()), "{from} -> {to}: {out}");
        let ping = sh(&env, from, &format!("ping -c 1 -W 5 {ip}"));
        assert_eq!(ping.code, 0, "{from} ping {to}");
    }

    // exact results: exit code, stdout and stderr bytes, non-UTF-8 included
    let r = sh(
        &env,
        "vm1",
        "printf 'a\\377\\000b'; printf 'err\\376' >&2; exit 7",
    );
    assert_eq!(r.code, 7);
    assert_eq!(r.stdout, b"a\xff\0b");
    assert_eq!(r.stderr, b"err\xfe");
    let argv: Vec<String> = ["echo", "a b", "$HOME", "it's"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        env.ssh("vm1", &argv, T).unwrap().stdout,
        b"a b $HOME it's\n"
    );

    // a tree in and back, identical
    let src = root.join("src");
    tree(&src);
    env.copy_to("vm2", &src.join("a"), Path::new("/root/a"))
        .unwrap();
    let back = root.join("back");
    fs::create_dir_all(&back).unwrap();
    env.copy_from("vm2", Path::new("/root/a"), &back.join("a"))
        .unwrap();
    let diff = Command::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(src.join("a"))
        .arg(back.join("a"))
        .status()
        .unwrap();
    assert!(diff.success());
    let mode = fs::metadata(back.join("a/run.sh"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o750);
    assert!(
        fs::symlink_metadata(back.join("a/link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // a clean shutdown (ACPI) of one VM; a reboot of another, which answers again
    let t0 = Instant::now();
    env.shutdown(&["vm2".into()], false, Duration::from_secs(120))
        .unwrap();
    println!("ACPI shutdown of vm2: {:.2?}", t0.elapsed());
    assert_eq!(env.vm_state("vm2").unwrap(), VmState::Down);
    assert!(!env.ssh_client("vm2").unwrap().is_connected());
    let up_before: f64 = sh(&env, "vm1", "cut -d' ' -f1 /proc/uptime")
        .stdout_lossy()
        .trim()
        .parse()
        .unwrap();
    env.shutdown(&["vm1".into()], true, Duration::from_secs(120))
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    env.wait_for_ssh("vm1", None).unwrap();
    let up_after: f64 = sh(&env, "vm1", "cut -d' ' -f1 /proc/uptime")
        .stdout_lossy()
        .trim()
        .parse()
        .unwrap();
    assert!(
        up_after < up_before + 3.0,
        "vm1 did not reboot: uptime {up_before} -> {up_after}"
    );
    env.start(&["vm2".into()]).unwrap();

    // status sees it up; stop takes it down
    let status = env.status().unwrap();
    assert_eq!(status["Prefix"]["VMs"]["vm0"]["status"], "running");
    assert_eq!(status["Prefix"]["Networks"]["data"]["status"], "up");
    let t0 = Instant::now();
    env.stop(&[]).unwrap();
    println!("stop (3 VMs): {:.2?}", t0.elapsed());
    assert_eq!(
        env.status().unwrap()["Prefix"]["VMs"]["vm2"]["status"],
        "down"
    );

    env.start(&["vm2".into()]).unwrap();
    env.destroy().unwrap();
    assert!(!root.join(".lago").exists());
    let leases = support::scratch::leases_under(&root);
    assert!(leases.is_empty(), "leases left behind: {leases:?}");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
#[ignore = "real guests: tests/host/run cargo test -p lago-core --test guest_env -- --ignored"]
fn sysprep_bootstrap() {
    support::guest::require_namespace();
    let (root, config) = scratch("sysprep");
    let initfile = root.join("LagoInitFile");
    fs::write(
        &initfile,
        "domains:\n  prepped:\n    memory: 256\n    vcpu: 1\n    root-password: s3cret\n    nics: [{net: n}]\n    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]\nnets:\n  n: {type: nat, dhcp: {start: 100, end: 254}}\n",
    )
    .unwrap();
    let mut opts = InitOptions::new(root.join(".lago"), &initfile);
    opts.bootstrap = Choice::Sysprep;
    let t0 = Instant::now();
    let env = Env::init(&opts, config).unwrap();
    println!("init with virt-sysprep: {:.2?}", t0.elapsed());
    let state = env.state();
    assert!(state.vm("prepped").unwrap().spec.nocloud_seed.is_none());
    // no command file (it holds the password) is left anywhere
    assert!(fs::read_dir(env.paths().prefix_path()).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".sysprep")
    }));
    env.start(&[]).unwrap();
    env.wait_for_ssh("prepped", None).unwrap();
    assert_eq!(
        sh(&env, "prepped", "hostname").stdout_lossy().trim(),
        "prepped"
    );
    // the key was injected: the client logged in with it (the password is
    // the other way in; check it was set too)
    let shadow = sh(&env, "prepped", "grep '^root:' /etc/shadow").stdout_lossy();
    assert!(
        !shadow.contains("lagotinysalt"),
        "root password unchanged: {shadow}"
    );
    env.destroy().unwrap();
    fs::remove_dir_all(&root).unwrap();
}
