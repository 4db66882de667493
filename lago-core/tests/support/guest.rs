//! Real `tiny` guests for the tests, booted with plain `virsh` the way
//! `tests/bench/floor.py` does: a transient NAT network with a static DHCP
//! entry per guest (192.168.160.0/24, or the next free one up to .169 if
//! another run holds it), a qcow2 overlay on the raw template
//! (`-F raw`), domain type `qemu` with `<cpu mode='maximum'/>`, and a
//! NoCloud seed (vfat labelled `cidata`, made with `mkfs.vfat` + `mcopy`)
//! carrying SSH keys generated for this guest with `ssh-keygen`.
//!
//! Everything runs inside the test host's network namespace (`lago-test`,
//! made by `tests/host/up`); outside it, booting panics and says how to
//! run the tests. A [`Guest`] tears everything down when dropped (domain,
//! network, files), also when a test panics; the guest shared by a test
//! binary ([`shared`]) is torn down when the process exits. Objects left by
//! a killed earlier run (named `lagossh-<pid>-…` with a dead pid) are
//! removed before the first boot.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use lago_core::SshTarget;

const URI: &str = "qemu:///system";

fn test_root() -> PathBuf {
    PathBuf::from(std::env::var("LAGO_TEST_ROOT").unwrap_or_else(|_| "/var/lib/lago-tests".into()))
}

fn image() -> PathBuf {
    test_root().join("repo/tiny.img")
}

fn netns() -> String {
    std::env::var("LAGO_TEST_NETNS").unwrap_or_else(|_| "lago-test".into())
}

/// Panics unless this process runs in the test namespace.
pub fn require_namespace() {
    let ns = netns();
    let out = Command::new("ip")
        .args(["netns", "identify", &std::process::id().to_string()])
        .output();
    let current = out
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert!(
        current == ns,
        "these tests boot real guests and must run inside the test network namespace \
         {ns:?} (this process is in {current:?}): start the test host once with \
         `sudo tests/host/up`, then run \
         `tests/host/run cargo test -p lago-core --test <guest_ssh|guest_run|guest_env> -- --ignored`"
    );
    assert!(
        image().exists(),
        "{} is missing: build it with tests/templates/build-tiny",
        image().display()
    );
}

/// Runs a command, panicking with its output if it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn virsh(args: &[&str]) -> std::io::Result<Output> {
    Command::new("virsh")
        .args(["-q", "-c", URI])
        .args(args)
        .output()
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes domains and networks of earlier runs whose process is gone.
fn clean_stale() {
    for (list, destroy) in [("list", "destroy"), ("net-list", "net-destroy")] {
        let Ok(out) = virsh(&[list, "--name"]) else {
            continue;
        };
        for name in String::from_utf8_lossy(&out.stdout).lines() {
            let name = name.trim();
            let Some(rest) = name.strip_prefix("lagossh-") else {
                continue;
            };
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid
                && !pid_alive(pid)
            {
                eprintln!("support: removing stale {name}");
                let _ = virsh(&[destroy, name]);
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(test_root().join("ssh")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("lagossh-")
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid
                && !pid_alive(pid)
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A booted (or booting) tiny guest and its own network.
pub struct Guest {
    /// Domain name (`lagossh-<pid>-<n>`); the network has the same name.
    pub name: String,
    /// Its address.
    pub ip: IpAddr,
    /// Its MAC address.
    pub mac: String,
    /// Folder holding disk, seed, keys and logs.
    pub dir: PathBuf,
    /// RSA key in the seed (authorized).
    pub rsa_key: PathBuf,
    /// Ed25519 key in the seed (authorized).
    pub ed25519_key: PathBuf,
    /// An RSA key the guest does not know.
    pub stranger_key: PathBuf,
    /// The known-hosts file tests use by default.
    pub known_hosts: PathBuf,
    console: PathBuf,
    net_up: bool,
    domain_up: bool,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);
static CLEAN: Once = Once::new();

fn keygen(path: &Path, kind: &str) {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-N", "", "-C", "lago-ssh-test", "-t", kind]);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    run(cmd.arg("-f").arg(path));
}

fn make_seed(dir: &Path, seed: &Path, hostname: &str, keys: &[&Path]) {
    let meta = dir.join("meta-data");
    let user = dir.join("user-data");
    std::fs::write(
        &meta,
        format!("instance-id: {hostname}\nlocal-hostname: {hostname}\n"),
    )
    .unwrap();
    let mut ud = format!("#cloud-config\nhostname: {hostname}\nssh_authorized_keys:\n");
    for key in keys {
        let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        ud.push_str(&format!("  - {}\n", pubkey.trim()));
    }
    std::fs::write(&user, ud).unwrap();
    run(Command::new("mkfs.vfat")
        .args(["-C", "-n", "cidata"])
        .arg(seed)
        .arg("1024"));
    run(Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(seed)
        .arg(&meta)
        .arg(&user)
        .arg("::/"));
}

impl Guest {
    /// Creates the network and starts the domain; does not wait for it.
    pub fn boot() -> Guest {
        require_namespace();
        CLEAN.call_once(clean_stale);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("lagossh-{}-{n}", std::process::id());
        let dir = test_root().join("ssh").join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        // qemu runs as libvirt-qemu: every folder above a disk must be searchable.
        run(Command::new("chmod")
            .arg("755")
            .arg(test_root().join("ssh"))
            .arg(&dir));

        let mut guest = Guest {
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            mac: String::new(),
            rsa_key: dir.join("id_rsa"),
            ed25519_key: dir.join("id_ed25519"),
            stranger_key: dir.join("stranger_rsa"),
            known_hosts: dir.join("known_hosts"),
            console: dir.join("console.log"),
            name,
            dir,
            net_up: false,
            domain_up: false,
        };
        keygen(&guest.rsa_key, "rsa");
        keygen(&guest.ed25519_key, "ed25519");
        keygen(&guest.stranger_key, "rsa");
        let seed = guest.dir.join("seed.img");
        make_seed(
            &guest.dir,
            &seed,
            &guest.name,
            &[&guest.rsa_key, &guest.ed25519_key],
        );
        let disk = guest.dir.join("disk.qcow2");
        run(Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
            .arg(image())
            .arg(&disk));

        // The first free subnet from 192.168.160 on; 10 + n as the host part.
        let host_part = 10 + (n % 200) as u8;
        let mut last_err = String::new();
        for third in 160u8..=169 {
            let ip = Ipv4Addr::new(192, 168, third, host_part);
            let mac = format!("54:52:c0:a8:{third:02x}:{host_part:02x}");
            let xml = format!(
                "<network><name>{name}</name>\
                 <bridge name='vbrs{tag:08x}' stp='off' delay='0'/>\
                 <forward mode='nat'/>\
                 <ip address='192.168.{third}.1' netmask='255.255.255.0'>\
                 <dhcp><range start='192.168.{third}.100' end='192.168.{third}.254'/>\
                 <host mac='{mac}' name='{name}' ip='{ip}'/></dhcp></ip></network>",
                name = guest.name,
                tag = (std::process::id() << 8) ^ n,
            );
            let path = guest.dir.join("net.xml");
            std::fs::write(&path, xml).unwrap();
            let out = virsh(&["net-create", path.to_str().unwrap()]).unwrap();
            if out.status.success() {
                guest.ip = IpAddr::V4(ip);
                guest.mac = mac;
                guest.net_up = true;
                break;
            }
            last_err = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        assert!(
            guest.net_up,
            "no free test subnet in 192.168.160-169: {last_err}"
        );

        let xml = format!(
            "<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <cpu mode='maximum'/>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='unsafe'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <source network='{name}'/>
      <mac address='{mac}'/>
      <model type='virtio'/>
    </interface>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{seed}'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>
    <serial type='pty'><log file='{console}' append='off'/><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>",
            name = guest.name,
            disk = disk.display(),
            mac = guest.mac,
            seed = seed.display(),
            console = guest.console.display(),
        );
        let path = guest.dir.join("domain.xml");
        std::fs::write(&path, xml).unwrap();
        let out = virsh(&["create", path.to_str().unwrap()]).unwrap();
        assert!(
            out.status.success(),
            "virsh create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        guest.domain_up = true;
        guest
    }

    /// Boots and waits until the guest's SSH port sends a banner (a plain
    /// TCP probe, independent of the code under test).
    pub fn boot_and_wait() -> Guest {
        let g = Guest::boot();
        g.wait_banner(Duration::from_secs(180));
        g
    }

    /// Waits for an `SSH-` banner on port 22; panics with the console tail.
    pub fn wait_banner(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let addr = SocketAddr::new(self.ip, 22);
        while Instant::now() < deadline {
            if self.banner(&addr) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{}: no SSH banner at {} within {timeout:?}\n--- console tail ---\n{}",
            self.name,
            self.ip,
            self.console_tail()
        );
    }

    /// Whether the port answers with a banner right now.
    pub fn banner(&self, addr: &SocketAddr) -> bool {
        use std::io::Read;
        let Ok(mut s) = TcpStream::connect_timeout(addr, Duration::from_millis(500)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).is_ok() && &buf == b"SSH-"
    }

    /// The last 3000 bytes of the serial console.
    pub fn console_tail(&self) -> String {
        let text = std::fs::read(&self.console).unwrap_or_default();
        let start = text.len().saturating_sub(3000);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }

    /// A target with the RSA key, the default password and this guest's
    /// known-hosts file.
    pub fn target(&self) -> SshTarget {
        SshTarget::new(self.ip)
            .with_key(&self.rsa_key)
            .with_known_hosts(&self.known_hosts)
    }

    /// The guest's address from the network's DHCP leases, if it has one.
    pub fn lease(&self) -> Option<IpAddr> {
        let out = virsh(&["net-dhcp-leases", &self.name]).ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // expiry date, expiry time, MAC, protocol, address/prefix, …
            if fields.len() >= 5 && fields[2].eq_ignore_ascii_case(&self.mac) {
                return fields[4].split('/').next()?.parse().ok();
            }
        }
        None
    }

    /// OpenSSH client options for this guest: key auth with `key`, no
    /// host key bookkeeping.
    pub fn openssh_opts(&self, key: &Path) -> Vec<String> {
        [
            "-q",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-i",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([key.display().to_string()])
        .collect()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if self.domain_up {
            let _ = virsh(&["destroy", &self.name]);
        }
        if self.net_up {
            let _ = virsh(&["net-destroy", &self.name]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static SHARED: Mutex<Option<Arc<Guest>>> = Mutex::new(None);

extern "C" fn drop_shared() {
    let guest = SHARED
        .lock()
        .map(|mut g| g.take())
        .unwrap_or_else(|p| p.into_inner().take());
    drop(guest);
}

/// The guest shared by the tests of this binary: booted on first use
/// (with its SSH banner up), torn down when the process exits.
pub fn shared() -> Arc<Guest> {
    let mut slot = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(g) = slot.as_ref() {
        return Arc::clone(g);
    }
    let started = Instant::now();
    let guest = Arc::new(Guest::boot());
    // Registered before waiting, so a failed boot is torn down too.
    *slot = Some(Arc::clone(&guest));
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `drop_shared` is a plain `extern "C" fn()` that stays
        // valid for the whole process; atexit only stores the pointer.
        let rc = unsafe { libc::atexit(drop_shared) };
        assert_eq!(rc, 0, "atexit failed");
    });
    // Still holding the slot: other tests wait until the guest answers.
    guest.wait_banner(Duration::from_secs(180));
    eprintln!(
        "support: shared guest {} at {} up in {:.1} s",
        guest.name,
        guest.ip,
        started.elapsed().as_secs_f64()
    );
    drop(slot);
    guest
}
