//! [`SpecError`]: the one error type of the spec module. It names the file,
//! the line and column where known, the key path of the culprit, what is wrong
//! and what would be valid, and converts into the crate's [`Error`](crate::Error).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::locate::Pos;
use super::path::KeyPath;
use crate::{Error, ErrorKind};

/// What class of mistake a [`SpecError`] reports.
///
/// New kinds may be added in minor releases, so matches outside this crate
/// need a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecErrorKind {
    /// The init file could not be read.
    Io,
    /// The text is neither valid JSON nor valid YAML.
    Syntax,
    /// A mapping holds the same key twice (e.g. two VMs of the same name).
    DuplicateKey,
    /// A required key is absent.
    MissingKey,
    /// A value has the wrong type (e.g. `memory: lots`, `nics` not a list).
    WrongType,
    /// A value has the right type but is not allowed (unknown disk type,
    /// malformed IPv4 address, out-of-range number, unsafe name).
    InvalidValue,
    /// A name refers to something that does not exist (a nic's network,
    /// a `based-on` prototype).
    UnknownReference,
    /// A VM has no management network, or more than one.
    Management,
    /// Two settings contradict each other (`cpu_model` with `cpu_custom`, one
    /// static IP used twice, an IP outside its network).
    Conflict,
}

/// A mistake in a LagoInitFile, located as precisely as possible.
///
/// Its [`Display`](fmt::Display) form is one line:
///
/// ```text
/// init.yaml:12:9: domains.vm0.nics[1].net: unknown network 'n3' (valid: n0, n1)
/// ```
///
/// The line and column are 1-based; they are absent when the position is not
/// known (then the form is `init.yaml: key.path: …`). Keys that come from a
/// merge key (`<<`), an alias or a `based-on` prototype point at the place
/// where they are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    // Boxed: results carrying a SpecError stay one pointer wide.
    inner: Box<Inner>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: SpecErrorKind,
    file: PathBuf,
    position: Option<Pos>,
    key_path: KeyPath,
    problem: String,
    valid: Option<String>,
    io_kind: Option<io::ErrorKind>,
}

impl SpecError {
    /// An error of `kind` about the value at `key_path` in `file`.
    pub(crate) fn new(
        kind: SpecErrorKind,
        file: &Path,
        key_path: KeyPath,
        problem: impl Into<String>,
    ) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                file: file.to_path_buf(),
                position: None,
                key_path,
                problem: problem.into(),
                valid: None,
                io_kind: None,
            }),
        }
    }

    /// The file could not be read.
    pub(crate) fn io(file: &Path, err: &io::Error) -> Self {
        let mut out = Self::new(SpecErrorKind::Io, file, KeyPath::root(), err.to_string());
        out.inner.io_kind = Some(err.kind());
        out
    }

    /// The same error located at `position`.
    pub(crate) fn at(mut self, position: Option<Pos>) -> Self {
        self.inner.position = position;
        self
    }

    /// The same error with a description of what would be valid.
    pub(crate) fn valid(mut self, valid: impl Into<String>) -> Self {
        self.inner.valid = Some(valid.into());
        self
    }

    /// What class of mistake this is.
    pub fn kind(&self) -> SpecErrorKind {
        self.inner.kind
    }

    /// The init file, as it was named to [`load_file`](super::load_file) or
    /// [`load_str`](super::load_str).
    pub fn file(&self) -> &Path {
        &self.inner.file
    }

    /// The 1-based line of the culprit, when known.
    pub fn line(&self) -> Option<usize> {
        self.inner.position.map(|p| p.line)
    }

    /// The 1-based column of the culprit, when known.
    pub fn column(&self) -> Option<usize> {
        self.inner.position.map(|p| p.column)
    }

    /// Where the culprit sits in the document; the root path for errors about
    /// the whole file (syntax errors, an unreadable file).
    pub fn key_path(&self) -> &KeyPath {
        &self.inner.key_path
    }

    /// What is wrong, e.g. `unknown network 'n3'`.
    pub fn problem(&self) -> &str {
        &self.inner.problem
    }

    /// What would be valid instead, e.g. `n0, n1`, when there is something
    /// useful to say.
    pub fn valid_values(&self) -> Option<&str> {
        self.inner.valid.as_deref()
    }

    /// For [`SpecErrorKind::Io`], the kind of the I/O error.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        self.inner.io_kind
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        write!(f, "{}", inner.file.display())?;
        if let Some(pos) = inner.position {
            write!(f, ":{}:{}", pos.line, pos.column)?;
        }
        f.write_str(": ")?;
        if !inner.key_path.is_root() {
            write!(f, "{}: ", inner.key_path)?;
        }
        f.write_str(&inner.problem)?;
        if let Some(valid) = &inner.valid {
            write!(f, " (valid: {valid})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

impl From<SpecError> for Error {
    /// An unreadable file becomes [`ErrorKind::NotFound`] or [`ErrorKind::Io`]
    /// ("cannot read init file"); every other mistake [`ErrorKind::Config`]
    /// ("invalid init file"). The [`SpecError`] is kept as the source, so the
    /// full message reads `invalid init file: init.yaml:12:9: …`. The file,
    /// the key path (unless it is the document root) and the line are the
    /// error's [`path`](Error::path), [`key_path`](Error::key_path) and
    /// [`line`](Error::line).
    fn from(err: SpecError) -> Self {
        let file = err.inner.file.clone();
        let key_path = (!err.inner.key_path.is_root()).then(|| err.inner.key_path.to_string());
        let line = err.line();
        let mut out = match err.inner.kind {
            SpecErrorKind::Io => {
                let kind = match err.inner.io_kind {
                    Some(io::ErrorKind::NotFound) => ErrorKind::NotFound,
                    _ => ErrorKind::Io,
                };
                Error::with_source(kind, "cannot read init file", err)
            }
            _ => Error::with_source(ErrorKind::Config, "invalid init file", err),
        }
        .with_path(file);
        if let Some(key_path) = key_path {
            out = out.with_key_path(key_path);
        }
        if let Some(line) = line {
            out = out.with_line(line);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SpecError {
        let path = KeyPath::root()
            .key("domains")
            .key("vm0")
            .key("nics")
            .index(1)
            .key("net");
        SpecError::new(
            SpecErrorKind::UnknownReference,
            Path::new("init.yaml"),
            path,
            "unknown network 'n3'",
        )
        .at(Some(Pos {
            line: 12,
            column: 9,
        }))
        .valid("n0, n1")
    }

    #[test]
    fn display_has_file_line_column_path_problem_and_valid() {
        assert_eq!(
            sample().to_string(),
            "init.yaml:12:9: domains.vm0.nics[1].net: unknown network 'n3' (valid: n0, n1)"
        );
    }

    #[test]
    fn display_without_position_or_path() {
        let err = SpecError::new(
            SpecErrorKind::Syntax,
            Path::new("/x/init.json"),
            KeyPath::root(),
            "bad",
        );
        assert_eq!(err.to_string(), "/x/init.json: bad");
        assert_eq!(err.line(), None);
        assert_eq!(err.column(), None);
    }

    #[test]
    fn accessors() {
        let err = sample();
        assert_eq!(err.kind(), SpecErrorKind::UnknownReference);
        assert_eq!(err.file(), Path::new("init.yaml"));
        assert_eq!(err.line(), Some(12));
        assert_eq!(err.column(), Some(9));
        assert_eq!(err.key_path().to_string(), "domains.vm0.nics[1].net");
        assert_eq!(err.problem(), "unknown network 'n3'");
        assert_eq!(err.valid_values(), Some("n0, n1"));
    }

    #[test]
    fn converts_into_config_error() {
        let err = Error::from(sample());
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(
            err.full_message(),
            "invalid init file: init.yaml:12:9: domains.vm0.nics[1].net: unknown network 'n3' (valid: n0, n1)"
        );
        let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<SpecError>());
        assert_eq!(source, Some(&sample()));
    }

    #[test]
    fn io_errors_convert_by_kind() {
        let missing = io::Error::new(io::ErrorKind::NotFound, "gone");
        let err = Error::from(SpecError::io(Path::new("a.yaml"), &missing));
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.full_message(), "cannot read init file: a.yaml: gone");
        let denied = io::Error::new(io::ErrorKind::PermissionDenied, "denied");
        assert_eq!(
            Error::from(SpecError::io(Path::new("a.yaml"), &denied)).kind(),
            ErrorKind::Io
        );
    }
}
