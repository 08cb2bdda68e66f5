//! The hub's door: invite codes, joins, device tokens (checked, renewed, rotated) and
//! revocation.
//!
//! Kept apart from the ward's documents (`hub.rs`), on a storage connection of its own, so
//! that checking a token or refusing a guessed code never waits behind a sync round, and a
//! flood of either never holds one up. Both sides read the same database (SQLite in WAL mode
//! lets this connection read while a round writes).

use std::path::Path;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use doorstep_doc::{self as document, DocId, PublicKey};
use doorstep_domain::validate::check_text;
use doorstep_domain::*;
use doorstep_proto::api::*;
use rand_core::{OsRng, TryRngCore};
use sha2::{Digest, Sha256};

use crate::sqlite::SqliteStorage;
use crate::storage::*;
use crate::{hex, AtRest, HubError, Status};

/// How long an invite code lives unless told otherwise, and at most.
pub const INVITE_HOURS: u32 = 24;
pub const MAX_INVITE_HOURS: u32 = 168;
/// A device token expires this long after its last use (every request renews it).
pub const TOKEN_DAYS: i64 = 30;
/// ...and this long after the device joined, however often it is used or rotated: a lost
/// phone's token dies even if someone keeps using it. The device then joins again.
pub const TOKEN_MAX_DAYS: i64 = 120;
/// A token older than this is due for rotation: the hub says so on its answers and the device
/// asks for a new one. A token copied off a device (a backup, a lost phone found again)
/// stops working a week later once the device moved on.
pub const TOKEN_ROTATE_DAYS: i64 = 7;
/// How often a device's last-seen time and sliding expiry are written: a token check is a
/// read, and at most one write a minute per device competes with sync rounds for the writer.
const TOUCH_EVERY_SECONDS: i64 = 60;
/// Crockford's base32: no I, L, O or U to misread.
const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Invite code length: 10 symbols, 50 bits.
const CODE_LEN: usize = 10;

/// How hubs before keyed hashes stored codes and tokens: kept only to recognise those and
/// re-key them on use.
pub(crate) fn legacy_hash(text: &str) -> String {
    sha256_hex(text)
}

/// SHA-256 of `text`, as hex: how a secret that is itself 256 random bits is stored (a
/// city's viewer and forwarding tokens).
pub(crate) fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// 256 random bits as text (base64url): the secret part of every token.
pub(crate) fn random_text() -> Result<String, HubError> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], HubError> {
    let mut bytes = [0u8; N];
    OsRng.try_fill_bytes(&mut bytes)?;
    Ok(bytes)
}

/// Normalizes a typed invite code: case, spaces and dashes do not matter, and the letters
/// people confuse with digits read as those digits.
pub fn normalize_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect()
}

/// `N` random symbols of the code alphabet (5 bits each).
pub(crate) fn new_symbols<const N: usize>() -> Result<String, HubError> {
    let bytes: [u8; N] = random_bytes()?;
    Ok(bytes
        .iter()
        .map(|b| CODE_ALPHABET[usize::from(b & 31)] as char)
        .collect())
}

/// A new invite code; a city ward's starts with its key (`city.rs`).
fn new_code(ward_key: Option<&str>) -> Result<String, HubError> {
    let symbols = new_symbols::<CODE_LEN>()?;
    let code = format!("{}-{}", &symbols[..5], &symbols[5..]);
    Ok(match ward_key {
        Some(key) => format!("{key}-{code}"),
        None => code,
    })
}

/// A new device token; a city ward's carries its key (`dst_KEY.…`).
fn new_token(ward_key: Option<&str>) -> Result<String, HubError> {
    let random = random_text()?;
    Ok(match ward_key {
        Some(key) => format!("dst_{key}.{random}"),
        None => format!("dst_{random}"),
    })
}

/// Opens the hub's storage in `dir`, saying how to make one when there is none.
pub(crate) fn open_storage(dir: &Path, at_rest: &AtRest) -> Result<(SqliteStorage, Id), HubError> {
    let storage = SqliteStorage::open(dir, at_rest)?;
    match storage.ward()? {
        Some((ward_id, _)) => Ok((storage, ward_id)),
        None => Err(HubError::refused(
            Status::BadRequest,
            ErrorCode::NoHub,
            format!(
                "no hub in {}: run `doorstep hub init --data {} --ward NAME --group NAME`",
                dir.display(),
                dir.display()
            ),
        )),
    }
}

/// A ward as its document holds it: the ward, its residential groups and literacy points.
type WardParts = (Ward, Vec<ResidentialGroup>, Vec<LiteracyPoint>);

/// A device that presented a valid token, and whether that token is due for rotation.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub device: DeviceRecord,
    pub rotate: bool,
    /// The token presented is the device's current one (not its previous, still valid until
    /// the current one is first used).
    pub current: bool,
}

/// Enrolment and tokens of one ward's hub.
pub struct Enrolment {
    storage: Box<dyn HubStorage>,
    /// The key codes and tokens are hashed with (HMAC-SHA256): a copy of the hub's database
    /// alone does not let anyone test guesses of codes or tokens against it.
    secret: Vec<u8>,
    ward_id: Id,
    rotate_after: Duration,
    /// The ward's key in a city deployment: its codes and tokens carry it.
    ward_key: Option<String>,
}

impl Enrolment {
    /// Opens the enrolment of the hub in `dir`.
    pub fn open(dir: &Path, at_rest: &AtRest) -> Result<Enrolment, HubError> {
        let (storage, _) = open_storage(dir, at_rest)?;
        Self::with_storage(Box::new(storage))
    }

    pub fn with_storage(mut storage: Box<dyn HubStorage>) -> Result<Enrolment, HubError> {
        let (ward_id, _) = storage.ward()?.ok_or(HubError::NoWard)?;
        let secret = storage.secret(random_bytes()?)?;
        let ward_key = storage.setting(crate::city::WARD_KEY_SETTING)?;
        Ok(Enrolment {
            storage,
            secret,
            ward_id,
            rotate_after: Duration::days(TOKEN_ROTATE_DAYS),
            ward_key,
        })
    }

    /// Tokens older than `age` are due for rotation (a hub setting; 0: at every request).
    pub fn rotate_tokens_after(&mut self, age: std::time::Duration) {
        self.rotate_after = Duration::from_std(age).unwrap_or(Duration::MAX);
    }

    /// The address devices reach this hub at, as it last served.
    pub fn url(&self) -> Result<Option<String>, HubError> {
        Ok(self.storage.url()?)
    }

    pub fn set_url(&mut self, url: &str) -> Result<(), HubError> {
        Ok(self.storage.set_url(url)?)
    }

    /// A code's or token's keyed hash, as stored.
    pub(crate) fn keyed_hash(&self, text: &str) -> Result<String, HubError> {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).map_err(|_| {
            HubError::Storage(StorageError::Corrupt {
                what: "hub secret",
                value: "(not shown)".into(),
            })
        })?;
        mac.update(text.as_bytes());
        Ok(hex(&mac.finalize().into_bytes()))
    }

    /// The ward document as stored, and the ward, groups and points it holds.
    fn ward(&self) -> Result<(Vec<u8>, WardParts), HubError> {
        let id = DocId::Ward(self.ward_id);
        let bytes = self
            .storage
            .load_document(id)?
            .ok_or(StorageError::Corrupt {
                what: "ward document",
                value: "missing".into(),
            })?;
        let doc = document::decode::load_document(&bytes).map_err(|_| StorageError::Corrupt {
            what: "ward document",
            value: id.to_string(),
        })?;
        Ok((bytes, document::read_ward(self.ward_id, &doc)?))
    }

    /// Makes an invite code for a device of `request.role`.
    pub fn invite(
        &mut self,
        request: &InviteRequest,
        now: DateTime<Utc>,
    ) -> Result<InviteResponse, HubError> {
        check_text("name", &request.name, true)?;
        let (_, (_, groups, points)) = self.ward()?;
        let mut named_groups = Vec::new();
        for name in &request.groups {
            let g = groups
                .iter()
                .find(|g| g.name == name.trim())
                .ok_or_else(|| {
                    HubError::refused(
                        Status::NotFound,
                        ErrorCode::UnknownGroup,
                        format!("unknown residential group {name:?}"),
                    )
                })?;
            named_groups.push(Named {
                id: g.id,
                name: g.name.clone(),
            });
        }
        let mut named_points = Vec::new();
        if let Some(name) = &request.point {
            let p = points
                .iter()
                .find(|p| p.name == name.trim())
                .ok_or_else(|| {
                    HubError::refused(
                        Status::NotFound,
                        ErrorCode::UnknownPoint,
                        format!("unknown literacy point {name:?}"),
                    )
                })?;
            named_points.push(Named {
                id: p.id,
                name: p.name.clone(),
            });
        }
        match request.role {
            Role::Volunteer if named_groups.is_empty() => {
                return Err(HubError::refused(
                    Status::BadRequest,
                    ErrorCode::InvalidInvite,
                    "a volunteer needs at least one residential group (--group)",
                ))
            }
            Role::Student if named_points.is_empty() => {
                return Err(HubError::refused(
                    Status::BadRequest,
                    ErrorCode::InvalidInvite,
                    "a student needs a literacy point (--point)",
                ))
            }
            _ => {}
        }
        let hours = request.expires_hours.unwrap_or(INVITE_HOURS);
        if hours == 0 || hours > MAX_INVITE_HOURS {
            return Err(HubError::refused(
                Status::BadRequest,
                ErrorCode::InvalidInvite,
                format!("an invite lives between 1 and {MAX_INVITE_HOURS} hours, not {hours}"),
            ));
        }
        let code = new_code(self.ward_key.as_deref())?;
        let expires_at = now + Duration::hours(i64::from(hours));
        self.storage.add_invite(
            &self.keyed_hash(&normalize_code(&code))?,
            &InviteRecord {
                role: request.role,
                name: request.name.trim().to_string(),
                groups: named_groups.iter().map(|g| g.id).collect(),
                points: named_points.iter().map(|p| p.id).collect(),
                expires_at,
            },
        )?;
        Ok(InviteResponse {
            code,
            expires_at,
            role: request.role,
            name: request.name.trim().to_string(),
            groups: named_groups,
            points: named_points,
        })
    }

    /// Redeems an invite code: enrolls a device with its key and gives it a token and the
    /// ward document. The key must come with its signature of the code as sent (the device
    /// holds it), or nothing is spent.
    pub fn join(
        &mut self,
        request: &JoinRequest,
        now: DateTime<Utc>,
    ) -> Result<JoinResponse, HubError> {
        let key = PublicKey::from_base64(&request.key).ok_or_else(|| {
            HubError::refused(
                Status::BadRequest,
                ErrorCode::BadSignature,
                "a device joins with its public key (update the app)",
            )
        })?;
        let proof = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(request.proof.trim())
            .unwrap_or_default();
        if !key.verifies_join(&request.code, &proof) {
            return Err(HubError::refused(
                Status::BadRequest,
                ErrorCode::BadSignature,
                "the key's signature of the invite code does not verify",
            ));
        }
        let code = request.code.as_str();
        let token = new_token(self.ward_key.as_deref())?;
        let expires = now + Duration::days(TOKEN_DAYS);
        let code = normalize_code(code);
        let token_hash = self.keyed_hash(&token)?;
        let mut device = None;
        for code_hash in [self.keyed_hash(&code)?, legacy_hash(&code)] {
            device =
                self.storage
                    .redeem_invite(&code_hash, now, new_id(), key, &token_hash, expires)?;
            if device.is_some() {
                break;
            }
        }
        let device = device.ok_or_else(|| {
            HubError::refused(
                Status::Unauthorized,
                ErrorCode::InviteCodeInvalid,
                "invite code not valid: wrong, already used or expired",
            )
        })?;
        let (ward_document, (ward, groups, points)) = self.ward()?;
        let named = |ids: &[Id], all: Vec<(Id, String)>| -> Vec<Named> {
            all.into_iter()
                .filter(|(id, _)| ids.contains(id))
                .map(|(id, name)| Named { id, name })
                .collect()
        };
        Ok(JoinResponse {
            device_id: device.id,
            name: device.name.clone(),
            role: device.role,
            ward_id: ward.id,
            ward_name: ward.name,
            groups: named(
                &device.groups,
                groups.into_iter().map(|g| (g.id, g.name)).collect(),
            ),
            points: named(
                &device.points,
                points.into_iter().map(|p| (p.id, p.name)).collect(),
            ),
            token,
            token_expires_at: expires,
            ward_document: base64::engine::general_purpose::STANDARD.encode(ward_document),
        })
    }

    /// The device a bearer token belongs to (known, not revoked, not expired); renews the
    /// token and says whether it is due for rotation.
    pub fn authenticate(
        &mut self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Authenticated, HubError> {
        let keyed = self.keyed_hash(token)?;
        let found = match self.storage.device_by_token(&keyed)? {
            Some(found) => Some(found),
            None => {
                // A token issued before keyed hashes: re-keyed on its first use.
                let legacy = self.storage.device_by_token(&legacy_hash(token))?;
                if let Some((device, true)) = &legacy {
                    self.storage.rekey_token(device.id, &keyed)?;
                }
                legacy
            }
        };
        let (device, current) = found.ok_or_else(|| {
            HubError::refused(
                Status::Unauthorized,
                ErrorCode::TokenUnknown,
                "unknown device token",
            )
        })?;
        if device.revoked_at.is_some() {
            return Err(HubError::refused(
                Status::Unauthorized,
                ErrorCode::DeviceRevoked,
                "this device was revoked by the coordinator",
            ));
        }
        if device.token_expires_at <= now
            || device.joined_at + Duration::days(TOKEN_MAX_DAYS) <= now
        {
            return Err(HubError::refused(
                Status::Unauthorized,
                ErrorCode::TokenExpired,
                "device token expired: join again with a new invite code",
            ));
        }
        // The first use of a new token ends the previous one; otherwise a write at most once
        // a minute.
        let stale = device
            .last_seen_at
            .is_none_or(|seen| now - seen >= Duration::seconds(TOUCH_EVERY_SECONDS));
        if current && (device.rotating || stale) {
            self.storage
                .touch_device(device.id, now, now + Duration::days(TOKEN_DAYS))?;
        }
        // A device still presenting its previous token lost the answer with its new one.
        let rotate = !current || now - device.token_issued_at >= self.rotate_after;
        Ok(Authenticated {
            device,
            rotate,
            current,
        })
    }

    /// Gives the device that presented `token` (already authenticated as `seen`) a new token.
    /// The presented one works until the new one is first used; then only the new one does.
    ///
    /// A device presenting its previous token lost the answer that carried the current one,
    /// and gets another; but not within a minute of the last rotation, when it is more likely
    /// a second sync of the same device racing the first: replacing the token the first one
    /// is about to keep would lock the device out.
    pub fn rotate(
        &mut self,
        seen: &Authenticated,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, HubError> {
        let device = &seen.device;
        if !seen.current && now - device.token_issued_at < Duration::seconds(TOUCH_EVERY_SECONDS) {
            return Err(HubError::refused(
                Status::Conflict,
                ErrorCode::TokenRotating,
                "this device's token was just replaced: keep using the one it holds",
            ));
        }
        let fresh = new_token(self.ward_key.as_deref())?;
        let expires = now + Duration::days(TOKEN_DAYS);
        self.storage.rotate_token(
            device.id,
            &self.keyed_hash(token)?,
            &self.keyed_hash(&fresh)?,
            now,
            expires,
        )?;
        Ok(TokenResponse {
            token: fresh,
            token_expires_at: expires,
        })
    }

    pub fn devices(&self) -> Result<Vec<DeviceInfo>, HubError> {
        Ok(self
            .storage
            .devices()?
            .into_iter()
            .map(|d| DeviceInfo {
                device_id: d.id,
                name: d.name,
                role: d.role,
                groups: d.groups,
                points: d.points,
                joined_at: d.joined_at,
                last_seen_at: d.last_seen_at,
                revoked_at: d.revoked_at,
                next_pin: d.next_pin,
                key: d.key.map(|k| k.to_base64()),
                key_id: d.key.map(|k| k.key_id()),
            })
            .collect())
    }

    /// Records that device `id` was told the next certificate pin.
    pub fn told_next_pin(&mut self, id: Id, pin: &str) -> Result<(), HubError> {
        Ok(self.storage.set_next_pin(id, pin)?)
    }

    /// Ends a rotation of the hub's certificate (`HubTls::finish_rotation`), unless a device
    /// that may still sync (not revoked) has not been told the next pin: it would have to
    /// join again. `force` finishes anyway (a lost phone that will never sync again).
    pub fn finish_rotation(&self, dir: &Path, force: bool) -> Result<crate::HubTls, HubError> {
        let next = crate::HubTls::ensure(dir)?
            .next
            .ok_or(crate::TlsError::NoRotation)?;
        let pending: Vec<String> = self
            .storage
            .devices()?
            .into_iter()
            .filter(|d| d.revoked_at.is_none() && d.next_pin.as_deref() != Some(&next.pin))
            .map(|d| d.name)
            .collect();
        if !pending.is_empty() && !force {
            return Err(HubError::refused(
                Status::Conflict,
                ErrorCode::DevicesNotRepinned,
                format!(
                    "{} device(s) have not synced since the rotation began ({}): let them \
                     sync, revoke them, or finish with --force (they must then join again)",
                    pending.len(),
                    pending.join(", ")
                ),
            ));
        }
        Ok(crate::HubTls::finish_rotation(dir)?)
    }

    pub fn revoke(&mut self, id: Id, now: DateTime<Utc>) -> Result<(), HubError> {
        if self.storage.revoke(id, now)? {
            Ok(())
        } else {
            Err(HubError::refused(
                Status::NotFound,
                ErrorCode::UnknownDevice,
                format!("unknown device {id}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hub;

    fn enrolment() -> (tempfile::TempDir, Enrolment) {
        let dir = tempfile::tempdir().unwrap();
        Hub::init(
            dir.path(),
            "Phường Thử",
            &["Tổ 1".into()],
            &crate::test_key(),
        )
        .unwrap();
        let enrolment = Enrolment::open(dir.path(), &crate::test_key()).unwrap();
        (dir, enrolment)
    }

    /// What a device with a fresh key sends to join with `code`.
    fn joining(code: &str) -> JoinRequest {
        let key = document::DeviceKey::from_secret(random_bytes().unwrap());
        JoinRequest {
            code: code.to_string(),
            key: key.public().to_base64(),
            proof: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.sign_join(code)),
        }
    }

    fn invite(enrolment: &mut Enrolment, now: DateTime<Utc>) -> String {
        let request = InviteRequest {
            role: Role::Coordinator,
            name: "Chị Hà".into(),
            groups: vec![],
            point: None,
            expires_hours: None,
        };
        enrolment.invite(&request, now).unwrap().code
    }

    /// Codes and tokens are stored as HMACs under the hub's secret, not as plain hashes that
    /// a copy of the database would let anyone test guesses against.
    #[test]
    fn codes_and_tokens_are_stored_keyed() {
        let (dir, mut enrolment) = enrolment();
        let now = Utc::now();
        let code = invite(&mut enrolment, now);
        let joined = enrolment.join(&joining(&code), now).unwrap();
        let db = doorstep_vault::open_database(&dir.path().join("hub.sqlite"), &crate::test_key())
            .unwrap();
        let stored: String = db
            .query_row("SELECT token_hash FROM devices", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, enrolment.keyed_hash(&joined.token).unwrap());
        assert_ne!(stored, legacy_hash(&joined.token));
        let code_hash: String = db
            .query_row("SELECT code_hash FROM invites", [], |r| r.get(0))
            .unwrap();
        assert_ne!(code_hash, legacy_hash(&normalize_code(&code)));
        // Another hub's secret makes other hashes of the same token.
        let (_, other) = self::enrolment();
        assert_ne!(other.keyed_hash(&joined.token).unwrap(), stored);
    }

    /// A token stored by a hub from before keyed hashes still works once, and is re-keyed.
    #[test]
    fn a_token_from_before_keyed_hashes_is_rekeyed_on_use() {
        let (_dir, mut enrolment) = enrolment();
        let now = Utc::now();
        let code = invite(&mut enrolment, now);
        let token = "dst_from_an_older_hub";
        let device = enrolment
            .storage
            .redeem_invite(
                &enrolment.keyed_hash(&normalize_code(&code)).unwrap(),
                now,
                new_id(),
                document::DeviceKey::from_secret([3; 32]).public(),
                &legacy_hash(token),
                now + Duration::days(TOKEN_DAYS),
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            enrolment.authenticate(token, now).unwrap().device.id,
            device.id
        );
        let rekeyed = enrolment
            .storage
            .device_by_token(&enrolment.keyed_hash(token).unwrap())
            .unwrap();
        assert_eq!(
            rekeyed.map(|(d, current)| (d.id, current)),
            Some((device.id, true))
        );
    }

    /// However often a token is used, it dies TOKEN_MAX_DAYS after the device joined.
    #[test]
    fn a_token_has_an_absolute_lifetime() {
        let (_dir, mut enrolment) = enrolment();
        let joined_at = Utc::now();
        let code = invite(&mut enrolment, joined_at);
        let mut token = enrolment.join(&joining(&code), joined_at).unwrap().token;
        // Used every 29 days and rotated whenever due: the sliding expiry never runs out...
        let mut day = joined_at + Duration::days(TOKEN_DAYS - 1);
        while day < joined_at + Duration::days(TOKEN_MAX_DAYS) {
            let seen = enrolment.authenticate(&token, day);
            let seen = seen.unwrap_or_else(|e| panic!("day {day}: {e}"));
            assert!(seen.rotate, "a 29-day-old token is due for rotation");
            token = enrolment.rotate(&seen, &token, day).unwrap().token;
            day += Duration::days(TOKEN_DAYS - 1);
        }
        // ...but the absolute lifetime does, rotations or not.
        let late = joined_at + Duration::days(TOKEN_MAX_DAYS);
        let refused = enrolment.authenticate(&token, late).map_err(|e| e.code());
        assert_eq!(refused.err(), Some(ErrorCode::TokenExpired));
    }

    /// Rotation: a fresh token is not due; a week-old one is. After rotating, the old token
    /// still works until the new one is used once (the answer may have been lost), then only
    /// the new one does.
    #[test]
    fn tokens_rotate_and_the_old_one_ends_when_the_new_one_is_used() {
        let (_dir, mut enrolment) = enrolment();
        let now = Utc::now();
        let code = invite(&mut enrolment, now);
        let old = enrolment.join(&joining(&code), now).unwrap().token;
        assert!(!enrolment.authenticate(&old, now).unwrap().rotate);
        let later = now + Duration::days(TOKEN_ROTATE_DAYS);
        let seen = enrolment.authenticate(&old, later).unwrap();
        assert!(seen.rotate);
        let new = enrolment.rotate(&seen, &old, later).unwrap().token;
        assert_ne!(new, old);
        // The answer was lost: the device comes back with the old token, which still works
        // and is told to rotate again; not at once (that is a second sync racing the first)...
        let again = enrolment.authenticate(&old, later).unwrap();
        assert!(again.rotate);
        let racing = enrolment.rotate(&again, &old, later).map_err(|e| e.code());
        assert_eq!(racing.err(), Some(ErrorCode::TokenRotating));
        // ...but a minute later.
        let later = later + Duration::seconds(TOUCH_EVERY_SECONDS);
        let again = enrolment.authenticate(&old, later).unwrap();
        let newer = enrolment.rotate(&again, &old, later).unwrap().token;
        // The lost token never becomes usable once another replaced it.
        let lost = enrolment.authenticate(&new, later).map_err(|e| e.code());
        assert_eq!(lost.err(), Some(ErrorCode::TokenUnknown));
        let using = enrolment.authenticate(&newer, later).unwrap();
        assert!(!using.rotate);
        assert!(using.device.rotating);
        // Now the old token is gone for good.
        let refused = enrolment.authenticate(&old, later).map_err(|e| e.code());
        assert_eq!(refused.err(), Some(ErrorCode::TokenUnknown));
        assert!(
            !enrolment
                .authenticate(&newer, later)
                .unwrap()
                .device
                .rotating
        );
    }

    /// A revoked device's rotated tokens are refused like its first one.
    #[test]
    fn revocation_holds_across_rotation() {
        let (_dir, mut enrolment) = enrolment();
        let now = Utc::now();
        let code = invite(&mut enrolment, now);
        let old = enrolment.join(&joining(&code), now).unwrap().token;
        let seen = enrolment.authenticate(&old, now).unwrap();
        let new = enrolment.rotate(&seen, &old, now).unwrap().token;
        enrolment.revoke(seen.device.id, now).unwrap();
        for token in [&old, &new] {
            let refused = enrolment.authenticate(token, now).map_err(|e| e.code());
            assert_eq!(refused.err(), Some(ErrorCode::DeviceRevoked));
        }
    }

    /// A hub database from before token rotation (no version, no rotation columns) is
    /// migrated when opened, and its devices' tokens keep working.
    #[test]
    fn a_hub_from_before_rotation_is_migrated_and_its_tokens_work() {
        let (dir, mut enrolment) = enrolment();
        let now = Utc::now();
        let code = invite(&mut enrolment, now);
        let token = enrolment.join(&joining(&code), now).unwrap().token;
        drop(enrolment);
        let db = doorstep_vault::open_database(&dir.path().join("hub.sqlite"), &crate::test_key())
            .unwrap();
        db.execute_batch(
            "DROP TABLE audit_records;
             DROP TABLE audit;
             ALTER TABLE documents DROP COLUMN epoch;
             DROP INDEX devices_by_previous_token;
             ALTER TABLE devices DROP COLUMN previous_token_hash;
             ALTER TABLE devices DROP COLUMN token_issued_at;
             ALTER TABLE devices DROP COLUMN next_pin;
             ALTER TABLE devices DROP COLUMN key;
             ALTER TABLE receipts DROP COLUMN signer;
             ALTER TABLE receipts DROP COLUMN signature;
             PRAGMA user_version = 0;",
        )
        .unwrap();
        drop(db);
        let mut enrolment = Enrolment::open(dir.path(), &crate::test_key()).unwrap();
        let seen = enrolment.authenticate(&token, now).unwrap();
        assert_eq!(seen.device.token_issued_at, seen.device.joined_at);
        let later = now + Duration::days(TOKEN_ROTATE_DAYS);
        assert!(enrolment.authenticate(&token, later).unwrap().rotate);
    }

    /// The hub's directory is its owner's only and its database and WAL are too, whatever
    /// the umask; a hub from before is tightened when opened.
    #[cfg(unix)]
    #[test]
    fn the_hub_directory_and_database_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, mut enrolment) = enrolment();
        invite(&mut enrolment, Utc::now());
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(""), 0o700);
        assert_eq!(mode("hub.sqlite"), 0o600);
        assert_eq!(mode("hub.sqlite-wal"), 0o600);
        drop(enrolment);
        for (name, loose) in [("", 0o755), ("hub.sqlite", 0o644)] {
            std::fs::set_permissions(
                dir.path().join(name),
                std::fs::Permissions::from_mode(loose),
            )
            .unwrap();
        }
        Enrolment::open(dir.path(), &crate::test_key()).unwrap();
        assert_eq!(mode(""), 0o700);
        assert_eq!(mode("hub.sqlite"), 0o600);
    }

    /// A damaged secret in the hub's database stops the hub with a storage error rather than
    /// hashing with a key that is not the one tokens were stored under.
    #[test]
    fn a_damaged_secret_is_refused() {
        let (dir, enrolment) = enrolment();
        drop(enrolment);
        let db = doorstep_vault::open_database(&dir.path().join("hub.sqlite"), &crate::test_key())
            .unwrap();
        for damaged in ["zz", "0123", &"g".repeat(64)] {
            db.execute("UPDATE meta SET value = ?1 WHERE key = 'secret'", [damaged])
                .unwrap();
            let opened = Enrolment::open(dir.path(), &crate::test_key());
            assert!(
                matches!(opened, Err(HubError::Storage(StorageError::Corrupt { .. }))),
                "{damaged}"
            );
        }
    }

    /// A hub from before encryption, with a device joined: its passphrase's first unlock
    /// encrypts it in place; the device's token still works, no file of the hub holds the
    /// ward's name in clear, and a wrong passphrase opens nothing.
    #[test]
    fn a_plaintext_hub_is_encrypted_by_its_first_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        Hub::init(
            dir.path(),
            "Phường Bản Rõ",
            &["Tổ 1".into()],
            &AtRest::Plaintext,
        )
        .unwrap();
        let mut enrolment = Enrolment::open(dir.path(), &AtRest::Plaintext).unwrap();
        let now = Utc::now();
        let code = invite(&mut enrolment, now);
        let joined = enrolment.join(&joining(&code), now).unwrap();
        drop(enrolment);
        let (at_rest, recovery) = crate::unlock(dir.path(), "một câu dài bí mật", 0).unwrap();
        assert!(recovery.is_some());
        let mut enrolment = Enrolment::open(dir.path(), &at_rest).unwrap();
        assert!(enrolment.authenticate(&joined.token, now).is_ok());
        drop(enrolment);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let needle = "Bản Rõ".as_bytes();
            assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        }
        let wrong = crate::unlock(dir.path(), "một câu sai bí mật", 1);
        assert!(matches!(wrong, Err(crate::VaultError::WrongSecret { .. })));
        assert!(matches!(
            Enrolment::open(dir.path(), &AtRest::Plaintext),
            Err(HubError::Storage(StorageError::Vault(_)))
        ));
        let (again, recovery) = crate::unlock(dir.path(), "một câu dài bí mật", 2).unwrap();
        assert!(recovery.is_none());
        assert!(Enrolment::open(dir.path(), &again).is_ok());
    }

    /// The audit log only grows: a delete or an update of a line is refused by the database
    /// itself, whoever holds the key.
    #[test]
    fn the_audit_log_is_append_only() {
        let (dir, enrolment) = enrolment();
        drop(enrolment);
        let mut storage =
            crate::sqlite::SqliteStorage::open(dir.path(), &crate::test_key()).unwrap();
        let id = doorstep_domain::new_id();
        storage
            .append_audit(&[AuditEntry {
                at: Utc::now(),
                device: "d".into(),
                doc: "group/x".into(),
                event: "change".into(),
                change: None,
                records: vec![AuditRecord {
                    map: "households".into(),
                    id,
                    fields: vec!["*".into()],
                    household: None,
                }],
            }])
            .unwrap();
        assert_eq!(storage.audit_of(&[id]).unwrap().len(), 1);
        let db = doorstep_vault::open_database(&dir.path().join("hub.sqlite"), &crate::test_key())
            .unwrap();
        for sql in [
            "DELETE FROM audit",
            "UPDATE audit SET device = 'someone else'",
        ] {
            let refused = db.execute(sql, []).unwrap_err().to_string();
            assert!(refused.contains("append-only"), "{sql}: {refused}");
        }
        assert_eq!(storage.audit_of(&[id]).unwrap().len(), 1);
    }
}
