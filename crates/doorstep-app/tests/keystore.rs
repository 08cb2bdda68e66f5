//! The app's keystore against a real Secret Service (GNOME Keyring on a private session bus:
//! `scripts/keystore-tests.sh`, run by `scripts/test.sh`; `#[ignore]`d in a plain `cargo test`).
//! The keystore is asked only when the PIN is set or typed, and the PIN set then is bound to it.

use std::time::Duration;

use doorstep_app::{App, Hosting};
use doorstep_vault::KeyFile;

#[tokio::test]
#[ignore = "needs a Secret Service: scripts/keystore-tests.sh"]
async fn the_pin_set_in_the_app_is_bound_to_the_system_keystore() {
    let dir = tempfile::TempDir::new().unwrap();
    let keystore = doorstep_app::keystore::system_keystore(Duration::from_secs(3));
    let app = App::open(dir.path(), Hosting::default())
        .unwrap()
        .with_keystore(keystore);
    app.unlock("246810".into()).await.unwrap();
    let db = dir.path().join("device.sqlite");
    assert!(KeyFile::read(&db).unwrap().keystore().is_some());
    app.lock().await.unwrap();
    app.unlock("246810".into()).await.unwrap();
    // Without the keystore (the files copied elsewhere), the right PIN does not open.
    let elsewhere = App::open(dir.path(), Hosting::default()).unwrap();
    app.lock().await.unwrap();
    assert_eq!(
        elsewhere.unlock("246810".into()).await.unwrap_err().code(),
        doorstep_domain::ErrorCode::KeystoreUnavailable
    );
    // Wipe the entry this test made.
    KeyFile::read(&db).unwrap().forget_keystore_entry(
        doorstep_app::keystore::system_keystore(Duration::from_secs(3)).as_deref(),
    );
}
