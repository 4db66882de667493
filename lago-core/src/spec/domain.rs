//! The VMs of an environment: [`DomainSpec`] (`domains.<name>`), its nics
//! ([`NicSpec`]) and Ansible groups ([`Groups`]).

use std::net::Ipv4Addr;

use serde_json::{Map, Value, json};

use super::disk::DiskSpec;
use super::error::{SpecError, SpecErrorKind};
use super::read::{Obj, string_items};
use crate::bootstrap::Choice;

/// Memory of a VM whose init file gives none, in MiB (Lago's default).
pub const DEFAULT_MEMORY_MIB: u64 = 16 * 1024;
/// Virtual CPUs of a VM whose init file gives none.
pub const DEFAULT_VCPU: u32 = 2;
/// Seconds to wait for a VM to answer SSH when the init file gives none.
pub const DEFAULT_BOOT_TIME_SEC: u64 = 600;

/// Metadata keys whose items are script paths, `$VARS`-expanded at load:
/// `deploy-scripts` and its deprecated alias `ovirt-scripts`.
const SCRIPT_KEYS: [&str; 2] = ["deploy-scripts", "ovirt-scripts"];

/// One network interface of a VM (`domains.<vm>.nics[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct NicSpec {
    /// `net`: the network it is attached to; checked to exist at load.
    pub net: String,
    /// `ip`: a static IPv4 address; allocated later when absent.
    pub ip: Option<Ipv4Addr>,
    /// Keys lago does not know (and ones it writes itself, such as `mtu`).
    pub extra: Map<String, Value>,
}

impl NicSpec {
    fn read(mut obj: Obj<'_, '_>) -> Result<Self, SpecError> {
        let net = obj.required_string("net", "the name of a network under 'nets'")?;
        let ip = match obj.string("ip")? {
            None => None,
            Some(text) => Some(text.trim().parse::<Ipv4Addr>().map_err(|_| {
                obj.ctx()
                    .error(
                        SpecErrorKind::InvalidValue,
                        &obj.at("ip"),
                        format!("'{text}' is not an IPv4 address"),
                    )
                    .valid("a dotted IPv4 address such as 192.168.200.5")
            })?),
        };
        Ok(Self {
            net,
            ip,
            extra: obj.finish(),
        })
    }

    /// The nic in Lago's JSON shape.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("net".into(), json!(self.net));
        if let Some(ip) = self.ip {
            out.insert("ip".into(), json!(ip.to_string()));
        }
        for (key, value) in &self.extra {
            out.insert(key.clone(), value.clone());
        }
        Value::Object(out)
    }
}

/// A VM's Ansible groups (`groups`), kept in the shape it was written in
/// because Lago's inventory treats the two shapes differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Groups {
    /// `groups: name`.
    One(String),
    /// `groups: [a, b]`.
    List(Vec<String>),
}

impl Groups {
    fn to_json(&self) -> Value {
        match self {
            Groups::One(name) => json!(name),
            Groups::List(names) => json!(names),
        }
    }
}

/// One VM (`domains.<name>`), with `based-on` already applied and defaults
/// filled in where Lago has them.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainSpec {
    /// The VM's name: its key under `domains`.
    pub name: String,
    /// `memory` in MiB; [`DEFAULT_MEMORY_MIB`] when absent.
    pub memory: u64,
    /// `vcpu` (an integer or a numeric string); [`DEFAULT_VCPU`] when absent.
    pub vcpu: u32,
    /// `cpu_model`: an exact CPU model. Never set together with `cpu_custom`.
    pub cpu_model: Option<String>,
    /// `cpu_custom`: a libvirt `<cpu>` element in xmltodict form, as written.
    pub cpu_custom: Option<Value>,
    /// `nics`, in order; every `net` exists and exactly one management
    /// network is among them.
    pub nics: Vec<NicSpec>,
    /// `disks`, in order; the first is the root disk.
    pub disks: Vec<DiskSpec>,
    /// `metadata`; `deploy-scripts` (and `ovirt-scripts`) items have their
    /// `$VARS` expanded.
    pub metadata: Map<String, Value>,
    /// `artifacts`: guest paths collected by `collect`.
    pub artifacts: Vec<String>,
    /// `groups`: Ansible groups.
    pub groups: Option<Groups>,
    /// `bootstrap`: prepare the root disk for SSH at init; true when absent.
    pub bootstrap: bool,
    /// `bootstrap_mode`: how this VM is bootstrapped (overrides the init
    /// file's top-level `bootstrap_mode` and the configuration's).
    pub bootstrap_mode: Option<Choice>,
    /// `ssh-user`; the configured default (`root`) when absent.
    pub ssh_user: Option<String>,
    /// `ssh-password`.
    pub ssh_password: Option<String>,
    /// `root-password` (a number is kept as its text).
    pub root_password: Option<String>,
    /// `vm-type`: the VM plugin; the configured default when absent.
    pub vm_type: Option<String>,
    /// `vm-provider`: the VM provider plugin; `local-libvirt` when absent.
    pub vm_provider: Option<String>,
    /// `service_provider`: `systemd`, `sysvinit` or `systemdcontainer`;
    /// detected when absent.
    pub service_provider: Option<String>,
    /// `distro`: overrides the template's distro.
    pub distro: Option<String>,
    /// `boot_time_sec`: how long to wait for SSH; [`DEFAULT_BOOT_TIME_SEC`]
    /// when absent.
    pub boot_time_sec: u64,
    /// `skip-export`: leave this VM out of `export`.
    pub skip_export: Option<bool>,
    /// The `based-on` prototypes whose keys were copied in, nearest first
    /// (not persisted: Lago drops `based-on` once applied).
    pub based_on: Vec<String>,
    /// Keys lago does not know, kept in file order to be persisted.
    pub extra: Map<String, Value>,
}

impl DomainSpec {
    /// Reads one VM from its mapping (prototypes already applied).
    pub(crate) fn read(
        name: &str,
        based_on: Vec<String>,
        mut obj: Obj<'_, '_>,
    ) -> Result<Self, SpecError> {
        let ctx = obj.ctx();
        // Lago sets `name` from the key; a written one is ignored.
        let _ = obj.take("name");
        let memory = obj
            .whole("memory", 1, u64::from(u32::MAX), "a whole number of MiB")?
            .unwrap_or(DEFAULT_MEMORY_MIB);
        let vcpu = obj
            .whole(
                "vcpu",
                1,
                u64::from(u16::MAX),
                "a whole number of virtual CPUs",
            )?
            .map_or(DEFAULT_VCPU, |n| u32::try_from(n).unwrap_or(DEFAULT_VCPU));
        let cpu_model = obj.string("cpu_model")?;
        let cpu_custom = match obj.take("cpu_custom") {
            None => None,
            Some(value @ Value::Object(_)) => Some(value),
            Some(other) => {
                return Err(ctx.wrong_type(
                    &obj.at("cpu_custom"),
                    "a mapping describing the libvirt <cpu> element",
                    &other,
                ));
            }
        };
        if cpu_model.is_some() && cpu_custom.is_some() {
            return Err(ctx
                .error(
                    SpecErrorKind::Conflict,
                    &obj.at("cpu_custom"),
                    "cpu_model and cpu_custom cannot be used together",
                )
                .valid("keep only one of cpu_model and cpu_custom"));
        }

        let mut nics = Vec::new();
        if let Some(items) = obj.list("nics", "a list of nics such as [{net: n0}]")? {
            for (i, item) in items.into_iter().enumerate() {
                let path = obj.at("nics").index(i);
                let nic = Obj::new(ctx, path, item, "a nic mapping such as {net: n0}")?;
                nics.push(NicSpec::read(nic)?);
            }
        }

        let mut disks = Vec::new();
        if let Some(items) = obj.list("disks", "a list of disks")? {
            for (i, item) in items.into_iter().enumerate() {
                let path = obj.at("disks").index(i);
                let disk = Obj::new(ctx, path, item, "a disk mapping")?;
                disks.push(DiskSpec::read(disk)?);
            }
        }
        for (i, disk) in disks.iter().enumerate() {
            if let Some(first) = disks[..i].iter().position(|d| d.dev == disk.dev) {
                return Err(ctx
                    .error(
                        SpecErrorKind::Conflict,
                        &obj.at("disks").index(i).key("dev"),
                        format!("device '{}' is already used by disks[{first}]", disk.dev),
                    )
                    .valid("a different device name for each disk, e.g. vda, vdb"));
            }
        }

        let mut metadata = obj.map("metadata", "a mapping")?.unwrap_or_default();
        for key in SCRIPT_KEYS {
            let path = obj.at("metadata").key(key);
            match metadata.get_mut(key) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    let scripts = string_items(ctx, &path, std::mem::take(items))?;
                    *items = scripts
                        .iter()
                        .map(|script| Value::String(ctx.expand(script)))
                        .collect();
                }
                Some(other) => {
                    return Err(ctx.wrong_type(&path, "a list of script paths", other));
                }
            }
        }

        let artifacts = obj.string_list("artifacts")?.unwrap_or_default();
        let groups = match obj.take("groups") {
            None => None,
            Some(Value::String(group)) => Some(Groups::One(group)),
            Some(Value::Array(items)) => {
                Some(Groups::List(string_items(ctx, &obj.at("groups"), items)?))
            }
            Some(other) => {
                return Err(ctx.wrong_type(
                    &obj.at("groups"),
                    "a group name or a list of group names",
                    &other,
                ));
            }
        };
        let bootstrap = obj.boolean("bootstrap")?.unwrap_or(true);
        let bootstrap_mode = obj.one_of("bootstrap_mode", Choice::VALID, Choice::parse)?;
        let ssh_user = obj.text("ssh-user")?;
        let ssh_password = obj.text("ssh-password")?;
        let root_password = obj.text("root-password")?;
        let vm_type = obj.string("vm-type")?;
        let vm_provider = obj.string("vm-provider")?;
        let service_provider = obj.string("service_provider")?;
        let distro = obj.string("distro")?;
        let boot_time_sec = obj
            .whole(
                "boot_time_sec",
                0,
                u64::from(u32::MAX),
                "a whole number of seconds",
            )?
            .unwrap_or(DEFAULT_BOOT_TIME_SEC);
        let skip_export = obj.boolean("skip-export")?;

        Ok(Self {
            name: name.to_owned(),
            memory,
            vcpu,
            cpu_model,
            cpu_custom,
            nics,
            disks,
            metadata,
            artifacts,
            groups,
            bootstrap,
            bootstrap_mode,
            ssh_user,
            ssh_password,
            root_password,
            vm_type,
            vm_provider,
            service_provider,
            distro,
            boot_time_sec,
            skip_export,
            based_on,
            extra: obj.finish(),
        })
    }

    /// The `deploy-scripts` of this VM (`$VARS` expanded), or of the
    /// deprecated `ovirt-scripts` when there are none.
    pub fn deploy_scripts(&self) -> Vec<&str> {
        SCRIPT_KEYS
            .iter()
            .filter_map(|key| self.metadata.get(*key)?.as_array())
            .find(|items| !items.is_empty())
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The VM in Lago's JSON shape: `name`, the keys of the init file with
    /// typed values written back (defaults included), then the unknown keys.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), json!(self.name));
        out.insert("memory".into(), json!(self.memory));
        out.insert("vcpu".into(), json!(self.vcpu));
        if let Some(model) = &self.cpu_model {
            out.insert("cpu_model".into(), json!(model));
        }
        if let Some(custom) = &self.cpu_custom {
            out.insert("cpu_custom".into(), custom.clone());
        }
        out.insert(
            "nics".into(),
            Value::Array(self.nics.iter().map(NicSpec::to_json).collect()),
        );
        out.insert(
            "disks".into(),
            Value::Array(self.disks.iter().map(DiskSpec::to_json).collect()),
        );
        out.insert("metadata".into(), Value::Object(self.metadata.clone()));
        if !self.artifacts.is_empty() {
            out.insert("artifacts".into(), json!(self.artifacts));
        }
        if let Some(groups) = &self.groups {
            out.insert("groups".into(), groups.to_json());
        }
        out.insert("bootstrap".into(), json!(self.bootstrap));
        if let Some(mode) = self.bootstrap_mode {
            out.insert("bootstrap_mode".into(), json!(mode.as_str()));
        }
        let optional = [
            ("ssh-user", &self.ssh_user),
            ("ssh-password", &self.ssh_password),
            ("root-password", &self.root_password),
            ("vm-type", &self.vm_type),
            ("vm-provider", &self.vm_provider),
            ("service_provider", &self.service_provider),
            ("distro", &self.distro),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                out.insert(key.into(), json!(value));
            }
        }
        out.insert("boot_time_sec".into(), json!(self.boot_time_sec));
        if let Some(skip) = self.skip_export {
            out.insert("skip-export".into(), json!(skip));
        }
        for (key, value) in &self.extra {
            out.insert(key.clone(), value.clone());
        }
        Value::Object(out)
    }
}
