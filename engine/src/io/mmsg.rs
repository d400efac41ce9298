//! The portable backend: `recvmmsg`/`sendmmsg` on non-blocking sockets woken by `epoll`.
//!
//! It is the fallback where io_uring is refused (Docker's default seccomp profile) and the
//! yardstick the `uring` backend is measured against (DESIGN.md §3). `poll`:
//!
//! 1. flushes the [`TxQueue`] with `sendmmsg`, grouped per socket (queueing order kept within
//!    a socket), retrying partial sends; `EAGAIN` drops the rest of that socket's batch (counted
//!    in `tx_errors`), any other error drops the one datagram it names. Slots are free again as
//!    soon as `sendmmsg` returns.
//! 2. `epoll_wait`s (level-triggered) with the timeout, rounded up to whole milliseconds so a
//!    sub-millisecond timer does not spin.
//! 3. for each ready socket, `recvmmsg` in batches of `mmsg_batch` until a short batch or
//!    `EAGAIN` (a short batch means the queue was empty a moment ago; level triggering reports
//!    anything that arrived since), delivering each datagram to the handler.
//!
//! A connected flow socket ([`add_connected_flow`](super::Backend::add_connected_flow)) is one
//! more epoll entry, read with its own `recvmmsg` when ready (so steering many active flows
//! costs up to one `recvmmsg` per flow per wake-up), its datagrams delivered under the group's
//! id. Removed, it is parked (re-connected to its own address) and read once more at the end
//! of the next poll before it is closed.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use super::{
    BackendConfig, ErrorLog, Handler, IoStats, SockIds, TxQueue, drain_eventfd, new_eventfd,
    sock_index, sockaddr,
};
use crate::net::{MAX_DATAGRAM, SockId};

/// epoll token of the waker's eventfd (sockets use their id).
const WAKE_TOKEN: u64 = u64::MAX;
/// Most datagrams per `sendmmsg` call (the kernel's `UIO_MAXIOV`).
const SEND_BATCH: usize = 1024;

/// Receive vectors for one `recvmmsg` call. Every array is boxed, so the pointers between them,
/// set once in `new`, stay valid for the batch's lifetime.
struct RecvBatch {
    bufs: Box<[[u8; MAX_DATAGRAM]]>,
    names: Box<[libc::sockaddr_storage]>,
    /// Only referenced through `hdrs`' pointers; kept here so it lives as long as they do.
    _iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
}

impl RecvBatch {
    fn new(n: usize) -> Self {
        let mut bufs = vec![[0u8; MAX_DATAGRAM]; n].into_boxed_slice();
        // SAFETY (all three): all-zero is a valid value of these C structs.
        let mut names: Box<[libc::sockaddr_storage]> =
            (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
        let mut iovs: Box<[libc::iovec]> = (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
        let mut hdrs: Box<[libc::mmsghdr]> =
            (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
        for i in 0..n {
            iovs[i].iov_base = bufs[i].as_mut_ptr().cast();
            iovs[i].iov_len = MAX_DATAGRAM;
            hdrs[i].msg_hdr.msg_name = (&raw mut names[i]).cast();
            hdrs[i].msg_hdr.msg_iov = &raw mut iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        Self {
            bufs,
            names,
            _iovs: iovs,
            hdrs,
        }
    }
}

/// One registered socket.
struct Sock {
    /// Its full id (index and generation).
    id: u32,
    socket: UdpSocket,
    local: SocketAddr,
    /// The id its datagrams are delivered under: its own, or its group's for a connected flow.
    deliver_as: u32,
    /// A connected flow socket ([`super::Backend::add_connected_flow`]).
    flow: bool,
}

/// The `mmsg` backend. See the module documentation.
pub struct Mmsg {
    epoll: OwnedFd,
    events: Box<[libc::epoll_event]>,
    socks: Vec<Option<Sock>>,
    ids: SockIds,
    /// Ids of removed sockets, reusable once the queued datagrams that may name them are gone.
    retired: Vec<u32>,
    /// Removed flow sockets, closed after their last read at the end of the next poll.
    retiring: Vec<u32>,
    rx: RecvBatch,
    send_hdrs: Box<[libc::mmsghdr]>,
    tx: TxQueue,
    wake_fd: Arc<OwnedFd>,
    stats: IoStats,
    errors: ErrorLog,
}

impl std::fmt::Debug for Mmsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mmsg")
            .field("sockets", &self.socks.len())
            .field("tx", &self.tx)
            .field("stats", &self.stats)
            .finish()
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Mmsg {
    pub(crate) fn new(cfg: &BackendConfig) -> io::Result<Self> {
        // SAFETY: plain syscall; the fd is checked and then owned.
        let epfd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `epfd` is a fresh descriptor nothing else owns.
        let epoll = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(epfd) };
        let wake_fd = new_eventfd()?;
        let batch = cfg.mmsg_batch.clamp(1, 1024) as usize;
        let tx = TxQueue::new(cfg.tx_slots as usize);
        let send_batch = tx.capacity().min(SEND_BATCH);
        // SAFETY: all-zero is a valid epoll_event / mmsghdr.
        let events = (0..batch).map(|_| unsafe { std::mem::zeroed() }).collect();
        // SAFETY: as above.
        let send_hdrs = (0..send_batch)
            .map(|_| unsafe { std::mem::zeroed() })
            .collect();
        let me = Self {
            epoll,
            events,
            socks: Vec::new(),
            ids: SockIds::default(),
            retired: Vec::new(),
            retiring: Vec::new(),
            rx: RecvBatch::new(batch),
            send_hdrs,
            tx,
            wake_fd,
            stats: IoStats::default(),
            errors: ErrorLog::default(),
        };
        me.ctl(libc::EPOLL_CTL_ADD, me.wake_fd.as_raw_fd(), WAKE_TOKEN)?;
        Ok(me)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a live local the kernel copies; both fds are open.
        cvt(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    pub(crate) fn add_socket(&mut self, socket: UdpSocket) -> io::Result<SockId> {
        self.add(socket, None)
    }

    /// Registers the connected socket of a flow of `group` (see [`super::Backend::add_connected_flow`]).
    pub(crate) fn add_flow_socket(
        &mut self,
        socket: UdpSocket,
        group: SockId,
    ) -> io::Result<SockId> {
        let group = self
            .sock(group.0)
            .map(|s| s.deliver_as)
            .ok_or_else(super::unknown_group)?;
        self.add(socket, Some(group))
    }

    fn add(&mut self, socket: UdpSocket, group: Option<u32>) -> io::Result<SockId> {
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let id = self.ids.take()?;
        if let Err(e) = self.ctl(libc::EPOLL_CTL_ADD, socket.as_raw_fd(), u64::from(id)) {
            self.ids.release(id);
            return Err(e);
        }
        let sock = Some(Sock {
            id,
            socket,
            local,
            deliver_as: group.unwrap_or(id),
            flow: group.is_some(),
        });
        if sock_index(id) == self.socks.len() {
            self.socks.push(sock);
        } else {
            self.socks[sock_index(id)] = sock;
        }
        Ok(SockId(id))
    }

    pub(crate) fn remove_socket(&mut self, sock: SockId) {
        let Some(s) = self.sock(sock.0) else {
            return;
        };
        if s.flow {
            // A flow socket's datagrams belong to its live group: parked, it is read one last
            // time at the end of the next poll, then closed (see `retire_flows`).
            if let Err(err) = super::socket::park_flow(&s.socket) {
                self.errors.log("parking a flow socket", &err);
            }
            if !self.retiring.contains(&sock.0) {
                self.retiring.push(sock.0);
            }
            return;
        }
        let Some(s) = self.socks[sock_index(sock.0)].take() else {
            return;
        };
        // Closing the fd removes it from the epoll set too; be explicit anyway.
        let _ = self.ctl(libc::EPOLL_CTL_DEL, s.socket.as_raw_fd(), 0);
        drop(s);
        self.retired.push(sock.0);
    }

    /// The live socket with this full id (a removed flow socket that still waits for its last
    /// read is not live: nothing is sent from it).
    fn sock(&self, id: u32) -> Option<&Sock> {
        self.open(id).filter(|_| !self.retiring.contains(&id))
    }

    /// The open socket with this full id, removed or not.
    fn open(&self, id: u32) -> Option<&Sock> {
        self.socks
            .get(sock_index(id))?
            .as_ref()
            .filter(|s| s.id == id)
    }

    /// Reads each removed flow socket until it is empty, delivering what it held as its
    /// group's, and closes it.
    fn retire_flows<H: Handler>(&mut self, handler: &mut H) {
        while let Some(id) = self.retiring.pop() {
            self.recv_all(id, handler);
            if let Some(s) = self.socks[sock_index(id)].take() {
                let _ = self.ctl(libc::EPOLL_CTL_DEL, s.socket.as_raw_fd(), 0);
            }
            self.retired.push(id);
        }
    }

    pub(crate) fn local_addr(&self, sock: SockId) -> Option<SocketAddr> {
        self.sock(sock.0).map(|s| s.local)
    }

    pub(crate) fn waker_fd(&self) -> Arc<OwnedFd> {
        self.wake_fd.clone()
    }

    pub(crate) fn tx(&mut self) -> &mut TxQueue {
        &mut self.tx
    }

    pub(crate) fn stats(&self) -> IoStats {
        IoStats {
            tx_no_buffer: self.tx.no_buffer(),
            ..self.stats
        }
    }

    /// Sends every queued datagram with `sendmmsg`, grouped per socket, and frees the slots.
    fn flush_tx(&mut self) {
        self.tx.sort_queued_by_socket();
        let n = self.tx.queued().len();
        let mut i = 0;
        while i < n {
            let sock = self.tx.sock(self.tx.queued()[i]);
            // The run of datagrams for this socket, at most one sendmmsg vector long.
            let mut end = i;
            while end < n
                && end - i < self.send_hdrs.len()
                && self.tx.sock(self.tx.queued()[end]) == sock
            {
                end += 1;
            }
            let live = self
                .sock(sock.0)
                .map(|s| (s.socket.as_raw_fd(), s.local.is_ipv6()));
            match live {
                None => self.stats.tx_errors += (end - i) as u64,
                Some((fd, v6)) => {
                    for (k, j) in (i..end).enumerate() {
                        let idx = self.tx.queued()[j];
                        if v6 {
                            self.tx.map_v4_destination(idx);
                        }
                        // SAFETY: the slot's msghdr is initialised and lives in the pool.
                        self.send_hdrs[k].msg_hdr = unsafe { *self.tx.msghdr(idx) };
                        self.send_hdrs[k].msg_len = 0;
                    }
                    self.send_run(fd, end - i);
                }
            }
            i = end;
        }
        self.tx.clear_queued_releasing();
        // Datagrams that could name a retired id are gone: the ids may be reused now.
        for id in self.retired.drain(..) {
            self.ids.release(id);
        }
    }

    /// Sends `send_hdrs[..count]` on `fd`, retrying partial sends.
    fn send_run(&mut self, fd: RawFd, count: usize) {
        let mut done = 0;
        while done < count {
            self.stats.syscalls += 1;
            // SAFETY: `send_hdrs[done..count]` are initialised mmsghdrs whose pointers lead into
            // the TxQueue pool; sendmmsg only reads them, synchronously, before returning.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.send_hdrs.as_mut_ptr().add(done),
                    (count - done) as libc::c_uint,
                    0,
                )
            };
            if r >= 0 {
                self.stats.tx_packets += r as u64;
                done += r as usize;
                continue;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => {
                    // Socket buffer full: drop the rest rather than block the worker.
                    self.stats.tx_errors += (count - done) as u64;
                    return;
                }
                _ => {
                    // The first unsent datagram failed: drop it, carry on with the rest.
                    self.stats.tx_errors += 1;
                    self.errors.log("sendmmsg", &err);
                    done += 1;
                }
            }
        }
    }

    pub(crate) fn poll<H: Handler>(
        &mut self,
        timeout: Option<Duration>,
        handler: &mut H,
    ) -> io::Result<()> {
        self.flush_tx();
        let ms = match timeout {
            None => -1,
            Some(t) => {
                let ms = t.as_nanos().div_ceil(1_000_000);
                ms.min(i32::MAX as u128) as libc::c_int
            }
        };
        self.stats.syscalls += 1;
        // SAFETY: `events` is a live buffer of `events.len()` entries the kernel fills.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                ms,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return if err.raw_os_error() == Some(libc::EINTR) {
                Ok(())
            } else {
                Err(err)
            };
        }
        for e in 0..n as usize {
            let token = self.events[e].u64;
            if token == WAKE_TOKEN {
                self.stats.syscalls += 1;
                drain_eventfd(&self.wake_fd);
                handler.on_wake(&mut self.tx);
            } else {
                self.recv_all(token as u32, handler);
            }
        }
        self.retire_flows(handler);
        Ok(())
    }

    /// Reads `sock` until it is empty (or removed), delivering every datagram.
    fn recv_all<H: Handler>(&mut self, id: u32, handler: &mut H) {
        let Some((fd, deliver_as)) = self.open(id).map(|s| (s.socket.as_raw_fd(), s.deliver_as))
        else {
            return;
        };
        let batch = self.rx.hdrs.len();
        loop {
            for h in self.rx.hdrs.iter_mut() {
                h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as _;
                h.msg_hdr.msg_flags = 0;
            }
            self.stats.syscalls += 1;
            // SAFETY: every header points at its own boxed name, iovec and buffer, all alive in
            // `self.rx`; recvmmsg writes them synchronously before returning.
            let r = unsafe {
                libc::recvmmsg(
                    fd,
                    self.rx.hdrs.as_mut_ptr(),
                    batch as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if r < 0 {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EAGAIN | libc::EINTR) => {}
                    _ => self.errors.log("recvmmsg", &err),
                }
                return;
            }
            let got = r as usize;
            for i in 0..got {
                let h = &self.rx.hdrs[i];
                if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                    self.stats.rx_truncated += 1;
                    continue;
                }
                let len = (h.msg_len as usize).min(MAX_DATAGRAM);
                let Some(from) = sockaddr::decode(sockaddr::storage_bytes(&self.rx.names[i]))
                else {
                    continue;
                };
                self.stats.rx_packets += 1;
                handler.on_datagram(
                    SockId(deliver_as),
                    from,
                    &mut self.rx.bufs[i][..len],
                    &mut self.tx,
                );
                // A burst fanned out wide: send what is queued now (sendmmsg frees the slots on
                // return) rather than let the pool run dry before the next poll.
                if self.tx.wants_flush() {
                    self.flush_tx();
                }
            }
            if got < batch {
                return;
            }
        }
    }
}
