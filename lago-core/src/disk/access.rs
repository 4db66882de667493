//! Can qemu reach an image? The check for Lago's most reported failure.
//!
//! libvirt runs qemu as an unprivileged user (`libvirt-qemu` on Debian,
//! `qemu` on Fedora) and hands it the image files (it chowns the files, not
//! their folders). If any folder above an image lacks the search (`x`) bit
//! for that user — a workdir under `/root`, which is 0700, is the usual case
//! — qemu fails with a permission error that names neither the folder nor the
//! fix. [`check_qemu_can_reach`] finds that folder before a VM starts.
//!
//! The check reads the permission bits, owner and group of each folder on
//! the way (on the path as given and on its resolved form, since a link's
//! target folders count too) and applies the POSIX owner/group/other rule for
//! the user and its groups. POSIX ACLs are not read: a folder opened to qemu
//! only through an ACL is reported as unreachable.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::DiskError;
use super::qemu_img::{absolute, require_exists};

/// The user qemu runs as, with its groups, as the check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuUser {
    /// The user name, for messages.
    pub name: String,
    /// The user id.
    pub uid: u32,
    /// The primary group and every supplementary group.
    pub gids: Vec<u32>,
}

impl QemuUser {
    /// The names libvirt's qemu driver runs as by default, in lookup order:
    /// Debian/Ubuntu's, then Fedora/RHEL's.
    pub const DEFAULT_NAMES: &'static [&'static str] = &["libvirt-qemu", "qemu"];

    /// Looks `name` up in the text of `/etc/passwd` and `/etc/group` (pure:
    /// the contents are arguments). `None` if there is no such user.
    pub fn from_files(name: &str, passwd: &str, group: &str) -> Option<Self> {
        let (uid, primary) = passwd.lines().find_map(|line| {
            let mut fields = line.split(':');
            if fields.next()? != name {
                return None;
            }
            let _password = fields.next()?;
            let uid = fields.next()?.parse::<u32>().ok()?;
            let gid = fields.next()?.parse::<u32>().ok()?;
            Some((uid, gid))
        })?;
        let mut gids = vec![primary];
        for line in group.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if let [_, _, gid, members] = fields[..]
                && members.split(',').any(|m| m.trim() == name)
                && let Ok(gid) = gid.parse::<u32>()
                && !gids.contains(&gid)
            {
                gids.push(gid);
            }
        }
        Some(QemuUser {
            name: name.to_owned(),
            uid,
            gids,
        })
    }

    /// Looks `name` up in this host's `/etc/passwd` and `/etc/group`.
    /// Users only in another name service (LDAP) are not found.
    pub fn lookup(name: &str) -> Option<Self> {
        let passwd = fs::read_to_string("/etc/passwd").ok()?;
        let group = fs::read_to_string("/etc/group").unwrap_or_default();
        Self::from_files(name, &passwd, &group)
    }

    /// The first of [`DEFAULT_NAMES`](Self::DEFAULT_NAMES) that exists on
    /// this host.
    pub fn detect() -> Option<Self> {
        Self::DEFAULT_NAMES
            .iter()
            .find_map(|name| Self::lookup(name))
    }
}

/// Whether `user` may search (`x`) a folder with permission bits `mode`,
/// owned by `owner`:`group`, under the POSIX rule: the owner bits if the user
/// owns it, else the group bits if it is in the group, else the other bits.
/// root may search anything.
pub fn can_search(mode: u32, owner: u32, group: u32, user: &QemuUser) -> bool {
    if user.uid == 0 {
        return true;
    }
    let bit = if user.uid == owner {
        0o100
    } else if user.gids.contains(&group) {
        0o010
    } else {
        0o001
    };
    mode & bit != 0
}

/// Checks that the user qemu runs as (see [`QemuUser::detect`]) can search
/// every folder above `path`. If no such user exists on this host (qemu may
/// run as root, or the user lives in another name service) the check is
/// skipped.
///
/// Errors: [`DiskError::NotFound`] if `path` does not exist,
/// [`DiskError::NotSearchable`] naming the topmost folder in the way and the
/// fix.
pub fn check_qemu_can_reach(path: &Path) -> Result<(), DiskError> {
    match QemuUser::detect() {
        Some(user) => check_reachable_by(path, &user),
        None => {
            tracing::debug!(
                path = %path.display(),
                "no libvirt-qemu or qemu user: not checking folder permissions"
            );
            let path = absolute(path)?;
            require_exists(&path, "disk image")
        }
    }
}

/// [`check_qemu_can_reach`] for a given `user`.
pub fn check_reachable_by(path: &Path, user: &QemuUser) -> Result<(), DiskError> {
    let path = absolute(path)?;
    require_exists(&path, "disk image")?;
    let mut folders: Vec<PathBuf> = path.ancestors().skip(1).map(Path::to_path_buf).collect();
    // The resolved path: a linked folder's target and its parents count too.
    let resolved = fs::canonicalize(&path).map_err(|source| DiskError::Io {
        op: "resolve",
        path: path.clone(),
        source,
    })?;
    for folder in resolved.ancestors().skip(1) {
        if !folders.iter().any(|f| f == folder) {
            folders.push(folder.to_path_buf());
        }
    }
    // Topmost first, so the error names the first folder to fix.
    folders.sort_by_key(|f| f.components().count());
    for folder in folders {
        let meta = fs::metadata(&folder).map_err(|source| DiskError::Io {
            op: "look at",
            path: folder.clone(),
            source,
        })?;
        let mode = meta.mode() & 0o7777;
        if !can_search(mode, meta.uid(), meta.gid(), user) {
            return Err(DiskError::NotSearchable {
                path,
                folder,
                user: user.name.clone(),
                mode,
                owner: meta.uid(),
                group: meta.gid(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        libvirt-qemu:x:64055:107:Libvirt Qemu,,,:/var/lib/libvirt:/usr/sbin/nologin\n\
        alice:x:1000:1000::/home/alice:/bin/bash\n";
    const GROUP: &str = "root:x:0:\nkvm:x:107:\nlibvirt-qemu:x:64055:libvirt-qemu\n\
        disks:x:3000:alice,libvirt-qemu\nother:x:3001:alice\n";

    fn qemu() -> QemuUser {
        QemuUser::from_files("libvirt-qemu", PASSWD, GROUP).unwrap()
    }

    fn set_mode(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn user_and_groups_from_files() {
        let user = qemu();
        assert_eq!(user.uid, 64055);
        assert_eq!(user.gids, vec![107, 64055, 3000]);
        assert_eq!(QemuUser::from_files("nobody", PASSWD, GROUP), None);
        assert_eq!(QemuUser::from_files("libvirt", PASSWD, GROUP), None);
    }

    #[test]
    fn search_rule_owner_group_other() {
        let user = qemu();
        // owner bits apply to the owner, even if others could search
        assert!(!can_search(0o601, 64055, 0, &user));
        assert!(can_search(0o700, 64055, 0, &user));
        // group bits for a member
        assert!(can_search(0o710, 0, 3000, &user));
        assert!(!can_search(0o701, 0, 3000, &user));
        // other bits for everyone else
        assert!(!can_search(0o700, 0, 0, &user));
        assert!(!can_search(0o770, 0, 3001, &user));
        assert!(can_search(0o701, 0, 3001, &user));
        let root = QemuUser {
            name: "root".into(),
            uid: 0,
            gids: vec![0],
        };
        assert!(can_search(0o000, 5, 5, &root));
    }

    #[test]
    fn reachable_folders_pass() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("a/b/img.qcow2");
        fs::create_dir_all(image.parent().unwrap()).unwrap();
        fs::write(&image, b"x").unwrap();
        set_mode(dir.path(), 0o755);
        check_reachable_by(&image, &qemu()).unwrap();
    }

    #[test]
    fn closed_folder_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("home");
        let image = top.join("work/.lago/default/images/vm0_root.qcow2");
        fs::create_dir_all(image.parent().unwrap()).unwrap();
        fs::write(&image, b"x").unwrap();
        set_mode(dir.path(), 0o755);
        set_mode(&top, 0o700);
        // a lower folder closed too: the topmost one is reported first
        set_mode(&top.join("work"), 0o750);
        let err = check_reachable_by(&image, &qemu()).unwrap_err();
        match &err {
            DiskError::NotSearchable {
                folder, mode, path, ..
            } => {
                assert_eq!(folder, &top);
                assert_eq!(*mode, 0o700);
                assert_eq!(path, &image);
            }
            other => panic!("{other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("user 'libvirt-qemu'"), "{msg}");
        assert!(
            msg.contains(&format!("run `chmod o+x {}`", top.display())),
            "{msg}"
        );
        assert!(msg.contains("mode 0700"), "{msg}");
        set_mode(&top, 0o711);
        let err = check_reachable_by(&image, &qemu()).unwrap_err();
        assert!(
            matches!(&err, DiskError::NotSearchable { folder, .. } if folder == &top.join("work")),
            "{err:?}"
        );
        set_mode(&top.join("work"), 0o755);
        check_reachable_by(&image, &qemu()).unwrap();
    }

    #[test]
    fn linked_folder_target_counts() {
        let dir = tempfile::tempdir().unwrap();
        set_mode(dir.path(), 0o755);
        let hidden = dir.path().join("hidden");
        fs::create_dir_all(hidden.join("store")).unwrap();
        fs::write(hidden.join("store/img"), b"x").unwrap();
        set_mode(&hidden, 0o700);
        std::os::unix::fs::symlink(hidden.join("store"), dir.path().join("link")).unwrap();
        let err = check_reachable_by(&dir.path().join("link/img"), &qemu()).unwrap_err();
        assert!(
            matches!(&err, DiskError::NotSearchable { folder, .. } if folder == &hidden),
            "{err:?}"
        );
    }

    #[test]
    fn missing_image_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_reachable_by(&dir.path().join("nope.qcow2"), &qemu()).unwrap_err();
        assert!(matches!(err, DiskError::NotFound { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with("disk image not found: "),
            "{err}"
        );
    }
}
