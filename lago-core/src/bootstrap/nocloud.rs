//! The NoCloud seed: a small FAT image labelled `cidata` holding `meta-data`
//! and `user-data`, the way cloud-init (and the tiny test guest) read it.
//! Written in process — no mkfs, no mtools, no libguestfs appliance — so
//! bootstrapping a VM costs milliseconds instead of an appliance boot.
//!
//! `user-data` is `#cloud-config` with the hostname, root's password and the
//! prefix's public key. `disable_root: false` and the `chpasswd` list make
//! full cloud-init images accept root the way Lago's virt-sysprep bootstrap
//! does; the tiny guest reads `hostname`, `password` and
//! `ssh_authorized_keys`.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::prefix::layout::create_private;

/// What goes into one VM's seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// `instance-id`: changes when the VM is a new instance.
    pub instance_id: String,
    /// The VM's hostname.
    pub hostname: String,
    /// Public keys root accepts.
    pub authorized_keys: Vec<String>,
    /// Root's password, if it should be set.
    pub root_password: Option<String>,
}

/// The size of the seed image: 1 MiB is plenty for a few keys (FAT12).
const SEED_BYTES: u64 = 1024 * 1024;

/// A YAML scalar: JSON strings are valid YAML and escape everything.
fn scalar(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The `meta-data` file.
pub fn meta_data(seed: &Seed) -> String {
    format!(
        "instance-id: {}\nlocal-hostname: {}\n",
        scalar(&seed.instance_id),
        scalar(&seed.hostname)
    )
}

/// The `user-data` file (`#cloud-config`).
pub fn user_data(seed: &Seed) -> String {
    let mut out = String::from("#cloud-config\n");
    out += &format!("hostname: {}\n", scalar(&seed.hostname));
    out += "disable_root: false\n";
    if !seed.authorized_keys.is_empty() {
        out += "ssh_authorized_keys:\n";
        for key in &seed.authorized_keys {
            out += &format!("  - {}\n", scalar(key.trim()));
        }
    }
    if let Some(pw) = &seed.root_password {
        out += &format!("password: {}\n", scalar(pw));
        out += "ssh_pwauth: true\n";
        out += &format!(
            "chpasswd:\n  expire: false\n  list: {}\n",
            scalar(&format!("root:{pw}"))
        );
    }
    out
}

/// Writes the seed image to `path` (replacing it). `user-data` may hold
/// root's password, so the image is private to its owner from its first
/// byte (mode 0600, see [`create_private`]); libvirt hands it to the qemu
/// user when it starts the domain (its `dynamic_ownership`, as for every
/// disk of the domain).
pub fn write_seed(path: &Path, seed: &Seed) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut file = create_private(&tmp)?;
        file.set_len(SEED_BYTES)?;
        fatfs::format_volume(
            &mut file,
            fatfs::FormatVolumeOptions::new()
                .volume_label(*b"CIDATA     ")
                .volume_id(0x1a90_5eed),
        )?;
        {
            let fs = fatfs::FileSystem::new(&mut file, fatfs::FsOptions::new())?;
            let root = fs.root_dir();
            for (name, text) in [
                ("meta-data", meta_data(seed)),
                ("user-data", user_data(seed)),
            ] {
                let mut f = root.create_file(name)?;
                f.truncate()?;
                f.write_all(text.as_bytes())?;
            }
        }
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn seed() -> Seed {
        Seed {
            instance_id: "fe689d3c-vm0".into(),
            hostname: "vm0".into(),
            authorized_keys: vec!["ssh-rsa AAAAB3Nza lago\n".into()],
            root_password: Some("123456".into()),
        }
    }

    #[test]
    fn user_data_is_cloud_config() {
        let text = user_data(&seed());
        assert!(text.starts_with("#cloud-config\n"));
        assert!(text.contains("hostname: \"vm0\"\n"));
        assert!(text.contains("ssh_authorized_keys:\n  - \"ssh-rsa AAAAB3Nza lago\"\n"));
        assert!(text.contains("password: \"123456\"\n"));
        assert!(text.contains("list: \"root:123456\""));
        assert_eq!(
            meta_data(&seed()),
            "instance-id: \"fe689d3c-vm0\"\nlocal-hostname: \"vm0\"\n"
        );
    }

    #[test]
    fn seed_image_is_fat_labelled_cidata_with_both_files() {
        let dir = std::env::temp_dir().join(format!("lago-seed-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let img = dir.join("seed.img");
        write_seed(&img, &seed()).unwrap();
        // read it back with mtools, as another implementation would
        let out = Command::new("mtype")
            .args(["-i"])
            .arg(&img)
            .arg("::user-data")
            .env("MTOOLS_SKIP_CHECK", "1")
            .output()
            .expect("mtype from mtools (tests/host/up installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), user_data(&seed()));
        // it holds root's password: private to its owner
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&img).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let file = fs::File::open(&img).unwrap();
        let fs = fatfs::FileSystem::new(file, fatfs::FsOptions::new()).unwrap();
        assert_eq!(fs.volume_label(), "CIDATA");
        let names: Vec<String> = fs
            .root_dir()
            .iter()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            names.contains(&"meta-data".to_string()) && names.contains(&"user-data".to_string()),
            "{names:?}"
        );
        drop(fs);
        fs::remove_dir_all(&dir).unwrap();
    }
}
