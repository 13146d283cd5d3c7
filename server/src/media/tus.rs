//! Partial uploads of the tus protocol, kept on disk under `<data_dir>/uploads` so an upload
//! resumes across dropped connections and server restarts: `<id>.json` says who may continue
//! it, how long it will be and which digest it claims; `<id>.part` holds the bytes received,
//! whose length is the offset. Blocking file work: callers run it off the async threads.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// An upload id: 32 lowercase hex characters, checked before any path is built from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// A new random id.
    pub fn new() -> UploadId {
        UploadId(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Accepts only the shape [`UploadId::new`] produces.
    pub fn parse(s: &str) -> Option<UploadId> {
        (s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| UploadId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for UploadId {
    fn default() -> Self {
        UploadId::new()
    }
}

/// What was declared when an upload was created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadInfo {
    /// Only this user may continue, inspect or end it.
    pub user_id: String,
    /// `Upload-Length`.
    pub length: u64,
    /// The digest from `Upload-Metadata`, already validated.
    pub sha256: String,
    /// When it was created (for gc of abandoned uploads).
    pub created_at_ms: i64,
}

/// The directory of partial uploads, with a per-upload lock so two PATCH requests for the
/// same upload (a client retrying while its first attempt is still being read) never
/// interleave their bytes.
pub struct Uploads {
    dir: PathBuf,
    busy: Arc<Mutex<HashSet<String>>>,
}

/// Holds an upload's lock until dropped.
pub struct UploadLock {
    id: String,
    busy: Arc<Mutex<HashSet<String>>>,
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

impl Uploads {
    /// Opens (creating) the directory.
    pub fn open(dir: PathBuf) -> io::Result<Uploads> {
        fs::create_dir_all(&dir)?;
        Ok(Uploads {
            dir,
            busy: Arc::default(),
        })
    }

    fn meta_path(&self, id: &UploadId) -> PathBuf {
        self.dir.join(format!("{}.json", id.0))
    }

    /// The file holding the bytes received so far.
    pub fn data_path(&self, id: &UploadId) -> PathBuf {
        self.dir.join(format!("{}.part", id.0))
    }

    /// Creates an empty upload.
    pub fn create(&self, info: &UploadInfo) -> io::Result<UploadId> {
        let id = UploadId::new();
        fs::File::create(self.data_path(&id))?;
        // Written to a temporary name and renamed, so a crash never leaves half a JSON file.
        let tmp = self.dir.join(format!("{}.json.tmp", id.0));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(info)?)?;
        f.sync_all()?;
        fs::rename(tmp, self.meta_path(&id))?;
        Ok(id)
    }

    /// The upload's declaration and current offset, or `None` when there is no such upload.
    pub fn get(&self, id: &UploadId) -> io::Result<Option<(UploadInfo, u64)>> {
        let meta = match fs::read(self.meta_path(id)) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let info: UploadInfo = serde_json::from_slice(&meta)?;
        let offset = match fs::metadata(self.data_path(id)) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some((info, offset)))
    }

    /// Takes the upload's lock, or `None` while another request holds it.
    pub fn lock(&self, id: &UploadId) -> Option<UploadLock> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.insert(id.0.clone()).then(|| UploadLock {
            id: id.0.clone(),
            busy: self.busy.clone(),
        })
    }

    /// Removes an upload (finished, refused or terminated).
    pub fn remove(&self, id: &UploadId) -> io::Result<()> {
        for path in [self.meta_path(id), self.data_path(id)] {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Uploads created before `cutoff_ms` (abandoned ones, for gc).
    pub fn older_than(&self, cutoff_ms: i64) -> io::Result<Vec<(UploadId, UploadInfo, u64)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(UploadId::parse)
            else {
                continue;
            };
            if let Some((info, offset)) = self.get(&id)?
                && info.created_at_ms < cutoff_ms
            {
                out.push((id, info, offset));
            }
        }
        out.sort_by_key(|(_, info, _)| info.created_at_ms);
        Ok(out)
    }

    /// The directory (for messages).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Parses tus `Upload-Metadata`: comma-separated `key base64value` pairs (value optional).
pub fn parse_metadata(header: &str) -> Option<Vec<(String, Vec<u8>)>> {
    use base64::Engine;
    let mut out = Vec::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ').filter(|p| !p.is_empty());
        let key = parts.next()?.to_owned();
        let value = match parts.next() {
            Some(v) => base64::engine::general_purpose::STANDARD.decode(v).ok()?,
            None => Vec::new(),
        };
        if parts.next().is_some() {
            return None;
        }
        out.push((key, value));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_before_they_name_files() {
        assert!(UploadId::parse(UploadId::new().as_str()).is_some());
        for bad in ["../../etc/passwd", "", &"A".repeat(32), &"a".repeat(31)] {
            assert!(UploadId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn metadata_pairs_decode_and_bad_base64_is_refused() {
        let parsed = parse_metadata("sha256 YWJj,filename ZS5qcGc=, empty").unwrap();
        assert_eq!(parsed[0], ("sha256".into(), b"abc".to_vec()));
        assert_eq!(parsed[1], ("filename".into(), b"e.jpg".to_vec()));
        assert_eq!(parsed[2], ("empty".into(), Vec::new()));
        assert!(parse_metadata("sha256 !!!").is_none());
    }

    #[test]
    fn an_upload_survives_reopening_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = Uploads::open(dir.path().join("u")).unwrap();
        let info = UploadInfo {
            user_id: "u1".into(),
            length: 10,
            sha256: "a".repeat(64),
            created_at_ms: 5,
        };
        let id = uploads.create(&info).unwrap();
        fs::OpenOptions::new()
            .append(true)
            .open(uploads.data_path(&id))
            .unwrap()
            .write_all(b"abcd")
            .unwrap();
        let again = Uploads::open(dir.path().join("u")).unwrap();
        let (got, offset) = again.get(&id).unwrap().unwrap();
        assert_eq!((got.user_id.as_str(), got.length, offset), ("u1", 10, 4));
        let lock = again.lock(&id).unwrap();
        assert!(again.lock(&id).is_none());
        drop(lock);
        assert!(again.lock(&id).is_some());
        assert_eq!(again.older_than(6).unwrap().len(), 1);
        again.remove(&id).unwrap();
        assert!(again.get(&id).unwrap().is_none());
    }
}
