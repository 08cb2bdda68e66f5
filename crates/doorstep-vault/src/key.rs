//! The key a database is encrypted with, and the choice to keep a database unencrypted (which
//! only an explicit flag makes).

use zeroize::Zeroizing;

/// A database's 256-bit SQLCipher key: random, held in memory only while unlocked, wiped from
/// memory when dropped.
#[derive(Clone)]
pub struct DatabaseKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DatabaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseKey(…)")
    }
}

impl DatabaseKey {
    /// A new random key.
    pub fn random() -> crate::Result<DatabaseKey> {
        Ok(DatabaseKey(Zeroizing::new(crate::random()?)))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> DatabaseKey {
        DatabaseKey(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Another key derived from this one for `purpose` (HMAC-SHA256): the hub an app hosts is
    /// encrypted with its device key's derivation, never with the device key itself.
    pub fn derive(&self, purpose: &str) -> DatabaseKey {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.0.as_slice())
            .expect("HMAC takes a key of any length");
        mac.update(b"doorstep key derivation\0");
        mac.update(purpose.as_bytes());
        DatabaseKey(Zeroizing::new(mac.finalize().into_bytes().into()))
    }

    /// SQLCipher's raw-key form, `x'…'` (64 hex digits): used as given, no key derivation of
    /// SQLCipher's own on every open (the key is random, not a password).
    pub(crate) fn sqlcipher_key(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(67));
        text.push_str("x'");
        for byte in self.0.iter() {
            text.push_str(&format!("{byte:02x}"));
        }
        text.push('\'');
        text
    }
}

/// How a database is kept at rest.
#[derive(Debug, Clone)]
pub enum AtRest {
    /// Encrypted with this key (a plaintext database is encrypted in place on open).
    Encrypted(DatabaseKey),
    /// Unencrypted: only with an explicit `--plaintext` (tests of old files, benchmarks'
    /// before figures). An encrypted database is never opened, nor turned back, this way.
    Plaintext,
}

impl AtRest {
    pub fn is_encrypted(&self) -> bool {
        matches!(self, AtRest::Encrypted(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ_by_purpose_and_from_their_parent() {
        let key = DatabaseKey::from_bytes([7; 32]);
        let hub = key.derive("hub");
        assert_ne!(hub.as_bytes(), key.as_bytes());
        assert_ne!(hub.as_bytes(), key.derive("backup").as_bytes());
        assert_eq!(hub.as_bytes(), key.derive("hub").as_bytes());
        assert_eq!(key.sqlcipher_key().len(), 67);
        assert_eq!(format!("{key:?}"), "DatabaseKey(…)");
    }
}
