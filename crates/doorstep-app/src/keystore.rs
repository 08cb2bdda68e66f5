//! Which OS keystore the app binds its PIN to, per platform (see `doorstep_vault::Keystore`
//! for why): the desktop's Secret Service on Linux when one answers; Android's Keystore will
//! come through a Tauri plugin (not buildable on this machine), until then Android devices
//! have the PIN's wrap alone, as do desktops without a keyring.
//!
//! The keystore is first asked when the PIN is set or typed, on the unlock's worker thread,
//! never while the app starts: a Secret Service that is slow or never answers costs the lock
//! screen nothing.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use doorstep_vault::{Keystore, KeystoreError};
use zeroize::Zeroizing;

/// The desktop's Secret Service, asked once whether it answers (within `timeout`) the first
/// time it is needed; one that does not is no keystore (the PIN's wrap alone).
#[cfg(target_os = "linux")]
struct SystemKeystore {
    answers: OnceLock<bool>,
    timeout: Duration,
}

#[cfg(target_os = "linux")]
impl SystemKeystore {
    fn answering(&self) -> Result<doorstep_vault::SecretService, KeystoreError> {
        let answers = *self.answers.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            // Its own thread: the keyring crate blocks, and a Secret Service may never answer.
            std::thread::spawn(move || {
                let _ = tx.send(doorstep_vault::SecretService.available());
            });
            let answers = rx.recv_timeout(self.timeout).unwrap_or(false);
            if !answers {
                tracing::info!("no system keystore answers: the PIN alone wraps the data key");
            }
            answers
        });
        if answers {
            Ok(doorstep_vault::SecretService)
        } else {
            Err(KeystoreError {
                keystore: "Secret Service",
                reason: "no Secret Service answers on this session".into(),
            })
        }
    }
}

#[cfg(target_os = "linux")]
impl Keystore for SystemKeystore {
    fn name(&self) -> &'static str {
        "Secret Service"
    }

    fn get(&self, entry: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeystoreError> {
        self.answering()?.get(entry)
    }

    fn put(&self, entry: &str, secret: &[u8]) -> Result<(), KeystoreError> {
        self.answering()?.put(entry, secret)
    }

    fn delete(&self, entry: &str) -> Result<(), KeystoreError> {
        self.answering()?.delete(entry)
    }
}

/// The platform's keystore, asked lazily (an answer is awaited at most `timeout`); `None`
/// where the platform has none this build can use.
pub fn system_keystore(timeout: Duration) -> Option<Arc<dyn Keystore>> {
    #[cfg(target_os = "linux")]
    {
        Some(Arc::new(SystemKeystore {
            answers: OnceLock::new(),
            timeout,
        }))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = timeout;
        None
    }
}
