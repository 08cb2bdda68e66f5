//! Which OS keystore the app binds its PIN to, per platform (see `doorstep_vault::Keystore`
//! for why): the desktop's Secret Service on Linux when one answers; Android's Keystore will
//! come through a Tauri plugin (not buildable on this machine), until then Android devices
//! have the PIN's wrap alone, as do desktops without a keyring.

use std::sync::Arc;
use std::time::Duration;

use doorstep_vault::Keystore;

/// The platform's keystore, when one answers within `timeout` (a Secret Service that would
/// show a dialog, or never answers, counts as none: the app must start).
pub fn system_keystore(timeout: Duration) -> Option<Arc<dyn Keystore>> {
    #[cfg(target_os = "linux")]
    {
        let (tx, rx) = std::sync::mpsc::channel();
        // Its own thread: the keyring crate blocks, and a Secret Service may never answer.
        std::thread::spawn(move || {
            let _ = tx.send(doorstep_vault::SecretService.available());
        });
        match rx.recv_timeout(timeout) {
            Ok(true) => Some(Arc::new(doorstep_vault::SecretService)),
            _ => {
                tracing::info!("no system keystore answers: the PIN alone wraps the data key");
                None
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = timeout;
        None
    }
}
