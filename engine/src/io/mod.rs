//! The only layer that touches the kernel: sockets, `io_uring`, `recvmmsg`/`sendmmsg`, eventfd.
//!
//! Two backends behind one seam (DESIGN.md §3): [`Backend::Uring`] and [`Backend::Mmsg`]. The
//! worker above cannot tell them apart: it registers sockets, gets a [`Waker`], and calls
//! [`Backend::poll`], which (1) submits every datagram queued since the last call, (2) waits for
//! input or the timeout, and (3) hands each received datagram and each wake-up to a [`Handler`]
//! together with the [`TxQueue`] in which the handler queues its answers. Those answers go to
//! the kernel with the next `poll`, in the same `io_uring_enter` (or `sendmmsg` batch) that waits.
//!
//! Nothing here knows RTP.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::net::SockId;

mod tx;
pub use tx::TxQueue;

pub mod socket;

/// Which backend to run (`--io`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum IoKind {
    /// `uring`, falling back to `mmsg` when the kernel or a seccomp profile refuses io_uring.
    #[default]
    Auto,
    /// `io_uring`: multishot RecvMsg over a provided-buffer ring, batched SendMsg.
    Uring,
    /// `recvmmsg`/`sendmmsg` on non-blocking sockets woken by epoll.
    Mmsg,
}

/// Receives what a [`Backend::poll`] produced.
pub trait Handler {
    /// One datagram arrived on `sock` from `from`. `data` is the received bytes, writable in place.
    fn on_datagram(&mut self, sock: SockId, from: SocketAddr, data: &mut [u8], tx: &mut TxQueue);
    /// The backend's [`Waker`] was woken (commands or hand-offs are waiting).
    fn on_wake(&mut self, tx: &mut TxQueue);
}

/// Counters kept by a backend, read by the worker when it publishes its stats.
#[derive(Clone, Copy, Debug, Default)]
pub struct IoStats {
    /// Datagrams received.
    pub rx_packets: u64,
    /// Datagrams handed to the kernel for sending.
    pub tx_packets: u64,
    /// Datagrams the kernel refused to send (error completion / sendmmsg error).
    pub tx_errors: u64,
    /// Datagrams dropped because no send buffer was free.
    pub tx_no_buffer: u64,
    /// Times the receive buffer ring ran dry (`ENOBUFS`) and a multishot receive had to be re-armed.
    pub rx_no_buffer: u64,
    /// Received datagrams dropped as truncated (larger than a buffer).
    pub rx_truncated: u64,
    /// `io_uring_enter` / `epoll_wait` calls.
    pub syscalls: u64,
}

/// Wakes a worker's `poll` from another thread (an eventfd). Cheap to clone; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Waker {
    // implemented in this module by the backends
    fd: std::sync::Arc<std::os::fd::OwnedFd>,
}

/// One worker's I/O.
pub enum Backend {
    /// See [`IoKind::Uring`].
    Uring(uring::Uring),
    /// See [`IoKind::Mmsg`].
    Mmsg(mmsg::Mmsg),
}

mod mmsg;
mod uring;

impl Backend {
    /// Creates the backend. `Auto` tries io_uring first and logs one line when it falls back.
    pub fn new(kind: IoKind) -> io::Result<Self> {
        let _ = kind;
        unimplemented!("io backend: filled in by the io work")
    }

    /// The backend actually running (`Uring` or `Mmsg`, never `Auto`).
    pub fn kind(&self) -> IoKind {
        unimplemented!()
    }

    /// Registers a bound, non-blocking UDP socket and starts receiving on it.
    pub fn add_socket(&mut self, socket: UdpSocket) -> io::Result<SockId> {
        let _ = socket;
        unimplemented!()
    }

    /// Stops receiving on `sock` and closes it once the kernel no longer uses it.
    pub fn remove_socket(&mut self, sock: SockId) {
        let _ = sock;
        unimplemented!()
    }

    /// The local address a registered socket is bound to.
    pub fn local_addr(&self, sock: SockId) -> Option<SocketAddr> {
        let _ = sock;
        unimplemented!()
    }

    /// A handle that wakes this backend's `poll` from any thread.
    pub fn waker(&self) -> Waker {
        Waker { fd: self.waker_fd() }
    }

    fn waker_fd(&self) -> std::sync::Arc<std::os::fd::OwnedFd> {
        unimplemented!()
    }

    /// Submits queued sends, waits up to `timeout` (`None`: until something happens) for input,
    /// and delivers every completed receive and wake-up to `handler`.
    pub fn poll<H: Handler>(&mut self, timeout: Option<Duration>, handler: &mut H) -> io::Result<()> {
        let _ = (timeout, handler);
        unimplemented!()
    }

    /// Counters since creation.
    pub fn stats(&self) -> IoStats {
        unimplemented!()
    }
}

impl Waker {
    /// Wakes the backend (writes the eventfd). Never blocks.
    pub fn wake(&self) {
        unimplemented!()
    }
}
