//! Prefixes in the making, and the repair of what a killed lago left.
//!
//! `init` builds a prefix in the workdir under a staging name,
//! `.staging-<name>-<pid>-<start time>` (the owner is in the name from the
//! first byte), records itself and its lease folder in the staging
//! folder's `init.owner`, and makes the prefix visible with one rename;
//! `current` is pointed last, and `init.owner` removed after it.
//!
//! [`recover`] runs before a lago command uses a workdir. For every staging
//! folder whose owner is dead it releases the folder's subnet leases and
//! removes it; for a prefix that still holds the `init.owner` of a dead
//! init (killed between the rename and `current`) it points `current` at it
//! when the workdir has none, and drops the record. `destroy` renames the
//! prefix to a trash name, `.destroying-<name>-<pid>-<start time>`, before
//! it removes it; a dead owner's trash folder is removed here, and a
//! `current` link left pointing at that prefix is pointed at another one
//! (or removed with the workdir when none is left). Each repair is one
//! line, logged as a warning (target `lago::repair`) and returned.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::lease::SubnetStore;
use crate::owner::Owner;
use crate::paths::Paths;
use crate::workdir::{self, CURRENT};

/// What staging folder names start with.
pub const STAGING_PREFIX: &str = ".staging-";
/// What the names of prefixes being removed start with.
pub const TRASH_PREFIX: &str = ".destroying-";
/// The record of the init making a prefix, inside it.
pub const INIT_RECORD: &str = "init.owner";

/// The staging folder name of prefix `name` made by `owner`.
pub fn staging_name(name: &str, owner: &Owner) -> String {
    format!("{STAGING_PREFIX}{name}-{}-{}", owner.pid, owner.start_time)
}

/// The trash name of prefix `name` being removed by `owner`.
pub fn trash_name(name: &str, owner: &Owner) -> String {
    format!("{TRASH_PREFIX}{name}-{}-{}", owner.pid, owner.start_time)
}

/// The prefix name and owner (a destroy) a trash folder name holds.
pub fn parse_trash_name(folder: &str) -> Option<(String, Owner)> {
    parse_owned_name(folder.strip_prefix(TRASH_PREFIX)?, "destroy")
}

/// The prefix name and owner a staging folder name holds.
pub fn parse_staging_name(folder: &str) -> Option<(String, Owner)> {
    parse_owned_name(folder.strip_prefix(STAGING_PREFIX)?, "init")
}

/// `<name>-<pid>-<start time>`, made by a `verb`.
fn parse_owned_name(rest: &str, verb: &str) -> Option<(String, Owner)> {
    let mut parts = rest.rsplitn(3, '-');
    let start_time = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    let name = parts.next().filter(|n| !n.is_empty())?;
    Some((
        name.to_string(),
        Owner {
            pid,
            start_time,
            verb: verb.to_string(),
        },
    ))
}

/// Whether the uuid file at `uuid_path` is in a staging folder whose
/// owner is dead (its lease is stale).
pub fn in_dead_staging(uuid_path: &Path) -> bool {
    uuid_path
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| parse_staging_name(&n.to_string_lossy()))
        .is_some_and(|(_, owner)| !owner.is_alive())
}

/// What `init` records in the prefix it is making.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitRecord {
    /// The init process.
    #[serde(flatten)]
    pub owner: Owner,
    /// The prefix name it is making.
    pub name: String,
    /// Where its subnet leases are.
    pub lease_dir: PathBuf,
}

impl InitRecord {
    /// Writes the record into the prefix at `paths`.
    pub fn write(&self, paths: &Paths) -> std::io::Result<()> {
        let text = serde_json::to_string(self).map_err(std::io::Error::other)?;
        fs::write(paths.prefixed(INIT_RECORD), text + "\n")
    }

    /// The record in the prefix at `dir`, if any.
    pub fn read(dir: &Path) -> Option<Self> {
        let text = fs::read_to_string(dir.join(INIT_RECORD)).ok()?;
        serde_json::from_str(text.trim()).ok()
    }
}

/// The live staging folder making prefix `name` in `workdir`, if any (its
/// owner).
pub fn live_staging(workdir: &Path, name: &str) -> Option<Owner> {
    let entries = fs::read_dir(workdir).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| parse_staging_name(&e.file_name().to_string_lossy()))
        .find(|(n, owner)| n == name && owner.is_alive())
        .map(|(_, owner)| owner)
}

/// Repairs what killed lago commands left in `workdir` (see the module
/// docs); returns one line per repair. Problems are logged, never fatal:
/// the command goes on and meets them itself.
pub fn recover(workdir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(workdir) else {
        return Vec::new();
    };
    let mut done = Vec::new();
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for folder in &names {
        let dir = workdir.join(folder);
        if let Some((name, owner)) = parse_staging_name(folder) {
            if owner.is_alive() {
                continue;
            }
            // on a remote host: its volumes there first; kept for the next
            // command to retry when the host cannot be reached now
            if let Err(e) = remove_host_volumes(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e.full_message(), "cannot remove the volumes a killed lago init made on its libvirt host; the next lago command retries");
                continue;
            }
            release_leases(&dir);
            match fs::remove_dir_all(&dir) {
                Ok(()) => done.push(format!(
                    "removed the half-made prefix '{name}' of a killed lago init (pid {})",
                    owner.pid
                )),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the half-made prefix of a killed lago init");
                }
            }
        } else if let Some((name, owner)) = parse_trash_name(folder) {
            if owner.is_alive() {
                continue;
            }
            match fs::remove_dir_all(&dir) {
                Ok(()) => {
                    repoint_current(workdir, &name);
                    done.push(format!(
                        "finished removing the prefix '{name}' of a killed lago destroy (pid {})",
                        owner.pid
                    ));
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the prefix of a killed lago destroy");
                }
            }
        } else if let Some(record) = InitRecord::read(&dir)
            && !record.owner.is_alive()
        {
            let has_current = fs::symlink_metadata(workdir.join(CURRENT)).is_ok();
            if !has_current && workdir::point_current(workdir, folder).is_ok() {
                done.push(format!(
                    "adopted the prefix '{folder}' of a killed lago init (pid {}): 'current' points to it",
                    record.owner.pid
                ));
            }
            let _ = fs::remove_file(dir.join(INIT_RECORD));
        }
    }
    if done
        .iter()
        .any(|d| d.starts_with("removed") || d.starts_with("finished"))
    {
        remove_if_empty(workdir);
    }
    for line in &done {
        tracing::warn!(target: "lago::repair", "{line}");
    }
    done
}

/// After prefix `name` of `workdir` was removed: a `current` link left
/// pointing at it points at the first other prefix, or goes when none is
/// left (the workdir itself goes when empty, see [`remove_if_empty`]).
fn repoint_current(workdir: &Path, name: &str) {
    let link = workdir.join(CURRENT);
    let dangling =
        fs::read_link(&link).is_ok_and(|t| t == Path::new(name) && !workdir.join(name).exists());
    if !dangling {
        return;
    }
    let others = crate::workdir::Workdir::load_unchecked(workdir)
        .prefix_names()
        .unwrap_or_default();
    let fixed = match others.first() {
        Some(other) => workdir::point_current(workdir, other).map_err(|e| e.to_string()),
        None => fs::remove_file(&link).map_err(|e| e.to_string()),
    };
    if let Err(e) = fixed {
        tracing::warn!(link = %link.display(), error = %e, "cannot fix 'current' after a killed lago destroy");
    }
}

/// Releases the subnet leases of the staging folder `dir`.
/// Deletes the volumes a killed init made on its remote host (its
/// `host` record says where), if it got that far.
fn remove_host_volumes(dir: &Path) -> crate::error::Result<()> {
    let paths = Paths::new(dir);
    let Some(host) = crate::host::HostRecord::read(&paths).ok().flatten() else {
        return Ok(());
    };
    let lv = crate::provider::libvirt::Libvirt::connect_with(
        &host.uri,
        &crate::provider::auth::Credentials::default(),
    )?;
    let removed = host.remove_volumes(&lv)?;
    tracing::info!(host = %host.uri, volumes = removed, "volumes of a killed init removed from its host");
    Ok(())
}

fn release_leases(dir: &Path) {
    let Some(record) = InitRecord::read(dir) else {
        return;
    };
    let store = SubnetStore::new(&record.lease_dir);
    if let Err(e) = store.release_all_of(&Paths::new(dir).uuid()) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot release the leases of a killed lago init");
    }
}

/// Removes a workdir a killed init made (or a killed destroy emptied) and
/// left with nothing in it.
fn remove_if_empty(workdir: &Path) {
    let empty = fs::read_dir(workdir).is_ok_and(|mut e| e.next().is_none());
    if empty {
        let _ = fs::remove_dir(workdir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead() -> Owner {
        Owner {
            pid: u32::MAX - 1,
            start_time: 1,
            verb: "init".into(),
        }
    }

    #[test]
    fn staging_names_round_trip() {
        let me = Owner::current("init");
        let folder = staging_name("my-env", &me);
        assert!(folder.starts_with(".staging-my-env-"));
        assert_eq!(parse_staging_name(&folder), Some(("my-env".into(), me)));
        assert_eq!(parse_staging_name(".staging--1-2"), None);
        assert_eq!(parse_staging_name("default"), None);
        assert_eq!(parse_staging_name(".staging-x-a-2"), None);
    }

    #[test]
    fn recover_removes_dead_staging_releases_its_lease_and_adopts() {
        let root = tempfile::tempdir().unwrap();
        let workdir = root.path().join(".lago");
        let leases = root.path().join("leases");
        fs::create_dir(&workdir).unwrap();
        // a dead init's staging folder holding a lease
        let staging = Paths::new(workdir.join(staging_name("default", &dead())));
        fs::create_dir(staging.prefix_path()).unwrap();
        fs::write(staging.uuid(), "0123").unwrap();
        InitRecord {
            owner: dead(),
            name: "default".into(),
            lease_dir: leases.clone(),
        }
        .write(&staging)
        .unwrap();
        assert!(in_dead_staging(&staging.uuid()));
        let store = SubnetStore::new(&leases);
        let lease = store.acquire(&staging.uuid(), "0123", None).unwrap();
        // the lease of a dead init's staging folder is stale even before repair
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].status, crate::lease::LeaseStatus::OwnerGone);
        // a live one is left alone
        let live = workdir.join(staging_name("other", &Owner::current("init")));
        fs::create_dir(&live).unwrap();
        assert!(!in_dead_staging(&live.join("uuid")));
        assert_eq!(
            live_staging(&workdir, "other").map(|o| o.pid),
            Some(std::process::id())
        );
        assert_eq!(live_staging(&workdir, "default"), None);
        let done = recover(&workdir);
        assert_eq!(
            done,
            vec![format!(
                "removed the half-made prefix 'default' of a killed lago init (pid {})",
                u32::MAX - 1
            )]
        );
        assert!(!staging.prefix_path().exists());
        assert!(live.exists());
        assert!(!lease.path.exists());
        fs::remove_dir(&live).unwrap();

        // a finished prefix whose init died before `current`
        let made = Paths::new(workdir.join("default"));
        fs::create_dir(made.prefix_path()).unwrap();
        InitRecord {
            owner: dead(),
            name: "default".into(),
            lease_dir: leases.clone(),
        }
        .write(&made)
        .unwrap();
        let done = recover(&workdir);
        assert_eq!(done.len(), 1, "{done:?}");
        assert!(
            done[0].starts_with("adopted the prefix 'default'"),
            "{done:?}"
        );
        assert_eq!(
            fs::read_link(workdir.join(CURRENT)).unwrap(),
            Path::new("default")
        );
        assert!(!made.prefixed(INIT_RECORD).exists());
        assert!(recover(&workdir).is_empty());
    }

    #[test]
    fn recover_removes_the_workdir_a_dead_init_made() {
        let root = tempfile::tempdir().unwrap();
        let workdir = root.path().join(".lago");
        fs::create_dir(&workdir).unwrap();
        fs::create_dir(workdir.join(staging_name("default", &dead()))).unwrap();
        assert_eq!(recover(&workdir).len(), 1);
        assert!(!workdir.exists());
    }

    #[test]
    fn recover_finishes_a_killed_destroy_and_fixes_current() {
        let root = tempfile::tempdir().unwrap();
        let workdir = root.path().join(".lago");
        fs::create_dir(&workdir).unwrap();
        let dead_destroy = Owner {
            verb: "destroy".into(),
            ..dead()
        };
        let trash = workdir.join(trash_name("default", &dead_destroy));
        assert_eq!(
            parse_trash_name(&trash.file_name().unwrap().to_string_lossy()),
            Some(("default".into(), dead_destroy.clone()))
        );
        // killed halfway through the rm -rf of the renamed prefix
        fs::create_dir_all(trash.join("images")).unwrap();
        fs::write(trash.join("images/disk.qcow2"), "x").unwrap();
        fs::create_dir(workdir.join("other")).unwrap();
        workdir::point_current(&workdir, "default").unwrap();
        // a live destroy's trash is left alone
        let live = workdir.join(trash_name("other2", &Owner::current("destroy")));
        fs::create_dir(&live).unwrap();
        let done = recover(&workdir);
        assert_eq!(
            done,
            vec![format!(
                "finished removing the prefix 'default' of a killed lago destroy (pid {})",
                u32::MAX - 1
            )]
        );
        assert!(!trash.exists() && live.exists());
        assert_eq!(
            fs::read_link(workdir.join(CURRENT)).unwrap(),
            Path::new("other")
        );
        let w = crate::workdir::Workdir::load(&workdir).unwrap();
        assert_eq!(w.prefix_names().unwrap(), ["other"], "trash is no prefix");
        fs::remove_dir(&live).unwrap();

        // the last prefix: `current` and the workdir go too
        fs::remove_dir(workdir.join("other")).unwrap();
        fs::create_dir(&trash).unwrap();
        workdir::point_current(&workdir, "default").unwrap();
        assert_eq!(recover(&workdir).len(), 1);
        assert!(!workdir.exists());
    }
}
