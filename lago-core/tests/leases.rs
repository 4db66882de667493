//! Subnet leases under contention: 20 separate processes, and 20 threads,
//! each take one lease from one shared store at the same moment; no subnet
//! may be handed out twice.
//!
//! The process variant re-executes this test binary 20 times, running only
//! the `child_acquire` test, which does nothing unless the parent set
//! [`CHILD_LEASE_DIR`] in its environment.

// As clippy.toml says for tests: a failed unwrap here is a failed test. The
// helpers below are not `#[test]` functions, so say it for the whole file.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use lago_core::lease::{LeaseStatus, Subnet, SubnetStore};

const WORKERS: usize = 20;
/// The shared lease directory; set only for re-executed children.
const CHILD_LEASE_DIR: &str = "LAGO_TEST_LEASES_CHILD_LEASE_DIR";
/// The child's own prefix uuid file.
const CHILD_UUID_PATH: &str = "LAGO_TEST_LEASES_CHILD_UUID_PATH";
/// A file whose appearance starts all children at once.
const CHILD_GO_FILE: &str = "LAGO_TEST_LEASES_CHILD_GO_FILE";
/// Precedes the subnet in the line a child prints.
const RESULT_MARK: &str = "LEASED-SUBNET ";

/// A unique temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = env::temp_dir().join(format!(
            "lago-leases-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Creates `<root>/prefix-<i>/uuid` with a distinct 32-hex-digit uuid.
fn make_prefix(root: &Path, i: usize) -> (PathBuf, String) {
    let dir = root.join(format!("prefix-{i}"));
    fs::create_dir_all(&dir).unwrap();
    let uuid = format!("{:08x}{:024x}", std::process::id(), i);
    let uuid_path = dir.join("uuid");
    fs::write(&uuid_path, &uuid).unwrap();
    (uuid_path, uuid)
}

/// Checks the store after `WORKERS` acquisitions: one valid lease file per
/// prefix, each naming its own prefix.
fn check_store(store: &SubnetStore, subnets: &BTreeSet<Subnet>) {
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), WORKERS);
    let listed_subnets: BTreeSet<Subnet> = listed.iter().map(|e| e.subnet).collect();
    assert_eq!(&listed_subnets, subnets);
    let owners: BTreeSet<PathBuf> = listed
        .iter()
        .map(|e| {
            assert_eq!(e.status, LeaseStatus::Valid, "{e:?}");
            e.owner.as_ref().unwrap().uuid_path.clone()
        })
        .collect();
    assert_eq!(owners.len(), WORKERS);
    let lease_files = fs::read_dir(store.dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".lease")
        })
        .count();
    assert_eq!(lease_files, WORKERS);
    // Lowest-first allocation with no gaps: exactly 200..220.
    let expected: BTreeSet<Subnet> = (200..200 + WORKERS as u8)
        .map(Subnet::from_third_octet)
        .collect();
    assert_eq!(subnets, &expected);
}

/// The child side of [`twenty_processes_never_share_a_subnet`]; a no-op in a
/// normal test run.
#[test]
fn child_acquire() {
    let Some(lease_dir) = env::var_os(CHILD_LEASE_DIR) else {
        return;
    };
    let uuid_path = PathBuf::from(env::var_os(CHILD_UUID_PATH).unwrap());
    let go = PathBuf::from(env::var_os(CHILD_GO_FILE).unwrap());
    let uuid = fs::read_to_string(&uuid_path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !go.exists() {
        assert!(Instant::now() < deadline, "the parent never said go");
        thread::sleep(Duration::from_millis(2));
    }
    let lease = SubnetStore::new(lease_dir)
        .acquire(&uuid_path, &uuid, None)
        .unwrap();
    // The parent reads the result from this process's stdout.
    #[allow(clippy::print_stdout)]
    {
        println!("{RESULT_MARK}{}", lease.subnet);
    }
}

#[test]
fn twenty_processes_never_share_a_subnet() {
    let root = TempDir::new("procs");
    let lease_dir = root.0.join("subnets");
    let go = root.0.join("go");
    let exe = env::current_exe().unwrap();

    let children: Vec<_> = (0..WORKERS)
        .map(|i| {
            let (uuid_path, _) = make_prefix(&root.0, i);
            Command::new(&exe)
                .args([
                    "--exact",
                    "child_acquire",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_LEASE_DIR, &lease_dir)
                .env(CHILD_UUID_PATH, &uuid_path)
                .env(CHILD_GO_FILE, &go)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    fs::write(&go, "").unwrap();

    let mut subnets = BTreeSet::new();
    for (i, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child {i} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            // libtest may print "test child_acquire ... " on the same line.
            .find_map(|l| l.split_once(RESULT_MARK).map(|(_, subnet)| subnet))
            .unwrap_or_else(|| panic!("child {i} printed no subnet:\n{stdout}"));
        let subnet: Subnet = line.trim().parse().unwrap();
        assert!(subnets.insert(subnet), "subnet {subnet} leased twice");
        // The lease file names this child's prefix.
        let content =
            fs::read_to_string(lease_dir.join(format!("{}.lease", subnet.third_octet()))).unwrap();
        assert!(
            content.contains(&format!("prefix-{i}/uuid")),
            "child {i}: {content}"
        );
    }
    check_store(&SubnetStore::new(&lease_dir), &subnets);
}

#[test]
fn twenty_threads_never_share_a_subnet() {
    let root = TempDir::new("threads");
    let store = SubnetStore::new(root.0.join("subnets"));
    let prefixes: Vec<_> = (0..WORKERS).map(|i| make_prefix(&root.0, i)).collect();
    let barrier = Barrier::new(WORKERS);
    let subnets: Vec<Subnet> = thread::scope(|scope| {
        let handles: Vec<_> = prefixes
            .iter()
            .map(|(uuid_path, uuid)| {
                let (store, barrier) = (&store, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    store.acquire(uuid_path, uuid, None).unwrap().subnet
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let distinct: BTreeSet<Subnet> = subnets.iter().copied().collect();
    assert_eq!(distinct.len(), WORKERS, "{subnets:?}");
    check_store(&store, &distinct);
}
