//! The sync body format: small enough that one new visit costs about 250 bytes on the wire,
//! and a sync where nothing changed a few dozen, however many documents a device holds.
//!
//! A body is one format byte (protocol version in the high nibble, 0 = plain or 1 = deflate in
//! the low) followed by a postcard-encoded message. Postcard writes integers as varints and
//! byte strings with a length prefix, so framing costs a few bytes per document. Bodies are
//! bounded ([`MAX_BODY`] on the wire, [`MAX_DECODED`] inflated) and checked before use.
//!
//! One round: the device sends its cursor (the hub sequence up to which it holds everything in
//! its scope) and the changes it has not had acknowledged; the hub applies them, then answers
//! with what changed in the device's scope since the cursor (a device's own changes are not
//! echoed back), and the new cursor. Unchanged documents are never named.

use std::io::{Read, Write};

use doorstep_doc::DocId;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

/// The protocol version this build speaks. 2: pushes and pulls carry the document's epoch
/// (a document the hub rewrote without its history to erase personal data). 3: every change
/// carries the signature of the device that made it (`doorstep_doc::authorship`).
pub const PROTOCOL: u8 = 3;
/// Largest body accepted on the wire, either way.
pub const MAX_BODY: usize = 1 << 20;
/// Largest body once inflated (a guard against deflate bombs).
pub const MAX_DECODED: usize = 8 << 20;
/// What a sender packs into one body before it splits into another round.
pub const BATCH_BYTES: usize = 900 * 1024;
/// Bodies smaller than this are sent uncompressed (deflate cannot pay for itself).
const COMPRESS_FROM: usize = 64;
/// The media type of sync bodies.
pub const CONTENT_TYPE: &str = "application/x-doorstep-sync";

/// Why a body could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("body is empty")]
    Empty,
    #[error("body is {0} bytes, more than the {MAX_BODY} allowed")]
    TooLarge(usize),
    #[error("body speaks protocol {0}, this hub speaks {PROTOCOL}")]
    Version(u8),
    #[error("body has unknown encoding {0}")]
    Encoding(u8),
    #[error("body inflates past {MAX_DECODED} bytes")]
    Inflated,
    #[error("body is not a sync message: {0}")]
    Corrupt(String),
    #[error("{0:?} is not a document of this protocol")]
    Document(String),
}

/// A document id on the wire: kind (0 ward, 1 group, 2 point) and the 16-byte UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireDoc(pub u8, pub [u8; 16]);

impl From<DocId> for WireDoc {
    fn from(d: DocId) -> Self {
        match d {
            DocId::Ward(id) => WireDoc(0, *id.as_bytes()),
            DocId::Group(id) => WireDoc(1, *id.as_bytes()),
            DocId::Point(id) => WireDoc(2, *id.as_bytes()),
        }
    }
}

impl TryFrom<WireDoc> for DocId {
    type Error = WireError;
    fn try_from(w: WireDoc) -> Result<Self, WireError> {
        let id = Uuid::from_bytes(w.1);
        match w.0 {
            0 => Ok(DocId::Ward(id)),
            1 => Ok(DocId::Group(id)),
            2 => Ok(DocId::Point(id)),
            k => Err(WireError::Document(format!("kind {k}"))),
        }
    }
}

/// The changes of one document a device sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    pub doc: WireDoc,
    /// The epoch of the document these changes were written on: the hub drops changes of an
    /// epoch it has rewritten away (and sends the new epoch back).
    pub epoch: u32,
    /// Automerge changes, each as its own bytes, in causal order.
    pub changes: Vec<Vec<u8>>,
    /// Each change's signature by the device that made it (64 bytes; the same order). A
    /// device pushes its own changes and, after a hub restored from a backup, others' it
    /// pulled with theirs.
    pub signatures: Vec<Vec<u8>>,
}

/// A device's half of a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub cursor: u64,
    pub pushes: Vec<Push>,
    /// The hub incarnation the cursor and the pushes' base are about (0: none known yet). A
    /// hub restored from a backup is a new incarnation: it answers a device of an older one
    /// with `SyncResponse::restored` instead.
    pub incarnation: u64,
}

/// One change the hub sends, with when the hub first received it (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledChange {
    pub received_at: i64,
    pub bytes: Vec<u8>,
    /// The signature of the device that made it (empty for the hub's own changes).
    pub signature: Vec<u8>,
}

/// What the hub sends of one document: a saved document when the device's cursor is older
/// than the hub's last compaction of it, then the changes after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pull {
    pub doc: WireDoc,
    /// The document's epoch at the hub: a device holding another drops its copy for the
    /// snapshot sent with it, carrying its unsynced edits over.
    pub epoch: u32,
    pub snapshot: Option<Vec<u8>>,
    pub changes: Vec<PulledChange>,
}

/// When the hub first received a pushed change it already held (a retried push): its
/// original receive time, so every device agrees on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub hash: [u8; 32],
    pub received_at: i64,
}

/// The hub's half of a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The device now holds everything in its scope up to this hub sequence.
    pub cursor: u64,
    /// More is waiting: sync again.
    pub more: bool,
    /// The hub's clock (Unix milliseconds) when it committed the pushed changes.
    pub hub_time: i64,
    /// Pushed changes the hub had received earlier, with that time (empty but on retries).
    pub receipts: Vec<Receipt>,
    pub pulls: Vec<Pull>,
    /// The hub's incarnation (a new one at every restore from a backup); 0 when it is the
    /// one the device sent.
    pub incarnation: u64,
    /// When `more`: the bytes still to pull after this answer (a progress bar's total).
    pub remaining: u64,
    /// Only to a device of an older incarnation, with nothing else done: the heads of every
    /// document of its scope as the restored hub holds them. The device sends again what they
    /// lack and pulls from cursor 0.
    pub restored: Vec<DocHeads>,
}

/// What a hub holds of a document: its heads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocHeads {
    pub doc: WireDoc,
    pub heads: Vec<[u8; 32]>,
}

/// Encodes a message as a body, deflated when that makes it smaller.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let plain = postcard::to_stdvec(message).unwrap_or_default();
    if plain.len() >= COMPRESS_FROM {
        let mut enc = DeflateEncoder::new(vec![PROTOCOL << 4 | 1], Compression::fast());
        if enc.write_all(&plain).is_ok() {
            if let Ok(packed) = enc.finish() {
                if packed.len() < plain.len() + 1 {
                    return packed;
                }
            }
        }
    }
    let mut body = Vec::with_capacity(plain.len() + 1);
    body.push(PROTOCOL << 4);
    body.extend_from_slice(&plain);
    body
}

/// Decodes a body, refusing what is too large, of another version, or malformed.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    if body.len() > MAX_BODY {
        return Err(WireError::TooLarge(body.len()));
    }
    let (&format, rest) = body.split_first().ok_or(WireError::Empty)?;
    if format >> 4 != PROTOCOL {
        return Err(WireError::Version(format >> 4));
    }
    let inflated;
    let plain = match format & 0x0f {
        0 => rest,
        1 => {
            let mut out = Vec::new();
            DeflateDecoder::new(rest)
                .take(MAX_DECODED as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| WireError::Corrupt(e.to_string()))?;
            if out.len() > MAX_DECODED {
                return Err(WireError::Inflated);
            }
            inflated = out;
            &inflated
        }
        e => return Err(WireError::Encoding(e)),
    };
    let (message, left) =
        postcard::take_from_bytes(plain).map_err(|e| WireError::Corrupt(e.to_string()))?;
    if !left.is_empty() {
        return Err(WireError::Corrupt(format!(
            "{} bytes after the message",
            left.len()
        )));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_small_and_compressed() {
        let small = SyncRequest {
            incarnation: 0,
            cursor: 42,
            pushes: vec![],
        };
        let body = encode(&small);
        // The format byte, the cursor, no pushes, the incarnation: a byte each.
        assert!(body.len() <= 4, "{} bytes", body.len());
        assert_eq!(decode::<SyncRequest>(&body), Ok(small));
        let big = SyncRequest {
            incarnation: 0,
            cursor: 1,
            pushes: vec![Push {
                epoch: 0,
                doc: WireDoc(1, [7; 16]),
                changes: vec![vec![1; 5000]],
                signatures: vec![vec![2; 64]],
            }],
        };
        let body = encode(&big);
        assert_eq!(body[0], 0x31);
        assert!(body.len() < 200);
        assert_eq!(decode::<SyncRequest>(&body), Ok(big));
    }

    #[test]
    fn bad_bodies_are_refused_with_a_reason() {
        assert_eq!(decode::<SyncRequest>(&[]), Err(WireError::Empty));
        assert_eq!(
            decode::<SyncRequest>(&[0x40, 1]),
            Err(WireError::Version(4))
        );
        assert_eq!(
            decode::<SyncRequest>(&[0x37, 1]),
            Err(WireError::Encoding(7))
        );
        assert!(matches!(
            decode::<SyncRequest>(&[0x30, 0xff, 0xff]),
            Err(WireError::Corrupt(_))
        ));
        let good = encode(&SyncRequest {
            incarnation: 0,
            cursor: 300,
            pushes: vec![],
        });
        assert!(decode::<SyncRequest>(&good[..good.len() - 1]).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(
            decode::<SyncRequest>(&trailing),
            Err(WireError::Corrupt(_))
        ));
        assert!(matches!(
            decode::<SyncRequest>(&vec![0x20; MAX_BODY + 1]),
            Err(WireError::TooLarge(_))
        ));
    }
}
