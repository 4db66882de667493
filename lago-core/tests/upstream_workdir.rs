//! A workdir as upstream Lago leaves it loads: workdir and `current`, the
//! persisted specs, the status information, and a rewrite that keeps every
//! byte.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use lago_core::Workdir;
use lago_core::ops::status::status_info;
use lago_core::prefix::state::PrefixState;
use serde_json::json;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream-workdir")
}

/// A scratch copy, so rewriting cannot touch the fixture.
fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        let ty = entry.file_type().unwrap();
        if ty.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path()).unwrap(), &to).unwrap();
        } else if ty.is_dir() {
            copy_tree(&entry.path(), &to);
        } else {
            fs::copy(entry.path(), &to).unwrap();
        }
    }
}

#[test]
fn upstream_workdir_and_specs_load() {
    let w = Workdir::load(fixture()).unwrap();
    assert_eq!(w.current().unwrap(), "default");
    assert_eq!(w.prefix_names().unwrap(), ["default"]);
    let state = PrefixState::load(&w.prefix("current").unwrap()).unwrap();
    assert_eq!(state.uuid, "fe689d3c39d011e5b22b54ee755a00ca");
    let names: Vec<_> = state.vms.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["vm0", "vm1"]);
    let vm0 = state.vm("vm0").unwrap();
    assert_eq!(vm0.ip(), Some(Ipv4Addr::new(192, 168, 201, 2)));
    assert_eq!(vm0.distro().as_deref(), Some("cirros"));
    assert_eq!(vm0.root_password(), "123456");
    assert_eq!(
        vm0.disks()[1].path,
        "$LAGO_PREFIX_PATH/images/vm0_empty.qcow2"
    );
    let vm1 = state.vm("vm1").unwrap();
    assert_eq!(vm1.root_password(), "123456"); // ssh-password: root-password is unset
    assert_eq!(vm1.snapshot_names(), ["snap1"]);
    assert!(state.net("n0").unwrap().is_management());
    assert_eq!(
        state.net("n1").unwrap().gw(),
        Some(Ipv4Addr::new(192, 168, 202, 1))
    );
}

#[test]
fn status_of_a_stopped_upstream_prefix() {
    let w = Workdir::load(fixture()).unwrap();
    let paths = w.prefix("default").unwrap();
    let state = PrefixState::load(&paths).unwrap();
    let info = status_info(&state, |_| "down".to_string(), |_| false);
    let expected = json!({"Prefix": {
        "Base directory": paths.prefix_path().to_string_lossy(),
        "UUID": "fe689d3c39d011e5b22b54ee755a00ca",
        "Networks": {
            "n0": {"gateway": "192.168.201.1", "status": "down", "management": true},
            "n1": {"gateway": "192.168.202.1", "status": "down", "management": false},
        },
        "VMs": {
            "vm0": {"distro": "cirros", "root password": "123456", "status": "down", "snapshots": "",
                    "metadata": {"deploy-scripts": []},
                    "NICs": {"eth0": {"network": "n0", "ip": "192.168.201.2"},
                             "eth1": {"network": "n1", "ip": "192.168.202.2"}}},
            "vm1": {"distro": "cirros", "root password": "123456", "status": "down", "snapshots": "snap1",
                    "metadata": {},
                    "NICs": {"eth0": {"network": "n0", "ip": "192.168.201.3"},
                             "eth1": {"network": "n1", "ip": "192.168.202.3"}}},
        }
    }});
    assert_eq!(info, expected);
}

#[test]
fn rewriting_keeps_every_byte() {
    let scratch = std::env::temp_dir().join(format!("lago-upstream-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    copy_tree(&fixture(), &scratch);
    let paths = Workdir::load(&scratch).unwrap().prefix("current").unwrap();
    let state = PrefixState::load(&paths).unwrap();
    state.save().unwrap();
    for file in ["env", "net-n0", "net-n1", "vm-vm0", "vm-vm1"] {
        let want = fs::read(fixture().join("default/virt").join(file)).unwrap();
        let got = fs::read(paths.virt().join(file)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{file}"
        );
    }
    fs::remove_dir_all(&scratch).unwrap();
}

#[test]
fn a_folder_without_initialized_is_not_a_prefix() {
    let scratch = std::env::temp_dir().join(format!("lago-notprefix-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).unwrap();
    let err = PrefixState::load(&lago_core::Paths::new(&scratch)).unwrap_err();
    assert!(
        err.to_string()
            .contains("is not an initialized lago prefix"),
        "{err}"
    );
    fs::remove_dir_all(&scratch).unwrap();
}
