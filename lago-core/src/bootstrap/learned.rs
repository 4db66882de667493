//! What a first boot learned about a template version's guest, kept in the
//! template store beside the image (`<store>/<repo>:<tmpl>:<ver>.guest`), so
//! that the next init of the same version picks its bootstrap route without
//! inspecting anything. A template version never changes (Lago's rule), so
//! neither does what is learned of it.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Facts about a template's guest (the file is `{"cloud-init": true}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestFacts {
    /// The guest runs cloud-init (applies NoCloud seeds).
    #[serde(rename = "cloud-init")]
    pub cloud_init: bool,
}

/// The file holding the facts of the template image `image`.
pub fn facts_path(image: &Path) -> PathBuf {
    let mut name = OsString::from(image.as_os_str());
    name.push(".guest");
    PathBuf::from(name)
}

/// The facts recorded for `image`; `None` when nothing was learned yet or
/// the file cannot be read as facts (then it is learned again).
pub fn read(image: &Path) -> Option<GuestFacts> {
    let text = fs::read_to_string(facts_path(image)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Records `facts` for `image`, replacing the file atomically (readers see
/// the old file or the new one).
pub fn record(image: &Path, facts: GuestFacts) -> io::Result<()> {
    let path = facts_path(image);
    let mut tmp = OsString::from(path.as_os_str());
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let text = serde_json::to_string(&facts).map_err(io::Error::other)?;
    let written = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .and_then(|()| fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_round_trip_beside_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("local:tiny:v1");
        assert_eq!(read(&image), None);
        record(&image, GuestFacts { cloud_init: false }).unwrap();
        assert_eq!(facts_path(&image), dir.path().join("local:tiny:v1.guest"));
        assert_eq!(read(&image), Some(GuestFacts { cloud_init: false }));
        record(&image, GuestFacts { cloud_init: true }).unwrap();
        assert_eq!(read(&image), Some(GuestFacts { cloud_init: true }));
        assert_eq!(
            fs::read_to_string(facts_path(&image)).unwrap(),
            r#"{"cloud-init":true}"#
        );
        // only the facts file: no temporary left behind
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_unreadable_file_counts_as_nothing_learned() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("img");
        fs::write(facts_path(&image), "not json").unwrap();
        assert_eq!(read(&image), None);
        fs::write(facts_path(&image), r#"{"cloud-init": "yes"}"#).unwrap();
        assert_eq!(read(&image), None);
    }
}
