//! The ward hub: keeps the ward's Automerge documents, enrolls devices with single-use invite
//! codes, and syncs each device's scope over HTTP.
//!
//! `hub` holds the rules (enrollment, scope, one sync round), `storage` the interface its data
//! sits behind (`sqlite` is the embedded implementation), `http` the axum routes. This is the
//! only crate that knows axum; devices talk to it through `doorstep-sync`.

pub mod http;
pub mod hub;
pub mod sqlite;
pub mod storage;

use std::net::SocketAddr;
use std::path::Path;

use thiserror::Error;

pub use hub::Hub;

/// Why the hub refused or failed. Each becomes an HTTP status with a JSON `ApiError`.
#[derive(Debug, Error)]
pub enum HubError {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Validation(#[from] doorstep_domain::ValidationError),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{message}")]
    Forbidden {
        message: String,
        doc: Option<String>,
    },
    #[error("{message}")]
    NotFound {
        message: String,
        doc: Option<String>,
    },
    #[error("{message}")]
    Conflict {
        message: String,
        doc: Option<String>,
    },
    #[error("body is larger than {} bytes", doorstep_sync::wire::MAX_BODY)]
    TooLarge,
    #[error("{message}")]
    Invalid {
        message: String,
        doc: Option<String>,
    },
    #[error("too many failed attempts from this address: wait a minute")]
    TooManyAttempts,
    #[error("this hub has no ward yet")]
    NoWard,
    #[error("hub storage: {0}")]
    Storage(String),
    #[error(transparent)]
    Store(#[from] doorstep_store::StoreError),
}

impl From<rusqlite::Error> for HubError {
    fn from(e: rusqlite::Error) -> Self {
        HubError::Storage(e.to_string())
    }
}

impl From<automerge::AutomergeError> for HubError {
    fn from(e: automerge::AutomergeError) -> Self {
        HubError::Storage(e.to_string())
    }
}

/// Serves the hub in `dir` on `listener` until the process ends. `ready` hears the address.
pub async fn serve(
    dir: &Path,
    listener: tokio::net::TcpListener,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), HubError> {
    let dir = dir.to_path_buf();
    let hub = tokio::task::spawn_blocking(move || {
        let mut hub = Hub::open(&dir)?;
        let started = std::time::Instant::now();
        let loaded = hub.load_documents()?;
        tracing::info!(
            documents = loaded,
            ms = started.elapsed().as_millis(),
            "documents loaded"
        );
        Ok::<_, HubError>(hub)
    })
    .await
    .map_err(|e| HubError::Storage(format!("loading the hub failed: {e}")))??;
    let addr = listener
        .local_addr()
        .map_err(|e| HubError::Storage(e.to_string()))?;
    ready(addr);
    axum::serve(
        listener,
        http::router(hub).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(|e| HubError::Storage(e.to_string()))
}
