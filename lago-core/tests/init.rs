//! `init` end to end on disk: a real template repository (a small raw image
//! made with qemu-img), real qemu-img overlays, real leases, and the
//! guarantee that a failed init leaves nothing behind.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use lago_core::Config;
use lago_core::ErrorKind;
use lago_core::Workdir;
use lago_core::disk;
use lago_core::ops::destroy::destroy;
use lago_core::ops::init::{InitOptions, init};
use lago_core::ops::status::status_info;
use lago_core::prefix::state::PrefixState;
use serde_json::Value;

struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        let root = std::env::temp_dir().join(format!("lago-init-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        let s = Scratch { root };
        s.make_repo();
        s
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p)
    }

    /// A file repo with template `tiny` version v1 (and an older v0).
    fn make_repo(&self) {
        let repo = self.path("repo");
        fs::create_dir_all(&repo).unwrap();
        for v in ["v0", "v1"] {
            let img = repo.join(format!("tiny-{v}.img"));
            let ok = Command::new("qemu-img")
                .args(["create", "-q", "-f", "raw"])
                .arg(&img)
                .arg("1M")
                .status()
                .unwrap();
            assert!(ok.success());
            let out = Command::new("sha1sum").arg(&img).output().unwrap();
            let hash = String::from_utf8(out.stdout).unwrap();
            fs::write(
                repo.join(format!("tiny-{v}.img.hash")),
                hash.split_whitespace().next().unwrap(),
            )
            .unwrap();
            fs::write(
                repo.join(format!("tiny-{v}.img.metadata")),
                format!(r#"{{"distro": "tiny", "version": "{v}", "nocloud": true}}"#),
            )
            .unwrap();
        }
        fs::write(
            repo.join("repo.metadata"),
            format!(
                r#"{{"name": "t", "sources": {{"local": {{"type": "file", "args": {{"root": "{}"}}}}}},
                   "templates": {{"tiny": {{"versions": {{
                       "v0": {{"source": "local", "handle": "tiny-v0.img", "timestamp": 1}},
                       "v1": {{"source": "local", "handle": "tiny-v1.img", "timestamp": 2}}}}}}}}}}"#,
                repo.display()
            ),
        )
        .unwrap();
    }

    fn config(&self) -> Config {
        let mut c = Config::new();
        c.set("lago", "lease_dir", self.path("leases").to_string_lossy());
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

    fn initfile(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, text).unwrap();
        p
    }

    fn leases(&self) -> Vec<String> {
        let Ok(dir) = fs::read_dir(self.path("leases")) else {
            return Vec::new();
        };
        let mut v: Vec<String> = dir
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".lease"))
            .collect();
        v.sort();
        v
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

const TWO_NETS: &str = "\
domains:
  vm0:
    memory: 512
    nics:
      - net: mgmt
      - net: data
        ip: 192.168.210.7
    disks:
      - template_name: tiny
        type: template
        name: root
        dev: vda
        format: qcow2
      - type: empty
        name: data
        size: 10M
        dev: vdb
        format: raw
  vm1:
    memory: 256
    nics:
      - net: mgmt
    disks:
      - template_name: tiny
        template_version: v0
        type: template
        name: root
        dev: vda
        format: qcow2
    metadata:
      deploy-scripts:
        - $LAGO_INITFILE_PATH/setup.sh
nets:
  mgmt:
    type: nat
    management: true
    dhcp: {start: 100, end: 254}
  data:
    type: nat
    gw: 192.168.210.1
";

fn spec_of(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn init_makes_a_lago_prefix() {
    let s = Scratch::new("ok");
    fs::write(s.path("setup.sh"), "#!/bin/sh\ntrue\n").unwrap();
    let initfile = s.initfile("LagoInitFile", TWO_NETS);
    let done = init(
        &InitOptions::new(s.path("work/.lago"), &initfile),
        &s.config(),
    )
    .unwrap();
    let p = &done.paths;
    assert!(p.initialized().is_file());
    // the state init hands over is what a later open reads from disk, and
    // writing it back keeps every byte of what init wrote
    assert_eq!(PrefixState::load(p).unwrap(), done.state);
    let virt = |f: &str| fs::read(p.virt().join(f)).unwrap();
    let files = ["env", "net-mgmt", "net-data", "vm-vm0", "vm-vm1"];
    let before: Vec<Vec<u8>> = files.iter().map(|f| virt(f)).collect();
    PrefixState::load(p).unwrap().save().unwrap();
    for (f, bytes) in files.iter().zip(&before) {
        assert_eq!(&virt(f), bytes, "{f}");
    }
    assert_eq!(fs::read_to_string(p.uuid()).unwrap(), done.uuid);
    let w = Workdir::load(s.path("work/.lago")).unwrap();
    assert_eq!(w.current().unwrap(), "default");

    // specs: addresses, management, images, template metadata, scripts
    let env = spec_of(&p.virt_env());
    assert_eq!(
        env,
        serde_json::json!({"nets": ["mgmt", "data"], "vms": ["vm0", "vm1"]})
    );
    let vm0 = spec_of(&p.virt_vm("vm0"));
    assert_eq!(vm0["mgmt_net"], "mgmt");
    assert_eq!(vm0["nics"][1]["ip"], "192.168.210.7");
    let mgmt_ip = vm0["nics"][0]["ip"].as_str().unwrap().to_string();
    assert!(
        mgmt_ip.starts_with("192.168.2") && mgmt_ip.ends_with(".2"),
        "{mgmt_ip}"
    );
    assert_eq!(
        vm0["disks"][0]["path"],
        "$LAGO_PREFIX_PATH/images/vm0_root.qcow2"
    );
    assert_eq!(vm0["disks"][0]["metadata"]["version"], "v1");
    assert_eq!(
        vm0["disks"][1]["path"],
        "$LAGO_PREFIX_PATH/images/vm0_data.raw"
    );
    assert_eq!(vm0["ssh-user"], "root");
    // NoCloud bootstrap (the template declares it): a seed per VM
    assert_eq!(
        vm0["nocloud-seed"],
        "$LAGO_PREFIX_PATH/images/vm0_cidata.img"
    );
    assert!(p.images().join("vm0_cidata.img").is_file());
    let vm1 = spec_of(&p.virt_vm("vm1"));
    assert_eq!(vm1["disks"][0]["metadata"]["version"], "v0");
    assert_eq!(
        vm1["metadata"]["deploy-scripts"][0],
        "$LAGO_PREFIX_PATH/scripts/_".to_string()
            + &s.path("setup.sh")
                .to_string_lossy()
                .trim_start_matches('/')
                .replace('/', "_")
    );
    let mgmt = spec_of(&p.virt_net("mgmt"));
    assert_eq!(mgmt["management"], true);
    assert_eq!(mgmt["dns_domain_name"], "lago.local");
    assert_eq!(mgmt["mapping"]["vm0"], mgmt_ip.as_str());
    assert_eq!(mgmt["dns_records"]["vm0-eth1"], "192.168.210.7");
    let data = spec_of(&p.virt_net("data"));
    assert_eq!(data["gw"], "192.168.210.1");
    assert_eq!(data["management"], false);

    // images: qcow2 overlays on the store's raw images, with -F raw
    let info = disk::info(&p.images().join("vm0_root.qcow2")).unwrap();
    assert_eq!(info.format, "qcow2");
    assert_eq!(info.backing_format.as_deref(), Some("raw"));
    assert!(info.backing_filename.unwrap().ends_with("t:tiny:v1"));
    assert_eq!(
        disk::info(&p.images().join("vm0_data.raw"))
            .unwrap()
            .virtual_size,
        10 * 1024 * 1024
    );

    // leases: the management net's and the given 210
    let leases = s.leases();
    assert_eq!(leases.len(), 2, "{leases:?}");
    assert!(leases.contains(&"210.lease".to_string()));

    // status reads it back
    let state = PrefixState::load(p).unwrap();
    let info = status_info(&state, |_| "down".into(), |_| false);
    assert_eq!(
        info["Prefix"]["VMs"]["vm0"]["NICs"]["eth1"]["ip"],
        "192.168.210.7"
    );
    assert_eq!(info["Prefix"]["VMs"]["vm1"]["distro"], "tiny");

    // destroy: leases released, prefix and workdir gone, store kept
    destroy(&w, "current", &s.config(), None).unwrap();
    assert!(s.leases().is_empty());
    assert!(!s.path("work/.lago").exists());
    assert!(s.path("store/t:tiny:v1").is_file());
}

#[test]
fn file_disks_by_url() {
    let s = Scratch::new("url");
    let src = s.path("src.raw");
    fs::write(&src, vec![7u8; 4096]).unwrap();
    // a one-shot HTTP server on loopback serving the same bytes
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut c, _) = listener.accept().unwrap();
        let mut req = [0u8; 1024];
        let _ = c.read(&mut req).unwrap();
        c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\nConnection: close\r\n\r\n")
            .unwrap();
        c.write_all(&[9u8; 4096]).unwrap();
    });
    let text = format!(
        "domains:\n  vm0:\n    bootstrap: false\n    nics: [{{net: n0}}]\n    disks:\n      - {{type: file, name: a, dev: vda, format: raw, url: 'file://{}'}}\n      - {{type: file, name: b, dev: vdb, format: raw, url: 'http://127.0.0.1:{port}/data.raw', path: '$LAGO_INITFILE_PATH/moved.raw'}}\nnets:\n  n0: {{type: nat}}\n",
        src.display()
    );
    let initfile = s.initfile("url.yaml", &text);
    let done = init(
        &InitOptions::new(s.path("work/.lago"), &initfile),
        &s.config(),
    )
    .unwrap();
    server.join().unwrap();
    let vm0 = spec_of(&done.paths.virt_vm("vm0"));
    let a = vm0["disks"][0]["path"].as_str().unwrap();
    assert_eq!(Path::new(a), done.paths.prefixed("src.raw"));
    assert_eq!(fs::read(a).unwrap(), vec![7u8; 4096]);
    assert_eq!(
        vm0["disks"][1]["path"].as_str().unwrap(),
        s.path("moved.raw").to_string_lossy()
    );
    assert_eq!(fs::read(s.path("moved.raw")).unwrap(), vec![9u8; 4096]);
}

#[test]
fn bad_input_leaves_nothing() {
    let s = Scratch::new("bad");
    let cases = [
        ("syntax", "domains:\n  vm0: [\n", ErrorKind::Config, "syntax.yaml:"),
        (
            "missing-template",
            &TWO_NETS.replace("template_name: tiny\n        type: template\n        name: root\n        dev: vda\n        format: qcow2\n      - type: empty", "template_name: nope\n        type: template\n        name: root\n        dev: vda\n        format: qcow2\n      - type: empty"),
            ErrorKind::NotFound,
            "nope",
        ),
        ("unknown-net", &TWO_NETS.replace("      - net: data\n", "      - net: dta\n"), ErrorKind::Config, "unknown network 'dta'"),
        // found only when the disk is made, after leases and images exist
        (
            "missing-file",
            &TWO_NETS.replace("type: empty\n        name: data\n        size: 10M", "type: file\n        name: data\n        path: /nonexistent/disk.raw"),
            ErrorKind::NotFound,
            "/nonexistent/disk.raw",
        ),
    ];
    for (name, text, kind, needle) in cases {
        let initfile = s.initfile(&format!("{name}.yaml"), text);
        let err = init(
            &InitOptions::new(s.path("work/.lago"), &initfile),
            &s.config(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), kind, "{name}: {}", err.full_message());
        assert!(
            err.full_message().contains(needle),
            "{name}: {}",
            err.full_message()
        );
        assert!(
            !s.path("work/.lago").exists(),
            "{name}: workdir left behind"
        );
        assert!(
            s.leases().is_empty(),
            "{name}: leases left behind: {:?}",
            s.leases()
        );
    }
}

#[test]
fn failure_in_an_existing_workdir_keeps_the_other_prefixes() {
    let s = Scratch::new("existing");
    fs::write(s.path("setup.sh"), "true\n").unwrap();
    let initfile = s.initfile("LagoInitFile", TWO_NETS);
    let wd = s.path("work/.lago");
    init(&InitOptions::new(&wd, &initfile), &s.config()).unwrap();
    let leases_before = s.leases();

    // same name again: refused, nothing touched
    let err = init(&InitOptions::new(&wd, &initfile), &s.config()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);

    // a second prefix whose disk step fails: only it disappears
    let broken = s.initfile(
        "broken.yaml",
        &TWO_NETS
            .replace("gw: 192.168.210.1", "gw: 192.168.211.1")
            .replace("ip: 192.168.210.7", "ip: 192.168.211.7")
            .replace("size: 10M", "size: lots"),
    );
    let mut opts = InitOptions::new(&wd, &broken);
    opts.prefix_name = "second".into();
    opts.set_current = true;
    let err = init(&opts, &s.config()).unwrap_err();
    assert!(
        err.full_message().contains("lots"),
        "{}",
        err.full_message()
    );
    let w = Workdir::load(&wd).unwrap();
    assert_eq!(w.prefix_names().unwrap(), ["default"]);
    assert_eq!(w.current().unwrap(), "default");
    assert_eq!(s.leases(), leases_before);

    // and a good second prefix becomes current when asked
    let mut opts = InitOptions::new(&wd, &initfile);
    opts.prefix_name = "second".into();
    opts.set_current = true;
    let err = init(&opts, &s.config()).unwrap_err();
    // 210 is leased by the first prefix
    assert!(err.full_message().contains("210"), "{}", err.full_message());
    let other = s.initfile(
        "other.yaml",
        &TWO_NETS.replace("192.168.210", "192.168.212"),
    );
    let mut opts = InitOptions::new(&wd, &other);
    opts.prefix_name = "second".into();
    opts.set_current = true;
    init(&opts, &s.config()).unwrap();
    assert_eq!(w.current().unwrap(), "second");
    assert_eq!(s.leases().len(), 4);
}

#[test]
fn twenty_inits_at_once_never_share_a_subnet() {
    let s = Scratch::new("twenty");
    let initfile = s.initfile(
        "one.yaml",
        "domains:\n  vm0:\n    nics: [{net: n0}]\n    disks: []\nnets:\n  n0: {type: nat}\n",
    );
    let config = s.config();
    std::thread::scope(|scope| {
        for i in 0..20 {
            let (initfile, config, wd) = (&initfile, &config, s.path(&format!("w{i}")));
            scope.spawn(move || init(&InitOptions::new(wd, initfile), config).unwrap());
        }
    });
    let mut gws: Vec<String> = (0..20)
        .map(|i| {
            let p = Workdir::load(s.path(&format!("w{i}")))
                .unwrap()
                .prefix("current")
                .unwrap();
            spec_of(&p.virt_net("n0"))["gw"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    gws.sort();
    gws.dedup();
    assert_eq!(gws.len(), 20, "{gws:?}");
    assert_eq!(s.leases().len(), 20);
}

/// Everything in `dir` whose name starts with `.staging-`.
fn staging_folders(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".staging-"))
        .collect()
}

#[test]
fn init_publishes_with_one_rename_and_a_dead_inits_staging_is_repaired() {
    use lago_core::Paths;
    use lago_core::lease::SubnetStore;
    use lago_core::owner::Owner;
    use lago_core::prefix::staging::{self, InitRecord};

    let s = Scratch::new("staging");
    let initfile = s.initfile(
        "one.yaml",
        "domains:\n  vm0:\n    nics: [{net: n0}]\n    disks: []\nnets:\n  n0: {type: nat}\n",
    );
    let workdir = s.path("work/.lago");
    // a killed init's staging folder, holding the first subnet
    fs::create_dir_all(&workdir).unwrap();
    let dead = Owner {
        pid: u32::MAX - 1,
        start_time: 1,
        verb: "init".into(),
    };
    let half = Paths::new(workdir.join(staging::staging_name("default", &dead)));
    fs::create_dir(half.prefix_path()).unwrap();
    fs::write(half.uuid(), "0123").unwrap();
    fs::write(
        half.prefixed(".sysprep-vm0"),
        "root-password password:secret\n",
    )
    .unwrap();
    InitRecord {
        owner: dead,
        name: "default".into(),
        lease_dir: s.path("leases"),
    }
    .write(&half)
    .unwrap();
    let held = SubnetStore::new(s.path("leases"))
        .acquire(&half.uuid(), "0123", None)
        .unwrap();
    assert_eq!(held.subnet.third_octet(), 200);

    // the next init removes it, gets the subnet, and leaves no staging
    let done = init(&InitOptions::new(&workdir, &initfile), &s.config()).unwrap();
    assert_eq!(
        done.paths.prefix_path(),
        fs::canonicalize(&workdir).unwrap().join("default")
    );
    assert!(staging_folders(&workdir).is_empty());
    assert!(!done.paths.prefixed(staging::INIT_RECORD).exists());
    assert_eq!(s.leases(), vec!["200.lease".to_string()]);
    let lease = fs::read_to_string(s.path("leases/200.lease")).unwrap();
    assert!(
        lease.contains(&format!("\"{}\"", done.paths.uuid().display())),
        "{lease}"
    );
    assert_eq!(
        Workdir::load(&workdir).unwrap().prefix_names().unwrap(),
        vec!["default".to_string()]
    );

    // a live init making the same name is named, not raced
    let busy = workdir.join(staging::staging_name("second", &Owner::current("init")));
    fs::create_dir(&busy).unwrap();
    let mut opts = InitOptions::new(&workdir, &initfile);
    opts.prefix_name = "second".into();
    let err = init(&opts, &s.config()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(
        err.to_string().contains(&format!(
            "is being made by lago init (pid {})",
            std::process::id()
        )),
        "{err}"
    );
    assert!(busy.exists());
    fs::remove_dir(&busy).unwrap();
    destroy(
        &Workdir::load(&workdir).unwrap(),
        "current",
        &s.config(),
        None,
    )
    .unwrap();
    assert!(s.leases().is_empty());
    assert!(!workdir.exists());
}

/// A destroy killed after it released the leases (phase
/// `destroy:released`) leaves its pending-operation record: every verb but
/// destroy refuses the prefix saying to run `lago destroy -y`, and that
/// finishes it (no folder, no lease, no workdir left).
#[test]
fn a_destroy_killed_after_the_leases_went_is_finished_by_the_next_destroy() {
    use lago_core::prefix::journal;
    use std::sync::Arc;

    let s = Scratch::new("killed-destroy");
    let initfile = s.initfile(
        "LagoInitFile",
        "domains:\n  vm0:\n    nics: [{net: n0}]\n    disks: [{type: empty, name: d, size: 1M, dev: vda, format: raw}]\nnets:\n  n0: {type: nat, management: true}\n",
    );
    let workdir = s.path("work/.lago");
    let done = init(&InitOptions::new(&workdir, &initfile), &s.config()).unwrap();
    assert_eq!(s.leases().len(), 1);
    // what the killed destroy did: leases released, its record left by a
    // process that is gone
    lago_core::lease::SubnetStore::new(s.path("leases"))
        .release_all_of(&done.paths.uuid())
        .unwrap();
    let record = serde_json::json!({
        "owner": {"pid": u32::MAX - 1, "start_time": 1, "verb": "destroy"},
        "op": {"kind": "destroy", "name": "default"},
    });
    fs::write(journal::path(&done.paths), record.to_string()).unwrap();

    let open = || {
        let lv = lago_core::provider::libvirt::Libvirt::connect("test:///default").unwrap();
        lago_core::Env::load(&workdir, "current", s.config())
            .unwrap()
            .with_provider(Arc::new(lv), String::new())
    };
    let e = open().start(&[]).unwrap_err();
    assert!(
        e.message().contains("killed lago destroy") && e.message().contains("`lago destroy -y`"),
        "{}",
        e.message()
    );
    assert!(s.leases().is_empty(), "start took no lease");
    open().destroy().unwrap();
    assert!(!workdir.exists());
    assert!(s.leases().is_empty());
}
