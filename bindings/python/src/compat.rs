//! Core pieces Lago's public Python modules stand on when used without an
//! environment: the subnet lease store (`lago.subnet_lease`), the Ansible
//! inventory renderer (`lago.lago_ansible`), the command line of a disk's
//! `build` step (`lago.build`), the NUMA layout (`lago.providers.libvirt.cpu`),
//! Lago's MAC of an address, file locks, `qemu-img` info/rebase
//! (`lago.utils`), the prefix layout (`lago.paths`) and the deploy shell
//! (`lago.vm`).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lago_core::Paths;
use lago_core::disk::{self as qemu_img, ImageFormat};
use lago_core::fslock::{self, LockError, LockGuard};
use lago_core::lease::{LeaseStatus, Subnet, SubnetStore as CoreStore};
use lago_core::ops::inventory::{self, InventoryVm};
use lago_core::sysprep::{self as core_sysprep, build_args as core_build_args};
use lago_core::{BuildArgs, BuildOption, BuildStep};
use lago_core::{ErrorKind, cancel, xml};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde_json::Value;

use crate::errors::{err, msg};
use crate::interrupt;
use crate::pyvalue::{from_py, to_py};

/// The name Python code sees for a lease's status.
fn status_name(status: LeaseStatus) -> &'static str {
    match status {
        LeaseStatus::Valid => "valid",
        LeaseStatus::OwnerGone => "owner_gone",
        LeaseStatus::OwnerReplaced => "owner_replaced",
        LeaseStatus::Malformed => "malformed",
        _ => "unreadable",
    }
}

/// One lease file: (third octet, lease file, owner uuid path, owner uuid,
/// status); the owner fields are None when the file could not be read.
type LeaseRow = (u8, PathBuf, Option<PathBuf>, Option<String>, &'static str);

/// The subnet lease store of lago-core, in Lago's on-disk format.
#[pyclass(module = "lago._native", name = "SubnetStore", frozen)]
struct SubnetStore {
    inner: CoreStore,
}

#[pymethods]
impl SubnetStore {
    /// A store in `path` over `192.168.<min..=max>.0/24`.
    #[new]
    #[pyo3(signature = (path, min_third_octet=200, max_third_octet=255))]
    fn new(path: PathBuf, min_third_octet: u8, max_third_octet: u8) -> PyResult<Self> {
        let inner = CoreStore::with_range(path, min_third_octet, max_third_octet).map_err(err)?;
        Ok(Self { inner })
    }

    /// Leases a subnet to the prefix whose uuid file is `uuid_path` (holding
    /// `uuid`): `requested` (an address in it) or the first free one.
    /// Returns the third octet.
    #[pyo3(signature = (uuid_path, uuid, requested=None))]
    fn acquire(
        &self,
        py: Python<'_>,
        uuid_path: PathBuf,
        uuid: String,
        requested: Option<String>,
    ) -> PyResult<u8> {
        let requested = requested
            .map(|r| {
                r.parse().map_err(|_| {
                    msg(
                        ErrorKind::InvalidInput,
                        format!("{r:?} is not an IPv4 address"),
                    )
                })
            })
            .transpose()?;
        let lease = interrupt::call(py, || {
            self.inner
                .acquire(&uuid_path, &uuid, requested)
                .map_err(lago_core::Error::from)
        })?;
        Ok(lease.subnet.third_octet())
    }

    /// Removes the lease of `192.168.<third_octet>.0/24`, whoever holds it;
    /// whether a lease file was removed.
    fn release(&self, py: Python<'_>, third_octet: u8) -> PyResult<bool> {
        interrupt::call(py, || {
            self.inner
                .release(Subnet::from_third_octet(third_octet))
                .map_err(lago_core::Error::from)
        })
    }

    /// The lease files of the range, lowest first (removes nothing).
    fn list(&self, py: Python<'_>) -> PyResult<Vec<LeaseRow>> {
        let entries = interrupt::call(py, || self.inner.list().map_err(lago_core::Error::from))?;
        Ok(entries
            .into_iter()
            .map(|e| {
                let (uuid_path, uuid) = match e.owner {
                    Some(owner) => (Some(owner.uuid_path), Some(owner.uuid)),
                    None => (None, None),
                };
                (
                    e.subnet.third_octet(),
                    e.path,
                    uuid_path,
                    uuid,
                    status_name(e.status),
                )
            })
            .collect())
    }

    /// The lease file of `192.168.<third_octet>.0/24` (whether or not it exists).
    fn lease_path(&self, third_octet: u8) -> PathBuf {
        self.inner.lease_path(Subnet::from_third_octet(third_octet))
    }
}

/// The inventory text of `vms` (a list of `[name, ip, spec]`) for `keys`
/// (empty: Lago's defaults), with `key_file` as every host's key.
#[pyfunction]
fn inventory_render(vms: Bound<'_, PyAny>, keys: Vec<String>, key_file: &str) -> PyResult<String> {
    let Value::Array(rows) = from_py("the VM list", &vms)? else {
        return Err(msg(ErrorKind::InvalidInput, "the VM list must be a list"));
    };
    let mut names = Vec::with_capacity(rows.len());
    let mut rest = Vec::with_capacity(rows.len());
    for row in rows {
        match row {
            Value::Array(mut parts) if parts.len() == 3 => {
                let spec = parts.pop().unwrap_or(Value::Null);
                let ip = parts.pop().and_then(|v| v.as_str().map(str::to_string));
                let name = parts.pop().and_then(|v| v.as_str().map(str::to_string));
                match (name, ip) {
                    (Some(name), Some(ip)) => {
                        names.push(name);
                        rest.push((ip, spec));
                    }
                    _ => {
                        return Err(msg(
                            ErrorKind::InvalidInput,
                            "each VM must be [name, ip, spec] with string name and ip",
                        ));
                    }
                }
            }
            _ => {
                return Err(msg(
                    ErrorKind::InvalidInput,
                    "each VM must be a list [name, ip, spec]",
                ));
            }
        }
    }
    let vms: Vec<InventoryVm<'_>> = names
        .iter()
        .zip(rest)
        .map(|(name, (ip, spec))| InventoryVm { name, ip, spec })
        .collect();
    Ok(inventory::render(&vms, &keys, key_file))
}

/// Lago's `get_key`: the value at `path` in `data`, or None.
#[pyfunction]
fn inventory_get_key<'py>(
    py: Python<'py>,
    path: &str,
    data: Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let data = from_py("the data", &data)?;
    inventory::get_key(path, &data)
        .map(|v| to_py(py, &v))
        .transpose()
}

/// One argument of a build option as the core's spec reader takes it.
fn build_arg(option: &str, value: Value) -> PyResult<String> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(msg(
            ErrorKind::InvalidInput,
            format!("build option {option}: argument {other} is not a string"),
        )),
    }
}

/// The command-line arguments of a build tool's `options` (a dict of
/// option -> argument, list of arguments, `''` or None), `ssh-inject: ''`
/// meaning root with `pubkey_file`.
#[pyfunction]
fn build_args(options: Bound<'_, PyAny>, pubkey_file: PathBuf) -> PyResult<Vec<String>> {
    let Value::Object(map) = from_py("the build options", &options)? else {
        return Err(msg(
            ErrorKind::InvalidInput,
            "build options must be a mapping of option name to argument",
        ));
    };
    let mut options = Vec::with_capacity(map.len());
    for (name, value) in map {
        let args = match value {
            Value::Null => BuildArgs::Flag,
            Value::String(s) if s.is_empty() => BuildArgs::Flag,
            // Lago writes a bare option for an empty list too.
            Value::Array(list) if list.is_empty() => BuildArgs::Flag,
            Value::Array(list) => BuildArgs::Many(
                list.into_iter()
                    .map(|v| build_arg(&name, v))
                    .collect::<PyResult<_>>()?,
            ),
            other => BuildArgs::One(build_arg(&name, other)?),
        };
        options.push(BuildOption { name, args });
    }
    let step = BuildStep {
        tool: String::new(),
        options,
    };
    Ok(core_build_args(&step, &pubkey_file))
}

/// The NUMA cells of a guest: `(id, cpus, memory MiB)` each.
#[pyfunction]
fn numa_cells(vcpu: u32, memory_mib: u64) -> Vec<(u32, String, u64)> {
    xml::numa_cells(vcpu, memory_mib)
        .into_iter()
        .map(|c| (c.id, c.cpus(), c.memory_mib))
        .collect()
}

/// The virt-sysprep commands lago gives every VM (Lago's base template).
#[pyfunction]
fn sysprep_commands(hostname: &str, root_password: &str, pubkey_file: PathBuf) -> String {
    core_sysprep::sysprep_commands(hostname, root_password, &pubkey_file)
}

/// Runs virt-sysprep on `disk` (of `format`) with `commands`, written to
/// `work_file` for the run.
#[pyfunction]
fn sysprep(
    py: Python<'_>,
    disk: PathBuf,
    format: &str,
    commands: &str,
    work_file: PathBuf,
) -> PyResult<()> {
    interrupt::call(py, || {
        core_sysprep::sysprep(&disk, format, commands, &work_file)
    })
}

/// The `(section, key, value)` items of configuration file text `text`
/// read from `path` (for error messages), in file order.
#[pyfunction]
fn parse_ini(text: &str, path: PathBuf) -> PyResult<Vec<(String, String, String)>> {
    lago_core::parse_ini(text, &path).map_err(err)
}

/// Lago's MAC of the IPv4 address `ip` (`54:52:` and the octets in hex);
/// ValueError when `ip` is not an IPv4 address.
#[pyfunction]
fn ipv4_to_mac(ip: &str) -> PyResult<String> {
    let addr: Ipv4Addr = ip
        .parse()
        .map_err(|_| PyValueError::new_err(format!("not an IPv4 address: {ip:?}")))?;
    Ok(lago_core::ipv4_to_mac(addr))
}

/// Where a prefix keeps its files, relative to the prefix folder: name ->
/// relative path (`uuid`, `ssh_id_rsa`, `ssh_id_rsa_pub`, `images`,
/// `virt`, `logs`, `metadata`, `initialized`, `scripts`).
#[pyfunction]
fn prefix_layout() -> Vec<(&'static str, PathBuf)> {
    let root = Path::new("/");
    let paths = Paths::new(root);
    let rel = |p: PathBuf| p.strip_prefix(root).map(Path::to_path_buf).unwrap_or(p);
    vec![
        ("uuid", rel(paths.uuid())),
        ("ssh_id_rsa", rel(paths.ssh_id_rsa())),
        ("ssh_id_rsa_pub", rel(paths.ssh_id_rsa_pub())),
        ("images", rel(paths.images())),
        ("virt", rel(paths.virt())),
        ("logs", rel(paths.logs())),
        ("metadata", rel(paths.metadata())),
        ("initialized", rel(paths.initialized())),
        ("scripts", rel(paths.scripts())),
    ]
}

/// `qemu-img info` of the image at `path` as a dict (qemu-img's keys).
#[pyfunction]
fn qemu_img_info<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let info = interrupt::call(py, || qemu_img::info(&path).map_err(lago_core::Error::from))?;
    crate::pyvalue::view_to_py(py, &info)
}

/// Points the qcow2 image `image` at `backing` (its format read with
/// `qemu-img info`); `unsafe_mode` only rewrites the pointer (`-u`).
#[pyfunction]
fn qemu_img_rebase(
    py: Python<'_>,
    image: PathBuf,
    backing: PathBuf,
    unsafe_mode: bool,
) -> PyResult<()> {
    interrupt::call(py, || {
        let rebase = || {
            let format = match qemu_img::info(&backing) {
                Ok(info) => info.format.parse::<ImageFormat>()?,
                Err(_) if unsafe_mode => ImageFormat::Qcow2,
                Err(e) => return Err(e),
            };
            qemu_img::rebase(&image, &backing, format, unsafe_mode)
        };
        rebase().map_err(lago_core::Error::from)
    })
}

/// The command line a script is fed to in a guest (deploy scripts, `lago
/// shell VM SCRIPT`): bash where there is one, else the POSIX shell.
#[pyfunction]
fn script_command() -> &'static str {
    lago_core::ops::deploy::SCRIPT_COMMAND
}

/// An exclusive (or shared) lock on a file (lago-core's `fslock`: the
/// lease store and the template store take the same kind of lock).
#[pyclass(module = "lago._native", name = "FileLock", frozen)]
struct FileLock {
    path: PathBuf,
    shared: bool,
    guard: Mutex<Option<LockGuard>>,
}

impl FileLock {
    /// The held guard (a panic while it was locked leaves it usable).
    fn slot(&self) -> MutexGuard<'_, Option<LockGuard>> {
        self.guard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl FileLock {
    /// Takes the lock within `wait` (None when it stayed held), in slices
    /// of [`LOCK_SLICE`] with a cancel check between them, so that Ctrl-C
    /// ends the wait.
    fn wait_for(&self, wait: Duration) -> lago_core::Result<Option<LockGuard>> {
        let start = Instant::now();
        loop {
            cancel::check(&format!("waiting for the lock {}", self.path.display()))?;
            let slice = wait.saturating_sub(start.elapsed()).min(LOCK_SLICE);
            let taken = if self.shared {
                fslock::lock_shared(&self.path, slice, || {})
            } else {
                fslock::lock(&self.path, slice, || {})
            };
            match taken {
                Ok(guard) => return Ok(Some(guard)),
                Err(LockError::Timeout { .. }) if start.elapsed() >= wait => return Ok(None),
                Err(LockError::Timeout { .. }) => {}
                Err(other) => {
                    return Err(lago_core::Error::new(
                        ErrorKind::Io,
                        format!("{other}: {}", source_text(&other)),
                    ));
                }
            }
        }
    }
}

/// How long a `FileLock` wait goes between two cancel checks.
const LOCK_SLICE: Duration = Duration::from_millis(100);

#[pymethods]
impl FileLock {
    #[new]
    #[pyo3(signature = (path, shared=false))]
    fn new(path: PathBuf, shared: bool) -> Self {
        Self {
            path,
            shared,
            guard: Mutex::new(None),
        }
    }

    /// Takes the lock (the file is created if missing), waiting at most
    /// `timeout` seconds (None: for ever); False when it stayed held. Taking
    /// a lock this object holds already does nothing.
    #[pyo3(signature = (timeout=None))]
    fn acquire(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        if self.slot().is_some() {
            return Ok(true);
        }
        let wait = timeout.map_or(Duration::MAX, |s| {
            Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
        });
        match interrupt::call(py, || self.wait_for(wait))? {
            Some(guard) => {
                *self.slot() = Some(guard);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Releases the lock (nothing happens when it is not held).
    fn release(&self) {
        self.slot().take();
    }

    /// Whether this object holds the lock.
    #[getter]
    fn held(&self) -> bool {
        self.slot().is_some()
    }
}

/// The cause of a lock error, for its message.
fn source_text(e: &LockError) -> String {
    std::error::Error::source(e).map_or_else(String::new, |s| s.to_string())
}

/// Adds this file's classes and functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SubnetStore>()?;
    m.add_class::<FileLock>()?;
    m.add_function(wrap_pyfunction!(ipv4_to_mac, m)?)?;
    m.add_function(wrap_pyfunction!(prefix_layout, m)?)?;
    m.add_function(wrap_pyfunction!(qemu_img_info, m)?)?;
    m.add_function(wrap_pyfunction!(qemu_img_rebase, m)?)?;
    m.add_function(wrap_pyfunction!(script_command, m)?)?;
    m.add_function(wrap_pyfunction!(inventory_render, m)?)?;
    m.add_function(wrap_pyfunction!(inventory_get_key, m)?)?;
    m.add_function(wrap_pyfunction!(build_args, m)?)?;
    m.add_function(wrap_pyfunction!(numa_cells, m)?)?;
    m.add_function(wrap_pyfunction!(sysprep_commands, m)?)?;
    m.add_function(wrap_pyfunction!(sysprep, m)?)?;
    m.add_function(wrap_pyfunction!(parse_ini, m)?)?;
    Ok(())
}
