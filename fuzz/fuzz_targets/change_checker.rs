//! Pushed changes against the strict schema: bytes a modified client sends as changes to a
//! group document holding a household and a visit. Decoding, applying and checking must
//! refuse or accept, never panic.
#![no_main]

use std::sync::OnceLock;

use automerge::ActorId;
use doorstep_doc::decode::{apply_changes, decode_change, load_document};
use chrono::Utc;
use doorstep_doc::{check_changes, new_document, put_household, put_visit, Author, DocId};
use doorstep_domain::{new_id, HouseholdDraft, Outcome, Role, Visit};
use libfuzzer_sys::fuzz_target;

/// A group document as a hub would hold it, saved once.
fn group() -> &'static (DocId, Vec<u8>) {
    static GROUP: OnceLock<(DocId, Vec<u8>)> = OnceLock::new();
    GROUP.get_or_init(|| {
        let group = new_id();
        let id = DocId::Group(group);
        let mut doc = new_document(id, &ActorId::from([7u8; 16])).expect("new document");
        let h = HouseholdDraft {
            alley: "Ngõ 12".into(),
            number: "5".into(),
            ..Default::default()
        }
        .into_household(new_id(), group, Utc::now());
        put_household(&mut doc, &h).expect("household");
        let v = Visit {
            id: new_id(),
            household_id: h.id,
            group_id: group,
            device_time: Utc::now(),
            volunteer: "Lan".into(),
            outcome: Outcome::NotHome,
            note: None,
            follow_up: None,
            assists: vec![],
            received_at: None,
        };
        put_visit(&mut doc, &v).expect("visit");
        doc.commit();
        (id, doc.save())
    })
}

fuzz_target!(|data: &[u8]| {
    // Automerge's own panics on malformed bytes are caught by the guarded decoders (as in the
    // hub and the app); only a panic that escapes them is a crash here.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let (id, saved) = group();
    // Loaded once; each input starts from a copy (a clone costs far less than a load).
    static LOADED: OnceLock<Option<automerge::AutoCommit>> = OnceLock::new();
    let Some(mut doc) = LOADED.get_or_init(|| load_document(saved).ok()).clone() else {
        return;
    };
    // The input is one or more changes, split on a marker byte sequence.
    let mut changes = Vec::new();
    for part in data.split(|b| *b == 0xff) {
        if let Ok(change) = decode_change(part.to_vec()) {
            changes.push(change);
        }
    }
    let before = doc.get_heads();
    if apply_changes(&mut doc, changes).is_err() || !doc.get_missing_deps(&[]).is_empty() {
        return;
    }
    let new = doc.get_changes(&before);
    let _ = check_changes(*id, &doc, &new, Author::Device(Role::Volunteer));
    let _ = check_changes(*id, &doc, &new, Author::Hub);
});
