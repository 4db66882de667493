//! libvirt credentials on a real daemon: the test host's libvirtd also
//! listens on TCP (loopback of its namespace) with SASL authentication
//! (`tests/host/up`), and lago must log in there with `libvirt_username` /
//! `libvirt_password` from its configuration — and say what to set when
//! they are missing or wrong.
//!
//!     tests/host/run cargo test -p lago-core --test guest_auth -- --ignored

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // test code

mod support;

use std::path::Path;

use lago_core::Config;
use lago_core::Env;
use lago_core::provider::Provider;
use lago_core::provider::auth::Credentials;
use lago_core::provider::libvirt::Libvirt;

fn auth_host() -> (String, String, String) {
    support::guest::require_namespace();
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: the test host predates the SASL listener; restart it with `sudo tests/host/down; sudo tests/host/up` and run through tests/host/run")
        })
    };
    (
        var("LAGO_TEST_AUTH_URI"),
        var("LAGO_TEST_AUTH_USER"),
        var("LAGO_TEST_AUTH_PASSWORD"),
    )
}

#[test]
#[ignore = "real daemon: tests/host/run cargo test -p lago-core --test guest_auth -- --ignored"]
fn logs_in_with_configured_credentials() {
    let (uri, user, password) = auth_host();
    let creds = Credentials {
        username: Some(user.clone()),
        password: Some(password.clone()),
    };
    let lv = Libvirt::connect_with(&uri, &creds).unwrap();
    assert!(lv.capabilities().unwrap().contains("<capabilities>"));
    lv.list_vms().unwrap();

    // wrong password: refused, and the message says which keys to check
    let wrong = Credentials {
        username: Some(user.clone()),
        password: Some(format!("{password}x")),
    };
    let err = Libvirt::connect_with(&uri, &wrong).unwrap_err().to_string();
    assert!(err.contains(&uri), "{err}");
    assert!(err.contains("libvirt_password"), "{err}");

    // no credentials at all: refused, and told to set them
    let err = Libvirt::connect(&uri).unwrap_err().to_string();
    assert!(
        err.contains("set libvirt_username and libvirt_password"),
        "{err}"
    );
}

#[test]
#[ignore = "real daemon: tests/host/run cargo test -p lago-core --test guest_auth -- --ignored"]
fn env_uses_the_configuration_both_key_spellings() {
    let (uri, user, password) = auth_host();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream-workdir");
    for user_key in ["libvirt_username", "libvirt_user"] {
        let mut config = Config::new();
        config.set("lago", "libvirt_url", &uri);
        config.set("lago", user_key, &user);
        config.set("lago", "libvirt_password", &password);
        let env = Env::load(&fixture, "current", config).unwrap();
        // status goes through the authenticated connection
        let status = env.status().unwrap();
        assert_eq!(
            status["Prefix"]["VMs"]["vm0"]["status"], "down",
            "{user_key}"
        );
        assert!(env.provider().unwrap().list_networks().is_ok());
    }
    // and without the password, the env reports the refusal
    let mut config = Config::new();
    config.set("lago", "libvirt_url", &uri);
    config.set("lago", "libvirt_user", &user);
    let env = Env::load(&fixture, "current", config).unwrap();
    let err = env.status().unwrap_err();
    assert!(err.message().contains(&uri), "{}", err.message());
}
