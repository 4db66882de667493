//! The libvirt provider, over the `virt` crate: one connection (libvirt
//! connections are thread-safe), transient networks and domains.

use std::net::Ipv4Addr;

use virt::connect::Connect;
use virt::domain::DomainState;
use virt::error::ErrorNumber;

use super::auth::{self, Credentials};
use super::dhcp_leases;
use super::{Provider, ProviderError, ProviderObject, VmState};

/// The default connection URI (config `libvirt_url`).
pub const DEFAULT_URI: &str = "qemu:///system";

/// A connection to libvirt.
pub struct Libvirt {
    conn: Connect,
    uri: String,
}

impl std::fmt::Debug for Libvirt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Libvirt").field("uri", &self.uri).finish()
    }
}

fn fail(op: &'static str, object: &str) -> impl FnOnce(virt::error::Error) -> ProviderError {
    let object = object.to_string();
    let kind = if op.ends_with("network") {
        ProviderObject::Network
    } else if op.ends_with("domain") {
        ProviderObject::Domain
    } else {
        ProviderObject::Connection
    };
    move |e| ProviderError::libvirt(op, kind, object, e)
}

fn is_missing(e: &virt::error::Error) -> bool {
    e.code()
        .is_known_and(|c| matches!(c, ErrorNumber::NoDomain | ErrorNumber::NoNetwork))
}

/// The `<name>` of a libvirt XML document, for messages.
fn xml_name(xml: &str) -> String {
    xml.split_once("<name>")
        .and_then(|(_, rest)| rest.split_once("</name>"))
        .map(|(name, _)| name.trim().to_string())
        .unwrap_or_else(|| "(unnamed)".into())
}

impl Libvirt {
    /// Connects to `uri` (e.g. `qemu:///system`). libvirt's habit of
    /// printing every error to stderr is switched off: errors come back as
    /// values and are logged by the caller.
    pub fn connect(uri: &str) -> Result<Self, ProviderError> {
        Self::connect_with(uri, &Credentials::default())
    }

    /// Connects to `uri`, answering libvirt's questions (user name,
    /// password) with `creds` when the connection asks for them.
    pub fn connect_with(uri: &str, creds: &Credentials) -> Result<Self, ProviderError> {
        virt::error::clear_error_callback();
        let opened = if creds.is_empty() {
            Connect::open(Some(uri))
        } else {
            auth::with_credentials(creds, |a| Connect::open_auth(Some(uri), a, 0))
        };
        let conn = opened.map_err(|e| {
            let hint = if creds.is_empty() {
                "is libvirtd running and may this user use it? If it asks for \
                 credentials, set libvirt_username and libvirt_password"
            } else {
                "is libvirtd running, and are libvirt_username and \
                 libvirt_password right?"
            };
            let mut err = ProviderError::libvirt("connect to", ProviderObject::Connection, uri, e);
            err.message = format!("{} ({hint})", err.message);
            err
        })?;
        Ok(Self {
            conn,
            uri: uri.to_string(),
        })
    }

    /// The URI this connection was opened with.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The host's capabilities XML.
    pub fn capabilities(&self) -> Result<String, ProviderError> {
        self.conn
            .capabilities()
            .map_err(fail("read capabilities of", &self.uri))
    }
}

impl Provider for Libvirt {
    fn network_active(&self, name: &str) -> Result<bool, ProviderError> {
        match self.conn.lookup_network_by_name(name) {
            Ok(net) => net.is_active().map_err(fail("query network", name)),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(fail("look up network", name)(e)),
        }
    }

    fn create_network(&self, xml: &str) -> Result<(), ProviderError> {
        let name = xml_name(xml);
        self.conn
            .create_network_xml(xml)
            .map(drop)
            .map_err(fail("create network", &name))
    }

    fn destroy_network(&self, name: &str) -> Result<(), ProviderError> {
        match self.conn.lookup_network_by_name(name) {
            Ok(net) => match net.destroy() {
                Ok(()) => Ok(()),
                Err(e) if is_missing(&e) => Ok(()),
                Err(e) => Err(fail("destroy network", name)(e)),
            },
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(fail("look up network", name)(e)),
        }
    }

    fn vm_state(&self, name: &str) -> Result<VmState, ProviderError> {
        let dom = match self.conn.lookup_domain_by_name(name) {
            Ok(dom) => dom,
            Err(e) if is_missing(&e) => return Ok(VmState::Down),
            Err(e) => return Err(fail("look up domain", name)(e)),
        };
        let (state, _) = match dom.state() {
            Ok(s) => s,
            Err(e) if is_missing(&e) => return Ok(VmState::Down),
            Err(e) => return Err(fail("query domain", name)(e)),
        };
        Ok(match state.unwrap_or(DomainState::NoState) {
            DomainState::NoState if state.is_unknown() => VmState::Unknown,
            DomainState::NoState => VmState::NoState,
            DomainState::Running => VmState::Running,
            DomainState::Blocked => VmState::Blocked,
            DomainState::Paused => VmState::Paused,
            DomainState::Shutdown => VmState::ShuttingDown,
            DomainState::Shutoff => VmState::ShutOff,
            DomainState::Crashed => VmState::Crashed,
            DomainState::PMSuspended => VmState::Suspended,
        })
    }

    fn create_vm(&self, xml: &str) -> Result<(), ProviderError> {
        let name = xml_name(xml);
        self.conn
            .create_domain_xml(xml, 0)
            .map(drop)
            .map_err(fail("create domain", &name))
    }

    fn destroy_vm(&self, name: &str) -> Result<(), ProviderError> {
        match self.conn.lookup_domain_by_name(name) {
            Ok(dom) => match dom.destroy() {
                Ok(()) => Ok(()),
                Err(e) if is_missing(&e) => Ok(()),
                Err(e) => Err(fail("destroy domain", name)(e)),
            },
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(fail("look up domain", name)(e)),
        }
    }

    fn shutdown_vm(&self, name: &str) -> Result<(), ProviderError> {
        let dom = self
            .conn
            .lookup_domain_by_name(name)
            .map_err(fail("look up domain", name))?;
        dom.shutdown().map_err(fail("shut down domain", name))
    }

    fn reboot_vm(&self, name: &str) -> Result<(), ProviderError> {
        let dom = self
            .conn
            .lookup_domain_by_name(name)
            .map_err(fail("look up domain", name))?;
        dom.reboot(0).map_err(fail("reboot domain", name))
    }

    fn vm_xml(&self, name: &str) -> Result<Option<String>, ProviderError> {
        match self.conn.lookup_domain_by_name(name) {
            Ok(dom) => dom
                .xml_desc(0)
                .map(Some)
                .map_err(fail("read XML of domain", name)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(fail("look up domain", name)(e)),
        }
    }

    fn network_xml(&self, name: &str) -> Result<Option<String>, ProviderError> {
        match self.conn.lookup_network_by_name(name) {
            Ok(net) => net
                .xml_desc(0)
                .map(Some)
                .map_err(fail("read XML of network", name)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(fail("look up network", name)(e)),
        }
    }

    fn list_vms(&self) -> Result<Vec<String>, ProviderError> {
        let doms = self
            .conn
            .list_all_domains(virt::sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE)
            .map_err(fail("list domains of", &self.uri))?;
        Ok(doms.iter().filter_map(|d| d.name().ok()).collect())
    }

    fn list_networks(&self) -> Result<Vec<String>, ProviderError> {
        let nets = self
            .conn
            .list_all_networks(virt::sys::VIR_CONNECT_LIST_NETWORKS_ACTIVE)
            .map_err(fail("list networks of", &self.uri))?;
        Ok(nets.iter().filter_map(|n| n.name().ok()).collect())
    }

    fn leased_ipv4(&self, name: &str, mac: &str) -> Result<Option<Ipv4Addr>, ProviderError> {
        let dom = match self.conn.lookup_domain_by_name(name) {
            Ok(dom) => dom,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(fail("look up domain", name)(e)),
        };
        match dhcp_leases::leased_nics(&dom) {
            Ok(nics) => Ok(dhcp_leases::lease_for(&nics, mac)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(fail("read DHCP leases of domain", name)(e)),
        }
    }

    fn snapshot_disks(&self, name: &str, xml: &str, quiesce: bool) -> Result<(), ProviderError> {
        let dom = self
            .conn
            .lookup_domain_by_name(name)
            .map_err(fail("look up domain", name))?;
        let mut flags = virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
            | virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
            | virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT
            | virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC;
        if quiesce {
            flags |= virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE;
        }
        dom.create_snapshot_xml(xml, flags)
            .map(drop)
            .map_err(fail("snapshot domain", name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // libvirt's built-in test driver: a real libvirt API over an in-memory
    // host, no daemon needed.
    const TEST_URI: &str = "test:///default";

    #[test]
    fn xml_name_is_found() {
        assert_eq!(
            xml_name("<domain type='qemu'><name>ab-vm0</name></domain>"),
            "ab-vm0"
        );
        assert_eq!(xml_name("<domain/>"), "(unnamed)");
    }

    #[test]
    fn transient_objects_on_the_test_driver() {
        let lv = Libvirt::connect(TEST_URI).unwrap();
        assert_eq!(lv.vm_state("nope").unwrap(), VmState::Down);
        lv.destroy_vm("nope").unwrap(); // absent: a no-op
        lv.destroy_network("nope").unwrap();
        assert!(!lv.network_active("tnet").unwrap());
        lv.create_network("<network><name>tnet</name><bridge name='tbr0'/></network>")
            .unwrap();
        assert!(lv.network_active("tnet").unwrap());
        assert!(lv.list_networks().unwrap().contains(&"tnet".to_string()));
        lv.create_vm(
            "<domain type='test'><name>tvm</name><memory unit='MiB'>64</memory>\
             <os><type>hvm</type></os></domain>",
        )
        .unwrap();
        assert_eq!(lv.vm_state("tvm").unwrap(), VmState::Running);
        // no NIC, no lease; an absent domain has none either
        assert_eq!(lv.leased_ipv4("tvm", "54:52:c0:a8:c8:02").unwrap(), None);
        assert_eq!(lv.leased_ipv4("nope", "54:52:c0:a8:c8:02").unwrap(), None);
        assert!(
            lv.vm_xml("tvm")
                .unwrap()
                .unwrap()
                .contains("<name>tvm</name>")
        );
        lv.destroy_vm("tvm").unwrap();
        assert_eq!(lv.vm_state("tvm").unwrap(), VmState::Down);
        lv.destroy_network("tnet").unwrap();
        assert!(!lv.network_active("tnet").unwrap());
    }

    #[test]
    fn errors_name_the_object() {
        let lv = Libvirt::connect(TEST_URI).unwrap();
        let err = lv
            .create_vm("<domain type='test'><name>bad</name></domain>")
            .unwrap_err();
        assert_eq!(err.op, "create domain");
        assert_eq!(err.object, "bad");
        let err = Libvirt::connect("qemu+unix:///system?socket=/nonexistent").unwrap_err();
        assert!(err.to_string().contains("is libvirtd running"), "{err}");
    }

    #[test]
    fn lago_state_strings() {
        assert_eq!(VmState::ShuttingDown.as_str(), "begin shut down");
        assert_eq!(VmState::Down.to_string(), "down");
        assert!(VmState::Paused.is_running());
        assert!(!VmState::Down.is_running());
    }
}
