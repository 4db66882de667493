//! Subnet leases: which /24 in 192.168.0.0/16 each prefix's networks use,
//! shared by every lago process on the host, in Lago's on-disk format.
//!
//! # Layout (byte-compatible with Lago)
//!
//! ```text
//! <lease dir>/                  default /var/lib/lago/subnets
//! ├── subnet-lease.lock         exclusive flock held around every change
//! ├── 200.lease                 192.168.200.0/24
//! └── <third octet>.lease       JSON, see below
//! ```
//!
//! A lease file is what Python's `json.dump([uuid_path, uuid], f, indent=4)`
//! writes, with no trailing newline:
//!
//! ```text
//! [
//!     "/home/me/.lago/default/uuid",
//!     "0123456789abcdef0123456789abcdef"
//! ]
//! ```
//!
//! A lease is **valid** while the file it names exists and holds exactly that
//! uuid; once the prefix is deleted (or re-created with a new uuid) the lease
//! is **stale** and the next scan that meets it removes it. Python Lago and
//! this crate use the same lock and files, so they can share a host.

mod json;

use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write as _};
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::fslock::{self, LockError, LockGuard};
use crate::{Error, ErrorKind};

/// Lago's default lease directory (config key `lease_dir`).
pub const DEFAULT_LEASE_DIR: &str = "/var/lib/lago/subnets";
/// Name of the lock file inside the lease directory.
pub const LOCK_FILE_NAME: &str = "subnet-lease.lock";
/// Lowest third octet Lago leases: 192.168.200.0/24.
pub const DEFAULT_MIN_THIRD_OCTET: u8 = 200;
/// Highest third octet Lago leases: 192.168.255.0/24.
pub const DEFAULT_MAX_THIRD_OCTET: u8 = 255;
/// How long to wait for the store lock before giving up, as Lago does.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// One /24 network `192.168.<third octet>.0/24`, the unit of leasing.
///
/// Its [`Display`](fmt::Display) is the CIDR form, `192.168.200.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    third_octet: u8,
}

impl Subnet {
    /// The subnet `192.168.<third_octet>.0/24`.
    pub const fn from_third_octet(third_octet: u8) -> Self {
        Self { third_octet }
    }

    /// The /24 holding `addr` (a gateway, a host or the network address), or
    /// `None` when `addr` is not in 192.168.0.0/16.
    pub fn containing(addr: Ipv4Addr) -> Option<Self> {
        match addr.octets() {
            [192, 168, third, _] => Some(Self::from_third_octet(third)),
            _ => None,
        }
    }

    /// The third octet, which is also the lease file's name (`<octet>.lease`).
    pub const fn third_octet(self) -> u8 {
        self.third_octet
    }

    /// The network address, `192.168.<octet>.0`.
    pub const fn network(self) -> Ipv4Addr {
        self.host(0)
    }

    /// The gateway Lago gives a NAT network on this subnet, `192.168.<octet>.1`.
    pub const fn gateway(self) -> Ipv4Addr {
        self.host(1)
    }

    /// The address `192.168.<octet>.<last_octet>`.
    pub const fn host(self, last_octet: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, self.third_octet, last_octet)
    }

    /// Whether `addr` lies in this subnet.
    pub fn contains(self, addr: Ipv4Addr) -> bool {
        Self::containing(addr) == Some(self)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/24", self.network())
    }
}

impl FromStr for Subnet {
    type Err = LeaseError;

    /// Parses `192.168.N.X` or `192.168.N.X/24` (any address of the /24, as
    /// Lago accepts a gateway or a network in CIDR form).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || LeaseError::BadSubnet {
            input: text.to_string(),
        };
        let (addr, prefix_len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        if prefix_len.is_some_and(|len| len != "24") {
            return Err(bad());
        }
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        Self::containing(addr).ok_or_else(bad)
    }
}

/// The prefix a lease belongs to, as recorded in the lease file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseOwner {
    /// Path of the prefix's `uuid` file.
    pub uuid_path: PathBuf,
    /// The uuid the file held when the lease was taken.
    pub uuid: String,
}

/// A lease held by a prefix, as returned by [`SubnetStore::acquire`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The leased /24.
    pub subnet: Subnet,
    /// The prefix holding it.
    pub owner: LeaseOwner,
    /// The lease file, `<lease dir>/<third octet>.lease`.
    pub path: PathBuf,
}

/// Whether a lease file found in the store still belongs to a live prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LeaseStatus {
    /// The owner's uuid file exists and holds the recorded uuid.
    Valid,
    /// The owner's uuid file is gone (the prefix was deleted): stale.
    OwnerGone,
    /// The owner's uuid file holds another uuid (the prefix was re-created):
    /// stale.
    OwnerReplaced,
    /// The lease file is not a JSON array of two strings: stale.
    Malformed,
    /// The lease file or the owner's uuid file could not be read (permissions,
    /// or the lease path is a directory). Treated as held, never removed.
    Unreadable,
}

impl LeaseStatus {
    /// Whether a scan may remove the lease file (the subnet is free).
    pub fn is_stale(self) -> bool {
        matches!(
            self,
            LeaseStatus::OwnerGone | LeaseStatus::OwnerReplaced | LeaseStatus::Malformed
        )
    }
}

/// A lease file found by [`SubnetStore::list`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseEntry {
    /// The subnet the file leases.
    pub subnet: Subnet,
    /// The lease file.
    pub path: PathBuf,
    /// The owner recorded in the file; `None` when it could not be read.
    pub owner: Option<LeaseOwner>,
    /// Whether the lease is still valid.
    pub status: LeaseStatus,
}

/// What went wrong with a subnet lease.
///
/// Converts into [`crate::Error`] with the kind noted on each variant; the
/// message is this error's text and the cause, if any, its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// A store range with `min > max` ([`ErrorKind::InvalidInput`]).
    #[error("invalid subnet lease range: third octet {min} is above {max}")]
    BadRange {
        /// The requested lowest third octet.
        min: u8,
        /// The requested highest third octet.
        max: u8,
    },
    /// Text that is not an address in 192.168.0.0/16 ([`ErrorKind::InvalidInput`]).
    #[error("{input:?} is not a /24 subnet or address in 192.168.0.0/16")]
    BadSubnet {
        /// The text given.
        input: String,
    },
    /// A relative prefix uuid path, which other processes could not resolve
    /// ([`ErrorKind::InvalidInput`]).
    #[error("the prefix uuid path {} must be absolute", path.display())]
    RelativeUuidPath {
        /// The path given.
        path: PathBuf,
    },
    /// The prefix's uuid file does not hold the uuid given
    /// ([`ErrorKind::InvalidInput`]); a lease taken now would look stale at
    /// once.
    #[error("the prefix uuid file {} does not contain the uuid {uuid:?}", path.display())]
    UuidMismatch {
        /// The uuid file.
        path: PathBuf,
        /// The uuid given.
        uuid: String,
    },
    /// The requested address is outside the store's range
    /// ([`ErrorKind::InvalidInput`]).
    #[error(
        "{address} is outside the subnets lago leases ({first} - {last}); \
         use a gateway from {} to {} or leave it out to get a free subnet",
        first.gateway(), last.gateway()
    )]
    OutOfRange {
        /// The requested address.
        address: Ipv4Addr,
        /// The lowest leasable subnet.
        first: Subnet,
        /// The highest leasable subnet.
        last: Subnet,
    },
    /// The requested subnet is leased to another prefix
    /// ([`ErrorKind::AlreadyExists`]).
    #[error(
        "subnet {subnet} is already leased to the prefix with uuid file {} (lease file {}); \
         destroy that prefix or choose another subnet",
        owner.uuid_path.display(), path.display()
    )]
    Taken {
        /// The requested subnet.
        subnet: Subnet,
        /// Its current owner.
        owner: LeaseOwner,
        /// The lease file.
        path: PathBuf,
    },
    /// Every subnet of the range is leased ([`ErrorKind::AlreadyExists`]).
    #[error(
        "no free subnet: all of {first} - {last} are leased (lease files in {}); \
         destroy environments that are no longer needed",
        dir.display()
    )]
    StoreFull {
        /// The lowest leasable subnet.
        first: Subnet,
        /// The highest leasable subnet.
        last: Subnet,
        /// The lease directory.
        dir: PathBuf,
    },
    /// The store lock stayed held by someone else ([`ErrorKind::Timeout`]).
    #[error(
        "could not lock {} within {timeout:?}: it is held by {}; \
         if that process is stuck, stop it",
        path.display(),
        holder.as_deref().unwrap_or("another process (see `fuser -v` on the lock file)")
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        timeout: Duration,
        /// The holding process (pid and command line), when it could be found.
        holder: Option<String>,
    },
    /// The requested subnet has a lease whose file, or whose owner's uuid
    /// file, cannot be read, so it cannot be taken safely ([`ErrorKind::Io`]).
    #[error(
        "subnet {subnet} has a lease file {} that cannot be checked{}; \
         fix its permissions or remove it if no environment uses the subnet",
        path.display(),
        owner.as_ref().map(|p| format!(" (its owner's uuid file {} is unreadable)", p.display())).unwrap_or_default()
    )]
    Unverifiable {
        /// The requested subnet.
        subnet: Subnet,
        /// The lease file.
        path: PathBuf,
        /// The owner's uuid file, when the lease file itself was readable.
        owner: Option<PathBuf>,
    },
    /// A file system operation failed ([`ErrorKind::Io`], or
    /// [`ErrorKind::NotFound`] for a missing file).
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done, e.g. "read the lease file".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl LeaseError {
    /// The [`ErrorKind`] this error has as a [`crate::Error`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            LeaseError::BadRange { .. }
            | LeaseError::BadSubnet { .. }
            | LeaseError::RelativeUuidPath { .. }
            | LeaseError::UuidMismatch { .. }
            | LeaseError::OutOfRange { .. } => ErrorKind::InvalidInput,
            LeaseError::Taken { .. } | LeaseError::StoreFull { .. } => ErrorKind::AlreadyExists,
            LeaseError::LockTimeout { .. } => ErrorKind::Timeout,
            LeaseError::Unverifiable { .. } => ErrorKind::Io,
            LeaseError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            LeaseError::Io { .. } => ErrorKind::Io,
        }
    }
}

impl From<LeaseError> for Error {
    fn from(err: LeaseError) -> Self {
        let kind = err.kind();
        let path = match &err {
            LeaseError::Io { path, .. }
            | LeaseError::LockTimeout { path, .. }
            | LeaseError::Unverifiable { path, .. } => Some(path.clone()),
            _ => None,
        };
        let out = Error::with_source(kind, err.to_string(), err);
        match path {
            Some(path) => out.with_path(path),
            None => out,
        }
    }
}

/// The subnet lease store: a directory of lease files shared by all lago
/// processes (and Python Lago) on the host.
///
/// Every operation takes the store lock for its whole duration, so a scan
/// and the lease it writes are atomic with respect to other processes and
/// threads. The lease directory is created on first use (mode 0755 minus the
/// umask: a multi-user host should create it beforehand with group access,
/// as Lago's packaging does for `/var/lib/lago/subnets`).
#[derive(Debug, Clone)]
pub struct SubnetStore {
    dir: PathBuf,
    min: u8,
    max: u8,
    lock_timeout: Duration,
}

impl SubnetStore {
    /// A store over Lago's range, 192.168.200.0/24 to 192.168.255.0/24, in
    /// `lease_dir` (Lago's default is [`DEFAULT_LEASE_DIR`]). Touches nothing
    /// on disk.
    pub fn new(lease_dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: lease_dir.into(),
            min: DEFAULT_MIN_THIRD_OCTET,
            max: DEFAULT_MAX_THIRD_OCTET,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }

    /// A store over `192.168.<min_third_octet..=max_third_octet>.0/24`.
    pub fn with_range(
        lease_dir: impl Into<PathBuf>,
        min_third_octet: u8,
        max_third_octet: u8,
    ) -> Result<Self, LeaseError> {
        if min_third_octet > max_third_octet {
            return Err(LeaseError::BadRange {
                min: min_third_octet,
                max: max_third_octet,
            });
        }
        Ok(Self {
            min: min_third_octet,
            max: max_third_octet,
            ..Self::new(lease_dir)
        })
    }

    /// The same store with another lock timeout (default
    /// [`DEFAULT_LOCK_TIMEOUT`]).
    #[must_use]
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The lease directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lock file, `<lease dir>/subnet-lease.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(LOCK_FILE_NAME)
    }

    /// The leasable third octets.
    pub fn range(&self) -> RangeInclusive<u8> {
        self.min..=self.max
    }

    /// The lease file of `subnet`, `<lease dir>/<third octet>.lease`.
    pub fn lease_path(&self, subnet: Subnet) -> PathBuf {
        self.dir.join(format!("{}.lease", subnet.third_octet()))
    }

    /// Leases a subnet to the prefix whose uuid file is `prefix_uuid_path`
    /// (absolute) and holds `prefix_uuid`.
    ///
    /// With `requested` (a gateway or any address of the wanted /24) that
    /// subnet is leased: an error if it is outside the range or validly
    /// leased to another prefix; if this prefix already holds it, the
    /// existing lease is returned unchanged. Without, the lowest subnet that
    /// is free or whose lease is stale is leased. Stale leases met on the way
    /// are removed.
    pub fn acquire(
        &self,
        prefix_uuid_path: &Path,
        prefix_uuid: &str,
        requested: Option<Ipv4Addr>,
    ) -> Result<Lease, LeaseError> {
        if !prefix_uuid_path.is_absolute() {
            return Err(LeaseError::RelativeUuidPath {
                path: prefix_uuid_path.to_path_buf(),
            });
        }
        let requested = requested
            .map(|addr| self.check_in_range(addr))
            .transpose()?;
        let owner = LeaseOwner {
            uuid_path: prefix_uuid_path.to_path_buf(),
            uuid: prefix_uuid.to_string(),
        };
        match fs::read(prefix_uuid_path) {
            Ok(content) if content == prefix_uuid.as_bytes() => {}
            Ok(_) => {
                return Err(LeaseError::UuidMismatch {
                    path: owner.uuid_path,
                    uuid: owner.uuid,
                });
            }
            Err(source) => {
                return Err(LeaseError::Io {
                    action: "read the prefix uuid file",
                    path: owner.uuid_path,
                    source,
                });
            }
        }

        let _lock = self.lock()?;
        match requested {
            Some(subnet) => self.acquire_given(subnet, owner),
            None => self.acquire_free(owner),
        }
    }

    fn acquire_given(&self, subnet: Subnet, owner: LeaseOwner) -> Result<Lease, LeaseError> {
        let path = self.lease_path(subnet);
        match inspect(&path) {
            Found::Absent => {}
            Found::Lease(current, status) if status.is_stale() => {
                self.remove_stale(subnet, &path, current.as_ref(), status)?;
            }
            Found::Lease(Some(current), LeaseStatus::Valid) => {
                if current.uuid_path == owner.uuid_path {
                    tracing::debug!(%subnet, owner = %owner.uuid_path.display(), "subnet already leased to this prefix");
                    return Ok(Lease {
                        subnet,
                        owner: current,
                        path,
                    });
                }
                return Err(LeaseError::Taken {
                    subnet,
                    owner: current,
                    path,
                });
            }
            Found::Lease(current, _) => {
                return Err(LeaseError::Unverifiable {
                    subnet,
                    path,
                    owner: current.map(|owner| owner.uuid_path),
                });
            }
        }
        self.write_lease(subnet, owner)
    }

    fn acquire_free(&self, owner: LeaseOwner) -> Result<Lease, LeaseError> {
        for octet in self.range() {
            let subnet = Subnet::from_third_octet(octet);
            let path = self.lease_path(subnet);
            match inspect(&path) {
                Found::Absent => {}
                Found::Lease(current, status) if status.is_stale() => {
                    self.remove_stale(subnet, &path, current.as_ref(), status)?;
                }
                Found::Lease(_, _) => continue,
            }
            return self.write_lease(subnet, owner);
        }
        Err(LeaseError::StoreFull {
            first: Subnet::from_third_octet(self.min),
            last: Subnet::from_third_octet(self.max),
            dir: self.dir.clone(),
        })
    }

    /// Releases the lease of `subnet`, whoever holds it, as Lago does.
    /// Returns whether a lease file was removed. Only the lease file is
    /// deleted; an error if `subnet` is outside the range.
    pub fn release(&self, subnet: Subnet) -> Result<bool, LeaseError> {
        self.check_in_range(subnet.network())?;
        let _lock = self.lock()?;
        let path = self.lease_path(subnet);
        let removed = remove_lease_file(&path)?;
        if removed {
            tracing::debug!(%subnet, lease = %path.display(), "released subnet lease");
        }
        Ok(removed)
    }

    /// Releases every lease recorded for the prefix whose uuid file is
    /// `prefix_uuid_path` (valid or stale), and returns their subnets.
    pub fn release_all_of(&self, prefix_uuid_path: &Path) -> Result<Vec<Subnet>, LeaseError> {
        let _lock = self.lock()?;
        let mut released = Vec::new();
        for octet in self.range() {
            let subnet = Subnet::from_third_octet(octet);
            let path = self.lease_path(subnet);
            let Found::Lease(Some(owner), _) = inspect(&path) else {
                continue;
            };
            if owner.uuid_path == prefix_uuid_path && remove_lease_file(&path)? {
                tracing::debug!(%subnet, owner = %prefix_uuid_path.display(), "released subnet lease");
                released.push(subnet);
            }
        }
        Ok(released)
    }

    /// Moves the leases of `subnets` held by the prefix whose uuid file is
    /// `from` to the uuid file `to`, then runs `then` (the rename that
    /// makes `to` exist), all under the store lock, so no other process sees
    /// the leases while they name a missing file. If `then` fails the
    /// leases are moved back.
    pub fn move_owner<T>(
        &self,
        subnets: &[Subnet],
        from: &Path,
        to: &Path,
        then: impl FnOnce() -> io::Result<T>,
    ) -> Result<io::Result<T>, LeaseError> {
        let _lock = self.lock()?;
        let mut moved = Vec::new();
        for &subnet in subnets {
            let path = self.lease_path(subnet);
            if let Found::Lease(Some(owner), _) = inspect(&path)
                && owner.uuid_path == from
            {
                self.write_lease(
                    subnet,
                    LeaseOwner {
                        uuid_path: to.to_path_buf(),
                        uuid: owner.uuid.clone(),
                    },
                )?;
                moved.push((subnet, owner));
            }
        }
        let result = then();
        if result.is_err() {
            for (subnet, owner) in moved {
                self.write_lease(subnet, owner)?;
            }
        }
        Ok(result)
    }

    /// Lists the lease files in the range with their owners and status,
    /// lowest subnet first. Removes nothing.
    pub fn list(&self) -> Result<Vec<LeaseEntry>, LeaseError> {
        let _lock = self.lock()?;
        let mut entries = Vec::new();
        for octet in self.range() {
            let subnet = Subnet::from_third_octet(octet);
            let path = self.lease_path(subnet);
            if let Found::Lease(owner, status) = inspect(&path) {
                entries.push(LeaseEntry {
                    subnet,
                    path,
                    owner,
                    status,
                });
            }
        }
        Ok(entries)
    }

    fn check_in_range(&self, address: Ipv4Addr) -> Result<Subnet, LeaseError> {
        match Subnet::containing(address) {
            Some(subnet) if self.range().contains(&subnet.third_octet()) => Ok(subnet),
            _ => Err(LeaseError::OutOfRange {
                address,
                first: Subnet::from_third_octet(self.min),
                last: Subnet::from_third_octet(self.max),
            }),
        }
    }

    /// Creates the lease directory if needed and takes the store lock.
    fn lock(&self) -> Result<LockGuard, LeaseError> {
        if !self.dir.is_dir() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&self.dir)
                .map_err(|source| LeaseError::Io {
                    action: "create the lease directory",
                    path: self.dir.clone(),
                    source,
                })?;
        }
        fslock::lock(&self.lock_path(), self.lock_timeout, || {}).map_err(|err| match err {
            LockError::Open { path, source } => LeaseError::Io {
                action: "open the lock file",
                path,
                source,
            },
            LockError::Lock { path, source } => LeaseError::Io {
                action: "lock",
                path,
                source,
            },
            LockError::Timeout {
                path,
                timeout,
                holder,
            } => LeaseError::LockTimeout {
                path,
                timeout,
                holder,
            },
        })
    }

    fn remove_stale(
        &self,
        subnet: Subnet,
        path: &Path,
        owner: Option<&LeaseOwner>,
        status: LeaseStatus,
    ) -> Result<(), LeaseError> {
        remove_lease_file(path)?;
        tracing::info!(
            %subnet,
            lease = %path.display(),
            owner = %owner.map(|o| o.uuid_path.display().to_string()).unwrap_or_default(),
            ?status,
            "removed stale subnet lease"
        );
        Ok(())
    }

    fn write_lease(&self, subnet: Subnet, owner: LeaseOwner) -> Result<Lease, LeaseError> {
        let path = self.lease_path(subnet);
        let text = json::encode_lease(&owner.uuid_path, &owner.uuid);
        let written = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .and_then(|mut file| file.write_all(text.as_bytes()));
        if let Err(source) = written {
            // Leave no half-written lease behind (we hold the lock; the file
            // is ours).
            let _ = fs::remove_file(&path);
            return Err(LeaseError::Io {
                action: "write the lease file",
                path,
                source,
            });
        }
        tracing::debug!(%subnet, lease = %path.display(), owner = %owner.uuid_path.display(), "leased subnet");
        Ok(Lease {
            subnet,
            owner,
            path,
        })
    }
}

/// What is at a lease path.
enum Found {
    Absent,
    Lease(Option<LeaseOwner>, LeaseStatus),
}

/// Reads and classifies the lease file at `path`.
fn inspect(path: &Path) -> Found {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Found::Absent,
        Err(err) => {
            tracing::warn!(lease = %path.display(), %err, "cannot read subnet lease; treating it as held");
            return Found::Lease(None, LeaseStatus::Unreadable);
        }
    };
    match json::decode_lease(&bytes) {
        Ok((uuid_path, uuid)) => {
            let owner = LeaseOwner { uuid_path, uuid };
            let status = owner_status(&owner);
            Found::Lease(Some(owner), status)
        }
        Err(reason) => {
            tracing::warn!(lease = %path.display(), %reason, "malformed subnet lease");
            Found::Lease(None, LeaseStatus::Malformed)
        }
    }
}

/// Whether `owner`'s uuid file exists and holds exactly its uuid (Lago
/// compares the whole file content, so a trailing newline is a mismatch).
fn owner_status(owner: &LeaseOwner) -> LeaseStatus {
    match fs::read(&owner.uuid_path) {
        // a prefix a killed init was making (see crate::prefix::staging)
        Ok(_) if crate::prefix::staging::in_dead_staging(&owner.uuid_path) => {
            LeaseStatus::OwnerGone
        }
        Ok(content) if content == owner.uuid.as_bytes() => LeaseStatus::Valid,
        Ok(_) => LeaseStatus::OwnerReplaced,
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::NotADirectory
                    | io::ErrorKind::IsADirectory
            ) =>
        {
            LeaseStatus::OwnerGone
        }
        Err(err) => {
            tracing::warn!(uuid_file = %owner.uuid_path.display(), %err, "cannot read prefix uuid file; treating its lease as held");
            LeaseStatus::Unreadable
        }
    }
}

/// Removes a lease file (never a directory); `Ok(false)` if there was none.
fn remove_lease_file(path: &Path) -> Result<bool, LeaseError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(LeaseError::Io {
            action: "remove the lease file",
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests;
