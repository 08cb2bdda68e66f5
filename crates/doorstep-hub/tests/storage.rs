//! One conformance suite for the hub's storage, run against the SQLite file (always) and
//! against PostgreSQL (`scripts/postgres-tests.sh` starts a throwaway cluster under `target/`
//! and runs the ignored test with `DOORSTEP_TEST_POSTGRES` set). Every case gets a fresh
//! store: a new SQLite directory, or a new PostgreSQL schema.

use std::collections::HashSet;

use chrono::{Duration, TimeZone, Utc};
use doorstep_doc::DocId;
use doorstep_domain::{new_id, Id, Role};
use doorstep_hub::postgres::PgStorage;
use doorstep_hub::sqlite::SqliteStorage;
use doorstep_hub::storage::*;
use doorstep_hub::{AtRest, Enrolment, Hub};
use doorstep_proto::api::InviteRequest;
use doorstep_proto::wire::{Push, SyncRequest};

type Case = (&'static str, fn(&mut dyn HubStorage));

const CASES: &[Case] = &[
    (
        "the ward, settings, url and secret",
        ward_settings_and_secret,
    ),
    ("changes stored once and read back", changes_stored_once),
    (
        "a pull follows the cursor, scope and origin",
        pull_cursor_scope_origin,
    ),
    ("a pull pages by bytes", pull_pages_by_bytes),
    (
        "a compacted document pulls as a snapshot",
        compact_then_pull,
    ),
    (
        "a replaced document has a new epoch",
        replace_document_new_epoch,
    ),
    (
        "a cursor past the hub's last change pulls everything",
        cursor_past_the_end,
    ),
    (
        "a document after a sequence: its later changes, or whole",
        document_after_a_sequence,
    ),
    (
        "changes on an old epoch, and a rewrite from behind, are refused",
        moved_documents_refused,
    ),
    ("the audit log finds entries by record", audit_by_record),
    (
        "who signed a change is kept through compaction and pulled with it",
        signatures_kept,
    ),
    ("an invite is redeemed once, never expired", invites_once),
    ("tokens rotate, touch and revoke", tokens_and_revocation),
];

fn at(minute: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap() + Duration::minutes(minute)
}

fn change(doc: DocId, n: u8, len: usize) -> NewChange {
    let mut hash = [0u8; 32];
    hash[0] = n;
    hash[1..17].copy_from_slice(&doc_bytes(doc));
    NewChange {
        doc,
        epoch: 0,
        hash,
        bytes: vec![n; len],
        signed: None,
    }
}

/// A test device key (its public half is what storage keeps).
fn key(seed: u8) -> doorstep_doc::PublicKey {
    doorstep_doc::DeviceKey::from_secret([seed; 32]).public()
}

fn doc_bytes(doc: DocId) -> [u8; 16] {
    let text = doc.to_string();
    let id: Id = text.split('/').nth(1).unwrap().parse().unwrap();
    *id.as_bytes()
}

fn bytes_of(page: &PullPage) -> Vec<(DocId, Vec<u8>)> {
    page.items
        .iter()
        .map(|i| match i {
            PullItem::Snapshot { doc, bytes, .. } | PullItem::Change { doc, bytes, .. } => {
                (*doc, bytes.clone())
            }
        })
        .collect()
}

fn ward_settings_and_secret(s: &mut dyn HubStorage) {
    assert_eq!(s.ward().unwrap(), None);
    let ward = new_id();
    s.set_ward(ward, "Phường Cửa Nam").unwrap();
    assert_eq!(s.ward().unwrap(), Some((ward, "Phường Cửa Nam".into())));
    assert_eq!(s.setting("retention").unwrap(), None);
    s.set_setting("retention", "{\"days\":30}").unwrap();
    s.set_setting("retention", "{\"days\":60}").unwrap();
    assert_eq!(
        s.setting("retention").unwrap().as_deref(),
        Some("{\"days\":60}")
    );
    assert_eq!(s.url().unwrap(), None);
    s.set_url("https://10.0.0.2:7300").unwrap();
    assert_eq!(s.url().unwrap().as_deref(), Some("https://10.0.0.2:7300"));
    let first = s.secret([7; 32]).unwrap();
    assert_eq!(first, vec![7; 32]);
    assert_eq!(
        s.secret([9; 32]).unwrap(),
        first,
        "the secret is written once"
    );
}

fn changes_stored_once(s: &mut dyn HubStorage) {
    let doc = DocId::Group(new_id());
    let (a, b) = (change(doc, 1, 10), change(doc, 2, 20));
    s.append_changes(&[a.clone(), b.clone()], "device-1", at(0), &[])
        .unwrap();
    // A retried push: stored once, its first receive time kept.
    s.append_changes(std::slice::from_ref(&a), "device-1", at(5), &[])
        .unwrap();
    let mut expected = vec![1u8; 10];
    expected.extend(vec![2u8; 20]);
    assert_eq!(s.load_document(doc).unwrap(), Some(expected));
    assert_eq!(s.load_document(DocId::Group(new_id())).unwrap(), None);
    assert_eq!(s.document_ids().unwrap(), vec![doc]);
    assert_eq!(s.changes_since_snapshot(doc).unwrap(), 2);
    let receipts = s.receipts(&[a.hash, [0xee; 32]]).unwrap();
    assert_eq!(receipts, vec![(a.hash, at(0))]);
    let page = s.pull(0, None, "someone-else", 1 << 20).unwrap();
    assert_eq!(page.items.len(), 2, "{page:?}");
}

fn pull_cursor_scope_origin(s: &mut dyn HubStorage) {
    let (mine, other) = (DocId::Group(new_id()), DocId::Group(new_id()));
    s.append_changes(&[change(mine, 1, 4)], "device-a", at(0), &[])
        .unwrap();
    s.append_changes(&[change(other, 2, 4)], "device-a", at(1), &[])
        .unwrap();
    s.append_changes(&[change(mine, 3, 4)], "device-b", at(2), &[])
        .unwrap();
    let scope: HashSet<DocId> = [mine].into_iter().collect();
    let all = s.pull(0, Some(&scope), "device-x", 1 << 20).unwrap();
    assert_eq!(
        bytes_of(&all),
        vec![(mine, vec![1; 4]), (mine, vec![3; 4])],
        "only the scope's documents, in order"
    );
    assert!(!all.more);
    // A device is not sent back what it pushed itself.
    let from_b = s.pull(0, Some(&scope), "device-b", 1 << 20).unwrap();
    assert_eq!(bytes_of(&from_b), vec![(mine, vec![1; 4])]);
    assert_eq!(from_b.cursor, all.cursor);
    // From the cursor on: nothing new, then only what came after.
    let again = s
        .pull(all.cursor, Some(&scope), "device-x", 1 << 20)
        .unwrap();
    assert!(again.items.is_empty());
    assert_eq!(again.cursor, all.cursor);
    s.append_changes(&[change(mine, 4, 4)], "device-a", at(3), &[])
        .unwrap();
    let later = s
        .pull(all.cursor, Some(&scope), "device-x", 1 << 20)
        .unwrap();
    assert_eq!(bytes_of(&later), vec![(mine, vec![4; 4])]);
    assert!(later.cursor > all.cursor);
    // No scope: the whole ward (a coordinator).
    assert_eq!(s.pull(0, None, "device-x", 1 << 20).unwrap().items.len(), 4);
}

fn pull_pages_by_bytes(s: &mut dyn HubStorage) {
    let doc = DocId::Group(new_id());
    let changes: Vec<NewChange> = (1..=10).map(|n| change(doc, n, 100)).collect();
    s.append_changes(&changes, "device-a", at(0), &[]).unwrap();
    let mut cursor = 0;
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let page = s.pull(cursor, None, "device-x", 250).unwrap();
        pages += 1;
        assert!(
            page.items.len() <= 2,
            "a page stops at its byte budget: {page:?}"
        );
        got.extend(bytes_of(&page));
        cursor = page.cursor;
        if !page.more {
            break;
        }
    }
    assert_eq!(pages, 5);
    let expected: Vec<(DocId, Vec<u8>)> = (1..=10).map(|n| (doc, vec![n; 100])).collect();
    assert_eq!(got, expected, "every change once, in order, across pages");
    // One item larger than the budget still goes (alone).
    let big = s.pull(0, None, "device-x", 10).unwrap();
    assert_eq!(big.items.len(), 1);
    assert!(big.more);
}

fn compact_then_pull(s: &mut dyn HubStorage) {
    let doc = DocId::Group(new_id());
    s.append_changes(&[change(doc, 1, 8), change(doc, 2, 8)], "a", at(0), &[])
        .unwrap();
    let before = s.pull(0, None, "x", 1 << 20).unwrap();
    s.compact(doc, b"snapshot", u64::MAX).unwrap();
    assert_eq!(s.changes_since_snapshot(doc).unwrap(), 0);
    assert_eq!(s.load_document(doc).unwrap(), Some(b"snapshot".to_vec()));
    // A new device: the snapshot, then what came after it.
    s.append_changes(&[change(doc, 3, 8)], "a", at(1), &[])
        .unwrap();
    let fresh = s.pull(0, None, "x", 1 << 20).unwrap();
    assert_eq!(
        bytes_of(&fresh),
        vec![(doc, b"snapshot".to_vec()), (doc, vec![3; 8])]
    );
    assert!(matches!(fresh.items[0], PullItem::Snapshot { .. }));
    // A device that had everything before the compaction gets only the new change.
    let caught_up = s.pull(before.cursor, None, "x", 1 << 20).unwrap();
    assert_eq!(bytes_of(&caught_up), vec![(doc, vec![3; 8])]);
    let mut loaded = b"snapshot".to_vec();
    loaded.extend(vec![3; 8]);
    assert_eq!(s.load_document(doc).unwrap(), Some(loaded));
}

fn replace_document_new_epoch(s: &mut dyn HubStorage) {
    let (doc, other) = (DocId::Group(new_id()), DocId::Group(new_id()));
    s.append_changes(&[change(doc, 1, 8), change(other, 2, 8)], "a", at(0), &[])
        .unwrap();
    assert!(s.epochs().unwrap().is_empty());
    let cursor = s.pull(0, None, "x", 1 << 20).unwrap().cursor;
    assert_eq!(s.replace_document(doc, b"rewritten", u64::MAX).unwrap(), 1);
    assert_eq!(s.replace_document(doc, b"again", u64::MAX).unwrap(), 2);
    assert_eq!(s.epochs().unwrap().get(&doc), Some(&2));
    assert_eq!(s.epochs().unwrap().get(&other), None);
    assert_eq!(s.load_document(doc).unwrap(), Some(b"again".to_vec()));
    // Every device, however far it had read, takes the new snapshot.
    let next = s.pull(cursor, None, "x", 1 << 20).unwrap();
    assert_eq!(bytes_of(&next), vec![(doc, b"again".to_vec())]);
}

fn seq_of(stored: &Stored) -> u64 {
    match stored {
        Stored::Changes { seq, .. } | Stored::Whole { seq, .. } => *seq,
        other => panic!("no sequence in {other:?}"),
    }
}

fn document_after_a_sequence(s: &mut dyn HubStorage) {
    let doc = DocId::Group(new_id());
    assert_eq!(s.document_after(doc, 0).unwrap(), Stored::Absent);
    s.append_changes(&[change(doc, 1, 4), change(doc, 2, 4)], "a", at(0), &[])
        .unwrap();
    let whole = s.document_after(doc, 0).unwrap();
    let mut both = vec![1; 4];
    both.extend([2; 4]);
    assert!(matches!(&whole, Stored::Whole { bytes, .. } if *bytes == both));
    let two = seq_of(&whole);
    assert_eq!(s.document_after(doc, two).unwrap(), Stored::Unchanged);
    // Another process stores a change: this one takes in only that.
    s.append_changes(&[change(doc, 3, 4)], "b", at(1), &[])
        .unwrap();
    let later = s.document_after(doc, two).unwrap();
    assert!(matches!(&later, Stored::Changes { changes, .. } if *changes == vec![vec![3; 4]]));
    let three = seq_of(&later);
    assert!(three > two);
    // A compaction made from what was stored up to `two` keeps the later change.
    s.compact(doc, b"snap", two).unwrap();
    assert_eq!(s.changes_since_snapshot(doc).unwrap(), 1);
    let mut loaded = b"snap".to_vec();
    loaded.extend([3; 4]);
    assert_eq!(s.load_document(doc).unwrap(), Some(loaded.clone()));
    assert_eq!(
        s.document_after(doc, two).unwrap(),
        Stored::Changes {
            seq: three,
            changes: vec![vec![3; 4]]
        }
    );
    // A copy from before the snapshot is loaded whole again.
    assert_eq!(
        s.document_after(doc, two - 1).unwrap(),
        Stored::Whole {
            seq: three,
            bytes: loaded
        }
    );
    // An older snapshot never replaces a newer one.
    s.compact(doc, b"older", two - 1).unwrap();
    assert!(s.load_document(doc).unwrap().unwrap().starts_with(b"snap"));
}

fn moved_documents_refused(s: &mut dyn HubStorage) {
    let doc = DocId::Group(new_id());
    s.append_changes(&[change(doc, 1, 4)], "a", at(0), &[])
        .unwrap();
    let seen = seq_of(&s.document_after(doc, 0).unwrap());
    s.append_changes(&[change(doc, 2, 4)], "b", at(1), &[])
        .unwrap();
    // A rewrite from a copy that lacks change 2 would lose it: refused, nothing changed.
    assert!(matches!(
        s.replace_document(doc, b"rewritten", seen),
        Err(StorageError::Moved { .. })
    ));
    assert!(s.epochs().unwrap().is_empty());
    let now = seq_of(&s.document_after(doc, 0).unwrap());
    assert_eq!(s.replace_document(doc, b"rewritten", now).unwrap(), 1);
    // A change checked against epoch 0 arrives after the rewrite: refused, not stored.
    let cursor = s.pull(0, None, "x", 1 << 20).unwrap().cursor;
    assert!(matches!(
        s.append_changes(&[change(doc, 3, 4)], "a", at(2), &[]),
        Err(StorageError::Moved { .. })
    ));
    assert!(s.pull(cursor, None, "x", 1 << 20).unwrap().items.is_empty());
    assert_eq!(s.load_document(doc).unwrap(), Some(b"rewritten".to_vec()));
    let mut on_new = change(doc, 3, 4);
    on_new.epoch = 1;
    s.append_changes(&[on_new], "a", at(2), &[]).unwrap();
    assert_eq!(s.pull(cursor, None, "x", 1 << 20).unwrap().items.len(), 1);
}

fn cursor_past_the_end(s: &mut dyn HubStorage) {
    let doc = DocId::Point(new_id());
    s.append_changes(&[change(doc, 1, 8)], "a", at(0), &[])
        .unwrap();
    let page = s.pull(1_000_000, None, "x", 1 << 20).unwrap();
    assert_eq!(bytes_of(&page), vec![(doc, vec![1; 8])]);
}

fn audit_by_record(s: &mut dyn HubStorage) {
    let (household, visit, unrelated) = (new_id(), new_id(), new_id());
    let entry = |event: &str, id: Id, of: Option<Id>, minute| AuditEntry {
        at: at(minute),
        device: "device-a".into(),
        doc: DocId::Group(new_id()).to_string(),
        event: event.into(),
        change: Some("abcd".into()),
        records: vec![AuditRecord {
            map: "visits".into(),
            id,
            fields: vec!["*".into()],
            household: of,
        }],
    };
    let doc = DocId::Group(new_id());
    s.append_changes(
        &[change(doc, 1, 4)],
        "device-a",
        at(0),
        &[entry("change", visit, Some(household), 0)],
    )
    .unwrap();
    s.append_audit(&[entry("erase", unrelated, None, 1)])
        .unwrap();
    let found = s.audit_of(&[household]).unwrap();
    assert_eq!(found.len(), 1, "a visit's entry is found by its household");
    assert_eq!(found[0].records[0].id, visit);
    assert_eq!(found[0].at, at(0));
    assert_eq!(s.audit_of(&[visit, unrelated]).unwrap().len(), 2);
    assert!(s.audit_of(&[new_id()]).unwrap().is_empty());

    // Several entries in one append: each finds its own records, and its own change.
    let (h1, v1, h2, v2) = (new_id(), new_id(), new_id(), new_id());
    let mut second = entry("change", v2, Some(h2), 3);
    second.change = None;
    s.append_changes(
        &[change(doc, 2, 4), change(doc, 3, 4)],
        "device-a",
        at(2),
        &[entry("change", v1, Some(h1), 2), second],
    )
    .unwrap();
    let first = s.audit_of(&[h1]).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].records[0].id, first[0].at), (v1, at(2)));
    assert_eq!(first[0].change.as_deref(), Some("abcd"));
    let second = s.audit_of(&[v2]).unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!((second[0].records[0].id, second[0].at), (v2, at(3)));
    assert_eq!(second[0].change, None);
}

fn invite(role: Role, expires: chrono::DateTime<Utc>) -> InviteRecord {
    InviteRecord {
        role,
        name: "Lan".into(),
        groups: vec![new_id()],
        points: vec![],
        expires_at: expires,
    }
}

fn signatures_kept(s: &mut dyn HubStorage) {
    let doc = DocId::Group(new_id());
    let signer = new_id();
    let mut signed = change(doc, 1, 30);
    signed.signed = Some((signer, vec![7; 64]));
    let unsigned = change(doc, 2, 30);
    s.append_changes(&[signed.clone(), unsigned.clone()], "dev-1", at(0), &[])
        .unwrap();
    // A retried push of the same change signed otherwise: the first signature stays.
    let mut again = signed.clone();
    again.signed = Some((new_id(), vec![8; 64]));
    s.append_changes(&[again], "dev-2", at(1), &[]).unwrap();
    let signatures = s.signatures(&[signed.hash, unsigned.hash]).unwrap();
    assert_eq!(signatures, vec![(signed.hash, signer, vec![7; 64])]);
    let page = s.pull(0, None, "dev-9", usize::MAX).unwrap();
    let pulled: Vec<Vec<u8>> = page
        .items
        .iter()
        .filter_map(|i| match i {
            PullItem::Change { signature, .. } => Some(signature.clone()),
            PullItem::Snapshot { .. } => None,
        })
        .collect();
    assert_eq!(pulled, vec![vec![7; 64], vec![]]);
    // Compacted away, the change's signature is still known.
    s.compact(doc, b"whole", u64::MAX).unwrap();
    assert_eq!(s.signatures(&[signed.hash]).unwrap().len(), 1);
}

fn invites_once(s: &mut dyn HubStorage) {
    let inv = invite(Role::Volunteer, at(60));
    s.add_invite("code-1", &inv).unwrap();
    s.add_invite("code-old", &invite(Role::Volunteer, at(-1)))
        .unwrap();
    let device = new_id();
    let joined = s
        .redeem_invite("code-1", at(0), device, key(1), "token-1", at(1000))
        .unwrap()
        .expect("a fresh invite is redeemed");
    assert_eq!(joined.id, device);
    assert_eq!(joined.key, Some(key(1)));
    assert_eq!(
        s.devices()
            .unwrap()
            .iter()
            .find(|d| d.id == device)
            .unwrap()
            .key,
        Some(key(1))
    );
    assert_eq!(joined.role, Role::Volunteer);
    assert_eq!(joined.groups, inv.groups);
    assert!(s
        .redeem_invite("code-1", at(1), new_id(), key(9), "token-2", at(1000))
        .unwrap()
        .is_none());
    assert!(s
        .redeem_invite("code-old", at(0), new_id(), key(9), "token-3", at(1000))
        .unwrap()
        .is_none());
    assert!(s
        .redeem_invite("no-such-code", at(0), new_id(), key(9), "token-4", at(1000))
        .unwrap()
        .is_none());
    assert_eq!(s.devices().unwrap(), vec![joined]);
}

fn tokens_and_revocation(s: &mut dyn HubStorage) {
    s.add_invite("c1", &invite(Role::Coordinator, at(60)))
        .unwrap();
    s.add_invite("c2", &invite(Role::Volunteer, at(60)))
        .unwrap();
    let (a, b) = (new_id(), new_id());
    s.redeem_invite("c1", at(0), a, key(1), "ta", at(100))
        .unwrap();
    s.redeem_invite("c2", at(1), b, key(2), "tb", at(100))
        .unwrap();
    let (found, current) = s.device_by_token("ta").unwrap().unwrap();
    assert_eq!((found.id, current, found.rotating), (a, true, false));
    assert!(s.device_by_token("nope").unwrap().is_none());

    s.rotate_token(a, "ta", "ta2", at(2), at(200)).unwrap();
    let (old, current) = s.device_by_token("ta").unwrap().unwrap();
    assert_eq!(
        (old.id, current, old.rotating),
        (a, false, true),
        "the old token still works"
    );
    assert_eq!(old.token_issued_at, at(2));
    assert!(s.device_by_token("ta2").unwrap().unwrap().1);
    s.touch_device(a, at(3), at(300)).unwrap();
    assert!(
        s.device_by_token("ta").unwrap().is_none(),
        "gone once the new one is used"
    );
    let (touched, _) = s.device_by_token("ta2").unwrap().unwrap();
    assert_eq!(touched.last_seen_at, Some(at(3)));
    assert_eq!(touched.token_expires_at, at(300));
    s.rekey_token(a, "ta3").unwrap();
    assert!(s.device_by_token("ta3").unwrap().is_some());
    s.set_next_pin(a, "pin-2").unwrap();

    assert!(s.revoke(b, at(4)).unwrap());
    assert!(s.revoke(b, at(5)).unwrap(), "revoked again: still known");
    assert!(!s.revoke(new_id(), at(4)).unwrap());
    let devices = s.devices().unwrap();
    assert_eq!(devices.iter().map(|d| d.id).collect::<Vec<_>>(), vec![a, b]);
    assert_eq!(devices[0].next_pin.as_deref(), Some("pin-2"));
    assert_eq!(
        devices[1].revoked_at,
        Some(at(4)),
        "the first revocation's time kept"
    );
}

fn run_all(mut fresh: impl FnMut() -> Box<dyn HubStorage>) {
    for (name, case) in CASES {
        let mut storage = fresh();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            case(storage.as_mut());
        }));
        if let Err(e) = result {
            eprintln!("case failed: {name}");
            std::panic::resume_unwind(e);
        }
    }
}

#[test]
fn sqlite_storage_conforms() {
    let dirs = tempfile::TempDir::new().unwrap();
    run_all(|| {
        let dir = dirs.path().join(new_id().to_string());
        Box::new(SqliteStorage::open(&dir, &AtRest::Plaintext).unwrap())
    });
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/postgres-tests.sh"]
fn postgres_storage_conforms() {
    let url = std::env::var("DOORSTEP_TEST_POSTGRES")
        .expect("DOORSTEP_TEST_POSTGRES: a PostgreSQL URL (scripts/postgres-tests.sh sets it)");
    run_all(|| {
        let schema = format!("t_{}", new_id().simple());
        Box::new(PgStorage::open_in(&url, &schema).unwrap())
    });
}

fn postgres_url() -> String {
    std::env::var("DOORSTEP_TEST_POSTGRES")
        .expect("DOORSTEP_TEST_POSTGRES: a PostgreSQL URL (scripts/postgres-tests.sh sets it)")
}

/// A ward made in a new schema of the test database, with a volunteer of its "Tổ 1" joined:
/// the schema, that group and the volunteer's device.
fn ward_on_postgres(
    url: &str,
) -> (
    String,
    doorstep_domain::ResidentialGroup,
    doorstep_hub::storage::DeviceRecord,
    doorstep_doc::DeviceKey,
) {
    let schema = format!("ward_{}", new_id().simple());
    let open = || Box::new(PgStorage::open_in(url, &schema).unwrap());
    let (_, groups) = Hub::init_in(
        open().as_mut(),
        "Phường Thử",
        &["Tổ 1".into(), "Tổ 2".into()],
    )
    .unwrap();
    assert!(
        Hub::init_in(open().as_mut(), "Phường Khác", &["Tổ 1".into()]).is_err(),
        "a schema holds one ward"
    );
    let mut enrolment = Enrolment::with_storage(open()).unwrap();
    let now = Utc::now();
    let invite = enrolment
        .invite(
            &InviteRequest {
                role: Role::Volunteer,
                name: "Lan".into(),
                groups: vec!["Tổ 1".into()],
                point: None,
                expires_hours: None,
            },
            now,
        )
        .unwrap();
    let key = doorstep_doc::DeviceKey::from_secret([5; 32]);
    let request = doorstep_proto::api::JoinRequest {
        code: invite.code.clone(),
        key: key.public().to_base64(),
        proof: base64_url(&key.sign_join(&invite.code)),
    };
    let joined = enrolment.join(&request, now).unwrap();
    let device = enrolment.authenticate(&joined.token, now).unwrap().device;
    let group = groups.into_iter().find(|g| g.name == "Tổ 1").unwrap();
    (schema, group, device, key)
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `changes` of `doc` as the device holding `key` pushes them, signed.
fn signed_push(key: &doorstep_doc::DeviceKey, doc: DocId, changes: Vec<Vec<u8>>) -> Push {
    Push {
        doc: doc.into(),
        epoch: 0,
        signatures: changes
            .iter()
            .map(|c| {
                let hash = automerge::Change::from_bytes(c.clone()).unwrap().hash();
                key.sign_change(&hash).to_vec()
            })
            .collect(),
        changes,
    }
}

/// A device's copy of `doc` as `hub` stores it, writing as the device holding `key`.
fn device_copy(hub: &mut Hub, doc: DocId, key: &doorstep_doc::DeviceKey) -> automerge::AutoCommit {
    let stored = hub.documents().unwrap();
    let bytes = &stored
        .iter()
        .find(|d| d.id == doc.to_string())
        .unwrap()
        .bytes;
    automerge::AutoCommit::load(bytes)
        .unwrap()
        .with_actor(key.actor())
}

/// Records a household in the device's copy; the new change's bytes.
fn record_household(
    doc: &mut automerge::AutoCommit,
    group: Id,
    alley: &str,
    number: usize,
) -> Vec<Vec<u8>> {
    let before = doc.get_heads();
    let household: doorstep_domain::Household = serde_json::from_value(serde_json::json!({
        "id": new_id(), "group_id": group, "alley": alley, "number": number.to_string(),
        "members": 3, "priority": {"elderly": true, "disability": false, "poor": false,
        "near_poor": false}, "internet": "no", "consent": false, "name": null, "phone": null,
        "created_at": Utc::now(),
    }))
    .unwrap();
    doorstep_doc::put_household(doc, &household).unwrap();
    doc.commit();
    doc.get_changes(&before)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

fn households_in(hub: &mut Hub, group: Id) -> Vec<doorstep_domain::Household> {
    let stored = hub.documents().unwrap();
    let bytes = &stored
        .iter()
        .find(|d| d.id == DocId::Group(group).to_string())
        .unwrap()
        .bytes;
    doorstep_doc::read_households(&automerge::AutoCommit::load(bytes).unwrap(), group).unwrap()
}

/// The whole hub on PostgreSQL: a ward made in a schema, a volunteer invited and joined, its
/// pushed household checked and stored by one hub process and read by a second one on the same
/// database (what several hub processes of a city deployment do), with the change's receipt.
#[test]
#[ignore = "needs PostgreSQL: run by scripts/postgres-tests.sh"]
fn a_hub_on_postgres_takes_a_push_that_a_second_process_reads() {
    let url = postgres_url();
    let (schema, group, device, key) = ward_on_postgres(&url);
    let open = || Box::new(PgStorage::open_in(&url, &schema).unwrap());
    let now = Utc::now();
    let mut hub = Hub::with_storage(open()).unwrap();
    hub.load_documents().unwrap();
    let doc_id = DocId::Group(group.id);
    let mut doc = device_copy(&mut hub, doc_id, &key);
    let changes = record_household(&mut doc, group.id, "Ngõ 12 Hàng Bông", 5);
    let push = || SyncRequest {
        incarnation: 0,
        cursor: 0,
        pushes: vec![signed_push(&key, doc_id, changes.clone())],
    };
    let answer = hub.sync(&device, push(), now).unwrap();
    assert!(answer.cursor > 0);
    let pulled: Vec<&Vec<u8>> = answer
        .pulls
        .iter()
        .flat_map(|p| p.changes.iter().map(|c| &c.bytes))
        .collect();
    assert!(!pulled.is_empty(), "the ward's documents as they were made");
    assert!(
        changes.iter().all(|c| !pulled.contains(&c)),
        "the device is not sent its own change back"
    );
    // A retried push (its answer lost): taken again, and its first receive time told.
    let again = hub
        .sync(&device, push(), now + Duration::seconds(5))
        .unwrap();
    assert_eq!(again.receipts.len(), changes.len());

    // A second hub process on the same database reads what the first stored.
    let mut second = Hub::with_storage(open()).unwrap();
    second.load_documents().unwrap();
    let households = households_in(&mut second, group.id);
    assert_eq!(households.len(), 1);
    assert_eq!(households[0].alley, "Ngõ 12 Hàng Bông");
    assert!(households[0].priority.elderly);
}

/// Two hub processes of one ward, each with the documents in memory, take one device's rounds
/// in turn (a load balancer sends each request anywhere): every change builds on one the
/// other process stored, past both processes' compactions; nothing is lost or doubled. Then
/// one process erases a household (a new epoch) and the other, still holding the old epoch in
/// memory, answers the device's next push on the old epoch with the new one, storing nothing
/// of it.
#[test]
#[ignore = "needs PostgreSQL: run by scripts/postgres-tests.sh"]
fn two_hub_processes_take_one_wards_rounds_in_turn() {
    let url = postgres_url();
    let (schema, group, device, key) = ward_on_postgres(&url);
    let open = || Box::new(PgStorage::open_in(&url, &schema).unwrap());
    let mut hubs = [
        Hub::with_storage(open()).unwrap(),
        Hub::with_storage(open()).unwrap(),
    ];
    for hub in &mut hubs {
        hub.load_documents().unwrap();
    }
    let doc_id = DocId::Group(group.id);
    let mut doc = device_copy(&mut hubs[0], doc_id, &key);
    let mut cursor = 0;
    // 600 changes: past the compaction threshold (500) with the two processes interleaved.
    for n in 0..600 {
        let changes = record_household(&mut doc, group.id, "Ngõ 7 Lò Sũ", n);
        let request = SyncRequest {
            incarnation: 0,
            cursor,
            pushes: vec![signed_push(&key, doc_id, changes)],
        };
        let answer = hubs[n % 2]
            .sync(&device, request, Utc::now())
            .unwrap_or_else(|e| panic!("round {n} on process {}: {e}", n % 2));
        cursor = answer.cursor;
    }
    let mut third = Hub::with_storage(open()).unwrap();
    let households = households_in(&mut third, group.id);
    assert_eq!(households.len(), 600, "every household once");
    let storage = open();
    assert!(
        storage.changes_since_snapshot(doc_id).unwrap() < 500,
        "compacted on the way"
    );

    // Process 0 erases a household: epoch 1.
    let erased = hubs[0]
        .erase_household(households[0].id, &device, Utc::now())
        .unwrap();
    assert_eq!(erased.epoch, 1);
    // Process 1 held epoch 0 in memory: the device's next push on epoch 0 is answered with
    // the new epoch whole, and not stored.
    let late = record_household(&mut doc, group.id, "Ngõ 7 Lò Sũ", 999);
    let answer = hubs[1]
        .sync(
            &device,
            SyncRequest {
                incarnation: 0,
                cursor,
                pushes: vec![signed_push(&key, doc_id, late)],
            },
            Utc::now(),
        )
        .unwrap();
    let pull = answer
        .pulls
        .iter()
        .find(|p| p.doc == doc_id.into())
        .expect("the document's new epoch");
    assert_eq!(pull.epoch, 1);
    assert!(pull.snapshot.is_some(), "sent whole");
    assert_eq!(households_in(&mut third, group.id).len(), 600);
}
