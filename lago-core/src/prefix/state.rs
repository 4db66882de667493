//! The persisted state of a prefix, read back: `virt/env`, `virt/vm-<name>`
//! and `virt/net-<name>`, as Lago (any version) or lago wrote them.
//!
//! Specs are held as the typed records of [`crate::prefix::record`], which
//! keep their keys' file order and whatever a plugin or an older Lago
//! stored, so a rewrite gives the same bytes; the accessors here derive what
//! lago needs and tolerate what older versions left out.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};
use crate::paths::Paths;
use crate::prefix::layout;
pub use crate::prefix::record::{
    DiskRecord, EnvRecord, NetRecord, NicRecord, Ordered, Scalar, VmRecord,
};

/// What can go wrong reading a prefix.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The folder is not an initialized prefix.
    #[error("{0} is not an initialized lago prefix (no 'initialized' file)")]
    NotAPrefix(PathBuf),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file is not the JSON expected.
    #[error("{path}:{line}:{column}: {detail}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Line of the problem (1-based, 0 when unknown).
        line: usize,
        /// Column of the problem.
        column: usize,
        /// What is wrong.
        detail: String,
    },
    /// Writing a spec back failed.
    #[error(transparent)]
    Write(#[from] layout::LayoutError),
}

impl From<StateError> for Error {
    fn from(err: StateError) -> Self {
        let kind = match err {
            StateError::NotAPrefix(_) => ErrorKind::NotFound,
            StateError::Io { .. } | StateError::Write(_) => ErrorKind::Io,
            StateError::Json { .. } => ErrorKind::InvalidInput,
        };
        let (path, line) = match &err {
            StateError::NotAPrefix(path) | StateError::Io { path, .. } => {
                (Some(path.clone()), None)
            }
            StateError::Json { path, line, .. } => {
                (Some(path.clone()), Some(*line).filter(|l| *l > 0))
            }
            StateError::Write(layout) => (layout.path().map(Path::to_path_buf), None),
        };
        let mut out = Error::with_source(kind, err.to_string(), err);
        if let Some(path) = path {
            out = out.with_path(path);
        }
        if let Some(line) = line {
            out = out.with_line(line);
        }
        out
    }
}

fn read_record<T: DeserializeOwned>(path: &Path) -> Result<Ordered<T>, StateError> {
    let text = fs::read_to_string(path).map_err(|source| StateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| StateError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        detail: e.to_string(),
    })?;
    let Value::Object(map) = value else {
        return Err(StateError::Json {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            detail: format!("expected a JSON object, found {}", kind_of(&value)),
        });
    };
    Ordered::from_map(map).map_err(|e| StateError::Json {
        path: path.to_path_buf(),
        line: 0,
        column: 0,
        detail: e.to_string(),
    })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// One NIC as persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicState {
    /// The net it is on.
    pub net: String,
    /// Its address, when it has one.
    pub ip: Option<Ipv4Addr>,
}

/// One disk as persisted.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskState {
    /// Stored path (may start with `$LAGO_PREFIX_PATH`).
    pub path: String,
    /// Image format (`qcow2`, `raw`, `iso`).
    pub format: String,
    /// Target device (`vda`, `sdb`, …).
    pub dev: String,
    /// The disk's metadata (template metadata merged in at init).
    pub metadata: Map<String, Value>,
}

/// A VM's persisted spec.
#[derive(Debug, Clone, PartialEq)]
pub struct VmState {
    /// The VM's name.
    pub name: String,
    /// The whole spec, typed, in file order.
    pub spec: Ordered<VmRecord>,
}

impl VmState {
    /// Its NICs, in order.
    pub fn nics(&self) -> Vec<NicState> {
        self.spec
            .nic_records()
            .iter()
            .map(|nic| NicState {
                net: nic.net_name().to_string(),
                ip: nic.ipv4(),
            })
            .collect()
    }

    /// Its disks, in order (the first is the root disk).
    pub fn disks(&self) -> Vec<DiskState> {
        self.spec
            .disk_records()
            .iter()
            .map(|d| DiskState {
                path: d.path_text(),
                format: d.format_text(),
                dev: d.dev_text(),
                metadata: d.metadata.clone().unwrap_or_default(),
            })
            .collect()
    }

    /// The management net: `mgmt_net`, or (older prefixes) the first NIC's net.
    pub fn mgmt_net(&self) -> Option<String> {
        self.spec
            .mgmt_net
            .clone()
            .or_else(|| self.nics().first().map(|n| n.net.clone()))
    }

    /// The VM's address on its management net (`vm.ip()`).
    pub fn ip(&self) -> Option<Ipv4Addr> {
        let mgmt = self.mgmt_net()?;
        self.nics()
            .into_iter()
            .rev()
            .find(|n| n.net == mgmt)
            .and_then(|n| n.ip)
    }

    /// `distro`, else the root disk's template metadata's (`None` when
    /// neither says).
    pub fn distro(&self) -> Option<String> {
        self.spec.distro_text().or_else(|| {
            self.spec
                .disk_records()
                .first()
                .and_then(|d| d.metadata_text("distro"))
        })
    }

    /// `root-password`, else `ssh-password`, else empty (Lago's
    /// `root_password()`).
    pub fn root_password(&self) -> String {
        self.spec.password_text().unwrap_or_default()
    }

    /// How init bootstrapped it (`nocloud`, `ssh`, `sysprep`, `none`), with
    /// ` (at first boot)` while a first-boot bootstrap is still to run;
    /// `None` for a prefix made by Lago or an older lago.
    pub fn bootstrap_method(&self) -> Option<String> {
        let method = self.spec.bootstrap_method.as_deref()?;
        Some(if self.spec.first_boot.is_some() {
            format!("{method} (at first boot)")
        } else {
            method.to_string()
        })
    }

    /// The free-form `metadata` mapping.
    pub fn metadata(&self) -> Map<String, Value> {
        self.spec
            .metadata
            .as_ref()
            .map(Ordered::to_map)
            .unwrap_or_default()
    }

    /// The names of its snapshots, in stored order.
    pub fn snapshot_names(&self) -> Vec<String> {
        self.spec
            .snapshots
            .iter()
            .flat_map(|s| s.keys().cloned())
            .collect()
    }
}

/// A net's persisted spec.
#[derive(Debug, Clone, PartialEq)]
pub struct NetState {
    /// The net's name.
    pub name: String,
    /// The whole spec, typed, in file order.
    pub spec: Ordered<NetRecord>,
}

impl NetState {
    /// Its gateway (none for bridge nets).
    pub fn gw(&self) -> Option<Ipv4Addr> {
        self.spec.gw_addr()
    }

    /// Whether it is a management net.
    pub fn is_management(&self) -> bool {
        self.spec
            .management
            .as_ref()
            .and_then(Scalar::as_bool)
            .unwrap_or(false)
    }

    /// `nat` or `bridge`.
    pub fn kind(&self) -> String {
        self.spec.net_type.as_deref().unwrap_or("nat").to_string()
    }
}

/// Everything persisted about one prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixState {
    /// Where it lives.
    pub paths: Paths,
    /// Its uuid.
    pub uuid: String,
    /// Its nets, in `virt/env` order.
    pub nets: Vec<NetState>,
    /// Its VMs, in `virt/env` order.
    pub vms: Vec<VmState>,
    /// The remote libvirt host it runs on (`None`: this machine).
    pub host: Option<crate::host::HostRecord>,
}

impl PrefixState {
    /// Reads the initialized prefix at `paths`.
    pub fn load(paths: &Paths) -> Result<Self, StateError> {
        if !paths.initialized().is_file() {
            return Err(StateError::NotAPrefix(paths.prefix_path().to_path_buf()));
        }
        let uuid = layout::read_uuid(paths).map_err(|e| match e {
            layout::LayoutError::Io { path, source, .. } => StateError::Io { path, source },
            other => StateError::Write(other),
        })?;
        let env: Ordered<EnvRecord> = read_record(&paths.virt_env())?;
        let mut nets = Vec::new();
        for name in env.nets.iter().flatten() {
            let spec = read_record(&paths.virt_net(name))?;
            nets.push(NetState {
                name: name.clone(),
                spec,
            });
        }
        let mut vms = Vec::new();
        for name in env.vms.iter().flatten() {
            let spec = read_record(&paths.virt_vm(name))?;
            vms.push(VmState {
                name: name.clone(),
                spec,
            });
        }
        let host = crate::host::HostRecord::read(paths).map_err(|source| StateError::Io {
            path: paths.prefixed(crate::host::RECORD_FILE),
            source,
        })?;
        Ok(Self {
            paths: paths.clone(),
            uuid,
            nets,
            vms,
            host,
        })
    }

    /// Writes every spec and `virt/env` back (Python's `json.dump(indent=4)`
    /// bytes, each file replaced atomically).
    pub fn save(&self) -> Result<(), StateError> {
        for net in &self.nets {
            layout::write_json(&self.paths.virt_net(&net.name), &net.spec)?;
        }
        for vm in &self.vms {
            layout::write_json(&self.paths.virt_vm(&vm.name), &vm.spec)?;
        }
        let env = EnvRecord {
            nets: Some(self.nets.iter().map(|n| n.name.clone()).collect()),
            vms: Some(self.vms.iter().map(|v| v.name.clone()).collect()),
            extra: Map::new(),
        };
        layout::write_json(&self.paths.virt_env(), &env)?;
        Ok(())
    }

    /// The VM called `name`.
    pub fn vm(&self, name: &str) -> Option<&VmState> {
        self.vms.iter().find(|v| v.name == name)
    }

    /// The net called `name`.
    pub fn net(&self, name: &str) -> Option<&NetState> {
        self.nets.iter().find(|n| n.name == name)
    }
}
