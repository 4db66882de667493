//! The recovery rules of the pending-operation record, on real files.

use super::*;
use crate::prefix::state::VmState;
use serde_json::json;

fn dead(verb: &str) -> Owner {
    Owner {
        pid: u32::MAX - 1,
        start_time: 1,
        verb: verb.into(),
    }
}

/// Writes `op` as a record left by a killed process.
fn leave(paths: &Paths, op: Pending) {
    let journal = Journal {
        owner: dead(op.verb()),
        op,
    };
    fs::write(path(paths), serde_json::to_string(&journal).unwrap()).unwrap();
}

/// An initialized prefix with VMs `vm0`, `vm1` (one raw disk each).
fn prefix(dir: &Path) -> Paths {
    let paths = Paths::new(dir);
    fs::create_dir_all(paths.prefixed("virt")).unwrap();
    fs::create_dir_all(paths.images()).unwrap();
    fs::write(paths.uuid(), "0123456789abcdef0123456789abcdef").unwrap();
    fs::write(paths.initialized(), "").unwrap();
    let vm = |name: &str| VmState {
        name: name.into(),
        spec: serde_json::from_value(json!({
            "name": name,
            "disks": [{"name": "root", "dev": "vda", "format": "raw",
                       "path": format!("$LAGO_PREFIX_PATH/images/{name}_root.raw")}],
        }))
        .unwrap(),
    };
    PrefixState {
        paths: paths.clone(),
        uuid: "0123456789abcdef0123456789abcdef".into(),
        nets: Vec::new(),
        vms: vec![vm("vm0"), vm("vm1")],
        host: None,
    }
    .save()
    .unwrap();
    paths
}

fn snapshot_vm(paths: &Paths, vm: &str, snap: &str) -> SnapshotVm {
    let file = format!("{vm}_root.{snap}.qcow2");
    SnapshotVm {
        vm: vm.into(),
        domain: format!("dom-{vm}"),
        disks: vec![SnapshotDisk {
            index: 0,
            dev: "vda".into(),
            overlay: paths.images().join(&file),
            overlay_stored: Paths::stored_image(&file),
        }],
        memory: None,
    }
}

#[test]
fn a_killed_memory_snapshot_resumes_its_vms_and_keeps_or_drops_their_images() {
    let dir = tempfile::tempdir().unwrap();
    let paths = prefix(dir.path());
    let mut vms = vec![
        snapshot_vm(&paths, "vm0", "m1"),
        snapshot_vm(&paths, "vm1", "m1"),
    ];
    for v in &mut vms {
        let image = format!("{}.m1.mem", v.vm);
        fs::write(&v.disks[0].overlay, b"qcow2").unwrap();
        fs::write(paths.images().join(&image), b"saved").unwrap();
        v.memory = Some(Paths::stored_image(&image));
    }
    let uses = |domain: &str, _: &Path| -> Result<bool> { Ok(domain == "dom-vm0") };
    let resumed = std::sync::Mutex::new(Vec::new());
    let resume = |domain: &str| -> Result<bool> {
        resumed.lock().unwrap().push(domain.to_string());
        Ok(domain == "dom-vm1")
    };
    leave(
        &paths,
        Pending::Snapshot {
            name: "m1".into(),
            vms: vms.clone(),
        },
    );
    let line = recover_with(&paths, &uses, &resume).unwrap();
    assert_eq!(
        line,
        format!(
            "completed the snapshot 'm1' of VMs vm0 (they run on its overlays) and rolled \
             back the rest, resumed the paused VMs vm1 of a killed lago snapshot (pid {})",
            u32::MAX - 1
        )
    );
    assert_eq!(*resumed.lock().unwrap(), ["dom-vm0", "dom-vm1"]);
    // vm0 rolled forward with its image, vm1 rolled back without it
    assert!(paths.images().join("vm0.m1.mem").exists());
    assert!(!paths.images().join("vm1.m1.mem").exists());
    let state = PrefixState::load(&paths).unwrap();
    let memory = state
        .vm("vm0")
        .unwrap()
        .spec
        .memory_snapshots
        .clone()
        .unwrap();
    assert_eq!(memory["m1"].path, "$LAGO_PREFIX_PATH/images/vm0.m1.mem");
    assert!(state.vm("vm1").unwrap().spec.memory_snapshots.is_none());
}

#[test]
fn the_record_is_written_public_and_removed_when_dropped_unless_kept() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path());
    let entry = begin(
        &paths,
        Pending::Destroy {
            name: "default".into(),
        },
    )
    .unwrap();
    let mode = fs::metadata(path(&paths)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o644, 0o644, "{mode:o}");
    let read_back = read(&paths).unwrap();
    assert_eq!(read_back.owner.pid, std::process::id());
    assert_eq!(read_back.op.verb(), "destroy");
    // a live owner's record is left alone, and is no killed destroy
    assert_eq!(recover(&paths, &|_, _| Ok(false)), None);
    assert!(killed_destroy(&paths).is_none());
    drop(entry);
    assert!(!path(&paths).exists());
    let entry = begin(
        &paths,
        Pending::Destroy {
            name: "default".into(),
        },
    )
    .unwrap();
    entry.keep();
    assert!(path(&paths).exists());
}

#[test]
fn a_killed_snapshot_is_kept_rolled_forward_or_rolled_back_per_vm() {
    let dir = tempfile::tempdir().unwrap();
    let paths = prefix(dir.path());
    let vms = vec![
        snapshot_vm(&paths, "vm0", "s1"),
        snapshot_vm(&paths, "vm1", "s1"),
    ];
    for v in &vms {
        fs::write(&v.disks[0].overlay, b"qcow2").unwrap();
    }
    // vm0's running domain writes to its overlay already; vm1 is down
    let uses = |domain: &str, overlay: &Path| -> Result<bool> {
        Ok(domain == "dom-vm0" && overlay.ends_with("vm0_root.s1.qcow2"))
    };
    let state = PrefixState::load(&paths).unwrap();
    assert_eq!(
        plan_snapshot(&state, "s1", &vms, &uses).unwrap(),
        [SnapshotFate::RollForward, SnapshotFate::RollBack]
    );
    leave(
        &paths,
        Pending::Snapshot {
            name: "s1".into(),
            vms: vms.clone(),
        },
    );
    let line = recover(&paths, &uses).unwrap();
    assert_eq!(
        line,
        format!(
            "completed the snapshot 's1' of VMs vm0 (they run on its overlays) and rolled \
             back the rest of a killed lago snapshot (pid {})",
            u32::MAX - 1
        )
    );
    assert!(!path(&paths).exists());
    assert!(vms[0].disks[0].overlay.exists());
    assert!(!vms[1].disks[0].overlay.exists());
    let state = PrefixState::load(&paths).unwrap();
    let vm0 = state.vm("vm0").unwrap();
    assert_eq!(vm0.snapshot_names(), ["s1"]);
    assert_eq!(vm0.disks()[0].path, vms[0].disks[0].overlay_stored);
    assert!(state.vm("vm1").unwrap().snapshot_names().is_empty());
    // a VM whose spec records it already is kept as it is
    assert_eq!(
        plan_snapshot(&state, "s1", &vms[..1], &|_, _| Ok(false)).unwrap(),
        [SnapshotFate::Kept]
    );
    assert_eq!(recover(&paths, &uses), None, "nothing left to repair");
}

#[test]
fn a_killed_snapshot_that_cannot_be_decided_waits() {
    let dir = tempfile::tempdir().unwrap();
    let paths = prefix(dir.path());
    let vms = vec![snapshot_vm(&paths, "vm0", "s1")];
    fs::write(&vms[0].disks[0].overlay, b"qcow2").unwrap();
    leave(
        &paths,
        Pending::Snapshot {
            name: "s1".into(),
            vms: vms.clone(),
        },
    );
    let unreachable =
        |_: &str, _: &Path| -> Result<bool> { Err(Error::new(ErrorKind::Libvirt, "no libvirt")) };
    assert_eq!(recover(&paths, &unreachable), None);
    assert!(path(&paths).exists() && vms[0].disks[0].overlay.exists());
    // once libvirt answers (the domain is down): rolled back
    let line = recover(&paths, &|_, _| Ok(false)).unwrap();
    assert!(
        line.starts_with("rolled back the snapshot 's1' of a killed lago snapshot"),
        "{line}"
    );
    assert!(!vms[0].disks[0].overlay.exists());
}

#[test]
fn a_killed_revert_loses_its_temporary_disks() {
    let dir = tempfile::tempdir().unwrap();
    let paths = prefix(dir.path());
    let temp = paths.images().join(".vm0_root.raw.revert.42");
    fs::write(&temp, b"").unwrap();
    leave(
        &paths,
        Pending::Revert {
            name: "s1".into(),
            temps: vec![temp.clone(), paths.images().join(".never-made")],
            disks_replaced: false,
        },
    );
    let line = recover(&paths, &|_, _| unreachable!()).unwrap();
    assert!(line.contains("run `lago revert s1` again"), "{line}");
    assert!(line.contains("of a killed lago revert (pid"), "{line}");
    assert!(!temp.exists() && !path(&paths).exists());
    leave(
        &paths,
        Pending::Revert {
            name: "s1".into(),
            temps: Vec::new(),
            disks_replaced: true,
        },
    );
    let line = recover(&paths, &|_, _| unreachable!()).unwrap();
    assert!(line.contains("`lago start` brings them back"), "{line}");
}

#[test]
fn a_killed_export_loses_its_outputs_and_the_folder_it_made() {
    let dir = tempfile::tempdir().unwrap();
    let paths = prefix(&dir.path().join("prefix"));
    let made_dir = dir.path().join("out");
    fs::create_dir(&made_dir).unwrap();
    let image = made_dir.join("vm0_root.raw");
    fs::write(&image, b"").unwrap();
    let kept_dir = dir.path().join("existing");
    fs::create_dir(&kept_dir).unwrap();
    fs::write(kept_dir.join("mine"), b"").unwrap();
    leave(
        &paths,
        Pending::Export {
            outputs: vec![image.clone(), made_dir.join("vm0_root.raw.hash")],
            created_dir: Some(made_dir.clone()),
        },
    );
    let line = recover(&paths, &|_, _| unreachable!()).unwrap();
    assert_eq!(
        line,
        format!(
            "removed the 1 files written by the export of a killed lago export (pid {})",
            u32::MAX - 1
        )
    );
    assert!(!made_dir.exists());
    // a folder it did not make, or that holds other files, stays
    leave(
        &paths,
        Pending::Export {
            outputs: vec![kept_dir.join("LagoInitFile")],
            created_dir: Some(kept_dir.clone()),
        },
    );
    recover(&paths, &|_, _| unreachable!()).unwrap();
    assert!(kept_dir.join("mine").exists());
}

#[test]
fn a_killed_destroy_is_reported_and_refuses_other_verbs_until_finished() {
    let dir = tempfile::tempdir().unwrap();
    let paths = prefix(dir.path());
    leave(
        &paths,
        Pending::Destroy {
            name: "default".into(),
        },
    );
    let line = recover(&paths, &|_, _| unreachable!()).unwrap();
    assert!(line.contains("of a killed lago destroy"), "{line}");
    assert!(line.contains("run `lago destroy -y` to finish"), "{line}");
    // the record stays until a destroy finishes
    let killed = killed_destroy(&paths).unwrap();
    let e = destroy_unfinished(&paths, &killed);
    assert!(e.message().contains("`lago destroy -y`"), "{}", e.message());
}
