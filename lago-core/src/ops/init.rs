//! `init`: from a LagoInitFile to an initialized prefix on disk, or to
//! nothing at all.
//!
//! The order puts every check that can fail on the user's input before the
//! first thing is written: the init file is parsed and validated, the
//! template repository is read and every template resolved, and the workdir
//! and prefix name are checked. Only then are the prefix folder, subnet
//! leases, template downloads (into the shared store, a cache that outlives
//! prefixes), disk images and specs made. If any step fails, everything made
//! so far for this prefix is undone: leases released, the prefix folder
//! removed, the workdir removed if this call created it, and `current`
//! pointed back where it was. `initialized` is written last.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use tracing::{debug, info, warn};

use crate::bootstrap::{Choice, Decision, Method, Support, learned, nocloud, sysprep};
use crate::config::Config;
use crate::disk::{ImageFormat, ImagePlan};
use crate::error::{Error, ErrorKind, Result};
use crate::lease::{Subnet, SubnetStore};
use crate::ops::parallel;
use crate::paths::{PREFIX_VAR, Paths};
use crate::plan::{self, NetInput, NetKind, NicInput, VmInput};
use crate::prefix::layout;
use crate::spec::{self, DiskFormat, DiskType, EnvSpec, NetType, TemplateType};
use crate::template::{
    HttpClient, HttpOptions, RepoMetadata, StoredTemplate, TemplateStore, TemplateVersion,
};
use crate::workdir::{self, Workdir};

/// What `init` makes, and from what.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The workdir (Lago's default: `.lago` next to where the command runs).
    pub workdir: PathBuf,
    /// The prefix name (`current` means `default` here, as in Lago).
    pub prefix_name: String,
    /// The LagoInitFile. With [`InitOptions::initfile_text`] it names where
    /// the text counts as coming from (messages, `$LAGO_INITFILE_PATH`).
    pub initfile: PathBuf,
    /// The init file's text, when it is not read from `initfile` (YAML or JSON).
    pub initfile_text: Option<String>,
    /// The template repository (a path or URL to `repo.metadata`); `None`
    /// takes `[init] template_repo_path` from the configuration.
    pub template_repo: Option<String>,
    /// The template store; `None` takes `[init] template_store`.
    pub template_store: Option<PathBuf>,
    /// Point `current` at the new prefix even if the workdir had one.
    pub set_current: bool,
    /// How VMs are bootstrapped (`--skip-bootstrap` is [`Choice::Skip`]).
    pub bootstrap: Choice,
    /// Skip the disks' `build` steps (`--skip-build`).
    pub skip_build: bool,
}

impl InitOptions {
    /// Options for `initfile` in `workdir` with Lago's defaults.
    pub fn new(workdir: impl Into<PathBuf>, initfile: impl Into<PathBuf>) -> Self {
        Self {
            workdir: workdir.into(),
            prefix_name: workdir::DEFAULT_PREFIX.to_string(),
            initfile: initfile.into(),
            initfile_text: None,
            template_repo: None,
            template_store: None,
            set_current: false,
            bootstrap: Choice::Auto,
            skip_build: false,
        }
    }
}

/// A prefix `init` made.
#[derive(Debug, Clone)]
pub struct Initialized {
    /// The workdir it is in.
    pub workdir: PathBuf,
    /// The prefix's paths.
    pub paths: Paths,
    /// The prefix's uuid.
    pub uuid: String,
}

/// Everything `init` made so far, undone in reverse unless committed.
struct Undo<'a> {
    leases: Option<(&'a SubnetStore, Vec<Subnet>)>,
    links: Vec<PathBuf>,
    prefix_dir: Option<PathBuf>,
    workdir_created: Option<PathBuf>,
    old_current: Option<(PathBuf, Option<String>)>,
}

impl Undo<'_> {
    fn commit(mut self) {
        self.leases = None;
        self.links.clear();
        self.prefix_dir = None;
        self.workdir_created = None;
        self.old_current = None;
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if let Some((store, subnets)) = self.leases.take() {
            for subnet in subnets {
                if let Err(e) = store.release(subnet) {
                    warn!(%subnet, error = %e, "init failed and its subnet lease could not be released");
                }
            }
        }
        for link in self.links.drain(..) {
            if let Err(e) = fs::remove_file(&link) {
                warn!(link = %link.display(), error = %e, "init failed and the parent link it made could not be removed");
            }
        }
        if let Some(dir) = self.prefix_dir.take()
            && let Err(e) = fs::remove_dir_all(&dir)
        {
            warn!(dir = %dir.display(), error = %e, "init failed and its prefix folder could not be removed");
        }
        if let Some((workdir, old)) = self.old_current.take() {
            let restored = match old {
                Some(name) => workdir::point_current(&workdir, &name).map_err(|e| e.to_string()),
                None => fs::remove_file(workdir.join(workdir::CURRENT)).map_err(|e| e.to_string()),
            };
            if let Err(e) = restored {
                warn!(workdir = %workdir.display(), error = %e, "init failed and 'current' could not be restored");
            }
        }
        if let Some(dir) = self.workdir_created.take() {
            // only what this init made: the link and the folder, if empty now
            let _ = fs::remove_file(dir.join(workdir::CURRENT));
            if let Err(e) = fs::remove_dir(&dir) {
                warn!(dir = %dir.display(), error = %e, "init failed and the workdir it made could not be removed");
            }
        }
    }
}

fn io_error(what: &str, path: &Path, e: io::Error) -> Error {
    Error::with_source(
        ErrorKind::Io,
        format!("cannot {what} {}", path.display()),
        e,
    )
}

fn config_path(config: &Config, section: &str, key: &str) -> Result<PathBuf> {
    config
        .get_in(section, key)
        .map(PathBuf::from)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!("configuration has no [{section}] {key}"),
            )
        })
}

/// The templates of every `template` disk, resolved before anything is made.
fn resolve_templates(
    env: &EnvSpec,
    parents: &[MissingParent],
    repo_location: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<HashMap<(String, Option<String>), TemplateVersion>> {
    let mut wanted: Vec<(String, Option<String>, String)> = env
        .domains
        .values()
        .flat_map(|d| d.disks.iter().map(move |disk| (d, disk)))
        .filter(|(_, disk)| {
            disk.disk_type == DiskType::Template
                && disk.template_type.unwrap_or(TemplateType::Lago) == TemplateType::Lago
        })
        .filter_map(|(d, disk)| {
            let name = disk.template_name.clone()?;
            Some((
                name,
                disk.template_version.clone(),
                format!("domains.{}.disks.{}", d.name, disk.name),
            ))
        })
        .collect();
    wanted.extend(
        parents
            .iter()
            .map(|p| (p.template.clone(), Some(p.version.clone()), p.key.clone())),
    );
    let mut out = HashMap::new();
    if wanted.is_empty() {
        return Ok(out);
    }
    let location = repo_location.ok_or_else(|| {
        Error::new(
            ErrorKind::Config,
            "the init file uses templates but no template repository is configured: \
             give --template-repo-path or set [init] template_repo_path",
        )
    })?;
    let repo = RepoMetadata::load(location, &HttpClient::new(HttpOptions::default()))?;
    for (name, version, key) in wanted {
        if out.contains_key(&(name.clone(), version.clone())) {
            continue;
        }
        let resolved = repo
            .resolve(&name, version.as_deref(), lookup)
            .map_err(|e| {
                let e = Error::from(e);
                Error::new(
                    e.kind(),
                    format!("{}: {key}.template_name: {}", location, e.full_message()),
                )
            })?;
        out.insert((name, version), resolved);
    }
    Ok(out)
}

/// The backing file of a `template_type: qcow2` image that is not there: an
/// exported layered image names its template as `./<tmpl>:<ver>`, to be
/// found in the template repository and linked next to the image (Lago's
/// `resolve_parent`).
#[derive(Debug, Clone)]
struct MissingParent {
    /// Where the image expects its backing file.
    link: PathBuf,
    template: String,
    version: String,
    /// The disk's key path, for messages.
    key: String,
}

/// The missing parents of every `template_type: qcow2` disk whose image
/// exists and names a backing file `<tmpl>:<ver>` that does not.
fn missing_parents(
    env: &EnvSpec,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<MissingParent>> {
    let mut out: Vec<MissingParent> = Vec::new();
    for d in env.domains.values() {
        for disk in &d.disks {
            if disk.disk_type != DiskType::Template
                || disk.template_type != Some(TemplateType::Qcow2)
            {
                continue;
            }
            let path = PathBuf::from(spec::expand_vars(
                disk.path.as_deref().unwrap_or_default(),
                lookup,
            ));
            if !path.is_file() {
                continue; // reported as not found when the overlay is made
            }
            let info = crate::disk::info(&path)?;
            let Some(backing) = info.backing_filename.as_deref() else {
                continue;
            };
            let link = info
                .full_backing_filename
                .clone()
                .map(PathBuf::from)
                .unwrap_or_else(|| path.parent().unwrap_or(Path::new("/")).join(backing));
            if fs::symlink_metadata(&link).is_ok() || out.iter().any(|p| p.link == link) {
                continue;
            }
            let key = format!("domains.{}.disks.{}.path", d.name, disk.name);
            let name = link
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some((template, version)) = name.rsplit_once(':') else {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "{key}: the backing file {} of {} does not exist, and its name is not \
                         <template>:<version> to be found in the template repository",
                        link.display(),
                        path.display()
                    ),
                ));
            };
            out.push(MissingParent {
                link,
                template: template.to_string(),
                version: version.to_string(),
                key,
            });
        }
    }
    Ok(out)
}

/// Runs `init` as described in the module docs.
pub fn init(opts: &InitOptions, config: &Config) -> Result<Initialized> {
    // 1. everything about the input, before anything is written
    let env = match &opts.initfile_text {
        Some(text) => spec::load_str(text, &opts.initfile)?,
        None => spec::load_file(&opts.initfile)?,
    };
    let initfile_dir = env.initfile_dir.to_string_lossy().into_owned();
    let lookup = |name: &str| -> Option<String> {
        if name == spec::INITFILE_PATH_VAR {
            Some(initfile_dir.clone())
        } else {
            std::env::var(name).ok()
        }
    };
    let repo_location = opts.template_repo.clone().or_else(|| {
        config
            .get_in("init", "template_repo_path")
            .map(str::to_string)
    });
    let parents = missing_parents(&env, &lookup)?;
    let templates = resolve_templates(&env, &parents, repo_location.as_deref(), &lookup)?;
    let store_path = match &opts.template_store {
        Some(p) => p.clone(),
        None => config_path(config, "init", "template_store")?,
    };
    let lease_dir = config_path(config, "lago", "lease_dir")?;
    let prefix_name = if opts.prefix_name == workdir::CURRENT {
        workdir::DEFAULT_PREFIX.to_string()
    } else {
        opts.prefix_name.clone()
    };
    Workdir::check_name(&prefix_name)?;

    let existing = match Workdir::load(&opts.workdir) {
        Ok(w) => Some(w),
        Err(workdir::WorkdirError::NotAWorkdir { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let prefix_dir = opts.workdir.join(&prefix_name);
    if prefix_dir.exists() {
        return Err(workdir::WorkdirError::PrefixExists {
            name: prefix_name,
            workdir: opts.workdir.clone(),
        }
        .into());
    }

    // 2. the workdir and the prefix skeleton
    let leases = SubnetStore::new(&lease_dir);
    let mut undo = Undo {
        leases: None,
        links: Vec::new(),
        prefix_dir: None,
        workdir_created: None,
        old_current: None,
    };
    if existing.is_none() && !opts.workdir.exists() {
        fs::create_dir_all(&opts.workdir)
            .map_err(|e| io_error("create workdir", &opts.workdir, e))?;
        undo.workdir_created = Some(opts.workdir.clone());
    }
    let workdir_path =
        fs::canonicalize(&opts.workdir).map_err(|e| io_error("resolve", &opts.workdir, e))?;
    let paths = Paths::new(workdir_path.join(&prefix_name));
    let uuid = match layout::create(&paths) {
        Ok(uuid) => uuid,
        Err(e @ layout::LayoutError::Exists(_)) => return Err(e.into()),
        Err(e) => {
            undo.prefix_dir = Some(paths.prefix_path().to_path_buf());
            return Err(e.into());
        }
    };
    undo.prefix_dir = Some(paths.prefix_path().to_path_buf());
    info!(prefix = %paths.prefix_path().display(), %uuid, "prefix created");

    // 3. subnets, then the address plan
    let mut gws: HashMap<String, Ipv4Addr> = HashMap::new();
    let mut leased = Vec::new();
    for net in env.nets.values().filter(|n| n.net_type == NetType::Nat) {
        let in_range = net.gw.is_none_or(|gw| {
            Subnet::containing(gw).is_some_and(|s| leases.range().contains(&s.third_octet()))
        });
        if !in_range {
            if let Some(gw) = net.gw {
                gws.insert(net.name.clone(), gw);
            }
            continue;
        }
        let lease = leases.acquire(&paths.uuid(), &uuid, net.gw);
        let lease = match lease {
            Ok(l) => l,
            Err(e) => {
                undo.leases = Some((&leases, leased));
                return Err(Error::from(e));
            }
        };
        leased.push(lease.subnet);
        gws.insert(net.name.clone(), net.gw.unwrap_or(lease.subnet.gateway()));
        debug!(net = %net.name, subnet = %lease.subnet, "subnet leased");
    }
    undo.leases = Some((&leases, leased));

    let net_inputs: Vec<NetInput> = env
        .nets
        .values()
        .map(|n| NetInput {
            name: n.name.clone(),
            kind: if n.net_type == NetType::Nat {
                NetKind::Nat
            } else {
                NetKind::Bridge
            },
            management: n.management_declared,
            gw: gws.get(&n.name).copied(),
            mtu: n.mtu,
            dns_records: n
                .dns_records
                .iter()
                .filter_map(|(k, ip)| match ip {
                    std::net::IpAddr::V4(v4) => Some((k.clone(), *v4)),
                    std::net::IpAddr::V6(_) => None,
                })
                .collect(),
        })
        .collect();
    let vm_inputs: Vec<VmInput> = env
        .domains
        .values()
        .map(|d| VmInput {
            name: d.name.clone(),
            nics: d
                .nics
                .iter()
                .map(|n| NicInput {
                    net: n.net.clone(),
                    ip: n.ip,
                })
                .collect(),
        })
        .collect();
    let range = leases.range();
    let plan = plan::plan(&net_inputs, &vm_inputs, |gw| {
        Subnet::containing(gw).is_some_and(|s| range.contains(&s.third_octet()))
    })?;

    // 4. templates (shared store), disk images, deploy scripts
    let store = TemplateStore::new(&store_path);
    let mut stored: HashMap<(String, Option<String>), StoredTemplate> = HashMap::new();
    for (key, version) in &templates {
        stored.insert(key.clone(), store.get_or_fetch(version)?);
    }
    for parent in &parents {
        let key = (parent.template.clone(), Some(parent.version.clone()));
        let Some(t) = stored.get(&key) else {
            continue;
        };
        std::os::unix::fs::symlink(&t.image_path, &parent.link).map_err(|e| {
            io_error(
                &format!("link template {} as", t.image_path.display()),
                &parent.link,
                e,
            )
        })?;
        info!(link = %parent.link.display(), template = %t.name, "parent of an exported image linked");
        undo.links.push(parent.link.clone());
    }

    let base_choice = bootstrap_choice(opts.bootstrap, env.bootstrap_mode, config)?;
    let mut vm_specs: Vec<(String, Value)> = Vec::new();
    let mut sysprep_jobs: Vec<(String, PathBuf, String, String)> = Vec::new();
    for (d, vp) in env.domains.values().zip(&plan.vms) {
        let mut vm = d.to_json();
        let Value::Object(obj) = &mut vm else {
            continue;
        };
        // nics: planned addresses and MTUs
        if let Some(Value::Array(nics)) = obj.get_mut("nics") {
            for (nic, np) in nics.iter_mut().zip(&vp.nics) {
                if let Value::Object(nic) = nic {
                    if let Some(ip) = np.ip {
                        nic.insert("ip".into(), json!(ip.to_string()));
                    }
                    if let Some(mtu) = np.mtu {
                        nic.insert("mtu".into(), json!(mtu));
                    }
                }
            }
        }
        // disks: make the images, store their paths and metadata
        let mut disk_values = Vec::new();
        let mut root_disk: Option<(PathBuf, String)> = None;
        let mut root_template: Option<PathBuf> = None;
        let mut template_password: Option<String> = None;
        let mut root_metadata: Map<String, Value> = Map::new();
        let mut decision = Decision {
            method: Method::None,
            seed: false,
        };
        for (disk, mut value) in d.disks.iter().zip(d.disks.iter().map(|x| x.to_json())) {
            let format = match disk.format {
                DiskFormat::Qcow2 => ImageFormat::Qcow2,
                DiskFormat::Raw => ImageFormat::Raw,
                DiskFormat::Iso => ImageFormat::Iso,
            };
            let mut metadata: Map<String, Value> = disk.metadata.clone();
            let image = match disk.disk_type {
                DiskType::Template => {
                    let key = (
                        disk.template_name.clone().unwrap_or_default(),
                        disk.template_version.clone(),
                    );
                    let from_store = if disk.template_type == Some(TemplateType::Qcow2) {
                        None
                    } else {
                        stored.get(&key)
                    };
                    match from_store {
                        Some(t) => {
                            if disk_values.is_empty() {
                                root_template = Some(t.image_path.clone());
                            }
                            if let Value::Object(meta) = &t.metadata {
                                for (k, v) in meta {
                                    metadata.insert(k.clone(), v.clone());
                                }
                            }
                            ImagePlan::template(
                                &d.name,
                                &disk.name,
                                &t.image_path,
                                ImageFormat::Raw,
                                paths.prefix_path(),
                            )?
                        }
                        None => {
                            // template_type: qcow2 - the given path is the backing file
                            let path =
                                spec::expand_vars(disk.path.as_deref().unwrap_or_default(), lookup);
                            ImagePlan::template(
                                &d.name,
                                &disk.name,
                                Path::new(&path),
                                ImageFormat::Qcow2,
                                paths.prefix_path(),
                            )?
                        }
                    }
                }
                DiskType::Empty => ImagePlan::empty(
                    &d.name,
                    &disk.name,
                    format,
                    disk.size.as_deref().unwrap_or_default(),
                    paths.prefix_path(),
                )?,
                DiskType::File => {
                    let mut path =
                        spec::expand_vars(disk.path.as_deref().unwrap_or_default(), lookup);
                    if let Some(url) = disk.url.as_deref().map(|u| spec::expand_vars(u, lookup)) {
                        // Lago: fetched into the prefix, then moved to `path` if given
                        let name = url
                            .rsplit('/')
                            .next()
                            .filter(|n| !n.is_empty())
                            .unwrap_or("disk");
                        let fetched = paths.prefixed(name);
                        HttpClient::new(HttpOptions::default()).download(&url, &fetched)?;
                        if path.is_empty() {
                            path = fetched.to_string_lossy().into_owned();
                        } else {
                            fs::rename(&fetched, &path).map_err(|e| {
                                io_error("move the download to", Path::new(&path), e)
                            })?;
                        }
                    }
                    ImagePlan::file(
                        &d.name,
                        &disk.name,
                        Path::new(&path),
                        format,
                        disk.make_a_copy.unwrap_or(false),
                        paths.prefix_path(),
                    )?
                }
            };
            image.apply()?;
            if !opts.skip_build {
                for step in &disk.build {
                    sysprep::run_build_step(
                        step,
                        &image.path,
                        image.format.qemu_format(),
                        &paths.ssh_id_rsa_pub(),
                    )?;
                }
            }
            if disk_values.is_empty() {
                let bootable = disk.disk_type != DiskType::Empty && disk.format != DiskFormat::Iso;
                let nocloud = metadata
                    .get("nocloud")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                root_metadata = metadata.clone();
                template_password = metadata
                    .get("root-password")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                root_disk = Some((image.path.clone(), image.format.qemu_format().to_string()));
                let learned = root_template.as_deref().and_then(learned::read);
                let support = Support::of(nocloud, learned);
                let choice = match (opts.bootstrap, d.bootstrap_mode) {
                    (Choice::Skip, _) => Choice::Skip,
                    (_, Some(mode)) => mode,
                    _ => base_choice,
                };
                decision = choice.decide(d.bootstrap, support, bootable);
            }
            if let Value::Object(v) = &mut value {
                v.insert("path".into(), json!(image.stored_path));
                v.insert("metadata".into(), Value::Object(metadata));
            }
            disk_values.push(value);
        }
        obj.insert("disks".into(), Value::Array(disk_values));
        // deploy scripts: copied into the prefix, stored relative to it
        let scripts = d.deploy_scripts();
        if !scripts.is_empty() {
            // as Lago's init, which set both variables before copying them
            let prefix_dir = paths.prefix_path().to_string_lossy().into_owned();
            let workdir_dir = workdir_path.to_string_lossy().into_owned();
            let script_lookup = |name: &str| match name {
                "LAGO_PREFIX_PATH" => Some(prefix_dir.clone()),
                "LAGO_WORKDIR_PATH" => Some(workdir_dir.clone()),
                other => lookup(other),
            };
            let mut stored_scripts = Vec::new();
            for script in scripts {
                let src = PathBuf::from(spec::expand_vars(script, script_lookup));
                let dst = paths.script_copy(&src.to_string_lossy());
                fs::copy(&src, &dst).map_err(|e| io_error("copy deploy script", &src, e))?;
                let name = dst
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                stored_scripts.push(json!(format!("{PREFIX_VAR}/scripts/{name}")));
            }
            if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
                meta.insert("deploy-scripts".into(), Value::Array(stored_scripts));
            }
        }
        // what Lago adds to every VM spec
        obj.insert("mgmt_net".into(), json!(vp.mgmt_net));
        obj.entry("snapshots").or_insert_with(|| json!({}));
        let default = |key: &str, cfg: &str| (key.to_string(), config.get(cfg).map(str::to_string));
        for (key, value) in [
            default("vm-type", "default_vm_type"),
            default("vm-provider", "default_vm_provider"),
            default("ssh-user", "ssh_user"),
        ] {
            if let Some(v) = value
                && obj.get(&key).is_none_or(Value::is_null)
            {
                obj.insert(key, json!(v));
            }
        }
        if obj.get("root-password").is_none_or(Value::is_null)
            && obj.get("ssh-password").is_none_or(Value::is_null)
        {
            let pw = config
                .get("root_password")
                .or_else(|| config.get("ssh_password"));
            if let Some(pw) = pw {
                obj.insert("ssh-password".into(), json!(pw));
            }
        }
        // bootstrap: a NoCloud seed now, virt-sysprep jobs below (in parallel)
        let root_password = obj
            .get("root-password")
            .or_else(|| obj.get("ssh-password"))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "123456".to_string());
        if decision.seed {
            let file = format!("{}_cidata.img", d.name);
            let pubkey = paths.ssh_id_rsa_pub();
            let key = fs::read_to_string(&pubkey).map_err(|e| io_error("read", &pubkey, e))?;
            let seed = nocloud::Seed {
                instance_id: format!("{uuid}-{}", d.name),
                hostname: d.name.clone(),
                authorized_keys: vec![key],
                root_password: Some(root_password.clone()),
            };
            let path = paths.images().join(&file);
            nocloud::write_seed(&path, &seed)
                .map_err(|e| io_error("write the NoCloud seed", &path, e))?;
            obj.insert("nocloud-seed".into(), json!(Paths::stored_image(&file)));
        }
        obj.insert("bootstrap-method".into(), json!(decision.method.as_str()));
        match (decision.method, &root_disk) {
            (Method::Ssh, _) => {
                // logged in with the template's password at the first boot
                let login = template_password
                    .or_else(|| config.get("default_root_password").map(str::to_string))
                    .unwrap_or_else(|| DEFAULT_TEMPLATE_PASSWORD.to_string());
                let mut first_boot = Map::new();
                first_boot.insert("login-password".into(), json!(login));
                if let Some(image) = &root_template {
                    first_boot.insert("template-image".into(), json!(image));
                }
                obj.insert("first-boot".into(), Value::Object(first_boot));
            }
            (Method::NoCloud, _) => {}
            (Method::Sysprep, Some((disk, format))) => {
                // Lago's base commands, then its distro template's
                let distro = d.distro.clone().or_else(|| {
                    root_metadata
                        .get("distro")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
                let nics: Vec<(String, String)> = vp
                    .nics
                    .iter()
                    .enumerate()
                    .filter_map(|(i, n)| Some((format!("eth{i}"), plan::ipv4_to_mac(n.ip?))))
                    .collect();
                let commands =
                    sysprep::sysprep_commands(&d.name, &root_password, &paths.ssh_id_rsa_pub())
                        + &sysprep::distro_commands(distro.as_deref(), &d.name, &nics);
                sysprep_jobs.push((d.name.clone(), disk.clone(), format.clone(), commands));
            }
            _ => {}
        }
        info!(
            vm = %d.name,
            method = decision.method.as_str(),
            seed = decision.seed,
            "bootstrap"
        );
        vm_specs.push((d.name.clone(), vm));
    }
    parallel::each(
        &sysprep_jobs,
        "running virt-sysprep",
        |(vm, disk, format, commands)| {
            let work = paths.prefixed(format!(".sysprep-{vm}"));
            sysprep::sysprep(disk, format, commands, &work)
        },
    )?;

    // 5. specs, then `initialized`
    for (name, vm) in &vm_specs {
        layout::write_json(&paths.virt_vm(name), vm)?;
    }
    for (n, np) in env.nets.values().zip(&plan.nets) {
        let mut net = n.to_json();
        if let Value::Object(obj) = &mut net {
            obj.insert("name".into(), json!(n.name));
            obj.insert(
                "type".into(),
                json!(if n.net_type == NetType::Nat {
                    "nat"
                } else {
                    "bridge"
                }),
            );
            obj.insert("management".into(), json!(np.management));
            if let Some(gw) = np.gw {
                obj.insert("gw".into(), json!(gw.to_string()));
            }
            if np.management && obj.get("dns_domain_name").is_none_or(Value::is_null) {
                obj.insert("dns_domain_name".into(), json!("lago.local"));
            }
            let to_map = |pairs: &[(String, Ipv4Addr)]| {
                Value::Object(
                    pairs
                        .iter()
                        .map(|(k, ip)| (k.clone(), json!(ip.to_string())))
                        .collect(),
                )
            };
            obj.insert("mapping".into(), to_map(&np.mapping));
            if np.management {
                obj.insert("dns_records".into(), to_map(&np.dns_records));
            } else if let Some(fwd) = np.dns_forward {
                obj.insert("dns_forward".into(), json!(fwd.to_string()));
            }
        }
        layout::write_json(&paths.virt_net(&n.name), &net)?;
    }
    layout::write_json(
        &paths.virt_env(),
        &json!({
            "nets": env.nets.keys().collect::<Vec<_>>(),
            "vms": env.domains.keys().collect::<Vec<_>>(),
        }),
    )?;
    layout::mark_initialized(&paths)?;

    // 6. `current`: a new workdir points at its first prefix; else on request
    let current_before = existing.as_ref().and_then(|w| w.current().ok());
    if existing.is_none() || opts.set_current {
        undo.old_current = Some((workdir_path.clone(), current_before));
        workdir::point_current(&workdir_path, &prefix_name)?;
    }
    undo.commit();
    info!(prefix = %paths.prefix_path().display(), vms = env.domains.len(), nets = env.nets.len(), "prefix initialized");
    Ok(Initialized {
        workdir: workdir_path,
        paths,
        uuid,
    })
}

/// The root password of a template whose metadata names none (Lago's).
const DEFAULT_TEMPLATE_PASSWORD: &str = "123456";

/// The bootstrap mode for the VMs that name none: `--skip-bootstrap` or an
/// explicit mode of the caller, else the init file's top-level
/// `bootstrap_mode`, else the configuration's, else `auto`.
fn bootstrap_choice(asked: Choice, initfile: Option<Choice>, config: &Config) -> Result<Choice> {
    if asked != Choice::Auto {
        return Ok(asked);
    }
    if let Some(mode) = initfile {
        return Ok(mode);
    }
    let configured = config.get_parsed("bootstrap_mode", Choice::VALID, Choice::parse)?;
    Ok(configured.unwrap_or(Choice::Auto))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bootstrap_mode_comes_from_the_caller_the_init_file_then_the_config() {
        let mut config = Config::new();
        let choice = |asked, file, config: &Config| bootstrap_choice(asked, file, config).unwrap();
        assert_eq!(choice(Choice::Auto, None, &config), Choice::Auto);
        config.set("lago", "bootstrap_mode", "sysprep");
        assert_eq!(choice(Choice::Auto, None, &config), Choice::Sysprep);
        assert_eq!(
            choice(Choice::Auto, Some(Choice::Ssh), &config),
            Choice::Ssh
        );
        assert_eq!(
            choice(Choice::Skip, Some(Choice::Ssh), &config),
            Choice::Skip
        );
        assert_eq!(choice(Choice::NoCloud, None, &config), Choice::NoCloud);
        config.set("lago", "bootstrap_mode", "quick");
        let err = bootstrap_choice(Choice::Auto, None, &config).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("bootstrap_mode") && text.contains("auto, nocloud, ssh, sysprep or none"),
            "{text}"
        );
    }
}
