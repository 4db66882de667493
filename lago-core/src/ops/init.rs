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
//!
//! The prefix is built under a staging name in the workdir
//! (`.staging-<name>-<pid>-<start time>`, see [`crate::prefix::staging`])
//! and made visible with one rename, its subnet leases moved to the final
//! name under the lease store's lock at the same time; `current` is pointed
//! last. A killed init leaves at most a staging folder with a dead owner,
//! which the next lago command on the workdir removes (with its leases), or
//! a finished prefix not yet `current`, which it adopts.
//!
//! Test-only: with `LAGO_TEST_PAUSE` set to `init:reserve`,
//! `init:materialize`, `init:sysprep`, `init:placed` (a remote host),
//! `init:persist` or `init:current`,
//! init blocks at that phase (see [`crate::owner::test_pause`]).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use tracing::{debug, info, warn};

use crate::bootstrap::{Choice, Decision, Method, Support, learned, nocloud, sysprep};
use crate::config::Config;
use crate::disk::{self, ImageFormat, ImagePlan};
use crate::error::{Error, ErrorKind, Result};
use crate::host::HostRecord;
use crate::lease::{LeaseStatus, Subnet, SubnetStore};
use crate::ops::parallel;
use crate::ops::placement::{self, Target};
use crate::owner::{self, Owner};
use crate::paths::{PREFIX_VAR, Paths};
use crate::plan::{self, NetInput, NetKind, NicInput, Plan, VmInput};
use crate::prefix::layout;
use crate::prefix::record::FirstBootRecord;
use crate::prefix::staging::{self, InitRecord};
use crate::prefix::state::{
    DiskRecord, NetRecord, NetState, Ordered, PrefixState, Scalar, VmRecord, VmState,
};
use crate::provider::{Provider, Upload};
use crate::spec::{
    self, DiskFormat, DiskType, DomainSpec, EnvSpec, NetSpec, NetType, TemplateType,
};
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
    /// What was persisted, as [`crate::env::Env`] opens it.
    pub state: PrefixState,
}

/// Everything `init` made so far, undone in reverse unless committed.
struct Undo<'a> {
    leases: Option<(&'a SubnetStore, Vec<Subnet>)>,
    links: Vec<PathBuf>,
    prefix_dir: Option<PathBuf>,
    workdir_created: Option<PathBuf>,
    old_current: Option<(PathBuf, Option<String>)>,
    /// Volumes made on a remote host: its provider, the pool, their names.
    volumes: Option<(std::sync::Arc<dyn Provider>, String, Vec<String>)>,
}

impl Undo<'_> {
    fn commit(mut self) {
        self.leases = None;
        self.links.clear();
        self.prefix_dir = None;
        self.workdir_created = None;
        self.old_current = None;
        self.volumes = None;
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if let Some((provider, pool, volumes)) = self.volumes.take() {
            for v in volumes.iter().rev() {
                if let Err(e) = provider.delete_volume(&pool, v) {
                    warn!(volume = %v, error = %e, "init failed and a volume it made on the host could not be removed");
                }
            }
        }
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
                let message = format!("{}: {key}.template_name: {}", location, e.full_message());
                e.wrap(message)
                    .with_key_path(format!("{key}.template_name"))
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

/// Runs `init` as described in the module docs, as five steps:
/// [`validate`] (nothing is written), [`reserve`] (workdir, prefix
/// skeleton, subnet leases), [`plan_addresses`], [`materialize`] (templates,
/// images, scripts, bootstrap; the typed records of the specs) and
/// [`persist`] (specs, `initialized`, `current`). A failure in any step
/// undoes what the earlier ones made.
pub fn init(opts: &InitOptions, config: &Config) -> Result<Initialized> {
    let input = validate(opts, config)?;
    let leases = SubnetStore::new(&input.lease_dir);
    let mut reserved = reserve(opts, &input, &leases)?;
    let plan = plan_addresses(&input, &reserved, &leases)?;
    let (mut state, stored) = materialize(opts, config, &input, &mut reserved, &plan)?;
    if let Some(target) = &input.host {
        place_on_host(&input, target, &stored, &mut reserved, &mut state)?;
        owner::phase("init:placed")?;
    }
    persist(opts, &input, reserved, state)
}

/// What [`validate`] learned about the input.
struct Validated {
    env: EnvSpec,
    initfile_dir: String,
    parents: Vec<MissingParent>,
    templates: HashMap<(String, Option<String>), TemplateVersion>,
    store_path: PathBuf,
    lease_dir: PathBuf,
    prefix_name: String,
    existing: Option<Workdir>,
    /// The remote libvirt host it runs on (`None`: this machine).
    host: Option<Target>,
}

impl Validated {
    /// `$LAGO_INITFILE_PATH`, else the process environment.
    fn lookup(&self, name: &str) -> Option<String> {
        if name == spec::INITFILE_PATH_VAR {
            Some(self.initfile_dir.clone())
        } else {
            std::env::var(name).ok()
        }
    }
}

/// Step 1: everything about the input (init file, templates, configuration,
/// workdir and prefix name), checked before anything is written.
fn validate(opts: &InitOptions, config: &Config) -> Result<Validated> {
    let env = match &opts.initfile_text {
        Some(text) => spec::load_str(text, &opts.initfile)?,
        None => spec::load_file(&opts.initfile)?,
    };
    let mut input = Validated {
        initfile_dir: env.initfile_dir.to_string_lossy().into_owned(),
        env,
        parents: Vec::new(),
        templates: HashMap::new(),
        store_path: PathBuf::new(),
        lease_dir: PathBuf::new(),
        prefix_name: String::new(),
        existing: None,
        host: None,
    };
    let lookup = |name: &str| input.lookup(name);
    let repo_location = opts.template_repo.clone().or_else(|| {
        config
            .get_in("init", "template_repo_path")
            .map(str::to_string)
    });
    let parents = missing_parents(&input.env, &lookup)?;
    let templates = resolve_templates(&input.env, &parents, repo_location.as_deref(), &lookup)?;
    input.parents = parents;
    input.templates = templates;
    input.store_path = match &opts.template_store {
        Some(p) => p.clone(),
        None => config_path(config, "init", "template_store")?,
    };
    let lease_base = config_path(config, "lago", "lease_dir")?;
    input.prefix_name = if opts.prefix_name == workdir::CURRENT {
        workdir::DEFAULT_PREFIX.to_string()
    } else {
        opts.prefix_name.clone()
    };
    Workdir::check_name(&input.prefix_name)?;
    let need: u64 = input
        .env
        .domains
        .values()
        .map(|d| d.memory.saturating_mul(1 << 20))
        .sum();
    input.host = placement::choose(config, &input.prefix_name, need, &lease_base)?;
    input.lease_dir = match &input.host {
        Some(t) => crate::host::lease_dir(&lease_base, &t.uri),
        None => lease_base,
    };
    staging::recover(&opts.workdir);
    if let Some(other) = staging::live_staging(&opts.workdir, &input.prefix_name) {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "prefix '{}' is being made by {} in workdir {}: wait for it, or stop it",
                input.prefix_name,
                other.describe(),
                opts.workdir.display()
            ),
        ));
    }
    input.existing = match Workdir::load(&opts.workdir) {
        Ok(w) => Some(w),
        Err(workdir::WorkdirError::NotAWorkdir { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if opts.workdir.join(&input.prefix_name).exists() {
        return Err(workdir::WorkdirError::PrefixExists {
            name: input.prefix_name,
            workdir: opts.workdir.clone(),
        }
        .into());
    }
    Ok(input)
}

/// What [`reserve`] made, with the means to undo it.
struct Reserved<'a> {
    undo: Undo<'a>,
    workdir_path: PathBuf,
    /// Where the prefix is made (its staging folder).
    paths: Paths,
    /// Where it will be once made.
    final_paths: Paths,
    uuid: String,
    /// The gateway of every NAT net: leased, or given outside the range.
    gws: HashMap<String, Ipv4Addr>,
}

/// Step 2: the workdir, the prefix skeleton (uuid, keys, folders) and a
/// subnet lease for every NAT net.
fn reserve<'a>(
    opts: &InitOptions,
    input: &Validated,
    leases: &'a SubnetStore,
) -> Result<Reserved<'a>> {
    let mut undo = Undo {
        leases: None,
        links: Vec::new(),
        prefix_dir: None,
        workdir_created: None,
        old_current: None,
        volumes: None,
    };
    if input.existing.is_none() && !opts.workdir.exists() {
        fs::create_dir_all(&opts.workdir)
            .map_err(|e| io_error("create workdir", &opts.workdir, e))?;
        undo.workdir_created = Some(opts.workdir.clone());
    }
    let workdir_path =
        fs::canonicalize(&opts.workdir).map_err(|e| io_error("resolve", &opts.workdir, e))?;
    let final_paths = Paths::new(workdir_path.join(&input.prefix_name));
    let me = Owner::current("init");
    let paths = Paths::new(workdir_path.join(staging::staging_name(&input.prefix_name, &me)));
    // libvirt names nets and domains after the uuid's first 4 and 8 hex
    // digits (Lago's naming): avoid the first 4 of every environment that
    // holds a subnet lease on this host now
    let shorts: HashSet<String> = leases
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.status == LeaseStatus::Valid)
        .filter_map(|e| e.owner.map(|o| o.uuid.chars().take(4).collect()))
        .collect();
    let taken = |uuid: &str| shorts.contains(&uuid.chars().take(4).collect::<String>());
    let uuid = match layout::create_avoiding(&paths, &taken) {
        Ok(uuid) => uuid,
        Err(e @ layout::LayoutError::Exists(_)) => return Err(e.into()),
        Err(e) => {
            undo.prefix_dir = Some(paths.prefix_path().to_path_buf());
            return Err(e.into());
        }
    };
    undo.prefix_dir = Some(paths.prefix_path().to_path_buf());
    let record = InitRecord {
        owner: me,
        name: input.prefix_name.clone(),
        lease_dir: input.lease_dir.clone(),
    };
    record
        .write(&paths)
        .map_err(|e| io_error("write", &paths.prefixed(staging::INIT_RECORD), e))?;
    info!(prefix = %paths.prefix_path().display(), %uuid, "prefix created (staging)");

    let mut gws: HashMap<String, Ipv4Addr> = HashMap::new();
    let mut leased = Vec::new();
    for net in input
        .env
        .nets
        .values()
        .filter(|n| n.net_type == NetType::Nat)
    {
        let in_range = net.gw.is_none_or(|gw| {
            Subnet::containing(gw).is_some_and(|s| leases.range().contains(&s.third_octet()))
        });
        if !in_range {
            if let Some(gw) = net.gw {
                gws.insert(net.name.clone(), gw);
            }
            continue;
        }
        let lease = match leases.acquire(&paths.uuid(), &uuid, net.gw) {
            Ok(l) => l,
            Err(e) => {
                undo.leases = Some((leases, leased));
                return Err(Error::from(e));
            }
        };
        leased.push(lease.subnet);
        gws.insert(net.name.clone(), net.gw.unwrap_or(lease.subnet.gateway()));
        debug!(net = %net.name, subnet = %lease.subnet, "subnet leased");
    }
    undo.leases = Some((leases, leased));
    owner::phase("init:reserve")?;
    Ok(Reserved {
        undo,
        workdir_path,
        paths,
        final_paths,
        uuid,
        gws,
    })
}

/// Step 3: addresses, MACs, MTUs and DNS names of every net and NIC.
fn plan_addresses(input: &Validated, reserved: &Reserved, leases: &SubnetStore) -> Result<Plan> {
    let net_inputs: Vec<NetInput> = input
        .env
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
            gw: reserved.gws.get(&n.name).copied(),
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
    let vm_inputs: Vec<VmInput> = input
        .env
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
    Ok(plan::plan(&net_inputs, &vm_inputs, |gw| {
        Subnet::containing(gw).is_some_and(|s| range.contains(&s.third_octet()))
    })?)
}

/// A virt-sysprep run to do once every VM's images are made.
struct SysprepJob {
    vm: String,
    disk: PathBuf,
    format: String,
    commands: String,
}

/// Step 4: templates into the store, parents of exported images linked,
/// every VM's images, deploy scripts and bootstrap made (virt-sysprep runs
/// in parallel), and the specs as typed records.
fn materialize(
    opts: &InitOptions,
    config: &Config,
    input: &Validated,
    reserved: &mut Reserved,
    plan: &Plan,
) -> Result<(PrefixState, Stored)> {
    let stored = fetch_templates(input, &mut reserved.undo)?;
    let base_choice = bootstrap_choice(opts.bootstrap, input.env.bootstrap_mode, config)?;
    let mut vms = Vec::new();
    let mut sysprep_jobs = Vec::new();
    for (d, vp) in input.env.domains.values().zip(&plan.vms) {
        let (vm, job) = materialize_vm(opts, config, input, reserved, &stored, base_choice, d, vp)?;
        vms.push(vm);
        sysprep_jobs.extend(job);
    }
    owner::phase("init:materialize")?;
    let paths = &reserved.paths;
    parallel::each(&sysprep_jobs, "running virt-sysprep", |job| {
        let work = paths.prefixed(format!(".sysprep-{}", job.vm));
        sysprep::sysprep(&job.disk, &job.format, &job.commands, &work)
    })?;
    let nets = input
        .env
        .nets
        .values()
        .zip(&plan.nets)
        .map(|(n, np)| net_record(n, np))
        .collect::<Result<Vec<_>>>()?;
    Ok((
        PrefixState {
            paths: reserved.paths.clone(),
            uuid: reserved.uuid.clone(),
            nets,
            vms,
            host: None,
        },
        stored,
    ))
}

/// Step 4b, for a prefix on a remote host: every image init made is put in
/// the host's pool (see [`crate::host`]) and its local file removed; the
/// host is recorded in the prefix. A disk that is an overlay of a store
/// template becomes an overlay of that template's volume on the host
/// (uploaded once per host); any other image is uploaded whole, and an
/// empty disk is made there.
fn place_on_host(
    input: &Validated,
    target: &Target,
    stored: &Stored,
    reserved: &mut Reserved,
    state: &mut PrefixState,
) -> Result<()> {
    let provider: std::sync::Arc<dyn Provider> = target.provider.clone();
    let pool = target.pool.as_str();
    let pool_dir = provider.pool_dir(pool)?;
    let record = HostRecord::new(&target.uri, pool, &pool_dir, &reserved.uuid);
    let paths = reserved.paths.clone();
    record.write(&paths)?;
    reserved.undo.volumes = Some((provider.clone(), pool.to_string(), Vec::new()));
    let host = record.name();
    let made = |v: String, undo: &mut Undo| {
        if let Some((_, _, list)) = &mut undo.volumes {
            list.push(v);
        }
    };
    for vm in &state.vms {
        let mut images: Vec<(PathBuf, bool)> = vm
            .spec
            .disk_records()
            .iter()
            .map(|d| {
                let empty = d.disk_type.as_ref().and_then(Scalar::as_str) == Some("empty");
                (paths.expand(&d.path_text()), empty)
            })
            .collect();
        if let Some(seed) = vm.spec.nocloud_seed.as_deref() {
            images.push((paths.expand(seed), false));
        }
        for (local, empty) in images {
            let volume = record.volume(&paths, &local).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "VM '{}': its disk {} is a file outside the prefix, which the remote \
                         host {host} cannot open; give the disk `make_a_copy: true` or use a \
                         template",
                        vm.name,
                        local.display()
                    ),
                )
                .with_vm(vm.name.clone())
            })?;
            let info = disk::info(&local)?;
            if empty {
                provider.create_volume(pool, &volume, info.virtual_size, &info.format)?;
            } else if let Some(backing) = info
                .full_backing_filename
                .clone()
                .or_else(|| info.backing_filename.clone())
            {
                let template = stored
                    .values()
                    .find(|t| same_file(&t.image_path, Path::new(&backing)))
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidInput,
                            format!(
                                "VM '{}': its image {} is an overlay of {backing}, which is not \
                                 a template of the store; lago can put only templates on the \
                                 remote host {host}",
                                vm.name,
                                local.display()
                            ),
                        )
                        .with_vm(vm.name.clone())
                    })?;
                let template_host =
                    ensure_template(provider.as_ref(), pool, template, input, &host)?;
                // the overlay keeps what init wrote in it (a sysprep, build
                // steps); only its backing pointer changes to the host's
                let file = local
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let tmp = paths.images().join(format!(".{file}.upload"));
                fs::copy(&local, &tmp).map_err(|e| io_error("copy", &local, e))?;
                let sent = disk::set_backing_pointer(&tmp, &template_host, ImageFormat::Raw)
                    .map_err(Error::from)
                    .and_then(|()| {
                        provider
                            .upload_volume(
                                pool,
                                &volume,
                                &Upload {
                                    src: &tmp,
                                    format: "qcow2",
                                    capacity: info.virtual_size,
                                    sent: &|_| {},
                                },
                            )
                            .map_err(Error::from)
                    });
                let _ = fs::remove_file(&tmp);
                sent?;
            } else {
                upload_whole(provider.as_ref(), pool, &volume, &local, &info)?;
            }
            made(volume, &mut reserved.undo);
            fs::remove_file(&local).map_err(|e| io_error("remove", &local, e))?;
        }
    }
    info!(host = %host, pool, "images placed on the host");
    state.host = Some(record);
    Ok(())
}

/// Whether `a` and `b` are the same file (by path, else by device and inode).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if a == b {
        return true;
    }
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The host path of store template `t` in pool `pool`, uploaded first
/// when the host does not have it yet (with progress).
fn ensure_template(
    provider: &dyn Provider,
    pool: &str,
    t: &StoredTemplate,
    input: &Validated,
    host: &str,
) -> Result<String> {
    let size = fs::metadata(&t.image_path)
        .map_err(|e| io_error("read", &t.image_path, e))?
        .len();
    let capacity = disk::info(&t.image_path)?.virtual_size;
    // made at the first chunk: a template the host has shows nothing
    let task = format!("uploading template {} to {host}", t.name);
    let bar: parking_lot::Mutex<Option<crate::progress::Progress>> = parking_lot::Mutex::new(None);
    let (path, uploaded) = provider.ensure_template_volume(
        pool,
        &t.hash,
        &Upload {
            src: &t.image_path,
            format: "raw",
            capacity,
            sent: &|n| {
                bar.lock()
                    .get_or_insert_with(|| crate::progress::Progress::bytes(task.clone(), size))
                    .add(n)
            },
        },
        &input.store_path,
    )?;
    if uploaded {
        if let Some(bar) = bar.into_inner() {
            bar.finish();
        }
        info!(template = %t.name, host, "template uploaded to the host");
    }
    Ok(path)
}

/// Uploads image `local` whole into volume `volume` (its own format).
fn upload_whole(
    provider: &dyn Provider,
    pool: &str,
    volume: &str,
    local: &Path,
    info: &disk::QemuImgInfo,
) -> Result<()> {
    let format = if local.extension().is_some_and(|e| e == "iso") {
        "iso"
    } else {
        info.format.as_str()
    };
    provider.upload_volume(
        pool,
        volume,
        &Upload {
            src: local,
            format,
            capacity: info.virtual_size,
            sent: &|_| {},
        },
    )?;
    Ok(())
}

type Stored = HashMap<(String, Option<String>), StoredTemplate>;

/// The resolved templates, fetched into the shared store when missing, and
/// the missing parents of exported images linked to them.
fn fetch_templates(input: &Validated, undo: &mut Undo) -> Result<Stored> {
    let store = TemplateStore::new(&input.store_path);
    let mut stored: Stored = HashMap::new();
    for (key, version) in &input.templates {
        stored.insert(key.clone(), store.get_or_fetch(version)?);
    }
    for parent in &input.parents {
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
    Ok(stored)
}

/// A spec made by init as a typed record (keys in the order init made them).
fn record<T: serde::de::DeserializeOwned>(what: &str, value: Value) -> Result<Ordered<T>> {
    let Value::Object(map) = value else {
        return Err(Error::new(
            ErrorKind::Internal,
            format!("{what}: the spec is not a mapping"),
        ));
    };
    Ordered::from_map(map).map_err(|e| Error::new(ErrorKind::InvalidInput, format!("{what}: {e}")))
}

/// What making a VM's disks tells about its root disk.
struct RootDisk {
    /// The image and its qemu format.
    image: Option<(PathBuf, String)>,
    /// The template image in the store it is an overlay of.
    template: Option<PathBuf>,
    /// How it is bootstrapped.
    decision: Decision,
}

/// One VM: its images, deploy scripts, Lago's defaults and its bootstrap;
/// returns its record and the virt-sysprep run it needs, if any.
#[allow(clippy::too_many_arguments)]
fn materialize_vm(
    opts: &InitOptions,
    config: &Config,
    input: &Validated,
    reserved: &Reserved,
    stored: &Stored,
    base_choice: Choice,
    d: &DomainSpec,
    vp: &plan::VmPlan,
) -> Result<(VmState, Option<SysprepJob>)> {
    let mut vm: Ordered<VmRecord> = record(&format!("domains.{}", d.name), d.to_json())?;
    for (nic, np) in vm.nics.iter_mut().flatten().zip(&vp.nics) {
        if let Some(ip) = np.ip {
            nic.ip = Some(ip.to_string());
        }
        if let Some(mtu) = np.mtu {
            nic.mtu = Some(Scalar(json!(mtu)));
        }
    }
    let (disks, root) = make_disks(opts, input, reserved, stored, base_choice, d)?;
    vm.disks = Some(disks);
    let scripts = copy_deploy_scripts(input, reserved, d)?;
    if !scripts.is_empty()
        && let Some(meta) = &mut vm.metadata
    {
        meta.deploy_scripts = Some(scripts);
    }
    lago_defaults(&mut vm, config, vp);
    let job = bootstrap(config, reserved, d, vp, &mut vm, &root)?;
    info!(
        vm = %d.name,
        method = root.decision.method.as_str(),
        seed = root.decision.seed,
        "bootstrap"
    );
    Ok((
        VmState {
            name: d.name.clone(),
            spec: vm,
        },
        job,
    ))
}

/// A VM's disk images made (and built), as records with their stored path
/// and metadata (the template's merged in), and what the root disk says.
fn make_disks(
    opts: &InitOptions,
    input: &Validated,
    reserved: &Reserved,
    stored: &Stored,
    base_choice: Choice,
    d: &DomainSpec,
) -> Result<(Vec<Ordered<DiskRecord>>, RootDisk)> {
    let paths = &reserved.paths;
    let lookup = |name: &str| input.lookup(name);
    let mut records: Vec<Ordered<DiskRecord>> = Vec::new();
    let mut root = RootDisk {
        image: None,
        template: None,
        decision: Decision {
            method: Method::None,
            seed: false,
        },
    };
    for disk in &d.disks {
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
                        if records.is_empty() {
                            root.template = Some(t.image_path.clone());
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
                let mut path = spec::expand_vars(disk.path.as_deref().unwrap_or_default(), lookup);
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
                        fs::rename(&fetched, &path)
                            .map_err(|e| io_error("move the download to", Path::new(&path), e))?;
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
        let mut rec: Ordered<DiskRecord> = record(
            &format!("domains.{}.disks.{}", d.name, disk.name),
            disk.to_json(),
        )?;
        rec.path = Some(final_path(reserved, &image.stored_path).into());
        rec.metadata = Some(metadata);
        if records.is_empty() {
            let bootable = disk.disk_type != DiskType::Empty && disk.format != DiskFormat::Iso;
            root.image = Some((image.path.clone(), image.format.qemu_format().to_string()));
            let learned = root.template.as_deref().and_then(learned::read);
            let support = Support::of(rec.metadata_flag("nocloud"), learned);
            let choice = match (opts.bootstrap, d.bootstrap_mode) {
                (Choice::Skip, _) => Choice::Skip,
                (_, Some(mode)) => mode,
                _ => base_choice,
            };
            root.decision = choice.decide(d.bootstrap, support, bootable);
        }
        records.push(rec);
    }
    Ok((records, root))
}

/// `path` as it reads once the staging folder is renamed to the prefix.
fn final_path(reserved: &Reserved, path: &str) -> String {
    let staging = reserved.paths.prefix_path().to_string_lossy();
    match path.strip_prefix(staging.as_ref()) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            format!("{}{rest}", reserved.final_paths.prefix_path().display())
        }
        _ => path.to_string(),
    }
}

/// The VM's deploy scripts copied into the prefix; their stored paths.
fn copy_deploy_scripts(
    input: &Validated,
    reserved: &Reserved,
    d: &DomainSpec,
) -> Result<Vec<Value>> {
    let scripts = d.deploy_scripts();
    let mut stored_scripts = Vec::new();
    if scripts.is_empty() {
        return Ok(stored_scripts);
    }
    let paths = &reserved.paths;
    // as Lago's init, which set both variables before copying them
    let prefix_dir = paths.prefix_path().to_string_lossy().into_owned();
    let workdir_dir = reserved.workdir_path.to_string_lossy().into_owned();
    let script_lookup = |name: &str| match name {
        "LAGO_PREFIX_PATH" => Some(prefix_dir.clone()),
        "LAGO_WORKDIR_PATH" => Some(workdir_dir.clone()),
        other => input.lookup(other),
    };
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
    Ok(stored_scripts)
}

/// What Lago adds to every VM spec: its management net, an empty snapshot
/// list, and the configuration's defaults for what the init file left out.
fn lago_defaults(vm: &mut VmRecord, config: &Config, vp: &plan::VmPlan) {
    vm.mgmt_net = Some(vp.mgmt_net.clone());
    vm.snapshots.get_or_insert_with(Default::default);
    let defaults = [
        (&mut vm.vm_type, "default_vm_type"),
        (&mut vm.vm_provider, "default_vm_provider"),
        (&mut vm.ssh_user, "ssh_user"),
    ];
    for (field, key) in defaults {
        if field.is_none()
            && let Some(v) = config.get(key)
        {
            *field = Some(v.into());
        }
    }
    if vm.root_password.is_none() && vm.ssh_password.is_none() {
        let pw = config
            .get("root_password")
            .or_else(|| config.get("ssh_password"));
        if let Some(pw) = pw {
            vm.ssh_password = Some(pw.into());
        }
    }
}

/// The VM's bootstrap: a NoCloud seed now, the first-boot entry, or the
/// virt-sysprep run to do (returned).
fn bootstrap(
    config: &Config,
    reserved: &Reserved,
    d: &DomainSpec,
    vp: &plan::VmPlan,
    vm: &mut VmRecord,
    root: &RootDisk,
) -> Result<Option<SysprepJob>> {
    let paths = &reserved.paths;
    let root_password = vm.password_text().unwrap_or_else(|| "123456".to_string());
    let root_meta = |key: &str| vm.disk_records().first().and_then(|r| r.metadata_str(key));
    let (template_password, template_distro) = (root_meta("root-password"), root_meta("distro"));
    if root.decision.seed {
        let file = format!("{}_cidata.img", d.name);
        let pubkey = paths.ssh_id_rsa_pub();
        let key = fs::read_to_string(&pubkey).map_err(|e| io_error("read", &pubkey, e))?;
        let seed = nocloud::Seed {
            instance_id: format!("{}-{}", reserved.uuid, d.name),
            hostname: d.name.clone(),
            authorized_keys: vec![key],
            root_password: Some(root_password.clone()),
        };
        let path = paths.images().join(&file);
        nocloud::write_seed(&path, &seed)
            .map_err(|e| io_error("write the NoCloud seed", &path, e))?;
        vm.nocloud_seed = Some(Paths::stored_image(&file));
    }
    vm.bootstrap_method = Some(root.decision.method.as_str().to_string());
    let mut job = None;
    match (root.decision.method, &root.image) {
        (Method::Ssh, _) => {
            // logged in with the template's password at the first boot
            let login = template_password
                .or_else(|| config.get("default_root_password").map(str::to_string))
                .unwrap_or_else(|| DEFAULT_TEMPLATE_PASSWORD.to_string());
            vm.first_boot = Some(Ordered::new(FirstBootRecord {
                login_password: Some(login),
                template_image: root
                    .template
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned()),
                extra: Map::new(),
            }));
        }
        (Method::Sysprep, Some((disk, format))) => {
            // Lago's base commands, then its distro template's
            let distro = d.distro.clone().or(template_distro);
            let nics: Vec<(String, String)> = vp
                .nics
                .iter()
                .enumerate()
                .filter_map(|(i, n)| Some((format!("eth{i}"), plan::ipv4_to_mac(n.ip?))))
                .collect();
            let commands =
                sysprep::sysprep_commands(&d.name, &root_password, &paths.ssh_id_rsa_pub())
                    + &sysprep::distro_commands(distro.as_deref(), &d.name, &nics);
            job = Some(SysprepJob {
                vm: d.name.clone(),
                disk: disk.clone(),
                format: format.clone(),
                commands,
            });
        }
        _ => {}
    }
    Ok(job)
}

/// A net's record: the init file's keys, then what the plan decided.
fn net_record(n: &NetSpec, np: &plan::NetPlan) -> Result<NetState> {
    let mut net: Ordered<NetRecord> = record(&format!("nets.{}", n.name), n.to_json())?;
    net.name = Some(n.name.clone());
    net.net_type = Some(
        if n.net_type == NetType::Nat {
            "nat"
        } else {
            "bridge"
        }
        .to_string(),
    );
    net.management = Some(Scalar(json!(np.management)));
    if let Some(gw) = np.gw {
        net.gw = Some(gw.to_string());
    }
    if np.management && net.dns_domain_name.is_none() {
        net.dns_domain_name = Some("lago.local".to_string());
    }
    let to_map = |pairs: &[(String, Ipv4Addr)]| {
        pairs
            .iter()
            .map(|(k, ip)| (k.clone(), json!(ip.to_string())))
            .collect()
    };
    net.mapping = Some(to_map(&np.mapping));
    if np.management {
        net.dns_records = Some(to_map(&np.dns_records));
    } else if let Some(fwd) = np.dns_forward {
        net.dns_forward = Some(fwd.to_string());
    }
    Ok(NetState {
        name: n.name.clone(),
        spec: net,
    })
}

/// Step 5: the specs and `virt/env` written, `initialized` last, then
/// `current` pointed at the new prefix (a new workdir's first prefix, or on
/// request); from here on nothing is undone.
fn persist(
    opts: &InitOptions,
    input: &Validated,
    mut reserved: Reserved,
    mut state: PrefixState,
) -> Result<Initialized> {
    state.save()?;
    layout::mark_initialized(&reserved.paths)?;
    owner::phase("init:persist")?;
    publish(&mut reserved)?;
    state.paths = reserved.paths.clone();
    owner::phase("init:current")?;
    let current_before = input.existing.as_ref().and_then(|w| w.current().ok());
    let has_current = fs::symlink_metadata(reserved.workdir_path.join(workdir::CURRENT)).is_ok();
    if input.existing.is_none() || opts.set_current || !has_current {
        reserved.undo.old_current = Some((reserved.workdir_path.clone(), current_before));
        workdir::point_current(&reserved.workdir_path, &input.prefix_name)?;
    }
    reserved.undo.commit();
    let record = reserved.paths.prefixed(staging::INIT_RECORD);
    if let Err(e) = fs::remove_file(&record) {
        warn!(file = %record.display(), error = %e, "cannot remove init's record");
    }
    info!(prefix = %reserved.paths.prefix_path().display(), vms = state.vms.len(), nets = state.nets.len(), "prefix initialized");
    Ok(Initialized {
        workdir: reserved.workdir_path,
        paths: reserved.paths,
        uuid: reserved.uuid,
        state,
    })
}

/// The staging folder renamed to the prefix's name (never over an existing
/// one), its leases moved to the final uuid path under the lease store's
/// lock at the same time; from here `reserved.paths` are the final ones.
fn publish(reserved: &mut Reserved) -> Result<()> {
    let from = reserved.paths.prefix_path().to_path_buf();
    let to = reserved.final_paths.prefix_path().to_path_buf();
    let rename = || rename_noreplace(&from, &to);
    let renamed = match &reserved.undo.leases {
        Some((store, subnets)) => store.move_owner(
            subnets,
            &reserved.paths.uuid(),
            &reserved.final_paths.uuid(),
            rename,
        )?,
        None => rename(),
    };
    renamed.map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            let name = to
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            workdir::WorkdirError::PrefixExists {
                name,
                workdir: reserved.workdir_path.clone(),
            }
            .into()
        } else {
            io_error(&format!("rename {} to", from.display()), &to, e)
        }
    })?;
    reserved.undo.prefix_dir = Some(to);
    reserved.paths = reserved.final_paths.clone();
    Ok(())
}

/// `rename(2)` that fails with `AlreadyExists` rather than replace `to`.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
    };
    let (from_c, to_c) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from_c.as_ptr(),
            libc::AT_FDCWD,
            to_c.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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
