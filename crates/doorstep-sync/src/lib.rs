//! How a device and its ward hub talk: the binary sync body format (`wire`), the JSON API
//! types (`api`), and the device's HTTP client (`client`).
//!
//! This crate knows HTTP only as a client (reqwest); the hub crate serves the same types.
//! It holds no state of its own: what a device has and has sent lives in `doorstep-store`.

pub mod api;
pub mod client;
pub mod wire;

pub use client::{invite, join, sync, HubClient, SyncError, SyncReport};
