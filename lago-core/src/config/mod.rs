//! Lago's configuration: the `[lago]` and `[init]` defaults, `lago.conf`
//! files, `LAGO_*` environment variables and explicit overrides, merged in
//! Lago's order, plus the INI text `lago generate-config` prints.
//!
//! # Sources, later wins
//!
//! 1. the built-in defaults, [`DEFAULTS`];
//! 2. `/etc/lago/lago.conf`;
//! 3. `lago/lago.conf` in each XDG config directory, least important first:
//!    the `$XDG_CONFIG_DIRS` entries (default `/etc/xdg`) from last to first,
//!    then `$XDG_CONFIG_HOME` (default `~/.config`);
//! 4. environment variables: `LAGO_KEY` sets `[lago] key`,
//!    `LAGO__SECTION__KEY` sets `[section] key` (both lower-cased; see
//!    [`ConfigLoader`] for the exact rules);
//! 5. explicit settings through the API ([`Config::set`]), which is how the
//!    command line's options land.
//!
//! A `[DEFAULT]` section in a file supplies a value to every section that
//! does not set the key itself, as in Python's configparser.
//!
//! All values are strings, as with configparser; the typed getters
//! ([`Config::get_u32`], [`Config::get_bool`], …) parse on demand and their
//! errors name the key, the value and where it was set.
//!
//! # Differences from Lago
//!
//! - Values are literal: configparser's `%(name)s` interpolation is not
//!   applied (in Lago a value with a lone `%` fails to load).
//! - An unreadable config file is skipped with a warning (as Lago does), but
//!   a malformed one is an error naming the file and line (Lago shows a
//!   traceback).
//! - Relative or empty XDG directory entries are ignored, as the XDG spec
//!   says.
//! - `[lago] domain_type` (`auto`, `kvm` or `qemu`) is new.

mod ini;
mod loader;

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use loader::ConfigLoader;

use crate::{Error, ErrorKind};

/// The root section: `Config::get(key)` reads it, `LAGO_KEY` sets it.
pub const ROOT_SECTION: &str = "lago";

/// Parses `text`, the content of configuration file `path`, in the INI
/// dialect `lago.conf` is read with (see the `ini` module rules), into
/// `(section, key, value)` items in file order; `[DEFAULT]` items keep that
/// section name. The error names the file and line.
pub fn parse_ini(
    text: &str,
    path: &std::path::Path,
) -> Result<Vec<(String, String, String)>, ConfigError> {
    Ok(ini::parse(text, path)?
        .into_iter()
        .map(|item| (item.section, item.key, item.value))
        .collect())
}

/// The built-in defaults, by section, in the order `generate-config` prints
/// them: Lago's `CONFIG_DEFAULTS` plus `domain_type`.
pub const DEFAULTS: &[(&str, &[(&str, &str)])] = &[
    (
        "lago",
        &[
            ("logdepth", "3"),
            ("loglevel", "info"),
            ("ssh_user", "root"),
            ("ssh_password", "123456"),
            ("ssh_tries", "100"),
            ("ssh_timeout", "10"),
            ("libvirt_url", "qemu:///system"),
            ("default_vm_type", "default"),
            ("default_vm_provider", "local-libvirt"),
            ("lease_dir", "/var/lib/lago/subnets"),
            ("prefix_name", "current"),
            ("reposync_dir", "/var/lib/lago"),
            ("domain_type", "auto"),
        ],
    ),
    (
        "init",
        &[
            (
                "template_repo_path",
                "http://templates.ovirt.org/repo/repo.metadata",
            ),
            ("template_store", "/var/lib/lago/store"),
            ("template_repos", "/var/lib/lago/repos"),
        ],
    ),
];

/// Where a configuration value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// A built-in default, or the default given to [`Config::add_option`].
    Default,
    /// A line of an INI file (1-based; the key's line for continued values).
    File {
        /// The file.
        path: PathBuf,
        /// The line of the key.
        line: usize,
    },
    /// An environment variable.
    Env {
        /// The variable's name, e.g. `LAGO__START__WAIT_SUSPEND`.
        var: String,
    },
    /// [`Config::set`] or [`Config::set_from`].
    Explicit {
        /// What set it, e.g. "command-line option --ssh-tries"; `None` for
        /// [`Config::set`].
        origin: Option<String>,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("the default"),
            Source::File { path, line } => write!(f, "{}:{line}", path.display()),
            Source::Env { var } => write!(f, "environment variable {var}"),
            Source::Explicit {
                origin: Some(origin),
            } => f.write_str(origin),
            Source::Explicit { origin: None } => f.write_str("an explicit setting"),
        }
    }
}

/// An error reading or interpreting the configuration
/// ([`ErrorKind::Config`] as a [`crate::Error`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A config file is not valid INI.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong and what would be valid.
        message: String,
    },
    /// A config file is not UTF-8 text.
    #[error("{}:{line}: the file is not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The line holding the first invalid byte.
        line: usize,
    },
    /// A value does not have the type its key needs.
    #[error(
        "invalid value {value:?} for `{key}` in section [{section}] (from {origin}): expected {expected}"
    )]
    InvalidValue {
        /// The section.
        section: String,
        /// The key.
        key: String,
        /// The value found.
        value: String,
        /// Where the value was set.
        origin: Source,
        /// What would be valid.
        expected: &'static str,
    },
}

impl From<ConfigError> for Error {
    /// Keeps the [`ConfigError`] as the source; the file and line (of a
    /// syntax error, or of the file that set a bad value) are the error's
    /// [`path`](Error::path) and [`line`](Error::line), a bad value's
    /// `section.key` its [`key_path`](Error::key_path).
    fn from(err: ConfigError) -> Self {
        let (path, line, key_path) = match &err {
            ConfigError::Syntax { path, line, .. } | ConfigError::NotUtf8 { path, line } => {
                (Some(path.clone()), Some(*line), None)
            }
            ConfigError::InvalidValue {
                section,
                key,
                origin,
                ..
            } => {
                let (path, line) = match origin {
                    Source::File { path, line } => (Some(path.clone()), Some(*line)),
                    _ => (None, None),
                };
                (path, line, Some(format!("{section}.{key}")))
            }
        };
        let mut out = Error::with_source(ErrorKind::Config, err.to_string(), err);
        if let Some(path) = path {
            out = out.with_path(path);
        }
        if let Some(line) = line {
            out = out.with_line(line);
        }
        if let Some(key_path) = key_path {
            out = out.with_key_path(key_path);
        }
        out
    }
}

/// The libvirt domain type to run guests with (`[lago] domain_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DomainTypeSetting {
    /// `kvm` when the host can run KVM guests, else `qemu`.
    #[default]
    Auto,
    /// Hardware virtualisation; fails where KVM does not work.
    Kvm,
    /// Software emulation (TCG).
    Qemu,
}

impl DomainTypeSetting {
    /// The configuration spelling: `auto`, `kvm` or `qemu`.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainTypeSetting::Auto => "auto",
            DomainTypeSetting::Kvm => "kvm",
            DomainTypeSetting::Qemu => "qemu",
        }
    }
}

impl fmt::Display for DomainTypeSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DomainTypeSetting {
    type Err = ();

    /// Parses `auto`, `kvm` or `qemu`, ignoring case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(DomainTypeSetting::Auto),
            "kvm" => Ok(DomainTypeSetting::Kvm),
            "qemu" => Ok(DomainTypeSetting::Qemu),
            _ => Err(()),
        }
    }
}

/// One key of a [`Section`]: its value, where the value came from, and the
/// help text `generate-config` prints above it. Its `Debug` form hides the
/// value of a key naming a password (`libvirt_password`, `ssh_password`, …),
/// so a configuration in a log line never shows one.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    key: String,
    value: Option<String>,
    source: Source,
    help: Option<String>,
    declared: bool,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = self.key.contains("password");
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field(
                "value",
                &self
                    .value
                    .as_deref()
                    .map(|v| if secret { "***" } else { v }),
            )
            .field("source", &self.source)
            .field("help", &self.help)
            .field("declared", &self.declared)
            .finish()
    }
}

impl Entry {
    /// The key (lower case).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value; `None` for an option declared without a default and never
    /// set.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// Where the value came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The help text, if the option was declared with one.
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }
}

/// A named section: its entries in a stable order — declared options
/// (built-in defaults and [`Config::add_option`]) in declaration order, then
/// keys only set by files, the environment or [`Config::set`], in the order
/// they first appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    name: String,
    entries: Vec<Entry>,
    declared: bool,
}

impl Section {
    fn new(name: &str, declared: bool) -> Self {
        Self {
            name: name.to_string(),
            entries: Vec::new(),
            declared,
        }
    }

    /// The section's name (case-sensitive, as in configparser).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of `key` (matched case-insensitively), if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).and_then(Entry::value)
    }

    /// The entry of `key` (matched case-insensitively).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        let key = normalize_key(key);
        self.entries.iter().find(|e| e.key == key)
    }

    /// All entries, in order.
    pub fn entries(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    /// The keys that have a value, with their values, in order (what Lago's
    /// `config.get_section(name)` returns as a dict).
    pub fn values(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .filter_map(|e| e.value.as_deref().map(|v| (e.key.as_str(), v)))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the section has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn declared_len(&self) -> usize {
        self.entries.iter().take_while(|e| e.declared).count()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.key == key)
    }
}

/// The merged configuration: sections of string values, each remembering
/// its [`Source`].
///
/// Build it with [`ConfigLoader::load`] (files and environment) or
/// [`Config::new`] (built-in defaults only). Section names are
/// case-sensitive; keys are lower-cased, as configparser does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    sections: Vec<Section>,
    /// `[DEFAULT]` values read from files, inherited by every section.
    file_defaults: Vec<Entry>,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The built-in defaults only ([`DEFAULTS`]).
    pub fn new() -> Self {
        let sections = DEFAULTS
            .iter()
            .map(|(name, keys)| Section {
                name: (*name).to_string(),
                entries: keys
                    .iter()
                    .map(|(key, value)| Entry {
                        key: (*key).to_string(),
                        value: Some((*value).to_string()),
                        source: Source::Default,
                        help: None,
                        declared: true,
                    })
                    .collect(),
                declared: true,
            })
            .collect();
        Self {
            sections,
            file_defaults: Vec::new(),
        }
    }

    /// The value of `key` in the root section `[lago]`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.get_in(ROOT_SECTION, key)
    }

    /// The value of `key` in `section`.
    pub fn get_in(&self, section: &str, key: &str) -> Option<&str> {
        self.section(section).and_then(|s| s.get(key))
    }

    /// The section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// All sections: declared ones (`lago`, `init`, then those created by
    /// [`Config::add_option`]) first, then the others as they appeared.
    pub fn sections(&self) -> std::slice::Iter<'_, Section> {
        self.sections.iter()
    }

    /// Where the value of `key` in `section` came from.
    pub fn source_of(&self, section: &str, key: &str) -> Option<&Source> {
        self.section(section)
            .and_then(|s| s.entry(key))
            .map(Entry::source)
    }

    /// Sets `key` in `section` (created if missing), overriding every other
    /// source. Errors about the value will say "an explicit setting".
    pub fn set(&mut self, section: &str, key: &str, value: impl Into<String>) {
        self.apply(
            section,
            &normalize_key(key),
            Some(value.into()),
            Source::Explicit { origin: None },
        );
    }

    /// Like [`Config::set`], naming what set the value (e.g. "command-line
    /// option --ssh-tries") for error messages.
    pub fn set_from(
        &mut self,
        section: &str,
        key: &str,
        value: impl Into<String>,
        origin: impl Into<String>,
    ) {
        self.apply(
            section,
            &normalize_key(key),
            Some(value.into()),
            Source::Explicit {
                origin: Some(origin.into()),
            },
        );
    }

    /// Declares an option of `section` (created if missing), as the command
    /// line's parser does for each of its options.
    ///
    /// The value is set to `default` (or a `[DEFAULT]` value from a file)
    /// only if the key has no value yet, so files, the environment and
    /// explicit settings keep precedence. `help`, if given, replaces the
    /// option's help text. `None` as default declares an unset option, which
    /// `generate-config --verbose` prints as `#key = None`. Declared options
    /// keep their declaration order in [`Config::to_ini`].
    pub fn add_option(
        &mut self,
        section: &str,
        key: &str,
        default: Option<&str>,
        help: Option<&str>,
    ) {
        let key = normalize_key(key);
        let inherited = self
            .file_defaults
            .iter()
            .find(|d| d.key == key)
            .map(|d| (d.value.clone(), d.source.clone()));
        let index = self.declare_section(section);
        let section = &mut self.sections[index];
        let original = section.position(&key);
        let mut entry = match original {
            Some(pos) => section.entries.remove(pos),
            None => Entry {
                key: key.into_owned(),
                value: None,
                source: Source::Default,
                help: None,
                declared: false,
            },
        };
        if entry.value.is_none() {
            match inherited {
                Some((value, source)) => {
                    entry.value = value;
                    entry.source = source;
                }
                None => {
                    entry.value = default.map(str::to_string);
                    entry.source = Source::Default;
                }
            }
        }
        if let Some(help) = help {
            entry.help = Some(help.to_string());
        }
        // A declared option keeps its place; a newly declared one goes after
        // the declared options (which always come first).
        let at = match original {
            Some(pos) if entry.declared => pos,
            _ => section.declared_len(),
        };
        entry.declared = true;
        section.entries.insert(at, entry);
    }

    /// Renders the configuration as `lago generate-config` prints it: a
    /// `# Lago configuration file, generated: <generated_at>` line, then each
    /// section as `[name]` followed by `key = value` lines (each preceded by
    /// its help as `# ` comment lines wrapped at 70 columns) and a blank
    /// line. Empty values are left out; unset options appear as
    /// `#key = None` only when `verbose`; a section with nothing to print is
    /// left out. Continued values are written with a tab after each newline,
    /// as configparser writes them. `generated_at` is the caller's
    /// rendering of the current time (Lago uses `strftime('%c')`).
    pub fn to_ini(&self, verbose: bool, generated_at: &str) -> String {
        let mut out = format!("# Lago configuration file, generated: {generated_at}\n");
        for section in &self.sections {
            let mut body = String::new();
            for entry in &section.entries {
                let line = match entry.value.as_deref() {
                    Some("") => continue,
                    Some(value) => format!("{} = {}\n", entry.key, value.replace('\n', "\n\t")),
                    None if verbose => format!("#{} = None\n", entry.key),
                    None => continue,
                };
                if let Some(help) = &entry.help {
                    for help_line in wrap(help, 70) {
                        body.push_str("# ");
                        body.push_str(&help_line);
                        body.push('\n');
                    }
                }
                body.push_str(&line);
            }
            if !body.is_empty() {
                out.push('[');
                out.push_str(&section.name);
                out.push_str("]\n");
                out.push_str(&body);
                out.push('\n');
            }
        }
        out
    }

    /// `key` in `[lago]` as a boolean; see [`Config::get_bool_in`].
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        self.get_bool_in(ROOT_SECTION, key)
    }

    /// `key` in `section` as a boolean, spelled as configparser accepts:
    /// `1`, `yes`, `true`, `on` or `0`, `no`, `false`, `off`, in any case.
    /// `Ok(None)` if the key has no value.
    pub fn get_bool_in(&self, section: &str, key: &str) -> Result<Option<bool>, ConfigError> {
        self.parse_in(
            section,
            key,
            "a boolean (yes/no, true/false, on/off, 1/0)",
            |v| match v.to_lowercase().as_str() {
                "1" | "yes" | "true" | "on" => Some(true),
                "0" | "no" | "false" | "off" => Some(false),
                _ => None,
            },
        )
    }

    /// `key` in `[lago]` parsed by `parse`; a value it rejects is an
    /// [`ConfigError::InvalidValue`] naming the key, where it was set and
    /// `expected`.
    pub fn get_parsed<T>(
        &self,
        key: &str,
        expected: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        self.parse_in(ROOT_SECTION, key, expected, parse)
    }

    /// `key` in `[lago]` as a `u32`; see [`Config::get_u32_in`].
    pub fn get_u32(&self, key: &str) -> Result<Option<u32>, ConfigError> {
        self.get_u32_in(ROOT_SECTION, key)
    }

    /// `key` in `section` as a decimal `u32`; `Ok(None)` if it has no value.
    pub fn get_u32_in(&self, section: &str, key: &str) -> Result<Option<u32>, ConfigError> {
        self.parse_in(section, key, "a whole number from 0 to 4294967295", |v| {
            v.parse().ok()
        })
    }

    /// `key` in `[lago]` as a `u64`; see [`Config::get_u64_in`].
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        self.get_u64_in(ROOT_SECTION, key)
    }

    /// `key` in `section` as a decimal `u64`; `Ok(None)` if it has no value.
    pub fn get_u64_in(&self, section: &str, key: &str) -> Result<Option<u64>, ConfigError> {
        self.parse_in(
            section,
            key,
            "a whole number from 0 to 18446744073709551615",
            |v| v.parse().ok(),
        )
    }

    /// `key` in `[lago]` as an `f64`; see [`Config::get_f64_in`].
    pub fn get_f64(&self, key: &str) -> Result<Option<f64>, ConfigError> {
        self.get_f64_in(ROOT_SECTION, key)
    }

    /// `key` in `section` as a finite number such as `1.5` (Lago reads
    /// `[start] wait_suspend` this way); `Ok(None)` if it has no value.
    pub fn get_f64_in(&self, section: &str, key: &str) -> Result<Option<f64>, ConfigError> {
        self.parse_in(section, key, "a number such as 1 or 0.5", |v| {
            v.parse::<f64>().ok().filter(|n| n.is_finite())
        })
    }

    /// `[lago] domain_type`; [`DomainTypeSetting::Auto`] if it has no value.
    pub fn domain_type(&self) -> Result<DomainTypeSetting, ConfigError> {
        self.parse_in(ROOT_SECTION, "domain_type", "one of auto, kvm, qemu", |v| {
            v.parse().ok()
        })
        .map(Option::unwrap_or_default)
    }

    fn parse_in<T>(
        &self,
        section: &str,
        key: &str,
        expected: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(entry) = self.section(section).and_then(|s| s.entry(key)) else {
            return Ok(None);
        };
        let Some(value) = entry.value.as_deref() else {
            return Ok(None);
        };
        match parse(value) {
            Some(parsed) => Ok(Some(parsed)),
            None => Err(ConfigError::InvalidValue {
                section: section.to_string(),
                key: entry.key.clone(),
                value: value.to_string(),
                origin: entry.source.clone(),
                expected,
            }),
        }
    }

    /// Index of section `name`, creating it (undeclared, at the end) with
    /// the inherited `[DEFAULT]` values if missing.
    fn section_index(&mut self, name: &str) -> usize {
        if let Some(index) = self.sections.iter().position(|s| s.name == name) {
            return index;
        }
        let mut section = Section::new(name, false);
        section.entries = self
            .file_defaults
            .iter()
            .map(|d| Entry {
                declared: false,
                help: None,
                ..d.clone()
            })
            .collect();
        self.sections.push(section);
        self.sections.len() - 1
    }

    /// Like [`Config::section_index`], and marks the section declared,
    /// moving it after the other declared sections.
    fn declare_section(&mut self, name: &str) -> usize {
        let index = self.section_index(name);
        if self.sections[index].declared {
            return index;
        }
        let mut section = self.sections.remove(index);
        section.declared = true;
        let at = self.sections.iter().take_while(|s| s.declared).count();
        self.sections.insert(at, section);
        at
    }

    /// Sets `key` (already normalised) in `section` from `source`, keeping
    /// its place, help and declaration.
    fn apply(&mut self, section: &str, key: &str, value: Option<String>, source: Source) {
        let index = self.section_index(section);
        let section = &mut self.sections[index];
        match section.position(key) {
            Some(pos) => {
                let entry = &mut section.entries[pos];
                entry.value = value;
                entry.source = source;
            }
            None => section.entries.push(Entry {
                key: key.to_string(),
                value,
                source,
                help: None,
                declared: false,
            }),
        }
    }

    /// Records a `[DEFAULT]` value from a file (later files win).
    fn apply_file_default(&mut self, key: &str, value: String, source: Source) {
        let entry = Entry {
            key: key.to_string(),
            value: Some(value),
            source,
            help: None,
            declared: false,
        };
        match self.file_defaults.iter_mut().find(|d| d.key == key) {
            Some(existing) => *existing = entry,
            None => self.file_defaults.push(entry),
        }
    }

    /// Gives every section the `[DEFAULT]` values for the keys that no file,
    /// environment variable or explicit setting gave it (built-in defaults
    /// yield to `[DEFAULT]`, as configparser's section lookups do).
    fn inherit_file_defaults(&mut self) {
        let defaults = std::mem::take(&mut self.file_defaults);
        for section in &mut self.sections {
            for default in &defaults {
                match section.position(&default.key) {
                    Some(pos) => {
                        let entry = &mut section.entries[pos];
                        if entry.source == Source::Default {
                            entry.value.clone_from(&default.value);
                            entry.source = default.source.clone();
                        }
                    }
                    None => section.entries.push(Entry {
                        declared: false,
                        help: None,
                        ..default.clone()
                    }),
                }
            }
        }
        self.file_defaults = defaults;
    }
}

/// Lower-cases a key as configparser's `optionxform` does.
fn normalize_key(key: &str) -> Cow<'_, str> {
    if key.chars().any(char::is_uppercase) {
        Cow::Owned(key.to_lowercase())
    } else {
        Cow::Borrowed(key)
    }
}

/// Greedy word wrap to `width` columns, as Python's `textwrap.wrap` does
/// for single-spaced text: a word longer than a whole line fills the rest of
/// the current line and continues on the next ones.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut line_len = 0;
    for word in text.split_whitespace() {
        let mut word = word;
        let mut word_len = word.chars().count();
        let sep = usize::from(line_len > 0);
        if line_len + sep + word_len > width && word_len <= width {
            lines.push(std::mem::take(&mut line));
            line_len = 0;
        }
        loop {
            let sep = usize::from(line_len > 0);
            let room = width.saturating_sub(line_len + sep);
            if word_len <= room {
                if sep == 1 {
                    line.push(' ');
                }
                line.push_str(word);
                line_len += sep + word_len;
                break;
            }
            if room > 0 {
                // Only a word longer than a whole line gets here.
                let cut = word.char_indices().nth(room).map_or(word.len(), |(i, _)| i);
                if sep == 1 {
                    line.push(' ');
                }
                line.push_str(&word[..cut]);
                word = &word[cut..];
                word_len -= room;
            }
            lines.push(std::mem::take(&mut line));
            line_len = 0;
        }
    }
    if line_len > 0 {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests;
