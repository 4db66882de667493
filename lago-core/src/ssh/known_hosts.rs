//! Guest host keys in an OpenSSH `known_hosts` file.
//!
//! Each line is `<hosts> <key type> <base64 key> [comment]`, where `<hosts>`
//! is a comma-separated list of names: an address for port 22, or
//! `[address]:port` for another port, as OpenSSH writes them. Lines this
//! module does not write (comments, `@cert-authority`/`@revoked` markers,
//! hashed `|1|salt|hash` names) are kept as they are. Hashed names (what
//! `HashKnownHosts yes`, Debian's default, writes into a user's file) are
//! matched on look-up (HMAC-SHA1 of the name, keyed with the salt), so a
//! user's own `known_hosts` vouches for a libvirt host lago jumps through;
//! lago itself writes plain names.
//!
//! The file is read and rewritten under an advisory lock on the file itself,
//! so clients of several guests of one prefix can record keys concurrently.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Result, SshError};

/// A host's public key: its algorithm name and its SSH wire-format blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    key_type: String,
    blob: Vec<u8>,
}

impl HostKey {
    /// A key from its SSH wire-format blob, whose first field names the
    /// key type (e.g. `ssh-ed25519`).
    pub fn from_blob(blob: &[u8]) -> Option<Self> {
        let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
        let name = blob.get(4..4usize.checked_add(len)?)?;
        let key_type = std::str::from_utf8(name).ok()?;
        if key_type.is_empty() || !key_type.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        Some(Self {
            key_type: key_type.to_owned(),
            blob: blob.to_vec(),
        })
    }

    /// The key type, e.g. `ssh-ed25519` or `ecdsa-sha2-nistp256`.
    pub fn key_type(&self) -> &str {
        &self.key_type
    }

    /// The key in SSH wire format.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The key blob in base64, as in a `known_hosts` line.
    pub fn to_base64(&self) -> String {
        base64_encode(&self.blob)
    }

    /// The OpenSSH SHA256 fingerprint: `SHA256:` and the unpadded base64 of
    /// the SHA-256 digest of the blob.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(&self.blob);
        let mut b64 = base64_encode(&digest);
        while b64.ends_with('=') {
            b64.pop();
        }
        format!("SHA256:{b64}")
    }

    /// `<type> <fingerprint>`, for messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.key_type, self.fingerprint())
    }
}

/// How a presented host key compares with the recorded ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// The presented key is recorded for this host.
    Match,
    /// Nothing is recorded for this host.
    Unknown,
    /// Other keys are recorded for this host; the first one of the same
    /// type (or else the first one) is given.
    Mismatch(HostKey),
}

/// The host name a `known_hosts` line uses for `host` on `port`.
///
/// (Examples: the unit tests below.)
pub fn host_name(host: IpAddr, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// One parsed line naming plain hosts with a key.
struct Entry<'a> {
    hosts: Vec<&'a str>,
    /// Hashed names (`|1|salt|hash`), matched by [`hashed_name_matches`].
    hashed: Vec<&'a str>,
    key: HostKey,
}

/// Parses a line; `None` for anything that is not a plain host entry.
fn parse_line(line: &str) -> Option<Entry<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let hosts_field = fields.next()?;
    let key_type = fields.next()?;
    let blob = base64_decode(fields.next()?)?;
    let key = HostKey::from_blob(&blob)?;
    if key.key_type != key_type {
        return None;
    }
    let hosts = hosts_field
        .split(',')
        .filter(|h| !h.is_empty() && !h.starts_with('|') && !h.starts_with('!'))
        .collect();
    let hashed = hosts_field
        .split(',')
        .filter(|h| h.starts_with("|1|"))
        .collect();
    Some(Entry { hosts, hashed, key })
}

/// Whether the hashed name `|1|<salt>|<hash>` (base64 parts) stands for
/// `host`: `hash` is HMAC-SHA1 of `host` keyed with `salt`, as OpenSSH
/// hashes names.
fn hashed_name_matches(hashed: &str, host: &str) -> bool {
    let Some(rest) = hashed.strip_prefix("|1|") else {
        return false;
    };
    let Some((salt, hash)) = rest.split_once('|') else {
        return false;
    };
    match (base64_decode(salt), base64_decode(hash)) {
        (Some(salt), Some(hash)) => hmac_sha1(&salt, host.as_bytes()).as_slice() == hash.as_slice(),
        _ => false,
    }
}

/// HMAC-SHA1 (RFC 2104) of `msg` keyed with `key`.
fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    use sha1::{Digest as _, Sha1};
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let mut inner = Sha1::new();
    inner.update(pad(0x36));
    inner.update(msg);
    let mut outer = Sha1::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Formats the line recording `key` for `host`.
fn format_line(host: &str, key: &HostKey) -> String {
    format!("{host} {} {}\n", key.key_type, key.to_base64())
}

/// An OpenSSH `known_hosts` file. The file need not exist: it is created on
/// the first [`record`](KnownHosts::record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHosts {
    path: PathBuf,
}

impl KnownHosts {
    /// The known-hosts file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, msg: impl std::fmt::Display) -> SshError {
        SshError::KnownHosts {
            path: self.path.clone(),
            msg: msg.to_string(),
        }
    }

    /// Reads the whole file; an absent file reads as empty.
    fn read_text(&self) -> Result<String> {
        match std::fs::read(&self.path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| self.err("not UTF-8 text")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Opens the file for update (created with mode 0600: it is the
    /// prefix's record of whom to trust) and takes its exclusive lock.
    fn open_locked(&self) -> Result<File> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| self.err(format!("cannot open: {e}")))?;
        file.lock()
            .map_err(|e| self.err(format!("cannot lock: {e}")))?;
        Ok(file)
    }

    fn read_locked(&self, file: &mut File) -> Result<String> {
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| self.err(format!("cannot read: {e}")))?;
        Ok(text)
    }

    /// The keys recorded for `host` (as [`host_name`] writes it).
    pub fn lookup(&self, host: &str) -> Result<Vec<HostKey>> {
        let text = self.read_text()?;
        Ok(keys_for(&text, host))
    }

    /// Compares `key` with the keys recorded for `host`.
    pub fn check(&self, host: &str, key: &HostKey) -> Result<HostKeyCheck> {
        Ok(check_keys(&self.lookup(host)?, key))
    }

    /// Checks `key` for `host` and records it if nothing is recorded yet,
    /// in one locked step. Returns what the check found before recording.
    pub fn check_or_record(&self, host: &str, key: &HostKey) -> Result<HostKeyCheck> {
        let mut file = self.open_locked()?;
        let text = self.read_locked(&mut file)?;
        let found = check_keys(&keys_for(&text, host), key);
        if found == HostKeyCheck::Unknown {
            let mut line = String::new();
            if !text.is_empty() && !text.ends_with('\n') {
                line.push('\n');
            }
            line.push_str(&format_line(host, key));
            file.seek(SeekFrom::End(0))
                .and_then(|_| file.write_all(line.as_bytes()))
                .and_then(|()| file.flush())
                .map_err(|e| self.err(format!("cannot write: {e}")))?;
        }
        Ok(found)
    }

    /// Records `key` for `host`, replacing whatever was recorded for it.
    pub fn record(&self, host: &str, key: &HostKey) -> Result<()> {
        self.rewrite(host, Some(key)).map(|_| ())
    }

    /// Removes every key recorded for `host` (a VM re-created from scratch
    /// has a new host key). Returns how many entries named it.
    pub fn forget(&self, host: &str) -> Result<usize> {
        if !self.path.exists() {
            return Ok(0);
        }
        self.rewrite(host, None)
    }

    /// Drops `host` from every line (a line naming only it goes away), then
    /// appends `key` for it if given.
    fn rewrite(&self, host: &str, key: Option<&HostKey>) -> Result<usize> {
        let mut file = self.open_locked()?;
        let text = self.read_locked(&mut file)?;
        let (mut out, removed) = without_host(&text, host);
        if let Some(key) = key {
            out.push_str(&format_line(host, key));
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| file.write_all(out.as_bytes()))
            .and_then(|()| file.flush())
            .map_err(|e| self.err(format!("cannot write: {e}")))?;
        Ok(removed)
    }
}

fn keys_for(text: &str, host: &str) -> Vec<HostKey> {
    text.lines()
        .filter_map(parse_line)
        .filter(|e| {
            e.hosts.contains(&host) || e.hashed.iter().any(|h| hashed_name_matches(h, host))
        })
        .map(|e| e.key)
        .collect()
}

fn check_keys(recorded: &[HostKey], key: &HostKey) -> HostKeyCheck {
    if recorded.is_empty() {
        return HostKeyCheck::Unknown;
    }
    if recorded.contains(key) {
        return HostKeyCheck::Match;
    }
    let same_type = recorded.iter().find(|k| k.key_type == key.key_type);
    HostKeyCheck::Mismatch(same_type.unwrap_or(&recorded[0]).clone())
}

/// The text with `host` removed from every entry, and how many entries
/// named it.
fn without_host(text: &str, host: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut removed = 0;
    for line in text.lines() {
        match parse_line(line) {
            Some(entry) if entry.hosts.contains(&host) => {
                removed += 1;
                let trimmed = line.trim();
                let (hosts_field, rest) = trimmed
                    .split_once(char::is_whitespace)
                    .unwrap_or((trimmed, ""));
                let others: Vec<&str> = hosts_field.split(',').filter(|h| *h != host).collect();
                if !others.is_empty() {
                    out.push_str(&others.join(","));
                    out.push(' ');
                    out.push_str(rest.trim_start());
                    out.push('\n');
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    (out, removed)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64, padding optional; `None` on any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover character (6 bits) cannot end valid base64.
    if bits >= 6 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_name_examples() {
        assert_eq!(
            host_name("192.168.160.10".parse().unwrap(), 22),
            "192.168.160.10"
        );
        assert_eq!(
            host_name("192.168.160.10".parse().unwrap(), 2222),
            "[192.168.160.10]:2222"
        );
    }

    use super::*;

    /// A wire-format blob: string type, string payload.
    fn blob(key_type: &str, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(key_type.len() as u32).to_be_bytes());
        b.extend_from_slice(key_type.as_bytes());
        b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        b.extend_from_slice(payload);
        b
    }

    fn key(key_type: &str, payload: &[u8]) -> HostKey {
        HostKey::from_blob(&blob(key_type, payload)).unwrap()
    }

    fn temp_path(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("lago-known-hosts-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("known_hosts")
    }

    #[test]
    fn hashed_names_are_matched_on_lookup() {
        let salt = [7u8; 20];
        let hash = hmac_sha1(&salt, b"10.231.1.2");
        let name = format!("|1|{}|{}", base64_encode(&salt), base64_encode(&hash));
        assert!(hashed_name_matches(&name, "10.231.1.2"));
        assert!(!hashed_name_matches(&name, "10.231.1.3"));
        assert!(!hashed_name_matches("|1|bad|", "10.231.1.2"));
        let k = key("ssh-ed25519", b"host");
        let text = format!("{name} ssh-ed25519 {}\n", k.to_base64());
        assert_eq!(keys_for(&text, "10.231.1.2"), vec![k.clone()]);
        assert!(keys_for(&text, "10.231.1.3").is_empty());
        // what OpenSSH itself hashes (`ssh-keygen -H`) is found too
        let dir = tempfile::tempdir().unwrap();
        let id = dir.path().join("k");
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&id)
            .status()
            .unwrap();
        assert!(made.success());
        let public = std::fs::read_to_string(id.with_extension("pub")).unwrap();
        let mut parts = public.split_whitespace();
        let (kt, b64) = (parts.next().unwrap(), parts.next().unwrap());
        let file = dir.path().join("known_hosts");
        std::fs::write(&file, format!("10.231.1.2 {kt} {b64}\n")).unwrap();
        let hashed = std::process::Command::new("ssh-keygen")
            .arg("-q")
            .arg("-H")
            .arg("-f")
            .arg(&file)
            .output()
            .unwrap();
        assert!(hashed.status.success(), "{hashed:?}");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("|1|"), "{text}");
        let want = HostKey::from_blob(&base64_decode(b64).unwrap()).unwrap();
        assert_eq!(keys_for(&text, "10.231.1.2"), vec![want]);
        assert!(keys_for(&text, "10.231.1.20").is_empty());
        // RFC 2202 test case 2
        let mac = hmac_sha1(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn base64_round_trips() {
        let cases: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (raw, enc) in cases {
            assert_eq!(base64_encode(raw), *enc);
            assert_eq!(base64_decode(enc).as_deref(), Some(*raw));
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&all)).unwrap(), all);
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("ab$d").is_none());
    }

    #[test]
    fn key_type_comes_from_blob() {
        let k = key("ssh-ed25519", &[7; 32]);
        assert_eq!(k.key_type(), "ssh-ed25519");
        assert!(HostKey::from_blob(&[0, 0, 0, 9, b'a']).is_none());
        assert!(HostKey::from_blob(&[0, 0]).is_none());
        assert!(HostKey::from_blob(&[0, 0, 0, 0]).is_none());
    }

    #[test]
    fn fingerprint_is_openssh_sha256() {
        // Same digest as `ssh-keygen -lf` prints for this blob: SHA-256 of
        // the blob, base64 without padding.
        let k = key("ssh-ed25519", &[0; 32]);
        let fp = k.fingerprint();
        assert!(fp.starts_with("SHA256:"));
        assert_eq!(fp.len(), "SHA256:".len() + 43);
        assert!(!fp.ends_with('='));
        let empty = HostKey {
            key_type: "x".into(),
            blob: Vec::new(),
        };
        // SHA-256 of nothing.
        assert_eq!(
            empty.fingerprint(),
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }

    #[test]
    fn parses_and_formats_openssh_lines() {
        let k = key("ssh-ed25519", b"0123456789abcdef0123456789abcdef");
        let line = format_line("192.168.160.10", &k);
        assert_eq!(
            line,
            format!("192.168.160.10 ssh-ed25519 {}\n", k.to_base64())
        );
        let e = parse_line(&line).unwrap();
        assert_eq!(e.hosts, vec!["192.168.160.10"]);
        assert_eq!(e.key, k);

        let text = format!(
            "# comment\n\n@cert-authority * {0} {1}\n|1|abc=|def= {0} {1}\n\
             vm0,[192.168.160.10]:2222 {0} {1} comment here\nbad line\n\
             other ssh-rsa {1}\n",
            k.key_type(),
            k.to_base64()
        );
        assert_eq!(keys_for(&text, "vm0"), vec![k.clone()]);
        assert_eq!(keys_for(&text, "[192.168.160.10]:2222"), vec![k.clone()]);
        assert!(keys_for(&text, "192.168.160.10").is_empty());
        // type field disagreeing with the blob: ignored
        assert!(keys_for(&text, "other").is_empty());
    }

    #[test]
    fn check_classifies() {
        let a = key("ssh-ed25519", &[1; 32]);
        let b = key("ssh-ed25519", &[2; 32]);
        let c = key("ecdsa-sha2-nistp256", &[3; 65]);
        assert_eq!(check_keys(&[], &a), HostKeyCheck::Unknown);
        assert_eq!(check_keys(&[c.clone(), a.clone()], &a), HostKeyCheck::Match);
        assert_eq!(
            check_keys(&[c.clone(), b.clone()], &a),
            HostKeyCheck::Mismatch(b.clone())
        );
        assert_eq!(
            check_keys(std::slice::from_ref(&c), &a),
            HostKeyCheck::Mismatch(c)
        );
    }

    #[test]
    fn file_record_check_forget() {
        let path = temp_path("file");
        let kh = KnownHosts::new(&path);
        let a = key("ssh-ed25519", &[1; 32]);
        let b = key("ssh-ed25519", &[2; 32]);
        assert_eq!(kh.forget("10.0.0.1").unwrap(), 0);
        assert_eq!(
            kh.check_or_record("10.0.0.1", &a).unwrap(),
            HostKeyCheck::Unknown
        );
        assert_eq!(
            kh.check_or_record("10.0.0.1", &a).unwrap(),
            HostKeyCheck::Match
        );
        assert_eq!(
            kh.check_or_record("10.0.0.2", &b).unwrap(),
            HostKeyCheck::Unknown
        );
        assert_eq!(
            kh.check("10.0.0.1", &b).unwrap(),
            HostKeyCheck::Mismatch(a.clone())
        );
        let text = std::fs::read_to_string(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            text,
            format!(
                "10.0.0.1 ssh-ed25519 {}\n10.0.0.2 ssh-ed25519 {}\n",
                a.to_base64(),
                b.to_base64()
            )
        );
        kh.record("10.0.0.1", &b).unwrap();
        assert_eq!(kh.lookup("10.0.0.1").unwrap(), vec![b.clone()]);
        assert_eq!(kh.forget("10.0.0.1").unwrap(), 1);
        assert!(kh.lookup("10.0.0.1").unwrap().is_empty());
        assert_eq!(kh.lookup("10.0.0.2").unwrap(), vec![b.clone()]);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn forget_keeps_other_names_and_foreign_lines() {
        let k = key("ssh-ed25519", &[9; 32]);
        let text = format!(
            "# keep me\nvm0,10.0.0.1 ssh-ed25519 {0}\n10.0.0.1 ssh-ed25519 {0}\n|1|x=|y= ssh-ed25519 {0}\n",
            k.to_base64()
        );
        let (out, removed) = without_host(&text, "10.0.0.1");
        assert_eq!(removed, 2);
        assert_eq!(
            out,
            format!(
                "# keep me\nvm0 ssh-ed25519 {0}\n|1|x=|y= ssh-ed25519 {0}\n",
                k.to_base64()
            )
        );
    }
}
