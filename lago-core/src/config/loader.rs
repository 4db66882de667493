//! Loading the configuration: which files and environment variables are
//! read, in which order, and how `LAGO_*` variable names map to keys.
//!
//! Everything the loader reads is in [`ConfigLoader`]'s fields, so tests
//! (and embedders) can point it at their own files and environment;
//! [`ConfigLoader::from_system`] fills them from the real process.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Config, ConfigError, ROOT_SECTION, Source, ini};

/// Lago's system-wide configuration file.
pub const ETC_CONFIG_PATH: &str = "/etc/lago/lago.conf";

/// What to load a [`Config`] from.
///
/// Files that do not exist are skipped; files that cannot be read are skipped
/// with a warning; a malformed file is an error naming the file and line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigLoader {
    /// The system-wide file, read first ([`ETC_CONFIG_PATH`] on a real system).
    pub etc_path: Option<PathBuf>,
    /// XDG configuration directories, **most important first**
    /// (`$XDG_CONFIG_HOME`, then the `$XDG_CONFIG_DIRS` entries); the file
    /// `<dir>/lago/lago.conf` of each is read in the reverse order, so the
    /// first directory wins.
    pub xdg_dirs: Vec<PathBuf>,
    /// Environment variables, in the order to apply them (a later duplicate
    /// key wins). Only names matching the `LAGO_` rules are used.
    pub env: Vec<(String, String)>,
}

impl ConfigLoader {
    /// A loader that reads nothing: [`ConfigLoader::load`] gives the built-in
    /// defaults.
    pub fn isolated() -> Self {
        Self::default()
    }

    /// The loader Lago would use in this process: `/etc/lago/lago.conf`, the
    /// XDG directories from this process's environment, and its environment.
    /// Variables whose name or value is not UTF-8 are skipped (with a warning
    /// for names starting with `LAGO`).
    pub fn from_system() -> Self {
        let env = std::env::vars_os()
            .filter_map(|(name, value)| match (name.into_string(), value.into_string()) {
                (Ok(name), Ok(value)) => Some((name, value)),
                (name, _) => {
                    let name = name.unwrap_or_else(|raw: OsString| raw.to_string_lossy().into_owned());
                    if name.starts_with("LAGO") {
                        tracing::warn!(var = %name, "ignoring environment variable that is not UTF-8");
                    }
                    None
                }
            })
            .collect();
        Self::from_env(env)
    }

    /// A loader for a process whose environment is `env`: `/etc/lago/lago.conf`,
    /// the XDG directories derived from `XDG_CONFIG_HOME` (default
    /// `$HOME/.config`) and `XDG_CONFIG_DIRS` (default `/etc/xdg`), and the
    /// `LAGO` variables of `env`. Relative and empty directory entries are
    /// ignored, as the XDG Base Directory specification requires.
    pub fn from_env(env: Vec<(String, String)>) -> Self {
        let var = |name: &str| {
            env.iter()
                .rev()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
                .filter(|value| !value.is_empty())
        };
        let mut xdg_dirs = Vec::new();
        let home_config = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                var("HOME")
                    .map(|home| Path::new(home).join(".config"))
                    .filter(|p| p.is_absolute())
            });
        xdg_dirs.extend(home_config);
        xdg_dirs.extend(
            var("XDG_CONFIG_DIRS")
                .unwrap_or("/etc/xdg")
                .split(':')
                .map(PathBuf::from)
                .filter(|p| p.is_absolute()),
        );
        Self {
            etc_path: Some(PathBuf::from(ETC_CONFIG_PATH)),
            xdg_dirs,
            env,
        }
    }

    /// The configuration files to read, in the order they are applied (later
    /// wins), whether or not they exist.
    pub fn config_files(&self) -> Vec<PathBuf> {
        self.etc_path
            .iter()
            .cloned()
            .chain(
                self.xdg_dirs
                    .iter()
                    .rev()
                    .map(|dir| dir.join("lago").join("lago.conf")),
            )
            .collect()
    }

    /// Loads the configuration: defaults, then [`ConfigLoader::config_files`],
    /// then [`ConfigLoader::env`].
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = Config::new();
        for path in self.config_files() {
            let Some(bytes) = read_optional(&path) else {
                continue;
            };
            let text = std::str::from_utf8(&bytes).map_err(|err| ConfigError::NotUtf8 {
                path: path.clone(),
                line: 1 + bytes[..err.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count(),
            })?;
            let items = ini::parse(text, &path)?;
            tracing::debug!(file = %path.display(), keys = items.len(), "read configuration file");
            for item in items {
                let source = Source::File {
                    path: path.clone(),
                    line: item.line,
                };
                if item.section == "DEFAULT" {
                    config.apply_file_default(&item.key, item.value, source);
                } else {
                    config.apply(&item.section, &item.key, Some(item.value), source);
                }
            }
        }
        for (name, value) in &self.env {
            let Some((section, key)) = parse_env_name(name) else {
                continue;
            };
            if value.is_empty() {
                tracing::warn!(var = %name, "empty environment variable definition, ignoring");
                continue;
            }
            let section = section.map_or_else(|| ROOT_SECTION.to_string(), str::to_lowercase);
            config.apply(
                &section,
                &key.to_lowercase(),
                Some(value.clone()),
                Source::Env { var: name.clone() },
            );
        }
        config.inherit_file_defaults();
        Ok(config)
    }
}

/// Reads a config file, or `None` if it is missing or unreadable (the latter
/// with a warning), as Lago ignores `IOError`s here.
fn read_optional(path: &Path) -> Option<Vec<u8>> {
    match fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => {
            tracing::warn!(file = %path.display(), %err, "cannot read configuration file, skipping it");
            None
        }
    }
}

/// Splits an environment variable name into (section, key), unconverted, as
/// Lago's regular expression
/// `^LAGO(?:_(?!_)|(?P<has>__))(?(has)(?P<section>.+?)__)(?P<name>.+)$`
/// does: `LAGO_KEY` → (None, `KEY`); `LAGO__SECTION__KEY` → (`SECTION`,
/// `KEY`), the section being the shortest non-empty run followed by `__` and
/// a non-empty key (so `LAGO__A__B__C` → (`A`, `B__C`)). `LAGO` must be upper
/// case; names that do not match (`LAGO`, `LAGO_`, `LAGO__X`, `LAGOX`) give
/// `None`. Like the regex, a name may end in one newline, which is dropped,
/// and may not contain another.
pub(super) fn parse_env_name(name: &str) -> Option<(Option<&str>, &str)> {
    let name = name.strip_suffix('\n').unwrap_or(name);
    if name.contains('\n') {
        return None;
    }
    let rest = name.strip_prefix("LAGO")?;
    if let Some(rest) = rest.strip_prefix("__") {
        // The first "__" that leaves a non-empty section before it and a
        // non-empty key after it.
        return (1..rest.len()).find_map(|i| {
            let (section, tail) = rest.split_at_checked(i)?;
            let key = tail.strip_prefix("__")?;
            (!key.is_empty()).then_some((Some(section), key))
        });
    }
    let key = rest.strip_prefix('_')?;
    (!key.is_empty()).then_some((None, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_lagos_regex() {
        type Split<'a> = Option<(Option<&'a str>, &'a str)>;
        let cases: &[(&str, Split<'_>)] = &[
            ("LAGO_SSH_USER", Some((None, "SSH_USER"))),
            ("LAGO_X", Some((None, "X"))),
            (
                "LAGO__START__WAIT_SUSPEND",
                Some((Some("START"), "WAIT_SUSPEND")),
            ),
            (
                "LAGO__INIT__TEMPLATE_STORE",
                Some((Some("INIT"), "TEMPLATE_STORE")),
            ),
            ("LAGO__A__B__C", Some((Some("A"), "B__C"))),
            (
                "LAGO__LONG_SECTION__KEY",
                Some((Some("LONG_SECTION"), "KEY")),
            ),
            ("LAGO__A___B", Some((Some("A"), "_B"))),
            ("LAGO___X__Y", Some((Some("_X"), "Y"))),
            ("LAGO__A____", Some((Some("A"), "__"))),
            ("LAGO__FOO__", None),
            ("LAGO__FOO", None),
            ("LAGO__", None),
            ("LAGO_", None),
            ("LAGO", None),
            ("LAGOX", None),
            ("lago_x", None),
            ("XLAGO_X", None),
            ("LAGO_X\n", Some((None, "X"))),
            ("LAGO_X\n\n", None),
            ("LAGO_X\nY", None),
            ("LAGO__é__ü", Some((Some("é"), "ü"))),
        ];
        for (name, expected) in cases {
            assert_eq!(parse_env_name(name), *expected, "{name:?}");
        }
    }

    #[test]
    fn xdg_dirs_from_env() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<Vec<_>>()
        };
        let loader = ConfigLoader::from_env(env(&[("HOME", "/home/u")]));
        assert_eq!(loader.etc_path.as_deref(), Some(Path::new(ETC_CONFIG_PATH)));
        assert_eq!(
            loader.xdg_dirs,
            [PathBuf::from("/home/u/.config"), PathBuf::from("/etc/xdg")]
        );
        let loader = ConfigLoader::from_env(env(&[
            ("HOME", "/home/u"),
            ("XDG_CONFIG_HOME", "/cfg"),
            ("XDG_CONFIG_DIRS", "/a::rel:/b"),
        ]));
        assert_eq!(
            loader.xdg_dirs,
            [
                PathBuf::from("/cfg"),
                PathBuf::from("/a"),
                PathBuf::from("/b")
            ]
        );
        assert_eq!(
            loader.config_files(),
            [
                PathBuf::from("/etc/lago/lago.conf"),
                PathBuf::from("/b/lago/lago.conf"),
                PathBuf::from("/a/lago/lago.conf"),
                PathBuf::from("/cfg/lago/lago.conf"),
            ]
        );
        let loader = ConfigLoader::from_env(env(&[
            ("XDG_CONFIG_HOME", "relative"),
            ("XDG_CONFIG_DIRS", ""),
        ]));
        assert_eq!(loader.xdg_dirs, [PathBuf::from("/etc/xdg")]);
    }
}
