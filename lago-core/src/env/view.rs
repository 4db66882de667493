//! Read-only views of an environment's persisted state, shaped once here for
//! every front end: the C library serializes them to JSON
//! (`lago_env_spec_json`), the Python module hands them to Python as dicts
//! and lists. Built from memory: no libvirt connection is needed.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::prefix::naming;
use crate::prefix::state::{NetState, PrefixState, VmState};

/// One NIC of a VM: the network it is on and its fixed address, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NicView {
    /// The network's name.
    pub net: String,
    /// The NIC's IPv4 address (dotted), None when it has none.
    pub ip: Option<String>,
}

/// One VM: its persisted spec and what is derived from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VmView {
    /// The VM's name.
    pub name: String,
    /// The spec as the prefix stores it (`virt/vm-<name>`).
    pub spec: Value,
    /// The management address (dotted), None when the VM has none.
    pub ip: Option<String>,
    /// The management network's name.
    pub mgmt_net: Option<String>,
    /// The distro the VM's template names.
    pub distro: Option<String>,
    /// The root password bootstrap set.
    pub root_password: String,
    /// The spec's `metadata` mapping (empty when absent).
    pub metadata: Map<String, Value>,
    /// The NICs in spec order.
    pub nics: Vec<NicView>,
    /// Names of the VM's snapshots, oldest first.
    pub snapshots: Vec<String>,
}

/// One network: its persisted spec and what is derived from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetView {
    /// The network's name.
    pub name: String,
    /// The spec as the prefix stores it (`virt/net-<name>`).
    pub spec: Value,
    /// The gateway address (dotted), None when the spec has none.
    pub gw: Option<String>,
    /// Whether this is a management network.
    pub is_management: bool,
    /// The network type (`nat`, `bridge`...).
    pub kind: String,
    /// The libvirt name of the network.
    pub libvirt_name: String,
}

/// The whole environment: `{"uuid", "vms": {name: spec}, "nets": {name:
/// spec}}`, VMs and networks in init-file order, each spec as persisted.
/// The shape `lago_env_spec_json` documents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpecView {
    /// The prefix's UUID.
    pub uuid: String,
    /// VM name → spec.
    pub vms: Map<String, Value>,
    /// Network name → spec.
    pub nets: Map<String, Value>,
}

impl VmView {
    /// The view of `vm`.
    pub fn of(vm: &VmState) -> Self {
        Self {
            name: vm.name.clone(),
            spec: vm.spec.to_value(),
            ip: vm.ip().map(|i| i.to_string()),
            mgmt_net: vm.mgmt_net(),
            distro: vm.distro(),
            root_password: vm.root_password(),
            metadata: vm.metadata(),
            nics: vm
                .nics()
                .into_iter()
                .map(|n| NicView {
                    net: n.net,
                    ip: n.ip.map(|i| i.to_string()),
                })
                .collect(),
            snapshots: vm.snapshot_names(),
        }
    }
}

impl NetView {
    /// The view of `net` of the prefix whose UUID is `uuid`.
    pub fn of(uuid: &str, net: &NetState) -> Self {
        Self {
            name: net.name.clone(),
            spec: net.spec.to_value(),
            gw: net.gw().map(|i| i.to_string()),
            is_management: net.is_management(),
            kind: net.kind(),
            libvirt_name: naming::network_name(uuid, &net.name),
        }
    }
}

impl SpecView {
    /// The view of `state`.
    pub fn of(state: &PrefixState) -> Self {
        Self {
            uuid: state.uuid.clone(),
            vms: state
                .vms
                .iter()
                .map(|vm| (vm.name.clone(), vm.spec.to_value()))
                .collect(),
            nets: state
                .nets
                .iter()
                .map(|net| (net.name.clone(), net.spec.to_value()))
                .collect(),
        }
    }
}

/// The views of every VM of `state`, in init-file order.
pub fn vms(state: &PrefixState) -> Vec<VmView> {
    state.vms.iter().map(VmView::of).collect()
}

/// The views of every network of `state`, in init-file order.
pub fn nets(state: &PrefixState) -> Vec<NetView> {
    state
        .nets
        .iter()
        .map(|n| NetView::of(&state.uuid, n))
        .collect()
}

/// `view` as a JSON value (a serialization of plain data cannot fail; a
/// failure would be a bug, reported as null).
pub fn to_value<T: Serialize>(view: &T) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::paths::Paths;
    use crate::prefix::state::{NetState, VmState};

    /// A typed spec record from JSON.
    fn record<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("spec: {e}"))
    }

    fn state() -> PrefixState {
        PrefixState {
            paths: Paths::new("/nonexistent/prefix"),
            uuid: "0123456789abcdef0123456789abcdef".into(),
            nets: vec![NetState {
                name: "lago".into(),
                spec: record(json!({"type": "nat", "gw": "192.168.200.1", "management": true})),
            }],
            vms: vec![VmState {
                name: "vm0".into(),
                spec: record(json!({
                    "nics": [{"net": "lago", "ip": "192.168.200.2"}, {"net": "other"}],
                    "mgmt_net": "lago",
                    "metadata": {"role": "engine"},
                    "root-password": "secret",
                    "distro": "el7",
                })),
            }],
            host: None,
        }
    }

    #[test]
    fn vm_view_has_the_derived_fields_and_the_spec() {
        let v = to_value(&vms(&state()));
        assert_eq!(
            v,
            json!([{
                "name": "vm0",
                "spec": {
                    "nics": [{"net": "lago", "ip": "192.168.200.2"}, {"net": "other"}],
                    "mgmt_net": "lago",
                    "metadata": {"role": "engine"},
                    "root-password": "secret",
                    "distro": "el7",
                },
                "ip": "192.168.200.2",
                "mgmt_net": "lago",
                "distro": "el7",
                "root_password": "secret",
                "metadata": {"role": "engine"},
                "nics": [{"net": "lago", "ip": "192.168.200.2"}, {"net": "other", "ip": null}],
                "snapshots": [],
            }])
        );
    }

    #[test]
    fn net_view_names_its_libvirt_network() {
        let s = state();
        let v = to_value(&nets(&s));
        assert_eq!(v[0]["name"], "lago");
        assert_eq!(v[0]["gw"], "192.168.200.1");
        assert_eq!(v[0]["is_management"], true);
        assert_eq!(v[0]["kind"], "nat");
        assert_eq!(
            v[0]["libvirt_name"],
            Value::String(naming::network_name(&s.uuid, "lago"))
        );
    }

    #[test]
    fn spec_view_keeps_the_documented_shape_in_order() {
        let text = serde_json::to_string(&SpecView::of(&state())).unwrap_or_default();
        assert!(
            text.starts_with(r#"{"uuid":"0123456789abcdef0123456789abcdef","vms":{"vm0":{"nics":"#),
            "{text}"
        );
        assert!(
            text.ends_with(
                r#""nets":{"lago":{"type":"nat","gw":"192.168.200.1","management":true}}}"#
            ),
            "{text}"
        );
    }
}
