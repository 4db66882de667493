//! The HTTP client for `http` template repositories.
//!
//! A blocking `ureq` agent with a connect timeout and a per-read timeout (a
//! stalled server fails after the read timeout even in the middle of a large
//! image, while a slow but steady download never does). Any final status of
//! 300 or more is an error naming the status and the URL, as in Lago;
//! redirects are followed first. TLS goes through the system OpenSSL and
//! trusts the system's CA store.

use std::io::Read;
use std::time::Duration;

use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

use super::TemplateError;

/// Timeouts of the HTTP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// The most time to resolve the host and open the connection (TLS
    /// included).
    pub connect_timeout: Duration,
    /// The most time one read may wait for data: for the response headers,
    /// then for each part of the body.
    pub read_timeout: Duration,
}

impl Default for HttpOptions {
    /// 30 s to connect, 60 s per read.
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// A blocking HTTP(S) client; cheap to clone (clones share connections).
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    options: HttpOptions,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new(HttpOptions::default())
    }
}

/// The body of a successful response, read as a stream.
pub(crate) struct HttpBody {
    /// The URL it came from, for messages.
    pub url: String,
    reader: ureq::BodyReader<'static>,
}

impl HttpBody {
    /// Reads into `buf`, turning transport errors into [`TemplateError::Http`].
    pub(crate) fn read_chunk(&mut self, buf: &mut [u8]) -> Result<usize, TemplateError> {
        loop {
            match self.reader.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(body_error(&self.url, e)),
            }
        }
    }
}

impl Read for HttpBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reader.read(buf)
    }
}

impl HttpClient {
    /// A client with these timeouts.
    pub fn new(options: HttpOptions) -> Self {
        let tls = TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            .root_certs(RootCerts::PlatformVerifier)
            .build();
        let config = ureq::Agent::config_builder()
            .timeout_resolve(Some(options.connect_timeout))
            .timeout_connect(Some(options.connect_timeout))
            .timeout_send_request(Some(options.read_timeout))
            .timeout_recv_response(Some(options.read_timeout))
            .timeout_per_read(Some(options.read_timeout))
            .http_status_as_error(false)
            .user_agent(format!("lago/{}", crate::VERSION))
            .tls_config(tls)
            .build();
        HttpClient {
            agent: ureq::Agent::new_with_config(config),
            options,
        }
    }

    /// The timeouts of this client.
    pub fn options(&self) -> HttpOptions {
        self.options
    }

    /// `GET url`; the body of a 2xx response, else
    /// [`TemplateError::HttpStatus`] or [`TemplateError::Http`].
    pub(crate) fn get(&self, url: &str) -> Result<HttpBody, TemplateError> {
        tracing::debug!(%url, "GET");
        let response = self
            .agent
            .get(url)
            .call()
            .map_err(|e| transport_error(url, e))?;
        let status = response.status().as_u16();
        if status >= 300 {
            return Err(TemplateError::HttpStatus {
                url: url.to_owned(),
                status,
            });
        }
        Ok(HttpBody {
            url: url.to_owned(),
            reader: response.into_body().into_reader(),
        })
    }

    /// Downloads `url` (`http(s)://` or `file://`) to `dest` (through a
    /// temporary file next to it, renamed when complete); returns the size.
    /// Used for `file` disks given by `url`.
    pub fn download(&self, url: &str, dest: &std::path::Path) -> Result<u64, TemplateError> {
        let io = |op: &'static str, path: &std::path::Path| {
            let path = path.to_path_buf();
            move |source| TemplateError::Io { op, path, source }
        };
        let tmp = dest.with_extension("download");
        let result = (|| {
            let size = if let Some(path) = url.strip_prefix("file://") {
                std::fs::copy(path, &tmp).map_err(io("copy", std::path::Path::new(path)))?
            } else {
                let mut body = self.get(url)?;
                let mut file = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
                let mut buf = vec![0u8; 1 << 20];
                let mut total = 0u64;
                loop {
                    let n = body.read_chunk(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    std::io::Write::write_all(&mut file, &buf[..n]).map_err(io("write", &tmp))?;
                    total += n as u64;
                }
                total
            };
            std::fs::rename(&tmp, dest).map_err(io("rename into", dest))?;
            Ok(size)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// `GET url` into memory, refusing bodies larger than `limit` bytes.
    pub(crate) fn get_bytes(&self, url: &str, limit: usize) -> Result<Vec<u8>, TemplateError> {
        let mut body = self.get(url)?;
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = body.read_chunk(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            if out.len() + n > limit {
                return Err(TemplateError::Http {
                    url: url.to_owned(),
                    timed_out: false,
                    source: format!("response larger than {limit} bytes").into(),
                });
            }
            out.extend_from_slice(&buf[..n]);
        }
    }
}

/// Whether a status means "this file is not there" (so the next candidate
/// URL may be tried).
pub(crate) fn is_missing_status(status: u16) -> bool {
    matches!(status, 404 | 410)
}

fn transport_error(url: &str, err: ureq::Error) -> TemplateError {
    let timed_out = matches!(err, ureq::Error::Timeout(_))
        || matches!(&err, ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut);
    TemplateError::Http {
        url: url.to_owned(),
        timed_out,
        source: Box::new(err),
    }
}

/// A read error of a body: ureq wraps its own errors (timeouts) in io errors.
pub(crate) fn body_error(url: &str, err: std::io::Error) -> TemplateError {
    let timed_out = err.kind() == std::io::ErrorKind::TimedOut
        || err
            .get_ref()
            .and_then(|e| e.downcast_ref::<ureq::Error>())
            .is_some_and(|e| matches!(e, ureq::Error::Timeout(_)));
    TemplateError::Http {
        url: url.to_owned(),
        timed_out,
        source: Box::new(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_statuses() {
        assert!(is_missing_status(404));
        assert!(is_missing_status(410));
        assert!(!is_missing_status(500));
        assert!(!is_missing_status(301));
    }

    #[test]
    fn default_timeouts() {
        let client = HttpClient::default();
        assert_eq!(client.options().connect_timeout, Duration::from_secs(30));
        assert_eq!(client.options().read_timeout, Duration::from_secs(60));
    }
}
