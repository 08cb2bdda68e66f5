//! What a household agrees to when its name and phone are recorded: a purpose text, versioned
//! (a changed text is a new version; a consent names the version it was given for), Vietnamese
//! first. A consent is a record: when it was given, by which volunteer, for which purpose; when
//! it was withdrawn, by whom.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One version of the purpose a household consents to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ConsentPurpose {
    pub version: &'static str,
    pub vi: &'static str,
    pub en: &'static str,
}

/// Every purpose text ever asked, oldest first; the last is asked now.
pub const CONSENT_PURPOSES: &[ConsentPurpose] = &[ConsentPurpose {
    version: "2026-11-v1",
    vi: "Tổ công nghệ số cộng đồng của phường ghi họ tên và số điện thoại của hộ để liên hệ lại, \
         hẹn hỗ trợ cài đặt và kích hoạt VNeID, iHanoi, Cổng Dịch vụ công và thanh toán không \
         dùng tiền mặt trong chiến dịch. Không dùng cho mục đích khác, không chia sẻ ra ngoài. \
         Hộ có thể rút lại đồng ý bất cứ lúc nào: họ tên và số điện thoại sẽ bị xoá hẳn.",
    en: "The ward's community digital team records the household's name and phone to contact \
         it again and arrange help setting up and activating VNeID, iHanoi, the Public Service \
         Portal and cashless payment during the campaign. Used for nothing else, shared with no \
         one. The household may withdraw at any time: its name and phone are then erased for \
         good.",
}];

/// The purpose asked now.
pub fn current_consent_purpose() -> &'static ConsentPurpose {
    &CONSENT_PURPOSES[CONSENT_PURPOSES.len() - 1]
}

/// Whether `version` names a purpose text Doorstep has asked.
pub fn known_consent_purpose(version: &str) -> bool {
    CONSENT_PURPOSES.iter().any(|p| p.version == version)
}

/// When a household's consent was given and withdrawn, by whom, for which purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ConsentRecord {
    /// The purpose version consented to.
    pub purpose: Option<String>,
    pub given_at: Option<DateTime<Utc>>,
    /// The volunteer who asked.
    pub given_by: Option<String>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawn_by: Option<String>,
}

impl ConsentRecord {
    /// Consent given now for the current purpose.
    pub fn given(at: DateTime<Utc>, by: &str) -> ConsentRecord {
        ConsentRecord {
            purpose: Some(current_consent_purpose().version.to_string()),
            given_at: Some(at),
            given_by: Some(by.to_string()),
            withdrawn_at: None,
            withdrawn_by: None,
        }
    }

    /// This record with the consent withdrawn now.
    pub fn withdrawn(&self, at: DateTime<Utc>, by: &str) -> ConsentRecord {
        ConsentRecord {
            withdrawn_at: Some(at),
            withdrawn_by: Some(by.to_string()),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_are_versioned_and_the_last_is_asked() {
        let mut versions: Vec<&str> = CONSENT_PURPOSES.iter().map(|p| p.version).collect();
        versions.dedup();
        assert_eq!(
            versions.len(),
            CONSENT_PURPOSES.len(),
            "a version names one text"
        );
        assert!(known_consent_purpose(current_consent_purpose().version));
        assert!(!known_consent_purpose("made-up"));
        let given = ConsentRecord::given(Utc::now(), "Lan");
        assert_eq!(given.purpose.as_deref(), Some("2026-11-v1"));
        let withdrawn = given.withdrawn(Utc::now(), "Hùng");
        assert_eq!(withdrawn.given_by.as_deref(), Some("Lan"));
        assert_eq!(withdrawn.withdrawn_by.as_deref(), Some("Hùng"));
    }
}
