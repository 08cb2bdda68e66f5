//! The ward's documents, one definition for devices and hub alike: which documents exist
//! (`DocId`), how records sit inside them (`records`), who may change which (`scope`), and the
//! strict schema every received change must pass before anyone stores it (`schema`).
//!
//! This crate does no IO: no files, no database, no network. The device store and the hub
//! both call it, so a device never stores what the hub would refuse and the hub never accepts
//! what the app could not have written.

pub mod authorship;
pub mod decode;
pub mod epoch;
#[doc(hidden)]
pub mod fuzzing;
pub mod records;
pub mod rollup;
pub mod schema;
pub mod scope;

use std::fmt;
use std::str::FromStr;

use automerge::AutomergeError;
use doorstep_domain::{ErrorCode, Id};
use thiserror::Error;

pub use authorship::{DeviceKey, PublicKey, SIGNATURE_LEN};
pub use decode::DecodeError;
pub use records::*;
pub use schema::{
    check_changes, check_changes_audited, check_document, check_document_read,
    epoch_of_first_change, Author, ChangeAudit, GroupRecords, Refusal, Touched, SCHEMA_VERSION,
};
pub use scope::{may_write, readable};

/// Why a document could not be read or written.
#[derive(Debug, Error)]
pub enum DocError {
    #[error("{0:?} is not a document id (ward/ID, group/ID or point/ID)")]
    BadDocumentId(String),
    #[error("document {doc}: {reason}")]
    Malformed { doc: String, reason: String },
    #[error("unknown household {0}")]
    UnknownHousehold(Id),
    #[error(transparent)]
    Refused(Box<Refusal>),
    #[error("document engine: {0}")]
    Automerge(Box<AutomergeError>),
}

impl From<AutomergeError> for DocError {
    fn from(e: AutomergeError) -> Self {
        DocError::Automerge(Box::new(e))
    }
}

impl From<Refusal> for DocError {
    fn from(r: Refusal) -> Self {
        DocError::Refused(Box::new(r))
    }
}

impl DocError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            DocError::BadDocumentId(_) => ErrorCode::UnknownDocument,
            DocError::Malformed { .. } => ErrorCode::InvalidRecord,
            DocError::UnknownHousehold(_) => ErrorCode::UnknownHousehold,
            DocError::Refused(r) => r.code,
            DocError::Automerge(_) => ErrorCode::Internal,
        }
    }
}

/// One document as bytes, to hand to another replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentBytes {
    pub id: String,
    pub bytes: Vec<u8>,
}

/// Which document: the ward, a residential group's, or a literacy point's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocId {
    Ward(Id),
    Group(Id),
    Point(Id),
}

impl DocId {
    fn owner(&self) -> Id {
        match self {
            DocId::Ward(id) | DocId::Group(id) | DocId::Point(id) => *id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            DocId::Ward(_) => "ward",
            DocId::Group(_) => "group",
            DocId::Point(_) => "point",
        }
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind(), self.owner())
    }
}

impl FromStr for DocId {
    type Err = DocError;
    fn from_str(s: &str) -> Result<Self, DocError> {
        let bad = || DocError::BadDocumentId(s.to_string());
        let (kind, id) = s.split_once('/').ok_or_else(bad)?;
        let id = Id::parse_str(id).map_err(|_| bad())?;
        match kind {
            "ward" => Ok(DocId::Ward(id)),
            "group" => Ok(DocId::Group(id)),
            "point" => Ok(DocId::Point(id)),
            _ => Err(bad()),
        }
    }
}
