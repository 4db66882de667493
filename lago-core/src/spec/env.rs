//! [`EnvSpec`]: a whole validated init file — its VMs, networks, prototypes
//! and unknown top-level keys — and how it is assembled from a JSON value
//! (prototypes applied, management networks chosen).

use std::path::PathBuf;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::domain::DomainSpec;
use super::error::{SpecError, SpecErrorKind};
use super::net::NetSpec;
use super::path::KeyPath;
use super::read::{Ctx, Obj, check_name};
use crate::bootstrap::Choice;

/// A loaded and validated LagoInitFile.
///
/// Everything in it was checked once at load: every nic's network exists,
/// every VM has exactly one management network, static IPs are valid and
/// unique, disks have what their type needs. Code after load can trust names
/// and references.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvSpec {
    /// The VMs (`domains`), in file order.
    pub domains: IndexMap<String, DomainSpec>,
    /// The networks (`nets`), in file order; never empty.
    pub nets: IndexMap<String, NetSpec>,
    /// `prototypes` as written (already applied to the domains).
    pub prototypes: Map<String, Value>,
    /// `bootstrap_mode` at the top level: how the VMs are bootstrapped
    /// unless a VM says otherwise.
    pub bootstrap_mode: Option<Choice>,
    /// Top-level keys lago does not know, kept in file order.
    pub extra: Map<String, Value>,
    /// The absolute directory of the init file: the value of
    /// `$LAGO_INITFILE_PATH`.
    pub initfile_dir: PathBuf,
}

impl EnvSpec {
    /// The names of the management networks, in file order.
    pub fn management_nets(&self) -> Vec<&str> {
        self.nets
            .values()
            .filter(|net| net.management)
            .map(|net| net.name.as_str())
            .collect()
    }

    /// The management network of VM `vm`: the network of its last nic on a
    /// management network (Lago's `mgmt_net`). `None` if there is no such VM.
    #[cfg(test)]
    pub fn management_net_of(&self, vm: &str) -> Option<&str> {
        let domain = self.domains.get(vm)?;
        domain
            .nics
            .iter()
            .rev()
            .find(|nic| self.nets.get(&nic.net).is_some_and(|net| net.management))
            .map(|nic| nic.net.as_str())
    }

    /// The whole environment in Lago's JSON shape: `domains` and `nets` (each
    /// as [`DomainSpec::to_json`] / [`NetSpec::to_json`]) and the unknown
    /// top-level keys. `prototypes` is left out: it is already applied.
    #[cfg(test)]
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        let domains: Map<String, Value> = self
            .domains
            .iter()
            .map(|(name, vm)| (name.clone(), vm.to_json()))
            .collect();
        let nets: Map<String, Value> = self
            .nets
            .iter()
            .map(|(name, net)| (name.clone(), net.to_json()))
            .collect();
        out.insert("domains".into(), Value::Object(domains));
        out.insert("nets".into(), Value::Object(nets));
        if let Some(mode) = self.bootstrap_mode {
            out.insert("bootstrap_mode".into(), serde_json::json!(mode.as_str()));
        }
        for (key, value) in &self.extra {
            out.insert(key.clone(), value.clone());
        }
        Value::Object(out)
    }
}

/// Builds the environment from the parsed document (not yet cross-checked).
pub(crate) fn read_env(
    document: Value,
    ctx: &mut Ctx<'_>,
    initfile_dir: PathBuf,
) -> Result<EnvSpec, SpecError> {
    let (domains, nets, prototypes, bootstrap_mode, extra) = {
        let ctx = &*ctx;
        let mut top = Obj::new(
            ctx,
            KeyPath::root(),
            document,
            "a mapping with 'domains' and 'nets'",
        )?;
        let prototypes = top
            .map("prototypes", "a mapping of prototype name to VM settings")?
            .unwrap_or_default();
        for (name, proto) in &prototypes {
            if !proto.is_object() {
                return Err(ctx.wrong_type(
                    &top.at("prototypes").key(name),
                    "a mapping of VM settings",
                    proto,
                ));
            }
        }
        let Some(domains) = top.map("domains", "a mapping of VM name to VM settings")? else {
            return Err(top.missing("domains", "a mapping of VM name to VM settings"));
        };
        let Some(nets) = top.map("nets", "a mapping of network name to network settings")? else {
            return Err(top.missing("nets", "a mapping of network name to network settings"));
        };
        if nets.is_empty() {
            return Err(ctx
                .error(
                    SpecErrorKind::MissingKey,
                    &top.at("nets"),
                    "no networks configured",
                )
                .valid("at least one network, e.g. nets: {lago: {type: nat}}"));
        }
        let mode = top.one_of("bootstrap_mode", Choice::VALID, Choice::parse)?;
        (domains, nets, prototypes, mode, top.finish())
    };

    let mut net_specs = IndexMap::with_capacity(nets.len());
    for (name, value) in nets {
        let path = KeyPath::root().key("nets").key(&name);
        check_name(ctx, &path, &name, "network")?;
        let obj = Obj::new(ctx, path, value, "a mapping of network settings")?;
        let net = NetSpec::read(&name, obj)?;
        net_specs.insert(name, net);
    }
    choose_management(&mut net_specs);

    let mut domain_specs = IndexMap::with_capacity(domains.len());
    for (name, value) in domains {
        let path = KeyPath::root().key("domains").key(&name);
        check_name(ctx, &path, &name, "VM")?;
        let Value::Object(mut map) = value else {
            return Err(ctx.wrong_type(&path, "a mapping of VM settings", &value));
        };
        let chain = apply_prototypes(ctx, &path, &mut map, &prototypes)?;
        ctx.locator.set_bases(&name, chain.clone());
        let obj = Obj::from_map(ctx, path, map);
        let domain = DomainSpec::read(&name, chain, obj)?;
        domain_specs.insert(name, domain);
    }

    Ok(EnvSpec {
        domains: domain_specs,
        nets: net_specs,
        prototypes,
        bootstrap_mode,
        extra,
        initfile_dir,
    })
}

/// Lago's rule: the networks with `management: true`; if there is none, the
/// alphabetically first network.
fn choose_management(nets: &mut IndexMap<String, NetSpec>) {
    if nets.values().any(|net| net.management) {
        return;
    }
    let first = nets.keys().min().cloned();
    if let Some(net) = first.and_then(|name| nets.get_mut(&name)) {
        tracing::debug!(net = %net.name, "no management network declared; using the alphabetically first");
        net.management = true;
    }
}

/// Applies `based-on` to the domain mapping `map`: every top-level key the
/// domain lacks is copied (deeply) from its prototype, then from that
/// prototype's own `based-on`, and so on. Returns the prototypes used,
/// nearest first.
fn apply_prototypes(
    ctx: &Ctx<'_>,
    domain: &KeyPath,
    map: &mut Map<String, Value>,
    prototypes: &Map<String, Value>,
) -> Result<Vec<String>, SpecError> {
    let mut chain: Vec<String> = Vec::new();
    let mut next = map.shift_remove("based-on");
    let mut at = domain.key("based-on");
    while let Some(value) = next.take() {
        let name = match value {
            Value::Null => break,
            Value::String(name) => name,
            other => {
                return Err(ctx.wrong_type(&at, "the name of a prototype", &other));
            }
        };
        let Some(Value::Object(proto)) = prototypes.get(&name) else {
            let valid = if prototypes.is_empty() {
                "no prototypes are defined (add a top-level 'prototypes' mapping)".to_owned()
            } else {
                prototypes.keys().cloned().collect::<Vec<_>>().join(", ")
            };
            return Err(ctx
                .error(
                    SpecErrorKind::UnknownReference,
                    &at,
                    format!("unknown prototype '{name}'"),
                )
                .valid(valid));
        };
        if chain.contains(&name) {
            chain.push(name);
            return Err(ctx.error(
                SpecErrorKind::InvalidValue,
                &at,
                format!(
                    "prototypes are based on each other in a loop: {}",
                    chain.join(" -> ")
                ),
            ));
        }
        for (key, item) in proto {
            if key != "based-on" && !map.contains_key(key) {
                map.insert(key.clone(), item.clone());
            }
        }
        next = proto.get("based-on").cloned();
        at = KeyPath::root().key("prototypes").key(&name).key("based-on");
        chain.push(name);
    }
    Ok(chain)
}
