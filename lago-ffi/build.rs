//! Build script of lago-ffi: gives the shared library its soname, so that a
//! program linked against one ABI refuses to load an incompatible library.
//!
//! The soname carries the part of the version that changes with the ABI:
//! `liblago.so.<MAJOR>` from 1.0 on, and `liblago.so.0.<MINOR>` before it,
//! because until 1.0 a minor release may break the ABI (as Cargo treats
//! 0.1 -> 0.2). `bindings/c/install.sh` names the links the same way.

#![allow(
    clippy::print_stdout,
    reason = "cargo reads build-script instructions from stdout"
)]

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // The soname is an ELF concept; other platforms name their libraries differently.
    if target_os == "linux" || target_os.ends_with("bsd") {
        let major = env::var("CARGO_PKG_VERSION_MAJOR")
            .expect("cargo sets CARGO_PKG_VERSION_MAJOR for build scripts");
        let minor = env::var("CARGO_PKG_VERSION_MINOR")
            .expect("cargo sets CARGO_PKG_VERSION_MINOR for build scripts");
        let abi = if major == "0" {
            format!("0.{minor}")
        } else {
            major
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblago.so.{abi}");
    }
}
