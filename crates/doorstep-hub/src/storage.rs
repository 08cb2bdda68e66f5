//! What the hub keeps, behind one interface so that a city-wide deployment can keep it in
//! PostgreSQL (a later issue) while a ward office keeps it in one SQLite file.
//!
//! The storage knows bytes, sequences and devices, never Automerge: the hub service decides
//! what the bytes mean. Every method is one transaction.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use doorstep_domain::{Id, Role};
use doorstep_store::DocId;

use crate::HubError;

/// A device enrolled at the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: Id,
    pub name: String,
    pub role: Role,
    pub groups: Vec<Id>,
    pub points: Vec<Id>,
    pub joined_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub token_expires_at: DateTime<Utc>,
}

/// An unused invite: who it is for and what the device will be allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    pub role: Role,
    pub name: String,
    pub groups: Vec<Id>,
    pub points: Vec<Id>,
    pub expires_at: DateTime<Utc>,
}

/// A change to store: its document, its hash (to refuse duplicates) and its bytes.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub doc: DocId,
    pub hash: [u8; 32],
    pub bytes: Vec<u8>,
}

/// A change's hash and when the hub first received it.
pub type ChangeReceipt = ([u8; 32], DateTime<Utc>);

/// What a pull returns, in sequence order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullItem {
    /// The document saved whole, holding every change up to `seq`.
    Snapshot {
        doc: DocId,
        seq: u64,
        bytes: Vec<u8>,
    },
    Change {
        doc: DocId,
        seq: u64,
        received_at: DateTime<Utc>,
        bytes: Vec<u8>,
    },
}

/// A page of a pull: items in sequence order, and the cursor the device holds after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullPage {
    pub items: Vec<PullItem>,
    pub cursor: u64,
    pub more: bool,
}

/// The hub's storage: the ward's documents as a snapshot plus a sequence of changes, the
/// devices and the invites.
pub trait HubStorage: Send {
    /// The ward this hub serves: id and name.
    fn ward(&self) -> Result<Option<(Id, String)>, HubError>;
    fn set_ward(&mut self, id: Id, name: &str) -> Result<(), HubError>;

    /// A document's bytes (snapshot followed by its later changes), if the hub has it.
    fn load_document(&self, doc: DocId) -> Result<Option<Vec<u8>>, HubError>;
    fn document_ids(&self) -> Result<Vec<DocId>, HubError>;

    /// Appends changes, each with the next sequence number, from `origin` (a device id, or
    /// "hub"), all or nothing. Changes the hub already holds are skipped.
    fn append_changes(
        &mut self,
        changes: &[NewChange],
        origin: &str,
        received_at: DateTime<Utc>,
    ) -> Result<(), HubError>;
    /// When the hub first received each of these changes (those it holds).
    fn receipts(&self, hashes: &[[u8; 32]]) -> Result<Vec<ChangeReceipt>, HubError>;
    /// How many changes a document has since its snapshot.
    fn changes_since_snapshot(&self, doc: DocId) -> Result<u64, HubError>;
    /// Replaces a document's snapshot by `bytes`, which hold every change stored for it.
    fn compact(&mut self, doc: DocId, bytes: &[u8]) -> Result<(), HubError>;
    /// What changed in `scope` (all documents when `None`) after `cursor`, without the
    /// changes `origin` sent itself, up to about `max_bytes`.
    fn pull(
        &self,
        cursor: u64,
        scope: Option<&HashSet<DocId>>,
        origin: &str,
        max_bytes: usize,
    ) -> Result<PullPage, HubError>;

    fn add_invite(&mut self, code_hash: &str, invite: &InviteRecord) -> Result<(), HubError>;
    /// Uses an unused, unexpired invite and enrolls the device it makes, atomically.
    fn redeem_invite(
        &mut self,
        code_hash: &str,
        now: DateTime<Utc>,
        device_id: Id,
        token_hash: &str,
        token_expires_at: DateTime<Utc>,
    ) -> Result<Option<DeviceRecord>, HubError>;
    fn device_by_token(&self, token_hash: &str) -> Result<Option<DeviceRecord>, HubError>;
    /// Records that a device was seen and extends its token.
    fn touch_device(
        &mut self,
        id: Id,
        now: DateTime<Utc>,
        token_expires_at: DateTime<Utc>,
    ) -> Result<(), HubError>;
    fn devices(&self) -> Result<Vec<DeviceRecord>, HubError>;
    /// Revokes a device; false when there is no such device.
    fn revoke(&mut self, id: Id, now: DateTime<Utc>) -> Result<bool, HubError>;
}
