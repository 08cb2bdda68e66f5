//! Backups of a hub, taken while it serves, and restores from them.
//!
//! A ward office's hub (a directory) is backed up with SQLite's online backup API into a copy
//! encrypted with the same key, its TLS identity put inside that copy (never as a plain file),
//! and packed with the key file (the data key wrapped by the hub's passphrase and recovery
//! code) into one tar file, 0600. A hub on PostgreSQL is backed up by `pg_dump` (one
//! consistent snapshot) of its ward's schema.
//!
//! A restore gives the hub a new **incarnation** (`hub::INCARNATION`). Devices that synced
//! with the hub after the backup was taken hold a cursor and heads about what the hub held
//! then; at their next sync the hub answers them with what it now holds, and they send again
//! what it lacks and pull everything anew (`SyncResponse::restored`). Nothing the hub held
//! before the restore is deleted: a directory's files are moved aside, a schema is renamed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::sqlite::{database_path, SqliteStorage};
use crate::storage::{HubStorage, StorageError};
use crate::{HubError, HubPlace, Status};
use doorstep_domain::ErrorCode;
use doorstep_vault::{AtRest, KeyFile};

/// What a backup wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backup {
    pub out: PathBuf,
    pub bytes: u64,
    pub ward: String,
    pub documents: usize,
}

/// What a restore brought back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Restored {
    pub ward: String,
    pub documents: usize,
    pub devices: usize,
    pub incarnation: u64,
    /// Where what the hub held before the restore was kept (a directory, or a schema).
    pub kept: Option<String>,
}

/// The database's name inside a directory hub's backup file.
const DATABASE_ENTRY: &str = "hub.sqlite";
const KEY_ENTRY: &str = "hub.sqlite.key";

fn failed(what: &str, e: impl std::fmt::Display) -> HubError {
    HubError::refused(
        Status::BadRequest,
        ErrorCode::BadBackup,
        format!("{what}: {e}"),
    )
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Directory {
        path: path.display().to_string(),
        source,
    }
}

impl HubPlace {
    /// Takes a consistent copy of the hub while it may be serving, into `out`.
    pub fn backup(&self, out: &Path) -> Result<Backup, HubError> {
        match self {
            HubPlace::Dir { dir, at_rest } => backup_dir(dir, at_rest, out),
            HubPlace::Postgres { url, .. } => {
                let schema = self.schema()?;
                let storage = self.storage()?;
                let ward = storage.ward()?.ok_or(HubError::NoWard)?.1;
                let documents = storage.document_ids()?.len();
                run(Command::new("pg_dump")
                    .arg("--format=custom")
                    .arg(format!("--schema={schema}"))
                    .arg(format!("--file={}", out.display()))
                    .arg(format!("--dbname={url}")))?;
                keep_private(out)?;
                Ok(Backup {
                    out: out.to_path_buf(),
                    bytes: std::fs::metadata(out).map_err(io(out))?.len(),
                    ward,
                    documents,
                })
            }
        }
    }

    /// The PostgreSQL schema this place keeps its ward in.
    fn schema(&self) -> Result<String, HubError> {
        match self {
            HubPlace::Postgres {
                url,
                ward: Some(ward),
            } => {
                let city = crate::City::open(url, false)?;
                let listed = city.ward(ward)?.ok_or_else(|| {
                    HubError::refused(
                        Status::NotFound,
                        ErrorCode::UnknownWard,
                        format!("the city has no ward {ward:?}"),
                    )
                })?;
                Ok(listed.schema)
            }
            HubPlace::Postgres { .. } => {
                // Refuses a city's database without a ward named.
                self.storage()?;
                Ok("doorstep".into())
            }
            HubPlace::Dir { .. } => Err(HubError::refused(
                Status::BadRequest,
                ErrorCode::BadRequest,
                "a directory hub has no schema",
            )),
        }
    }

    /// Restores the PostgreSQL hub from `file` (a `hub backup` of it). The schema it replaces
    /// is renamed, not dropped.
    pub fn restore_database(&self, file: &Path) -> Result<Restored, HubError> {
        let HubPlace::Postgres { url, .. } = self else {
            return Err(HubError::refused(
                Status::BadRequest,
                ErrorCode::BadRequest,
                "restore_database is for a hub on PostgreSQL",
            ));
        };
        let schema = self.schema()?;
        let kept = format!(
            "{schema}_before_restore_{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        );
        let mut client = ::postgres::Client::connect(url, ::postgres::NoTls)?;
        client.batch_execute(&format!("ALTER SCHEMA {schema} RENAME TO {kept}"))?;
        let restored = run(Command::new("pg_restore")
            .arg(format!("--dbname={url}"))
            .arg("--no-owner")
            .arg(file));
        if let Err(e) = restored {
            // Nothing half restored is served: the hub as it was comes back.
            client.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; ALTER SCHEMA {kept} RENAME TO {schema}"
            ))?;
            return Err(e);
        }
        let mut storage = self.storage()?;
        finish_restore(storage.as_mut(), Some(kept))
    }
}

/// Runs a PostgreSQL client program; its stderr is the refusal when it fails.
fn run(command: &mut Command) -> Result<(), HubError> {
    let program = command.get_program().to_string_lossy().to_string();
    let out = command.output().map_err(|e| {
        failed(
            &format!("cannot run {program} (Debian: postgresql-client)"),
            e,
        )
    })?;
    if !out.status.success() {
        return Err(failed(
            &program,
            String::from_utf8_lossy(&out.stderr).trim(),
        ));
    }
    Ok(())
}

#[cfg(unix)]
fn keep_private(path: &Path) -> Result<(), HubError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    Ok(())
}

#[cfg(not(unix))]
fn keep_private(_: &Path) -> Result<(), HubError> {
    Ok(())
}

fn backup_dir(dir: &Path, at_rest: &AtRest, out: &Path) -> Result<Backup, HubError> {
    let storage = SqliteStorage::open(dir, at_rest)?;
    let ward = storage.ward()?.ok_or(HubError::NoWard)?.1;
    let documents = storage.document_ids()?.len();
    let work = tempfile::Builder::new()
        .prefix(".doorstep-backup")
        .tempdir_in(
            out.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
        .map_err(io(out))?;
    let copy = work.path().join(DATABASE_ENTRY);
    {
        let mut target =
            doorstep_vault::open_database(&copy, at_rest).map_err(StorageError::from)?;
        // One step: the whole database under one read transaction, whatever the serving hub
        // writes meanwhile (WAL).
        copy_whole(storage.connection(), &mut target).map_err(StorageError::from)?;
        let mut copied = SqliteStorage::from_connection(target)?;
        crate::tls::keep_files_in(dir, &mut copied)?;
    }
    let partial = work.path().join("backup.tar");
    {
        let file = File::create(&partial).map_err(io(&partial))?;
        keep_private(&partial)?;
        let mut tar = tar::Builder::new(file);
        tar.append_path_with_name(&copy, DATABASE_ENTRY)
            .map_err(io(&copy))?;
        let key = KeyFile::path_for(&database_path(dir));
        if key.exists() {
            tar.append_path_with_name(&key, KEY_ENTRY)
                .map_err(io(&key))?;
        }
        tar.into_inner()
            .and_then(|f| f.sync_all())
            .map_err(io(&partial))?;
    }
    std::fs::rename(&partial, out).map_err(io(out))?;
    Ok(Backup {
        out: out.to_path_buf(),
        bytes: std::fs::metadata(out).map_err(io(out))?.len(),
        ward,
        documents,
    })
}

/// Copies `source` into `target` in one backup step (all pages under one read transaction),
/// trying again while the serving hub holds a write lock.
fn copy_whole(
    source: &rusqlite::Connection,
    target: &mut rusqlite::Connection,
) -> rusqlite::Result<()> {
    use rusqlite::backup::StepResult;
    let backup = rusqlite::backup::Backup::new(source, target)?;
    for _ in 0..1_000 {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            _ => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
    Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some("the hub stayed busy for 10 s".into()),
    ))
}

/// Restores a directory hub from `file` into `dir`. `unlock` opens the backup's database
/// from its key file (the hub's passphrase when the backup was taken). What `dir` held is
/// moved into a directory beside it, never deleted.
pub fn restore_dir(
    dir: &Path,
    file: &Path,
    unlock: impl FnOnce(&Path) -> Result<AtRest, HubError>,
) -> Result<Restored, HubError> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let work = tempfile::Builder::new()
        .prefix(".doorstep-restore")
        .tempdir_in(parent)
        .map_err(io(parent))?;
    let unpacked = work.path().join("hub");
    std::fs::create_dir_all(&unpacked).map_err(io(&unpacked))?;
    let reader = File::open(file).map_err(|e| failed("cannot read the backup", e))?;
    let mut archive = tar::Archive::new(reader);
    for entry in archive
        .entries()
        .map_err(|e| failed("not a hub backup", e))?
    {
        let mut entry = entry.map_err(|e| failed("not a hub backup", e))?;
        let name = entry
            .path()
            .map_err(|e| failed("not a hub backup", e))?
            .to_string_lossy()
            .to_string();
        // Only the two files a backup holds, by name and as plain files (never a link a
        // crafted archive would point elsewhere): nothing else is ever written.
        if (name == DATABASE_ENTRY || name == KEY_ENTRY) && entry.header().entry_type().is_file() {
            entry
                .unpack(unpacked.join(&name))
                .map_err(|e| failed("cannot unpack the backup", e))?;
        }
    }
    if !database_path(&unpacked).exists() {
        return Err(failed("not a hub backup", "it holds no hub database"));
    }
    let at_rest = unlock(&unpacked)?;
    {
        let storage = SqliteStorage::open(&unpacked, &at_rest)?;
        let ok: String = storage
            .connection()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(StorageError::from)?;
        if ok != "ok" {
            return Err(failed("the backup's database is damaged", ok));
        }
        storage.ward()?.ok_or(HubError::NoWard)?;
    }
    // What the directory held, moved aside whole.
    let kept = if dir.exists() {
        let kept = parent.join(format!(
            "{}.before-restore-{}",
            dir.file_name()
                .map_or("hub".into(), |n| n.to_string_lossy()),
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        ));
        std::fs::rename(dir, &kept).map_err(io(dir))?;
        Some(kept.display().to_string())
    } else {
        None
    };
    std::fs::rename(&unpacked, dir).map_err(io(dir))?;
    let mut storage = SqliteStorage::open(dir, &at_rest)?;
    crate::tls::write_files_from(&storage, dir)?;
    finish_restore(&mut storage, kept)
}

/// A restored hub: a new incarnation, and what it holds.
fn finish_restore(
    storage: &mut dyn HubStorage,
    kept: Option<String>,
) -> Result<Restored, HubError> {
    let previous = storage
        .setting(crate::hub::INCARNATION)?
        .and_then(|s| s.parse().ok());
    let incarnation = crate::hub::new_incarnation(previous);
    storage.set_setting(crate::hub::INCARNATION, &incarnation.to_string())?;
    let ward = storage.ward()?.ok_or(HubError::NoWard)?.1;
    tracing::info!(%ward, incarnation, "hub restored from a backup");
    Ok(Restored {
        ward,
        documents: storage.document_ids()?.len(),
        devices: storage.devices()?.len(),
        incarnation,
        kept,
    })
}
