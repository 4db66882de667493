//! Shell commands in a guest of an [`Env`], for the tests that check what a
//! guest shows.

use std::time::Duration;

use lago_core::Env;

/// `sh -c CMD` in VM `vm` (60 s at most), asserted to exit 0; its standard
/// output, trimmed.
pub fn sh(env: &Env, vm: &str, cmd: &str) -> String {
    let r = env
        .ssh(
            vm,
            &["sh".into(), "-c".into(), cmd.into()],
            Duration::from_secs(60),
        )
        .unwrap();
    assert_eq!(
        r.code,
        0,
        "{vm}: {cmd}: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    r.stdout_lossy().trim().to_string()
}
