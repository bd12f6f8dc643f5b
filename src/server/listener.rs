//! The accept loop of `localhsm serve`: TLS over TCP, HTTP/1.1 and HTTP/2 through hyper, with
//! the connection hygiene that keeps slow or stalled clients from starving the others.
//!
//! Layer: faces (server). Imports nothing else of the crate: the application arrives as an
//! [`axum::Router`], and each request carries the peer's address as axum's `ConnectInfo`.
//!
//! Invariants (each a flag of `localhsm serve`, see [`ConnectionLimits`]):
//! - at most `max_connections` connections are open; at the bound the loop stops accepting, so
//!   new connections wait in the kernel's listen queue until a slot frees (every slot frees
//!   within its timeouts), rather than being refused;
//! - a TLS handshake that does not finish within `handshake_timeout` is dropped;
//! - a request's headers must arrive within `header_timeout` (counted from the handshake on a
//!   new connection, from the request's first byte on a kept-alive one);
//! - a request's body must arrive within `body_timeout` of its headers, else the body reads
//!   as an error (a 4xx) and the connection is closed once it is answered;
//! - a connection with no request in flight, no bytes arriving and no response being written
//!   is closed after `idle_timeout`.
//!
//! A closed connection's slot is free at once. The hot path pays two atomic updates and one
//! clock read per request; a timer is allocated only for a body that is not already there.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::routing::future::RouteFuture;
use axum::Router;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

/// Bounds on connections and how long a client may take; the defaults are those of
/// `localhsm serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; more wait in the listen queue.
    pub max_connections: usize,
    /// Time for a new connection's TLS handshake.
    pub handshake_timeout: Duration,
    /// Time for a request's headers.
    pub header_timeout: Duration,
    /// Time for a request's body, from the end of its headers.
    pub body_timeout: Duration,
    /// Time a connection may sit with nothing in flight.
    pub idle_timeout: Duration,
}

impl ConnectionLimits {
    /// Default of `--max-connections`: well under the usual descriptor limit of 1024, which
    /// the store's files share.
    pub const MAX_CONNECTIONS: usize = 512;
    /// Default of `--handshake-timeout`.
    pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default of `--header-timeout`.
    pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default of `--body-timeout`: a 1 MiB body at 35 KB/s.
    pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default of `--idle-timeout`: longer than the idle time of the Azure SDKs' pools.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

    /// How often a connection checks its deadlines: often enough that a timeout fires at
    /// most an eighth of itself late (and at most half a second).
    fn tick(&self) -> Duration {
        let shortest = self.header_timeout.min(self.idle_timeout);
        (shortest / 8).clamp(Duration::from_millis(10), Duration::from_millis(500))
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: Self::MAX_CONNECTIONS,
            handshake_timeout: Self::HANDSHAKE_TIMEOUT,
            header_timeout: Self::HEADER_TIMEOUT,
            body_timeout: Self::BODY_TIMEOUT,
            idle_timeout: Self::IDLE_TIMEOUT,
        }
    }
}

/// Reads a timeout flag: a positive number with a unit, `ms`, `s` or `m` (`10s`, `500ms`,
/// `2m`); a bare number is seconds.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (say 10s, 500ms or 2m)"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        other => return Err(format!("unknown unit {other:?}: use ms, s or m")),
    };
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!("{text:?} must be above zero and at most a day"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// What the accept loop is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Running,
    /// Finish the requests in flight, take no more.
    Graceful,
    /// Drop every connection now.
    Now,
}

/// How long [`run`] lets requests in flight finish after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a connection closed for a timeout may take to write what it owes (the answer
/// to a request whose body timed out) before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What every connection shares.
struct Shared {
    app: Router,
    tls: TlsAcceptor,
    http: auto::Builder<TokioExecutor>,
    limits: ConnectionLimits,
}

/// Serves `app` on `listener` until `shutdown` completes; then lets requests in flight finish
/// for a few seconds and drops what remains.
pub async fn run(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(slots));
    let shared = Arc::new(Shared {
        app,
        tls: TlsAcceptor::from(tls),
        http: auto::Builder::new(TokioExecutor::new()),
        limits,
    });
    let (stop, stopped) = watch::channel(Stop::Running);
    tokio::pin!(shutdown);
    loop {
        // A slot first: at the bound, connections stay in the kernel's queue, unaccepted,
        // and hold none of this process's descriptors.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a connection reset while queued: wait a moment
                    // rather than spin.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        tokio::spawn(connection(
            shared.clone(),
            tcp,
            peer,
            permit,
            stopped.clone(),
        ));
    }
    drop(listener);
    let _ = stop.send(Stop::Graceful);
    let all = u32::try_from(slots).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, permits.acquire_many(all))
        .await
        .is_err()
    {
        let _ = stop.send(Stop::Now);
        let _ = tokio::time::timeout(CLOSE_GRACE, permits.acquire_many(all)).await;
    }
}

/// One connection, from its TLS handshake to its close; `_slot` frees on the way out.
async fn connection(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
    mut stop: watch::Receiver<Stop>,
) {
    let limits = shared.limits;
    // Answers are small and written whole: no reason to hold them back for Nagle.
    let _ = tcp.set_nodelay(true);
    let handshake = tokio::time::timeout(limits.handshake_timeout, shared.tls.accept(tcp));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            _ => return,
        },
        _ = stop.wait_for(|s| *s != Stop::Running) => return,
    };
    let activity = Arc::new(Activity::new(&limits));
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = ConnService {
        app: shared.app.clone(),
        peer,
        activity: activity.clone(),
        body_timeout: limits.body_timeout,
    };
    let conn = shared.http.serve_connection(io, service);
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(limits.tick());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let graceful = loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = tick.tick() => if activity.expired() {
                break false;
            },
            _ = stop.wait_for(|s| *s != Stop::Running) => break true,
        }
    };
    // An idle HTTP/1.1 connection closes at once, an HTTP/2 one says GOAWAY; one closed for a
    // timeout mid-request gets a moment to write its answer, no more.
    conn.as_mut().graceful_shutdown();
    if graceful {
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = stop.wait_for(|s| *s == Stop::Now) => {}
        }
    } else {
        let _ = tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await;
    }
}

/// Milliseconds on a process-wide monotonic clock.
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Waiting for a request to start, no byte of it seen.
const IDLE: u8 = 0;
/// Reading a request's headers (or the first request, from the handshake on).
const HEAD: u8 = 1;
/// A request in flight.
const BUSY: u8 = 2;

/// A connection's state, as its reader, its writer and its requests see it. Atomics, as
/// HTTP/2 runs each request on a task of its own.
struct Activity {
    phase: AtomicU8,
    in_flight: AtomicU32,
    /// When the connection times out (in [`now_ms`]), unless a request is in flight.
    deadline: AtomicU64,
    /// A body timed out: close once no request is in flight.
    doomed: AtomicBool,
    header_ms: u64,
    idle_ms: u64,
}

impl Activity {
    fn new(limits: &ConnectionLimits) -> Self {
        let header_ms = millis(limits.header_timeout);
        Self {
            phase: AtomicU8::new(HEAD),
            in_flight: AtomicU32::new(0),
            deadline: AtomicU64::new(now_ms().saturating_add(header_ms)),
            doomed: AtomicBool::new(false),
            header_ms,
            idle_ms: millis(limits.idle_timeout),
        }
    }

    /// Bytes arrived: on an idle connection, a request has begun and its headers are due.
    fn on_read(&self) {
        if self.phase.load(Ordering::Relaxed) == IDLE
            && self
                .phase
                .compare_exchange(IDLE, HEAD, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.deadline
                .store(now_ms().saturating_add(self.header_ms), Ordering::Release);
        }
    }

    /// An answer is still going out: the client is reading, so the connection is not idle.
    fn on_write(&self) {
        if self.phase.load(Ordering::Relaxed) == IDLE {
            self.deadline
                .store(now_ms().saturating_add(self.idle_ms), Ordering::Release);
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.phase.store(BUSY, Ordering::Release);
        InFlight(self.clone())
    }

    fn expired(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
            && (self.doomed.load(Ordering::Acquire)
                // `>`: the clock counts whole milliseconds, so this never fires early.
                || now_ms() > self.deadline.load(Ordering::Acquire))
    }
}

/// A request in flight; its drop (the answer is ready, or the request was abandoned) starts
/// the idle time when it was the last.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        if a.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            a.deadline
                .store(now_ms().saturating_add(a.idle_ms), Ordering::Release);
            a.phase.store(IDLE, Ordering::Release);
        }
    }
}

/// The TLS stream, telling [`Activity`] when bytes move.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The application as one connection's hyper service: each request gets the peer's address
/// (as axum's `ConnectInfo`) and a body with a deadline, and counts as in flight until its
/// answer is ready.
#[derive(Clone)]
struct ConnService {
    app: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
    body_timeout: Duration,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = Answer;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.begin();
        let deadline = tokio::time::Instant::now() + self.body_timeout;
        let activity = self.activity.clone();
        let mut req = req.map(|inner| TimedBody {
            inner,
            deadline,
            timer: None,
            activity,
            timed_out: false,
        });
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let mut app = self.app.clone();
        Answer {
            inner: tower::Service::call(&mut app, req),
            _in_flight: in_flight,
        }
    }
}

/// The application's answer to one request, holding the request's place in flight.
struct Answer {
    inner: RouteFuture<std::convert::Infallible>,
    _in_flight: InFlight,
}

impl Future for Answer {
    type Output = Result<axum::response::Response, std::convert::Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// A request body that must arrive by a deadline. Past it, the body reads as an error (the
/// handler answers 4xx) and the connection is marked to close.
struct TimedBody {
    inner: Incoming,
    deadline: tokio::time::Instant,
    /// Made on the first wait only: most bodies arrive with their headers.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    activity: Arc<Activity>,
    timed_out: bool,
}

/// The error a body past its deadline reads as.
#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl Body for TimedBody {
    type Data = axum::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.timed_out {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => return Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {}
        }
        let deadline = self.deadline;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.timed_out = true;
        self.activity.doomed.store(true, Ordering::Release);
        Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
    }

    fn is_end_stream(&self) -> bool {
        self.timed_out || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_with_their_units() {
        assert_eq!(parse_timeout("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_timeout("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_timeout("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_timeout("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "0", "0s", "-1s", "10h", "s", "1e3", "90000s"] {
            assert!(parse_timeout(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_connection_times_out_only_with_nothing_in_flight() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_millis(1),
            idle_timeout: Duration::from_millis(1),
            ..ConnectionLimits::default()
        };
        let a = Arc::new(Activity::new(&limits));
        let request = a.begin();
        std::thread::sleep(Duration::from_millis(5));
        assert!(!a.expired(), "a request in flight holds the connection");
        a.doomed.store(true, Ordering::Release);
        assert!(!a.expired(), "even a doomed one, until it is answered");
        drop(request);
        assert!(a.expired());
        assert_eq!(a.phase.load(Ordering::Acquire), IDLE);
        a.on_read();
        assert_eq!(a.phase.load(Ordering::Acquire), HEAD);
    }

    #[test]
    fn the_check_is_frequent_enough_and_no_more() {
        assert_eq!(
            ConnectionLimits::default().tick(),
            Duration::from_millis(500)
        );
        let short = ConnectionLimits {
            header_timeout: Duration::from_millis(400),
            ..ConnectionLimits::default()
        };
        assert_eq!(short.tick(), Duration::from_millis(50));
    }
}
