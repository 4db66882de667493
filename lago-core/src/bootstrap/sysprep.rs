//! virt-sysprep and virt-customize, run the way Lago runs them, but with the
//! command file (it holds the root password) inside the prefix, readable by
//! its owner only, and removed afterwards — Lago left it in /tmp.
//!
//! libguestfs boots an appliance for every call (15–20 s under software
//! emulation), so this is the slow path; [`super::nocloud`] is the fast one.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use crate::error::{Error, ErrorKind, Result};
use crate::spec::{BuildArgs, BuildStep};

/// The virt-sysprep commands Lago's base template gives every VM.
pub fn sysprep_commands(hostname: &str, root_password: &str, pubkey_file: &Path) -> String {
    format!(
        "selinux-relabel\nhostname {hostname}\nroot-password password:{root_password}\nssh-inject root:file:{}\n",
        pubkey_file.display()
    )
}

/// What Lago's distro template (`sysprep-<distro>.j2`) adds to the base
/// commands, by the distro's name: `el6`/`el7` the iSCSI initiator name and
/// an `ifcfg-ethN` per NIC, `el7` and `fc24`–`fc26` a zero GRUB timeout and
/// no kdump/postfix at boot (`fc*` the initiator name too), `debian` an
/// `interfaces.d` file per NIC and a zero GRUB timeout; every other distro
/// gets the base commands only. `nics` are `(interface, MAC)` in order.
pub fn distro_commands(distro: Option<&str>, hostname: &str, nics: &[(String, String)]) -> String {
    let d = distro.unwrap_or_default();
    let el = matches!(d, "el6" | "el7");
    let fedora = matches!(d, "fc24" | "fc25" | "fc26");
    let mut out = String::new();
    if el || fedora {
        out += "mkdir /etc/iscsi\nchmod 0755:/etc/iscsi\n";
        out += &format!(
            "write /etc/iscsi/initiatorname.iscsi:InitiatorName=iqn.2014-07.org.lago:{hostname}:{hostname}\n"
        );
    }
    if el {
        out += "mkdir /etc/sysconfig/network-scripts\nchmod 0755:/etc/sysconfig/network-scripts\n";
        for (iface, mac) in nics {
            out += &format!(
                "write /etc/sysconfig/network-scripts/ifcfg-{iface}:HWADDR=\"{mac}\" \\\nBOOTPROTO=\"dhcp\" \\\nONBOOT=\"yes\" \\\nTYPE=\"Ethernet\" \\\nNAME=\"{iface}\" \\\n\n"
            );
        }
    }
    if d == "debian" {
        out += "mkdir /etc/network/interfaces.d\nchmod 0755:/etc/network/interfaces.d\n";
        out += "write /etc/network/interfaces:auto lo \\\niface lo inet loopback \\\nsource /etc/network/interfaces.d/*.cfg \\\n\n";
        for (iface, mac) in nics {
            out += &format!(
                "write /etc/network/interfaces.d/ifcfg-{iface}.cfg:auto {iface} \\\niface {iface} inet6 auto \\\niface {iface} inet dhcp \\\n    hwaddress ether {mac} \\\n\n"
            );
        }
        out += "edit /boot/grub/grub.cfg:s/set timeout=5/set timeout=0/g\n";
    }
    if d == "el7" || fedora {
        out += "edit /boot/grub2/grub.cfg:s/set timeout=5/set timeout=0/g\n";
        out += "delete /etc/systemd/system/multi-user.target.wants/kdump.service\n";
        out += "delete /etc/systemd/system/multi-user.target.wants/postfix.service\n";
    }
    out
}

/// A libguestfs tool, with the `direct` backend unless one is chosen already.
pub(crate) fn libguestfs_command(tool: &str) -> Command {
    let mut cmd = Command::new(tool);
    if std::env::var_os("LIBGUESTFS_BACKEND").is_none() {
        cmd.env("LIBGUESTFS_BACKEND", "direct");
    }
    cmd
}

fn run(mut cmd: Command, what: &str) -> Result<()> {
    let out = cmd.output().map_err(|e| {
        Error::with_source(
            ErrorKind::Disk,
            format!("cannot run {what} (install libguestfs-tools)"),
            e,
        )
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // libguestfs ends with generic advice: the lines naming the error first
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("error"))
            .take(4)
            .collect();
        let tail: Vec<&str> = if errors.is_empty() {
            stderr.lines().rev().take(8).collect()
        } else {
            errors.into_iter().rev().collect()
        };
        return Err(Error::new(
            ErrorKind::Disk,
            format!(
                "{what} failed ({}): {}",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ),
        ));
    }
    Ok(())
}

/// Runs virt-sysprep on `disk` (of `format`) with `commands`, through a
/// command file `work_file` (created 0600, always removed).
pub fn sysprep(disk: &Path, format: &str, commands: &str, work_file: &Path) -> Result<()> {
    // 0600 from its first byte, even over a file left by a killed run
    let written = crate::prefix::layout::create_private(work_file)
        .and_then(|mut f| f.write_all(commands.as_bytes()));
    if let Err(e) = written {
        let _ = fs::remove_file(work_file);
        return Err(Error::with_source(
            ErrorKind::Io,
            format!("cannot write {}", work_file.display()),
            e,
        ));
    }
    if let Err(e) = crate::owner::phase("init:sysprep") {
        let _ = fs::remove_file(work_file);
        return Err(e);
    }
    let mut cmd = libguestfs_command("virt-sysprep");
    cmd.arg("--format").arg(format).arg("-a").arg(disk);
    cmd.arg("--commands-from-file").arg(work_file);
    let result = run(cmd, &format!("virt-sysprep on {}", disk.display()));
    let _ = fs::remove_file(work_file);
    result
}

/// The command line of one `build` step's tool: one-letter options as `-x`,
/// longer ones as `--name`, `ssh-inject: ''` meaning root with the prefix's key.
pub fn build_args(step: &BuildStep, pubkey_file: &Path) -> Vec<String> {
    let mut args = Vec::new();
    for opt in &step.options {
        let flag = if opt.name.chars().count() == 1 {
            format!("-{}", opt.name)
        } else {
            format!("--{}", opt.name)
        };
        match &opt.args {
            BuildArgs::Flag if opt.name == "ssh-inject" => {
                args.push(flag);
                args.push(format!("root:file:{}", pubkey_file.display()));
            }
            BuildArgs::Flag => args.push(flag),
            BuildArgs::One(v) => {
                args.push(flag);
                args.push(v.clone());
            }
            BuildArgs::Many(vs) => {
                for v in vs {
                    args.push(flag.clone());
                    args.push(v.clone());
                }
            }
        }
    }
    args
}

/// Runs one `build` step (e.g. `virt-customize`) on `disk`.
pub fn run_build_step(
    step: &BuildStep,
    disk: &Path,
    format: &str,
    pubkey_file: &Path,
) -> Result<()> {
    if step.tool != "virt-customize" {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("unknown build tool '{}' (valid: virt-customize)", step.tool),
        ));
    }
    let mut cmd = libguestfs_command("virt-customize");
    cmd.arg("--format").arg(format).arg("-a").arg(disk);
    cmd.args(build_args(step, pubkey_file));
    run(cmd, &format!("virt-customize on {}", disk.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::BuildOption;

    #[test]
    fn commands_as_lago_writes_them() {
        let c = sysprep_commands("vm0", "123456", Path::new("/p/id_rsa.pub"));
        assert_eq!(
            c,
            "selinux-relabel\nhostname vm0\nroot-password password:123456\nssh-inject root:file:/p/id_rsa.pub\n"
        );
    }

    #[test]
    fn distro_commands_as_lagos_templates_add_them() {
        let nics = [("eth0".to_string(), "54:52:c0:a8:c8:02".to_string())];
        assert_eq!(distro_commands(Some("tiny"), "vm0", &nics), "");
        assert_eq!(distro_commands(None, "vm0", &nics), "");
        let el7 = distro_commands(Some("el7"), "vm0", &nics);
        assert!(el7.contains(
            "write /etc/iscsi/initiatorname.iscsi:InitiatorName=iqn.2014-07.org.lago:vm0:vm0\n"
        ));
        assert!(el7.contains(
            "write /etc/sysconfig/network-scripts/ifcfg-eth0:HWADDR=\"54:52:c0:a8:c8:02\" \\\nBOOTPROTO=\"dhcp\" \\\n"
        ));
        assert!(el7.contains("edit /boot/grub2/grub.cfg:s/set timeout=5/set timeout=0/g\n"));
        assert!(el7.contains("delete /etc/systemd/system/multi-user.target.wants/kdump.service\n"));
        let el6 = distro_commands(Some("el6"), "vm0", &nics);
        assert!(el6.contains("ifcfg-eth0") && !el6.contains("grub"));
        let fc = distro_commands(Some("fc25"), "vm0", &nics);
        assert!(fc.contains("initiatorname") && fc.contains("grub2") && !fc.contains("ifcfg"));
        let debian = distro_commands(Some("debian"), "vm0", &nics);
        assert!(debian.contains(
            "write /etc/network/interfaces.d/ifcfg-eth0.cfg:auto eth0 \\\niface eth0 inet6 auto \\\niface eth0 inet dhcp \\\n    hwaddress ether 54:52:c0:a8:c8:02 \\\n"
        ));
        assert!(debian.ends_with("edit /boot/grub/grub.cfg:s/set timeout=5/set timeout=0/g\n"));
    }

    #[test]
    fn build_step_options() {
        let step = BuildStep {
            tool: "virt-customize".into(),
            options: vec![
                BuildOption {
                    name: "ssh-inject".into(),
                    args: BuildArgs::Flag,
                },
                BuildOption {
                    name: "touch".into(),
                    args: BuildArgs::Many(vec!["/a".into(), "/b".into()]),
                },
                BuildOption {
                    name: "m".into(),
                    args: BuildArgs::One("512".into()),
                },
                BuildOption {
                    name: "selinux-relabel".into(),
                    args: BuildArgs::Flag,
                },
            ],
        };
        assert_eq!(
            build_args(&step, Path::new("/p/id_rsa.pub")),
            [
                "--ssh-inject",
                "root:file:/p/id_rsa.pub",
                "--touch",
                "/a",
                "--touch",
                "/b",
                "-m",
                "512",
                "--selinux-relabel"
            ]
        );
    }
}
