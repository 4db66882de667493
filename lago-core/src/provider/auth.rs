//! Credentials for libvirt connections that ask for them (`qemu+tcp://`
//! with SASL, `qemu+ssh://` with a password, …): `[lago] libvirt_username`
//! (or `libvirt_user`, the CLI's name for it) and `libvirt_password`.
//!
//! libvirt asks through a callback during `virConnectOpenAuth`; the `virt`
//! crate takes a plain `fn` there, with no user data, so the credentials of
//! the connection being opened sit in a thread-local for the length of that
//! one call (the callback runs on the calling thread, inside the call).

use std::cell::RefCell;

use virt::connect::{ConnectAuth, ConnectCredential, ConnectCredentialType};

use crate::config::Config;

/// What to answer when libvirt asks who we are.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (`VIR_CRED_AUTHNAME`, `VIR_CRED_USERNAME`).
    pub username: Option<String>,
    /// The password (`VIR_CRED_PASSPHRASE`, `VIR_CRED_NOECHOPROMPT`).
    pub password: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Credentials {
    /// The credentials the configuration names. Upstream Lago's provider
    /// read `libvirt_username` while its CLI set `libvirt_user`; both are
    /// accepted here, `libvirt_username` first.
    pub fn from_config(config: &Config) -> Self {
        let get = |key: &str| {
            config
                .get(key)
                .filter(|v| !v.is_empty() && *v != "None")
                .map(str::to_string)
        };
        Self {
            username: get("libvirt_username").or_else(|| get("libvirt_user")),
            password: get("libvirt_password"),
        }
    }

    /// Whether there is anything to answer with.
    pub fn is_empty(&self) -> bool {
        self.username.is_none() && self.password.is_none()
    }

    /// The answer to one of libvirt's questions, if we have one.
    fn answer(&self, kind: &ConnectCredentialType) -> Option<&str> {
        match kind {
            ConnectCredentialType::AuthName | ConnectCredentialType::UserName => {
                self.username.as_deref()
            }
            ConnectCredentialType::Passphrase | ConnectCredentialType::NoEchoPrompt => {
                self.password.as_deref()
            }
            _ => None,
        }
    }

    /// Fills every question we can answer; the others keep libvirt's
    /// default answer.
    pub(crate) fn fill(&self, creds: &mut [ConnectCredential]) {
        for c in creds {
            c.result = self
                .answer(&c.typed)
                .map(str::to_string)
                .or_else(|| Some(c.def_result.clone()).filter(|d| !d.is_empty()));
        }
    }
}

thread_local! {
    static OPENING: RefCell<Credentials> = RefCell::new(Credentials::default());
}

#[allow(
    clippy::ptr_arg,
    reason = "the signature virt's ConnectAuthCallback requires"
)]
fn answer_from_thread(creds: &mut Vec<ConnectCredential>) {
    OPENING.with(|c| c.borrow().fill(creds));
}

/// Runs `open` (a `virConnectOpenAuth` call) with `creds` answering
/// libvirt's questions, and forgets them afterwards.
pub(crate) fn with_credentials<T>(
    creds: &Credentials,
    open: impl FnOnce(&mut ConnectAuth) -> T,
) -> T {
    OPENING.with(|c| *c.borrow_mut() = creds.clone());
    let mut auth = ConnectAuth::new(
        vec![
            ConnectCredentialType::AuthName,
            ConnectCredentialType::UserName,
            ConnectCredentialType::Passphrase,
            ConnectCredentialType::NoEchoPrompt,
        ],
        answer_from_thread,
    );
    let out = open(&mut auth);
    OPENING.with(|c| *c.borrow_mut() = Credentials::default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(typed: ConnectCredentialType, def: &str) -> ConnectCredential {
        ConnectCredential {
            typed,
            prompt: String::new(),
            challenge: String::new(),
            def_result: def.into(),
            result: None,
        }
    }

    #[test]
    fn config_keys_both_spellings() {
        let mut config = Config::new();
        assert!(Credentials::from_config(&config).is_empty());
        config.set("lago", "libvirt_user", "cli-name");
        config.set("lago", "libvirt_password", "pw");
        let c = Credentials::from_config(&config);
        assert_eq!(c.username.as_deref(), Some("cli-name"));
        assert_eq!(c.password.as_deref(), Some("pw"));
        config.set("lago", "libvirt_username", "provider-name");
        let c = Credentials::from_config(&config);
        assert_eq!(c.username.as_deref(), Some("provider-name"));
        // the password never shows in logs
        assert!(!format!("{c:?}").contains("pw"), "{c:?}");
    }

    #[test]
    fn answers_what_it_knows_keeps_defaults_otherwise() {
        let c = Credentials {
            username: Some("alice".into()),
            password: Some("s3cret".into()),
        };
        let mut qs = vec![
            question(ConnectCredentialType::AuthName, "root"),
            question(ConnectCredentialType::Passphrase, ""),
            question(ConnectCredentialType::Realm, "LAGO"),
            question(ConnectCredentialType::Language, ""),
        ];
        c.fill(&mut qs);
        let got: Vec<Option<&str>> = qs.iter().map(|q| q.result.as_deref()).collect();
        assert_eq!(got, [Some("alice"), Some("s3cret"), Some("LAGO"), None]);
    }

    #[test]
    fn credentials_are_forgotten_after_the_call() {
        let c = Credentials {
            username: Some("bob".into()),
            password: None,
        };
        let seen = with_credentials(&c, |_| OPENING.with(|o| o.borrow().clone()));
        assert_eq!(seen, c);
        assert!(OPENING.with(|o| o.borrow().is_empty()));
    }
}
