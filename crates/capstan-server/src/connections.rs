//! Accepting and serving HTTP/1.1 connections, bounded: the device endpoints are public, so a
//! client that opens sockets and never finishes a request must not starve anyone else.
//!
//! - **Header timeout**: a request's head must arrive within `header_timeout_ms` of the moment
//!   the server starts waiting for it. The wait starts when a connection opens and again after
//!   each answer, so this is also the idle keep-alive timeout: a connection with no request in
//!   progress is closed after it. (Bodies have their own deadline, see `device::read_body`.)
//! - **Connection cap**: at most `max_connections` open at once, and never more than the
//!   process's open-files limit leaves room for (each connection may hold a second descriptor,
//!   a bundle file being downloaded). At the cap a new connection is still taken: the
//!   connections that have been quiet longest (no byte read or written for a second or more)
//!   are closed to make room, as nginx reuses idle keep-alive connections. Only when every
//!   connection is busy is the new one closed at once. Either is logged, at most every 10 s.
//! - Accept errors (out of descriptors) are logged and retried after a pause instead of
//!   spinning.
//!
//! Activity is tracked per connection by the socket wrapper below (one clock read per read or
//! write that moved bytes); the registry of open connections is locked only when a connection
//! opens or closes, or when the cap is reached.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::Service;

/// Descriptors kept free for everything that is not a client connection (the database files,
/// the listeners, logs, uploads).
const RESERVED_DESCRIPTORS: u64 = 64;
/// A connection active more recently than this is never closed to make room.
const BUSY_WINDOW_MS: u64 = 1000;
/// How often the cap or an accept failure is logged at most.
const WARN_EVERY_MS: u64 = 10_000;
/// Pause after an accept failure (out of descriptors), so the loop does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// How connections are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// Most open client connections (before the open-files limit is applied).
    pub max_connections: usize,
    /// Time allowed for a request's head, and for an idle keep-alive connection.
    pub header_timeout: Duration,
}

/// The largest number of client connections the open-files limit `soft_limit` leaves room for.
pub fn connections_for_descriptors(soft_limit: u64) -> usize {
    usize::try_from(soft_limit.saturating_sub(RESERVED_DESCRIPTORS) / 2).unwrap_or(usize::MAX)
}

/// The process's soft limit on open files, if it has one.
pub fn open_files_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Raises the soft limit on open files to the hard limit (a server holds one descriptor per
/// connection; the usual soft default of 1,024 is far below what the hard limit allows).
/// Answers the soft limit in force afterwards, and the one before when it changed.
pub fn raise_open_files_limit() -> std::io::Result<(Option<u64>, Option<u64>)> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let before = getrlimit(Resource::Nofile);
    if before.current == before.maximum {
        return Ok((before.current, None));
    }
    setrlimit(Resource::Nofile, Rlimit { current: before.maximum, maximum: before.maximum })?;
    Ok((getrlimit(Resource::Nofile).current, before.current))
}

/// One open connection, as the registry sees it.
struct Slot {
    /// Milliseconds since `Connections::epoch` of the last byte read or written.
    last_active_ms: AtomicU64,
    /// Told when the connection is closed to make room.
    evict: tokio::sync::Notify,
}

/// Every open client connection of the server (all listeners share the descriptor budget).
pub struct Connections {
    settings: ConnectionSettings,
    /// The cap in force: the setting, lowered to what the open-files limit allows.
    max: usize,
    open: Mutex<HashMap<u64, Arc<Slot>>>,
    next_id: AtomicU64,
    epoch: Instant,
    /// When the last warning was logged (ms since `epoch`, 0: never).
    last_warning_ms: AtomicU64,
    /// Signalled when the last connection closes (graceful shutdown waits for it).
    all_closed: tokio::sync::Notify,
}

impl Connections {
    /// A registry with `settings`, its cap lowered to what the current open-files limit allows.
    pub fn new(settings: ConnectionSettings) -> Arc<Connections> {
        let by_descriptors = open_files_limit().map(connections_for_descriptors).unwrap_or(usize::MAX);
        let max = settings.max_connections.min(by_descriptors).max(1);
        if max < settings.max_connections {
            tracing::info!(
                max_connections = max,
                configured = settings.max_connections,
                open_files_limit = ?open_files_limit(),
                "connection cap lowered to what the open-files limit allows"
            );
        }
        Arc::new(Connections {
            settings,
            max,
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            epoch: Instant::now(),
            last_warning_ms: AtomicU64::new(0),
            all_closed: tokio::sync::Notify::new(),
        })
    }

    /// The cap in force.
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many connections are open now.
    pub fn open(&self) -> usize {
        self.open.lock().expect("connections lock").len()
    }

    fn now_ms(&self) -> u64 {
        // Never 0, so that "0" can mean "never" for the warning time.
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// Logs at most every [`WARN_EVERY_MS`].
    fn warn_now(&self) -> bool {
        let now = self.now_ms();
        let last = self.last_warning_ms.load(Ordering::Relaxed);
        (last == 0 || now.saturating_sub(last) >= WARN_EVERY_MS)
            && self.last_warning_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// Registers a new connection, closing the quietest ones first when at the cap. `None`:
    /// every connection is busy, refuse this one.
    fn admit(&self) -> Option<(u64, Arc<Slot>)> {
        let now = self.now_ms();
        let mut open = self.open.lock().expect("connections lock");
        if open.len() >= self.max {
            let closed = self.evict_quiet(&open, now);
            if self.warn_now() {
                tracing::warn!(
                    open = open.len(),
                    max_connections = self.max,
                    closed_quiet = closed,
                    "connection limit reached: closing the connections quiet longest to make room (max_connections, open-files limit)"
                );
            }
            if closed == 0 {
                return None;
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot { last_active_ms: AtomicU64::new(now), evict: tokio::sync::Notify::new() });
        open.insert(id, slot.clone());
        Some((id, slot))
    }

    /// Tells the quietest connections (a 64th of the cap, at least one) to close; answers how
    /// many. They close on their own task, so the count stays above the cap for a moment: the
    /// descriptor reserve covers that.
    fn evict_quiet(&self, open: &HashMap<u64, Arc<Slot>>, now: u64) -> usize {
        let mut quiet: Vec<(u64, &Arc<Slot>)> = open
            .values()
            .map(|slot| (slot.last_active_ms.load(Ordering::Relaxed), slot))
            .filter(|(active, _)| now.saturating_sub(*active) >= BUSY_WINDOW_MS)
            .collect();
        let batch = (self.max / 64).max(1).min(quiet.len());
        if batch == 0 {
            return 0;
        }
        quiet.select_nth_unstable_by_key(batch - 1, |(active, _)| *active);
        for (_, slot) in &quiet[..batch] {
            // A permit is stored if the connection is not waiting yet: it still closes.
            slot.evict.notify_one();
        }
        batch
    }

    /// Closes the quietest connections, whatever the count (when descriptors ran out anyway).
    fn make_room(&self) -> usize {
        let open = self.open.lock().expect("connections lock");
        self.evict_quiet(&open, self.now_ms())
    }

    fn release(&self, id: u64) {
        let mut open = self.open.lock().expect("connections lock");
        open.remove(&id);
        if open.is_empty() {
            self.all_closed.notify_waiters();
        }
    }

    /// Waits until no connection is open.
    async fn closed(&self) {
        loop {
            let notified = self.all_closed.notified();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Removes a connection from the registry when its task ends, however it ends.
struct Registered {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.release(self.id);
    }
}

/// A socket that notes when bytes last moved on it.
struct Tracked {
    stream: TcpStream,
    slot: Arc<Slot>,
    epoch: Instant,
}

impl Tracked {
    fn touch(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.slot.last_active_ms.store(now, Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

fn is_out_of_descriptors(error: &std::io::Error) -> bool {
    // EMFILE (24): this process; ENFILE (23): the whole system.
    matches!(error.raw_os_error(), Some(23 | 24))
}

/// Serves `app` on `listener` until `stop` turns true, then lets requests in flight finish
/// (each connection closes after its current answer) and returns once every connection of
/// this listener's registry is closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    connections: Arc<Connections>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(connections.settings.header_timeout).keep_alive(true);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                if is_out_of_descriptors(&error) {
                    if connections.warn_now() {
                        tracing::warn!(%error, open = connections.open(), "cannot accept connections: out of file descriptors; closing quiet connections");
                    }
                    connections.make_room();
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
                continue;
            }
        };
        let Some((id, slot)) = connections.admit() else {
            // Every connection is busy: this one is closed unanswered (dropped here).
            continue;
        };
        let registered = Registered { connections: connections.clone(), id };
        // Answers are written whole; do not hold the last segment back waiting for an ACK.
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Tracked { stream, slot: slot.clone(), epoch: connections.epoch });
        let connection = http.serve_connection(io, RouterService::new(app.clone(), peer));
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _registered = registered;
            let mut connection = std::pin::pin!(connection);
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%error, %peer, "connection ended with an error");
                        }
                        return;
                    }
                    _ = slot.evict.notified() => return,
                    _ = stop.wait_for(|stopped| *stopped), if !stopping => {
                        stopping = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    connections.closed().await;
    Ok(())
}

/// The router as hyper's per-connection service: the client's address goes into each request
/// (for `ConnectInfo`); the router is called in place, not cloned per request.
struct RouterService {
    app: std::cell::RefCell<Router>,
    peer: SocketAddr,
}

impl RouterService {
    fn new(app: Router, peer: SocketAddr) -> RouterService {
        RouterService { app: std::cell::RefCell::new(app), peer }
    }
}

impl hyper::service::Service<hyper::Request<Incoming>> for RouterService {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = axum::routing::future::RouteFuture<std::convert::Infallible>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        // Router is always ready; the borrow ends before the returned future runs.
        self.app.borrow_mut().call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_a_second_descriptor_per_connection() {
        assert_eq!(connections_for_descriptors(1024), 480);
        assert_eq!(connections_for_descriptors(10), 0);
    }

    #[test]
    fn at_the_cap_the_quietest_connections_are_told_to_close() {
        let connections =
            Connections::new(ConnectionSettings { max_connections: 3, header_timeout: Duration::from_secs(1) });
        let slots: Vec<(u64, Arc<Slot>)> = (0..3).map(|_| connections.admit().unwrap()).collect();
        // All three were just active: nothing may be closed, the newcomer is refused.
        assert!(connections.admit().is_none());
        let now = connections.now_ms() + 10_000;
        slots[1].1.last_active_ms.store(now - 5_000, Ordering::Relaxed);
        slots[2].1.last_active_ms.store(now - 9_000, Ordering::Relaxed);
        slots[0].1.last_active_ms.store(now, Ordering::Relaxed);
        let open = connections.open.lock().unwrap();
        assert_eq!(connections.evict_quiet(&open, now), 1);
        drop(open);
        // The quietest (slot 2) holds the permit; the others do not.
        let permit = |slot: &Slot| futures_util::FutureExt::now_or_never(slot.evict.notified()).is_some();
        assert!(permit(&slots[2].1));
        assert!(!permit(&slots[1].1) && !permit(&slots[0].1));
        connections.release(slots[2].0);
        assert_eq!(connections.open(), 2);
    }
}
