//! `export` on disk, without guests: a real template repository (a small raw
//! image), real qemu-img overlays, layered and standalone exports, their
//! `.hash` and `.metadata` files, the init file's filters, and `init` from
//! the exported init file (the layered one linking its template from the
//! store). The VMs' states come from a closure or libvirt's test driver.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use lago_core::BootstrapChoice as Choice;
use lago_core::Config;
use lago_core::Env;
use lago_core::ErrorKind;
use lago_core::ops::export::{self, ExportOptions};
use lago_core::ops::init::InitOptions;
use lago_core::provider::libvirt::Libvirt;
use serde_json::Value;

struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        let root = std::env::temp_dir().join(format!("lago-export-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("repo")).unwrap();
        let img = root.join("repo/tiny.img");
        // a raw "template" with data in its first MiB
        let mut data = vec![0u8; 4 << 20];
        data[..1 << 20].fill(0x5a);
        fs::write(&img, &data).unwrap();
        fs::write(
            root.join("repo/tiny.img.hash"),
            export::sha1_file(&img).unwrap(),
        )
        .unwrap();
        fs::write(
            root.join("repo/tiny.img.metadata"),
            r#"{"distro": "tiny", "nocloud": true}"#,
        )
        .unwrap();
        fs::write(
            root.join("repo/repo.metadata"),
            format!(
                r#"{{"name": "rp", "sources": {{"local": {{"type": "file", "args": {{"root": "{}"}}}}}},
                   "templates": {{"tiny": {{"versions": {{
                       "v1": {{"source": "local", "handle": "tiny.img", "timestamp": 2}}}}}}}}}}"#,
                root.join("repo").display()
            ),
        )
        .unwrap();
        Scratch { root }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p)
    }

    fn config(&self, leases: &str) -> Config {
        let mut c = Config::new();
        c.set("lago", "lease_dir", self.path(leases).to_string_lossy());
        c.set(
            "init",
            "template_store",
            self.path("store").to_string_lossy(),
        );
        c.set(
            "init",
            "template_repo_path",
            self.path("repo/repo.metadata").to_string_lossy(),
        );
        c
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

const ENV: &str = "\
domains:
  vm0:
    memory: 256
    nics: [{net: mgmt}]
    metadata: {deploy-scripts: []}
    disks:
      - {template_name: tiny, template_version: v1, type: template, name: root, dev: vda, format: qcow2}
      - {type: empty, name: data, dev: vdb, format: qcow2, size: 8M}
      - {type: empty, name: scratch, dev: vdc, format: raw, size: 1M, skip-export: true}
  vm1:
    memory: 256
    nics: [{net: mgmt}]
    disks:
      - {template_name: tiny, type: template, name: root, dev: vda, format: qcow2}
  vm2:
    memory: 256
    skip-export: true
    nics: [{net: mgmt}]
    disks:
      - {template_name: tiny, type: template, name: root, dev: vda, format: qcow2}
nets:
  mgmt: {type: nat, management: true}
";

fn env(s: &Scratch, initfile: &Path, workdir: &str, leases: &str) -> Env {
    let mut opts = InitOptions::new(s.path(workdir), initfile);
    opts.bootstrap = Choice::NoCloud;
    let env = Env::init(&opts, s.config(leases)).unwrap();
    env.with_provider(
        Arc::new(Libvirt::connect("test:///default").unwrap()),
        String::new(),
    )
}

fn qemu_info(path: &Path) -> Value {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "--backing-chain", "-U"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Writes a marker into the guest-visible data of a VM's root overlay.
fn write_into(image: &Path) {
    let ok = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0x77 2M 64k"])
        .arg(image)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

fn read_back(image: &Path, fmt: &str, pattern: &str, at: &str) -> bool {
    let out = Command::new("qemu-io")
        .args(["-f", fmt, "-r", "-c"])
        .arg(format!("read -P {pattern} {at} 64k"))
        .arg(image)
        .output()
        .unwrap();
    out.status.success()
        && !String::from_utf8_lossy(&out.stdout).contains("Pattern verification failed")
}

#[test]
fn checks_come_before_anything_is_written() {
    let s = Scratch::new("checks");
    fs::write(s.path("LagoInitFile"), ENV).unwrap();
    let env = env(&s, &s.path("LagoInitFile"), "w", "leases");
    let state = env.state();
    let dst = s.path("out");
    let opts = ExportOptions::new(&dst);

    let err = export::export(&state, &opts, &|vm| Ok(vm != "vm2")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.message(), "The following vms must be off:\nvm0\nvm1");
    assert!(!dst.exists());

    let mut named = opts.clone();
    named.vms = vec!["vm1".into(), "nope".into()];
    let err = export::export(&state, &named, &|_| Ok(false)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.message(), "Entity nope does not exist");
    assert!(!dst.exists());

    // a skip-export VM is not asked about and not exported
    let mut collect = opts.clone();
    collect.collect_only = true;
    let got = export::export(&state, &collect, &|vm| Ok(vm == "vm2")).unwrap();
    let prefix = env.paths().prefix_path().to_path_buf();
    assert_eq!(
        got,
        serde_json::json!({
            "vm0": [prefix.join("images/vm0_root.qcow2"), prefix.join("images/vm0_data.qcow2")],
            "vm1": [prefix.join("images/vm1_root.qcow2")],
        })
    );
    assert!(!dst.exists(), "collect_only writes nothing");

    // an existing file is never overwritten, and nothing else is written
    fs::create_dir_all(&dst).unwrap();
    fs::write(dst.join("vm1_root.qcow2.hash"), "x").unwrap();
    let err = env.export(&opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert_eq!(fs::read_dir(&dst).unwrap().count(), 1);
    env.destroy().unwrap();
}

#[test]
fn layered_and_standalone_exports_init_again() {
    let s = Scratch::new("roundtrip");
    fs::write(s.path("LagoInitFile"), ENV).unwrap();
    let env = env(&s, &s.path("LagoInitFile"), "w", "leases");
    let prefix = env.paths().prefix_path().to_path_buf();
    write_into(&prefix.join("images/vm0_root.qcow2"));

    // layered
    let layered = s.path("layered");
    let got = env.export(&ExportOptions::new(&layered)).unwrap();
    assert_eq!(got["vm0"].as_array().unwrap().len(), 2);
    assert_eq!(
        got["init-file"],
        Value::from(layered.join("LagoInitFile").to_string_lossy())
    );
    assert!(got.get("vm2").is_none());
    let root = layered.join("vm0_root.qcow2");
    assert!(
        !layered.join("tiny:v1").exists(),
        "the template is not copied"
    );
    let top = &qemu_info_one(&root);
    assert_eq!(top["backing-filename"], "./tiny:v1");
    assert_eq!(top["backing-filename-format"], "raw");
    for img in ["vm0_root.qcow2", "vm0_data.qcow2", "vm1_root.qcow2"] {
        let p = layered.join(img);
        let hash = fs::read_to_string(layered.join(format!("{img}.hash"))).unwrap();
        assert_eq!(hash, export::sha1_file(&p).unwrap());
        let meta: Value = serde_json::from_str(
            &fs::read_to_string(layered.join(format!("{img}.metadata"))).unwrap(),
        )
        .unwrap();
        assert_eq!(meta["sha1"], Value::from(hash.as_str()));
        assert_eq!(meta["size"], fs::metadata(&p).unwrap().len());
        assert_eq!(meta["name"], img);
        let version = meta["version"].as_str().unwrap();
        assert!(version.len() == 10 && version.ends_with(".0"), "{version}");
        if img.ends_with("root.qcow2") {
            assert_eq!(meta["base"], img, "layered: the source image");
            assert_eq!(meta["distro"], "tiny", "the disk's metadata is kept");
        } else {
            assert_eq!(meta["base"], "None");
        }
    }
    assert!(
        !layered.join("vm0_scratch.raw").exists(),
        "skip-export disk"
    );
    let text = fs::read_to_string(layered.join("LagoInitFile")).unwrap();
    // the init file may carry root passwords: private to its owner
    assert_eq!(
        fs::metadata(layered.join("LagoInitFile"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let spec: Value = serde_yaml::from_str(&text).unwrap();
    let vm0 = &spec["domains"]["vm0"];
    assert!(spec["domains"].get("vm2").is_none());
    assert!(vm0.get("name").is_none() && vm0.get("snapshots").is_none());
    assert!(vm0["metadata"].get("deploy-scripts").is_none());
    assert!(spec["nets"]["mgmt"].get("mapping").is_none());
    assert!(spec["nets"]["mgmt"].get("dns_records").is_none());
    let disks = vm0["disks"].as_array().unwrap();
    assert_eq!(disks.len(), 2);
    assert_eq!(disks[0]["template_type"], "qcow2");
    assert_eq!(disks[0]["path"], "$LAGO_INITFILE_PATH/vm0_root.qcow2");
    assert!(disks[0].get("metadata").is_none());
    assert_eq!(disks[1]["type"], "file");
    assert_eq!(disks[1]["make_a_copy"], "True");

    // standalone, JSON init file, not in parallel
    let standalone = s.path("standalone");
    let mut opts = ExportOptions::new(&standalone);
    opts.standalone = true;
    opts.init_file_json = true;
    opts.init_file_name = Some("init.json".into());
    opts.parallel = false;
    opts.vms = vec!["vm0".into()];
    let got = env.export(&opts).unwrap();
    assert!(got.get("vm1").is_none());
    let root = standalone.join("vm0_root.qcow2");
    assert!(qemu_info_one(&root).get("backing-filename").is_none());
    assert!(
        read_back(&root, "qcow2", "0x77", "2M"),
        "the VM's write is in"
    );
    assert!(
        read_back(&root, "qcow2", "0x5a", "0"),
        "the template's data is in"
    );
    let meta: Value = serde_json::from_str(
        &fs::read_to_string(standalone.join("vm0_root.qcow2.metadata")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["base"], "None");
    let spec: Value =
        serde_json::from_str(&fs::read_to_string(standalone.join("init.json")).unwrap()).unwrap();
    assert_eq!(spec["domains"]["vm0"]["disks"][0]["template_type"], "qcow2");
    env.destroy().unwrap();

    // init again from each: the layered one links its template next to it
    for (dir, file) in [(&standalone, "init.json"), (&layered, "LagoInitFile")] {
        let again = self::env(&s, &dir.join(file), &format!("again-{file}"), "leases2");
        let image = again.paths().prefix_path().join("images/vm0_root.qcow2");
        let chain = qemu_info(&image);
        let chain = chain.as_array().unwrap();
        assert!(
            read_back(&image, "qcow2", "0x77", "2M"),
            "{file}: the write survives"
        );
        assert!(
            read_back(&image, "qcow2", "0x5a", "0"),
            "{file}: the template's data"
        );
        if dir == &layered {
            assert_eq!(chain.len(), 3, "overlay -> exported layer -> template");
            let link = layered.join("tiny:v1");
            assert_eq!(
                fs::read_link(&link).unwrap(),
                s.path("store/rp:tiny:v1"),
                "linked from the store"
            );
        } else {
            assert_eq!(chain.len(), 2, "overlay -> exported image");
        }
        again.destroy().unwrap();
    }
}

fn qemu_info_one(path: &Path) -> Value {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn more_than_one_layer_cannot_be_exported_layered() {
    let s = Scratch::new("layers");
    fs::write(s.path("LagoInitFile"), ENV).unwrap();
    let env = env(&s, &s.path("LagoInitFile"), "w", "leases");
    // re-init from a standalone export: vm0's root is now overlay -> export
    let standalone = s.path("standalone");
    let mut opts = ExportOptions::new(&standalone);
    opts.standalone = true;
    env.export(&opts).unwrap();
    env.destroy().unwrap();
    let again = self::env(&s, &standalone.join("LagoInitFile"), "again", "leases2");
    let layered = s.path("layered");
    // the standalone export became the template: one layer, fine
    again.export(&ExportOptions::new(&layered)).unwrap();
    fs::remove_dir_all(&layered).unwrap();
    // one more layer under the root overlay: two layers
    let image = again.paths().prefix_path().join("images/vm0_root.qcow2");
    let mid = s.path("mid.qcow2");
    fs::rename(&image, &mid).unwrap();
    let ok = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(&mid)
        .arg(&image)
        .status()
        .unwrap();
    assert!(ok.success());
    let err = again.export(&ExportOptions::new(&layered)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.message()
            .starts_with("Layered export is currently supported for one layer only"),
        "{err}"
    );
    assert!(!layered.exists(), "nothing written");
    again.destroy().unwrap();
}

/// One progress event: (task, done, total, finished, aborted).
type ProgressEvent = (String, u64, u64, bool, bool);

/// Progress events (`lago::progress`) seen by the capturing subscriber,
/// with the thread that sent each.
#[derive(Default)]
struct Seen(std::sync::Mutex<Vec<(std::thread::ThreadId, ProgressEvent)>>);

/// The capturing subscriber, installed once as this test binary's global
/// one: a scoped (`with_default`) subscriber lost every event in about one
/// run of three, when other tests' threads met the progress callsite with
/// no subscriber. Tests keep the events of their own thread.
fn captured() -> &'static Arc<Seen> {
    static SEEN: std::sync::OnceLock<Arc<Seen>> = std::sync::OnceLock::new();
    SEEN.get_or_init(|| {
        let seen = Arc::new(Seen::default());
        tracing::subscriber::set_global_default(Capture(seen.clone()))
            .expect("no other global subscriber in this test binary");
        seen
    })
}

#[derive(Default)]
struct ProgressFields(String, u64, u64, bool, bool);

impl tracing::field::Visit for ProgressFields {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        if f.name() == "task" {
            self.0 = format!("{v:?}");
        }
    }
    fn record_u64(&mut self, f: &tracing::field::Field, v: u64) {
        match f.name() {
            "done" => self.1 = v,
            "total" => self.2 = v,
            _ => {}
        }
    }
    fn record_bool(&mut self, f: &tracing::field::Field, v: bool) {
        match f.name() {
            "finished" => self.3 = v,
            "aborted" => self.4 = v,
            _ => {}
        }
    }
}

struct Capture(Arc<Seen>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() != lago_core::progress::TARGET {
            return;
        }
        let mut f = ProgressFields::default();
        event.record(&mut f);
        self.0
            .0
            .lock()
            .unwrap()
            .push((std::thread::current().id(), (f.0, f.1, f.2, f.3, f.4)));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn export_reports_progress_per_disk_and_overall() {
    let s = Scratch::new("progress");
    fs::write(s.path("LagoInitFile"), ENV).unwrap();
    let env = env(&s, &s.path("LagoInitFile"), "w", "leases");
    let mut opts = ExportOptions::new(s.path("out"));
    opts.parallel = false; // the events are kept by the thread that sends them
    let seen = captured();
    env.export(&opts).unwrap();
    let me = std::thread::current().id();
    let events: Vec<ProgressEvent> = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(thread, _)| *thread == me)
        .map(|(_, e)| e.clone())
        .collect();
    let of = |task: &str| -> Vec<_> { events.iter().filter(|e| e.0 == task).cloned().collect() };
    let overall = of("exporting disks");
    assert_eq!(
        overall.first(),
        Some(&("exporting disks".into(), 0, 3, false, false))
    );
    assert_eq!(
        overall.last(),
        Some(&("exporting disks".into(), 3, 3, true, false))
    );
    for disk in ["vm0_root.qcow2", "vm0_data.qcow2", "vm1_root.qcow2"] {
        // the copy and the hash, each in bytes from none to all: the copy's
        // total is what the source occupies, the hash's the copy's length
        let dst = s.path("out").join(disk);
        let copied = fs::metadata(&dst).unwrap().len();
        for (task, total) in [
            (format!("exporting VM '{}' disk {disk}", &disk[..3]), None),
            (format!("hashing {disk}"), Some(copied)),
        ] {
            let steps = of(&task);
            let (first, last) = (steps.first().unwrap(), steps.last().unwrap());
            assert_eq!((first.1, first.3), (0, false), "{task}: {events:?}");
            assert!(first.2 > 0, "{task}: a total in bytes: {first:?}");
            if let Some(total) = total {
                assert_eq!(first.2, total, "{task}");
            }
            assert_eq!(
                (last.1, last.2, last.3, last.4),
                (first.2, first.2, true, false),
                "{task}"
            );
        }
    }

    // compressed: xz is fed the whole image, counted
    let mut opts = ExportOptions::new(s.path("packed"));
    opts.parallel = false;
    opts.compress = true;
    opts.vms = vec!["vm1".into()];
    let before = seen.0.lock().unwrap().len();
    env.export(&opts).unwrap();
    let packing: Vec<ProgressEvent> = seen.0.lock().unwrap()[before..]
        .iter()
        .filter(|(thread, e)| *thread == me && e.0 == "compressing vm1_root.qcow2")
        .map(|(_, e)| e.clone())
        .collect();
    let hashed = fs::read_to_string(s.path("packed/vm1_root.qcow2.hash")).unwrap();
    let unpacked = std::process::Command::new("xz")
        .arg("-dc")
        .arg(s.path("packed/vm1_root.qcow2.xz"))
        .output()
        .unwrap();
    assert!(unpacked.status.success());
    let size = unpacked.stdout.len() as u64;
    assert_eq!(
        packing.first().map(|e| (e.1, e.2, e.3)),
        Some((0, size, false))
    );
    assert_eq!(
        packing.last().map(|e| (e.1, e.2, e.3, e.4)),
        Some((size, size, true, false))
    );
    assert!(!s.path("packed/vm1_root.qcow2").exists());
    assert_eq!(hashed.len(), 40);
    env.destroy().unwrap();
}
