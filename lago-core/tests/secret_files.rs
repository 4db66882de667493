//! Files holding secrets, without guests: an `init` run with umask 000 and
//! `TMPDIR` pointed at an empty folder, for VMs with a root password and a
//! NoCloud seed. Every file of the prefix that holds the password (the VM
//! records, the seed image) and the private key are 0600 — a file made
//! with the default mode and never narrowed would be 0666 under this umask —
//! and nothing at all is left in `TMPDIR`.
//!
//! One test only: the umask and `TMPDIR` are the whole process's.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use lago_core::Config;
use lago_core::Workdir;
use lago_core::ops::destroy::destroy;
use lago_core::ops::init::{InitOptions, init};
use lago_core::prefix::layout;
use lago_core::{HostKey, KnownHosts};

const PASSWORD: &str = "pw-h6-Zq81";

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every regular file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        if ty.is_dir() {
            out.extend(files_under(&entry.path()));
        } else if ty.is_file() {
            out.push(entry.path());
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A file repository with template `tiny` (NoCloud), a 1 MiB raw image.
fn make_repo(repo: &Path) {
    fs::create_dir_all(repo).unwrap();
    let img = repo.join("tiny.img");
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
        repo.join("tiny.img.hash"),
        hash.split_whitespace().next().unwrap(),
    )
    .unwrap();
    fs::write(
        repo.join("tiny.img.metadata"),
        r#"{"distro": "tiny", "version": "v1", "nocloud": true}"#,
    )
    .unwrap();
    fs::write(
        repo.join("repo.metadata"),
        format!(
            r#"{{"name": "t", "sources": {{"local": {{"type": "file", "args": {{"root": "{}"}}}}}},
               "templates": {{"tiny": {{"versions": {{
                   "v1": {{"source": "local", "handle": "tiny.img", "timestamp": 1}}}}}}}}}}"#,
            repo.display()
        ),
    )
    .unwrap();
}

#[test]
fn secrets_are_private_from_creation_and_never_in_tmpdir() {
    let root = std::env::temp_dir().join(format!("lago-secret-files-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    let tmpdir = root.join("tmpdir");
    fs::create_dir(&tmpdir).unwrap();
    // SAFETY: the only test of this binary, before it starts any thread
    unsafe { std::env::set_var("TMPDIR", &tmpdir) };
    assert_eq!(std::env::temp_dir(), tmpdir);
    // SAFETY: umask is a plain syscall on the process
    unsafe { libc::umask(0) };

    make_repo(&root.join("repo"));
    let initfile = root.join("LagoInitFile");
    fs::write(
        &initfile,
        format!(
            "domains:\n  vm0:\n    memory: 256\n    root-password: {PASSWORD}\n    nics: [{{net: mgmt}}]\n    \
             disks: [{{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}}]\n\
             nets:\n  mgmt: {{type: nat, management: true}}\n"
        ),
    )
    .unwrap();
    let mut config = Config::new();
    config.set("lago", "lease_dir", root.join("leases").to_string_lossy());
    config.set(
        "init",
        "template_store",
        root.join("store").to_string_lossy(),
    );
    config.set(
        "init",
        "template_repo_path",
        root.join("repo/repo.metadata").to_string_lossy(),
    );
    let done = init(
        &InitOptions::new(root.join("work/.lago"), &initfile),
        &config,
    )
    .unwrap();
    let prefix = done.paths.prefix_path().to_path_buf();

    // the private key, and every file that holds the password
    assert_eq!(mode(&done.paths.ssh_id_rsa()), 0o600, "id_rsa");
    // but not the uuid, which other users' lago reads to check a lease
    assert_eq!(mode(&done.paths.uuid()), 0o666, "uuid: the default mode");
    let holding: Vec<PathBuf> = files_under(&prefix)
        .into_iter()
        .filter(|f| contains(&fs::read(f).unwrap(), PASSWORD.as_bytes()))
        .collect();
    let names: Vec<String> = holding
        .iter()
        .map(|f| f.strip_prefix(&prefix).unwrap().display().to_string())
        .collect();
    for want in ["virt/vm-vm0", "images/vm0_cidata.img"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    for f in &holding {
        assert_eq!(mode(f), 0o600, "{} holds the password", f.display());
    }
    // the rest of what lago writes in virt/ too (a record may get one later)
    for f in files_under(&prefix.join("virt")) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }

    // a known_hosts file made now
    let kh = KnownHosts::new(prefix.join("known_hosts"));
    let mut blob = Vec::new();
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend_from_slice(&[7; 32]);
    kh.record("192.168.1.2", &HostKey::from_blob(&blob).unwrap())
        .unwrap();
    assert_eq!(mode(kh.path()), 0o600, "known_hosts");

    // a private file is 0600 before its first byte, umask 000 or not
    let fresh = layout::create_private(&root.join("fresh")).unwrap();
    assert_eq!(fresh.metadata().unwrap().len(), 0);
    assert_eq!(
        fresh.metadata().unwrap().permissions().mode() & 0o777,
        0o600
    );

    // nothing of init's in TMPDIR
    let left: Vec<PathBuf> = fs::read_dir(&tmpdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");

    destroy(
        &Workdir::load(root.join("work/.lago")).unwrap(),
        "current",
        &config,
        None,
    )
    .unwrap();
    fs::remove_dir_all(&root).unwrap();
}
