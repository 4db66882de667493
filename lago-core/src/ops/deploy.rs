//! `lago deploy`: each VM's `metadata.deploy-scripts` run in the guest
//! (contract §9 "Deploy").
//!
//! At init the scripts were copied into `<prefix>/scripts/` and the spec
//! rewritten to `$LAGO_PREFIX_PATH/scripts/<name>`; here the stored path is
//! expanded on the host (`$LAGO_PREFIX_PATH`, `$LAGO_WORKDIR_PATH`, then the
//! process environment and `~`, as Lago's `expandvars`/`expanduser`), and
//! the file's bytes go to the guest's `bash -s` on standard input — or to
//! `sh -s` in a guest without bash (busybox guests such as the `tiny`
//! template), decided in the same command. Nothing is left in the guest.
//! Output is logged (standard output at debug level, standard error as an
//! error when the script fails), not printed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::{debug, error, info};

use crate::error::{Error, ErrorKind, Result};
use crate::paths::Paths;
use crate::prefix::state::VmState;
use crate::spec::expand_vars;
use crate::ssh::SshClient;

/// Limit on one deploy script.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// The command line a script is fed to: bash where there is one (Lago's
/// `bash -s`), else the POSIX shell.
pub const SCRIPT_COMMAND: &str =
    "if command -v bash >/dev/null 2>&1; then exec bash -s; else exec sh -s; fi";

/// The deploy scripts of `vm` as stored (`deploy-scripts`, or the older
/// `ovirt-scripts` when there are none).
pub fn stored_scripts(vm: &VmState) -> Vec<String> {
    vm.spec.deploy_scripts()
}

/// A stored script path made real on the host: `$LAGO_PREFIX_PATH` is the
/// prefix, `$LAGO_WORKDIR_PATH` the workdir, other variables come from the
/// environment, and a leading `~` is the home folder.
pub fn script_path(stored: &str, paths: &Paths, workdir: &Path) -> PathBuf {
    let prefix = paths.prefix_path().to_string_lossy().into_owned();
    let workdir = workdir.to_string_lossy().into_owned();
    let expanded = expand_vars(stored, |name| match name {
        "LAGO_PREFIX_PATH" => Some(prefix.clone()),
        "LAGO_WORKDIR_PATH" => Some(workdir.clone()),
        other => std::env::var(other).ok(),
    });
    match expanded.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(rest.trim_start_matches('/')),
            None => PathBuf::from(expanded),
        },
        _ => PathBuf::from(expanded),
    }
}

/// Lago's `LagoDeployError` text.
pub fn failure_message(script: &Path, code: i32, vm: &str) -> String {
    format!("{} failed with status {code} on {vm}", script.display())
}

/// Runs `scripts` (host paths) one after the other in VM `vm` through
/// `client`; the first that exits non-zero ends the run with
/// [`failure_message`] (kind [`ErrorKind::Ssh`]: a command run over SSH
/// failed).
pub fn run_scripts(vm: &str, client: &SshClient, scripts: &[PathBuf]) -> Result<()> {
    for script in scripts {
        let body = std::fs::read(script).map_err(|e| {
            Error::with_source(
                ErrorKind::NotFound,
                format!("VM '{vm}': cannot read deploy script {}", script.display()),
                e,
            )
        })?;
        info!(vm, script = %script.display(), "running deploy script");
        let r = client.exec_command(SCRIPT_COMMAND, Some(&body), SCRIPT_TIMEOUT)?;
        let out = r.stdout_lossy();
        let err = r.stderr_lossy();
        debug!(vm, script = %script.display(), code = r.code, "STDOUT:\n{out}");
        if !r.success() {
            error!(vm, script = %script.display(), "STDERR\n{err}");
            return Err(Error::new(
                ErrorKind::Ssh,
                failure_message(script, r.code, vm),
            ));
        }
        debug!(vm, script = %script.display(), "STDERR:\n{err}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stored_paths_expand_on_the_host() {
        let paths = Paths::new("/w/.lago/default");
        assert_eq!(
            script_path(
                "$LAGO_PREFIX_PATH/scripts/_s_a.sh",
                &paths,
                Path::new("/w/.lago")
            ),
            Path::new("/w/.lago/default/scripts/_s_a.sh")
        );
        assert_eq!(
            script_path(
                "${LAGO_WORKDIR_PATH}/../x.sh",
                &paths,
                Path::new("/w/.lago")
            ),
            Path::new("/w/.lago/../x.sh")
        );
        assert_eq!(
            script_path("/abs/$LAGO_NO_SUCH_VAR_X/y", &paths, Path::new("/w")),
            Path::new("/abs/$LAGO_NO_SUCH_VAR_X/y")
        );
    }

    #[test]
    fn the_message_is_lagos() {
        assert_eq!(
            failure_message(Path::new("/p/scripts/_s_fail.sh"), 1, "vm0"),
            "/p/scripts/_s_fail.sh failed with status 1 on vm0"
        );
    }

    #[test]
    fn scripts_come_from_deploy_scripts_then_ovirt_scripts() {
        let vm = |meta: serde_json::Value| VmState {
            name: "vm0".into(),
            spec: serde_json::from_value(json!({"name": "vm0", "metadata": meta})).unwrap(),
        };
        assert_eq!(
            stored_scripts(&vm(
                json!({"deploy-scripts": ["a", "b"], "ovirt-scripts": ["c"]})
            )),
            ["a", "b"]
        );
        assert_eq!(
            stored_scripts(&vm(json!({"deploy-scripts": [], "ovirt-scripts": ["c"]}))),
            ["c"]
        );
        assert!(stored_scripts(&vm(json!({}))).is_empty());
    }
}
