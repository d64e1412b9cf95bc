//! The CAR cloud API: its wire format, the TC3 signer, and the client.

pub mod protocol;
pub mod tc3;
