//! Exporting the disks of a `lago_env`'s stopped VMs, with an init file
//! that re-creates them (`lago export`). Thread safety: see `env.rs`.

use std::ffi::c_char;

use lago_core::ops::export::ExportOptions;

use crate::boundary::{FfiError, arg_out, arg_str, arg_str_list, owned_c_string, write_out};
use crate::env::{arg_env, lago_env};
use crate::error::lago_error;
use crate::ffi_boundary;
use crate::status::lago_status;

/// `lago_env_export` flag: flatten template disks (no template needed to
/// use them); without it only the top layer is kept, backed by the
/// template by name.
pub const LAGO_EXPORT_STANDALONE: u32 = 1;
/// `lago_env_export` flag: compress every image with xz (the uncompressed
/// image is deleted).
pub const LAGO_EXPORT_COMPRESS: u32 = 1 << 1;
/// `lago_env_export` flag: write nothing; the result maps each VM to the
/// source images that would be exported.
pub const LAGO_EXPORT_COLLECT_ONLY: u32 = 1 << 2;
/// `lago_env_export` flag: write the init file as JSON instead of YAML.
pub const LAGO_EXPORT_INIT_FILE_JSON: u32 = 1 << 3;
/// `lago_env_export` flag: run `virt-sparsify --in-place` on every copy.
pub const LAGO_EXPORT_SPARSIFY: u32 = 1 << 4;
/// `lago_env_export` flag: export one disk at a time (no threads).
pub const LAGO_EXPORT_SEQUENTIAL: u32 = 1 << 5;

const ALL_FLAGS: u32 = LAGO_EXPORT_STANDALONE
    | LAGO_EXPORT_COMPRESS
    | LAGO_EXPORT_COLLECT_ONLY
    | LAGO_EXPORT_INIT_FILE_JSON
    | LAGO_EXPORT_SPARSIFY
    | LAGO_EXPORT_SEQUENTIAL;

/// Exports the disks of the `n_vm_names` named VMs (all when `n_vm_names`
/// is 0; then `vm_names` may be NULL; VMs marked `skip-export` are left out)
/// into `dst_dir` (created if missing), with the init file
/// `init_file_name` (NULL: `LagoInitFile`) re-creating them. `flags` is a
/// combination of the `LAGO_EXPORT_*` flags. `result_json_out` receives
/// `{"<vm>": ["<exported image>", …], "init-file": "<path>"}` (with
/// `LAGO_EXPORT_COLLECT_ONLY`: `{"<vm>": ["<source image>", …]}`); free it
/// with `lago_string_free`.
///
/// Every VM must be down: otherwise `LAGO_STATUS_INVALID_INPUT` with the
/// message `The following vms must be off:` and the names, one a line, and
/// nothing is written. An unknown VM is `LAGO_STATUS_NOT_FOUND`; an
/// existing file in the way `LAGO_STATUS_ALREADY_EXISTS` (nothing is
/// overwritten). A failed export removes what it wrote.
///
/// Ownership: `*result_json_out`: written only on success; its string is the
/// caller's: free it with `lago_string_free`.
/// Errors: on failure, a new `lago_error` is stored in `*err_out` if `err_out`
/// is not NULL (the caller frees it with `lago_error_free`); on success
/// `*err_out` is untouched. `*err_out` must be NULL on entry, else the call
/// does nothing and returns `LAGO_STATUS_INVALID_ARGUMENT`.
/// Threads: any thread; calls on one `lago_env` may run concurrently.
/// Strings: NUL-terminated UTF-8, in and out; string arguments are borrowed for
/// the call only.
///
/// # Safety
///
/// `env` must be NULL or a live `lago_env`; `vm_names` must be NULL or hold
/// `n_vm_names` NUL-terminated strings; `dst_dir` and `init_file_name` must
/// be NULL or NUL-terminated; `result_json_out` must be NULL or writable;
/// `err_out` must be NULL or point to a readable and writable `lago_error *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lago_env_export(
    env: *const lago_env,
    vm_names: *const *const c_char,
    n_vm_names: usize,
    dst_dir: *const c_char,
    init_file_name: *const c_char,
    flags: u32,
    result_json_out: *mut *mut c_char,
    err_out: *mut *mut lago_error,
) -> lago_status {
    ffi_boundary!(err_out, {
        // SAFETY: forwarded from this function's contract.
        let env = unsafe { arg_env(env) }?;
        // SAFETY: forwarded from this function's contract.
        let names = unsafe { arg_str_list(vm_names, n_vm_names, "vm_names") }?;
        // SAFETY: forwarded from this function's contract.
        let dst_dir = unsafe { arg_str(dst_dir, "dst_dir") }?;
        let init_file_name = if init_file_name.is_null() {
            None
        } else {
            // SAFETY: not NULL, NUL-terminated by this function's contract.
            Some(unsafe { arg_str(init_file_name, "init_file_name") }?)
        };
        let out = arg_out(result_json_out, "result_json_out")?;
        if flags & !ALL_FLAGS != 0 {
            return Err(FfiError::new(
                lago_status::InvalidArgument,
                format!(
                    "unknown lago_env_export flags {:#x} (valid: LAGO_EXPORT_STANDALONE, \
                     LAGO_EXPORT_COMPRESS, LAGO_EXPORT_COLLECT_ONLY, LAGO_EXPORT_INIT_FILE_JSON, \
                     LAGO_EXPORT_SPARSIFY, LAGO_EXPORT_SEQUENTIAL)",
                    flags & !ALL_FLAGS
                ),
            ));
        }
        let mut opts = ExportOptions::new(dst_dir);
        opts.vms = names;
        if let Some(name) = init_file_name {
            opts.init_file_name = Some(name.to_owned());
        }
        opts.standalone = flags & LAGO_EXPORT_STANDALONE != 0;
        opts.compress = flags & LAGO_EXPORT_COMPRESS != 0;
        opts.collect_only = flags & LAGO_EXPORT_COLLECT_ONLY != 0;
        opts.init_file_json = flags & LAGO_EXPORT_INIT_FILE_JSON != 0;
        opts.sparsify = flags & LAGO_EXPORT_SPARSIFY != 0;
        opts.parallel = flags & LAGO_EXPORT_SEQUENTIAL == 0;
        let json = env.with(|e| Ok(e.export(&opts)?.to_string()))?;
        let json = owned_c_string(json)?;
        // SAFETY: `out` is non-NULL and writable by this function's contract.
        unsafe { write_out(out, json) };
        Ok(())
    })
}
