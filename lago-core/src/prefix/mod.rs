//! A prefix: one environment's state on disk — its layout, the names of the
//! libvirt objects it owns, and the persisted specs read back and written
//! again. The operations that make, use and remove a prefix live in
//! [`crate::ops`].
//!
//! - [`layout`]: the skeleton of a new prefix (uuid, SSH keys, metadata,
//!   folders) and atomic writes of the files inside it;
//! - [`state`]: the persisted specs (`virt/env`, `virt/vm-*`, `virt/net-*`)
//!   as typed records, read back and written again byte for byte;
//! - [`naming`]: the libvirt names of a prefix's nets and VMs;
//! - [`render`]: the libvirt XML inputs of those nets and VMs, derived from
//!   the state;
//! - [`staging`]: prefixes in the making, and the repair of what a killed
//!   init left;
//! - [`writer`]: the one-writer-per-prefix lock the changing verbs hold;
//! - [`journal`]: the record of what a changing verb has in flight, and
//!   the repair of what a killed one left.

pub mod journal;
pub mod layout;
pub mod naming;
pub mod record;
pub mod render;
pub mod staging;
pub mod state;
pub mod writer;
