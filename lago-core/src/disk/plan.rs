//! The image plan of one disk: which file a VM's disk is, how it is made,
//! and how its path is stored in the prefix.
//!
//! Lago's rules, kept so existing prefixes load unchanged:
//!
//! - images made in a prefix are `images/<vm>_<disk>.<format>`;
//! - the spec stores their path as `$LAGO_PREFIX_PATH/images/<file>`, so a
//!   prefix can be moved, and expands the variable when it is used;
//! - a `template` disk is a qcow2 overlay on the (raw) store image;
//! - an `empty` disk is a new image of the given size;
//! - a `file` disk is used in place (its path is stored as given), unless
//!   `make_a_copy` asks for a sparse copy in `images/`. An ISO (`format:
//!   iso`) is attached as a cdrom and never gets an overlay.

use std::path::{Path, PathBuf};

use super::qemu_img::absolute;
use super::{DiskError, ImageFormat, copy_sparse, create_empty, create_overlay, parse_size};

/// The variable stored disk paths start with; it names the prefix folder.
pub const PREFIX_PATH_VAR: &str = "LAGO_PREFIX_PATH";

/// The file name of an image made in a prefix: `<vm>_<disk>.<format>`.
pub fn image_file_name(vm: &str, disk: &str, format: ImageFormat) -> String {
    format!("{vm}_{disk}.{}", format.as_str())
}

/// The relocatable path stored in the spec for an image made in a prefix:
/// `$LAGO_PREFIX_PATH/images/<file_name>`.
pub fn stored_image_path(file_name: &str) -> String {
    format!("${PREFIX_PATH_VAR}/images/{file_name}")
}

/// Expands `$LAGO_PREFIX_PATH` and `${LAGO_PREFIX_PATH}` in a stored path to
/// `prefix_path`. Other `$` text is left as it is (as Python's
/// `os.path.expandvars` leaves unknown variables), and so is a variable name
/// that merely starts with `LAGO_PREFIX_PATH`.
pub fn expand_prefix_path(stored: &str, prefix_path: &Path) -> PathBuf {
    let prefix = prefix_path.to_string_lossy();
    let braced = format!("${{{PREFIX_PATH_VAR}}}");
    let plain = format!("${PREFIX_PATH_VAR}");
    let mut out = String::with_capacity(stored.len() + prefix.len());
    let mut rest = stored;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix(&braced) {
            out.push_str(&prefix);
            rest = after;
        } else if let Some(after) = tail.strip_prefix(&plain)
            && !after.starts_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            out.push_str(&prefix);
            rest = after;
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    PathBuf::from(out)
}

/// How the image of a disk comes to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageAction {
    /// A qcow2 overlay on `backing` (a `template` disk).
    Overlay {
        /// The backing image, e.g. the store's raw template image.
        backing: PathBuf,
        /// The backing image's format, given to qemu-img as `-F`.
        backing_format: ImageFormat,
    },
    /// A new empty image of `size` bytes (an `empty` disk).
    Empty {
        /// The size in bytes (validated by [`parse_size`]).
        size: u64,
    },
    /// A sparse copy of `source` (a `file` disk with `make_a_copy`).
    Copy {
        /// The file to copy.
        source: PathBuf,
    },
    /// The file is used where it is; nothing is made (a `file` disk, an ISO).
    InPlace,
}

/// The image of one disk of one VM: where it is, how it is made and how its
/// path is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePlan {
    /// The format of the image the VM sees.
    pub format: ImageFormat,
    /// The absolute path of the image.
    pub path: PathBuf,
    /// The path as stored in the spec: `$LAGO_PREFIX_PATH/images/<file>` for
    /// images made in the prefix, the given path for files used in place.
    pub stored_path: String,
    /// How the image is made.
    pub action: ImageAction,
}

impl ImagePlan {
    /// A `template` disk: a qcow2 overlay `images/<vm>_<disk>.qcow2` in
    /// `prefix_path` on `backing` of `backing_format` (raw for store images).
    pub fn template(
        vm: &str,
        disk: &str,
        backing: &Path,
        backing_format: ImageFormat,
        prefix_path: &Path,
    ) -> Result<Self, DiskError> {
        Self::in_prefix(
            vm,
            disk,
            ImageFormat::Qcow2,
            prefix_path,
            ImageAction::Overlay {
                backing: absolute(backing)?,
                backing_format,
            },
        )
    }

    /// An `empty` disk of `size` (e.g. `10G`) and `format` (qcow2 or raw).
    pub fn empty(
        vm: &str,
        disk: &str,
        format: ImageFormat,
        size: &str,
        prefix_path: &Path,
    ) -> Result<Self, DiskError> {
        if format == ImageFormat::Iso {
            return Err(DiskError::InvalidFormat {
                format: format.to_string(),
                valid: "qcow2, raw",
            });
        }
        let size = parse_size(size)?;
        Self::in_prefix(vm, disk, format, prefix_path, ImageAction::Empty { size })
    }

    /// A `file` disk at `path`: used in place, or copied sparse into
    /// `images/<vm>_<disk>.<format>` when `make_a_copy` is set.
    pub fn file(
        vm: &str,
        disk: &str,
        path: &Path,
        format: ImageFormat,
        make_a_copy: bool,
        prefix_path: &Path,
    ) -> Result<Self, DiskError> {
        let source = absolute(path)?;
        if make_a_copy {
            Self::in_prefix(vm, disk, format, prefix_path, ImageAction::Copy { source })
        } else {
            Ok(ImagePlan {
                format,
                stored_path: source.to_string_lossy().into_owned(),
                path: source,
                action: ImageAction::InPlace,
            })
        }
    }

    fn in_prefix(
        vm: &str,
        disk: &str,
        format: ImageFormat,
        prefix_path: &Path,
        action: ImageAction,
    ) -> Result<Self, DiskError> {
        check_name("vm", vm)?;
        check_name("disk", disk)?;
        let file = image_file_name(vm, disk, format);
        Ok(ImagePlan {
            format,
            path: absolute(prefix_path)?.join("images").join(&file),
            stored_path: stored_image_path(&file),
            action,
        })
    }

    /// Whether the VM gets this disk as a cdrom (an ISO): on the IDE bus,
    /// read-only, raw to qemu.
    pub fn is_cdrom(&self) -> bool {
        self.format == ImageFormat::Iso
    }

    /// Whether [`apply`](Self::apply) makes a file (everything but
    /// [`ImageAction::InPlace`]).
    pub fn creates_image(&self) -> bool {
        self.action != ImageAction::InPlace
    }

    /// Makes the image: the overlay, empty image or copy, mode 0666. For a
    /// file used in place it only checks that the file exists
    /// ([`DiskError::NotFound`] otherwise). The `images/` folder must exist.
    pub fn apply(&self) -> Result<(), DiskError> {
        match &self.action {
            ImageAction::Overlay {
                backing,
                backing_format,
            } => create_overlay(backing, *backing_format, &self.path),
            ImageAction::Empty { size } => create_empty(&self.path, self.format, &size.to_string()),
            ImageAction::Copy { source } => copy_sparse(source, &self.path),
            ImageAction::InPlace => super::qemu_img::require_exists(&self.path, "disk file"),
        }
    }
}

/// A VM or disk name must make a plain file name.
fn check_name(what: &'static str, name: &str) -> Result<(), DiskError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.contains('/') {
        "it contains '/'"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(DiskError::InvalidName {
        what,
        name: name.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_stored_paths() {
        assert_eq!(
            image_file_name("vm0", "root", ImageFormat::Qcow2),
            "vm0_root.qcow2"
        );
        assert_eq!(
            stored_image_path("vm0_root.qcow2"),
            "$LAGO_PREFIX_PATH/images/vm0_root.qcow2"
        );
    }

    #[test]
    fn prefix_path_expands() {
        let prefix = Path::new("/w/.lago/default");
        assert_eq!(
            expand_prefix_path("$LAGO_PREFIX_PATH/images/a.qcow2", prefix),
            PathBuf::from("/w/.lago/default/images/a.qcow2")
        );
        assert_eq!(
            expand_prefix_path("${LAGO_PREFIX_PATH}/images/a.qcow2", prefix),
            PathBuf::from("/w/.lago/default/images/a.qcow2")
        );
        // other variables and longer names stay as they are
        assert_eq!(
            expand_prefix_path("$HOME/$LAGO_PREFIX_PATHX/a$", prefix),
            PathBuf::from("$HOME/$LAGO_PREFIX_PATHX/a$")
        );
        assert_eq!(
            expand_prefix_path("/abs/disk.iso", prefix),
            PathBuf::from("/abs/disk.iso")
        );
    }

    #[test]
    fn template_plan_is_a_qcow2_overlay() {
        let plan = ImagePlan::template(
            "vm0",
            "root",
            Path::new("/store/r:t:v"),
            ImageFormat::Raw,
            Path::new("/w/p"),
        )
        .unwrap();
        assert_eq!(plan.path, PathBuf::from("/w/p/images/vm0_root.qcow2"));
        assert_eq!(plan.stored_path, "$LAGO_PREFIX_PATH/images/vm0_root.qcow2");
        assert_eq!(plan.format, ImageFormat::Qcow2);
        assert!(plan.creates_image());
        assert!(!plan.is_cdrom());
        assert_eq!(
            plan.action,
            ImageAction::Overlay {
                backing: PathBuf::from("/store/r:t:v"),
                backing_format: ImageFormat::Raw
            }
        );
    }

    #[test]
    fn iso_file_is_used_in_place_as_cdrom() {
        let plan = ImagePlan::file(
            "vm0",
            "cd",
            Path::new("/isos/seed.iso"),
            ImageFormat::Iso,
            false,
            Path::new("/w/p"),
        )
        .unwrap();
        assert_eq!(plan.action, ImageAction::InPlace);
        assert!(plan.is_cdrom());
        assert!(!plan.creates_image());
        assert_eq!(plan.path, PathBuf::from("/isos/seed.iso"));
        assert_eq!(plan.stored_path, "/isos/seed.iso");
    }

    #[test]
    fn copied_file_goes_to_images() {
        let plan = ImagePlan::file(
            "vm0",
            "data",
            Path::new("/d/data.raw"),
            ImageFormat::Raw,
            true,
            Path::new("/w/p"),
        )
        .unwrap();
        assert_eq!(plan.path, PathBuf::from("/w/p/images/vm0_data.raw"));
        assert_eq!(
            plan.action,
            ImageAction::Copy {
                source: PathBuf::from("/d/data.raw")
            }
        );
    }

    #[test]
    fn empty_plan_validates() {
        let plan =
            ImagePlan::empty("vm0", "d1", ImageFormat::Raw, "1G", Path::new("/w/p")).unwrap();
        assert_eq!(plan.action, ImageAction::Empty { size: 1 << 30 });
        assert!(matches!(
            ImagePlan::empty("vm0", "d1", ImageFormat::Raw, "1Q", Path::new("/w/p")),
            Err(DiskError::InvalidSize { .. })
        ));
        assert!(matches!(
            ImagePlan::empty("vm0", "d1", ImageFormat::Iso, "1G", Path::new("/w/p")),
            Err(DiskError::InvalidFormat { .. })
        ));
        assert!(matches!(
            ImagePlan::empty("vm/0", "d1", ImageFormat::Raw, "1G", Path::new("/w/p")),
            Err(DiskError::InvalidName { what: "vm", .. })
        ));
        assert!(matches!(
            ImagePlan::empty("vm0", "", ImageFormat::Raw, "1G", Path::new("/w/p")),
            Err(DiskError::InvalidName { what: "disk", .. })
        ));
    }
}
