//! Build script of lago-ffi: gives the shared library the soname
//! `liblago.so.<MAJOR>`, so that programs linked against one major version
//! refuse to load an incompatible one.

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
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblago.so.{major}");
    }
}
