//! The native module `lago._native`: the Rust objects of lago exposed to
//! Python through PyO3, over `lago-core` directly (never through the C ABI).
//!
//! The pure-Python package `lago` (in `python/` at the repository root)
//! imports from this module and keeps Lago's public module layout; users
//! import `lago`, not `lago._native`. Structured values (views, specs,
//! status) cross the boundary as Python dicts and lists (`pyvalue`).

mod compat;
mod errors;
mod interrupt;
mod logbridge;
mod progress;
mod pyvalue;
mod ssh_client;

use std::path::PathBuf;
use std::time::Duration;

use lago_core::BootstrapChoice as Choice;
use lago_core::ErrorKind;
use lago_core::ServiceManager;
use lago_core::Workdir;
use lago_core::ops::export::ExportOptions;
use lago_core::ops::init::InitOptions;
use lago_core::ops::snapshot::SnapshotKind;
use lago_core::{Config as CoreConfig, ConfigLoader};
use lago_core::{Destroyed, Env as CoreEnv, EnvHandle, defaults, view};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{err, msg};
use crate::pyvalue::{object_from_py, to_py, view_to_py};

/// A timeout in seconds given from Python, or `default` when None.
fn seconds(timeout: Option<f64>, default: Duration) -> Duration {
    timeout.map_or(default, |s| {
        Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
    })
}

/// Lago's configuration: defaults, files, `LAGO_*` environment, overrides.
#[pyclass(module = "lago._native", name = "Config", from_py_object)]
#[derive(Clone)]
struct Config {
    inner: CoreConfig,
}

#[pymethods]
impl Config {
    /// The configuration from the system's files and the environment.
    #[staticmethod]
    fn load() -> PyResult<Self> {
        let inner = ConfigLoader::from_system().load().map_err(err)?;
        Ok(Self { inner })
    }

    /// The built-in defaults only.
    #[staticmethod]
    fn defaults() -> Self {
        Self {
            inner: CoreConfig::new(),
        }
    }

    /// Value of `key` in section `section` (`lago` when None).
    #[pyo3(signature = (key, section=None))]
    fn get(&self, key: &str, section: Option<&str>) -> Option<String> {
        match section {
            Some(s) => self.inner.get_in(s, key),
            None => self.inner.get(key),
        }
        .map(str::to_string)
    }

    /// Sets `key` of `section` to `value`.
    fn set(&mut self, section: &str, key: &str, value: &str) {
        self.inner.set(section, key, value);
    }

    /// The (key, value) pairs of section `name`, or None.
    fn section(&self, name: &str) -> Option<Vec<(String, String)>> {
        self.inner.section(name).map(|s| {
            s.values()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
    }

    /// Names of all sections.
    fn section_names(&self) -> Vec<String> {
        self.inner
            .sections()
            .map(|s| s.name().to_string())
            .collect()
    }

    /// The INI text `lago generate-config` prints.
    fn to_ini(&self, verbose: bool, generated_at: &str) -> String {
        self.inner.to_ini(verbose, generated_at)
    }

    /// `key` of `section` (`lago` when None) as a whole number from 0 to
    /// 4294967295, None when unset; any other value raises
    /// `LagoConfigError` naming the key, where it was set and what is valid.
    #[pyo3(signature = (key, section=None))]
    fn get_u32(&self, key: &str, section: Option<&str>) -> PyResult<Option<u32>> {
        let section = section.unwrap_or(lago_core::ROOT_SECTION);
        self.inner.get_u32_in(section, key).map_err(err)
    }

    /// Where the value of `key` in `section` (`lago` when None) was set:
    /// `PATH:LINE`, `environment variable NAME`, `the default`...; None
    /// when the key is unknown.
    #[pyo3(signature = (key, section=None))]
    fn source(&self, key: &str, section: Option<&str>) -> Option<String> {
        let section = section.unwrap_or(lago_core::ROOT_SECTION);
        self.inner.source_of(section, key).map(|s| s.to_string())
    }
}

/// One environment: a prefix of a workdir.
#[pyclass(module = "lago._native", name = "Env", frozen)]
struct Env {
    /// The env and its destroyed lifecycle (lago-core's).
    handle: EnvHandle,
}

/// The Python error of a call refused because the env was destroyed.
fn destroyed(why: Destroyed) -> PyErr {
    let message = match why {
        Destroyed::Used => "this environment was destroyed",
        Destroyed::Again => "this environment was already destroyed",
    };
    msg(ErrorKind::InvalidInput, message)
}

impl Env {
    fn new(env: CoreEnv) -> Self {
        Self {
            handle: EnvHandle::new(env),
        }
    }

    /// `f` of the core env (quick, in-memory), unless it was destroyed.
    fn get<T>(&self, f: impl FnOnce(&CoreEnv) -> T) -> PyResult<T> {
        self.handle.with(f).map_err(destroyed)
    }

    /// Runs `f` on the core env without the GIL, interruptible by Ctrl-C
    /// (`interrupt`), then forwards its logs.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&CoreEnv) -> lago_core::Result<T> + Send,
    ) -> PyResult<T> {
        match interrupt::run(py, || self.handle.with(f)) {
            Ok(out) => out.map_err(destroyed)?.map_err(|e| errors::to_py(&e)),
            Err(interrupt::Interrupted { signal, result }) => {
                let error = result.as_ref().ok().and_then(|r| r.as_ref().err());
                Err(interrupt::raise(py, signal, error))
            }
        }
    }

    /// Runs `f` on the core env without the GIL, not interruptible: for a
    /// session on this process's terminal, whose Ctrl-C is the guest's.
    fn run_attached<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&CoreEnv) -> lago_core::Result<T> + Send,
    ) -> PyResult<T> {
        let out = py.detach(|| self.handle.with(f));
        logbridge::flush(py);
        out.map_err(destroyed)?.map_err(|e| errors::to_py(&e))
    }
}

/// Service `name` of VM `vm` through the named provider, or the VM's own.
fn vm_service(
    env: &CoreEnv,
    vm: &str,
    name: &str,
    provider: Option<&str>,
) -> lago_core::Result<lago_core::VmService> {
    match provider {
        None => env.service(vm, name),
        Some(p) => {
            let manager = ServiceManager::from_name(p).ok_or_else(|| {
                lago_core::Error::new(
                    ErrorKind::InvalidInput,
                    format!("unknown service provider {p:?}: valid are 'systemd', 'sysvinit'"),
                )
            })?;
            env.service_with(vm, name, manager)
        }
    }
}

/// Parses a bootstrap choice (`auto`, `nocloud`, `ssh`, `sysprep`, `none` or `skip`).
fn choice(s: &str) -> PyResult<Choice> {
    Choice::parse(s).ok_or_else(|| {
        msg(
            ErrorKind::InvalidInput,
            format!("unknown bootstrap choice {s:?} ({})", Choice::VALID),
        )
    })
}

#[pymethods]
impl Env {
    /// Initializes a new prefix from an init file and opens it.
    #[staticmethod]
    #[allow(clippy::too_many_arguments, reason = "mirrors InitOptions")]
    #[pyo3(signature = (workdir, initfile, *, prefix_name="default", initfile_text=None,
        template_repo=None, template_store=None, set_current=false, bootstrap="auto",
        skip_build=false, config=None))]
    fn init(
        py: Python<'_>,
        workdir: PathBuf,
        initfile: PathBuf,
        prefix_name: &str,
        initfile_text: Option<String>,
        template_repo: Option<String>,
        template_store: Option<PathBuf>,
        set_current: bool,
        bootstrap: &str,
        skip_build: bool,
        config: Option<Config>,
    ) -> PyResult<Self> {
        let mut opts = InitOptions::new(workdir, initfile);
        opts.prefix_name = prefix_name.to_string();
        opts.initfile_text = initfile_text;
        opts.template_repo = template_repo;
        opts.template_store = template_store;
        opts.set_current = set_current;
        opts.bootstrap = choice(bootstrap)?;
        opts.skip_build = skip_build;
        let config = match config {
            Some(c) => c.inner,
            None => Config::load()?.inner,
        };
        interrupt::call(py, || CoreEnv::init(&opts, config)).map(Self::new)
    }

    /// Opens prefix `prefix` (`current` allowed) of the workdir `workdir`.
    #[staticmethod]
    #[pyo3(signature = (workdir, prefix="current", config=None))]
    fn load(
        py: Python<'_>,
        workdir: PathBuf,
        prefix: &str,
        config: Option<Config>,
    ) -> PyResult<Self> {
        let config = match config {
            Some(c) => c.inner,
            None => Config::load()?.inner,
        };
        interrupt::call(py, || CoreEnv::load(&workdir, prefix, config)).map(Self::new)
    }

    /// Opens the prefix at `prefix_path` on its own, with no workdir
    /// around it (Lago's `--prefix-path`).
    #[staticmethod]
    #[pyo3(signature = (prefix_path, config=None))]
    fn load_prefix(py: Python<'_>, prefix_path: PathBuf, config: Option<Config>) -> PyResult<Self> {
        let config = match config {
            Some(c) => c.inner,
            None => Config::load()?.inner,
        };
        interrupt::call(py, || CoreEnv::load_prefix(&prefix_path, config)).map(Self::new)
    }

    /// The workdir's path.
    #[getter]
    fn workdir(&self) -> PyResult<PathBuf> {
        self.get(|e| e.workdir().to_path_buf())
    }

    /// The prefix's name.
    #[getter]
    fn prefix_name(&self) -> PyResult<String> {
        self.get(|e| e.prefix_name().to_string())
    }

    /// The prefix's path.
    #[getter]
    fn prefix_path(&self) -> PyResult<PathBuf> {
        self.get(|e| e.paths().prefix_path().to_path_buf())
    }

    /// The prefix's UUID.
    #[getter]
    fn uuid(&self) -> PyResult<String> {
        self.get(|e| e.uuid())
    }

    /// True once `destroy` has run.
    #[getter]
    fn destroyed(&self) -> bool {
        self.handle.is_destroyed()
    }

    /// VM names in init-file order.
    fn vm_names(&self) -> PyResult<Vec<String>> {
        self.get(|e| e.vm_names())
    }

    /// Network names in init-file order.
    fn net_names(&self) -> PyResult<Vec<String>> {
        self.get(|e| e.net_names())
    }

    /// The VMs, in init-file order: dicts of name, spec, ip, mgmt_net,
    /// distro, root_password, metadata, nics, snapshots (lago-core's view).
    fn vms<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        view_to_py(py, &self.get(|e| view::vms(&e.state()))?)
    }

    /// The networks, in init-file order: dicts of name, spec, gw,
    /// is_management, kind, libvirt_name (lago-core's view).
    fn nets<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        view_to_py(py, &self.get(|e| view::nets(&e.state()))?)
    }

    /// The persisted spec of the environment: `{"uuid", "vms": {name:
    /// spec}, "nets": {name: spec}}` (the shape of C's `lago_env_spec_json`).
    fn spec<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        view_to_py(py, &self.get(|e| view::SpecView::of(&e.state()))?)
    }

    /// Re-reads the prefix's state from disk.
    fn reload(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, |e| e.reload())
    }

    /// Starts networks then VMs (all when `vms` is empty); returns the VMs started.
    #[pyo3(signature = (vms=Vec::new()))]
    fn start(&self, py: Python<'_>, vms: Vec<String>) -> PyResult<Vec<String>> {
        self.run(py, |e| e.start(&vms))
    }

    /// Stops VMs then unused networks (all when `vms` is empty).
    #[pyo3(signature = (vms=Vec::new()))]
    fn stop(&self, py: Python<'_>, vms: Vec<String>) -> PyResult<()> {
        self.run(py, |e| e.stop(&vms))
    }

    /// Takes snapshot `name` of the VMs (all when `vms` is empty); with
    /// `memory`, the running VMs' memory is saved too.
    #[pyo3(signature = (name, vms=Vec::new(), *, memory=false))]
    fn snapshot(
        &self,
        py: Python<'_>,
        name: String,
        vms: Vec<String>,
        memory: bool,
    ) -> PyResult<()> {
        let kind = if memory {
            SnapshotKind::Memory
        } else {
            SnapshotKind::Disk
        };
        self.run(py, |e| e.snapshot_with(&name, &vms, kind))
    }

    /// Reverts the VMs (all when `vms` is empty) to snapshot `name`; the
    /// ones that ran run again and answer SSH (resumed from memory when the
    /// snapshot holds it).
    #[pyo3(signature = (name, vms=Vec::new()))]
    fn revert(&self, py: Python<'_>, name: String, vms: Vec<String>) -> PyResult<()> {
        self.run(py, |e| e.revert(&name, &vms))
    }

    /// `{vm: {snapshot: [disk dicts]}}` (`lago snapshot --list`).
    fn snapshots<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self.run(py, |e| Ok(e.snapshots()))?;
        to_py(py, &v)
    }

    /// Exports the named VMs' disks (all when `vms` is empty; they must be
    /// down) and an init file; returns `{vm: [paths], "init-file": path}`
    /// (with `collect_only`: `{vm: [source paths]}`, nothing written).
    #[pyo3(signature = (vms=Vec::new(), *, dst_dir=PathBuf::from("."), standalone=false,
        compress=false, init_file_name=Some("LagoInitFile".to_string()), init_file_json=false,
        collect_only=false, sparsify=false, parallel=true))]
    #[allow(clippy::too_many_arguments)]
    fn export<'py>(
        &self,
        py: Python<'py>,
        vms: Vec<String>,
        dst_dir: PathBuf,
        standalone: bool,
        compress: bool,
        init_file_name: Option<String>,
        init_file_json: bool,
        collect_only: bool,
        sparsify: bool,
        parallel: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut opts = ExportOptions::new(dst_dir);
        opts.vms = vms;
        opts.standalone = standalone;
        opts.compress = compress;
        opts.init_file_name = init_file_name;
        opts.init_file_json = init_file_json;
        opts.collect_only = collect_only;
        opts.sparsify = sparsify;
        opts.parallel = parallel;
        let v = self.run(py, |e| e.export(&opts))?;
        to_py(py, &v)
    }

    /// Lago's state string of VM `vm` (`running`, `down`, …).
    fn vm_state(&self, py: Python<'_>, vm: String) -> PyResult<String> {
        self.run(py, |e| e.vm_state(&vm).map(|s| s.as_str().to_string()))
    }

    /// The libvirt domain name of VM `vm`.
    fn vm_libvirt_name(&self, vm: &str) -> PyResult<String> {
        self.get(|e| e.vm_libvirt_name(vm))
    }

    /// The libvirt URI the prefix runs on (its remote host's, else the
    /// configured one).
    fn libvirt_uri(&self) -> PyResult<String> {
        self.get(|e| e.libvirt_uri())
    }

    /// `[(vm, path)]`: each VM's console log that exists, fetched from the
    /// remote host first for an environment there.
    fn console_logs(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        self.run(py, |e| {
            e.console_logs().map(|logs| {
                logs.into_iter()
                    .map(|(vm, p)| (vm, p.to_string_lossy().into_owned()))
                    .collect()
            })
        })
    }

    /// The `lago status` information (contract §1.3).
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self.run(py, |e| e.status())?;
        to_py(py, &v)
    }

    /// The environment as a Graphviz DOT graph (`lago status --format dot`).
    fn status_dot(&self, py: Python<'_>) -> PyResult<String> {
        self.run(py, |e| e.status_dot())
    }

    /// Runs `argv` in VM `vm` (at most `timeout` seconds, None: lago's
    /// default); returns (code, stdout, stderr).
    #[pyo3(signature = (vm, argv, timeout=None))]
    fn ssh<'py>(
        &self,
        py: Python<'py>,
        vm: String,
        argv: Vec<String>,
        timeout: Option<f64>,
    ) -> PyResult<(i32, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let t = seconds(timeout, defaults::SSH_COMMAND_TIMEOUT);
        let r = self.run(py, |e| e.ssh(&vm, &argv, t))?;
        Ok((
            r.code,
            PyBytes::new(py, &r.stdout),
            PyBytes::new(py, &r.stderr),
        ))
    }

    /// Runs the command line `command` in VM `vm` as it is (the guest's
    /// shell interprets it: Lago's `ssh` joins its list with spaces), with
    /// `stdin` as its standard input when given; returns (code, stdout,
    /// stderr). `ssh` keeps each argument exact.
    #[pyo3(signature = (vm, command, stdin=None, timeout=None))]
    fn ssh_command<'py>(
        &self,
        py: Python<'py>,
        vm: String,
        command: String,
        stdin: Option<Vec<u8>>,
        timeout: Option<f64>,
    ) -> PyResult<(i32, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let t = seconds(timeout, defaults::SSH_COMMAND_TIMEOUT);
        let r = self.run(py, |e| {
            Ok(e.guest(&vm)?.exec_command(&command, stdin.as_deref(), t)?)
        })?;
        Ok((
            r.code,
            PyBytes::new(py, &r.stdout),
            PyBytes::new(py, &r.stderr),
        ))
    }

    /// Connects to VM `vm` over SSH now if not connected yet (one attempt,
    /// limited by `ssh_timeout`): fails if the guest does not answer.
    fn ssh_connect(&self, py: Python<'_>, vm: String) -> PyResult<()> {
        self.run(py, |e| Ok(e.guest(&vm)?.connect()?))
    }

    /// Waits until VM `vm` answers SSH; returns the seconds waited.
    #[pyo3(signature = (vm, timeout=None))]
    fn wait_for_ssh(&self, py: Python<'_>, vm: String, timeout: Option<f64>) -> PyResult<f64> {
        let t = timeout.map(|s| Duration::from_secs_f64(s.max(0.0)));
        self.run(py, |e| e.wait_for_ssh(&vm, t).map(|d| d.as_secs_f64()))
    }

    // -- stdin, interactive sessions, shutdown, cleanup (issue 5) --

    /// Runs `argv` in VM `vm` with `stdin` as its standard input; returns
    /// (code, stdout, stderr).
    #[pyo3(signature = (vm, argv, stdin, timeout=None))]
    fn ssh_stdin<'py>(
        &self,
        py: Python<'py>,
        vm: String,
        argv: Vec<String>,
        stdin: Vec<u8>,
        timeout: Option<f64>,
    ) -> PyResult<(i32, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let t = seconds(timeout, defaults::SSH_COMMAND_TIMEOUT);
        let r = self.run(py, |e| e.ssh_stdin(&vm, &argv, &stdin, t))?;
        Ok((
            r.code,
            PyBytes::new(py, &r.stdout),
            PyBytes::new(py, &r.stderr),
        ))
    }

    /// Runs `argv` (the login shell when empty) in VM `vm` on this
    /// process's standard input/output, with a PTY when stdin is a
    /// terminal; returns the remote exit code.
    #[pyo3(signature = (vm, argv=Vec::new()))]
    fn interactive(&self, py: Python<'_>, vm: String, argv: Vec<String>) -> PyResult<i32> {
        self.run_attached(py, |e| e.interactive(&vm, &argv))
    }

    /// Shuts the VMs down cleanly (all when `vms` is empty), or reboots
    /// them; waits at most `timeout` seconds (None: lago's default) for each.
    #[pyo3(signature = (vms=Vec::new(), reboot=false, timeout=None))]
    fn shutdown(
        &self,
        py: Python<'_>,
        vms: Vec<String>,
        reboot: bool,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let t = seconds(timeout, defaults::SHUTDOWN_TIMEOUT);
        self.run(py, |e| e.shutdown(&vms, reboot, t))
    }

    /// Stops everything and marks the prefix uninitialized (Lago's
    /// `cleanup`).
    fn cleanup(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, |e| e.cleanup())
    }

    // -- end of issue 5 additions --

    /// Copies a local file or tree into VM `vm`.
    fn copy_to(&self, py: Python<'_>, vm: String, local: PathBuf, remote: PathBuf) -> PyResult<()> {
        self.run(py, |e| e.copy_to(&vm, &local, &remote).map(|_| ()))
    }

    /// Copies a file or tree out of VM `vm`.
    fn copy_from(
        &self,
        py: Python<'_>,
        vm: String,
        remote: PathBuf,
        local: PathBuf,
    ) -> PyResult<()> {
        self.run(py, |e| e.copy_from(&vm, &remote, &local).map(|_| ()))
    }

    /// Collects the VMs' `artifacts` (all VMs when `vms` is empty) into
    /// `output_dir/<vm>/`, rotating an existing `output_dir`.
    #[pyo3(signature = (output_dir, ignore_nopath, vms=Vec::new()))]
    fn collect(
        &self,
        py: Python<'_>,
        output_dir: PathBuf,
        ignore_nopath: bool,
        vms: Vec<String>,
    ) -> PyResult<()> {
        self.run(py, |e| e.collect(&output_dir, ignore_nopath, &vms))
    }

    /// `collect` with each VM's paths given: a list of `(vm, paths)`.
    fn collect_paths(
        &self,
        py: Python<'_>,
        output_dir: PathBuf,
        ignore_nopath: bool,
        per_vm: Vec<(String, Vec<String>)>,
    ) -> PyResult<()> {
        self.run(py, |e| e.collect_paths(&output_dir, ignore_nopath, &per_vm))
    }

    /// Collects `paths` of VM `vm` into `dest/<path with / turned into _>`.
    fn collect_vm(
        &self,
        py: Python<'_>,
        vm: String,
        paths: Vec<String>,
        dest: PathBuf,
        ignore_nopath: bool,
    ) -> PyResult<()> {
        self.run(py, |e| e.collect_vm(&vm, &paths, &dest, ignore_nopath))
    }

    /// Copies each `(guest path, local path)` out of VM `vm` (over SSH, or
    /// from its disk when it is not running).
    fn extract_paths(
        &self,
        py: Python<'_>,
        vm: String,
        items: Vec<(String, PathBuf)>,
        ignore_nopath: bool,
    ) -> PyResult<()> {
        self.run(py, |e| e.extract_paths(&vm, &items, ignore_nopath))
    }

    /// Runs every VM's deploy scripts.
    fn deploy(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, |e| e.deploy())
    }

    /// The host CPU as libvirt describes it: `(model, vendor)`, each None
    /// when libvirt names none.
    fn host_cpu(&self, py: Python<'_>) -> PyResult<(Option<String>, Option<String>)> {
        self.run(py, |e| e.host_cpu().map(|c| (c.model, c.vendor)))
    }

    /// Replaces VM `vm`'s spec with the dict `spec` and writes
    /// `virt/vm-<vm>` (Lago's `vm.save()`).
    fn save_vm_spec(&self, py: Python<'_>, vm: String, spec: Bound<'_, PyAny>) -> PyResult<()> {
        let spec = object_from_py(&format!("spec of VM '{vm}'"), &spec)?;
        self.run(py, |e| e.save_vm_spec(&vm, spec))
    }

    /// Replaces net `net`'s spec with the dict `spec` and writes
    /// `virt/net-<net>`.
    fn save_net_spec(&self, py: Python<'_>, net: String, spec: Bound<'_, PyAny>) -> PyResult<()> {
        let spec = object_from_py(&format!("spec of network '{net}'"), &spec)?;
        self.run(py, |e| e.save_net_spec(&net, spec))
    }

    /// Starts net `net` alone; False if it was up already.
    fn start_net(&self, py: Python<'_>, net: String) -> PyResult<bool> {
        self.run(py, |e| e.start_net(&net))
    }

    /// Stops net `net` (nothing happens if it is down).
    fn stop_net(&self, py: Python<'_>, net: String) -> PyResult<()> {
        self.run(py, |e| e.stop_net(&net))
    }

    /// The Ansible inventory text (empty `keys`: Lago's defaults).
    #[pyo3(signature = (keys=Vec::new()))]
    fn ansible_inventory(&self, py: Python<'_>, keys: Vec<String>) -> PyResult<String> {
        self.run(py, |e| e.ansible_inventory(&keys))
    }

    /// The service manager of VM `vm` (`systemd` or `sysvinit`): the one
    /// in its spec, else detected over SSH and persisted as
    /// `spec['service_provider']`.
    fn service_provider(&self, py: Python<'_>, vm: String) -> PyResult<String> {
        self.run(py, |e| {
            e.service_provider(&vm).map(|m| m.name().to_string())
        })
    }

    /// State of service `name` in VM `vm` through `provider` (`systemd`,
    /// `sysvinit`, or None for the VM's own): 0 missing, 1 inactive, 2 active.
    #[pyo3(signature = (vm, name, provider=None))]
    fn service_state(
        &self,
        py: Python<'_>,
        vm: String,
        name: String,
        provider: Option<String>,
    ) -> PyResult<i32> {
        self.run(py, |e| {
            Ok(vm_service(e, &vm, &name, provider.as_deref())?.state()? as i32)
        })
    }

    /// Starts service `name` in VM `vm` (see `service_state`).
    #[pyo3(signature = (vm, name, provider=None))]
    fn service_start(
        &self,
        py: Python<'_>,
        vm: String,
        name: String,
        provider: Option<String>,
    ) -> PyResult<()> {
        self.run(py, |e| {
            vm_service(e, &vm, &name, provider.as_deref())?.start()
        })
    }

    /// Stops service `name` in VM `vm` (see `service_state`).
    #[pyo3(signature = (vm, name, provider=None))]
    fn service_stop(
        &self,
        py: Python<'_>,
        vm: String,
        name: String,
        provider: Option<String>,
    ) -> PyResult<()> {
        self.run(py, |e| {
            vm_service(e, &vm, &name, provider.as_deref())?.stop()
        })
    }

    /// The guest agent's service name in VM `vm` (`qemu-guest-agent` or
    /// `qemu-ga`), persisted as `spec['guest-agent']`; NotFound if neither.
    fn guest_agent(&self, py: Python<'_>, vm: String) -> PyResult<String> {
        self.run(py, |e| e.guest_agent(&vm).map(|s| s.name().to_string()))
    }

    /// Whether VM `vm` has a guest agent service (persisted as above).
    fn has_guest_agent(&self, py: Python<'_>, vm: String) -> PyResult<bool> {
        self.run(py, |e| e.has_guest_agent(&vm))
    }

    /// Path of the prefix's SSH private key.
    fn ssh_id_rsa(&self) -> PyResult<PathBuf> {
        self.get(|e| e.paths().ssh_id_rsa())
    }

    /// Path of the prefix's log directory.
    fn logs_dir(&self) -> PyResult<PathBuf> {
        self.get(|e| e.paths().logs())
    }

    /// Stops everything and removes the prefix (and the workdir with its
    /// last prefix). The object is unusable afterwards.
    fn destroy(&self, py: Python<'_>) -> PyResult<()> {
        match interrupt::run(py, || self.handle.destroy()) {
            Ok(out) => out.map_err(destroyed)?.map_err(|e| errors::to_py(&e)),
            Err(interrupt::Interrupted { signal, result }) => {
                let error = result.as_ref().ok().and_then(|r| r.as_ref().err());
                Err(interrupt::raise(py, signal, error))
            }
        }
    }
}

/// Names of the prefixes of the workdir at `workdir`.
#[pyfunction]
fn prefix_names(workdir: PathBuf) -> PyResult<Vec<String>> {
    Workdir::load(workdir)
        .and_then(|w| w.prefix_names())
        .map_err(err)
}

/// The prefix `current` points to in the workdir at `workdir`.
#[pyfunction]
fn current_prefix(workdir: PathBuf) -> PyResult<String> {
    Workdir::load(workdir)
        .and_then(|w| w.current())
        .map_err(err)
}

/// Points `current` of the workdir at `workdir` to prefix `name`.
#[pyfunction]
fn set_current(workdir: PathBuf, name: &str) -> PyResult<()> {
    Workdir::load(workdir)
        .and_then(|w| w.set_current(name))
        .map_err(err)
}

/// The workdir for `cwd`: `cwd` itself, else `.lago` in it or a parent.
#[pyfunction]
fn resolve_workdir(cwd: PathBuf) -> PyResult<PathBuf> {
    Workdir::resolve(&cwd)
        .map(|w| w.path().to_path_buf())
        .map_err(err)
}

/// The template repository at `location` (a path, `file://` or `http(s)://`
/// URL), read and checked by the core, as a dict.
#[pyfunction]
fn template_repo<'py>(py: Python<'py>, location: &str) -> PyResult<Bound<'py, PyAny>> {
    let repo = interrupt::call(py, || {
        lago_core::template::RepoMetadata::load(
            location,
            &lago_core::template::HttpClient::default(),
        )
        .map_err(lago_core::Error::from)
    })?;
    view_to_py(py, &repo)
}

/// Version `version` (None: the newest) of template `template` of the
/// repository at `repo`, fetched into the store at `store` unless present;
/// returns `(image path, hash, metadata dict)`.
#[pyfunction]
#[pyo3(signature = (store, repo, template, version=None))]
fn template_fetch<'py>(
    py: Python<'py>,
    store: PathBuf,
    repo: &str,
    template: &str,
    version: Option<&str>,
) -> PyResult<(PathBuf, String, Bound<'py, PyAny>)> {
    use lago_core::template::{HttpClient, RepoMetadata, TemplateStore, env_lookup};
    let t = interrupt::call(py, || {
        let fetch = || {
            let metadata = RepoMetadata::load(repo, &HttpClient::default())?;
            let resolved = metadata.resolve(template, version, &env_lookup)?;
            TemplateStore::new(store).get_or_fetch(&resolved)
        };
        fetch().map_err(lago_core::Error::from)
    })?;
    Ok((t.image_path, t.hash, view_to_py(py, &t.metadata)?))
}

/// Whether a cancel (Ctrl-C) of running lago-core calls is requested and
/// not cleared yet (an interrupted call clears it once it has returned).
#[pyfunction]
fn cancel_requested() -> bool {
    lago_core::cancel::requested()
}

/// Shows the progress of long operations (template downloads, export,
/// collect, waits for SSH) on stderr: a bar when `bars` and stderr is a
/// terminal, else plain lines; `enabled=False` hides it again.
#[pyfunction]
#[pyo3(signature = (enabled = true, bars = true))]
fn enable_progress(enabled: bool, bars: bool) {
    progress::enable(enabled, bars);
}

/// Forwards queued core log records to Python's `logging` now.
#[pyfunction]
fn flush_logs(py: Python<'_>) {
    logbridge::flush(py);
}

/// The native half of the `lago` package.
///
/// `gil_used = false`: the module holds no Python state of its own and the
/// core is `Send + Sync`, so it is safe under free-threaded CPython.
#[pymodule(gil_used = false)]
mod _native {
    #[pymodule_export]
    use super::errors::error_classes;
    #[pymodule_export]
    use super::ssh_client::SshClient;
    #[pymodule_export]
    use super::{
        Config, Env, cancel_requested, current_prefix, enable_progress, flush_logs, prefix_names,
        resolve_workdir, set_current, template_fetch, template_repo,
    };

    /// The libvirt URI lago connects to when `[lago] libvirt_url` is unset.
    #[pymodule_export]
    const DEFAULT_LIBVIRT_URL: &str = lago_core::defaults::LIBVIRT_URL;

    /// The version of lago, equal to the Cargo workspace version.
    #[allow(non_upper_case_globals, reason = "Python's dunder name")]
    #[pymodule_export]
    const __version__: &str = lago_core::VERSION;

    #[pymodule_init]
    fn init(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        super::logbridge::install();
        super::compat::register(m)
    }
}
