//! car_server: the business backend between a web page and Tencent Cloud's
//! Application Cloud Rendering (CAR) API.
//!
//! - [`http`]: the four endpoints, the Sign check, the client address;
//! - [`cloud`]: the CAR API client and its TC3 signer;
//! - [`queue`]: the per-project lines, their stores and admission;
//! - [`simulator`]: a stand-in for the CAR API, for tests and `--simulate`;
//! - [`config`], [`telemetry`], [`server`] and [`app`]: settings, logs and
//!   metrics, the HTTP server, and the wiring of it all.

pub mod app;
pub mod cloud;
pub mod config;
pub mod domain;
pub mod http;
pub mod queue;
pub mod server;
pub mod simulator;
pub mod telemetry;
