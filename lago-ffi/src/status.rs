//! `lago_status`: the return code of every fallible C function.
//!
//! Values are fixed and grouped by hundreds; a value, once published, keeps
//! its meaning forever, and a retired value stays reserved (listed in a
//! comment) rather than reused. The `From<ErrorKind>` impl below is the one
//! place where core error kinds become C status codes.

use lago_core::ErrorKind;

/// The result of a fallible lago call. `LAGO_STATUS_OK` (0) is success;
/// details of a failure are in the `lago_error` written to `err_out`.
///
/// Groups: 1xx bad arguments and panics, 2xx configuration and lookup,
/// 3xx libvirt, 4xx disks, 5xx SSH and timeouts, 6xx host I/O, 9xx internal.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum lago_status {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 100,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 101,
    /// An argument had an invalid value.
    InvalidArgument = 102,
    /// The `lago_env` was destroyed by `lago_env_destroy`: only
    /// `lago_env_free` (and `lago_env_clone`) may still be called on it.
    Destroyed = 103,
    /// lago panicked (a bug); the call had no effect that can be relied on.
    Panic = 199,
    /// A LagoInitFile, spec or configuration value is malformed or inconsistent.
    Config = 200,
    /// A named workdir, prefix, VM, network, template or file does not exist.
    NotFound = 201,
    /// A thing to be created already exists.
    AlreadyExists = 202,
    /// A libvirt call failed.
    Libvirt = 300,
    /// A disk image operation failed.
    Disk = 400,
    /// An SSH connection, command or transfer failed.
    Ssh = 500,
    /// An operation did not finish within its time limit.
    Timeout = 501,
    /// An operating-system I/O operation failed.
    Io = 600,
    /// The operation was interrupted (`lago_cancel`) and undid what it had
    /// done.
    Cancelled = 700,
    /// An internal error (a bug in lago).
    Internal = 900,
}

impl From<ErrorKind> for lago_status {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidInput => lago_status::InvalidArgument,
            ErrorKind::Config => lago_status::Config,
            ErrorKind::NotFound => lago_status::NotFound,
            ErrorKind::AlreadyExists => lago_status::AlreadyExists,
            ErrorKind::Io => lago_status::Io,
            ErrorKind::Libvirt => lago_status::Libvirt,
            ErrorKind::Disk => lago_status::Disk,
            ErrorKind::Ssh => lago_status::Ssh,
            ErrorKind::Timeout => lago_status::Timeout,
            ErrorKind::Internal => lago_status::Internal,
            ErrorKind::Cancelled => lago_status::Cancelled,
            // ErrorKind is #[non_exhaustive]: a kind added to the core before
            // it gets its own code here is reported as internal.
            _ => lago_status::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn values_are_fixed() {
        // These numbers are ABI: changing one breaks compiled C programs.
        let expected = [
            (lago_status::Ok, 0),
            (lago_status::NullArgument, 100),
            (lago_status::InvalidUtf8, 101),
            (lago_status::InvalidArgument, 102),
            (lago_status::Destroyed, 103),
            (lago_status::Panic, 199),
            (lago_status::Config, 200),
            (lago_status::NotFound, 201),
            (lago_status::AlreadyExists, 202),
            (lago_status::Libvirt, 300),
            (lago_status::Disk, 400),
            (lago_status::Ssh, 500),
            (lago_status::Timeout, 501),
            (lago_status::Io, 600),
            (lago_status::Cancelled, 700),
            (lago_status::Internal, 900),
        ];
        for (status, value) in expected {
            assert_eq!(status as u32, value, "{status:?}");
        }
    }

    #[test]
    fn every_core_kind_has_its_own_code() {
        let mut seen = HashSet::new();
        for &kind in ErrorKind::ALL {
            let status = lago_status::from(kind);
            assert_ne!(status, lago_status::Ok, "{kind:?}");
            assert!(seen.insert(status), "{kind:?} shares {status:?}");
            // Only ErrorKind::Internal may map to the catch-all code.
            if kind != ErrorKind::Internal {
                assert_ne!(status, lago_status::Internal, "{kind:?} is unmapped");
            }
        }
    }
}
