//! The device database's schema and its versioned migrations.
//!
//! `PRAGMA user_version` holds how many migrations ran. Migrations only ever append to
//! `MIGRATIONS`; a database newer than this program is refused rather than guessed at.
//! Tables come in two families: the documents (the source of truth) and the query tables
//! (derived from the documents, rebuildable at any time).

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::StoreError;

const MIGRATIONS: &[&str] = &[
    // 1: documents, device facts, query tables.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    -- Automerge documents: a saved snapshot plus the changes made since, in order.
    CREATE TABLE documents (
        doc_id   TEXT PRIMARY KEY,
        kind     TEXT NOT NULL CHECK (kind IN ('ward', 'group', 'point')),
        snapshot BLOB NOT NULL
    ) STRICT;
    CREATE TABLE document_changes (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id TEXT NOT NULL REFERENCES documents(doc_id),
        bytes  BLOB NOT NULL
    ) STRICT;
    CREATE INDEX document_changes_by_doc ON document_changes(doc_id, seq);

    -- Query tables: derived from the documents in the same transaction as each change.
    CREATE TABLE residential_groups (
        id   TEXT PRIMARY KEY,
        name TEXT NOT NULL
    ) STRICT;
    CREATE TABLE literacy_points (
        id    TEXT PRIMARY KEY,
        name  TEXT NOT NULL,
        place TEXT
    ) STRICT;
    CREATE TABLE households (
        id         TEXT PRIMARY KEY,
        group_id   TEXT NOT NULL,
        alley      TEXT NOT NULL,
        number     TEXT NOT NULL,
        members    INTEGER,
        elderly    INTEGER NOT NULL,
        disability INTEGER NOT NULL,
        poor       INTEGER NOT NULL,
        near_poor  INTEGER NOT NULL,
        internet   TEXT NOT NULL,
        consent    INTEGER NOT NULL,
        name       TEXT,
        phone      TEXT,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX households_by_address ON households(group_id, alley, number);
    CREATE TABLE visits (
        id               TEXT PRIMARY KEY,
        household_id     TEXT NOT NULL,
        group_id         TEXT NOT NULL,
        device_time      INTEGER NOT NULL,
        volunteer        TEXT NOT NULL,
        outcome          TEXT NOT NULL,
        note             TEXT,
        follow_up_date   TEXT,
        follow_up_reason TEXT
    ) STRICT;
    CREATE INDEX visits_by_household ON visits(household_id, device_time);
    CREATE TABLE assists (
        visit_id   TEXT NOT NULL,
        position   INTEGER NOT NULL,
        service    TEXT NOT NULL,
        result     TEXT NOT NULL,
        age_band   TEXT,
        elderly    INTEGER NOT NULL,
        disability INTEGER NOT NULL,
        poor       INTEGER NOT NULL,
        near_poor  INTEGER NOT NULL,
        PRIMARY KEY (visit_id, position)
    ) STRICT;
    CREATE TABLE walkins (
        id          TEXT PRIMARY KEY,
        point_id    TEXT NOT NULL,
        device_time INTEGER NOT NULL,
        service     TEXT NOT NULL,
        result      TEXT NOT NULL,
        age_band    TEXT,
        elderly     INTEGER NOT NULL,
        disability  INTEGER NOT NULL,
        poor        INTEGER NOT NULL,
        near_poor   INTEGER NOT NULL
    ) STRICT;
    "#,
    // 2: sync with a hub: what the hub has of each document, and when it received changes.
    r#"
    ALTER TABLE documents ADD COLUMN heads BLOB NOT NULL DEFAULT X'';
    CREATE TABLE sync_state (
        doc_id       TEXT PRIMARY KEY,
        synced_heads BLOB NOT NULL
    ) STRICT;
    CREATE TABLE change_receipts (
        hash        BLOB PRIMARY KEY,
        received_at INTEGER NOT NULL
    ) STRICT;
    ALTER TABLE visits ADD COLUMN received_at INTEGER;
    "#,
    // 3: the change that made each visit, so a hub receipt updates it without a rebuild.
    r#"
    ALTER TABLE visits ADD COLUMN made_by BLOB;
    CREATE INDEX visits_by_change ON visits(made_by);
    "#,
    // 4: erasure (issue 12): an erased household, and each document's epoch (a document the
    // hub rewrote without its history has a higher one; see doorstep_doc::epoch).
    r#"
    ALTER TABLE households ADD COLUMN erased_at INTEGER;
    ALTER TABLE documents ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
    "#,
    // 5: consent as a record (issue 12): for which purpose, when, by which volunteer.
    r#"
    ALTER TABLE households ADD COLUMN consent_purpose TEXT;
    ALTER TABLE households ADD COLUMN consent_given_at INTEGER;
    ALTER TABLE households ADD COLUMN consent_given_by TEXT;
    ALTER TABLE households ADD COLUMN consent_withdrawn_at INTEGER;
    ALTER TABLE households ADD COLUMN consent_withdrawn_by TEXT;
    "#,
    // 6: merged duplicates. `merged_into` as the document says; `survivor_id` the household it
    // counts as once chains and cycles are resolved (NULL: itself); lists and counts skip rows
    // with a survivor, and visits are stored against the survivor.
    r#"
    ALTER TABLE households ADD COLUMN merged_into TEXT;
    ALTER TABLE households ADD COLUMN survivor_id TEXT;
    ALTER TABLE households ADD COLUMN not_duplicate_of TEXT;
    CREATE INDEX households_merged ON households(group_id) WHERE merged_into IS NOT NULL;
    CREATE INDEX households_survived ON households(group_id) WHERE survivor_id IS NOT NULL;
    "#,
    // 7: voided records, out of `households` and `visits` (so out of every list and count),
    // listed here for the coordinator; a voided household's visits are out too.
    r#"
    CREATE TABLE voided (
        id           TEXT PRIMARY KEY,
        map          TEXT NOT NULL CHECK (map IN ('households', 'visits')),
        group_id     TEXT NOT NULL,
        household_id TEXT NOT NULL,
        at           INTEGER NOT NULL,
        by           TEXT NOT NULL,
        reason       TEXT NOT NULL
    ) STRICT;
    CREATE INDEX voided_by_group ON voided(group_id);
    "#,
    // 8: reviews of households and visits (a coordinator's "needs fix", the field's "fixed",
    // "approved"), as the documents hold them.
    r#"
    CREATE TABLE reviews (
        id           TEXT PRIMARY KEY,
        map          TEXT NOT NULL CHECK (map IN ('households', 'visits')),
        group_id     TEXT NOT NULL,
        household_id TEXT NOT NULL,
        state        TEXT NOT NULL,
        comment      TEXT,
        by           TEXT NOT NULL,
        at           INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX reviews_by_household ON reviews(household_id);
    "#,
    // 9: households handed to a named volunteer by a coordinator.
    r#"
    ALTER TABLE households ADD COLUMN assigned_to TEXT;
    ALTER TABLE households ADD COLUMN assigned_by TEXT;
    ALTER TABLE households ADD COLUMN assigned_at INTEGER;
    "#,
    // 10: what is at an address (coverage counts only where people live), and why what a
    // visit came for was not done.
    r#"
    ALTER TABLE households ADD COLUMN state TEXT NOT NULL DEFAULT 'lives_here';
    ALTER TABLE visits ADD COLUMN not_done_reason TEXT;
    "#,
    // 11: the literacy-point session a walk-in was recorded in.
    r#"
    ALTER TABLE walkins ADD COLUMN session TEXT;
    "#,
    // 12: reports over a date range read by time: visits through an index that covers what
    // they read (no row looked up), assists carrying their visit's time, group and volunteer
    // (a visit is never edited), filled in here for the rows from before, so that they are
    // counted without a join.
    r#"
    CREATE INDEX visits_by_time ON visits(device_time, household_id, group_id, volunteer);
    CREATE INDEX walkins_by_time ON walkins(device_time);
    ALTER TABLE assists ADD COLUMN device_time INTEGER;
    ALTER TABLE assists ADD COLUMN group_id TEXT;
    ALTER TABLE assists ADD COLUMN volunteer TEXT;
    UPDATE assists SET (device_time, group_id, volunteer) =
        (SELECT v.device_time, v.group_id, v.volunteer FROM visits v WHERE v.id = assists.visit_id);
    CREATE INDEX assists_by_time ON assists(device_time);
    "#,
    // 13: documents the hub refused, with its reason, until a sync takes them; the range
    // report's covering index without the group (a visit's group is its household's): a
    // third fewer index pages to decrypt over a 250,000-visit ward.
    r#"
    DROP INDEX visits_by_time;
    CREATE INDEX visits_by_time ON visits(device_time, household_id, volunteer);
    CREATE TABLE sync_problems (
        doc_id  TEXT PRIMARY KEY,
        code    TEXT NOT NULL,
        message TEXT NOT NULL,
        at      INTEGER NOT NULL
    ) STRICT;
    "#,
    // 14: a residential group's rows found by the group: rewriting a group's query rows (a
    // snapshot taken, an epoch adopted) deleted its visits and reviews by scanning every
    // visit and review of the ward, once per group, which made a 50,000-household first sync
    // quadratic.
    r#"
    CREATE INDEX visits_by_group ON visits(group_id);
    CREATE INDEX reviews_by_group ON reviews(group_id);
    "#,
    // 15: the signatures of other devices' changes as pulled (this device's own are made
    // again from its key when sent): sent with the changes when a hub restored from a backup
    // lacks them, and to peers.
    r#"
    CREATE TABLE change_signatures (
        hash      BLOB PRIMARY KEY,
        signature BLOB NOT NULL
    ) STRICT, WITHOUT ROWID;
    "#,
];

/// The query tables, in the order a dump or a rebuild walks them.
pub const QUERY_TABLES: &[(&str, &str)] = &[
    ("residential_groups", "id"),
    ("literacy_points", "id"),
    ("households", "id"),
    ("visits", "id"),
    ("assists", "visit_id, position"),
    ("walkins", "id"),
    ("voided", "id"),
    ("reviews", "id"),
];

/// Indexes a bulk write leaves out and builds once after it (see [`defer_indexes`]): none of
/// them is read while query rows are written, and building one over 250,000 visits at the end
/// costs less than keeping it sorted through 250,000 inserts at random places.
const DEFERRABLE_INDEXES: &[&str] = &["visits_by_time", "visits_by_change", "assists_by_time"];

/// Where a deferred index's definition waits in `meta` until it is built again.
const DEFERRED: &str = "deferred_index.";

/// Drops the deferrable indexes (in the caller's transaction), keeping each one's definition
/// in `meta` for [`build_deferred_indexes`]. Rows stay right without them, only slower to
/// find by time or by change; anything that reads by change builds them first.
pub(crate) fn defer_indexes(conn: &Connection) -> Result<(), StoreError> {
    for name in DEFERRABLE_INDEXES {
        let sql: Option<String> = conn
            .prepare_cached("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?;
        if let Some(sql) = sql {
            conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
                .execute([format!("{DEFERRED}{name}"), sql])?;
            conn.execute_batch(&format!("DROP INDEX {name}"))?;
        }
    }
    Ok(())
}

/// The deferrable indexes the database lacks now (a bulk write left them out).
pub(crate) fn missing_indexes(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut missing = Vec::new();
    for name in DEFERRABLE_INDEXES {
        let there: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1)",
            )?
            .query_row([name], |r| r.get(0))?;
        if !there {
            missing.push(name.to_string());
        }
    }
    Ok(missing)
}

/// The indexes left out, as `meta` keys and their definitions.
pub(crate) fn deferred_indexes(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    // Every key with the prefix: '/' follows '.'.
    Ok(conn
        .prepare_cached("SELECT key, value FROM meta WHERE key >= ?1 AND key < ?2")?
        .query_map([DEFERRED, "deferred_index/"], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?)
}

/// Builds again the indexes [`defer_indexes`] left out (in the caller's transaction); true
/// when there were some. Only the deferrable indexes are built, from their own definitions.
pub(crate) fn build_deferred_indexes(conn: &Connection) -> Result<bool, StoreError> {
    let deferred = deferred_indexes(conn)?;
    for (key, sql) in &deferred {
        let name = &key[DEFERRED.len()..];
        let known = DEFERRABLE_INDEXES.contains(&name)
            && sql.starts_with(&format!("CREATE INDEX {name} ON "));
        if !known {
            return Err(StoreError::Document {
                doc: "meta".into(),
                reason: format!("{key} is not an index this store defers"),
            });
        }
        conn.execute_batch(sql)?;
        conn.prepare_cached("DELETE FROM meta WHERE key = ?1")?
            .execute([key])?;
    }
    Ok(!deferred.is_empty())
}

/// Brings the database to the newest schema, in one transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Indexes left out by a bulk write cut short come back before anything else: a migration
    // may drop or change one.
    let has_meta: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
        [],
        |r| r.get(0),
    )?;
    if has_meta {
        build_deferred_indexes(&tx)?;
    }
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(StoreError::SchemaTooNew {
            found: version,
            known: MIGRATIONS.len(),
        });
    }
    for sql in &MIGRATIONS[version..] {
        tx.execute_batch(sql)?;
    }
    if version < MIGRATIONS.len() {
        tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    }
    tx.commit()?;
    Ok(())
}
