//! Misuse of the C API, through the exported functions as C calls them:
//! NULL arguments, invalid UTF-8, unknown VM and net names, calls after
//! destroy, VM and net handles.
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
    let mut vm: *mut lago_vm = ptr::null_mut();
    let mut net: *mut lago_net = ptr::null_mut();
    let mut flag = false;
    // SAFETY: NULL handles are allowed arguments; out-pointers are writable.
    unsafe {
        for (status, msg) in [
            call(|e| lago_env_vm_names(ptr::null(), &mut list, e)),
            call(|e| lago_env_start(ptr::null(), ptr::null(), 0, ptr::null_mut(), e)),
            call(|e| lago_env_stop(ptr::null(), ptr::null(), 0, e)),
            call(|e| lago_env_status_json(ptr::null(), &mut s, e)),
            call(|e| lago_env_destroy(ptr::null(), e)),
            call(|e| lago_env_spec_json(ptr::null(), &mut s, e)),
            call(|e| lago_env_shutdown(ptr::null(), ptr::null(), 0, false, 0, e)),
            call(|e| lago_env_get_vm(ptr::null(), c"vm0".as_ptr(), &mut vm, e)),
            call(|e| lago_env_get_net(ptr::null(), c"n0".as_ptr(), &mut net, e)),
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
            list.is_null() && s.is_null() && result.is_null() && vm.is_null() && net.is_null(),
            "out-params untouched"
        );
        for (status, msg) in [
            call(|e| lago_vm_name(ptr::null(), &mut s, e)),
            call(|e| lago_vm_ip(ptr::null(), &mut s, e)),
            call(|e| lago_vm_state(ptr::null(), &mut s, e)),
        ] {
            assert_eq!(
                (status, msg.as_str()),
                (lago_status::NullArgument, "argument `vm` must not be NULL")
            );
        }
        for (status, msg) in [
            call(|e| lago_net_name(ptr::null(), &mut s, e)),
            call(|e| lago_net_gateway(ptr::null(), &mut s, e)),
            call(|e| lago_net_is_management(ptr::null(), &mut flag, e)),
        ] {
            assert_eq!(
                (status, msg.as_str()),
                (lago_status::NullArgument, "argument `net` must not be NULL")
            );
        }
        assert!(s.is_null() && !flag);
        lago_vm_free(ptr::null_mut());
        lago_net_free(ptr::null_mut());
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
    let mut vm: *mut lago_vm = ptr::null_mut();
    let mut net: *mut lago_net = ptr::null_mut();
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
            call(|e| lago_env_spec_json(other, &mut s, e)),
            call(|e| lago_env_shutdown(env, ptr::null(), 0, false, 0, e)),
            call(|e| lago_env_get_vm(other, c"vm0".as_ptr(), &mut vm, e)),
            call(|e| lago_env_get_net(env, c"n0".as_ptr(), &mut net, e)),
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
        assert!(vm.is_null() && net.is_null());
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
fn vm_and_net_handles_then_destroyed() {
    let (_dir, workdir, config) = scratch_env();
    let env = load(config, &workdir);
    let mut vm: *mut lago_vm = ptr::null_mut();
    let mut net: *mut lago_net = ptr::null_mut();
    let mut s: *mut c_char = ptr::null_mut();
    let mut flag: bool;
    // SAFETY: `env`, `config` and the handles are live until freed at the
    // end; the strings are C strings; out-parameters are writable.
    unsafe {
        // Lookups: unknown names, NULL and invalid UTF-8 names, NULL outs.
        let (status, msg) = call(|e| lago_env_get_vm(env, c"nope".as_ptr(), &mut vm, e));
        assert_eq!(status, lago_status::NotFound);
        assert_eq!(msg, "no VM 'nope' (VMs: vm0, vm1)");
        let (status, msg) = call(|e| lago_env_get_net(env, c"nope".as_ptr(), &mut net, e));
        assert_eq!(status, lago_status::NotFound);
        assert_eq!(msg, "no network 'nope' (networks: n0, n1)");
        // A VM name is not a net name and the other way round.
        assert_eq!(
            call(|e| lago_env_get_net(env, c"vm0".as_ptr(), &mut net, e)).0,
            lago_status::NotFound
        );
        assert_eq!(
            call(|e| lago_env_get_vm(env, c"n0".as_ptr(), &mut vm, e)).0,
            lago_status::NotFound
        );
        let (status, msg) = call(|e| lago_env_get_vm(env, ptr::null(), &mut vm, e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `name` must not be NULL"
            )
        );
        let (status, _) = call(|e| lago_env_get_net(env, c"n\xff0".as_ptr(), &mut net, e));
        assert_eq!(status, lago_status::InvalidUtf8);
        let (status, msg) = call(|e| lago_env_get_vm(env, c"vm0".as_ptr(), ptr::null_mut(), e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `vm_out` must not be NULL"
            )
        );
        let (status, msg) = call(|e| lago_env_get_net(env, c"n0".as_ptr(), ptr::null_mut(), e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `net_out` must not be NULL"
            )
        );
        assert!(vm.is_null() && net.is_null(), "out-params untouched");

        // Handles on the fixture: name, IP, gateway, management flag.
        assert_eq!(
            call(|e| lago_env_get_vm(env, c"vm1".as_ptr(), &mut vm, e)).0,
            lago_status::Ok
        );
        assert_eq!(call(|e| lago_vm_name(vm, &mut s, e)).0, lago_status::Ok);
        assert_eq!(take_string(s), "vm1");
        assert_eq!(call(|e| lago_vm_ip(vm, &mut s, e)).0, lago_status::Ok);
        assert_eq!(take_string(s), "192.168.201.3");
        s = ptr::null_mut();
        let (status, msg) = call(|e| lago_vm_ip(vm, ptr::null_mut(), e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `ip_out` must not be NULL"
            )
        );
        // The state needs libvirt, which this config cannot reach.
        let (status, msg) = call(|e| lago_vm_state(vm, &mut s, e));
        assert_eq!(status, lago_status::Libvirt, "{msg}");
        assert!(s.is_null());
        for (name, gw, management) in [
            (c"n0", "192.168.201.1", true),
            (c"n1", "192.168.202.1", false),
        ] {
            assert_eq!(
                call(|e| lago_env_get_net(env, name.as_ptr(), &mut net, e)).0,
                lago_status::Ok
            );
            assert_eq!(call(|e| lago_net_name(net, &mut s, e)).0, lago_status::Ok);
            assert_eq!(take_string(s), name.to_str().unwrap());
            assert_eq!(
                call(|e| lago_net_gateway(net, &mut s, e)).0,
                lago_status::Ok
            );
            assert_eq!(take_string(s), gw);
            s = ptr::null_mut();
            flag = !management;
            assert_eq!(
                call(|e| lago_net_is_management(net, &mut flag, e)).0,
                lago_status::Ok
            );
            assert_eq!(flag, management);
            let (status, msg) = call(|e| lago_net_is_management(net, ptr::null_mut(), e));
            assert_eq!(
                (status, msg.as_str()),
                (
                    lago_status::NullArgument,
                    "argument `is_management_out` must not be NULL"
                )
            );
            if management {
                lago_net_free(net);
            }
        }

        // Spec JSON: both VMs and both nets, with their persisted specs.
        assert_eq!(
            call(|e| lago_env_spec_json(env, &mut s, e)).0,
            lago_status::Ok
        );
        let spec: serde_json::Value = serde_json::from_str(&take_string(s)).unwrap();
        s = ptr::null_mut();
        let names =
            |key: &str| -> Vec<String> { spec[key].as_object().unwrap().keys().cloned().collect() };
        assert_eq!(names("vms"), ["vm0", "vm1"]);
        assert_eq!(names("nets"), ["n0", "n1"]);
        assert_eq!(spec["vms"]["vm0"]["memory"], 2048);
        assert_eq!(spec["nets"]["n1"]["gw"], "192.168.202.1");
        assert!(
            spec["uuid"].as_str().is_some_and(|u| u.len() == 32),
            "{spec}"
        );
        assert_eq!(
            call(|e| lago_env_spec_json(env, ptr::null_mut(), e)).0,
            lago_status::NullArgument
        );

        // Shutdown: unknown names are found before libvirt is asked.
        let names = [c"vm0".as_ptr(), c"nope".as_ptr()];
        let (status, msg) = call(|e| lago_env_shutdown(env, names.as_ptr(), 2, false, 1000, e));
        assert_eq!(status, lago_status::NotFound);
        assert!(msg.contains("nope"), "{msg}");
        let names = [c"vm0".as_ptr(), ptr::null()];
        let (status, msg) = call(|e| lago_env_shutdown(env, names.as_ptr(), 2, true, 0, e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `vm_names[1]` must not be NULL"
            )
        );
        let names = [c"vm\xff".as_ptr()];
        let (status, _) = call(|e| lago_env_shutdown(env, names.as_ptr(), 1, false, 0, e));
        assert_eq!(status, lago_status::InvalidUtf8);
        let (status, msg) = call(|e| lago_env_shutdown(env, ptr::null(), 0, false, 1000, e));
        assert_eq!(status, lago_status::Libvirt, "{msg}");

        // The handles keep the env alive past lago_env_free, and report
        // LAGO_STATUS_DESTROYED once it is destroyed through any reference.
        let other = lago_env_clone(env);
        lago_env_free(env);
        assert_eq!(call(|e| lago_vm_ip(vm, &mut s, e)).0, lago_status::Ok);
        assert_eq!(take_string(s), "192.168.201.3");
        s = ptr::null_mut();
        let _ = call(|e| lago_env_destroy(other, e));
        lago_env_free(other);
        flag = true;
        for (status, msg) in [
            call(|e| lago_vm_name(vm, &mut s, e)),
            call(|e| lago_vm_ip(vm, &mut s, e)),
            call(|e| lago_vm_state(vm, &mut s, e)),
            call(|e| lago_net_name(net, &mut s, e)),
            call(|e| lago_net_gateway(net, &mut s, e)),
            call(|e| lago_net_is_management(net, &mut flag, e)),
        ] {
            assert_eq!(status, lago_status::Destroyed, "{msg}");
            assert!(msg.contains("destroyed"), "{msg}");
        }
        assert!(s.is_null());
        assert!(flag, "out-param untouched after destroy");
        lago_vm_free(vm);
        lago_net_free(net);
        lago_config_free(config);
    }
}

#[test]
fn snapshot_misuse() {
    let (_dir, workdir, config) = scratch_env();
    let env = load(config, &workdir);
    let mut s: *mut c_char = ptr::null_mut();
    // SAFETY: `env` and `config` are live until freed at the end; the
    // strings are C strings; out-parameters are writable.
    unsafe {
        assert_eq!(
            call(|e| lago_env_snapshots_json(env, &mut s, e)).0,
            lago_status::Ok
        );
        // the fixture (an upstream Lago workdir) has one snapshot of vm1
        assert_eq!(
            take_string(s),
            r#"{"vm0":{},"vm1":{"snap1":[{"path":"$LAGO_PREFIX_PATH/images/vm1_root.qcow2.snap1","format":"qcow2","dev":"vda"}]}}"#
        );
        s = ptr::null_mut();
        let (status, msg) = call(|e| lago_env_snapshots_json(env, ptr::null_mut(), e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `json_out` must not be NULL"
            )
        );
        let (status, msg) = call(|e| lago_env_snapshot(env, ptr::null(), ptr::null(), 0, e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NullArgument,
                "argument `name` must not be NULL"
            )
        );
        let (status, _) = call(|e| lago_env_revert(env, c"s\xff".as_ptr(), ptr::null(), 0, e));
        assert_eq!(status, lago_status::InvalidUtf8);
        // checked before libvirt is needed (it is unreachable here)
        let (status, msg) = call(|e| lago_env_snapshot(env, c"a/b".as_ptr(), ptr::null(), 0, e));
        assert_eq!(status, lago_status::InvalidArgument, "{msg}");
        assert!(msg.contains("invalid snapshot name 'a/b'"), "{msg}");
        let names = [c"nope".as_ptr()];
        let (status, msg) = call(|e| lago_env_snapshot(env, c"s1".as_ptr(), names.as_ptr(), 1, e));
        assert_eq!(status, lago_status::NotFound, "{msg}");
        assert!(msg.contains("no VM 'nope'"), "{msg}");
        // the flags variant: unknown flags and a bad name, before libvirt
        let (status, msg) =
            call(|e| lago_env_snapshot_flags(env, c"s1".as_ptr(), ptr::null(), 0, 1 << 5, e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::InvalidArgument,
                "unknown lago_env_snapshot_flags flags 0x20 (valid: LAGO_SNAPSHOT_MEMORY)"
            )
        );
        let (status, msg) = call(|e| {
            lago_env_snapshot_flags(
                env,
                c"a/b".as_ptr(),
                ptr::null(),
                0,
                LAGO_SNAPSHOT_MEMORY,
                e,
            )
        });
        assert_eq!(status, lago_status::InvalidArgument, "{msg}");
        assert!(msg.contains("invalid snapshot name 'a/b'"), "{msg}");
        let (status, msg) = call(|e| lago_env_revert(env, c"s1".as_ptr(), ptr::null(), 0, e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NotFound,
                "no snapshot 's1' for VM 'vm0' (its snapshots: none)"
            )
        );
        let names = [c"vm1".as_ptr()];
        let (status, msg) = call(|e| lago_env_revert(env, c"s1".as_ptr(), names.as_ptr(), 1, e));
        assert_eq!(
            (status, msg.as_str()),
            (
                lago_status::NotFound,
                "no snapshot 's1' for VM 'vm1' (its snapshots: snap1)"
            )
        );

        let _ = call(|e| lago_env_destroy(env, e));
        for (status, msg) in [
            call(|e| lago_env_snapshot(env, c"s1".as_ptr(), ptr::null(), 0, e)),
            call(|e| {
                lago_env_snapshot_flags(
                    env,
                    c"s1".as_ptr(),
                    ptr::null(),
                    0,
                    LAGO_SNAPSHOT_MEMORY,
                    e,
                )
            }),
            call(|e| lago_env_revert(env, c"s1".as_ptr(), ptr::null(), 0, e)),
            call(|e| lago_env_snapshots_json(env, &mut s, e)),
        ] {
            assert_eq!(status, lago_status::Destroyed, "{msg}");
        }
        assert!(s.is_null(), "out-param untouched on failure");
        lago_env_free(env);
        lago_config_free(config);
    }
}

#[test]
fn export_refuses_running_vms_and_bad_arguments() {
    let (dir, workdir, config) = scratch_env();
    // libvirt's test driver with vm0 of the fixture running
    let node = dir.path().join("node.xml");
    std::fs::write(
        &node,
        "<node><domain type='test'><name>fe689d3c-vm0</name><memory>262144</memory>\
         <os><type>hvm</type></os></domain></node>",
    )
    .unwrap();
    let url = CString::new(format!("test://{}", node.display())).unwrap();
    let dst = dir.path().join("exported");
    let dst_c = CString::new(dst.to_str().unwrap()).unwrap();
    let vm1 = [c"vm1".as_ptr()];
    let nope = [c"nope".as_ptr()];
    let mut out: *mut c_char = ptr::null_mut();
    // SAFETY: live config and env; C strings; writable out-parameters.
    unsafe {
        assert_eq!(
            lago_config_set(
                config,
                c"lago".as_ptr(),
                c"libvirt_url".as_ptr(),
                url.as_ptr(),
                ptr::null_mut()
            ),
            lago_status::Ok
        );
        let env = load(config, &workdir);
        let export = |names: &[*const c_char], dst: *const c_char, flags: u32, out| {
            call(|e| {
                lago_env_export(
                    env,
                    names.as_ptr(),
                    names.len(),
                    dst,
                    ptr::null(),
                    flags,
                    out,
                    e,
                )
            })
        };
        assert_eq!(
            export(&[], dst_c.as_ptr(), 0, &mut out),
            (
                lago_status::InvalidArgument,
                "The following vms must be off:\nvm0".to_string()
            )
        );
        assert!(out.is_null() && !dst.exists());
        assert_eq!(
            export(&nope, dst_c.as_ptr(), 0, &mut out),
            (
                lago_status::NotFound,
                "Entity nope does not exist".to_string()
            )
        );
        let (status, msg) = export(&vm1, ptr::null(), 0, &mut out);
        assert_eq!(status, lago_status::NullArgument, "{msg}");
        assert!(msg.contains("dst_dir"), "{msg}");
        let (status, msg) = export(&vm1, dst_c.as_ptr(), 1 << 20, &mut out);
        assert_eq!(status, lago_status::InvalidArgument, "{msg}");
        assert!(
            msg.contains("unknown lago_env_export flags 0x100000"),
            "{msg}"
        );
        let (status, msg) = export(&vm1, dst_c.as_ptr(), 0, ptr::null_mut());
        assert_eq!(status, lago_status::NullArgument, "{msg}");
        // the stopped vm1, collect only: its source images, nothing written
        assert_eq!(
            export(&vm1, dst_c.as_ptr(), LAGO_EXPORT_COLLECT_ONLY, &mut out).0,
            lago_status::Ok
        );
        let got = take_string(out);
        assert!(got.starts_with(r#"{"vm1":[""#), "{got}");
        assert!(!got.contains("vm0"), "{got}");
        assert!(!dst.exists());
        lago_env_free(env);
        lago_config_free(config);
    }
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

#[test]
fn service_misuse() {
    let (_dir, workdir, config) = scratch_env();
    let env = load(config, &workdir);
    let mut s: *mut c_char = ptr::null_mut();
    let mut state = lago_service_state::Active;
    let mut flag = true;
    let (s_out, state_out, flag_out): (*mut *mut c_char, *mut lago_service_state, *mut bool) =
        (&mut s, &mut state, &mut flag);
    // SAFETY: `env` and `config` are live until freed at the end; the
    // strings are C strings; out-parameters point to the locals above.
    unsafe {
        let null = |f: &dyn Fn(*mut *mut lago_error) -> lago_status, arg: &str| {
            let (status, msg) = call(f);
            assert_eq!(
                (status, msg.as_str()),
                (
                    lago_status::NullArgument,
                    format!("argument `{arg}` must not be NULL").as_str()
                )
            );
        };
        null(
            &|e| lago_env_service_provider(env, ptr::null(), s_out, e),
            "vm",
        );
        null(
            &|e| lago_env_service_provider(env, c"vm0".as_ptr(), ptr::null_mut(), e),
            "provider_out",
        );
        null(
            &|e| lago_env_service_state(env, c"vm0".as_ptr(), ptr::null(), state_out, e),
            "service",
        );
        null(
            &|e| lago_env_service_state(env, c"vm0".as_ptr(), c"sshd".as_ptr(), ptr::null_mut(), e),
            "state_out",
        );
        null(
            &|e| lago_env_service_set(env, c"vm0".as_ptr(), ptr::null(), true, e),
            "service",
        );
        null(
            &|e| lago_env_has_guest_agent(env, c"vm0".as_ptr(), ptr::null_mut(), e),
            "has_agent_out",
        );
        assert_eq!(
            call(|e| lago_env_has_guest_agent(ptr::null(), c"vm0".as_ptr(), flag_out, e)).0,
            lago_status::NullArgument
        );
        let (status, _) =
            call(|e| lago_env_service_set(env, c"v\xff".as_ptr(), c"x".as_ptr(), false, e));
        assert_eq!(status, lago_status::InvalidUtf8);
        // an unknown VM is named before the guest is asked
        let (status, msg) =
            call(|e| lago_env_service_state(env, c"nope".as_ptr(), c"sshd".as_ptr(), state_out, e));
        assert_eq!(
            (status, msg.as_str()),
            (lago_status::NotFound, "no VM 'nope' (VMs: vm0, vm1)")
        );
        // a known VM needs libvirt (unreachable here) to know it runs
        let (status, msg) = call(|e| lago_env_has_guest_agent(env, c"vm0".as_ptr(), flag_out, e));
        assert_eq!(status, lago_status::Libvirt, "{msg}");
        let (status, msg) = call(|e| lago_env_service_provider(env, c"vm1".as_ptr(), s_out, e));
        assert_eq!(status, lago_status::Libvirt, "{msg}");
        assert!(
            s.is_null() && flag && state == lago_service_state::Active,
            "outs untouched"
        );
        lago_env_free(env);
        lago_config_free(config);
    }
}

/// The structured fields of a `lago_error`, read through the C accessors.
#[derive(Debug, Default)]
struct Fields {
    status: Option<lago_status>,
    vm: Option<String>,
    path: Option<String>,
    key_path: Option<String>,
    line: usize,
    libvirt_code: i32,
    causes: Vec<String>,
}

/// Runs `f` with an error out-parameter; returns its status and the fields
/// of its error (all absent on success).
fn call_fields(f: impl FnOnce(*mut *mut lago_error) -> lago_status) -> (lago_status, Fields) {
    let mut err: *mut lago_error = ptr::null_mut();
    let status = f(&mut err);
    if err.is_null() {
        return (status, Fields::default());
    }
    let text = |p: *const c_char| {
        // SAFETY: a non-NULL result is a string borrowed from the live `err`.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned())
    };
    // SAFETY: `err` was written by lago and is freed once, after the reads.
    unsafe {
        let fields = Fields {
            status: Some(lago_error_code(err)),
            vm: text(lago_error_vm(err)),
            path: text(lago_error_path(err)),
            key_path: text(lago_error_key_path(err)),
            line: lago_error_line(err),
            libvirt_code: lago_error_libvirt_code(err),
            causes: (0..lago_error_cause_count(err))
                .map(|i| text(lago_error_cause(err, i)).unwrap())
                .collect(),
        };
        assert!(lago_error_cause(err, fields.causes.len()).is_null());
        lago_error_free(err);
        (status, fields)
    }
}

#[test]
fn error_fields_of_real_failures() {
    let (_dir, workdir, config) = scratch_env();
    let env = load(config, &workdir);
    // SAFETY: `env` and `config` are live until freed at the end; the
    // strings are C strings and the out-parameters writable.
    unsafe {
        // An unknown VM names the VM asked for.
        let mut ip: *mut c_char = ptr::null_mut();
        let (status, f) = call_fields(|e| lago_env_vm_ip(env, c"nope".as_ptr(), &mut ip, e));
        assert_eq!(status, lago_status::NotFound);
        assert_eq!(f.vm.as_deref(), Some("nope"));
        assert_eq!(f.libvirt_code, 0);

        // libvirt cannot be reached: libvirt's code, and its message as a cause.
        let mut state: *mut c_char = ptr::null_mut();
        let (status, f) = call_fields(|e| lago_env_vm_state(env, c"vm0".as_ptr(), &mut state, e));
        assert_eq!(status, lago_status::Libvirt);
        assert_ne!(f.libvirt_code, 0, "{f:?}");
        assert!(!f.causes.is_empty(), "{f:?}");
        assert!(state.is_null());

        // A missing workdir names the folder.
        let mut other: *const lago_env = ptr::null();
        let (status, f) = call_fields(|e| {
            lago_env_load(
                config,
                c"/nonexistent/lago-ffi-workdir".as_ptr(),
                ptr::null(),
                &mut other,
                e,
            )
        });
        assert_eq!(status, lago_status::NotFound);
        assert_eq!(f.path.as_deref(), Some("/nonexistent/lago-ffi-workdir"));
        assert!(other.is_null());
        lago_env_free(env);
    }

    // A mistake in a LagoInitFile: file, key path and line.
    let dir = tempfile::tempdir().unwrap();
    let init = dir.path().join("LagoInitFile");
    std::fs::write(
        &init,
        "domains:\n  vm0:\n    memory: lots\n    nics:\n      - net: n0\nnets:\n  n0:\n    type: nat\n",
    )
    .unwrap();
    let init_c = CString::new(init.to_str().unwrap()).unwrap();
    let workdir = CString::new(dir.path().join("w").to_str().unwrap()).unwrap();
    let mut options: *mut lago_init_options = ptr::null_mut();
    let mut env: *const lago_env = ptr::null();
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            call(|e| lago_init_options_new(workdir.as_ptr(), &mut options, e)).0,
            lago_status::Ok
        );
        let (status, f) =
            call_fields(|e| lago_env_init(options, config, init_c.as_ptr(), &mut env, e));
        assert_eq!(status, lago_status::Config, "{f:?}");
        assert_eq!(f.status, Some(lago_status::Config));
        assert_eq!(f.path.as_deref(), init.to_str());
        assert_eq!(f.key_path.as_deref(), Some("domains.vm0.memory"));
        assert_eq!(f.line, 3);
        assert_eq!(f.causes.len(), 1, "{f:?}");
        assert!(f.causes[0].contains("domains.vm0.memory"), "{f:?}");
        assert!(env.is_null());
        lago_init_options_free(options);
        lago_config_free(config);
    }
}

#[test]
fn an_error_left_in_err_out_is_not_overwritten() {
    let (_dir, workdir, config) = scratch_env();
    let env = load(config, &workdir);
    // SAFETY: live objects, C strings, writable out-parameters; every error
    // is freed once.
    unsafe {
        let mut list: *mut lago_string_list = ptr::null_mut();
        let mut ip: *mut c_char = ptr::null_mut();
        let mut err: *mut lago_error = ptr::null_mut();
        assert_eq!(
            lago_env_vm_ip(env, c"nope".as_ptr(), &mut ip, &mut err),
            lago_status::NotFound
        );
        let first = err;
        assert!(!first.is_null());
        // Not reset: the next call is refused, does nothing, keeps the error.
        assert_eq!(
            lago_env_vm_names(env, &mut list, &mut err),
            lago_status::InvalidArgument
        );
        assert_eq!(err, first);
        assert!(list.is_null(), "the refused call did no work");
        assert_eq!(lago_error_code(err), lago_status::NotFound);
        lago_error_free(err);
        err = ptr::null_mut();
        // Reset to NULL: it works again, and success leaves it NULL.
        assert_eq!(lago_env_vm_names(env, &mut list, &mut err), lago_status::Ok);
        assert!(err.is_null());
        lago_string_list_free(list);
        lago_env_free(env);
        lago_config_free(config);
    }
}
