//! Choosing the domain type: `kvm`, `qemu` (software emulation), or `auto`.
//!
//! `auto` must never pick a KVM that does not work. Some hosts have a
//! `/dev/kvm` whose guests stop soon after they start (nested hosts:
//! "failed to set MSR", an emulation failure that pauses the domain); a VM
//! with no disk runs its firmware happily there, so the probe boots what
//! the user is about to run: a throwaway overlay of a VM's root disk, under
//! KVM, watched for several seconds. If it leaves the running state, KVM is
//! broken here and `qemu` is used. The answer is cached in a file keyed by
//! kernel release and libvirt capabilities, so the probe runs once per host.
//!
//! Software emulation is several times slower, so boot timeouts scale with
//! [`DomainType::timeout_factor`].

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{Provider, ProviderError, VmState};

pub use crate::xml::DomainType;

impl DomainType {
    /// How much longer than under KVM things take (boot, SSH waits).
    pub fn timeout_factor(self) -> u32 {
        match self {
            DomainType::Kvm => 1,
            DomainType::Qemu => 4,
        }
    }
}

pub use crate::config::DomainTypeSetting;

/// Whether libvirt's capabilities offer KVM for x86_64 guests.
pub fn capabilities_offer_kvm(caps: &str) -> bool {
    caps.split("<guest>").skip(1).any(|guest| {
        guest.contains("<os_type>hvm</os_type>")
            && guest.contains("<arch name='x86_64'>")
            && guest.contains("<domain type='kvm'")
    })
}

/// Boots a KVM domain (on a throwaway overlay of `disk`, or disk-less when
/// there is none) and reports whether it keeps running for `watch`. The
/// domain and the overlay are removed whatever happens.
pub fn probe_kvm(
    provider: &dyn Provider,
    watch: Duration,
    disk: Option<&Path>,
) -> Result<bool, ProviderError> {
    let name = format!("lago-kvm-probe-{}", std::process::id());
    let dir = std::env::temp_dir().join(&name);
    let mut devices = String::from("<memballoon model='none'/>");
    if let Some(disk) = disk {
        let _ = fs::create_dir_all(&dir);
        let _ = fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        let overlay = dir.join("probe.qcow2");
        let format = crate::disk::info(disk)
            .map(|i| i.format)
            .unwrap_or_else(|_| "raw".into());
        let made = std::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", &format, "-b"])
            .arg(disk)
            .arg(&overlay)
            .status()
            .is_ok_and(|s| s.success());
        if made {
            let _ = fs::set_permissions(
                &overlay,
                std::os::unix::fs::PermissionsExt::from_mode(0o666),
            );
            devices += &format!(
                "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{}'/>\
                 <target dev='vda' bus='virtio'/></disk>",
                overlay.display()
            );
        }
    }
    let xml = format!(
        "<domain type='kvm'><name>{name}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os><features><acpi/><apic/></features>\
         <on_poweroff>destroy</on_poweroff><on_crash>destroy</on_crash><devices>{devices}</devices></domain>"
    );
    let cleanup = || {
        let _ = fs::remove_dir_all(&dir);
    };
    if let Err(e) = provider.create_vm(&xml) {
        info!(error = %e, "KVM probe domain did not start: KVM is not usable");
        cleanup();
        return Ok(false);
    }
    let started = Instant::now();
    let mut ok = true;
    while started.elapsed() < watch {
        match provider.vm_state(&name) {
            Ok(VmState::Running) => thread::sleep(Duration::from_millis(200)),
            Ok(state) => {
                info!(%state, "KVM probe domain left the running state: KVM is not usable");
                ok = false;
                break;
            }
            Err(e) => {
                let _ = provider.destroy_vm(&name);
                cleanup();
                return Err(e);
            }
        }
    }
    let destroyed = provider.destroy_vm(&name);
    cleanup();
    destroyed?;
    Ok(ok)
}

/// The kernel release, part of the cache key (a new kernel may fix KVM).
fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A short stable fingerprint of a text (FNV-1a, 64 bit).
fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Resolves `setting` to a domain type. For `auto`, reads the cached answer
/// from `cache` when its key still matches, else probes and writes it.
pub fn resolve(
    setting: DomainTypeSetting,
    provider: &dyn Provider,
    capabilities: &str,
    cache: &Path,
    probe_disk: Option<&Path>,
) -> Result<DomainType, ProviderError> {
    let fixed = match setting {
        DomainTypeSetting::Kvm => Some(DomainType::Kvm),
        DomainTypeSetting::Qemu => Some(DomainType::Qemu),
        DomainTypeSetting::Auto => None,
    };
    let Some(t) = fixed else {
        let key = format!("{} {}", kernel_release(), fingerprint(capabilities));
        if let Ok(text) = fs::read_to_string(cache)
            && let Some((k, v)) = text.trim().rsplit_once(' ')
            && k == key
        {
            let t = if v == "kvm" {
                DomainType::Kvm
            } else {
                DomainType::Qemu
            };
            info!(domain_type = t.as_str(), cache = %cache.display(), "domain type from the probe cache");
            return Ok(t);
        }
        let kvm = capabilities_offer_kvm(capabilities)
            && probe_kvm(provider, Duration::from_secs(8), probe_disk)?;
        let t = if kvm {
            DomainType::Kvm
        } else {
            DomainType::Qemu
        };
        if t == DomainType::Qemu {
            warn!(
                "KVM does not run guests on this host: using software emulation (domain type qemu), boot timeouts x{}",
                t.timeout_factor()
            );
        } else {
            info!("KVM works on this host: domain type kvm");
        }
        if let Some(dir) = cache.parent() {
            let _ = fs::create_dir_all(dir);
        }
        if let Err(e) = fs::write(cache, format!("{key} {}\n", t.as_str())) {
            warn!(error = %e, cache = %cache.display(), "cannot cache the KVM probe result");
        }
        return Ok(t);
    };
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::libvirt::Libvirt;

    #[test]
    fn kvm_in_capabilities() {
        let with = "<capabilities><guest><os_type>hvm</os_type><arch name='x86_64'>\
            <domain type='qemu'/><domain type='kvm'/></arch></guest></capabilities>";
        let without = "<capabilities><guest><os_type>hvm</os_type><arch name='x86_64'>\
            <domain type='qemu'/></arch></guest></capabilities>";
        assert!(capabilities_offer_kvm(with));
        assert!(!capabilities_offer_kvm(without));
    }

    #[test]
    fn fixed_setting_needs_no_probe_and_cache_is_used() {
        let lv = Libvirt::connect("test:///default").unwrap();
        let dir = std::env::temp_dir().join(format!("lago-dt-{}", std::process::id()));
        let cache = dir.join("kvm-probe");
        let fixed = resolve(DomainTypeSetting::Kvm, &lv, "", &cache, None).unwrap();
        assert_eq!(fixed, DomainType::Kvm);
        assert!(!cache.exists());
        // no KVM in these capabilities: qemu, and the answer is cached
        let caps = "<capabilities/>";
        assert_eq!(
            resolve(DomainTypeSetting::Auto, &lv, caps, &cache, None).unwrap(),
            DomainType::Qemu
        );
        let cached = fs::read_to_string(&cache).unwrap();
        assert!(cached.trim().ends_with(" qemu"), "{cached}");
        // a cached "kvm" under the same key is believed without probing
        fs::write(&cache, cached.replace(" qemu", " kvm")).unwrap();
        assert_eq!(
            resolve(DomainTypeSetting::Auto, &lv, caps, &cache, None).unwrap(),
            DomainType::Kvm
        );
        // a different host (capabilities) probes again
        assert_eq!(
            resolve(
                DomainTypeSetting::Auto,
                &lv,
                "<capabilities> </capabilities>",
                &cache,
                None
            )
            .unwrap(),
            DomainType::Qemu
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
