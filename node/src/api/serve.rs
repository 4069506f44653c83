//! Serving the API's router over TCP within bounds, so that no web page,
//! no other user of the computer and no broken client can make the node
//! unreachable or let its memory grow ([`Limits`]): a bounded number of
//! connections at once (the next ones wait in the listen queue until one
//! ends), a request's head read within a timeout (an idle keep-alive
//! connection is closed then too), heads of bounded size, every request
//! answered within a time limit (503 `timeout` otherwise), and a clean
//! stop that lets the requests under way finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Most connections served at once: well under the usual limit of 1,024
/// open files, with room left for the store and the network.
pub const MAX_CONNECTIONS: usize = 256;

/// How long a client may take to send a request's head, and how long an
/// idle connection is kept for the next one.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest request head (request line and headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// How long a request may take to be answered (an event stream's answer
/// is its start: the stream itself goes on).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The bounds of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections served at once.
    pub max_connections: usize,
    /// How long a client may take to send a request's head, and how long
    /// an idle connection is kept.
    pub head_timeout: Duration,
    /// The largest request head, in bytes (at least 8,192).
    pub max_head_bytes: usize,
    /// How long a request may take to be answered.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: MAX_CONNECTIONS,
            head_timeout: HEAD_TIMEOUT,
            max_head_bytes: MAX_HEAD_BYTES,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves,
/// then waits (up to 10 s) for the connections under way.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app.layer(axum::middleware::from_fn_with_state(
        limits.request_timeout,
        time_limit,
    ));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors, or a connection reset before it was
                // accepted: wait a moment, the loop goes on.
                Err(error) => {
                    tracing::debug!(%error, "accepting an API connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "API connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    // The requests under way finish; event streams are told to end.
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("some API connections did not end within 10 s of the stop");
        }
    }
    Ok(())
}

/// Answers 503 `timeout` to a request not answered within `limit` (a
/// client sending its body very slowly, a store stuck on a failing disk):
/// nothing holds a connection forever.
async fn time_limit(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => super::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request was not answered within {} s; try again",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}
