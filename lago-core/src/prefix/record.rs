//! The typed model of a prefix's persisted specs (`virt/env`, `virt/vm-*`,
//! `virt/net-*`): one serde struct per kind of record, every key lago uses a
//! typed field, everything else (what a plugin or an older Lago stored) kept
//! in a flattened `extra` map.
//!
//! Lago's files must come back byte for byte when lago rewrites them, but a
//! derived serializer puts typed fields first and `extra` after. So every
//! record that is a JSON object is held in [`Ordered`], which remembers the
//! keys in the order they were read and writes them back in that order
//! (keys that are new go after, in field order); a key that was `null` and
//! whose typed field is still empty is written back as `null`.
//!
//! Older Lago wrote user-given values as they came from the init file
//! (`"memory": "2048"`, `True`): those fields are [`Scalar`]s, which keep the
//! JSON value as it was and read it leniently.
//!
//! This module is the only place that looks keys up in persisted JSON.

use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::ops::{Deref, DerefMut};

use indexmap::IndexMap;
use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A record together with the order (and `null`-ness) of the keys it was
/// read with, so it is written back as it was read. Derefs to the record.
#[derive(Debug, Clone, Default)]
pub struct Ordered<T> {
    value: T,
    keys: Vec<(String, bool)>,
}

impl<T: PartialEq> PartialEq for Ordered<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T> Ordered<T> {
    /// A record that was not read from anywhere (its keys come out in field
    /// order).
    pub fn new(value: T) -> Self {
        Self {
            value,
            keys: Vec::new(),
        }
    }

    /// The record without its key order.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Forgets that `key` was read, so that emptying its field removes it
    /// from the output even when it was `null`.
    pub fn forget_key(&mut self, key: &str) {
        self.keys.retain(|(k, _)| k != key);
    }
}

impl<T> Deref for Ordered<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Ordered<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: DeserializeOwned> Ordered<T> {
    /// Reads a record from a JSON object (e.g. a spec a plugin changed).
    pub fn from_map(map: Map<String, Value>) -> Result<Self, serde_json::Error> {
        let keys = map.iter().map(|(k, v)| (k.clone(), v.is_null())).collect();
        let value = serde_path_to_error::deserialize(Value::Object(map))
            .map_err(|e| <serde_json::Error as serde::de::Error>::custom(e.to_string()))?;
        Ok(Self { value, keys })
    }
}

impl<T: Serialize> Ordered<T> {
    fn ordered_map(&self) -> Result<Map<String, Value>, serde_json::Error> {
        let mut produced = match serde_json::to_value(&self.value)? {
            Value::Object(map) => map,
            other => {
                return Err(<serde_json::Error as serde::ser::Error>::custom(format!(
                    "a record must be a JSON object, not {other}"
                )));
            }
        };
        let mut out = Map::new();
        for (key, was_null) in &self.keys {
            match produced.shift_remove(key) {
                Some(v) => {
                    out.insert(key.clone(), v);
                }
                None if *was_null => {
                    out.insert(key.clone(), Value::Null);
                }
                None => {}
            }
        }
        out.extend(produced);
        Ok(out)
    }

    /// The record as the JSON object lago writes.
    pub fn to_map(&self) -> Map<String, Value> {
        // Records hold only string-keyed maps, so this cannot fail.
        self.ordered_map().unwrap_or_default()
    }

    /// The record as the JSON value lago writes.
    pub fn to_value(&self) -> Value {
        Value::Object(self.to_map())
    }
}

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.ordered_map()
            .map_err(S::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        Self::from_map(map).map_err(D::Error::custom)
    }
}

/// A user-given value kept as it was written (a string, a number, a
/// boolean, …) and read leniently: older Lago stored `"2048"` or `True`
/// where lago writes `2048` or `true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scalar(pub Value);

impl Scalar {
    /// The value as text, the way Python's `str()` shows it (`True`,
    /// `2048`); `None` for lists, mappings and `null`.
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match &self.0 {
            Value::String(s) => Some(Cow::Borrowed(s)),
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            Value::Bool(true) => Some(Cow::Borrowed("True")),
            Value::Bool(false) => Some(Cow::Borrowed("False")),
            _ => None,
        }
    }

    /// The value when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_str()
    }

    /// The value as a whole number (a number, or a string holding one).
    pub fn as_u64(&self) -> Option<u64> {
        match &self.0 {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value when it is a JSON boolean.
    pub fn as_bool(&self) -> Option<bool> {
        self.0.as_bool()
    }

    /// Lago's truthiness of a flag: a boolean, a string such as `True`,
    /// `yes` or `1`, or a non-zero number.
    pub fn truthy(&self) -> bool {
        match &self.0 {
            Value::Bool(b) => *b,
            Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "1"),
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            _ => false,
        }
    }
}

impl From<&str> for Scalar {
    fn from(s: &str) -> Self {
        Self(Value::String(s.to_string()))
    }
}

impl From<String> for Scalar {
    fn from(s: String) -> Self {
        Self(Value::String(s))
    }
}

fn text_of(s: &Option<Scalar>) -> Option<Cow<'_, str>> {
    s.as_ref().and_then(Scalar::text)
}

/// `virt/env`: the names of the prefix's nets and VMs, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvRecord {
    /// The nets' names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nets: Option<Vec<String>>,
    /// The VMs' names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vms: Option<Vec<String>>,
    /// Keys lago does not use, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One NIC of a VM (`nics[i]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NicRecord {
    /// The net it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<String>,
    /// Its planned address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Its MTU, when not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<Scalar>,
    /// Keys lago does not use, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl NicRecord {
    /// The net's name (empty when the NIC names none).
    pub fn net_name(&self) -> &str {
        self.net.as_deref().unwrap_or_default()
    }

    /// The address, when it has a valid one.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.ip.as_deref().and_then(|s| s.parse().ok())
    }
}

/// One disk of a VM (`disks[i]`, and the copies kept in `snapshots`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskRecord {
    /// The disk's name (`root`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Scalar>,
    /// `template`, `empty` or `file`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub disk_type: Option<Scalar>,
    /// Target device (`vda`, `sdb`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<Scalar>,
    /// Image format (`qcow2`, `raw`, `iso`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Scalar>,
    /// Stored path (may start with `$LAGO_PREFIX_PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Scalar>,
    /// The disk's metadata (template metadata merged in at init).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Whether `lago export` leaves it out.
    #[serde(
        default,
        rename = "skip-export",
        skip_serializing_if = "Option::is_none"
    )]
    pub skip_export: Option<Scalar>,
    /// Keys lago does not use, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DiskRecord {
    /// The stored path as text (empty when missing).
    pub fn path_text(&self) -> String {
        text_of(&self.path).unwrap_or_default().into_owned()
    }

    /// The format as text (empty when missing).
    pub fn format_text(&self) -> String {
        text_of(&self.format).unwrap_or_default().into_owned()
    }

    /// The target device as text (empty when missing).
    pub fn dev_text(&self) -> String {
        text_of(&self.dev).unwrap_or_default().into_owned()
    }

    /// The name, when it is a string.
    pub fn name_str(&self) -> Option<&str> {
        self.name.as_ref().and_then(Scalar::as_str)
    }

    /// The type, when it is a string (empty otherwise).
    pub fn type_str(&self) -> &str {
        self.disk_type
            .as_ref()
            .and_then(Scalar::as_str)
            .unwrap_or_default()
    }

    /// Whether `lago export` leaves it out.
    pub fn skips_export(&self) -> bool {
        self.skip_export.as_ref().is_some_and(Scalar::truthy)
    }

    /// `key` of the disk's metadata when it is a string.
    pub fn metadata_str(&self, key: &str) -> Option<String> {
        self.metadata
            .as_ref()?
            .get(key)?
            .as_str()
            .map(str::to_string)
    }

    /// `key` of the disk's metadata when it is `true` (`nocloud`).
    pub fn metadata_flag(&self, key: &str) -> bool {
        self.metadata
            .as_ref()
            .and_then(|m| m.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `key` of the disk's metadata as text (`distro`, `root-password`,
    /// `root-partition`: what a template's metadata says).
    pub fn metadata_text(&self, key: &str) -> Option<String> {
        let v = self.metadata.as_ref()?.get(key)?;
        Scalar(v.clone()).text().map(Cow::into_owned)
    }
}

/// The free-form `metadata` of a VM, with the keys lago reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VmMetadata {
    /// The deploy scripts' stored paths.
    #[serde(
        default,
        rename = "deploy-scripts",
        skip_serializing_if = "Option::is_none"
    )]
    pub deploy_scripts: Option<Vec<Value>>,
    /// Older Lago's name of the deploy scripts.
    #[serde(
        default,
        rename = "ovirt-scripts",
        skip_serializing_if = "Option::is_none"
    )]
    pub ovirt_scripts: Option<Vec<Value>>,
    /// Keys lago does not use, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The first-boot bootstrap a VM still waits for (`first-boot`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FirstBootRecord {
    /// The template's root password, to log in with.
    #[serde(
        default,
        rename = "login-password",
        skip_serializing_if = "Option::is_none"
    )]
    pub login_password: Option<String>,
    /// The template image whose facts are learned.
    #[serde(
        default,
        rename = "template-image",
        skip_serializing_if = "Option::is_none"
    )]
    pub template_image: Option<String>,
    /// Keys lago does not use, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The memory image of a VM's snapshot (its RAM and device state, saved by
/// libvirt beside the snapshot's disk overlays).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryRecord {
    /// The image, as stored (`$LAGO_PREFIX_PATH/images/<vm>.<snapshot>.mem`).
    pub path: String,
    /// When it was taken (seconds since the Unix epoch, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken: Option<u64>,
    /// Whether the guest's file systems were frozen through its agent for
    /// it (so the image holds them frozen: a revert thaws them); absent when
    /// unknown (a snapshot completed by a repair).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiesced: Option<bool>,
}

/// A VM's spec (`virt/vm-<name>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VmRecord {
    /// The VM's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Memory in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Scalar>,
    /// vCPU count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpu: Option<Scalar>,
    /// A named CPU model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<Scalar>,
    /// A custom CPU definition (handed to the domain XML as is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_custom: Option<Value>,
    /// The NICs, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nics: Option<Vec<Ordered<NicRecord>>>,
    /// The disks, in order (the first is the root disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disks: Option<Vec<Ordered<DiskRecord>>>,
    /// The distro the init file names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distro: Option<Scalar>,
    /// The root password.
    #[serde(
        default,
        rename = "root-password",
        skip_serializing_if = "Option::is_none"
    )]
    pub root_password: Option<Scalar>,
    /// Free-form metadata (deploy scripts among it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Ordered<VmMetadata>>,
    /// Guest paths `lago collect` copies out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Vec<Value>>,
    /// Ansible groups: a list, a string (each character a group, as Lago)
    /// or a mapping (its keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Value>,
    /// Whether `lago export` leaves the VM out.
    #[serde(
        default,
        rename = "skip-export",
        skip_serializing_if = "Option::is_none"
    )]
    pub skip_export: Option<Scalar>,
    /// How long the VM may take to boot, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_time_sec: Option<Scalar>,
    /// The management net.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mgmt_net: Option<String>,
    /// Snapshots: name → the disk records as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<IndexMap<String, Vec<Ordered<DiskRecord>>>>,
    /// lago's own: the memory images of the snapshots that have one
    /// (`lago snapshot --memory`), snapshot name → record. Lago ignores the
    /// key: to it these are disk snapshots.
    #[serde(
        default,
        rename = "memory-snapshots",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory_snapshots: Option<IndexMap<String, MemoryRecord>>,
    /// Lago's VM plugin name.
    #[serde(default, rename = "vm-type", skip_serializing_if = "Option::is_none")]
    pub vm_type: Option<Scalar>,
    /// Lago's VM provider plugin name.
    #[serde(
        default,
        rename = "vm-provider",
        skip_serializing_if = "Option::is_none"
    )]
    pub vm_provider: Option<Scalar>,
    /// The user lago logs in as.
    #[serde(default, rename = "ssh-user", skip_serializing_if = "Option::is_none")]
    pub ssh_user: Option<Scalar>,
    /// The SSH password (used when `root-password` is unset).
    #[serde(
        default,
        rename = "ssh-password",
        skip_serializing_if = "Option::is_none"
    )]
    pub ssh_password: Option<Scalar>,
    /// The stored path of the NoCloud seed image.
    #[serde(
        default,
        rename = "nocloud-seed",
        skip_serializing_if = "Option::is_none"
    )]
    pub nocloud_seed: Option<String>,
    /// How init bootstrapped the VM (`nocloud`, `ssh`, `sysprep`, `none`).
    #[serde(
        default,
        rename = "bootstrap-method",
        skip_serializing_if = "Option::is_none"
    )]
    pub bootstrap_method: Option<String>,
    /// The first-boot bootstrap still to run.
    #[serde(
        default,
        rename = "first-boot",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_boot: Option<Ordered<FirstBootRecord>>,
    /// The guest's service manager, once detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_provider: Option<String>,
    /// The guest agent's service name, once detected.
    #[serde(
        default,
        rename = "guest-agent",
        skip_serializing_if = "Option::is_none"
    )]
    pub guest_agent: Option<String>,
    /// Keys lago does not use, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl VmRecord {
    /// The NICs, in order.
    pub fn nic_records(&self) -> &[Ordered<NicRecord>] {
        self.nics.as_deref().unwrap_or_default()
    }

    /// The disks, in order.
    pub fn disk_records(&self) -> &[Ordered<DiskRecord>] {
        self.disks.as_deref().unwrap_or_default()
    }

    /// `distro` as text.
    pub fn distro_text(&self) -> Option<String> {
        text_of(&self.distro).map(Cow::into_owned)
    }

    /// `root-password`, else `ssh-password`, as text.
    pub fn password_text(&self) -> Option<String> {
        text_of(&self.root_password)
            .or_else(|| text_of(&self.ssh_password))
            .map(Cow::into_owned)
    }

    /// `ssh-user`, when it is a string.
    pub fn ssh_user_str(&self) -> Option<&str> {
        self.ssh_user.as_ref().and_then(Scalar::as_str)
    }

    /// The deploy scripts as stored (`deploy-scripts`, or the older
    /// `ovirt-scripts` when there are none).
    pub fn deploy_scripts(&self) -> Vec<String> {
        let Some(meta) = &self.metadata else {
            return Vec::new();
        };
        [&meta.deploy_scripts, &meta.ovirt_scripts]
            .into_iter()
            .flatten()
            .find(|items| !items.is_empty())
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The artifact paths (the strings among `artifacts`).
    pub fn artifact_paths(&self) -> Vec<String> {
        self.artifacts
            .iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    }
}

/// The DHCP range of a net (`dhcp`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DhcpRecord {
    /// First host number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Scalar>,
    /// Last host number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Scalar>,
    /// Keys lago does not use, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A net's spec (`virt/net-<name>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetRecord {
    /// The net's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `nat` or `bridge`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub net_type: Option<String>,
    /// Whether it is a management net.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management: Option<Scalar>,
    /// Its gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
    /// The DNS domain of a management net.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_domain_name: Option<String>,
    /// Host name → address of every NIC on it (DHCP hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<IndexMap<String, Value>>,
    /// Host name → address served by a management net's DNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_records: Option<IndexMap<String, Value>>,
    /// The DNS server a non-management net forwards to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_forward: Option<String>,
    /// Its DHCP range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp: Option<Ordered<DhcpRecord>>,
    /// Its MTU, when not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<Scalar>,
    /// Keys lago does not use, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn addresses(m: &Option<IndexMap<String, Value>>) -> Vec<(String, Ipv4Addr)> {
    m.iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.parse().ok()?)))
        .collect()
}

impl NetRecord {
    /// Its gateway, when it has a valid one.
    pub fn gw_addr(&self) -> Option<Ipv4Addr> {
        self.gw.as_deref().and_then(|s| s.parse().ok())
    }

    /// `mapping` (entries whose value is an address).
    pub fn mapping_addrs(&self) -> Vec<(String, Ipv4Addr)> {
        addresses(&self.mapping)
    }

    /// `dns_records` (entries whose value is an address).
    pub fn dns_record_addrs(&self) -> Vec<(String, Ipv4Addr)> {
        addresses(&self.dns_records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip<T: Serialize + DeserializeOwned>(text: &str) -> String {
        let rec: Ordered<T> = serde_json::from_str(text).unwrap();
        serde_json::to_string(&rec).unwrap()
    }

    #[test]
    fn keys_come_back_in_the_order_read_with_unknown_ones_in_place() {
        let text = r#"{"x":1,"nics":[{"ip":"10.0.0.2","k":[1],"net":"n"}],"memory":"2048","name":"vm0","y":null,"distro":null}"#;
        assert_eq!(round_trip::<VmRecord>(text), text);
        let net =
            r#"{"dhcp":{"start":100,"end":254},"type":"nat","z":{"a":true},"gw":"192.168.1.1"}"#;
        assert_eq!(round_trip::<NetRecord>(net), net);
    }

    #[test]
    fn odd_types_older_lago_wrote_load_and_read_leniently() {
        let vm: Ordered<VmRecord> = serde_json::from_value(json!({
            "memory": "2048", "vcpu": 2, "skip-export": "True",
            "root-password": 123456,
            "disks": [{"path": "/d", "format": "qcow2", "dev": "vda", "skip-export": true}],
        }))
        .unwrap();
        assert_eq!(vm.memory.as_ref().and_then(Scalar::as_u64), Some(2048));
        assert_eq!(vm.vcpu.as_ref().and_then(Scalar::as_u64), Some(2));
        assert!(vm.skip_export.as_ref().is_some_and(Scalar::truthy));
        assert_eq!(vm.password_text().as_deref(), Some("123456"));
        assert!(vm.disk_records()[0].skips_export());
        assert_eq!(Scalar(json!(true)).text().as_deref(), Some("True"));
    }

    #[test]
    fn new_keys_go_after_and_changed_ones_stay_in_place() {
        let mut vm: Ordered<VmRecord> =
            serde_json::from_str(r#"{"name":"vm0","ssh-user":"root","extra":1}"#).unwrap();
        vm.ssh_user = Some("admin".into());
        vm.guest_agent = Some("qemu-ga".into());
        assert_eq!(
            serde_json::to_string(&vm).unwrap(),
            r#"{"name":"vm0","ssh-user":"admin","extra":1,"guest-agent":"qemu-ga"}"#
        );
    }

    #[test]
    fn a_null_comes_back_unless_forgotten() {
        let mut vm: Ordered<VmRecord> =
            serde_json::from_str(r#"{"name":"vm0","snapshots":null}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&vm).unwrap(),
            r#"{"name":"vm0","snapshots":null}"#
        );
        vm.forget_key("snapshots");
        assert_eq!(serde_json::to_string(&vm).unwrap(), r#"{"name":"vm0"}"#);
    }

    #[test]
    fn a_wrong_type_names_the_key() {
        let err = serde_json::from_str::<Ordered<VmRecord>>(r#"{"nics":[{"net":3}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nics[0]") && err.contains("net"), "{err}");
    }
}
