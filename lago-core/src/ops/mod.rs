//! The operations on a prefix, one module each; [`crate::env::Env`] is the
//! façade that runs them on an open prefix. The on-disk state they work on
//! is [`crate::prefix`].
//!
//! - [`init`]: from a LagoInitFile to an initialized prefix, or nothing;
//! - [`run`]: start and stop nets and VMs through a provider;
//! - [`destroy`]: stop, release the leases, remove the prefix;
//! - [`snapshot`]: env-wide snapshots and reverts of the VMs' disks;
//! - [`export`]: stopped VMs' disks and an init file re-creating them;
//! - [`collect`]: guest paths copied out to the host (artifacts);
//! - [`deploy`]: each VM's deploy scripts run in the guest;
//! - [`inventory`]: the Ansible inventory of the VMs;
//! - [`status`]: the status information `lago status` renders;
//! - [`graph`]: the environment as a Graphviz DOT picture;
//! - [`orphans`]: libvirt objects of deleted prefixes, found and stopped;
//! - [`parallel`]: one thread per VM, joined, first error kept;
//! - [`memory`]: memory snapshots' images, pause/resume, restore;
//! - [`placement`]: which libvirt host of a pool a new environment runs on.

pub mod collect;
pub mod deploy;
pub mod destroy;
pub mod export;
pub mod graph;
pub mod init;
pub mod inventory;
pub mod memory;
pub mod orphans;
pub mod parallel;
pub mod placement;
pub mod run;
pub mod snapshot;
pub mod status;
