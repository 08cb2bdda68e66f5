//! Bytes from a peer, made Automerge documents and changes without letting a malformed input
//! take the process down. Automerge's decoders panic on some malformed input (fuzzing found
//! one in its column decoding: `hexane`'s LEB128 unpacking unwraps), so each decode of
//! untrusted bytes runs behind `catch_unwind` and a panic becomes a refusal. A document a
//! decode panicked in is dropped by the caller, as after any refused input.

use std::panic::{catch_unwind, AssertUnwindSafe};

use automerge::{AutoCommit, AutomergeError, Change, LoadChangeError};
use thiserror::Error;

/// Why peer bytes are not a document or changes.
#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("not an Automerge document: {0}")]
    Document(#[from] AutomergeError),
    #[error("not an Automerge change: {0}")]
    Change(#[from] LoadChangeError),
    #[error("malformed bytes the document engine could not read")]
    Malformed,
}

fn guarded<T>(f: impl FnOnce() -> Result<T, DecodeError>) -> Result<T, DecodeError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(Err(DecodeError::Malformed))
}

/// A whole document from a peer.
pub fn load_document(bytes: &[u8]) -> Result<AutoCommit, DecodeError> {
    guarded(|| Ok(AutoCommit::load(bytes)?))
}

/// A saved document (or its changes) from a peer, merged into `doc`.
pub fn load_into(doc: &mut AutoCommit, bytes: &[u8]) -> Result<(), DecodeError> {
    guarded(|| {
        doc.load_incremental(bytes)?;
        Ok(())
    })
}

/// One change from a peer.
pub fn decode_change(bytes: Vec<u8>) -> Result<Change, DecodeError> {
    guarded(|| Ok(Change::from_bytes(bytes)?))
}

/// Changes from a peer, applied to `doc` in one batch.
pub fn apply_changes(doc: &mut AutoCommit, changes: Vec<Change>) -> Result<(), DecodeError> {
    guarded(|| {
        doc.apply_changes_batch(changes)?;
        Ok(())
    })
}

/// Whether `doc` lacks history its changes depend on (after a peer's changes were applied).
pub fn missing_history(doc: &mut AutoCommit) -> Result<bool, DecodeError> {
    guarded(|| Ok(!doc.get_missing_deps(&[]).is_empty()))
}

/// The changes `doc` gained since `heads` (after a peer's changes were applied: a malformed
/// change can leave a document whose change graph Automerge unwraps on, as fuzzing found).
pub fn changes_since(
    doc: &mut AutoCommit,
    heads: &[automerge::ChangeHash],
) -> Result<Vec<Change>, DecodeError> {
    guarded(|| Ok(doc.get_changes(heads)))
}

/// Another replica's document merged into `doc`.
pub fn merge(doc: &mut AutoCommit, other: &mut AutoCommit) -> Result<(), DecodeError> {
    guarded(|| {
        doc.merge(other)?;
        Ok(())
    })
}
