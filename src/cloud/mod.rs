//! The CAR cloud API: its wire format, the TC3 signer, and the client.

pub mod client;
pub mod error;
pub mod protocol;
pub mod tc3;

pub use client::CarClient;
