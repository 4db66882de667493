//! Images as volumes of a libvirt storage pool ([`lago_core::provider::storage`]),
//! on the real libvirtd of the test host: an upload through the stream API
//! arrives byte for byte, a qcow2 overlay volume names its backing volume,
//! a name that is taken is refused and leaves the volume as it was, a
//! missing pool is named, and deleting removes the files.
//!
//!     tests/host/run cargo test -p lago-core --test host_storage -- --ignored

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // test code

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use lago_core::provider::libvirt::Libvirt;
use lago_core::provider::storage;

/// A transient `dir` pool on a fresh folder, destroyed (not its folder's
/// parent) when dropped.
struct Pool {
    name: String,
    dir: PathBuf,
}

fn virsh(args: &[&str]) -> String {
    let out = Command::new("virsh")
        .args(["-q", "-c", "qemu:///system"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "virsh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Pool {
    fn new(tag: &str) -> Self {
        let name = format!("lago-test-{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        fs::create_dir_all(&dir).unwrap();
        virsh(&[
            "pool-create-as",
            &name,
            "dir",
            "--target",
            dir.to_str().unwrap(),
        ]);
        Pool { name, dir }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = Command::new("virsh")
            .args(["-q", "-c", "qemu:///system", "pool-destroy", &self.name])
            .output();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn qemu_img(args: &[&str]) -> serde_json::Value {
    let out = Command::new("qemu-img").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[ignore = "needs the test host's libvirtd: tests/host/run"]
fn images_go_into_pool_volumes_and_out_again() {
    let pool = Pool::new("storage");
    let lv = Libvirt::connect("qemu:///system").unwrap();
    // the figure a host pool places environments by
    let free = lago_core::provider::Provider::host_free_memory(&lv).unwrap();
    assert!(free > 64 << 20, "{free}");

    // a qcow2 image of 3 MiB of data, not a multiple of the chunk size
    let src = pool.dir.with_extension("src.qcow2");
    let raw = pool.dir.with_extension("src.raw");
    let data: Vec<u8> = (0..3 * (1 << 20) + 12_345)
        .map(|i| (i % 251) as u8)
        .collect();
    fs::write(&raw, &data).unwrap();
    let made = Command::new("qemu-img")
        .args(["convert", "-O", "qcow2"])
        .arg(&raw)
        .arg(&src)
        .status()
        .unwrap();
    assert!(made.success());
    let info = qemu_img(&["info", "--output=json", src.to_str().unwrap()]);
    let capacity = info["virtual-size"].as_u64().unwrap();

    let mut sent = 0;
    let path = storage::upload(
        &lv,
        &pool.name,
        "base.qcow2",
        &src,
        "qcow2",
        capacity,
        &mut |n| sent += n,
    )
    .unwrap();
    assert_eq!(sent, fs::metadata(&src).unwrap().len());
    assert_eq!(PathBuf::from(&path), pool.dir.join("base.qcow2"));
    assert_eq!(fs::read(&path).unwrap(), fs::read(&src).unwrap());
    assert_eq!(
        storage::volume_path(&lv, &pool.name, "base.qcow2").unwrap(),
        Some(path.clone())
    );
    assert_eq!(storage::volume_path(&lv, &pool.name, "nope").unwrap(), None);

    // a taken name is refused and the volume stays as it was
    let e =
        storage::upload(&lv, &pool.name, "base.qcow2", &raw, "raw", 1, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("exists already"), "{e}");
    assert!(
        e.to_string().contains(&format!("{}/base.qcow2", pool.name)),
        "{e}"
    );
    assert_eq!(fs::read(&path).unwrap(), fs::read(&src).unwrap());

    // an overlay volume on it: qcow2, backed by the uploaded volume
    let top =
        storage::create_overlay(&lv, &pool.name, "vm0.qcow2", capacity, &path, "qcow2").unwrap();
    let chain = qemu_img(&["info", "--output=json", "-U", &top]);
    assert_eq!(chain["format"], "qcow2");
    assert_eq!(chain["backing-filename"], path.as_str());
    // libvirt hands qemu-img the size in KiB, rounded up
    let size = chain["virtual-size"].as_u64().unwrap();
    assert!(
        size >= capacity && size < capacity + 1024,
        "{size} for {capacity}"
    );

    // a missing pool and a missing local file are named
    let e = storage::upload(
        &lv,
        "no-such-pool",
        "x",
        &src,
        "qcow2",
        capacity,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("no-such-pool"), "{e}");
    let e = storage::upload(
        &lv,
        &pool.name,
        "y",
        &pool.dir.join("absent"),
        "raw",
        1,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("absent"), "{e}");
    assert_eq!(storage::volume_path(&lv, &pool.name, "y").unwrap(), None);

    // delete: the files go, a second delete finds nothing
    assert!(storage::delete(&lv, &pool.name, "vm0.qcow2").unwrap());
    assert!(storage::delete(&lv, &pool.name, "base.qcow2").unwrap());
    assert!(!storage::delete(&lv, &pool.name, "base.qcow2").unwrap());
    assert!(!pool.dir.join("base.qcow2").exists() && !pool.dir.join("vm0.qcow2").exists());
    let left = virsh(&["vol-list", &pool.name]);
    assert!(left.trim().is_empty(), "{left}");
    let _ = fs::remove_file(&src);
    let _ = fs::remove_file(&raw);
}

#[test]
#[ignore = "needs the test host's libvirtd: tests/host/run"]
fn templates_are_kept_per_pool_by_content() {
    let pool = Pool::new("templates");
    let lv = Libvirt::connect("qemu:///system").unwrap();
    let src = pool.dir.with_extension("tmpl.raw");
    fs::write(&src, vec![5u8; 1 << 20]).unwrap();
    let sha1 = lago_core::ops::export::sha1_file(&src).unwrap();
    let locks = pool.dir.with_extension("locks");
    fs::create_dir_all(&locks).unwrap();
    let (image, marker) = storage::template_volumes(&sha1, "raw");
    let ensure = |sent: &mut u64| {
        storage::ensure_template(
            &lv,
            &pool.name,
            &src,
            &sha1,
            "raw",
            1 << 20,
            &locks,
            &mut |n| *sent += n,
        )
        .unwrap()
    };

    // the first time it is uploaded, then found
    let mut sent = 0;
    let (path, uploaded) = ensure(&mut sent);
    assert!(uploaded && sent == 1 << 20);
    assert_eq!(PathBuf::from(&path), pool.dir.join(&image));
    assert_eq!(fs::read(pool.dir.join(&marker)).unwrap(), sha1.as_bytes());
    let mut again = 0;
    assert_eq!(ensure(&mut again), (path.clone(), false));
    assert_eq!(again, 0);

    // an image without its marker is a killed upload: replaced
    assert!(storage::delete(&lv, &pool.name, &marker).unwrap());
    fs::write(&path, b"half").unwrap();
    let mut sent = 0;
    assert_eq!(ensure(&mut sent), (path.clone(), true));
    assert_eq!(fs::read(&path).unwrap(), fs::read(&src).unwrap());

    // a marker whose image is gone: uploaded again
    assert!(storage::delete(&lv, &pool.name, &image).unwrap());
    let mut sent = 0;
    assert_eq!(ensure(&mut sent), (path.clone(), true));
    assert_eq!(sent, 1 << 20);

    // an image changed on the host (its size differs) despite its marker:
    // uploaded again
    fs::write(&path, b"short").unwrap();
    let mut sent = 0;
    assert_eq!(ensure(&mut sent), (path.clone(), true));
    assert_eq!(fs::read(&path).unwrap(), fs::read(&src).unwrap());

    storage::delete(&lv, &pool.name, &image).unwrap();
    storage::delete(&lv, &pool.name, &marker).unwrap();
    let _ = fs::remove_file(&src);
    let _ = fs::remove_dir_all(&locks);
}
