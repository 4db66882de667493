//! A picture of an environment: its nets, its VMs, their NICs with IPs, and
//! the state of each, as a Graphviz DOT graph (`lago status --format dot`;
//! `lago graph -o FILE` renders it with Graphviz's `dot`).
//!
//! Nets are ellipses (the management net drawn bold), VMs are boxes, and a
//! NIC is an edge from its VM to its net labelled `eth<i>` and its IP. What
//! runs is filled green, what is down grey. Built from the persisted state
//! plus the live state a provider reports, like [`super::status`].

use std::fmt::Write as _;

use crate::prefix::state::PrefixState;

/// A DOT string literal: `text` in double quotes, with `"` and `\` escaped
/// and line breaks as DOT's centred `\n`.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The fill colour of a node in `state` (`running`/`up`, else down).
fn fill(state: &str) -> &'static str {
    match state {
        "running" | "up" => "palegreen",
        "down" | "shut off" => "lightgrey",
        _ => "khaki",
    }
}

/// The DOT graph of prefix `state`. `vm_state(name)` is the provider's state
/// string of a VM (`down` when it does not exist); `net_up(name)` whether a
/// net is active.
pub fn dot(
    state: &PrefixState,
    vm_state: impl Fn(&str) -> String,
    net_up: impl Fn(&str) -> bool,
) -> String {
    let short: String = state.uuid.chars().take(8).collect();
    let mut out = String::new();
    let _ = writeln!(out, "graph {} {{", quoted(&format!("lago {short}")));
    let _ = writeln!(out, "  rankdir=LR; fontname=\"sans-serif\";");
    let _ = writeln!(
        out,
        "  label={}; labelloc=t;",
        quoted(&format!(
            "prefix {} (uuid {short})",
            state.paths.prefix_path().display()
        ))
    );
    let _ = writeln!(out, "  node [fontname=\"sans-serif\" style=filled];");
    let _ = writeln!(out, "  edge [fontname=\"sans-serif\" fontsize=10];");
    for net in &state.nets {
        let up = if net_up(&net.name) { "up" } else { "down" };
        let mut label = format!("{}\n{}", net.name, net.kind());
        if let Some(gw) = net.gw() {
            let o = gw.octets();
            let _ = write!(label, " {}.{}.{}.0/24", o[0], o[1], o[2]);
        }
        if net.is_management() {
            label.push_str("\nmanagement");
        }
        let _ = write!(label, "\n{up}");
        let _ = writeln!(
            out,
            "  {} [shape=ellipse label={} fillcolor={}{}];",
            quoted(&format!("net:{}", net.name)),
            quoted(&label),
            fill(up),
            if net.is_management() {
                " penwidth=2"
            } else {
                ""
            }
        );
    }
    for vm in &state.vms {
        let st = vm_state(&vm.name);
        let mut label = vm.name.clone();
        if let Some(distro) = vm.distro() {
            let _ = write!(label, "\n{distro}");
        }
        let _ = write!(label, "\n{st}");
        let _ = writeln!(
            out,
            "  {} [shape=box label={} fillcolor={}];",
            quoted(&format!("vm:{}", vm.name)),
            quoted(&label),
            fill(&st)
        );
        for (i, nic) in vm.nics().into_iter().enumerate() {
            let ip = nic
                .ip
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| "no IP".into());
            let _ = writeln!(
                out,
                "  {} -- {} [label={}];",
                quoted(&format!("vm:{}", vm.name)),
                quoted(&format!("net:{}", nic.net)),
                quoted(&format!("eth{i}\n{ip}"))
            );
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::paths::Paths;
    use crate::prefix::state::{NetState, VmState};

    fn record<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("spec: {e}"))
    }

    fn state() -> PrefixState {
        PrefixState {
            paths: Paths::new("/w/.lago/default"),
            uuid: "0123456789abcdef0123456789abcdef".into(),
            nets: vec![
                NetState {
                    name: "lan".into(),
                    spec: record(json!({"type": "nat", "gw": "192.168.200.1", "management": true})),
                },
                NetState {
                    name: "st\"or".into(),
                    spec: record(json!({"type": "bridge"})),
                },
            ],
            vms: vec![
                VmState {
                    name: "vm0".into(),
                    spec: record(json!({
                        "nics": [{"net": "lan", "ip": "192.168.200.2"}, {"net": "st\"or"}],
                        "distro": "el7",
                    })),
                },
                VmState {
                    name: "vm1".into(),
                    spec: record(json!({"nics": [{"net": "lan", "ip": "192.168.200.3"}]})),
                },
            ],
            host: None,
        }
    }

    #[test]
    fn every_net_vm_and_nic_is_drawn_with_its_state() {
        let text = dot(
            &state(),
            |vm| if vm == "vm0" { "running" } else { "down" }.to_string(),
            |net| net == "lan",
        );
        assert!(text.starts_with("graph \"lago 01234567\" {\n"), "{text}");
        assert!(text.ends_with("}\n"), "{text}");
        assert!(
            text.contains(
                "\"net:lan\" [shape=ellipse label=\"lan\\nnat 192.168.200.0/24\\nmanagement\\nup\" fillcolor=palegreen penwidth=2];"
            ),
            "{text}"
        );
        assert!(
            text.contains("\"net:st\\\"or\" [shape=ellipse label=\"st\\\"or\\nbridge\\ndown\" fillcolor=lightgrey];"),
            "{text}"
        );
        assert!(
            text.contains(
                "\"vm:vm0\" [shape=box label=\"vm0\\nel7\\nrunning\" fillcolor=palegreen];"
            ),
            "{text}"
        );
        assert!(
            text.contains("\"vm:vm1\" [shape=box label=\"vm1\\ndown\" fillcolor=lightgrey];"),
            "{text}"
        );
        assert!(
            text.contains("\"vm:vm0\" -- \"net:lan\" [label=\"eth0\\n192.168.200.2\"];"),
            "{text}"
        );
        assert!(
            text.contains("\"vm:vm0\" -- \"net:st\\\"or\" [label=\"eth1\\nno IP\"];"),
            "{text}"
        );
        assert!(
            text.contains("\"vm:vm1\" -- \"net:lan\" [label=\"eth0\\n192.168.200.3\"];"),
            "{text}"
        );
        assert_eq!(text.matches(" -- ").count(), 3, "{text}");
    }

    #[test]
    fn quoting_escapes_quotes_backslashes_and_breaks() {
        assert_eq!(quoted("a\"b\\c\nd\u{7}"), "\"a\\\"b\\\\c\\nd\"");
    }
}
