//! The networks of an environment: [`NetSpec`] (`nets.<name>`), its
//! [`NetType`] and [`DhcpRange`].

use std::net::{IpAddr, Ipv4Addr};

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::error::{SpecError, SpecErrorKind};
use super::keyword::keyword_enum;
use super::read::Obj;

/// The MTU of a network whose init file gives none.
pub const DEFAULT_MTU: u32 = 1500;

keyword_enum! {
    /// What kind of network (`type`).
    pub enum NetType {
        /// A NATed libvirt network with a leased /24 subnet (Lago's default).
        Nat = "nat",
        /// A bridge; its nics get no IP from lago.
        Bridge = "bridge",
    }
}

/// The DHCP range of a network (`dhcp: {start, end}`), as last octets of
/// addresses in the network's /24.
#[derive(Debug, Clone, PartialEq)]
pub struct DhcpRange {
    /// First last octet handed out (1–254).
    pub start: u8,
    /// Last last octet handed out (`start`–254).
    pub end: u8,
    /// Keys lago does not know.
    pub extra: Map<String, Value>,
}

/// One network (`nets.<name>`).
#[derive(Debug, Clone, PartialEq)]
pub struct NetSpec {
    /// The network's name: its key under `nets`.
    pub name: String,
    /// `type`: `nat` when absent.
    pub net_type: NetType,
    /// Whether this is a management network: `management: true`, or, when no
    /// network says so, the alphabetically first network (Lago's rule).
    pub management: bool,
    /// The `management` key as written, if it was.
    pub management_declared: Option<bool>,
    /// `dns_domain_name`; management networks get `lago.local` later when
    /// absent.
    pub dns_domain_name: Option<String>,
    /// `dhcp`: the DHCP range; no DHCP when absent.
    pub dhcp: Option<DhcpRange>,
    /// `gw`: the gateway; its /24 is the network's subnet. Leased later when
    /// absent.
    pub gw: Option<Ipv4Addr>,
    /// `mtu` (an integer or a numeric string); [`DEFAULT_MTU`] when absent.
    pub mtu: u32,
    /// `dns_records`: extra `hostname: ip` records, in file order.
    pub dns_records: IndexMap<String, IpAddr>,
    /// `main_dns`.
    pub main_dns: Option<String>,
    /// Keys lago does not know, kept in file order to be persisted.
    pub extra: Map<String, Value>,
}

impl NetSpec {
    /// Reads one network from its mapping; `management` is settled later,
    /// once all networks are known.
    pub(crate) fn read(name: &str, mut obj: Obj<'_, '_>) -> Result<Self, SpecError> {
        let ctx = obj.ctx();
        // Lago sets `name` from the key; a written one is ignored.
        let _ = obj.take("name");
        let net_type = obj
            .keyword::<NetType>("type", "network type")?
            .unwrap_or(NetType::Nat);
        let management_declared = obj.boolean("management")?;
        let dns_domain_name = obj.string("dns_domain_name")?;
        let dhcp = match obj.map("dhcp", "a mapping such as {start: 100, end: 254}")? {
            None => None,
            Some(map) => {
                let mut dhcp = Obj::from_map(ctx, obj.at("dhcp"), map);
                let what = "a last octet from 1 to 254";
                let start = dhcp.whole("start", 1, 254, what)?;
                let end = dhcp.whole("end", 1, 254, what)?;
                let (Some(start), Some(end)) = (start, end) else {
                    let key = if start.is_none() { "start" } else { "end" };
                    return Err(dhcp.missing(key, what));
                };
                if start > end {
                    return Err(ctx
                        .error(
                            SpecErrorKind::InvalidValue,
                            &dhcp.at("end"),
                            format!("the range ends ({end}) before it starts ({start})"),
                        )
                        .valid(format!("an end from {start} to 254")));
                }
                Some(DhcpRange {
                    start: u8::try_from(start).unwrap_or(u8::MAX),
                    end: u8::try_from(end).unwrap_or(u8::MAX),
                    extra: dhcp.finish(),
                })
            }
        };
        let gw = match obj.string("gw")? {
            None => None,
            Some(text) => Some(text.trim().parse::<Ipv4Addr>().map_err(|_| {
                ctx.error(
                    SpecErrorKind::InvalidValue,
                    &obj.at("gw"),
                    format!("'{text}' is not an IPv4 address"),
                )
                .valid("a dotted IPv4 address such as 192.168.200.1")
            })?),
        };
        let mtu = obj
            .whole("mtu", 68, 65535, "a whole number of bytes")?
            .map_or(DEFAULT_MTU, |n| u32::try_from(n).unwrap_or(DEFAULT_MTU));
        let mut dns_records = IndexMap::new();
        if let Some(map) = obj.map("dns_records", "a mapping of host name to IP address")? {
            for (host, ip) in map {
                let path = obj.at("dns_records").key(&host);
                let Value::String(text) = &ip else {
                    return Err(ctx.wrong_type(&path, "an IP address string", &ip));
                };
                let addr = text.trim().parse::<IpAddr>().map_err(|_| {
                    ctx.error(
                        SpecErrorKind::InvalidValue,
                        &path,
                        format!("'{text}' is not an IP address"),
                    )
                    .valid("an address such as 192.168.200.10")
                })?;
                dns_records.insert(host, addr);
            }
        }
        let main_dns = obj.text("main_dns")?;
        Ok(Self {
            name: name.to_owned(),
            net_type,
            management: management_declared == Some(true),
            management_declared,
            dns_domain_name,
            dhcp,
            gw,
            mtu,
            dns_records,
            main_dns,
            extra: obj.finish(),
        })
    }

    /// The network in Lago's JSON shape: `name`, the keys of the init file
    /// with typed values written back (`type`, `mtu` and `management` always
    /// present), then the unknown keys.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), json!(self.name));
        out.insert("type".into(), json!(self.net_type.to_string()));
        out.insert("management".into(), json!(self.management));
        if let Some(domain) = &self.dns_domain_name {
            out.insert("dns_domain_name".into(), json!(domain));
        }
        if let Some(dhcp) = &self.dhcp {
            let mut range = Map::new();
            range.insert("start".into(), json!(dhcp.start));
            range.insert("end".into(), json!(dhcp.end));
            for (key, value) in &dhcp.extra {
                range.insert(key.clone(), value.clone());
            }
            out.insert("dhcp".into(), Value::Object(range));
        }
        if let Some(gw) = self.gw {
            out.insert("gw".into(), json!(gw.to_string()));
        }
        out.insert("mtu".into(), json!(self.mtu));
        if !self.dns_records.is_empty() {
            let records: Map<String, Value> = self
                .dns_records
                .iter()
                .map(|(host, ip)| (host.clone(), json!(ip.to_string())))
                .collect();
            out.insert("dns_records".into(), Value::Object(records));
        }
        if let Some(main_dns) = &self.main_dns {
            out.insert("main_dns".into(), json!(main_dns));
        }
        for (key, value) in &self.extra {
            out.insert(key.clone(), value.clone());
        }
        Value::Object(out)
    }
}
