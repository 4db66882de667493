//! Template sources: where a version's image, hash and metadata are and how
//! they are read.
//!
//! - `file`: `<root>/<handle>`, `<root>/<handle>.hash`,
//!   `<root>/<handle>.metadata`.
//! - `http`: the image at `<baseurl>/<handle>.xz`, else `<baseurl>/<handle>`;
//!   the hash at `<handle>.xz.hash`, else `<handle>.hash`; the metadata at
//!   `<handle>.xz.metadata`, else `<handle>.metadata`. A candidate answering
//!   404 or 410 moves on to the next; any other status of 300 or more, and
//!   any transport error, is the error. The hash, from either file, is the
//!   sha1 of the decompressed image (as in Lago). An `.xz` image is
//!   decompressed on the fly by piping it through `xz --decompress`, as Lago
//!   does (xz is in every Debian base system, and its output is fed straight
//!   into the store file and the hash, so the compressed file is never kept).
//!
//! A missing metadata file is not an error (an empty object, with a warning);
//! a missing image or hash is.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::TemplateError;
use super::http::{HttpClient, is_missing_status};
use crate::disk::copy_sparse_from;

/// The largest hash or metadata file accepted.
const MAX_SMALL_FILE: usize = 1 << 20;

/// Where the files of a template version are, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceLocation {
    /// A local folder (root already expanded).
    File {
        /// The folder holding `<handle>`, `<handle>.hash`, `<handle>.metadata`.
        root: PathBuf,
    },
    /// An HTTP(S) base URL.
    Http {
        /// The URL the handles are appended to.
        baseurl: String,
    },
}

/// A stream observer: sees every byte of the image, in order.
pub(crate) type Observer<'a> = dyn FnMut(&[u8]) + Send + 'a;

impl SourceLocation {
    /// `<base>/<name>` for either kind, for messages.
    pub fn describe(&self, name: &str) -> String {
        match self {
            SourceLocation::File { root } => root.join(name).display().to_string(),
            SourceLocation::Http { baseurl } => url_join(baseurl, name),
        }
    }

    /// The sha1 (40 lowercase hex digits) the repo publishes for `handle`,
    /// with the location it was read from.
    pub(crate) fn fetch_hash(
        &self,
        handle: &str,
        http: &HttpClient,
    ) -> Result<(String, String), TemplateError> {
        let (text, location) = match self {
            SourceLocation::File { root } => {
                let path = root.join(format!("{handle}.hash"));
                let text = read_small(&path, "hash file")?;
                (text, path.display().to_string())
            }
            SourceLocation::Http { baseurl } => {
                let candidates = [format!("{handle}.xz.hash"), format!("{handle}.hash")];
                match first_found(baseurl, &candidates, http)? {
                    Some((bytes, url)) => (String::from_utf8_lossy(&bytes).into_owned(), url),
                    None => {
                        return Err(TemplateError::NotFound {
                            what: "hash file",
                            location: tried(baseurl, &candidates),
                        });
                    }
                }
            }
        };
        Ok((parse_hash(&text, &location)?, location))
    }

    /// The JSON metadata the repo publishes for `handle` (an empty object
    /// if there is none).
    pub(crate) fn fetch_metadata(
        &self,
        handle: &str,
        http: &HttpClient,
    ) -> Result<Value, TemplateError> {
        let (text, location) = match self {
            SourceLocation::File { root } => {
                let path = root.join(format!("{handle}.metadata"));
                if !path.exists() {
                    tracing::warn!(path = %path.display(), "template has no metadata file");
                    return Ok(Value::Object(Default::default()));
                }
                (
                    read_small(&path, "metadata file")?,
                    path.display().to_string(),
                )
            }
            SourceLocation::Http { baseurl } => {
                let candidates = [
                    format!("{handle}.xz.metadata"),
                    format!("{handle}.metadata"),
                ];
                match first_found(baseurl, &candidates, http)? {
                    Some((bytes, url)) => (String::from_utf8_lossy(&bytes).into_owned(), url),
                    None => {
                        tracing::warn!(
                            tried = %tried(baseurl, &candidates),
                            "template has no metadata file"
                        );
                        return Ok(Value::Object(Default::default()));
                    }
                }
            }
        };
        serde_json::from_str(&text)
            .map_err(|source| TemplateError::BadMetadata { location, source })
    }

    /// The size of the image of `handle` when known before fetching it (a
    /// local file's); 0 otherwise (HTTP: an `.xz` body's length says nothing
    /// of the decompressed size).
    pub(crate) fn image_size_hint(&self, handle: &str) -> u64 {
        match self {
            SourceLocation::File { root } => std::fs::metadata(root.join(handle))
                .map(|m| m.len())
                .unwrap_or(0),
            SourceLocation::Http { .. } => 0,
        }
    }

    /// Writes the (decompressed) image of `handle` into `out`, passing every
    /// byte to `observe`; the location it came from.
    pub(crate) fn fetch_image(
        &self,
        handle: &str,
        http: &HttpClient,
        out: &mut File,
        out_path: &Path,
        observe: &mut Observer<'_>,
    ) -> Result<String, TemplateError> {
        match self {
            SourceLocation::File { root } => {
                let path = root.join(handle);
                let mut src = File::open(&path).map_err(|source| {
                    if source.kind() == std::io::ErrorKind::NotFound {
                        TemplateError::NotFound {
                            what: "template image",
                            location: path.display().to_string(),
                        }
                    } else {
                        TemplateError::Read {
                            what: "template image",
                            path: path.clone(),
                            source,
                        }
                    }
                })?;
                copy_sparse_from(&mut src, out, &mut |b| observe(b)).map_err(|source| {
                    TemplateError::Io {
                        op: "copy the template image into",
                        path: out_path.to_owned(),
                        source,
                    }
                })?;
                Ok(path.display().to_string())
            }
            SourceLocation::Http { baseurl } => {
                let xz_url = url_join(baseurl, &format!("{handle}.xz"));
                match http.get(&xz_url) {
                    Ok(mut body) => {
                        decompress_xz(&mut body, out, out_path, observe)?;
                        return Ok(xz_url);
                    }
                    Err(TemplateError::HttpStatus { status, .. }) if is_missing_status(status) => {
                        tracing::debug!(url = %xz_url, status, "no compressed image");
                    }
                    Err(e) => return Err(e),
                }
                let url = url_join(baseurl, handle);
                let mut body = match http.get(&url) {
                    Ok(body) => body,
                    Err(TemplateError::HttpStatus { status, .. }) if is_missing_status(status) => {
                        return Err(TemplateError::NotFound {
                            what: "template image",
                            location: format!("{xz_url} or {url}"),
                        });
                    }
                    Err(e) => return Err(e),
                };
                let mut reader = BodyReader {
                    body: &mut body,
                    error: None,
                };
                let copied = copy_sparse_from(&mut reader, out, &mut |b| observe(b));
                if let Some(err) = reader.error.take() {
                    return Err(err);
                }
                copied.map_err(|source| TemplateError::Io {
                    op: "write the template image to",
                    path: out_path.to_owned(),
                    source,
                })?;
                Ok(url)
            }
        }
    }
}

/// Reads an HTTP body for `copy_sparse_from`, keeping a transport error as
/// a [`TemplateError`] (with its URL) rather than a bare io error.
struct BodyReader<'a> {
    body: &'a mut super::http::HttpBody,
    error: Option<TemplateError>,
}

impl Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.body.read_chunk(buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                let msg = e.to_string();
                self.error = Some(e);
                Err(std::io::Error::other(msg))
            }
        }
    }
}

/// Pipes `body` through `xz --decompress` into `out`, observing the output.
fn decompress_xz(
    body: &mut super::http::HttpBody,
    out: &mut File,
    out_path: &Path,
    observe: &mut Observer<'_>,
) -> Result<(), TemplateError> {
    const ARGS: [&str; 3] = ["--decompress", "--stdout", "--threads=0"];
    let command = format!("xz {}", ARGS.join(" "));
    let mut child = Command::new("xz")
        .args(ARGS)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| TemplateError::Spawn {
            program: "xz",
            source,
        })?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(TemplateError::Spawn {
            program: "xz",
            source: std::io::Error::other("no pipes to the child"),
        });
    };
    let url = body.url.clone();
    let (fed, written, errors) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || copy_sparse_from(&mut stdout, out, &mut |b| observe(b)));
        let errors = scope.spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        // Feed the body; a write error means xz stopped (bad data): its
        // stderr says why.
        let mut buf = vec![0u8; 256 << 10];
        let fed: Result<(), TemplateError> = loop {
            match body.read_chunk(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if stdin.write_all(&buf[..n]).is_err() {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        drop(stdin);
        if fed.is_err() {
            let _ = child.kill();
        }
        let written = writer.join();
        let errors = errors.join().unwrap_or_default();
        (fed, written, errors)
    });
    let status = child.wait().map_err(|source| TemplateError::Spawn {
        program: "xz",
        source,
    })?;
    // The first failure is the cause: a failed write (disk full) makes xz
    // fail on a broken pipe, a broken download makes us kill xz.
    let written = match written {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::other("the writer thread panicked")),
    };
    if let Err(source) = written {
        return Err(TemplateError::Io {
            op: "write the decompressed template image to",
            path: out_path.to_owned(),
            source,
        });
    }
    fed?;
    if !status.success() {
        return Err(TemplateError::Decompress {
            url,
            command,
            status: status.to_string(),
            stderr: errors.trim().to_owned(),
        });
    }
    Ok(())
}

/// `GET <base>/<name>` for each candidate in turn, skipping 404/410.
fn first_found(
    baseurl: &str,
    candidates: &[String],
    http: &HttpClient,
) -> Result<Option<(Vec<u8>, String)>, TemplateError> {
    for name in candidates {
        let url = url_join(baseurl, name);
        match http.get_bytes(&url, MAX_SMALL_FILE) {
            Ok(bytes) => return Ok(Some((bytes, url))),
            Err(TemplateError::HttpStatus { status, .. }) if is_missing_status(status) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// `<base>/a or <base>/b`, for messages.
fn tried(baseurl: &str, candidates: &[String]) -> String {
    candidates
        .iter()
        .map(|c| url_join(baseurl, c))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// `base` and `name` joined by exactly one `/`.
pub(crate) fn url_join(base: &str, name: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        name.trim_start_matches('/')
    )
}

/// Reads a small local file as text.
fn read_small(path: &Path, what: &'static str) -> Result<String, TemplateError> {
    let meta = std::fs::metadata(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            TemplateError::NotFound {
                what,
                location: path.display().to_string(),
            }
        } else {
            TemplateError::Read {
                what,
                path: path.to_owned(),
                source,
            }
        }
    })?;
    if meta.len() > MAX_SMALL_FILE as u64 {
        return Err(TemplateError::Read {
            what,
            path: path.to_owned(),
            source: std::io::Error::other(format!("larger than {MAX_SMALL_FILE} bytes")),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| TemplateError::Read {
        what,
        path: path.to_owned(),
        source,
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The sha1 in a `.hash` file: its first word (so `sha1sum` output works
/// too), 40 hex digits, lowercased.
pub(crate) fn parse_hash(text: &str, location: &str) -> Result<String, TemplateError> {
    let word = text.split_whitespace().next().unwrap_or("");
    if word.len() == 40 && word.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(word.to_ascii_lowercase())
    } else {
        let mut found: String = text.trim().chars().take(60).collect();
        if found.is_empty() {
            found = "(empty)".to_owned();
        }
        Err(TemplateError::BadHashFile {
            location: location.to_owned(),
            found,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_parsed_leniently() {
        let h = "A94A8FE5CCB19BA61C4C0873D391E987982FBBD3";
        assert_eq!(parse_hash(h, "x").unwrap(), h.to_ascii_lowercase());
        assert_eq!(
            parse_hash(&format!("{h}  tiny.img\n"), "x").unwrap(),
            h.to_ascii_lowercase()
        );
        let err = parse_hash("abc\n", "/r/t.hash").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid hash file /r/t.hash: expected a sha1 (40 hex digits), found 'abc'"
        );
        assert!(
            parse_hash("", "x")
                .unwrap_err()
                .to_string()
                .contains("(empty)")
        );
    }

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(url_join("http://h/repo/", "a.img"), "http://h/repo/a.img");
        assert_eq!(url_join("http://h/repo", "a.img"), "http://h/repo/a.img");
        assert_eq!(
            SourceLocation::File {
                root: PathBuf::from("/r")
            }
            .describe("a.img"),
            "/r/a.img"
        );
    }

    #[test]
    fn file_source_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let src = SourceLocation::File {
            root: dir.path().to_owned(),
        };
        let http = HttpClient::default();
        let err = src.fetch_hash("t.img", &http).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("hash file not found: {}/t.img.hash", dir.path().display())
        );
        assert_eq!(
            src.fetch_metadata("t.img", &http).unwrap(),
            Value::Object(Default::default())
        );
        std::fs::write(dir.path().join("t.img.metadata"), "{oops").unwrap();
        let err = src.fetch_metadata("t.img", &http).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid template metadata in "),
            "{err}"
        );
        let out_path = dir.path().join("out");
        let mut out = File::create(&out_path).unwrap();
        let err = src
            .fetch_image("t.img", &http, &mut out, &out_path, &mut |_| {})
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("template image not found: {}/t.img", dir.path().display())
        );
        assert_eq!(crate::Error::from(err).kind(), crate::ErrorKind::NotFound);
    }
}
