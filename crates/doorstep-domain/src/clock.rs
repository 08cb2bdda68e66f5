//! Device clocks lie (a phone set to 1970, or to next year). A visit keeps the device's time
//! as recorded and, once synced, the hub's receive time; this module says when the pair is
//! implausible, so lists can flag the visit instead of silently mis-ordering it.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Directive 11/CT-UBND was signed in July 2025: no campaign record is older.
pub fn campaign_start() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2025, 7, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// Vietnam's offset from UTC (no daylight saving): days in reports and on paper are Hanoi's.
pub const VIETNAM_OFFSET: Duration = Duration::hours(7);

/// The wall-clock time in Hanoi at `at`.
pub fn vietnam_time(at: DateTime<Utc>) -> chrono::NaiveDateTime {
    at.naive_utc() + VIETNAM_OFFSET
}

/// Hanoi's day at `at`: "today" for follow-ups due, the day count of a literacy point, the
/// default report (whatever the device's own time zone).
pub fn vietnam_date(at: DateTime<Utc>) -> NaiveDate {
    vietnam_time(at).date()
}

/// How long a visit may sit on a device, unsynced, before its date looks wrong.
pub const MAX_OFFLINE: Duration = Duration::days(14);
/// How far a device clock may run ahead of the hub's before it is flagged.
pub const MAX_AHEAD: Duration = Duration::hours(1);

/// Why a visit's device time is implausible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockFlag {
    /// Dated before the campaign began: the device clock was wrong.
    BeforeCampaign,
    /// Dated after the hub received it: the device clock was ahead.
    AheadOfHub,
    /// Dated long before the hub received it: a clock behind, or a very late sync.
    LongBeforeHub,
}

/// The flag a visit with this device time (and hub receive time, once known) deserves.
pub fn clock_flag(
    device_time: DateTime<Utc>,
    received_at: Option<DateTime<Utc>>,
) -> Option<ClockFlag> {
    if device_time < campaign_start() {
        return Some(ClockFlag::BeforeCampaign);
    }
    let received = received_at?;
    if device_time > received + MAX_AHEAD {
        Some(ClockFlag::AheadOfHub)
    } else if device_time < received - MAX_OFFLINE {
        Some(ClockFlag::LongBeforeHub)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hanoi_s_day_begins_at_17_utc() {
        let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
        let day = |d: &str| d.parse::<NaiveDate>().unwrap();
        assert_eq!(vietnam_date(at("2026-11-30T16:59:59Z")), day("2026-11-30"));
        assert_eq!(vietnam_date(at("2026-11-30T17:00:00Z")), day("2026-12-01"));
    }

    use super::*;
    use chrono::TimeZone;

    #[test]
    fn implausible_device_times_are_flagged() {
        let hub = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
        let epoch = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(clock_flag(epoch, None), Some(ClockFlag::BeforeCampaign));
        assert_eq!(
            clock_flag(epoch, Some(hub)),
            Some(ClockFlag::BeforeCampaign)
        );
        assert_eq!(
            clock_flag(hub + Duration::days(300), Some(hub)),
            Some(ClockFlag::AheadOfHub)
        );
        assert_eq!(
            clock_flag(hub - Duration::days(40), Some(hub)),
            Some(ClockFlag::LongBeforeHub)
        );
        assert_eq!(clock_flag(hub - Duration::hours(5), Some(hub)), None);
        assert_eq!(clock_flag(hub, None), None);
    }
}
