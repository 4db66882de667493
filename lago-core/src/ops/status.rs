//! The status information of a prefix: the mapping `lago status` renders
//! (contract §1.3), built from the persisted state plus the live state of
//! each VM and net that a provider reports.

use serde_json::{Map, Value, json};

use crate::prefix::state::PrefixState;

/// Builds the status mapping:
///
/// ```text
/// {"Prefix": {"Base directory": …, "UUID": …,
///   "Networks": {<net>: {"gateway": …, "status": "up"|"down", "management": bool}},
///   "VMs": {<vm>: {"distro": …, "root password": …, "status": <state>,
///                  "snapshots": "a, b", "metadata": {…},
///                  "NICs": {"eth<i>": {"network": …, "ip": … or "N/A"}}}}}}
/// ```
///
/// `vm_state(name)` is the provider's state string (`down` when the VM does
/// not exist); `net_up(name)` whether the net is active.
pub fn status_info(
    state: &PrefixState,
    vm_state: impl Fn(&str) -> String,
    net_up: impl Fn(&str) -> bool,
) -> Value {
    let mut nets = Map::new();
    for net in &state.nets {
        nets.insert(
            net.name.clone(),
            json!({
                "gateway": net.gw().map(|g| g.to_string()),
                "status": if net_up(&net.name) { "up" } else { "down" },
                "management": net.is_management(),
            }),
        );
    }
    let mut vms = Map::new();
    for vm in &state.vms {
        let mut nics = Map::new();
        for (i, nic) in vm.nics().into_iter().enumerate() {
            nics.insert(
                format!("eth{i}"),
                json!({
                    "network": nic.net,
                    "ip": nic.ip.map(|ip| ip.to_string()).unwrap_or_else(|| "N/A".into()),
                }),
            );
        }
        let mut info = json!({
            "distro": vm.distro(),
            "root password": vm.root_password(),
            "status": vm_state(&vm.name),
            "snapshots": vm.snapshot_names().join(", "),
            "metadata": Value::Object(vm.metadata()),
            "NICs": Value::Object(nics),
        });
        // how init chose to bootstrap it (prefixes of Lago have no such key)
        if let (Some(method), Value::Object(info)) = (vm.bootstrap_method(), &mut info) {
            info.insert("bootstrap".into(), json!(method));
        }
        vms.insert(vm.name.clone(), info);
    }
    let mut prefix = json!({
        "Base directory": state.paths.prefix_path().to_string_lossy(),
        "UUID": state.uuid,
        "Networks": Value::Object(nets),
        "VMs": Value::Object(vms),
    });
    // where it runs, when that is not this machine (Lago had no such key)
    if let (Some(host), Value::Object(p)) = (&state.host, &mut prefix) {
        p.insert(
            "Host".into(),
            json!({"libvirt": host.uri, "pool": host.pool}),
        );
    }
    json!({ "Prefix": prefix })
}
