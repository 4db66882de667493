//! Template repositories: the `repo.metadata` JSON, loading it from a file
//! or a URL, and choosing a template version.
//!
//! The format (Lago's `docs/Templates.rst`):
//!
//! ```json
//! {"name": "<repo>",
//!  "sources": {"<src>": {"type": "file", "args": {"root": "$LAGO_INITFILE_PATH/repo"}},
//!              "<src2>": {"type": "http", "args": {"baseurl": "http://host/repo"}}},
//!  "templates": {"<tmpl>": {"versions": {"<ver>": {"source": "<src>",
//!                                                 "handle": "<file>",
//!                                                 "timestamp": 1428328144}}}}}
//! ```
//!
//! Unknown keys are kept (`extra` fields) so nothing a repo carries is lost.
//! The whole file is checked when it is loaded: every error names the file
//! or URL, the JSON path and what would be valid.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::expand::expand_path;
use super::http::HttpClient;
use super::source::SourceLocation;
use super::{TemplateError, check_name_part};

/// The largest `repo.metadata` accepted over HTTP.
const MAX_REPO_BYTES: usize = 16 << 20;

/// The source types lago knows, for messages.
const VALID_SOURCE_TYPES: &str = "file, http";

/// A parsed `repo.metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoMetadata {
    /// The repository name, the first part of every version's full name.
    pub name: String,
    /// Where template files come from, by source name.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceSpec>,
    /// The templates, by name.
    #[serde(default)]
    pub templates: BTreeMap<String, TemplateSpec>,
    /// Every other top-level key.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of `sources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSpec {
    /// `file` or `http`.
    #[serde(rename = "type")]
    pub source_type: String,
    /// The provider's arguments: `root` for `file`, `baseurl` for `http`.
    #[serde(default)]
    pub args: Map<String, Value>,
    /// Every other key.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a [`SourceSpec`] says, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// Files in a local folder; `root` is not yet expanded.
    File {
        /// The folder, as written (may hold `~` and `$VARS`).
        root: String,
    },
    /// Files under an HTTP(S) base URL.
    Http {
        /// The base URL.
        baseurl: String,
    },
}

impl SourceSpec {
    /// The checked kind of this source, or what is wrong (relative to the
    /// source's JSON path).
    pub fn kind(&self) -> Result<SourceKind, (String, String)> {
        let arg = |key: &str| -> Result<String, (String, String)> {
            match self.args.get(key) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(Value::String(_)) => Err((format!("args.{key}"), "must not be empty".into())),
                Some(other) => Err((
                    format!("args.{key}"),
                    format!("expected a string, found {}", json_type(other)),
                )),
                None => Err((
                    "args".into(),
                    format!(
                        "missing `{key}` (a `{}` source needs args.{key})",
                        self.source_type
                    ),
                )),
            }
        };
        match self.source_type.as_str() {
            "file" => Ok(SourceKind::File { root: arg("root")? }),
            "http" => {
                let baseurl = arg("baseurl")?;
                if !(baseurl.starts_with("http://") || baseurl.starts_with("https://")) {
                    return Err((
                        "args.baseurl".into(),
                        format!("'{baseurl}' is not an http:// or https:// URL"),
                    ));
                }
                Ok(SourceKind::Http { baseurl })
            }
            other => Err((
                "type".into(),
                format!("unknown source type '{other}' (valid: {VALID_SOURCE_TYPES})"),
            )),
        }
    }
}

/// One entry of `templates`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateSpec {
    /// The versions of the template, by version name.
    #[serde(default)]
    pub versions: BTreeMap<String, VersionSpec>,
    /// Every other key.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One version of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionSpec {
    /// The name of the source (a key of `sources`) holding the files.
    pub source: String,
    /// The file name of the image in the source.
    pub handle: String,
    /// When the version was made (seconds since the epoch); the newest
    /// version is the default. Versions without one rank below all others.
    #[serde(default)]
    pub timestamp: Option<serde_json::Number>,
    /// Every other key.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl VersionSpec {
    /// The timestamp as a number, if there is one.
    pub fn timestamp_value(&self) -> Option<f64> {
        self.timestamp.as_ref().and_then(serde_json::Number::as_f64)
    }
}

/// One chosen version of one template, with its source resolved: what the
/// template store fetches.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateVersion {
    /// The repository name.
    pub repo: String,
    /// The template name.
    pub template: String,
    /// The version name.
    pub version: String,
    /// The image file name in the source.
    pub handle: String,
    /// The version's timestamp, if it has one.
    pub timestamp: Option<f64>,
    /// The source name in the repo.
    pub source_name: String,
    /// Where the files are, with `~` and variables expanded.
    pub source: SourceLocation,
}

impl TemplateVersion {
    /// `<repo>:<template>:<version>`: the version's name in the store.
    pub fn full_name(&self) -> String {
        format!("{}:{}:{}", self.repo, self.template, self.version)
    }
}

impl RepoMetadata {
    /// Parses and checks the JSON text of a repo; `origin` (a path or URL)
    /// names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, TemplateError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let repo: RepoMetadata = serde_path_to_error::deserialize(de).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let json_path = if path == "." { String::new() } else { path };
            TemplateError::InvalidRepo {
                origin: origin.to_owned(),
                message: format!("{inner}{}", shape_hint(&json_path)),
                json_path,
            }
        })?;
        repo.check(origin)?;
        Ok(repo)
    }

    /// Reads a repo from a local file.
    pub fn from_path(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            what: "repo metadata",
            path: path.to_owned(),
            source,
        })?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// Reads a repo from an `http://` or `https://` URL.
    pub fn from_url(url: &str, http: &HttpClient) -> Result<Self, TemplateError> {
        let bytes = http.get_bytes(url, MAX_REPO_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|_| TemplateError::InvalidRepo {
            origin: url.to_owned(),
            json_path: String::new(),
            message: "not UTF-8 text".into(),
        })?;
        Self::from_json_str(&text, url)
    }

    /// Reads a repo from `location`: an `http://` or `https://` URL, a
    /// `file://` URL or a local path.
    pub fn load(location: &str, http: &HttpClient) -> Result<Self, TemplateError> {
        if location.starts_with("http://") || location.starts_with("https://") {
            Self::from_url(location, http)
        } else if let Some(path) = location.strip_prefix("file://") {
            Self::from_path(Path::new(path))
        } else {
            Self::from_path(Path::new(location))
        }
    }

    /// Everything serde does not check: names usable in store file names,
    /// known source types with their arguments, versions naming existing
    /// sources, non-empty handles.
    fn check(&self, origin: &str) -> Result<(), TemplateError> {
        let invalid = |json_path: String, message: String| TemplateError::InvalidRepo {
            origin: origin.to_owned(),
            json_path,
            message,
        };
        check_name_part(&self.name).map_err(|m| invalid("name".into(), m))?;
        for (name, source) in &self.sources {
            source
                .kind()
                .map_err(|(rel, msg)| invalid(format!("sources.{name}.{rel}"), msg))?;
        }
        for (tname, template) in &self.templates {
            check_name_part(tname).map_err(|m| invalid(format!("templates.{tname}"), m))?;
            for (vname, version) in &template.versions {
                let at = format!("templates.{tname}.versions.{vname}");
                check_name_part(vname).map_err(|m| invalid(at.clone(), m))?;
                if !self.sources.contains_key(&version.source) {
                    return Err(invalid(
                        format!("{at}.source"),
                        format!(
                            "unknown source '{}' (available: {})",
                            version.source,
                            list(self.sources.keys())
                        ),
                    ));
                }
                if version.handle.is_empty() {
                    return Err(invalid(format!("{at}.handle"), "must not be empty".into()));
                }
            }
        }
        Ok(())
    }

    /// The template called `name`, or an error listing the available ones.
    pub fn template(&self, name: &str) -> Result<&TemplateSpec, TemplateError> {
        self.templates
            .get(name)
            .ok_or_else(|| TemplateError::TemplateNotFound {
                template: name.to_owned(),
                repo: self.name.clone(),
                available: self.templates.keys().cloned().collect(),
            })
    }

    /// The name of the version of `template` to use: `version` if given
    /// (it must exist), else the one with the highest timestamp (ties go to
    /// the greatest version name, so the choice is stable).
    pub fn select_version<'a>(
        &'a self,
        template: &str,
        version: Option<&str>,
    ) -> Result<(&'a str, &'a VersionSpec), TemplateError> {
        let spec = self.template(template)?;
        match version {
            Some(v) => spec
                .versions
                .get_key_value(v)
                .map(|(k, s)| (k.as_str(), s))
                .ok_or_else(|| TemplateError::VersionNotFound {
                    template: template.to_owned(),
                    repo: self.name.clone(),
                    version: v.to_owned(),
                    available: spec.versions.keys().cloned().collect(),
                }),
            None => spec
                .versions
                .iter()
                .max_by(|(an, a), (bn, b)| {
                    let key = |t: Option<f64>| t.unwrap_or(f64::NEG_INFINITY);
                    key(a.timestamp_value())
                        .total_cmp(&key(b.timestamp_value()))
                        .then_with(|| an.cmp(bn))
                })
                .map(|(k, s)| (k.as_str(), s))
                .ok_or_else(|| TemplateError::NoVersions {
                    template: template.to_owned(),
                    repo: self.name.clone(),
                }),
        }
    }

    /// Chooses a version (see [`select_version`](Self::select_version)) and
    /// resolves its source: a `file` source's root gets `~` and `$VARS`
    /// expanded with `lookup` (give it `LAGO_INITFILE_PATH` and the
    /// environment, e.g. via [`env_lookup`](super::env_lookup)).
    pub fn resolve(
        &self,
        template: &str,
        version: Option<&str>,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<TemplateVersion, TemplateError> {
        let (vname, spec) = self.select_version(template, version)?;
        let source_spec =
            self.sources
                .get(&spec.source)
                .ok_or_else(|| TemplateError::InvalidRepo {
                    origin: format!("repo '{}'", self.name),
                    json_path: format!("templates.{template}.versions.{vname}.source"),
                    message: format!("unknown source '{}'", spec.source),
                })?;
        let kind = source_spec
            .kind()
            .map_err(|(rel, message)| TemplateError::InvalidRepo {
                origin: format!("repo '{}'", self.name),
                json_path: format!("sources.{}.{rel}", spec.source),
                message,
            })?;
        let source = match kind {
            SourceKind::File { root } => SourceLocation::File {
                root: expand_path(&root, lookup),
            },
            SourceKind::Http { baseurl } => SourceLocation::Http { baseurl },
        };
        Ok(TemplateVersion {
            repo: self.name.clone(),
            template: template.to_owned(),
            version: vname.to_owned(),
            handle: spec.handle.clone(),
            timestamp: spec.timestamp_value(),
            source_name: spec.source.clone(),
            source,
        })
    }
}

/// `a, b, c`, or `none` for an empty list.
pub(crate) fn list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let items: Vec<&str> = items.into_iter().map(String::as_str).collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What the object at `json_path` should look like, for parse errors.
fn shape_hint(json_path: &str) -> &'static str {
    let parts: Vec<&str> = json_path.split('.').collect();
    match parts.as_slice() {
        [""] => "; a repo is {\"name\": \"<repo>\", \"sources\": {...}, \"templates\": {...}}",
        ["sources", ..] => {
            "; a source is {\"type\": \"file\", \"args\": {\"root\": \"<folder>\"}} \
             or {\"type\": \"http\", \"args\": {\"baseurl\": \"<url>\"}}"
        }
        ["templates", _, "versions", _, ..] => {
            "; a version is {\"source\": \"<source name>\", \"handle\": \"<file name>\", \
             \"timestamp\": <seconds since 1970>}"
        }
        ["templates", ..] => "; a template is {\"versions\": {\"<version>\": {...}}}",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const REPO: &str = r#"{
        "name": "lago-tests",
        "owner": "qa",
        "sources": {
            "local": {"type": "file", "args": {"root": "$LAGO_INITFILE_PATH/repo"}},
            "remote": {"type": "http", "args": {"baseurl": "http://templates.example/repo"}, "mirror": 1}
        },
        "templates": {
            "tiny": {"versions": {
                "v1": {"source": "local", "handle": "tiny.img", "timestamp": 1735689600},
                "v2": {"source": "remote", "handle": "tiny2.img", "timestamp": 1735689700, "note": "x"},
                "v0": {"source": "local", "handle": "tiny0.img"}
            }},
            "el7": {"versions": {}, "arch": "x86_64"}
        }
    }"#;

    fn vars(name: &str) -> Option<String> {
        (name == "LAGO_INITFILE_PATH").then(|| "/suite".to_owned())
    }

    fn repo() -> RepoMetadata {
        RepoMetadata::from_json_str(REPO, "test.json").unwrap()
    }

    fn invalid(json: &str) -> (String, String) {
        match RepoMetadata::from_json_str(json, "r.json") {
            Err(TemplateError::InvalidRepo {
                origin,
                json_path,
                message,
            }) => {
                assert_eq!(origin, "r.json");
                (json_path, message)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_and_keeps_unknown_keys() {
        let repo = repo();
        assert_eq!(repo.name, "lago-tests");
        assert_eq!(repo.extra["owner"], "qa");
        assert_eq!(repo.sources["remote"].extra["mirror"], 1);
        assert_eq!(repo.templates["el7"].extra["arch"], "x86_64");
        assert_eq!(
            repo.templates["tiny"].versions["v2"].extra["note"],
            Value::from("x")
        );
        // round trip keeps them
        let text = serde_json::to_string(&repo).unwrap();
        let again = RepoMetadata::from_json_str(&text, "again").unwrap();
        assert_eq!(again, repo);
    }

    #[test]
    fn newest_version_is_default() {
        let repo = repo();
        let (name, spec) = repo.select_version("tiny", None).unwrap();
        assert_eq!(name, "v2");
        assert_eq!(spec.handle, "tiny2.img");
        let (name, _) = repo.select_version("tiny", Some("v0")).unwrap();
        assert_eq!(name, "v0");
    }

    #[test]
    fn timestamp_ties_pick_greatest_name() {
        let json = r#"{"name": "r", "sources": {"s": {"type": "file", "args": {"root": "/r"}}},
            "templates": {"t": {"versions": {
                "b": {"source": "s", "handle": "b", "timestamp": 5},
                "c": {"source": "s", "handle": "c", "timestamp": 5.0},
                "a": {"source": "s", "handle": "a", "timestamp": 4}}}}}"#;
        let repo = RepoMetadata::from_json_str(json, "r").unwrap();
        assert_eq!(repo.select_version("t", None).unwrap().0, "c");
    }

    #[test]
    fn resolve_expands_file_root() {
        let v = repo().resolve("tiny", Some("v1"), &vars).unwrap();
        assert_eq!(v.full_name(), "lago-tests:tiny:v1");
        assert_eq!(v.handle, "tiny.img");
        assert_eq!(v.timestamp, Some(1735689600.0));
        assert_eq!(v.source_name, "local");
        assert_eq!(
            v.source,
            SourceLocation::File {
                root: PathBuf::from("/suite/repo")
            }
        );
        let v = repo().resolve("tiny", None, &vars).unwrap();
        assert_eq!(
            v.source,
            SourceLocation::Http {
                baseurl: "http://templates.example/repo".into()
            }
        );
    }

    #[test]
    fn missing_template_lists_available() {
        let err = repo().resolve("fc30", None, &vars).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template 'fc30' not found in repo 'lago-tests' (available: el7, tiny)"
        );
        assert_eq!(crate::Error::from(err).kind(), crate::ErrorKind::NotFound);
    }

    #[test]
    fn missing_version_lists_available() {
        let err = repo().resolve("tiny", Some("v9"), &vars).unwrap_err();
        assert_eq!(
            err.to_string(),
            "version 'v9' of template 'tiny' not found in repo 'lago-tests' \
             (available: v0, v1, v2)"
        );
        let err = repo().resolve("el7", None, &vars).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template 'el7' in repo 'lago-tests' has no versions"
        );
    }

    #[test]
    fn unknown_source_type() {
        let (path, msg) = invalid(
            r#"{"name": "r", "sources": {"s": {"type": "ftp", "args": {}}}, "templates": {}}"#,
        );
        assert_eq!(path, "sources.s.type");
        assert_eq!(msg, "unknown source type 'ftp' (valid: file, http)");
    }

    #[test]
    fn source_args_are_checked() {
        let (path, msg) =
            invalid(r#"{"name": "r", "sources": {"s": {"type": "file"}}, "templates": {}}"#);
        assert_eq!(path, "sources.s.args");
        assert!(msg.contains("missing `root`"), "{msg}");
        let (path, msg) =
            invalid(r#"{"name": "r", "sources": {"s": {"type": "http", "args": {"baseurl": 3}}}}"#);
        assert_eq!(path, "sources.s.args.baseurl");
        assert_eq!(msg, "expected a string, found a number");
        let (path, msg) = invalid(
            r#"{"name": "r", "sources": {"s": {"type": "http", "args": {"baseurl": "ftp://x"}}}}"#,
        );
        assert_eq!(path, "sources.s.args.baseurl");
        assert!(msg.contains("not an http:// or https:// URL"), "{msg}");
    }

    #[test]
    fn missing_field_names_the_json_path() {
        let (path, msg) = invalid(
            r#"{"name": "r", "sources": {"s": {"type": "file", "args": {"root": "/"}}},
                "templates": {"t": {"versions": {"v1": {"source": "s"}}}}}"#,
        );
        assert_eq!(path, "templates.t.versions.v1");
        assert!(msg.starts_with("missing field `handle`"), "{msg}");
        assert!(msg.contains("a version is {"), "{msg}");
        let err = RepoMetadata::from_json_str(
            r#"{"name": "r", "templates": {"t": {"versions": {"v1": {"source": "s"}}}}}"#,
            "/repo/repo.metadata",
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "invalid repo metadata /repo/repo.metadata at templates.t.versions.v1: \
                 missing field `handle`"
            ),
            "{err}"
        );
    }

    #[test]
    fn wrong_types_and_syntax() {
        let (path, msg) = invalid(
            r#"{"name": "r", "templates": {"t": {"versions": {"v1": {"source": "s", "handle": "h", "timestamp": "yesterday"}}}}}"#,
        );
        assert_eq!(path, "templates.t.versions.v1.timestamp");
        assert!(msg.starts_with("invalid type: string"), "{msg}");
        let (path, msg) = invalid("[1, 2]");
        assert_eq!(path, "");
        assert!(msg.contains("a repo is {"), "{msg}");
        let (_, msg) = invalid("{\"name\": ");
        assert!(msg.contains("EOF"), "{msg}");
        let err = RepoMetadata::from_json_str("[]", "x").unwrap_err();
        assert!(
            err.to_string().starts_with("invalid repo metadata x: "),
            "{err}"
        );
    }

    #[test]
    fn version_must_name_a_known_source() {
        let (path, msg) = invalid(
            r#"{"name": "r", "sources": {"a": {"type": "file", "args": {"root": "/"}}},
                "templates": {"t": {"versions": {"v1": {"source": "b", "handle": "h"}}}}}"#,
        );
        assert_eq!(path, "templates.t.versions.v1.source");
        assert_eq!(msg, "unknown source 'b' (available: a)");
    }

    #[test]
    fn names_must_make_file_names() {
        let (path, msg) = invalid(r#"{"name": "a/b"}"#);
        assert_eq!(path, "name");
        assert!(msg.contains("'/'"), "{msg}");
        let (path, _) = invalid(
            r#"{"name": "r", "sources": {"s": {"type": "file", "args": {"root": "/"}}},
                "templates": {"t": {"versions": {"v/1": {"source": "s", "handle": "h"}}}}}"#,
        );
        assert_eq!(path, "templates.t.versions.v/1");
        let (path, msg) = invalid(r#"{"name": ""}"#);
        assert_eq!((path.as_str(), msg.as_str()), ("name", "must not be empty"));
    }

    #[test]
    fn local_file_errors_name_the_file() {
        let err = RepoMetadata::from_path(Path::new("/nonexistent/repo.metadata")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read repo metadata /nonexistent/repo.metadata"
        );
        assert_eq!(crate::Error::from(err).kind(), crate::ErrorKind::NotFound);
    }

    #[test]
    fn load_reads_paths_and_file_urls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo.metadata");
        std::fs::write(&path, REPO).unwrap();
        let http = HttpClient::default();
        let a = RepoMetadata::load(path.to_str().unwrap(), &http).unwrap();
        let b = RepoMetadata::load(&format!("file://{}", path.display()), &http).unwrap();
        assert_eq!(a, b);
    }
}
