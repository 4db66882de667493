//! Providers run the environment's networks and VMs. [`libvirt`] is the real
//! one; the trait lets a plugin or a planning test supply another.
//!
//! Every object is transient (created from XML, gone when stopped), so
//! "down" means "does not exist". Stopping something that does not exist
//! and starting something that runs already are no-ops, not errors.

pub mod auth;
mod dhcp_leases;
pub mod domain_type;
pub mod libvirt;
pub mod storage;

use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::error::{Error, ErrorKind};

/// A VM's state as Lago reports it (`vm.state()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmState {
    /// The domain does not exist.
    Down,
    /// Running.
    Running,
    /// No state reported.
    NoState,
    /// Blocked on a resource.
    Blocked,
    /// Paused.
    Paused,
    /// Being shut down.
    ShuttingDown,
    /// Shut off (only persistent domains show this).
    ShutOff,
    /// Crashed.
    Crashed,
    /// Suspended by guest power management.
    Suspended,
    /// A state this version does not know.
    Unknown,
}

impl VmState {
    /// Lago's string for the state: `running`, `down`, `shut off`, …
    pub fn as_str(self) -> &'static str {
        match self {
            VmState::Down => "down",
            VmState::Running => "running",
            VmState::NoState => "no state",
            VmState::Blocked => "blocked",
            VmState::Paused => "paused",
            VmState::ShuttingDown => "begin shut down",
            VmState::ShutOff => "shut off",
            VmState::Crashed => "crashed",
            VmState::Suspended => "suspended",
            VmState::Unknown => "unknown",
        }
    }

    /// Whether the VM counts as running (`vm.running()`).
    pub fn is_running(self) -> bool {
        !matches!(self, VmState::Down | VmState::ShutOff | VmState::Crashed)
    }
}

impl fmt::Display for VmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a provider call was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderObject {
    /// The connection itself (its URI): connecting, listing, capabilities.
    Connection,
    /// A network, by its provider name.
    Network,
    /// A VM (libvirt domain), by its provider name (`<uuid[:8]>-<vm>`).
    Domain,
    /// A storage volume, as `<pool>/<volume>`.
    Volume,
}

/// A failed provider call: the operation, the object, the provider's
/// message and, for libvirt, its error code and domain, with the libvirt
/// error kept as the [`source`](std::error::Error::source).
///
/// Its `Display` is `{op} {object}: {message}`, e.g.
/// `create domain 0123abcd-vm0: operation failed: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderError {
    /// What was being done (`create domain`, `destroy network`, …).
    pub op: &'static str,
    /// What kind of thing [`object`](ProviderError::object) names.
    pub object_kind: ProviderObject,
    /// The object's name, or the connection URI.
    pub object: String,
    /// The provider's own message (for libvirt, the error's message, with
    /// a hint appended where lago has one).
    pub message: String,
    /// libvirt's error code (`virErrorNumber`), when libvirt reported one.
    pub code: Option<i32>,
    /// libvirt's error domain (`virErrorDomain`: which part of libvirt
    /// failed), when libvirt reported one.
    pub domain: Option<i32>,
    /// The libvirt error itself (boxed: results carrying a ProviderError
    /// stay small); also the error's [`source`](std::error::Error::source).
    pub libvirt: Option<Box<virt::error::Error>>,
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.op, self.object, self.message)
    }
}

impl std::error::Error for ProviderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.libvirt
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl ProviderError {
    /// A failure of `op` on `object` that did not come from libvirt (e.g. a
    /// provider that cannot do something).
    pub fn new(
        op: &'static str,
        object_kind: ProviderObject,
        object: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            op,
            object_kind,
            object: object.into(),
            message: message.into(),
            code: None,
            domain: None,
            libvirt: None,
        }
    }

    /// A failure of `op` on `object` reported by libvirt as `err`: its
    /// message, code and domain, and `err` as the source.
    pub fn libvirt(
        op: &'static str,
        object_kind: ProviderObject,
        object: impl Into<String>,
        err: virt::error::Error,
    ) -> Self {
        Self {
            message: err.message().to_string(),
            code: i32::try_from(err.code().to_raw()).ok(),
            domain: i32::try_from(err.domain().to_raw()).ok(),
            libvirt: Some(Box::new(err)),
            ..Self::new(op, object_kind, object, "")
        }
    }
}

impl From<ProviderError> for Error {
    /// A [`ErrorKind::Libvirt`] error with the same message, keeping the
    /// [`ProviderError`] (and so the libvirt error) as its source and
    /// libvirt's code as [`Error::libvirt_code`].
    fn from(err: ProviderError) -> Self {
        let code = err.code;
        let out = Error::with_source(ErrorKind::Libvirt, err.to_string(), err);
        match code {
            Some(code) => out.with_libvirt_code(code),
            None => out,
        }
    }
}

/// What lago needs from a virtualization backend. Thread-safe: calls may
/// come from several threads at once (parallel start and stop).
pub trait Provider: Send + Sync {
    /// Whether the network `name` exists and is active.
    fn network_active(&self, name: &str) -> Result<bool, ProviderError>;
    /// Creates and starts a transient network from its XML.
    fn create_network(&self, xml: &str) -> Result<(), ProviderError>;
    /// Stops network `name`; nothing happens if it does not exist.
    fn destroy_network(&self, name: &str) -> Result<(), ProviderError>;
    /// The state of VM `name` ([`VmState::Down`] if it does not exist).
    fn vm_state(&self, name: &str) -> Result<VmState, ProviderError>;
    /// Creates and starts a transient VM from its XML.
    fn create_vm(&self, xml: &str) -> Result<(), ProviderError>;
    /// Stops VM `name` at once (power cut); nothing happens if it does not exist.
    fn destroy_vm(&self, name: &str) -> Result<(), ProviderError>;
    /// Asks VM `name` to shut down (ACPI power button).
    fn shutdown_vm(&self, name: &str) -> Result<(), ProviderError>;
    /// Asks VM `name` to reboot (ACPI).
    fn reboot_vm(&self, name: &str) -> Result<(), ProviderError>;
    /// The live XML of VM `name`, if it exists.
    fn vm_xml(&self, name: &str) -> Result<Option<String>, ProviderError>;
    /// The live XML of network `name`, if it exists.
    fn network_xml(&self, name: &str) -> Result<Option<String>, ProviderError>;
    /// Names of every running VM.
    fn list_vms(&self) -> Result<Vec<String>, ProviderError>;
    /// Names of every active network.
    fn list_networks(&self) -> Result<Vec<String>, ProviderError>;
    /// The IPv4 address the network's DHCP server has leased to the NIC
    /// with MAC address `mac` of VM `name`, if it has one. The default
    /// knows no leases (a provider without DHCP).
    fn leased_ipv4(&self, name: &str, mac: &str) -> Result<Option<Ipv4Addr>, ProviderError> {
        let _ = (name, mac);
        Ok(None)
    }
    /// Takes a disk-only external snapshot of running VM `name` from the
    /// `<domainsnapshot>` document `xml`, onto overlay files that exist
    /// already (`REUSE_EXT`), all disks or none (`ATOMIC`), without
    /// snapshot metadata kept by the provider; with `quiesce`, the guest
    /// agent freezes the guest's file systems meanwhile. The default refuses:
    /// a provider without live snapshots.
    fn snapshot_disks(&self, name: &str, xml: &str, quiesce: bool) -> Result<(), ProviderError> {
        let _ = (xml, quiesce);
        Err(ProviderError::new(
            "snapshot domain",
            ProviderObject::Domain,
            name,
            "this provider cannot snapshot running VMs",
        ))
    }
    /// Pauses running VM `name` (its vCPUs stop; it stays in memory).
    fn suspend_vm(&self, name: &str) -> Result<(), ProviderError> {
        Err(unsupported("suspend domain", name))
    }
    /// Resumes paused VM `name`.
    fn resume_vm(&self, name: &str) -> Result<(), ProviderError> {
        Err(unsupported("resume domain", name))
    }
    /// Takes an external snapshot of running (or paused) VM `name` with its
    /// memory, from the `<domainsnapshot>` document `xml` (which names the
    /// memory file and the overlays, made already: `REUSE_EXT`), all disks
    /// or none (`ATOMIC`), no snapshot metadata kept by the provider. The VM
    /// is left in the state it was in.
    fn snapshot_memory(&self, name: &str, xml: &str) -> Result<(), ProviderError> {
        let _ = xml;
        Err(unsupported("snapshot the memory of domain", name))
    }
    /// The domain XML embedded in memory image `path`.
    fn memory_image_xml(&self, path: &Path) -> Result<String, ProviderError> {
        Err(unsupported("read memory image", &path.to_string_lossy()))
    }
    /// Starts a VM from memory image `path`, running, with `xml` as its
    /// domain XML (the embedded one with host-side changes such as disk
    /// files).
    fn restore_vm(&self, path: &Path, xml: &str) -> Result<(), ProviderError> {
        let _ = xml;
        Err(unsupported("restore memory image", &path.to_string_lossy()))
    }
    /// The host's free memory in bytes (`virNodeGetFreeMemory`), for
    /// [`crate::ops::placement`].
    fn host_free_memory(&self) -> Result<u64, ProviderError> {
        Err(ProviderError::new(
            "read the free memory of",
            ProviderObject::Connection,
            "this provider",
            "this provider cannot do that",
        ))
    }
    /// Freezes every file system of running VM `name` through its guest
    /// agent (writes block until [`Provider::thaw_filesystems`]); returns
    /// how many were frozen.
    fn freeze_filesystems(&self, name: &str) -> Result<u32, ProviderError> {
        Err(unsupported("freeze the file systems of domain", name))
    }
    /// Thaws the file systems of VM `name` frozen by its guest agent;
    /// returns how many were thawed (0 when none was frozen).
    fn thaw_filesystems(&self, name: &str) -> Result<u32, ProviderError> {
        Err(unsupported("thaw the file systems of domain", name))
    }
    /// Sets the guest clock of VM `name` to `unix_seconds` through its guest
    /// agent.
    fn set_guest_time(&self, name: &str, unix_seconds: i64) -> Result<(), ProviderError> {
        let _ = unix_seconds;
        Err(unsupported("set the guest time of domain", name))
    }
    /// How far a memory save of VM `name` is: `(bytes done, bytes in all)`,
    /// `None` when no such job runs.
    fn memory_job(&self, name: &str) -> Result<Option<(u64, u64)>, ProviderError> {
        let _ = name;
        Ok(None)
    }
    /// Memory of running VM `name` in bytes: what it is given and what its
    /// qemu process holds now (resident set), if the provider knows.
    fn vm_memory(&self, name: &str) -> Result<Option<(u64, u64)>, ProviderError> {
        let _ = name;
        Ok(None)
    }
    /// The folder on the host that storage pool `pool` keeps its volumes
    /// in. The storage calls below serve environments on a remote host
    /// (see [`crate::host`]); the default provider has no pools.
    fn pool_dir(&self, pool: &str) -> Result<String, ProviderError> {
        Err(no_pools("read storage pool", pool))
    }
    /// The names of every volume of pool `pool`.
    fn list_volumes(&self, pool: &str) -> Result<Vec<String>, ProviderError> {
        Err(no_pools("list volumes of", pool))
    }
    /// The guest size of volume `name` of pool `pool`, if it exists.
    fn volume_capacity(&self, pool: &str, name: &str) -> Result<Option<u64>, ProviderError> {
        Err(no_pools("read volume", &format!("{pool}/{name}")))
    }
    /// Uploads local file `src` into a new volume (see
    /// [`storage::upload`]); returns its path on the host.
    fn upload_volume(
        &self,
        pool: &str,
        name: &str,
        upload: &Upload<'_>,
    ) -> Result<String, ProviderError> {
        let _ = upload;
        Err(no_pools("upload to volume", &format!("{pool}/{name}")))
    }
    /// The host path of a template image kept in pool `pool` by content,
    /// uploaded first if missing (see [`storage::ensure_template`]); and
    /// whether it was uploaded.
    fn ensure_template_volume(
        &self,
        pool: &str,
        sha1: &str,
        upload: &Upload<'_>,
        lock_dir: &Path,
    ) -> Result<(String, bool), ProviderError> {
        let _ = (sha1, upload, lock_dir);
        Err(no_pools("upload to volume", pool))
    }
    /// Creates a qcow2 overlay volume on the host file `backing`; returns
    /// its path on the host.
    fn create_overlay_volume(
        &self,
        pool: &str,
        name: &str,
        capacity: u64,
        backing: &str,
        backing_format: &str,
    ) -> Result<String, ProviderError> {
        let _ = (capacity, backing, backing_format);
        Err(no_pools("create volume", &format!("{pool}/{name}")))
    }
    /// Creates an empty volume; returns its path on the host.
    fn create_volume(
        &self,
        pool: &str,
        name: &str,
        capacity: u64,
        format: &str,
    ) -> Result<String, ProviderError> {
        let _ = (capacity, format);
        Err(no_pools("create volume", &format!("{pool}/{name}")))
    }
    /// Downloads volume `name` of pool `pool` into local file `dst`; the
    /// bytes written, `None` when there is no such volume.
    fn download_volume(
        &self,
        pool: &str,
        name: &str,
        dst: &Path,
    ) -> Result<Option<u64>, ProviderError> {
        let _ = dst;
        Err(no_pools("download volume", &format!("{pool}/{name}")))
    }
    /// Deletes volume `name` of pool `pool`; `false` when there was none.
    fn delete_volume(&self, pool: &str, name: &str) -> Result<bool, ProviderError> {
        Err(no_pools("delete volume", &format!("{pool}/{name}")))
    }
}

/// A local file to upload into a storage volume.
pub struct Upload<'a> {
    /// The file.
    pub src: &'a Path,
    /// The volume's format (`raw`, `qcow2`).
    pub format: &'a str,
    /// The volume's guest size in bytes.
    pub capacity: u64,
    /// Called with the bytes of each chunk sent.
    pub sent: &'a (dyn Fn(u64) + Sync),
}

fn no_pools(op: &'static str, object: &str) -> ProviderError {
    ProviderError::new(
        op,
        ProviderObject::Volume,
        object,
        "this provider has no storage pools",
    )
}

/// The error of a provider that cannot do `op`.
fn unsupported(op: &'static str, object: &str) -> ProviderError {
    ProviderError::new(
        op,
        ProviderObject::Domain,
        object,
        "this provider cannot do that",
    )
}
