//! `export`: the disks of stopped VMs written out as images that stand on
//! their own (or on one template), with an init file that re-creates the
//! environment from them (contract §9).
//!
//! For every exported disk `<dst>/<basename of the disk's image>`:
//!
//! - a `template` disk is, **standalone**, flattened with
//!   `qemu-img convert -O qcow2` (the whole backing chain in one qcow2 with
//!   no backing file; qemu-img skips zero clusters, so it is sparse), or,
//!   **layered**, its top overlay copied sparse and pointed with
//!   `qemu-img rebase -u` at `./<tmpl>:<ver>` (the store image's name with
//!   the repository stripped): a re-init finds that name in the template
//!   repository and links the store image there. A chain of more than one
//!   layer above the template cannot be exported layered;
//! - a `file` or `empty` disk is copied sparse;
//! - optionally `virt-sparsify --in-place` runs on the copy (off by default:
//!   libguestfs boots an appliance for every disk, 15–20 s each here, and
//!   the copies are sparse already);
//! - `<dst>.hash` gets the sha1 of the image (40 hex digits, no newline, as
//!   the template store's files) and `<dst>.metadata` the disk's metadata
//!   plus `sha1`, `size`, `name`, `version` (`%Y%m%d.0`, UTC) and `base`, as
//!   Python's `json.dump` writes it;
//! - with compression, `xz` packs the image into `<dst>.xz` and the
//!   uncompressed image is deleted.
//!
//! The copy, the hash and the compression report their progress in bytes
//! ([`steps`]), besides the count of disks done.
//!
//! Everything is checked before the first file is written: the VMs exist and
//! are down, no file to be written exists already (nothing is overwritten),
//! a layered template disk has exactly one layer. If a step fails, every
//! file this export made is removed again, and the destination folder too if
//! this export created it.

mod steps;

pub use steps::sha1_file;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tracing::{debug, info, warn};

use crate::disk::{self, ImageFormat};
use crate::error::{Error, ErrorKind, Result};
use crate::ops::parallel;
use crate::prefix::layout;
use crate::prefix::state::{DiskRecord, Ordered, PrefixState, Scalar, VmState};
use crate::progress::Progress;
use crate::pyjson;

/// The init file's name unless told otherwise.
pub const DEFAULT_INIT_FILE_NAME: &str = "LagoInitFile";

/// The start of the error for VMs that are not down (Lago's words).
pub const MUST_BE_OFF: &str = "The following vms must be off:";

/// What to export, how and where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The VMs to export; all when empty. VMs marked `skip-export` are left
    /// out either way.
    pub vms: Vec<String>,
    /// Flatten template disks into images with no backing file; otherwise
    /// keep only the top layer, backed by the template by name.
    pub standalone: bool,
    /// Compress every image with xz (the uncompressed image is deleted).
    pub compress: bool,
    /// Where the images and the init file go (created if missing).
    pub dst_dir: PathBuf,
    /// The init file's name in `dst_dir`; `None` writes no init file (a
    /// VM's `export_disks`).
    pub init_file_name: Option<String>,
    /// Write the init file as JSON instead of YAML.
    pub init_file_json: bool,
    /// Only say which source images would be exported; write nothing.
    pub collect_only: bool,
    /// Run `virt-sparsify --in-place` on every copy (not on ISOs).
    pub sparsify: bool,
    /// Export the disks in parallel (one thread per disk).
    pub parallel: bool,
}

impl ExportOptions {
    /// Options exporting every VM layered into `dst_dir`, Lago's defaults.
    pub fn new(dst_dir: impl Into<PathBuf>) -> Self {
        Self {
            vms: Vec::new(),
            standalone: false,
            compress: false,
            dst_dir: dst_dir.into(),
            init_file_name: Some(DEFAULT_INIT_FILE_NAME.to_string()),
            init_file_json: false,
            collect_only: false,
            sparsify: false,
            parallel: true,
        }
    }
}

/// How one disk is exported.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Method {
    /// Flattened into one qcow2 with no backing file.
    Flatten,
    /// The top layer, pointed at `backing` (`./<tmpl>:<ver>`) of `backing_format`.
    Layer {
        backing: String,
        backing_format: ImageFormat,
    },
    /// Copied as it is (file and empty disks, template disks with no parent).
    Copy,
}

/// One disk to export.
#[derive(Debug, Clone)]
struct DiskJob {
    vm: String,
    src: PathBuf,
    dst: PathBuf,
    format: String,
    method: Method,
    metadata: Map<String, Value>,
}

/// A string field's text (empty when missing or not a string).
fn text(s: &Option<Scalar>) -> &str {
    s.as_ref().and_then(Scalar::as_str).unwrap_or_default()
}

fn exported_disks(vm: &VmState) -> impl Iterator<Item = &Ordered<DiskRecord>> {
    vm.spec.disk_records().iter().filter(|d| !d.skips_export())
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("disk path {} has no file name", path.display()),
            )
        })
}

/// `<name>.<suffix>` next to `path`.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The store name of a template without its repository: `repo:tmpl:ver` →
/// `tmpl:ver`; other names are kept.
pub fn strip_repo(store_name: &str) -> &str {
    if store_name.matches(':').count() >= 2 {
        store_name
            .split_once(':')
            .map_or(store_name, |(_, rest)| rest)
    } else {
        store_name
    }
}

/// Fails with Lago's `Entity X does not exist` for the first name that is
/// not a VM of `state`.
pub fn check_names(state: &PrefixState, names: &[String]) -> Result<()> {
    match names.iter().find(|n| state.vm(n).is_none()) {
        Some(name) => Err(Error::new(
            ErrorKind::NotFound,
            format!("Entity {name} does not exist"),
        )),
        None => Ok(()),
    }
}

/// The VMs to export: named ones (or all), minus `skip-export`, each known
/// and down.
fn select<'a>(
    state: &'a PrefixState,
    names: &[String],
    is_running: &dyn Fn(&str) -> Result<bool>,
) -> Result<Vec<&'a VmState>> {
    check_names(state, names)?;
    let mut vms = Vec::new();
    if names.is_empty() {
        vms.extend(state.vms.iter());
    } else {
        for name in names {
            let Some(vm) = state.vm(name) else {
                continue; // checked above
            };
            if !vms.iter().any(|v: &&VmState| v.name == vm.name) {
                vms.push(vm);
            }
        }
    }
    vms.retain(|vm| !vm.spec.skip_export.as_ref().is_some_and(Scalar::truthy));
    let mut running = Vec::new();
    for vm in &vms {
        if is_running(&vm.name)? {
            running.push(vm.name.clone());
        }
    }
    if !running.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{MUST_BE_OFF}\n{}", running.join("\n")),
        ));
    }
    Ok(vms)
}

/// Plans every disk: source, destination and method, with every check that
/// can fail done here.
fn plan(state: &PrefixState, vms: &[&VmState], opts: &ExportOptions) -> Result<Vec<DiskJob>> {
    let dst_dir = std::path::absolute(&opts.dst_dir).map_err(|e| {
        Error::with_source(
            ErrorKind::Io,
            format!("cannot make {} absolute", opts.dst_dir.display()),
            e,
        )
    })?;
    let mut jobs: Vec<DiskJob> = Vec::new();
    for vm in vms {
        for d in exported_disks(vm) {
            let src = state.paths.expand(text(&d.path));
            let dst = dst_dir.join(file_name(&src)?);
            if let Some(other) = jobs.iter().find(|j| j.dst == dst) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "disks of VMs '{}' and '{}' would both be exported as {}",
                        other.vm,
                        vm.name,
                        dst.display()
                    ),
                ));
            }
            let format = text(&d.format).to_string();
            let method = if d.type_str() == "template" {
                template_method(&src, opts.standalone)?
            } else {
                Method::Copy
            };
            jobs.push(DiskJob {
                vm: vm.name.clone(),
                src,
                dst,
                format,
                method,
                metadata: d.metadata.clone().unwrap_or_default(),
            });
        }
    }
    Ok(jobs)
}

fn template_method(src: &Path, standalone: bool) -> Result<Method> {
    let top = disk::info(src)?;
    let Some(backing) = top.backing_filename.as_deref() else {
        return Ok(Method::Copy);
    };
    if standalone {
        return Ok(Method::Flatten);
    }
    let parent = top
        .full_backing_filename
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(|| src.parent().unwrap_or_else(|| Path::new("/")).join(backing));
    let parent_info = disk::info(&parent)?;
    if parent_info.backing_filename.is_some() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "Layered export is currently supported for one layer only, and {} has \
                 more than one layer above its template ({} has a backing file too). \
                 You can try to use Standalone export.",
                src.display(),
                parent.display()
            ),
        ));
    }
    let name = file_name(&parent)?;
    // a store image is named `<repo>:<tmpl>:<ver>` and found again by
    // `<tmpl>:<ver>`; any other parent (an image a re-init was made from)
    // stays where it is, by its absolute path
    let backing = if name.matches(':').count() >= 2 {
        format!("./{}", strip_repo(&name))
    } else {
        parent.to_string_lossy().into_owned()
    };
    let backing_format = top
        .backing_format
        .as_deref()
        .unwrap_or(parent_info.format.as_str())
        .parse::<ImageFormat>()?;
    Ok(Method::Layer {
        backing,
        backing_format,
    })
}

/// The files a disk's export writes, in the order they appear.
fn outputs(job: &DiskJob, compress: bool) -> Vec<PathBuf> {
    let mut out = vec![
        job.dst.clone(),
        with_suffix(&job.dst, ".hash"),
        with_suffix(&job.dst, ".metadata"),
    ];
    if compress {
        out.push(with_suffix(&job.dst, ".xz"));
    }
    out
}

fn require_absent(path: &Path) -> Result<()> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "{} already exists; export does not overwrite files (remove it or \
                 export to another folder)",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Files and the folder made so far; removed on drop unless committed.
struct Made {
    files: Mutex<Vec<PathBuf>>,
    dir: Option<PathBuf>,
    committed: bool,
    /// No disk image written yet (the phase `export:disk` is the first's).
    first_disk: std::sync::atomic::AtomicBool,
}

impl Made {
    fn add(&self, path: &Path) {
        self.files.lock().push(path.to_path_buf());
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        for f in self.files.lock().drain(..) {
            match fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    warn!(path = %f.display(), error = %e, "export failed and a file it made could not be removed");
                }
            }
        }
        if let Some(dir) = self.dir.take()
            && let Err(e) = fs::remove_dir(&dir)
        {
            warn!(dir = %dir.display(), error = %e, "export failed and the folder it made could not be removed");
        }
    }
}

/// Runs `export` as described in the module docs. `is_running` says whether
/// a VM is up. Returns `{vm: [exported image paths], "init-file": path}`, or
/// with `collect_only` `{vm: [source image paths]}`.
pub fn export(
    state: &PrefixState,
    opts: &ExportOptions,
    is_running: &dyn Fn(&str) -> Result<bool>,
) -> Result<Value> {
    let vms = select(state, &opts.vms, is_running)?;
    if opts.collect_only {
        let mut out = Map::new();
        for vm in &vms {
            let paths: Vec<Value> = exported_disks(vm)
                .map(|d| json!(state.paths.expand(text(&d.path)).to_string_lossy()))
                .collect();
            out.insert(vm.name.clone(), Value::Array(paths));
        }
        return Ok(Value::Object(out));
    }
    let init_file = match opts.init_file_name.as_deref() {
        Some(name) if name.is_empty() || name.contains('/') => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "invalid init file name '{name}': it must be a plain file name such as \
                     {DEFAULT_INIT_FILE_NAME}"
                ),
            ));
        }
        Some(name) => {
            let path = std::path::absolute(opts.dst_dir.join(name))
                .map_err(|e| Error::with_source(ErrorKind::Io, "cannot make a path absolute", e))?;
            require_absent(&path)?;
            Some(path)
        }
        None => None,
    };
    let jobs = plan(state, &vms, opts)?;
    for job in &jobs {
        for f in outputs(job, opts.compress) {
            require_absent(&f)?;
        }
        // make sure the source is there before anything is written
        if fs::metadata(&job.src).is_err() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "image of a disk of VM '{}' not found: {}",
                    job.vm,
                    job.src.display()
                ),
            ));
        }
    }
    let spec = init_spec(state, &vms)?;

    let creates_dir = !opts.dst_dir.exists();
    let _pending = crate::prefix::journal::begin(
        &state.paths,
        crate::prefix::journal::Pending::Export {
            outputs: jobs
                .iter()
                .flat_map(|j| outputs(j, opts.compress))
                .chain(init_file.clone())
                .collect(),
            created_dir: if creates_dir {
                Some(std::path::absolute(&opts.dst_dir).map_err(|e| {
                    Error::with_source(ErrorKind::Io, "cannot make a path absolute", e)
                })?)
            } else {
                None
            },
        },
    )?;
    let mut made = Made {
        files: Mutex::new(Vec::new()),
        dir: None,
        committed: false,
        first_disk: std::sync::atomic::AtomicBool::new(true),
    };
    if creates_dir {
        fs::create_dir_all(&opts.dst_dir).map_err(|e| {
            Error::with_source(
                ErrorKind::Io,
                format!("cannot create {}", opts.dst_dir.display()),
                e,
            )
        })?;
        made.dir = Some(opts.dst_dir.clone());
    }
    info!(dst = %opts.dst_dir.display(), disks = jobs.len(), standalone = opts.standalone, "exporting");
    let overall = Mutex::new(Progress::items("exporting disks", jobs.len() as u64));
    let one = |job: &DiskJob| {
        let done = export_disk(job, opts, &made);
        if done.is_ok() {
            overall.lock().add(1);
        }
        done
    };
    let results: Vec<Result<PathBuf>> = if opts.parallel && jobs.len() > 1 {
        parallel::map(&jobs, "exporting a disk", one)
    } else {
        jobs.iter().map(one).collect()
    };
    let mut out = Map::new();
    for vm in &vms {
        out.insert(vm.name.clone(), json!([]));
    }
    for (job, result) in jobs.iter().zip(results) {
        let path = result?;
        if let Some(Value::Array(list)) = out.get_mut(&job.vm) {
            list.push(json!(path.to_string_lossy()));
        }
    }
    overall.into_inner().finish();
    crate::owner::phase("export:spec")?;
    if let Some(init_file) = init_file {
        let text = if opts.init_file_json {
            pyjson::dumps_indent4(&spec)
                .map_err(|e| Error::with_source(ErrorKind::Internal, "cannot write JSON", e))?
        } else {
            serde_yaml::to_string(&spec)
                .map_err(|e| Error::with_source(ErrorKind::Internal, "cannot write YAML", e))?
        };
        made.add(&init_file);
        // the VMs' root passwords are in it: private from its first byte
        layout::create_private(&init_file)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| io_error("write", &init_file, e))?;
        info!(init_file = %init_file.display(), "init file written");
        out.insert("init-file".into(), json!(init_file.to_string_lossy()));
    }
    made.committed = true;
    Ok(Value::Object(out))
}

/// Exports one disk; returns the path of the exported image.
fn export_disk(job: &DiskJob, opts: &ExportOptions, made: &Made) -> Result<PathBuf> {
    debug!(vm = %job.vm, src = %job.src.display(), dst = %job.dst.display(), method = ?job.method, "exporting disk");
    crate::cancel::check("exporting disks")?;
    made.add(&job.dst);
    let name = job.dst.file_name().unwrap_or_default().to_string_lossy();
    let copying = format!("exporting VM '{}' disk {name}", job.vm);
    match &job.method {
        Method::Flatten => {
            steps::copy_with_progress(copying, &job.dst, steps::chain_allocated(&job.src), || {
                disk::convert(&job.src, Some("qcow2"), &job.dst, ImageFormat::Qcow2)
                    .map_err(Error::from)
            })?
        }
        Method::Layer { .. } | Method::Copy => {
            steps::copy_with_progress(copying, &job.dst, steps::file_allocated(&job.src), || {
                disk::copy_sparse(&job.src, &job.dst).map_err(Error::from)
            })?
        }
    }
    if made
        .first_disk
        .swap(false, std::sync::atomic::Ordering::SeqCst)
    {
        crate::owner::phase("export:disk")?;
    } else {
        crate::cancel::check("exporting disks")?;
    }
    let format = if job.method == Method::Flatten {
        "qcow2"
    } else {
        job.format.as_str()
    };
    if opts.sparsify && format != "iso" {
        steps::sparsify(&job.dst, format)?;
    }
    if let Method::Layer {
        backing,
        backing_format,
    } = &job.method
    {
        disk::set_backing_pointer(&job.dst, backing, *backing_format)?;
    }
    let sha1 = steps::sha1_with_progress(&job.dst, format!("hashing {name}"))?;
    let hash = with_suffix(&job.dst, ".hash");
    made.add(&hash);
    write(&hash, sha1.as_bytes())?;
    let size = fs::metadata(&job.dst)
        .map_err(|e| io_error("look at", &job.dst, e))?
        .len();
    let mut metadata = job.metadata.clone();
    metadata.insert("sha1".into(), json!(sha1));
    metadata.insert("size".into(), json!(size));
    metadata.insert("name".into(), json!(file_name(&job.dst)?));
    metadata.insert("version".into(), json!(version_today()));
    let base = match &job.method {
        Method::Layer { .. } => file_name(&job.src)?,
        _ => "None".to_string(),
    };
    metadata.insert("base".into(), json!(base));
    let meta_path = with_suffix(&job.dst, ".metadata");
    made.add(&meta_path);
    let meta_text = pyjson::dumps(&Value::Object(metadata))
        .map_err(|e| Error::with_source(ErrorKind::Internal, "cannot write JSON", e))?;
    write(&meta_path, meta_text.as_bytes())?;
    if opts.compress {
        let xz_path = with_suffix(&job.dst, ".xz");
        made.add(&xz_path);
        steps::xz(&job.dst, &xz_path, format!("compressing {name}"))?;
        fs::remove_file(&job.dst).map_err(|e| io_error("remove", &job.dst, e))?;
        return Ok(xz_path);
    }
    Ok(job.dst.clone())
}

pub(super) fn io_error(what: &str, path: &Path, e: io::Error) -> Error {
    Error::with_source(
        ErrorKind::Io,
        format!("cannot {what} {}", path.display()),
        e,
    )
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(|e| io_error("write", path, e))
}

/// Today (UTC) as `%Y%m%d.0`.
fn version_today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}{m:02}{d:02}.0")
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The init file that re-creates the exported VMs (and every net) from the
/// exported images, with §9's filters applied.
fn init_spec(state: &PrefixState, vms: &[&VmState]) -> Result<Value> {
    let mut domains = Map::new();
    for vm in vms {
        let mut spec = vm.spec.clone();
        spec.name = None;
        spec.snapshots = None;
        spec.memory_snapshots = None;
        spec.nocloud_seed = None;
        for key in ["name", "snapshots", "memory-snapshots", "nocloud-seed"] {
            spec.forget_key(key);
        }
        if let Some(meta) = &mut spec.metadata {
            meta.deploy_scripts = None;
            meta.forget_key("deploy-scripts");
        }
        let mut disks = Vec::new();
        for d in exported_disks(vm) {
            let mut d = d.clone();
            d.metadata = None;
            d.forget_key("metadata");
            let src = state.paths.expand(text(&d.path));
            match d.type_str() {
                "template" => {
                    d.extra.insert("template_type".into(), json!("qcow2"));
                }
                "empty" => {
                    d.disk_type = Some("file".into());
                    d.extra.insert("make_a_copy".into(), json!("True"));
                }
                _ => {}
            }
            d.path =
                Some(format!("${}/{}", crate::spec::INITFILE_PATH_VAR, file_name(&src)?).into());
            disks.push(d);
        }
        spec.disks = Some(disks);
        domains.insert(vm.name.clone(), spec.to_value());
    }
    let mut nets = Map::new();
    for net in &state.nets {
        let mut spec = net.spec.clone();
        spec.mapping = None;
        spec.dns_records = None;
        spec.forget_key("mapping");
        spec.forget_key("dns_records");
        nets.insert(net.name.clone(), spec.to_value());
    }
    Ok(json!({"domains": domains, "nets": nets}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_423), (2025, 12, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let v = version_today();
        assert_eq!(v.len(), 10, "{v}");
        assert!(v.ends_with(".0"), "{v}");
    }

    #[test]
    fn repo_names_are_stripped() {
        assert_eq!(strip_repo("lago-tests:tiny:v1"), "tiny:v1");
        assert_eq!(strip_repo("tiny:v1"), "tiny:v1");
        assert_eq!(strip_repo("base.qcow2"), "base.qcow2");
    }

    #[test]
    fn flags_as_lago_reads_them() {
        let flag = |v: Value| Scalar(v).truthy();
        assert!(flag(json!(true)));
        assert!(flag(json!("True")));
        assert!(!flag(json!("no")));
        assert!(!flag(json!(0)));
        assert!(flag(json!(1)));
        let disk: Ordered<DiskRecord> = serde_json::from_value(json!({"path": "/d"})).unwrap();
        assert!(!disk.skips_export());
    }
}
