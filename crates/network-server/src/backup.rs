//! Online backups of the SQLite store and restores from them
//! (`network-server backup --to FILE`, `network-server restore --from FILE`).
//!
//! A backup is `VACUUM INTO` on a read-only connection: it copies one
//! consistent snapshot (a WAL read transaction) while the server goes on
//! reading and writing, so every write acknowledged before the backup began
//! is in the copy (acknowledged means committed and fsync'd). The copy is
//! compact (no free pages, no WAL), checked with `PRAGMA integrity_check`
//! and fsync'd before it is reported. A restore checks the file the same way,
//! then puts it in place atomically (copy to a temporary file, fsync,
//! rename), removing a stale WAL of the database it replaces. PostgreSQL has
//! its own tools (`pg_dump`/`pg_restore`, see the README).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::server::SQLITE_FILE;

/// Why a backup or a restore did not happen; names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no SQLite database at {}", .0.display())]
    NoDatabase(PathBuf),
    #[error("{} already exists: choose another file (a backup never overwrites one)", .0.display())]
    TargetExists(PathBuf),
    #[error("{} already holds a database: pass --force to replace it", .0.display())]
    NotEmpty(PathBuf),
    #[error("{}: {source}", .path.display())]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("{} fails its integrity check: {report}", .path.display())]
    Corrupt { path: PathBuf, report: String },
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// What a backup or a restore copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub file: PathBuf,
    pub customers: u64,
    pub tenants: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl std::fmt::Display for Copied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} customers of {} tenants, {} bytes, integrity ok, in {:.1?}",
            self.file.display(),
            self.customers,
            self.tenants,
            self.bytes,
            self.elapsed
        )
    }
}

/// Copies the database of `data_dir` into the new file `to`, consistently,
/// while a server may be using it.
pub fn backup(data_dir: &Path, to: &Path) -> Result<Copied, BackupError> {
    let started = Instant::now();
    let database = data_dir.join(SQLITE_FILE);
    if !database.exists() {
        return Err(BackupError::NoDatabase(database));
    }
    if to.exists() {
        return Err(BackupError::TargetExists(to.to_path_buf()));
    }
    let sqlite = |source| BackupError::Sqlite { path: database.clone(), source };
    let connection =
        Connection::open_with_flags(&database, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sqlite)?;
    connection.busy_timeout(Duration::from_secs(30)).map_err(sqlite)?;
    let target = to.to_str().ok_or_else(|| BackupError::Io {
        path: to.to_path_buf(),
        source: std::io::Error::other("the path is not valid UTF-8"),
    })?;
    connection.execute("VACUUM INTO ?1", [target]).map_err(sqlite)?;
    drop(connection);
    sync_file(to)?;
    let (customers, tenants) = check(to)?;
    Ok(Copied {
        file: to.to_path_buf(),
        customers,
        tenants,
        bytes: size(to)?,
        elapsed: started.elapsed(),
    })
}

/// Puts the backup `from` in place as the database of `data_dir`; refuses a
/// data directory that already holds a database unless `force`.
pub fn restore(from: &Path, data_dir: &Path, force: bool) -> Result<Copied, BackupError> {
    let started = Instant::now();
    let (customers, tenants) = check(from)?;
    let target = data_dir.join(SQLITE_FILE);
    if target.exists() && !force {
        return Err(BackupError::NotEmpty(data_dir.to_path_buf()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BackupError::Io { path, source }
    };
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let partial = data_dir.join(format!("{SQLITE_FILE}.restoring"));
    std::fs::copy(from, &partial).map_err(io(&partial))?;
    sync_file(&partial)?;
    // The replaced database's WAL and shared memory belong to it, not to the backup.
    for suffix in ["-wal", "-shm"] {
        let stale = data_dir.join(format!("{SQLITE_FILE}{suffix}"));
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(BackupError::Io { path: stale, source: error }),
        }
    }
    std::fs::rename(&partial, &target).map_err(io(&target))?;
    // The rename itself is durable once the directory is synced.
    std::fs::File::open(data_dir).and_then(|dir| dir.sync_all()).map_err(io(data_dir))?;
    Ok(Copied {
        file: target.clone(),
        customers,
        tenants,
        bytes: size(&target)?,
        elapsed: started.elapsed(),
    })
}

/// `PRAGMA integrity_check` of a database file, and what it holds.
fn check(path: &Path) -> Result<(u64, u64), BackupError> {
    let sqlite = |source| BackupError::Sqlite { path: path.to_path_buf(), source };
    if !path.exists() {
        return Err(BackupError::NoDatabase(path.to_path_buf()));
    }
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sqlite)?;
    let report: Vec<String> = connection
        .prepare("PRAGMA integrity_check")
        .and_then(|mut statement| statement.query_map([], |row| row.get::<_, String>(0))?.collect())
        .map_err(sqlite)?;
    if report != ["ok"] {
        return Err(BackupError::Corrupt { path: path.to_path_buf(), report: report.join("; ") });
    }
    connection
        .query_row("SELECT count(*), count(DISTINCT tenant) FROM customers", [], |row| {
            Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64))
        })
        .map_err(sqlite)
}

fn sync_file(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|source| BackupError::Io { path: path.to_path_buf(), source })
}

fn size(path: &Path) -> Result<u64, BackupError> {
    std::fs::metadata(path)
        .map(|metadata| metadata.len())
        .map_err(|source| BackupError::Io { path: path.to_path_buf(), source })
}
