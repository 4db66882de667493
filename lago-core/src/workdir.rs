//! Workdirs: a folder (by default `.lago`) holding one or more prefixes and a
//! `current` symlink naming the default one, as Lago lays them out.
//!
//! A workdir is recognised by its `current` link, which must be a symlink
//! (anything else is a malformed workdir). Prefix names are folder names;
//! the name `current` always means "the prefix the link points at".

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind};
use crate::paths::Paths;

/// The name of the link to the default prefix.
pub const CURRENT: &str = "current";
/// The prefix name `init` uses when none is given.
pub const DEFAULT_PREFIX: &str = "default";

/// What can go wrong with a workdir. Each names the folder involved.
#[derive(Debug, thiserror::Error)]
pub enum WorkdirError {
    /// The folder is not a workdir (no `current` link, no prefix).
    #[error("{path} is not a lago workdir: it has no '{CURRENT}' link (`lago init` makes one)")]
    NotAWorkdir {
        /// The folder.
        path: PathBuf,
    },
    /// No `current` link, and more than one prefix to choose from (a
    /// workdir whose first init was killed, or made by another tool).
    #[error(
        "workdir {path} has no '{CURRENT}' link and several prefixes ({available}): \
         run `lago set-current NAME`, or name one with `lago --prefix-name NAME ...`"
    )]
    NoCurrent {
        /// The workdir.
        path: PathBuf,
        /// Its prefixes, comma separated.
        available: String,
    },
    /// `current` exists but is not a symlink.
    #[error("malformed workdir {path}: '{CURRENT}' must be a symlink to a prefix folder")]
    Malformed {
        /// The workdir.
        path: PathBuf,
    },
    /// No prefix of that name.
    #[error("no prefix '{name}' in workdir {workdir} (prefixes: {available})")]
    PrefixNotFound {
        /// The name asked for.
        name: String,
        /// The workdir.
        workdir: PathBuf,
        /// The prefixes it has, comma separated.
        available: String,
    },
    /// A prefix of that name exists already.
    #[error("prefix '{name}' already exists in workdir {workdir}")]
    PrefixExists {
        /// The name.
        name: String,
        /// The workdir.
        workdir: PathBuf,
    },
    /// A name that cannot be a prefix folder.
    #[error(
        "invalid prefix name '{name}': use a plain folder name (not empty, '.', '..', '{CURRENT}', or containing '/')"
    )]
    BadName {
        /// The name.
        name: String,
    },
    /// A file system operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl From<WorkdirError> for Error {
    fn from(err: WorkdirError) -> Self {
        let kind = match &err {
            WorkdirError::NotAWorkdir { .. }
            | WorkdirError::NoCurrent { .. }
            | WorkdirError::PrefixNotFound { .. } => ErrorKind::NotFound,
            WorkdirError::PrefixExists { .. } => ErrorKind::AlreadyExists,
            WorkdirError::Malformed { .. } | WorkdirError::BadName { .. } => {
                ErrorKind::InvalidInput
            }
            WorkdirError::Io { .. } => ErrorKind::Io,
        };
        let path = match &err {
            WorkdirError::NotAWorkdir { path }
            | WorkdirError::NoCurrent { path, .. }
            | WorkdirError::Malformed { path }
            | WorkdirError::Io { path, .. } => Some(path.clone()),
            WorkdirError::PrefixNotFound { workdir, .. }
            | WorkdirError::PrefixExists { workdir, .. } => Some(workdir.clone()),
            WorkdirError::BadName { .. } => None,
        };
        let out = Error::with_source(kind, err.to_string(), err);
        match path {
            Some(path) => out.with_path(path),
            None => out,
        }
    }
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WorkdirError {
    let path = path.to_path_buf();
    move |source| WorkdirError::Io { what, path, source }
}

/// An existing workdir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workdir {
    path: PathBuf,
}

impl Workdir {
    /// Opens the workdir at `path`, first repairing what killed lago
    /// commands left in it (see [`crate::prefix::staging::recover`]).
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, WorkdirError> {
        let path = path.into();
        crate::prefix::staging::recover(&path);
        let link = path.join(CURRENT);
        match fs::symlink_metadata(&link) {
            Ok(meta) if meta.file_type().is_symlink() => Ok(Self { path }),
            Ok(_) => Err(WorkdirError::Malformed { path }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A workdir whose `current` was never made (its first init
                // was killed, by an older lago or by Lago) still holds its
                // prefixes, which `destroy` must reach.
                let w = Self { path };
                match w.prefix_names() {
                    Ok(names) if names.iter().any(|n| w.looks_like_prefix(n)) => Ok(w),
                    _ => Err(WorkdirError::NotAWorkdir { path: w.path }),
                }
            }
            Err(e) => Err(io_err("cannot read", &link)(e)),
        }
    }

    /// The workdir at `path` as it is: no repair, no check.
    pub(crate) fn load_unchecked(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    /// The folder holding the prefix at `prefix_dir`, and the prefix's
    /// name, for a prefix used on its own (Lago's `--prefix-path`): the
    /// folder needs no `current` link, and removing the prefix leaves the
    /// folder alone when it has none.
    pub fn of_prefix(prefix_dir: &Path) -> Result<(Self, String), WorkdirError> {
        if let Some(parent) = prefix_dir.parent() {
            crate::prefix::staging::recover(parent);
        }
        let name = prefix_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n != CURRENT)
            .ok_or_else(|| WorkdirError::BadName {
                name: prefix_dir.display().to_string(),
            })?;
        let parent = prefix_dir.parent().unwrap_or(Path::new("/")).to_path_buf();
        Ok((Self { path: parent }, name))
    }

    /// Lago's heuristic for "this looks like a workdir": `current/initialized`
    /// and `current/uuid` exist.
    pub fn is_possible_workdir(path: &Path) -> bool {
        let current = path.join(CURRENT);
        current.join("initialized").is_file() && current.join("uuid").is_file()
    }

    /// Finds the workdir for a command run in `cwd`: `cwd` itself if it is a
    /// workdir, else the first `.lago` in `cwd` and its ancestors.
    pub fn resolve(cwd: &Path) -> Result<Self, WorkdirError> {
        if let Ok(w) = Self::load(cwd) {
            return Ok(w);
        }
        for dir in cwd.ancestors() {
            if let Ok(w) = Self::load(dir.join(".lago")) {
                return Ok(w);
            }
        }
        Err(WorkdirError::NotAWorkdir {
            path: cwd.join(".lago"),
        })
    }

    /// The workdir's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether folder `name` here has what every prefix gets first (its
    /// uuid and SSH key).
    fn looks_like_prefix(&self, name: &str) -> bool {
        let paths = Paths::new(self.path.join(name));
        paths.uuid().is_file() && paths.ssh_id_rsa().is_file()
    }

    /// The name `current` points at; without the link, the only prefix.
    pub fn current(&self) -> Result<String, WorkdirError> {
        let link = self.path.join(CURRENT);
        let target = match fs::read_link(&link) {
            Ok(target) => target,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let names = self.prefix_names()?;
                return match names.as_slice() {
                    [only] => Ok(only.clone()),
                    [] => Err(WorkdirError::NotAWorkdir {
                        path: self.path.clone(),
                    }),
                    _ => Err(WorkdirError::NoCurrent {
                        path: self.path.clone(),
                        available: names.join(", "),
                    }),
                };
            }
            Err(e) => return Err(io_err("cannot read link", &link)(e)),
        };
        Ok(target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default())
    }

    /// The names of the prefixes here: every folder but `current`, the
    /// staging folders of prefixes in the making and the trash of prefixes
    /// being removed, sorted.
    pub fn prefix_names(&self) -> Result<Vec<String>, WorkdirError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.path).map_err(io_err("cannot list", &self.path))? {
            let entry = entry.map_err(io_err("cannot list", &self.path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == CURRENT
                || name.starts_with(crate::prefix::staging::STAGING_PREFIX)
                || name.starts_with(crate::prefix::staging::TRASH_PREFIX)
            {
                continue;
            }
            let is_dir = entry
                .file_type()
                .map(|t| t.is_dir())
                .map_err(io_err("cannot stat", &entry.path()))?;
            if is_dir {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The real name of `name` (`current` resolved through the link).
    pub fn resolve_name(&self, name: &str) -> Result<String, WorkdirError> {
        if name == CURRENT {
            self.current()
        } else {
            Ok(name.to_string())
        }
    }

    /// The paths of an existing prefix (`current` allowed).
    pub fn prefix(&self, name: &str) -> Result<Paths, WorkdirError> {
        let real = self.resolve_name(name)?;
        let dir = self.path.join(&real);
        if real.is_empty() || !dir.is_dir() {
            return Err(WorkdirError::PrefixNotFound {
                name: name.to_string(),
                workdir: self.path.clone(),
                available: self.prefix_names()?.join(", "),
            });
        }
        Ok(Paths::new(dir))
    }

    /// Points `current` at prefix `name`, atomically (a new link renamed
    /// over the old one).
    pub fn set_current(&self, name: &str) -> Result<(), WorkdirError> {
        let real = self.resolve_name(name)?;
        self.prefix(&real)?;
        point_current(&self.path, &real)
    }

    /// Checks a prefix name that is to become a folder.
    pub fn check_name(name: &str) -> Result<(), WorkdirError> {
        if name.is_empty() || name == "." || name == ".." || name == CURRENT || name.contains('/') {
            return Err(WorkdirError::BadName {
                name: name.to_string(),
            });
        }
        Ok(())
    }

    /// Removes prefix folder `name`, and repoints `current` at another prefix
    /// if it pointed here (or removes the whole workdir when none is left).
    /// Only the prefix's own folder is deleted.
    ///
    /// The folder is first renamed to a trash name
    /// (`.destroying-<name>-<pid>-<start time>`, see
    /// [`crate::prefix::staging::trash_name`]), so a removal killed halfway
    /// leaves no half prefix: the next lago command removes a dead owner's
    /// trash and fixes `current` ([`crate::prefix::staging::recover`]).
    pub fn remove_prefix(&self, name: &str) -> Result<(), WorkdirError> {
        let real = self.resolve_name(name)?;
        let paths = self.prefix(&real)?;
        let trash = self.path.join(crate::prefix::staging::trash_name(
            &real,
            &crate::owner::Owner::current("destroy"),
        ));
        fs::rename(paths.prefix_path(), &trash)
            .map_err(io_err("cannot remove", paths.prefix_path()))?;
        let in_workdir = fs::symlink_metadata(self.path.join(CURRENT)).is_ok();
        let rest = if in_workdir {
            let rest = self.prefix_names()?;
            if !rest.is_empty() && self.current()? == real {
                point_current(&self.path, &rest[0])?;
            }
            rest
        } else {
            Vec::new()
        };
        fs::remove_dir_all(&trash).map_err(io_err("cannot remove", &trash))?;
        if in_workdir && rest.is_empty() {
            // a prefix used on its own has no workdir to tidy
            return self.remove_if_empty();
        }
        Ok(())
    }

    /// Removes the workdir when it holds nothing but its `current` link.
    fn remove_if_empty(&self) -> Result<(), WorkdirError> {
        let link = self.path.join(CURRENT);
        let mut others = fs::read_dir(&self.path)
            .map_err(io_err("cannot list", &self.path))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name() != CURRENT);
        if others.next().is_some() {
            return Ok(());
        }
        fs::remove_file(&link).map_err(io_err("cannot remove", &link))?;
        fs::remove_dir(&self.path).map_err(io_err("cannot remove", &self.path))
    }
}

/// Makes `workdir/current` a relative symlink to `name`, replacing any old
/// link atomically.
pub fn point_current(workdir: &Path, name: &str) -> Result<(), WorkdirError> {
    let link = workdir.join(CURRENT);
    let tmp = workdir.join(format!(".{CURRENT}.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp).map_err(io_err("cannot create link", &tmp))?;
    fs::rename(&tmp, &link).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err("cannot replace link", &link)(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lago-workdir-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn make_prefix(workdir: &Path, name: &str) {
        let p = workdir.join(name);
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join("initialized"), "").unwrap();
        fs::write(p.join("uuid"), "0123456789abcdef0123456789abcdef").unwrap();
    }

    #[test]
    fn a_workdir_without_current_is_reached_through_its_prefixes() {
        let dir = scratch("nocurrent");
        // a folder that is not a prefix does not make a workdir
        fs::create_dir(dir.join("random")).unwrap();
        let err = Workdir::load(&dir).unwrap_err();
        assert!(err.to_string().contains("`lago init` makes one"), "{err}");
        // a half-made prefix (uuid and key, nothing else) does
        let half = Paths::new(dir.join("default"));
        fs::create_dir(half.prefix_path()).unwrap();
        fs::write(half.uuid(), "0123").unwrap();
        fs::write(half.ssh_id_rsa(), "key").unwrap();
        fs::remove_dir(dir.join("random")).unwrap();
        let w = Workdir::load(&dir).unwrap();
        assert_eq!(w.current().unwrap(), "default");
        assert_eq!(w.prefix("current").unwrap(), half);
        make_prefix(&dir, "other");
        let err = w.current().unwrap_err();
        assert!(matches!(err, WorkdirError::NoCurrent { .. }), "{err:?}");
        assert!(err.to_string().contains("lago set-current NAME"), "{err}");
        w.set_current("other").unwrap();
        assert_eq!(w.current().unwrap(), "other");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn load_requires_a_current_symlink() {
        let dir = scratch("load");
        assert!(matches!(
            Workdir::load(&dir),
            Err(WorkdirError::NotAWorkdir { .. })
        ));
        fs::create_dir(dir.join(CURRENT)).unwrap();
        let err = Workdir::load(&dir).unwrap_err();
        assert!(err.to_string().contains("must be a symlink"), "{err}");
        fs::remove_dir(dir.join(CURRENT)).unwrap();
        make_prefix(&dir, "default");
        point_current(&dir, "default").unwrap();
        let w = Workdir::load(&dir).unwrap();
        assert_eq!(w.current().unwrap(), "default");
        assert!(Workdir::is_possible_workdir(&dir));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_prefix_on_its_own_is_opened_and_removed_without_a_workdir() {
        let dir = scratch("standalone");
        make_prefix(&dir, "env");
        fs::write(dir.join("keep"), "").unwrap();
        let (w, name) = Workdir::of_prefix(&dir.join("env")).unwrap();
        assert_eq!((w.path(), name.as_str()), (dir.as_path(), "env"));
        assert!(w.prefix("env").is_ok());
        w.remove_prefix("env").unwrap();
        assert!(!dir.join("env").exists());
        assert!(dir.join("keep").exists(), "the parent folder is left alone");
        assert!(Workdir::of_prefix(&dir.join(CURRENT)).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn prefixes_current_and_set_current() {
        let dir = scratch("prefixes");
        make_prefix(&dir, "default");
        make_prefix(&dir, "other");
        point_current(&dir, "default").unwrap();
        let w = Workdir::load(&dir).unwrap();
        assert_eq!(w.prefix_names().unwrap(), ["default", "other"]);
        w.set_current("other").unwrap();
        assert_eq!(w.current().unwrap(), "other");
        assert_eq!(
            fs::read_link(dir.join(CURRENT)).unwrap(),
            Path::new("other")
        );
        assert_eq!(
            w.prefix("current").unwrap().prefix_path(),
            dir.join("other")
        );
        let err = w.prefix("nope").unwrap_err().to_string();
        assert!(
            err.contains("no prefix 'nope'") && err.contains("default, other"),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn removing_prefixes_moves_current_then_removes_workdir() {
        let dir = scratch("remove");
        make_prefix(&dir, "a");
        make_prefix(&dir, "b");
        point_current(&dir, "b").unwrap();
        let w = Workdir::load(&dir).unwrap();
        w.remove_prefix("current").unwrap();
        assert_eq!(w.current().unwrap(), "a");
        w.remove_prefix("a").unwrap();
        assert!(!dir.exists());
    }

    #[test]
    fn removing_a_prefix_leaves_no_trash_behind() {
        let dir = scratch("trash");
        make_prefix(&dir, "a");
        make_prefix(&dir, "b");
        point_current(&dir, "a").unwrap();
        let w = Workdir::load(&dir).unwrap();
        w.remove_prefix("a").unwrap();
        let left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut left = left;
        left.sort();
        assert_eq!(left, ["b", "current"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn resolve_walks_up_to_a_dot_lago() {
        let dir = scratch("resolve");
        let wd = dir.join(".lago");
        fs::create_dir(&wd).unwrap();
        make_prefix(&wd, "default");
        point_current(&wd, "default").unwrap();
        let deep = dir.join("a/b");
        fs::create_dir_all(&deep).unwrap();
        assert_eq!(Workdir::resolve(&deep).unwrap().path(), wd);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_names_are_refused() {
        for name in ["", ".", "..", "current", "a/b"] {
            assert!(Workdir::check_name(name).is_err(), "{name}");
        }
        assert!(Workdir::check_name("default").is_ok());
    }
}
