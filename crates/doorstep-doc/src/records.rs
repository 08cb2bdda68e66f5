//! How the campaign's records are laid out inside Automerge documents.
//!
//! Three kinds of document, as `sync-design.md` plans: the ward (`ward/<id>`: its name, its
//! residential groups, its literacy points), one per residential group (`group/<id>`: its
//! households and their visits) and one per literacy point (`point/<id>`: its walk-ins). Records
//! are maps keyed by their UUIDv7 holding scalar fields, so concurrent edits of different fields
//! of one household merge field by field; visits and walk-ins are written once and never edited.
//!
//! Every document starts with the same first change wherever it is created (fixed actor, time
//! 0, the document's id in its root), so two devices that create the same group's document
//! independently hold one shared root and their maps merge instead of conflicting.

use std::borrow::Cow;
use std::str::FromStr;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, ScalarValueRef, Value,
    ValueRef, ROOT,
};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use doorstep_domain::*;

use crate::{DocError, DocId};

pub(crate) const RECORD_MAPS: &[(&str, &[&str])] = &[
    ("ward", &["groups", "points"]),
    ("group", &["households", "visits"]),
    ("point", &["walkins"]),
];

/// The actor of every document's first change. One byte: later changes that touch the
/// record maps name it among their actors, so it costs one byte per change instead of 16.
/// Device actors are 16 random bytes, so they never equal it.
pub const ROOT_ACTOR: [u8; 1] = [0];

/// Root key of a document written anew by the hub (an erasure): its epoch, written in the new
/// epoch's first change, so that each epoch's first change is its own and the history of an
/// older epoch has nothing to attach to.
pub const EPOCH: &str = "epoch";

/// A new, empty document whose first change is the same on every device.
pub fn new_document(id: DocId, device: &ActorId) -> Result<AutoCommit, DocError> {
    new_document_at(id, 0, device)
}

/// A new, empty document of epoch `epoch`: its first change the same wherever it is made, and
/// different from every other epoch's (epoch 0 writes no `epoch`, as before epochs existed).
pub fn new_document_at(id: DocId, epoch: u32, device: &ActorId) -> Result<AutoCommit, DocError> {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(ROOT_ACTOR));
    doc.put(ROOT, "id", id.to_string())?;
    if epoch > 0 {
        doc.put(ROOT, EPOCH, i64::from(epoch))?;
    }
    for (kind, maps) in RECORD_MAPS {
        if *kind == id.kind() {
            for map in *maps {
                doc.put_object(ROOT, *map, ObjType::Map)?;
            }
        }
    }
    doc.commit_with(CommitOptions::default().with_time(0));
    doc.set_actor(device.clone());
    Ok(doc)
}

/// Checks that loaded bytes are the document they claim to be.
pub fn check_identity(id: DocId, doc: &AutoCommit) -> Result<(), DocError> {
    let found = get_str(doc, &ROOT, "id")?;
    if found.as_deref() == Some(id.to_string().as_str()) {
        Ok(())
    } else {
        Err(crate::Refusal {
            code: ErrorCode::WrongDocument,
            doc: id,
            record: None,
            detail: format!("it says it is {:?}", found.unwrap_or_default()),
        }
        .into())
    }
}

pub(crate) fn record_map(doc: &AutoCommit, name: &str) -> Result<ObjId, DocError> {
    match doc.get(ROOT, name)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        _ => Err(malformed(doc, format!("no {name} map"))),
    }
}

fn malformed(doc: &AutoCommit, reason: String) -> DocError {
    let id = get_str(doc, &ROOT, "id").ok().flatten().unwrap_or_default();
    DocError::Malformed { doc: id, reason }
}

/// A string at `key` of `obj`, for fields read alone (a document's id, the ward's name).
pub(crate) fn get_str(
    doc: &AutoCommit,
    obj: &ObjId,
    key: &str,
) -> Result<Option<String>, DocError> {
    Ok(match doc.get(obj, key)? {
        Some((Value::Scalar(v), _)) => match v.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    })
}

/// A record's scalar fields, read in one pass over its map: one `map_range` instead of one
/// lookup per field (reading a group's visits field by field was most of a device's first
/// sync, and of the hub's checks).
pub(crate) struct Fields<'a> {
    doc: &'a AutoCommit,
    items: Vec<(Cow<'a, str>, ScalarValueRef<'a>)>,
}

impl<'a> Fields<'a> {
    pub(crate) fn of(doc: &'a AutoCommit, obj: &ObjId) -> Self {
        let items = doc
            .map_range(obj, ..)
            .filter_map(|item| match item.value {
                ValueRef::Scalar(v) => Some((item.key, v)),
                ValueRef::Object(_) => None,
            })
            .collect();
        Fields { doc, items }
    }

    /// Fields already read (the whole-document check reads each record once).
    pub(crate) fn from_items(
        doc: &'a AutoCommit,
        items: Vec<(Cow<'a, str>, ScalarValueRef<'a>)>,
    ) -> Self {
        Fields { doc, items }
    }

    /// A survivor's fields with the edits its merged duplicates received that their merge had
    /// not seen (made offline before it, or after it by a device that did not know), where
    /// such an edit is later than the survivor's own value: later by Automerge's own order of
    /// operations (Lamport counter, then actor), so every replica picks the same value.
    pub(crate) fn overlaid(doc: &'a AutoCommit, obj: &ObjId, duplicates: &[ObjId]) -> Self {
        let mut items: Vec<(Cow<'a, str>, ScalarValueRef<'a>, ObjId)> = doc
            .map_range(obj, ..)
            .filter_map(|item| {
                let id = item.id();
                match item.value {
                    ValueRef::Scalar(v) => Some((item.key, v, id)),
                    ValueRef::Object(_) => None,
                }
            })
            .collect();
        for dup in duplicates {
            let Some(merge) = doc.get(dup, MERGED_INTO).ok().flatten().map(|(_, id)| id) else {
                continue;
            };
            let Some(merged_at) = doc.hash_for_opid(&merge) else {
                continue;
            };
            for item in doc.map_range(dup, ..) {
                let id = item.id();
                let ValueRef::Scalar(value) = item.value else {
                    continue;
                };
                if !FORWARDED.contains(&&*item.key) {
                    continue;
                }
                let seen = doc
                    .get_all_at(dup, &*item.key, &[merged_at])
                    .map_or(true, |all| all.iter().any(|(_, i)| *i == id));
                if seen {
                    continue;
                }
                match items.iter_mut().find(|(k, _, _)| *k == item.key) {
                    Some(own) if own.2 < id => {
                        own.1 = value;
                        own.2 = id;
                    }
                    Some(_) => {}
                    None => items.push((item.key, value, id)),
                }
            }
        }
        Fields {
            doc,
            items: items.into_iter().map(|(k, v, _)| (k, v)).collect(),
        }
    }

    /// Every field and its value, owned.
    pub(crate) fn items(&self) -> Vec<(String, ScalarValue)> {
        self.items
            .iter()
            .map(|(k, v)| (k.to_string(), ScalarValue::from(v)))
            .collect()
    }

    pub(crate) fn get(&self, key: &str) -> Option<&ScalarValueRef<'a>> {
        self.items.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(ScalarValueRef::Str(s)) => Some(s),
            _ => None,
        }
    }

    fn string(&self, key: &str) -> Option<String> {
        self.str(key).map(str::to_string)
    }

    fn missing(&self, key: &str) -> DocError {
        malformed(self.doc, format!("record without {key}"))
    }

    fn need_str(&self, key: &str) -> Result<String, DocError> {
        self.string(key).ok_or_else(|| self.missing(key))
    }

    fn optional<T: FromStr>(&self, key: &str) -> Result<Option<T>, DocError> {
        self.str(key)
            .map(|text| {
                text.parse()
                    .map_err(|_| malformed(self.doc, format!("{key} {text:?} is not known")))
            })
            .transpose()
    }

    fn need<T: FromStr>(&self, key: &str) -> Result<T, DocError> {
        self.optional(key)?.ok_or_else(|| self.missing(key))
    }

    pub(crate) fn bool(&self, key: &str) -> bool {
        matches!(self.get(key), Some(ScalarValueRef::Boolean(true)))
    }

    fn int(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(ScalarValueRef::Int(i)) => Some(*i),
            Some(ScalarValueRef::Uint(u)) => i64::try_from(*u).ok(),
            _ => None,
        }
    }

    fn time(&self, key: &str) -> Result<DateTime<Utc>, DocError> {
        self.int(key)
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .ok_or_else(|| self.missing(key))
    }

    fn time_opt(&self, key: &str) -> Option<DateTime<Utc>> {
        self.int(key)
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
    }

    fn id(&self, key: &str) -> Option<Id> {
        match self.get(key) {
            Some(ScalarValueRef::Bytes(b)) => Id::from_slice(b).ok(),
            _ => None,
        }
    }

    /// The record's review, when a coordinator started one.
    fn review(&self) -> Option<Review> {
        Some(Review {
            state: self.str(REVIEW_STATE)?.parse().ok()?,
            comment: self.string(REVIEW_COMMENT),
            by: self.string(REVIEW_BY).unwrap_or_default(),
            at: self.time_opt(REVIEW_AT)?,
        })
    }

    /// The household's assignment, when a coordinator made one.
    fn assignment(&self) -> Option<Assignment> {
        Some(Assignment {
            to: self.string(ASSIGNED_TO)?,
            by: self.string(ASSIGNED_BY).unwrap_or_default(),
            at: self.time_opt(ASSIGNED_AT)?,
        })
    }

    /// The record's void, when it has one.
    fn void(&self) -> Option<Void> {
        Some(Void {
            at: self.time_opt(VOIDED_AT)?,
            by: self.string(VOIDED_BY).unwrap_or_default(),
            reason: self.string(VOID_REASON).unwrap_or_default(),
        })
    }

    fn flags(&self) -> PriorityFlags {
        PriorityFlags {
            elderly: self.bool("elderly"),
            disability: self.bool("disability"),
            poor: self.bool("poor"),
            near_poor: self.bool("near_poor"),
        }
    }
}

fn put_opt_str(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    value: &Option<String>,
) -> Result<(), DocError> {
    match value {
        Some(v) => doc.put(obj, key, v.as_str())?,
        None => doc.delete(obj, key)?,
    }
    Ok(())
}

fn put_flags(doc: &mut AutoCommit, obj: &ObjId, flags: &PriorityFlags) -> Result<(), DocError> {
    doc.put(obj, "elderly", flags.elderly)?;
    doc.put(obj, "disability", flags.disability)?;
    doc.put(obj, "poor", flags.poor)?;
    doc.put(obj, "near_poor", flags.near_poor)?;
    Ok(())
}

/// Writes only the flags that are set: for records written once (assists, walk-ins), where a
/// missing flag reads as false and every byte counts on the wire.
fn put_set_flags(doc: &mut AutoCommit, obj: &ObjId, flags: &PriorityFlags) -> Result<(), DocError> {
    for p in flags.list() {
        doc.put(obj, p.as_str(), true)?;
    }
    Ok(())
}

pub(crate) fn record(doc: &AutoCommit, map: &ObjId, id: Id) -> Result<Option<ObjId>, DocError> {
    Ok(match doc.get(map, id.to_string())? {
        Some((Value::Object(ObjType::Map), obj)) => Some(obj),
        _ => None,
    })
}

/// Every record of a record map: its id and its object.
pub(crate) fn records(doc: &AutoCommit, map: &ObjId) -> Vec<(Id, ObjId)> {
    doc.map_range(map, ..)
        .filter_map(|item| match item.value {
            ValueRef::Object(ObjType::Map) => Some((Id::parse_str(&item.key).ok()?, item.id())),
            _ => None,
        })
        .collect()
}

// ---- ward document ----

/// Sets the ward's name.
pub fn put_ward_name(doc: &mut AutoCommit, name: &str) -> Result<(), DocError> {
    doc.put(ROOT, "name", name)?;
    Ok(())
}

/// The idle minutes every device of the ward locks after, when a coordinator set them: a root
/// key of the ward document (only coordinators write it; the hub's schema keeps it in range).
pub const IDLE_LOCK_MINUTES: &str = "idle_lock_minutes";
/// The range a coordinator may set the idle lock in.
pub const IDLE_LOCK_RANGE: std::ops::RangeInclusive<u32> = 1..=60;

/// The ward's campaign targets (whole percents of households), root keys of the ward
/// document: online, VNeID activated, visited.
pub const TARGET_KEYS: [&str; 3] = [
    "target_online_percent",
    "target_vneid_activated_percent",
    "target_visited_percent",
];

/// Sets the ward's targets (each brought into 0–100).
pub fn put_targets(doc: &mut AutoCommit, percents: [u32; 3]) -> Result<(), DocError> {
    for (key, value) in TARGET_KEYS.iter().zip(percents) {
        doc.put(ROOT, *key, i64::from(value.min(100)))?;
    }
    Ok(())
}

/// The ward's targets, when a coordinator set them.
pub fn targets(doc: &AutoCommit) -> Result<Option<[u32; 3]>, DocError> {
    let mut out = [0u32; 3];
    for (slot, key) in out.iter_mut().zip(TARGET_KEYS) {
        match doc.get(ROOT, key)? {
            Some((Value::Scalar(v), _)) => match v.as_ref() {
                ScalarValue::Int(m) => *slot = u32::try_from(*m).unwrap_or(0).min(100),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// Sets the ward's idle lock (minutes, brought into [`IDLE_LOCK_RANGE`]).
pub fn put_idle_lock_minutes(doc: &mut AutoCommit, minutes: u32) -> Result<(), DocError> {
    let minutes = minutes.clamp(*IDLE_LOCK_RANGE.start(), *IDLE_LOCK_RANGE.end());
    doc.put(ROOT, IDLE_LOCK_MINUTES, i64::from(minutes))?;
    Ok(())
}

/// The ward's idle lock, when a coordinator set one.
pub fn idle_lock_minutes(doc: &AutoCommit) -> Result<Option<u32>, DocError> {
    Ok(match doc.get(ROOT, IDLE_LOCK_MINUTES)? {
        Some((Value::Scalar(v), _)) => match v.as_ref() {
            ScalarValue::Int(m) => u32::try_from(*m)
                .ok()
                .filter(|m| IDLE_LOCK_RANGE.contains(m)),
            _ => None,
        },
        _ => None,
    })
}

/// Adds a residential group to the ward document.
pub fn put_group(doc: &mut AutoCommit, group: &ResidentialGroup) -> Result<(), DocError> {
    let groups = record_map(doc, "groups")?;
    let obj = doc.put_object(&groups, group.id.to_string(), ObjType::Map)?;
    doc.put(&obj, "name", group.name.as_str())?;
    Ok(())
}

/// Adds a literacy point to the ward document.
pub fn put_point(doc: &mut AutoCommit, point: &LiteracyPoint) -> Result<(), DocError> {
    let points = record_map(doc, "points")?;
    let obj = doc.put_object(&points, point.id.to_string(), ObjType::Map)?;
    doc.put(&obj, "name", point.name.as_str())?;
    put_opt_str(doc, &obj, "place", &point.place)?;
    Ok(())
}

/// Whether the ward document lists `doc`: its residential group or literacy point (the ward's
/// own document is listed by being the ward).
pub fn ward_lists(ward_doc: &AutoCommit, doc: DocId) -> Result<bool, DocError> {
    let (map, id) = match doc {
        DocId::Ward(_) => return Ok(true),
        DocId::Group(g) => ("groups", g),
        DocId::Point(p) => ("points", p),
    };
    Ok(record(ward_doc, &record_map(ward_doc, map)?, id)?.is_some())
}

/// The ward, its groups and its points as the ward document holds them.
pub fn read_ward(
    id: Id,
    doc: &AutoCommit,
) -> Result<(Ward, Vec<ResidentialGroup>, Vec<LiteracyPoint>), DocError> {
    let ward = Ward {
        id,
        name: get_str(doc, &ROOT, "name")?.unwrap_or_default(),
    };
    let groups_map = record_map(doc, "groups")?;
    let mut groups = Vec::new();
    for (gid, obj) in records(doc, &groups_map) {
        groups.push(ResidentialGroup {
            id: gid,
            name: Fields::of(doc, &obj).need_str("name")?,
        });
    }
    let points_map = record_map(doc, "points")?;
    let mut points = Vec::new();
    for (pid, obj) in records(doc, &points_map) {
        let fields = Fields::of(doc, &obj);
        points.push(LiteracyPoint {
            id: pid,
            name: fields.need_str("name")?,
            place: fields.string("place"),
        });
    }
    Ok((ward, groups, points))
}

// ---- group document ----

/// Writes a new household, every field.
pub fn put_household(doc: &mut AutoCommit, h: &Household) -> Result<(), DocError> {
    let map = record_map(doc, "households")?;
    let obj = doc.put_object(&map, h.id.to_string(), ObjType::Map)?;
    doc.put(&obj, "created_at", h.created_at.timestamp_millis())?;
    patch_household_fields(
        doc,
        &obj,
        &HouseholdPatch {
            alley: Some(h.alley.clone()),
            number: Some(h.number.clone()),
            members: h.members,
            priority: Some(h.priority),
            internet: Some(h.internet),
            consent: Some(h.consent),
            name: h.name.clone(),
            phone: h.phone.clone(),
            state: (h.state != HouseholdState::LivesHere).then_some(h.state),
        },
    )?;
    put_consent_fields(doc, &obj, &h.consent_record)
}

/// Records a household's consent given or withdrawn: when, by whom, for which purpose.
pub fn put_consent_record(
    doc: &mut AutoCommit,
    id: Id,
    consent: &ConsentRecord,
) -> Result<(), DocError> {
    let map = record_map(doc, "households")?;
    let obj = record(doc, &map, id)?.ok_or(DocError::UnknownHousehold(id))?;
    put_consent_fields(doc, &obj, consent)
}

fn put_consent_fields(
    doc: &mut AutoCommit,
    obj: &ObjId,
    record: &ConsentRecord,
) -> Result<(), DocError> {
    let times = [
        ("consent_given_at", record.given_at),
        ("consent_withdrawn_at", record.withdrawn_at),
    ];
    for (key, at) in times {
        match at {
            Some(at) => doc.put(obj, key, at.timestamp_millis())?,
            None if doc.get(obj, key)?.is_some() => doc.delete(obj, key)?,
            None => {}
        }
    }
    let texts = [
        ("consent_purpose", &record.purpose),
        ("consent_given_by", &record.given_by),
        ("consent_withdrawn_by", &record.withdrawn_by),
    ];
    for (key, text) in texts {
        match text {
            Some(text) => doc.put(obj, key, text.as_str())?,
            None if doc.get(obj, key)?.is_some() => doc.delete(obj, key)?,
            None => {}
        }
    }
    Ok(())
}

/// Writes only the fields a correction changes, so concurrent corrections merge per field.
pub fn patch_household(
    doc: &mut AutoCommit,
    id: Id,
    patch: &HouseholdPatch,
) -> Result<(), DocError> {
    let map = record_map(doc, "households")?;
    let obj = record(doc, &map, id)?.ok_or(DocError::UnknownHousehold(id))?;
    patch_household_fields(doc, &obj, patch)
}

fn patch_household_fields(
    doc: &mut AutoCommit,
    obj: &ObjId,
    p: &HouseholdPatch,
) -> Result<(), DocError> {
    if let Some(v) = &p.alley {
        doc.put(obj, "alley", v.as_str())?;
    }
    if let Some(v) = &p.number {
        doc.put(obj, "number", v.as_str())?;
    }
    if let Some(v) = p.members {
        doc.put(obj, "members", i64::from(v))?;
    }
    if let Some(v) = &p.priority {
        put_flags(doc, obj, v)?;
    }
    if let Some(v) = p.internet {
        doc.put(obj, "internet", v.as_str())?;
    }
    if let Some(v) = p.consent {
        doc.put(obj, "consent", v)?;
        if !v {
            doc.delete(obj, "name")?;
            doc.delete(obj, "phone")?;
        }
    }
    if p.name.is_some() {
        put_opt_str(doc, obj, "name", &p.name)?;
    }
    if p.phone.is_some() {
        put_opt_str(doc, obj, "phone", &p.phone)?;
    }
    if let Some(v) = p.state {
        doc.put(obj, "state", v.as_str())?;
    }
    Ok(())
}

pub(crate) fn read_household_at(
    doc: &AutoCommit,
    obj: &ObjId,
    group_id: Id,
    id: Id,
) -> Result<Household, DocError> {
    household_from_fields(&Fields::of(doc, obj), group_id, id)
}

/// What a correction of a merged duplicate forwards to its survivor (see `Fields::overlaid`).
const FORWARDED: &[&str] = &[
    "alley",
    "number",
    "members",
    "elderly",
    "disability",
    "poor",
    "near_poor",
    "internet",
    "consent",
    "name",
    "phone",
    "consent_purpose",
    "consent_given_at",
    "consent_given_by",
    "consent_withdrawn_at",
    "consent_withdrawn_by",
];

/// Household `survivor` of group `group_id`'s document as it counts: its own fields, and the
/// corrections its merged `duplicates` received that the merge had not seen, where later.
pub fn read_survivor(
    doc: &AutoCommit,
    group_id: Id,
    survivor: Id,
    duplicates: &[Id],
) -> Result<Option<Household>, DocError> {
    let map = record_map(doc, "households")?;
    let Some(obj) = record(doc, &map, survivor)? else {
        return Ok(None);
    };
    let mut dups = Vec::new();
    for d in duplicates {
        if let Some(o) = record(doc, &map, *d)? {
            dups.push(o);
        }
    }
    let fields = Fields::overlaid(doc, &obj, &dups);
    household_from_fields(&fields, group_id, survivor).map(Some)
}

pub(crate) fn household_from_fields(
    f: &Fields<'_>,
    group_id: Id,
    id: Id,
) -> Result<Household, DocError> {
    let consent = f.bool("consent");
    Ok(Household {
        id,
        group_id,
        alley: f.need_str("alley")?,
        number: f.need_str("number")?,
        members: f.int("members").and_then(|m| u32::try_from(m).ok()),
        priority: f.flags(),
        internet: f.optional("internet")?.unwrap_or_default(),
        consent,
        // A consent withdrawn on one device and a name typed on another can merge into a name
        // without consent: it is never shown or counted.
        name: f.string("name").filter(|_| consent),
        phone: f.string("phone").filter(|_| consent),
        created_at: f.time("created_at")?,
        erased_at: f.time_opt(crate::epoch::ERASED_AT),
        consent_record: ConsentRecord {
            purpose: f.string("consent_purpose"),
            given_at: f.time_opt("consent_given_at"),
            given_by: f.string("consent_given_by"),
            withdrawn_at: f.time_opt("consent_withdrawn_at"),
            withdrawn_by: f.string("consent_withdrawn_by"),
        },
        merged_into: f.id(MERGED_INTO),
        voided: f.void(),
        review: f.review(),
        assignment: f.assignment(),
        not_duplicate_of: f
            .str(NOT_DUPLICATE_OF)
            .map(|ids| {
                ids.split_whitespace()
                    .filter_map(|i| Id::parse_str(i).ok())
                    .collect()
            })
            .unwrap_or_default(),
        state: f.optional("state")?.unwrap_or_default(),
    })
}

/// An assignment's fields, on a household (see `Assignment`).
pub const ASSIGNED_TO: &str = "assigned_to";
pub const ASSIGNED_BY: &str = "assigned_by";
pub const ASSIGNED_AT: &str = "assigned_at";

/// Hands household `id` to a volunteer.
pub fn put_assignment(
    doc: &mut AutoCommit,
    id: Id,
    assignment: &Assignment,
) -> Result<(), DocError> {
    let map = record_map(doc, "households")?;
    let obj = record(doc, &map, id)?.ok_or(DocError::UnknownHousehold(id))?;
    doc.put(&obj, ASSIGNED_TO, assignment.to.as_str())?;
    doc.put(&obj, ASSIGNED_BY, assignment.by.as_str())?;
    doc.put(&obj, ASSIGNED_AT, assignment.at.timestamp_millis())?;
    Ok(())
}

/// A review's fields, on a household or a visit (see `Review`).
pub const REVIEW_STATE: &str = "review_state";
pub const REVIEW_COMMENT: &str = "review_comment";
pub const REVIEW_BY: &str = "review_by";
pub const REVIEW_AT: &str = "review_at";

/// Sets the review of record `id` of `map` (`households` or `visits`); no comment removes
/// the one before.
pub fn put_review(
    doc: &mut AutoCommit,
    map: &str,
    id: Id,
    review: &Review,
) -> Result<(), DocError> {
    let records = record_map(doc, map)?;
    let obj = record(doc, &records, id)?.ok_or(DocError::Malformed {
        doc: String::new(),
        reason: format!("no {map} record {id}"),
    })?;
    doc.put(&obj, REVIEW_STATE, review.state.as_str())?;
    put_opt_str(doc, &obj, REVIEW_COMMENT, &review.comment)?;
    doc.put(&obj, REVIEW_BY, review.by.as_str())?;
    doc.put(&obj, REVIEW_AT, review.at.timestamp_millis())?;
    Ok(())
}

/// A void's fields, on a household or a visit (see `Void`).
pub const VOIDED_AT: &str = "voided_at";
pub const VOIDED_BY: &str = "voided_by";
pub const VOID_REASON: &str = "void_reason";

/// Voids record `id` of `map` (`households` or `visits`) of a group's document.
pub fn put_void(doc: &mut AutoCommit, map: &str, id: Id, void: &Void) -> Result<(), DocError> {
    let records = record_map(doc, map)?;
    let obj = record(doc, &records, id)?.ok_or(match map {
        "visits" => DocError::Malformed {
            doc: String::new(),
            reason: format!("no visit {id}"),
        },
        _ => DocError::UnknownHousehold(id),
    })?;
    doc.put(&obj, VOIDED_AT, void.at.timestamp_millis())?;
    doc.put(&obj, VOIDED_BY, void.by.as_str())?;
    doc.put(&obj, VOID_REASON, void.reason.as_str())?;
    Ok(())
}

/// The actor (device) whose change created record `id` of `map`, if the record is there.
pub fn created_by(doc: &AutoCommit, map: &str, id: Id) -> Result<Option<ActorId>, DocError> {
    let records = record_map(doc, map)?;
    Ok(match record(doc, &records, id)? {
        Some(ObjId::Id(_, actor, _)) => Some(actor),
        _ => None,
    })
}

/// The household a duplicate was merged into (a coordinator's act, never undone).
pub const MERGED_INTO: &str = "merged_into";
/// The households a coordinator said this one is not a duplicate of (ids, space-separated).
pub const NOT_DUPLICATE_OF: &str = "not_duplicate_of";

/// Merges household `duplicate` into `survivor` (both of this group's document): the
/// duplicate stays, marked, and its visits count for the survivor wherever records are read.
pub fn put_merge(doc: &mut AutoCommit, duplicate: Id, survivor: Id) -> Result<(), DocError> {
    let map = record_map(doc, "households")?;
    record(doc, &map, survivor)?.ok_or(DocError::UnknownHousehold(survivor))?;
    let obj = record(doc, &map, duplicate)?.ok_or(DocError::UnknownHousehold(duplicate))?;
    doc.put(
        &obj,
        MERGED_INTO,
        ScalarValue::Bytes(survivor.as_bytes().to_vec()),
    )?;
    Ok(())
}

/// Remembers that households `a` and `b` are two households, not one.
pub fn put_not_duplicate(doc: &mut AutoCommit, a: Id, b: Id) -> Result<(), DocError> {
    let map = record_map(doc, "households")?;
    record(doc, &map, b)?.ok_or(DocError::UnknownHousehold(b))?;
    let obj = record(doc, &map, a)?.ok_or(DocError::UnknownHousehold(a))?;
    let mut ids = Fields::of(doc, &obj)
        .string(NOT_DUPLICATE_OF)
        .unwrap_or_default();
    if !ids.split_whitespace().any(|i| i == b.to_string()) {
        if !ids.is_empty() {
            ids.push(' ');
        }
        ids.push_str(&b.to_string());
        doc.put(&obj, NOT_DUPLICATE_OF, ids)?;
    }
    Ok(())
}

/// Which household each household of a group counts as: every merged one maps to the end of
/// its chain of merges. Two merges made concurrently in opposite directions (A into B on one
/// device, B into A on another) form a cycle: the household with the smallest id in it
/// survives, so every device resolves alike. Households not in the map count as themselves.
pub fn survivors(merges: &[(Id, Id)]) -> std::collections::HashMap<Id, Id> {
    use std::collections::HashMap;
    let into: HashMap<Id, Id> = merges.iter().copied().collect();
    let mut out = HashMap::new();
    for &(start, _) in merges {
        let mut path = vec![start];
        let mut at = start;
        let end = loop {
            match into.get(&at) {
                Some(&next) if next == start || path.contains(&next) => {
                    // A cycle: from where it closes, the smallest id on it survives.
                    let from = path.iter().position(|p| *p == next).unwrap_or(0);
                    break path[from..].iter().min().copied().unwrap_or(start);
                }
                Some(&next) => {
                    path.push(next);
                    at = next;
                }
                None => break at,
            }
        };
        if end != start {
            out.insert(start, end);
        }
    }
    out
}

/// Whether household `id`'s consent stood at `heads` (`None`: no such household then).
pub fn consent_at(doc: &AutoCommit, id: Id, heads: &[ChangeHash]) -> Option<bool> {
    let map = record_map(doc, "households").ok()?;
    match doc.get_at(&map, id.to_string(), heads).ok()?? {
        (Value::Object(ObjType::Map), obj) => Some(matches!(
            doc.get_at(&obj, "consent", heads).ok().flatten(),
            Some((Value::Scalar(v), _)) if matches!(v.as_ref(), ScalarValue::Boolean(true))
        )),
        _ => None,
    }
}

/// One household of group `group_id`'s document, if it is there.
pub fn read_household(
    doc: &AutoCommit,
    group_id: Id,
    id: Id,
) -> Result<Option<Household>, DocError> {
    let map = record_map(doc, "households")?;
    record(doc, &map, id)?
        .map(|obj| read_household_at(doc, &obj, group_id, id))
        .transpose()
}

/// Every household of group `group_id`'s document.
pub fn read_households(doc: &AutoCommit, group_id: Id) -> Result<Vec<Household>, DocError> {
    let map = record_map(doc, "households")?;
    let mut out = Vec::new();
    for (id, obj) in records(doc, &map) {
        out.push(read_household_at(doc, &obj, group_id, id)?);
    }
    Ok(out)
}

/// Writes a new visit with its assists.
pub fn put_visit(doc: &mut AutoCommit, v: &Visit) -> Result<(), DocError> {
    let map = record_map(doc, "visits")?;
    let obj = doc.put_object(&map, v.id.to_string(), ObjType::Map)?;
    // Short keys and packed values: a visit is the change that crosses the wire most often.
    doc.put(
        &obj,
        "household",
        ScalarValue::Bytes(v.household_id.as_bytes().to_vec()),
    )?;
    doc.put(&obj, "at", v.device_time.timestamp_millis())?;
    doc.put(&obj, "by", v.volunteer.as_str())?;
    doc.put(&obj, "outcome", v.outcome.as_str())?;
    if let Some(note) = &v.note {
        doc.put(&obj, "note", note.as_str())?;
    }
    if let Some(f) = &v.follow_up {
        doc.put(&obj, "follow_up_date", f.date.to_string())?;
        if let Some(reason) = &f.reason {
            doc.put(&obj, "follow_up_reason", reason.as_str())?;
        }
    }
    if !v.assists.is_empty() {
        // Assists are never edited: one atomic string of assist codes.
        let codes: Vec<String> = v.assists.iter().map(Assist::code).collect();
        doc.put(&obj, "assists", codes.join(" "))?;
    }
    if let Some(reason) = v.not_done_reason {
        doc.put(&obj, "not_done_reason", reason.as_str())?;
    }
    Ok(())
}

pub(crate) fn read_visit_at(
    doc: &AutoCommit,
    obj: &ObjId,
    group_id: Id,
    id: Id,
) -> Result<Visit, DocError> {
    visit_from_fields(&Fields::of(doc, obj), group_id, id)
}

pub(crate) fn visit_from_fields(f: &Fields<'_>, group_id: Id, id: Id) -> Result<Visit, DocError> {
    let doc = f.doc;
    let follow_up = match f.str("follow_up_date") {
        Some(date) => Some(FollowUp {
            date: NaiveDate::from_str(date)
                .map_err(|_| malformed(doc, format!("follow-up date {date:?}")))?,
            reason: f.string("follow_up_reason"),
        }),
        None => None,
    };
    let assists = match f.str("assists") {
        Some(codes) => codes
            .split_whitespace()
            .map(|c| {
                c.parse()
                    .map_err(|e| malformed(doc, format!("assist {c:?}: {e}")))
            })
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let household_id = match f.get("household") {
        Some(ScalarValueRef::Bytes(b)) => Id::from_slice(b).ok(),
        _ => None,
    }
    .ok_or_else(|| malformed(doc, "visit without household".into()))?;
    Ok(Visit {
        id,
        household_id,
        group_id,
        device_time: f.time("at")?,
        volunteer: f.need_str("by")?,
        outcome: f.need("outcome")?,
        note: f.string("note"),
        follow_up,
        assists,
        received_at: None,
        voided: f.void(),
        review: f.review(),
        not_done_reason: f.optional("not_done_reason")?,
    })
}

/// One visit of group `group_id`'s document, if it is there, with the change that made it.
pub fn read_visit(
    doc: &AutoCommit,
    group_id: Id,
    id: Id,
) -> Result<Option<(Visit, Option<ChangeHash>)>, DocError> {
    let map = record_map(doc, "visits")?;
    record(doc, &map, id)?
        .map(|obj| {
            Ok((
                read_visit_at(doc, &obj, group_id, id)?,
                doc.hash_for_opid(&obj),
            ))
        })
        .transpose()
}

/// Every visit of group `group_id`'s document, each with the change that made it.
pub fn read_visits(
    doc: &AutoCommit,
    group_id: Id,
) -> Result<Vec<(Visit, Option<ChangeHash>)>, DocError> {
    let map = record_map(doc, "visits")?;
    let mut out = Vec::new();
    for (id, obj) in records(doc, &map) {
        let hash = doc.hash_for_opid(&obj);
        out.push((read_visit_at(doc, &obj, group_id, id)?, hash));
    }
    Ok(out)
}

// ---- point document ----

/// Writes a new walk-in.
pub fn put_walkin(doc: &mut AutoCommit, w: &WalkIn) -> Result<(), DocError> {
    let map = record_map(doc, "walkins")?;
    let obj = doc.put_object(&map, w.id.to_string(), ObjType::Map)?;
    doc.put(&obj, "device_time", w.device_time.timestamp_millis())?;
    doc.put(&obj, "service", w.service.as_str())?;
    doc.put(&obj, "result", w.result.as_str())?;
    if let Some(band) = w.age_band {
        doc.put(&obj, "age_band", band.as_str())?;
    }
    if let Some(session) = &w.session {
        doc.put(&obj, "session", session.as_str())?;
    }
    put_set_flags(doc, &obj, &w.priority)
}

pub(crate) fn read_walkin_at(
    doc: &AutoCommit,
    obj: &ObjId,
    point_id: Id,
    id: Id,
) -> Result<WalkIn, DocError> {
    walkin_from_fields(&Fields::of(doc, obj), point_id, id)
}

pub(crate) fn walkin_from_fields(f: &Fields<'_>, point_id: Id, id: Id) -> Result<WalkIn, DocError> {
    Ok(WalkIn {
        id,
        point_id,
        device_time: f.time("device_time")?,
        service: f.need("service")?,
        result: f.need("result")?,
        age_band: f.optional("age_band")?,
        priority: f.flags(),
        session: f.string("session"),
    })
}

/// One walk-in of point `point_id`'s document, if it is there.
pub fn read_walkin(doc: &AutoCommit, point_id: Id, id: Id) -> Result<Option<WalkIn>, DocError> {
    let map = record_map(doc, "walkins")?;
    record(doc, &map, id)?
        .map(|obj| read_walkin_at(doc, &obj, point_id, id))
        .transpose()
}

/// Every walk-in of point `point_id`'s document.
pub fn read_walkins(doc: &AutoCommit, point_id: Id) -> Result<Vec<WalkIn>, DocError> {
    let map = record_map(doc, "walkins")?;
    let mut out = Vec::new();
    for (id, obj) in records(doc, &map) {
        out.push(read_walkin_at(doc, &obj, point_id, id)?);
    }
    Ok(out)
}
