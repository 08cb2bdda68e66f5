//! The ward hub: keeps the ward's Automerge documents, enrolls devices with single-use invite
//! codes, and syncs each device's scope over HTTP.
//!
//! `hub` holds the documents' rules (scope, one sync round), `enrolment` the door (invites,
//! joins, tokens, revocation), `storage` the interface their data
//! sits behind (`sqlite` is the embedded implementation, `postgres` a city deployment's;
//! `HubPlace` says which), `http` the axum routes. This is the
//! only crate that knows axum; devices talk to it in `doorstep-proto`'s
//! types. It never links the device store nor an HTTP client.

pub mod backup;
pub mod city;
pub mod connections;
pub mod enrolment;
pub mod http;
pub mod hub;
pub mod postgres;
pub mod sqlite;
pub mod storage;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use doorstep_doc::{DocError, Refusal};
use doorstep_domain::ErrorCode;
use doorstep_proto::wire::WireError;
use thiserror::Error;

pub use city::City;
pub use doorstep_vault::{AtRest, DatabaseKey, RecoveryCode, VaultError};
pub use enrolment::Enrolment;
pub use hub::{Hub, Retention};
pub use sqlite::unlock;

/// The key the unit tests' hubs are encrypted with.
#[cfg(test)]
pub(crate) fn test_key() -> AtRest {
    AtRest::Encrypted(DatabaseKey::from_bytes([9; 32]))
}
pub use storage::StorageError;
pub use tls::{HubTls, NextPin, TlsError};

/// The HTTP status class of a refusal: what the client did wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    TooLarge,
    Unprocessable,
    TooManyRequests,
    Timeout,
    /// The hub is at its limit of requests in flight: try again shortly.
    Busy,
}

/// Why the hub refused or failed. A refusal carries its HTTP status, a stable code and a
/// message for the client; anything else is the hub's own failure (500, generic text to the
/// client, details in the log).
#[derive(Debug, Error)]
pub enum HubError {
    #[error("{message}")]
    Refused {
        status: Status,
        code: ErrorCode,
        message: String,
        doc: Option<String>,
    },
    #[error("this hub has no ward yet")]
    NoWard,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("document engine: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("no randomness from the operating system: {0}")]
    Randomness(#[from] rand_core::OsError),
    #[error("a request panicked inside the hub")]
    Panicked,
    #[error("a hub task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("network: {0}")]
    Network(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl HubError {
    /// A refusal with no document to blame.
    pub fn refused(status: Status, code: ErrorCode, message: impl Into<String>) -> Self {
        HubError::Refused {
            status,
            code,
            message: message.into(),
            doc: None,
        }
    }

    /// The same refusal, blaming document `doc`.
    pub fn on(self, doc: impl ToString) -> Self {
        match self {
            HubError::Refused {
                status,
                code,
                message,
                ..
            } => HubError::Refused {
                status,
                code,
                message,
                doc: Some(doc.to_string()),
            },
            other => other,
        }
    }

    /// The stable code of this error (`internal` for the hub's own failures).
    pub fn code(&self) -> ErrorCode {
        match self {
            HubError::Refused { code, .. } => *code,
            HubError::NoWard => ErrorCode::NoWard,
            HubError::Tls(TlsError::NoRotation) => ErrorCode::NoRotation,
            HubError::Storage(StorageError::Vault(e)) => e.code(),
            _ => ErrorCode::Internal,
        }
    }
}

impl From<::postgres::Error> for HubError {
    fn from(e: ::postgres::Error) -> Self {
        HubError::Storage(e.into())
    }
}

impl From<doorstep_domain::ValidationError> for HubError {
    fn from(e: doorstep_domain::ValidationError) -> Self {
        HubError::refused(Status::BadRequest, e.code(), e.to_string())
    }
}

impl From<Refusal> for HubError {
    /// Who may write what is 403; every other refusal of a change is 422.
    fn from(r: Refusal) -> Self {
        let doc = r.doc;
        let status = match r.code {
            ErrorCode::CoordinatorOnly | ErrorCode::NotYourRecord => Status::Forbidden,
            _ => Status::Unprocessable,
        };
        HubError::refused(status, r.code, r.to_string()).on(doc)
    }
}

impl From<DocError> for HubError {
    fn from(e: DocError) -> Self {
        match e {
            DocError::Refused(r) => (*r).into(),
            DocError::Automerge(e) => HubError::Automerge(*e),
            e @ DocError::BadDocumentId(_) => {
                HubError::refused(Status::BadRequest, e.code(), e.to_string())
            }
            e => HubError::refused(Status::Unprocessable, e.code(), e.to_string()),
        }
    }
}

impl From<WireError> for HubError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::TooLarge(_) => {
                HubError::refused(Status::TooLarge, ErrorCode::BodyTooLarge, e.to_string())
            }
            e => HubError::refused(Status::BadRequest, ErrorCode::BadSyncBody, e.to_string()),
        }
    }
}

/// Bytes as lowercase hex: how the hub stores hashes and its secret as text.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The address devices reach a hub listening on `listen` at: the listening address itself,
/// or this machine's LAN address when it listens on all of them (never 0.0.0.0). Found by
/// asking the system which address a UDP socket would use (no packet is sent); loopback
/// when there is no network.
pub fn advertised_addr(listen: SocketAddr) -> SocketAddr {
    if !listen.ip().is_unspecified() {
        return listen;
    }
    let lan = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").and_then(|_| s.local_addr()))
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    SocketAddr::new(lan, listen.port())
}

/// How a hub serves, beyond its data: limits and the token rotation age.
#[derive(Debug, Clone, Copy)]
pub struct Serving {
    pub limits: http::Limits,
    pub rotate_tokens_after: std::time::Duration,
}

impl Default for Serving {
    fn default() -> Self {
        Serving {
            limits: http::Limits::default(),
            rotate_tokens_after: std::time::Duration::from_secs(
                enrolment::TOKEN_ROTATE_DAYS as u64 * 86_400,
            ),
        }
    }
}

/// Where a hub keeps its data: a directory (its SQLite file and TLS files: a ward office) or a
/// PostgreSQL database (a city deployment: the TLS identity kept in the database too, so that
/// every hub process serves the same key). A database holds one ward (schema `doorstep`) or,
/// once `hub ward add` made its catalogue, many (`city.rs`): `ward` names one of them.
#[derive(Debug, Clone)]
pub enum HubPlace {
    Dir { dir: PathBuf, at_rest: AtRest },
    Postgres { url: String, ward: Option<String> },
}

impl HubPlace {
    /// A new connection to the hub's storage (each user of it holds its own).
    pub fn storage(&self) -> Result<Box<dyn storage::HubStorage>, HubError> {
        Ok(match self {
            HubPlace::Dir { dir, at_rest } => Box::new(enrolment::open_storage(dir, at_rest)?.0),
            HubPlace::Postgres {
                url,
                ward: Some(ward),
            } => {
                let city = City::open(url, false)?;
                let listed = city.ward(ward)?.ok_or_else(|| {
                    HubError::refused(
                        Status::NotFound,
                        ErrorCode::UnknownWard,
                        format!("the city has no ward {ward:?} (`hub ward list`)"),
                    )
                })?;
                Box::new(city.ward_storage(&listed)?)
            }
            HubPlace::Postgres { url, ward: None } => {
                if City::exists(url)? {
                    return Err(HubError::refused(
                        Status::BadRequest,
                        ErrorCode::WardNeeded,
                        "this database holds a city's wards: name one with --ward-id ID|KEY",
                    ));
                }
                Box::new(postgres::PgStorage::open(url)?)
            }
        })
    }

    pub fn hub(&self) -> Result<Hub, HubError> {
        Hub::with_storage(self.storage()?)
    }

    pub fn enrolment(&self) -> Result<Enrolment, HubError> {
        Enrolment::with_storage(self.storage()?)
    }

    /// The hub's TLS identity, made if it has none: a city's is the catalogue's, one for
    /// every ward (they share an address).
    pub fn tls(&self) -> Result<HubTls, HubError> {
        match self {
            HubPlace::Dir { dir, .. } => Ok(HubTls::ensure(dir)?),
            HubPlace::Postgres { url, .. } if City::exists(url)? => {
                HubTls::ensure_in(City::open(url, false)?.storage())
            }
            HubPlace::Postgres { .. } => HubTls::ensure_in(self.storage()?.as_mut()),
        }
    }

    /// The city this place serves, if it is a database holding a catalogue and no ward is
    /// named: `hub serve` then serves every ward of it.
    pub fn city(&self) -> Result<Option<String>, HubError> {
        match self {
            HubPlace::Postgres { url, ward: None } if City::exists(url)? => Ok(Some(url.clone())),
            _ => Ok(None),
        }
    }

    /// Creates the hub of a new ward here.
    pub fn init(
        &self,
        ward: &str,
        groups: &[String],
    ) -> Result<
        (
            doorstep_domain::Ward,
            Vec<doorstep_domain::ResidentialGroup>,
        ),
        HubError,
    > {
        match self {
            HubPlace::Dir { dir, at_rest } => Hub::init(dir, ward, groups, at_rest),
            HubPlace::Postgres { url, .. } => {
                if City::exists(url)? {
                    return Err(HubError::refused(
                        Status::Conflict,
                        ErrorCode::HubExists,
                        "this database holds a city's wards: add one with `hub ward add`",
                    ));
                }
                let mut storage = postgres::PgStorage::open(url)?;
                let made = Hub::init_in(&mut storage, ward, groups)?;
                HubTls::ensure_in(&mut storage)?;
                Ok(made)
            }
        }
    }
}

/// Serves the hub in `dir` over HTTPS (its own certificate, `tls`) on `listener` until the
/// process ends. `ready` hears the address devices reach it at (`advertised_addr`), which is
/// also kept for invite links.
pub async fn serve(
    dir: &Path,
    at_rest: &AtRest,
    listener: tokio::net::TcpListener,
    serving: Serving,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), HubError> {
    let place = HubPlace::Dir {
        dir: dir.to_path_buf(),
        at_rest: at_rest.clone(),
    };
    serve_place(place, listener, serving, ready).await
}

/// `serve` for a hub wherever it keeps its data. A hub on PostgreSQL does not follow
/// certificate rotations (its identity is in the database; rotating it is not built yet).
pub async fn serve_place(
    place: HubPlace,
    listener: tokio::net::TcpListener,
    serving: Serving,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), HubError> {
    let dir_for_rotation = match &place {
        HubPlace::Dir { dir, .. } => Some(dir.clone()),
        HubPlace::Postgres { .. } => None,
    };
    let addr = advertised_addr(listener.local_addr()?);
    let (wards, tls) = tokio::task::spawn_blocking(move || {
        let tls = place.tls()?;
        if let Some(url) = place.city()? {
            // A city: each ward is loaded at its first request (`http::CityWards`).
            let mut city = City::open(&url, false)?;
            storage::HubStorage::set_url(city.storage(), &format!("https://{addr}"))?;
            return Ok::<_, HubError>((Err(city), tls));
        }
        let mut enrolment = place.enrolment()?;
        enrolment.set_url(&format!("https://{addr}"))?;
        enrolment.rotate_tokens_after(serving.rotate_tokens_after);
        let mut hub = place.hub()?;
        let started = std::time::Instant::now();
        let loaded = hub.load_documents()?;
        tracing::info!(
            documents = loaded,
            ms = started.elapsed().as_millis(),
            "documents loaded"
        );
        Ok((Ok((hub, enrolment)), tls))
    })
    .await??;
    let config = axum_server::tls_rustls::RustlsConfig::from_config(tls.server_config()?);
    let acceptor_config = config.clone();
    // Connections are counted and capped before any TLS work; the handshake and the request
    // headers each have a timeout (`connections`).
    let connections = serving.limits.connections;
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(acceptor_config)
        .handshake_timeout(connections.handshake)
        .acceptor(connections::ConnectionLimit::new(connections));
    // HTTP/1.1 only (what devices speak): no protocol detection waiting on a byte a minute.
    // A connection's first request must arrive within the header timeout, and so must each
    // later one's headers.
    let mut server = axum_server::from_tcp(listener.into_std()?)?
        .acceptor(acceptor)
        .http1_only()
        .first_request_timeout(connections.headers);
    server
        .http_builder()
        .http1()
        .header_read_timeout(connections.headers);
    let announcement = http::Announcement::new(std::sync::RwLock::new(tls.next.clone()));
    let serving_pin = tls.pin.clone();
    let following = announcement.clone();
    let rotation = async move {
        match dir_for_rotation {
            Some(dir) => follow_rotation(dir, serving_pin, config, following).await,
            None => std::future::pending().await,
        }
    };
    ready(addr);
    // A ward's hub applies its retention rule; a city keeps its roll-ups current (each ward
    // it loads applies its own retention rule).
    let (app, background) = match wards {
        Ok((hub, enrolment)) => {
            let hub = std::sync::Arc::new(tokio::sync::Mutex::new(hub));
            let retention: Background = Box::pin(keep_retention(hub.clone()));
            let app = http::router_shared(hub, enrolment, serving.limits, announcement);
            (app, retention)
        }
        Err(catalogue) => {
            let city = std::sync::Arc::new(http::CityWards::new(
                catalogue,
                format!("https://{addr}"),
                serving.rotate_tokens_after,
            ));
            let rollups: Background = Box::pin(city.clone().keep_rollups());
            let app = http::router_city(city, serving.limits, announcement);
            (app, rollups)
        }
    };
    // One future: stopping the hub (the app's hosted hub is aborted) stops them all.
    tokio::select! {
        served = server.serve(app.into_make_service_with_connect_info::<SocketAddr>()) => served?,
        () = rotation => {}
        () = background => {}
    }
    Ok(())
}

/// A serving hub's task that runs as long as it serves.
type Background = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// How often a serving hub applies its retention rule (also once at start).
const RETENTION_CHECK: std::time::Duration = std::time::Duration::from_secs(3600);

/// Applies the retention rule (`hub retention`) at start and every hour: once it is due, what
/// is personal is erased from every residential group, history included.
pub(crate) async fn keep_retention(hub: http::SharedHub) {
    let mut interval = tokio::time::interval(RETENTION_CHECK);
    loop {
        interval.tick().await;
        let hub = hub.clone();
        let applied = tokio::task::spawn_blocking(move || {
            hub.blocking_lock().apply_retention(chrono::Utc::now())
        })
        .await;
        match applied {
            Ok(Ok(Some(erased))) if erased > 0 => {
                tracing::info!(erased, "retention period over: personal data erased")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot apply the retention rule"),
            Err(e) => tracing::error!(error = %e, "the retention task failed"),
        }
    }
}

/// How often a serving hub looks for a certificate rotation (`hub rotate-cert`).
const ROTATION_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Follows `hub rotate-cert` while serving: announces a new next pin, and serves the next
/// certificate once the rotation is finished, without a restart. A TLS file that cannot be
/// read is logged and the hub keeps what it serves.
async fn follow_rotation(
    dir: std::path::PathBuf,
    mut serving_pin: String,
    config: axum_server::tls_rustls::RustlsConfig,
    announcement: http::Announcement,
) {
    // The first look one period after start: `serve` has just read these files.
    let mut interval =
        tokio::time::interval_at(tokio::time::Instant::now() + ROTATION_CHECK, ROTATION_CHECK);
    loop {
        interval.tick().await;
        let read = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || HubTls::read(&dir)).await
        };
        let tls = match read {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read the hub's TLS files");
                continue;
            }
            Err(_) => continue,
        };
        if tls.pin != serving_pin {
            match tls.server_config() {
                Ok(server) => {
                    config.reload_from_config(server);
                    tracing::info!(pin = %tls.pin, "serving the hub's next certificate");
                    serving_pin = tls.pin.clone();
                }
                Err(e) => tracing::error!(error = %e, "cannot serve the next certificate"),
            }
        }
        if let Ok(mut next) = announcement.write() {
            if *next != tls.next {
                if let Some(n) = &tls.next {
                    tracing::info!(next_pin = %n.pin, "announcing the hub's next certificate");
                }
                *next = tls.next;
            }
        }
    }
}
