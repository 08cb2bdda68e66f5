//! Connections, counted before any TLS work: a flood of connections that never finish their
//! handshake or their headers (a slow-loris: a byte a minute) must not take the file
//! descriptors and memory a good device needs to sync.
//!
//! Why here and not in the request limits (`http::Limits`): those count requests, which exist
//! only once headers have arrived; a slow-loris never gets that far. So every accepted TCP
//! connection is counted, in all and per address, and refused at once (closed before the TLS
//! handshake) past either cap; the TLS handshake and the request headers each have a timeout
//! (`Connections::handshake`, `Connections::headers`), so a held connection is given back.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What a hub admits before it reads a request.
#[derive(Debug, Clone, Copy)]
pub struct Connections {
    /// Connections open at once, in all (kept well below the process's descriptor limit).
    pub total: usize,
    /// Connections open at once from one address (a ward office behind one address still
    /// fits: a device holds one connection, and only while it syncs; 200 devices syncing at
    /// once through one address is what `doorstep-bench` does).
    pub per_address: usize,
    /// How long a TLS handshake may take.
    pub handshake: Duration,
    /// How long a request's headers may take to arrive once the connection waits for them.
    pub headers: Duration,
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            total: 768,
            per_address: 256,
            handshake: Duration::from_secs(10),
            headers: Duration::from_secs(10),
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Counts connections and refuses those past a cap (`axum_server`'s acceptor, first in the
/// chain: before TLS).
#[derive(Clone)]
pub struct ConnectionLimit {
    limits: Connections,
    counts: Arc<Mutex<Counts>>,
}

impl ConnectionLimit {
    pub fn new(limits: Connections) -> Self {
        ConnectionLimit {
            limits,
            counts: Arc::default(),
        }
    }

    /// A place for a connection from `ip`, held until the guard is dropped; `None` past a cap.
    fn admit(&self, ip: IpAddr) -> Option<Admitted> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let from = counts.by_address.get(&ip).copied().unwrap_or(0);
        if counts.total >= self.limits.total || from >= self.limits.per_address {
            return None;
        }
        counts.total += 1;
        counts.by_address.insert(ip, from + 1);
        Some(Admitted {
            ip,
            counts: self.counts.clone(),
        })
    }

    /// Connections open now, in all.
    pub fn open(&self) -> usize {
        self.counts.lock().map_or(0, |c| c.total)
    }
}

/// A connection's place, given back when the connection closes.
struct Admitted {
    ip: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.by_address.remove(&self.ip);
            }
        }
    }
}

/// A TCP connection holding its place.
pub struct Counted {
    stream: TcpStream,
    _place: Admitted,
}

impl<S> axum_server::accept::Accept<TcpStream, S> for ConnectionLimit {
    type Stream = Counted;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Counted, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream.peer_addr().and_then(|peer| {
            self.admit(peer.ip()).ok_or_else(|| {
                io::Error::other(format!("too many connections (from {})", peer.ip()))
            })
        });
        // TCP_NODELAY: a TLS handshake is several small writes, and Nagle's algorithm against
        // the peer's delayed ACK held each sync round ~40 ms.
        std::future::ready(admitted.and_then(|place| {
            stream.set_nodelay(true)?;
            Ok((
                Counted {
                    stream,
                    _place: place,
                },
                service,
            ))
        }))
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_in_all_and_per_address_and_given_back() {
        let limit = ConnectionLimit::new(Connections {
            total: 3,
            per_address: 2,
            ..Connections::default()
        });
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = limit.admit(a).expect("a first");
        let second = limit.admit(a).expect("a second");
        assert!(limit.admit(a).is_none(), "a third from one address");
        let third = limit.admit(b).expect("another address");
        assert!(limit.admit(b).is_none(), "past the total");
        assert_eq!(limit.open(), 3);
        drop(first);
        assert!(limit.admit(a).is_some(), "a place given back");
        drop((second, third));
        assert_eq!(limit.open(), 0);
    }
}
