//! The lago engine: declarative, throwaway virtual-machine environments on
//! libvirt/qemu, compatible with Lago's files and on-disk state.
//!
//! This crate is pure Rust. It exports no C symbols and knows nothing about
//! Python: the C ABI (`lago-ffi`) and the Python module (`lago._native`) are
//! thin adapters over it that convert types, map [`ErrorKind`] to their own
//! error codes or exception classes, and manage ownership.
//!
//! # Concepts
//!
//! - **workdir**: a directory (by default `.lago/` next to the init file)
//!   holding one or more prefixes and a `current` link naming the default one.
//! - **prefix**: the on-disk state of one environment inside a workdir: its
//!   spec, disk images and overlays, SSH keys, leases and logs, in Lago's
//!   layout so that existing workdirs load unchanged.
//! - **env**: the set of VMs and networks a prefix describes, and the
//!   operations on them as a whole (start, stop, snapshot, revert, export,
//!   collect, Ansible inventory, status).
//! - **vm**: one libvirt domain with its disks, NICs and the SSH access used to
//!   run commands and copy files in the guest.
//! - **network**: one libvirt network (NAT or bridge) with a leased subnet,
//!   DHCP and DNS names for the VMs attached to it.
//!
//! # Pipeline
//!
//! Data flows through one module boundary per stage, each with its own error
//! type that converts into the public [`Error`]:
//!
//! ```text
//! LagoInitFile (YAML/JSON, anchors, merge keys, prototypes)
//!   -> spec:      parse and validate once into a typed EnvSpec
//!   -> plan:      subnet leases, IPs, MACs, DNS names, disk plan (pure functions)
//!   -> prefix:    on-disk state (typed records of the specs, layout, names), template store
//!   -> provider:  libvirt: transient networks and domains
//!   -> bootstrap: make each guest reachable (nocloud seed, virt-sysprep or none)
//!   -> guest:     SSH: exec, copy, interactive; service probes
//!   -> ops:       init, start/stop, snapshot/revert, export, collect, deploy, inventory,
//!                 status, destroy (one module each; `env::Env` is their façade)
//! ```
//!
//! # Conventions
//!
//! The API is synchronous and thread-safe; parallel work over many VMs uses
//! threads inside the core. Logging goes through `tracing` only: the core
//! never installs a subscriber and never prints.

pub(crate) mod bootstrap;
pub mod cancel;
pub(crate) mod config;
pub mod disk;
pub(crate) mod env;
mod error;
pub mod fslock;
pub mod host;
pub mod lease;
pub mod ops;
pub mod owner;
pub(crate) mod paths;
pub(crate) mod plan;
pub mod prefix;
pub mod progress;
pub mod provider;
pub(crate) mod pyjson;
pub(crate) mod service;
pub(crate) mod spec;
pub(crate) mod ssh;
pub mod template;
pub(crate) mod workdir;
pub mod xml;

pub use error::{Error, ErrorKind, Result};

// The curated public API. Environments, their options and what their
// operations return are re-exported here; the modules behind them are
// `pub(crate)`. Lower-level building blocks stay public as modules, for the
// Lago-compatible Python package and for callers that drive a provider
// themselves: `ops` (one module per operation), `prefix` (the persisted
// model), `provider` (libvirt and the `Provider` trait), `disk`
// (qemu-img), `template` (repositories and the store), `lease` (subnet
// leases), `fslock` (Lago's lock files) and `xml` (libvirt XML).

pub use bootstrap::{Choice as BootstrapChoice, learned, sysprep};
pub use config::{Config, ConfigLoader, ROOT_SECTION, parse_ini};
pub use env::{Destroyed, Env, EnvHandle, VmService, defaults, view};
pub use ops::{export::ExportOptions, init::InitOptions};
pub use paths::Paths;
pub use plan::ipv4_to_mac;
pub use service::{ServiceManager, ServiceState};
pub use spec::{BuildArgs, BuildOption, BuildStep};
pub use ssh::{
    ExecResult, HostKey, JumpHost, JumpTarget, KnownHosts, PtySize, SshClient, SshError, SshTarget,
};
pub use workdir::Workdir;

/// The version of this crate, which is the version of the whole project
/// (the C library, the header macros and the Python package all report it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use super::VERSION;

    #[test]
    fn version_is_semver_triplet() {
        let parts: Vec<&str> = VERSION.split('.').collect();
        assert_eq!(parts.len(), 3, "{VERSION}");
        for part in parts {
            assert!(part.parse::<u64>().is_ok(), "{VERSION}");
        }
    }
}
