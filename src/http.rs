//! Serving an axum [`Router`] to the open internet: the limits `axum::serve` does not have.
//!
//! Every listener (the WeChat callback, the Telegram webhook) goes through [`serve`], which
//! bounds what one client can hold:
//! - connections: at most [`Limits::max_connections`] at once. When full, the connection that
//!   has waited longest without sending a request is closed to make room, so a crowd of idle
//!   or half-open sockets cannot lock out a real client (which sends its request at once);
//! - headers: a connection must deliver a request's headers within
//!   [`Limits::header_read_timeout`] (also the keep-alive idle limit), or it is closed;
//! - body: each read of the body must arrive within [`Limits::body_timeout`];
//! - the whole request, once its headers are in, is answered within
//!   [`Limits::request_timeout`] (408 otherwise), which is what keeps WeChat's 5-second rule.
//!
//! HTTP/1.1 only: both WeChat and Telegram (and the TLS proxy in front) speak it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

/// What one listener allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub body_timeout: Duration,
    pub request_timeout: Duration,
    /// On shutdown, how long requests in flight may take to finish.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    /// WeChat and Telegram send a request in one burst from a data centre, so seconds are
    /// generous; 5 s for the whole request is WeChat's own limit (the callback answers by 4.5 s).
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// How long a new connection waits for room when every connection is busy with a request
/// (so none could be closed to make room) before it is dropped.
const ADMIT_WAIT: Duration = Duration::from_secs(1);
/// After a failed `accept` (e.g. out of file descriptors), pause rather than spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// One open connection, as the admission logic sees it.
struct Conn {
    /// Requests being answered; 0 = waiting for a request (idle or still sending headers).
    busy: AtomicUsize,
    close: CancellationToken,
}

/// The open connections, oldest first (ids only grow).
#[derive(Default)]
struct Registry {
    conns: Mutex<BTreeMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        // Nothing panics while the lock is held; a poisoned map is still a valid map.
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the oldest connection that is not answering a request; false if all are.
    fn evict_idle(&self) -> bool {
        let mut conns = self.lock();
        let victim = conns
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match victim.and_then(|id| conns.remove(&id)) {
            Some(conn) => {
                conn.close.cancel();
                true
            }
            None => false,
        }
    }
}

/// Counts a request as in flight for as long as it lives.
struct Busy(Arc<Conn>);

impl Busy {
    fn new(conn: Arc<Conn>) -> Busy {
        conn.busy.fetch_add(1, Ordering::AcqRel);
        Busy(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then stops
/// accepting and gives requests in flight [`Limits::shutdown_grace`] to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let service = tower::ServiceBuilder::new()
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(RequestBodyTimeoutLayer::new(limits.body_timeout))
        .service(router);
    // Bounded so the shutdown wait can ask for every permit at once.
    let max = limits.max_connections.clamp(1, 1_000_000);
    let permits = Arc::new(Semaphore::new(max));
    let registry = Arc::new(Registry::default());
    let stop = CancellationToken::new();
    let mut next_id: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                registry.evict_idle();
                match tokio::time::timeout(ADMIT_WAIT, Arc::clone(&permits).acquire_owned()).await {
                    Ok(Ok(permit)) => permit,
                    _ => {
                        tracing::warn!(max, "connection dropped: every connection is busy");
                        continue;
                    }
                }
            }
        };
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let conn = Arc::new(Conn {
            busy: AtomicUsize::new(0),
            close: CancellationToken::new(),
        });
        registry.lock().insert(next_id, Arc::clone(&conn));
        let (id, registry, stop, service) = (
            next_id,
            Arc::clone(&registry),
            stop.clone(),
            service.clone(),
        );
        tokio::spawn(async move {
            let _permit = permit;
            let close = conn.close.clone();
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let busy = Busy::new(Arc::clone(&conn));
                let call = service.clone().oneshot(req);
                async move {
                    let response = call.await;
                    drop(busy);
                    response.map_err(|never: Infallible| match never {})
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(connection);
            tokio::select! {
                done = connection.as_mut() => {
                    if let Err(e) = done {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                () = close.cancelled() => tracing::debug!("idle connection closed to make room"),
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(limits.shutdown_grace, connection).await;
                }
            }
            registry.lock().remove(&id);
        });
    }
    stop.cancel();
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let grace = limits.shutdown_grace + Duration::from_secs(1);
    if tokio::time::timeout(grace, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("shutting down with requests still in flight");
    }
}
