//! The disks of a VM: [`DiskSpec`], its keyword enums ([`DiskType`],
//! [`DiskFormat`], [`TemplateType`]) and its `build` steps ([`BuildStep`]).

use serde_json::{Map, Value, json};

use super::error::{SpecError, SpecErrorKind};
use super::keyword::keyword_enum;
use super::read::{Obj, check_name};

keyword_enum! {
    /// How a disk is made (`type`).
    pub enum DiskType {
        /// A copy-on-write overlay over a template from a repository.
        Template = "template",
        /// A new blank image of `size`.
        Empty = "empty",
        /// An existing image at `path`, or downloaded from `url`.
        File = "file",
    }
}

keyword_enum! {
    /// The image format of a disk (`format`).
    pub enum DiskFormat {
        /// qcow2.
        Qcow2 = "qcow2",
        /// Raw image.
        Raw = "raw",
        /// An ISO image, attached as a CD-ROM.
        Iso = "iso",
    }
}

keyword_enum! {
    /// Where a template disk's backing image comes from (`template_type`).
    pub enum TemplateType {
        /// A template from the repository (Lago's default).
        Lago = "lago",
        /// The qcow2 image at `path` is the backing file.
        Qcow2 = "qcow2",
    }
}

/// The arguments of one `virt-customize` option in a build step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildArgs {
    /// No argument (written `''` or left empty), e.g. `ssh-inject: ''`.
    Flag,
    /// One argument.
    One(String),
    /// The option repeated with each argument.
    Many(Vec<String>),
}

/// One option of a build step: `--name args…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOption {
    /// The option name as written (`run-command`, `ssh-inject`).
    pub name: String,
    /// Its arguments.
    pub args: BuildArgs,
}

/// One item of a disk's `build` list: a tool (`virt-customize`) and its
/// options, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildStep {
    /// The tool, e.g. `virt-customize`.
    pub tool: String,
    /// The tool's options.
    pub options: Vec<BuildOption>,
}

/// One disk of a VM (`domains.<vm>.disks[]`). Which fields are present is
/// checked for the disk's type at load time: a template disk has
/// `template_name` (and `path` for `template_type: qcow2`), an empty disk
/// `size`, a file disk `path` or `url`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskSpec {
    /// `type`: how the disk is made.
    pub disk_type: DiskType,
    /// `name`: used in the image file name `<vm>_<name>.<format>`.
    pub name: String,
    /// `dev`: the guest device, e.g. `vda` (virtio-blk) or `sda` (virtio-scsi).
    pub dev: String,
    /// `format`: the image format.
    pub format: DiskFormat,
    /// `template_name`: the template in the repository (template disks).
    pub template_name: Option<String>,
    /// `template_version`: the template version; the newest when absent.
    pub template_version: Option<String>,
    /// `template_type`: `lago` (default) or `qcow2`.
    pub template_type: Option<TemplateType>,
    /// `path`, with `$VARS` (e.g. `$LAGO_INITFILE_PATH`) expanded at load.
    pub path: Option<String>,
    /// `url` (file disks), with `$VARS` expanded at load.
    pub url: Option<String>,
    /// `make_a_copy` (file disks): copy the file into the prefix.
    pub make_a_copy: Option<bool>,
    /// `size` (empty disks), as given to `qemu-img create`, e.g. `10G`.
    pub size: Option<String>,
    /// `metadata`: free-form; merged with the template's metadata later.
    pub metadata: Map<String, Value>,
    /// `build`: customization steps run on the image after it is made.
    pub build: Vec<BuildStep>,
    /// `skip-export`: leave this disk out of `export`.
    pub skip_export: Option<bool>,
    /// `comment`: free text.
    pub comment: Option<String>,
    /// Keys lago does not know, kept in file order to be persisted.
    pub extra: Map<String, Value>,
}

impl DiskSpec {
    /// Reads one disk from its mapping.
    pub(crate) fn read(mut obj: Obj<'_, '_>) -> Result<Self, SpecError> {
        let disk_type = match obj.keyword::<DiskType>("type", "disk type")? {
            Some(t) => t,
            None => {
                return Err(obj.missing("type", "template, empty, file"));
            }
        };
        let name = obj.required_string("name", "a name for the image file, e.g. root")?;
        check_name(obj.ctx(), &obj.at("name"), &name, "disk")?;
        let dev = obj.required_string("dev", "a guest device such as vda or sda")?;
        let format = match obj.keyword::<DiskFormat>("format", "disk format")? {
            Some(f) => f,
            None => return Err(obj.missing("format", "qcow2, raw, iso")),
        };
        let template_name = obj.string("template_name")?;
        let template_version = obj.text("template_version")?;
        let template_type = obj.keyword::<TemplateType>("template_type", "template type")?;
        let path = obj.string("path")?.map(|p| obj.ctx().expand(&p));
        let url = obj.string("url")?.map(|u| obj.ctx().expand(&u));
        let make_a_copy = obj.boolean("make_a_copy")?;
        let size = obj.text("size")?;
        let metadata = obj.map("metadata", "a mapping")?.unwrap_or_default();
        let build = match obj.list("build", "a list of build steps")? {
            Some(items) => read_build(&obj, items)?,
            None => Vec::new(),
        };
        let skip_export = obj.boolean("skip-export")?;
        let comment = obj.text("comment")?;

        match disk_type {
            DiskType::Template if template_name.is_none() => {
                return Err(obj.missing(
                    "template_name",
                    "the name of a template in the repository, e.g. el7.6-base",
                ));
            }
            DiskType::Template if template_type == Some(TemplateType::Qcow2) && path.is_none() => {
                return Err(obj.missing("path", "the qcow2 image to use as backing file"));
            }
            DiskType::Empty if size.is_none() => {
                return Err(obj.missing("size", "a size for qemu-img, e.g. 10G"));
            }
            DiskType::File if path.is_none() && url.is_none() => {
                return Err(obj
                    .ctx()
                    .error(
                        SpecErrorKind::MissingKey,
                        obj.path(),
                        "a file disk needs 'path' or 'url'",
                    )
                    .valid("path: $LAGO_INITFILE_PATH/disk.img, or url: http://…"));
            }
            _ => {}
        }

        Ok(Self {
            disk_type,
            name,
            dev,
            format,
            template_name,
            template_version,
            template_type,
            path,
            url,
            make_a_copy,
            size,
            metadata,
            build,
            skip_export,
            comment,
            extra: obj.finish(),
        })
    }

    /// The disk in Lago's JSON shape: the keys of the init file with the
    /// typed values written back, then the unknown keys.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("type".into(), json!(self.disk_type.to_string()));
        out.insert("name".into(), json!(self.name));
        out.insert("dev".into(), json!(self.dev));
        out.insert("format".into(), json!(self.format.to_string()));
        let optional = [
            (
                "template_name",
                self.template_name.as_ref().map(|v| json!(v)),
            ),
            (
                "template_version",
                self.template_version.as_ref().map(|v| json!(v)),
            ),
            (
                "template_type",
                self.template_type.map(|v| json!(v.to_string())),
            ),
            ("path", self.path.as_ref().map(|v| json!(v))),
            ("url", self.url.as_ref().map(|v| json!(v))),
            ("make_a_copy", self.make_a_copy.map(|v| json!(v))),
            ("size", self.size.as_ref().map(|v| json!(v))),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                out.insert(key.into(), value);
            }
        }
        if !self.metadata.is_empty() {
            out.insert("metadata".into(), Value::Object(self.metadata.clone()));
        }
        if !self.build.is_empty() {
            out.insert(
                "build".into(),
                Value::Array(self.build.iter().map(build_step_json).collect()),
            );
        }
        if let Some(skip) = self.skip_export {
            out.insert("skip-export".into(), json!(skip));
        }
        if let Some(comment) = &self.comment {
            out.insert("comment".into(), json!(comment));
        }
        for (key, value) in &self.extra {
            out.insert(key.clone(), value.clone());
        }
        Value::Object(out)
    }
}

fn build_step_json(step: &BuildStep) -> Value {
    let mut options = Map::new();
    for option in &step.options {
        let args = match &option.args {
            BuildArgs::Flag => json!(""),
            BuildArgs::One(arg) => json!(arg),
            BuildArgs::Many(args) => json!(args),
        };
        options.insert(option.name.clone(), args);
    }
    let mut step_map = Map::new();
    step_map.insert(step.tool.clone(), Value::Object(options));
    Value::Object(step_map)
}

/// Reads `build: [{virt-customize: {option: arg | [args] | ''}}, …]`.
fn read_build(disk: &Obj<'_, '_>, items: Vec<Value>) -> Result<Vec<BuildStep>, SpecError> {
    let ctx = disk.ctx();
    let base = disk.at("build");
    let mut steps = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let item_path = base.index(i);
        let Value::Object(tools) = item else {
            return Err(ctx.wrong_type(
                &item_path,
                "a mapping such as {virt-customize: {run-command: …}}",
                &item,
            ));
        };
        for (tool, options) in tools {
            let tool_path = item_path.key(&tool);
            let Value::Object(options) = options else {
                return Err(ctx.wrong_type(
                    &tool_path,
                    "a mapping of option name to argument",
                    &options,
                ));
            };
            let mut parsed = Vec::with_capacity(options.len());
            for (name, args) in options {
                let arg_path = tool_path.key(&name);
                let args = match args {
                    Value::Null => BuildArgs::Flag,
                    Value::String(s) if s.is_empty() => BuildArgs::Flag,
                    Value::String(s) => BuildArgs::One(s),
                    Value::Number(n) => BuildArgs::One(n.to_string()),
                    Value::Bool(b) => BuildArgs::One(b.to_string()),
                    Value::Array(list) => BuildArgs::Many(
                        list.into_iter()
                            .enumerate()
                            .map(|(j, arg)| match arg {
                                Value::String(s) => Ok(s),
                                Value::Number(n) => Ok(n.to_string()),
                                other => Err(ctx.wrong_type(
                                    &arg_path.index(j),
                                    "a string argument",
                                    &other,
                                )),
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                    Value::Object(_) => {
                        return Err(ctx.wrong_type(
                            &arg_path,
                            "an argument string, a list of them, or ''",
                            &args,
                        ));
                    }
                };
                parsed.push(BuildOption { name, args });
            }
            steps.push(BuildStep {
                tool,
                options: parsed,
            });
        }
    }
    Ok(steps)
}
