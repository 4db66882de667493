//! The DHCP leases of a domain's NICs, read through libvirt's C API
//! (`virDomainInterfaceAddresses` with the lease source). The `virt`
//! crate's own wrapper (0.5) never frees the records libvirt hands back
//! (56 bytes per NIC and call, found by the C tests under LeakSanitizer),
//! and `wait_for_ssh` asks before every probe, so this small piece of FFI
//! frees them as libvirt's documentation says.

use std::ffi::CStr;
use std::net::Ipv4Addr;
use std::os::raw::c_char;

use virt::domain::Domain;
use virt::sys;

/// One NIC of a domain and the IPv4 addresses leased to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeasedNic {
    /// Its MAC address, as libvirt spells it.
    pub mac: Option<String>,
    /// The IPv4 addresses leased to it.
    pub ipv4: Vec<Ipv4Addr>,
}

/// The text of a C string libvirt owns (`None` when null or not UTF-8).
///
/// # Safety
/// `p` is null or points to a NUL-terminated string alive for this call.
unsafe fn text(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated and alive, as the caller promises.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().ok().map(str::to_owned)
}

/// The leases of `dom`'s NICs, from the DHCP server of their networks.
pub(crate) fn leased_nics(dom: &Domain) -> Result<Vec<LeasedNic>, virt::error::Error> {
    let mut records: *mut sys::virDomainInterfacePtr = std::ptr::null_mut();
    // SAFETY: `dom` holds a live domain reference for the whole call;
    // libvirt allocates the array and its records, which are freed below.
    let n = unsafe {
        sys::virDomainInterfaceAddresses(
            dom.as_ptr(),
            &mut records,
            sys::VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
            0,
        )
    };
    if n < 0 {
        return Err(virt::error::Error::last_error());
    }
    let count = usize::try_from(n).unwrap_or(0);
    let mut nics = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: libvirt returned `n` valid record pointers in `records`.
        let record = unsafe { *records.add(i) };
        if record.is_null() {
            continue;
        }
        // SAFETY: `record` is a valid virDomainInterface until freed below;
        // its `addrs` array holds `naddrs` entries.
        let nic = unsafe {
            let r = &*record;
            let mut ipv4 = Vec::new();
            for k in 0..r.naddrs as usize {
                let a = &*r.addrs.add(k);
                if a.type_ == sys::VIR_IP_ADDR_TYPE_IPV4 as i32
                    && let Some(ip) = text(a.addr).and_then(|t| t.parse().ok())
                {
                    ipv4.push(ip);
                }
            }
            LeasedNic {
                mac: text(r.hwaddr),
                ipv4,
            }
        };
        nics.push(nic);
        // SAFETY: each record is freed once, with libvirt's own function.
        unsafe { sys::virDomainInterfaceFree(record) };
    }
    if !records.is_null() {
        // SAFETY: the array itself was allocated by libvirt with malloc.
        unsafe { libc::free(records.cast()) };
    }
    Ok(nics)
}

/// The first IPv4 address leased to the NIC with MAC address `mac`.
pub(crate) fn lease_for(nics: &[LeasedNic], mac: &str) -> Option<Ipv4Addr> {
    nics.iter()
        .filter(|n| {
            n.mac
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(mac))
        })
        .find_map(|n| n.ipv4.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_of_the_nic_with_that_mac_is_chosen() {
        let nics = [
            LeasedNic {
                mac: Some("54:52:c0:a8:c8:02".into()),
                ipv4: vec![Ipv4Addr::new(192, 168, 200, 2)],
            },
            LeasedNic {
                mac: None,
                ipv4: vec![Ipv4Addr::new(192, 168, 9, 9)],
            },
            LeasedNic {
                mac: Some("54:52:C0:A8:C9:03".into()),
                ipv4: vec![Ipv4Addr::new(192, 168, 201, 3)],
            },
        ];
        assert_eq!(
            lease_for(&nics, "54:52:c0:a8:c9:03"),
            Some(Ipv4Addr::new(192, 168, 201, 3))
        );
        assert_eq!(
            lease_for(&nics, "54:52:C0:A8:C8:02"),
            Some(Ipv4Addr::new(192, 168, 200, 2))
        );
        assert_eq!(lease_for(&nics, "54:52:00:00:00:01"), None);
    }

    #[test]
    fn null_strings_are_none() {
        // SAFETY: null is allowed.
        assert_eq!(unsafe { text(std::ptr::null()) }, None);
        let c = c"192.168.200.2";
        // SAFETY: a live NUL-terminated literal.
        let got = unsafe { text(c.as_ptr()) };
        assert_eq!(got.as_deref(), Some("192.168.200.2"));
    }
}
