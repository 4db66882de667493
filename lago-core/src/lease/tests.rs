//! Unit tests of the subnet lease store, each in its own temporary directory.

use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::*;

/// A unique temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "lago-lease-unit-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A fake prefix: `<root>/<name>/uuid` holding a uuid derived from `name`.
struct Prefix {
    uuid_path: PathBuf,
    uuid: String,
}

impl Prefix {
    fn new(root: &Path, name: &str) -> Self {
        let dir = root.join(name);
        fs::create_dir_all(&dir).unwrap();
        let uuid = format!(
            "{:0>32}",
            name.bytes().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let uuid_path = dir.join("uuid");
        fs::write(&uuid_path, &uuid).unwrap();
        Self { uuid_path, uuid }
    }

    fn acquire(&self, store: &SubnetStore, requested: Option<&str>) -> Result<Lease, LeaseError> {
        let requested = requested.map(|s| s.parse::<Ipv4Addr>().unwrap());
        store.acquire(&self.uuid_path, &self.uuid, requested)
    }
}

fn setup() -> (TempDir, SubnetStore) {
    let tmp = TempDir::new();
    let store = SubnetStore::new(tmp.0.join("subnets"));
    (tmp, store)
}

fn lease_files(store: &SubnetStore) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".lease"))
        .collect();
    names.sort();
    names
}

#[test]
fn lease_file_has_python_json_dump_bytes() {
    let (tmp, store) = setup();
    let prefix = Prefix::new(&tmp.0, "p1");
    let lease = prefix.acquire(&store, None).unwrap();
    assert_eq!(lease.subnet, Subnet::from_third_octet(200));
    assert_eq!(lease.path, store.dir().join("200.lease"));
    let bytes = fs::read(&lease.path).unwrap();
    // json.dump([uuid_path, uuid], f, indent=4): no trailing newline.
    let expected = format!(
        "[\n    \"{}\",\n    \"{}\"\n]",
        prefix.uuid_path.display(),
        prefix.uuid
    );
    assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    assert!(store.lock_path().is_file());
    assert_eq!(store.lock_path(), store.dir().join("subnet-lease.lock"));
}

#[test]
fn reads_a_lease_written_by_python() {
    let (tmp, store) = setup();
    let prefix = Prefix::new(&tmp.0, "py");
    fs::create_dir_all(store.dir()).unwrap();
    // Exactly what Python's json.dump(..., indent=4) wrote for this owner.
    let python = format!(
        "[\n    \"{}\",\n    \"{}\"\n]",
        prefix.uuid_path.display(),
        prefix.uuid
    );
    fs::write(store.dir().join("230.lease"), python).unwrap();
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].subnet, Subnet::from_third_octet(230));
    assert_eq!(listed[0].status, LeaseStatus::Valid);
    assert_eq!(
        listed[0].owner.as_ref().unwrap().uuid_path,
        prefix.uuid_path
    );
    // It is held: a request for it by the same prefix is idempotent.
    let again = prefix.acquire(&store, Some("192.168.230.1")).unwrap();
    assert_eq!(again.subnet.third_octet(), 230);
}

#[test]
fn free_subnets_are_taken_lowest_first() {
    let (tmp, store) = setup();
    let subnets: Vec<u8> = (0..3)
        .map(|i| {
            let prefix = Prefix::new(&tmp.0, &format!("p{i}"));
            prefix.acquire(&store, None).unwrap().subnet.third_octet()
        })
        .collect();
    assert_eq!(subnets, [200, 201, 202]);
    // One prefix with two networks gets two subnets.
    let multi = Prefix::new(&tmp.0, "multi");
    let a = multi.acquire(&store, None).unwrap();
    let b = multi.acquire(&store, None).unwrap();
    assert_eq!((a.subnet.third_octet(), b.subnet.third_octet()), (203, 204));
    assert_eq!(lease_files(&store).len(), 5);
}

#[test]
fn stale_leases_are_reclaimed() {
    let (tmp, store) = setup();
    let gone = Prefix::new(&tmp.0, "gone");
    let replaced = Prefix::new(&tmp.0, "replaced");
    let live = Prefix::new(&tmp.0, "live");
    assert_eq!(
        gone.acquire(&store, None).unwrap().subnet.third_octet(),
        200
    );
    assert_eq!(
        live.acquire(&store, None).unwrap().subnet.third_octet(),
        201
    );
    assert_eq!(
        replaced.acquire(&store, None).unwrap().subnet.third_octet(),
        202
    );

    fs::remove_dir_all(gone.uuid_path.parent().unwrap()).unwrap();
    fs::write(&replaced.uuid_path, "ffffffffffffffffffffffffffffffff").unwrap();
    let statuses: Vec<LeaseStatus> = store.list().unwrap().iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            LeaseStatus::OwnerGone,
            LeaseStatus::Valid,
            LeaseStatus::OwnerReplaced
        ]
    );
    // list() removes nothing.
    assert_eq!(lease_files(&store).len(), 3);

    let newcomer = Prefix::new(&tmp.0, "new");
    let lease = newcomer.acquire(&store, None).unwrap();
    assert_eq!(lease.subnet.third_octet(), 200);
    let content = fs::read_to_string(&lease.path).unwrap();
    assert!(content.contains(&newcomer.uuid), "{content}");
    // The next stale one is reclaimed by the next acquire.
    assert_eq!(
        newcomer.acquire(&store, None).unwrap().subnet.third_octet(),
        202
    );
}

#[test]
fn malformed_leases_are_stale_and_unreadable_ones_are_kept() {
    let (tmp, store) = setup();
    fs::create_dir_all(store.dir()).unwrap();
    fs::write(store.dir().join("200.lease"), "[\n    \"/x/uuid\",").unwrap();
    // A directory where a lease file should be: cannot be read, never removed.
    fs::create_dir(store.dir().join("201.lease")).unwrap();
    let listed = store.list().unwrap();
    assert_eq!(listed[0].status, LeaseStatus::Malformed);
    assert_eq!(listed[1].status, LeaseStatus::Unreadable);

    let prefix = Prefix::new(&tmp.0, "p");
    assert_eq!(
        prefix.acquire(&store, None).unwrap().subnet.third_octet(),
        200
    );
    assert_eq!(
        prefix.acquire(&store, None).unwrap().subnet.third_octet(),
        202
    );
    let err = prefix.acquire(&store, Some("192.168.201.1")).unwrap_err();
    assert!(matches!(err, LeaseError::Unverifiable { .. }), "{err}");
    assert!(store.release(Subnet::from_third_octet(201)).is_err());
    assert!(store.dir().join("201.lease").is_dir());
}

#[test]
fn requested_subnet_is_leased() {
    let (tmp, store) = setup();
    let prefix = Prefix::new(&tmp.0, "p");
    let lease = prefix.acquire(&store, Some("192.168.210.1")).unwrap();
    assert_eq!(lease.subnet.to_string(), "192.168.210.0/24");
    assert_eq!(lease.subnet.gateway(), Ipv4Addr::new(192, 168, 210, 1));
    assert_eq!(lease_files(&store), ["210.lease"]);
    // Any address of the /24 names it; a free acquire skips it.
    let other = Prefix::new(&tmp.0, "q");
    assert_eq!(
        other.acquire(&store, None).unwrap().subnet.third_octet(),
        200
    );
}

#[test]
fn requested_subnet_out_of_range_is_refused() {
    let (tmp, store) = setup();
    let prefix = Prefix::new(&tmp.0, "p");
    for addr in ["192.168.199.1", "10.0.0.1", "192.169.200.1"] {
        let err = prefix.acquire(&store, Some(addr)).unwrap_err();
        assert!(matches!(err, LeaseError::OutOfRange { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(addr), "{text}");
        assert!(
            text.contains("192.168.200.0/24 - 192.168.255.0/24"),
            "{text}"
        );
        assert!(text.contains("192.168.200.1 to 192.168.255.1"), "{text}");
        assert_eq!(Error::from(err).kind(), ErrorKind::InvalidInput);
    }
    assert!(!store.dir().exists() || lease_files(&store).is_empty());
}

#[test]
fn requested_subnet_taken_by_another_prefix_is_refused() {
    let (tmp, store) = setup();
    let owner = Prefix::new(&tmp.0, "owner");
    let intruder = Prefix::new(&tmp.0, "intruder");
    owner.acquire(&store, Some("192.168.220.1")).unwrap();
    let err = intruder.acquire(&store, Some("192.168.220.7")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("192.168.220.0/24"), "{text}");
    assert!(
        text.contains(&owner.uuid_path.display().to_string()),
        "{text}"
    );
    match &err {
        LeaseError::Taken { owner: o, .. } => assert_eq!(o.uuid, owner.uuid),
        other => panic!("{other:?}"),
    }
    assert_eq!(Error::from(err).kind(), ErrorKind::AlreadyExists);
    // The owner's lease is untouched.
    let content = fs::read_to_string(store.dir().join("220.lease")).unwrap();
    assert!(content.contains(&owner.uuid));
}

#[test]
fn reacquiring_own_subnet_is_idempotent() {
    let (tmp, store) = setup();
    let prefix = Prefix::new(&tmp.0, "p");
    let first = prefix.acquire(&store, Some("192.168.240.1")).unwrap();
    let before = fs::read(&first.path).unwrap();
    let second = prefix.acquire(&store, Some("192.168.240.0")).unwrap();
    assert_eq!(first, second);
    assert_eq!(fs::read(&second.path).unwrap(), before);
    assert_eq!(lease_files(&store), ["240.lease"]);
}

#[test]
fn release_removes_only_the_lease_file() {
    let (tmp, store) = setup();
    let prefix = Prefix::new(&tmp.0, "p");
    let lease = prefix.acquire(&store, None).unwrap();
    fs::write(store.dir().join("notes.txt"), "keep").unwrap();
    assert!(store.release(lease.subnet).unwrap());
    assert!(!lease.path.exists());
    assert!(!store.release(lease.subnet).unwrap());
    assert!(store.lock_path().exists());
    assert!(store.dir().join("notes.txt").exists());
    assert!(prefix.uuid_path.exists());
    let err = store.release(Subnet::from_third_octet(10)).unwrap_err();
    assert!(matches!(err, LeaseError::OutOfRange { .. }), "{err}");
}

#[test]
fn release_all_of_a_prefix() {
    let (tmp, store) = setup();
    let a = Prefix::new(&tmp.0, "a");
    let b = Prefix::new(&tmp.0, "b");
    a.acquire(&store, None).unwrap();
    b.acquire(&store, None).unwrap();
    a.acquire(&store, Some("192.168.250.1")).unwrap();
    let released = store.release_all_of(&a.uuid_path).unwrap();
    assert_eq!(
        released,
        [Subnet::from_third_octet(200), Subnet::from_third_octet(250)]
    );
    assert_eq!(lease_files(&store), ["201.lease"]);
    assert!(store.release_all_of(&a.uuid_path).unwrap().is_empty());
}

#[test]
fn full_store_is_an_error() {
    let tmp = TempDir::new();
    let store = SubnetStore::with_range(tmp.0.join("s"), 200, 201).unwrap();
    let prefix = Prefix::new(&tmp.0, "p");
    prefix.acquire(&store, None).unwrap();
    prefix.acquire(&store, None).unwrap();
    let err = prefix.acquire(&store, None).unwrap_err();
    assert!(matches!(err, LeaseError::StoreFull { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("192.168.200.0/24 - 192.168.201.0/24")
    );
    assert!(matches!(
        SubnetStore::with_range(tmp.0.join("s"), 5, 4),
        Err(LeaseError::BadRange { min: 5, max: 4 })
    ));
}

#[test]
fn lock_timeout_names_the_lock_file_and_holder() {
    let (tmp, store) = setup();
    let store = store.with_lock_timeout(Duration::from_millis(300));
    let prefix = Prefix::new(&tmp.0, "p");
    // Another handle (its own open file description) holds the lock.
    let held = store.lock().unwrap();
    let start = Instant::now();
    let err = prefix.acquire(&store, None).unwrap_err();
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    let text = err.to_string();
    assert!(
        text.contains(&store.lock_path().display().to_string()),
        "{text}"
    );
    assert!(
        text.contains(&format!("this process (pid {})", std::process::id())),
        "{text}"
    );
    assert_eq!(Error::from(err).kind(), ErrorKind::Timeout);
    // The same goes for a lock taken with plain flock by someone else.
    drop(held);
    let other = File::open(store.lock_path()).unwrap();
    other.lock().unwrap();
    assert!(matches!(
        store.release(Subnet::from_third_octet(200)),
        Err(LeaseError::LockTimeout { .. })
    ));
    other.unlock().unwrap();
    assert_eq!(
        prefix.acquire(&store, None).unwrap().subnet.third_octet(),
        200
    );
}

#[test]
fn bad_owner_arguments_are_refused() {
    let (tmp, store) = setup();
    let prefix = Prefix::new(&tmp.0, "p");
    let err = store
        .acquire(Path::new("p/uuid"), &prefix.uuid, None)
        .unwrap_err();
    assert!(matches!(err, LeaseError::RelativeUuidPath { .. }), "{err}");
    let err = store
        .acquire(&prefix.uuid_path, "not-the-uuid", None)
        .unwrap_err();
    assert!(matches!(err, LeaseError::UuidMismatch { .. }), "{err}");
    let missing = tmp.0.join("nope/uuid");
    let err = store.acquire(&missing, "x", None).unwrap_err();
    assert!(matches!(err, LeaseError::Io { .. }), "{err}");
    let err = Error::from(err);
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.full_message()
            .starts_with("cannot read the prefix uuid file")
    );
    assert!(!store.dir().exists() || lease_files(&store).is_empty());
}

#[test]
fn lease_dir_is_created_on_first_use() {
    let tmp = TempDir::new();
    let store = SubnetStore::new(tmp.0.join("a/b/subnets"));
    assert!(!store.dir().exists());
    assert!(store.list().unwrap().is_empty());
    assert!(store.dir().is_dir());
}

#[test]
fn subnet_parsing_and_display() {
    let s: Subnet = "192.168.201.0/24".parse().unwrap();
    assert_eq!(s.third_octet(), 201);
    assert_eq!(s.to_string(), "192.168.201.0/24");
    assert_eq!("192.168.201.1".parse::<Subnet>().unwrap(), s);
    assert_eq!(s.network(), Ipv4Addr::new(192, 168, 201, 0));
    assert_eq!(s.host(7), Ipv4Addr::new(192, 168, 201, 7));
    assert!(s.contains(Ipv4Addr::new(192, 168, 201, 254)));
    assert!(!s.contains(Ipv4Addr::new(192, 168, 202, 1)));
    for bad in ["192.168.201.0/16", "10.1.2.3", "None", "", "192.168.201"] {
        assert!(bad.parse::<Subnet>().is_err(), "{bad}");
    }
    assert_eq!(Subnet::containing(Ipv4Addr::new(10, 0, 0, 1)), None);
}
