//! A prefix: one environment's state on disk, and the operations that make,
//! read and remove it.
//!
//! - [`init`]: from a LagoInitFile to an initialized prefix, or nothing;
//! - [`destroy`]: stop, release the leases, remove the prefix;
//! - [`export`]: stopped VMs' disks and an init file re-creating them;
//! - [`naming`], [`render`]: libvirt names and XML inputs of nets and VMs;
//! - [`run`]: start and stop nets and VMs through a provider;
//! - [`layout`]: the skeleton of a new prefix (uuid, SSH keys, metadata,
//!   folders) and atomic writes of the files inside it;
//! - [`state`]: the persisted specs read back and written again;
//! - [`status`]: the status information `lago status` renders;
//! - [`snapshot`]: env-wide snapshots and reverts of the VMs' disks.

pub mod collect;
pub mod deploy;
pub mod destroy;
pub mod export;
pub mod init;
pub mod inventory;
pub mod layout;
pub mod naming;
pub mod orphans;
pub mod render;
pub mod run;
pub mod snapshot;
pub mod state;
pub mod status;
