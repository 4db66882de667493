//! Loading valid files: YAML and JSON, defaults, anchors and merge keys,
//! prototypes, variable expansion, management networks, persistence.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::load;
use crate::spec::domain::{DEFAULT_BOOT_TIME_SEC, DEFAULT_MEMORY_MIB, Groups};
use crate::spec::net::DEFAULT_MTU;
use crate::spec::{
    BuildArgs, DiskFormat, DiskType, NetType, SpecErrorKind, TemplateType, load_file, load_str,
};

const MINIMAL: &str = "\
domains:
  vm0:
    nics:
      - net: n0
nets:
  n0: {}
";

#[test]
fn minimal_yaml_gets_defaults() {
    let env = load(MINIMAL);
    let vm = &env.domains["vm0"];
    assert_eq!(vm.name, "vm0");
    assert_eq!(vm.memory, DEFAULT_MEMORY_MIB);
    assert_eq!(vm.memory, 16384);
    assert_eq!(vm.vcpu, 2);
    assert!(vm.bootstrap);
    assert_eq!(vm.boot_time_sec, DEFAULT_BOOT_TIME_SEC);
    assert!(vm.disks.is_empty());
    assert!(vm.metadata.is_empty());
    assert_eq!(vm.ssh_user, None);
    let net = &env.nets["n0"];
    assert_eq!(net.net_type, NetType::Nat);
    assert!(net.management);
    assert_eq!(net.management_declared, None);
    assert_eq!(net.mtu, DEFAULT_MTU);
    assert_eq!(env.initfile_dir, PathBuf::from("/suite"));
}

#[test]
fn json_input_is_read_the_same() {
    let text = r#"{"domains": {"vm0": {"memory": 2048, "vcpu": "4", "nics": [{"net": "n0", "ip": "192.168.200.3"}]}},
                   "nets": {"n0": {"type": "nat", "gw": "192.168.200.1", "mtu": "9000"}}}"#;
    let env = load(text);
    let vm = &env.domains["vm0"];
    assert_eq!(vm.memory, 2048);
    assert_eq!(vm.vcpu, 4);
    assert_eq!(vm.nics[0].ip, Some("192.168.200.3".parse().unwrap()));
    assert_eq!(env.nets["n0"].gw, Some("192.168.200.1".parse().unwrap()));
    assert_eq!(env.nets["n0"].mtu, 9000);
}

#[test]
fn numbers_as_strings_and_floats() {
    let env = load(
        "domains:\n  vm0: {memory: '2048', vcpu: '2', boot_time_sec: 30.0, nics: [{net: n0}]}\nnets: {n0: {}}\n",
    );
    let vm = &env.domains["vm0"];
    assert_eq!(vm.memory, 2048);
    assert_eq!(vm.vcpu, 2);
    assert_eq!(vm.boot_time_sec, 30);
}

#[test]
fn empty_values_count_as_absent() {
    let env = load(
        "domains:\n  vm0:\n    memory:\n    cpu_model:\n    nics: [{net: n0}]\nnets: {n0: {}}\n",
    );
    assert_eq!(env.domains["vm0"].memory, 16384);
    assert_eq!(env.domains["vm0"].cpu_model, None);
}

#[test]
fn file_order_is_kept() {
    let env = load(
        "domains:\n  zeta: {nics: [{net: b}]}\n  alpha: {nics: [{net: b}]}\n  mid: {nics: [{net: b}]}\nnets:\n  b: {management: true}\n  a: {}\n",
    );
    let vms: Vec<&str> = env.domains.keys().map(String::as_str).collect();
    assert_eq!(vms, ["zeta", "alpha", "mid"]);
    let nets: Vec<&str> = env.nets.keys().map(String::as_str).collect();
    assert_eq!(nets, ["b", "a"]);
}

#[test]
fn management_defaults_to_alphabetically_first_net() {
    let env = load("domains:\n  vm0: {nics: [{net: zz}, {net: aa}]}\nnets:\n  zz: {}\n  aa: {}\n");
    assert_eq!(env.management_nets(), ["aa"]);
    assert_eq!(env.management_net_of("vm0"), Some("aa"));
    assert_eq!(env.management_net_of("nope"), None);
    assert!(!env.nets["zz"].management);
}

#[test]
fn declared_management_nets() {
    let env = load(
        "\
domains:
  vm0: {nics: [{net: a}, {net: m1}]}
  vm1: {nics: [{net: m2}, {net: m2}]}
nets:
  a: {}
  m1: {management: true, dns_domain_name: one.local}
  m2: {management: true}
",
    );
    assert_eq!(env.management_nets(), ["m1", "m2"]);
    assert_eq!(env.management_net_of("vm0"), Some("m1"));
    assert_eq!(env.management_net_of("vm1"), Some("m2"));
    assert!(!env.nets["a"].management);
}

#[test]
fn anchors_aliases_and_merge_keys() {
    let env = load(
        "\
common-disk: &disk
  type: template
  template_name: el7
  format: qcow2
  dev: vda
  name: root
host: &host
  memory: 4096
  vcpu: 2
  nics: [{net: n0}]
  disks: [*disk]
domains:
  host-0:
    <<: *host
    memory: 8192
  host-1: *host
  host-2:
    <<: [*host]
    disks:
      - <<: *disk
        template_name: el8
nets: {n0: {}}
",
    );
    assert_eq!(env.domains["host-0"].memory, 8192);
    assert_eq!(
        env.domains["host-0"].disks[0].template_name.as_deref(),
        Some("el7")
    );
    assert_eq!(env.domains["host-1"].memory, 4096);
    assert_eq!(
        env.domains["host-2"].disks[0].template_name.as_deref(),
        Some("el8")
    );
    assert_eq!(env.domains["host-2"].disks[0].name, "root");
    // The helper anchors are unknown top-level keys and are kept.
    assert!(env.extra.contains_key("common-disk"));
    assert!(env.extra.contains_key("host"));
}

#[test]
fn prototypes_fill_missing_keys_deeply() {
    let env = load(
        "\
prototypes:
  base:
    memory: 1024
    vcpu: 1
    metadata: {role: base}
    disks:
      - {type: empty, name: data, dev: vdb, format: raw, size: 1G}
  host:
    based-on: base
    memory: 2048
    artifacts: [/var/log]
domains:
  h0:
    based-on: host
    vcpu: 3
    nics: [{net: n0}]
  h1:
    based-on: base
    metadata: {role: own}
    nics: [{net: n0}]
nets: {n0: {}}
",
    );
    let h0 = &env.domains["h0"];
    assert_eq!(h0.memory, 2048);
    assert_eq!(h0.vcpu, 3);
    assert_eq!(h0.artifacts, ["/var/log"]);
    assert_eq!(h0.metadata["role"], "base");
    assert_eq!(h0.disks.len(), 1);
    assert_eq!(h0.disks[0].disk_type, DiskType::Empty);
    assert_eq!(h0.based_on, ["host", "base"]);
    let h1 = &env.domains["h1"];
    assert_eq!(h1.memory, 1024);
    // Whole keys are copied, not merged: h1 keeps its own metadata.
    assert_eq!(
        h1.metadata,
        json!({"role": "own"}).as_object().unwrap().clone()
    );
    assert!(!h1.extra.contains_key("based-on"));
    assert!(!h1.to_json().as_object().unwrap().contains_key("based-on"));
}

#[test]
fn cpu_custom_is_kept_as_json() {
    let env = load(
        "\
domains:
  vm0:
    cpu_custom:
      '@mode': custom
      model: {'@fallback': allow, '#text': Westmere}
      feature: [{'@policy': require, '@name': vmx}]
    nics: [{net: n0}]
nets: {n0: {}}
",
    );
    let custom = env.domains["vm0"].cpu_custom.clone().unwrap();
    assert_eq!(custom["model"]["#text"], "Westmere");
    assert_eq!(custom["feature"][0]["@name"], "vmx");
    assert_eq!(env.domains["vm0"].to_json()["cpu_custom"], custom);
}

#[test]
fn variables_are_expanded_where_lago_expands_them() {
    let env = load(
        "\
domains:
  vm0:
    nics: [{net: n0}]
    disks:
      - {type: file, name: iso, dev: hdc, format: iso, path: '$LAGO_INITFILE_PATH/${SUITE}.iso'}
      - {type: file, name: dl, dev: vdb, format: raw, url: 'http://x/$SUITE/d.img', make_a_copy: 'True'}
      - type: template
        name: root
        dev: vda
        format: qcow2
        template_name: el7
        path: $LAGO_PREFIX_PATH/images/x
        build:
          - virt-customize:
              upload: $LAGO_INITFILE_PATH/a:/b
              ssh-inject: ''
              run-command: [a, b]
    metadata:
      deploy-scripts:
        - $LAGO_INITFILE_PATH/deploy.sh
        - /abs/$UNKNOWN/x.sh
      note: $LAGO_INITFILE_PATH
nets: {n0: {}}
",
    );
    let vm = &env.domains["vm0"];
    assert_eq!(vm.disks[0].path.as_deref(), Some("/suite/basic-suite.iso"));
    assert_eq!(
        vm.disks[1].url.as_deref(),
        Some("http://x/basic-suite/d.img")
    );
    assert_eq!(vm.disks[1].make_a_copy, Some(true));
    // Unknown variables wait for later expansion.
    assert_eq!(
        vm.disks[2].path.as_deref(),
        Some("$LAGO_PREFIX_PATH/images/x")
    );
    // Build arguments are expanded when the build runs, not here.
    let options = &vm.disks[2].build[0].options;
    assert_eq!(vm.disks[2].build[0].tool, "virt-customize");
    assert_eq!(
        options[0].args,
        BuildArgs::One("$LAGO_INITFILE_PATH/a:/b".into())
    );
    assert_eq!(options[1].args, BuildArgs::Flag);
    assert_eq!(
        options[2].args,
        BuildArgs::Many(vec!["a".into(), "b".into()])
    );
    assert_eq!(
        vm.deploy_scripts(),
        ["/suite/deploy.sh", "/abs/$UNKNOWN/x.sh"]
    );
    // Other metadata is left as written.
    assert_eq!(vm.metadata["note"], "$LAGO_INITFILE_PATH");
}

#[test]
fn ovirt_scripts_alias_is_expanded_too() {
    let env = load(
        "domains:\n  vm0:\n    nics: [{net: n0}]\n    metadata: {ovirt-scripts: [$LAGO_INITFILE_PATH/s.sh]}\nnets: {n0: {}}\n",
    );
    assert_eq!(env.domains["vm0"].deploy_scripts(), ["/suite/s.sh"]);
}

#[test]
fn typed_fields_of_disks_and_nets() {
    let env = load(
        "\
domains:
  vm0:
    nics: [{net: n0, ip: 192.168.200.10}]
    disks:
      - {type: template, name: root, dev: vda, format: qcow2, template_name: t, template_version: 2, template_type: lago}
      - {type: empty, name: data, dev: sda, format: raw, size: 10737418240, skip-export: yes, comment: scratch}
    groups: engines
    root-password: 123456
    ssh-password: secret
    bootstrap: no
    skip-export: true
    service_provider: systemd
    vm-type: ovirt-host
nets:
  n0:
    type: nat
    management: true
    dhcp: {start: 100, end: '254'}
    gw: 192.168.200.1
    dns_records: {storage.lago.local: 192.168.200.4}
    dns_domain_name: lago.local
  br:
    type: bridge
    management: false
",
    );
    let vm = &env.domains["vm0"];
    assert_eq!(vm.disks[0].template_version.as_deref(), Some("2"));
    assert_eq!(vm.disks[0].template_type, Some(TemplateType::Lago));
    assert_eq!(vm.disks[0].format, DiskFormat::Qcow2);
    assert_eq!(vm.disks[1].size.as_deref(), Some("10737418240"));
    assert_eq!(vm.disks[1].skip_export, Some(true));
    assert_eq!(vm.disks[1].comment.as_deref(), Some("scratch"));
    assert_eq!(vm.groups, Some(Groups::One("engines".into())));
    assert_eq!(vm.root_password.as_deref(), Some("123456"));
    assert!(!vm.bootstrap);
    assert_eq!(vm.skip_export, Some(true));
    let n0 = &env.nets["n0"];
    let dhcp = n0.dhcp.as_ref().unwrap();
    assert_eq!((dhcp.start, dhcp.end), (100, 254));
    assert_eq!(
        n0.dns_records["storage.lago.local"].to_string(),
        "192.168.200.4"
    );
    assert_eq!(env.nets["br"].net_type, NetType::Bridge);
    assert_eq!(env.nets["br"].management_declared, Some(false));
}

#[test]
fn unknown_keys_round_trip_into_json() {
    let env = load(
        "\
top-level-extra: {a: 1}
domains:
  vm0:
    custom-key: [1, 2]
    vcpu: '2'
    nics:
      - {net: n0, nic-extra: yes-please}
    disks:
      - {type: template, name: root, dev: vda, format: qcow2, template_name: t, disk-extra: 5, metadata: {k: v}}
    metadata: {deploy-scripts: [$LAGO_INITFILE_PATH/x.sh], plugin-key: 1}
nets:
  n0: {net-extra: true, dhcp: {start: 10, end: 20, dhcp-extra: x}}
",
    );
    let json = env.to_json();
    assert_eq!(json["top-level-extra"], json!({"a": 1}));
    let vm = &json["domains"]["vm0"];
    assert_eq!(vm["name"], "vm0");
    assert_eq!(vm["vcpu"], 2);
    assert_eq!(vm["memory"], 16384);
    assert_eq!(vm["custom-key"], json!([1, 2]));
    assert_eq!(
        vm["nics"][0],
        json!({"net": "n0", "nic-extra": "yes-please"})
    );
    assert_eq!(vm["disks"][0]["disk-extra"], 5);
    assert_eq!(vm["disks"][0]["metadata"], json!({"k": "v"}));
    assert_eq!(vm["disks"][0]["type"], "template");
    assert_eq!(
        vm["metadata"],
        json!({"deploy-scripts": ["/suite/x.sh"], "plugin-key": 1})
    );
    let net = &json["nets"]["n0"];
    assert_eq!(net["net-extra"], true);
    assert_eq!(net["type"], "nat");
    assert_eq!(net["management"], true);
    assert_eq!(net["mtu"], 1500);
    assert_eq!(
        net["dhcp"],
        json!({"start": 10, "end": 20, "dhcp-extra": "x"})
    );
    assert!(json.get("prototypes").is_none());

    // What is persisted loads back to the same environment.
    let again = load(&json.to_string());
    assert_eq!(again.to_json(), json);
    assert_eq!(again.domains, env.domains);
}

#[test]
fn extras_keep_file_order() {
    let env = load("domains:\n  vm0: {z: 1, nics: [{net: n0}], a: 2, m: 3}\nnets: {n0: {}}\n");
    let keys: Vec<&str> = env.domains["vm0"]
        .extra
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["z", "a", "m"]);
}

#[test]
fn groups_as_list() {
    let env = load("domains:\n  vm0: {groups: [a, b], nics: [{net: n0}]}\nnets: {n0: {}}\n");
    assert_eq!(
        env.domains["vm0"].groups,
        Some(Groups::List(vec!["a".into(), "b".into()]))
    );
    assert_eq!(env.domains["vm0"].to_json()["groups"], json!(["a", "b"]));
}

#[test]
fn empty_domains_are_allowed() {
    let env = load("domains: {}\nnets: {n0: {}}\n");
    assert!(env.domains.is_empty());
    assert_eq!(env.management_nets(), ["n0"]);
}

#[test]
fn load_file_reads_and_sets_initfile_dir() {
    let dir = std::env::temp_dir().join(format!("lago-spec-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("LagoInitFile");
    std::fs::write(
        &file,
        "domains:\n  vm0:\n    nics: [{net: n0}]\n    disks: [{type: file, name: d, dev: vda, format: raw, path: $LAGO_INITFILE_PATH/d.img}]\nnets: {n0: {}}\n",
    )
    .unwrap();
    let env = load_file(&file).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(env.initfile_dir, dir);
    let expected = dir.join("d.img");
    assert_eq!(
        env.domains["vm0"].disks[0].path.as_deref(),
        expected.to_str()
    );
}

#[test]
fn load_file_reports_missing_files() {
    let err = load_file(Path::new("/nonexistent/lago-spec/init.yaml")).unwrap_err();
    assert_eq!(err.kind(), SpecErrorKind::Io);
    assert!(
        err.to_string()
            .starts_with("/nonexistent/lago-spec/init.yaml: ")
    );
    assert_eq!(crate::Error::from(err).kind(), crate::ErrorKind::NotFound);
}

#[test]
fn relative_origin_is_made_absolute() {
    let env = load_str(MINIMAL, Path::new("suite/init.yaml")).unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(env.initfile_dir, cwd.join("suite"));
    let env = load_str(MINIMAL, Path::new("init.yaml")).unwrap();
    assert_eq!(env.initfile_dir, cwd);
}

#[test]
fn declared_false_does_not_stop_the_alphabetical_rule() {
    // Lago's rule looks only for `management: true`; with none, the
    // alphabetically first network is management even if it says false.
    let env =
        load("domains:\n  vm0: {nics: [{net: a}]}\nnets:\n  b: {}\n  a: {management: false}\n");
    assert_eq!(env.management_nets(), ["a"]);
    assert_eq!(env.to_json()["nets"]["a"]["management"], true);
}

#[test]
fn bootstrap_mode_at_the_top_and_per_vm() {
    use crate::bootstrap::Choice;
    let env = super::load(
        "bootstrap_mode: sysprep\ndomains:\n  a: {nics: [{net: n}]}\n  b: {nics: [{net: n}], bootstrap_mode: ssh}\nnets: {n: {}}\n",
    );
    assert_eq!(env.bootstrap_mode, Some(Choice::Sysprep));
    assert_eq!(env.domains["a"].bootstrap_mode, None);
    assert_eq!(env.domains["b"].bootstrap_mode, Some(Choice::Ssh));
    // written back as read, and not among the unknown keys
    assert_eq!(env.to_json()["bootstrap_mode"], "sysprep");
    assert!(!env.extra.contains_key("bootstrap_mode"));
    assert_eq!(env.domains["b"].to_json()["bootstrap_mode"], "ssh");
    assert!(env.domains["a"].to_json().get("bootstrap_mode").is_none());
}
