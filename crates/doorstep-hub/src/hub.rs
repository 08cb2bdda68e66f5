//! The hub's rules, independent of HTTP: enrollment (invite codes, device tokens), who may
//! read and change which document, and one sync round (apply a device's changes, answer with
//! what changed in its scope since its cursor).
//!
//! A sync round is all or nothing: every pushed document is checked (scope, decodable changes,
//! complete history, the document it claims to be, records that pass the domain's rules)
//! before anything is stored; on any refusal the touched documents are dropped from memory and
//! storage is unchanged.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use automerge::{ActorId, AutoCommit, Change};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use doorstep_doc::{self as document, Author, DocId, DocumentBytes};
use doorstep_domain::validate::check_text;
use doorstep_domain::*;
use doorstep_proto::api::*;
use doorstep_proto::wire::{
    Pull, PulledChange, Receipt, SyncRequest, SyncResponse, WireDoc, BATCH_BYTES,
};
use rand_core::{OsRng, TryRngCore};
use sha2::{Digest, Sha256};

use crate::sqlite::SqliteStorage;
use crate::storage::*;
use crate::{hex, HubError, Status};

/// How long an invite code lives unless told otherwise, and at most.
pub const INVITE_HOURS: u32 = 24;
pub const MAX_INVITE_HOURS: u32 = 168;
/// A device token expires this long after its last use (every request renews it).
pub const TOKEN_DAYS: i64 = 30;
/// ...and this long after the device joined, however often it is used: a lost phone's token
/// dies even if someone keeps using it. The device then joins again with a new invite.
pub const TOKEN_MAX_DAYS: i64 = 120;
/// Most documents, and changes in all, one push may hold. A device's outbox sends at most
/// `BATCH_BYTES` a round, far below either (a change is at least ~50 bytes).
pub const MAX_PUSH_DOCUMENTS: usize = 2_000;
pub const MAX_PUSH_CHANGES: usize = 50_000;
/// A document is saved whole once this many changes follow its snapshot.
const COMPACT_AFTER: u64 = 500;
/// Crockford's base32: no I, L, O or U to misread.
const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Invite code length: 10 symbols, 50 bits.
const CODE_LEN: usize = 10;

/// How hubs before keyed hashes stored codes and tokens: kept only to recognise those and
/// re-key them on use.
fn legacy_hash(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], HubError> {
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

fn new_code() -> Result<String, HubError> {
    let bytes: [u8; CODE_LEN] = random_bytes()?;
    let symbols: String = bytes
        .iter()
        .map(|b| CODE_ALPHABET[usize::from(b & 31)] as char)
        .collect();
    Ok(format!("{}-{}", &symbols[..5], &symbols[5..]))
}

/// The hub: its storage and the documents it has loaded.
pub struct Hub {
    storage: Box<dyn HubStorage>,
    /// The key codes and tokens are hashed with (HMAC-SHA256): a copy of the hub's database
    /// alone does not let anyone test guesses of codes or tokens against it.
    secret: Vec<u8>,
    ward_id: Id,
    actor: ActorId,
    docs: HashMap<DocId, AutoCommit>,
}

impl Hub {
    /// Creates a hub for a new ward in `dir`, with its residential groups.
    pub fn init(
        dir: &Path,
        ward_name: &str,
        groups: &[String],
    ) -> Result<(Ward, Vec<ResidentialGroup>), HubError> {
        let mut storage = SqliteStorage::open(dir)?;
        refuse_existing(&storage, dir)?;
        check_text("ward name", ward_name, true)?;
        if groups.is_empty() {
            return Err(HubError::refused(
                Status::BadRequest,
                ErrorCode::NoGroups,
                "a ward needs at least one residential group",
            ));
        }
        let ward = Ward {
            id: new_id(),
            name: ward_name.trim().to_string(),
        };
        let mut made: Vec<ResidentialGroup> = Vec::new();
        for g in groups {
            check_text("group name", g, true)?;
            if made.iter().any(|m| m.name == g.trim()) {
                return Err(HubError::refused(
                    Status::BadRequest,
                    ErrorCode::DuplicateGroup,
                    format!("residential group {g:?} is named twice"),
                ));
            }
            made.push(ResidentialGroup {
                id: new_id(),
                name: g.trim().to_string(),
            });
        }
        let actor = ActorId::from(new_id().as_bytes());
        let mut changes = Vec::new();
        let mut ward_doc = document::new_document(DocId::Ward(ward.id), &actor)?;
        document::put_ward_name(&mut ward_doc, &ward.name)?;
        for g in &made {
            document::put_group(&mut ward_doc, g)?;
        }
        ward_doc.commit();
        collect_changes(
            DocId::Ward(ward.id),
            ward_doc.get_changes(&[]),
            &mut changes,
        );
        for g in &made {
            let mut doc = document::new_document(DocId::Group(g.id), &actor)?;
            collect_changes(DocId::Group(g.id), doc.get_changes(&[]), &mut changes);
        }
        storage.append_changes(&changes, "hub", Utc::now())?;
        storage.set_ward(ward.id, &ward.name)?;
        crate::HubTls::ensure(dir)?;
        Ok((ward, made))
    }

    /// Creates a hub in `dir` holding a ward that exists as documents already (a device's demo
    /// ward, or a ward moved from another hub). Every document is checked as a push would be.
    pub fn import(dir: &Path, ward: &Ward, documents: &[DocumentBytes]) -> Result<(), HubError> {
        let mut storage = SqliteStorage::open(dir)?;
        refuse_existing(&storage, dir)?;
        let mut changes = Vec::new();
        let mut snapshots = Vec::new();
        for d in documents {
            let id: DocId = d.id.parse()?;
            let mut doc = document::decode::load_document(&d.bytes).map_err(|e| {
                HubError::refused(
                    Status::Unprocessable,
                    ErrorCode::BadChange,
                    format!("cannot be read: {e}"),
                )
                .on(&d.id)
            })?;
            document::check_identity(id, &doc)?;
            document::check_document(id, &doc)?;
            collect_changes(id, doc.get_changes(&[]), &mut changes);
            snapshots.push((id, doc.save()));
        }
        storage.append_changes(&changes, "hub", Utc::now())?;
        // Devices' first syncs then get each document saved whole, not change by change.
        for (id, bytes) in snapshots {
            storage.compact(id, &bytes)?;
        }
        storage.set_ward(ward.id, &ward.name)?;
        crate::HubTls::ensure(dir)?;
        Ok(())
    }

    /// Opens the hub in `dir`.
    pub fn open(dir: &Path) -> Result<Hub, HubError> {
        let storage = SqliteStorage::open(dir)?;
        Self::with_storage(Box::new(storage)).map_err(|e| match e {
            HubError::NoWard => HubError::refused(
                Status::BadRequest,
                ErrorCode::NoHub,
                format!(
                    "no hub in {}: run `doorstep hub init --data {} --ward NAME --group NAME`",
                    dir.display(),
                    dir.display()
                ),
            ),
            e => e,
        })
    }

    pub fn with_storage(mut storage: Box<dyn HubStorage>) -> Result<Hub, HubError> {
        let (ward_id, _) = storage.ward()?.ok_or(HubError::NoWard)?;
        let secret = storage.secret(random_bytes()?)?;
        Ok(Hub {
            storage,
            secret,
            ward_id,
            actor: ActorId::from(new_id().as_bytes()),
            docs: HashMap::new(),
        })
    }

    /// The address devices reach this hub at, as it last served.
    pub fn url(&self) -> Result<Option<String>, HubError> {
        Ok(self.storage.url()?)
    }

    pub fn set_url(&mut self, url: &str) -> Result<(), HubError> {
        Ok(self.storage.set_url(url)?)
    }

    /// A code's or token's keyed hash, as stored.
    fn keyed_hash(&self, text: &str) -> Result<String, HubError> {
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

    /// Loads every document of the ward into memory, and says how many. A serving hub does
    /// this once at start: loading a group's document costs about as much as a hundred sync
    /// rounds, and the documents stay loaded while it runs.
    pub fn load_documents(&mut self) -> Result<usize, HubError> {
        let ids = self.storage.document_ids()?;
        for id in &ids {
            self.doc(*id)?;
        }
        Ok(ids.len())
    }

    /// Drops every document held in memory; each is loaded again from storage when needed.
    pub fn forget_documents(&mut self) {
        self.docs.clear();
    }

    fn doc(&mut self, id: DocId) -> Result<&mut AutoCommit, HubError> {
        use std::collections::hash_map::Entry;
        match self.docs.entry(id) {
            Entry::Occupied(loaded) => Ok(loaded.into_mut()),
            Entry::Vacant(slot) => {
                let doc = match self.storage.load_document(id)? {
                    Some(bytes) => {
                        let mut doc =
                            AutoCommit::load(&bytes).map_err(|_| StorageError::Corrupt {
                                what: "document",
                                value: id.to_string(),
                            })?;
                        doc.set_actor(self.actor.clone());
                        doc
                    }
                    None => document::new_document(id, &self.actor)?,
                };
                Ok(slot.insert(doc))
            }
        }
    }

    /// The ward, its groups and points, as the hub's ward document holds them.
    pub fn ward(&mut self) -> Result<(Ward, Vec<ResidentialGroup>, Vec<LiteracyPoint>), HubError> {
        let id = self.ward_id;
        let doc = self.doc(DocId::Ward(id))?;
        Ok(document::read_ward(id, doc)?)
    }

    /// Makes an invite code for a device of `request.role`.
    pub fn invite(
        &mut self,
        request: &InviteRequest,
        now: DateTime<Utc>,
    ) -> Result<InviteResponse, HubError> {
        check_text("name", &request.name, true)?;
        let (_, groups, points) = self.ward()?;
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
        let code = new_code()?;
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

    /// Redeems an invite code: enrolls a device and gives it a token and the ward document.
    pub fn join(&mut self, code: &str, now: DateTime<Utc>) -> Result<JoinResponse, HubError> {
        let token = format!(
            "dst_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
        );
        let expires = now + Duration::days(TOKEN_DAYS);
        let code = normalize_code(code);
        let token_hash = self.keyed_hash(&token)?;
        let mut device = None;
        for code_hash in [self.keyed_hash(&code)?, legacy_hash(&code)] {
            device = self
                .storage
                .redeem_invite(&code_hash, now, new_id(), &token_hash, expires)?;
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
        let (ward, groups, points) = self.ward()?;
        let ward_document = self.doc(DocId::Ward(ward.id))?.save();
        let named = |ids: &[Id], all: &[(Id, String)]| -> Vec<Named> {
            all.iter()
                .filter(|(id, _)| ids.contains(id))
                .map(|(id, name)| Named {
                    id: *id,
                    name: name.clone(),
                })
                .collect()
        };
        let group_names: Vec<(Id, String)> = groups.into_iter().map(|g| (g.id, g.name)).collect();
        let point_names: Vec<(Id, String)> = points.into_iter().map(|p| (p.id, p.name)).collect();
        Ok(JoinResponse {
            device_id: device.id,
            name: device.name.clone(),
            role: device.role,
            ward_id: ward.id,
            ward_name: ward.name,
            groups: named(&device.groups, &group_names),
            points: named(&device.points, &point_names),
            token,
            token_expires_at: expires,
            ward_document: base64::engine::general_purpose::STANDARD.encode(ward_document),
        })
    }

    /// The device a bearer token belongs to; renews the token.
    pub fn authenticate(
        &mut self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<DeviceRecord, HubError> {
        let keyed = self.keyed_hash(token)?;
        let device = match self.storage.device_by_token(&keyed)? {
            Some(device) => Some(device),
            None => {
                // A token issued before keyed hashes: re-keyed on its first use.
                let legacy = self.storage.device_by_token(&legacy_hash(token))?;
                if let Some(device) = &legacy {
                    self.storage.rekey_token(device.id, &keyed)?;
                }
                legacy
            }
        };
        let device = device.ok_or_else(|| {
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
        self.storage
            .touch_device(device.id, now, now + Duration::days(TOKEN_DAYS))?;
        Ok(device)
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
            })
            .collect())
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

    /// The documents a device may read: `None` means all of the ward.
    fn readable(&self, device: &DeviceRecord) -> Option<HashSet<DocId>> {
        document::readable(device.role, self.ward_id, &device.groups, &device.points)
    }

    fn writable(&self, device: &DeviceRecord, doc: DocId) -> bool {
        match doc {
            DocId::Ward(w) if w != self.ward_id => false,
            _ => document::may_write(device.role, &device.groups, &device.points, doc),
        }
    }

    /// One sync round for `device`.
    pub fn sync(
        &mut self,
        device: &DeviceRecord,
        request: SyncRequest,
        now: DateTime<Utc>,
    ) -> Result<SyncResponse, HubError> {
        // Limits before work: a push names at most so many documents and changes.
        let changes: usize = request.pushes.iter().map(|p| p.changes.len()).sum();
        if request.pushes.len() > MAX_PUSH_DOCUMENTS || changes > MAX_PUSH_CHANGES {
            return Err(HubError::refused(
                Status::TooLarge,
                ErrorCode::PushTooLarge,
                format!(
                    "a push holds at most {MAX_PUSH_DOCUMENTS} documents and \
                     {MAX_PUSH_CHANGES} changes, not {} and {changes}",
                    request.pushes.len()
                ),
            ));
        }
        let mut pushes = Vec::with_capacity(request.pushes.len());
        for push in request.pushes {
            let doc = DocId::try_from(push.doc)?;
            if !self.writable(device, doc) {
                return Err(HubError::refused(
                    Status::Forbidden,
                    ErrorCode::OutOfScope,
                    format!("a {} device may not change this document", device.role),
                )
                .on(doc));
            }
            pushes.push((doc, push.changes));
        }
        // The ward document first: a coordinator's new literacy point is listed there.
        pushes.sort_by_key(|(doc, _)| !matches!(doc, DocId::Ward(_)));
        let touched: Vec<DocId> = pushes.iter().map(|(d, _)| *d).collect();
        let result = self.apply(pushes, device, now);
        if result.is_err() {
            for doc in touched {
                self.docs.remove(&doc);
            }
        }
        let pushed_hashes = result?;
        let receipts = self
            .storage
            .receipts(&pushed_hashes)?
            .into_iter()
            .filter(|(_, at)| at.timestamp_millis() != now.timestamp_millis())
            .map(|(hash, at)| Receipt {
                hash,
                received_at: at.timestamp_millis(),
            })
            .collect();
        let page = self.storage.pull(
            request.cursor,
            self.readable(device).as_ref(),
            &device.id.to_string(),
            BATCH_BYTES,
        )?;
        let mut pulls: Vec<Pull> = Vec::new();
        for item in page.items {
            let (doc, snapshot, change) = match item {
                PullItem::Snapshot { doc, bytes, .. } => (doc, Some(bytes), None),
                PullItem::Change {
                    doc,
                    received_at,
                    bytes,
                    ..
                } => (
                    doc,
                    None,
                    Some(PulledChange {
                        received_at: received_at.timestamp_millis(),
                        bytes,
                    }),
                ),
            };
            let wire = WireDoc::from(doc);
            let at = match pulls.iter().position(|p| p.doc == wire) {
                Some(i) => i,
                None => {
                    pulls.push(Pull {
                        doc: wire,
                        snapshot: None,
                        changes: Vec::new(),
                    });
                    pulls.len() - 1
                }
            };
            if snapshot.is_some() {
                pulls[at].snapshot = snapshot;
            }
            pulls[at].changes.extend(change);
        }
        Ok(SyncResponse {
            cursor: page.cursor,
            more: page.more,
            hub_time: now.timestamp_millis(),
            receipts,
            pulls,
        })
    }

    /// Applies pushed changes and stores the new ones; returns the hashes of all pushed.
    fn apply(
        &mut self,
        pushes: Vec<(DocId, Vec<Vec<u8>>)>,
        device: &DeviceRecord,
        now: DateTime<Utc>,
    ) -> Result<Vec<[u8; 32]>, HubError> {
        let mut pushed = Vec::new();
        let mut changes = Vec::new();
        let mut applied = Vec::new();
        for (id, raw) in pushes {
            let ward = DocId::Ward(self.ward_id);
            if id != ward && !document::ward_lists(self.doc(ward)?, id)? {
                return Err(HubError::refused(
                    Status::NotFound,
                    ErrorCode::UnknownDocument,
                    "the ward has no such residential group or literacy point",
                )
                .on(id));
            }
            let doc = self.doc(id)?;
            let before = doc.get_heads();
            let bad = |message: String| {
                HubError::refused(Status::Unprocessable, ErrorCode::BadChange, message).on(id)
            };
            let mut decoded = Vec::with_capacity(raw.len());
            for (i, bytes) in raw.into_iter().enumerate() {
                let change = document::decode::decode_change(bytes)
                    .map_err(|e| bad(format!("change {i} is not an Automerge change: {e}")))?;
                pushed.push(change.hash().0);
                decoded.push(change);
            }
            // One batch: Automerge splices its columns once, not once per change.
            document::decode::apply_changes(doc, decoded)
                .map_err(|e| bad(format!("changes cannot be applied: {e}")))?;
            if !doc.get_missing_deps(&[]).is_empty() {
                return Err(HubError::refused(
                    Status::Conflict,
                    ErrorCode::MissingHistory,
                    "changes whose history the hub does not hold: send the document's whole \
                     history",
                )
                .on(id));
            }
            document::check_identity(id, doc)?;
            let new = doc.get_changes(&before);
            // The whole change, every operation, as the schema says (not just the fields a
            // reader would see), and the records it touched as they now stand.
            document::check_changes(id, doc, &new, Author::Device(device.role))?;
            collect_changes(id, new, &mut changes);
            applied.push(id);
        }
        if !changes.is_empty() {
            self.storage
                .append_changes(&changes, &device.id.to_string(), now)?;
        }
        for id in applied {
            if self.storage.changes_since_snapshot(id)? >= COMPACT_AFTER {
                let bytes = self.doc(id)?.save();
                self.storage.compact(id, &bytes)?;
            }
        }
        Ok(pushed)
    }
}

/// A document's changes, ready to store.
fn collect_changes(id: DocId, changes: Vec<Change>, out: &mut Vec<NewChange>) {
    for mut change in changes {
        out.push(NewChange {
            doc: id,
            hash: change.hash().0,
            bytes: change.bytes().into_owned(),
        });
    }
}

/// Refuses to make a hub where one exists already.
fn refuse_existing(storage: &SqliteStorage, dir: &Path) -> Result<(), HubError> {
    match storage.ward()? {
        Some((_, name)) => Err(HubError::refused(
            Status::BadRequest,
            ErrorCode::HubExists,
            format!("{} already holds the hub of ward {name:?}", dir.display()),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> (tempfile::TempDir, Hub) {
        let dir = tempfile::tempdir().unwrap();
        Hub::init(dir.path(), "Phường Thử", &["Tổ 1".into()]).unwrap();
        let hub = Hub::open(dir.path()).unwrap();
        (dir, hub)
    }

    fn invite(hub: &mut Hub, now: DateTime<Utc>) -> String {
        let request = InviteRequest {
            role: Role::Coordinator,
            name: "Chị Hà".into(),
            groups: vec![],
            point: None,
            expires_hours: None,
        };
        hub.invite(&request, now).unwrap().code
    }

    /// Codes and tokens are stored as HMACs under the hub's secret, not as plain hashes that
    /// a copy of the database would let anyone test guesses against.
    #[test]
    fn codes_and_tokens_are_stored_keyed() {
        let (dir, mut hub) = hub();
        let now = Utc::now();
        let code = invite(&mut hub, now);
        let joined = hub.join(&code, now).unwrap();
        let db = rusqlite::Connection::open(dir.path().join("hub.sqlite")).unwrap();
        let stored: String = db
            .query_row("SELECT token_hash FROM devices", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, hub.keyed_hash(&joined.token).unwrap());
        assert_ne!(stored, legacy_hash(&joined.token));
        let code_hash: String = db
            .query_row("SELECT code_hash FROM invites", [], |r| r.get(0))
            .unwrap();
        assert_ne!(code_hash, legacy_hash(&normalize_code(&code)));
        // Another hub's secret makes other hashes of the same token.
        let (_, other) = self::hub();
        assert_ne!(other.keyed_hash(&joined.token).unwrap(), stored);
    }

    /// A token stored by a hub from before keyed hashes still works once, and is re-keyed.
    #[test]
    fn a_token_from_before_keyed_hashes_is_rekeyed_on_use() {
        let (_dir, mut hub) = hub();
        let now = Utc::now();
        let code = invite(&mut hub, now);
        let token = "dst_from_an_older_hub";
        let device = hub
            .storage
            .redeem_invite(
                &hub.keyed_hash(&normalize_code(&code)).unwrap(),
                now,
                new_id(),
                &legacy_hash(token),
                now + Duration::days(TOKEN_DAYS),
            )
            .unwrap()
            .unwrap();
        assert_eq!(hub.authenticate(token, now).unwrap().id, device.id);
        let rekeyed = hub
            .storage
            .device_by_token(&hub.keyed_hash(token).unwrap())
            .unwrap();
        assert_eq!(rekeyed.map(|d| d.id), Some(device.id));
    }

    /// However often a token is used, it dies TOKEN_MAX_DAYS after the device joined.
    #[test]
    fn a_token_has_an_absolute_lifetime() {
        let (_dir, mut hub) = hub();
        let joined_at = Utc::now();
        let code = invite(&mut hub, joined_at);
        let token = hub.join(&code, joined_at).unwrap().token;
        // Used every 29 days: the sliding expiry never runs out...
        let mut day = joined_at + Duration::days(TOKEN_DAYS - 1);
        while day < joined_at + Duration::days(TOKEN_MAX_DAYS) {
            assert!(hub.authenticate(&token, day).is_ok(), "day {day}");
            day += Duration::days(TOKEN_DAYS - 1);
        }
        let late = joined_at + Duration::days(TOKEN_MAX_DAYS);
        let refused = hub.authenticate(&token, late).map_err(|e| e.code());
        assert_eq!(refused.err(), Some(ErrorCode::TokenExpired));
    }

    /// A damaged secret in the hub's database stops the hub with a storage error rather than
    /// hashing with a key that is not the one tokens were stored under.
    #[test]
    fn a_damaged_secret_is_refused() {
        let (dir, hub) = hub();
        drop(hub);
        let db = rusqlite::Connection::open(dir.path().join("hub.sqlite")).unwrap();
        for damaged in ["zz", "0123", &"g".repeat(64)] {
            db.execute("UPDATE meta SET value = ?1 WHERE key = 'secret'", [damaged])
                .unwrap();
            let opened = Hub::open(dir.path());
            assert!(
                matches!(opened, Err(HubError::Storage(StorageError::Corrupt { .. }))),
                "{damaged}"
            );
        }
    }
}
