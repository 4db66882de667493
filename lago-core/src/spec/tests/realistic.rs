//! Realistic multi-VM files in the style of oVirt system tests (written for
//! these tests): a YAML suite with anchors, merge keys and prototypes, and a
//! small JSON suite.

use serde_json::json;

use super::load;
use crate::spec::domain::Groups;
use crate::spec::{BuildArgs, DiskFormat, DiskType, NetType, TemplateType};

const BASIC_SUITE: &str = include_str!("../../../tests/fixtures/spec/ost-basic-suite.yaml");
const SMALL_SUITE: &str = include_str!("../../../tests/fixtures/spec/ost-small-suite.json");

#[test]
fn basic_suite_loads() {
    let env = load(BASIC_SUITE);
    let vms: Vec<&str> = env.domains.keys().map(String::as_str).collect();
    assert_eq!(vms, ["engine", "host-0", "host-1", "storage"]);
    let nets: Vec<&str> = env.nets.keys().map(String::as_str).collect();
    assert_eq!(nets, ["lago-mgmt", "lago-storage", "lago-bridge"]);
    assert_eq!(env.management_nets(), ["lago-mgmt"]);
    for vm in env.domains.keys() {
        assert_eq!(env.management_net_of(vm), Some("lago-mgmt"), "{vm}");
    }

    let engine = &env.domains["engine"];
    assert_eq!((engine.memory, engine.vcpu), (6144, 4));
    assert_eq!(engine.cpu_model.as_deref(), Some("Westmere"));
    assert_eq!(engine.root_password.as_deref(), Some("123456"));
    assert_eq!(engine.disks.len(), 2);
    assert_eq!(engine.disks[0].template_name.as_deref(), Some("el8-base"));
    assert_eq!(engine.disks[0].template_version.as_deref(), Some("v3"));
    assert_eq!(engine.disks[0].template_type, Some(TemplateType::Lago));
    assert_eq!(engine.disks[1].disk_type, DiskType::Empty);
    assert_eq!(engine.disks[1].format, DiskFormat::Raw);
    assert_eq!(engine.groups, Some(Groups::One("engine".into())));
    assert_eq!(
        engine.deploy_scripts(),
        ["/suite/deploy-scripts/setup_engine.sh"]
    );
    assert_eq!(
        engine.extra["ovirt-capabilities"],
        json!(["snapshot-live-merge"])
    );
    assert_eq!(engine.metadata["ovirt-engine-password"], "123");

    let host0 = &env.domains["host-0"];
    assert_eq!(host0.based_on, ["ovirt-host"]);
    assert_eq!((host0.memory, host0.vcpu), (4096, 2));
    assert_eq!(host0.nics.len(), 3);
    assert!(host0.cpu_custom.is_some());
    assert_eq!(host0.groups, Some(Groups::List(vec!["hosts".into()])));
    assert_eq!(
        host0.deploy_scripts(),
        [
            "/suite/deploy-scripts/add_local_repo.sh",
            "/suite/deploy-scripts/setup_host.sh"
        ]
    );
    let build = &host0.disks[0].build[0];
    assert_eq!(build.tool, "virt-customize");
    assert_eq!(build.options[0].name, "ssh-inject");
    assert_eq!(build.options[0].args, BuildArgs::Flag);
    assert_eq!(
        build.options[1].args,
        BuildArgs::Many(vec!["/root/.lago-host".into(), "/root/.managed".into()])
    );

    let host1 = &env.domains["host-1"];
    assert_eq!(host1.memory, 8192);
    assert_eq!(host1.nics[2].net, "lago-bridge");
    assert_eq!(host1.nics[1].ip, Some("192.168.201.11".parse().unwrap()));
    // Inherited, and independent of host-0's copy.
    assert_eq!(host1.disks, host0.disks);

    let storage = &env.domains["storage"];
    assert_eq!(storage.boot_time_sec, 300);
    assert_eq!(storage.disks[1].disk_type, DiskType::File);
    assert_eq!(
        storage.disks[1].path.as_deref(),
        Some("/suite/images/seed.iso")
    );
    assert_eq!(storage.disks[1].make_a_copy, Some(true));
    assert_eq!(storage.disks[1].format, DiskFormat::Iso);

    let storage_net = &env.nets["lago-storage"];
    assert_eq!(storage_net.mtu, 9000);
    assert_eq!(storage_net.gw, Some("192.168.201.1".parse().unwrap()));
    assert_eq!(env.nets["lago-bridge"].net_type, NetType::Bridge);
    assert!(env.extra.contains_key("_templates"));
}

#[test]
fn basic_suite_persists_and_reloads() {
    let env = load(BASIC_SUITE);
    let json = env.to_json();
    assert_eq!(json["domains"]["host-1"]["vcpu"], 2);
    assert_eq!(json["domains"]["engine"]["root-password"], "123456");
    assert_eq!(json["nets"]["lago-storage"]["mtu"], 9000);
    assert_eq!(
        json["nets"]["lago-mgmt"]["dns_records"]["ovirt-engine.lago.local"],
        "192.168.200.2"
    );
    let again = load(&serde_json::to_string_pretty(&json).unwrap());
    assert_eq!(again.domains, {
        let mut domains = env.domains.clone();
        for vm in domains.values_mut() {
            vm.based_on.clear();
        }
        domains
    });
    assert_eq!(again.nets, env.nets);
}

#[test]
fn small_json_suite_loads() {
    let env = load(SMALL_SUITE);
    assert_eq!(env.domains.len(), 2);
    let host = &env.domains["host-0"];
    assert_eq!((host.memory, host.vcpu), (2048, 2));
    assert_eq!(host.vm_type.as_deref(), Some("ovirt-host"));
    assert_eq!(env.domains["engine"].deploy_scripts(), ["/suite/setup.sh"]);
    assert_eq!(env.management_net_of("engine"), Some("lago"));
}
