//! The PIN's wrap bound to a real OS keystore: GNOME Keyring's Secret Service on a private
//! session bus. `scripts/test.sh` runs these under `dbus-run-session` with a keyring unlocked
//! for them (they are `#[ignore]`d in a plain `cargo test`, which has no session bus); run by
//! hand with `scripts/keystore-tests.sh`.
#![cfg(feature = "os-keystore")]

use doorstep_vault::{Kdf, KeyFile, Keystore, SecretKind, SecretService, VaultError};

const CHEAP: Kdf = Kdf {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

#[test]
#[ignore = "needs a Secret Service: scripts/keystore-tests.sh"]
fn the_pin_alone_does_not_open_a_key_file_bound_to_the_keystore() {
    assert!(SecretService.available(), "no Secret Service answers here");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("device.sqlite");
    let (key, code) =
        KeyFile::create(&db, "246810", SecretKind::Pin, CHEAP, Some(&SecretService)).unwrap();
    let mut file = KeyFile::read(&db).unwrap();
    let entry = file.keystore().expect("bound to the keystore").to_string();
    assert!(SecretService.get(&entry).unwrap().is_some());

    // On this device: the PIN opens it.
    assert_eq!(
        file.unlock("246810", 0, Some(&SecretService))
            .unwrap()
            .as_bytes(),
        key.as_bytes()
    );
    // The files copied elsewhere (no keystore there): the right PIN is not enough, and the
    // refusal is not counted as a wrong PIN.
    let mut copy = KeyFile::read(&db).unwrap();
    assert!(matches!(
        copy.unlock("246810", 0, None),
        Err(VaultError::KeystoreUnavailable { .. })
    ));
    assert_eq!(KeyFile::read(&db).unwrap().failed(), 0);
    // A wrong PIN with the keystore is a wrong PIN.
    assert!(matches!(
        file.unlock("135790", 0, Some(&SecretService)),
        Err(VaultError::WrongSecret { failed: 1, .. })
    ));

    // The keystore forgets its secret (a reset keyring): the PIN no longer opens...
    SecretService.delete(&entry).unwrap();
    let mut file = KeyFile::read(&db).unwrap();
    assert!(matches!(
        file.unlock("246810", 0, Some(&SecretService)),
        Err(VaultError::KeystoreUnavailable { .. })
    ));
    // ...the recovery code does, and binds the new PIN to a new keystore secret.
    let recovered = file
        .recover(code.as_str(), "975310", 1, Some(&SecretService))
        .unwrap();
    assert_eq!(recovered.as_bytes(), key.as_bytes());
    let file = KeyFile::read(&db).unwrap();
    let new_entry = file.keystore().expect("bound again").to_string();
    assert_ne!(new_entry, entry);
    let mut file = KeyFile::read(&db).unwrap();
    assert_eq!(
        file.unlock("975310", 2, Some(&SecretService))
            .unwrap()
            .as_bytes(),
        key.as_bytes()
    );

    // A PIN change re-binds to a new entry and forgets the old one.
    file.change("975310", "864200", 3, Some(&SecretService))
        .unwrap();
    let file = KeyFile::read(&db).unwrap();
    let newest = file.keystore().unwrap().to_string();
    assert_ne!(newest, new_entry);
    assert!(SecretService.get(&new_entry).unwrap().is_none());

    // Wiped: the entry goes with the key file.
    file.forget_keystore_entry(Some(&SecretService));
    assert!(SecretService.get(&newest).unwrap().is_none());
}

#[test]
#[ignore = "needs a Secret Service: scripts/keystore-tests.sh"]
fn the_key_file_never_holds_the_keystore_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("device.sqlite");
    KeyFile::create(&db, "246810", SecretKind::Pin, CHEAP, Some(&SecretService)).unwrap();
    let file = KeyFile::read(&db).unwrap();
    let secret = SecretService
        .get(file.keystore().unwrap())
        .unwrap()
        .unwrap();
    let text = std::fs::read(KeyFile::path_for(&db)).unwrap();
    use base64::Engine;
    for encoded in [
        base64::engine::general_purpose::STANDARD
            .encode(secret.as_slice())
            .into_bytes(),
        secret.to_vec(),
    ] {
        assert!(!text.windows(encoded.len()).any(|w| w == encoded.as_slice()));
    }
    file.forget_keystore_entry(Some(&SecretService));
}
