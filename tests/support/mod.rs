//! Helpers shared by the integration tests; each test binary takes what it
//! needs with `mod support;`.

pub mod redis;
