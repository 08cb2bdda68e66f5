//! Why a store operation failed, with the stable code each refusal carries across a
//! boundary. Nothing was changed when one is returned.

use automerge::AutomergeError;
use doorstep_domain::*;
use thiserror::Error;

/// Why a store operation failed. Nothing was changed when one is returned.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("no ward in this database yet: run `doorstep ward init` or `doorstep demo` first")]
    NoWard,
    #[error("this database already holds ward {0:?}")]
    WardExists(String),
    #[error("a ward needs at least one residential group")]
    NoGroups,
    #[error("residential group {0:?} is named twice")]
    DuplicateGroup(String),
    #[error("unknown residential group {0:?}")]
    UnknownGroup(String),
    #[error("the report's second reader stopped unexpectedly")]
    ReportThread,
    #[error("unknown household {0}")]
    UnknownHousehold(String),
    #[error("literacy point {0:?} already exists")]
    DuplicatePoint(String),
    #[error("unknown literacy point {0:?}")]
    UnknownPoint(String),
    #[error("a {role} device may not change {doc}")]
    OutOfScope { role: Role, doc: String },
    #[error("nothing to change: give at least one field to update")]
    EmptyUpdate,
    #[error("cannot merge: {0}")]
    CannotMerge(String),
    #[error("cannot write {path}: {reason}")]
    Export { path: String, reason: String },
    #[error("only a coordinator's device merges households or marks them not duplicates")]
    CoordinatorOnly,
    #[error("a volunteer voids only what this device recorded: ask the coordinator")]
    NotYours,
    #[error("document {doc}: {reason}")]
    Document { doc: String, reason: String },
    #[error("document {doc} cannot be read: {source}")]
    Unreadable {
        doc: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("these documents belong to ward {theirs}, this device holds ward {ours}")]
    OtherWard { ours: Id, theirs: Id },
    #[error("database schema version {found} is newer than this program knows ({known}); update Doorstep")]
    SchemaTooNew { found: usize, known: usize },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot keep {path} private to this user: {source}")]
    Private {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Doc(#[from] doorstep_doc::DocError),
    #[error(transparent)]
    Vault(#[from] doorstep_vault::VaultError),
    #[error("the backup does not open with this passphrase")]
    WrongBackupPassphrase,
    #[error("not a Doorstep backup: {0}")]
    BadBackup(String),
    #[error("{changes} change(s) on this device are neither synced nor in a backup: sync first, or save them with `doorstep backup --out FILE`")]
    UnsyncedWork { changes: u64 },
    #[error("document engine: {0}")]
    Automerge(#[from] AutomergeError),
}

impl From<doorstep_doc::Refusal> for StoreError {
    fn from(r: doorstep_doc::Refusal) -> Self {
        StoreError::Doc(r.into())
    }
}

impl StoreError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Invalid(e) => e.code(),
            StoreError::NoWard => ErrorCode::NoWard,
            StoreError::WardExists(_) => ErrorCode::WardExists,
            StoreError::NoGroups => ErrorCode::NoGroups,
            StoreError::DuplicateGroup(_) => ErrorCode::DuplicateGroup,
            StoreError::UnknownGroup(_) => ErrorCode::UnknownGroup,
            StoreError::UnknownHousehold(_) => ErrorCode::UnknownHousehold,
            StoreError::DuplicatePoint(_) => ErrorCode::DuplicatePoint,
            StoreError::UnknownPoint(_) => ErrorCode::UnknownPoint,
            StoreError::OutOfScope { .. } => ErrorCode::OutOfScope,
            StoreError::EmptyUpdate => ErrorCode::EmptyUpdate,
            StoreError::CannotMerge(_) => ErrorCode::CannotMerge,
            StoreError::Export { .. } => ErrorCode::ExportFailed,
            StoreError::CoordinatorOnly | StoreError::NotYours => ErrorCode::CoordinatorOnly,
            StoreError::Document { .. } => ErrorCode::InvalidRecord,
            StoreError::Unreadable { .. } => ErrorCode::BadChange,
            StoreError::OtherWard { .. } => ErrorCode::OtherWard,
            StoreError::SchemaTooNew { .. } => ErrorCode::DatabaseTooNew,
            StoreError::Doc(e) => e.code(),
            StoreError::Vault(e) => e.code(),
            StoreError::WrongBackupPassphrase => ErrorCode::WrongBackupPassphrase,
            StoreError::BadBackup(_) => ErrorCode::BadBackup,
            StoreError::UnsyncedWork { .. } => ErrorCode::UnsyncedWork,
            StoreError::Sqlite(_)
            | StoreError::Automerge(_)
            | StoreError::Private { .. }
            | StoreError::ReportThread => ErrorCode::Internal,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
