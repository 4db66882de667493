//! [`Env`] operations on the guests as a whole: collecting artifacts and
//! other guest paths, running the deploy scripts, and the Ansible
//! inventory. The work itself is in [`crate::ops::collect`],
//! [`crate::ops::deploy`] and [`crate::ops::inventory`]; this module
//! picks each VM's way in and runs the VMs in parallel.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::{info, warn};

use super::Env;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::collect::{self, Extract, Source};
use crate::ops::{deploy, inventory, parallel, run};

/// How long a running VM gets to answer SSH before its disk is read
/// instead (Lago tried `ssh_reachable(tries=5)`).
const REACHABLE_WAIT: Duration = Duration::from_secs(30);

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir()?.join(p))
}

impl Env {
    /// The VMs named (all when empty), checked to exist, in env order.
    fn selected(&self, vms: &[String]) -> Result<Vec<String>> {
        let state = self.state.read();
        Ok(run::select(&state, vms)?
            .iter()
            .map(|v| v.name.clone())
            .collect())
    }

    /// Collects every named VM's `artifacts` (all VMs when `vms` is empty)
    /// into `output_dir/<vm>/<path with '/' turned into '_'>`, the VMs in
    /// parallel. An existing `output_dir` is first renamed to
    /// `output_dir.YYYY-MM-DD_HH:MM:SS`, never overwritten. A missing path
    /// fails the call with [`ErrorKind::NotFound`] (Lago's
    /// `ExtractPathNoPathError`) unless `ignore_nopath`. Everything is
    /// gathered in a staging folder first: on failure nothing is left and
    /// the previous output is untouched.
    pub fn collect(&self, output_dir: &Path, ignore_nopath: bool, vms: &[String]) -> Result<()> {
        let names = self.selected(vms)?;
        let per_vm: Vec<(String, Vec<String>)> = {
            let state = self.state.read();
            names
                .iter()
                .map(|n| {
                    let paths = state
                        .vm(n)
                        .map(|v| v.spec.artifact_paths())
                        .unwrap_or_default();
                    (n.clone(), paths)
                })
                .collect()
        };
        self.collect_paths(output_dir, ignore_nopath, &per_vm)
    }

    /// [`collect`](Env::collect) with the paths of each VM given (VM
    /// plugins that override their artifact paths): one `(vm, paths)` per
    /// VM to collect.
    pub fn collect_paths(
        &self,
        output_dir: &Path,
        ignore_nopath: bool,
        per_vm: &[(String, Vec<String>)],
    ) -> Result<()> {
        let names: Vec<String> = per_vm.iter().map(|(n, _)| n.clone()).collect();
        self.selected(&names)?;
        let output_dir = absolute(output_dir)?;
        let (Some(parent), Some(name)) = (output_dir.parent(), output_dir.file_name()) else {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("cannot collect into {}", output_dir.display()),
            ));
        };
        std::fs::create_dir_all(parent)?;
        let staging = parent.join(format!(
            ".{}.lago-collect-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        if let Err(e) = std::fs::create_dir(&staging) {
            let kind = Error::from(std::io::Error::new(e.kind(), "")).kind();
            return Err(Error::with_source(
                kind,
                format!("cannot create {}", staging.display()),
                e,
            ));
        }
        let result = parallel::each(per_vm, "collecting artifacts", |(vm, paths)| {
            self.collect_vm(vm, paths, &staging.join(vm), ignore_nopath)
        })
        .and_then(|()| {
            collect::rotate(&output_dir)?;
            collect::place(&staging, &output_dir)
        });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        } else {
            info!(output = %output_dir.display(), vms = per_vm.len(), "artifacts collected");
        }
        result
    }

    /// Collects `paths` of VM `vm` into `dest/<path with '/' turned into
    /// '_'>` (`dest` is created if needed; an entry already there is an
    /// [`ErrorKind::AlreadyExists`] error). Missing paths as in
    /// [`collect`](Env::collect).
    pub fn collect_vm(
        &self,
        vm: &str,
        paths: &[String],
        dest: &Path,
        ignore_nopath: bool,
    ) -> Result<()> {
        std::fs::create_dir_all(dest)?;
        let items: Vec<(String, PathBuf)> = paths
            .iter()
            .map(|p| (p.clone(), dest.join(collect::artifact_name(p))))
            .collect();
        self.extract_paths(vm, &items, ignore_nopath)
    }

    /// Copies each `(guest path, local path)` out of VM `vm` (`scp -r`
    /// rules for the local path). A running VM is read over SSH (tar
    /// through gzip when the guest has both, else SFTP); a VM that is not
    /// running, or does not answer SSH within 30 s, is read from its root
    /// disk with libguestfs. Missing paths as in [`collect`](Env::collect).
    pub fn extract_paths(
        &self,
        vm: &str,
        items: &[(String, PathBuf)],
        ignore_nopath: bool,
    ) -> Result<()> {
        self.selected(&[vm.to_string()])?;
        let items: Vec<Extract> = items
            .iter()
            .map(|(r, l)| {
                Ok(Extract {
                    remote: r.clone(),
                    local: absolute(l)?,
                })
            })
            .collect::<Result<_>>()?;
        if self.vm_state(vm)?.is_running() {
            let client = self.guest(vm)?;
            match client.wait_for_ssh(REACHABLE_WAIT) {
                Ok(_) => return collect::extract(vm, &Source::Ssh(&client), &items, ignore_nopath),
                Err(e) => {
                    warn!(vm, error = %e, "VM running but not answering SSH: reading its disk")
                }
            }
        }
        let source = self.disk_source(vm)?;
        collect::extract(vm, &source, &items, ignore_nopath)
    }

    /// The root disk of VM `vm` as a [`Source`].
    fn disk_source(&self, vm: &str) -> Result<Source<'static>> {
        let state = self.state.read();
        let disk = state
            .vm(vm)
            .and_then(|v| v.spec.disk_records().first().cloned())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("VM '{vm}' has no disk to read files from"),
                )
            })?;
        let root = disk.metadata_text("root-partition").filter(|r| r != "root");
        Ok(Source::Disk {
            path: self.paths.expand(&disk.path_text()),
            format: Some(disk.format_text()).filter(|f| !f.is_empty()),
            root,
        })
    }

    /// Runs every VM's deploy scripts (`metadata.deploy-scripts`), the VMs
    /// in parallel, each VM's scripts in order (see
    /// [`crate::ops::deploy`]). A VM not answering SSH yet is waited for
    /// (its boot timeout); a script exiting non-zero fails the call with
    /// `<script> failed with status N on <vm>` (Lago's `LagoDeployError`).
    pub fn deploy(&self) -> Result<()> {
        let _writer = self.write_lock("deploy")?;
        let jobs: Vec<(String, Vec<PathBuf>)> = {
            let state = self.state.read();
            state
                .vms
                .iter()
                .map(|vm| {
                    let scripts = deploy::stored_scripts(vm)
                        .iter()
                        .map(|s| deploy::script_path(s, &self.paths, self.workdir()))
                        .collect();
                    (vm.name.clone(), scripts)
                })
                .filter(|(_, s): &(String, Vec<PathBuf>)| !s.is_empty())
                .collect()
        };
        parallel::each(&jobs, "deploying", |(vm, scripts)| {
            self.wait_for_ssh(vm, None)?;
            let client = self.guest(vm)?;
            deploy::run_scripts(vm, &client, scripts)
        })
    }

    /// The Ansible inventory of the env (contract §8): empty `keys` means
    /// `vm-type`, `groups`, `vm-provider`.
    pub fn ansible_inventory(&self, keys: &[String]) -> Result<String> {
        let key_file = self.paths.ssh_id_rsa();
        let vm_type = self.config.get("default_vm_type").unwrap_or("default");
        let provider = self
            .config
            .get("default_vm_provider")
            .unwrap_or("local-libvirt");
        // guests on a remote host are reached through it
        let extra = match self.jump_host()? {
            Some(jump) => format!(
                "ansible_ssh_common_args='-o ProxyCommand=\"{}\"'",
                crate::host::proxy_command(jump.target())
            ),
            None => String::new(),
        };
        let state = self.state.read();
        inventory::inventory(
            &state,
            keys,
            &key_file.to_string_lossy(),
            (vm_type, provider),
            &extra,
        )
    }
}
