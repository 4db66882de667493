//! Collect, deploy and the Ansible inventory on real guests, through
//! [`Env`]: one 2-VM env of the `tiny` template, reused for every check —
//! artifacts (a folder, a file, a missing path: an error, then skipped)
//! over tar+gzip on SSH, rotation of an earlier output, a per-VM path list,
//! a stopped VM read with libguestfs, deploy scripts (one succeeding, one
//! failing), the inventory text against the env's addresses, and a real
//! `ansible -m raw` run over that inventory.
//!
//!     tests/host/run cargo test -p lago-core --test guest_ops -- --ignored
//!
//! `ansible` comes from `$LAGO_TEST_ANSIBLE` or `PATH` (tests/run-all
//! installs ansible-core).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // test code

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lago_core::Config;
use lago_core::Env;
use lago_core::ErrorKind;
use lago_core::ops::init::InitOptions;

const T: Duration = Duration::from_secs(60);

const INITFILE: &str = "\
domains:
  vm0:
    memory: 256
    vcpu: 1
    nics: [{net: mgmt}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
    groups: [web, db]
    artifacts: [/srv/art, /srv/note.txt, /srv/nope]
    metadata:
      deploy-scripts: [$LAGO_INITFILE_PATH/ok.sh]
  vm1:
    memory: 256
    vcpu: 1
    nics: [{net: mgmt}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
    groups: ab
    artifacts: [/srv/art, /srv/note.txt, /srv/nope]
    metadata:
      deploy-scripts: [$LAGO_INITFILE_PATH/ok.sh, $LAGO_WORKDIR_PATH/../fail.sh]
nets:
  mgmt: {type: nat, management: true, gw: 192.168.243.1, dhcp: {start: 100, end: 254}}
";

fn scratch() -> (PathBuf, Config) {
    support::scratch::scratch("lago-guest-ops")
}

/// Destroys the env when the test ends, also when it panics, so no
/// domain or network is left on the shared daemon.
struct Teardown(Option<Env>);

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Some(env) = self.0.take() {
            env.destroy().ok();
        }
    }
}

fn sh(env: &Env, vm: &str, cmd: &str) -> String {
    let r = env
        .ssh(vm, &["sh".into(), "-c".into(), cmd.into()], T)
        .unwrap();
    assert_eq!(r.code, 0, "{vm}: {cmd}: {}", r.stderr_lossy());
    r.stdout_lossy()
}

/// Entries of a folder other than the staging leftovers this test forbids.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// `deref`: the symbolic link arrives as the file it points to (tar
/// `--dereference` over SSH); libguestfs keeps it a link.
fn check_artifacts(vm_dir: &Path, vm: &str, deref: bool) {
    assert_eq!(names(vm_dir), ["_srv_art", "_srv_note.txt"], "{vm}");
    assert_eq!(
        fs::read_to_string(vm_dir.join("_srv_note.txt")).unwrap(),
        format!("note of {vm}\n")
    );
    assert_eq!(
        fs::read(vm_dir.join("_srv_art/sub/data.bin")).unwrap(),
        (0..=255u8).cycle().take(70_000).collect::<Vec<_>>()
    );
    let link = vm_dir.join("_srv_art/link");
    if deref {
        assert!(!fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(fs::read_to_string(link).unwrap(), format!("note of {vm}\n"));
    } else {
        assert_eq!(fs::read_link(link).unwrap(), Path::new("/srv/note.txt"));
    }
}

#[test]
#[ignore = "real guests: tests/host/run cargo test -p lago-core --test guest_ops -- --ignored"]
fn collect_deploy_inventory() {
    support::guest::require_namespace();
    let (root, config) = scratch();
    let initfile = root.join("LagoInitFile");
    fs::write(&initfile, INITFILE).unwrap();
    fs::write(
        root.join("ok.sh"),
        "echo \"deployed on $(hostname)\" > /root/deployed\necho to-stdout\n",
    )
    .unwrap();
    fs::write(
        root.join("fail.sh"),
        "echo \"I'm going to fail\"\necho boom >&2\nexit 3\n",
    )
    .unwrap();
    let workdir = root.join(".lago");
    let t0 = Instant::now();
    let mut guard = Teardown(Some(
        Env::init(&InitOptions::new(&workdir, &initfile), config.clone()).unwrap(),
    ));
    let env = guard.0.as_ref().unwrap();
    println!("init: {:.2?}", t0.elapsed());
    // the scripts were copied into the prefix ($LAGO_WORKDIR_PATH expanded)
    let scripts = env.paths().scripts();
    assert_eq!(names(&scripts).len(), 2, "{:?}", names(&scripts));

    let t0 = Instant::now();
    env.start(&[]).unwrap();
    env.wait_for_ssh_all(&[], None).unwrap();
    println!("start -> SSH: {:.2?}", t0.elapsed());
    for vm in ["vm0", "vm1"] {
        sh(
            env,
            vm,
            &format!(
                "mkdir -p /srv/art/sub && echo 'note of {vm}' > /srv/note.txt && \
                 ln -s /srv/note.txt /srv/art/link"
            ),
        );
        let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let local = root.join(format!("data-{vm}.bin"));
        fs::write(&local, &data).unwrap();
        env.copy_to(vm, &local, Path::new("/srv/art/sub/data.bin"))
            .unwrap();
        sh(env, vm, "sync");
    }

    // a missing path fails, and leaves nothing behind
    let out = root.join("out");
    let err = env.collect(&out, false, &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{}", err.full_message());
    assert!(
        err.message()
            .contains("/srv/nope: No such file or directory"),
        "{}",
        err.message()
    );
    assert!(!out.exists());
    let leftovers: Vec<String> = names(&root)
        .into_iter()
        .filter(|n| n.contains("lago-collect") || n.starts_with("out"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // ignored: both VMs collected (tar+gzip over SSH)
    let t0 = Instant::now();
    env.collect(&out, true, &[]).unwrap();
    println!("collect (2 VMs, tar over SSH): {:.2?}", t0.elapsed());
    assert_eq!(names(&out), ["vm0", "vm1"]);
    for vm in ["vm0", "vm1"] {
        check_artifacts(&out.join(vm), vm, true);
    }

    // a second collect rotates the first output
    fs::write(out.join("marker"), "first").unwrap();
    env.collect(&out, true, &["vm1".to_string()]).unwrap();
    assert_eq!(names(&out), ["vm1"]);
    let rotated: Vec<String> = names(&root)
        .into_iter()
        .filter(|n| n.starts_with("out."))
        .collect();
    assert_eq!(rotated.len(), 1, "{rotated:?}");
    assert_eq!(
        fs::read_to_string(root.join(&rotated[0]).join("marker")).unwrap(),
        "first"
    );
    assert!(rotated[0].len() == "out.".len() + 19, "{}", rotated[0]);

    // a guest without tar: SFTP, path by path (links stay links)
    sh(env, "vm0", "mv /usr/bin/tar /usr/bin/tar.off");
    let sftp_out = root.join("sftp");
    let collected = env.collect(&sftp_out, true, &["vm0".to_string()]);
    sh(env, "vm0", "mv /usr/bin/tar.off /usr/bin/tar");
    collected.unwrap();
    check_artifacts(&sftp_out.join("vm0"), "vm0", false);

    // a per-VM path list (VM plugins' _artifact_paths())
    let dest = root.join("one");
    env.collect_vm("vm0", &["/srv/note.txt".into()], &dest, false)
        .unwrap();
    assert_eq!(names(&dest), ["_srv_note.txt"]);
    let err = env
        .collect_vm("vm0", &["/srv/note.txt".into()], &dest, false)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{}", err.message());
    // extract_paths: scp -r rules, into an existing folder
    let into = root.join("into");
    fs::create_dir(&into).unwrap();
    env.extract_paths("vm1", &[("/srv/art".into(), into.clone())], false)
        .unwrap();
    assert_eq!(
        fs::read_to_string(into.join("art/link")).unwrap(),
        "note of vm1\n"
    );

    // the inventory, against the env's addresses
    let state = env.state();
    let ip = |vm: &str| state.vm(vm).unwrap().ip().unwrap().to_string();
    let key = env.paths().ssh_id_rsa();
    let entry = |vm: &str| {
        format!(
            "{vm} ansible_host={} ansible_ssh_private_key_file={}",
            ip(vm),
            key.display()
        )
    };
    let inventory = env.ansible_inventory(&[]).unwrap();
    let expected = [
        "[vm-type=default]".to_string(),
        entry("vm0"),
        entry("vm1"),
        "[groups=web]".into(),
        entry("vm0"),
        "[groups=db]".into(),
        entry("vm0"),
        "[vm-provider=local-libvirt]".into(),
        entry("vm0"),
        entry("vm1"),
        "[web]".into(),
        entry("vm0"),
        "[db]".into(),
        entry("vm0"),
        "[groups=ab]".into(),
        entry("vm1"),
        "[a]".into(),
        entry("vm1"),
        "[b]".into(),
        entry("vm1"),
    ]
    .join("\n");
    assert_eq!(inventory, expected);
    assert_eq!(
        env.ansible_inventory(&["nics/0/net".into()]).unwrap(),
        format!(
            "[nics/0/net=mgmt]\n{}\n{}\n[web]\n{}\n[db]\n{}\n[a]\n{}\n[b]\n{}",
            entry("vm0"),
            entry("vm1"),
            entry("vm0"),
            entry("vm0"),
            entry("vm1"),
            entry("vm1")
        )
    );

    // a real Ansible run over it (the guest has no Python: raw)
    let inv_file = root.join("inventory");
    fs::write(&inv_file, &inventory).unwrap();
    let ansible = std::env::var("LAGO_TEST_ANSIBLE").unwrap_or_else(|_| "ansible".into());
    let t0 = Instant::now();
    let run = Command::new(&ansible)
        .args(["-i"])
        .arg(&inv_file)
        .args([
            "all",
            "-u",
            "root",
            "-m",
            "raw",
            "-a",
            "echo hi-from-$(hostname)",
        ])
        // nothing recorded in the user's known_hosts or ~/.ansible
        .arg("--ssh-common-args=-o UserKnownHostsFile=/dev/null")
        .env("ANSIBLE_HOME", root.join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", root.join("ansible-home/tmp"))
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {ansible} (install ansible-core): {e}"));
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    println!("ansible -m raw (2 hosts): {:.2?}\n{text}", t0.elapsed());
    assert!(
        run.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for vm in ["vm0", "vm1"] {
        assert!(text.contains(&format!("{vm} | CHANGED | rc=0")), "{text}");
        assert!(text.contains(&format!("hi-from-{vm}")), "{text}");
    }

    // deploy: vm0's script succeeds, vm1's second one fails
    let err = env.deploy().unwrap_err();
    let fail_copy = env
        .paths()
        .script_copy(&format!("{}/../fail.sh", workdir.display()));
    assert_eq!(
        err.message(),
        format!("{} failed with status 3 on vm1", fail_copy.display())
    );
    for vm in ["vm0", "vm1"] {
        assert_eq!(
            sh(env, vm, "cat /root/deployed"),
            format!("deployed on {vm}\n")
        );
    }

    // a stopped VM is read from its disk with libguestfs
    env.stop(&["vm1".to_string()]).unwrap();
    let dead = root.join("dead");
    let t0 = Instant::now();
    env.collect(&dead, true, &["vm1".to_string()]).unwrap();
    println!("collect (stopped VM, libguestfs): {:.2?}", t0.elapsed());
    check_artifacts(&dead.join("vm1"), "vm1", false);

    let leftovers: Vec<String> = names(&root)
        .into_iter()
        .filter(|n| n.contains("lago-collect") || n.contains("lago-extract"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    guard.0.take().unwrap().destroy().unwrap();
    assert!(!workdir.exists());
    let _ = fs::remove_dir_all(&root);
}
