//! Who made a change, provably: every device holds an Ed25519 key, its Automerge actor is
//! derived from the public key, and it signs the hash of every change it makes.
//!
//! Why the actor is derived rather than chosen: Automerge refuses a second change with the same
//! actor and sequence number, so a change that borrows a colleague's actor can make the
//! colleague's own next change unacceptable. With `actor = H(key)`, the hub checks a change's
//! actor against the pushing device's key without any table, and no device can claim an actor
//! it holds no key for (nor the hub's, which derives its actors from its own key).
//!
//! Why the change *hash* is signed: it covers the change's bytes and, through its
//! dependencies, its whole history back to the document's first change (which names the
//! document), so a signature can be checked by anyone holding the public key, long after the
//! push, against the change as any replica stores it. 64 bytes a change.

use automerge::{ActorId, ChangeHash};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// The bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// What a device signs: this domain tag, then the change's hash.
const CHANGE_TAG: &[u8] = b"doorstep change v1\0";
/// What a joining device signs to prove it holds its key: this tag, then the invite code.
const JOIN_TAG: &[u8] = b"doorstep join v1\0";

/// A key's public half: what the hub records with a device and serves in its roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

/// A device's (or the hub's) signing key. Kept only in an encrypted store; zeroized on drop.
pub struct DeviceKey(SigningKey);

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey({})", self.public().key_id())
    }
}

impl DeviceKey {
    /// A key from 32 secret bytes (random ones for a new key).
    pub fn from_secret(secret: [u8; 32]) -> DeviceKey {
        DeviceKey(SigningKey::from_bytes(&secret))
    }

    /// The secret bytes, to keep in an encrypted store.
    pub fn secret(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// The Automerge actor of every change this key signs.
    pub fn actor(&self) -> ActorId {
        self.public().actor()
    }

    /// The signature of one change.
    pub fn sign_change(&self, hash: &ChangeHash) -> [u8; SIGNATURE_LEN] {
        self.sign_tagged(CHANGE_TAG, &hash.0)
    }

    /// The proof that a joining device holds this key: a signature of the invite code.
    pub fn sign_join(&self, code: &str) -> [u8; SIGNATURE_LEN] {
        self.sign_tagged(JOIN_TAG, code.as_bytes())
    }

    fn sign_tagged(&self, tag: &[u8], message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut signed = Vec::with_capacity(tag.len() + message.len());
        signed.extend_from_slice(tag);
        signed.extend_from_slice(message);
        self.0.sign(&signed).to_bytes()
    }
}

impl PublicKey {
    /// The actor a device with this key writes as: the first 16 bytes of SHA-256 of a tag and
    /// the key (an actor is 16 bytes on every change; a second preimage is out of reach).
    pub fn actor(&self) -> ActorId {
        let mut h = Sha256::new();
        h.update(b"doorstep actor v1\0");
        h.update(self.0);
        let digest = h.finalize();
        ActorId::from(&digest[..16])
    }

    /// The key's fingerprint, short enough to read aloud: base64url of 9 bytes of SHA-256.
    pub fn key_id(&self) -> String {
        URL_SAFE_NO_PAD.encode(&Sha256::digest(self.0)[..9])
    }

    /// The key as base64url (no padding), as `hub devices --json` shows it.
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// A key from its base64url form or its 32 bytes.
    pub fn from_base64(text: &str) -> Option<PublicKey> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        PublicKey::from_slice(&bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Option<PublicKey> {
        let key: [u8; 32] = bytes.try_into().ok()?;
        // Not every 32 bytes are a point on the curve.
        VerifyingKey::from_bytes(&key).ok()?;
        Some(PublicKey(key))
    }

    /// Whether `signature` is this key's signature of the change `hash`.
    pub fn verifies_change(&self, hash: &ChangeHash, signature: &[u8]) -> bool {
        self.verifies_tagged(CHANGE_TAG, &hash.0, signature)
    }

    /// Whether `signature` proves this key's holder joined with `code`.
    pub fn verifies_join(&self, code: &str, signature: &[u8]) -> bool {
        self.verifies_tagged(JOIN_TAG, code.as_bytes(), signature)
    }

    fn verifies_tagged(&self, tag: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = <[u8; SIGNATURE_LEN]>::try_from(signature) else {
            return false;
        };
        let Ok(key) = VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let mut signed = Vec::with_capacity(tag.len() + message.len());
        signed.extend_from_slice(tag);
        signed.extend_from_slice(message);
        key.verify(&signed, &ed25519_dalek::Signature::from_bytes(&signature))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> DeviceKey {
        DeviceKey::from_secret([seed; 32])
    }

    #[test]
    fn a_change_signed_by_a_key_verifies_with_it_only() {
        let hash = ChangeHash([7; 32]);
        let signature = key(1).sign_change(&hash);
        assert!(key(1).public().verifies_change(&hash, &signature));
        assert!(!key(2).public().verifies_change(&hash, &signature));
        assert!(!key(1)
            .public()
            .verifies_change(&ChangeHash([8; 32]), &signature));
        let mut altered = signature;
        altered[10] ^= 1;
        assert!(!key(1).public().verifies_change(&hash, &altered));
        assert!(!key(1).public().verifies_change(&hash, &signature[..63]));
        // A join proof is not a change signature, nor the other way round.
        let join = key(1).sign_join("ABCD");
        assert!(key(1).public().verifies_join("ABCD", &join));
        assert!(!key(1).public().verifies_join("ABCE", &join));
    }

    #[test]
    fn actors_and_ids_are_the_keys_and_round_trip() {
        let (a, b) = (key(1).public(), key(2).public());
        assert_eq!(a.actor(), key(1).actor());
        assert_ne!(a.actor(), b.actor());
        assert_eq!(a.actor().to_bytes().len(), 16);
        assert_eq!(a.to_base64().len(), 43);
        assert_eq!(PublicKey::from_base64(&a.to_base64()), Some(a));
        assert_eq!(a.key_id().len(), 12);
        assert_ne!(a.key_id(), b.key_id());
        assert_eq!(PublicKey::from_base64("not a key"), None);
        assert_eq!(PublicKey::from_slice(&[1; 31]), None);
    }
}
