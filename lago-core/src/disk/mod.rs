//! Disk images: `qemu-img` operations, sparse copies, the image plan of a
//! disk and the check that qemu can reach an image at all.
//!
//! Every operation that touches an image runs the `qemu-img` program as a
//! subprocess (as Lago does) and turns a failure into a [`DiskError`] that
//! carries the command line and qemu-img's own stderr. What Lago got wrong and
//! this module does instead:
//!
//! - overlays are made with `-F <backing format>`, which QEMU ≥ 6.1 requires;
//! - a missing backing or source file is reported as *not found*, naming the
//!   path, before qemu-img runs (Lago reported it as a permissions problem);
//! - a folder above an image that qemu's user cannot search (`/root` is 0700)
//!   gets its own error, naming the folder and the fix
//!   ([`check_qemu_can_reach`]);
//! - nothing is overwritten: creating an image where a file already exists is
//!   [`DiskError::AlreadyExists`], and a failed create leaves no file behind.
//!
//! Paths are made absolute before they reach qemu-img: a relative name with a
//! `:` in it (template store names are `repo:template:version`) would be read
//! by QEMU as a protocol prefix.

mod access;
mod copy;
mod plan;
mod qemu_img;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;

pub use access::{QemuUser, can_search, check_qemu_can_reach, check_reachable_by};
pub use copy::copy_sparse;
pub(crate) use copy::copy_sparse_from;
pub use plan::{
    ImageAction, ImagePlan, PREFIX_PATH_VAR, expand_prefix_path, image_file_name, stored_image_path,
};
pub(crate) use qemu_img::command_line;
pub use qemu_img::{
    IMAGE_MODE, QemuImgInfo, convert, create_empty, create_overlay, create_overlay_unopened, info,
    parse_size, rebase, set_backing_pointer,
};

use crate::error::{Error, ErrorKind};

/// The format of a disk image as a LagoInitFile names it (`format:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// A qcow2 image: overlays and empty disks by default.
    Qcow2,
    /// A raw image; template store images are raw.
    Raw,
    /// An ISO 9660 image, attached as a cdrom and used in place. For qemu it
    /// is a raw image.
    Iso,
}

impl ImageFormat {
    /// The values [`FromStr`] accepts, for error messages.
    pub const VALID: &'static str = "qcow2, raw, iso";

    /// The name used in LagoInitFiles and image file names (`qcow2`, `raw`,
    /// `iso`).
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::Raw => "raw",
            ImageFormat::Iso => "iso",
        }
    }

    /// The format name qemu uses for this format (`iso` is `raw` to qemu).
    pub fn qemu_format(self) -> &'static str {
        match self {
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::Raw | ImageFormat::Iso => "raw",
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ImageFormat {
    type Err = DiskError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "qcow2" => Ok(ImageFormat::Qcow2),
            "raw" => Ok(ImageFormat::Raw),
            "iso" => Ok(ImageFormat::Iso),
            other => Err(DiskError::InvalidFormat {
                format: other.to_owned(),
                valid: ImageFormat::VALID,
            }),
        }
    }
}

/// What went wrong in a disk operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiskError {
    /// A file the operation needs (backing file, source image) does not exist.
    #[error("{role} not found: {}", path.display())]
    NotFound {
        /// What the file is for, e.g. `backing file`.
        role: &'static str,
        /// The path that does not exist.
        path: PathBuf,
    },
    /// The file to be created exists already; it is left alone.
    #[error("{} already exists; not overwriting it", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// A disk size string is malformed.
    #[error(
        "invalid disk size '{size}': {reason} (valid: a positive number with an \
         optional K, M, G, T, P or E suffix, e.g. 10G or 512M)"
    )]
    InvalidSize {
        /// The size as given.
        size: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An image format name is not one of the supported ones, or is not
    /// valid for the operation.
    #[error("invalid image format '{format}' (valid: {valid})")]
    InvalidFormat {
        /// The format as given.
        format: String,
        /// The formats that are valid here.
        valid: &'static str,
    },
    /// A VM or disk name cannot be used in an image file name.
    #[error("invalid {what} name '{name}' for an image file name: {reason}")]
    InvalidName {
        /// `vm` or `disk`.
        what: &'static str,
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A program could not be started at all.
    #[error("cannot run {program}{hint}")]
    Spawn {
        /// The program, e.g. `qemu-img`.
        program: &'static str,
        /// A hint such as the package to install, with its leading separator.
        hint: &'static str,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },
    /// A program ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, for people.
        command: String,
        /// How it ended, e.g. `exit status: 1`.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// `qemu-img info --output=json` printed something that is not its JSON.
    #[error("cannot parse the output of `qemu-img info` for {}", path.display())]
    InfoParse {
        /// The image.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A file-system operation failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// The operation, e.g. `set permissions of`.
        op: &'static str,
        /// The file it was applied to.
        path: PathBuf,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },
    /// A folder above an image cannot be searched by the user qemu runs as,
    /// so qemu would fail to open the image.
    #[error(
        "qemu runs as user '{user}', which cannot reach {}: folder {} (mode {mode:04o}, \
         owner uid {owner}, group gid {group}) is not searchable by it; run \
         `chmod o+x {}` or move the workdir to a folder qemu can reach",
        path.display(),
        folder.display(),
        folder.display()
    )]
    NotSearchable {
        /// The image qemu has to open.
        path: PathBuf,
        /// The topmost folder on the way that the user cannot search.
        folder: PathBuf,
        /// The user qemu runs as.
        user: String,
        /// The permission bits of `folder`.
        mode: u32,
        /// The owner uid of `folder`.
        owner: u32,
        /// The group gid of `folder`.
        group: u32,
    },
}

impl DiskError {
    /// The [`ErrorKind`] this error is reported as.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DiskError::NotFound { .. } => ErrorKind::NotFound,
            DiskError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            DiskError::InvalidSize { .. }
            | DiskError::InvalidFormat { .. }
            | DiskError::InvalidName { .. } => ErrorKind::InvalidInput,
            DiskError::Spawn { .. } => ErrorKind::Io,
            DiskError::Io { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Io,
            },
            DiskError::Command { .. }
            | DiskError::InfoParse { .. }
            | DiskError::NotSearchable { .. } => ErrorKind::Disk,
        }
    }
}

impl From<DiskError> for Error {
    /// Keeps the [`DiskError`] as the source, classified by
    /// [`DiskError::kind`].
    fn from(err: DiskError) -> Self {
        let kind = err.kind();
        Error::with_source(kind, err.to_string(), err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_round_trips() {
        for fmt in [ImageFormat::Qcow2, ImageFormat::Raw, ImageFormat::Iso] {
            assert_eq!(fmt.as_str().parse::<ImageFormat>().unwrap(), fmt);
        }
        assert_eq!(ImageFormat::Iso.qemu_format(), "raw");
    }

    #[test]
    fn bad_format_lists_valid_ones() {
        let err = "vmdk".parse::<ImageFormat>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid image format 'vmdk' (valid: qcow2, raw, iso)"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn converts_into_crate_error() {
        let err: Error = DiskError::NotFound {
            role: "backing file",
            path: PathBuf::from("/x/y"),
        }
        .into();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.message(), "backing file not found: /x/y");
    }
}
