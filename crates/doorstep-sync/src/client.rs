//! The device's side of the hub API over HTTP: join with an invite code, sync, invite.
//!
//! A sync is a loop of rounds until the outbox is empty and the hub has nothing more. Each
//! round is one POST whose answer is applied in one store transaction, so a dropped
//! connection, a killed process or a refused body leaves the device exactly as it was before
//! that round, and the next sync simply repeats it (the hub ignores changes it already has).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use base64::Engine;
use chrono::{TimeZone, Utc};
use doorstep_domain::ErrorCode;
use doorstep_proto::api::*;
use doorstep_proto::pin;
use doorstep_proto::wire::{self, Push, SyncRequest, SyncResponse, WireError};
use doorstep_store::{DeviceIdentity, DocId, IncomingDoc, Store, StoreError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{de::DeserializeOwned, Serialize};
use thiserror::Error;
use tokio::sync::Mutex;
use ts_rs::TS;

/// Largest JSON answer a device reads (a join's answer carries the ward document).
const MAX_JSON_ANSWER: usize = 4 << 20;
/// Rounds one sync may take before it stops and says so (a 15,000-household ward needs ~3).
const MAX_ROUNDS: usize = 200;

/// Most bytes of pulled documents applied in one transaction: a long pull (a first sync) on a
/// fast link is received round by round but written a few rounds at a time, each write
/// rewriting the query tables' index pages it touches once instead of once a round. What is
/// held unwritten stays under half the pull and under `APPLY_WITHIN` of receiving, so a cut
/// connection loses little: a slow link (a round taking longer) writes every round as it comes.
const APPLY_BYTES: u64 = 8 * 1024 * 1024;
const APPLY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);
/// Times a request is sent to a hub that answers 503 `hub_busy` before the device gives up
/// (the hub sheds load rather than queue it; it says when to come back, ~1 s).
const BUSY_ATTEMPTS: usize = 5;
/// How long an idle kept-alive connection is reused: a sync every few minutes in a session
/// reuses one TLS connection (~1 KB a round instead of ~2 KB with a handshake), while an
/// alley's dropped links and NAT timeouts (often a minute or two) rarely outlive it.
const KEEP_ALIVE: Duration = Duration::from_secs(50);

/// Why a join, sync or invite failed. The device's data is unchanged by a failed round.
#[derive(Debug, Error)]
pub enum SyncError {
    #[error("the app is locked: unlock it with the PIN")]
    Locked,
    #[error("this device has not joined a hub: run `doorstep join --hub URL --code CODE`")]
    NotJoined,
    #[error("{0:?} is not a hub address like https://192.168.1.10:7300")]
    BadUrl(String),
    #[error("{0} speaks HTTPS: join with the invite's link or give its --pin")]
    NoPin(String),
    #[error(
        "{0}: plain http is only for a hub on this machine; use the https address and its pin"
    )]
    PlainHttp(String),
    #[error(
        "the hub at {0} is not the one this device joined: its certificate does not match the pin"
    )]
    PinMismatch(String),
    #[error("cannot reach the hub at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the hub refused ({status}): {message}{}", doc.as_ref().map(|d| format!(" [{d}]")).unwrap_or_default())]
    Refused {
        status: u16,
        code: ErrorCode,
        message: String,
        doc: Option<String>,
    },
    #[error("the hub answered with a bad body: {0}")]
    BadAnswer(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("sync did not finish after {MAX_ROUNDS} rounds; run it again")]
    TooManyRounds,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// The stable code of this error: the hub's own code for a refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            SyncError::NotJoined => ErrorCode::NotJoined,
            SyncError::Locked => ErrorCode::Locked,
            SyncError::BadUrl(_) | SyncError::PlainHttp(_) => ErrorCode::BadHubUrl,
            SyncError::NoPin(_) => ErrorCode::PinMissing,
            SyncError::PinMismatch(_) => ErrorCode::HubPinMismatch,
            SyncError::Unreachable { .. } => ErrorCode::HubUnreachable,
            SyncError::Refused { code, .. } => *code,
            SyncError::BadAnswer(_) => ErrorCode::BadHubAnswer,
            SyncError::TooManyRounds => ErrorCode::TooManyRounds,
            SyncError::Store(e) => e.code(),
        }
    }
}

impl From<WireError> for SyncError {
    fn from(e: WireError) -> Self {
        SyncError::BadAnswer(Box::new(e))
    }
}

/// What one sync did, in bytes on the wire (bodies, HTTP headers aside) and documents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct SyncReport {
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub docs_sent: u64,
    pub docs_received: u64,
    pub docs_unchanged: u64,
    pub rounds: u64,
    /// Transactions the rounds were written in: fewer than the rounds when a long pull's
    /// rounds are written a few at a time.
    pub writes: u64,
    /// Changes the hub has still not acknowledged (0 after a complete sync).
    pub outbox: u64,
    /// Documents the hub had rewritten to erase personal data, taken in place of this
    /// device's copies.
    pub epochs_adopted: u64,
    /// Erased households whose edits on this device (not synced before the erasure) were
    /// dropped, never sent.
    pub erased_edits_dropped: Vec<doorstep_domain::Id>,
    /// Documents the hub refused: kept on this device, the rest synced without them.
    pub refused: Vec<doorstep_domain::SyncProblem>,
    /// The hub had been restored from a backup: this device sent it what it lacked.
    pub hub_restored: bool,
}

/// How far a sync has come, after each round: what the app's progress bar and the CLI's draw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct SyncProgress {
    pub rounds: u64,
    /// Documents of this device's scope received so far in this sync, of how many it has.
    pub documents_done: u64,
    pub documents_total: u64,
    /// Documents' bytes received so far (before the wire's compression), of how many: those
    /// and what the hub says is still to pull.
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Whether a refusal naming a document is about that document (its changes, or the device's
/// right to write it), so the rest of the outbox may sync without it; any other refusal
/// (token, size, load) is about the whole round.
fn refuses_the_document(status: u16) -> bool {
    matches!(status, 403 | 404 | 409 | 422)
}

/// An HTTP client for one hub: HTTPS to the certificate key pinned when the device joined, or
/// plain HTTP to a loopback address (a hub on the same machine) and nowhere else.
#[derive(Debug, Clone)]
pub struct HubClient {
    http: reqwest::Client,
    base: String,
}

/// The connection pools of the hubs this process talked to, by address and pin: a client
/// made for the next sync reuses the kept-alive connection of the last one.
static POOLS: LazyLock<std::sync::Mutex<HashMap<PoolKey, reqwest::Client>>> =
    LazyLock::new(Default::default);
/// A hub's address and the pins its certificate may match.
type PoolKey = (String, Vec<String>);
/// Pools kept at most (tests talk to many hubs; a device to one or two).
const MAX_POOLS: usize = 8;

/// Trusts exactly the certificate key whose pin the device holds; the handshake's signatures
/// are still checked, so only the holder of that key passes.
#[derive(Debug)]
struct PinVerifier {
    pins: Vec<String>,
    provider: Arc<CryptoProvider>,
}

/// Whether `error` came from a hub whose certificate did not match the pin.
fn is_pin_mismatch(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        )) = e.downcast_ref::<rustls::Error>()
        {
            return true;
        }
        // An io::Error's `source` skips the error it wraps (TLS errors come wrapped twice).
        source = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    false
}

/// A short pause of 0–500 ms, so that devices shed together do not come back together.
fn jitter() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(u64::from(nanos % 500))
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = doorstep_proto::pin::certificate_pin(end_entity).ok();
        if presented.is_some_and(|p| self.pins.contains(&p)) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// TLS that trusts exactly the certificate key pinned as `pin` (none: no hub at all).
pub fn pinned_tls(pin: Option<&str>) -> Result<rustls::ClientConfig, rustls::Error> {
    tls_trusting(pin.into_iter().map(str::to_string).collect())
}

/// TLS that trusts exactly the certificate keys of `pins`.
fn tls_trusting(pins: Vec<String>) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinVerifier {
        pins,
        provider: provider.clone(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// Whether `url`'s host is this machine.
fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

impl HubClient {
    /// A client for the hub at `url`, trusting the certificate key `pin` (needed for https).
    pub fn new(url: &str, pin: Option<&str>) -> Result<Self, SyncError> {
        Self::with_next_pin(url, pin, None)
    }

    /// A client for the device's hub at `url`, trusting its pinned key and, during a rotation
    /// of the hub's certificate, the next one it announced.
    pub fn for_identity(url: &str, identity: &DeviceIdentity) -> Result<Self, SyncError> {
        Self::with_next_pin(url, identity.pin.as_deref(), identity.next_pin.as_deref())
    }

    fn with_next_pin(
        url: &str,
        pin: Option<&str>,
        next_pin: Option<&str>,
    ) -> Result<Self, SyncError> {
        let base = url.trim().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base).map_err(|_| SyncError::BadUrl(url.to_string()))?;
        match parsed.scheme() {
            "https" if pin.is_none() => return Err(SyncError::NoPin(base)),
            "https" => {}
            "http" if is_loopback(&parsed) => {}
            "http" => return Err(SyncError::PlainHttp(base)),
            _ => return Err(SyncError::BadUrl(url.to_string())),
        }
        let pins: Vec<String> = pin
            .into_iter()
            .chain(next_pin)
            .map(str::to_string)
            .collect();
        let key = (base.clone(), pins.clone());
        let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(http) = pools.get(&key) {
            return Ok(HubClient {
                http: http.clone(),
                base,
            });
        }
        let tls = tls_trusting(pins).map_err(|e| SyncError::BadUrl(format!("{url}: {e}")))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(KEEP_ALIVE)
            .pool_max_idle_per_host(1)
            .tcp_keepalive(Duration::from_secs(15))
            // The certificate a hub served: its pin, and its key to check a next-pin
            // announcement against.
            .tls_info(true)
            .build()
            .map_err(|e| SyncError::BadUrl(format!("{url}: {e}")))?;
        if pools.len() >= MAX_POOLS {
            pools.clear();
        }
        pools.insert(key, http.clone());
        Ok(HubClient { http, base })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: reqwest::Error) -> SyncError {
        if is_pin_mismatch(&e) {
            return SyncError::PinMismatch(self.base.clone());
        }
        SyncError::Unreachable {
            url: self.base.clone(),
            source: e,
        }
    }

    async fn refused(&self, response: reqwest::Response) -> SyncError {
        let status = response.status().as_u16();
        let body = self.read_capped(response, MAX_JSON_ANSWER).await;
        match body.map(|b| serde_json::from_slice::<ApiError>(&b)) {
            Ok(Ok(e)) => SyncError::Refused {
                status,
                code: e.code,
                message: e.message,
                doc: e.doc,
            },
            _ => SyncError::Refused {
                status,
                code: ErrorCode::HubFailed,
                message: "no reason given".into(),
                doc: None,
            },
        }
    }

    /// Sends a request; a refusal becomes `SyncError::Refused` with the hub's reason. A hub
    /// that is shedding load (503 `hub_busy`) is asked again after the pause it names.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, SyncError> {
        for _ in 1..BUSY_ATTEMPTS {
            let Some(again) = request.try_clone() else {
                break;
            };
            let response = again.send().await.map_err(|e| self.unreachable(e))?;
            if response.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE {
                return self.checked(response).await;
            }
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1)
                .min(10);
            match self.refused(response).await {
                SyncError::Refused {
                    code: ErrorCode::HubBusy,
                    ..
                } => tokio::time::sleep(Duration::from_secs(wait) + jitter()).await,
                other => return Err(other),
            }
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        self.checked(response).await
    }

    async fn checked(&self, response: reqwest::Response) -> Result<reqwest::Response, SyncError> {
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.refused(response).await)
        }
    }

    /// Reads an answer of at most `limit` bytes: a device caps what it reads as the hub caps
    /// what it accepts.
    async fn read_capped(
        &self,
        mut response: reqwest::Response,
        limit: usize,
    ) -> Result<Vec<u8>, SyncError> {
        let too_large = || SyncError::BadAnswer(format!("more than {limit} bytes").into());
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut out = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unreachable(e))? {
            if out.len() + chunk.len() > limit {
                return Err(too_large());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    async fn json<R: DeserializeOwned>(&self, response: reqwest::Response) -> Result<R, SyncError> {
        let bytes = self.read_capped(response, MAX_JSON_ANSWER).await?;
        serde_json::from_slice(&bytes).map_err(|e| SyncError::BadAnswer(Box::new(e)))
    }

    async fn post_json<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: &B,
    ) -> Result<R, SyncError> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.json(self.send(request).await?).await
    }

    /// Forwards a ward's roll-up to its city (`hub forward`), with the ward's forwarding token.
    pub async fn forward_rollup(
        &self,
        token: &str,
        rollup: &doorstep_domain::rollup::WardRollup,
    ) -> Result<serde_json::Value, SyncError> {
        self.post_json("/v1/city/forward", Some(token), rollup)
            .await
    }

    /// Redeems an invite code for the device holding `key`, which proves it by signing it.
    pub async fn join(
        &self,
        code: &str,
        key: &doorstep_doc::DeviceKey,
    ) -> Result<JoinResponse, SyncError> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        self.post_json(
            "/v1/join",
            None,
            &JoinRequest {
                code: code.to_string(),
                key: key.public().to_base64(),
                proof: b64.encode(key.sign_join(code)),
            },
        )
        .await
    }

    /// Asks the hub for an invite code (coordinator devices).
    pub async fn invite(
        &self,
        token: &str,
        request: &InviteRequest,
    ) -> Result<InviteResponse, SyncError> {
        self.post_json("/v1/invites", Some(token), request).await
    }

    /// The hub's enrolled devices (coordinator devices).
    pub async fn devices(&self, token: &str) -> Result<Vec<DeviceInfo>, SyncError> {
        let request = self
            .http
            .get(format!("{}/v1/devices", self.base))
            .bearer_auth(token);
        self.json(self.send(request).await?).await
    }

    /// Revokes a device (coordinator devices).
    pub async fn revoke(&self, token: &str, device: doorstep_domain::Id) -> Result<(), SyncError> {
        let request = self
            .http
            .post(format!("{}/v1/devices/{device}/revoke", self.base))
            .bearer_auth(token);
        self.send(request).await.map(|_| ())
    }

    /// Erases a household (coordinator devices).
    pub async fn erase_household(
        &self,
        token: &str,
        household: doorstep_domain::Id,
    ) -> Result<Erasure, SyncError> {
        let request = self
            .http
            .post(format!("{}/v1/households/{household}/erase", self.base))
            .bearer_auth(token);
        self.json(self.send(request).await?).await
    }

    /// A household's history (coordinator devices).
    pub async fn history(
        &self,
        token: &str,
        household: doorstep_domain::Id,
    ) -> Result<Vec<HistoryEntry>, SyncError> {
        let request = self
            .http
            .get(format!("{}/v1/households/{household}/history", self.base))
            .bearer_auth(token);
        self.json(self.send(request).await?).await
    }

    /// A new token for this device (the hub said its token is due).
    pub async fn rotate_token(&self, token: &str) -> Result<TokenResponse, SyncError> {
        let request = self
            .http
            .post(format!("{}/v1/token", self.base))
            .bearer_auth(token);
        self.json(self.send(request).await?).await
    }

    /// One sync round: a request body out, a response body back, and whether the hub wants
    /// the device's token rotated.
    ///
    /// A round is safe to repeat (the hub skips changes it has; the cursor is the device's),
    /// so when a kept-alive connection turns out dead mid-round (a NAT forgot it, the Wi-Fi
    /// changed) it is sent once more on a fresh connection.
    pub async fn round(&self, token: &str, body: Vec<u8>) -> Result<Round, SyncError> {
        let request = self
            .http
            .post(format!("{}/v1/sync", self.base))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, wire::CONTENT_TYPE)
            .body(body);
        let retry = request.try_clone();
        let response = match (self.send(request).await, retry) {
            (Err(SyncError::Unreachable { source, .. }), Some(retry))
                if !source.is_connect() && !source.is_timeout() =>
            {
                self.send(retry).await?
            }
            (result, _) => result?,
        };
        let rotate = response.headers().contains_key(TOKEN_ROTATE_HEADER);
        let certificate = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .map(<[u8]>::to_vec);
        let announcement = response
            .headers()
            .get(pin::NEXT_PIN_HEADER)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let body = self.read_capped(response, wire::MAX_BODY).await?;
        Ok(Round {
            body,
            rotate,
            certificate,
            announcement,
        })
    }
}

/// The next pin a hub announced, if the certificate it is serving (`cert`, already matched
/// against the device's pins) signed it; `None` for anything else, which is ignored.
/// A rotation of the hub's certificate, as one round saw it: the next pin the hub vouched for
/// (`announced`) is learnt, the first one only: a later announcement never replaces it (a
/// copy of the current key must not redirect devices that already know the next one); once
/// the hub serves the next pin (`served`), it is the pin. Whether the identity changed.
fn follow_rotation(
    identity: &mut DeviceIdentity,
    announced: Option<String>,
    served: Option<String>,
) -> bool {
    let mut changed = false;
    if let Some(next) = announced {
        if identity.next_pin.is_none() && identity.pin.as_ref() != Some(&next) {
            identity.next_pin = Some(next);
            changed = true;
        }
    }
    if identity.next_pin.is_some() && served == identity.next_pin {
        identity.pin = identity.next_pin.take();
        changed = true;
    }
    changed
}

fn verified_next_pin(cert: &[u8], announcement: &str) -> Option<String> {
    let (next, signature) = pin::parse_next_pin_announcement(announcement)?;
    let public = pin::certificate_public_key(cert).ok()?;
    let message = pin::next_pin_message(&next);
    let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    let (_, ecdsa) = algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == SignatureScheme::ECDSA_NISTP256_SHA256)?;
    ecdsa
        .iter()
        .any(|alg| alg.verify_signature(&public, &message, &signature).is_ok())
        .then_some(next)
}

/// What one round brought back.
#[derive(Debug)]
pub struct Round {
    pub body: Vec<u8>,
    /// The hub asked for the device's token to be rotated.
    pub rotate: bool,
    /// The certificate the hub served (DER), and its next-pin announcement if it made one:
    /// read only during a rotation (`next_pin`, `served_pin`), never parsed on other rounds.
    certificate: Option<Vec<u8>>,
    announcement: Option<String>,
}

impl Round {
    /// The next pin the hub announced, if the certificate it served signed it.
    pub fn next_pin(&self) -> Option<String> {
        verified_next_pin(self.certificate.as_deref()?, self.announcement.as_deref()?)
    }

    /// The pin of the certificate the hub served.
    pub fn served_pin(&self) -> Option<String> {
        pin::certificate_pin(self.certificate.as_deref()?).ok()
    }
}

/// A store a sync can lock for a moment: the caller's own (`&mut Store`, the CLI's) or one it
/// shares with an app that keeps recording visits while a sync waits on the network.
pub trait StoreHandle: Send {
    /// The store, or [`SyncError::Locked`] when it was locked (closed) meanwhile.
    fn store(&mut self) -> Result<&mut Store, SyncError>;
}

impl StoreHandle for Store {
    fn store(&mut self) -> Result<&mut Store, SyncError> {
        Ok(self)
    }
}

impl StoreHandle for &mut Store {
    fn store(&mut self) -> Result<&mut Store, SyncError> {
        Ok(self)
    }
}

/// An app's store: `None` while the app is locked.
impl StoreHandle for Option<Store> {
    fn store(&mut self) -> Result<&mut Store, SyncError> {
        self.as_mut().ok_or(SyncError::Locked)
    }
}

/// Joins the hub at `hub_url` with an invite code. The device's existing records are kept;
/// a device of another ward is refused.
pub async fn join(
    store: &mut Store,
    hub_url: &str,
    code: &str,
    pin: Option<&str>,
) -> Result<DeviceIdentity, SyncError> {
    join_shared(&Mutex::new(store), hub_url, code, pin).await
}

/// `join` on a shared store, locked only once the hub has answered.
pub async fn join_shared<S: StoreHandle>(
    store: &Mutex<S>,
    hub_url: &str,
    code: &str,
    pin: Option<&str>,
) -> Result<DeviceIdentity, SyncError> {
    let client = HubClient::new(hub_url, pin)?;
    // The device's key, to sign the join with (the store is not held while the hub answers).
    let key = {
        let mut guard = store.lock().await;
        doorstep_doc::DeviceKey::from_secret(guard.store()?.device_key().secret())
    };
    let answer = client.join(code, &key).await?;
    drop(key);
    let ward = base64::engine::general_purpose::STANDARD
        .decode(&answer.ward_document)
        .map_err(|e| SyncError::BadAnswer(Box::new(e)))?;
    let identity = DeviceIdentity {
        hub_url: client.url().to_string(),
        pin: pin.map(str::to_string),
        next_pin: None,
        device_id: answer.device_id,
        name: answer.name,
        token: answer.token,
        role: answer.role,
        ward_id: answer.ward_id,
        groups: answer.groups.iter().map(|g| g.id).collect(),
        points: answer.points.iter().map(|p| p.id).collect(),
    };
    let mut guard = store.lock().await;
    let store = guard.store()?;
    if let Some(ours) = store.ward_id()? {
        if ours != identity.ward_id {
            return Err(StoreError::OtherWard {
                ours,
                theirs: identity.ward_id,
            }
            .into());
        }
    }
    // Joined anew (handed to another person, say): work not yet synced nor backed up must
    // still be sendable under the new identity, or the join is refused and the old identity
    // kept (the invite is spent: the coordinator makes another once the work is saved).
    let stranded: u64 = store
        .unsaved_documents()?
        .into_iter()
        .filter(|(doc, _)| !identity.may_write(*doc))
        .map(|(_, changes)| changes)
        .sum();
    if stranded > 0 {
        return Err(StoreError::UnsyncedWork { changes: stranded }.into());
    }
    // The cursor starts again at 0: a new scope may hold documents this device never had.
    store.apply_sync(
        &[],
        &[IncomingDoc {
            doc: DocId::Ward(answer.ward_id),
            epoch: 0,
            snapshot: Some(ward),
            changes: vec![],
            signatures: vec![],
        }],
        Utc::now(),
        &[],
        0,
    )?;
    store.set_identity(&identity)?;
    Ok(identity)
}

/// Syncs with the device's hub (or `hub_url`, which becomes its hub once it answered with the
/// pinned key) until both sides hold the same documents of the device's scope.
pub async fn sync(store: &mut Store, hub_url: Option<&str>) -> Result<SyncReport, SyncError> {
    sync_shared(&Mutex::new(store), hub_url).await
}

/// `sync` on a shared store. The store is locked only to take what to send and to apply the
/// answer, never while the hub is being waited for (up to the request timeout on a slow
/// link): recording a visit meanwhile waits for a lock held for milliseconds. A change made
/// while a round is on the wire is sent by the next round.
pub async fn sync_shared<S: StoreHandle>(
    shared: &Mutex<S>,
    hub_url: Option<&str>,
) -> Result<SyncReport, SyncError> {
    sync_shared_with(shared, hub_url, &|_| {}).await
}

/// `sync_shared`, telling `progress` after each round how far it has come.
pub async fn sync_shared_with<S: StoreHandle>(
    shared: &Mutex<S>,
    hub_url: Option<&str>,
    progress: &(dyn Fn(&SyncProgress) + Send + Sync),
) -> Result<SyncReport, SyncError> {
    let (mut identity, documents_total) = {
        let mut guard = shared.lock().await;
        let store = guard.store()?;
        let identity = store.identity()?.ok_or(SyncError::NotJoined)?;
        // The documents of its scope: a coordinator's are the whole ward's.
        let total = match doorstep_doc::readable(
            identity.role,
            identity.ward_id,
            &identity.groups,
            &identity.points,
        ) {
            Some(scope) => scope.len() as u64,
            None => 1 + store.groups()?.len() as u64 + store.points()?.len() as u64,
        };
        (identity, total)
    };
    let mut done = SyncProgress {
        documents_total,
        ..SyncProgress::default()
    };
    // A new address is kept only once a hub holding the pinned key answered there: an
    // address that turned out to be someone else's is never remembered. A rotated token and
    // a new pin are kept the same way, with the round that brought them.
    let mut identity_changed = false;
    if let Some(url) = hub_url {
        let client = HubClient::for_identity(url, &identity)?;
        if client.url() != identity.hub_url {
            identity.hub_url = client.url().to_string();
            identity_changed = true;
        }
    }
    let client = HubClient::for_identity(&identity.hub_url, &identity)?;
    let mut report = SyncReport::default();
    let mut sent = std::collections::HashSet::new();
    let mut received = std::collections::HashSet::new();
    let mut resent = std::collections::HashSet::new();
    // Documents the hub refused in this sync: set aside (their changes stay in the outbox,
    // offered again next sync) so that the rest of the outbox syncs around them.
    let mut held = std::collections::HashSet::new();
    // Rounds received but not yet applied (only documents pulled, nothing pushed), and the
    // hub's cursor after them.
    let mut pending: Vec<IncomingDoc> = Vec::new();
    let mut pending_bytes = 0u64;
    let mut pending_cursor: Option<u64> = None;
    let mut pending_since: Option<std::time::Instant> = None;
    for _ in 0..MAX_ROUNDS {
        let (outbox, body, known) = {
            let mut guard = shared.lock().await;
            let store = guard.store()?;
            let outbox = store.outbox_without(wire::BATCH_BYTES, &held)?;
            let request = SyncRequest {
                cursor: match pending_cursor {
                    Some(c) => c,
                    None => store.sync_cursor()?,
                },
                incarnation: store.hub_incarnation()?,
                pushes: outbox
                    .iter()
                    .map(|o| Push {
                        doc: o.doc.into(),
                        epoch: o.epoch,
                        changes: o.changes.clone(),
                        signatures: o.signatures.clone(),
                    })
                    .collect(),
            };
            (outbox, wire::encode(&request), request.incarnation)
        };
        report.sent_bytes += body.len() as u64;
        let mut round = match client.round(&identity.token, body).await {
            // The hub lacks history this device assumed it had: send the whole document once.
            Err(SyncError::Refused {
                status: 409,
                doc: Some(doc),
                ..
            }) if resent.insert(doc.clone()) => {
                let doc = doc.parse().map_err(StoreError::from)?;
                shared.lock().await.store()?.resend_all(doc)?;
                continue;
            }
            // One document refused for what it holds or where it belongs: keep it aside with
            // the hub's reason, and send the round again without it.
            Err(SyncError::Refused {
                status,
                code,
                message,
                doc: Some(doc),
            }) if refuses_the_document(status) => {
                let id: DocId = doc.parse().map_err(StoreError::from)?;
                if !outbox.iter().any(|o| o.doc == id) || !held.insert(id) {
                    return Err(SyncError::Refused {
                        status,
                        code,
                        message,
                        doc: Some(doc),
                    });
                }
                tracing::warn!(%doc, %code, %message, "the hub refused a document; syncing the rest");
                shared
                    .lock()
                    .await
                    .store()?
                    .set_sync_problem(id, code, &message, Utc::now())?;
                continue;
            }
            other => other?,
        };
        let answer = std::mem::take(&mut round.body);
        report.received_bytes += answer.len() as u64;
        report.rounds += 1;
        let response: SyncResponse = wire::decode(&answer)?;
        // Counted as the hub counts what remains: the documents' bytes, not the (deflated)
        // bodies on the wire.
        done.rounds += 1;
        let pulled_bytes = response
            .pulls
            .iter()
            .map(|p| {
                p.snapshot.as_ref().map_or(0, Vec::len)
                    + p.changes.iter().map(|c| c.bytes.len()).sum::<usize>()
            })
            .sum::<usize>() as u64;
        done.bytes_done += pulled_bytes;
        done.bytes_total = done.bytes_done + response.remaining;
        // The hub was restored from a backup since this device last synced: take what it
        // says it holds, then sync again from there (nothing of this round was applied).
        // `known`: the incarnation this round was sent with.
        if known != 0 && response.incarnation != 0 && known != response.incarnation {
            let heads: Vec<(DocId, Vec<[u8; 32]>)> = response
                .restored
                .into_iter()
                .map(|d| Ok((DocId::try_from(d.doc)?, d.heads)))
                .collect::<Result<_, wire::WireError>>()?;
            tracing::warn!(
                documents = heads.len(),
                "the hub was restored from a backup: sending what it lacks, pulling anew"
            );
            shared
                .lock()
                .await
                .store()?
                .hub_restored(response.incarnation, &heads)?;
            report.hub_restored = true;
            pending.clear();
            pending_bytes = 0;
            pending_cursor = None;
            pending_since = None;
            continue;
        }
        let mut incoming = Vec::with_capacity(response.pulls.len());
        for pull in response.pulls {
            let mut signatures = Vec::with_capacity(pull.changes.len());
            incoming.push(IncomingDoc {
                doc: DocId::try_from(pull.doc)?,
                epoch: pull.epoch,
                snapshot: pull.snapshot,
                changes: pull
                    .changes
                    .into_iter()
                    .map(|c| {
                        let at = Utc
                            .timestamp_millis_opt(c.received_at)
                            .single()
                            .unwrap_or_default();
                        signatures.push(c.signature);
                        (c.bytes, at)
                    })
                    .collect(),
                signatures,
            });
        }
        // Only pulled, more to come, and room for it: kept for one write with the next rounds.
        let room = APPLY_BYTES.min(done.bytes_total / 2);
        if outbox.is_empty()
            && response.more
            && !round.rotate
            && round.next_pin().is_none()
            && pending_bytes + pulled_bytes <= room
            && pending_since.is_none_or(|t| t.elapsed() < APPLY_WITHIN)
        {
            pending.append(&mut incoming);
            pending_bytes += pulled_bytes;
            pending_cursor = Some(response.cursor);
            pending_since.get_or_insert_with(std::time::Instant::now);
            progress(&done);
            continue;
        }
        if !pending.is_empty() {
            pending.append(&mut incoming);
            incoming = std::mem::take(&mut pending);
        }
        pending_bytes = 0;
        pending_cursor = None;
        pending_since = None;
        let hub_time = Utc
            .timestamp_millis_opt(response.hub_time)
            .single()
            .unwrap_or_else(Utc::now);
        let earlier: Vec<([u8; 32], chrono::DateTime<Utc>)> = response
            .receipts
            .iter()
            .filter_map(|r| Some((r.hash, Utc.timestamp_millis_opt(r.received_at).single()?)))
            .collect();
        // The hub wants a new token: ask now, keep it with this round's answer. Until the
        // new one is used the old one still works, so a lost answer here costs nothing, and
        // a refusal (another sync of this device rotated it within the minute; the hub then
        // refuses any other rotation from the old token, so the one stored is the live one)
        // is left for a later sync.
        if round.rotate {
            match client.rotate_token(&identity.token).await {
                Ok(fresh) => {
                    identity.token = fresh.token;
                    identity_changed = true;
                }
                Err(SyncError::Refused { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if follow_rotation(&mut identity, round.next_pin(), round.served_pin()) {
            identity_changed = true;
        }
        let mut guard = shared.lock().await;
        let store = guard.store()?;
        if std::mem::take(&mut identity_changed) {
            store.set_identity(&identity)?;
        }
        let applied = store.apply_sync(&outbox, &incoming, hub_time, &earlier, response.cursor)?;
        report.writes += 1;
        if known == 0 && response.incarnation != 0 {
            store.set_hub_incarnation(response.incarnation)?;
        }
        report.epochs_adopted += applied.epochs_adopted.len() as u64;
        report
            .erased_edits_dropped
            .extend(applied.erased_edits_dropped);
        sent.extend(outbox.iter().map(|o| o.doc));
        received.extend(incoming.iter().map(|i| i.doc));
        // A coordinator's scope grows with the ward document it has just received.
        if done.rounds == 1 && identity.role == doorstep_domain::Role::Coordinator {
            done.documents_total = 1 + store.groups()?.len() as u64 + store.points()?.len() as u64;
        }
        done.documents_done = (received.len() as u64).min(done.documents_total);
        if !response.more {
            done.documents_done = done.documents_total;
        }
        progress(&done);
        if !response.more {
            // The last answer is written: a first sync's indexes are built once, now.
            store.build_deferred_indexes()?;
        }
        if !response.more && !store.has_outbox_without(&held)? {
            store.clear_sync_problems(&held)?;
            report.refused = store
                .sync_problems()?
                .into_iter()
                .filter(|p| held.iter().any(|h| h.to_string() == p.doc))
                .collect();
            report.docs_sent = sent.len() as u64;
            report.docs_received = received.len() as u64;
            let touched = sent.union(&received).count() as u64;
            report.docs_unchanged = store.document_count()?.saturating_sub(touched);
            report.outbox = store.outbox_count()?;
            return Ok(report);
        }
    }
    Err(SyncError::TooManyRounds)
}

/// Erases a household at the hub (a coordinator's device, online), then syncs, so that this
/// device holds the new epoch of its group's document too.
pub async fn erase_household<S: StoreHandle>(
    shared: &Mutex<S>,
    household: doorstep_domain::Id,
) -> Result<(Erasure, SyncReport), SyncError> {
    let identity = shared
        .lock()
        .await
        .store()?
        .identity()?
        .ok_or(SyncError::NotJoined)?;
    let erasure = HubClient::for_identity(&identity.hub_url, &identity)?
        .erase_household(&identity.token, household)
        .await?;
    let report = sync_shared(shared, None).await?;
    Ok((erasure, report))
}

/// A household's history from the hub's audit log (a coordinator's device, online).
pub async fn history(
    store: &Store,
    household: doorstep_domain::Id,
) -> Result<Vec<HistoryEntry>, SyncError> {
    let identity = store.identity()?.ok_or(SyncError::NotJoined)?;
    HubClient::for_identity(&identity.hub_url, &identity)?
        .history(&identity.token, household)
        .await
}

/// Asks the hub for an invite code through this (coordinator) device.
pub async fn invite(store: &Store, request: &InviteRequest) -> Result<InviteResponse, SyncError> {
    let identity = store.identity()?.ok_or(SyncError::NotJoined)?;
    HubClient::for_identity(&identity.hub_url, &identity)?
        .invite(&identity.token, request)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signs `message` as a hub signs its next pin.
    fn sign(key: &rcgen::KeyPair, message: &[u8]) -> Vec<u8> {
        let der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        rustls::crypto::ring::sign::any_ecdsa_type(&der)
            .unwrap()
            .choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256])
            .unwrap()
            .sign(message)
            .unwrap()
    }

    /// A next pin counts only when the certificate being served signed it: one signed by any
    /// other key, for another pin, or not signed at all is ignored.
    #[test]
    fn the_first_next_pin_learnt_is_kept_until_the_hub_serves_it() {
        let mut identity = DeviceIdentity {
            hub_url: "https://hub.invalid".into(),
            pin: Some("current".into()),
            next_pin: None,
            device_id: doorstep_domain::new_id(),
            name: "Lan".into(),
            token: "t".into(),
            role: doorstep_domain::Role::Volunteer,
            ward_id: doorstep_domain::new_id(),
            groups: vec![],
            points: vec![],
        };
        let served = || Some("current".to_string());
        assert!(follow_rotation(
            &mut identity,
            Some("next".into()),
            served()
        ));
        assert_eq!(identity.next_pin.as_deref(), Some("next"));
        // A later announcement (another key, signed by a copy of the current one) changes
        // nothing.
        assert!(!follow_rotation(
            &mut identity,
            Some("other".into()),
            served()
        ));
        assert_eq!(identity.next_pin.as_deref(), Some("next"));
        // Served, the next pin is the pin.
        assert!(follow_rotation(&mut identity, None, Some("next".into())));
        assert_eq!(
            (identity.pin.as_deref(), identity.next_pin.as_deref()),
            (Some("next"), None)
        );
    }

    #[test]
    fn only_a_next_pin_signed_by_the_served_certificate_counts() {
        let served = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["doorstep-hub".into()])
            .unwrap()
            .self_signed(&served)
            .unwrap();
        let stranger = rcgen::KeyPair::generate().unwrap();
        let next = "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg";
        let other = "AAAAgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg";
        let message = pin::next_pin_message(next);
        let good = pin::next_pin_announcement(next, &sign(&served, &message));
        assert_eq!(verified_next_pin(cert.der(), &good).as_deref(), Some(next));
        for bad in [
            pin::next_pin_announcement(next, &sign(&stranger, &message)),
            pin::next_pin_announcement(other, &sign(&served, &message)),
            pin::next_pin_announcement(next, b"not a signature"),
            next.to_string(),
        ] {
            assert_eq!(verified_next_pin(cert.der(), &bad), None, "{bad}");
        }
    }
}
