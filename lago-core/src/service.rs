//! Service probes in the guest: state, start and stop through systemd or
//! SysV init scripts, whichever the guest has.
//!
//! Detection (one command): systemd when `systemctl` exists and systemd is
//! running (`/run/systemd/system`); otherwise SysV init when there is an
//! `/etc/init.d` folder or a `service` command; otherwise none. This is
//! Lago's order (`systemd` before `sysvinit`), with the extra check that
//! systemd is actually the running init.
//!
//! States are Lago's `ServiceState`: [`Missing`](ServiceState::Missing)
//! (no such unit or init script), [`Inactive`](ServiceState::Inactive),
//! [`Active`](ServiceState::Active).
//!
//! - systemd: `systemctl show -p LoadState -p ActiveState <name>`:
//!   `LoadState=not-found` is missing; `ActiveState` `active`/`reloading`
//!   is active; anything else inactive.
//! - SysV: `/etc/init.d/<name> status` if the script exists, else
//!   `service <name> status` if that command exists: exit 0 is active;
//!   without the script, an "unrecognized service" answer (or LSB code 4
//!   with no script at all) is missing; any other code (LSB 1–3 "not
//!   running", …) is inactive.

use std::fmt;
use std::time::Duration;

use crate::ssh::SshClient;
use crate::ssh::quote;
use crate::ssh::{ExecResult, Result, SshError};

/// Time limit of one probe command.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time limit of a start or stop.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(120);

/// The state of a service, as Lago's `ServiceState` (same values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceState {
    /// No such service in the guest.
    Missing = 0,
    /// The service exists and is not running.
    Inactive = 1,
    /// The service is running.
    Active = 2,
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServiceState::Missing => "MISSING",
            ServiceState::Inactive => "INACTIVE",
            ServiceState::Active => "ACTIVE",
        })
    }
}

/// How services are managed in a guest (Lago's `service_provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceManager {
    /// systemd, through `systemctl`.
    Systemd,
    /// SysV init scripts in `/etc/init.d`, or the `service` command.
    Sysvinit,
}

impl ServiceManager {
    /// Lago's name for it: `systemd` or `sysvinit`.
    pub fn name(self) -> &'static str {
        match self {
            ServiceManager::Systemd => "systemd",
            ServiceManager::Sysvinit => "sysvinit",
        }
    }

    /// The manager with Lago's name `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "systemd" => Some(ServiceManager::Systemd),
            "sysvinit" => Some(ServiceManager::Sysvinit),
            _ => None,
        }
    }
}

/// The detection command: prints `systemd`, `sysvinit` or `none`.
const DETECT: &str = "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; \
                      then echo systemd; \
                      elif [ -d /etc/init.d ] || command -v service >/dev/null 2>&1; \
                      then echo sysvinit; else echo none; fi";

/// Parses the output of [`DETECT`].
fn parse_detect(out: &[u8]) -> Option<Option<ServiceManager>> {
    match String::from_utf8_lossy(out).trim() {
        "none" => Some(None),
        name => ServiceManager::from_name(name).map(Some),
    }
}

/// The SysV command for `action` on `name`, printing a marker line with
/// how it ran: `lago-svc: script <code>`, `lago-svc: service <code>` or
/// `lago-svc: missing`. The action's own output is kept for messages.
fn sysv_command(name: &str, action: &str) -> String {
    let script = quote(format!("/etc/init.d/{name}"));
    let name = quote(name);
    format!(
        "if [ -x {script} ]; then {script} {action} 2>&1; echo \"lago-svc: script $?\"; \
         elif command -v service >/dev/null 2>&1; then service {name} {action} 2>&1; \
         echo \"lago-svc: service $?\"; else echo 'lago-svc: missing'; fi"
    )
}

/// How a SysV command ran: through the script, through `service`, or not
/// at all; with its exit code and output.
#[derive(Debug, PartialEq, Eq)]
enum SysvOutcome {
    Script(i32, String),
    Service(i32, String),
    Missing,
}

fn parse_sysv(out: &[u8]) -> Option<SysvOutcome> {
    let text = String::from_utf8_lossy(out);
    let text = text.trim_end();
    let (body, last) = match text.rsplit_once('\n') {
        Some((body, last)) => (body, last),
        None => ("", text),
    };
    let marker = last.strip_prefix("lago-svc: ")?;
    if marker == "missing" {
        return Some(SysvOutcome::Missing);
    }
    let (how, code) = marker.split_once(' ')?;
    let code: i32 = code.trim().parse().ok()?;
    let body = body.to_owned();
    match how {
        "script" => Some(SysvOutcome::Script(code, body)),
        "service" => Some(SysvOutcome::Service(code, body)),
        _ => None,
    }
}

fn sysv_state(outcome: &SysvOutcome) -> ServiceState {
    match outcome {
        SysvOutcome::Missing => ServiceState::Missing,
        SysvOutcome::Script(0, _) | SysvOutcome::Service(0, _) => ServiceState::Active,
        SysvOutcome::Script(..) => ServiceState::Inactive,
        SysvOutcome::Service(code, out) => {
            let lower = out.to_ascii_lowercase();
            if lower.contains("unrecognized service")
                || lower.contains("not found")
                || lower.contains("no such")
                || *code == 4
            {
                ServiceState::Missing
            } else {
                ServiceState::Inactive
            }
        }
    }
}

/// Parses `systemctl show -p LoadState -p ActiveState` output.
fn systemd_state(out: &[u8]) -> Option<ServiceState> {
    let text = String::from_utf8_lossy(out);
    let mut load = None;
    let mut active = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("LoadState=") {
            load = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("ActiveState=") {
            active = Some(v.trim().to_owned());
        }
    }
    let load = load?;
    if load == "not-found" {
        return Some(ServiceState::Missing);
    }
    Some(match active?.as_str() {
        "active" | "reloading" => ServiceState::Active,
        _ => ServiceState::Inactive,
    })
}

/// A service in the guest.
#[derive(Debug)]
pub struct Service<'a> {
    client: &'a SshClient,
    name: String,
    manager: ServiceManager,
}

/// Checks a service name: not empty, no `/`, no NUL, no leading `-`.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['/', '\0']) || name.starts_with('-') {
        return Err(SshError::InvalidInput {
            what: "service name",
            msg: format!("{name:?}: must be a plain name (no '/', not starting with '-')"),
        });
    }
    Ok(())
}

impl SshClient {
    /// Which service manager the guest uses, `None` if neither.
    pub fn service_manager(&self) -> Result<Option<ServiceManager>> {
        let r = self.exec_command(DETECT, None, PROBE_TIMEOUT)?;
        parse_detect(&r.stdout).ok_or_else(|| {
            let ctx = self.current_ctx();
            SshError::Service {
                target: ctx.target(),
                name: "*".into(),
                msg: format!(
                    "cannot tell the service manager from {:?}",
                    r.stdout_lossy().trim()
                ),
                missing: false,
            }
        })
    }

    /// The service `name`, managed by whatever the guest uses (detected
    /// now: one command). Fails if the guest has no service manager, like
    /// Lago's "No service provider detected".
    pub fn service(&self, name: &str) -> Result<Service<'_>> {
        check_name(name)?;
        match self.service_manager()? {
            Some(manager) => Ok(Service {
                client: self,
                name: name.to_owned(),
                manager,
            }),
            None => {
                let ctx = self.current_ctx();
                Err(SshError::Service {
                    target: ctx.target(),
                    name: name.to_owned(),
                    msg: "no service manager detected (neither systemd nor SysV init)".into(),
                    missing: true,
                })
            }
        }
    }

    /// The service `name` under a known manager (e.g. one persisted in the
    /// VM's spec), without detecting.
    pub fn service_with(&self, name: &str, manager: ServiceManager) -> Result<Service<'_>> {
        check_name(name)?;
        Ok(Service {
            client: self,
            name: name.to_owned(),
            manager,
        })
    }
}

impl Service<'_> {
    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The manager it is driven through.
    pub fn manager(&self) -> ServiceManager {
        self.manager
    }

    fn err(&self, msg: impl Into<String>, missing: bool) -> SshError {
        let ctx = self.client.current_ctx();
        SshError::Service {
            target: ctx.target(),
            name: self.name.clone(),
            msg: msg.into(),
            missing,
        }
    }

    fn systemctl(&self, args: &[&str], timeout: Duration) -> Result<ExecResult> {
        let mut argv = vec!["systemctl"];
        argv.extend_from_slice(args);
        argv.push("--");
        argv.push(&self.name);
        self.client.exec(&argv, timeout)
    }

    fn sysv(&self, action: &str, timeout: Duration) -> Result<SysvOutcome> {
        let r = self
            .client
            .exec_command(&sysv_command(&self.name, action), None, timeout)?;
        parse_sysv(&r.stdout).ok_or_else(|| {
            self.err(
                format!("unexpected answer to {action}: {:?}", r.stdout_lossy()),
                false,
            )
        })
    }

    /// The current state.
    pub fn state(&self) -> Result<ServiceState> {
        match self.manager {
            ServiceManager::Systemd => {
                let r = self.systemctl(
                    &["show", "-p", "LoadState", "-p", "ActiveState"],
                    PROBE_TIMEOUT,
                )?;
                systemd_state(&r.stdout).ok_or_else(|| {
                    self.err(
                        format!(
                            "unexpected systemctl answer (exit {}): {}",
                            r.code,
                            r.stderr_lossy().trim()
                        ),
                        false,
                    )
                })
            }
            ServiceManager::Sysvinit => Ok(sysv_state(&self.sysv("status", PROBE_TIMEOUT)?)),
        }
    }

    /// Whether the service exists.
    pub fn exists(&self) -> Result<bool> {
        Ok(self.state()? != ServiceState::Missing)
    }

    /// Whether the service is running.
    pub fn alive(&self) -> Result<bool> {
        Ok(self.state()? == ServiceState::Active)
    }

    /// Starts the service. A missing service is an error (kind
    /// [`NotFound`](crate::ErrorKind::NotFound)), as is a failed start.
    pub fn start(&self) -> Result<()> {
        self.control("start")
    }

    /// Stops the service. A missing service is an error, as is a failed
    /// stop.
    pub fn stop(&self) -> Result<()> {
        self.control("stop")
    }

    fn control(&self, action: &str) -> Result<()> {
        if self.state()? == ServiceState::Missing {
            return Err(self.err(format!("cannot {action}: service not present"), true));
        }
        match self.manager {
            ServiceManager::Systemd => {
                let r = self.systemctl(&[action], CONTROL_TIMEOUT)?;
                if !r.success() {
                    return Err(self.err(
                        format!(
                            "failed to {action} (exit {}): {}",
                            r.code,
                            r.stderr_lossy().trim()
                        ),
                        false,
                    ));
                }
            }
            ServiceManager::Sysvinit => match self.sysv(action, CONTROL_TIMEOUT)? {
                SysvOutcome::Script(0, _) | SysvOutcome::Service(0, _) => {}
                SysvOutcome::Missing => {
                    return Err(self.err(format!("cannot {action}: service not present"), true));
                }
                SysvOutcome::Script(code, out) | SysvOutcome::Service(code, out) => {
                    return Err(self.err(
                        format!("failed to {action} (exit {code}): {}", out.trim()),
                        false,
                    ));
                }
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_output() {
        assert_eq!(
            parse_detect(b"systemd\n"),
            Some(Some(ServiceManager::Systemd))
        );
        assert_eq!(
            parse_detect(b"sysvinit\n"),
            Some(Some(ServiceManager::Sysvinit))
        );
        assert_eq!(parse_detect(b"none\n"), Some(None));
        assert_eq!(parse_detect(b"sh: oops\n"), None);
    }

    #[test]
    fn systemd_states() {
        let s = |t: &str| systemd_state(t.as_bytes());
        assert_eq!(
            s("LoadState=not-found\nActiveState=inactive\n"),
            Some(ServiceState::Missing)
        );
        assert_eq!(
            s("LoadState=loaded\nActiveState=active\n"),
            Some(ServiceState::Active)
        );
        assert_eq!(
            s("ActiveState=reloading\nLoadState=loaded\n"),
            Some(ServiceState::Active)
        );
        assert_eq!(
            s("LoadState=loaded\nActiveState=failed\n"),
            Some(ServiceState::Inactive)
        );
        assert_eq!(
            s("LoadState=masked\nActiveState=inactive\n"),
            Some(ServiceState::Inactive)
        );
        assert_eq!(s("Failed to connect to bus\n"), None);
    }

    #[test]
    fn sysv_outcomes() {
        assert_eq!(
            parse_sysv(b"lago-svc: missing\n"),
            Some(SysvOutcome::Missing)
        );
        assert_eq!(
            parse_sysv(b"foo is running\nlago-svc: script 0\n"),
            Some(SysvOutcome::Script(0, "foo is running".into()))
        );
        assert_eq!(
            parse_sysv(b"lago-svc: service 1\n"),
            Some(SysvOutcome::Service(1, String::new()))
        );
        assert_eq!(parse_sysv(b"garbage\n"), None);
        assert_eq!(parse_sysv(b""), None);
    }

    #[test]
    fn sysv_states() {
        use SysvOutcome::*;
        assert_eq!(sysv_state(&Missing), ServiceState::Missing);
        assert_eq!(sysv_state(&Script(0, String::new())), ServiceState::Active);
        assert_eq!(
            sysv_state(&Script(3, "foo is stopped".into())),
            ServiceState::Inactive
        );
        assert_eq!(
            sysv_state(&Script(4, String::new())),
            ServiceState::Inactive
        );
        assert_eq!(sysv_state(&Service(0, String::new())), ServiceState::Active);
        assert_eq!(
            sysv_state(&Service(3, "foo is stopped".into())),
            ServiceState::Inactive
        );
        assert_eq!(
            sysv_state(&Service(1, "foo: unrecognized service".into())),
            ServiceState::Missing
        );
    }

    #[test]
    fn sysv_command_quotes_the_name() {
        let cmd = sysv_command("my svc", "status");
        assert!(cmd.contains("'/etc/init.d/my svc' status"), "{cmd}");
        assert!(cmd.contains("service 'my svc' status"), "{cmd}");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("sshd").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("../etc/passwd").is_err());
        assert!(check_name("-x").is_err());
    }

    #[test]
    fn states_have_lago_values() {
        assert_eq!(ServiceState::Missing as i32, 0);
        assert_eq!(ServiceState::Inactive as i32, 1);
        assert_eq!(ServiceState::Active as i32, 2);
        assert_eq!(ServiceState::Active.to_string(), "ACTIVE");
        assert_eq!(
            ServiceManager::from_name("sysvinit"),
            Some(ServiceManager::Sysvinit)
        );
        assert_eq!(ServiceManager::Systemd.name(), "systemd");
    }
}
