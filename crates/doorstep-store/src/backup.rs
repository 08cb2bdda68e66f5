//! Handover: a device's work saved to a file only a passphrase opens ([age], scrypt), which
//! another device of the same volunteer restores and syncs; and the rule that a device whose
//! work is neither acknowledged by the hub nor saved in a backup is not reset, unjoined or
//! joined anew until it is (`unsaved_changes`).
//!
//! A backup holds the device's documents whole (each with its epoch and what the hub had
//! acknowledged of it) and the signatures of what the hub had not acknowledged, never its
//! identity, token or key: the restoring device joins with its own invite and passes the
//! backed-up work on as the backed-up device's (the hub takes it while that device is not
//! revoked). Restoring merges each document into this device's copy of the same epoch; onto a
//! newer epoch (the hub erased something since the backup) only the edits the hub had not
//! acknowledged are carried over, and never those to an erased household.

use std::collections::BTreeMap;
use std::path::Path;

use age::secrecy::SecretString;
use chrono::{DateTime, Utc};
use doorstep_domain::Id;
use doorstep_vault::SecretKind;
use serde::{Deserialize, Serialize};

use crate::edit::{doc_in, Edit};
use crate::sync::{decode_heads, encode_heads, synced_heads};
use crate::{document, meta, set_meta, tables, DocId, DocumentBytes, Result, Store, StoreError};

/// The format of the backup's plaintext (inside the age file). 2: with the signatures of the
/// changes the hub had not acknowledged (issue 24).
const FORMAT: u32 = 2;
/// Meta key: per document, the heads the last backup holds.
const BACKED_UP: &str = "backed_up_heads";

#[derive(Serialize, Deserialize)]
struct BackupFile {
    format: u32,
    ward_id: Option<Id>,
    made_at: DateTime<Utc>,
    made_by: Option<String>,
    documents: Vec<BackupDoc>,
}

#[derive(Serialize, Deserialize)]
struct BackupDoc {
    id: String,
    epoch: u32,
    bytes: Vec<u8>,
    /// What the hub had acknowledged of it (encoded heads).
    synced: Vec<u8>,
    /// The signatures of the changes the hub had not acknowledged (hash, signature): the
    /// restoring device passes them on, so the hub can tell they are this device's work.
    signatures: Vec<([u8; 32], Vec<u8>)>,
}

/// What a backup or a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupSummary {
    pub documents: usize,
    /// Changes in it that the hub had not acknowledged (what the backup is for).
    pub unsynced_changes: u64,
    pub made_at: DateTime<Utc>,
}

impl Store {
    /// Saves every document of this device to `out`, encrypted with `passphrase` (at least 10
    /// characters; age's scrypt), owner-only. Afterwards the device may be reset or joined
    /// anew without losing what the backup holds.
    pub fn backup(&mut self, out: &Path, passphrase: &str) -> Result<BackupSummary> {
        SecretKind::Passphrase.check(passphrase)?;
        let unsynced = self.outbox_count()?;
        let mut documents = Vec::new();
        let mut heads = BTreeMap::new();
        for id in self.document_ids()? {
            let synced = synced_heads(&self.conn, id)?.unwrap_or_default();
            let mut edit = Edit::default();
            let doc = self.doc_mut(&mut edit, id)?;
            let bytes = doc.save();
            heads.insert(id.to_string(), hex(&encode_heads(&doc.get_heads())));
            let unacknowledged = doc.get_changes(&synced);
            self.keep_unchanged(edit);
            let signed = self.signatures_of(&unacknowledged)?;
            documents.push(BackupDoc {
                id: id.to_string(),
                epoch: self.epoch(id)?,
                bytes,
                synced: encode_heads(&synced),
                signatures: unacknowledged
                    .iter()
                    .zip(signed)
                    .filter(|(_, s)| !s.is_empty())
                    .map(|(c, s)| (c.hash().0, s))
                    .collect(),
            });
        }
        let made_at = Utc::now();
        let file = BackupFile {
            format: FORMAT,
            ward_id: self.ward_id()?,
            made_at,
            made_by: self.identity()?.map(|i| i.name),
            documents,
        };
        let plain = postcard::to_stdvec(&file).map_err(|e| bad_backup(e.to_string()))?;
        let recipient = age::scrypt::Recipient::new(SecretString::from(passphrase.to_string()));
        let sealed = age::encrypt(&recipient, &plain).map_err(|e| bad_backup(e.to_string()))?;
        doorstep_vault::write_private(out, &sealed)?;
        set_meta(
            &self.conn,
            BACKED_UP,
            &serde_json::to_string(&heads).unwrap_or_default(),
        )?;
        Ok(BackupSummary {
            documents: file.documents.len(),
            unsynced_changes: unsynced,
            made_at,
        })
    }

    /// Restores a backup made by `backup` (this device's or another's of the same ward): its
    /// work joins this device's, to be synced from here.
    pub fn restore(&mut self, file: &Path, passphrase: &str) -> Result<BackupSummary> {
        let sealed = std::fs::read(file).map_err(|source| StoreError::Private {
            path: file.display().to_string(),
            source,
        })?;
        let identity = age::scrypt::Identity::new(SecretString::from(passphrase.to_string()));
        let plain = age::decrypt(&identity, &sealed).map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                StoreError::WrongBackupPassphrase
            }
            other => bad_backup(other.to_string()),
        })?;
        let backup: BackupFile =
            postcard::from_bytes(&plain).map_err(|e| bad_backup(e.to_string()))?;
        if backup.format != FORMAT {
            return Err(bad_backup(format!(
                "format {} (this Doorstep reads {FORMAT})",
                backup.format
            )));
        }
        if let (Some(ours), Some(theirs)) = (self.ward_id()?, backup.ward_id) {
            if ours != theirs {
                return Err(StoreError::OtherWard { ours, theirs });
            }
        }
        let mut merge = Vec::new();
        let mut fresh_epochs = Vec::new();
        let mut onto_newer = Vec::new();
        for d in &backup.documents {
            let id: DocId = d.id.parse()?;
            let held = self.docs.contains_key(&id) || self.holds_document(id)?;
            let ours = self.epoch(id)?;
            if !held || ours == d.epoch {
                merge.push(DocumentBytes {
                    id: d.id.clone(),
                    bytes: d.bytes.clone(),
                });
                if !held {
                    fresh_epochs.push((id, d.epoch));
                }
            } else if ours > d.epoch {
                onto_newer.push((id, d));
            } else {
                return Err(StoreError::Document {
                    doc: d.id.clone(),
                    reason: "the backup is newer than this device's copy: sync, then restore"
                        .into(),
                });
            }
        }
        self.merge_documents(&merge)?;
        // The backed-up device's signatures: its work is sent on from here as its own.
        {
            let mut keep = self.conn.prepare_cached(
                "INSERT OR IGNORE INTO change_signatures (hash, signature) VALUES (?1, ?2)",
            )?;
            for (hash, signature) in backup.documents.iter().flat_map(|d| &d.signatures) {
                keep.execute(rusqlite::params![hash.to_vec(), signature])?;
            }
        }
        for (id, epoch) in fresh_epochs {
            self.conn.execute(
                "UPDATE documents SET epoch = ?2 WHERE doc_id = ?1",
                rusqlite::params![id.to_string(), epoch],
            )?;
        }
        for (id, d) in onto_newer {
            let old =
                document::decode::load_document(&d.bytes).map_err(|e| StoreError::Unreadable {
                    doc: d.id.clone(),
                    source: e.into(),
                })?;
            let mut edit = Edit::default();
            let doc = self.doc_mut(&mut edit, id)?;
            document::epoch::carry_over(id, &old, &decode_heads(&d.synced), doc)?;
            self.save_edit(edit, |tx, edit| {
                tables::materialize_document(tx, id, doc_in(edit, id)?)
            })?;
        }
        Ok(BackupSummary {
            documents: backup.documents.len(),
            unsynced_changes: self.outbox_count()?,
            made_at: backup.made_at,
        })
    }

    /// Changes neither acknowledged by the hub nor held by this device's last backup: work a
    /// reset would lose.
    pub fn unsaved_changes(&mut self) -> Result<u64> {
        Ok(self.unsaved_documents()?.iter().map(|(_, n)| n).sum())
    }

    /// The documents holding unsaved changes (see `unsaved_changes`), and how many each.
    pub fn unsaved_documents(&mut self) -> Result<Vec<(DocId, u64)>> {
        let mut out = Vec::new();
        if self.outbox_count()? == 0 {
            return Ok(out);
        }
        let backed_up: BTreeMap<String, String> = meta(&self.conn, BACKED_UP)?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        for id in self.document_ids()? {
            let mut edit = Edit::default();
            let doc = self.doc_mut(&mut edit, id)?;
            let now = hex(&encode_heads(&doc.get_heads()));
            let synced = synced_heads(&self.conn, id)?.unwrap_or_default();
            let pending = doc.get_changes(&synced).len() as u64;
            self.keep_unchanged(edit);
            if pending > 0 && backed_up.get(&id.to_string()) != Some(&now) {
                out.push((id, pending));
            }
        }
        Ok(out)
    }

    /// Refuses, with `unsynced_work`, when a reset or a new join would lose work.
    pub fn check_handover(&mut self) -> Result<()> {
        match self.unsaved_changes()? {
            0 => Ok(()),
            changes => Err(StoreError::UnsyncedWork { changes }),
        }
    }
}

fn bad_backup(reason: String) -> StoreError {
    StoreError::BadBackup(reason)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
