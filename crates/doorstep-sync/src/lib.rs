//! The device's side of talking to its ward hub over HTTP: join with an invite code, sync,
//! invite, list and revoke devices. The bodies it sends are `doorstep-proto`'s; what the
//! device has and has sent lives in `doorstep-store`. It holds no state of its own but the
//! kept-alive connections to the hubs it talked to.
//!
//! Only devices link this crate (and so reqwest): the hub never does.

pub mod client;

pub use client::{
    erase_household, history, invite, join, join_shared, pinned_tls, sync, sync_shared,
    sync_shared_with, HubClient, StoreHandle, SyncError, SyncProgress, SyncReport,
};
