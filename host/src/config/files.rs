//! File modes of what the service keeps on disk. `DATA_DIR` holds password hashes (the SQLite
//! database), signing and sealing keys, and plugins: the directory is created 0700, and the
//! database with its `-wal` and `-shm` files is kept 0600 (SQLite gives the side files the mode
//! of the database file, so creating that one 0600 covers all three).

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::ConfigError;

/// Creates `dir` (and missing parents) with mode 0700. An existing directory that others can
/// read is left as the operator made it, with a warning.
pub fn private_dir(variable: &'static str, dir: &Path) -> Result<(), ConfigError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ConfigError::new(variable, format!("cannot create {}: {e}", dir.display())))?;
    if let Ok(meta) = fs::metadata(dir)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(dir = %dir.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "{variable} {} is readable by other users; it holds keys and the database (chmod 700 it)", dir.display());
    }
    Ok(())
}

/// Makes the SQLite database at `path` (and its `-wal` / `-shm`, when present) mode 0600,
/// creating an empty database file with that mode if there is none yet.
pub fn private_database(path: &Path) -> std::io::Result<()> {
    if path.as_os_str().is_empty() || path == Path::new(":memory:") {
        return Ok(());
    }
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match fs::set_permissions(&file, Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_0700_and_databases_0600() {
        let base = std::env::temp_dir().join(format!("st-files-{}", uuid::Uuid::now_v7()));
        let dir = base.join("data");
        private_dir("DATA_DIR", &dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let db = dir.join("x.db");
        private_database(&db).unwrap();
        assert_eq!(fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600);
        // An old database left 0644, with its WAL, is tightened.
        fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        fs::write(dir.join("x.db-wal"), b"").unwrap();
        fs::set_permissions(dir.join("x.db-wal"), Permissions::from_mode(0o644)).unwrap();
        private_database(&db).unwrap();
        for name in ["x.db", "x.db-wal"] {
            assert_eq!(fs::metadata(dir.join(name)).unwrap().permissions().mode() & 0o777, 0o600, "{name}");
        }
        fs::remove_dir_all(base).unwrap();
    }
}
