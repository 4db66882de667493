//! Real guests: init a two-VM environment on the tiny template, start it
//! through libvirt, see every guest answer on port 22 with an SSH banner,
//! stop and start again, destroy, and find nothing left: no domain, network,
//! lease or file. And a workdir deleted while its env runs: the next env
//! that leases the same subnet starts, the orphans are stopped.
//!
//! Needs the test host (tests/host/up) and must run inside its network
//! namespace:
//!     tests/host/run cargo test -p lago-core --test guest_run -- --ignored

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // test code

mod support;

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use lago_core::Workdir;
use lago_core::ops::destroy::destroy;
use lago_core::ops::init::{InitOptions, init};
use lago_core::ops::run;
use lago_core::prefix::naming;
use lago_core::prefix::state::PrefixState;
use lago_core::provider::Provider;
use lago_core::provider::VmState;
use lago_core::provider::libvirt::Libvirt;
use lago_core::xml::{DomainType, parse_prefix_tag};

fn banner(ip: Ipv4Addr, deadline: Instant) -> Duration {
    let start = Instant::now();
    while Instant::now() < deadline {
        if let Ok(mut s) =
            TcpStream::connect_timeout(&SocketAddr::from((ip, 22)), Duration::from_millis(300))
        {
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut buf = [0u8; 4];
            if s.read_exact(&mut buf).is_ok() && &buf == b"SSH-" {
                return start.elapsed();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{ip}: no SSH banner");
}

const INITFILE: &str = "\
domains:
  vm0:
    memory: 256
    vcpu: 1
    nics: [{net: lago-mgmt}, {net: data, ip: 192.168.231.10}]
    disks:
      - {template_name: tiny, type: template, name: root, dev: vda, format: qcow2}
  vm1:
    memory: 256
    vcpu: 1
    nics: [{net: lago-mgmt}]
    disks:
      - {template_name: tiny, type: template, name: root, dev: vda, format: qcow2}
nets:
  lago-mgmt: {type: nat, management: true, dhcp: {start: 100, end: 254}}
  data: {type: nat, gw: 192.168.231.1}
";

#[test]
#[ignore = "real guests: tests/host/run cargo test -p lago-core --test guest_run -- --ignored"]
fn init_start_stop_destroy_on_real_guests() {
    support::guest::require_namespace();
    let (root, config) = support::scratch::scratch("lago-guest-run");
    let initfile = root.join("LagoInitFile");
    fs::write(&initfile, INITFILE).unwrap();

    let t0 = Instant::now();
    let done = init(&InitOptions::new(root.join(".lago"), &initfile), &config).unwrap();
    println!("init (nocloud bootstrap): {:.2?}", t0.elapsed());
    let state = PrefixState::load(&done.paths).unwrap();
    let lv = Libvirt::connect("qemu:///system").unwrap();

    for round in 0..2 {
        let t0 = Instant::now();
        let started = run::start(&state, &lv, DomainType::Qemu, None, &[]).unwrap();
        assert_eq!(started.len(), 2);
        // a second start is a no-op
        assert!(
            run::start(&state, &lv, DomainType::Qemu, None, &[])
                .unwrap()
                .is_empty()
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        for vm in &state.vms {
            let took = banner(vm.ip().unwrap(), deadline);
            println!(
                "round {round}: {} SSH banner after {took:.2?} ({:.2?} since start)",
                vm.name,
                t0.elapsed()
            );
        }
        let data_ip = state.vm("vm0").unwrap().nics()[1].ip.unwrap();
        assert_eq!(data_ip, Ipv4Addr::new(192, 168, 231, 10));
        banner(data_ip, deadline);
        // objects are tagged with their prefix
        let xml = lv
            .vm_xml(&naming::domain_name(&state.uuid, "vm0"))
            .unwrap()
            .unwrap();
        let tag = parse_prefix_tag(&xml).unwrap();
        assert_eq!(tag.uuid, state.uuid);
        assert_eq!(tag.name, "vm0");
        for (_, s) in run::vm_states(&state, &lv).unwrap() {
            assert_eq!(s, VmState::Running);
        }
        let t0 = Instant::now();
        run::stop(&state, &lv, &[]).unwrap();
        println!("round {round}: stop {:.2?}", t0.elapsed());
        for (_, s) in run::vm_states(&state, &lv).unwrap() {
            assert_eq!(s, VmState::Down);
        }
        for net in &state.nets {
            assert!(
                !lv.network_active(&naming::network_name(&state.uuid, &net.name))
                    .unwrap()
            );
        }
        run::stop(&state, &lv, &[]).unwrap(); // stopping a stopped env is a no-op
    }

    // destroy a running env: nothing left
    run::start(&state, &lv, DomainType::Qemu, None, &["vm1".to_string()]).unwrap();
    let w = Workdir::load(root.join(".lago")).unwrap();
    destroy(&w, "current", &config, Some(&lv)).unwrap();
    assert!(!root.join(".lago").exists());
    let leases = support::scratch::leases_under(&root);
    assert!(leases.is_empty(), "leases left behind: {leases:?}");
    let prefix8 = &state.uuid[..8];
    assert!(
        lv.list_vms()
            .unwrap()
            .iter()
            .all(|n| !n.starts_with(prefix8))
    );
    assert!(
        lv.list_networks()
            .unwrap()
            .iter()
            .all(|n| !n.starts_with(&state.uuid[..4]))
    );
    fs::remove_dir_all(&root).unwrap();
}

const ONE_VM: &str = "\
domains:
  vm0:
    memory: 256
    vcpu: 1
    nics: [{net: net}]
    disks:
      - {template_name: tiny, type: template, name: root, dev: vda, format: qcow2}
nets:
  net: {type: nat, gw: 192.168.246.1, dhcp: {start: 100, end: 254}}
";

#[test]
#[ignore = "real guests: tests/host/run cargo test -p lago-core --test guest_run -- --ignored"]
fn a_deleted_workdir_leaves_orphans_the_next_start_stops() {
    use lago_core::Env;
    support::guest::require_namespace();
    let (root, mut config) = support::scratch::scratch("lago-guest-orphans");
    config.set("lago", "domain_type", "qemu");
    let initfile = root.join("LagoInitFile");
    fs::write(&initfile, ONE_VM).unwrap();

    // an env runs, then the user deletes its workdir (rm -rf .lago)
    let first = Env::init(&InitOptions::new(root.join("a"), &initfile), config.clone()).unwrap();
    first.start(&[]).unwrap();
    let old_vm = first.vm_libvirt_name("vm0");
    let old_net = naming::network_name(&first.uuid(), "net");
    let old_ip = first.state().vm("vm0").unwrap().ip().unwrap();
    fs::remove_dir_all(root.join("a")).unwrap();
    drop(first);
    let lv = Libvirt::connect("qemu:///system").unwrap();
    assert!(lv.vm_state(&old_vm).unwrap().is_running());

    // the next env gets the same subnet (pinned by the init file, so that
    // no concurrent test can take it in between; the stale lease is
    // reclaimed) and starts: the orphans holding it are stopped first
    let second = Env::init(&InitOptions::new(root.join("b"), &initfile), config).unwrap();
    let ip = second.state().vm("vm0").unwrap().ip().unwrap();
    assert_eq!(ip, old_ip, "the stale lease should be reclaimed");
    second.start(&[]).unwrap();
    assert_eq!(lv.vm_state(&old_vm).unwrap(), VmState::Down);
    assert!(!lv.network_active(&old_net).unwrap());
    banner(ip, Instant::now() + Duration::from_secs(120));
    assert!(second.clean_orphans().unwrap().is_empty());
    second.destroy().unwrap();
    fs::remove_dir_all(&root).unwrap();
}
