//! car_server: the business backend between a web page and Tencent Cloud's
//! Application Cloud Rendering (CAR) API.

pub mod cloud;
pub mod simulator;
