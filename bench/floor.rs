//! The benchmark's floor: the least an axum service can do per request on this
//! machine.
//!
//! One route, `POST /Enqueue`, answers a fixed JSON body of the same shape and
//! size as a real 10100 reply, without reading the request. It is built from
//! the same axum, hyper and tokio as `car_server`, with the same default
//! runtime, so that the gap between the two is what the service itself
//! spends on a poll: its middleware, body parsing, queue store and reply.
//!
//! `bench/run.sh` starts it next to the service and reports every throughput
//! as a ratio to this one, measured in the same run.
//!
//! Run by hand: `PORT=3900 cargo run --release --example bench_floor`.

use axum::Router;
use axum::http::header;
use axum::routing::post;
use std::net::{Ipv4Addr, SocketAddr};

/// A 10100 reply as the service writes it, for a 32-character `UserId`.
const REPLY: &str = r#"{"Code":10100,"Msg":"queued: poll again","Data":{"Index":123456,"UserId":"u0000000000000000000000000123456","ProjectId":"cap-bench"}}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|port| port.parse().ok())
        .unwrap_or(3900);
    let app = Router::new().route(
        "/Enqueue",
        post(|| async { ([(header::CONTENT_TYPE, "application/json")], REPLY) }),
    );
    // Loopback only: the floor is a measuring stick, not a service.
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    eprintln!("bench_floor listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
