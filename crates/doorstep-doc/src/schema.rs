//! The strict schema: every change a device or the hub receives is checked as a whole before
//! it is stored, on both sides of the wire, by this one checker.
//!
//! Why the change and not the records read back from it: a modified client can write any
//! Automerge operation, and reading a record through `records` sees only the fields it knows.
//! An unknown key, a nested object, a new root key or a deleted record would pass a check of
//! the projection and still be stored, forwarded and merged into every device in scope. So
//! every operation of a received change must land on a known record of a known record map,
//! under a known key, with a scalar of the right type; then the records the changes touched
//! must pass the domain's rules as they stand after the change (text limits, no ID numbers,
//! no name or phone without consent).
//!
//! The schema is versioned inside each document: root key `schema`, absent at version 1 (the
//! first change must be the same in every version, so it never writes it); an app whose
//! schema is newer writes its version once, in the change that first needs it. A document or
//! change of a newer schema is refused with `schema_too_new`, so an older hub tells a newer
//! app to wait for the update instead of failing to read.

use std::collections::{HashMap, HashSet};
use std::fmt;

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{
    AutoCommit, Change, ChangeHash, ObjId, ObjType, Prop, ReadDoc, ScalarValue, ScalarValueRef,
    Value, ValueRef, ROOT,
};
use doorstep_domain::validate::{
    check_household, check_review, check_text, check_visit_content, check_void,
};
use doorstep_domain::{ErrorCode, Id, ReviewState, Role};

use crate::records::{self, RECORD_MAPS, ROOT_ACTOR};
use crate::DocId;

/// The schema this build writes and understands.
pub const SCHEMA_VERSION: i64 = 1;

/// Who wrote the changes being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// A device of this role pushed them to the hub.
    Device(Role),
    /// The hub sent them to a device. The hub checked each author's role when it received
    /// them (a device cannot know who wrote what it pulls); everything else is checked again.
    Hub,
}

impl Author {
    /// Only a coordinator deletes a record: a volunteer corrects or voids, never deletes.
    fn may_delete_records(self) -> bool {
        matches!(self, Author::Device(Role::Coordinator) | Author::Hub)
    }
}

/// Which records received changes touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touched {
    /// The document is new or its root changed: everything is to be redone.
    All,
    /// These records (by id) were created, changed or deleted.
    Records(HashSet<Id>),
}

/// Why a change or document was refused: a stable code, the document, the record if one is
/// to blame, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub doc: DocId,
    pub record: Option<Id>,
    pub detail: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.record {
            Some(r) => write!(f, "{}, record {r}: {}", self.doc, self.detail),
            None => write!(f, "{}: {}", self.doc, self.detail),
        }
    }
}

impl std::error::Error for Refusal {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Bool,
    Bytes,
}

impl Kind {
    fn admits(self, value: &ScalarValue) -> bool {
        matches!(
            (self, value),
            (Kind::Str, ScalarValue::Str(_))
                | (Kind::Int, ScalarValue::Int(_) | ScalarValue::Uint(_))
                | (Kind::Bool, ScalarValue::Boolean(_))
                | (Kind::Bytes, ScalarValue::Bytes(_))
        )
    }

    fn admits_ref(self, value: &ScalarValueRef<'_>) -> bool {
        matches!(
            (self, value),
            (Kind::Str, ScalarValueRef::Str(_))
                | (Kind::Int, ScalarValueRef::Int(_) | ScalarValueRef::Uint(_))
                | (Kind::Bool, ScalarValueRef::Boolean(_))
                | (Kind::Bytes, ScalarValueRef::Bytes(_))
        )
    }
}

/// The kinds of record, each in its record map of its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    Group,
    Point,
    Household,
    Visit,
    Walkin,
}

impl RecordKind {
    /// The record map holding this kind's records, by its key in the document's root.
    pub fn map(self) -> &'static str {
        match self {
            RecordKind::Group => "groups",
            RecordKind::Point => "points",
            RecordKind::Household => "households",
            RecordKind::Visit => "visits",
            RecordKind::Walkin => "walkins",
        }
    }

    fn of_map(map: &str) -> Option<RecordKind> {
        [
            RecordKind::Group,
            RecordKind::Point,
            RecordKind::Household,
            RecordKind::Visit,
            RecordKind::Walkin,
        ]
        .into_iter()
        .find(|k| k.map() == map)
    }
}

/// What a field's value must be, beyond its type: checked on every value every operation
/// writes (an overwritten one, or one that loses a conflict, is stored and sent all the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Text a person typed or a word of a closed list: at most `MAX_TEXT_CHARS`, no run of
    /// digits like a citizen ID number.
    Text,
    /// A phone number (only with consent, checked with the record).
    Phone,
    /// Record ids, space-separated.
    Ids,
    /// A time (Unix milliseconds) between the campaign's start and the checker's clock plus
    /// `MAX_CLOCK_SKEW`.
    Time,
    /// A whole number from 1 to this.
    Count(i64),
    Bool,
    /// A record id's 16 bytes.
    Id,
}

impl Rule {
    fn kind(self) -> Kind {
        match self {
            Rule::Text | Rule::Phone | Rule::Ids => Kind::Str,
            Rule::Time | Rule::Count(_) => Kind::Int,
            Rule::Bool => Kind::Bool,
            Rule::Id => Kind::Bytes,
        }
    }
}

/// Who may write a field (a coordinator and the hub may write what a device may).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// Any device whose scope holds the document.
    Scope,
    /// Only the device that created the record (its actor made the record's object).
    Creator,
    /// A coordinator.
    Coordinator,
    /// The hub alone.
    Hub,
}

/// One field of a record kind: its name, what its values must be, whether a record must have
/// it, who may write it, and whether it is final once set (never overwritten nor deleted).
#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    rule: Rule,
    required: bool,
    who: Who,
    once: bool,
}

const fn f(name: &'static str, rule: Rule, required: bool, who: Who, once: bool) -> Field {
    Field {
        name,
        rule,
        required,
        who,
        once,
    }
}

const REQUIRED: bool = true;
const OPTIONAL: bool = false;
const FINAL: bool = true;
const CHANGEABLE: bool = false;

pub use doorstep_domain::validate::TIME_FLOOR_MS;
/// The latest a device checking what it pulls accepts (2100-01-01): the hub checked each time
/// against its own clock when it received it.
pub const TIME_CEILING_MS: i64 = 4_102_444_800_000;
/// How far ahead of the hub's clock a device's clock may run.
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::days(2);
/// A household's members, at most.
const MAX_MEMBERS: i64 = doorstep_domain::validate::MAX_MEMBERS as i64;

const FLAGS: [Field; 4] = [
    f("elderly", Rule::Bool, OPTIONAL, Who::Scope, CHANGEABLE),
    f("disability", Rule::Bool, OPTIONAL, Who::Scope, CHANGEABLE),
    f("poor", Rule::Bool, OPTIONAL, Who::Scope, CHANGEABLE),
    f("near_poor", Rule::Bool, OPTIONAL, Who::Scope, CHANGEABLE),
];

/// A review: its state set by a coordinator, or to `fixed` by any device of the group (see
/// the operation checks); who answered and when.
const REVIEW: [Field; 4] = [
    f(
        records::REVIEW_STATE,
        Rule::Text,
        OPTIONAL,
        Who::Scope,
        CHANGEABLE,
    ),
    f(
        records::REVIEW_COMMENT,
        Rule::Text,
        OPTIONAL,
        Who::Scope,
        CHANGEABLE,
    ),
    f(
        records::REVIEW_BY,
        Rule::Text,
        OPTIONAL,
        Who::Scope,
        CHANGEABLE,
    ),
    f(
        records::REVIEW_AT,
        Rule::Time,
        OPTIONAL,
        Who::Scope,
        CHANGEABLE,
    ),
];

/// A void: by the device that recorded the record or a coordinator; final.
const VOID: [Field; 3] = [
    f(
        records::VOIDED_AT,
        Rule::Time,
        OPTIONAL,
        Who::Creator,
        FINAL,
    ),
    f(
        records::VOIDED_BY,
        Rule::Text,
        OPTIONAL,
        Who::Creator,
        FINAL,
    ),
    f(
        records::VOID_REASON,
        Rule::Text,
        OPTIONAL,
        Who::Creator,
        FINAL,
    ),
];

/// The rules table: every field of every record kind. The hub judges every operation of a
/// received change by it, and a device every operation it pulls.
fn fields(kind: RecordKind) -> &'static [Field] {
    use Rule::*;
    const GROUP: &[Field] = &[f("name", Text, REQUIRED, Who::Coordinator, CHANGEABLE)];
    const POINT: &[Field] = &[
        f("name", Text, REQUIRED, Who::Coordinator, CHANGEABLE),
        f("place", Text, OPTIONAL, Who::Coordinator, CHANGEABLE),
    ];
    const HOUSEHOLD: &[Field] = &[
        f("created_at", Time, REQUIRED, Who::Scope, CHANGEABLE),
        f("alley", Text, REQUIRED, Who::Scope, CHANGEABLE),
        f("number", Text, REQUIRED, Who::Scope, CHANGEABLE),
        f(
            "members",
            Count(MAX_MEMBERS),
            OPTIONAL,
            Who::Scope,
            CHANGEABLE,
        ),
        FLAGS[0],
        FLAGS[1],
        FLAGS[2],
        FLAGS[3],
        f("internet", Text, OPTIONAL, Who::Scope, CHANGEABLE),
        f("consent", Bool, OPTIONAL, Who::Scope, CHANGEABLE),
        f("name", Text, OPTIONAL, Who::Scope, CHANGEABLE),
        f("phone", Phone, OPTIONAL, Who::Scope, CHANGEABLE),
        // Written by the hub alone, when it erases the household (see `epoch`).
        f(crate::epoch::ERASED_AT, Time, OPTIONAL, Who::Hub, FINAL),
        // The consent as a record: for which purpose, when, by which volunteer.
        f("consent_purpose", Text, OPTIONAL, Who::Scope, CHANGEABLE),
        f("consent_given_at", Time, OPTIONAL, Who::Scope, CHANGEABLE),
        f("consent_given_by", Text, OPTIONAL, Who::Scope, CHANGEABLE),
        f(
            "consent_withdrawn_at",
            Time,
            OPTIONAL,
            Who::Scope,
            CHANGEABLE,
        ),
        f(
            "consent_withdrawn_by",
            Text,
            OPTIONAL,
            Who::Scope,
            CHANGEABLE,
        ),
        f(records::MERGED_INTO, Id, OPTIONAL, Who::Coordinator, FINAL),
        f(
            records::NOT_DUPLICATE_OF,
            Ids,
            OPTIONAL,
            Who::Coordinator,
            CHANGEABLE,
        ),
        VOID[0],
        VOID[1],
        VOID[2],
        REVIEW[0],
        REVIEW[1],
        REVIEW[2],
        REVIEW[3],
        f(
            records::ASSIGNED_TO,
            Text,
            OPTIONAL,
            Who::Coordinator,
            CHANGEABLE,
        ),
        f(
            records::ASSIGNED_BY,
            Text,
            OPTIONAL,
            Who::Coordinator,
            CHANGEABLE,
        ),
        f(
            records::ASSIGNED_AT,
            Time,
            OPTIONAL,
            Who::Coordinator,
            CHANGEABLE,
        ),
        f("state", Text, OPTIONAL, Who::Scope, CHANGEABLE),
    ];
    // A visit is its recorder's: a colleague of the group may only answer its review.
    const VISIT: &[Field] = &[
        f("household", Id, REQUIRED, Who::Creator, CHANGEABLE),
        f("at", Time, REQUIRED, Who::Creator, CHANGEABLE),
        f("by", Text, REQUIRED, Who::Creator, CHANGEABLE),
        f("outcome", Text, REQUIRED, Who::Creator, CHANGEABLE),
        f("note", Text, OPTIONAL, Who::Creator, CHANGEABLE),
        f("follow_up_date", Text, OPTIONAL, Who::Creator, CHANGEABLE),
        f("follow_up_reason", Text, OPTIONAL, Who::Creator, CHANGEABLE),
        f("assists", Text, OPTIONAL, Who::Creator, CHANGEABLE),
        f("not_done_reason", Text, OPTIONAL, Who::Creator, CHANGEABLE),
        VOID[0],
        VOID[1],
        VOID[2],
        REVIEW[0],
        REVIEW[1],
        REVIEW[2],
        REVIEW[3],
    ];
    const WALKIN: &[Field] = &[
        f("device_time", Time, REQUIRED, Who::Creator, CHANGEABLE),
        f("service", Text, REQUIRED, Who::Creator, CHANGEABLE),
        f("result", Text, REQUIRED, Who::Creator, CHANGEABLE),
        f("age_band", Text, OPTIONAL, Who::Creator, CHANGEABLE),
        f("session", Text, OPTIONAL, Who::Creator, CHANGEABLE),
        FLAGS[0],
        FLAGS[1],
        FLAGS[2],
        FLAGS[3],
    ];
    match kind {
        RecordKind::Group => GROUP,
        RecordKind::Point => POINT,
        RecordKind::Household => HOUSEHOLD,
        RecordKind::Visit => VISIT,
        RecordKind::Walkin => WALKIN,
    }
}

fn field(kind: RecordKind, key: &str) -> Option<&'static Field> {
    fields(kind).iter().find(|f| f.name == key)
}

fn record_maps_of(doc: DocId) -> &'static [&'static str] {
    RECORD_MAPS
        .iter()
        .find(|(kind, _)| *kind == doc.kind())
        .map_or(&[], |(_, maps)| *maps)
}

/// Which epoch (up to `current`) `hash` is the first change of, if any: a pushed first change
/// of an older epoch carries history the hub rewrote away.
pub fn epoch_of_first_change(doc: DocId, hash: ChangeHash, current: u32) -> Option<u32> {
    (0..=current)
        .rev()
        .find(|e| first_change_hash(doc, *e) == Some(hash))
}

/// The hash of `doc`'s first change at `epoch`: the same on every device (see
/// `records::new_document_at`).
fn first_change_hash(doc: DocId, epoch: u32) -> Option<ChangeHash> {
    let mut first =
        records::new_document_at(doc, epoch, &automerge::ActorId::from([1u8; 16])).ok()?;
    first.get_changes(&[]).first().map(Change::hash)
}

struct Checker {
    doc: DocId,
    /// The latest time a value may carry (Unix milliseconds).
    ceiling: i64,
}

impl Checker {
    fn refuse(&self, code: ErrorCode, record: Option<Id>, detail: impl Into<String>) -> Refusal {
        Refusal {
            code,
            doc: self.doc,
            record,
            detail: detail.into(),
        }
    }

    fn schema_too_new(&self, found: i64) -> Refusal {
        self.refuse(
            ErrorCode::SchemaTooNew,
            None,
            format!(
                "written by a newer Doorstep (schema {found}, this one knows {SCHEMA_VERSION}): \
                 update the app"
            ),
        )
    }
}

/// Checks `changes` (new changes of document `id`, already applied to `doc`, in causal order)
/// as `author` wrote them, then the records they touched as they now stand. Says which
/// records they touched. Nothing is changed: on a refusal the caller drops `doc`.
pub fn check_changes(
    id: DocId,
    doc: &AutoCommit,
    changes: &[Change],
    author: Author,
    epoch: u32,
) -> Result<Touched, Refusal> {
    let limits = Limits {
        epoch,
        ceiling: TIME_CEILING_MS,
    };
    guarded(id, || {
        check_changes_as_read(id, doc, changes, author, limits, None)
    })
}

/// What a check holds changes to besides the rules table: the document's epoch (only its own
/// first change is taken) and the latest time a value may carry.
#[derive(Debug, Clone, Copy)]
struct Limits {
    epoch: u32,
    ceiling: i64,
}

/// What one change touched, for the hub's audit log: per record (its map and id) the fields it
/// wrote or deleted (`*` for the record itself made or deleted). Never the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeAudit {
    pub hash: ChangeHash,
    pub records: Vec<(&'static str, Id, Vec<String>)>,
}

/// [`check_changes`] as the hub checks a push at `now` (no time past `now` and the clock
/// skew), and what each change touched.
pub fn check_changes_audited(
    id: DocId,
    doc: &AutoCommit,
    changes: &[Change],
    author: Author,
    epoch: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Touched, Vec<ChangeAudit>), Refusal> {
    let limits = Limits {
        epoch,
        ceiling: (now + MAX_CLOCK_SKEW).timestamp_millis(),
    };
    guarded(id, || {
        let mut audit = Vec::with_capacity(changes.len());
        let touched = check_changes_as_read(id, doc, changes, author, limits, Some(&mut audit))?;
        Ok((touched, audit))
    })
}

/// Runs a check on a document that holds a peer's bytes: a malformed change can leave
/// Automerge in a state its readers panic on (fuzzing found one), which is then a refusal.
fn guarded<T>(id: DocId, check: impl FnOnce() -> Result<T, Refusal>) -> Result<T, Refusal> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).unwrap_or_else(|_| {
        Err(Refusal {
            code: ErrorCode::BadChange,
            doc: id,
            record: None,
            detail: "malformed changes the document engine could not read".into(),
        })
    })
}

fn check_changes_as_read(
    id: DocId,
    doc: &AutoCommit,
    changes: &[Change],
    author: Author,
    limits: Limits,
    mut audit: Option<&mut Vec<ChangeAudit>>,
) -> Result<Touched, Refusal> {
    let checker = Checker {
        doc: id,
        ceiling: limits.ceiling,
    };
    let names = record_maps_of(id);
    let maps: Vec<(ObjId, &'static str)> = names
        .iter()
        .filter_map(|name| Some((records::record_map(doc, name).ok()?, *name)))
        .collect();
    let map_named = |OpId(counter, actor): &OpId| {
        maps.iter().find_map(|(m, name)| match m {
            ObjId::Id(c, a, _) if c == counter && a == actor => Some(*name),
            _ => None,
        })
    };
    // Objects made by these changes: the record each is.
    let mut made: HashMap<OpId, (&'static str, Id)> = HashMap::new();
    let mut touched = HashSet::new();
    let mut all = false;
    let mut first: Option<Option<ChangeHash>> = None;
    // Names and phones written, with the change that wrote each.
    let mut personal: Vec<(Id, ChangeHash)> = Vec::new();
    // Visits given a household: it must be one of this document's.
    let mut visits_placed: Vec<(Id, ScalarValue)> = Vec::new();
    for change in changes {
        if change.actor_id().to_bytes() == ROOT_ACTOR {
            let expected = *first.get_or_insert_with(|| first_change_hash(id, limits.epoch));
            if expected == Some(change.hash()) {
                all = true;
                continue;
            }
            // An older epoch's first change: its history was rewritten away (an erasure).
            if epoch_of_first_change(id, change.hash(), limits.epoch).is_some() {
                return Err(checker.refuse(
                    ErrorCode::OldEpoch,
                    None,
                    format!(
                        "history of an epoch the hub wrote anew (an erasure): the document is at \
                         epoch {}",
                        limits.epoch
                    ),
                ));
            }
            return Err(checker.refuse(
                ErrorCode::RootChanged,
                None,
                "a change that pretends to be the document's first change",
            ));
        }
        let decoded = change.decode();
        let mut wrote: std::collections::BTreeMap<(&'static str, Id), Vec<String>> =
            Default::default();
        for (i, op) in decoded.operations.iter().enumerate() {
            let key = match &op.key {
                Key::Map(key) => key.as_str(),
                Key::Seq(_) => {
                    return Err(checker.refuse(
                        ErrorCode::NestedObject,
                        None,
                        "a list or text where records hold scalars",
                    ))
                }
            };
            let obj = match &op.obj {
                ObjectId::Root => {
                    check_root_op(&checker, key, &op.action)?;
                    all = true;
                    continue;
                }
                ObjectId::Id(obj) => obj,
            };
            if let Some(map) = map_named(obj) {
                let record = Id::parse_str(key).map_err(|_| {
                    checker.refuse(
                        ErrorCode::BadRecordId,
                        None,
                        format!("{map} holds a key {key:?} that is not a record id"),
                    )
                })?;
                match &op.action {
                    // A record is made only where none is: not over one (`pred`), nor beside
                    // one made elsewhere (a conflict the copy would win).
                    OpType::Make(ObjType::Map) if op.pred.is_empty() => {
                        let counter = decoded.start_op.get() + i as u64;
                        made.insert(OpId(counter, decoded.actor_id.clone()), (map, record));
                        let records = maps.iter().find(|(_, n)| *n == map).map(|(m, _)| m);
                        let copies =
                            records.map_or(0, |m| doc.get_all(m, key).map_or(0, |all| all.len()));
                        if copies > 1 {
                            return Err(checker.refuse(
                                ErrorCode::RecordExists,
                                Some(record),
                                format!("a record made again under a key {map} already holds"),
                            ));
                        }
                    }
                    OpType::Make(ObjType::Map) => {
                        return Err(checker.refuse(
                            ErrorCode::RecordExists,
                            Some(record),
                            "a record made over an existing one: correct it instead",
                        ))
                    }
                    OpType::Delete if !author.may_delete_records() => {
                        return Err(checker.refuse(
                            ErrorCode::RecordDeleted,
                            Some(record),
                            "only a coordinator deletes a record: correct it or void it",
                        ))
                    }
                    OpType::Delete => {}
                    _ => {
                        return Err(checker.refuse(
                            ErrorCode::WrongType,
                            Some(record),
                            format!("{map} holds something other than a record"),
                        ))
                    }
                }
                wrote.entry((map, record)).or_default().push("*".into());
                touched.insert(record);
                continue;
            }
            let (map, record) = match made.get(obj) {
                Some(found) => *found,
                None => record_of(doc, &checker, obj, names)?,
            };
            let kind = RecordKind::of_map(map).ok_or_else(|| {
                checker.refuse(ErrorCode::NestedObject, Some(record), "not a record")
            })?;
            let Some(field) = field(kind, key) else {
                return Err(checker.refuse(
                    ErrorCode::UnknownField,
                    Some(record),
                    format!("{map} records have no field {key:?}"),
                ));
            };
            check_writer(
                &checker,
                field,
                kind,
                record,
                author,
                obj,
                &decoded.actor_id,
                op,
            )?;
            match &op.action {
                OpType::Put(value) if field.rule.kind().admits(value) => {
                    check_value(&checker, field, record, value)?;
                    if kind == RecordKind::Household && matches!(key, "name" | "phone") {
                        personal.push((record, change.hash()));
                    }
                    if kind == RecordKind::Visit && key == "household" {
                        visits_placed.push((record, value.clone()));
                    }
                }
                OpType::Delete if !field.required => {}
                OpType::Delete => {
                    return Err(checker.refuse(
                        ErrorCode::FieldDeleted,
                        Some(record),
                        format!("{key} is required and cannot be deleted"),
                    ))
                }
                OpType::Make(_) => {
                    return Err(checker.refuse(
                        ErrorCode::NestedObject,
                        Some(record),
                        format!("{key} holds an object where a {:?} belongs", field.rule),
                    ))
                }
                _ => {
                    return Err(checker.refuse(
                        ErrorCode::WrongType,
                        Some(record),
                        format!("{key} must be a {:?}", field.rule.kind()),
                    ))
                }
            }
            let fields = wrote.entry((map, record)).or_default();
            if !fields.iter().any(|f| f == key) {
                fields.push(key.to_string());
            }
            touched.insert(record);
        }
        if let Some(audit) = audit.as_deref_mut() {
            audit.push(ChangeAudit {
                hash: change.hash(),
                records: wrote
                    .into_iter()
                    .map(|((map, record), fields)| (map, record, fields))
                    .collect(),
            });
        }
    }
    check_consent(&checker, doc, &personal)?;
    check_visits_placed(&checker, doc, &visits_placed)?;
    if all {
        check_records(&checker, doc, Which::All, None)?;
        Ok(Touched::All)
    } else {
        check_records(&checker, doc, Which::Touched(&touched), None)?;
        Ok(Touched::Records(touched))
    }
}

/// Whether `author` may write `field` of a `kind` record (whose object `obj` names the actor
/// that made it) in operation `op` of a change by `actor`: who may write the field (the rules
/// table), a review answered only `fixed` from the field, and a final field never overwritten
/// nor deleted once set. A device checking what it pulls cannot know each writer's role (the
/// hub checked it); only what the hub alone writes is checked there.
#[allow(clippy::too_many_arguments)]
fn check_writer(
    checker: &Checker,
    field: &Field,
    kind: RecordKind,
    record: Id,
    author: Author,
    obj: &OpId,
    actor: &automerge::ActorId,
    op: &automerge::legacy::Op,
) -> Result<(), Refusal> {
    let role = match author {
        Author::Hub => None,
        Author::Device(role) => Some(role),
    };
    let coordinator = matches!(role, None | Some(Role::Coordinator));
    match field.who {
        Who::Hub if role.is_some() => {
            let code = match field.name {
                crate::epoch::ERASED_AT => ErrorCode::HouseholdErased,
                _ => ErrorCode::CoordinatorOnly,
            };
            return Err(checker.refuse(
                code,
                Some(record),
                format!(
                    "only the hub writes {} (doorstep household erase)",
                    field.name
                ),
            ));
        }
        Who::Coordinator if !coordinator => {
            return Err(checker.refuse(
                ErrorCode::CoordinatorOnly,
                Some(record),
                format!(
                    "only a coordinator writes {} (merges, assignments, not-duplicate marks)",
                    field.name
                ),
            ))
        }
        Who::Creator if !coordinator && obj.1 != *actor => {
            let what = match kind {
                RecordKind::Visit => "a visit is changed only by the device that recorded it",
                _ => "a record is voided or changed only by the device that recorded it: ask the coordinator",
            };
            let code = match field.once {
                // A void of someone else's record: the coordinator's to make.
                true => ErrorCode::CoordinatorOnly,
                false => ErrorCode::NotYourRecord,
            };
            return Err(checker.refuse(code, Some(record), what));
        }
        _ => {}
    }
    if field.name == records::REVIEW_STATE {
        let state = match &op.action {
            OpType::Put(ScalarValue::Str(v)) => Some(v.parse::<ReviewState>().map_err(|_| {
                checker.refuse(
                    ErrorCode::InvalidRecord,
                    Some(record),
                    format!("no review state {v:?}"),
                )
            })?),
            _ => None,
        };
        if !coordinator && state != Some(ReviewState::Fixed) {
            return Err(checker.refuse(
                ErrorCode::CoordinatorOnly,
                Some(record),
                "a coordinator asks for a fix or approves; the field answers `fixed`",
            ));
        }
    }
    let overwrites = !op.pred.is_empty();
    if field.once && (matches!(op.action, OpType::Delete) || overwrites) {
        return Err(checker.refuse(
            ErrorCode::FieldDeleted,
            Some(record),
            format!(
                "{} is final once set: a void, a merge or an erasure is never undone",
                field.name
            ),
        ));
    }
    Ok(())
}

/// Every value an operation writes, against its field's rule (a value overwritten in the same
/// change, or losing a conflict, is stored and sent to every device all the same).
fn check_value(
    checker: &Checker,
    field: &Field,
    record: Id,
    value: &ScalarValue,
) -> Result<(), Refusal> {
    let rule =
        |e: doorstep_domain::ValidationError| checker.refuse(e.code(), Some(record), e.to_string());
    let out_of_range =
        |what: String| checker.refuse(ErrorCode::ValueOutOfRange, Some(record), what);
    match (field.rule, value) {
        (Rule::Text, ScalarValue::Str(text)) => check_text(field.name, text, false).map_err(rule),
        (Rule::Phone, ScalarValue::Str(text)) => {
            check_text(field.name, text, false).map_err(rule)?;
            doorstep_domain::validate::check_phone(text).map_err(rule)
        }
        (Rule::Ids, ScalarValue::Str(text)) => {
            if text.split_whitespace().all(|t| Id::parse_str(t).is_ok()) {
                Ok(())
            } else {
                Err(checker.refuse(
                    ErrorCode::InvalidRecord,
                    Some(record),
                    format!("{} holds record ids only", field.name),
                ))
            }
        }
        (Rule::Time, ScalarValue::Int(t)) => match (TIME_FLOOR_MS..=checker.ceiling).contains(t) {
            true => Ok(()),
            false => Err(out_of_range(format!(
                "{} is {t}: a time lies between the campaign's start and the hub's clock",
                field.name
            ))),
        },
        (Rule::Time, ScalarValue::Uint(t)) => Err(out_of_range(format!(
            "{} is {t}: a time lies between the campaign's start and the hub's clock",
            field.name
        ))),
        (Rule::Count(max), ScalarValue::Int(n)) if (1..=max).contains(n) => Ok(()),
        (Rule::Count(max), ScalarValue::Uint(n)) if (1..=max as u64).contains(n) => Ok(()),
        (Rule::Count(max), _) => Err(checker.refuse(
            ErrorCode::MembersOutOfRange,
            Some(record),
            format!("{} is a number from 1 to {max}", field.name),
        )),
        (Rule::Id, ScalarValue::Bytes(bytes)) if bytes.len() == 16 => Ok(()),
        (Rule::Id, _) => Err(checker.refuse(
            ErrorCode::InvalidRecord,
            Some(record),
            format!("{} is a record id", field.name),
        )),
        _ => Ok(()),
    }
}

/// A visit's household is one of its own document's: a visit of another group's household
/// (or of none) would count where nobody can see it.
fn check_visits_placed(
    checker: &Checker,
    doc: &AutoCommit,
    placed: &[(Id, ScalarValue)],
) -> Result<(), Refusal> {
    let Ok(households) = records::record_map(doc, "households") else {
        return Ok(());
    };
    for (visit, household) in placed {
        let found = match household {
            ScalarValue::Bytes(b) => Id::from_slice(b)
                .ok()
                .is_some_and(|h| record_obj(doc, &households, h).is_some()),
            _ => false,
        };
        if !found {
            return Err(checker.refuse(
                ErrorCode::WrongGroup,
                Some(*visit),
                "a visit's household is one of its residential group's households",
            ));
        }
    }
    Ok(())
}

/// A name or phone may be written only on a household whose consent stands, as the writer saw
/// it: read at the change that wrote it (its own history), not in the merged document. Why: a
/// consent withdrawn on one device while another, offline, types the name is a legitimate
/// concurrent edit (the merged household has no consent, so the name is never shown), and
/// refusing it would block that device's outbox forever; a change written on top of a
/// withdrawal is what only a modified client makes.
fn check_consent(
    checker: &Checker,
    doc: &AutoCommit,
    personal: &[(Id, ChangeHash)],
) -> Result<(), Refusal> {
    let Ok(households) = records::record_map(doc, "households") else {
        return Ok(());
    };
    for (record, change) in personal {
        let at = [*change];
        let consent = match doc.get_at(&households, record.to_string(), &at) {
            Ok(Some((Value::Object(ObjType::Map), obj))) => {
                matches!(
                    doc.get_at(&obj, "consent", &at),
                    Ok(Some((Value::Scalar(v), _))) if matches!(v.as_ref(), ScalarValue::Boolean(true))
                )
            }
            _ => false,
        };
        if !consent {
            return Err(checker.refuse(
                ErrorCode::NameWithoutConsent,
                Some(*record),
                "a name or phone written on a household without consent",
            ));
        }
    }
    Ok(())
}

/// After a document's first change, its root changes only by the ward's name (in the ward
/// document) or a newer schema version (refused here, it is newer than this build).
fn check_root_op(checker: &Checker, key: &str, action: &OpType) -> Result<(), Refusal> {
    match (key, action) {
        ("name", OpType::Put(ScalarValue::Str(_))) if matches!(checker.doc, DocId::Ward(_)) => {
            Ok(())
        }
        (records::IDLE_LOCK_MINUTES, OpType::Put(ScalarValue::Int(v)))
            if matches!(checker.doc, DocId::Ward(_)) =>
        {
            match u32::try_from(*v) {
                Ok(m) if records::IDLE_LOCK_RANGE.contains(&m) => Ok(()),
                _ => Err(checker.refuse(
                    ErrorCode::InvalidRecord,
                    None,
                    format!("the ward's idle lock is 1 to 60 minutes, not {v}"),
                )),
            }
        }
        (key, OpType::Put(ScalarValue::Int(v)))
            if records::TARGET_KEYS.contains(&key) && matches!(checker.doc, DocId::Ward(_)) =>
        {
            if (0..=100).contains(v) {
                Ok(())
            } else {
                Err(checker.refuse(
                    ErrorCode::InvalidRecord,
                    None,
                    format!("a target is 0 to 100 percent, not {v}"),
                ))
            }
        }
        ("schema", OpType::Put(ScalarValue::Int(v))) if *v > SCHEMA_VERSION => {
            Err(checker.schema_too_new(*v))
        }
        _ => Err(checker.refuse(
            ErrorCode::RootChanged,
            None,
            format!("a change to the document's root ({key:?}): new root keys and replaced record maps are refused"),
        )),
    }
}

/// The record (its map and id) an object made by earlier changes is: it must sit directly
/// under a record map.
fn record_of(
    doc: &AutoCommit,
    checker: &Checker,
    obj: &OpId,
    names: &[&'static str],
) -> Result<(&'static str, Id), Refusal> {
    let nested = || {
        checker.refuse(
            ErrorCode::NestedObject,
            None,
            "a change inside an object that is not a record",
        )
    };
    let exid = doc
        .import_obj(&format!("{}@{}", obj.0, obj.1.to_hex_string()))
        .map_err(|_| nested())?;
    let parents = doc.parents(&exid).map_err(|_| nested())?;
    match parents.path().as_slice() {
        [(_, Prop::Map(map)), (_, Prop::Map(key))] => {
            let map = names
                .iter()
                .find(|n| **n == map.as_str())
                .ok_or_else(nested)?;
            Ok((map, Id::parse_str(key).map_err(|_| nested())?))
        }
        _ => Err(nested()),
    }
}

/// Checks a whole document as it stands (a snapshot from the hub, a ward being imported): the
/// root holds only its known keys, every record map only records, every record only known
/// keys with scalars of the right type, and every record passes the domain's rules.
pub fn check_document(id: DocId, doc: &AutoCommit) -> Result<(), Refusal> {
    guarded(id, || check_document_as_read(id, doc, None))
}

/// A group document's records as the check read them: its households, and its visits each
/// with the change that created it.
#[derive(Debug, Default)]
pub struct GroupRecords {
    pub households: Vec<doorstep_domain::Household>,
    pub visits: Vec<(doorstep_domain::Visit, Option<ChangeHash>)>,
}

/// `check_document`, keeping what it read of a group's records (a device writes its rows
/// from them, instead of reading every record a second time); `None` for another document.
pub fn check_document_read(id: DocId, doc: &AutoCommit) -> Result<Option<GroupRecords>, Refusal> {
    guarded(id, || {
        let mut read = GroupRecords::default();
        check_document_as_read(id, doc, Some(&mut read))?;
        Ok(matches!(id, DocId::Group(_)).then_some(read))
    })
}

fn check_document_as_read(
    id: DocId,
    doc: &AutoCommit,
    keep: Option<&mut GroupRecords>,
) -> Result<(), Refusal> {
    let checker = Checker {
        doc: id,
        ceiling: TIME_CEILING_MS,
    };
    let maps = record_maps_of(id);
    for item in doc.map_range(ROOT, ..) {
        let key: &str = &item.key;
        let fine = match (key, &item.value) {
            ("id", ValueRef::Scalar(ScalarValueRef::Str(_))) => true,
            (records::EPOCH, ValueRef::Scalar(ScalarValueRef::Int(e))) => *e > 0,
            ("name", ValueRef::Scalar(ScalarValueRef::Str(_))) => matches!(id, DocId::Ward(_)),
            ("schema", ValueRef::Scalar(ScalarValueRef::Int(version))) => {
                if *version > SCHEMA_VERSION {
                    return Err(checker.schema_too_new(*version));
                }
                true
            }
            (map, ValueRef::Object(ObjType::Map)) => maps.contains(&map),
            _ => false,
        };
        if !fine {
            return Err(checker.refuse(
                ErrorCode::RootChanged,
                None,
                format!("the document's root holds an unknown {key:?}"),
            ));
        }
    }
    let mut read: Vec<(&str, ReadRecords<'_>)> = Vec::with_capacity(maps.len());
    for map in maps {
        let Ok(map_obj) = records::record_map(doc, map) else {
            return Err(checker.refuse(ErrorCode::RootChanged, None, format!("no {map} map")));
        };
        let mut records = Vec::new();
        for item in doc.map_range(&map_obj, ..) {
            let record = Id::parse_str(&item.key).map_err(|_| {
                checker.refuse(
                    ErrorCode::BadRecordId,
                    None,
                    format!("{map} holds a key {:?} that is not a record id", item.key),
                )
            })?;
            if item.value != ValueRef::Object(ObjType::Map) {
                return Err(checker.refuse(
                    ErrorCode::WrongType,
                    Some(record),
                    format!("{map} holds something other than a record"),
                ));
            }
            let obj = item.id();
            let mut fields = Vec::new();
            for entry in doc.map_range(&obj, ..) {
                let key: &str = &entry.key;
                let Some(kind) = RecordKind::of_map(map)
                    .and_then(|k| field(k, key))
                    .map(|f| f.rule.kind())
                else {
                    return Err(checker.refuse(
                        ErrorCode::UnknownField,
                        Some(record),
                        format!("{map} records have no field {key:?}"),
                    ));
                };
                match entry.value {
                    ValueRef::Scalar(v) if kind.admits_ref(&v) => fields.push((entry.key, v)),
                    ValueRef::Object(_) => {
                        return Err(checker.refuse(
                            ErrorCode::NestedObject,
                            Some(record),
                            format!("{key} holds an object where a {kind:?} belongs"),
                        ))
                    }
                    _ => {
                        return Err(checker.refuse(
                            ErrorCode::WrongType,
                            Some(record),
                            format!("{key} must be a {kind:?}"),
                        ))
                    }
                }
            }
            records.push((record, obj, records::Fields::from_items(doc, fields)));
        }
        read.push((map, records));
    }
    check_records(&checker, doc, Which::Read(read), keep)
}

/// A record map's records as the whole-document check read them: each one's id, object and
/// fields, read once for their types and for the rules.
type ReadRecords<'a> = Vec<(Id, ObjId, records::Fields<'a>)>;

/// Which records `check_records` checks.
enum Which<'t, 'a> {
    /// Every record, read there.
    All,
    /// Every record, as the whole-document check read them, by record map.
    Read(Vec<(&'static str, ReadRecords<'a>)>),
    /// Only these (a push costs its size, not the group's).
    Touched(&'t HashSet<Id>),
}

/// The domain's rules on the records as they stand: every record of the document, or only
/// the ones touched. A visit's date is not checked: device clocks are flagged, not refused. A
/// group's records read are kept in `keep`.
fn check_records<'a>(
    checker: &Checker,
    doc: &'a AutoCommit,
    which: Which<'_, 'a>,
    mut keep: Option<&mut GroupRecords>,
) -> Result<(), Refusal> {
    let (touched, mut read) = match which {
        Which::All => (None, Vec::new()),
        Which::Read(read) => (None, read),
        Which::Touched(t) => (Some(t), Vec::new()),
    };
    // The records of `map` with their fields: as read already, or read now.
    let mut records_of = |map: &ObjId, name: &str| -> Vec<(Id, ObjId, records::Fields<'a>)> {
        match read.iter().position(|(n, _)| *n == name) {
            Some(at) => read.swap_remove(at).1,
            None => records::records(doc, map)
                .into_iter()
                .map(|(id, obj)| {
                    let fields = records::Fields::of(doc, &obj);
                    (id, obj, fields)
                })
                .collect(),
        }
    };
    let invalid = |record: Option<Id>, e: &dyn fmt::Display| {
        checker.refuse(ErrorCode::InvalidRecord, record, e.to_string())
    };
    let rule = |record: Id, e: doorstep_domain::ValidationError| {
        checker.refuse(e.code(), Some(record), e.to_string())
    };
    let wanted = |record: &Id| touched.is_none_or(|t| t.contains(record));
    match checker.doc {
        DocId::Ward(w) => {
            let (ward, groups, points) =
                records::read_ward(w, doc).map_err(|e| invalid(None, &e))?;
            check_text("ward name", &ward.name, false).map_err(|e| rule(w, e))?;
            for g in groups.iter().filter(|g| wanted(&g.id)) {
                check_text("group name", &g.name, true).map_err(|e| rule(g.id, e))?;
            }
            for p in points.iter().filter(|p| wanted(&p.id)) {
                check_text("point name", &p.name, true).map_err(|e| rule(p.id, e))?;
                if let Some(place) = &p.place {
                    check_text("place", place, true).map_err(|e| rule(p.id, e))?;
                }
            }
        }
        DocId::Group(g) => {
            let households =
                records::record_map(doc, "households").map_err(|e| invalid(None, &e))?;
            let visits = records::record_map(doc, "visits").map_err(|e| invalid(None, &e))?;
            let fields_of = |obj: ObjId| {
                let fields = records::Fields::of(doc, &obj);
                (obj, fields)
            };
            let ids: Vec<(Id, ObjId, records::Fields<'a>, bool)> = match touched {
                Some(t) => t
                    .iter()
                    .flat_map(|rid| {
                        let h = record_obj(doc, &households, *rid)
                            .map(fields_of)
                            .map(|(o, f)| (*rid, o, f, true));
                        let v = record_obj(doc, &visits, *rid)
                            .map(fields_of)
                            .map(|(o, f)| (*rid, o, f, false));
                        h.into_iter().chain(v)
                    })
                    .collect(),
                None => records_of(&households, "households")
                    .into_iter()
                    .map(|(id, o, f)| (id, o, f, true))
                    .chain(
                        records_of(&visits, "visits")
                            .into_iter()
                            .map(|(id, o, f)| (id, o, f, false)),
                    )
                    .collect(),
            };
            // Households come before visits: a whole document's visits find their erased
            // households here instead of looking each one up.
            let mut erased = HashSet::new();
            for (rid, obj, fields, is_household) in ids {
                if is_household {
                    let h = records::household_from_fields(&fields, g, rid)
                        .map_err(|e| invalid(Some(rid), &e))?;
                    if fields.get(crate::epoch::ERASED_AT).is_some() {
                        erased.insert(rid);
                    }
                    check_household(&h).map_err(|e| rule(rid, e))?;
                    check_void(h.voided.as_ref()).map_err(|e| rule(rid, e))?;
                    check_review(h.review.as_ref()).map_err(|e| rule(rid, e))?;
                    if let Some(a) = &h.assignment {
                        check_text("assigned to", &a.to, true).map_err(|e| rule(rid, e))?;
                        check_text("assigned by", &a.by, true).map_err(|e| rule(rid, e))?;
                    }
                    // Not-duplicate: household ids of this document, nothing else.
                    if let Some(ScalarValueRef::Str(ids)) = fields.get(records::NOT_DUPLICATE_OF) {
                        let other_household = |t: &str| {
                            Id::parse_str(t).ok().is_some_and(|o| {
                                o != rid && record_obj(doc, &households, o).is_some()
                            })
                        };
                        if !ids.split_whitespace().all(other_household) {
                            return Err(invalid(
                                Some(rid),
                                &"not_duplicate_of names only other households of its group",
                            ));
                        }
                    }
                    let raw_merge = fields.get(records::MERGED_INTO).is_some();
                    if raw_merge && h.merged_into.is_none() {
                        return Err(invalid(Some(rid), &"merged_into is not a household id"));
                    }
                    if let Some(survivor) = h.merged_into {
                        if survivor == rid || record_obj(doc, &households, survivor).is_none() {
                            return Err(invalid(
                                Some(rid),
                                &"a household is merged into another household of its group",
                            ));
                        }
                    }
                    if let Some(keep) = keep.as_deref_mut() {
                        keep.households.push(h);
                    }
                } else {
                    let v = records::visit_from_fields(&fields, g, rid)
                        .map_err(|e| invalid(Some(rid), &e))?;
                    check_visit_content(&v).map_err(|e| rule(rid, e))?;
                    check_void(v.voided.as_ref()).map_err(|e| rule(rid, e))?;
                    check_review(v.review.as_ref()).map_err(|e| rule(rid, e))?;
                    let of_erased = match touched {
                        None => erased.contains(&v.household_id),
                        Some(_) => record_obj(doc, &households, v.household_id).is_some_and(|h| {
                            matches!(doc.get(&h, crate::epoch::ERASED_AT), Ok(Some(_)))
                        }),
                    };
                    if of_erased {
                        doorstep_domain::validate::check_visit_of_erased(&v)
                            .map_err(|e| rule(rid, e))?;
                    }
                    if let Some(keep) = keep.as_deref_mut() {
                        keep.visits.push((v, doc.hash_for_opid(&obj)));
                    }
                }
            }
        }
        DocId::Point(p) => {
            let walkins = records::record_map(doc, "walkins").map_err(|e| invalid(None, &e))?;
            let read: Vec<(Id, ObjId, records::Fields<'a>)> = match touched {
                Some(t) => t
                    .iter()
                    .filter_map(|rid| {
                        let obj = record_obj(doc, &walkins, *rid)?;
                        let fields = records::Fields::of(doc, &obj);
                        Some((*rid, obj, fields))
                    })
                    .collect(),
                None => records_of(&walkins, "walkins"),
            };
            for (rid, _, fields) in read {
                let w = records::walkin_from_fields(&fields, p, rid)
                    .map_err(|e| invalid(Some(rid), &e))?;
                if let Some(session) = &w.session {
                    check_text("session", session, true).map_err(|e| rule(rid, e))?;
                }
            }
        }
    }
    Ok(())
}

/// A record's object in `map`, if the record is there.
fn record_obj(doc: &AutoCommit, map: &ObjId, id: Id) -> Option<ObjId> {
    records::record(doc, map, id).ok().flatten()
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::ActorId;
    use chrono::Utc;
    use doorstep_domain::*;

    use super::*;
    use crate::records::*;

    fn household(group_id: Id, number: &str) -> Household {
        HouseholdDraft {
            alley: "Ngõ 12".into(),
            number: number.into(),
            members: Some(3),
            ..Default::default()
        }
        .into_household(new_id(), group_id, Utc::now())
    }

    fn actor() -> ActorId {
        ActorId::from(new_id().as_bytes())
    }

    /// A group document the hub holds with three households, and a device's copy of it.
    fn hub_and_device() -> (Id, AutoCommit, AutoCommit, [Household; 3]) {
        let group = new_id();
        let mut hub = new_document(DocId::Group(group), &actor()).unwrap();
        let mut consenting = household(group, "3");
        consenting.consent = true;
        consenting.name = Some("Bà Hoa".into());
        let hs = [household(group, "1"), household(group, "2"), consenting];
        for h in &hs {
            put_household(&mut hub, h).unwrap();
        }
        hub.commit();
        let device = hub.fork().with_actor(actor());
        (group, hub, device, hs)
    }

    /// What the hub's checker says of the changes `device` made since it forked.
    fn received(
        hub: &mut AutoCommit,
        device: &mut AutoCommit,
        author: Author,
    ) -> Result<Touched, Refusal> {
        let before = hub.get_heads();
        hub.merge(device).map_err(|e| Refusal {
            code: ErrorCode::BadChange,
            doc: DocId::Ward(new_id()),
            record: None,
            detail: e.to_string(),
        })?;
        let changes = hub.get_changes(&before);
        let id: DocId = get_str(hub, &ROOT, "id")
            .ok()
            .flatten()
            .and_then(|s| s.parse().ok())
            .unwrap_or(DocId::Ward(new_id()));
        check_changes(id, hub, &changes, author, 0)
    }

    /// The app's own changes pass and name what they touched: a new visit, a correction of a
    /// household made before, a consent withdrawal; nothing else in the group.
    #[test]
    fn what_the_app_writes_passes_and_names_what_it_touched() {
        let (group, mut hub, mut device, [h1, h2, h3]) = hub_and_device();
        patch_household(
            &mut device,
            h1.id,
            &HouseholdPatch {
                alley: Some("Ngõ 14".into()),
                ..HouseholdPatch::default()
            },
        )
        .unwrap();
        device.commit();
        let visit = Visit {
            id: new_id(),
            household_id: h2.id,
            group_id: group,
            device_time: Utc::now(),
            volunteer: "Lan".into(),
            outcome: Outcome::Assisted,
            note: Some("hẹn thứ Sáu".into()),
            follow_up: None,
            assists: vec!["vneid_activate:done:60_plus:elderly".parse().unwrap()],
            received_at: None,
            voided: None,
            review: None,
            not_done_reason: None,
        };
        put_visit(&mut device, &visit).unwrap();
        patch_household(
            &mut device,
            h3.id,
            &HouseholdPatch {
                consent: Some(false),
                ..HouseholdPatch::default()
            },
        )
        .unwrap();
        device.commit();
        let touched = received(&mut hub, &mut device, Author::Device(Role::Volunteer));
        assert_eq!(
            touched,
            Ok(Touched::Records(HashSet::from([h1.id, visit.id, h3.id])))
        );
        assert_eq!(check_document(DocId::Group(group), &hub), Ok(()));
    }

    /// A new document's first change, or a change to the ward's name, redoes everything.
    #[test]
    fn a_new_document_or_a_ward_rename_touches_everything() {
        let ward = DocId::Ward(new_id());
        let mut doc = new_document(ward, &actor()).unwrap();
        put_ward_name(&mut doc, "Phường Cửa Nam").unwrap();
        doc.commit();
        let all = doc.get_changes(&[]);
        assert_eq!(
            check_changes(ward, &doc, &all, Author::Device(Role::Coordinator), 0),
            Ok(Touched::All)
        );
    }

    /// The ward's targets: whole percents 0–100, on the ward document only.
    #[test]
    fn targets_are_percents_on_the_ward() {
        let ward = DocId::Ward(new_id());
        for (value, expected) in [
            (80, Ok(())),
            (0, Ok(())),
            (101, Err(ErrorCode::InvalidRecord)),
        ] {
            let mut doc = new_document(ward, &actor()).unwrap();
            let before = doc.get_heads();
            doc.put(ROOT, TARGET_KEYS[0], ScalarValue::Int(value))
                .unwrap();
            doc.commit();
            let changes = doc.get_changes(&before);
            let result = check_changes(ward, &doc, &changes, Author::Device(Role::Coordinator), 0)
                .map(|_| ())
                .map_err(|r| r.code);
            assert_eq!(result, expected, "{value}");
        }
    }

    /// The ward's idle lock: a whole number of minutes in 1–60, on the ward document only.
    #[test]
    fn the_idle_lock_is_in_range_and_on_the_ward_only() {
        let ward = DocId::Ward(new_id());
        for (minutes, expected) in [
            (ScalarValue::Int(15), Ok(())),
            (ScalarValue::Int(0), Err(ErrorCode::InvalidRecord)),
            (ScalarValue::Int(61), Err(ErrorCode::InvalidRecord)),
            (ScalarValue::Int(-5), Err(ErrorCode::InvalidRecord)),
            (ScalarValue::Str("15".into()), Err(ErrorCode::RootChanged)),
        ] {
            let mut doc = new_document(ward, &actor()).unwrap();
            let before = doc.get_heads();
            doc.put(ROOT, IDLE_LOCK_MINUTES, minutes).unwrap();
            doc.commit();
            let changes = doc.get_changes(&before);
            let result = check_changes(ward, &doc, &changes, Author::Device(Role::Coordinator), 0)
                .map(|_| ())
                .map_err(|r| r.code);
            assert_eq!(result, expected);
        }
        let group = DocId::Group(new_id());
        let mut doc = new_document(group, &actor()).unwrap();
        let before = doc.get_heads();
        put_idle_lock_minutes(&mut doc, 15).unwrap();
        doc.commit();
        let changes = doc.get_changes(&before);
        let refused = check_changes(group, &doc, &changes, Author::Device(Role::Coordinator), 0);
        assert_eq!(
            refused.map(|_| ()).map_err(|r| r.code),
            Err(ErrorCode::RootChanged)
        );
    }

    /// Each epoch's first change is its own: an older epoch's is told apart and refused.
    #[test]
    fn an_older_epochs_first_change_is_refused_as_old_epoch() {
        let group = DocId::Group(new_id());
        let (zero, one) = (first_change_hash(group, 0), first_change_hash(group, 1));
        assert!(zero.is_some() && zero != one);
        let mut doc = new_document_at(group, 0, &actor()).unwrap();
        let first = doc.get_changes(&[]);
        assert_eq!(epoch_of_first_change(group, first[0].hash(), 3), Some(0));
        let author = Author::Device(Role::Volunteer);
        assert_eq!(
            check_changes(group, &doc, &first, author, 0),
            Ok(Touched::All)
        );
        let refused = check_changes(group, &doc, &first, author, 1).map_err(|r| r.code);
        assert_eq!(refused, Err(ErrorCode::OldEpoch));
        // The new epoch's own first change carries its number and passes the whole check.
        let fresh = new_document_at(group, 1, &actor()).unwrap();
        assert_eq!(check_document(group, &fresh), Ok(()));
    }

    #[test]
    fn a_change_that_pretends_to_be_the_first_is_refused() {
        let group = DocId::Group(new_id());
        let mut doc = new_document(group, &actor()).unwrap();
        // Actor 0 is the first change's; anything more it claims to write is forged.
        let mut fake = doc.fork().with_actor(ActorId::from([0u8]));
        fake.put(ROOT, "backdoor", true).unwrap();
        fake.commit();
        let before = doc.get_heads();
        doc.merge(&mut fake).unwrap();
        let changes = doc.get_changes(&before);
        let refused = check_changes(group, &doc, &changes, Author::Hub, 0).map_err(|r| r.code);
        assert_eq!(refused, Err(ErrorCode::RootChanged));
    }

    /// A merge names another household of the document, is a coordinator's, and is never
    /// undone; a modified client writing it otherwise is refused.
    #[test]
    fn merges_are_checked() {
        type Write = fn(&mut AutoCommit, &ObjId, &[Household; 3]);
        let cases: [(&str, Author, Write, Result<(), ErrorCode>); 6] = [
            (
                "a coordinator's merge",
                Author::Device(Role::Coordinator),
                |d, o, hs| {
                    d.put(
                        o,
                        MERGED_INTO,
                        ScalarValue::Bytes(hs[1].id.as_bytes().to_vec()),
                    )
                    .unwrap();
                },
                Ok(()),
            ),
            (
                "a volunteer's merge",
                Author::Device(Role::Volunteer),
                |d, o, hs| {
                    d.put(
                        o,
                        MERGED_INTO,
                        ScalarValue::Bytes(hs[1].id.as_bytes().to_vec()),
                    )
                    .unwrap();
                },
                Err(ErrorCode::CoordinatorOnly),
            ),
            (
                "a volunteer's not-duplicate",
                Author::Device(Role::Volunteer),
                |d, o, hs| {
                    d.put(o, NOT_DUPLICATE_OF, hs[1].id.to_string()).unwrap();
                },
                Err(ErrorCode::CoordinatorOnly),
            ),
            (
                "a merge into no household",
                Author::Device(Role::Coordinator),
                |d, o, _| {
                    d.put(
                        o,
                        MERGED_INTO,
                        ScalarValue::Bytes(new_id().as_bytes().to_vec()),
                    )
                    .unwrap();
                },
                Err(ErrorCode::InvalidRecord),
            ),
            (
                "a merge into itself",
                Author::Device(Role::Coordinator),
                |d, o, hs| {
                    d.put(
                        o,
                        MERGED_INTO,
                        ScalarValue::Bytes(hs[0].id.as_bytes().to_vec()),
                    )
                    .unwrap();
                },
                Err(ErrorCode::InvalidRecord),
            ),
            (
                "a merge into garbage",
                Author::Device(Role::Coordinator),
                |d, o, _| {
                    d.put(o, MERGED_INTO, ScalarValue::Bytes(vec![1, 2, 3]))
                        .unwrap();
                },
                Err(ErrorCode::InvalidRecord),
            ),
        ];
        for (what, author, write, expected) in cases {
            let (_, mut hub, mut device, hs) = hub_and_device();
            let map = record_map(&device, "households").unwrap();
            let obj = record(&device, &map, hs[0].id).unwrap().unwrap();
            write(&mut device, &obj, &hs);
            device.commit();
            let result = received(&mut hub, &mut device, author)
                .map(|_| ())
                .map_err(|r| r.code);
            assert_eq!(result, expected, "{what}");
        }
        // Undone: refused, even from a coordinator.
        let (_, mut hub, mut device, hs) = hub_and_device();
        put_merge(&mut device, hs[0].id, hs[1].id).unwrap();
        device.commit();
        received(&mut hub, &mut device, Author::Device(Role::Coordinator)).unwrap();
        let map = record_map(&device, "households").unwrap();
        let obj = record(&device, &map, hs[0].id).unwrap().unwrap();
        device.delete(&obj, MERGED_INTO).unwrap();
        device.commit();
        let undone = received(&mut hub, &mut device, Author::Device(Role::Coordinator));
        assert_eq!(
            undone.map(|_| ()).map_err(|r| r.code),
            Err(ErrorCode::FieldDeleted)
        );
    }

    /// Free text a coordinator's device writes is checked like any other: a not-duplicate list
    /// names only other households of the document, an assignment's author is a name.
    #[test]
    fn not_duplicate_lists_and_assignments_are_checked() {
        type Write = fn(&mut AutoCommit, &ObjId, &[Household; 3]);
        let cases: [(&str, Write, Result<(), ErrorCode>); 5] = [
            (
                "two other households",
                |d, o, hs| {
                    d.put(o, NOT_DUPLICATE_OF, format!("{} {}", hs[1].id, hs[2].id))
                        .unwrap()
                },
                Ok(()),
            ),
            (
                "free text",
                |d, o, _| d.put(o, NOT_DUPLICATE_OF, "CCCD 001203004567").unwrap(),
                Err(ErrorCode::InvalidRecord),
            ),
            (
                "itself",
                |d, o, hs| d.put(o, NOT_DUPLICATE_OF, hs[0].id.to_string()).unwrap(),
                Err(ErrorCode::InvalidRecord),
            ),
            (
                "no such household",
                |d, o, _| d.put(o, NOT_DUPLICATE_OF, new_id().to_string()).unwrap(),
                Err(ErrorCode::InvalidRecord),
            ),
            (
                "an ID number as the assigner",
                |d, o, _| {
                    d.put(o, ASSIGNED_TO, "Lan").unwrap();
                    d.put(o, ASSIGNED_BY, "Hà 001203004567").unwrap();
                    d.put(o, ASSIGNED_AT, Utc::now().timestamp_millis())
                        .unwrap();
                },
                Err(ErrorCode::IdNumber),
            ),
        ];
        for (what, write, expected) in cases {
            let (_, mut hub, mut device, hs) = hub_and_device();
            let map = record_map(&device, "households").unwrap();
            let obj = record(&device, &map, hs[0].id).unwrap().unwrap();
            write(&mut device, &obj, &hs);
            device.commit();
            let result = received(&mut hub, &mut device, Author::Device(Role::Coordinator))
                .map(|_| ())
                .map_err(|r| r.code);
            assert_eq!(result, expected, "{what}");
        }
    }

    /// A walk-in's session is a short label, never an ID number.
    #[test]
    fn a_walk_in_session_is_checked() {
        let point = DocId::Point(new_id());
        for (session, expected) in [
            ("0193a1b2-phien-sang", Ok(())),
            ("CCCD 001203004567", Err(ErrorCode::IdNumber)),
        ] {
            let mut doc = new_document(point, &actor()).unwrap();
            let before = doc.get_heads();
            let DocId::Point(p) = point else {
                unreachable!()
            };
            put_walkin(
                &mut doc,
                &WalkIn {
                    id: new_id(),
                    point_id: p,
                    device_time: Utc::now(),
                    service: Service::VneidActivate,
                    result: AssistResult::Done,
                    age_band: None,
                    priority: PriorityFlags::default(),
                    session: Some(session.into()),
                },
            )
            .unwrap();
            doc.commit();
            let changes = doc.get_changes(&before);
            let result = check_changes(point, &doc, &changes, Author::Device(Role::Student), 0)
                .map(|_| ())
                .map_err(|r| r.code);
            assert_eq!(result, expected, "{session}");
        }
    }

    /// Chains of merges end at one survivor; concurrent opposite merges resolve alike.
    #[test]
    fn survivors_follow_chains_and_break_cycles() {
        let [a, b, c, x] = [new_id(), new_id(), new_id(), new_id()];
        let chain = survivors(&[(a, b), (b, c)]);
        assert_eq!((chain[&a], chain[&b]), (c, c));
        let cycle = survivors(&[(a, b), (b, a), (x, a)]);
        let min = a.min(b);
        for h in [a, b, x] {
            assert_eq!(cycle.get(&h).copied().unwrap_or(h), min);
        }
    }

    /// Deleting a record is a coordinator's (or, relayed, the hub's) act only.
    #[test]
    fn only_a_coordinator_deletes_records() {
        for (author, allowed) in [
            (Author::Device(Role::Volunteer), false),
            (Author::Device(Role::Student), false),
            (Author::Device(Role::Coordinator), true),
            (Author::Hub, true),
        ] {
            let (_, mut hub, mut device, [h1, _, _]) = hub_and_device();
            let map = record_map(&device, "households").unwrap();
            device.delete(&map, h1.id.to_string()).unwrap();
            device.commit();
            let result = received(&mut hub, &mut device, author).map_err(|r| r.code);
            if allowed {
                assert_eq!(result, Ok(Touched::Records(HashSet::from([h1.id]))));
            } else {
                assert_eq!(result, Err(ErrorCode::RecordDeleted), "{author:?}");
            }
        }
    }

    /// A snapshot holding what a change could not: refused whole.
    #[test]
    fn a_document_is_checked_whole() {
        let (group, hub, mut device, [h1, _, _]) = hub_and_device();
        assert_eq!(check_document(DocId::Group(group), &hub), Ok(()));
        let map = record_map(&device, "households").unwrap();
        let obj = match device.get(&map, h1.id.to_string()) {
            Ok(Some((Value::Object(_), obj))) => obj,
            _ => unreachable!(),
        };
        device.put(&obj, "cccd", "001203004567").unwrap();
        device.commit();
        let refused = check_document(DocId::Group(group), &device).map_err(|r| (r.code, r.record));
        assert_eq!(refused, Err((ErrorCode::UnknownField, Some(h1.id))));
        device.put(ROOT, "schema", 7).unwrap();
        let refused = check_document(DocId::Group(group), &device).map_err(|r| r.code);
        assert_eq!(refused, Err(ErrorCode::SchemaTooNew));
    }

    /// A name typed offline while consent was withdrawn elsewhere is a concurrent edit the app
    /// makes: accepted (and never shown). A name written on top of a withdrawal is not.
    #[test]
    fn a_name_needs_consent_as_its_writer_saw_it() {
        let (_, mut hub, mut device, [_, _, h3]) = hub_and_device();
        let mut other = device.fork().with_actor(actor());
        let mut withdrawing = device;
        let withdraw = HouseholdPatch {
            consent: Some(false),
            ..HouseholdPatch::default()
        };
        patch_household(&mut withdrawing, h3.id, &withdraw).unwrap();
        withdrawing.commit();
        let rename = HouseholdPatch {
            name: Some("Bà Hoa Nguyễn".into()),
            ..HouseholdPatch::default()
        };
        patch_household(&mut other, h3.id, &rename).unwrap();
        other.commit();
        let volunteer = Author::Device(Role::Volunteer);
        assert!(received(&mut hub, &mut withdrawing, volunteer).is_ok());
        assert!(received(&mut hub, &mut other, volunteer).is_ok());
        let merged = read_household(&hub, h3.group_id, h3.id).unwrap().unwrap();
        assert_eq!((merged.consent, merged.name), (false, None));

        // On top of the withdrawal: only a modified client writes that.
        let mut forger = hub.fork().with_actor(actor());
        let forged = HouseholdPatch {
            phone: Some("0912345678".into()),
            ..HouseholdPatch::default()
        };
        patch_household(&mut forger, h3.id, &forged).unwrap();
        forger.commit();
        let refused = received(&mut hub, &mut forger, volunteer).map_err(|r| r.code);
        assert_eq!(refused, Err(ErrorCode::NameWithoutConsent));
    }
}
