//! A realistic demo ward, the same for the same seed and day.
//!
//! Used by `doorstep demo`, the app's "try the demo ward" and the benchmarks. Names are
//! Vietnamese, rates follow the campaign's reports (about a fifth of households have an elderly
//! member, most households are visited, VNeID is the service most often helped with). Ids are
//! UUIDv7 drawn from the seeded generator, so one seed on one day gives identical records.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Builder;

use crate::model::*;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct DemoSpec {
    pub households: u32,
    /// Residential groups; `None` picks about 250 households a group (at least 4, at most 60).
    pub groups: Option<u32>,
    /// Mean visits per household (the campaign's first weeks: about 0.9).
    pub visits_per_household: f64,
    pub seed: u64,
    /// Visits fall in the 30 days before this day; follow-ups around it.
    pub today: NaiveDate,
}

impl DemoSpec {
    pub fn new(households: u32, seed: u64, today: NaiveDate) -> Self {
        Self {
            households,
            groups: None,
            visits_per_household: 0.9,
            seed,
            today,
        }
    }

    fn group_count(&self) -> u32 {
        self.groups
            .unwrap_or_else(|| self.households.div_ceil(250).clamp(4, 60))
            .clamp(1, self.households.max(1))
    }
}

/// The generated ward, households in group order.
#[derive(Debug, Clone)]
pub struct DemoWard {
    pub ward: Ward,
    pub groups: Vec<ResidentialGroup>,
    pub points: Vec<LiteracyPoint>,
    pub households: Vec<Household>,
    pub visits: Vec<Visit>,
    pub walkins: Vec<WalkIn>,
}

const STREETS: &[&str] = &[
    "Hàng Bông",
    "Phùng Hưng",
    "Lý Thường Kiệt",
    "Hàng Gai",
    "Quán Sứ",
    "Trần Hưng Đạo",
    "Hai Bà Trưng",
    "Điện Biên Phủ",
    "Hàng Da",
    "Đường Thành",
    "Nguyễn Du",
    "Tống Duy Tân",
    "Cửa Nam",
    "Hàng Lược",
];
const FAMILY: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô",
];
const MIDDLE: &[&str] = &["Thị", "Văn", "Đức", "Minh", "Thu", "Quang"];
const GIVEN: &[&str] = &[
    "Hoa", "Lan", "An", "Bình", "Hùng", "Mai", "Tuấn", "Hương", "Dũng", "Hạnh", "Nam", "Thảo",
];
const VOLUNTEERS: &[&str] = &[
    "Nguyễn Thu Trang",
    "Trần Minh Đức",
    "Lê Thị Ngọc",
    "Phạm Quốc Huy",
    "Đỗ Thanh Hà",
    "Vũ Hoàng Long",
];
const FOLLOW_UP_REASONS: &[&str] = &[
    "Hẹn định danh mức 2 tại công an phường",
    "Quay lại khi con cháu có nhà",
    "Chờ kích hoạt tài khoản VNeID",
    "Hướng dẫn nộp hồ sơ trên Cổng dịch vụ công",
    "Cài iHanoi khi có điện thoại mới",
];
const NOTES: &[&str] = &[
    "Cụ ở một mình, cần hướng dẫn chậm",
    "Gia đình nhờ cài giúp cho cả nhà",
    "Điện thoại cũ, không cài được ứng dụng",
    "Đã có VNeID, hướng dẫn dùng iHanoi",
];

struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    fn id_at(&mut self, at: DateTime<Utc>) -> Id {
        let random: [u8; 10] = self.rng.random();
        Builder::from_unix_timestamp_millis(at.timestamp_millis().max(0) as u64, &random)
            .into_uuid()
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.random_range(0..total);
        for (item, w) in items {
            if roll < *w {
                return *item;
            }
            roll -= w;
        }
        items[items.len() - 1].0
    }

    fn person_name(&mut self) -> String {
        let title = if self.chance(0.5) { "Bà" } else { "Ông" };
        format!(
            "{title} {} {} {}",
            self.pick(FAMILY),
            self.pick(MIDDLE),
            self.pick(GIVEN)
        )
    }

    fn phone(&mut self) -> String {
        let prefix = self.pick(&["09", "03", "08", "07"]);
        format!("{prefix}{:08}", self.rng.random_range(0..100_000_000u32))
    }

    /// A moment of a working day (07:30–20:00 Hanoi time) in the 30 days before `today`.
    fn field_time(&mut self, today: NaiveDate) -> DateTime<Utc> {
        let day = today - Duration::days(self.rng.random_range(0..30));
        let minutes = self.rng.random_range(450..1200);
        let local = day.and_time(NaiveTime::MIN) + Duration::minutes(minutes);
        Utc.from_utc_datetime(&(local - Duration::hours(7)))
    }

    fn flags(&mut self, household: &PriorityFlags, band: AgeBand) -> PriorityFlags {
        PriorityFlags {
            elderly: band == AgeBand::Elderly,
            disability: household.disability && self.chance(0.5),
            poor: household.poor,
            near_poor: household.near_poor,
        }
    }

    fn assist(&mut self, household: &PriorityFlags) -> Assist {
        let service = self.weighted(&[
            (Service::VneidInstall, 20),
            (Service::VneidActivate, 25),
            (Service::VneidLevel2Guide, 10),
            (Service::Ihanoi, 15),
            (Service::PublicServicePortal, 8),
            (Service::MpsPortal, 4),
            (Service::Etax, 2),
            (Service::Vssid, 3),
            (Service::CashlessPayment, 8),
            (Service::InternetAccess, 3),
            (Service::Other, 2),
        ]);
        let result = self.weighted(&[
            (AssistResult::Done, 75),
            (AssistResult::Partial, 15),
            (AssistResult::NeedsFollowUp, 10),
        ]);
        let elderly_weight = if household.elderly { 60 } else { 10 };
        let band = self.weighted(&[
            (AgeBand::Under18, 5),
            (AgeBand::Adult, 40),
            (AgeBand::Elderly, elderly_weight),
        ]);
        let priority = self.flags(household, band);
        Assist {
            service,
            result,
            age_band: Some(band),
            priority,
        }
    }
}

/// Generates the demo ward described by `spec`.
pub fn generate(spec: &DemoSpec) -> DemoWard {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(spec.seed),
    };
    let start = Utc.from_utc_datetime(&(spec.today - Duration::days(45)).and_time(NaiveTime::MIN));
    let ward = Ward {
        id: g.id_at(start),
        name: "Phường Cửa Nam (demo)".into(),
    };
    let group_count = spec.group_count();
    let groups: Vec<ResidentialGroup> = (1..=group_count)
        .map(|n| ResidentialGroup {
            id: g.id_at(start),
            name: format!("Tổ dân phố số {n}"),
        })
        .collect();
    let points: Vec<LiteracyPoint> = [
        ("Điểm BDHVS Nhà văn hoá tổ 3", "Nhà văn hoá tổ dân phố số 3"),
        ("Điểm BDHVS chợ Cửa Nam", "Cổng chợ Cửa Nam"),
        ("Điểm BDHVS UBND phường", "Sảnh Bộ phận một cửa"),
    ]
    .iter()
    .map(|(name, place)| LiteracyPoint {
        id: g.id_at(start),
        name: (*name).into(),
        place: Some((*place).into()),
    })
    .collect();

    let mut households = Vec::with_capacity(spec.households as usize);
    let mut visits = Vec::new();
    let visited_share = (spec.visits_per_household * 0.75).min(0.95);
    let extra_mean = if visited_share > 0.0 {
        (spec.visits_per_household / visited_share - 1.0).max(0.0)
    } else {
        0.0
    };
    for (gi, group) in groups.iter().enumerate() {
        let base = spec.households / group_count;
        let in_group = base + u32::from((gi as u32) < spec.households % group_count);
        let mut alley = String::new();
        let mut left_in_alley = 0;
        let mut number = 0;
        for _ in 0..in_group {
            if left_in_alley == 0 {
                let street = g.pick(STREETS);
                let n = g.rng.random_range(1..200);
                alley = if g.chance(0.3) {
                    format!("Ngách {n}/{} {street}", g.rng.random_range(1..60))
                } else {
                    format!("Ngõ {n} {street}")
                };
                left_in_alley = g.rng.random_range(8..26);
                number = 0;
            }
            left_in_alley -= 1;
            number += g.rng.random_range(1..3);
            let number_text = if g.chance(0.05) {
                format!("{number}A")
            } else {
                number.to_string()
            };
            let consent = g.chance(0.1);
            let priority = PriorityFlags {
                elderly: g.chance(0.22),
                disability: g.chance(0.04),
                poor: g.chance(0.02),
                near_poor: g.chance(0.03),
            };
            let internet = g.weighted(&[
                (Internet::Yes, 72),
                (Internet::No, 15),
                (Internet::Unknown, 13),
            ]);
            let draft = HouseholdDraft {
                alley: alley.clone(),
                number: number_text,
                members: Some(g.weighted(&[(1, 10), (2, 20), (3, 25), (4, 25), (5, 12), (6, 8)])),
                priority,
                internet,
                consent,
                name: consent.then(|| g.person_name()),
                phone: (consent && g.chance(0.7)).then(|| g.phone()),
            };
            let created_at = start + Duration::minutes(g.rng.random_range(0..60 * 24 * 10));
            let id = g.id_at(created_at);
            let household = draft.into_household(id, group.id, created_at);

            if g.chance(visited_share) {
                let mut count = 1;
                while g.chance(extra_mean / (1.0 + extra_mean)) {
                    count += 1;
                }
                let mut times: Vec<DateTime<Utc>> =
                    (0..count).map(|_| g.field_time(spec.today)).collect();
                times.sort();
                let volunteer = g.pick(VOLUNTEERS).to_string();
                for (i, device_time) in times.into_iter().enumerate() {
                    let last = i + 1 == count;
                    let outcome = if last {
                        g.weighted(&[
                            (Outcome::Assisted, 62),
                            (Outcome::NotHome, 18),
                            (Outcome::Declined, 6),
                            (Outcome::Revisit, 14),
                        ])
                    } else {
                        g.weighted(&[(Outcome::NotHome, 60), (Outcome::Revisit, 40)])
                    };
                    let assists: Vec<Assist> = if outcome == Outcome::Assisted {
                        let n = g.weighted(&[(1, 50), (2, 35), (3, 15)]);
                        (0..n).map(|_| g.assist(&household.priority)).collect()
                    } else {
                        Vec::new()
                    };
                    let wants_follow_up = outcome == Outcome::Revisit
                        || assists
                            .iter()
                            .any(|a| a.result == AssistResult::NeedsFollowUp);
                    let follow_up = (wants_follow_up && last).then(|| FollowUp {
                        date: spec.today + Duration::days(g.rng.random_range(-3..8)),
                        reason: Some(g.pick(FOLLOW_UP_REASONS).to_string()),
                    });
                    let note = g.chance(0.1).then(|| g.pick(NOTES).to_string());
                    visits.push(Visit {
                        id: g.id_at(device_time),
                        household_id: household.id,
                        group_id: group.id,
                        device_time,
                        volunteer: volunteer.clone(),
                        outcome,
                        note,
                        follow_up,
                        assists,
                        received_at: None,
                        voided: None,
                        review: None,
                        not_done_reason: None,
                    });
                }
            }
            households.push(household);
        }
    }

    let walkins = (0..spec.households / 10)
        .map(|_| {
            let device_time = g.field_time(spec.today);
            let point = &points[g.rng.random_range(0..points.len())];
            let helped = PriorityFlags {
                elderly: g.chance(0.3),
                disability: g.chance(0.03),
                poor: g.chance(0.02),
                near_poor: g.chance(0.03),
            };
            let assist = g.assist(&helped);
            WalkIn {
                id: g.id_at(device_time),
                point_id: point.id,
                device_time,
                service: assist.service,
                result: assist.result,
                age_band: assist.age_band,
                priority: assist.priority,
                session: None,
            }
        })
        .collect();

    DemoWard {
        ward,
        groups,
        points,
        households,
        visits,
        walkins,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{check_household, check_visit, check_walkin};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    #[test]
    fn same_seed_same_ward() {
        let a = generate(&DemoSpec::new(300, 7, today()));
        let b = generate(&DemoSpec::new(300, 7, today()));
        assert_eq!(a.households, b.households);
        assert_eq!(a.visits, b.visits);
        assert_eq!(a.walkins, b.walkins);
        let c = generate(&DemoSpec::new(300, 8, today()));
        assert_ne!(a.households, c.households);
    }

    #[test]
    fn demo_records_pass_validation_at_plausible_rates() {
        let w = generate(&DemoSpec::new(2000, 1, today()));
        let now = Utc::now();
        assert_eq!(w.households.len(), 2000);
        assert_eq!(w.groups.len(), 8);
        for h in &w.households {
            check_household(h).unwrap();
        }
        for v in &w.visits {
            check_visit(v, now).unwrap();
        }
        for x in &w.walkins {
            check_walkin(x, now).unwrap();
        }
        let visited: std::collections::HashSet<_> =
            w.visits.iter().map(|v| v.household_id).collect();
        let share = visited.len() as f64 / 2000.0;
        assert!((0.55..0.8).contains(&share), "visited share {share}");
        let elderly = w.households.iter().filter(|h| h.priority.elderly).count();
        assert!((300..600).contains(&elderly), "elderly {elderly}");
        let per_household = w.visits.len() as f64 / 2000.0;
        assert!((0.75..1.05).contains(&per_household), "{per_household}");
    }
}
