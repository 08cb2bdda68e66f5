//! Likely duplicate households within a residential group: two volunteers registered the same
//! house as "Ngõ 12 Hàng Bông số 5" and "ngo 12 hang bong 5". Only a person can settle it (the
//! coordinator merges, or says they are two households); this finds the candidates, each with
//! its reason, in one pass over the group (hash buckets, no pairwise comparison).
//!
//! Rules: the same address once normalised (diacritics folded, case, "Ngõ/ngo/N." → `ngo`,
//! "Ngách/ng." → `ngach`, "số/so/s." dropped, slashes, dashes and spaces as separators); the
//! same phone (digits only, +84 as 0); the same name (folded) in the same alley with house
//! numbers at most two apart ("a near address"). Households already merged, erased ones for
//! the name rule (no name), and pairs a coordinator marked not-duplicate are left out.

use std::collections::HashMap;

use serde::Serialize;
use ts_rs::TS;
use unicode_normalization::UnicodeNormalization;

use crate::{Household, Id};

/// Why two households look like one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateReason {
    SameAddress,
    SamePhone,
    SameNameNearAddress,
}

impl DuplicateReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateReason::SameAddress => "same_address",
            DuplicateReason::SamePhone => "same_phone",
            DuplicateReason::SameNameNearAddress => "same_name_near_address",
        }
    }
}

/// Two households of one group that look like one, `first` the older (the natural survivor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct DuplicatePair {
    pub first: Id,
    pub second: Id,
    pub reasons: Vec<DuplicateReason>,
}

/// Lowercase, diacritics removed, đ as d.
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'đ' { 'd' } else { c })
        .collect()
}

/// An address as words, the way volunteers write it differently reduced to one spelling.
pub fn address_key(alley: &str, number: &str) -> String {
    let text = fold(&format!("{alley} {number}"));
    let mut words: Vec<&str> = Vec::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric() && c != '.')
        .flat_map(|w| w.split_inclusive('.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
    {
        match word {
            "so" | "s" => {}
            "n" | "ngo" => words.push("ngo"),
            "ng" | "ngach" => words.push("ngach"),
            other => words.push(other),
        }
    }
    words.join(" ")
}

/// A phone as its digits, the country code +84 written as the leading 0.
pub fn phone_key(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix("84") {
        Some(rest) if phone.trim_start().starts_with('+') || digits.len() == 11 => {
            format!("0{rest}")
        }
        _ => digits,
    }
}

/// The number a house number starts with ("5", "5A", "số 12/3" → 5, 5, 12).
fn house_number(number: &str) -> Option<u32> {
    let digits: String = number
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Likely duplicates among `households` (one group's), in a stable order.
pub fn find_duplicates(households: &[Household]) -> Vec<DuplicatePair> {
    let live: Vec<&Household> = households
        .iter()
        .filter(|h| h.merged_into.is_none())
        .collect();
    let mut found: HashMap<(Id, Id), Vec<DuplicateReason>> = HashMap::new();
    let mut note = |a: &Household, b: &Household, reason: DuplicateReason| {
        if a.not_duplicate_of.contains(&b.id) || b.not_duplicate_of.contains(&a.id) {
            return;
        }
        let key = if (a.created_at, a.id) <= (b.created_at, b.id) {
            (a.id, b.id)
        } else {
            (b.id, a.id)
        };
        let reasons = found.entry(key).or_default();
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    };
    let mut by_address: HashMap<String, Vec<&Household>> = HashMap::new();
    let mut by_phone: HashMap<String, Vec<&Household>> = HashMap::new();
    let mut by_name: HashMap<(String, String), Vec<&Household>> = HashMap::new();
    for h in &live {
        by_address
            .entry(address_key(&h.alley, &h.number))
            .or_default()
            .push(h);
        if let Some(phone) = h.phone.as_deref().map(phone_key).filter(|p| p.len() >= 9) {
            by_phone.entry(phone).or_default().push(h);
        }
        if let Some(name) = h.name.as_deref().map(fold).filter(|n| !n.trim().is_empty()) {
            by_name
                .entry((name.trim().to_string(), address_key(&h.alley, "")))
                .or_default()
                .push(h);
        }
    }
    for (buckets, reason) in [
        (
            by_address.values().collect::<Vec<_>>(),
            DuplicateReason::SameAddress,
        ),
        (by_phone.values().collect(), DuplicateReason::SamePhone),
    ] {
        for bucket in buckets {
            for (i, a) in bucket.iter().enumerate() {
                for b in &bucket[i + 1..] {
                    note(a, b, reason);
                }
            }
        }
    }
    for bucket in by_name.values() {
        for (i, a) in bucket.iter().enumerate() {
            for b in &bucket[i + 1..] {
                let near = match (house_number(&a.number), house_number(&b.number)) {
                    (Some(x), Some(y)) => x.abs_diff(y) <= 2,
                    _ => false,
                };
                if near {
                    note(a, b, DuplicateReason::SameNameNearAddress);
                }
            }
        }
    }
    let mut pairs: Vec<DuplicatePair> = found
        .into_iter()
        .map(|((first, second), mut reasons)| {
            reasons.sort();
            DuplicatePair {
                first,
                second,
                reasons,
            }
        })
        .collect();
    pairs.sort_by_key(|p| (p.first, p.second));
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{new_id, HouseholdDraft};

    fn household(alley: &str, number: &str) -> Household {
        HouseholdDraft {
            alley: alley.into(),
            number: number.into(),
            ..Default::default()
        }
        .into_household(new_id(), new_id(), chrono::Utc::now())
    }

    #[test]
    fn addresses_written_differently_are_one() {
        let same = [
            ("Ngõ 12 Hàng Bông", "số 5"),
            ("ngo 12 hang bong", "5"),
            ("N. 12 Hàng Bông", "Số 5"),
            ("ngõ 12  HÀNG BÔNG", "s.5"),
        ];
        let key = address_key(same[0].0, same[0].1);
        assert_eq!(key, "ngo 12 hang bong 5");
        for (alley, number) in same {
            assert_eq!(address_key(alley, number), key, "{alley} {number}");
        }
        assert_eq!(
            address_key("Ngách 3/12 Hàng Bông", "7"),
            address_key("ngach 3 / 12 hang bong", "số 7")
        );
        assert_ne!(
            address_key("Ngõ 12 Hàng Bông", "5"),
            address_key("Ngõ 12 Hàng Bông", "15")
        );
        assert_eq!(phone_key("+84 912 345 678"), "0912345678");
        assert_eq!(phone_key("0912.345.678"), "0912345678");
    }

    #[test]
    fn each_rule_finds_its_pair_with_its_reason() {
        let a = household("Ngõ 12 Hàng Bông", "số 5");
        let b = household("ngo 12 hang bong", "5");
        let mut c = household("Ngõ 40 Hàng Gai", "9");
        c.consent = true;
        c.phone = Some("0912 345 678".into());
        let mut d = household("Ngõ 7 Hàng Đào", "1");
        d.consent = true;
        d.phone = Some("+84912345678".into());
        let mut e = household("Ngõ 3 Lò Sũ", "10");
        e.name = Some("Bà Hoa".into());
        let mut f = household("ngo 3 lo su", "11A");
        f.name = Some("ba hoa".into());
        let mut g = household("ngo 3 lo su", "20");
        g.name = Some("Bà Hoa".into());
        let all = [
            a.clone(),
            b.clone(),
            c.clone(),
            d.clone(),
            e.clone(),
            f.clone(),
            g,
        ];
        let pairs = find_duplicates(&all);
        let reasons = |x: &Household, y: &Household| {
            pairs
                .iter()
                .find(|p| {
                    (p.first, p.second) == (x.id, y.id) || (p.first, p.second) == (y.id, x.id)
                })
                .map(|p| p.reasons.clone())
        };
        assert_eq!(reasons(&a, &b), Some(vec![DuplicateReason::SameAddress]));
        assert_eq!(reasons(&c, &d), Some(vec![DuplicateReason::SamePhone]));
        assert_eq!(
            reasons(&e, &f),
            Some(vec![DuplicateReason::SameNameNearAddress])
        );
        assert_eq!(pairs.len(), 3, "{pairs:?}");

        // Marked not-duplicate, or merged: no longer listed.
        let mut a2 = a.clone();
        a2.not_duplicate_of.push(b.id);
        let mut d2 = d.clone();
        d2.merged_into = Some(c.id);
        assert!(find_duplicates(&[a2, b, c, d2]).is_empty());
    }
}
