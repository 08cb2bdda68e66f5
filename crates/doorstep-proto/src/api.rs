//! The hub's JSON API types, shared by the hub (which serves them and describes them in
//! `/openapi.json`) and the device's client (which calls them).

use chrono::{DateTime, Utc};
use doorstep_domain::{ErrorCode, Role};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;
use uuid::Uuid;

/// A residential group or literacy point a device works in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Named {
    pub id: Uuid,
    pub name: String,
}

/// `POST /v1/join`: redeem an invite code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
pub struct JoinRequest {
    /// The invite code as typed (case, spaces and dashes do not matter).
    pub code: String,
    /// The device's Ed25519 public key (base64url): every change it makes is signed with it,
    /// and its Automerge actor is derived from it.
    #[serde(default)]
    pub key: String,
    /// The key's signature of the invite code as normalized (base64url): the device holds it.
    #[serde(default)]
    pub proof: String,
}

/// What a device gets when it joins.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
pub struct JoinResponse {
    pub device_id: Uuid,
    /// The name the coordinator gave this device's holder.
    pub name: String,
    #[schema(value_type = String, example = "volunteer")]
    pub role: Role,
    pub ward_id: Uuid,
    pub ward_name: String,
    pub groups: Vec<Named>,
    pub points: Vec<Named>,
    /// The device token: send it as `Authorization: Bearer <token>`. The hub keeps only a hash.
    pub token: String,
    pub token_expires_at: DateTime<Utc>,
    /// The ward document, base64 (the device's first sync brings the rest of its scope).
    pub ward_document: String,
}

/// `POST /v1/token`: a new token for the device presenting one. The presented token stays
/// valid until the new one is first used, so an answer lost on the way costs nothing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
pub struct TokenResponse {
    pub token: String,
    pub token_expires_at: DateTime<Utc>,
}

/// The header a hub adds to an answer when the device's token is due for rotation: the
/// device then asks `POST /v1/token` for a new one.
pub const TOKEN_ROTATE_HEADER: &str = "doorstep-token-rotate";

/// `POST /v1/invites` (coordinator devices): make an invite code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
pub struct InviteRequest {
    #[schema(value_type = String, example = "volunteer")]
    pub role: Role,
    /// Who the invite is for, e.g. "Tổ 3 – Nguyễn Thu Trang".
    pub name: String,
    /// Residential group names (volunteers).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Literacy point name (students).
    #[serde(default)]
    pub point: Option<String>,
    /// Hours until the code expires (default 24, at most 168).
    #[serde(default)]
    pub expires_hours: Option<u32>,
}

/// A new invite code. It is shown once: the hub keeps only its hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
pub struct InviteResponse {
    pub code: String,
    pub expires_at: DateTime<Utc>,
    #[schema(value_type = String, example = "volunteer")]
    pub role: Role,
    pub name: String,
    pub groups: Vec<Named>,
    pub points: Vec<Named>,
}

/// A device enrolled at the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct DeviceInfo {
    pub device_id: Uuid,
    pub name: String,
    #[schema(value_type = String, example = "volunteer")]
    pub role: Role,
    pub groups: Vec<Uuid>,
    pub points: Vec<Uuid>,
    pub joined_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// During a rotation of the hub's certificate: the next pin this device was told of.
    /// A device without it must join again once the rotation is finished.
    #[serde(default)]
    pub next_pin: Option<String>,
    /// The device's Ed25519 public key (base64url), which its changes are signed with; none
    /// for a device that joined before changes were signed (it must join again).
    #[serde(default)]
    pub key: Option<String>,
    /// The key's fingerprint (base64url of 9 bytes of its SHA-256), short enough to compare
    /// by eye with the device's own `doorstep status`.
    #[serde(default)]
    pub key_id: Option<String>,
}

/// Every refusal the hub returns: a stable code (see `ErrorCode`), what was wrong in one
/// sentence, and which document if any. A 500 says only that the hub failed: details go to
/// the hub's log, never to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ApiError {
    #[schema(value_type = String, example = "out_of_scope")]
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}

/// `POST /v1/households/{id}/erase`: a household erased at its citizen's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Erasure {
    pub household: Uuid,
    /// The residential group whose document was written anew without its history.
    pub group: Uuid,
    /// That document's new epoch: devices adopt it at their next sync.
    pub epoch: u32,
    pub erased_at: DateTime<Utc>,
}

/// One line of `GET /v1/households/{id}/history`, from the hub's audit log (which keeps who
/// changed which fields when, never a value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct HistoryEntry {
    /// When the hub received it.
    pub at: DateTime<Utc>,
    /// `created`, `changed`, `visit`, `erased`, `history_erased` (a consent withdrawn: its
    /// document written anew) or `retention`.
    pub what: String,
    /// The device's holder (or `hub`).
    pub by: String,
    pub fields: Vec<String>,
    /// For a visit: its id.
    pub visit: Option<Uuid>,
    /// The device whose signature the change carries (none for the hub's own entries, or a
    /// change from before changes were signed): who made it, whatever the record says.
    #[serde(default)]
    pub signed_by: Option<Uuid>,
    /// Whether that signature verifies, now, against the signer's key and the change's hash.
    #[serde(default)]
    pub verified: bool,
}
