//! Unit tests of configuration loading, lookup and rendering. Every test
//! uses its own files in a temporary directory and an explicit environment.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A unique temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "lago-config-unit-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    /// Writes `text` to `<tmp>/<rel>`, creating directories.
    fn write(&self, rel: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// A loader over `<tmp>/etc/lago.conf` and XDG dirs `<tmp>/home`,
/// `<tmp>/xdg1`, `<tmp>/xdg2` (most important first).
fn loader(tmp: &TempDir, vars: &[(&str, &str)]) -> ConfigLoader {
    ConfigLoader {
        etc_path: Some(tmp.0.join("etc/lago.conf")),
        xdg_dirs: vec![tmp.0.join("home"), tmp.0.join("xdg1"), tmp.0.join("xdg2")],
        env: env(vars),
    }
}

fn file_source(path: &Path, line: usize) -> Source {
    Source::File {
        path: path.to_path_buf(),
        line,
    }
}

#[test]
fn built_in_defaults() {
    let config = ConfigLoader::isolated().load().unwrap();
    assert_eq!(config, Config::new());
    assert_eq!(config.get("ssh_user"), Some("root"));
    assert_eq!(config.get("SSH_USER"), Some("root"));
    assert_eq!(config.get("lease_dir"), Some("/var/lib/lago/subnets"));
    assert_eq!(config.get("domain_type"), Some("auto"));
    assert_eq!(
        config.get_in("init", "template_repo_path"),
        Some("http://templates.ovirt.org/repo/repo.metadata")
    );
    assert_eq!(config.get_u32("ssh_tries").unwrap(), Some(100));
    assert_eq!(config.get_u32("logdepth").unwrap(), Some(3));
    assert_eq!(config.domain_type().unwrap(), DomainTypeSetting::Auto);
    assert_eq!(config.source_of("lago", "ssh_user"), Some(&Source::Default));
    assert_eq!(config.get("nope"), None);
    assert_eq!(config.get_u32("nope").unwrap(), None);
    assert!(config.section("start").is_none());
    let names: Vec<&str> = config.sections().map(Section::name).collect();
    assert_eq!(names, ["lago", "init"]);
    let lago: Vec<(&str, &str)> = config.section("lago").unwrap().values().collect();
    assert_eq!(lago.len(), 13);
    assert_eq!(lago[0], ("logdepth", "3"));
}

#[test]
fn sources_apply_in_lagos_order() {
    let tmp = TempDir::new();
    let etc = tmp.write(
        "etc/lago.conf",
        "[lago]\nssh_user = etc\nssh_tries = 1\nlogdepth = 1\nloglevel = debug\n[init]\ntemplate_store = /etc-store\n",
    );
    let xdg2 = tmp.write(
        "xdg2/lago/lago.conf",
        "[lago]\nssh_user = xdg2\nssh_tries = 2\nlogdepth = 2\n",
    );
    let xdg1 = tmp.write(
        "xdg1/lago/lago.conf",
        "[lago]\nssh_user = xdg1\nssh_tries = 3\n",
    );
    let home = tmp.write("home/lago/lago.conf", "[lago]\n\nssh_user = home\n");
    let config = loader(&tmp, &[("LAGO_SSH_TRIES", "9"), ("PATH", "/bin")])
        .load()
        .unwrap();

    assert_eq!(config.get("ssh_user"), Some("home"));
    assert_eq!(
        config.source_of("lago", "ssh_user"),
        Some(&file_source(&home, 3))
    );
    assert_eq!(config.get("ssh_tries"), Some("9"));
    assert_eq!(
        config.source_of("lago", "ssh_tries"),
        Some(&Source::Env {
            var: "LAGO_SSH_TRIES".into()
        })
    );
    // The first XDG_CONFIG_DIRS entry beats the later ones.
    assert_eq!(config.get("logdepth"), Some("2"));
    assert_eq!(
        config.source_of("lago", "logdepth"),
        Some(&file_source(&xdg2, 4))
    );
    assert_eq!(config.get("loglevel"), Some("debug"));
    assert_eq!(
        config.source_of("lago", "loglevel"),
        Some(&file_source(&etc, 5))
    );
    assert_eq!(config.get_in("init", "template_store"), Some("/etc-store"));
    let _ = xdg1;
    assert_eq!(
        loader(&tmp, &[]).config_files(),
        [
            etc,
            tmp.0.join("xdg2/lago/lago.conf"),
            tmp.0.join("xdg1/lago/lago.conf"),
            home
        ]
    );
}

#[test]
fn environment_variables() {
    let tmp = TempDir::new();
    tmp.write("etc/lago.conf", "[start]\nwait_suspend = 3\nother = x\n");
    let config = loader(
        &tmp,
        &[
            ("LAGO__START__WAIT_SUSPEND", "1.5"),
            ("LAGO__INIT__Template_Store", "/env-store"),
            ("LAGO_SSH_USER", ""),
            ("LAGO_LIBVIRT_URL", "qemu:///session"),
            ("LAGO__NEW__KEY", "v"),
            ("LAGO__LAGO__SSH_PASSWORD", "pw"),
            ("LAGO", "ignored"),
            ("lago_ssh_user", "ignored"),
        ],
    )
    .load()
    .unwrap();
    assert_eq!(
        config.get_f64_in("start", "wait_suspend").unwrap(),
        Some(1.5)
    );
    assert_eq!(config.get_in("start", "other"), Some("x"));
    assert_eq!(config.get_in("init", "template_store"), Some("/env-store"));
    // Empty values are ignored.
    assert_eq!(config.get("ssh_user"), Some("root"));
    assert_eq!(config.get("libvirt_url"), Some("qemu:///session"));
    assert_eq!(config.get_in("new", "key"), Some("v"));
    assert_eq!(config.get("ssh_password"), Some("pw"));
    let names: Vec<&str> = config.sections().map(Section::name).collect();
    assert_eq!(names, ["lago", "init", "start", "new"]);
}

#[test]
fn explicit_settings_win() {
    let tmp = TempDir::new();
    let mut config = loader(&tmp, &[("LAGO_SSH_TRIES", "9")]).load().unwrap();
    config.set("lago", "SSH_Tries", "12");
    assert_eq!(config.get_u32("ssh_tries").unwrap(), Some(12));
    assert_eq!(
        config.source_of("lago", "ssh_tries"),
        Some(&Source::Explicit { origin: None })
    );
    config.set_from(
        "lago",
        "ssh_timeout",
        "soon",
        "command-line option --ssh-timeout",
    );
    let err = config.get_u32("ssh_timeout").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"soon\" for `ssh_timeout` in section [lago] \
         (from command-line option --ssh-timeout): expected a whole number from 0 to 4294967295"
    );
    // Keys keep their place when overridden.
    let keys: Vec<&str> = config
        .section("lago")
        .unwrap()
        .entries()
        .map(Entry::key)
        .collect();
    assert_eq!(keys[4..6], ["ssh_tries", "ssh_timeout"]);
}

#[test]
fn typed_getter_errors_name_key_value_and_source() {
    let tmp = TempDir::new();
    let etc = tmp.write("etc/lago.conf", "[lago]\n# tries\nssh_tries = many\n");
    let config = loader(
        &tmp,
        &[
            ("LAGO__START__WAIT_SUSPEND", "soon"),
            ("LAGO_DOMAIN_TYPE", "xen"),
        ],
    )
    .load()
    .unwrap();
    let err = config.get_u32("ssh_tries").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid value \"many\" for `ssh_tries` in section [lago] (from {}:3): \
             expected a whole number from 0 to 4294967295",
            etc.display()
        )
    );
    let err = config.get_f64_in("start", "wait_suspend").unwrap_err();
    assert!(
        err.to_string()
            .contains("(from environment variable LAGO__START__WAIT_SUSPEND)"),
        "{err}"
    );
    let err = config.domain_type().unwrap_err();
    assert!(
        err.to_string().contains("expected one of auto, kvm, qemu"),
        "{err}"
    );
    let err = Error::from(err);
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("LAGO_DOMAIN_TYPE"));
    assert_eq!(err.key_path(), Some("lago.domain_type"));
    assert_eq!(err.path(), None, "set by the environment, not a file");
    // A bad value from a file names the file, the line and the key.
    let err = Error::from(config.get_u32("ssh_tries").unwrap_err());
    assert_eq!(err.path(), Some(etc.as_path()));
    assert_eq!(err.line(), Some(3));
    assert_eq!(err.key_path(), Some("lago.ssh_tries"));
    assert!(
        std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<ConfigError>())
            .is_some(),
        "the ConfigError is kept as the source"
    );
}

#[test]
fn typed_getters() {
    let mut config = Config::new();
    for (value, expected) in [
        ("1", true),
        ("yes", true),
        ("TRUE", true),
        ("On", true),
        ("0", false),
        ("no", false),
        ("False", false),
        ("OFF", false),
    ] {
        config.set("x", "flag", value);
        assert_eq!(
            config.get_bool_in("x", "flag").unwrap(),
            Some(expected),
            "{value}"
        );
    }
    config.set("x", "flag", "maybe");
    assert!(config.get_bool_in("x", "flag").is_err());
    config.set("lago", "big", "18446744073709551615");
    assert_eq!(config.get_u64("big").unwrap(), Some(u64::MAX));
    assert!(config.get_u32("big").is_err());
    config.set("lago", "neg", "-1");
    assert!(config.get_u64("neg").is_err());
    config.set("lago", "f", "inf");
    assert!(config.get_f64("f").is_err());
    config.set("lago", "f", "2");
    assert_eq!(config.get_f64("f").unwrap(), Some(2.0));
    for (text, expected) in [
        ("kvm", DomainTypeSetting::Kvm),
        ("QEMU", DomainTypeSetting::Qemu),
        ("auto", DomainTypeSetting::Auto),
    ] {
        config.set("lago", "domain_type", text);
        assert_eq!(config.domain_type().unwrap(), expected);
    }
    assert_eq!(DomainTypeSetting::Qemu.to_string(), "qemu");
}

#[test]
fn unreadable_files_are_skipped_and_malformed_ones_are_errors() {
    let tmp = TempDir::new();
    // A directory where a file is expected cannot be read: skipped.
    fs::create_dir_all(tmp.0.join("home/lago/lago.conf")).unwrap();
    assert_eq!(loader(&tmp, &[]).load().unwrap(), Config::new());

    let bad = tmp.write(
        "xdg1/lago/lago.conf",
        "[lago]\nssh_user = a\nthis is not ini\n",
    );
    let err = loader(&tmp, &[]).load().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3: expected `key = value`, `key: value` or `[section]`, found \"this is not ini\"",
            bad.display()
        )
    );
    assert_eq!(Error::from(err).kind(), ErrorKind::Config);

    let bad = tmp.write("xdg1/lago/lago.conf", b"[lago]\nssh_user = a\nx = \xff\n");
    let err = loader(&tmp, &[]).load().unwrap_err();
    assert_eq!(
        err,
        ConfigError::NotUtf8 {
            path: bad.clone(),
            line: 3
        }
    );
    assert!(
        err.to_string()
            .starts_with(&format!("{}:3: ", bad.display()))
    );
}

#[test]
fn default_section_is_inherited() {
    let tmp = TempDir::new();
    let etc = tmp.write(
        "etc/lago.conf",
        "[lago]\nssh_password = etc\n[start]\nx = 1\n",
    );
    let home = tmp.write(
        "home/lago/lago.conf",
        "[DEFAULT]\nssh_user = dflt\nssh_password = dflt\nshared = s\n",
    );
    let mut config = loader(&tmp, &[]).load().unwrap();
    // [DEFAULT] beats the built-in default...
    assert_eq!(config.get("ssh_user"), Some("dflt"));
    assert_eq!(
        config.source_of("lago", "ssh_user"),
        Some(&file_source(&home, 2))
    );
    // ...but not a section's own value, even from a less important file.
    assert_eq!(config.get("ssh_password"), Some("etc"));
    assert_eq!(
        config.source_of("lago", "ssh_password"),
        Some(&file_source(&etc, 2))
    );
    // Every section gets the keys, including sections made later.
    assert_eq!(config.get_in("init", "shared"), Some("s"));
    assert_eq!(config.get_in("start", "shared"), Some("s"));
    config.add_option("shell", "shared", Some("declared"), None);
    assert_eq!(config.get_in("shell", "shared"), Some("s"));
    config.set("later", "y", "2");
    assert_eq!(config.get_in("later", "shared"), Some("s"));
    assert!(config.section("DEFAULT").is_none());
}

#[test]
fn options_are_declared_in_order() {
    let tmp = TempDir::new();
    tmp.write(
        "etc/lago.conf",
        "[start]\nextra = e\nwait_suspend = 2\n[files_only]\nk = v\n",
    );
    let mut config = loader(&tmp, &[]).load().unwrap();
    config.add_option("start", "vm_names", None, Some("The VMs to start"));
    config.add_option(
        "start",
        "wait_suspend",
        Some("0"),
        Some("Seconds to keep domains paused"),
    );
    config.add_option("lago", "ssh_user", Some("ignored"), Some("User for SSH"));
    config.add_option("lago", "out_format", Some("default"), None);
    config.add_option("start", "vm_names", Some("x"), None);

    let start = config.section("start").unwrap();
    let keys: Vec<&str> = start.entries().map(Entry::key).collect();
    assert_eq!(keys, ["vm_names", "wait_suspend", "extra"]);
    // A value from a file beats the declared default, and keeps its source.
    assert_eq!(start.get("wait_suspend"), Some("2"));
    assert!(matches!(
        start.entry("wait_suspend").unwrap().source(),
        Source::File { .. }
    ));
    assert_eq!(
        start.entry("wait_suspend").unwrap().help(),
        Some("Seconds to keep domains paused")
    );
    // Re-declaring gives the unset option its default.
    assert_eq!(start.get("vm_names"), Some("x"));
    assert_eq!(config.get("ssh_user"), Some("root"));
    let lago_keys: Vec<&str> = config
        .section("lago")
        .unwrap()
        .entries()
        .map(Entry::key)
        .collect();
    assert_eq!(lago_keys[2], "ssh_user");
    assert_eq!(lago_keys.last(), Some(&"out_format"));
    // Declared sections come before file-only ones.
    let names: Vec<&str> = config.sections().map(Section::name).collect();
    assert_eq!(names, ["lago", "init", "start", "files_only"]);
}

#[test]
fn to_ini_defaults() {
    let expected = "\
# Lago configuration file, generated: Mon Jan  1 00:00:00 2024
[lago]
logdepth = 3
loglevel = info
ssh_user = root
ssh_password = 123456
ssh_tries = 100
ssh_timeout = 10
libvirt_url = qemu:///system
default_vm_type = default
default_vm_provider = local-libvirt
lease_dir = /var/lib/lago/subnets
prefix_name = current
reposync_dir = /var/lib/lago
domain_type = auto

[init]
template_repo_path = http://templates.ovirt.org/repo/repo.metadata
template_store = /var/lib/lago/store
template_repos = /var/lib/lago/repos

";
    let config = Config::new();
    assert_eq!(config.to_ini(false, "Mon Jan  1 00:00:00 2024"), expected);
    assert_eq!(config.to_ini(true, "Mon Jan  1 00:00:00 2024"), expected);
}

#[test]
fn to_ini_with_help_unset_and_multiline() {
    let mut config = Config::new();
    config.add_option(
        "lago",
        "prefix_path",
        None,
        Some("Path to the prefix. This is deprecated, please use the workdir and prefix name instead of it, it will be removed in a future version."),
    );
    config.add_option("lago", "ignore_warnings", Some(""), Some("never printed"));
    config.add_option("destroy", "yes", None, Some("Do not ask for confirmation"));
    config.add_option(
        "export",
        "dst_dir",
        Some("."),
        Some("Dir to place the exported images in"),
    );
    config.set("export", "notes", "one\ntwo");

    let quiet = config.to_ini(false, "T");
    assert!(!quiet.contains("prefix_path"), "{quiet}");
    assert!(!quiet.contains("ignore_warnings"), "{quiet}");
    assert!(!quiet.contains("[destroy]"), "{quiet}");
    assert!(
        quiet.ends_with(
            "[export]\n# Dir to place the exported images in\ndst_dir = .\nnotes = one\n\ttwo\n\n"
        ),
        "{quiet}"
    );

    let verbose = config.to_ini(true, "T");
    let expected_lago_tail = "\
domain_type = auto
# Path to the prefix. This is deprecated, please use the workdir and
# prefix name instead of it, it will be removed in a future version.
#prefix_path = None

[init]
";
    assert!(verbose.contains(expected_lago_tail), "{verbose}");
    assert!(
        verbose.contains("[destroy]\n# Do not ask for confirmation\n#yes = None\n\n[export]\n"),
        "{verbose}"
    );
}

#[test]
fn wrap_like_textwrap() {
    assert_eq!(wrap("a b  c", 70), ["a b c"]);
    assert_eq!(wrap("", 70), Vec::<String>::new());
    assert_eq!(wrap("aaa bbb ccc", 7), ["aaa bbb", "ccc"]);
    assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
    // Checked against Python's textwrap.wrap.
    assert_eq!(wrap("x abcdefghij", 4), ["x ab", "cdef", "ghij"]);
    assert_eq!(wrap("ab abcdefghij", 4), ["ab a", "bcde", "fghi", "j"]);
    assert_eq!(wrap("abc de", 3), ["abc", "de"]);
}

#[test]
fn config_is_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Config>();
    assert_traits::<ConfigLoader>();
    assert_traits::<ConfigError>();
}

#[test]
fn debug_form_hides_passwords() {
    let mut c = Config::new();
    c.set("lago", "libvirt_password", "s3cret-libvirt");
    c.set("lago", "ssh_password", "s3cret-ssh");
    c.set("lago", "libvirt_url", "qemu+tcp://h/system");
    let text = format!("{c:?}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("qemu+tcp://h/system"), "{text}");
    assert_eq!(c.get("libvirt_password"), Some("s3cret-libvirt"));
}
