//! Every bootstrap route on real guests, each VM checked for what Lago's
//! virt-sysprep gave a guest: `hostname` is the VM's name, the prefix's
//! key logs in, and the root password is the configured one (the
//! template's no longer works). One environment holds one VM per route:
//!
//! - `plain`: the plain Lago template (`tiny-plain`: no `nocloud` key, no
//!   cloud-init in the guest), route `auto` → first boot over SSH, logged
//!   in with the template's password (Lago's default, the metadata names
//!   none);
//! - `cloud`: the NoCloud template (`tiny`), route `auto` → NoCloud seed;
//! - `prepped`: the plain template with `bootstrap_mode: sysprep` in the
//!   init file → Lago's virt-sysprep.
//!
//! Nothing of it may be left in `/tmp` (no command file, key or password).
//!
//!     tests/host/run cargo test -p lago-core --test guest_bootstrap -- --ignored

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // test code

mod support;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use lago_core::Env;
use lago_core::learned;
use lago_core::ops::init::InitOptions;
use lago_core::{SshClient, SshTarget};

const T: Duration = Duration::from_secs(60);

/// Stops an env's VMs and nets if the test fails while they run, so that
/// a failure leaves no guest behind to load the host.
struct StopOnPanic<'a>(&'a Env);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.stop(&[]);
        }
    }
}

fn sh(env: &Env, vm: &str, cmd: &str) -> String {
    let r = env
        .ssh(vm, &["sh".into(), "-c".into(), cmd.into()], T)
        .unwrap();
    assert_eq!(r.code, 0, "{cmd}: {}", r.stderr_lossy());
    r.stdout_lossy().trim().to_string()
}

/// Whether `vm` lets root in with exactly this key or password.
fn logs_in(env: &Env, vm: &str, key: Option<&Path>, password: Option<&str>) -> bool {
    let mut target = SshTarget::new(env.ssh_client(vm).unwrap().host());
    target.key = key.map(Path::to_path_buf);
    target.password = password.map(str::to_string);
    SshClient::new(target)
        .exec(&["true"], T)
        .is_ok_and(|r| r.code == 0)
}

/// Files under `/tmp` (two levels) changed since `since` whose content
/// holds `needle`.
fn tmp_files_holding(needle: &str, since: SystemTime) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![(Path::new("/tmp").to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = fs::symlink_metadata(e.path()) else {
                continue;
            };
            if meta.is_dir() && depth < 2 {
                dirs.push((e.path(), depth + 1));
            } else if meta.is_file()
                && meta.len() < 1 << 20
                && meta.modified().is_ok_and(|m| m >= since)
                && fs::read(e.path()).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle))
            {
                found.push(e.path().display().to_string());
            }
        }
    }
    found
}

#[test]
#[ignore = "real guests: tests/host/run cargo test -p lago-core --test guest_bootstrap -- --ignored"]
fn every_route_gives_hostname_key_and_password() {
    support::guest::require_namespace();
    let since = SystemTime::now();
    let (root, config) = support::scratch::scratch("lago-guest-bootstrap");
    // passwords no other test uses, to look for in /tmp afterwards
    let pw = |vm: &str| format!("pw-{vm}-{}", std::process::id());
    let initfile = root.join("LagoInitFile");
    let disk = |template: &str| {
        format!(
            "disks: [{{template_name: {template}, type: template, name: root, dev: vda, format: qcow2}}]"
        )
    };
    let vm = |name: &str, template: &str, extra: &str| {
        format!(
            "  {name}:\n    memory: 256\n    nics: [{{net: n}}]\n    root-password: {}\n    {}\n{extra}",
            pw(name),
            disk(template)
        )
    };
    fs::write(
        &initfile,
        format!(
            "domains:\n{}{}{}nets:\n  n: {{type: nat}}\n",
            vm("plain", "tiny-plain", ""),
            vm("cloud", "tiny", ""),
            vm("prepped", "tiny-plain", "    bootstrap_mode: sysprep\n"),
        ),
    )
    .unwrap();

    let t0 = Instant::now();
    let env = Env::init(&InitOptions::new(root.join(".lago"), &initfile), config).unwrap();
    println!("init (one VM with virt-sysprep): {:.2?}", t0.elapsed());
    let status = env.status().unwrap();
    let route = |vm: &str| status["Prefix"]["VMs"][vm]["bootstrap"].clone();
    assert_eq!(route("plain"), "ssh (at first boot)");
    assert_eq!(route("cloud"), "nocloud");
    assert_eq!(route("prepped"), "sysprep");
    assert!(env.first_boot_pending("plain"));

    let _guard = StopOnPanic(&env);
    let t0 = Instant::now();
    env.start(&[]).unwrap();
    env.wait_for_ssh_all(&[], None).unwrap();
    println!("start -> all answer SSH: {:.2?}", t0.elapsed());
    assert!(!env.first_boot_pending("plain"));
    assert_eq!(
        env.status().unwrap()["Prefix"]["VMs"]["plain"]["bootstrap"],
        "ssh"
    );
    // the spec no longer holds the password the first login used
    let spec = fs::read_to_string(env.paths().virt_vm("plain")).unwrap();
    assert!(!spec.contains("first-boot"), "{spec}");

    let key = env.paths().ssh_id_rsa();
    for name in ["plain", "cloud", "prepped"] {
        assert_eq!(sh(&env, name, "hostname"), name, "hostname of {name}");
        assert_eq!(sh(&env, name, "cat /etc/hostname"), name);
        assert!(logs_in(&env, name, Some(&key), None), "{name}: key login");
        assert!(
            logs_in(&env, name, None, Some(&pw(name))),
            "{name}: password"
        );
        assert!(
            !logs_in(&env, name, None, Some("123456")),
            "{name}: the template's password still works"
        );
    }
    // what the plain template's first boot learned, kept beside its image
    let stored = fs::read_dir(support::scratch::test_root().join("store"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("lago-tests:tiny-plain:"))
                && p.extension().is_none_or(|x| x != "guest")
                && !p.to_string_lossy().contains(".hash")
                && !p.to_string_lossy().contains(".metadata")
                && !p.to_string_lossy().contains(".lock")
        })
        .unwrap();
    let facts = learned::read(&stored).expect("the first boot recorded the guest's facts");
    assert!(!facts.cloud_init);

    for name in ["plain", "cloud", "prepped"] {
        let left = tmp_files_holding(&pw(name), since);
        assert!(left.is_empty(), "{name}'s password left in {left:?}");
    }
    let private = fs::read_to_string(&key).unwrap();
    let marker = private.lines().nth(1).unwrap();
    assert!(tmp_files_holding(marker, since).is_empty());

    drop(_guard);
    env.destroy().unwrap();
    fs::remove_dir_all(&root).unwrap();
}

#[test]
#[ignore = "real guests: tests/host/run cargo test -p lago-core --test guest_bootstrap -- --ignored"]
fn first_boot_also_runs_for_a_call_that_did_not_wait() {
    support::guest::require_namespace();
    let (root, config) = support::scratch::scratch("lago-guest-bootstrap-nowait");
    let initfile = root.join("LagoInitFile");
    fs::write(
        &initfile,
        "domains:\n  vm0:\n    memory: 256\n    nics: [{net: n}]\n    disks: [{template_name: tiny-plain, type: template, name: root, dev: vda, format: qcow2}]\nnets:\n  n: {type: nat}\n",
    )
    .unwrap();
    let env = Env::init(&InitOptions::new(root.join(".lago"), &initfile), config).unwrap();
    let _guard = StopOnPanic(&env);
    env.start(&[]).unwrap();
    // a copy before anyone waited: it reaches the guest once it is up and
    // bootstraps it first
    let deadline = Instant::now() + Duration::from_secs(300);
    let src = root.join("hello");
    fs::write(&src, "hi\n").unwrap();
    loop {
        match env.copy_to("vm0", &src, Path::new("/root/hello")) {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                println!("not yet: {e}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(!env.first_boot_pending("vm0"));
    assert_eq!(sh(&env, "vm0", "hostname"), "vm0");
    assert_eq!(sh(&env, "vm0", "cat /root/hello"), "hi");
    drop(_guard);
    env.destroy().unwrap();
    fs::remove_dir_all(&root).unwrap();
}
