//! A device's local store: one SQLite file holding the ward's Automerge documents (the source
//! of truth) and query tables derived from them.
//!
//! Every change follows one path ([`Store::finish`]): the Automerge change is made in memory,
//! its bytes are appended to `document_changes` and the query rows it affects are rewritten,
//! all in one SQLite transaction. If anything fails the in-memory documents are thrown away and
//! reloaded from disk on next use, so memory never holds a change the disk does not. When a
//! method returns `Ok`, its change is on disk (WAL, `synchronous=FULL`).
//!
//! Merging another replica's documents ([`Store::merge_documents`]) goes through the same path:
//! it is the CRDT heart the hub's sync uses.

mod report;
mod schema;
mod sync;
mod tables;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use automerge::{ActorId, AutoCommit, AutomergeError, ChangeHash};
use chrono::{DateTime, NaiveDate, Utc};
use doorstep_domain::demo::DemoWard;
use doorstep_domain::validate::{check_household, check_text, check_visit, check_walkin};
use doorstep_domain::*;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use thiserror::Error;

use doorstep_doc as document;
pub use doorstep_doc::{DocId, DocumentBytes};
pub use sync::{Applied, DeviceIdentity, IncomingDoc, OutgoingDoc};

/// After this many incremental changes a document is saved whole and its changes dropped
/// (or sooner: see [`Store::finish`]).
const COMPACT_AFTER_CHANGES: i64 = 256;

/// Why a store operation failed. Nothing was changed when one is returned.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("no ward in this database yet: run `doorstep ward init` or `doorstep demo` first")]
    NoWard,
    #[error("this database already holds ward {0:?}")]
    WardExists(String),
    #[error("a ward needs at least one residential group")]
    NoGroups,
    #[error("residential group {0:?} is named twice")]
    DuplicateGroup(String),
    #[error("unknown residential group {0:?}")]
    UnknownGroup(String),
    #[error("unknown household {0}")]
    UnknownHousehold(String),
    #[error("literacy point {0:?} already exists")]
    DuplicatePoint(String),
    #[error("unknown literacy point {0:?}")]
    UnknownPoint(String),
    #[error("a {role} device may not change {doc}")]
    OutOfScope { role: Role, doc: String },
    #[error("nothing to change: give at least one field to update")]
    EmptyUpdate,
    #[error("document {doc}: {reason}")]
    Document { doc: String, reason: String },
    #[error("these documents belong to ward {theirs}, this device holds ward {ours}")]
    OtherWard { ours: Id, theirs: Id },
    #[error("database schema version {found} is newer than this program knows ({known}); update Doorstep")]
    SchemaTooNew { found: usize, known: usize },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Doc(#[from] doorstep_doc::DocError),
    #[error("document engine: {0}")]
    Automerge(#[from] AutomergeError),
}

impl From<doorstep_doc::Refusal> for StoreError {
    fn from(r: doorstep_doc::Refusal) -> Self {
        StoreError::Doc(r.into())
    }
}

impl StoreError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Invalid(e) => e.code(),
            StoreError::NoWard => ErrorCode::NoWard,
            StoreError::WardExists(_) => ErrorCode::WardExists,
            StoreError::NoGroups => ErrorCode::NoGroups,
            StoreError::DuplicateGroup(_) => ErrorCode::DuplicateGroup,
            StoreError::UnknownGroup(_) => ErrorCode::UnknownGroup,
            StoreError::UnknownHousehold(_) => ErrorCode::UnknownHousehold,
            StoreError::DuplicatePoint(_) => ErrorCode::DuplicatePoint,
            StoreError::UnknownPoint(_) => ErrorCode::UnknownPoint,
            StoreError::OutOfScope { .. } => ErrorCode::OutOfScope,
            StoreError::EmptyUpdate => ErrorCode::EmptyUpdate,
            StoreError::Document { .. } => ErrorCode::InvalidRecord,
            StoreError::OtherWard { .. } => ErrorCode::OtherWard,
            StoreError::SchemaTooNew { .. } => ErrorCode::DatabaseTooNew,
            StoreError::Doc(e) => e.code(),
            StoreError::Sqlite(_) | StoreError::Automerge(_) => ErrorCode::Internal,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    pub integrity: String,
    pub documents: u64,
    pub query_tables_match_documents: bool,
}

/// Demo progress: one residential group's records were committed.
#[derive(Debug, Clone)]
pub struct DemoProgress<'a> {
    pub group: &'a ResidentialGroup,
    pub households: usize,
    pub visits: usize,
}

/// The documents one operation touches, with their heads before it.
#[derive(Default)]
struct Work {
    docs: Vec<(DocId, AutoCommit, Vec<ChangeHash>)>,
}

impl Work {
    fn get(&mut self, id: DocId) -> Option<&mut AutoCommit> {
        self.docs
            .iter_mut()
            .find(|(d, _, _)| *d == id)
            .map(|(_, doc, _)| doc)
    }
}

/// A device's database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    actor: ActorId,
    docs: HashMap<DocId, AutoCommit>,
}

impl Store {
    /// Opens the database at `path`, creating it (and its schema) if needed.
    pub fn open(path: &Path) -> Result<Store> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        schema::migrate(&mut conn)?;
        let actor = match meta(&conn, "actor")? {
            Some(hex) => ActorId::try_from(hex.as_str()).map_err(|e| StoreError::Document {
                doc: "meta".into(),
                reason: format!("bad actor id: {e}"),
            })?,
            None => {
                let actor = ActorId::from(new_id().as_bytes());
                set_meta(&conn, "actor", &actor.to_hex_string())?;
                actor
            }
        };
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            actor,
            docs: HashMap::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ward this device belongs to, if any.
    pub fn ward_id(&self) -> Result<Option<Id>> {
        Ok(meta(&self.conn, "ward_id")?.and_then(|s| Id::parse_str(&s).ok()))
    }

    fn require_ward(&self) -> Result<Id> {
        self.ward_id()?.ok_or(StoreError::NoWard)
    }

    /// The ward's name, without loading a document.
    pub fn ward_name(&self) -> Result<Option<String>> {
        if self.ward_id()?.is_none() {
            return Ok(None);
        }
        meta(&self.conn, "ward_name")
    }

    /// The ward's name and id.
    pub fn ward(&mut self) -> Result<Option<Ward>> {
        let Some(id) = self.ward_id()? else {
            return Ok(None);
        };
        let mut work = Work::default();
        let doc = self.doc_mut(&mut work, DocId::Ward(id))?;
        let (ward, _, _) = document::read_ward(id, doc)?;
        self.put_back(work);
        Ok(Some(ward))
    }

    /// Creates the ward with its residential groups.
    pub fn init_ward(
        &mut self,
        name: &str,
        group_names: &[String],
    ) -> Result<(Ward, Vec<ResidentialGroup>)> {
        if let Some(ward) = self.ward()? {
            return Err(StoreError::WardExists(ward.name));
        }
        check_text("ward name", name, true)?;
        if group_names.is_empty() {
            return Err(StoreError::NoGroups);
        }
        let mut groups: Vec<ResidentialGroup> = Vec::new();
        for g in group_names {
            check_text("group name", g, true)?;
            if groups.iter().any(|x| x.name == g.trim()) {
                return Err(StoreError::DuplicateGroup(g.clone()));
            }
            groups.push(ResidentialGroup {
                id: new_id(),
                name: g.trim().to_string(),
            });
        }
        let ward = Ward {
            id: new_id(),
            name: name.trim().to_string(),
        };
        self.create_ward(&ward, &groups, &[])?;
        Ok((ward, groups))
    }

    fn create_ward(
        &mut self,
        ward: &Ward,
        groups: &[ResidentialGroup],
        points: &[LiteracyPoint],
    ) -> Result<()> {
        let mut work = Work::default();
        let ward_doc = DocId::Ward(ward.id);
        let doc = self.doc_mut(&mut work, ward_doc)?;
        document::put_ward_name(doc, &ward.name)?;
        for g in groups {
            document::put_group(doc, g)?;
        }
        for p in points {
            document::put_point(doc, p)?;
        }
        for g in groups {
            self.doc_mut(&mut work, DocId::Group(g.id))?;
        }
        for p in points {
            self.doc_mut(&mut work, DocId::Point(p.id))?;
        }
        self.finish(work, |tx, work| {
            set_meta(tx, "ward_id", &ward.id.to_string())?;
            for (id, doc, _) in &work.docs {
                tables::materialize_document(tx, *id, doc)?;
            }
            Ok(())
        })
    }

    /// The ward's residential groups, in the order they were created.
    pub fn groups(&self) -> Result<Vec<ResidentialGroup>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, name FROM residential_groups ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name) = row?;
            out.push(ResidentialGroup {
                id: parse_id(&id)?,
                name,
            });
        }
        Ok(out)
    }

    /// The residential group called `name`.
    pub fn group_by_name(&self, name: &str) -> Result<ResidentialGroup> {
        self.require_ward()?;
        self.groups()?
            .into_iter()
            .find(|g| g.name == name.trim())
            .ok_or_else(|| StoreError::UnknownGroup(name.to_string()))
    }

    /// The ward's literacy points, in the order they were created.
    pub fn points(&self) -> Result<Vec<LiteracyPoint>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, name, place FROM literacy_points ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, place) = row?;
            out.push(LiteracyPoint {
                id: parse_id(&id)?,
                name,
                place,
            });
        }
        Ok(out)
    }

    /// The literacy point called `name`.
    pub fn point_by_name(&self, name: &str) -> Result<LiteracyPoint> {
        self.require_ward()?;
        self.points()?
            .into_iter()
            .find(|p| p.name == name.trim())
            .ok_or_else(|| StoreError::UnknownPoint(name.to_string()))
    }

    /// Adds a literacy point to the ward.
    pub fn add_point(&mut self, name: &str, place: Option<&str>) -> Result<LiteracyPoint> {
        let ward_id = self.require_ward()?;
        self.check_scope(DocId::Ward(ward_id))?;
        check_text("point name", name, true)?;
        if let Some(place) = place {
            check_text("place", place, true)?;
        }
        if self.points()?.iter().any(|p| p.name == name.trim()) {
            return Err(StoreError::DuplicatePoint(name.to_string()));
        }
        let point = LiteracyPoint {
            id: new_id(),
            name: name.trim().to_string(),
            place: place.map(|p| p.trim().to_string()),
        };
        let mut work = Work::default();
        document::put_point(self.doc_mut(&mut work, DocId::Ward(ward_id))?, &point)?;
        self.doc_mut(&mut work, DocId::Point(point.id))?;
        self.finish(work, |tx, work| {
            for (id, doc, _) in &work.docs {
                tables::materialize_document(tx, *id, doc)?;
            }
            Ok(())
        })?;
        Ok(point)
    }

    /// Records a new household in a residential group.
    pub fn add_household(
        &mut self,
        group_id: Id,
        draft: HouseholdDraft,
        now: DateTime<Utc>,
    ) -> Result<Household> {
        let household = draft.into_household(new_id(), group_id, now);
        self.insert_household(&household)?;
        self.household(household.id)
    }

    /// Records a household whose id was made elsewhere (a replay is a no-op).
    pub fn insert_household(&mut self, h: &Household) -> Result<()> {
        self.require_ward()?;
        check_household(h)?;
        if !self.groups()?.iter().any(|g| g.id == h.group_id) {
            return Err(StoreError::UnknownGroup(h.group_id.to_string()));
        }
        if self.household(h.id).is_ok() {
            return Ok(());
        }
        let doc_id = DocId::Group(h.group_id);
        self.check_scope(doc_id)?;
        let mut work = Work::default();
        document::put_household(self.doc_mut(&mut work, doc_id)?, h)?;
        self.finish(work, |tx, work| {
            materialize_household(tx, work, h.group_id, h.id)
        })
    }

    /// Corrects a household; only the fields in `patch` change.
    pub fn update_household(&mut self, id: Id, patch: &HouseholdPatch) -> Result<Household> {
        if patch.is_empty() {
            return Err(StoreError::EmptyUpdate);
        }
        let current = self.household(id)?;
        check_household(&patch.apply(&current))?;
        let doc_id = DocId::Group(current.group_id);
        self.check_scope(doc_id)?;
        let mut work = Work::default();
        document::patch_household(self.doc_mut(&mut work, doc_id)?, id, patch)?;
        self.finish(work, |tx, work| {
            materialize_household(tx, work, current.group_id, id)
        })?;
        self.household(id)
    }

    /// One household.
    pub fn household(&self, id: Id) -> Result<Household> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {} FROM households h WHERE h.id = ?1",
                tables::HOUSEHOLD_COLUMNS
            ))?
            .query_row([id.to_string()], tables::household_from_row)
            .optional()?
            .ok_or_else(|| StoreError::UnknownHousehold(id.to_string()))
    }

    /// Households of one group or of all, in walk order (group, alley, house number).
    pub fn households(&self, group: Option<Id>) -> Result<Vec<Household>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM households h
             WHERE ?1 IS NULL OR h.group_id = ?1
             ORDER BY h.group_id, h.alley, CAST(h.number AS INTEGER), h.number, h.id",
            tables::HOUSEHOLD_COLUMNS
        ))?;
        let rows = stmt.query_map([group.map(|g| g.to_string())], tables::household_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The walk list: every household this device holds, in walk order, with its visits'
    /// count, latest outcome and open follow-up.
    pub fn walk_list(&self) -> Result<Vec<WalkRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT h.id, h.group_id, coalesce(g.name, ''), h.alley, h.number, h.members,
                    h.elderly, h.disability, h.poor, h.near_poor, h.internet, h.name,
                    (SELECT count(*) FROM visits v WHERE v.household_id = h.id),
                    l.outcome, l.device_time, l.follow_up_date
             FROM households h
             LEFT JOIN residential_groups g ON g.id = h.group_id
             LEFT JOIN visits l ON l.id = (SELECT v.id FROM visits v WHERE v.household_id = h.id
                                           ORDER BY v.device_time DESC, v.id DESC LIMIT 1)
             ORDER BY h.group_id, h.alley, CAST(h.number AS INTEGER), h.number, h.id",
        )?;
        let rows = stmt.query_map([], tables::walk_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A device-local setting (not synced): targets, the open literacy-point session...
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        meta(&self.conn, &format!("setting.{key}"))
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        set_meta(&self.conn, &format!("setting.{key}"), value)
    }

    /// Records a visit to a household.
    pub fn add_visit(&mut self, draft: VisitDraft, now: DateTime<Utc>) -> Result<Visit> {
        let household = self.household(draft.household_id)?;
        let visit = draft.into_visit(new_id(), household.group_id);
        check_visit(&visit, now)?;
        self.write_visit(&visit)?;
        self.visit(visit.id)
    }

    /// One visit.
    pub fn visit(&self, id: Id) -> Result<Visit> {
        let mut visits: Vec<Visit> = self
            .conn
            .prepare_cached(&format!(
                "SELECT {} FROM visits v WHERE v.id = ?1",
                tables::VISIT_COLUMNS
            ))?
            .query_map([id.to_string()], tables::visit_from_row)?
            .collect::<Result<_, _>>()?;
        tables::load_assists(&self.conn, &mut visits)?;
        visits.pop().ok_or_else(|| StoreError::Document {
            doc: format!("group/{id}"),
            reason: "visit not found".into(),
        })
    }

    /// Records a visit whose id was made elsewhere (a replay is a no-op).
    pub fn insert_visit(&mut self, v: &Visit, now: DateTime<Utc>) -> Result<()> {
        check_visit(v, now)?;
        let household = self.household(v.household_id)?;
        if household.group_id != v.group_id {
            return Err(StoreError::UnknownHousehold(format!(
                "{} in group {}",
                v.household_id, v.group_id
            )));
        }
        self.write_visit(v)
    }

    /// Writes a checked visit of a known household into its group's document.
    fn write_visit(&mut self, v: &Visit) -> Result<()> {
        let doc_id = DocId::Group(v.group_id);
        self.check_scope(doc_id)?;
        let mut work = Work::default();
        let doc = self.doc_mut(&mut work, doc_id)?;
        if document::read_visit(doc, v.group_id, v.id)?.is_some() {
            self.put_back(work);
            return Ok(());
        }
        document::put_visit(doc, v)?;
        self.finish(work, |tx, work| {
            let doc = doc_in(work, doc_id)?;
            if let Some((visit, made_by)) = document::read_visit(doc, v.group_id, v.id)? {
                tables::upsert_visit(tx, &visit, made_by)?;
            }
            Ok(())
        })
    }

    /// Visits to one household or to all, newest first.
    pub fn visits(&self, household: Option<Id>) -> Result<Vec<Visit>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM visits v WHERE ?1 IS NULL OR v.household_id = ?1
             ORDER BY v.device_time DESC, v.id DESC",
            tables::VISIT_COLUMNS
        ))?;
        let mut visits: Vec<Visit> = stmt
            .query_map([household.map(|h| h.to_string())], tables::visit_from_row)?
            .collect::<Result<_, _>>()?;
        tables::load_assists(&self.conn, &mut visits)?;
        Ok(visits)
    }

    /// Records a walk-in assist at a literacy point (a replay of the same id is a no-op) and
    /// returns it as stored.
    pub fn add_walkin(&mut self, w: &WalkIn, now: DateTime<Utc>) -> Result<WalkIn> {
        check_walkin(w, now)?;
        if !self.points()?.iter().any(|p| p.id == w.point_id) {
            return Err(StoreError::UnknownPoint(w.point_id.to_string()));
        }
        let doc_id = DocId::Point(w.point_id);
        self.check_scope(doc_id)?;
        let mut work = Work::default();
        let doc = self.doc_mut(&mut work, doc_id)?;
        if document::read_walkin(doc, w.point_id, w.id)?.is_none() {
            document::put_walkin(doc, w)?;
        }
        let mut stored = None;
        self.finish(work, |tx, work| {
            stored = document::read_walkin(doc_in(work, doc_id)?, w.point_id, w.id)?;
            if let Some(w) = &stored {
                tables::upsert_walkin(tx, w)?;
            }
            Ok(())
        })?;
        stored.ok_or_else(|| StoreError::UnknownPoint(w.point_id.to_string()))
    }

    /// Walk-ins at one point or at all, newest first.
    pub fn walkins(&self, point: Option<Id>) -> Result<Vec<WalkIn>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, point_id, device_time, service, result, age_band, elderly, disability,
                    poor, near_poor
             FROM walkins WHERE ?1 IS NULL OR point_id = ?1
             ORDER BY device_time DESC, id DESC",
        )?;
        let rows = stmt.query_map([point.map(|p| p.to_string())], tables::walkin_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The ward report as this device holds it, with follow-ups due on `today`.
    pub fn report(&mut self, today: NaiveDate) -> Result<doorstep_domain::report::Report> {
        let ward = self.ward()?.map(|w| w.name);
        report::compute(&self.conn, ward, today)
    }

    /// Writes a generated demo ward: one transaction per residential group, then one per
    /// literacy point. `progress` hears of each group once it is committed.
    pub fn insert_demo(
        &mut self,
        demo: &DemoWard,
        mut progress: impl FnMut(DemoProgress<'_>),
    ) -> Result<()> {
        if let Some(ward) = self.ward()? {
            return Err(StoreError::WardExists(ward.name));
        }
        self.create_ward(&demo.ward, &demo.groups, &demo.points)?;
        let mut households = demo.households.iter().peekable();
        let mut visits_by_household: HashMap<Id, Vec<&Visit>> = HashMap::new();
        for v in &demo.visits {
            visits_by_household
                .entry(v.household_id)
                .or_default()
                .push(v);
        }
        for group in &demo.groups {
            let doc_id = DocId::Group(group.id);
            let mut work = Work::default();
            let doc = self.doc_mut(&mut work, doc_id)?;
            let (mut h_count, mut v_count) = (0, 0);
            while let Some(h) = households.next_if(|h| h.group_id == group.id) {
                document::put_household(doc, h)?;
                doc.commit();
                h_count += 1;
                for v in visits_by_household.get(&h.id).into_iter().flatten() {
                    document::put_visit(doc, v)?;
                    doc.commit();
                    v_count += 1;
                }
            }
            self.finish(work, |tx, work| {
                tables::materialize_document(tx, doc_id, doc_in(work, doc_id)?)
            })?;
            progress(DemoProgress {
                group,
                households: h_count,
                visits: v_count,
            });
        }
        for point in &demo.points {
            let doc_id = DocId::Point(point.id);
            let mut work = Work::default();
            let doc = self.doc_mut(&mut work, doc_id)?;
            for w in demo.walkins.iter().filter(|w| w.point_id == point.id) {
                document::put_walkin(doc, w)?;
                doc.commit();
            }
            self.finish(work, |tx, work| {
                tables::materialize_document(tx, doc_id, doc_in(work, doc_id)?)
            })?;
        }
        Ok(())
    }

    /// Every document this device holds, saved whole.
    pub fn export_documents(&mut self) -> Result<Vec<DocumentBytes>> {
        let mut out = Vec::new();
        for id in self.document_ids()? {
            let mut work = Work::default();
            let bytes = self.doc_mut(&mut work, id)?.save();
            self.put_back(work);
            out.push(DocumentBytes {
                id: id.to_string(),
                bytes,
            });
        }
        Ok(out)
    }

    /// Merges another replica's documents into this one, all or nothing. Concurrent edits
    /// merge per field; visits and walk-ins only accumulate. Returns how many documents
    /// changed here.
    pub fn merge_documents(&mut self, incoming: &[DocumentBytes]) -> Result<usize> {
        let ours = self.ward_id()?;
        let mut ward_seen = None;
        let mut work = Work::default();
        let mut changed = Vec::new();
        for d in incoming {
            let id: DocId = d.id.parse()?;
            let mut theirs = AutoCommit::load(&d.bytes).map_err(|e| StoreError::Document {
                doc: d.id.clone(),
                reason: format!("cannot be read: {e}"),
            })?;
            document::check_identity(id, &theirs)?;
            if let DocId::Ward(w) = id {
                match ours {
                    Some(o) if o != w => return Err(StoreError::OtherWard { ours: o, theirs: w }),
                    _ => ward_seen = Some(w),
                }
            }
            let doc = self.doc_mut(&mut work, id)?;
            let before = doc.get_heads();
            doc.merge(&mut theirs)?;
            if doc.get_heads() != before {
                document::check_document(id, doc)?;
                changed.push(id);
            }
        }
        if ours.is_none() && ward_seen.is_none() && !incoming.is_empty() {
            return Err(StoreError::NoWard);
        }
        let count = changed.len();
        self.finish(work, |tx, work| {
            if let (None, Some(w)) = (ours, ward_seen) {
                set_meta(tx, "ward_id", &w.to_string())?;
            }
            for id in &changed {
                tables::materialize_document(tx, *id, doc_in(work, *id)?)?;
            }
            Ok(())
        })?;
        Ok(count)
    }

    /// Recomputes every query table from the documents.
    pub fn rebuild(&mut self) -> Result<()> {
        let ids = self.document_ids()?;
        let mut work = Work::default();
        for id in &ids {
            self.doc_mut(&mut work, *id)?;
        }
        self.finish(work, |tx, work| rebuild_tables(tx, work))
    }

    /// Every row of every query table as text, in key order.
    pub fn dump_query_tables(&self) -> Result<String> {
        tables::dump(&self.conn)
    }

    /// Checks the database file and that the query tables equal a rebuild from the
    /// documents, changing nothing.
    pub fn check(&mut self) -> Result<CheckReport> {
        let integrity: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        let ids = self.document_ids()?;
        let mut work = Work::default();
        for id in &ids {
            self.doc_mut(&mut work, *id)?;
        }
        let before = tables::dump(&self.conn)?;
        let tx = self.conn.transaction()?;
        rebuild_tables(&tx, &work)?;
        let after = tables::dump(&tx)?;
        tx.rollback()?;
        self.put_back(work);
        Ok(CheckReport {
            integrity,
            documents: ids.len() as u64,
            query_tables_match_documents: before == after,
        })
    }

    /// Bytes of the database file and its write-ahead log.
    pub fn size_on_disk(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [self.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    fn document_ids(&self) -> Result<Vec<DocId>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT doc_id FROM documents ORDER BY doc_id")?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ids.iter().map(|s| Ok(s.parse()?)).collect()
    }

    /// The document `id` for this operation: from the cache, from disk, or new.
    fn doc_mut<'w>(&mut self, work: &'w mut Work, id: DocId) -> Result<&'w mut AutoCommit> {
        if work.get(id).is_none() {
            let (doc, heads) = match self.docs.remove(&id) {
                Some(mut doc) => {
                    let heads = doc.get_heads();
                    (doc, heads)
                }
                None => match self.load_document(id)? {
                    Some(mut doc) => {
                        let heads = doc.get_heads();
                        (doc, heads)
                    }
                    // A new document: its first change must be saved too.
                    None => (document::new_document(id, &self.actor)?, Vec::new()),
                },
            };
            work.docs.push((id, doc, heads));
        }
        work.get(id).ok_or_else(|| not_loaded(id))
    }

    fn load_document(&self, id: DocId) -> Result<Option<AutoCommit>> {
        let key = id.to_string();
        let Some(mut bytes) = self
            .conn
            .prepare_cached("SELECT snapshot FROM documents WHERE doc_id = ?1")?
            .query_row([&key], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
        else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM document_changes WHERE doc_id = ?1 ORDER BY seq")?;
        let mut rows = stmt.query([&key])?;
        while let Some(row) = rows.next()? {
            let change: Vec<u8> = row.get(0)?;
            bytes.extend_from_slice(&change);
        }
        let mut doc = AutoCommit::load(&bytes).map_err(|e| StoreError::Document {
            doc: key,
            reason: format!("cannot be loaded: {e}"),
        })?;
        doc.set_actor(self.actor.clone());
        Ok(Some(doc))
    }

    /// Returns documents read but not changed to the cache.
    fn put_back(&mut self, work: Work) {
        for (id, doc, _) in work.docs {
            self.docs.insert(id, doc);
        }
    }

    /// Commits the operation's Automerge changes, saves them and updates the query tables
    /// (through `materialize`) in one SQLite transaction. On failure the touched documents
    /// are dropped from memory, so nothing unsaved survives.
    fn finish(
        &mut self,
        mut work: Work,
        materialize: impl FnOnce(&Transaction<'_>, &Work) -> Result<()>,
    ) -> Result<()> {
        let mut saved = Vec::new();
        for (id, doc, heads) in work.docs.iter_mut() {
            // No commit time: records carry their own device time, and the wire saves bytes.
            doc.commit();
            let bytes = doc.save_after(heads);
            if !bytes.is_empty() {
                saved.push((*id, bytes));
            }
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (id, bytes) in &saved {
            let key = id.to_string();
            tx.prepare_cached(
                "INSERT OR IGNORE INTO documents (doc_id, kind, snapshot) VALUES (?1, ?2, X'')",
            )?
            .execute(params![key, id.kind()])?;
            tx.prepare_cached("INSERT INTO document_changes (doc_id, bytes) VALUES (?1, ?2)")?
                .execute(params![key, bytes])?;
            if let Some((_, doc, _)) = work.docs.iter_mut().find(|(d, _, _)| d == id) {
                tx.prepare_cached("UPDATE documents SET heads = ?2 WHERE doc_id = ?1")?
                    .execute(params![key, sync::encode_heads(&doc.get_heads())])?;
            }
        }
        materialize(&tx, &work)?;
        for (id, _) in &saved {
            let key = id.to_string();
            let (changes, change_bytes, snapshot_bytes): (i64, i64, i64) = tx
                .prepare_cached(
                    "SELECT count(*), coalesce(sum(length(c.bytes)), 0), length(d.snapshot)
                     FROM documents d JOIN document_changes c USING (doc_id)
                     WHERE d.doc_id = ?1",
                )?
                .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            // Changes saved one by one are larger and slower to load than a snapshot: save
            // the document whole once they outweigh it (amortised: each byte is rewritten a
            // bounded number of times) or once there are many.
            if changes >= COMPACT_AFTER_CHANGES || change_bytes > snapshot_bytes.max(4096) {
                if let Some((_, doc, _)) = work.docs.iter_mut().find(|(d, _, _)| d == id) {
                    let snapshot = doc.save();
                    tx.execute(
                        "UPDATE documents SET snapshot = ?2 WHERE doc_id = ?1",
                        params![key, snapshot],
                    )?;
                    tx.execute("DELETE FROM document_changes WHERE doc_id = ?1", [&key])?;
                }
            }
        }
        tx.commit()?;
        self.put_back(work);
        Ok(())
    }
}

fn doc_in(work: &Work, id: DocId) -> Result<&AutoCommit> {
    work.docs
        .iter()
        .find(|(d, _, _)| *d == id)
        .map(|(_, doc, _)| doc)
        .ok_or_else(|| not_loaded(id))
}

fn not_loaded(id: DocId) -> StoreError {
    StoreError::Document {
        doc: id.to_string(),
        reason: "not loaded by this operation".into(),
    }
}

fn materialize_household(tx: &Transaction<'_>, work: &Work, group_id: Id, id: Id) -> Result<()> {
    if let Some(h) = document::read_household(doc_in(work, DocId::Group(group_id))?, group_id, id)?
    {
        tables::upsert_household(tx, &h)?;
    }
    Ok(())
}

fn rebuild_tables(tx: &Connection, work: &Work) -> Result<()> {
    tables::clear(tx)?;
    for (id, doc, _) in &work.docs {
        tables::materialize_document(tx, *id, doc)?;
    }
    Ok(())
}

fn parse_id(text: &str) -> Result<Id> {
    Id::parse_str(text).map_err(|_| StoreError::Document {
        doc: "query tables".into(),
        reason: format!("bad id {text:?}"),
    })
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
        .execute([key, value])?;
    Ok(())
}
