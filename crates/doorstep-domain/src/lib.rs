//! Doorstep's domain: the campaign's records (ward, residential group, household, visit, assist,
//! literacy point, walk-in), the rules they must pass, the ward report's shape and the demo ward.
//!
//! This crate does no IO: no files, no network, no clock reads except where a caller asks for a
//! new id. Everything that stores or moves records depends on it, never the other way round.

pub mod clock;
pub mod code;
pub mod consent;
pub mod demo;
pub mod duplicates;
pub mod model;
pub mod report;
pub mod rollup;
pub mod validate;
pub mod walk;

pub use code::ErrorCode;
pub use consent::{ConsentPurpose, ConsentRecord};
pub use duplicates::{find_duplicates, DuplicatePair, DuplicateReason};
pub use model::*;
pub use strum::IntoEnumIterator;
pub use validate::ValidationError;
