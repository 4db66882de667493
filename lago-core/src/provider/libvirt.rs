//! The libvirt provider, over the `virt` crate: one connection (libvirt
//! connections are thread-safe), transient networks and domains.
//!
//! A connection lost under a running lago (libvirtd restarted, as a package
//! upgrade does; the guests keep running) is noticed on the call that
//! fails with it: libvirt then says the connection is no longer alive, or
//! the call failed in libvirt's RPC layer (closed socket, end of file). The
//! provider reconnects, trying for [`RECONNECT_FOR`] with a warning in the
//! log, and runs the failed call once more; later calls use the new
//! connection. A create whose first try reached libvirtd before the
//! connection broke finds its object running on the second try, and counts
//! as done.

use std::cell::Cell;
use std::net::Ipv4Addr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};
use virt::connect::Connect;
use virt::domain::DomainState;
use virt::error::ErrorNumber;

use super::auth::{self, Credentials};
use super::dhcp_leases;
use super::{Provider, ProviderError, ProviderObject, Upload, VmState, storage};

/// The default connection URI (config `libvirt_url`).
pub const DEFAULT_URI: &str = "qemu:///system";

/// How long a lost connection is tried again before the call fails (a
/// restarting libvirtd answers within seconds).
pub const RECONNECT_FOR: Duration = Duration::from_secs(30);

/// The pause between two attempts to reconnect.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// A connection to libvirt.
pub struct Libvirt {
    uri: String,
    /// What the connection was opened with, to open it again.
    creds: Credentials,
    /// The connection and its generation (counts reconnections).
    conn: RwLock<(Connect, u64)>,
    /// Held while reconnecting: one thread reconnects, the others then use
    /// its connection.
    reconnecting: Mutex<()>,
    /// How long to try to reconnect ([`RECONNECT_FOR`]).
    reconnect_for: Duration,
}

impl std::fmt::Debug for Libvirt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Libvirt").field("uri", &self.uri).finish()
    }
}

fn fail(op: &'static str, object: &str) -> impl FnOnce(virt::error::Error) -> ProviderError {
    let object = object.to_string();
    let kind = if op.ends_with("network") {
        ProviderObject::Network
    } else if op.ends_with("domain") {
        ProviderObject::Domain
    } else {
        ProviderObject::Connection
    };
    move |e| ProviderError::libvirt(op, kind, object, e)
}

/// Whether a failed call's error `err` means the connection `conn` is lost:
/// libvirt says the connection is not alive, or the call failed in the
/// client's RPC or remote layer (a closed socket, end of file, a client
/// marked closed). Errors that did not come from libvirt never do.
fn connection_lost(conn: &Connect, err: &ProviderError) -> bool {
    err.libvirt.is_some() && lost(conn.is_alive().ok(), err.code, err.domain)
}

/// [`connection_lost`] from what it looks at: `alive` (None when libvirt
/// could not say) and the error's code and domain.
fn lost(alive: Option<bool>, code: Option<i32>, domain: Option<i32>) -> bool {
    let is = |raw: u32, v: Option<i32>| i32::try_from(raw).ok() == v;
    let transport = (is(virt::sys::VIR_FROM_RPC, domain) || is(virt::sys::VIR_FROM_REMOTE, domain))
        && [
            virt::sys::VIR_ERR_SYSTEM_ERROR,
            virt::sys::VIR_ERR_INTERNAL_ERROR,
            virt::sys::VIR_ERR_RPC,
            virt::sys::VIR_ERR_NO_CONNECT,
        ]
        .into_iter()
        .any(|c| is(c, code));
    alive != Some(true) || transport
}

fn is_missing(e: &virt::error::Error) -> bool {
    e.code()
        .is_known_and(|c| matches!(c, ErrorNumber::NoDomain | ErrorNumber::NoNetwork))
}

/// The `<name>` of a libvirt XML document, for messages.
fn xml_name(xml: &str) -> String {
    xml.split_once("<name>")
        .and_then(|(_, rest)| rest.split_once("</name>"))
        .map(|(name, _)| name.trim().to_string())
        .unwrap_or_else(|| "(unnamed)".into())
}

impl Libvirt {
    /// Connects to `uri` (e.g. `qemu:///system`). libvirt's habit of
    /// printing every error to stderr is switched off: errors come back as
    /// values and are logged by the caller.
    pub fn connect(uri: &str) -> Result<Self, ProviderError> {
        Self::connect_with(uri, &Credentials::default())
    }

    /// Connects to `uri`, answering libvirt's questions (user name,
    /// password) with `creds` when the connection asks for them.
    pub fn connect_with(uri: &str, creds: &Credentials) -> Result<Self, ProviderError> {
        let conn = open(uri, creds)?;
        Ok(Self {
            uri: uri.to_string(),
            creds: creds.clone(),
            conn: RwLock::new((conn, 0)),
            reconnecting: Mutex::new(()),
            reconnect_for: RECONNECT_FOR,
        })
    }

    /// The URI this connection was opened with.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The host's capabilities XML.
    pub fn capabilities(&self) -> Result<String, ProviderError> {
        self.call(|conn| {
            conn.capabilities()
                .map_err(fail("read capabilities of", &self.uri))
        })
    }

    /// The connection now and its generation.
    fn current(&self) -> (Connect, u64) {
        let held = self.conn.read();
        (held.0.clone(), held.1)
    }

    /// `f` on domain `name` (looked up on the current connection), its
    /// libvirt error reported as `op` on the domain.
    fn on_domain(
        &self,
        name: &str,
        op: &'static str,
        f: impl Fn(&virt::domain::Domain) -> Result<(), virt::error::Error>,
    ) -> Result<(), ProviderError> {
        self.on_domain_value(name, op, f)
    }

    /// [`Self::on_domain`] for a call that returns a value.
    fn on_domain_value<T>(
        &self,
        name: &str,
        op: &'static str,
        f: impl Fn(&virt::domain::Domain) -> Result<T, virt::error::Error>,
    ) -> Result<T, ProviderError> {
        self.call(|conn| {
            let dom = conn
                .lookup_domain_by_name(name)
                .map_err(fail("look up domain", name))?;
            f(&dom).map_err(fail(op, name))
        })
    }

    /// `f` on the connection (see [`Self::call`]), for the provider's other
    /// modules ([`super::storage`]).
    pub(crate) fn with_connection<T>(
        &self,
        f: impl Fn(&Connect) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        self.call(f)
    }

    /// `f` on the connection; if it fails because the connection is lost,
    /// reconnects and runs `f` once more.
    fn call<T>(
        &self,
        f: impl Fn(&Connect) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let (conn, generation) = self.current();
        let err = match f(&conn) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !connection_lost(&conn, &err) {
            return Err(err);
        }
        drop(conn);
        let conn = self.reconnect(generation, &err)?;
        f(&conn)
    }

    /// A new connection in place of generation `generation`, lost as
    /// `cause` says (another thread's, if it reconnected meanwhile): tried
    /// every [`RECONNECT_PAUSE`] for [`RECONNECT_FOR`], or until a cancel
    /// (Ctrl-C) is requested.
    fn reconnect(&self, generation: u64, cause: &ProviderError) -> Result<Connect, ProviderError> {
        let _one = self.reconnecting.lock();
        {
            let held = self.conn.read();
            if held.1 != generation {
                return Ok(held.0.clone());
            }
        }
        warn!(
            uri = %self.uri,
            "lost the connection to libvirt ({cause}); reconnecting"
        );
        let start = Instant::now();
        loop {
            match open(&self.uri, &self.creds) {
                Ok(conn) => {
                    *self.conn.write() = (conn.clone(), generation + 1);
                    info!(
                        uri = %self.uri,
                        "reconnected to libvirt after {:.1} s",
                        start.elapsed().as_secs_f64()
                    );
                    return Ok(conn);
                }
                Err(e)
                    if start.elapsed() + RECONNECT_PAUSE <= self.reconnect_for
                        && !crate::cancel::requested() =>
                {
                    tracing::debug!(uri = %self.uri, %e, "libvirt does not answer yet");
                    thread::sleep(RECONNECT_PAUSE);
                }
                Err(e) => {
                    return Err(ProviderError {
                        message: format!(
                            "{} (the connection was lost: {cause}; tried to reconnect for {} s)",
                            e.message,
                            start.elapsed().as_secs()
                        ),
                        ..e
                    });
                }
            }
        }
    }
}

/// Opens a connection to `uri`, answering with `creds`. libvirt's habit of
/// printing every error to stderr is switched off: errors come back as
/// values and are logged by the caller.
fn open(uri: &str, creds: &Credentials) -> Result<Connect, ProviderError> {
    virt::error::clear_error_callback();
    let opened = if creds.is_empty() {
        Connect::open(Some(uri))
    } else {
        auth::with_credentials(creds, |a| Connect::open_auth(Some(uri), a, 0))
    };
    opened.map_err(|e| {
        let hint = if creds.is_empty() {
            "is libvirtd running and may this user use it? If it asks for \
             credentials, set libvirt_username and libvirt_password"
        } else {
            "is libvirtd running, and are libvirt_username and \
             libvirt_password right?"
        };
        let mut err = ProviderError::libvirt("connect to", ProviderObject::Connection, uri, e);
        err.message = format!("{} ({hint})", err.message);
        err
    })
}

/// Whether domain `name` exists and runs (a create whose first try did it
/// before the connection was lost).
fn domain_runs(conn: &Connect, name: &str) -> bool {
    conn.lookup_domain_by_name(name)
        .and_then(|d| d.is_active())
        .unwrap_or(false)
}

/// Whether network `name` exists and is active (as [`domain_runs`]).
fn network_runs(conn: &Connect, name: &str) -> bool {
    conn.lookup_network_by_name(name)
        .and_then(|n| n.is_active())
        .unwrap_or(false)
}

impl Provider for Libvirt {
    fn network_active(&self, name: &str) -> Result<bool, ProviderError> {
        self.call(|conn| match conn.lookup_network_by_name(name) {
            Ok(net) => net.is_active().map_err(fail("query network", name)),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(fail("look up network", name)(e)),
        })
    }

    fn create_network(&self, xml: &str) -> Result<(), ProviderError> {
        let name = xml_name(xml);
        let again = Cell::new(false);
        self.call(|conn| match conn.create_network_xml(xml) {
            Ok(_) => Ok(()),
            Err(_) if again.get() && network_runs(conn, &name) => Ok(()),
            Err(e) => {
                again.set(true);
                Err(fail("create network", &name)(e))
            }
        })
    }

    fn destroy_network(&self, name: &str) -> Result<(), ProviderError> {
        self.call(|conn| match conn.lookup_network_by_name(name) {
            Ok(net) => match net.destroy() {
                Ok(()) => Ok(()),
                Err(e) if is_missing(&e) => Ok(()),
                Err(e) => Err(fail("destroy network", name)(e)),
            },
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(fail("look up network", name)(e)),
        })
    }

    fn vm_state(&self, name: &str) -> Result<VmState, ProviderError> {
        let (state, _) = match self.call(|conn| match conn.lookup_domain_by_name(name) {
            Ok(dom) => match dom.state() {
                Ok(s) => Ok(Some(s)),
                Err(e) if is_missing(&e) => Ok(None),
                Err(e) => Err(fail("query domain", name)(e)),
            },
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(fail("look up domain", name)(e)),
        })? {
            Some(s) => s,
            None => return Ok(VmState::Down),
        };
        Ok(match state.unwrap_or(DomainState::NoState) {
            DomainState::NoState if state.is_unknown() => VmState::Unknown,
            DomainState::NoState => VmState::NoState,
            DomainState::Running => VmState::Running,
            DomainState::Blocked => VmState::Blocked,
            DomainState::Paused => VmState::Paused,
            DomainState::Shutdown => VmState::ShuttingDown,
            DomainState::Shutoff => VmState::ShutOff,
            DomainState::Crashed => VmState::Crashed,
            DomainState::PMSuspended => VmState::Suspended,
        })
    }

    fn create_vm(&self, xml: &str) -> Result<(), ProviderError> {
        let name = xml_name(xml);
        let again = Cell::new(false);
        self.call(|conn| match conn.create_domain_xml(xml, 0) {
            Ok(_) => Ok(()),
            Err(_) if again.get() && domain_runs(conn, &name) => Ok(()),
            Err(e) => {
                again.set(true);
                Err(fail("create domain", &name)(e))
            }
        })
    }

    fn destroy_vm(&self, name: &str) -> Result<(), ProviderError> {
        self.call(|conn| match conn.lookup_domain_by_name(name) {
            Ok(dom) => match dom.destroy() {
                Ok(()) => Ok(()),
                Err(e) if is_missing(&e) => Ok(()),
                Err(e) => Err(fail("destroy domain", name)(e)),
            },
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(fail("look up domain", name)(e)),
        })
    }

    fn shutdown_vm(&self, name: &str) -> Result<(), ProviderError> {
        self.call(|conn| {
            let dom = conn
                .lookup_domain_by_name(name)
                .map_err(fail("look up domain", name))?;
            dom.shutdown().map_err(fail("shut down domain", name))
        })
    }

    fn reboot_vm(&self, name: &str) -> Result<(), ProviderError> {
        self.call(|conn| {
            let dom = conn
                .lookup_domain_by_name(name)
                .map_err(fail("look up domain", name))?;
            dom.reboot(0).map_err(fail("reboot domain", name))
        })
    }

    fn vm_xml(&self, name: &str) -> Result<Option<String>, ProviderError> {
        self.call(|conn| match conn.lookup_domain_by_name(name) {
            Ok(dom) => dom
                .xml_desc(0)
                .map(Some)
                .map_err(fail("read XML of domain", name)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(fail("look up domain", name)(e)),
        })
    }

    fn network_xml(&self, name: &str) -> Result<Option<String>, ProviderError> {
        self.call(|conn| match conn.lookup_network_by_name(name) {
            Ok(net) => net
                .xml_desc(0)
                .map(Some)
                .map_err(fail("read XML of network", name)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(fail("look up network", name)(e)),
        })
    }

    fn list_vms(&self) -> Result<Vec<String>, ProviderError> {
        self.call(|conn| {
            let doms = conn
                .list_all_domains(virt::sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE)
                .map_err(fail("list domains of", &self.uri))?;
            Ok(doms.iter().filter_map(|d| d.name().ok()).collect())
        })
    }

    fn list_networks(&self) -> Result<Vec<String>, ProviderError> {
        self.call(|conn| {
            let nets = conn
                .list_all_networks(virt::sys::VIR_CONNECT_LIST_NETWORKS_ACTIVE)
                .map_err(fail("list networks of", &self.uri))?;
            Ok(nets.iter().filter_map(|n| n.name().ok()).collect())
        })
    }

    fn leased_ipv4(&self, name: &str, mac: &str) -> Result<Option<Ipv4Addr>, ProviderError> {
        self.call(|conn| {
            let dom = match conn.lookup_domain_by_name(name) {
                Ok(dom) => dom,
                Err(e) if is_missing(&e) => return Ok(None),
                Err(e) => return Err(fail("look up domain", name)(e)),
            };
            match dhcp_leases::leased_nics(&dom) {
                Ok(nics) => Ok(dhcp_leases::lease_for(&nics, mac)),
                Err(e) if is_missing(&e) => Ok(None),
                Err(e) => Err(fail("read DHCP leases of domain", name)(e)),
            }
        })
    }

    fn snapshot_disks(&self, name: &str, xml: &str, quiesce: bool) -> Result<(), ProviderError> {
        let mut flags = virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
            | virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
            | virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT
            | virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC;
        if quiesce {
            flags |= virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE;
        }
        self.call(|conn| {
            let dom = conn
                .lookup_domain_by_name(name)
                .map_err(fail("look up domain", name))?;
            dom.create_snapshot_xml(xml, flags)
                .map(drop)
                .map_err(fail("snapshot domain", name))
        })
    }

    fn suspend_vm(&self, name: &str) -> Result<(), ProviderError> {
        self.on_domain(name, "suspend domain", |dom| dom.suspend())
    }

    fn resume_vm(&self, name: &str) -> Result<(), ProviderError> {
        self.on_domain(name, "resume domain", |dom| dom.resume())
    }

    fn snapshot_memory(&self, name: &str, xml: &str) -> Result<(), ProviderError> {
        let flags = virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
            | virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT
            | virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC;
        self.on_domain(name, "snapshot the memory of domain", |dom| {
            dom.create_snapshot_xml(xml, flags).map(drop)
        })
    }

    fn memory_image_xml(&self, path: &Path) -> Result<String, ProviderError> {
        let file = path.to_string_lossy();
        self.call(|conn| {
            conn.save_image_xml_desc(&file, virt::sys::VIR_DOMAIN_SAVE_IMAGE_XML_SECURE)
                .map_err(fail("read memory image", &file))
        })
    }

    fn restore_vm(&self, path: &Path, xml: &str) -> Result<(), ProviderError> {
        let file = path.to_string_lossy();
        self.call(|conn| {
            conn.restore_domain_flags(&file, Some(xml), virt::sys::VIR_DOMAIN_SAVE_RUNNING)
                .map_err(fail("restore memory image", &file))
        })
    }

    fn vm_memory(&self, name: &str) -> Result<Option<(u64, u64)>, ProviderError> {
        self.on_domain_value(name, "read the memory of domain", |dom| {
            let given = dom.max_memory()?.saturating_mul(1024);
            let rss = dom
                .memory_stats(0)?
                .iter()
                .find(|s| s.tag == virt::sys::VIR_DOMAIN_MEMORY_STAT_RSS)
                .map_or(0, |s| s.val.saturating_mul(1024));
            Ok(Some((given, rss)))
        })
    }

    fn pool_dir(&self, pool: &str) -> Result<String, ProviderError> {
        storage::pool_dir(self, pool)
    }

    fn list_volumes(&self, pool: &str) -> Result<Vec<String>, ProviderError> {
        storage::list(self, pool)
    }

    fn volume_capacity(&self, pool: &str, name: &str) -> Result<Option<u64>, ProviderError> {
        storage::capacity(self, pool, name)
    }

    fn upload_volume(
        &self,
        pool: &str,
        name: &str,
        upload: &Upload<'_>,
    ) -> Result<String, ProviderError> {
        storage::upload(
            self,
            pool,
            name,
            upload.src,
            upload.format,
            upload.capacity,
            &mut |n| (upload.sent)(n),
        )
    }

    fn ensure_template_volume(
        &self,
        pool: &str,
        sha1: &str,
        upload: &Upload<'_>,
        lock_dir: &Path,
    ) -> Result<(String, bool), ProviderError> {
        storage::ensure_template(
            self,
            pool,
            upload.src,
            sha1,
            upload.format,
            upload.capacity,
            lock_dir,
            &mut |n| (upload.sent)(n),
        )
    }

    fn create_overlay_volume(
        &self,
        pool: &str,
        name: &str,
        capacity: u64,
        backing: &str,
        backing_format: &str,
    ) -> Result<String, ProviderError> {
        storage::create_overlay(self, pool, name, capacity, backing, backing_format)
    }

    fn create_volume(
        &self,
        pool: &str,
        name: &str,
        capacity: u64,
        format: &str,
    ) -> Result<String, ProviderError> {
        storage::create_empty(self, pool, name, capacity, format)
    }

    fn download_volume(
        &self,
        pool: &str,
        name: &str,
        dst: &Path,
    ) -> Result<Option<u64>, ProviderError> {
        storage::download(self, pool, name, dst)
    }

    fn delete_volume(&self, pool: &str, name: &str) -> Result<bool, ProviderError> {
        storage::delete(self, pool, name)
    }

    fn host_free_memory(&self) -> Result<u64, ProviderError> {
        self.call(|conn| {
            conn.free_memory()
                .map_err(fail("read the free memory of", &self.uri))
        })
    }

    fn freeze_filesystems(&self, name: &str) -> Result<u32, ProviderError> {
        self.on_domain_value(name, "freeze the file systems of domain", |dom| {
            // SAFETY: `dom` is a live domain handle for the whole call; no
            // mount points are passed (null, 0: all of them).
            let n =
                unsafe { virt::sys::virDomainFSFreeze(dom.as_ptr(), std::ptr::null_mut(), 0, 0) };
            u32::try_from(n).map_err(|_| virt::error::Error::last_error())
        })
    }

    fn thaw_filesystems(&self, name: &str) -> Result<u32, ProviderError> {
        self.on_domain_value(name, "thaw the file systems of domain", |dom| {
            // SAFETY: as in `freeze_filesystems`.
            let n = unsafe { virt::sys::virDomainFSThaw(dom.as_ptr(), std::ptr::null_mut(), 0, 0) };
            u32::try_from(n).map_err(|_| virt::error::Error::last_error())
        })
    }

    fn set_guest_time(&self, name: &str, unix_seconds: i64) -> Result<(), ProviderError> {
        self.on_domain(name, "set the guest time of domain", |dom| {
            dom.set_time(unix_seconds, 0, 0)
        })
    }

    fn memory_job(&self, name: &str) -> Result<Option<(u64, u64)>, ProviderError> {
        self.call(|conn| {
            let dom = match conn.lookup_domain_by_name(name) {
                Ok(dom) => dom,
                Err(e) if is_missing(&e) => return Ok(None),
                Err(e) => return Err(fail("look up domain", name)(e)),
            };
            // `job_info`, not `job_stats`: virt 0.5's `job_stats` builds a
            // Vec from libvirt's parameter array without checking it for
            // null, which it is when no job runs (undefined behaviour; a
            // debug build aborts)
            match dom.job_info() {
                Ok(job) if job.r#type == virt::sys::VIR_DOMAIN_JOB_NONE as i32 => Ok(None),
                Ok(job) => Ok(job
                    .mem_processed
                    .zip(job.mem_total)
                    .filter(|&(_, total)| total > 0)),
                Err(e) if is_missing(&e) => Ok(None),
                Err(e) => Err(fail("read the job of domain", name)(e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // libvirt's built-in test driver: a real libvirt API over an in-memory
    // host, no daemon needed.
    const TEST_URI: &str = "test:///default";

    #[test]
    fn xml_name_is_found() {
        assert_eq!(
            xml_name("<domain type='qemu'><name>ab-vm0</name></domain>"),
            "ab-vm0"
        );
        assert_eq!(xml_name("<domain/>"), "(unnamed)");
    }

    #[test]
    fn transient_objects_on_the_test_driver() {
        let lv = Libvirt::connect(TEST_URI).unwrap();
        assert_eq!(lv.vm_state("nope").unwrap(), VmState::Down);
        lv.destroy_vm("nope").unwrap(); // absent: a no-op
        lv.destroy_network("nope").unwrap();
        assert!(!lv.network_active("tnet").unwrap());
        lv.create_network("<network><name>tnet</name><bridge name='tbr0'/></network>")
            .unwrap();
        assert!(lv.network_active("tnet").unwrap());
        assert!(lv.list_networks().unwrap().contains(&"tnet".to_string()));
        lv.create_vm(
            "<domain type='test'><name>tvm</name><memory unit='MiB'>64</memory>\
             <os><type>hvm</type></os></domain>",
        )
        .unwrap();
        assert_eq!(lv.vm_state("tvm").unwrap(), VmState::Running);
        // no NIC, no lease; an absent domain has none either
        assert_eq!(lv.leased_ipv4("tvm", "54:52:c0:a8:c8:02").unwrap(), None);
        assert_eq!(lv.leased_ipv4("nope", "54:52:c0:a8:c8:02").unwrap(), None);
        assert!(
            lv.vm_xml("tvm")
                .unwrap()
                .unwrap()
                .contains("<name>tvm</name>")
        );
        lv.destroy_vm("tvm").unwrap();
        assert_eq!(lv.vm_state("tvm").unwrap(), VmState::Down);
        lv.destroy_network("tnet").unwrap();
        assert!(!lv.network_active("tnet").unwrap());
    }

    #[test]
    fn errors_name_the_object() {
        let lv = Libvirt::connect(TEST_URI).unwrap();
        let err = lv
            .create_vm("<domain type='test'><name>bad</name></domain>")
            .unwrap_err();
        assert_eq!(err.op, "create domain");
        assert_eq!(err.object, "bad");
        let err = Libvirt::connect("qemu+unix:///system?socket=/nonexistent").unwrap_err();
        assert!(err.to_string().contains("is libvirtd running"), "{err}");
    }

    #[test]
    fn a_lost_connection_is_told_from_a_failed_call() {
        let rpc = i32::try_from(virt::sys::VIR_FROM_RPC).ok();
        let remote = i32::try_from(virt::sys::VIR_FROM_REMOTE).ok();
        let qemu = i32::try_from(virt::sys::VIR_FROM_QEMU).ok();
        let system = i32::try_from(virt::sys::VIR_ERR_SYSTEM_ERROR).ok();
        let internal = i32::try_from(virt::sys::VIR_ERR_INTERNAL_ERROR).ok();
        let no_domain = i32::try_from(virt::sys::VIR_ERR_NO_DOMAIN).ok();
        // libvirt says the connection is dead, or cannot say
        assert!(lost(Some(false), no_domain, qemu));
        assert!(lost(None, no_domain, qemu));
        // alive, but the call broke in the RPC layer (end of file, closed socket)
        assert!(lost(Some(true), system, rpc));
        assert!(lost(Some(true), internal, remote));
        // alive and an ordinary failure: no reconnection
        assert!(!lost(Some(true), no_domain, qemu));
        assert!(!lost(Some(true), internal, qemu));
        assert!(!lost(Some(true), None, None));
        // an error that did not come from libvirt never counts
        let lv = Libvirt::connect(TEST_URI).unwrap();
        let (conn, _) = lv.current();
        let err = ProviderError::new("list domains of", ProviderObject::Connection, "x", "no");
        assert!(!connection_lost(&conn, &err));
        // a live connection's ordinary error does not either
        let err = lv.create_vm("<domain type='test'><name>bad</name></domain>");
        assert!(!connection_lost(&conn, &err.unwrap_err()));
    }

    #[test]
    fn reconnecting_replaces_the_connection_once() {
        let lv = Libvirt::connect(TEST_URI).unwrap();
        let cause = ProviderError::new(
            "list domains of",
            ProviderObject::Connection,
            TEST_URI,
            "End of file while reading data",
        );
        let (_, first) = lv.current();
        lv.reconnect(first, &cause).unwrap();
        let (_, second) = lv.current();
        assert_eq!(second, first + 1);
        // a thread that saw the old connection fail gets the new one
        lv.reconnect(first, &cause).unwrap();
        assert_eq!(lv.current().1, second);
        // the new connection works
        assert!(lv.list_vms().is_ok());
        assert!(lv.capabilities().unwrap().contains("<capabilities>"));
    }

    #[test]
    fn a_connection_that_stays_lost_fails_naming_the_loss() {
        let mut lv = Libvirt::connect(TEST_URI).unwrap();
        lv.uri = "qemu+unix:///system?socket=/nonexistent".into();
        lv.reconnect_for = Duration::ZERO;
        let cause = ProviderError::new(
            "list domains of",
            ProviderObject::Connection,
            TEST_URI,
            "End of file while reading data",
        );
        let (_, generation) = lv.current();
        let err = lv.reconnect(generation, &cause).unwrap_err();
        assert_eq!(err.op, "connect to");
        let text = err.to_string();
        assert!(text.contains("is libvirtd running"), "{text}");
        assert!(
            text.contains("the connection was lost: list domains of test:///default: End of file"),
            "{text}"
        );
        // the old connection stays in place for the next call to try again
        assert_eq!(lv.current().1, generation);
    }

    #[test]
    fn lago_state_strings() {
        assert_eq!(VmState::ShuttingDown.as_str(), "begin shut down");
        assert_eq!(VmState::Down.to_string(), "down");
        assert!(VmState::Paused.is_running());
        assert!(!VmState::Down.is_running());
    }
}
