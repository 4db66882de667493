//! The scratch folder and configuration of a real-guest test through
//! `Env`: a fresh folder under the temp dir (reachable by qemu), the lease
//! folder all real-guest tests share (`$LAGO_TEST_LEASES`, default
//! `$LAGO_TEST_ROOT/leases`: concurrent tests and runs in the namespace then
//! never pick the same subnet), domain type `auto`, and the test templates'
//! repository and store (`$LAGO_TEST_ROOT`, default `/var/lib/lago-tests`).

use std::fs;
use std::path::{Path, PathBuf};

use lago_core::Config;

/// `$LAGO_TEST_ROOT`, default `/var/lib/lago-tests`.
pub fn test_root() -> PathBuf {
    std::env::var_os("LAGO_TEST_ROOT").map_or("/var/lib/lago-tests".into(), PathBuf::from)
}

/// The shared lease folder (made if missing).
pub fn lease_dir() -> PathBuf {
    let dir = std::env::var_os("LAGO_TEST_LEASES")
        .map_or_else(|| test_root().join("leases"), PathBuf::from);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The lease files in the shared folder held by prefixes under `root`
/// (a lease names its owner's uuid file).
pub fn leases_under(root: &Path) -> Vec<PathBuf> {
    let needle = format!("{}/", root.to_string_lossy());
    fs::read_dir(lease_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lease"))
        .filter(|p| fs::read_to_string(p).is_ok_and(|t| t.contains(&needle)))
        .collect()
}

/// A fresh `<temp>/<name>-<pid>` folder and the configuration using it.
pub fn scratch(name: &str) -> (PathBuf, Config) {
    let root = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    let test_root = test_root();
    let mut config = Config::new();
    config.set("lago", "lease_dir", lease_dir().to_string_lossy());
    config.set("lago", "domain_type", "auto");
    config.set(
        "init",
        "template_store",
        test_root.join("store").to_string_lossy(),
    );
    config.set(
        "init",
        "template_repo_path",
        test_root.join("repo/repo.metadata").to_string_lossy(),
    );
    (root, config)
}
