//! The `io_uring` backend: multishot `RecvMsg` over a provided-buffer ring, batched `SendMsg`.
//!
//! One ring per worker, created with `SINGLE_ISSUER | DEFER_TASKRUN` (plus `COOP_TASKRUN` and
//! `SUBMIT_ALL`) where the kernel accepts them, falling back step by step to a plain ring. With
//! `DEFER_TASKRUN` the kernel does completion work only inside our `io_uring_enter`, so nothing
//! interrupts the worker between two polls and receive buffers are written only while we wait.
//!
//! - **Receive.** Each socket has one multishot `IORING_OP_RECVMSG` armed over buffer group 0, a
//!   registered provided-buffer ring (`IORING_REGISTER_PBUF_RING`) of `recv_buffers` buffers.
//!   A buffer holds `io_uring_recvmsg_out` (16 bytes), the source address field (48 bytes:
//!   room for a `sockaddr_in6`, sized so the payload starts 64 bytes in) and
//!   [`MAX_DATAGRAM`] payload bytes. Every datagram is one completion; its buffer goes back to the
//!   ring as soon as the handler returns, and the ring's tail is published once per batch.
//!   When the ring runs dry the kernel ends the multishot with `ENOBUFS`; any completion without
//!   `IORING_CQE_F_MORE` (that one, an error, a CQ overflow) re-arms the socket with the next
//!   enter, after the batch's buffers were returned.
//! - **Send.** `poll` turns each queued [`TxQueue`] slot into one `SendMsg` entry pointing at the
//!   slot's own `msghdr`, and submits them in the same `io_uring_enter` that waits for input
//!   (`want` = sends + 1, so the inline send completions do not end the wait). A slot is freed
//!   by its completion. `SendMsgZc` is not used: for ~200-byte RTP packets the page pinning and
//!   the second (notification) completion cost more than the copy they save.
//! - **Wake.** A multishot `POLL_ADD` on the [`Waker`](super::Waker)'s eventfd; when it fires the
//!   counter is read (one syscall per wake, never per datagram) and `on_wake` is called.
//! - **Removal.** `AsyncCancel` on the socket's receive; the fd is closed, and its [`SockId`]
//!   reused, only once the receive's final completion and every send from it have come back.
//! - **Connected flows** ([`add_connected_flow`](super::Backend::add_connected_flow)): one more
//!   socket with its own multishot receive over the same buffer group (the ring's buffers are
//!   shared by every socket, so a flow adds no buffers), its completions delivered under the
//!   group's id. On removal it is parked (re-connected to its own address, so its flow goes
//!   back to the group), its receive cancelled, and after the final completion whatever its
//!   queue still holds is read with plain `recvmsg` and delivered before the close.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::types::{BufRingEntry, Fd, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};

use super::{
    BackendConfig, ErrorLog, Handler, IoStats, SockIds, TxQueue, drain_eventfd, new_eventfd,
    sock_index, sockaddr,
};
use crate::net::{MAX_DATAGRAM, SockId};

/// The provided-buffer group all receives select from.
const BGID: u16 = 0;
/// Bytes reserved for the source address in each receive buffer (`msg_namelen`): room for a
/// `sockaddr_in6` (28), padded so that the payload starts at a 64-byte boundary.
const NAME_LEN: usize = 48;
/// Size of `struct io_uring_recvmsg_out` (four `u32`s; not re-exported by the io-uring crate).
const RECVMSG_OUT_LEN: usize = 16;
/// Where the payload starts in a receive buffer: after `io_uring_recvmsg_out` and the name.
const PAYLOAD_OFFSET: usize = RECVMSG_OUT_LEN + NAME_LEN;
/// Size of one receive buffer.
const RECV_BUF_LEN: usize = PAYLOAD_OFFSET + MAX_DATAGRAM;

// user_data: kind in the high 32 bits, socket id or slot index in the low 32.
const UD_RECV: u64 = 1 << 32;
const UD_SEND: u64 = 2 << 32;
const UD_WAKE: u64 = 3 << 32;
const UD_CANCEL: u64 = 4 << 32;
const UD_KIND: u64 = 0xffff_ffff << 32;

/// How long `Drop` waits for the kernel to give back buffers it may still write.
const DROP_DRAIN_TIMEOUT: Duration = Duration::from_millis(500);

/// One registered socket.
#[derive(Debug)]
struct Sock {
    /// Its full id (index and generation).
    id: u32,
    /// `None` once closed (the id then waits in `SockIds` for reuse).
    socket: Option<UdpSocket>,
    fd: RawFd,
    local: SocketAddr,
    /// A multishot receive is in flight (submitted or in the SQ).
    recv_armed: bool,
    /// Removal was requested.
    closing: bool,
    /// The receive failed in a way re-arming cannot fix (`EBADF`, `EINVAL`, ...).
    dead: bool,
    /// `SendMsg` entries in flight from this socket.
    sends: u32,
    /// The id its datagrams are delivered under: its own, or its group's for a connected flow.
    deliver_as: u32,
    /// A connected flow socket ([`super::Backend::add_connected_flow`]).
    flow: bool,
}

/// Anonymous, page-aligned memory that the kernel may read or write: unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Self> {
        // SAFETY: anonymous private mapping, no file, no fixed address.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            ptr: ptr.cast(),
            len,
        })
    }
}

impl Mapping {
    /// Never unmaps this memory (the kernel may still use it).
    fn leak(&mut self) {
        self.len = 0;
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: mapped in `new` with this length; the owner guarantees the kernel is done
        // with it (the ring is closed first, or the mapping is leaked instead of dropped).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// The registered provided-buffer ring and the buffers it hands out.
struct BufRing {
    /// `entries` × `io_uring_buf`; the ring's tail lives in entry 0's reserved field.
    ring: Mapping,
    /// `entries` × [`RECV_BUF_LEN`] bytes.
    bufs: Mapping,
    entries: u16,
    /// Local tail: buffers added since creation (mod 2^16), published by `publish`.
    tail: u16,
}

impl BufRing {
    fn new(entries: u16) -> io::Result<Self> {
        let ring = Mapping::new(usize::from(entries) * std::mem::size_of::<BufRingEntry>())?;
        let bufs = Mapping::new(usize::from(entries) * RECV_BUF_LEN)?;
        let mut me = Self {
            ring,
            bufs,
            entries,
            tail: 0,
        };
        for bid in 0..entries {
            me.recycle(bid);
        }
        me.publish();
        Ok(me)
    }

    fn base(&self) -> *mut BufRingEntry {
        self.ring.ptr.cast()
    }

    /// Queues buffer `bid` for the kernel (visible after `publish`).
    fn recycle(&mut self, bid: u16) {
        let mask = self.entries - 1;
        let idx = usize::from(self.tail & mask);
        // SAFETY: `idx < entries`, inside the ring mapping. The kernel only reads entries between
        // its head and the published tail; this one is past the published tail, so it is ours.
        // The buffer address is inside the buffer mapping, which outlives the registration.
        unsafe {
            let e = &mut *self.base().add(idx);
            e.set_addr(self.bufs.ptr.add(usize::from(bid) * RECV_BUF_LEN) as u64);
            e.set_len(RECV_BUF_LEN as u32);
            e.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes every recycled buffer visible to the kernel (store-release of the tail).
    fn publish(&self) {
        // SAFETY: the tail is a naturally aligned u16 inside the ring mapping, shared with the
        // kernel, which reads it with acquire semantics; we are its only writer.
        let tail = unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.base()).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }

    /// The whole buffer `bid`.
    ///
    /// # Safety
    /// The kernel must have handed `bid` to us in a completion and it must not be recycled yet.
    unsafe fn buf_mut(&mut self, bid: u16) -> &mut [u8] {
        assert!(bid < self.entries, "buffer id from the kernel out of range");
        // SAFETY: in bounds (checked); the caller guarantees the kernel is not using it.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.bufs.ptr.add(usize::from(bid) * RECV_BUF_LEN),
                RECV_BUF_LEN,
            )
        }
    }
}

/// Most rounds of [`Uring::deliver_held`] per poll.
const HELD_ROUNDS: usize = 64;

/// The `io_uring` backend. See the module documentation.
pub struct Uring {
    // Field order matters for Drop: the ring (closing it ends every request) goes first.
    ring: IoUring,
    bufs: BufRing,
    /// The template `msghdr` every multishot receive was prepared with (only the name and
    /// control lengths are read); boxed so its address is stable.
    recv_msg: Box<libc::msghdr>,
    socks: Vec<Sock>,
    ids: SockIds,
    tx: TxQueue,
    wake_fd: Arc<OwnedFd>,
    wake_armed: bool,
    /// Sockets whose multishot ended during the last drain: re-armed before the next enter.
    rearm: Vec<u32>,
    /// Removed sockets whose cancel could not be queued yet.
    cancels: Vec<u32>,
    /// `SendMsg` entries in flight.
    sends_in_flight: usize,
    /// Where a removed flow socket's last datagrams are read before it closes.
    scratch: Box<FlowScratch>,
    /// Removed flow sockets without a receive in flight: read and closed after the next drain.
    retired_flows: Vec<u32>,
    stats: IoStats,
    errors: ErrorLog,
    /// Which entry of [`SETUPS`] the kernel accepted.
    setup: &'static str,
    /// Receives (socket id to deliver as, buffer id) whose delivery waits for send slots; at most one per
    /// receive buffer, so sized once to the buffer ring.
    held: VecDeque<(u32, u16)>,
}

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uring")
            .field("sockets", &self.socks.len())
            .field("tx", &self.tx)
            .field("stats", &self.stats)
            .finish()
    }
}

/// Setup flag sets tried in order, strongest first (each kernel refusal is `EINVAL`).
/// `SINGLE_ISSUER` needs 6.0, `DEFER_TASKRUN` 6.1, `COOP_TASKRUN` 5.19, `SUBMIT_ALL` 5.18.
pub(crate) const SETUPS: [&str; 4] = [
    "SINGLE_ISSUER|DEFER_TASKRUN|COOP_TASKRUN|SUBMIT_ALL",
    "SINGLE_ISSUER|COOP_TASKRUN|SUBMIT_ALL",
    "SUBMIT_ALL",
    "none",
];

/// Builds the ring with the strongest flag set the kernel accepts; returns it and the set's name.
fn build_ring(sq: u32, cq: u32) -> io::Result<(IoUring, &'static str)> {
    let mut last = None;
    for (attempt, name) in SETUPS.iter().enumerate() {
        let mut b = IoUring::builder();
        b.setup_cqsize(cq).setup_clamp();
        if attempt <= 2 {
            b.setup_submit_all();
        }
        if attempt <= 1 {
            b.setup_coop_taskrun().setup_single_issuer();
        }
        if attempt == 0 {
            b.setup_defer_taskrun();
        }
        match b.build(sq) {
            Ok(r) => {
                if attempt > 0 {
                    tracing::info!("io_uring: ring created with setup flags {name} only");
                }
                return Ok((r, name));
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL)))
}

/// Multishot `RecvMsg` needs Linux 6.0.
fn check_kernel() -> io::Result<()> {
    // SAFETY: `uname` fills a caller-owned struct.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: uname NUL-terminates `release`.
    let release = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) }.to_string_lossy();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if (major, minor) < (6, 0) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("kernel {release} lacks multishot recvmsg (needs 6.0)"),
        ));
    }
    Ok(())
}

impl Uring {
    pub(crate) fn new(cfg: &BackendConfig) -> io::Result<Self> {
        check_kernel()?;
        let entries = cfg.recv_buffers.clamp(1, 32768).next_power_of_two() as u16;
        let sq = cfg.ring_entries.clamp(8, 32768);
        // Room for a full buffer ring of receives plus every send slot, so a normal batch never
        // overflows the CQ (the kernel would buffer an overflow, at a cost).
        let cq = (u32::from(entries) + cfg.tx_slots + 64)
            .next_power_of_two()
            .clamp(2 * sq, 65536);
        let (ring, setup) = build_ring(sq, cq)?;
        let bufs = BufRing::new(entries)?;
        // SAFETY: the ring memory is page aligned (mmap) and, with the buffers it points to,
        // lives in `bufs` for as long as the ring: `Drop` closes the ring before unmapping.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                bufs.ring.ptr as u64,
                entries,
                BGID,
                0,
            )?;
        }
        // SAFETY: all-zero is a valid msghdr.
        let mut recv_msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        recv_msg.msg_namelen = NAME_LEN as libc::socklen_t;
        let mut me = Self {
            ring,
            bufs,
            recv_msg,
            socks: Vec::new(),
            ids: SockIds::default(),
            tx: TxQueue::new(cfg.tx_slots as usize),
            wake_fd: new_eventfd()?,
            wake_armed: false,
            rearm: Vec::new(),
            cancels: Vec::new(),
            sends_in_flight: 0,
            retired_flows: Vec::new(),
            scratch: Box::new(FlowScratch {
                // SAFETY: all-zero is a valid sockaddr_storage.
                name: unsafe { std::mem::zeroed() },
                buf: [0; MAX_DATAGRAM],
            }),
            stats: IoStats::default(),
            errors: ErrorLog::default(),
            setup,
            held: VecDeque::with_capacity(usize::from(entries)),
        };
        me.arm_wake()?;
        // Fail here, not in the first poll, when io_uring is present but unusable.
        me.ring.submit()?;
        Ok(me)
    }

    /// Pushes one entry, submitting early when the SQ is full (one extra `io_uring_enter`).
    /// Fails with `EBUSY`/`EAGAIN` when the kernel takes no more submissions until the CQ is
    /// drained; callers keep or drop the work then, they never spin.
    ///
    /// # Safety
    /// Every buffer the entry points to must stay valid until its final completion.
    unsafe fn push(&mut self, e: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: forwarded from the caller.
            if unsafe { self.ring.submission().push(e) }.is_ok() {
                return Ok(());
            }
            self.stats.syscalls += 1;
            match self.ring.submit() {
                Ok(0) => return Err(io::Error::from_raw_os_error(libc::EBUSY)),
                Ok(_) => {}
                Err(err) if err.raw_os_error() == Some(libc::EINTR) => {}
                Err(err) => return Err(err),
            }
        }
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        let e = opcode::PollAdd::new(Fd(self.wake_fd.as_raw_fd()), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(UD_WAKE);
        // SAFETY: a poll reads no user memory; the eventfd lives as long as `self`.
        unsafe { self.push(&e)? };
        self.wake_armed = true;
        Ok(())
    }

    fn arm_recv(&mut self, id: u32) -> io::Result<()> {
        let s = &self.socks[sock_index(id)];
        let e = opcode::RecvMsgMulti::new(Fd(s.fd), &raw const *self.recv_msg, BGID)
            .build()
            .user_data(UD_RECV | u64::from(id));
        // SAFETY: the kernel reads `recv_msg` (boxed, lives as long as the ring) and writes only
        // into buffers of group BGID, which `bufs` keeps mapped until the ring is closed.
        unsafe { self.push(&e)? };
        self.socks[sock_index(id)].recv_armed = true;
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
            .live(group.0)
            .map(|s| s.deliver_as)
            .ok_or_else(super::unknown_group)?;
        self.add(socket, Some(group))
    }

    fn add(&mut self, socket: UdpSocket, group: Option<u32>) -> io::Result<SockId> {
        let local = socket.local_addr()?;
        // io_uring issues socket operations non-blocking itself (MSG_DONTWAIT, then an internal
        // poll), so the fd's own mode never blocks the worker. On 6.18 an O_NONBLOCK socket works
        // just as well (the tests pass either way); clearing the flag is a defence against
        // kernels that answer O_NONBLOCK files with -EAGAIN completions instead of polling.
        socket.set_nonblocking(false)?;
        let id = self.ids.take()?;
        let sock = Sock {
            id,
            fd: socket.as_raw_fd(),
            socket: Some(socket),
            local,
            recv_armed: false,
            closing: false,
            dead: false,
            sends: 0,
            deliver_as: group.unwrap_or(id),
            flow: group.is_some(),
        };
        if sock_index(id) == self.socks.len() {
            self.socks.push(sock);
        } else {
            self.socks[sock_index(id)] = sock;
        }
        if let Err(e) = self.arm_recv(id) {
            // Nothing in flight names it: close it and free the id at once.
            let s = &mut self.socks[sock_index(id)];
            s.closing = true;
            close_if_idle(s, &mut self.ids);
            return Err(e);
        }
        Ok(SockId(id))
    }

    fn live(&self, id: u32) -> Option<&Sock> {
        self.socks
            .get(sock_index(id))
            .filter(|s| s.id == id && s.socket.is_some() && !s.closing)
    }

    pub(crate) fn remove_socket(&mut self, sock: SockId) {
        if self.live(sock.0).is_none() {
            return;
        }
        let s = &mut self.socks[sock_index(sock.0)];
        s.closing = true;
        if s.flow {
            // Its queue is read once more before it closes (`drain_retired_flow`).
            if let Some(Err(err)) = s.socket.as_ref().map(super::socket::park_flow) {
                self.errors.log("io_uring: parking a flow socket", &err);
            }
            if !s.recv_armed {
                // Nothing will complete for it: read and closed by the next poll.
                self.retired_flows.push(sock.0);
                return;
            }
        }
        if s.recv_armed
            && let Err(err) = self.cancel_recv(sock.0)
        {
            // Datagrams are not delivered meanwhile (`closing`); retry after the next drain.
            self.errors.log("io_uring: cancelling a receive", &err);
            self.cancels.push(sock.0);
        }
        self.maybe_close(sock.0);
    }

    fn cancel_recv(&mut self, id: u32) -> io::Result<()> {
        let e = opcode::AsyncCancel::new(UD_RECV | u64::from(id))
            .build()
            .user_data(UD_CANCEL | u64::from(id));
        // SAFETY: a cancel reads no user memory.
        unsafe { self.push(&e) }
    }

    /// Closes a removed socket once nothing in flight names it, and frees its id.
    fn maybe_close(&mut self, id: u32) {
        close_if_idle(&mut self.socks[sock_index(id)], &mut self.ids);
    }

    /// The ring's setup flags (for logs and tests).
    pub(crate) fn setup_flags(&self) -> &'static str {
        self.setup
    }

    pub(crate) fn local_addr(&self, sock: SockId) -> Option<SocketAddr> {
        self.live(sock.0).map(|s| s.local)
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

    /// Turns every queued slot into a `SendMsg` entry. Returns how many were pushed.
    fn flush_tx(&mut self) -> io::Result<usize> {
        let mut pushed = 0;
        let mut i = 0;
        while i < self.tx.queued().len() {
            let idx = self.tx.queued()[i];
            i += 1;
            let sock = self.tx.sock(idx);
            let Some(s) = self.live(sock.0) else {
                // Unknown or removed socket: drop the datagram.
                self.stats.tx_errors += 1;
                self.tx.release(idx);
                continue;
            };
            let (fd, v6) = (s.fd, s.local.is_ipv6());
            if v6 {
                self.tx.map_v4_destination(idx);
            }
            let e = opcode::SendMsg::new(Fd(fd), self.tx.msghdr(idx))
                .build()
                .user_data(UD_SEND | u64::from(idx));
            // SAFETY: the slot's msghdr, iovec, address and buffer live in the TxQueue pool at
            // fixed addresses; the slot is not reused before this entry's completion releases
            // it, and `Drop` waits for (or leaks past) in-flight sends.
            if let Err(err) = unsafe { self.push(&e) } {
                // Entries pushed so far are in the SQ; drop the rest of the queue.
                for j in i - 1..self.tx.queued().len() {
                    let rest = self.tx.queued()[j];
                    self.tx.release(rest);
                    self.stats.tx_errors += 1;
                }
                self.tx.clear_queued();
                if is_busy(&err) {
                    self.errors
                        .log("io_uring: submission queue stuck, sends dropped", &err);
                    return Ok(pushed);
                }
                return Err(err);
            }
            self.socks[sock_index(sock.0)].sends += 1;
            self.sends_in_flight += 1;
            self.stats.tx_packets += 1;
            pushed += 1;
        }
        self.tx.clear_queued();
        Ok(pushed)
    }

    pub(crate) fn poll<H: Handler>(
        &mut self,
        timeout: Option<Duration>,
        handler: &mut H,
    ) -> io::Result<()> {
        let sends = self.flush_tx()?;
        // Inline send completions are posted during this very enter; wait for one more
        // completion than that so they do not end the wait by themselves. Receives still held
        // from the last poll are work already: do not wait then.
        let want = (sends + 1).min(self.ring.params().cq_entries() as usize);
        let timeout = if self.held.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        self.enter(want, timeout)?;
        self.drain(handler);
        self.deliver_held(handler)?;
        while let Some(id) = self.retired_flows.pop() {
            let s = &mut self.socks[sock_index(id)];
            if s.id != id {
                continue;
            }
            drain_retired_flow(s, &mut self.scratch, &mut self.tx, &mut self.stats, handler);
            close_if_idle(s, &mut self.ids);
        }
        self.rearm_ended()
    }

    /// Delivers the receives [`Self::drain`] held back because the send pool ran low in the
    /// middle of a burst. Completions come in order, so the completions of the sends queued
    /// so far sit behind every receive already in the CQ: delivering those receives first would
    /// find no free slot and drop their fan-out as `no_send_buffer`. Instead: hand the queued
    /// sends to the kernel, collect their completions (which frees their slots; new receives are
    /// held behind the old ones, so order is kept), deliver held receives until the pool is low
    /// again, and repeat. Each round delivers at least one, and at most [`HELD_ROUNDS`] run per
    /// poll so that commands and timers are not starved under a flood; the next poll does not
    /// wait while receives are held.
    fn deliver_held<H: Handler>(&mut self, handler: &mut H) -> io::Result<()> {
        for _ in 0..HELD_ROUNDS {
            if self.held.is_empty() {
                break;
            }
            self.flush_tx()?;
            self.enter(1, Some(Duration::ZERO))?;
            self.drain(handler);
            let mut delivered = false;
            // `id` is the socket to deliver as: a flow socket's group, which outlives it.
            while let Some(&(id, bid)) = self.held.front() {
                if delivered && self.tx.wants_flush() {
                    break;
                }
                self.held.pop_front();
                delivered = true;
                let live = self
                    .socks
                    .get(sock_index(id))
                    .is_some_and(|s| s.id == id && s.socket.is_some() && !s.closing);
                if live {
                    // SAFETY: the kernel handed `bid` to us in a completion and it has not been
                    // recycled since (held buffers are recycled only here); recycled below.
                    let buf = unsafe { self.bufs.buf_mut(bid) };
                    deliver(
                        SockId(id),
                        buf,
                        &self.recv_msg,
                        &mut self.tx,
                        &mut self.stats,
                        &mut self.errors,
                        handler,
                    );
                }
                self.bufs.recycle(bid);
            }
            self.bufs.publish();
        }
        Ok(())
    }

    /// One `io_uring_enter` that submits the SQ and waits for `want` completions or `timeout`.
    fn enter(&mut self, want: usize, timeout: Option<Duration>) -> io::Result<()> {
        let ts = timeout.map(Timespec::from);
        let args = match &ts {
            Some(ts) => SubmitArgs::new().timespec(ts),
            None => SubmitArgs::new(),
        };
        self.stats.syscalls += 1;
        match self.ring.submitter().submit_with_args(want, &args) {
            Ok(_) => Ok(()),
            // ETIME: timeout; EINTR: signal; EBUSY/EAGAIN: CQ backlog, drain and come back.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Re-arms every receive whose multishot ended (the buffers are back by now) and the wake poll.
    fn rearm_ended(&mut self) -> io::Result<()> {
        while let Some(id) = self.cancels.pop() {
            if self.socks[sock_index(id)].recv_armed
                && let Err(e) = self.cancel_recv(id)
            {
                self.cancels.push(id);
                return if is_busy(&e) { Ok(()) } else { Err(e) };
            }
        }
        while let Some(id) = self.rearm.pop() {
            let s = &self.socks[sock_index(id)];
            if s.socket.is_some() && !s.closing && !s.dead && !s.recv_armed {
                match self.arm_recv(id) {
                    Ok(()) => {}
                    Err(e) if is_busy(&e) => {
                        // Try again after the next drain.
                        self.rearm.push(id);
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if !self.wake_armed {
            match self.arm_wake() {
                Err(e) if !is_busy(&e) => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Handles every completion in the CQ. A receive is held back (its buffer kept, in order)
    /// instead of delivered once the send pool wants a flush ([`TxQueue::wants_flush`]) or
    /// while earlier receives are held; [`Self::deliver_held`] delivers those.
    fn drain<H: Handler>(&mut self, handler: &mut H) {
        let Self {
            ring,
            bufs,
            recv_msg,
            socks,
            ids,
            tx,
            wake_fd,
            wake_armed,
            rearm,
            cancels: _,
            retired_flows: _,
            scratch,
            sends_in_flight,
            stats,
            errors,
            setup: _,
            held,
        } = self;
        loop {
            let mut cq = ring.completion();
            if cq.is_empty() {
                break;
            }
            for cqe in cq.by_ref() {
                let ud = cqe.user_data();
                let id = ud as u32;
                let res = cqe.result();
                let more = cqueue::more(cqe.flags());
                match ud & UD_KIND {
                    UD_RECV => {
                        let s = &mut socks[sock_index(id)];
                        if let Some(bid) = cqueue::buffer_select(cqe.flags()) {
                            // A removed flow socket's datagrams still belong to its live group.
                            let wanted = res >= 0 && (!s.closing || s.flow);
                            if wanted && (!held.is_empty() || tx.wants_flush()) {
                                // Delivered by `deliver_held`, after the sends queued so far
                                // have gone out and freed their slots. (Not `continue`: the
                                // end of a multishot must still be seen below.)
                                held.push_back((s.deliver_as, bid));
                            } else {
                                if wanted {
                                    // SAFETY: the kernel handed `bid` to us in this completion;
                                    // it is recycled below, after the handler's borrow has ended.
                                    let buf = unsafe { bufs.buf_mut(bid) };
                                    let sock = SockId(s.deliver_as);
                                    deliver(sock, buf, recv_msg, tx, stats, errors, handler);
                                }
                                bufs.recycle(bid);
                            }
                        }
                        if res < 0 {
                            match -res {
                                libc::ENOBUFS => stats.rx_no_buffer += 1,
                                libc::ECANCELED => {}
                                libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EOPNOTSUPP => {
                                    s.dead = true;
                                    errors.log(
                                        "io_uring: receive failed for good",
                                        &io::Error::from_raw_os_error(-res),
                                    );
                                }
                                e => errors
                                    .log("io_uring: receive", &io::Error::from_raw_os_error(e)),
                            }
                        }
                        if !more {
                            s.recv_armed = false;
                            if !s.closing && !s.dead {
                                rearm.push(id);
                            }
                            drain_retired_flow(s, scratch, tx, stats, handler);
                            close_if_idle(s, ids);
                        }
                    }
                    UD_SEND => {
                        let sock = tx.sock(id);
                        tx.release(id);
                        *sends_in_flight -= 1;
                        if res < 0 {
                            stats.tx_errors += 1;
                            errors.log("io_uring: send", &io::Error::from_raw_os_error(-res));
                        }
                        // The table entry is not reused while this send was in flight.
                        if let Some(s) = socks.get_mut(sock_index(sock.0)) {
                            s.sends -= 1;
                            drain_retired_flow(s, scratch, tx, stats, handler);
                            close_if_idle(s, ids);
                        }
                    }
                    UD_WAKE => {
                        drain_eventfd(wake_fd);
                        stats.syscalls += 1;
                        if !more {
                            *wake_armed = false;
                        }
                        if res >= 0 {
                            handler.on_wake(tx);
                        }
                    }
                    _ => {} // UD_CANCEL: the receive's own final completion does the work.
                }
            }
            drop(cq);
            // Buffers recycled by this batch become visible before anything is re-armed.
            bufs.publish();
        }
    }
}

/// The kernel wants its CQ drained before it takes more submissions.
fn is_busy(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN))
}

/// Hands one received buffer to the handler (or counts why not).
fn deliver<H: Handler>(
    sock: SockId,
    buf: &mut [u8],
    recv_msg: &libc::msghdr,
    tx: &mut TxQueue,
    stats: &mut IoStats,
    errors: &mut ErrorLog,
    handler: &mut H,
) {
    let (from, len) = match RecvMsgOut::parse(buf, recv_msg) {
        Ok(out) if out.is_payload_truncated() => {
            stats.rx_truncated += 1;
            return;
        }
        Ok(out) => (sockaddr::decode(out.name_data()), out.payload_data().len()),
        Err(()) => {
            errors.log(
                "io_uring: malformed recvmsg buffer",
                &io::Error::from(io::ErrorKind::InvalidData),
            );
            return;
        }
    };
    // A family other than IPv4/IPv6 cannot happen on a UDP/IP socket; drop it if it does.
    if let Some(from) = from {
        stats.rx_packets += 1;
        handler.on_datagram(
            sock,
            from,
            &mut buf[PAYLOAD_OFFSET..PAYLOAD_OFFSET + len],
            tx,
        );
    }
}

/// Receive space for [`drain_retired_flow`].
struct FlowScratch {
    name: libc::sockaddr_storage,
    buf: [u8; MAX_DATAGRAM],
}

/// Most datagrams read from a removed flow socket before it closes (a flood must not keep the
/// worker here).
const RETIRE_DRAIN_MAX: usize = 256;

/// A removed flow socket that is about to close (its receive has ended, nothing is in flight)
/// may still hold datagrams the kernel queued after the multishot receive stopped: with
/// `DEFER_TASKRUN` that is everything since the last enter. They belong to the flow's live
/// group, so they are read here with plain non-blocking `recvmsg` calls and delivered as the
/// group's, instead of being lost with the socket.
fn drain_retired_flow<H: Handler>(
    s: &mut Sock,
    scratch: &mut FlowScratch,
    tx: &mut TxQueue,
    stats: &mut IoStats,
    handler: &mut H,
) {
    if !(s.closing && s.flow && !s.recv_armed && s.sends == 0 && s.socket.is_some()) {
        return;
    }
    for _ in 0..RETIRE_DRAIN_MAX {
        let mut iov = libc::iovec {
            iov_base: scratch.buf.as_mut_ptr().cast(),
            iov_len: MAX_DATAGRAM,
        };
        // SAFETY: all-zero is a valid msghdr.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&raw mut scratch.name).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        stats.syscalls += 1;
        // SAFETY: `msg` points at `scratch`'s name and buffer and at `iov`, all alive for this
        // synchronous call; the fd is open (`socket` is `Some`) and no request uses it any more.
        let n = unsafe { libc::recvmsg(s.fd, &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            return; // EAGAIN: empty (or an error: the socket closes anyway).
        }
        if msg.msg_flags & libc::MSG_TRUNC != 0 {
            stats.rx_truncated += 1;
            continue;
        }
        let len = (n as usize).min(MAX_DATAGRAM);
        let Some(from) = sockaddr::decode(sockaddr::storage_bytes(&scratch.name)) else {
            continue;
        };
        stats.rx_packets += 1;
        handler.on_datagram(SockId(s.deliver_as), from, &mut scratch.buf[..len], tx);
    }
}

/// Closes a removed socket once nothing in flight names it, and frees its id.
fn close_if_idle(s: &mut Sock, ids: &mut SockIds) {
    if s.closing && !s.recv_armed && s.sends == 0 && s.socket.is_some() {
        s.socket = None;
        ids.release(s.id);
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        // Cancel every receive and the wake poll, then wait (bounded) until no request can still
        // write a receive buffer or read a send slot. Whatever remains is leaked, not freed.
        for i in 0..self.socks.len() {
            let id = self.socks[i].id;
            if self.socks[i].recv_armed {
                let _ = self.cancel_recv(id);
                self.socks[i].closing = true;
            }
        }
        if self.wake_armed {
            let e = opcode::AsyncCancel::new(UD_WAKE)
                .build()
                .user_data(UD_CANCEL);
            // SAFETY: a cancel reads no user memory.
            let _ = unsafe { self.push(&e) };
        }
        struct Discard;
        impl Handler for Discard {
            fn on_datagram(&mut self, _: SockId, _: SocketAddr, _: &mut [u8], _: &mut TxQueue) {}
            fn on_wake(&mut self, _: &mut TxQueue) {}
        }
        self.tx.clear_queued_releasing();
        let deadline = std::time::Instant::now() + DROP_DRAIN_TIMEOUT;
        let busy = |me: &Self| me.sends_in_flight > 0 || me.socks.iter().any(|s| s.recv_armed);
        while busy(self) && std::time::Instant::now() < deadline {
            let ts = Timespec::from(Duration::from_millis(10));
            let args = SubmitArgs::new().timespec(&ts);
            if let Err(e) = self.ring.submitter().submit_with_args(1, &args)
                && !matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                )
            {
                break;
            }
            self.drain(&mut Discard);
            self.rearm.clear();
        }
        if busy(self) {
            tracing::warn!("io_uring: requests still in flight at shutdown; leaking their buffers");
            self.tx.leak_on_drop();
            // The ring is closed by the field drop below; the memory it may still touch is not
            // unmapped.
            self.bufs.ring.leak();
            self.bufs.bufs.leak();
        }
    }
}
