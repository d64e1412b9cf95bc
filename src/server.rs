//! The HTTP server: accepting connections within limits, and shutting down
//! gracefully.
//!
//! The accept loop is our own rather than `axum::serve` because the service
//! faces the open internet and needs what that function does not offer:
//!
//! - a cap on open connections (`MAX_CONNECTIONS`): past it, new connections
//!   wait in the kernel's backlog instead of exhausting file descriptors;
//! - a deadline for request headers (`HEADER_TIMEOUT`), so that clients
//!   dribbling their headers cannot hold connections forever;
//! - the peer address on every request, for `UserIp`.
//!
//! On shutdown the listener closes first, then in-flight requests get up to
//! `SHUTDOWN_TIMEOUT` to finish while idle connections are closed.

use crate::config::HttpSettings;
use crate::http::Api;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Serves `api` on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    api: Api,
    settings: &HttpSettings,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(settings.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout);

    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Typically EMFILE: out of file descriptors. Pause rather
                    // than spin; connections in the backlog wait meanwhile.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);

        let api = api.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            api.clone().oneshot(request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(permit);
        });
    }

    drop(listener);
    tracing::info!("stopped accepting connections; finishing requests in flight");
    if tokio::time::timeout(settings.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?settings.shutdown_timeout, "requests still in flight at the shutdown deadline were cut off");
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
///
/// The handlers are installed when this is called, not when the future is
/// first polled: call it before binding the port, so that a signal arriving
/// as soon as the port answers still shuts down gracefully rather than
/// killing the process.
#[cfg(unix)]
pub fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("a SIGINT handler");
    async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
            _ = interrupt.recv() => tracing::info!("SIGINT received, shutting down"),
        }
    }
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
pub fn shutdown_signal() -> impl Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C received, shutting down");
    }
}
