//! Helpers shared by the integration tests of lago-core.

#![allow(dead_code)]

pub mod guest;
pub mod scratch;
