//! Disk operations against the real `qemu-img` of this host: overlays with
//! `-F`, empty images, conversion, rebase, sparse copies, the image plan,
//! and the errors a user sees.

// Test helpers may unwrap too: a failed unwrap there is a failed test.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use lago_core::ErrorKind;
use lago_core::disk::{
    self, DiskError, ImageAction, ImageFormat, ImagePlan, QemuUser, check_reachable_by,
};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A raw image of `size` with a few non-zero bytes.
fn raw_image(path: &Path, size: &str) {
    disk::create_empty(path, ImageFormat::Raw, size).unwrap();
    let mut data = fs::read(path).unwrap();
    data[0] = 0xeb;
    data[4096 * 3 + 7] = 42;
    fs::write(path, data).unwrap();
}

#[test]
fn overlay_on_raw_backing_records_backing_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("store:tmpl:v1");
    raw_image(&backing, "16M");
    let overlay = dir.path().join("vm0_root.qcow2");
    disk::create_overlay(&backing, ImageFormat::Raw, &overlay).unwrap();

    let info = disk::info(&overlay).unwrap();
    assert_eq!(info.format, "qcow2");
    assert_eq!(info.virtual_size, 16 << 20);
    assert_eq!(
        info.backing_filename.as_deref(),
        Some(backing.to_str().unwrap())
    );
    assert_eq!(info.backing_format.as_deref(), Some("raw"));
    let lazy = &info.extra["format-specific"]["data"]["lazy-refcounts"];
    assert_eq!(lazy, &serde_json::Value::Bool(true), "{:?}", info.extra);
    assert_eq!(mode(&overlay), 0o666);
}

#[test]
fn overlay_from_a_relative_path_gets_an_absolute_backing() {
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("base.raw");
    raw_image(&backing, "1M");
    // a relative name with ':' would be read as a protocol by qemu
    let cwd = std::env::current_dir().unwrap();
    let rel = pathdiff(&backing, &cwd);
    let overlay = dir.path().join("o.qcow2");
    disk::create_overlay(&rel, ImageFormat::Raw, &overlay).unwrap();
    let info = disk::info(&overlay).unwrap();
    let recorded = std::path::PathBuf::from(info.backing_filename.unwrap());
    assert!(recorded.is_absolute(), "{}", recorded.display());
    assert_eq!(
        fs::canonicalize(&recorded).unwrap(),
        fs::canonicalize(&backing).unwrap()
    );
}

/// `target` relative to `base` (both absolute).
fn pathdiff(target: &Path, base: &Path) -> std::path::PathBuf {
    let mut up = std::path::PathBuf::new();
    for _ in base.components().skip(1) {
        up.push("..");
    }
    up.join(target.strip_prefix("/").unwrap())
}

#[test]
fn missing_backing_is_not_found_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("no-such-template");
    let overlay = dir.path().join("o.qcow2");
    let err = disk::create_overlay(&backing, ImageFormat::Raw, &overlay).unwrap_err();
    assert!(matches!(err, DiskError::NotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("backing file not found: {}", backing.display())
    );
    assert!(!overlay.exists());
    let err: lago_core::Error = err.into();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn wrong_backing_format_reports_qemu_img_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("base.raw");
    raw_image(&backing, "1M");
    let overlay = dir.path().join("o.qcow2");
    let err = disk::create_overlay(&backing, ImageFormat::Qcow2, &overlay).unwrap_err();
    match &err {
        DiskError::Command {
            command, stderr, ..
        } => {
            assert!(command.starts_with("qemu-img create"), "{command}");
            assert!(command.contains("-F qcow2"), "{command}");
            assert!(!stderr.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(!overlay.exists(), "a failed create must leave no file");
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::Disk);
}

#[test]
fn existing_destination_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("base.raw");
    raw_image(&backing, "1M");
    let dest = dir.path().join("precious");
    fs::write(&dest, b"user data").unwrap();
    let err = disk::create_overlay(&backing, ImageFormat::Raw, &dest).unwrap_err();
    assert!(matches!(err, DiskError::AlreadyExists { .. }), "{err:?}");
    let err = disk::create_empty(&dest, ImageFormat::Qcow2, "1G").unwrap_err();
    assert!(matches!(err, DiskError::AlreadyExists { .. }), "{err:?}");
    assert_eq!(fs::read(&dest).unwrap(), b"user data");
}

#[test]
fn empty_images_have_their_size() {
    let dir = tempfile::tempdir().unwrap();
    let qcow2 = dir.path().join("vm0_data.qcow2");
    disk::create_empty(&qcow2, ImageFormat::Qcow2, "10G").unwrap();
    let info = disk::info(&qcow2).unwrap();
    assert_eq!(info.format, "qcow2");
    assert_eq!(info.virtual_size, 10 << 30);
    assert_eq!(info.backing_filename, None);
    // preallocation=metadata: qcow2 metadata is allocated, the data is not
    let on_disk = fs::metadata(&qcow2).unwrap().blocks() * 512;
    assert!(on_disk > 1 << 20, "metadata not preallocated: {on_disk}");
    assert!(on_disk < 64 << 20, "{on_disk}");
    assert_eq!(mode(&qcow2), 0o666);

    let raw = dir.path().join("vm0_scratch.raw");
    disk::create_empty(&raw, ImageFormat::Raw, "512M").unwrap();
    assert_eq!(fs::metadata(&raw).unwrap().len(), 512 << 20);
    assert_eq!(disk::info(&raw).unwrap().format, "raw");
    assert_eq!(mode(&raw), 0o666);

    let small = dir.path().join("small.raw");
    disk::create_empty(&small, ImageFormat::Raw, "1.5k").unwrap();
    assert_eq!(fs::metadata(&small).unwrap().len(), 1536);
}

#[test]
fn bad_sizes_and_formats_are_refused_before_qemu_img() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("d.qcow2");
    for size in ["10X", "", "0", "ten", "-5G"] {
        let err = disk::create_empty(&dest, ImageFormat::Qcow2, size).unwrap_err();
        assert!(
            matches!(err, DiskError::InvalidSize { .. }),
            "{size}: {err:?}"
        );
        assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::InvalidInput);
    }
    let err = disk::create_empty(&dest, ImageFormat::Qcow2, "10X").unwrap_err();
    assert!(
        err.to_string().starts_with("invalid disk size '10X'"),
        "{err}"
    );
    let err = disk::create_empty(&dest, ImageFormat::Iso, "1G").unwrap_err();
    assert!(matches!(err, DiskError::InvalidFormat { .. }), "{err:?}");
    assert!(!dest.exists());
}

#[test]
fn convert_and_rebase() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    raw_image(&base, "4M");
    let qcow2 = dir.path().join("base.qcow2");
    disk::convert(&base, Some("raw"), &qcow2, ImageFormat::Qcow2).unwrap();
    assert_eq!(disk::info(&qcow2).unwrap().format, "qcow2");
    let back = dir.path().join("back.raw");
    disk::convert(&qcow2, None, &back, ImageFormat::Raw).unwrap();
    assert_eq!(fs::read(&back).unwrap(), fs::read(&base).unwrap());

    let overlay = dir.path().join("o.qcow2");
    disk::create_overlay(&base, ImageFormat::Raw, &overlay).unwrap();
    // move the pointer to an identical copy in another format, unsafely...
    disk::rebase(&overlay, &qcow2, ImageFormat::Qcow2, true).unwrap();
    let info = disk::info(&overlay).unwrap();
    assert_eq!(
        info.backing_filename.as_deref(),
        Some(qcow2.to_str().unwrap())
    );
    assert_eq!(info.backing_format.as_deref(), Some("qcow2"));
    // ...and safely back
    disk::rebase(&overlay, &base, ImageFormat::Raw, false).unwrap();
    assert_eq!(
        disk::info(&overlay).unwrap().backing_format.as_deref(),
        Some("raw")
    );
    let err =
        disk::rebase(&overlay, &dir.path().join("gone"), ImageFormat::Raw, false).unwrap_err();
    assert!(matches!(err, DiskError::NotFound { .. }), "{err:?}");

    let err = disk::info(&dir.path().join("nothing.qcow2")).unwrap_err();
    assert!(err.to_string().starts_with("image not found: "), "{err}");
}

#[test]
fn sparse_copy_keeps_holes_and_content() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("data.raw");
    raw_image(&src, "64M");
    let dst = dir.path().join("vm0_data.raw");
    disk::copy_sparse(&src, &dst).unwrap();
    assert_eq!(fs::read(&dst).unwrap(), fs::read(&src).unwrap());
    assert!(fs::metadata(&dst).unwrap().blocks() * 512 < 1 << 20);
    assert_eq!(mode(&dst), 0o666);
    let err = disk::copy_sparse(&src, &dst).unwrap_err();
    assert!(matches!(err, DiskError::AlreadyExists { .. }), "{err:?}");
    let err = disk::copy_sparse(&dir.path().join("none"), &dir.path().join("x")).unwrap_err();
    assert!(
        err.to_string().starts_with("source file not found: "),
        "{err}"
    );
}

#[test]
fn image_plans_apply() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    fs::create_dir_all(prefix.join("images")).unwrap();
    let store_image = dir.path().join("lago-tests:tiny:v1");
    raw_image(&store_image, "8M");

    let plan = ImagePlan::template("vm0", "root", &store_image, ImageFormat::Raw, &prefix).unwrap();
    plan.apply().unwrap();
    assert_eq!(plan.path, prefix.join("images/vm0_root.qcow2"));
    assert_eq!(
        disk::expand_prefix_path(&plan.stored_path, &prefix),
        plan.path
    );
    assert_eq!(
        disk::info(&plan.path).unwrap().backing_filename.as_deref(),
        Some(store_image.to_str().unwrap())
    );

    let plan = ImagePlan::empty("vm0", "data", ImageFormat::Qcow2, "1G", &prefix).unwrap();
    plan.apply().unwrap();
    assert_eq!(disk::info(&plan.path).unwrap().virtual_size, 1 << 30);

    let iso = dir.path().join("seed.iso");
    let plan = ImagePlan::file("vm0", "cd", &iso, ImageFormat::Iso, false, &prefix).unwrap();
    assert!(plan.is_cdrom());
    let err = plan.apply().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("disk file not found: {}", iso.display())
    );
    fs::write(&iso, b"CD001").unwrap();
    plan.apply().unwrap();
    assert_eq!(plan.action, ImageAction::InPlace);
    assert!(!prefix.join("images/vm0_cd.iso").exists());

    let plan =
        ImagePlan::file("vm0", "copy", &store_image, ImageFormat::Raw, true, &prefix).unwrap();
    plan.apply().unwrap();
    assert_eq!(
        fs::read(&plan.path).unwrap(),
        fs::read(&store_image).unwrap()
    );
}

#[test]
#[allow(clippy::print_stderr)] // the skip message
fn unreachable_image_folder_names_folder_and_fix() {
    let Some(user) = QemuUser::detect() else {
        eprintln!("skipped: no libvirt-qemu or qemu user on this host");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.path().join("root-like");
    let images = home.join("suite/.lago/default/images");
    fs::create_dir_all(&images).unwrap();
    let image = images.join("vm0_root.qcow2");
    disk::create_empty(&image, ImageFormat::Qcow2, "1M").unwrap();
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();

    let err = check_reachable_by(&image, &user).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, DiskError::NotSearchable { folder, .. } if folder == &home),
        "{err:?}"
    );
    assert!(
        msg.contains(&format!("chmod o+x {}", home.display())),
        "{msg}"
    );
    assert!(msg.contains("move the workdir"), "{msg}");
    assert_eq!(lago_core::Error::from(err).kind(), ErrorKind::Disk);

    fs::set_permissions(&home, fs::Permissions::from_mode(0o701)).unwrap();
    disk::check_qemu_can_reach(&image).unwrap();
}
