//! The hub's HTTP face (axum): routes, the JSON error every refusal carries, the limits that
//! come before any work (failed codes and tokens per address, bytes per device, timeouts,
//! requests in flight), and the OpenAPI description at `/openapi.json`.
//!
//! Two locks, never held together: the enrolment (token checks, joins, invites) and the
//! ward's documents (sync rounds). A token check or a guessed code never waits for a round.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use doorstep_domain::ErrorCode;
use doorstep_proto::api::*;
use doorstep_proto::wire::{self, SyncRequest, MAX_BODY};
use serde::de::DeserializeOwned;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::enrolment::{Authenticated, Enrolment};
use crate::hub::Hub;
use crate::storage::DeviceRecord;
use crate::tls::NextPin;
use crate::{HubError, Status};
use doorstep_proto::pin::NEXT_PIN_HEADER;

/// The limits that protect the hub from slow and greedy clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a request body may take to arrive, and a whole request to be answered
    /// (waiting for its turn at the hub included): a device on a dead link holds nothing for
    /// long.
    pub body: Duration,
    pub request: Duration,
    /// Requests in flight at once; more are answered 503 `hub_busy` at once (devices try
    /// again a moment later) instead of queueing without bound, each holding its body.
    pub in_flight: usize,
    /// Requests in flight from one address: one laptop on the ward's Wi-Fi holding slow
    /// requests open cannot take every slot. A device has one request in flight at a time,
    /// so even many devices behind one carrier address stay far below it.
    pub per_address: usize,
    /// Connections, counted before any request is read (a slow-loris never sends one).
    pub connections: crate::connections::Connections,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body: Duration::from_secs(30),
            request: Duration::from_secs(120),
            in_flight: 256,
            per_address: 32,
            connections: crate::connections::Connections::default(),
        }
    }
}
/// Failed invite codes or tokens one address may try per window before it must wait.
const MAX_FAILURES: usize = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

impl Status {
    fn http(self) -> StatusCode {
        match self {
            Status::BadRequest => StatusCode::BAD_REQUEST,
            Status::Unauthorized => StatusCode::UNAUTHORIZED,
            Status::Forbidden => StatusCode::FORBIDDEN,
            Status::NotFound => StatusCode::NOT_FOUND,
            Status::Conflict => StatusCode::CONFLICT,
            Status::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Status::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Status::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Status::Timeout => StatusCode::REQUEST_TIMEOUT,
            Status::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let busy = matches!(
            self,
            HubError::Refused {
                status: Status::Busy,
                ..
            }
        );
        let body = match self {
            HubError::Refused {
                status,
                code,
                message,
                doc,
            } => {
                let status = status.http();
                // Inside the request's span: its route, address and device come with it.
                // Refusal messages never repeat personal data (names, phones, notes, codes).
                tracing::info!(status = status.as_u16(), %code, %message, doc, "request refused");
                (status, ApiError { code, message, doc })
            }
            // The hub's own failure: the details stay in its log.
            other => {
                tracing::error!(error = %other, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ApiError {
                        code: other.code(),
                        message: "the hub failed to answer; its log says why".into(),
                        doc: None,
                    },
                )
            }
        };
        let mut response = (body.0, Json(body.1)).into_response();
        if busy {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

/// Failed attempts per client address, to make guessing codes and tokens hopeless. An attempt
/// is counted before it is tried and forgotten once it succeeds, so parallel requests cannot
/// slip past the limit while the first ones are still being checked; addresses with nothing
/// left in the window are dropped.
#[derive(Default)]
struct Limiter {
    attempts: HashMap<IpAddr, VecDeque<Instant>>,
}

/// Addresses kept before every entry is pruned of expired attempts.
const PRUNE_ABOVE: usize = 1024;

impl Limiter {
    /// Counts an attempt from `ip`, or refuses it (`None`) when the address has failed too
    /// often in the window.
    fn begin(&mut self, ip: IpAddr) -> Option<Instant> {
        let now = Instant::now();
        if self.attempts.len() > PRUNE_ABOVE {
            self.attempts.retain(|_, list| {
                while list.front().is_some_and(|t| now - *t > FAILURE_WINDOW) {
                    list.pop_front();
                }
                !list.is_empty()
            });
        }
        let list = self.attempts.entry(ip).or_default();
        while list.front().is_some_and(|t| now - *t > FAILURE_WINDOW) {
            list.pop_front();
        }
        if list.len() >= MAX_FAILURES {
            return None;
        }
        list.push_back(now);
        Some(now)
    }

    /// Forgets an attempt that did not fail.
    fn forget(&mut self, ip: IpAddr, at: Instant) {
        if let Some(list) = self.attempts.get_mut(&ip) {
            if let Some(i) = list.iter().position(|t| *t == at) {
                list.remove(i);
            }
            if list.is_empty() {
                self.attempts.remove(&ip);
            }
        }
    }
}

fn too_many_attempts() -> HubError {
    HubError::refused(
        Status::TooManyRequests,
        ErrorCode::TooManyAttempts,
        "too many failed attempts from this address: wait a minute",
    )
}

/// Request bytes each device may send per minute. A device's outbox sends at most ~900 KB a
/// round, so a working device stays far below it; a flooding one is refused before its bytes
/// are decoded.
const DEVICE_BYTES_PER_MINUTE: u64 = 16 << 20;
const BUDGET_WINDOW: Duration = Duration::from_secs(60);

/// What each device sent in its current minute.
#[derive(Default)]
struct DeviceBudget {
    spent: HashMap<doorstep_domain::Id, (Instant, u64)>,
}

impl DeviceBudget {
    /// Whether `device` may send `bytes` more this minute (and counts them if so).
    fn spend(&mut self, device: doorstep_domain::Id, bytes: u64) -> bool {
        let now = Instant::now();
        if self.spent.len() > PRUNE_ABOVE {
            self.spent
                .retain(|_, (start, _)| now - *start <= BUDGET_WINDOW);
        }
        let (start, used) = self.spent.entry(device).or_insert((now, 0));
        if now - *start > BUDGET_WINDOW {
            (*start, *used) = (now, 0);
        }
        if *used + bytes > DEVICE_BYTES_PER_MINUTE {
            return false;
        }
        *used += bytes;
        true
    }
}

#[derive(Clone)]
struct AppState {
    wards: Wards,
    limiter: Arc<Mutex<Limiter>>,
    budget: Arc<Mutex<DeviceBudget>>,
    limits: Limits,
    announcement: Announcement,
    /// Requests in flight per client address.
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// The next certificate pin the hub announces on sync answers, during a rotation of its key
/// (`tls.rs`); the serving hub updates it when the rotation command runs.
pub type Announcement = Arc<std::sync::RwLock<Option<NextPin>>>;

/// One ward as the routes use it: its documents and its enrolment.
#[derive(Clone)]
pub struct WardState {
    /// An async lock: requests wait for the hub without holding a thread, so 200 devices
    /// syncing at once use one blocking thread, not 200 (each with its own stack and arena).
    hub: SharedHub,
    /// Its own storage connection; held for the microseconds of a token check or a join.
    enrolment: Arc<Mutex<Enrolment>>,
}

impl WardState {
    pub fn new(hub: SharedHub, enrolment: Enrolment) -> WardState {
        WardState {
            hub,
            enrolment: Arc::new(Mutex::new(enrolment)),
        }
    }

    /// Runs `f` on the hub off the async threads (SQLite and Automerge are blocking work),
    /// once the hub is free. If `f` panics, the hub forgets the documents it holds in memory
    /// (storage is transactional, memory may hold half a round) and the request fails.
    async fn with_hub<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Hub) -> Result<T, HubError> + Send + 'static,
    ) -> Result<T, HubError> {
        let mut hub = self.hub.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut hub))).unwrap_or_else(
                |_| {
                    hub.forget_documents();
                    Err(HubError::Panicked)
                },
            )
        })
        .await?
    }

    /// Runs `f` on the enrolment off the async threads. The lock is a plain one: it is only
    /// ever taken on a blocking thread and held for one short database transaction.
    async fn with_enrolment<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Enrolment) -> Result<T, HubError> + Send + 'static,
    ) -> Result<T, HubError> {
        let enrolment = self.enrolment.clone();
        tokio::task::spawn_blocking(move || {
            let mut enrolment = enrolment.lock().unwrap_or_else(|e| e.into_inner());
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut enrolment)))
                .unwrap_or(Err(HubError::Panicked))
        })
        .await?
    }
}

/// The wards a hub process serves: one (a ward's own hub), or a city's (`city.rs`), each
/// found by the key its codes and tokens carry.
#[derive(Clone)]
enum Wards {
    One(WardState),
    City(Arc<CityWards>),
}

impl Wards {
    /// The ward a bearer token belongs to; a token naming no ward is refused as any unknown
    /// token is.
    async fn of_token(&self, token: &str) -> Result<WardState, HubError> {
        self.of_key(crate::city::ward_key_of_token(token), || {
            HubError::refused(
                Status::Unauthorized,
                ErrorCode::TokenUnknown,
                "unknown device token",
            )
        })
        .await
    }

    /// The ward an invite code is for; a code naming no ward is refused as a wrong code is.
    async fn of_code(&self, code: &str) -> Result<WardState, HubError> {
        self.of_key(crate::city::ward_key_of_code(code), || {
            HubError::refused(
                Status::Unauthorized,
                ErrorCode::InviteCodeInvalid,
                "invite code not valid: wrong, already used or expired",
            )
        })
        .await
    }

    async fn of_key(
        &self,
        key: Option<String>,
        refused: impl FnOnce() -> HubError,
    ) -> Result<WardState, HubError> {
        match self {
            Wards::One(ward) => Ok(ward.clone()),
            Wards::City(city) => city.ward(key).await?.ok_or_else(refused),
        }
    }
}

/// A city's wards as one hub process serves them: each loaded (documents, enrolment, its
/// retention task) at the first request that names it, then kept.
pub struct CityWards {
    catalogue: Arc<Mutex<crate::City>>,
    /// The address devices reach the city at, for the invites' links.
    url: String,
    rotate_tokens_after: Duration,
    loaded: tokio::sync::Mutex<HashMap<String, WardState>>,
}

impl CityWards {
    pub fn new(catalogue: crate::City, url: String, rotate_tokens_after: Duration) -> CityWards {
        CityWards {
            catalogue: Arc::new(Mutex::new(catalogue)),
            url,
            rotate_tokens_after,
            loaded: tokio::sync::Mutex::default(),
        }
    }

    /// The ward with `key`, loaded if needed; `None` when no ward has it. One load at a time
    /// (a ward's first request waits for another's load; later requests never do).
    async fn ward(&self, key: Option<String>) -> Result<Option<WardState>, HubError> {
        let Some(key) = key else { return Ok(None) };
        let mut loaded = self.loaded.lock().await;
        if let Some(ward) = loaded.get(&key) {
            return Ok(Some(ward.clone()));
        }
        let catalogue = self.catalogue.clone();
        let (url, rotate) = (self.url.clone(), self.rotate_tokens_after);
        let wanted = key.clone();
        let made = tokio::task::spawn_blocking(move || {
            let catalogue = catalogue.lock().unwrap_or_else(|e| e.into_inner());
            // Only a key as the catalogue spells it: `ward` also takes ids and lowercase.
            // A ward kept on its own LAN hub has no devices here: as no ward at all.
            let Some(listed) = catalogue
                .ward(&wanted)?
                .filter(|w| w.key == wanted && !w.schema.is_empty())
            else {
                return Ok::<_, HubError>(None);
            };
            let mut enrolment =
                Enrolment::with_storage(Box::new(catalogue.ward_storage(&listed)?))?;
            enrolment.set_url(&url)?;
            enrolment.rotate_tokens_after(rotate);
            let mut hub = Hub::with_storage(Box::new(catalogue.ward_storage(&listed)?))?;
            let documents = hub.load_documents()?;
            tracing::info!(ward = %listed.name, key = %listed.key, documents, "ward loaded");
            Ok(Some(WardState::new(
                Arc::new(tokio::sync::Mutex::new(hub)),
                enrolment,
            )))
        })
        .await??;
        if let Some(ward) = &made {
            tokio::spawn(crate::keep_retention(ward.hub.clone()));
            loaded.insert(key, ward.clone());
        }
        Ok(made)
    }
}

impl AppState {
    /// Counts an attempt from `ip` before it is tried (`None`: the address is blocked).
    fn begin_attempt(&self, ip: IpAddr) -> Option<Instant> {
        self.limiter.lock().ok().and_then(|mut l| l.begin(ip))
    }

    /// Settles a counted attempt: only a refused code or token stays counted.
    fn end_attempt<T>(&self, ip: IpAddr, at: Option<Instant>, result: &Result<T, HubError>) {
        let failed = matches!(
            result,
            Err(HubError::Refused {
                status: Status::Unauthorized,
                ..
            })
        );
        if let (Some(at), false) = (at, failed) {
            if let Ok(mut l) = self.limiter.lock() {
                l.forget(ip, at);
            }
        }
    }
}

/// The device behind a request's bearer token, checked (known, not revoked, not expired) on
/// every request before the handler runs.
struct Device {
    /// The device, and whether its token is due for rotation (the answer says so:
    /// `TOKEN_ROTATE_HEADER`).
    seen: Authenticated,
    token: String,
    /// Its ward.
    ward: WardState,
}

impl FromRequestParts<AppState> for Device {
    type Rejection = HubError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HubError> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        // A valid token is never blocked (devices behind one carrier address share it); a
        // refused one counts, and an address over the limit gets 429 instead of 401.
        let attempt = state.begin_attempt(ip);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .map(str::to_string);
        let result = match token {
            Some(token) => match state.wards.of_token(&token).await {
                Ok(ward) => {
                    let found = ward.clone();
                    ward.with_enrolment(move |enrolment| {
                        let seen = enrolment.authenticate(&token, Utc::now())?;
                        Ok(Device {
                            seen,
                            token,
                            ward: found,
                        })
                    })
                    .await
                }
                Err(e) => Err(e),
            },
            None => Err(HubError::refused(
                Status::Unauthorized,
                ErrorCode::TokenMissing,
                "missing device token (Authorization: Bearer ...)",
            )),
        };
        state.end_attempt(ip, attempt, &result);
        if attempt.is_none() && result.is_err() {
            return Err(too_many_attempts());
        }
        if let Ok(device) = &result {
            tracing::Span::current()
                .record("device", tracing::field::display(device.seen.device.id));
        }
        result
    }
}

fn timed_out() -> HubError {
    HubError::refused(
        Status::Timeout,
        ErrorCode::RequestTimeout,
        "the request took too long: try again",
    )
}

/// Reads a body of at most `MAX_BODY` bytes, arriving within the body timeout.
async fn read_body(state: &AppState, body: Body) -> Result<Bytes, HubError> {
    let read = axum::body::to_bytes(body, MAX_BODY);
    tokio::time::timeout(state.limits.body, read)
        .await
        .map_err(|_| timed_out())?
        .map_err(|_| {
            HubError::refused(
                Status::TooLarge,
                ErrorCode::BodyTooLarge,
                format!("body is larger than {MAX_BODY} bytes"),
            )
        })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HubError> {
    serde_json::from_slice(bytes).map_err(|e| {
        HubError::refused(
            Status::BadRequest,
            ErrorCode::BadRequest,
            format!("bad JSON body: {e}"),
        )
    })
}

#[utoipa::path(get, path = "/health", responses((status = 200, description = "The hub is up")))]
async fn health() -> &'static str {
    "ok"
}

#[utoipa::path(
    post, path = "/v1/join",
    request_body = JoinRequest,
    responses(
        (status = 200, body = JoinResponse, description = "Enrolled: the device's id, role, scope, token and ward document"),
        (status = 400, body = ApiError, description = "bad_request: the body is not a join request"),
        (status = 401, body = ApiError, description = "invite_code_invalid: wrong, used or expired invite code"),
        (status = 408, body = ApiError, description = "request_timeout: the body or the answer took too long"),
        (status = 413, body = ApiError, description = "body_too_large"),
        (status = 429, body = ApiError, description = "too_many_attempts from this address"),
        (status = 500, body = ApiError, description = "internal: the hub failed (details in its log)"),
        (status = 503, body = ApiError, description = "hub_busy: as many requests in flight as the hub serves; try again after Retry-After"),
    )
)]
async fn join(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: Body,
) -> Result<Json<JoinResponse>, HubError> {
    // Codes are what an attacker guesses: a blocked address is refused before any work.
    let attempt = state
        .begin_attempt(addr.ip())
        .ok_or_else(too_many_attempts)?;
    let result = match read_body(&state, body)
        .await
        .and_then(|b| parse_json::<JoinRequest>(&b))
    {
        Ok(request) => match state.wards.of_code(&request.code).await {
            Ok(ward) => {
                ward.with_enrolment(move |enrolment| enrolment.join(&request, Utc::now()))
                    .await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    state.end_attempt(addr.ip(), Some(attempt), &result);
    result.map(Json)
}

#[utoipa::path(
    post, path = "/v1/sync",
    request_body(content = Vec<u8>, content_type = "application/x-doorstep-sync",
        description = "A SyncRequest: one format byte (0x20 plain, 0x21 deflate) and a postcard message {cursor, pushes: [{doc, epoch, changes}]}"),
    responses(
        (status = 200, content_type = "application/x-doorstep-sync", body = Vec<u8>,
            description = "A SyncResponse: {cursor, more, hub_time, pulls: [{doc, epoch, snapshot, changes}]}. Header doorstep-token-rotate: the token is due for rotation (POST /v1/token). Header doorstep-next-pin: PIN.SIGNATURE, the hub's next certificate pin signed by its current key, during a rotation"),
        (status = 400, body = ApiError, description = "bad_sync_body: the body is not a sync message"),
        (status = 401, body = ApiError, description = "token_missing, token_unknown, token_expired or device_revoked"),
        (status = 403, body = ApiError, description = "out_of_scope: a document outside this device's scope"),
        (status = 404, body = ApiError, description = "unknown_document: no such residential group or literacy point"),
        (status = 409, body = ApiError, description = "missing_history: changes whose history the hub lacks"),
        (status = 408, body = ApiError, description = "request_timeout: the body or the answer took too long"),
        (status = 413, body = ApiError, description = "body_too_large (over 1 MiB) or push_too_large (too many documents or changes)"),
        (status = 422, body = ApiError, description = "a change the schema refuses: root_changed, schema_too_new, unknown_field, nested_object, wrong_type, field_deleted, record_deleted, bad_record_id, invalid_record, wrong_document, bad_change, or a record rule (id_number, text_too_long, name_without_consent, ...)"),
        (status = 429, body = ApiError, description = "too_many_attempts with bad tokens from this address, or device_rate_limited (over 16 MiB sent in a minute)"),
        (status = 500, body = ApiError, description = "internal: the hub failed (details in its log)"),
        (status = 503, body = ApiError, description = "hub_busy: as many requests in flight as the hub serves; try again after Retry-After"),
    ),
    security(("device_token" = []))
)]
async fn sync(
    State(state): State<AppState>,
    device: Device,
    body: Body,
) -> Result<Response, HubError> {
    let ward = device.ward;
    let Authenticated { device, rotate, .. } = device.seen;
    let device_id = device.id;
    let known_next_pin = device.next_pin.clone();
    let over_budget = || {
        HubError::refused(
            Status::TooManyRequests,
            ErrorCode::DeviceRateLimited,
            "this device sent too much in the last minute: wait a minute",
        )
    };
    let budget = |bytes: u64| {
        state
            .budget
            .lock()
            .is_ok_and(|mut b| b.spend(device_id, bytes))
    };
    if !budget(0) {
        return Err(over_budget());
    }
    let bytes = read_body(&state, body).await?;
    if !budget(bytes.len() as u64) {
        return Err(over_budget());
    }
    let request: SyncRequest = wire::decode(&bytes)?;
    let pushed = request.pushes.len();
    let response = ward
        .with_hub(move |hub| hub.sync(&device, request, Utc::now()))
        .await?;
    let next = state
        .announcement
        .read()
        .map(|next| next.clone())
        .unwrap_or_default();
    tracing::debug!(pushed, pulled = response.pulls.len(), "sync round");
    let mut answer = (
        [(header::CONTENT_TYPE, wire::CONTENT_TYPE)],
        wire::encode(&response),
    )
        .into_response();
    if rotate {
        answer
            .headers_mut()
            .insert(TOKEN_ROTATE_HEADER, header::HeaderValue::from_static("due"));
    }
    if let Some(next) = next {
        if let Ok(value) = header::HeaderValue::from_str(&next.announcement) {
            answer.headers_mut().insert(NEXT_PIN_HEADER, value);
            // Recorded once per device and pin, not on every round.
            if known_next_pin.as_deref() != Some(next.pin.as_str()) {
                ward.with_enrolment(move |enrolment| enrolment.told_next_pin(device_id, &next.pin))
                    .await?;
            }
        }
    }
    Ok(answer)
}

fn require_coordinator(device: &DeviceRecord) -> Result<(), HubError> {
    if device.role == doorstep_domain::Role::Coordinator {
        Ok(())
    } else {
        Err(HubError::refused(
            Status::Forbidden,
            ErrorCode::CoordinatorOnly,
            "only a coordinator's device may do this",
        ))
    }
}

#[utoipa::path(
    post, path = "/v1/invites",
    request_body = InviteRequest,
    responses(
        (status = 200, body = InviteResponse, description = "A single-use invite code"),
        (status = 400, body = ApiError, description = "bad_request, invalid_invite or a text rule (empty_text, id_number, ...)"),
        (status = 401, body = ApiError, description = "token_missing, token_unknown, token_expired or device_revoked"),
        (status = 403, body = ApiError, description = "coordinator_only"),
        (status = 404, body = ApiError, description = "unknown_group or unknown_point"),
        (status = 408, body = ApiError, description = "request_timeout: the body or the answer took too long"),
        (status = 413, body = ApiError, description = "body_too_large"),
        (status = 429, body = ApiError, description = "too_many_attempts with bad tokens from this address"),
        (status = 500, body = ApiError, description = "internal: the hub failed (details in its log)"),
        (status = 503, body = ApiError, description = "hub_busy: as many requests in flight as the hub serves; try again after Retry-After"),
    ),
    security(("device_token" = []))
)]
async fn invite(
    State(state): State<AppState>,
    device: Device,
    body: Body,
) -> Result<Json<InviteResponse>, HubError> {
    require_coordinator(&device.seen.device)?;
    let request: InviteRequest = parse_json(&read_body(&state, body).await?)?;
    device
        .ward
        .with_enrolment(move |enrolment| enrolment.invite(&request, Utc::now()))
        .await
        .map(Json)
}

#[utoipa::path(
    get, path = "/v1/devices",
    responses(
        (status = 200, body = Vec<DeviceInfo>, description = "Every enrolled device"),
        (status = 401, body = ApiError, description = "token_missing, token_unknown, token_expired or device_revoked"),
        (status = 403, body = ApiError, description = "coordinator_only"),
        (status = 429, body = ApiError, description = "too_many_attempts with bad tokens from this address"),
        (status = 500, body = ApiError, description = "internal: the hub failed (details in its log)"),
        (status = 503, body = ApiError, description = "hub_busy: as many requests in flight as the hub serves; try again after Retry-After"),
    ),
    security(("device_token" = []))
)]
async fn devices(device: Device) -> Result<Json<Vec<DeviceInfo>>, HubError> {
    require_coordinator(&device.seen.device)?;
    device
        .ward
        .with_enrolment(|enrolment| enrolment.devices())
        .await
        .map(Json)
}

#[utoipa::path(
    post, path = "/v1/devices/{id}/revoke",
    params(("id" = String, Path, description = "The device id")),
    responses(
        (status = 200, description = "Revoked: its next request is refused"),
        (status = 401, body = ApiError, description = "token_missing, token_unknown, token_expired or device_revoked"),
        (status = 403, body = ApiError, description = "coordinator_only"),
        (status = 404, body = ApiError, description = "unknown_device"),
        (status = 429, body = ApiError, description = "too_many_attempts with bad tokens from this address"),
        (status = 500, body = ApiError, description = "internal: the hub failed (details in its log)"),
        (status = 503, body = ApiError, description = "hub_busy: as many requests in flight as the hub serves; try again after Retry-After"),
    ),
    security(("device_token" = []))
)]
async fn revoke(device: Device, Path(id): Path<String>) -> Result<StatusCode, HubError> {
    require_coordinator(&device.seen.device)?;
    let id = doorstep_domain::Id::parse_str(&id).map_err(|_| {
        HubError::refused(
            Status::NotFound,
            ErrorCode::UnknownDevice,
            format!("unknown device {id:?}"),
        )
    })?;
    device
        .ward
        .with_enrolment(move |enrolment| enrolment.revoke(id, Utc::now()))
        .await?;
    Ok(StatusCode::OK)
}

fn household_id(id: &str) -> Result<doorstep_domain::Id, HubError> {
    doorstep_domain::Id::parse_str(id).map_err(|_| {
        HubError::refused(
            Status::NotFound,
            ErrorCode::UnknownHousehold,
            format!("unknown household {id:?}"),
        )
    })
}

#[utoipa::path(
    post, path = "/v1/households/{id}/erase",
    params(("id" = String, Path, description = "The household id")),
    responses(
        (status = 200, body = Erasure, description = "Erased: its name, phone, consent and its visits' notes, with every earlier value in its residential group's history; devices adopt the group's new epoch at their next sync"),
        (status = 401, body = ApiError, description = "token_missing, token_unknown, token_expired or device_revoked"),
        (status = 403, body = ApiError, description = "coordinator_only"),
        (status = 404, body = ApiError, description = "unknown_household"),
        (status = 429, body = ApiError, description = "too_many_attempts with bad tokens from this address"),
        (status = 500, body = ApiError, description = "internal: the hub failed (details in its log)"),
        (status = 503, body = ApiError, description = "hub_busy: as many requests in flight as the hub serves; try again after Retry-After"),
    ),
    security(("device_token" = []))
)]
async fn erase(device: Device, Path(id): Path<String>) -> Result<Json<Erasure>, HubError> {
    let (ward, by) = (device.ward, device.seen.device);
    require_coordinator(&by)?;
    let id = household_id(&id)?;
    ward.with_hub(move |hub| hub.erase_household(id, &by, Utc::now()))
        .await
        .map(Json)
}

#[utoipa::path(
    get, path = "/v1/households/{id}/history",
    params(("id" = String, Path, description = "The household id")),
    responses(
        (status = 200, body = Vec<HistoryEntry>, description = "Made, changed (which fields), visited, erased: by which device, when the hub received it"),
        (status = 401, body = ApiError, description = "token_missing, token_unknown, token_expired or device_revoked"),
        (status = 403, body = ApiError, description = "coordinator_only"),
        (status = 404, body = ApiError, description = "unknown_household"),
        (status = 429, body = ApiError, description = "too_many_attempts with bad tokens from this address"),
        (status = 500, body = ApiError, description = "internal: the hub failed (details in its log)"),
        (status = 503, body = ApiError, description = "hub_busy: as many requests in flight as the hub serves; try again after Retry-After"),
    ),
    security(("device_token" = []))
)]
async fn history(
    device: Device,
    Path(id): Path<String>,
) -> Result<Json<Vec<HistoryEntry>>, HubError> {
    require_coordinator(&device.seen.device)?;
    let id = household_id(&id)?;
    let devices = device
        .ward
        .with_enrolment(|enrolment| enrolment.devices())
        .await?;
    device
        .ward
        .with_hub(move |hub| hub.history(id, &devices))
        .await
        .map(Json)
}

#[utoipa::path(
    post, path = "/v1/token",
    responses(
        (status = 200, body = TokenResponse, description = "A new token; the one presented works until the new one is first used"),
        (status = 401, body = ApiError, description = "token_missing, token_unknown, token_expired or device_revoked"),
        (status = 409, body = ApiError, description = "token_rotating: the token was replaced within the last minute; keep using the one presented"),
        (status = 429, body = ApiError, description = "too_many_attempts with bad tokens from this address"),
        (status = 500, body = ApiError, description = "internal: the hub failed (details in its log)"),
        (status = 503, body = ApiError, description = "hub_busy: as many requests in flight as the hub serves; try again after Retry-After"),
    ),
    security(("device_token" = []))
)]
async fn token(device: Device) -> Result<Json<TokenResponse>, HubError> {
    let ward = device.ward.clone();
    ward.with_enrolment(move |enrolment| enrolment.rotate(&device.seen, &device.token, Utc::now()))
        .await
        .map(Json)
}

struct TokenScheme;

impl utoipa::Modify for TokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "device_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Doorstep ward hub", description = "Enrollment and sync of a ward's devices."),
    paths(health, join, sync, invite, devices, revoke, token, erase, history),
    components(schemas(JoinRequest, JoinResponse, InviteRequest, InviteResponse, DeviceInfo, TokenResponse, ApiError, Named, Erasure, HistoryEntry)),
    modifiers(&TokenScheme)
)]
struct ApiDoc;

/// The OpenAPI description of every endpoint.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Each request's span: its method, route (the template, never a value from the request),
/// client address and, once its token is checked, device. Never headers or bodies.
fn request_span(request: &axum::http::Request<Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unknown", |p| p.as_str());
    let addr = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_string())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route,
        addr = %addr,
        device = tracing::field::Empty,
    )
}

fn hub_busy() -> HubError {
    HubError::refused(
        Status::Busy,
        ErrorCode::HubBusy,
        "the hub is serving as many requests as it can: try again in a moment",
    )
}

impl CityWards {
    /// Runs `f` on the city's catalogue off the async threads.
    async fn with_catalogue<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut crate::City) -> Result<T, HubError> + Send + 'static,
    ) -> Result<T, HubError> {
        let catalogue = self.catalogue.clone();
        tokio::task::spawn_blocking(move || {
            let mut city = catalogue.lock().unwrap_or_else(|e| e.into_inner());
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut city)))
                .unwrap_or(Err(HubError::Panicked))
        })
        .await?
    }

    /// Keeps every ward's cached roll-up current: once a minute, those with changes stored
    /// since are computed again (the page reads only the cache).
    pub async fn keep_rollups(self: Arc<Self>) {
        let mut interval = tokio::time::interval(ROLLUP_REFRESH);
        loop {
            interval.tick().await;
            match self
                .with_catalogue(|city| city.refresh_rollups(Utc::now()))
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(wards = n, "roll-ups computed again"),
                Err(e) => tracing::error!(error = %e, "cannot refresh the city roll-up"),
            }
        }
    }
}

/// How often a city's serving process brings stale roll-ups up to date.
const ROLLUP_REFRESH: Duration = Duration::from_secs(60);

impl AppState {
    fn new(wards: Wards, limits: Limits, announcement: Announcement) -> AppState {
        AppState {
            wards,
            limiter: Arc::new(Mutex::new(Limiter::default())),
            budget: Arc::new(Mutex::new(DeviceBudget::default())),
            limits,
            announcement,
            in_flight: Arc::default(),
        }
    }
}

/// One request in flight from an address; counted down when the request ends (answered,
/// timed out or dropped).
struct InFlight {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.lock() {
            if let Some(n) = counts.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&self.ip);
                }
            }
        }
    }
}

/// Sheds a request (503 `hub_busy`) when its address already has `per_address` in flight.
async fn per_address(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(a)| a.ip());
    let admitted = state.in_flight.lock().is_ok_and(|mut counts| {
        let n = counts.entry(ip).or_insert(0);
        if *n >= state.limits.per_address {
            return false;
        }
        *n += 1;
        true
    });
    if !admitted {
        return hub_busy().into_response();
    }
    let _counted = InFlight {
        counts: state.in_flight.clone(),
        ip,
    };
    next.run(request).await
}

/// The hub's routes. Serve with `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn router(hub: Hub, enrolment: Enrolment) -> Router {
    router_with(hub, enrolment, Limits::default(), Announcement::default())
}

/// The hub's routes with other limits (tests use small ones) and the next pin to announce.
pub fn router_with(
    hub: Hub,
    enrolment: Enrolment,
    limits: Limits,
    announcement: Announcement,
) -> Router {
    let hub = Arc::new(tokio::sync::Mutex::new(hub));
    router_shared(hub, enrolment, limits, announcement)
}

/// The hub's documents, shared by the routes and the serving hub's own tasks (retention).
pub type SharedHub = Arc<tokio::sync::Mutex<Hub>>;

/// `router_with` on a hub the caller keeps a handle to.
pub fn router_shared(
    hub: SharedHub,
    enrolment: Enrolment,
    limits: Limits,
    announcement: Announcement,
) -> Router {
    let ward = WardState::new(hub, enrolment);
    routes(AppState::new(Wards::One(ward), limits, announcement))
}

/// The routes of a city deployment: every ward of `city`, each request routed by the key its
/// token or code carries, and the city's roll-up.
pub fn router_city(city: Arc<CityWards>, limits: Limits, announcement: Announcement) -> Router {
    routes(AppState::new(Wards::City(city), limits, announcement))
}

/// The bearer token of a request.
fn bearer(parts: &axum::http::HeaderMap) -> Option<String> {
    parts
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
}

/// The city of this hub, or the answer of an endpoint that does not exist (a ward's hub).
fn city_of(state: &AppState) -> Result<Arc<CityWards>, HubError> {
    match &state.wards {
        Wards::City(city) => Ok(city.clone()),
        Wards::One(_) => Err(HubError::refused(
            Status::NotFound,
            ErrorCode::UnknownEndpoint,
            "no such endpoint: see /openapi.json",
        )),
    }
}

/// The city roll-up page (Vietnamese first): it asks for a viewer's token and draws what
/// `/v1/city/rollup` answers. Served with a policy that lets it talk to this hub only.
async fn city_page(State(state): State<AppState>) -> Result<Response, HubError> {
    city_of(&state)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:; form-action 'none'; frame-ancestors 'none'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        include_str!("city.html"),
    )
        .into_response())
}

/// Every ward's roll-up, aggregates only, to a city viewer (`hub ward viewer`).
async fn city_rollup(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
) -> Result<Json<serde_json::Value>, HubError> {
    let city = city_of(&state)?;
    let attempt = state
        .begin_attempt(addr.ip())
        .ok_or_else(too_many_attempts)?;
    let token = bearer(&headers).unwrap_or_default();
    let result = city
        .with_catalogue(move |catalogue| {
            catalogue.viewer(&token)?.ok_or_else(|| {
                HubError::refused(
                    Status::Unauthorized,
                    ErrorCode::TokenUnknown,
                    "unknown viewer token",
                )
            })?;
            let wards = catalogue.wards()?;
            let rows = catalogue.rollups()?;
            Ok((wards, rows))
        })
        .await;
    state.end_attempt(addr.ip(), Some(attempt), &result);
    let (wards, rows) = result?;
    let list: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|row| {
            let name = wards
                .iter()
                .find(|w| w.key == row.key)
                .map(|w| w.name.clone())
                .unwrap_or_default();
            match &row.rollup {
                Some(r) => serde_json::json!({
                    "ward": name,
                    "current": row.current,
                    "forwarded": row.forwarded,
                    "coverage_percent": r.coverage_percent(),
                    "priority_reached_percent": r.priority_reached_percent(),
                    "vneid_activated_percent": r.vneid_activated_percent(),
                    "online_percent": r.online_percent(),
                    "rollup": r,
                }),
                None => serde_json::json!({ "ward": name, "current": false, "forwarded": row.forwarded, "rollup": null }),
            }
        })
        .collect();
    Ok(Json(serde_json::json!({ "wards": list, "at": Utc::now() })))
}

/// A ward's own hub (on its LAN) forwards its roll-up (`hub forward`).
async fn city_forward(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, HubError> {
    let city = city_of(&state)?;
    let attempt = state
        .begin_attempt(addr.ip())
        .ok_or_else(too_many_attempts)?;
    let token = bearer(&headers).unwrap_or_default();
    let result = match read_body(&state, body)
        .await
        .and_then(|b| parse_json::<doorstep_domain::rollup::WardRollup>(&b))
    {
        Ok(rollup) => {
            city.with_catalogue(move |catalogue| catalogue.take_forwarded(&token, &rollup))
                .await
        }
        Err(e) => Err(e),
    };
    state.end_attempt(addr.ip(), Some(attempt), &result);
    result?;
    Ok(Json(serde_json::json!({ "received_at": Utc::now() })))
}

fn routes(state: AppState) -> Router {
    let limits = state.limits;
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(|| async { Json(openapi()) }))
        .route("/v1/join", post(join))
        .route("/v1/sync", post(sync))
        .route("/v1/invites", post(invite))
        .route("/v1/devices", get(devices))
        .route("/v1/devices/{id}/revoke", post(revoke))
        .route("/v1/token", post(token))
        .route("/v1/households/{id}/erase", post(erase))
        .route("/v1/households/{id}/history", get(history))
        .route("/city", get(city_page))
        .route("/v1/city/rollup", get(city_rollup))
        .route("/v1/city/forward", post(city_forward))
        .fallback(|| async {
            HubError::refused(
                Status::NotFound,
                ErrorCode::UnknownEndpoint,
                "no such endpoint: see /openapi.json",
            )
        })
        .layer(DefaultBodyLimit::disable())
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(
                    |_: tower::BoxError| async { timed_out() },
                ))
                .timeout(limits.request),
        )
        // Shed, never queue: past the limit a request is answered at once (no body read),
        // so a flood costs the hub a refusal each, not memory. One semaphore for all routes.
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(
                    |_: tower::BoxError| async { hub_busy() },
                ))
                .load_shed()
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                    limits.in_flight,
                )),
        )
        // Before the global limit: an address over its share takes no slot.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            per_address,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// A hub for a new ward in a temporary directory, and the state its routes share.
    fn hub_with(limits: Limits) -> Result<(tempfile::TempDir, AppState), HubError> {
        let dir = tempfile::tempdir()?;
        Hub::init(
            dir.path(),
            "Phường Thử",
            &["Tổ 1".into(), "Tổ 2".into()],
            &crate::test_key(),
        )?;
        let mut hub = Hub::open(dir.path(), &crate::test_key())?;
        hub.load_documents()?;
        let enrolment = Enrolment::open(dir.path(), &crate::test_key())?;
        let ward = WardState::new(Arc::new(tokio::sync::Mutex::new(hub)), enrolment);
        let state = AppState::new(Wards::One(ward), limits, Announcement::default());
        Ok((dir, state))
    }

    /// A POST from 127.0.0.`host`, with a bearer token if given.
    fn post_from(
        host: u8,
        path: &str,
        token: Option<&str>,
        body: Body,
    ) -> Result<axum::http::Request<Body>, HubError> {
        let mut request = axum::http::Request::post(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let mut request = request.body(body).map_err(|_| HubError::Panicked)?;
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, host], 9))));
        Ok(request)
    }

    /// A wrong invite code, as a join's body.
    /// A well-made join (a key and its proof) with a code no invite has.
    fn wrong_code() -> Body {
        use base64::Engine;
        let key = doorstep_doc::DeviceKey::from_secret([4; 32]);
        let code = "AAAAA-BBBBB";
        let request = JoinRequest {
            code: code.into(),
            key: key.public().to_base64(),
            proof: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.sign_join(code)),
        };
        Body::from(serde_json::to_vec(&request).unwrap_or_default())
    }

    /// A body that never finishes arriving.
    fn never() -> Body {
        Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>())
    }

    async fn answer(
        app: &Router,
        request: axum::http::Request<Body>,
    ) -> Result<Response, HubError> {
        app.clone()
            .oneshot(request)
            .await
            .map_err(|_| HubError::Panicked)
    }

    /// Requests whose bodies never arrive, from `host`, each holding a slot until the body
    /// timeout.
    fn hold_slots(
        app: &Router,
        host: u8,
        count: usize,
    ) -> Vec<tokio::task::JoinHandle<Result<Response, HubError>>> {
        (0..count)
            .map(|_| {
                let (app, request) = (app.clone(), post_from(host, "/v1/join", None, never()));
                tokio::spawn(async move { answer(&app, request?).await })
            })
            .collect()
    }

    async fn code_of(response: Response) -> Result<ErrorCode, HubError> {
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .map_err(|_| HubError::Panicked)?;
        let answer: ApiError = serde_json::from_slice(&body).map_err(|_| HubError::Panicked)?;
        Ok(answer.code)
    }

    /// A request that panics inside the hub fails with a 500, and the next request is served
    /// from what storage holds.
    #[tokio::test]
    async fn a_panicking_request_leaves_the_hub_serving() -> Result<(), HubError> {
        let (_dir, state) = hub_with(Limits::default())?;
        let Wards::One(state) = state.wards else {
            unreachable!("one ward")
        };
        let failed = state
            .with_hub(|_| -> Result<(), HubError> { panic!("a bug met a request") })
            .await;
        assert!(matches!(failed, Err(HubError::Panicked)), "{failed:?}");
        let (ward, groups, _) = state.with_hub(|hub| hub.ward()).await?;
        assert_eq!(ward.name, "Phường Thử");
        assert_eq!(groups.len(), 2);
        Ok(())
    }

    /// A body that never finishes arriving is answered 408 with its code once the body
    /// timeout passes, and the hub holds nothing for it.
    #[tokio::test]
    async fn a_body_that_never_arrives_times_out_with_its_code() -> Result<(), HubError> {
        let limits = Limits {
            body: Duration::from_millis(200),
            request: Duration::from_secs(5),
            ..Limits::default()
        };
        let (_dir, state) = hub_with(limits)?;
        let app = routes(state);
        let started = Instant::now();
        let response = answer(&app, post_from(1, "/v1/join", None, never())?).await?;
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        // The body timeout, not the request timeout (which answers the same code).
        assert!(started.elapsed() < Duration::from_secs(4));
        assert_eq!(code_of(response).await?, ErrorCode::RequestTimeout);
        Ok(())
    }

    /// Past the limit of requests in flight, a request is answered 503 `hub_busy` with
    /// Retry-After, without waiting for a slot (waiting, it would have been read and refused
    /// 401); once the slow ones end, the hub serves again.
    #[tokio::test]
    async fn requests_past_the_in_flight_limit_are_shed_at_once() -> Result<(), HubError> {
        let limits = Limits {
            body: Duration::from_millis(1500),
            request: Duration::from_secs(5),
            in_flight: 2,
            ..Limits::default()
        };
        let (_dir, state) = hub_with(limits)?;
        let app = routes(state);
        let slow = hold_slots(&app, 1, 2);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let shed = answer(&app, post_from(2, "/v1/join", None, wrong_code())?).await?;
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            shed.headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        assert_eq!(code_of(shed).await?, ErrorCode::HubBusy);
        for slow in slow {
            assert_eq!(slow.await??.status(), StatusCode::REQUEST_TIMEOUT);
        }
        let served = answer(&app, post_from(2, "/v1/join", None, wrong_code())?).await?;
        assert_eq!(served.status(), StatusCode::UNAUTHORIZED);
        Ok(())
    }

    /// One address holding its share of slow requests is shed (503 `hub_busy`) while
    /// another address is served.
    #[tokio::test]
    async fn one_address_cannot_take_every_slot() -> Result<(), HubError> {
        let limits = Limits {
            body: Duration::from_millis(1500),
            request: Duration::from_secs(5),
            in_flight: 100,
            per_address: 2,
            ..Limits::default()
        };
        let (_dir, state) = hub_with(limits)?;
        let app = routes(state);
        let slow = hold_slots(&app, 1, 2);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let same = answer(&app, post_from(1, "/v1/join", None, wrong_code())?).await?;
        assert_eq!(same.status(), StatusCode::SERVICE_UNAVAILABLE);
        let other = answer(&app, post_from(2, "/v1/join", None, wrong_code())?).await?;
        assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
        for slow in slow {
            assert_eq!(slow.await??.status(), StatusCode::REQUEST_TIMEOUT);
        }
        // Its requests ended: the address is served again.
        let again = answer(&app, post_from(1, "/v1/join", None, wrong_code())?).await?;
        assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
        Ok(())
    }

    /// A sync round that takes long (here: the documents' lock held for two seconds) holds up
    /// neither a token check nor a join: both are answered from the enrolment's own
    /// connection while the round still holds the lock.
    #[tokio::test]
    async fn token_checks_and_joins_never_wait_for_a_sync_round() -> Result<(), HubError> {
        let (_dir, state) = hub_with(Limits::default())?;
        let app = routes(state.clone());
        let Wards::One(ward) = state.wards else {
            unreachable!("one ward")
        };
        let round = tokio::spawn(async move {
            ward.with_hub(|_| {
                std::thread::sleep(Duration::from_secs(2));
                Ok(())
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let join = answer(&app, post_from(1, "/v1/join", None, wrong_code())?).await?;
        let forged = post_from(1, "/v1/sync", Some("dst_forged"), Body::empty())?;
        let forged = answer(&app, forged).await?;
        assert_eq!(join.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
        assert!(!round.is_finished());
        round.await??;
        Ok(())
    }
}
