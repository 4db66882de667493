//! A prefix: one environment's state on disk, and the operations that make,
//! read and remove it.
//!
//! - [`layout`]: the skeleton of a new prefix (uuid, SSH keys, metadata,
//!   folders) and atomic writes of the files inside it;
//! - [`state`]: the persisted specs read back and written again;
//! - [`status`]: the status information `lago status` renders.

pub mod layout;
pub mod naming;
pub mod render;
pub mod state;
pub mod status;
