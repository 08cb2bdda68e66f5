//! The ward, its residential groups and literacy points: created here or learnt from the hub.

use doorstep_domain::validate::check_text;
use doorstep_domain::*;

use crate::edit::Edit;
use crate::{document, meta, parse_id, set_meta, tables, DocId, Result, Store, StoreError};

impl Store {
    /// The ward this device belongs to, if any.
    pub fn ward_id(&self) -> Result<Option<Id>> {
        Ok(meta(&self.conn, "ward_id")?.and_then(|s| Id::parse_str(&s).ok()))
    }

    pub(crate) fn require_ward(&self) -> Result<Id> {
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
        let mut edit = Edit::default();
        let doc = self.doc_mut(&mut edit, DocId::Ward(id))?;
        let (ward, _, _) = document::read_ward(id, doc)?;
        self.keep_unchanged(edit);
        Ok(Some(ward))
    }

    /// The minutes of no touch before every device of the ward locks, as a coordinator set them
    /// in the ward document (synced to every device); `None` when never set.
    pub fn ward_idle_lock_minutes(&mut self) -> Result<Option<u32>> {
        let Some(id) = self.ward_id()? else {
            return Ok(None);
        };
        let mut edit = Edit::default();
        let minutes = document::idle_lock_minutes(self.doc_mut(&mut edit, DocId::Ward(id))?)?;
        self.keep_unchanged(edit);
        Ok(minutes)
    }

    /// Sets the ward's idle lock for every device (1–60 minutes; a value outside is brought
    /// in): a change to the ward document, which only a coordinator's device may make.
    pub fn set_ward_idle_lock_minutes(&mut self, minutes: u32) -> Result<u32> {
        let ward_id = self.require_ward()?;
        self.check_scope(DocId::Ward(ward_id))?;
        let mut edit = Edit::default();
        let doc = self.doc_mut(&mut edit, DocId::Ward(ward_id))?;
        document::put_idle_lock_minutes(doc, minutes)?;
        let set = document::idle_lock_minutes(doc)?.unwrap_or(minutes);
        self.save_edit(edit, |_, _| Ok(()))?;
        Ok(set)
    }

    /// The ward's campaign targets (whole percents: online, VNeID activated, visited), as a
    /// coordinator set them in the ward document; `None` when never set.
    pub fn ward_targets(&mut self) -> Result<Option<[u32; 3]>> {
        let Some(id) = self.ward_id()? else {
            return Ok(None);
        };
        let mut edit = Edit::default();
        let targets = document::targets(self.doc_mut(&mut edit, DocId::Ward(id))?)?;
        self.keep_unchanged(edit);
        Ok(targets)
    }

    /// Sets the ward's targets for every coordinator device (a change to the ward document).
    pub fn set_ward_targets(&mut self, percents: [u32; 3]) -> Result<[u32; 3]> {
        let ward_id = self.require_ward()?;
        self.check_scope(DocId::Ward(ward_id))?;
        let mut edit = Edit::default();
        document::put_targets(self.doc_mut(&mut edit, DocId::Ward(ward_id))?, percents)?;
        self.save_edit(edit, |_, _| Ok(()))?;
        Ok(percents.map(|p| p.min(100)))
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

    pub(crate) fn create_ward(
        &mut self,
        ward: &Ward,
        groups: &[ResidentialGroup],
        points: &[LiteracyPoint],
    ) -> Result<()> {
        let mut edit = Edit::default();
        let ward_doc = DocId::Ward(ward.id);
        let doc = self.doc_mut(&mut edit, ward_doc)?;
        document::put_ward_name(doc, &ward.name)?;
        for g in groups {
            document::put_group(doc, g)?;
        }
        for p in points {
            document::put_point(doc, p)?;
        }
        for g in groups {
            self.doc_mut(&mut edit, DocId::Group(g.id))?;
        }
        for p in points {
            self.doc_mut(&mut edit, DocId::Point(p.id))?;
        }
        self.save_edit(edit, |tx, edit| {
            set_meta(tx, "ward_id", &ward.id.to_string())?;
            for (id, doc, _) in &edit.docs {
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
        let mut edit = Edit::default();
        document::put_point(self.doc_mut(&mut edit, DocId::Ward(ward_id))?, &point)?;
        self.doc_mut(&mut edit, DocId::Point(point.id))?;
        self.save_edit(edit, |tx, edit| {
            for (id, doc, _) in &edit.docs {
                tables::materialize_document(tx, *id, doc)?;
            }
            Ok(())
        })?;
        Ok(point)
    }
}
