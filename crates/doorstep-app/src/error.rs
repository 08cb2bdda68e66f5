//! Why an app action failed: the library errors underneath, kept whole (their sources and
//! codes), and what reaches the UI: `{code, message}`, where the UI shows its own Vietnamese
//! or English text for the code and keeps the message for the log.

use doorstep_domain::ErrorCode;
use doorstep_hub::HubError;
use doorstep_store::StoreError;
use doorstep_sync::SyncError;
use serde::ser::SerializeStruct;
use serde::Serialize;
use thiserror::Error;

/// Why an app action failed.
#[derive(Debug, Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Vault(#[from] doorstep_hub::VaultError),
    #[error("this device already holds a ward")]
    AlreadyHasWard,
    #[error("the app is locked: unlock it with the PIN")]
    Locked,
    #[error("the hub revoked this device: its data and keys were erased from it")]
    Wiped,
    #[error("only a coordinator's device sets this")]
    CoordinatorOnly,
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot serve the ward hub on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot write the report: {0}")]
    Export(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot draw the QR code: {0}")]
    Qr(#[from] qrcode::types::QrError),
    #[error("settings: {0}")]
    Settings(#[from] serde_json::Error),
}

impl AppError {
    /// The stable code the UI translates.
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Store(e) => e.code(),
            AppError::Sync(e) => e.code(),
            AppError::Hub(e) => e.code(),
            AppError::Vault(e) => e.code(),
            AppError::AlreadyHasWard => ErrorCode::WardExists,
            AppError::Locked => ErrorCode::Locked,
            AppError::Wiped => ErrorCode::DeviceWiped,
            AppError::CoordinatorOnly => ErrorCode::CoordinatorOnly,
            AppError::Listen { .. } => ErrorCode::HubListenFailed,
            AppError::Export(_) => ErrorCode::ExportFailed,
            AppError::DataDir { .. } | AppError::Qr(_) | AppError::Settings(_) => {
                ErrorCode::Internal
            }
        }
    }
}

/// What a command's caller receives: `{code, message}`.
impl Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_struct("AppError", 2)?;
        out.serialize_field("code", &self.code())?;
        out.serialize_field("message", &self.to_string())?;
        out.end()
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;
