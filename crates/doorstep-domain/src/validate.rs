//! The rules a record must pass before any device stores it.
//!
//! They exist for two reasons: records are counted upward (a visit dated next month or an
//! empty house number would poison the ward's figures), and records are about citizens (a
//! citizen ID number typed into a note must never reach a disk, and a name or phone needs the
//! household's recorded consent).

use chrono::{DateTime, Duration, Utc};
use thiserror::Error;

use crate::code::ErrorCode;
use crate::model::{Household, Outcome, Review, Visit, Void, WalkIn};

/// Longest free text accepted in any field, in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// Most members a household may have (larger numbers are typing mistakes).
pub const MAX_MEMBERS: u32 = 60;
/// How far in the future a device's clock may date a visit.
pub const MAX_FUTURE: Duration = Duration::days(1);
/// The earliest time a record may carry, Unix milliseconds (2024-01-01, before any campaign
/// Doorstep serves): a phone whose clock fell back to 1970 says so instead of recording what
/// the hub refuses.
pub const TIME_FLOOR_MS: i64 = 1_704_067_200_000;

/// Why a record was refused. Messages are one line, lowercase, and say what to do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{0} looks like it contains a citizen ID number (9 or 12 digits); Doorstep never stores ID numbers")]
    ContainsIdNumber(&'static str),
    #[error("a name or phone can only be recorded with the household's consent (--consent)")]
    PersonalDataWithoutConsent,
    #[error("this household was erased: nothing personal is recorded on it again")]
    HouseholdErased,
    #[error("a consent names a purpose text Doorstep never asked")]
    UnknownConsentPurpose,
    /// The number itself is not repeated: refusals end up in logs, and a phone is personal.
    #[error("the phone is not a Vietnamese phone number (10 digits starting with 0, or +84)")]
    InvalidPhone,
    #[error("members must be between 1 and {MAX_MEMBERS}, got {0}")]
    MembersOutOfRange(u32),
    #[error(
        "visit is dated {device_time}, more than a day after now ({now}); check the device clock"
    )]
    VisitInFuture {
        device_time: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    #[error(
        "walk-in is dated {device_time}, more than a day after now ({now}); check the device clock"
    )]
    WalkInInFuture {
        device_time: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    #[error("services can only be recorded on a visit whose outcome is assisted, not {0}")]
    AssistsWithoutAssistedOutcome(Outcome),
    #[error("volunteer is empty")]
    NoVolunteer,
    #[error("{field} is dated {at}, before the campaign began: check the device's date")]
    BeforeCampaign {
        field: &'static str,
        at: DateTime<Utc>,
    },
}

impl ValidationError {
    /// The stable code of this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            ValidationError::Empty(_) => ErrorCode::EmptyText,
            ValidationError::TooLong { .. } => ErrorCode::TextTooLong,
            ValidationError::ContainsIdNumber(_) => ErrorCode::IdNumber,
            ValidationError::PersonalDataWithoutConsent => ErrorCode::NameWithoutConsent,
            ValidationError::HouseholdErased => ErrorCode::HouseholdErased,
            ValidationError::UnknownConsentPurpose => ErrorCode::UnknownConsentPurpose,
            ValidationError::InvalidPhone => ErrorCode::InvalidPhone,
            ValidationError::MembersOutOfRange(_) => ErrorCode::MembersOutOfRange,
            ValidationError::VisitInFuture { .. } => ErrorCode::VisitInFuture,
            ValidationError::WalkInInFuture { .. } => ErrorCode::WalkinInFuture,
            ValidationError::AssistsWithoutAssistedOutcome(_) => {
                ErrorCode::AssistsWithoutAssistedOutcome
            }
            ValidationError::NoVolunteer => ErrorCode::NoVolunteer,
            ValidationError::BeforeCampaign { .. } => ErrorCode::ValueOutOfRange,
        }
    }
}

/// True when `text` holds a run of 9 or 12 digits (spaces, dots or dashes between digits
/// allowed): the shape of an old (CMND) or new (CCCD) citizen ID number. Phone numbers have 10
/// or 11 digits and pass.
pub fn contains_id_number(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut digits = 0;
        let mut j = i;
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digits += 1;
                j += 1;
            } else if matches!(chars[j], ' ' | '.' | '-')
                && chars.get(j + 1).is_some_and(|c| c.is_ascii_digit())
            {
                j += 1;
            } else {
                break;
            }
        }
        if digits == 9 || digits == 12 {
            return true;
        }
        i = j;
    }
    false
}

/// Checks a piece of free text: not too long, no ID number. `required` also refuses blank text.
pub fn check_text(field: &'static str, text: &str, required: bool) -> Result<(), ValidationError> {
    if required && text.trim().is_empty() {
        return Err(ValidationError::Empty(field));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ValidationError::TooLong {
            field,
            max: MAX_TEXT_CHARS,
        });
    }
    if contains_id_number(text) {
        return Err(ValidationError::ContainsIdNumber(field));
    }
    Ok(())
}

fn check_optional(field: &'static str, text: &Option<String>) -> Result<(), ValidationError> {
    match text {
        Some(t) => check_text(field, t, true),
        None => Ok(()),
    }
}

/// Accepts a Vietnamese phone number: 0 and 9 more digits, or +84 and 9 digits, with spaces,
/// dots or dashes anywhere.
pub fn check_phone(phone: &str) -> Result<(), ValidationError> {
    let compact: String = phone
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-'))
        .collect();
    let national = match compact.strip_prefix("+84") {
        Some(rest) => rest.len() == 9 && !rest.starts_with('0'),
        None => compact.len() == 10 && compact.starts_with('0'),
    };
    if national
        && compact
            .trim_start_matches('+')
            .chars()
            .all(|c| c.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(ValidationError::InvalidPhone)
    }
}

/// A time a record carries is not before the campaign.
pub fn check_time(field: &'static str, at: DateTime<Utc>) -> Result<(), ValidationError> {
    match at.timestamp_millis() < TIME_FLOOR_MS {
        true => Err(ValidationError::BeforeCampaign { field, at }),
        false => Ok(()),
    }
}

/// Checks a household as it would be stored.
pub fn check_household(h: &Household) -> Result<(), ValidationError> {
    check_time("created at", h.created_at)?;
    check_text("alley", &h.alley, true)?;
    check_text("house number", &h.number, true)?;
    if let Some(m) = h.members {
        if m == 0 || m > MAX_MEMBERS {
            return Err(ValidationError::MembersOutOfRange(m));
        }
    }
    if (h.name.is_some() || h.phone.is_some()) && !h.consent {
        return Err(ValidationError::PersonalDataWithoutConsent);
    }
    if h.erased_at.is_some() && h.consent {
        return Err(ValidationError::HouseholdErased);
    }
    let record = &h.consent_record;
    if let Some(purpose) = &record.purpose {
        if !crate::consent::known_consent_purpose(purpose) {
            return Err(ValidationError::UnknownConsentPurpose);
        }
    }
    check_optional("consent given by", &record.given_by)?;
    check_optional("consent withdrawn by", &record.withdrawn_by)?;
    check_optional("name", &h.name)?;
    if let Some(phone) = &h.phone {
        check_phone(phone)?;
    }
    Ok(())
}

/// A visit of an erased household carries no free text (a note, a follow-up's reason): the
/// household asked that nothing about it be kept.
pub fn check_visit_of_erased(v: &Visit) -> Result<(), ValidationError> {
    if v.note.is_some() || v.follow_up.as_ref().is_some_and(|f| f.reason.is_some()) {
        return Err(ValidationError::HouseholdErased);
    }
    Ok(())
}

/// Checks a visit as it would be stored, against the device's `now`.
pub fn check_visit(v: &Visit, now: DateTime<Utc>) -> Result<(), ValidationError> {
    check_time("visit", v.device_time)?;
    if v.device_time > now + MAX_FUTURE {
        return Err(ValidationError::VisitInFuture {
            device_time: v.device_time,
            now,
        });
    }
    check_visit_content(v)
}

/// Checks what a visit says, whatever its date: what a hub checks of a visit recorded on a
/// device whose clock it cannot trust.
/// A void, when there is one: why (free text, checked like any note) and by whom.
pub fn check_void(void: Option<&Void>) -> Result<(), ValidationError> {
    if let Some(void) = void {
        check_time("voided at", void.at)?;
        check_text("void reason", &void.reason, true)?;
        check_text("voided by", &void.by, true)?;
    }
    Ok(())
}

/// A review, when there is one: its comment checked like any note, and who set it.
pub fn check_review(review: Option<&Review>) -> Result<(), ValidationError> {
    if let Some(review) = review {
        check_time("reviewed at", review.at)?;
        if let Some(comment) = &review.comment {
            check_text("review comment", comment, false)?;
        }
        check_text("reviewed by", &review.by, true)?;
    }
    Ok(())
}

pub fn check_visit_content(v: &Visit) -> Result<(), ValidationError> {
    if v.volunteer.trim().is_empty() {
        return Err(ValidationError::NoVolunteer);
    }
    check_text("volunteer", &v.volunteer, true)?;
    if !v.assists.is_empty() && v.outcome != Outcome::Assisted {
        return Err(ValidationError::AssistsWithoutAssistedOutcome(v.outcome));
    }
    check_optional("note", &v.note)?;
    if let Some(f) = &v.follow_up {
        check_optional("follow-up reason", &f.reason)?;
    }
    Ok(())
}

/// Checks a walk-in as it would be stored, against the device's `now`.
pub fn check_walkin(w: &WalkIn, now: DateTime<Utc>) -> Result<(), ValidationError> {
    check_time("walk-in", w.device_time)?;
    if w.device_time > now + MAX_FUTURE {
        return Err(ValidationError::WalkInInFuture {
            device_time: w.device_time,
            now,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use chrono::TimeZone;

    fn household() -> Household {
        HouseholdDraft {
            alley: "Ngõ 12".into(),
            number: "5".into(),
            ..Default::default()
        }
        .into_household(new_id(), new_id(), Utc::now())
    }

    fn visit(outcome: Outcome) -> Visit {
        Visit {
            id: new_id(),
            household_id: new_id(),
            group_id: new_id(),
            device_time: Utc::now(),
            volunteer: "Lan".into(),
            outcome,
            note: None,
            follow_up: None,
            assists: vec![],
            received_at: None,
            voided: None,
            review: None,
            not_done_reason: None,
        }
    }

    #[test]
    fn id_numbers_are_found_in_free_text() {
        assert!(contains_id_number("CCCD 001203004567"));
        assert!(contains_id_number("so 001 203 004 567 nhe"));
        assert!(contains_id_number("cmnd 012345678"));
        assert!(contains_id_number("012.345.678"));
    }

    #[test]
    fn phone_numbers_and_short_numbers_are_not_id_numbers() {
        assert!(!contains_id_number("goi 0912345678"));
        assert!(!contains_id_number("L2 at police station on Friday 14:00"));
        assert!(!contains_id_number("ngõ 12, 3 người, 2025-07-15"));
        assert!(!contains_id_number("1234567890123"));
    }

    #[test]
    fn empty_house_number_is_refused() {
        let mut h = household();
        h.number = "  ".into();
        assert_eq!(
            check_household(&h),
            Err(ValidationError::Empty("house number"))
        );
    }

    #[test]
    fn name_or_phone_needs_consent() {
        let mut h = household();
        h.phone = Some("0912345678".into());
        assert_eq!(
            check_household(&h),
            Err(ValidationError::PersonalDataWithoutConsent)
        );
        h.consent = true;
        assert_eq!(check_household(&h), Ok(()));
        h.phone = Some("12345".into());
        assert!(matches!(
            check_household(&h),
            Err(ValidationError::InvalidPhone)
        ));
        h.phone = Some("+84 912 345 678".into());
        assert_eq!(check_household(&h), Ok(()));
    }

    #[test]
    fn a_name_holding_an_id_number_is_refused_even_with_consent() {
        let mut h = household();
        h.consent = true;
        h.name = Some("Bà Hoa 001203004567".into());
        assert_eq!(
            check_household(&h),
            Err(ValidationError::ContainsIdNumber("name"))
        );
    }

    #[test]
    fn visit_more_than_a_day_ahead_is_refused() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap();
        let mut v = visit(Outcome::NotHome);
        v.device_time = now + Duration::hours(23);
        assert_eq!(check_visit(&v, now), Ok(()));
        v.device_time = now + Duration::hours(25);
        assert!(matches!(
            check_visit(&v, now),
            Err(ValidationError::VisitInFuture { .. })
        ));
    }

    #[test]
    fn assists_need_an_assisted_outcome() {
        let mut v = visit(Outcome::Declined);
        v.assists.push(Assist {
            service: Service::Ihanoi,
            result: AssistResult::Done,
            age_band: None,
            priority: PriorityFlags::default(),
        });
        assert_eq!(
            check_visit(&v, Utc::now()),
            Err(ValidationError::AssistsWithoutAssistedOutcome(
                Outcome::Declined
            ))
        );
        v.outcome = Outcome::Assisted;
        assert_eq!(check_visit(&v, Utc::now()), Ok(()));
    }

    #[test]
    fn note_with_id_number_is_refused() {
        let mut v = visit(Outcome::Revisit);
        v.note = Some("so CCCD 001203004567".into());
        assert_eq!(
            check_visit(&v, Utc::now()),
            Err(ValidationError::ContainsIdNumber("note"))
        );
    }

    #[test]
    fn a_full_form_becomes_a_patch_of_only_what_differs() {
        let h = household();
        let wanted = HouseholdDraft {
            alley: " Ngõ 12 ".into(),
            number: "5".into(),
            members: Some(4),
            name: Some("  ".into()),
            ..Default::default()
        }
        .normalized();
        let patch = HouseholdPatch::to_reach(&h, &wanted);
        assert_eq!(
            patch,
            HouseholdPatch {
                members: Some(4),
                ..Default::default()
            }
        );
        assert_eq!(patch.apply(&h).members, Some(4));
    }

    #[test]
    fn withdrawing_consent_removes_name_and_phone() {
        let mut h = household();
        h.consent = true;
        h.name = Some("Bà Hoa".into());
        h.phone = Some("0912345678".into());
        let after = HouseholdPatch {
            consent: Some(false),
            ..Default::default()
        }
        .apply(&h);
        assert_eq!(
            (after.name, after.phone, after.consent),
            (None, None, false)
        );
    }
}
