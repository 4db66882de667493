//! The template store against real repositories made in temporary folders:
//! a `file` source, and an `http` source served by a small HTTP server on
//! 127.0.0.1 that each test starts itself (plain and `.xz` images, 404,
//! 500, a server that never answers). Also the project's real `tiny` repo,
//! when it has been built on this host.

// Test helpers may unwrap too: a failed unwrap there is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lago_core::ErrorKind;
use lago_core::template::{
    HttpClient, HttpOptions, RepoMetadata, StoredTemplate, TemplateError, TemplateStore,
    TemplateVersion,
};
use sha1::{Digest, Sha1};

const TIMESTAMP: u64 = 1_735_689_600;

fn sha1_of(path: &Path) -> String {
    let mut file = fs::File::open(path).unwrap();
    let mut hasher = Sha1::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn qemu_img(args: &[&str]) {
    let out = Command::new("qemu-img").args(args).output().unwrap();
    assert!(out.status.success(), "qemu-img {args:?}: {out:?}");
}

/// A raw image made by `qemu-img create`, with data in a few places.
fn make_raw(path: &Path, size: &str) {
    qemu_img(&["create", "-q", "-f", "raw", path.to_str().unwrap(), size]);
    let mut file = fs::OpenOptions::new().write(true).open(path).unwrap();
    for (offset, byte) in [(0u64, 0xebu8), (70_000, 1), (1 << 20, 2)] {
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.write_all(&[byte; 100]).unwrap();
    }
}

/// Writes `<dir>/<handle>.hash` and `.metadata` for the image at
/// `<dir>/<handle>`; the hash.
fn publish(dir: &Path, handle: &str) -> String {
    let hash = sha1_of(&dir.join(handle));
    fs::write(dir.join(format!("{handle}.hash")), &hash).unwrap();
    let metadata = serde_json::json!({
        "distro": "tiny", "root-partition": "/dev/sda2", "sha1": hash,
    });
    fs::write(
        dir.join(format!("{handle}.metadata")),
        serde_json::to_string(&metadata).unwrap(),
    )
    .unwrap();
    hash
}

/// A repo folder `<suite>/repo` whose `file` source root is
/// `$LAGO_INITFILE_PATH/repo`, with templates `tiny` (raw, two versions) and
/// `cow` (qcow2).
struct FileRepo {
    suite: PathBuf,
    repo: RepoMetadata,
}

impl FileRepo {
    fn new(suite: &Path) -> Self {
        let dir = suite.join("repo");
        fs::create_dir_all(&dir).unwrap();
        make_raw(&dir.join("tiny.img"), "8M");
        publish(&dir, "tiny.img");
        make_raw(&dir.join("tiny-old.img"), "4M");
        publish(&dir, "tiny-old.img");
        qemu_img(&[
            "create",
            "-q",
            "-f",
            "qcow2",
            dir.join("cow.qcow2").to_str().unwrap(),
            "2M",
        ]);
        publish(&dir, "cow.qcow2");
        let json = serde_json::json!({
            "name": "test-repo",
            "sources": {"local": {"type": "file", "args": {"root": "$LAGO_INITFILE_PATH/repo"}}},
            "templates": {
                "tiny": {"versions": {
                    "v1": {"source": "local", "handle": "tiny.img", "timestamp": TIMESTAMP},
                    "v0": {"source": "local", "handle": "tiny-old.img", "timestamp": TIMESTAMP - 10}
                }},
                "cow": {"versions": {"v1": {"source": "local", "handle": "cow.qcow2", "timestamp": TIMESTAMP}}}
            }
        });
        let path = dir.join("repo.metadata");
        fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
        FileRepo {
            suite: suite.to_owned(),
            repo: RepoMetadata::from_path(&path).unwrap(),
        }
    }

    fn version(&self, template: &str, version: Option<&str>) -> TemplateVersion {
        let suite = self.suite.to_str().unwrap().to_owned();
        self.repo
            .resolve(template, version, &move |name| {
                (name == "LAGO_INITFILE_PATH").then(|| suite.clone())
            })
            .unwrap()
    }

    fn dir(&self) -> PathBuf {
        self.suite.join("repo")
    }
}

/// The names in a folder.
fn listing(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn mtimes(stored: &StoredTemplate) -> Vec<std::time::SystemTime> {
    let name = stored.image_path.to_str().unwrap();
    [
        name.to_owned(),
        format!("{name}.hash"),
        format!("{name}.metadata"),
    ]
    .iter()
    .map(|p| fs::metadata(p).unwrap().modified().unwrap())
    .collect()
}

fn image_format(path: &Path) -> String {
    lago_core::disk::info(path).unwrap().format
}

#[test]
fn file_source_fetch_then_present() {
    let suite = tempfile::tempdir().unwrap();
    let repo = FileRepo::new(suite.path());
    let store_dir = tempfile::tempdir().unwrap();
    let store = TemplateStore::new(store_dir.path().join("store"));

    let version = repo.version("tiny", None);
    assert_eq!(version.full_name(), "test-repo:tiny:v1");
    let stored = store.get_or_fetch(&version).unwrap();
    assert!(stored.fetched);
    assert_eq!(stored.name, "test-repo:tiny:v1");
    assert_eq!(stored.image_path, store.path().join("test-repo:tiny:v1"));
    assert_eq!(stored.hash, sha1_of(&repo.dir().join("tiny.img")));
    assert_eq!(sha1_of(&stored.image_path), stored.hash);
    assert_eq!(stored.metadata["distro"], "tiny");
    assert_eq!(image_format(&stored.image_path), "raw");
    // stored sparse: 8M with 300 bytes of data
    let blocks = std::os::unix::fs::MetadataExt::blocks(&fs::metadata(&stored.image_path).unwrap());
    assert!(blocks * 512 < 1 << 20, "{blocks}");
    assert_eq!(
        listing(store.path()),
        BTreeSet::from([
            "test-repo:tiny:v1".to_owned(),
            "test-repo:tiny:v1.hash".to_owned(),
            "test-repo:tiny:v1.metadata".to_owned(),
            "test-repo:tiny:v1.lock".to_owned(),
        ])
    );
    let hash_text = fs::read_to_string(store.path().join("test-repo:tiny:v1.hash")).unwrap();
    assert_eq!(hash_text, stored.hash);

    let before = mtimes(&stored);
    std::thread::sleep(Duration::from_millis(20));
    let again = store.get_or_fetch(&version).unwrap();
    assert!(!again.fetched);
    assert_eq!(again.image_path, stored.image_path);
    assert_eq!(again.hash, stored.hash);
    assert_eq!(again.metadata, stored.metadata);
    assert_eq!(
        mtimes(&again),
        before,
        "a present template is not written again"
    );
    assert_eq!(store.get("test-repo:tiny:v1").unwrap(), Some(again));
    assert_eq!(store.get("test-repo:tiny:v0").unwrap(), None);

    // Present means no source is needed at all.
    fs::remove_dir_all(repo.dir()).unwrap();
    assert!(!store.get_or_fetch(&version).unwrap().fetched);
}

#[test]
fn explicit_version_and_qcow2_conversion() {
    let suite = tempfile::tempdir().unwrap();
    let repo = FileRepo::new(suite.path());
    let store_dir = tempfile::tempdir().unwrap();
    let store = TemplateStore::new(store_dir.path());

    let old = store
        .get_or_fetch(&repo.version("tiny", Some("v0")))
        .unwrap();
    assert_eq!(old.name, "test-repo:tiny:v0");
    assert_eq!(fs::metadata(&old.image_path).unwrap().len(), 4 << 20);

    let cow = store.get_or_fetch(&repo.version("cow", None)).unwrap();
    assert!(cow.fetched);
    assert_eq!(image_format(&cow.image_path), "raw");
    assert_eq!(fs::metadata(&cow.image_path).unwrap().len(), 2 << 20);
    // the hash is the repo's (of the qcow2 file), as in Lago
    assert_eq!(cow.hash, sha1_of(&repo.dir().join("cow.qcow2")));
    let names = listing(store_dir.path());
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn hash_mismatch_leaves_nothing_behind() {
    let suite = tempfile::tempdir().unwrap();
    let repo = FileRepo::new(suite.path());
    let wrong = "0123456789abcdef0123456789abcdef01234567";
    fs::write(repo.dir().join("tiny.img.hash"), format!("{wrong}\n")).unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let store = TemplateStore::new(store_dir.path());

    let err = store.get_or_fetch(&repo.version("tiny", None)).unwrap_err();
    let actual = sha1_of(&repo.dir().join("tiny.img"));
    let msg = err.to_string();
    assert!(matches!(err, TemplateError::HashMismatch { .. }), "{err:?}");
    assert!(msg.contains(wrong), "{msg}");
    assert!(msg.contains(&actual), "{msg}");
    assert!(
        msg.contains(&repo.dir().join("tiny.img").display().to_string()),
        "{msg}"
    );
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::Disk);
    assert_eq!(
        listing(store_dir.path()),
        BTreeSet::from(["test-repo:tiny:v1.lock".to_owned()])
    );

    // a bad hash file is a repo error naming the file
    fs::write(repo.dir().join("tiny.img.hash"), "not a hash").unwrap();
    let err = store.get_or_fetch(&repo.version("tiny", None)).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "invalid hash file {}",
            repo.dir().join("tiny.img.hash").display()
        )),
        "{err}"
    );
    assert_eq!(listing(store_dir.path()).len(), 1);
}

#[test]
fn stale_work_files_are_cleaned_and_missing_image_reported() {
    let suite = tempfile::tempdir().unwrap();
    let repo = FileRepo::new(suite.path());
    let store_dir = tempfile::tempdir().unwrap();
    let store = TemplateStore::new(store_dir.path());
    // left by a killed fetch
    fs::write(store_dir.path().join("test-repo:tiny:v1.tmp"), b"half").unwrap();
    fs::write(store_dir.path().join("test-repo:tiny:v1.tmp.raw"), b"half").unwrap();
    fs::remove_file(repo.dir().join("tiny.img")).unwrap();
    let err = store.get_or_fetch(&repo.version("tiny", None)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "template image not found: {}",
            repo.dir().join("tiny.img").display()
        )
    );
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::NotFound);
    assert_eq!(
        listing(store_dir.path()),
        BTreeSet::from(["test-repo:tiny:v1.lock".to_owned()])
    );
}

#[test]
fn lock_timeout_when_another_fetch_holds_it() {
    let suite = tempfile::tempdir().unwrap();
    let repo = FileRepo::new(suite.path());
    let store_dir = tempfile::tempdir().unwrap();
    let store = TemplateStore::new(store_dir.path()).with_lock_timeout(Duration::from_millis(300));
    let lock_path = store_dir.path().join("test-repo:tiny:v1.lock");
    let holder = fs::File::create(&lock_path).unwrap();
    holder.lock().unwrap();
    let start = Instant::now();
    let err = store.get_or_fetch(&repo.version("tiny", None)).unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(matches!(err, TemplateError::LockTimeout { .. }), "{err:?}");
    assert!(err.to_string().contains(&lock_path.display().to_string()));
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::Timeout);
    holder.unlock().unwrap();
    assert!(
        store
            .get_or_fetch(&repo.version("tiny", None))
            .unwrap()
            .fetched
    );
}

#[test]
fn concurrent_fetches_from_threads_store_one_image() {
    let suite = tempfile::tempdir().unwrap();
    let repo = FileRepo::new(suite.path());
    make_raw(&repo.dir().join("tiny.img"), "64M");
    let hash = publish(&repo.dir(), "tiny.img");
    let store_dir = tempfile::tempdir().unwrap();
    let version = repo.version("tiny", None);

    let results: Vec<StoredTemplate> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let store = TemplateStore::new(store_dir.path());
                let version = version.clone();
                s.spawn(move || store.get_or_fetch(&version).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| r.fetched).count(), 1);
    assert!(results.iter().all(|r| r.hash == hash));
    assert_eq!(sha1_of(&results[0].image_path), hash);
    assert_eq!(
        listing(store_dir.path()).len(),
        4,
        "image, hash, metadata, lock"
    );
}

/// Env vars that make [`child_process_fetch`] do a fetch (set by the
/// parent test only).
const CHILD_SUITE: &str = "LAGO_TEST_CHILD_SUITE";
const CHILD_STORE: &str = "LAGO_TEST_CHILD_STORE";
const CHILD_RESULT: &str = "LAGO_TEST_CHILD_RESULT";

/// Not a test on its own: the body of one of the processes of
/// [`concurrent_fetches_from_processes_store_one_image`].
#[test]
fn child_process_fetch() {
    let (Ok(suite), Ok(store), Ok(result)) = (
        std::env::var(CHILD_SUITE),
        std::env::var(CHILD_STORE),
        std::env::var(CHILD_RESULT),
    ) else {
        return;
    };
    let repo = RepoMetadata::from_path(&Path::new(&suite).join("repo/repo.metadata")).unwrap();
    let version = repo
        .resolve("tiny", None, &|name| {
            (name == "LAGO_INITFILE_PATH").then(|| suite.clone())
        })
        .unwrap();
    let stored = TemplateStore::new(store).get_or_fetch(&version).unwrap();
    fs::write(result, stored.fetched.to_string()).unwrap();
}

#[test]
fn concurrent_fetches_from_processes_store_one_image() {
    let suite = tempfile::tempdir().unwrap();
    let repo = FileRepo::new(suite.path());
    make_raw(&repo.dir().join("tiny.img"), "64M");
    let hash = publish(&repo.dir(), "tiny.img");
    let store_dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|i| {
            let result = store_dir.path().join(format!("result-{i}"));
            let child = Command::new(&exe)
                .args(["child_process_fetch", "--exact", "--test-threads=1"])
                .env(CHILD_SUITE, suite.path())
                .env(CHILD_STORE, store_dir.path().join("store"))
                .env(CHILD_RESULT, &result)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            (child, result)
        })
        .collect();
    let mut fetched = Vec::new();
    for (mut child, result) in children {
        assert!(child.wait().unwrap().success());
        fetched.push(fs::read_to_string(result).unwrap());
    }
    fetched.sort();
    assert_eq!(fetched, ["false", "true"]);
    let store = TemplateStore::new(store_dir.path().join("store"));
    let stored = store.get("test-repo:tiny:v1").unwrap().unwrap();
    assert_eq!(sha1_of(&stored.image_path), hash);
    assert_eq!(listing(store.path()).len(), 4);
}

// ---------------------------------------------------------------- HTTP ----

/// What the test server does with a connection.
#[derive(Clone)]
enum Mode {
    /// Serve files from a folder; 404 for anything else.
    Files(PathBuf),
    /// Answer every request with this status.
    Status(u16),
    /// Accept and never answer.
    Hang,
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 (loopback only) that stops on
/// drop, or by itself after a minute.
struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || serve(&listener, &mode, &requests, &stop))
        };
        Server {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, mode: &Mode, requests: &Mutex<Vec<String>>, stop: &AtomicBool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut held: Vec<TcpStream> = Vec::new();
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Mode::Hang = mode {
                    held.push(stream);
                    continue;
                }
                if let Some(path) = handle(stream, mode) {
                    requests.lock().unwrap().push(path);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => break,
        }
    }
}

/// Answers one request; the path requested.
fn handle(stream: TcpStream, mode: &Mode) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1)?.to_owned();
    let mut stream = stream;
    let (status, body) = match mode {
        Mode::Files(root) => match fs::read(root.join(path.trim_start_matches('/'))) {
            Ok(body) => (200, body),
            Err(_) => (404, b"not found".to_vec()),
        },
        Mode::Status(status) => (*status, b"no".to_vec()),
        Mode::Hang => return None,
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
    Some(path)
}

/// A served folder with an `http` repo whose base URL is `<server>/repo`.
fn http_repo(server_root: &Path, addr: SocketAddr) -> PathBuf {
    let dir = server_root.join("repo");
    fs::create_dir_all(&dir).unwrap();
    make_raw(&dir.join("tiny.img"), "8M");
    publish(&dir, "tiny.img");
    let json = serde_json::json!({
        "name": "web",
        "sources": {"site": {"type": "http", "args": {"baseurl": format!("http://{addr}/repo/")}}},
        "templates": {
            "tiny": {"versions": {"v1": {"source": "site", "handle": "tiny.img", "timestamp": TIMESTAMP}}},
            "nohash": {"versions": {"v1": {"source": "site", "handle": "nohash.img", "timestamp": TIMESTAMP}}},
            "noimage": {"versions": {"v1": {"source": "site", "handle": "noimage.img", "timestamp": TIMESTAMP}}},
            "badxz": {"versions": {"v1": {"source": "site", "handle": "bad.img", "timestamp": TIMESTAMP}}}
        }
    });
    fs::write(
        server_root.join("repo.metadata"),
        serde_json::to_string(&json).unwrap(),
    )
    .unwrap();
    dir
}

/// A server on a folder made by [`http_repo`]; the folder is filled after
/// the server has its port.
fn served_repo() -> (tempfile::TempDir, Server, RepoMetadata) {
    let root = tempfile::tempdir().unwrap();
    let server = Server::start(Mode::Files(root.path().to_owned()));
    http_repo(root.path(), server.addr);
    let repo = RepoMetadata::load(&server.url("repo.metadata"), &HttpClient::default()).unwrap();
    (root, server, repo)
}

fn no_vars(_: &str) -> Option<String> {
    None
}

#[test]
fn http_source_plain_image() {
    let (root, server, repo) = served_repo();
    assert_eq!(repo.name, "web");
    let store_dir = tempfile::tempdir().unwrap();
    let store = TemplateStore::new(store_dir.path());
    let stored = store
        .get_or_fetch(&repo.resolve("tiny", None, &no_vars).unwrap())
        .unwrap();
    assert!(stored.fetched);
    let hash = sha1_of(&root.path().join("repo/tiny.img"));
    assert_eq!(stored.hash, hash);
    assert_eq!(sha1_of(&stored.image_path), hash);
    assert_eq!(stored.metadata["root-partition"], "/dev/sda2");
    assert_eq!(
        server.requests(),
        [
            "/repo.metadata",
            "/repo/tiny.img.xz.hash",
            "/repo/tiny.img.hash",
            "/repo/tiny.img.xz.metadata",
            "/repo/tiny.img.metadata",
            "/repo/tiny.img.xz",
            "/repo/tiny.img",
        ]
    );
    // present: no request at all
    let before = server.requests().len();
    assert!(
        !store
            .get_or_fetch(&repo.resolve("tiny", None, &no_vars).unwrap())
            .unwrap()
            .fetched
    );
    assert_eq!(server.requests().len(), before);
}

#[test]
fn http_source_xz_image() {
    let (root, server, repo) = served_repo();
    let dir = root.path().join("repo");
    let hash = sha1_of(&dir.join("tiny.img"));
    let status = Command::new("xz")
        .args(["-z", "-0", "-T1"])
        .arg(dir.join("tiny.img"))
        .status()
        .unwrap();
    assert!(status.success());
    // only the .xz and the hash of the decompressed image under .xz.hash
    assert!(!dir.join("tiny.img").exists());
    fs::rename(dir.join("tiny.img.hash"), dir.join("tiny.img.xz.hash")).unwrap();

    let store_dir = tempfile::tempdir().unwrap();
    let store = TemplateStore::new(store_dir.path());
    let stored = store
        .get_or_fetch(&repo.resolve("tiny", None, &no_vars).unwrap())
        .unwrap();
    assert_eq!(stored.hash, hash);
    assert_eq!(sha1_of(&stored.image_path), hash);
    assert_eq!(fs::metadata(&stored.image_path).unwrap().len(), 8 << 20);
    let requests = server.requests();
    assert!(
        requests.contains(&"/repo/tiny.img.xz".to_owned()),
        "{requests:?}"
    );
    assert!(
        !requests.contains(&"/repo/tiny.img".to_owned()),
        "{requests:?}"
    );
    assert!(
        !requests.contains(&"/repo/tiny.img.hash".to_owned()),
        "{requests:?}"
    );
}

#[test]
fn http_corrupt_xz_is_a_decompress_error() {
    let (root, _server, repo) = served_repo();
    let dir = root.path().join("repo");
    fs::write(dir.join("bad.img.xz"), b"this is not xz data").unwrap();
    fs::write(
        dir.join("bad.img.hash"),
        "0123456789abcdef0123456789abcdef01234567",
    )
    .unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let store = TemplateStore::new(store_dir.path());
    let err = store
        .get_or_fetch(&repo.resolve("badxz", None, &no_vars).unwrap())
        .unwrap_err();
    assert!(matches!(err, TemplateError::Decompress { .. }), "{err:?}");
    assert!(err.to_string().contains("bad.img.xz"), "{err}");
    assert_eq!(
        listing(store_dir.path()),
        BTreeSet::from(["web:badxz:v1.lock".to_owned()])
    );
}

#[test]
fn http_404_errors_name_the_urls() {
    let (root, server, repo) = served_repo();
    let store_dir = tempfile::tempdir().unwrap();
    let store = TemplateStore::new(store_dir.path());

    let err = store
        .get_or_fetch(&repo.resolve("nohash", None, &no_vars).unwrap())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "hash file not found: {} or {}",
            server.url("repo/nohash.img.xz.hash"),
            server.url("repo/nohash.img.hash")
        )
    );
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::NotFound);

    fs::write(
        root.path().join("repo/noimage.img.hash"),
        "0123456789abcdef0123456789abcdef01234567",
    )
    .unwrap();
    let err = store
        .get_or_fetch(&repo.resolve("noimage", None, &no_vars).unwrap())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "template image not found: {} or {}",
            server.url("repo/noimage.img.xz"),
            server.url("repo/noimage.img")
        )
    );
    assert_eq!(
        listing(store_dir.path()),
        BTreeSet::from([
            "web:nohash:v1.lock".to_owned(),
            "web:noimage:v1.lock".to_owned()
        ])
    );

    let err = RepoMetadata::load(&server.url("missing/repo.metadata"), &HttpClient::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "HTTP status 404 for {}",
            server.url("missing/repo.metadata")
        )
    );
}

#[test]
fn http_server_error_is_an_error_with_status_and_url() {
    let server = Server::start(Mode::Status(500));
    let url = server.url("repo.metadata");
    let err = RepoMetadata::load(&url, &HttpClient::default()).unwrap_err();
    assert!(
        matches!(err, TemplateError::HttpStatus { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("HTTP status 500 for {url}"));
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::Io);
}

#[test]
fn https_to_a_plain_http_server_is_a_clear_error() {
    let server = Server::start(Mode::Status(200));
    let url = format!("https://{}/repo.metadata", server.addr);
    let err = RepoMetadata::load(&url, &HttpClient::default()).unwrap_err();
    assert!(
        matches!(&err, TemplateError::Http { timed_out: false, url: u, .. } if u == &url),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("cannot fetch {url}"));
    let full = lago_core::Error::from(err).full_message();
    assert!(full.len() > url.len() + 20, "the TLS cause is kept: {full}");
    assert!(full.starts_with(&format!("cannot fetch {url}: ")), "{full}");
}

#[test]
fn http_server_that_never_answers_times_out() {
    let server = Server::start(Mode::Hang);
    let http = HttpClient::new(HttpOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(500),
    });
    let url = server.url("repo.metadata");
    let start = Instant::now();
    let err = RepoMetadata::load(&url, &http).unwrap_err();
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert!(
        matches!(
            err,
            TemplateError::Http {
                timed_out: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("timed out fetching {url}"));
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::Timeout);

    // the same through the store: nothing is left behind
    let repo = RepoMetadata::from_json_str(
        &serde_json::json!({
            "name": "slow",
            "sources": {"s": {"type": "http", "args": {"baseurl": server.url("repo")}}},
            "templates": {"t": {"versions": {"v": {"source": "s", "handle": "t.img", "timestamp": 1}}}}
        })
        .to_string(),
        "inline",
    )
    .unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let store = TemplateStore::new(store_dir.path()).with_http(http);
    let err = store
        .get_or_fetch(&repo.resolve("t", None, &no_vars).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            err,
            TemplateError::Http {
                timed_out: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        listing(store_dir.path()),
        BTreeSet::from(["slow:t:v.lock".to_owned()])
    );
}

// ------------------------------------------------------ the real repo ----

const REAL_REPO: &str = "/var/lib/lago-tests/repo/repo.metadata";

#[test]
#[allow(clippy::print_stderr)] // the skip message
fn real_tiny_repo() {
    let path = Path::new(REAL_REPO);
    if !path.exists() {
        eprintln!("skipped: {REAL_REPO} does not exist (build it with tests/templates/build-tiny)");
        return;
    }
    let repo = RepoMetadata::from_path(path).unwrap();
    let version = repo
        .resolve("tiny", None, &lago_core::template::env_lookup)
        .unwrap();
    assert_eq!(
        version.full_name(),
        format!("{}:tiny:{}", repo.name, version.version)
    );
    let store_dir = tempfile::tempdir().unwrap();
    let store = TemplateStore::new(store_dir.path());
    let stored = store.get_or_fetch(&version).unwrap();
    assert!(stored.fetched);
    assert_eq!(stored.metadata["distro"], "tiny");
    assert_eq!(image_format(&stored.image_path), "raw");
    let published =
        fs::read_to_string(path.with_file_name(format!("{}.hash", version.handle))).unwrap();
    assert_eq!(stored.hash, published.trim());
    // an overlay on it, as a template disk gets
    let overlay = store_dir.path().join("vm0_root.qcow2");
    lago_core::disk::create_overlay(
        &stored.image_path,
        lago_core::disk::ImageFormat::Raw,
        &overlay,
    )
    .unwrap();
    let info = lago_core::disk::info(&overlay).unwrap();
    assert_eq!(info.backing_format.as_deref(), Some("raw"));
}
