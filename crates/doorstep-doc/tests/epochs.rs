//! Erasure under concurrency (issue 12), as a property: devices edit households and record
//! visits offline, sync in any order, and the hub erases a household at any moment. Whatever
//! the order: every device converges on the hub, every visit counts exactly once, and the
//! erased name exists in no history, the hub's or a device's.

use automerge::{ActorId, AutoCommit, ChangeHash};
use chrono::Utc;
use doorstep_doc::epoch::{carry_over, rewrite, Erase};
use doorstep_doc::*;
use doorstep_domain::*;
use proptest::prelude::*;

const ERASED_NAME: &str = "Tên Bị Xoá";

struct Device {
    doc: AutoCommit,
    synced: Vec<ChangeHash>,
    epoch: u32,
}

struct World {
    group: Id,
    hub: AutoCommit,
    epoch: u32,
    devices: Vec<Device>,
    households: [Id; 2],
    visits: Vec<Id>,
}

#[derive(Debug, Clone)]
enum Op {
    Edit {
        device: usize,
        household: usize,
        members: u32,
    },
    Visit {
        device: usize,
        household: usize,
    },
    Sync {
        device: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..2usize, 1..9u32).prop_map(|(device, household, members)| Op::Edit {
            device,
            household,
            members
        }),
        (0..3usize, 0..2usize).prop_map(|(device, household)| Op::Visit { device, household }),
        (0..3usize).prop_map(|device| Op::Sync { device }),
    ]
}

fn actor() -> ActorId {
    ActorId::from(new_id().as_bytes())
}

impl World {
    fn new() -> World {
        let group = new_id();
        let id = DocId::Group(group);
        let mut hub = new_document(id, &actor()).unwrap();
        let mut households = [new_id(); 2];
        for (i, name) in [ERASED_NAME, "Tên Giữ Lại"].iter().enumerate() {
            let h = HouseholdDraft {
                alley: "Ngõ 5".into(),
                number: i.to_string(),
                consent: true,
                name: Some(name.to_string()),
                ..Default::default()
            }
            .into_household(new_id(), group, Utc::now());
            households[i] = h.id;
            put_household(&mut hub, &h).unwrap();
        }
        hub.commit();
        let devices = (0..3)
            .map(|_| {
                let doc = hub.fork().with_actor(actor());
                let synced = hub.get_heads();
                Device {
                    doc,
                    synced,
                    epoch: 0,
                }
            })
            .collect();
        World {
            group,
            hub,
            epoch: 0,
            devices,
            households,
            visits: Vec::new(),
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Edit {
                device,
                household,
                members,
            } => {
                let patch = HouseholdPatch {
                    members: Some(members),
                    ..Default::default()
                };
                let d = &mut self.devices[device];
                patch_household(&mut d.doc, self.households[household], &patch).unwrap();
                d.doc.commit();
            }
            Op::Visit { device, household } => {
                // As a device's store would: no free text on an erased household's visit.
                let erased = read_household(
                    &self.devices[device].doc,
                    self.group,
                    self.households[household],
                )
                .unwrap()
                .is_some_and(|h| h.erased_at.is_some());
                let visit = Visit {
                    id: new_id(),
                    household_id: self.households[household],
                    group_id: self.group,
                    device_time: Utc::now(),
                    volunteer: "Lan".into(),
                    outcome: Outcome::Revisit,
                    note: (!erased).then(|| format!("ghi chú {household}")),
                    follow_up: None,
                    assists: vec![],
                    received_at: None,
                    voided: None,
                    review: None,
                    not_done_reason: None,
                };
                self.visits.push(visit.id);
                let d = &mut self.devices[device];
                put_visit(&mut d.doc, &visit).unwrap();
                d.doc.commit();
            }
            Op::Sync { device } => self.sync(device),
        }
    }

    /// One device's sync: adopt a new epoch (carrying its edits over), push what the hub
    /// lacks, take what it lacks.
    fn sync(&mut self, device: usize) {
        let id = DocId::Group(self.group);
        let d = &mut self.devices[device];
        if d.epoch != self.epoch {
            let mut fresh = self.hub.fork().with_actor(actor());
            let hub_heads = self.hub.get_heads();
            carry_over(id, &d.doc, &d.synced, &mut fresh).unwrap();
            fresh.commit();
            d.doc = fresh;
            d.synced = hub_heads;
            d.epoch = self.epoch;
        }
        let mine = d.doc.get_changes(&d.synced);
        self.hub.apply_changes(mine).unwrap();
        let mut hub = self.hub.fork();
        d.doc.merge(&mut hub).unwrap();
        d.synced = self.hub.get_heads();
    }

    fn erase(&mut self) {
        let id = DocId::Group(self.group);
        let erase = Erase::Households(std::iter::once(self.households[0]).collect());
        let (fresh, _) =
            rewrite(id, &self.hub, &erase, self.epoch + 1, Utc::now(), &actor()).unwrap();
        self.hub = fresh;
        self.epoch += 1;
    }
}

fn history_holds(doc: &mut AutoCommit, text: &str) -> bool {
    doc.get_changes(&[])
        .iter()
        .any(|c| format!("{:?}", c.decode().operations).contains(text))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn erasure_holds_in_any_order(ops in prop::collection::vec(op(), 1..24), at in 0usize..24) {
        let mut w = World::new();
        let at = at.min(ops.len());
        for (i, op) in ops.iter().enumerate() {
            if i == at {
                w.erase();
            }
            w.apply(op);
        }
        if at == ops.len() {
            w.erase();
        }
        for _ in 0..2 {
            for d in 0..3 {
                w.sync(d);
            }
        }
        let id = DocId::Group(w.group);
        check_document(id, &w.hub).unwrap();
        let hub_households = read_households(&w.hub, w.group).unwrap();
        let mut hub_visits: Vec<Id> =
            read_visits(&w.hub, w.group).unwrap().into_iter().map(|(v, _)| v.id).collect();
        hub_visits.sort();
        let mut made = w.visits.clone();
        made.sort();
        prop_assert_eq!(&hub_visits, &made, "every visit counts exactly once");
        let erased = hub_households.iter().find(|h| h.id == w.households[0]).unwrap();
        prop_assert!(erased.name.is_none() && erased.erased_at.is_some());
        prop_assert!(!history_holds(&mut w.hub, "Bị Xoá"));
        // Its visits count, without their notes.
        for (v, _) in read_visits(&w.hub, w.group).unwrap() {
            if v.household_id == w.households[0] {
                prop_assert!(v.note.is_none(), "an erased household's visit keeps its note");
            }
        }
        for d in &mut w.devices {
            prop_assert_eq!(read_households(&d.doc, w.group).unwrap(), hub_households.clone());
            prop_assert!(!history_holds(&mut d.doc, "Bị Xoá"), "a device's history holds it");
        }
    }
}
