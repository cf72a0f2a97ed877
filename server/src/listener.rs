//! Admission of TCP connections: every accepted connection holds a place under the total cap
//! (`--max-connections`) and under its address's cap (`--conns-per-ip`) for as long as its
//! socket lives, WebSocket included. A connection past either cap is accepted and answered
//! with its refusal, then closed: waiting on the cap before `accept` (as a plain semaphore
//! would) leaves clients hanging in the kernel's backlog with no word of why.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::IntoResponse;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// File descriptors kept back from the connection cap: the log, the listener, the runtime,
/// files served from `--web-dir`, and the refusals in flight.
const SPARE_FDS: u64 = 128;

/// Refusals answered at once; past this, a connection over the cap is closed without a word,
/// so refusing a flood never costs more than this many sockets.
const REFUSING_AT_ONCE: usize = 64;

/// How long a refused connection has to send its request and read the refusal.
const REFUSAL_WAIT: Duration = Duration::from_secs(1);

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The server holds its maximum of connections.
    #[error("the server holds its maximum of {max} connections; retry shortly")]
    ServerFull {
        /// The cap.
        max: usize,
    },
    /// The client's address holds its maximum of connections.
    #[error("at most {max} connections per address")]
    TooManyFromAddress {
        /// The cap.
        max: u32,
    },
}

/// The caps, and who holds a place under them.
pub struct Gate {
    total: Arc<Semaphore>,
    max_total: usize,
    per_ip: Arc<Mutex<HashMap<IpAddr, u32>>>,
    max_per_ip: u32,
    refusing: Arc<Semaphore>,
}

/// A connection's place under both caps, given back when it drops.
pub struct Admission {
    _total: OwnedSemaphorePermit,
    ip: IpAddr,
    per_ip: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl Gate {
    /// A gate admitting `max_total` connections, `max_per_ip` of them from one address.
    pub fn new(max_total: usize, max_per_ip: u32) -> Gate {
        Gate {
            total: Arc::new(Semaphore::new(max_total)),
            max_total,
            per_ip: Arc::default(),
            max_per_ip,
            refusing: Arc::new(Semaphore::new(REFUSING_AT_ONCE)),
        }
    }

    /// Admits a connection from `ip`, or says why not.
    pub fn admit(&self, ip: IpAddr) -> Result<Admission, Refusal> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let open = per_ip.get(&ip).copied().unwrap_or(0);
        if open >= self.max_per_ip {
            return Err(Refusal::TooManyFromAddress { max: self.max_per_ip });
        }
        let total = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::ServerFull { max: self.max_total })?;
        per_ip.insert(ip, open + 1);
        Ok(Admission { _total: total, ip, per_ip: self.per_ip.clone() })
    }

    /// Answers a refused connection with its refusal as an HTTP error, if fewer than
    /// [`REFUSING_AT_ONCE`] are being answered; otherwise closes it at once.
    pub fn refuse(
        &self,
        stream: TcpStream,
        refusal: Refusal,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let slot = self.refusing.clone().try_acquire_owned().ok()?;
        Some(answer_refusal(stream, refusal, slot))
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = per_ip.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// Reads the request (so that closing does not reset the connection under the answer), answers
/// it with the refusal, and closes.
async fn answer_refusal(stream: TcpStream, refusal: Refusal, _slot: OwnedSemaphorePermit) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(REFUSAL_WAIT).keep_alive(false);
    let service = hyper::service::service_fn(move |_| {
        std::future::ready(Ok::<_, std::convert::Infallible>(
            ApiError::from(refusal).into_response(),
        ))
    });
    let conn = http.serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(REFUSAL_WAIT * 2, conn).await;
}

/// The connection cap that fits the process's open-files limit: `configured`, lowered (with a
/// warning) to leave [`SPARE_FDS`] descriptors free, so the server refuses connections clearly
/// instead of failing to accept them.
pub fn fitted_cap(configured: usize) -> usize {
    let Some(soft) = open_files_limit() else { return configured };
    let fits = usize::try_from(soft.saturating_sub(SPARE_FDS)).unwrap_or(usize::MAX).max(1);
    if fits < configured {
        tracing::warn!(
            configured,
            open_files_limit = soft,
            cap = fits,
            "--max-connections lowered to fit the open files limit"
        );
    }
    configured.min(fits)
}

/// The soft limit on open files, where the platform has one.
#[cfg(unix)]
fn open_files_limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _)| soft)
}

/// The soft limit on open files, where the platform has one (Windows has none to read here).
#[cfg(not(unix))]
fn open_files_limit() -> Option<u64> {
    None
}

/// A socket that holds its connection's [`Admission`] for as long as it lives: through hyper,
/// and after a WebSocket upgrade, where hyper hands the same socket to the session.
pub struct Admitted<IO> {
    io: IO,
    _admission: Admission,
}

impl<IO> Admitted<IO> {
    /// `io`, holding `admission`.
    pub fn new(io: IO, admission: Admission) -> Admitted<IO> {
        Admitted { io, _admission: admission }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Admitted<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Admitted<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn places_are_held_per_address_and_in_total_and_given_back_on_drop() {
        let gate = Gate::new(3, 2);
        let a1 = gate.admit(A).expect("first from A");
        let _a2 = gate.admit(A).expect("second from A");
        assert_eq!(gate.admit(A).err(), Some(Refusal::TooManyFromAddress { max: 2 }));
        let _b1 = gate.admit(B).expect("B has its own count");
        assert_eq!(gate.admit(B).err(), Some(Refusal::ServerFull { max: 3 }));
        drop(a1);
        assert!(gate.admit(B).is_ok(), "a place given back is taken again");
        assert_eq!(gate.per_ip.lock().expect("lock").get(&B), Some(&1), "and given back again");
    }

    #[test]
    fn the_cap_leaves_room_under_the_open_files_limit() {
        assert_eq!(fitted_cap(1), 1);
        let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("readable");
        assert!(fitted_cap(usize::MAX) as u64 <= soft.saturating_sub(SPARE_FDS).max(1));
    }
}
