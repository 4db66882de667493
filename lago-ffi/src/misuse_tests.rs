//! Misuse of the C API, through the exported functions as C calls them:
//! NULL arguments, invalid UTF-8, unknown VM names, calls after destroy.
//! No guests: the env is a copy of the upstream-workdir fixture of
//! lago-core, with a libvirt URL that cannot connect.

#![allow(clippy::unwrap_used, reason = "test code")]

use std::ffi::{CStr, CString, c_char};
use std::path::{Path, PathBuf};
use std::ptr;

use crate::*;

/// Runs `f` with an error out-parameter; returns its status and message.
fn call(f: impl FnOnce(*mut *mut lago_error) -> lago_status) -> (lago_status, String) {
    let mut err: *mut lago_error = ptr::null_mut();
    let status = f(&mut err);
    if err.is_null() {
        return (status, String::new());
    }
    // SAFETY: `err` was written by lago and is freed once here.
    unsafe {
        assert_eq!(lago_error_code(err), status);
        let msg = CStr::from_ptr(lago_error_message(err))
            .to_string_lossy()
            .into_owned();
        lago_error_free(err);
        (status, msg)
    }
}

/// Takes a caller-owned string from lago.
fn take_string(s: *mut c_char) -> String {
    assert!(!s.is_null());
    // SAFETY: `s` is a live caller-owned string, freed once here.
    unsafe {
        let owned = CStr::from_ptr(s).to_string_lossy().into_owned();
        lago_string_free(s);
        owned
    }
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        let ty = entry.file_type().unwrap();
        if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &to).unwrap();
        } else if ty.is_dir() {
            copy_tree(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// A scratch copy of the fixture workdir and a config that keeps leases in
/// the scratch directory and cannot reach a libvirt daemon.
fn scratch_env() -> (tempfile::TempDir, PathBuf, *mut lago_config) {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().join("workdir");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lago-core/tests/fixtures/upstream-workdir");
    copy_tree(&fixture, &workdir);
    let config = lago_config_new();
    let leases = CString::new(dir.path().join("leases").to_str().unwrap()).unwrap();
    // SAFETY: `config` is live; the strings are C strings.
    unsafe {
        assert_eq!(
            lago_config_set(
                config,
                c"lago".as_ptr(),
                c"lease_dir".as_ptr(),
                leases.as_ptr(),
                ptr::null_mut()
            ),
            lago_status::Ok
        );
        assert_eq!(
            lago_config_set(
                config,
                c"lago".as_ptr(),
                c"libvirt_url".as_ptr(),
                c"qemu+unix:///system?socket=/nonexistent/lago-ffi-test".as_ptr(),
                ptr::null_mut()
            ),
            lago_status::Ok
        );
    }
    (dir, workdir, config)
}

fn load(config: *const lago_config, workdir: &Path) -> *const lago_env {
    let workdir = CString::new(workdir.to_str().unwrap()).unwrap();
    let mut env: *const lago_env = ptr::null();
    // SAFETY: live config, C strings, writable out-parameter.
    let (status, msg) =
        call(|err| unsafe { lago_env_load(config, workdir.as_ptr(), ptr::null(), &mut env, err) });
    assert_eq!(status, lago_status::Ok, "{msg}");
    env
}

#[test]
fn config_set_get_and_misuse() {
    let config = lago_config_new();
    let mut value: *mut c_char = ptr::null_mut();
    // SAFETY: every pointer is live, NULL or a C string, as each case says.
    unsafe {
        assert_eq!(
            lago_config_set(
                config,
                c"init".as_ptr(),
                c"template_store".as_ptr(),
                c"/s".as_ptr(),
                ptr::null_mut()
            ),
            lago_status::Ok
        );
        assert_eq!(
            call(|e| lago_config_get(
                config,
                c"init".as_ptr(),
                c"template_store".as_ptr(),
                &mut value,
                e
            ))
            .0,
            lago_status::Ok
        );
        assert_eq!(take_string(value), "/s");
        let (status, msg) =
            call(|e| lago_config_get(config, ptr::null(), c"no_such_key".as_ptr(), &mut value, e));
        assert_eq!(status, lago_status::NotFound);
        assert!(msg.contains("no_such_key"), "{msg}");
        let (status, msg) = call(|e| {
            lago_config_get(
                config,
                ptr::null(),
                c"lease_dir".as_ptr(),
                ptr::null_mut(),
                e,
            )
        });
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `value_out` must not be NULL"
            )
        );
        let (status, _) = call(|e| {
            lago_config_set(
                config,
                c"lago".as_ptr(),
                c"k\xff".as_ptr(),
                c"v".as_ptr(),
                e,
            )
        });
        assert_eq!(status, lago_status::InvalidUtf8);
        let (status, msg) = call(|e| {
            lago_config_set(
                ptr::null_mut(),
                c"a".as_ptr(),
                c"b".as_ptr(),
                c"c".as_ptr(),
                e,
            )
        });
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `config` must not be NULL"
            )
        );
        lago_config_free(config);
        lago_config_free(ptr::null_mut());
    }
}

#[test]
fn null_handles_everywhere() {
    let mut list: *mut lago_string_list = ptr::null_mut();
    let mut s: *mut c_char = ptr::null_mut();
    let mut result: *mut lago_exec_result = ptr::null_mut();
    // SAFETY: NULL handles are allowed arguments; out-pointers are writable.
    unsafe {
        for (status, msg) in [
            call(|e| lago_env_vm_names(ptr::null(), &mut list, e)),
            call(|e| lago_env_start(ptr::null(), ptr::null(), 0, ptr::null_mut(), e)),
            call(|e| lago_env_stop(ptr::null(), ptr::null(), 0, e)),
            call(|e| lago_env_status_json(ptr::null(), &mut s, e)),
            call(|e| lago_env_destroy(ptr::null(), e)),
            call(|e| {
                lago_env_ssh(
                    ptr::null(),
                    c"vm0".as_ptr(),
                    ptr::null(),
                    0,
                    1,
                    &mut result,
                    e,
                )
            }),
        ] {
            assert_eq!(
                (status, msg.as_str()),
                (lago_status::NullArgument, "argument `env` must not be NULL")
            );
        }
        assert!(
            list.is_null() && s.is_null() && result.is_null(),
            "out-params untouched"
        );
        assert_eq!(lago_string_list_len(ptr::null()), 0);
        assert!(lago_string_list_get(ptr::null(), 0).is_null());
        assert_eq!(lago_exec_result_code(ptr::null()), -1);
        let mut len = 7;
        assert!(lago_exec_result_stdout(ptr::null(), &mut len).is_null());
        assert_eq!(len, 0);
        lago_exec_result_free(ptr::null_mut());
        lago_string_list_free(ptr::null_mut());
        lago_env_free(ptr::null());
        assert!(lago_env_clone(ptr::null()).is_null());
        lago_init_options_free(ptr::null_mut());
    }
}

#[test]
fn env_on_fixture_then_destroyed() {
    let (_dir, workdir, config) = scratch_env();
    let env = load(config, &workdir);
    let mut list: *mut lago_string_list = ptr::null_mut();
    let mut s: *mut c_char = ptr::null_mut();
    // SAFETY: `env` and `config` are live until freed at the end; the
    // strings are C strings; out-parameters are writable.
    unsafe {
        assert_eq!(
            call(|e| lago_env_vm_names(env, &mut list, e)).0,
            lago_status::Ok
        );
        assert_eq!(lago_string_list_len(list), 2);
        assert_eq!(
            CStr::from_ptr(lago_string_list_get(list, 0)).to_str(),
            Ok("vm0")
        );
        assert_eq!(
            CStr::from_ptr(lago_string_list_get(list, 1)).to_str(),
            Ok("vm1")
        );
        assert!(lago_string_list_get(list, 2).is_null());
        lago_string_list_free(list);
        assert_eq!(
            call(|e| lago_env_net_names(env, &mut list, e)).0,
            lago_status::Ok
        );
        assert_eq!(lago_string_list_len(list), 2);
        lago_string_list_free(list);
        list = ptr::null_mut();

        assert_eq!(
            call(|e| lago_env_vm_ip(env, c"vm0".as_ptr(), &mut s, e)).0,
            lago_status::Ok
        );
        assert_eq!(take_string(s), "192.168.201.2");
        s = ptr::null_mut();

        // Unknown VM names.
        let (status, msg) = call(|e| lago_env_vm_ip(env, c"nope".as_ptr(), &mut s, e));
        assert_eq!(status, lago_status::NotFound);
        assert!(msg.contains("nope"), "{msg}");
        let (status, msg) = call(|e| lago_env_vm_state(env, c"nope".as_ptr(), &mut s, e));
        assert_eq!(status, lago_status::NotFound, "{msg}");
        let names = [c"vm0".as_ptr(), c"nope".as_ptr()];
        let (status, msg) = call(|e| lago_env_start(env, names.as_ptr(), 2, ptr::null_mut(), e));
        assert_eq!(status, lago_status::NotFound, "{msg}");
        assert!(s.is_null(), "out-param untouched on failure");

        // NULL and invalid UTF-8 inside lists and strings.
        let (status, msg) = call(|e| lago_env_start(env, ptr::null(), 2, ptr::null_mut(), e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `vm_names` must not be NULL"
            )
        );
        let names = [c"vm0".as_ptr(), ptr::null()];
        let (status, msg) = call(|e| lago_env_stop(env, names.as_ptr(), 2, e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `vm_names[1]` must not be NULL"
            )
        );
        let (status, _) = call(|e| lago_env_vm_ip(env, c"vm\xff".as_ptr(), &mut s, e));
        assert_eq!(status, lago_status::InvalidUtf8);
        let mut result: *mut lago_exec_result = ptr::null_mut();
        let argv = [c"true".as_ptr()];
        let (status, _) =
            call(|e| lago_env_ssh(env, c"vm0".as_ptr(), argv.as_ptr(), 1, 0, &mut result, e));
        assert_eq!(status, lago_status::InvalidArgument);
        let (status, _) =
            call(|e| lago_env_ssh(env, c"vm0".as_ptr(), argv.as_ptr(), 0, 10, &mut result, e));
        assert_eq!(status, lago_status::InvalidArgument);
        assert!(result.is_null());

        // A second reference sees the destroy too.
        let other = lago_env_clone(env);
        let _ = call(|e| lago_env_destroy(env, e));
        assert!(
            !workdir.join("default").exists(),
            "destroy removed the prefix"
        );
        for (status, msg) in [
            call(|e| lago_env_vm_names(other, &mut list, e)),
            call(|e| lago_env_vm_ip(env, c"vm0".as_ptr(), &mut s, e)),
            call(|e| lago_env_status_json(env, &mut s, e)),
            call(|e| lago_env_start(env, ptr::null(), 0, ptr::null_mut(), e)),
            call(|e| lago_env_ssh(other, c"vm0".as_ptr(), argv.as_ptr(), 1, 10, &mut result, e)),
        ] {
            assert_eq!(status, lago_status::Destroyed, "{msg}");
            assert!(msg.contains("destroyed"), "{msg}");
        }
        let (status, msg) = call(|e| lago_env_destroy(other, e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::Destroyed,
                "this lago_env was already destroyed"
            )
        );
        assert!(list.is_null() && s.is_null() && result.is_null());
        lago_env_free(other);
        lago_env_free(env);
        lago_config_free(config);
    }
}

#[test]
fn init_errors_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = CString::new(dir.path().join("w").to_str().unwrap()).unwrap();
    let mut options: *mut lago_init_options = ptr::null_mut();
    let mut env: *const lago_env = ptr::null();
    let config = lago_config_new();
    // SAFETY: live objects, C strings, writable out-parameters.
    unsafe {
        assert_eq!(
            call(|e| lago_init_options_new(workdir.as_ptr(), &mut options, e)).0,
            lago_status::Ok
        );
        assert_eq!(
            call(|e| lago_init_options_set_prefix_name(options, c"p\xff".as_ptr(), e)).0,
            lago_status::InvalidUtf8
        );
        let (status, msg) = call(|e| {
            lago_env_init_from_string(options, config, c"domains: [".as_ptr(), &mut env, e)
        });
        assert_eq!(status, lago_status::Config, "{msg}");
        let (status, msg) = call(|e| {
            lago_env_init(
                options,
                config,
                c"/nonexistent/LagoInitFile".as_ptr(),
                &mut env,
                e,
            )
        });
        assert_ne!(status, lago_status::Ok, "{msg}");
        let (status, msg) =
            call(|e| lago_env_init(ptr::null(), config, c"x".as_ptr(), &mut env, e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `options` must not be NULL"
            )
        );
        assert!(env.is_null());
        lago_init_options_free(options);
        lago_config_free(config);
    }
}

#[test]
fn log_level_is_checked() {
    // SAFETY: a NULL callback and NULL user data are allowed.
    let (status, _) = call(|e| unsafe { lago_set_log_callback(9, None, ptr::null_mut(), None, e) });
    assert_eq!(status, lago_status::InvalidArgument);
}

#[test]
fn collect_deploy_inventory_misuse_and_inventory_text() {
    let (_dir, workdir, config) = scratch_env();
    let env = load(config, &workdir);
    let mut s: *mut c_char = ptr::null_mut();
    // SAFETY: `env` and `config` are live until freed at the end; the
    // strings are C strings; out-parameters are writable.
    unsafe {
        for (status, msg) in [
            call(|e| lago_env_collect(ptr::null(), c"/o".as_ptr(), true, ptr::null(), 0, e)),
            call(|e| lago_env_deploy(ptr::null(), e)),
            call(|e| lago_env_ansible_inventory(ptr::null(), ptr::null(), 0, &mut s, e)),
        ] {
            assert_eq!(
                (status, msg.as_str()),
                (lago_status::NullArgument, "argument `env` must not be NULL")
            );
        }
        let (status, msg) = call(|e| lago_env_collect(env, ptr::null(), true, ptr::null(), 0, e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `output_dir` must not be NULL"
            )
        );
        let out_dir = CString::new(workdir.join("out").to_str().unwrap()).unwrap();
        let names = [c"nope".as_ptr()];
        let (status, msg) =
            call(|e| lago_env_collect(env, out_dir.as_ptr(), false, names.as_ptr(), 1, e));
        assert_eq!(status, lago_status::NotFound, "{msg}");
        assert!(msg.contains("nope"), "{msg}");
        assert!(!workdir.join("out").exists());
        let (status, _) =
            call(|e| lago_env_collect(env, c"/o\xff".as_ptr(), true, ptr::null(), 0, e));
        assert_eq!(status, lago_status::InvalidUtf8);

        let (status, msg) = call(|e| lago_env_ansible_inventory(env, ptr::null(), 1, &mut s, e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `keys` must not be NULL"
            )
        );
        let (status, msg) =
            call(|e| lago_env_ansible_inventory(env, ptr::null(), 0, ptr::null_mut(), e));
        assert_eq!(
            (status, msg.as_str()),
            (lago_status::NullArgument, "argument `out` must not be NULL")
        );
        assert!(s.is_null(), "out-param untouched on failure");

        // the inventory of the fixture (no libvirt needed)
        let key = workdir.join("default/id_rsa");
        let entry = |vm: &str, ip: &str| {
            format!(
                "{vm} ansible_host={ip} ansible_ssh_private_key_file={}",
                key.display()
            )
        };
        let (e0, e1) = (entry("vm0", "192.168.201.2"), entry("vm1", "192.168.201.3"));
        assert_eq!(
            call(|e| lago_env_ansible_inventory(env, ptr::null(), 0, &mut s, e)).0,
            lago_status::Ok
        );
        assert_eq!(
            take_string(s),
            format!(
                "[vm-type=default]\n{e0}\n{e1}\n[groups=web]\n{e0}\n\
                 [vm-provider=local-libvirt]\n{e0}\n{e1}\n[web]\n{e0}"
            )
        );
        let keys = [c"nics/1/ip".as_ptr()];
        assert_eq!(
            call(|e| lago_env_ansible_inventory(env, keys.as_ptr(), 1, &mut s, e)).0,
            lago_status::Ok
        );
        assert_eq!(
            take_string(s),
            format!(
                "[nics/1/ip=192.168.202.2]\n{e0}\n[web]\n{e0}\n[nics/1/ip=192.168.202.3]\n{e1}"
            )
        );
        s = ptr::null_mut();

        let _ = call(|e| lago_env_destroy(env, e));
        for (status, msg) in [
            call(|e| lago_env_deploy(env, e)),
            call(|e| lago_env_ansible_inventory(env, ptr::null(), 0, &mut s, e)),
            call(|e| lago_env_collect(env, out_dir.as_ptr(), true, ptr::null(), 0, e)),
        ] {
            assert_eq!(status, lago_status::Destroyed, "{msg}");
        }
        assert!(s.is_null());
        lago_env_free(env);
        lago_config_free(config);
    }
}
