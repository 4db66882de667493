//! The LagoInitFile: parsing and validating it once into a typed
//! [`EnvSpec`].
//!
//! An init file is JSON or YAML (JSON is tried first, as Lago does). YAML
//! anchors, aliases and merge keys (`<<: *base`) are resolved; a domain's
//! `based-on` copies the keys it lacks from the named entry of the top-level
//! `prototypes`. Keys lago does not know are kept, in file order, in the
//! `extra` map of the struct they appear in, and written back by the
//! `to_json` methods, which give Lago's JSON shape of a VM, a network or the
//! whole environment.
//!
//! `$VARS` are expanded only where Lago expands them: a disk's `path` and
//! `url`, and the items of `metadata.deploy-scripts` (and the deprecated
//! `ovirt-scripts`). `$LAGO_INITFILE_PATH` is the init file's directory;
//! other variables come from the process environment, and unknown ones are
//! left as written. [`expand_vars`] is the same expansion as a pure function,
//! for fields expanded later (template repository roots, build arguments).
//!
//! Every mistake is a [`SpecError`] naming the file, line and column, the key
//! path and what would be valid:
//!
//! ```text
//! init.yaml:12:9: domains.vm0.nics[1].net: unknown network 'n3' (valid: n0, n1)
//! ```
//!
//! What is checked at load: syntax; duplicate keys (two VMs or networks of
//! one name); value types; required keys (`domains`, `nets`, a nic's `net`,
//! a disk's `type`, `name`, `dev`, `format`, and what its type needs, such
//! as `template_name`); known disk types, formats and network types;
//! `based-on` prototypes; nics on known networks; exactly one management
//! network per VM; `cpu_model` not with `cpu_custom`; static IPs valid,
//! inside their network and unique; disk devices unique per VM; names usable
//! in file names. Whether a template exists in its repository is checked
//! later, by the template store.

mod disk;
mod domain;
mod env;
mod error;
mod keyword;
mod locate;
mod net;
mod parse;
mod path;
mod read;
mod validate;
mod vars;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use disk::{BuildArgs, BuildOption, BuildStep, DiskFormat, DiskType, TemplateType};
pub use domain::DomainSpec;
pub use env::EnvSpec;
pub use error::{SpecError, SpecErrorKind};
pub use keyword::Keyword;
pub use net::{NetSpec, NetType};
pub use path::Segment;
pub use vars::expand_vars;

use locate::Locator;
use read::Ctx;

/// The variable naming the init file's directory.
pub const INITFILE_PATH_VAR: &str = "LAGO_INITFILE_PATH";

/// Reads, parses and validates the init file at `path`.
///
/// `$LAGO_INITFILE_PATH` is `path`'s directory, made absolute; other
/// variables come from the process environment.
pub fn load_file(path: &Path) -> Result<EnvSpec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|err| SpecError::io(path, &err))?;
    load_str(&text, path)
}

/// Parses and validates init-file `text` that was read from `origin`.
///
/// `origin` names the file in error messages and decides
/// `$LAGO_INITFILE_PATH` (its directory, made absolute against the current
/// directory); it does not have to exist. Other variables come from the
/// process environment. Tries JSON first, then YAML, like Lago; a syntax
/// error is reported for JSON only when `origin` ends in `.json`.
pub fn load_str(text: &str, origin: &Path) -> Result<EnvSpec, SpecError> {
    let env_lookup = |name: &str| std::env::var(name).ok();
    load_str_with(text, origin, &env_lookup)
}

/// Like [`load_str`], with variables other than `$LAGO_INITFILE_PATH` taken
/// from `lookup` instead of the process environment.
pub fn load_str_with(
    text: &str,
    origin: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<EnvSpec, SpecError> {
    let initfile_dir = initfile_dir(origin);
    let dir_text = initfile_dir.to_string_lossy().into_owned();
    let full_lookup = |name: &str| {
        if name == INITFILE_PATH_VAR {
            Some(dir_text.clone())
        } else {
            lookup(name)
        }
    };
    let mut ctx = Ctx {
        file: origin.to_path_buf(),
        locator: Locator::build(text),
        lookup: &full_lookup,
    };
    if let Some(dup) = ctx.locator.duplicate().cloned() {
        return Err(duplicate_error(&ctx, dup));
    }
    let (document, syntax) = parse::parse(text, &ctx)?;
    let env = env::read_env(document, &mut ctx, initfile_dir)?;
    validate::validate(&env, &ctx)?;
    tracing::debug!(
        file = %origin.display(),
        ?syntax,
        domains = env.domains.len(),
        nets = env.nets.len(),
        "loaded init file"
    );
    Ok(env)
}

/// The absolute directory of `origin` (Python's `dirname(abspath(origin))`:
/// symlinks are not resolved).
fn initfile_dir(origin: &Path) -> PathBuf {
    let absolute = std::path::absolute(origin).unwrap_or_else(|_| origin.to_path_buf());
    match absolute.parent() {
        Some(dir) => dir.to_path_buf(),
        None => absolute,
    }
}

fn duplicate_error(ctx: &Ctx<'_>, dup: locate::Duplicate) -> SpecError {
    let segments = dup.path.segments();
    let name = match segments.last() {
        Some(Segment::Key(name)) => name.clone(),
        _ => String::new(),
    };
    let what = match segments {
        [Segment::Key(top), _] if top == "domains" => format!("duplicate VM name '{name}'"),
        [Segment::Key(top), _] if top == "nets" => format!("duplicate network name '{name}'"),
        [Segment::Key(top), _] if top == "prototypes" => {
            format!("duplicate prototype name '{name}'")
        }
        _ => format!("duplicate key '{name}'"),
    };
    SpecError::new(
        SpecErrorKind::DuplicateKey,
        &ctx.file,
        dup.path,
        format!("{what}, first written at line {}", dup.first.line),
    )
    .at(Some(dup.at))
    .valid("each name once in a mapping")
}
