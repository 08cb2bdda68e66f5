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
    #[error("{0}")]
    TooLarge(String),
}

/// Largest change accepted, as sent: well inside a pull answer a device accepts (a page holds
/// about `BATCH_BYTES`, 900 KiB, and at least one change), so no accepted change can make a
/// page too large for every other device in scope.
pub const MAX_CHANGE_BYTES: usize = 256 * 1024;
/// Largest change once Automerge inflates it (a compressed change chunk is deflate): checked
/// by inflating at most this much first, so a deflate bomb costs its cap, never gigabytes.
pub const MAX_CHANGE_INFLATED: u64 = 2 * 1024 * 1024;
/// Most operations one change holds (the app's largest, an alley handed to a volunteer, holds
/// a few per household of the alley).
pub const MAX_CHANGE_OPS: usize = 20_000;

/// Refuses a change too large to judge or to pass on, before Automerge reads it.
pub fn check_change_size(bytes: &[u8]) -> Result<(), DecodeError> {
    use std::io::Read;
    if bytes.len() > MAX_CHANGE_BYTES {
        return Err(DecodeError::TooLarge(format!(
            "a change of {} bytes: at most {MAX_CHANGE_BYTES}",
            bytes.len()
        )));
    }
    // Magic (4), checksum (4), chunk type (1: 2 is a deflated change), data length (LEB128).
    if bytes.get(8) != Some(&2) {
        return Ok(());
    }
    let mut at = 9;
    while bytes.get(at).is_some_and(|b| b & 0x80 != 0) {
        at += 1;
    }
    let data = bytes.get(at + 1..).unwrap_or_default();
    let mut inflated = flate2::bufread::DeflateDecoder::new(data).take(MAX_CHANGE_INFLATED + 1);
    let n =
        std::io::copy(&mut inflated, &mut std::io::sink()).map_err(|_| DecodeError::Malformed)?;
    if n > MAX_CHANGE_INFLATED {
        return Err(DecodeError::TooLarge(format!(
            "a change that inflates past {MAX_CHANGE_INFLATED} bytes"
        )));
    }
    Ok(())
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

/// One change from a peer, refused when too large (see `check_change_size`) or when it holds
/// more than `MAX_CHANGE_OPS` operations.
pub fn decode_change(bytes: Vec<u8>) -> Result<Change, DecodeError> {
    check_change_size(&bytes)?;
    let change = guarded(|| Ok(Change::from_bytes(bytes)?))?;
    if change.len() > MAX_CHANGE_OPS {
        return Err(DecodeError::TooLarge(format!(
            "a change of {} operations: at most {MAX_CHANGE_OPS}",
            change.len()
        )));
    }
    Ok(change)
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

/// A deflated change chunk whose data inflates to `inflated` zero bytes (a deflate bomb), as a
/// modified client could send it: what the size checks are tested against.
#[doc(hidden)]
pub fn deflate_bomb(inflated: usize) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    let mut left = inflated;
    while left > 0 {
        let n = left.min(zeros.len());
        let _ = enc.write_all(&zeros[..n]);
        left -= n;
    }
    let data = enc.finish().unwrap_or_default();
    let mut bytes = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = data.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            bytes.push(byte);
            break;
        }
        bytes.push(byte | 0x80);
    }
    bytes.extend(data);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    #[test]
    fn changes_past_their_limits_are_refused_before_automerge_reads_them() {
        // A bomb that inflates to 200 MiB from ~200 KiB: refused for its cap.
        let bomb = deflate_bomb(200 << 20);
        assert!(bomb.len() <= MAX_CHANGE_BYTES, "{} bytes", bomb.len());
        let started = std::time::Instant::now();
        assert!(matches!(decode_change(bomb), Err(DecodeError::TooLarge(_))));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // Too many bytes as sent.
        assert!(matches!(
            decode_change(vec![0; MAX_CHANGE_BYTES + 1]),
            Err(DecodeError::TooLarge(_))
        ));
        // Too many operations (each tiny).
        let mut doc = AutoCommit::new();
        for i in 0..MAX_CHANGE_OPS + 1 {
            doc.put(automerge::ROOT, format!("k{}", i % 50), i as i64)
                .unwrap();
        }
        doc.commit();
        let change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
        assert!(change.len() < MAX_CHANGE_BYTES, "{} bytes", change.len());
        assert!(matches!(
            decode_change(change),
            Err(DecodeError::TooLarge(_))
        ));
        // An ordinary change passes.
        let mut doc = AutoCommit::new();
        doc.put(automerge::ROOT, "k", 1).unwrap();
        doc.commit();
        let change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
        assert!(decode_change(change).is_ok());
    }
}
