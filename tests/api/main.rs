//! Black-box tests: the real service on port 0, the simulated cloud on port 0,
//! and HTTP between them and the test.

#[path = "../support/mod.rs"]
mod support;

mod client_ip;
mod connections;
mod helpers;
mod input;
mod openapi;
mod ops;
mod project;
mod queue;
mod sign;
