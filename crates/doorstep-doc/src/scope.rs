//! Who may read and change which document: the one scope rule, applied by devices to their own
//! writes and by the hub to every request. A coordinator reads and changes the whole ward; a
//! volunteer its residential groups (and reads the ward document); a student its literacy
//! point (and reads the ward document).

use std::collections::HashSet;

use doorstep_domain::{Id, Role};

use crate::DocId;

/// May a device of `role`, working in `groups` and `points`, change `doc`?
pub fn may_write(role: Role, groups: &[Id], points: &[Id], doc: DocId) -> bool {
    match (role, doc) {
        (Role::Coordinator, _) => true,
        (Role::Volunteer, DocId::Group(g)) => groups.contains(&g),
        (Role::Student, DocId::Point(p)) => points.contains(&p),
        _ => false,
    }
}

/// The documents of ward `ward` a device of `role` may read: `None` means all of the ward.
pub fn readable(role: Role, ward: Id, groups: &[Id], points: &[Id]) -> Option<HashSet<DocId>> {
    let ward = DocId::Ward(ward);
    match role {
        Role::Coordinator => None,
        Role::Volunteer => Some(
            std::iter::once(ward)
                .chain(groups.iter().map(|g| DocId::Group(*g)))
                .collect(),
        ),
        Role::Student => Some(
            std::iter::once(ward)
                .chain(points.iter().map(|p| DocId::Point(*p)))
                .collect(),
        ),
    }
}
