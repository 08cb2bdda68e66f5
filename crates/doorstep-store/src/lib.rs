//! A device's local store: one SQLite file holding the ward's Automerge documents (the source
//! of truth) and query tables derived from them.
//!
//! Every change follows one path (`edit`: an operation's documents are changed in memory,
//! then `save_edit` appends the Automerge changes to `document_changes` and rewrites the query
//! rows they affect, all in one SQLite transaction). If anything fails the in-memory documents
//! are thrown away and reloaded from disk on next use, so memory never holds a change the disk
//! does not. When a method returns `Ok`, its change is on disk (WAL, `synchronous=FULL`).
//!
//! By concern: `ward` (the ward, its groups and points), `households`, `visits` (and walk-ins),
//! `replicas` (export, merge, demo, rebuild, check), `sync` (the device's side of syncing),
//! `tables` (query rows from documents), `report` (the ward report in SQL), `schema` (the
//! SQLite migrations). How records sit in documents, and which changes are allowed, is
//! `doorstep-doc`'s: this crate stores, it does not define the schema.

mod assignments;
mod backup;
mod duplicates;
mod edit;
mod error;
pub mod export;
mod households;
mod lock;
mod private;
mod range;
mod replicas;
mod report;
mod reviews;
mod schema;
mod sync;
mod tables;
mod visits;
mod voids;

pub use voids::VoidedRecord;
mod ward;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use automerge::{ActorId, AutoCommit};
use chrono::NaiveDate;
use doorstep_domain::*;
use rusqlite::{Connection, OptionalExtension};

pub use backup::BackupSummary;
use doorstep_doc as document;
pub use doorstep_doc::{DocId, DocumentBytes};
pub use doorstep_vault::{AtRest, DatabaseKey, RecoveryCode};
pub use error::{Result, StoreError};
pub use lock::Unlocked;
pub use private::make_private;
pub use replicas::{CheckReport, DemoProgress};
pub use sync::{Applied, DeviceIdentity, IncomingDoc, OutgoingDoc};

/// After this many incremental changes a document is saved whole and its changes dropped
/// (or sooner: see [`Store::save_edit`]).
const COMPACT_AFTER_CHANGES: i64 = 256;

/// Up to 64 MB of decrypted pages kept (allocated only as pages are read; negative: KiB): a
/// coordinator's reports over a 250,000-visit ward read ~30 MB of index pages, which SQLCipher
/// would otherwise decrypt again at every report.
const CACHE_KIB: i64 = -65536;

/// Up to 256 MB through a first sync's bulk write (see `Store::apply_sync`), until its indexes
/// are built: every index of a 50,000-household ward (~160 MB) stays decrypted instead of
/// being evicted and decrypted again at the next random insert (0.3 s of its 4.9 s).
const BULK_CACHE_KIB: i64 = -262144;

/// SQLite's own: the write-ahead log is copied into the database once it holds this many pages.
const WAL_AUTOCHECKPOINT: i64 = 1000;

/// A device's database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    at_rest: AtRest,
    /// The Automerge actor of every change this device makes: its key's (`authorship`).
    actor: ActorId,
    /// The device's signing key, kept only in this (encrypted) database.
    key: document::DeviceKey,
    docs: HashMap<DocId, AutoCommit>,
    /// A second connection for reading on another thread (the range report), opened at first
    /// use and kept, so that its page cache stays warm too.
    reader: std::cell::RefCell<Option<Connection>>,
    /// The walk list as last read, with the database's revision then (see `walk_window`).
    walk_index: std::cell::RefCell<Option<(Revision, doorstep_domain::walk::WalkIndex)>>,
    /// A first sync's bulk write is under way: the cache is grown and the log is not copied
    /// into the database until its indexes are built (`Store::build_deferred_indexes`).
    bulk_write: bool,
}

/// Where the database stands: changed by any write of this connection or a commit of
/// another. Equal revisions read equal rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Revision {
    changes: u64,
    data_version: i64,
}

impl Store {
    /// Opens the database at `path`, creating it (and its schema) if needed, kept at rest as
    /// `at_rest` says (see [`Store::unlock`] for the PIN).
    pub fn open(path: &Path, at_rest: &AtRest) -> Result<Store> {
        make_private(path)?;
        let mut conn = doorstep_vault::open_database(path, at_rest)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // Deleted rows (an erased household's, a replaced document's) are overwritten, not
        // left in free pages.
        conn.pragma_update(None, "secure_delete", true)?;
        conn.pragma_update(None, "cache_size", CACHE_KIB)?;
        schema::migrate(&mut conn)?;
        let key = device_key(&conn)?;
        let actor = key.actor();
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            at_rest: at_rest.clone(),
            actor,
            key,
            docs: HashMap::new(),
            reader: std::cell::RefCell::new(None),
            walk_index: std::cell::RefCell::new(None),
            bulk_write: false,
        })
    }

    /// The database's revision now.
    pub(crate) fn revision(&self) -> Result<Revision> {
        Ok(Revision {
            changes: self.conn.total_changes(),
            data_version: self
                .conn
                .query_row("PRAGMA data_version", [], |r| r.get(0))?,
        })
    }

    /// The second, read-only connection to this database (the same key), for reading on
    /// another thread while this one works; give it back with [`Store::return_reader`].
    pub(crate) fn take_reader(&self) -> Result<Connection> {
        if let Some(conn) = self.reader.borrow_mut().take() {
            return Ok(conn);
        }
        let conn = doorstep_vault::open_database(&self.path, &self.at_rest)?;
        conn.pragma_update(None, "query_only", true)?;
        conn.pragma_update(None, "cache_size", CACHE_KIB)?;
        Ok(conn)
    }

    pub(crate) fn return_reader(&self, conn: Connection) {
        self.reader.replace(Some(conn));
    }

    /// This device's signing key (its public half is what the hub knows it by).
    pub fn device_key(&self) -> &document::DeviceKey {
        &self.key
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key this database is encrypted with (none for a plaintext one).
    pub fn key(&self) -> Option<&DatabaseKey> {
        match &self.at_rest {
            AtRest::Encrypted(key) => Some(key),
            AtRest::Plaintext => None,
        }
    }

    /// A device-local setting (not synced): targets, the open literacy-point session...
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        meta(&self.conn, &format!("setting.{key}"))
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        set_meta(&self.conn, &format!("setting.{key}"), value)
    }

    /// The ward report as this device holds it, with follow-ups due on `today`.
    pub fn report(&mut self, today: NaiveDate) -> Result<doorstep_domain::report::Report> {
        let ward = self.ward()?.map(|w| w.name);
        report::compute(&self.conn, ward, today)
    }

    /// Bytes of the database file and its write-ahead log.
    pub fn size_on_disk(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [self.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }
}

/// Meta key: the device's Ed25519 secret (hex), made with the database.
const DEVICE_KEY: &str = "device_key";

/// The device's signing key: the one kept in the database, or a new one kept now. A database
/// from before signed changes gets its key on first open; its actor then is the key's, so
/// changes it made before under its old random actor (`meta.actor`) no longer count as its
/// own: Doorstep had no release then (see the closing note of issue 24).
fn device_key(conn: &Connection) -> Result<document::DeviceKey> {
    let bad = |reason: &str| StoreError::Document {
        doc: "meta".into(),
        reason: reason.into(),
    };
    if let Some(text) = meta(conn, DEVICE_KEY)? {
        let bytes = hex::decode(text.trim()).map_err(|_| bad("the device key is not hex"))?;
        let secret: [u8; 32] = bytes
            .try_into()
            .map_err(|_| bad("the device key is not 32 bytes"))?;
        return Ok(document::DeviceKey::from_secret(secret));
    }
    let key = document::DeviceKey::from_secret(doorstep_vault::random::<32>()?);
    set_meta(conn, DEVICE_KEY, &hex::encode(key.secret()))?;
    Ok(key)
}

fn parse_id(text: &str) -> Result<Id> {
    Id::parse_str(text).map_err(|_| StoreError::Document {
        doc: "query tables".into(),
        reason: format!("bad id {text:?}"),
    })
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
        .execute([key, value])?;
    Ok(())
}
