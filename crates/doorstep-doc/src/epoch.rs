//! Epochs: a document written anew, without its history, so that what was erased from it
//! exists nowhere any more.
//!
//! Automerge keeps every value ever written: deleting a name leaves it in the history every
//! replica holds. Erasure (a citizen's request, a withdrawn consent, the retention period) is
//! therefore done by the hub rewriting the document: a fresh document holding the records as
//! they now stand, minus what is erased, with no history, and the document's epoch one higher.
//! Devices that sync see the new epoch, drop their copy and take the new one; edits they had not
//! synced are carried over onto it record by record (`carry_over`), except edits to erased
//! households, which are dropped and named. Why a rewrite rather than per-household keys
//! outside the history: the hub still reads (and so checks) every field a device writes, no
//! key can be lost, and a device that comes back after months adopts the erasure by the same
//! path as any other sync.

use std::collections::HashSet;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, Value};
use chrono::{DateTime, Utc};
use doorstep_domain::Id;

use crate::records::{new_document_at, record, record_map, records, Fields, RECORD_MAPS};
use crate::{DocError, DocId};

/// A household's fields that say who lives there: erased from its record.
pub const PERSONAL_HOUSEHOLD_FIELDS: &[&str] = &["name", "phone"];
/// A visit's free text, which may name people: erased from an erased household's visits.
pub const PERSONAL_VISIT_FIELDS: &[&str] = &["note", "follow_up_reason"];
/// The field that marks an erased household (Unix milliseconds); only the hub writes it.
pub const ERASED_AT: &str = "erased_at";

/// What a rewrite erases besides the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Erase {
    /// Nothing: the history alone goes (a consent withdrawn: the name and phone already
    /// deleted from the record still sat in the history).
    HistoryOnly,
    /// These households: their name, phone and consent, and their visits' free text; each
    /// is marked erased.
    Households(HashSet<Id>),
    /// Every household's personal fields (the retention period is over).
    AllPersonal,
}

fn map_names(id: DocId) -> &'static [&'static str] {
    RECORD_MAPS
        .iter()
        .find(|(kind, _)| *kind == id.kind())
        .map_or(&[], |(_, maps)| *maps)
}

fn household_of_visit(doc: &AutoCommit, visit: &ObjId) -> Option<Id> {
    match doc.get(visit, "household").ok()?? {
        (Value::Scalar(v), _) => match v.as_ref() {
            ScalarValue::Bytes(b) => Id::from_slice(b).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// Document `id` written anew by `actor` from `doc` as it now stands, without history, with
/// `erase` applied at `at`. Returns it and the households it marked erased.
pub fn rewrite(
    id: DocId,
    doc: &AutoCommit,
    erase: &Erase,
    epoch: u32,
    at: DateTime<Utc>,
    actor: &ActorId,
) -> Result<(AutoCommit, Vec<Id>), DocError> {
    // The new epoch's own first change: the old history has nothing to attach to.
    let mut fresh = new_document_at(id, epoch, actor)?;
    let mut erased = Vec::new();
    for name in map_names(id) {
        let from = record_map(doc, name)?;
        let to = record_map(&fresh, name)?;
        for (record_id, obj) in records(doc, &from) {
            let fields = Fields::of(doc, &obj).items();
            let has_personal = fields
                .iter()
                .any(|(k, _)| PERSONAL_HOUSEHOLD_FIELDS.contains(&k.as_str()));
            let consents = fields
                .iter()
                .any(|(k, v)| k == "consent" && *v == ScalarValue::Boolean(true));
            let erases = |household: Id| match erase {
                Erase::HistoryOnly => false,
                Erase::Households(set) => set.contains(&household),
                // The retention period: every household that holds anything personal.
                Erase::AllPersonal => household == record_id && (has_personal || consents),
            };
            let (skip, erase_this): (&[&str], bool) = match *name {
                "households" if erases(record_id) => (PERSONAL_HOUSEHOLD_FIELDS, true),
                // No consent as it stands (withdrawn while another device, offline, wrote a
                // name): the name and phone are not carried into the new epoch.
                "households" if !consents => (PERSONAL_HOUSEHOLD_FIELDS, false),
                "visits"
                    if matches!(erase, Erase::AllPersonal)
                        || household_of_visit(doc, &obj).is_some_and(erases) =>
                {
                    (PERSONAL_VISIT_FIELDS, false)
                }
                _ => (&[], false),
            };
            let target = fresh.put_object(&to, record_id.to_string(), ObjType::Map)?;
            for (key, value) in &fields {
                if skip.contains(&key.as_str())
                    || (erase_this && matches!(key.as_str(), "consent" | ERASED_AT))
                {
                    continue;
                }
                fresh.put(&target, key, value.clone())?;
            }
            if erase_this {
                let already = fields
                    .iter()
                    .find(|(k, _)| k == ERASED_AT)
                    .map(|(_, v)| v.clone());
                fresh.put(&target, "consent", false)?;
                match already {
                    // Erased before, nothing personal since: keep the first erasure's time.
                    Some(when) if !has_personal => fresh.put(&target, ERASED_AT, when)?,
                    _ => {
                        fresh.put(&target, ERASED_AT, at.timestamp_millis())?;
                        erased.push(record_id);
                    }
                }
            }
        }
    }
    fresh.commit();
    Ok((fresh, erased))
}

/// What carrying a device's unsynced edits onto a new epoch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarriedOver {
    /// Records whose unsynced edits now stand in the new epoch.
    pub records: usize,
    /// Erased households whose unsynced edits were dropped (never written back).
    pub dropped: Vec<Id>,
}

fn is_erased(doc: &AutoCommit, household: Id) -> bool {
    let Ok(map) = record_map(doc, "households") else {
        return false;
    };
    matches!(record(doc, &map, household), Ok(Some(obj)) if doc.get(&obj, ERASED_AT).ok().flatten().is_some())
}

fn consent_in(doc: &AutoCommit, obj: &ObjId) -> bool {
    matches!(
        doc.get(obj, "consent").ok().flatten(),
        Some((Value::Scalar(v), _)) if matches!(v.as_ref(), ScalarValue::Boolean(true))
    )
}

/// Writes onto `new` (a new epoch of the same document) the edits `old` holds beyond
/// `synced` (the heads the hub had acknowledged): per record, each field that differs from
/// what the hub held, and each field or record deleted since. Edits to erased households are
/// dropped; a name or phone is not carried onto a household whose consent no longer stands;
/// a visit of an erased household keeps its counts but not its free text.
pub fn carry_over(
    id: DocId,
    old: &AutoCommit,
    synced: &[ChangeHash],
    new: &mut AutoCommit,
) -> Result<CarriedOver, DocError> {
    let mut out = CarriedOver::default();
    let mut dropped = HashSet::new();
    for name in map_names(id) {
        let (Ok(old_map), Ok(new_map)) = (record_map(old, name), record_map(new, name)) else {
            continue;
        };
        for (record_id, obj) in records(old, &old_map) {
            let key = record_id.to_string();
            let before: Vec<(String, ScalarValue)> = if synced.is_empty() {
                Vec::new()
            } else {
                match old.get_at(&old_map, &key, synced)? {
                    Some((Value::Object(ObjType::Map), was)) if was == obj => old
                        .map_range_at(&obj, .., synced)
                        .filter_map(|item| match item.value {
                            automerge::ValueRef::Scalar(v) => {
                                Some((item.key.into_owned(), ScalarValue::from(&v)))
                            }
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                }
            };
            let now = Fields::of(old, &obj).items();
            let mut changed: Vec<(String, Option<ScalarValue>)> = Vec::new();
            for (field, value) in &now {
                if before.iter().find(|(k, _)| k == field).map(|(_, v)| v) != Some(value) {
                    changed.push((field.clone(), Some(value.clone())));
                }
            }
            for (field, _) in &before {
                if !now.iter().any(|(k, _)| k == field) {
                    changed.push((field.clone(), None));
                }
            }
            if changed.is_empty() {
                continue;
            }
            let mut skip: &[&str] = &[];
            match *name {
                "households" if is_erased(new, record_id) => {
                    dropped.insert(record_id);
                    continue;
                }
                "visits" if household_of_visit(old, &obj).is_some_and(|h| is_erased(new, h)) => {
                    skip = PERSONAL_VISIT_FIELDS;
                }
                _ => {}
            }
            let target = match record(new, &new_map, record_id)? {
                Some(target) => target,
                None => new.put_object(&new_map, &key, ObjType::Map)?,
            };
            // Consent first: a name rides only on a consent that stands in the new epoch.
            changed.sort_by_key(|(field, _)| field != "consent");
            for (field, value) in changed {
                if skip.contains(&field.as_str()) || field == ERASED_AT {
                    continue;
                }
                if *name == "households"
                    && PERSONAL_HOUSEHOLD_FIELDS.contains(&field.as_str())
                    && value.is_some()
                    && !consent_in(new, &target)
                {
                    continue;
                }
                let current = match new.get(&target, field.as_str())? {
                    Some((Value::Scalar(v), _)) => Some(v.into_owned()),
                    _ => None,
                };
                if current == value {
                    continue;
                }
                match value {
                    Some(v) => new.put(&target, field, v)?,
                    None => new.delete(&target, field)?,
                }
            }
            out.records += 1;
        }
        // Records deleted here since the hub's last word (a coordinator's correction).
        for (record_id, _) in deleted_records(old, &old_map, synced) {
            if record(new, &new_map, record_id)?.is_some() {
                new.delete(&new_map, record_id.to_string())?;
                out.records += 1;
            }
        }
    }
    out.dropped = dropped.into_iter().collect();
    out.dropped.sort();
    Ok(out)
}

/// Records present at `synced` and gone now.
fn deleted_records(doc: &AutoCommit, map: &ObjId, synced: &[ChangeHash]) -> Vec<(Id, ObjId)> {
    if synced.is_empty() {
        return Vec::new();
    }
    doc.map_range_at(map, .., synced)
        .filter_map(|item| {
            let id = Id::parse_str(&item.key).ok()?;
            let gone = doc.get(map, item.key.as_ref()).ok()?.is_none();
            gone.then(|| (id, item.id()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{
        new_document, patch_household, put_household, put_visit, read_household, read_visits,
    };
    use doorstep_domain::*;

    fn actor() -> ActorId {
        ActorId::from(new_id().as_bytes())
    }

    fn household(group: Id, number: &str, name: Option<&str>) -> Household {
        HouseholdDraft {
            alley: "Ngõ 3".into(),
            number: number.into(),
            consent: name.is_some(),
            name: name.map(str::to_string),
            phone: name.map(|_| "0912345678".to_string()),
            ..Default::default()
        }
        .into_household(new_id(), group, Utc::now())
    }

    fn history_holds(doc: &mut AutoCommit, text: &str) -> bool {
        doc.get_changes(&[])
            .iter()
            .any(|c| format!("{:?}", c.decode().operations).contains(text))
    }

    /// A rewrite keeps every record as it stands, drops the erased household's personal
    /// fields and its visits' notes, and has no history holding them; a device's unsynced
    /// edits are carried over field by field, except those to the erased household.
    #[test]
    fn a_rewrite_forgets_and_a_carry_over_keeps_the_rest() {
        let group = new_id();
        let id = DocId::Group(group);
        let mut hub = new_document(id, &actor()).unwrap();
        let erased = household(group, "1", Some("Tạ Thị Quên"));
        let kept = household(group, "2", Some("Lý Văn Nhớ"));
        put_household(&mut hub, &erased).unwrap();
        put_household(&mut hub, &kept).unwrap();
        let visit = Visit {
            id: new_id(),
            household_id: erased.id,
            group_id: group,
            device_time: Utc::now(),
            volunteer: "Lan".into(),
            outcome: Outcome::Assisted,
            note: Some("gọi bà Quên".into()),
            follow_up: None,
            assists: vec![],
            received_at: None,
            voided: None,
            review: None,
            not_done_reason: None,
        };
        put_visit(&mut hub, &visit).unwrap();
        hub.commit();
        // A device holding what the hub had, then editing offline.
        let mut device = hub.fork().with_actor(actor());
        let synced = device.get_heads();
        let members = |m| HouseholdPatch {
            members: Some(m),
            ..Default::default()
        };
        patch_household(&mut device, erased.id, &members(4)).unwrap();
        patch_household(&mut device, kept.id, &members(5)).unwrap();
        let added = household(group, "3", None);
        put_household(&mut device, &added).unwrap();
        device.commit();

        let erase = Erase::Households(std::iter::once(erased.id).collect());
        let (mut fresh, marked) = rewrite(id, &hub, &erase, 1, Utc::now(), &actor()).unwrap();
        assert_eq!(marked, vec![erased.id]);
        crate::check_document(id, &fresh).unwrap();
        assert!(!history_holds(&mut fresh, "Quên"));
        assert!(history_holds(&mut fresh, "Lý Văn Nhớ"));
        let gone = read_household(&fresh, group, erased.id).unwrap().unwrap();
        assert!(gone.name.is_none() && !gone.consent && gone.erased_at.is_some());
        let visits = read_visits(&fresh, group).unwrap();
        assert_eq!(visits.len(), 1, "the visit still counts");
        assert!(visits[0].0.note.is_none());

        let carried = carry_over(id, &device, &synced, &mut fresh).unwrap();
        assert_eq!(carried.dropped, vec![erased.id]);
        fresh.commit();
        assert_eq!(
            read_household(&fresh, group, kept.id)
                .unwrap()
                .unwrap()
                .members,
            Some(5)
        );
        assert!(read_household(&fresh, group, added.id).unwrap().is_some());
        let gone = read_household(&fresh, group, erased.id).unwrap().unwrap();
        assert_ne!(
            gone.members,
            Some(4),
            "an erased household's edit is dropped"
        );
        assert!(!history_holds(&mut fresh, "Quên"));
        // Carrying again changes nothing: only what differs is written.
        let heads = fresh.get_heads();
        carry_over(id, &device, &synced, &mut fresh).unwrap();
        fresh.commit();
        assert_eq!(fresh.get_heads(), heads);
    }
}
