//! Helpers shared by the integration test binaries.
#![allow(dead_code)]

pub mod process;
pub mod python_sdk;
pub mod redis;
pub mod venv;
