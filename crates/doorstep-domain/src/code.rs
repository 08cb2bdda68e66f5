//! Stable codes for every refusal that crosses a boundary (hub JSON, the app's commands, the
//! CLI's `--json`), so that what reads them (the UI, a script) can act on the code and show a
//! message in its own language instead of parsing an English sentence.
//!
//! A code never changes meaning once released; new ones are added at the end of a group. The
//! UI holds a Vietnamese and an English message for each (a test checks every one).

use serde::{Deserialize, Serialize};
use strum::{EnumIter, EnumString, IntoStaticStr, VariantNames};
use ts_rs::TS;

/// What went wrong, as a snake_case word.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    EnumIter,
    VariantNames,
    TS,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    // A record breaks the domain's rules.
    EmptyText,
    TextTooLong,
    IdNumber,
    NameWithoutConsent,
    InvalidPhone,
    MembersOutOfRange,
    VisitInFuture,
    WalkinInFuture,
    AssistsWithoutAssistedOutcome,
    NoVolunteer,
    HouseholdErased,
    UnknownConsentPurpose,
    // A change breaks the document schema (what a modified client could write).
    RootChanged,
    SchemaTooNew,
    UnknownField,
    NestedObject,
    WrongType,
    FieldDeleted,
    RecordDeleted,
    BadRecordId,
    InvalidRecord,
    WrongDocument,
    BadChange,
    MissingHistory,
    /// A change whose Automerge actor is not the pushing device's (derived from its key).
    ActorNotYours,
    /// A change without its device's signature, or with a signature that does not verify.
    BadSignature,
    /// A change written on an epoch of the document the hub rewrote away (an erasure).
    OldEpoch,
    /// A change larger than a change may be (encoded, inflated, operations or a value).
    ChangeTooLarge,
    /// A value outside what its field admits (a time before the campaign or in the future).
    ValueOutOfRange,
    /// A record created again under a key already in use.
    RecordExists,
    /// A volunteer changing a record another device made (a colleague's visit).
    NotYourRecord,
    /// A visit naming a household that is not in its residential group's document.
    WrongGroup,
    // Unknown things.
    UnknownDocument,
    UnknownGroup,
    UnknownPoint,
    UnknownHousehold,
    UnknownDevice,
    UnknownEndpoint,
    // Who may do what.
    TokenMissing,
    TokenUnknown,
    TokenExpired,
    DeviceRevoked,
    TokenRotating,
    InviteCodeInvalid,
    TooManyAttempts,
    DeviceRateLimited,
    OutOfScope,
    CoordinatorOnly,
    // Requests that cannot be read or are not allowed as asked.
    BadRequest,
    BadSyncBody,
    BodyTooLarge,
    InvalidInvite,
    PushTooLarge,
    RequestTimeout,
    HubBusy,
    // The device's own state.
    NoWard,
    WardExists,
    NoGroups,
    DuplicateGroup,
    DuplicatePoint,
    EmptyUpdate,
    CannotMerge,
    OtherWard,
    DatabaseTooNew,
    NotJoined,
    NoHub,
    HubExists,
    UnknownWard,
    WardNeeded,
    HubListenFailed,
    ExportFailed,
    NoRotation,
    DevicesNotRepinned,
    // Talking to the hub.
    BadHubUrl,
    PinMissing,
    HubPinMismatch,
    HubUnreachable,
    BadHubAnswer,
    TooManyRounds,
    HubFailed,
    // Data at rest and the app lock.
    Locked,
    PinNeeded,
    WrongPin,
    WaitBeforeRetry,
    WeakPin,
    WrongRecoveryCode,
    KeystoreUnavailable,
    WrongDatabaseKey,
    DatabaseEncrypted,
    DeviceWiped,
    UnsyncedWork,
    WrongBackupPassphrase,
    BadBackup,
    // Anything else: details are in the logs, never in the answer.
    Internal,
}

impl ErrorCode {
    /// The code as written on the wire.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Every code, in declaration order.
    pub fn all() -> &'static [&'static str] {
        Self::VARIANTS
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn codes_read_the_same_in_serde_and_strum() {
        for code in ErrorCode::iter() {
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{code}\""));
        }
        assert_eq!(ErrorCode::all().len(), ErrorCode::iter().count());
    }
}
