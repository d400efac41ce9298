//! The only layer that touches the kernel: sockets, `io_uring`, `recvmmsg`/`sendmmsg`, eventfd.
//!
//! Two backends behind one seam (DESIGN.md §3): [`Backend::Uring`] and [`Backend::Mmsg`]. The
//! worker above cannot tell them apart: it registers sockets, gets a [`Waker`], and calls
//! [`Backend::poll`], which (1) submits every datagram queued since the last call, (2) waits for
//! input or the timeout, and (3) hands each received datagram and each wake-up to a [`Handler`]
//! together with the [`TxQueue`] in which the handler queues its answers. Those answers go to
//! the kernel with the next `poll`, in the same `io_uring_enter` (or `sendmmsg` batch) that waits.
//!
//! Everything is sized and allocated when the backend is created ([`BackendConfig`]): receive
//! buffers, send slots, completion and event arrays. Per datagram there is no allocation, no lock
//! and no system call of its own; system calls are per batch ([`IoStats::syscalls`]). Errors on
//! one socket never stop the others; they are counted in [`IoStats`] and logged at most once a
//! minute per backend (as quinn-udp's `IO_ERROR_LOG_INTERVAL`).
//!
//! A [`SockId`] carries a generation above its table index, so an id kept after
//! [`Backend::remove_socket`] never names a later socket; an entry is reused only once the kernel
//! has returned every completion for the socket that held it.
//!
//! **Flow steering.** [`Backend::add_connected_flow`] gives one remote of a `SO_REUSEPORT` group
//! a connected socket of its own, which the kernel prefers over the group, so that flow stops
//! landing on whichever worker its hash picks (`docs/ARCHITECTURE.md`, "Flow steering", has the
//! measurements and why this and not a reuseport eBPF program).
//!
//! `unsafe` is confined to this module tree; each block says why the memory it hands the kernel
//! outlives the kernel's use of it.
//!
//! Nothing here knows RTP.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::net::SockId;

mod tx;
pub use tx::TxQueue;

mod mmsg;
mod sockaddr;
pub mod socket;
pub mod thread;
mod uring;

#[cfg(test)]
mod tests;

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
    /// Datagrams received (delivered to the handler).
    pub rx_packets: u64,
    /// Datagrams handed to the kernel for sending.
    pub tx_packets: u64,
    /// Datagrams the kernel refused to send (error completion / sendmmsg error, `EAGAIN`
    /// included), or queued for a socket removed before they went out.
    pub tx_errors: u64,
    /// Datagrams dropped because no send buffer was free.
    pub tx_no_buffer: u64,
    /// Times the receive buffer ring ran dry (`ENOBUFS`) and a multishot receive had to be re-armed.
    pub rx_no_buffer: u64,
    /// Received datagrams dropped as truncated (larger than a buffer).
    pub rx_truncated: u64,
    /// System calls made by `poll` and its flushes: `io_uring_enter` (including early submits
    /// when the submission queue fills) and eventfd reads for `uring`; `epoll_wait`,
    /// `recvmmsg`, `sendmmsg` and eventfd reads for `mmsg`.
    pub syscalls: u64,
}

/// Sizes of a backend's rings and pools. Everything is allocated once, in [`Backend::with_config`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackendConfig {
    /// `uring`: submission queue entries. When more sends are queued than fit, `poll` submits
    /// early (one extra `io_uring_enter`) rather than dropping.
    pub ring_entries: u32,
    /// `uring`: buffers in the provided-buffer ring (rounded up to a power of two, at most
    /// 32768). Each is [`MAX_DATAGRAM`](crate::net::MAX_DATAGRAM) plus a 64-byte header.
    pub recv_buffers: u32,
    /// Send slots in the [`TxQueue`]: datagrams that can be queued (and in flight) at once.
    pub tx_slots: u32,
    /// `mmsg`: datagrams per `recvmmsg` call.
    pub mmsg_batch: u32,
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            ring_entries: 1024,
            recv_buffers: 4096,
            tx_slots: 4096,
            mmsg_batch: 64,
        }
    }
}

impl BackendConfig {
    /// Sets [`Self::ring_entries`].
    pub fn ring_entries(mut self, n: u32) -> Self {
        self.ring_entries = n;
        self
    }
    /// Sets [`Self::recv_buffers`].
    pub fn recv_buffers(mut self, n: u32) -> Self {
        self.recv_buffers = n;
        self
    }
    /// Sets [`Self::tx_slots`].
    pub fn tx_slots(mut self, n: u32) -> Self {
        self.tx_slots = n;
        self
    }
    /// Sets [`Self::mmsg_batch`].
    pub fn mmsg_batch(mut self, n: u32) -> Self {
        self.mmsg_batch = n;
        self
    }
}

/// Wakes a worker's `poll` from another thread (an eventfd). Cheap to clone; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Waker {
    fd: Arc<OwnedFd>,
}

/// One worker's I/O.
pub enum Backend {
    /// See [`IoKind::Uring`]. (Both variants are boxed: their bookkeeping is a few hundred
    /// bytes, and the worker moves the enum around.)
    Uring(Box<uring::Uring>),
    /// See [`IoKind::Mmsg`].
    Mmsg(Box<mmsg::Mmsg>),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({:?})", self.kind())
    }
}

impl Backend {
    /// Creates the backend. `Auto` tries io_uring first and logs one line when it falls back.
    pub fn new(kind: IoKind) -> io::Result<Self> {
        Self::with_config(kind, BackendConfig::default())
    }

    /// Creates the backend with explicit ring and pool sizes.
    pub fn with_config(kind: IoKind, config: BackendConfig) -> io::Result<Self> {
        match kind {
            IoKind::Uring => Ok(Self::Uring(Box::new(uring::Uring::new(&config)?))),
            IoKind::Mmsg => Ok(Self::Mmsg(Box::new(mmsg::Mmsg::new(&config)?))),
            IoKind::Auto => match uring::Uring::new(&config) {
                Ok(u) => Ok(Self::Uring(Box::new(u))),
                Err(e) => {
                    tracing::warn!("io_uring backend unavailable ({e}); using recvmmsg/sendmmsg");
                    Ok(Self::Mmsg(Box::new(mmsg::Mmsg::new(&config)?)))
                }
            },
        }
    }

    /// The backend actually running (`Uring` or `Mmsg`, never `Auto`).
    pub fn kind(&self) -> IoKind {
        match self {
            Self::Uring(_) => IoKind::Uring,
            Self::Mmsg(_) => IoKind::Mmsg,
        }
    }

    /// For `uring`: the ring setup flags the kernel accepted (e.g.
    /// `"SINGLE_ISSUER|DEFER_TASKRUN|COOP_TASKRUN|SUBMIT_ALL"`), for the worker's start-up log.
    pub fn uring_setup_flags(&self) -> Option<&'static str> {
        match self {
            Self::Uring(b) => Some(b.setup_flags()),
            Self::Mmsg(_) => None,
        }
    }

    /// Registers a bound, non-blocking UDP socket and starts receiving on it.
    pub fn add_socket(&mut self, socket: UdpSocket) -> io::Result<SockId> {
        match self {
            Self::Uring(b) => b.add_socket(socket),
            Self::Mmsg(b) => b.add_socket(socket),
        }
    }

    /// Steers one flow of a reuseport group to this backend: binds a socket on `group`'s local
    /// address with `SO_REUSEPORT` and connects it to `remote`
    /// ([`socket::bind_connected_flow`]), so that the kernel delivers that flow's datagrams to
    /// it instead of to whichever member of the group the flow hashes to.
    ///
    /// Datagrams received on the flow socket reach the handler **as `group`'s** (`sock ==
    /// group`): they did arrive on the group's address, and the datagrams of other flows that
    /// the socket catches while it is bound but not yet connected (it then takes its hash
    /// share, and they stay queued after `connect`; seen here) must be routed by source
    /// address like any datagram of the group. Sends may be queued on either id; both
    /// leave from the same address. Sending from the group socket is as cheap (measured, see
    /// `docs/ARCHITECTURE.md`), so the layer above need not know the flow socket at all.
    ///
    /// Costs one file descriptor (mind `ulimit -n`) and, for `uring`, one multishot receive over
    /// the ring's shared buffer pool (no buffers of its own); for `mmsg`, one epoll entry and
    /// one `recvmmsg` per wake-up on which the flow has data. Undo with [`Self::remove_socket`]
    /// on the returned id, which never touches `group` and loses none of the flow's datagrams
    /// (see there). `group` must be a live socket of this backend bound with `SO_REUSEPORT`
    /// (else `NotFound`, or the bind fails); a flow of a flow delivers as the original group.
    pub fn add_connected_flow(&mut self, group: SockId, remote: SocketAddr) -> io::Result<SockId> {
        let local = self.local_addr(group).ok_or_else(unknown_group)?;
        let socket = socket::bind_connected_flow(local, remote)?;
        match self {
            Self::Uring(b) => b.add_flow_socket(socket, group),
            Self::Mmsg(b) => b.add_flow_socket(socket, group),
        }
    }

    /// Stops receiving on `sock` and closes it once the kernel no longer uses it. No datagram
    /// received on it is delivered after this call; datagrams still queued for it are dropped.
    /// Unknown or already removed ids are ignored.
    ///
    /// A connected flow socket ([`Self::add_connected_flow`]) is the exception on the receive
    /// side: it is first re-connected to its own address ([`socket::park_flow`]), so its flow
    /// goes back to the group at once, and what it already holds is still delivered (as its
    /// group's, which lives on) during the next `poll`, before it is closed.
    pub fn remove_socket(&mut self, sock: SockId) {
        match self {
            Self::Uring(b) => b.remove_socket(sock),
            Self::Mmsg(b) => b.remove_socket(sock),
        }
    }

    /// The local address a registered socket is bound to.
    pub fn local_addr(&self, sock: SockId) -> Option<SocketAddr> {
        match self {
            Self::Uring(b) => b.local_addr(sock),
            Self::Mmsg(b) => b.local_addr(sock),
        }
    }

    /// A handle that wakes this backend's `poll` from any thread.
    pub fn waker(&self) -> Waker {
        Waker {
            fd: self.waker_fd(),
        }
    }

    fn waker_fd(&self) -> Arc<OwnedFd> {
        match self {
            Self::Uring(b) => b.waker_fd(),
            Self::Mmsg(b) => b.waker_fd(),
        }
    }

    /// The send queue, for queueing datagrams outside a [`Handler`] callback (timers, commands).
    pub fn tx(&mut self) -> &mut TxQueue {
        match self {
            Self::Uring(b) => b.tx(),
            Self::Mmsg(b) => b.tx(),
        }
    }

    /// Submits queued sends, waits up to `timeout` (`None`: until something happens) for input,
    /// and delivers every completed receive and wake-up to `handler`.
    pub fn poll<H: Handler>(
        &mut self,
        timeout: Option<Duration>,
        handler: &mut H,
    ) -> io::Result<()> {
        match self {
            Self::Uring(b) => b.poll(timeout, handler),
            Self::Mmsg(b) => b.poll(timeout, handler),
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> IoStats {
        match self {
            Self::Uring(b) => b.stats(),
            Self::Mmsg(b) => b.stats(),
        }
    }
}

impl Waker {
    /// Wakes the backend (writes the eventfd). Never blocks.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to an eventfd we own; the fd is non-blocking,
        // so a saturated counter gives EAGAIN, which is fine (a wake-up is already pending).
        let _ = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&raw const one).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }
}

/// Creates the non-blocking eventfd behind a [`Waker`].
fn new_eventfd() -> io::Result<Arc<OwnedFd>> {
    // SAFETY: plain syscall; the returned fd is checked and then owned.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Empties an eventfd's counter (non-blocking; `EAGAIN` when it was already empty).
fn drain_eventfd(fd: &OwnedFd) {
    let mut v: u64 = 0;
    // SAFETY: reads 8 bytes into a live local from a non-blocking eventfd.
    let _ = unsafe {
        libc::read(
            fd.as_raw_fd(),
            (&raw mut v).cast(),
            std::mem::size_of::<u64>(),
        )
    };
}

fn unknown_group() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no such socket to steer a flow of")
}

/// Minimum time between two logged I/O errors, as quinn-udp's `IO_ERROR_LOG_INTERVAL`.
const IO_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Rate-limits I/O error logs: at most one line per [`IO_ERROR_LOG_INTERVAL`] per backend.
/// Every error is still counted in [`IoStats`].
#[derive(Debug, Default)]
struct ErrorLog {
    last: Option<Instant>,
}

impl ErrorLog {
    fn log(&mut self, what: &str, err: &io::Error) {
        let now = Instant::now();
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= IO_ERROR_LOG_INTERVAL)
        {
            self.last = Some(now);
            tracing::warn!(
                "{what}: {err} (further I/O errors suppressed for {IO_ERROR_LOG_INTERVAL:?})"
            );
        }
    }
}

/// Bits of a [`SockId`] that index a backend's socket table; the bits above are a generation,
/// so a stale id (kept by the layer above after `remove_socket`) never names a newer socket that
/// reuses its table entry (until the 12-bit generation wraps).
const SOCK_INDEX_BITS: u32 = 20;
const SOCK_INDEX_MASK: u32 = (1 << SOCK_INDEX_BITS) - 1;

/// The socket-table index of a [`SockId`] value.
fn sock_index(id: u32) -> usize {
    (id & SOCK_INDEX_MASK) as usize
}

/// Hands out [`SockId`] values for both backends. An entry comes back only through
/// [`SockIds::release`], which a backend calls once nothing in flight can still name it; it is
/// then reused with the next generation.
#[derive(Debug, Default)]
struct SockIds {
    next: u32,
    free: Vec<u32>,
}

impl SockIds {
    fn take(&mut self) -> io::Result<u32> {
        if let Some(old) = self.free.pop() {
            let generation = (old >> SOCK_INDEX_BITS).wrapping_add(1) << SOCK_INDEX_BITS;
            return Ok(generation | (old & SOCK_INDEX_MASK));
        }
        if self.next > SOCK_INDEX_MASK {
            return Err(io::Error::other("too many sockets on one worker"));
        }
        self.next += 1;
        Ok(self.next - 1)
    }
    fn release(&mut self, id: u32) {
        self.free.push(id);
    }
}
