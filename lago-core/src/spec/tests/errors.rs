//! Every kind of mistake gives one clear message that names the key path
//! and the line (and column) where it is written.

use super::{load_err, load_err_as};
use crate::spec::SpecErrorKind;
use crate::{Error, ErrorKind};

/// Asserts the kind, the key path and the line of `err`, and returns its
/// text for further checks.
#[track_caller]
fn check(err: &crate::spec::SpecError, kind: SpecErrorKind, path: &str, line: usize) -> String {
    let text = err.to_string();
    assert_eq!(err.kind(), kind, "{text}");
    assert_eq!(err.key_path().to_string(), path, "{text}");
    assert_eq!(err.line(), Some(line), "{text}");
    if !path.is_empty() {
        assert!(text.contains(&format!(": {path}: ")), "{text}");
    }
    assert!(
        text.starts_with(&format!("init.yaml:{line}:"))
            || text.starts_with(&format!("init.json:{line}:")),
        "{text}"
    );
    text
}

#[test]
fn yaml_syntax_error() {
    let err = load_err("domains:\n  vm0:\n    nics: [{net: n0}\nnets: {}\n");
    let text = check(&err, SpecErrorKind::Syntax, "", 4);
    assert!(text.contains("YAML syntax error"), "{text}");
}

#[test]
fn yaml_syntax_error_bad_indentation() {
    let err = load_err("domains:\n  vm0:\n    memory: 1\n   vcpu: 2\nnets: {}\n");
    let text = check(&err, SpecErrorKind::Syntax, "", 4);
    assert!(text.starts_with("init.yaml:4:"), "{text}");
}

#[test]
fn json_syntax_error() {
    let err = load_err_as("init.json", "{\"domains\": {},\n \"nets\": {\"n0\": {}\n");
    let text = check(&err, SpecErrorKind::Syntax, "", 3);
    assert!(text.contains("JSON syntax error"), "{text}");
}

#[test]
fn duplicate_vm_names() {
    let err = load_err(
        "domains:\n  vm0:\n    nics: [{net: n0}]\n  vm0:\n    nics: [{net: n0}]\nnets: {n0: {}}\n",
    );
    let text = check(&err, SpecErrorKind::DuplicateKey, "domains.vm0", 4);
    assert_eq!(
        text,
        "init.yaml:4:3: domains.vm0: duplicate VM name 'vm0', first written at line 2 (valid: each name once in a mapping)"
    );
}

#[test]
fn duplicate_net_names_in_json() {
    let err = load_err_as(
        "init.json",
        "{\"domains\": {},\n \"nets\": {\n  \"n0\": {},\n  \"n0\": {\"type\": \"bridge\"}\n }\n}\n",
    );
    let text = check(&err, SpecErrorKind::DuplicateKey, "nets.n0", 4);
    assert!(
        text.starts_with("init.json:4:3: nets.n0: duplicate network name 'n0'"),
        "{text}"
    );
}

#[test]
fn duplicate_keys_inside_a_vm() {
    let err = load_err("domains:\n  vm0:\n    memory: 1\n    memory: 2\nnets: {n0: {}}\n");
    let text = check(&err, SpecErrorKind::DuplicateKey, "domains.vm0.memory", 4);
    assert!(text.contains("duplicate key 'memory'"), "{text}");
}

#[test]
fn nic_on_unknown_net() {
    let err = load_err(
        "\
domains:
  vm0:
    nics:
      - net: n0
      - net: n3
nets:
  n0: {}
  n1: {}
",
    );
    let text = check(
        &err,
        SpecErrorKind::UnknownReference,
        "domains.vm0.nics[1].net",
        5,
    );
    assert_eq!(
        text,
        "init.yaml:5:9: domains.vm0.nics[1].net: unknown network 'n3' (valid: n0, n1)"
    );
}

#[test]
fn nic_without_net() {
    let err = load_err("domains:\n  vm0:\n    nics:\n      - ip: 1.2.3.4\nnets: {n0: {}}\n");
    let text = check(
        &err,
        SpecErrorKind::MissingKey,
        "domains.vm0.nics[0].net",
        4,
    );
    assert!(text.contains("missing required key 'net'"), "{text}");
}

#[test]
fn vm_without_management_net() {
    let err = load_err(
        "\
domains:
  vm0:
    nics: [{net: data}]
nets:
  mgmt: {management: true}
  data: {}
",
    );
    let text = check(&err, SpecErrorKind::Management, "domains.vm0.nics", 3);
    assert_eq!(
        text,
        "init.yaml:3:5: domains.vm0.nics: VM 'vm0' has no nic on a management network (valid: a nic on one of the management networks mgmt)"
    );
}

#[test]
fn vm_without_nics_has_no_management_net() {
    let err = load_err("domains:\n  vm0: {memory: 1024}\nnets: {n0: {}}\n");
    check(&err, SpecErrorKind::Management, "domains.vm0.nics", 2);
}

#[test]
fn vm_on_two_management_nets() {
    let err = load_err(
        "\
domains:
  vm0:
    nics:
      - net: m1
      - net: m1
      - net: m2
nets:
  m1: {management: true}
  m2: {management: true}
",
    );
    let text = check(
        &err,
        SpecErrorKind::Management,
        "domains.vm0.nics[2].net",
        6,
    );
    assert!(
        text.contains("two management networks: 'm1' (nics[0]) and 'm2'"),
        "{text}"
    );
}

#[test]
fn static_ip_not_ipv4() {
    let err = load_err(
        "domains:\n  vm0:\n    nics:\n      - {net: n0, ip: 192.168.300.2}\nnets: {n0: {}}\n",
    );
    let text = check(
        &err,
        SpecErrorKind::InvalidValue,
        "domains.vm0.nics[0].ip",
        4,
    );
    assert!(
        text.contains("'192.168.300.2' is not an IPv4 address"),
        "{text}"
    );
    assert_eq!(err.column(), Some(19));
}

#[test]
fn static_ip_outside_gw_subnet() {
    let err = load_err(
        "\
domains:
  vm0:
    nics:
      - net: n0
        ip: 192.168.201.5
nets:
  n0: {gw: 192.168.200.1}
",
    );
    let text = check(&err, SpecErrorKind::Conflict, "domains.vm0.nics[0].ip", 5);
    assert_eq!(
        text,
        "init.yaml:5:9: domains.vm0.nics[0].ip: 192.168.201.5 is outside network 'n0' (192.168.200.0/24, from its gw 192.168.200.1) (valid: an address from 192.168.200.2 to 192.168.200.254)"
    );
}

#[test]
fn static_ip_is_the_gateway() {
    let err = load_err(
        "domains:\n  vm0:\n    nics: [{net: n0, ip: 10.0.0.1}]\nnets:\n  n0: {gw: 10.0.0.1}\n",
    );
    check(&err, SpecErrorKind::Conflict, "domains.vm0.nics[0].ip", 3);
}

#[test]
fn static_ip_last_octet_without_gw() {
    let err =
        load_err("domains:\n  vm0:\n    nics: [{net: n0, ip: 192.168.200.1}]\nnets: {n0: {}}\n");
    check(
        &err,
        SpecErrorKind::InvalidValue,
        "domains.vm0.nics[0].ip",
        3,
    );
}

#[test]
fn static_ip_used_twice() {
    let err = load_err(
        "\
domains:
  vm0:
    nics: [{net: n0, ip: 192.168.200.3}]
  vm1:
    nics:
      - {net: n0, ip: 192.168.200.3}
nets:
  n0: {gw: 192.168.200.1}
",
    );
    let text = check(&err, SpecErrorKind::Conflict, "domains.vm1.nics[0].ip", 6);
    assert!(
        text.contains(
            "192.168.200.3 on network 'n0' is already used by domains.vm0.nics[0].ip, line 3"
        ),
        "{text}"
    );
}

#[test]
fn static_ip_same_last_octet_without_gw() {
    let err = load_err(
        "\
domains:
  vm0: {nics: [{net: n0, ip: 192.168.200.7}]}
  vm1: {nics: [{net: n0, ip: 192.168.201.7}]}
nets:
  n0: {}
",
    );
    let text = check(&err, SpecErrorKind::Conflict, "domains.vm1.nics[0].ip", 3);
    assert!(text.contains("same last octet"), "{text}");
}

#[test]
fn same_ip_on_different_nets_is_fine() {
    super::load(
        "\
domains:
  vm0: {nics: [{net: n0, ip: 192.168.200.7}, {net: n1, ip: 192.168.200.7}]}
nets:
  n0: {}
  n1: {}
",
    );
}

#[test]
fn unknown_disk_type() {
    let err = load_err(
        "\
domains:
  vm0:
    nics: [{net: n0}]
    disks:
      - type: blank
        name: d
nets: {n0: {}}
",
    );
    let text = check(
        &err,
        SpecErrorKind::InvalidValue,
        "domains.vm0.disks[0].type",
        5,
    );
    assert_eq!(
        text,
        "init.yaml:5:9: domains.vm0.disks[0].type: unknown disk type 'blank' (valid: template, empty, file)"
    );
}

#[test]
fn unknown_disk_format() {
    let err = load_err(
        "\
domains:
  vm0:
    nics: [{net: n0}]
    disks:
      - type: empty
        name: d
        dev: vdb
        format: vmdk
        size: 1G
nets: {n0: {}}
",
    );
    let text = check(
        &err,
        SpecErrorKind::InvalidValue,
        "domains.vm0.disks[0].format",
        8,
    );
    assert!(
        text.ends_with("unknown disk format 'vmdk' (valid: qcow2, raw, iso)"),
        "{text}"
    );
}

#[test]
fn unknown_net_type() {
    let err = load_err("domains: {}\nnets:\n  n0:\n    type: vlan\n");
    check(&err, SpecErrorKind::InvalidValue, "nets.n0.type", 4);
}

#[test]
fn template_disk_without_template_name() {
    let err = load_err(
        "\
domains:
  vm0:
    nics: [{net: n0}]
    disks:
      - type: template
        name: root
        dev: vda
        format: qcow2
nets: {n0: {}}
",
    );
    let text = check(
        &err,
        SpecErrorKind::MissingKey,
        "domains.vm0.disks[0].template_name",
        5,
    );
    assert!(
        text.contains("missing required key 'template_name'"),
        "{text}"
    );
}

#[test]
fn empty_disk_without_size_and_file_disk_without_path() {
    let err = load_err(
        "domains:\n  vm0:\n    nics: [{net: n0}]\n    disks:\n      - {type: empty, name: d, dev: vdb, format: raw}\nnets: {n0: {}}\n",
    );
    check(
        &err,
        SpecErrorKind::MissingKey,
        "domains.vm0.disks[0].size",
        5,
    );
    let err = load_err(
        "domains:\n  vm0:\n    nics: [{net: n0}]\n    disks:\n      - {type: file, name: d, dev: vdb, format: raw}\nnets: {n0: {}}\n",
    );
    let text = check(&err, SpecErrorKind::MissingKey, "domains.vm0.disks[0]", 5);
    assert!(text.contains("a file disk needs 'path' or 'url'"), "{text}");
}

#[test]
fn duplicate_disk_device() {
    let err = load_err(
        "\
domains:
  vm0:
    nics: [{net: n0}]
    disks:
      - {type: empty, name: a, dev: vdb, format: raw, size: 1G}
      - {type: empty, name: b, dev: vdb, format: raw, size: 1G}
nets: {n0: {}}
",
    );
    check(&err, SpecErrorKind::Conflict, "domains.vm0.disks[1].dev", 6);
}

#[test]
fn unsafe_disk_name() {
    let err = load_err(
        "domains:\n  vm0:\n    nics: [{net: n0}]\n    disks:\n      - {type: empty, name: ../../x, dev: vdb, format: raw, size: 1G}\nnets: {n0: {}}\n",
    );
    check(
        &err,
        SpecErrorKind::InvalidValue,
        "domains.vm0.disks[0].name",
        5,
    );
}

#[test]
fn unsafe_vm_name() {
    let err = load_err("domains:\n  a/b: {nics: [{net: n0}]}\nnets: {n0: {}}\n");
    check(&err, SpecErrorKind::InvalidValue, "domains.a/b", 2);
}

#[test]
fn cpu_model_with_cpu_custom() {
    let err = load_err(
        "\
domains:
  vm0:
    cpu_model: Westmere
    cpu_custom:
      '@mode': custom
    nics: [{net: n0}]
nets: {n0: {}}
",
    );
    let text = check(&err, SpecErrorKind::Conflict, "domains.vm0.cpu_custom", 4);
    assert_eq!(
        text,
        "init.yaml:4:5: domains.vm0.cpu_custom: cpu_model and cpu_custom cannot be used together (valid: keep only one of cpu_model and cpu_custom)"
    );
}

#[test]
fn memory_of_the_wrong_type() {
    let err =
        load_err("domains:\n  vm0:\n    memory: lots\n    nics: [{net: n0}]\nnets: {n0: {}}\n");
    let text = check(&err, SpecErrorKind::WrongType, "domains.vm0.memory", 3);
    assert_eq!(
        text,
        "init.yaml:3:5: domains.vm0.memory: expected a whole number of MiB, got the string \"lots\""
    );
}

#[test]
fn nics_not_a_list() {
    let err = load_err("domains:\n  vm0:\n    nics: {net: n0}\nnets: {n0: {}}\n");
    let text = check(&err, SpecErrorKind::WrongType, "domains.vm0.nics", 3);
    assert!(
        text.contains("expected a list of nics such as [{net: n0}], got a mapping"),
        "{text}"
    );
}

#[test]
fn nic_not_a_mapping() {
    let err = load_err("domains:\n  vm0:\n    nics:\n      - n0\nnets: {n0: {}}\n");
    check(&err, SpecErrorKind::WrongType, "domains.vm0.nics[0]", 4);
}

#[test]
fn vcpu_out_of_range() {
    let err = load_err("domains:\n  vm0:\n    vcpu: 0\n    nics: [{net: n0}]\nnets: {n0: {}}\n");
    let text = check(&err, SpecErrorKind::InvalidValue, "domains.vm0.vcpu", 3);
    assert!(
        text.contains("0 is out of range (valid: a whole number of virtual CPUs from 1 to 65535)"),
        "{text}"
    );
}

#[test]
fn bootstrap_not_a_boolean() {
    let err =
        load_err("domains:\n  vm0:\n    bootstrap: [x]\n    nics: [{net: n0}]\nnets: {n0: {}}\n");
    check(&err, SpecErrorKind::WrongType, "domains.vm0.bootstrap", 3);
}

#[test]
fn based_on_unknown_prototype() {
    let err = load_err(
        "\
prototypes:
  host: {memory: 1}
  engine: {memory: 2}
domains:
  vm0:
    based-on: hots
    nics: [{net: n0}]
nets: {n0: {}}
",
    );
    let text = check(
        &err,
        SpecErrorKind::UnknownReference,
        "domains.vm0.based-on",
        6,
    );
    assert_eq!(
        text,
        "init.yaml:6:5: domains.vm0.based-on: unknown prototype 'hots' (valid: host, engine)"
    );
}

#[test]
fn based_on_without_prototypes() {
    let err = load_err("domains:\n  vm0:\n    based-on: host\nnets: {n0: {}}\n");
    let text = check(
        &err,
        SpecErrorKind::UnknownReference,
        "domains.vm0.based-on",
        3,
    );
    assert!(text.contains("no prototypes are defined"), "{text}");
}

#[test]
fn prototype_loops() {
    let err = load_err(
        "prototypes:\n  a: {based-on: b}\n  b: {based-on: a}\ndomains:\n  vm0: {based-on: a}\nnets: {n0: {}}\n",
    );
    let text = check(
        &err,
        SpecErrorKind::InvalidValue,
        "prototypes.b.based-on",
        3,
    );
    assert!(text.contains("a -> b -> a"), "{text}");
}

#[test]
fn error_in_inherited_key_points_into_the_prototype() {
    let err = load_err(
        "\
prototypes:
  host:
    memory: lots
domains:
  vm0:
    based-on: host
    nics: [{net: n0}]
nets: {n0: {}}
",
    );
    check(&err, SpecErrorKind::WrongType, "domains.vm0.memory", 3);
}

#[test]
fn error_in_merged_key_points_at_the_anchor() {
    let err = load_err(
        "\
base: &base
  vcpu: many
domains:
  vm0:
    <<: *base
    nics: [{net: n0}]
nets: {n0: {}}
",
    );
    check(&err, SpecErrorKind::WrongType, "domains.vm0.vcpu", 2);
}

#[test]
fn missing_domains() {
    let err = load_err("nets:\n  n0: {}\n");
    let text = check(&err, SpecErrorKind::MissingKey, "domains", 1);
    assert!(text.contains("missing required key 'domains'"), "{text}");
}

#[test]
fn missing_nets() {
    let err = load_err("domains:\n  vm0: {}\n");
    let text = check(&err, SpecErrorKind::MissingKey, "nets", 1);
    assert!(text.contains("missing required key 'nets'"), "{text}");
}

#[test]
fn no_nets() {
    let err = load_err("domains: {}\nnets: {}\n");
    let text = check(&err, SpecErrorKind::MissingKey, "nets", 2);
    assert!(text.contains("no networks configured"), "{text}");
}

#[test]
fn document_not_a_mapping() {
    for text in ["- a\n- b\n", "just text\n", ""] {
        let err = load_err(text);
        assert_eq!(err.kind(), SpecErrorKind::WrongType, "{err}");
        assert!(
            err.to_string()
                .contains("expected a mapping with 'domains' and 'nets'"),
            "{err}"
        );
    }
}

#[test]
fn dns_on_a_net_without_management_key() {
    let err = load_err(
        "\
domains: {}
nets:
  a: {}
  b:
    dns_domain_name: b.local
",
    );
    let text = check(&err, SpecErrorKind::Conflict, "nets.b.dns_domain_name", 5);
    assert!(
        text.contains("only supported on management networks"),
        "{text}"
    );
}

#[test]
fn bad_gw_and_dhcp() {
    let err = load_err("domains: {}\nnets:\n  n0:\n    gw: 192.168.1\n");
    check(&err, SpecErrorKind::InvalidValue, "nets.n0.gw", 4);
    let err = load_err("domains: {}\nnets:\n  n0:\n    dhcp: {start: 200, end: 100}\n");
    check(&err, SpecErrorKind::InvalidValue, "nets.n0.dhcp.end", 4);
    let err = load_err("domains: {}\nnets:\n  n0:\n    dhcp: {start: 0, end: 100}\n");
    check(&err, SpecErrorKind::InvalidValue, "nets.n0.dhcp.start", 4);
    let err = load_err("domains: {}\nnets:\n  n0:\n    mtu: big\n");
    check(&err, SpecErrorKind::WrongType, "nets.n0.mtu", 4);
}

#[test]
fn semantic_errors_in_json_have_lines() {
    let err = load_err_as(
        "init.json",
        "{\n  \"domains\": {\n    \"vm0\": {\n      \"nics\": [{\"net\": \"n9\"}]\n    }\n  },\n  \"nets\": {\"n0\": {}}\n}\n",
    );
    let text = check(
        &err,
        SpecErrorKind::UnknownReference,
        "domains.vm0.nics[0].net",
        4,
    );
    assert!(text.starts_with("init.json:4:17: "), "{text}");
}

#[test]
fn converts_into_crate_error() {
    let err = load_err("domains:\n  vm0:\n    memory: lots\nnets: {n0: {}}\n");
    let shown = err.to_string();
    let err = Error::from(err);
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(err.full_message(), format!("invalid init file: {shown}"));
}

#[test]
fn unknown_bootstrap_mode_names_the_valid_ones() {
    let err = load_err(
        "domains:\n  vm0:\n    nics: [{net: n0}]\n    bootstrap_mode: fast\nnets: {n0: {}}\n",
    );
    let text = check(
        &err,
        SpecErrorKind::InvalidValue,
        "domains.vm0.bootstrap_mode",
        4,
    );
    assert!(
        text.contains("unknown value \"fast\"")
            && text.contains("auto, nocloud, ssh, sysprep or none"),
        "{text}"
    );
    let err = load_err("bootstrap_mode: [ssh]\ndomains: {}\nnets: {n0: {}}\n");
    check(&err, SpecErrorKind::WrongType, "bootstrap_mode", 1);
}
