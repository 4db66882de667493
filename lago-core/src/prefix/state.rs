//! The persisted state of a prefix, read back: `virt/env`, `virt/vm-<name>`
//! and `virt/net-<name>`, as Lago (any version) or lago wrote them.
//!
//! Specs are kept as JSON objects in their file order, so that whatever a
//! plugin or an older Lago stored survives a rewrite; typed accessors read
//! the keys lago needs and tolerate what older versions left out.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};
use crate::paths::Paths;
use crate::prefix::layout;

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

fn read_json(path: &Path) -> Result<Value, StateError> {
    let text = fs::read_to_string(path).map_err(|source| StateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| StateError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        detail: e.to_string(),
    })
}

fn read_object(path: &Path) -> Result<Map<String, Value>, StateError> {
    match read_json(path)? {
        Value::Object(map) => Ok(map),
        other => Err(StateError::Json {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            detail: format!("expected a JSON object, found {}", kind_of(&other)),
        }),
    }
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

/// A scalar as text, the way Python's `str()` shows it (`True`, `2048`).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        _ => None,
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
    /// The whole spec, in file order.
    pub spec: Map<String, Value>,
}

impl VmState {
    /// Its NICs, in order.
    pub fn nics(&self) -> Vec<NicState> {
        let Some(Value::Array(nics)) = self.spec.get("nics") else {
            return Vec::new();
        };
        nics.iter()
            .filter_map(Value::as_object)
            .map(|nic| NicState {
                net: nic
                    .get("net")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                ip: nic
                    .get("ip")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok()),
            })
            .collect()
    }

    /// Its disks, in order (the first is the root disk).
    pub fn disks(&self) -> Vec<DiskState> {
        let Some(Value::Array(disks)) = self.spec.get("disks") else {
            return Vec::new();
        };
        let text =
            |d: &Map<String, Value>, k: &str| d.get(k).and_then(scalar_text).unwrap_or_default();
        disks
            .iter()
            .filter_map(Value::as_object)
            .map(|d| DiskState {
                path: text(d, "path"),
                format: text(d, "format"),
                dev: text(d, "dev"),
                metadata: d
                    .get("metadata")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// The management net: `mgmt_net`, or (older prefixes) the first NIC's net.
    pub fn mgmt_net(&self) -> Option<String> {
        self.spec
            .get("mgmt_net")
            .and_then(Value::as_str)
            .map(str::to_string)
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

    fn root_disk_meta(&self, key: &str) -> Option<String> {
        self.disks()
            .first()
            .and_then(|d| d.metadata.get(key).and_then(scalar_text))
    }

    /// `distro`, else the root disk's template metadata's (`None` when
    /// neither says).
    pub fn distro(&self) -> Option<String> {
        self.spec
            .get("distro")
            .and_then(scalar_text)
            .or_else(|| self.root_disk_meta("distro"))
    }

    /// `root-password`, else `ssh-password`, else empty (Lago's
    /// `root_password()`).
    pub fn root_password(&self) -> String {
        ["root-password", "ssh-password"]
            .iter()
            .find_map(|k| self.spec.get(*k).and_then(scalar_text))
            .unwrap_or_default()
    }

    /// How init bootstrapped it (`nocloud`, `ssh`, `sysprep`, `none`), with
    /// ` (at first boot)` while a first-boot bootstrap is still to run;
    /// `None` for a prefix made by Lago or an older lago.
    pub fn bootstrap_method(&self) -> Option<String> {
        let method = self.spec.get("bootstrap-method")?.as_str()?;
        Some(if self.spec.contains_key("first-boot") {
            format!("{method} (at first boot)")
        } else {
            method.to_string()
        })
    }

    /// The free-form `metadata` mapping.
    pub fn metadata(&self) -> Map<String, Value> {
        self.spec
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// The names of its snapshots, in stored order.
    pub fn snapshot_names(&self) -> Vec<String> {
        self.spec
            .get("snapshots")
            .and_then(Value::as_object)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// A net's persisted spec.
#[derive(Debug, Clone, PartialEq)]
pub struct NetState {
    /// The net's name.
    pub name: String,
    /// The whole spec, in file order.
    pub spec: Map<String, Value>,
}

impl NetState {
    /// Its gateway (none for bridge nets).
    pub fn gw(&self) -> Option<Ipv4Addr> {
        self.spec
            .get("gw")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
    }

    /// Whether it is a management net.
    pub fn is_management(&self) -> bool {
        self.spec
            .get("management")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `nat` or `bridge`.
    pub fn kind(&self) -> String {
        self.spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("nat")
            .to_string()
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
        let env_path = paths.virt_env();
        let env = read_object(&env_path)?;
        let names = |key: &str| -> Result<Vec<String>, StateError> {
            match env.get(key) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => Ok(items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()),
                Some(other) => Err(StateError::Json {
                    path: env_path.clone(),
                    line: 0,
                    column: 0,
                    detail: format!("'{key}' must be a list of names, found {}", kind_of(other)),
                }),
            }
        };
        let mut nets = Vec::new();
        for name in names("nets")? {
            let spec = read_object(&paths.virt_net(&name))?;
            nets.push(NetState { name, spec });
        }
        let mut vms = Vec::new();
        for name in names("vms")? {
            let spec = read_object(&paths.virt_vm(&name))?;
            vms.push(VmState { name, spec });
        }
        Ok(Self {
            paths: paths.clone(),
            uuid,
            nets,
            vms,
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
        let env = serde_json::json!({
            "nets": self.nets.iter().map(|n| n.name.clone()).collect::<Vec<_>>(),
            "vms": self.vms.iter().map(|v| v.name.clone()).collect::<Vec<_>>(),
        });
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
