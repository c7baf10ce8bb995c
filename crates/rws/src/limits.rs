//! What a stranger's connections may cost (threat model rule 4): the knobs,
//! the request-body deadline and the cap on concurrent connections.
//!
//! * Headers must arrive within `header_timeout`; hyper also starts that
//!   timer when a kept-alive connection waits for its next request, so it
//!   is the idle timeout of HTTP/1 keep-alive too (see [`crate::serve_with`]).
//! * A request body must arrive within `body_timeout`, extended by one
//!   second per `body_min_rate` bytes received (Apache `mod_reqtimeout`'s
//!   `body=…,MinRate=…`): a trickle is cut with 408, an honest upload that
//!   keeps streaming is not, however long it is.
//! * A connection on which nothing is read or written for `idle_timeout`
//!   is closed, whatever speaks on it (HTTP/2, which has no header timeout,
//!   a client that stops reading its answer, a WebSocket whose peer is
//!   gone). Control channels heartbeat every `--heartbeat-interval` and SSE
//!   streams every 15 s, so they are never idle that long.
//! * Past `max_connections` open connections a new one is answered 503 (or
//!   closed, over TLS) at once. WebSocket control channels and SSE streams
//!   hold a connection each, so the default leaves room for the 10 000
//!   sessions per node of ARCHITECTURE. After an upgrade to WebSocket
//!   hyper's timeouts no longer apply; the hub's heartbeats and silence
//!   timeout take over.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Limits on unauthenticated work and on connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Threads that verify passwords (argon2id, 19 MiB each).
    pub hash_workers: usize,
    /// Password checks that may wait for a worker; more are answered 503.
    pub hash_queue: usize,
    /// How long a verified Basic credential is remembered (zero: never).
    pub auth_cache_ttl: Duration,
    /// Failed-login throttle.
    pub throttle: crate::throttle::Policy,
    /// Longest wait for a request's headers (and for the next request on
    /// an idle kept-alive connection).
    pub header_timeout: Duration,
    /// Time allowed for a request body before `body_min_rate` extends it.
    pub body_timeout: Duration,
    /// Each this many body bytes received extend the body deadline by 1 s.
    pub body_min_rate: u64,
    /// Concurrent connections (WebSockets and SSE streams included).
    pub max_connections: usize,
    /// A connection with no byte read or written this long is closed.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hash_workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            hash_queue: 32,
            auth_cache_ttl: Duration::from_secs(60),
            throttle: crate::throttle::Policy::default(),
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            body_min_rate: 1024,
            max_connections: 20_000,
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// Verified credentials remembered at most (honest API clients are few).
pub const AUTH_CACHE_MAX: usize = 10_000;

/// Accepts a connection only while fewer than the cap are open; the
/// permit lives as long as the connection (through TLS and upgrades).
#[derive(Clone)]
pub struct CapAcceptor {
    permits: Arc<Semaphore>,
    refused: prometheus_client::metrics::counter::Counter,
    idle: Duration,
    /// Plain HTTP: answer 503 before closing (over TLS the client would
    /// read it as a broken handshake, so the connection is just closed).
    plain: bool,
}

impl CapAcceptor {
    /// At most `max` connections (at least 1), each closed after `idle`
    /// without traffic.
    pub fn new(
        max: usize,
        idle: Duration,
        plain: bool,
        refused: prometheus_client::metrics::counter::Counter,
    ) -> CapAcceptor {
        CapAcceptor {
            permits: Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))),
            refused,
            idle,
            plain,
        }
    }
}

const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 81\r\n\r\n{\"statusCode\":4,\"statusMessage\":\"too many connections to RWS: try again shortly\"}";

impl<S: Send + 'static> Accept<TcpStream, S> for CapAcceptor {
    type Stream = Capped;
    type Service = S;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Capped, S)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let permit = Arc::clone(&self.permits).try_acquire_owned();
        let (plain, idle, refused) = (self.plain, self.idle, self.refused.clone());
        Box::pin(async move {
            match permit {
                Ok(permit) => Ok((
                    Capped {
                        inner: stream,
                        _permit: permit,
                        idle,
                        last: tokio::time::Instant::now(),
                        timer: Box::pin(tokio::time::sleep(idle)),
                    },
                    service,
                )),
                Err(_) => {
                    refused.inc();
                    tracing::debug!("connection cap reached: connection refused");
                    if plain {
                        // Best effort, never waits: the socket buffer takes it.
                        let _ = stream.try_write(FULL);
                    }
                    Err(io::Error::other("connection cap reached"))
                }
            }
        })
    }
}

/// A TCP stream holding one of the cap's permits, closed when idle.
pub struct Capped {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    idle: Duration,
    /// Last time a byte moved either way.
    last: tokio::time::Instant,
    /// Fires at `last + idle` or earlier; re-armed lazily (not on every
    /// read) so busy connections do not touch the timer wheel each time.
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Capped {
    /// After progress: remember when.
    fn moved(&mut self) {
        self.last = tokio::time::Instant::now();
    }

    /// While waiting for the peer: `Err(TimedOut)` once idle too long.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
            let due = self.last + self.idle;
            if due <= tokio::time::Instant::now() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle too long",
                ));
            }
            self.timer.as_mut().reset(due);
        }
    }
}

impl AsyncRead for Capped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match self.check_idle(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            other => other,
        }
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending => match self.check_idle(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_canned_503_declares_its_length() {
        let text = String::from_utf8_lossy(super::FULL);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
    }
}
