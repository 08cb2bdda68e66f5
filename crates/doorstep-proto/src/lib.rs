//! What a device and its ward hub say to each other: the binary sync body format (`wire`) and
//! the JSON API types (`api`), with every refusal's stable code.
//!
//! This crate does no IO and knows neither HTTP library: the hub (axum) serves these types and
//! the devices' client (reqwest, in `doorstep-sync`) sends them, so the hub never links an
//! HTTP client and the devices never link the server.

pub mod api;
pub mod pin;
pub mod wire;

pub use doorstep_domain::ErrorCode;
