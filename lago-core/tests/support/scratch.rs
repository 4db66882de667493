//! The scratch folder and configuration of a real-guest test through
//! `Env`: a fresh folder under the temp dir (reachable by qemu), a lease
//! folder of its own, domain type `auto`, and the test templates'
//! repository and store (`$LAGO_TEST_ROOT`, default `/var/lib/lago-tests`).

use std::fs;
use std::path::PathBuf;

use lago_core::config::Config;

/// A fresh `<temp>/<name>-<pid>` folder and the configuration using it.
pub fn scratch(name: &str) -> (PathBuf, Config) {
    let root = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    let test_root = std::env::var("LAGO_TEST_ROOT").unwrap_or("/var/lib/lago-tests".into());
    let mut config = Config::new();
    config.set("lago", "lease_dir", root.join("leases").to_string_lossy());
    config.set("lago", "domain_type", "auto");
    config.set("init", "template_store", format!("{test_root}/store"));
    config.set(
        "init",
        "template_repo_path",
        format!("{test_root}/repo/repo.metadata"),
    );
    (root, config)
}
