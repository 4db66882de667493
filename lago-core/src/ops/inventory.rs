//! The Ansible inventory of a prefix, as Lago's `lago ansible_hosts` and
//! `SDK.ansible_inventory` print it (contract §8), byte for byte.
//!
//! Every VM (in init-file order) is one entry line
//! `<vm> ansible_host=<ip> ansible_ssh_private_key_file=<prefix>/id_rsa`.
//! For each key (a `/`-separated path into the VM's spec; numeric parts
//! index lists; a missing path is skipped) the entry joins group
//! `<key>=<value>` (one group per item for a list). Every item of the spec's
//! `groups` also makes a bare group `<item>`; a string `groups` is iterated
//! per character, as Lago's loop over it does. Groups come out in the order
//! they were first met, each as `[<group>]` followed by its entries sorted;
//! lines are joined with `\n`, with no newline at the end.
//!
//! Values are shown as Python's `str()` shows them (`True`, `1.5`, and
//! `repr` inside containers), since that is what Lago's `format` wrote.
//! Where Lago crashed with a `TypeError` (indexing a number, a list by a
//! name) the path is treated as missing instead.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::prefix::state::PrefixState;

/// The keys used when none are given.
pub const DEFAULT_KEYS: [&str; 3] = ["vm-type", "groups", "vm-provider"];

/// One VM as the inventory sees it.
#[derive(Debug, Clone)]
pub struct InventoryVm<'a> {
    /// The VM's name.
    pub name: &'a str,
    /// Its management address.
    pub ip: String,
    /// Its spec, with Lago's defaults (`vm-type`, `vm-provider`) filled in.
    pub spec: Value,
}

/// The inventory of `state`'s VMs: `key_file` is the prefix's private key,
/// `defaults` the `(vm-type, vm-provider)` used where a spec has none.
/// An empty `keys` means [`DEFAULT_KEYS`] (Lago's `keys or [...]`).
/// `extra` (empty for Lago's lines) is added to every entry line: the SSH
/// jump through the host of an environment on a remote host.
pub fn inventory(
    state: &PrefixState,
    keys: &[String],
    key_file: &str,
    defaults: (&str, &str),
    extra: &str,
) -> Result<String> {
    let mut vms = Vec::new();
    for vm in &state.vms {
        let ip = vm.ip().ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "VM '{}' has no address on its management network: it cannot be in \
                     an Ansible inventory",
                    vm.name
                ),
            )
        })?;
        let mut spec = vm.spec.clone();
        spec.vm_type.get_or_insert_with(|| defaults.0.into());
        spec.vm_provider.get_or_insert_with(|| defaults.1.into());
        vms.push(InventoryVm {
            name: &vm.name,
            ip: ip.to_string(),
            spec: spec.to_value(),
        });
    }
    Ok(render_with(&vms, keys, key_file, extra))
}

/// The inventory text of `vms` (see the module documentation).
pub fn render(vms: &[InventoryVm<'_>], keys: &[String], key_file: &str) -> String {
    render_with(vms, keys, key_file, "")
}

/// [`render`], with `extra` (host variables) added to every entry line.
pub fn render_with(
    vms: &[InventoryVm<'_>],
    keys: &[String],
    key_file: &str,
    extra: &str,
) -> String {
    let default_keys: Vec<String> = DEFAULT_KEYS.iter().map(|k| k.to_string()).collect();
    let keys = if keys.is_empty() { &default_keys } else { keys };
    let mut groups: IndexMap<String, Vec<String>> = IndexMap::new();
    for vm in vms {
        let mut entry = format!(
            "{} ansible_host={} ansible_ssh_private_key_file={key_file}",
            vm.name, vm.ip
        );
        if !extra.is_empty() {
            entry.push(' ');
            entry.push_str(extra);
        }
        for key in keys {
            match get_key(key, &vm.spec) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for item in &items {
                        push(&mut groups, format!("{key}={}", py_str(item)), &entry);
                    }
                }
                Some(value) => push(&mut groups, format!("{key}={}", py_str(&value)), &entry),
            }
        }
        for group in bare_groups(vm.spec.get("groups")) {
            push(&mut groups, group, &entry);
        }
    }
    let mut lines = Vec::new();
    for (group, mut entries) in groups {
        lines.push(format!("[{group}]"));
        entries.sort();
        lines.extend(entries);
    }
    lines.join("\n")
}

fn push(groups: &mut IndexMap<String, Vec<String>>, group: String, entry: &str) {
    groups.entry(group).or_default().push(entry.to_string());
}

/// What `for group in spec.get('groups', [])` iterates: list items, the
/// characters of a string, the keys of a mapping.
fn bare_groups(groups: Option<&Value>) -> Vec<String> {
    match groups {
        Some(Value::Array(items)) => items.iter().map(py_str).collect(),
        Some(Value::String(s)) => s.chars().map(String::from).collect(),
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Lago's `get_key`: `/` is the whole structure; otherwise the path is
/// split on `/` (one leading empty part dropped), each part that Python's
/// `int()` accepts is an index (negative ones count from the end, and never
/// match a mapping's keys), any other part a key.
pub fn get_key(key: &str, data: &Value) -> Option<Value> {
    if key == "/" {
        return Some(data.clone());
    }
    let mut parts: Vec<&str> = key.split('/').collect();
    if parts.first().is_some_and(|p| p.is_empty()) {
        parts.remove(0);
    }
    let mut current = data.clone();
    for part in parts {
        current = match (py_int(part), current) {
            (Some(i), Value::Array(mut items)) => {
                let i = index(items.len(), i)?;
                items.swap_remove(i)
            }
            (Some(i), Value::String(s)) => {
                // a string is indexable too: one character
                let chars: Vec<char> = s.chars().collect();
                Value::String(chars[index(chars.len(), i)?].to_string())
            }
            (None, Value::Object(mut map)) => map.shift_remove(part)?,
            _ => return None,
        };
    }
    Some(current)
}

/// A Python list index `i` into a list of `len` items.
fn index(len: usize, i: i64) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if i < 0 { len + i } else { i };
    if (0..len).contains(&i) {
        usize::try_from(i).ok()
    } else {
        None
    }
}

/// What Python's `int(text)` gives for a decimal string: surrounding
/// whitespace, a sign, digits with single `_` between them.
fn py_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let n: i64 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -n } else { n })
}

/// Python's `str()` of a JSON value.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a JSON value (`None`, `True`, `'text'`, `[1, 2]`,
/// `{'k': 'v'}`).
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => repr_str(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => repr_map(map),
    }
}

fn repr_map(map: &Map<String, Value>) -> String {
    let inner: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{}: {}", repr_str(k), py_repr(v)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// Python's `repr()` of a string: single quotes unless the text holds a
/// single quote and no double one.
fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const KEY: &str = "/w/.lago/default/id_rsa";

    fn vm<'a>(name: &'a str, ip: &str, spec: Value) -> InventoryVm<'a> {
        InventoryVm {
            name,
            ip: ip.into(),
            spec,
        }
    }

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_keys_with_list_groups() {
        let vms = [
            vm(
                "vm1",
                "192.168.200.3",
                json!({"vm-type": "default", "vm-provider": "local-libvirt", "groups": ["web", "db"]}),
            ),
            vm(
                "vm0",
                "192.168.200.2",
                json!({"vm-type": "default", "vm-provider": "local-libvirt", "groups": ["web"]}),
            ),
        ];
        let e0 = format!("vm0 ansible_host=192.168.200.2 ansible_ssh_private_key_file={KEY}");
        let e1 = format!("vm1 ansible_host=192.168.200.3 ansible_ssh_private_key_file={KEY}");
        let expected = [
            "[vm-type=default]",
            &e0,
            &e1,
            "[groups=web]",
            &e0,
            &e1,
            "[groups=db]",
            &e1,
            "[vm-provider=local-libvirt]",
            &e0,
            &e1,
            "[web]",
            &e0,
            &e1,
            "[db]",
            &e1,
        ]
        .join("\n");
        // groups in first-seen order: vm1's `groups=db` comes before
        // `vm-provider`, and its bare groups after it
        let text = render(&vms, &[], KEY);
        let order: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
        assert_eq!(
            order,
            [
                "[vm-type=default]",
                "[groups=web]",
                "[groups=db]",
                "[vm-provider=local-libvirt]",
                "[web]",
                "[db]"
            ]
        );
        assert_eq!(text, expected);
        assert!(!text.ends_with('\n'));
    }

    #[test]
    fn a_string_groups_is_one_keyed_group_and_one_bare_group_per_character() {
        let vms = [vm("h", "10.0.0.1", json!({"groups": "ab"}))];
        let e = format!("h ansible_host=10.0.0.1 ansible_ssh_private_key_file={KEY}");
        assert_eq!(
            render(&vms, &keys(&["groups"]), KEY),
            format!("[groups=ab]\n{e}\n[a]\n{e}\n[b]\n{e}")
        );
    }

    #[test]
    fn paths_indexes_and_python_rendering() {
        let spec = json!({
            "nics": [{"net": "n0", "ip": "10.0.0.5"}, {"net": "n1"}],
            "memory": 2048,
            "flag": true,
            "ratio": 1.5,
            "nothing": null,
            "metadata": {"tags": ["a", 1, ["x", "y's"]], "0": "zero"},
            "disks": [{"dev": "vda"}],
        });
        let vms = [vm("v", "1.2.3.4", spec)];
        let e = format!("v ansible_host=1.2.3.4 ansible_ssh_private_key_file={KEY}");
        let text = render(
            &vms,
            &keys(&[
                "/nics/0/net",
                "nics/-1/net",
                "nics/5/net",
                "memory",
                "flag",
                "ratio",
                "nothing",
                "metadata/tags",
                "metadata/0",
                "disks/ 0 /dev",
                "missing/x",
                "memory/0",
                "nics/net",
                "nics/0/net/1",
            ]),
            KEY,
        );
        let expected = [
            "[/nics/0/net=n0]",
            &e,
            "[nics/-1/net=n1]",
            &e,
            "[memory=2048]",
            &e,
            "[flag=True]",
            &e,
            "[ratio=1.5]",
            &e,
            "[metadata/tags=a]",
            &e,
            "[metadata/tags=1]",
            &e,
            "[metadata/tags=['x', \"y's\"]]",
            &e,
            "[disks/ 0 /dev=vda]",
            &e,
            "[nics/0/net/1=0]",
            &e,
        ]
        .join("\n");
        assert_eq!(text, expected);
    }

    #[test]
    fn slash_is_the_whole_spec_in_python_repr() {
        let vms = [vm("v", "1.2.3.4", json!({"name": "v", "n": [1, null]}))];
        let text = render(&vms, &keys(&["/"]), KEY);
        assert!(
            text.starts_with("[/={'name': 'v', 'n': [1, None]}]\n"),
            "{text}"
        );
    }

    #[test]
    fn no_vms_is_empty_text() {
        assert_eq!(render(&[], &[], KEY), "");
    }

    #[test]
    fn python_int_rules() {
        assert_eq!(py_int("0"), Some(0));
        assert_eq!(py_int(" -2 "), Some(-2));
        assert_eq!(py_int("+1_0"), Some(10));
        assert_eq!(py_int("1__0"), None);
        assert_eq!(py_int("_1"), None);
        assert_eq!(py_int("a"), None);
        assert_eq!(py_int(""), None);
        assert_eq!(py_int("-"), None);
    }

    #[test]
    fn repr_of_strings_picks_quotes_like_python() {
        assert_eq!(repr_str("a"), "'a'");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(repr_str("t\tn\n\\"), "'t\\tn\\n\\\\'");
        assert_eq!(repr_str("\u{1}"), "'\\x01'");
    }
}
