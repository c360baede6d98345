//! Where blob bytes live: the [`BlobStore`] trait, and [`FsBlobStore`], the data-directory
//! implementation. An S3-compatible store is one more implementation (multipart uploads or a
//! local staging area for the parts).
//!
//! The trait is synchronous: handlers call it inside `spawn_blocking`, and an implementation is
//! free to block (file I/O, an HTTP client of its own).

use std::fs;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Storage of finished blobs (by key) and of uploads in progress (by upload id).
pub trait BlobStore: Send + Sync + std::fmt::Debug + 'static {
    /// Store `bytes` under `key`, atomically: readers see all of them or nothing.
    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()>;
    /// The bytes under `key`, if any.
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>>;
    /// Remove `key` (absent is fine).
    fn delete(&self, key: &str) -> io::Result<()>;
    /// Write `bytes` at `offset` of upload `id`, dropping anything stored past `offset` first
    /// (bytes of an earlier attempt the database never counted), durably.
    fn write_part(&self, id: &str, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Everything received for upload `id`.
    fn read_part(&self, id: &str) -> io::Result<Vec<u8>>;
    /// Remove upload `id` (absent is fine).
    fn delete_part(&self, id: &str) -> io::Result<()>;
    /// Ids of uploads last written before `before`: candidates for the orphan sweep.
    fn stale_parts(&self, before: SystemTime) -> io::Result<Vec<String>>;
}

/// Blobs as files under a directory (by default `<data-dir>/blobs`):
///
/// ```text
/// objects/<key>            finished blobs, keys like <org>/<ab>/<hash> and <...>.thumb.jpg
/// uploads/<org>/<hash>.part uploads in progress (id = <org>/<hash>)
/// ```
///
/// Several server nodes need this directory on shared storage (or an S3 store).
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> FsBlobStore {
        FsBlobStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn object(&self, key: &str) -> io::Result<PathBuf> {
        Ok(self.root.join("objects").join(safe(key)?))
    }

    fn part(&self, id: &str) -> io::Result<PathBuf> {
        Ok(self
            .root
            .join("uploads")
            .join(format!("{}.part", safe(id)?)))
    }
}

/// Keys and ids are made by this crate from UUIDs and hex hashes; refuse anything else rather
/// than let a `..` reach the file system.
fn safe(key: &str) -> io::Result<&str> {
    let ok = !key.is_empty()
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_'));
    if ok {
        Ok(key)
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, "bad blob key"))
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

impl BlobStore for FsBlobStore {
    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.object(key)?;
        let dir = path.parent().expect("object paths have a parent");
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
        let written = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            sync_dir(dir)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.object(key)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, key: &str) -> io::Result<()> {
        match fs::remove_file(self.object(key)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn write_part(&self, id: &str, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let path = self.part(id)?;
        let dir = path.parent().expect("part paths have a parent");
        fs::create_dir_all(dir)?;
        let mut f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        let len = f.metadata()?.len();
        if len < offset {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("upload part has {len} bytes, expected at least {offset}"),
            ));
        }
        f.set_len(offset)?;
        f.seek(SeekFrom::Start(offset))?;
        f.write_all(bytes)?;
        f.sync_data()?;
        if offset == 0 {
            sync_dir(dir)?;
        }
        Ok(())
    }

    fn read_part(&self, id: &str) -> io::Result<Vec<u8>> {
        fs::read(self.part(id)?)
    }

    fn delete_part(&self, id: &str) -> io::Result<()> {
        match fs::remove_file(self.part(id)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn stale_parts(&self, before: SystemTime) -> io::Result<Vec<String>> {
        let uploads = self.root.join("uploads");
        let mut out = Vec::new();
        let orgs = match fs::read_dir(&uploads) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for org in orgs {
            let org = org?;
            if !org.file_type()?.is_dir() {
                continue;
            }
            for part in fs::read_dir(org.path())? {
                let part = part?;
                let name = part.file_name().to_string_lossy().into_owned();
                let Some(hash) = name.strip_suffix(".part") else {
                    continue;
                };
                if part.metadata()?.modified()? < before {
                    out.push(format!("{}/{hash}", org.file_name().to_string_lossy()));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parts_resume_at_an_offset_and_drop_uncounted_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsBlobStore::new(dir.path());
        s.write_part("org/abc", 0, b"hello ").unwrap();
        // An attempt whose bytes reached the disk but were never counted...
        s.write_part("org/abc", 6, b"wor").unwrap();
        // ...is overwritten when the client resumes from the counted offset.
        s.write_part("org/abc", 6, b"world").unwrap();
        assert_eq!(s.read_part("org/abc").unwrap(), b"hello world");
        assert!(s.write_part("org/abc", 100, b"x").is_err(), "no holes");
        let future = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(s.stale_parts(future).unwrap(), ["org/abc"]);
        assert!(s.stale_parts(SystemTime::UNIX_EPOCH).unwrap().is_empty());
        s.delete_part("org/abc").unwrap();
        s.delete_part("org/abc").unwrap();
    }

    #[test]
    fn objects_are_written_whole_and_keys_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsBlobStore::new(dir.path());
        s.put("org/ab/abcdef", b"bytes").unwrap();
        assert_eq!(s.get("org/ab/abcdef").unwrap().unwrap(), b"bytes");
        assert_eq!(s.get("org/ab/missing").unwrap(), None);
        assert!(s.put("../escape", b"x").is_err());
        assert!(s.get("org/../../etc/passwd").is_err());
        s.delete("org/ab/abcdef").unwrap();
        assert_eq!(s.get("org/ab/abcdef").unwrap(), None);
    }
}
