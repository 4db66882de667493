//! First boot over SSH: the guest boots as its template is, lago logs in as
//! root with the template's password and gives it what Lago's virt-sysprep
//! run would have given it before the boot — hostname, the prefix's key,
//! the configured root password, an SELinux label on what it wrote, and the
//! distro edits of Lago's sysprep templates (el: `ifcfg-ethN` per NIC and
//! the iSCSI initiator name; Fedora: the initiator name).
//!
//! The script goes to `sh -s` on standard input: the password is never on
//! a command line or in a file outside the guest's own `/etc/shadow`. It is
//! idempotent (a second run changes nothing), and ends with one line that
//! tells what it found: whether the guest has cloud-init (learned for the
//! template, see [`super::learned`]) and whether the key was there already
//! (a NoCloud probe seed was applied).

use crate::ssh::quote;

/// What one VM gets at its first boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstBoot {
    /// The VM's name: its hostname.
    pub hostname: String,
    /// The prefix's public key (one `authorized_keys` line).
    pub authorized_key: String,
    /// The root password to set; `None` leaves the template's.
    pub root_password: Option<String>,
    /// The distro (the VM's `distro`, else the template's), for Lago's
    /// distro edits.
    pub distro: Option<String>,
    /// `(interface, MAC)` of each NIC in order (`eth0`, `eth1`, …).
    pub nics: Vec<(String, String)>,
}

/// The line the script ends with.
const REPORT: &str = "lago-bootstrap:";

impl FirstBoot {
    /// Lago's iSCSI initiator name for this VM.
    fn iscsi_name(&self) -> String {
        format!("iqn.2014-07.org.lago:{}", self.hostname)
    }

    /// Whether Lago's sysprep template for the distro writes network
    /// scripts (`el6`, `el7`) and the iSCSI initiator name (those and
    /// `fc24`–`fc26`), as [`super::sysprep::distro_commands`] does.
    fn family(&self) -> (bool, bool) {
        let d = self.distro.as_deref().unwrap_or_default();
        let el = matches!(d, "el6" | "el7");
        (el, el || matches!(d, "fc24" | "fc25" | "fc26"))
    }

    /// The shell script (POSIX sh, as root).
    pub fn script(&self) -> String {
        let q = |s: &str| quote(s);
        let mut s = String::from("set -e\numask 022\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n");
        // hostname: the running one, /etc/hostname, systemd's, /etc/hosts' 127.0.1.1
        s += &format!("name={}\n", q(&self.hostname));
        s += "hostname \"$name\" 2>/dev/null || true\n";
        s += "printf '%s\\n' \"$name\" > /etc/hostname\n";
        s += "if command -v hostnamectl >/dev/null 2>&1; then hostnamectl set-hostname \"$name\" >/dev/null 2>&1 || true; fi\n";
        s += "if grep -q '^127\\.0\\.1\\.1[[:space:]]' /etc/hosts 2>/dev/null; then\n";
        s += "  awk -v n=\"$name\" '$1 == \"127.0.1.1\" { print $1 \" \" n; next } { print }' /etc/hosts > /etc/hosts.lago-new\n";
        s += "  cat /etc/hosts.lago-new > /etc/hosts; rm -f /etc/hosts.lago-new\nfi\n";
        // the prefix's key
        s += &format!("key={}\n", q(self.authorized_key.trim()));
        s += "mkdir -p /root/.ssh; chmod 700 /root/.ssh\n";
        s += "touch /root/.ssh/authorized_keys; chmod 600 /root/.ssh/authorized_keys\n";
        s += "if grep -qxF \"$key\" /root/.ssh/authorized_keys; then had_key=yes; else had_key=no; printf '%s\\n' \"$key\" >> /root/.ssh/authorized_keys; fi\n";
        // the password, on standard input only: chpasswd where the guest
        // has it, else (busybox) a sha512 hash from mkpasswd into /etc/shadow
        if let Some(pw) = &self.root_password {
            s += "if command -v chpasswd >/dev/null 2>&1; then\n";
            s += &format!("  printf '%s\\n' {} | chpasswd\n", q(&format!("root:{pw}")));
            s += "else\n";
            s += &format!(
                "  hash=$(printf '%s\\n' {} | mkpasswd -m sha512 -P 0)\n",
                q(pw)
            );
            s += "  awk -F: -v OFS=: -v h=\"$hash\" '$1 == \"root\" { $2 = h } { print }' /etc/shadow > /etc/shadow.lago-new\n";
            s += "  cat /etc/shadow.lago-new > /etc/shadow; rm -f /etc/shadow.lago-new\nfi\n";
        }
        let (el, iscsi) = self.family();
        if iscsi {
            s += "mkdir -p /etc/iscsi\n";
            s += &format!(
                "printf 'InitiatorName=%s\\n' {} > /etc/iscsi/initiatorname.iscsi\n",
                q(&format!("{}:{}", self.iscsi_name(), self.hostname))
            );
        }
        if el {
            s += "mkdir -p /etc/sysconfig/network-scripts\n";
            for (iface, mac) in &self.nics {
                let body = format!(
                    "HWADDR=\"{mac}\"\nBOOTPROTO=\"dhcp\"\nONBOOT=\"yes\"\nTYPE=\"Ethernet\"\nNAME=\"{iface}\"\n"
                );
                s += &format!(
                    "printf '%s' {} > /etc/sysconfig/network-scripts/ifcfg-{}\n",
                    q(&body),
                    q(iface)
                );
            }
        }
        // SELinux: label what was written, where the guest has it
        s += "if command -v restorecon >/dev/null 2>&1; then restorecon -R /root/.ssh /etc/hostname /etc/hosts /etc/iscsi /etc/sysconfig/network-scripts >/dev/null 2>&1 || true; fi\n";
        s += "if command -v cloud-init >/dev/null 2>&1; then ci=yes; else ci=no; fi\n";
        s += &format!("echo \"{REPORT} cloud-init=$ci key=$had_key\"\n");
        s
    }
}

/// What the script reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// The guest has cloud-init.
    pub cloud_init: bool,
    /// The key was in place before the script ran (a seed was applied).
    pub key_was_there: bool,
}

impl Report {
    /// The report line in the script's output, if it ran to its end.
    pub fn parse(stdout: &str) -> Option<Self> {
        let line = stdout
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix(REPORT))?;
        let mut report = Report {
            cloud_init: false,
            key_was_there: false,
        };
        let mut seen = 0;
        for field in line.split_whitespace() {
            match field.split_once('=') {
                Some(("cloud-init", v)) => {
                    report.cloud_init = v == "yes";
                    seen += 1;
                }
                Some(("key", v)) => {
                    report.key_was_there = v == "yes";
                    seen += 1;
                }
                _ => {}
            }
        }
        (seen == 2).then_some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(distro: Option<&str>) -> FirstBoot {
        FirstBoot {
            hostname: "vm-0".into(),
            authorized_key: "ssh-rsa AAAA lago@prefix\n".into(),
            root_password: Some("it's secret".into()),
            distro: distro.map(str::to_string),
            nics: vec![
                ("eth0".into(), "54:52:c0:a8:c8:02".into()),
                ("eth1".into(), "54:52:c0:a8:c9:02".into()),
            ],
        }
    }

    #[test]
    fn the_script_sets_hostname_key_and_password_quoted() {
        let s = vm(None).script();
        assert!(s.contains("name=vm-0\n"));
        assert!(s.contains("key='ssh-rsa AAAA lago@prefix'\n"));
        // a quote in the password survives the shell, on chpasswd's stdin
        assert!(s.contains(r#"printf '%s\n' 'root:it'\''s secret' | chpasswd"#));
        assert!(s.contains(r#"printf '%s\n' 'it'\''s secret' | mkpasswd -m sha512 -P 0"#));
        assert!(s.ends_with("echo \"lago-bootstrap: cloud-init=$ci key=$had_key\"\n"));
        assert!(!s.contains("network-scripts/ifcfg"));
        assert!(!s.contains("initiatorname"));
    }

    #[test]
    fn no_password_leaves_the_templates() {
        let mut v = vm(None);
        v.root_password = None;
        assert!(!v.script().contains("chpasswd"));
    }

    #[test]
    fn el_guests_get_lagos_network_scripts_and_iscsi_name() {
        let s = vm(Some("el7")).script();
        assert!(s.contains("/etc/sysconfig/network-scripts/ifcfg-eth0"));
        assert!(s.contains("HWADDR=\"54:52:c0:a8:c9:02\""));
        assert!(s.contains("InitiatorName=%s\\n' iqn.2014-07.org.lago:vm-0:vm-0 >"));
        let fc = vm(Some("fc25")).script();
        assert!(fc.contains("initiatorname.iscsi"));
        assert!(!fc.contains("network-scripts/ifcfg"));
    }

    #[test]
    fn the_report_line_is_read_back() {
        let out = "noise\nlago-bootstrap: cloud-init=yes key=no\n";
        assert_eq!(
            Report::parse(out),
            Some(Report {
                cloud_init: true,
                key_was_there: false
            })
        );
        assert_eq!(Report::parse("lago-bootstrap: cloud-init=no\n"), None);
        assert_eq!(Report::parse("set -e failed early\n"), None);
    }

    #[test]
    fn the_script_runs_in_a_shell_and_reports() {
        // the parts that need no root: run the script with its paths moved
        // into a scratch folder, to check the shell syntax and the report
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let script = vm(Some("el7"))
            .script()
            .replace("/etc/", &format!("{}/etc/", root.display()))
            .replace("/root/", &format!("{}/root/", root.display()))
            .replace("command -v chpasswd", "false")
            .replace("mkpasswd -m sha512 -P 0", "echo HASH")
            .replace("hostname \"$name\"", "true")
            .replace("hostnamectl", "no-such-hostnamectl");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(
            root.join("etc/hosts"),
            "127.0.0.1 localhost\n127.0.1.1 tiny\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/shadow"),
            "root:OLD:20089:0:::::\nnobody:!:1::::::\n",
        )
        .unwrap();
        let run = || {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap()
        };
        let out = run();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = Report::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert!(!report.key_was_there);
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("etc/hostname"), "vm-0\n");
        assert_eq!(read("etc/hosts"), "127.0.0.1 localhost\n127.0.1.1 vm-0\n");
        assert_eq!(
            read("root/.ssh/authorized_keys"),
            "ssh-rsa AAAA lago@prefix\n"
        );
        assert!(read("etc/sysconfig/network-scripts/ifcfg-eth1").contains("NAME=\"eth1\""));
        assert_eq!(
            read("etc/shadow"),
            "root:HASH:20089:0:::::\nnobody:!:1::::::\n"
        );
        // a second run finds the key and adds nothing
        let again = Report::parse(&String::from_utf8_lossy(&run().stdout)).unwrap();
        assert!(again.key_was_there);
        assert_eq!(
            read("root/.ssh/authorized_keys"),
            "ssh-rsa AAAA lago@prefix\n"
        );
    }
}
