//! What the `change_checker` fuzz target does with its input, here so that the crash inputs
//! it finds replay exactly in a plain test (`tests/fuzz_regressions.rs`) and in the fuzzer
//! (`fuzz/`). Not for the app.

use std::sync::OnceLock;

use automerge::{ActorId, AutoCommit};
use chrono::{TimeZone, Utc};
use doorstep_domain::{HouseholdDraft, Id, Outcome, Role, Visit};

use crate::decode::{apply_changes, changes_since, decode_change, load_document, missing_history};
use crate::{check_changes, new_document, put_household, put_visit, Author, DocId};

/// A group document holding a household and a visit, as a hub would hold it: saved once,
/// loaded once.
fn group() -> Option<&'static (DocId, AutoCommit)> {
    static GROUP: OnceLock<Option<(DocId, AutoCommit)>> = OnceLock::new();
    GROUP
        .get_or_init(|| {
            let group = Id::from_u128(1);
            let id = DocId::Group(group);
            let at = Utc.timestamp_millis_opt(1_764_000_000_000).single()?;
            let mut doc = new_document(id, &ActorId::from([7u8; 16])).ok()?;
            let h = HouseholdDraft {
                alley: "Ngõ 12".into(),
                number: "5".into(),
                ..Default::default()
            }
            .into_household(Id::from_u128(2), group, at);
            put_household(&mut doc, &h).ok()?;
            let v = Visit {
                id: Id::from_u128(3),
                household_id: h.id,
                group_id: group,
                device_time: at,
                volunteer: "Lan".into(),
                outcome: Outcome::NotHome,
                note: None,
                follow_up: None,
                assists: vec![],
                received_at: None,
                voided: None,
                review: None,
                not_done_reason: None,
            };
            put_visit(&mut doc, &v).ok()?;
            doc.commit();
            Some((id, load_document(&doc.save()).ok()?))
        })
        .as_ref()
}

/// Bytes as one or more changes (split on 0xff) pushed to that group document: decoded,
/// applied and checked by the strict schema as a volunteer's and as the hub's. Must refuse
/// or accept, never panic.
pub fn change_checker(data: &[u8]) {
    let Some((id, loaded)) = group() else {
        return;
    };
    let mut doc = loaded.clone();
    let changes = data
        .split(|b| *b == 0xff)
        .filter_map(|part| decode_change(part.to_vec()).ok())
        .collect();
    let before = doc.get_heads();
    if apply_changes(&mut doc, changes).is_err() || missing_history(&mut doc).unwrap_or(true) {
        return;
    }
    let Ok(new) = changes_since(&mut doc, &before) else {
        return;
    };
    let _ = check_changes(*id, &doc, &new, Author::Device(Role::Volunteer), 0);
    let _ = check_changes(*id, &doc, &new, Author::Hub, 0);
}

/// A push's changes with their signatures, as the hub takes them: each decoded behind the size
/// limits, its signature checked against a key (the first 32 bytes of the first signature, as
/// a modified client may claim any key), then applied and checked as `change_checker` does.
/// Must refuse or accept, never panic.
pub fn signed_changes(changes: &[Vec<u8>], signatures: &[Vec<u8>]) {
    let key = signatures
        .first()
        .and_then(|s| s.get(..32))
        .and_then(crate::PublicKey::from_slice);
    let mut data = Vec::new();
    for (i, bytes) in changes.iter().enumerate() {
        let Ok(change) = decode_change(bytes.clone()) else {
            continue;
        };
        let signature = signatures.get(i).map_or(&[][..], Vec::as_slice);
        if let Some(key) = key {
            let _ = key.verifies_change(&change.hash(), signature);
            let _ = *change.actor_id() == key.actor();
        }
        data.extend_from_slice(bytes);
        data.push(0xff);
    }
    change_checker(&data);
}
