//! Spooled response bodies (`http.send-spooled` / `http.read-spooled`): answers larger than a
//! call's memory (WB's stock report holds the whole catalogue in one body), written to a file
//! as they arrive and read by the adapter in pieces over several calls.
//!
//! Every body belongs to a scope: the connection whose sync phase fetched it (or, outside a
//! sync, the one call). Reading checks the scope, so an id leaked into another connection's
//! cursor reads nothing. A sync releases its scope when the attempt ends; bodies older than
//! [`MAX_AGE`] go at the next spool, whatever happened. The files live in a private temporary
//! directory removed with the runtime.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

/// The longest a body is kept whatever its scope does.
pub const MAX_AGE: Duration = Duration::from_secs(3600);
/// The most one `read-spooled` returns.
pub const MAX_READ: u32 = 4 << 20;

struct Body {
    scope: Uuid,
    path: PathBuf,
    created: Instant,
}

/// The spooled bodies of one runtime.
pub struct Spools {
    dir: tempfile::TempDir,
    bodies: Mutex<HashMap<String, Body>>,
}

impl std::fmt::Debug for Spools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spools").field("dir", &self.dir.path()).finish_non_exhaustive()
    }
}

impl Spools {
    pub fn new() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("stock-tracker-spool-").tempdir()?;
        Ok(Self { dir, bodies: Mutex::default() })
    }

    /// A new file for a body of `scope`; [`Spools::register`] makes it readable once complete.
    pub fn create(&self) -> std::io::Result<(String, PathBuf, std::fs::File)> {
        self.expire();
        let id = Uuid::new_v4().simple().to_string();
        let path = self.dir.path().join(&id);
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        Ok((id, path, file))
    }

    /// Makes a complete body readable by `scope`.
    pub fn register(&self, scope: Uuid, id: String, path: PathBuf) {
        self.bodies.lock().expect("spool lock").insert(id, Body { scope, path, created: Instant::now() });
    }

    /// Up to `max` bytes of body `id` from `offset`, if `scope` owns it.
    pub fn read(&self, scope: Uuid, id: &str, offset: u64, max: u32) -> Result<Vec<u8>, String> {
        let path = {
            let bodies = self.bodies.lock().expect("spool lock");
            match bodies.get(id) {
                Some(body) if body.scope == scope => body.path.clone(),
                _ => return Err(format!("no spooled body `{}`", crate::plugins::imports::truncate(id, 64))),
            }
        };
        let mut file = std::fs::File::open(&path).map_err(|e| format!("spooled body: {e}"))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| format!("spooled body: {e}"))?;
        let mut out = Vec::with_capacity(max.min(MAX_READ) as usize);
        file.take(u64::from(max.min(MAX_READ))).read_to_end(&mut out).map_err(|e| format!("spooled body: {e}"))?;
        Ok(out)
    }

    /// Deletes every body of `scope`.
    pub fn release(&self, scope: Uuid) {
        let gone: Vec<PathBuf> = {
            let mut bodies = self.bodies.lock().expect("spool lock");
            let ids: Vec<String> = bodies.iter().filter(|(_, b)| b.scope == scope).map(|(id, _)| id.clone()).collect();
            ids.into_iter().filter_map(|id| bodies.remove(&id)).map(|b| b.path).collect()
        };
        for path in gone {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Bodies held now (for tests and the admin view).
    pub fn len(&self) -> usize {
        self.bodies.lock().expect("spool lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn expire(&self) {
        let gone: Vec<PathBuf> = {
            let mut bodies = self.bodies.lock().expect("spool lock");
            let old: Vec<String> =
                bodies.iter().filter(|(_, b)| b.created.elapsed() > MAX_AGE).map(|(id, _)| id.clone()).collect();
            old.into_iter().filter_map(|id| bodies.remove(&id)).map(|b| b.path).collect()
        };
        for path in gone {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn bodies_are_read_in_pieces_by_their_scope_only_and_released() {
        let spools = Spools::new().unwrap();
        let (owner, stranger) = (Uuid::new_v4(), Uuid::new_v4());
        let (id, path, mut file) = spools.create().unwrap();
        file.write_all(b"0123456789").unwrap();
        drop(file);
        spools.register(owner, id.clone(), path.clone());
        assert_eq!(spools.read(owner, &id, 0, 4).unwrap(), b"0123");
        assert_eq!(spools.read(owner, &id, 8, 4).unwrap(), b"89");
        assert_eq!(spools.read(owner, &id, 10, 4).unwrap(), b"", "empty at the end");
        assert!(spools.read(stranger, &id, 0, 4).is_err(), "another scope reads nothing");
        spools.release(owner);
        assert!(spools.read(owner, &id, 0, 4).is_err());
        assert!(!path.exists(), "the file is deleted");
    }
}
