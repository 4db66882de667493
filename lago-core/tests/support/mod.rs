//! Helpers shared by the integration tests of lago-core.

#![allow(dead_code)]

pub mod env_sh;
pub mod guest;
pub mod scratch;
