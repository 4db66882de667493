//! Images as volumes of a libvirt storage pool: how a libvirt host that is
//! not this machine gets lago's images (issue 19, the disk-image layer).
//!
//! A local file is uploaded into a new volume through libvirt's stream API
//! (`virStorageVolUpload`), over the same connection lago manages the host
//! with (for `qemu+ssh://`, the SSH connection); a disk overlay is a new
//! qcow2 volume whose backing store is another volume; a volume is found
//! by name and removed again. The same calls work on the local
//! `qemu:///system`, which is where they are tested.
//!
//! An upload that fails or is interrupted ([`crate::cancel`]) aborts the
//! stream and deletes the half-written volume: a pool never keeps a volume
//! that holds less than its file.
//!
//! Templates are kept per host by content ([`ensure_template`]): the volume
//! `lago-template-<sha1>.<format>` holds the image whose sha1 (checked by
//! the local template store) is in its name, and the small volume
//! `lago-template-<sha1>.ok` (holding the sha1) is written only after the
//! image's upload finished. An image without its `.ok` was left by a
//! killed upload and is replaced; one with it is used as it is, by every
//! environment on that host.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use virt::connect::Connect;
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;
use virt::stream::Stream;

use super::libvirt::Libvirt;
use super::{ProviderError, ProviderObject};
use crate::xml::{VolumeXml, volume_xml};

/// The bytes sent per stream write.
const CHUNK: usize = 1 << 20;

fn volume(pool: &str, name: &str) -> String {
    format!("{pool}/{name}")
}

fn failed(op: &'static str, object: String) -> impl FnOnce(virt::error::Error) -> ProviderError {
    move |e| ProviderError::libvirt(op, ProviderObject::Volume, object, e)
}

fn is_missing_volume(e: &virt::error::Error) -> bool {
    e.code()
        .is_known_and(|c| c == virt::error::ErrorNumber::NoStorageVolume)
}

fn pool_of(conn: &Connect, pool: &str) -> Result<StoragePool, ProviderError> {
    conn.lookup_storage_pool_by_name(pool).map_err(|e| {
        ProviderError::libvirt("look up storage pool", ProviderObject::Volume, pool, e)
    })
}

fn lookup(
    pool: &StoragePool,
    pool_name: &str,
    name: &str,
) -> Result<Option<StorageVol>, ProviderError> {
    match pool.lookup_storage_vol_by_name(name) {
        Ok(vol) => Ok(Some(vol)),
        Err(e) if is_missing_volume(&e) => Ok(None),
        Err(e) => Err(failed("look up volume", volume(pool_name, name))(e)),
    }
}

/// The path on the host of volume `name` of pool `pool`, if it exists.
pub fn volume_path(lv: &Libvirt, pool: &str, name: &str) -> Result<Option<String>, ProviderError> {
    lv.with_connection(|conn| {
        let p = pool_of(conn, pool)?;
        // a volume made on the host behind lago's back shows after a refresh
        let _ = p.refresh(0);
        lookup(&p, pool, name)?
            .map(|v| {
                v.path()
                    .map_err(failed("look up volume", volume(pool, name)))
            })
            .transpose()
    })
}

/// Deletes volume `name` of pool `pool`; `false` when there was none.
pub fn delete(lv: &Libvirt, pool: &str, name: &str) -> Result<bool, ProviderError> {
    lv.with_connection(|conn| {
        let p = pool_of(conn, pool)?;
        match lookup(&p, pool, name)? {
            Some(vol) => vol
                .delete(0)
                .map(|()| true)
                .map_err(failed("delete volume", volume(pool, name))),
            None => Ok(false),
        }
    })
}

/// The folder on the host that pool `pool` keeps its volumes in (its
/// `<target><path>`).
pub fn pool_dir(lv: &Libvirt, pool: &str) -> Result<String, ProviderError> {
    lv.with_connection(|conn| {
        let p = pool_of(conn, pool)?;
        let xml = p.xml_desc(0).map_err(|e| {
            ProviderError::libvirt("read storage pool", ProviderObject::Volume, pool, e)
        })?;
        target_path(&xml).ok_or_else(|| {
            ProviderError::new(
                "read storage pool",
                ProviderObject::Volume,
                pool,
                "its XML has no <target><path> (lago needs a directory pool)",
            )
        })
    })
}

/// The text of `<target><path>` in a pool's XML.
fn target_path(xml: &str) -> Option<String> {
    let target = &xml[xml.find("<target>")?..];
    let start = target.find("<path>")? + "<path>".len();
    let end = target[start..].find("</path>")? + start;
    let path = target[start..end].trim();
    (!path.is_empty()).then(|| path.to_string())
}

/// The names of every volume of pool `pool` (refreshed first, so files
/// libvirt made outside the storage API, such as memory images and
/// console logs, are listed too).
pub fn list(lv: &Libvirt, pool: &str) -> Result<Vec<String>, ProviderError> {
    lv.with_connection(|conn| {
        let p = pool_of(conn, pool)?;
        let _ = p.refresh(0);
        p.list_volumes()
            .map_err(|e| ProviderError::libvirt("list volumes of", ProviderObject::Volume, pool, e))
    })
}

/// The guest size in bytes of volume `name` of pool `pool`, if it exists.
pub fn capacity(lv: &Libvirt, pool: &str, name: &str) -> Result<Option<u64>, ProviderError> {
    lv.with_connection(|conn| {
        let p = pool_of(conn, pool)?;
        lookup(&p, pool, name)?
            .map(|v| {
                v.info()
                    .map(|i| i.capacity)
                    .map_err(failed("read volume", volume(pool, name)))
            })
            .transpose()
    })
}

/// Creates an empty volume `name` (format `format`, guest size `capacity`
/// bytes) in pool `pool`; returns its path on the host.
pub fn create_empty(
    lv: &Libvirt,
    pool: &str,
    name: &str,
    capacity: u64,
    format: &str,
) -> Result<String, ProviderError> {
    let vol = VolumeXml {
        name: name.to_string(),
        capacity,
        format: format.to_string(),
        backing: None,
    };
    lv.with_connection(|conn| create(conn, pool, &vol).map(|(_, path)| path))
}

/// Creates volume `vol` in pool `pool`, which must not have one of that
/// name; returns it and its path on the host.
fn create(
    conn: &Connect,
    pool: &str,
    vol: &VolumeXml,
) -> Result<(StorageVol, String), ProviderError> {
    let p = pool_of(conn, pool)?;
    let object = volume(pool, &vol.name);
    if lookup(&p, pool, &vol.name)?.is_some() {
        return Err(ProviderError::new(
            "create volume",
            ProviderObject::Volume,
            object,
            "a volume of that name exists already (lago never overwrites one)",
        ));
    }
    let made = StorageVol::create_xml(&p, &volume_xml(vol), 0)
        .map_err(failed("create volume", object.clone()))?;
    let path = made.path().map_err(failed("look up volume", object))?;
    Ok((made, path))
}

/// Creates a qcow2 overlay volume `name` (guest size `capacity` bytes) in
/// pool `pool`, backed by the host file `backing` of format
/// `backing_format`; returns its path on the host. libvirt gives qemu-img
/// the size in KiB, so it is rounded up to a multiple of 1024.
pub fn create_overlay(
    lv: &Libvirt,
    pool: &str,
    name: &str,
    capacity: u64,
    backing: &str,
    backing_format: &str,
) -> Result<String, ProviderError> {
    let vol = VolumeXml {
        name: name.to_string(),
        capacity,
        format: "qcow2".into(),
        backing: Some((backing.to_string(), backing_format.to_string())),
    };
    lv.with_connection(|conn| create(conn, pool, &vol).map(|(_, path)| path))
}

/// Uploads the local file `src` into a new volume `name` of pool `pool`
/// (format `format`, guest size `capacity` bytes), reporting each chunk
/// sent to `sent`; returns the volume's path on the host. On any failure,
/// and on an interrupt, the volume is deleted again.
pub fn upload(
    lv: &Libvirt,
    pool: &str,
    name: &str,
    src: &Path,
    format: &str,
    capacity: u64,
    sent: &mut dyn FnMut(u64),
) -> Result<String, ProviderError> {
    let object = volume(pool, name);
    let local = |op: &'static str, e: std::io::Error| {
        ProviderError::new(
            op,
            ProviderObject::Volume,
            object.clone(),
            format!("{}: {e}", src.display()),
        )
    };
    let mut file = File::open(src).map_err(|e| local("upload to volume", e))?;
    let length = file
        .metadata()
        .map_err(|e| local("upload to volume", e))?
        .len();
    let vol = VolumeXml {
        name: name.to_string(),
        capacity,
        format: format.to_string(),
        backing: None,
    };
    // not retried on a lost connection: a second try would find the first
    // one's volume
    let (conn, made, path) = lv.with_connection(|conn| {
        let (made, path) = create(conn, pool, &vol)?;
        Ok((conn.clone(), made, path))
    })?;
    let streamed = (|| -> Result<(), ProviderError> {
        let stream = Stream::new(&conn, 0).map_err(failed("upload to volume", object.clone()))?;
        made.upload(&stream, 0, length, 0)
            .map_err(failed("upload to volume", object.clone()))?;
        let mut buf = vec![0u8; CHUNK];
        let pushed = (|| -> Result<(), ProviderError> {
            loop {
                if let Err(e) = crate::cancel::check("uploading an image") {
                    return Err(ProviderError::new(
                        "upload to volume",
                        ProviderObject::Volume,
                        object.clone(),
                        e.message().to_string(),
                    ));
                }
                let n = file
                    .read(&mut buf)
                    .map_err(|e| local("upload to volume", e))?;
                if n == 0 {
                    return Ok(());
                }
                let mut at = 0;
                while at < n {
                    let wrote = stream
                        .send(&buf[at..n])
                        .map_err(failed("upload to volume", object.clone()))?;
                    // a blocking stream takes at least one byte or fails
                    match usize::try_from(wrote) {
                        Ok(w) if w > 0 => at += w.min(n - at),
                        _ => {
                            return Err(ProviderError::new(
                                "upload to volume",
                                ProviderObject::Volume,
                                object.clone(),
                                format!("the stream took no data (send returned {wrote})"),
                            ));
                        }
                    }
                }
                sent(n as u64);
            }
        })();
        match pushed {
            Ok(()) => stream
                .finish()
                .map_err(failed("upload to volume", object.clone())),
            Err(e) => {
                let _ = stream.abort();
                Err(e)
            }
        }
    })();
    if let Err(e) = streamed {
        if let Err(gone) = made.delete(0) {
            tracing::warn!(volume = %object, error = %gone, "cannot delete the volume of a failed upload");
        }
        return Err(e);
    }
    Ok(path)
}

/// Downloads volume `name` of pool `pool` (all of it) into the local file
/// `dst` (replaced); returns the bytes written. `None` when the pool has
/// no such volume.
pub fn download(
    lv: &Libvirt,
    pool: &str,
    name: &str,
    dst: &Path,
) -> Result<Option<u64>, ProviderError> {
    let object = volume(pool, name);
    let local = |e: std::io::Error| {
        ProviderError::new(
            "download volume",
            ProviderObject::Volume,
            object.clone(),
            format!("{}: {e}", dst.display()),
        )
    };
    let found = lv.with_connection(|conn| {
        let p = pool_of(conn, pool)?;
        let _ = p.refresh(0);
        Ok(lookup(&p, pool, name)?.map(|v| (conn.clone(), v)))
    })?;
    let Some((conn, vol)) = found else {
        return Ok(None);
    };
    let stream = Stream::new(&conn, 0).map_err(failed("download volume", object.clone()))?;
    vol.download(&stream, 0, 0, 0)
        .map_err(failed("download volume", object.clone()))?;
    let mut out = File::create(dst).map_err(local)?;
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match stream.recv(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                let _ = stream.abort();
                return Err(failed("download volume", object.clone())(e));
            }
        };
        let Ok(n) = usize::try_from(n) else {
            let _ = stream.abort();
            return Err(ProviderError::new(
                "download volume",
                ProviderObject::Volume,
                object.clone(),
                format!("the stream answered {n}"),
            ));
        };
        if n == 0 {
            break;
        }
        std::io::Write::write_all(&mut out, &buf[..n]).map_err(local)?;
        total += n as u64;
    }
    stream
        .finish()
        .map_err(failed("download volume", object.clone()))?;
    Ok(Some(total))
}

/// The volume names of the template image with sha1 `sha1` in format
/// `format`, and of its completion marker.
pub fn template_volumes(sha1: &str, format: &str) -> (String, String) {
    (
        format!("lago-template-{sha1}.{format}"),
        format!("lago-template-{sha1}.ok"),
    )
}

/// How long [`ensure_template`] waits for another lago process of this
/// machine uploading the same template to the same pool.
const UPLOADING_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// The host path of the template image `src` (sha1 `sha1`, checked by the
/// caller; format `format`, guest size `capacity`) in pool `pool`,
/// uploaded first unless the pool has it complete already (see the module
/// docs). Uploads of one template to one pool by lago processes of this
/// machine are serialised by a lock file in `lock_dir`. `sent` sees the
/// bytes of an upload; returns the path and whether it uploaded.
#[allow(clippy::too_many_arguments)]
pub fn ensure_template(
    lv: &Libvirt,
    pool: &str,
    src: &Path,
    sha1: &str,
    format: &str,
    capacity: u64,
    lock_dir: &Path,
    sent: &mut dyn FnMut(u64),
) -> Result<(String, bool), ProviderError> {
    let (image, marker) = template_volumes(sha1, format);
    let object = volume(pool, &image);
    let lock_file = lock_dir.join(format!(
        ".upload-{}-{pool}-{sha1}.lock",
        lv.uri().replace(['/', ':', '@'], "_")
    ));
    let _held = crate::fslock::lock(&lock_file, UPLOADING_WAIT, || {
        tracing::info!(volume = %object, "waiting for another lago uploading this template");
    })
    .map_err(|e| {
        ProviderError::new(
            "upload to volume",
            ProviderObject::Volume,
            object.clone(),
            e.to_string(),
        )
    })?;
    if volume_path(lv, pool, &marker)?.is_some()
        && let Some(path) = volume_path(lv, pool, &image)?
    {
        // the name holds the sha1; a size that differs is a volume changed
        // on the host behind lago's back, replaced like an unfinished one
        match self::capacity(lv, pool, &image)? {
            Some(c) if c == capacity => {
                tracing::debug!(volume = %object, "template already on the host");
                return Ok((path, false));
            }
            other => {
                tracing::warn!(volume = %object, size = ?other, expected = capacity, "template volume on the host has the wrong size: uploading it again")
            }
        }
    }
    // a marker without its image (removed on the host) goes first, so that
    // no moment shows a marker beside a partial image
    delete(lv, pool, &marker)?;
    if delete(lv, pool, &image)? {
        tracing::info!(volume = %object, "removed a template image whose upload did not finish");
    }
    let path = upload(lv, pool, &image, src, format, capacity, sent)?;
    let stamp = lock_dir.join(format!(".upload-{sha1}-{}.ok", std::process::id()));
    let written = std::fs::write(&stamp, sha1.as_bytes())
        .map_err(|e| {
            ProviderError::new(
                "upload to volume",
                ProviderObject::Volume,
                volume(pool, &marker),
                format!("{}: {e}", stamp.display()),
            )
        })
        .and_then(|()| {
            upload(
                lv,
                pool,
                &marker,
                &stamp,
                "raw",
                sha1.len() as u64,
                &mut |_| {},
            )
        });
    let _ = std::fs::remove_file(&stamp);
    written?;
    Ok((path, true))
}

#[cfg(test)]
mod tests {
    use super::target_path;

    #[test]
    fn the_pool_folder_is_its_target_path() {
        let xml = "<pool type='dir'><name>default</name><source>\n</source>\
                   <target>\n  <path>/var/lib/libvirt/images</path>\n  <permissions/>\n</target></pool>";
        assert_eq!(target_path(xml).as_deref(), Some("/var/lib/libvirt/images"));
        // a <path> outside <target> (a source device) is not it
        let xml = "<pool><source><device path='/dev/x'/><path>/src</path></source></pool>";
        assert_eq!(target_path(xml), None);
        assert_eq!(
            target_path("<pool><target><path> </path></target></pool>"),
            None
        );
    }
}
