//! Pooled send buffers shared by both backends.
//!
//! A [`TxQueue`] owns a fixed pool of send slots, allocated once when the backend starts. Each slot
//! holds a [`MAX_DATAGRAM`] buffer, the destination's `sockaddr`, an `iovec` and a `msghdr` that
//! point at them, so a queued datagram is a ready-made `sendmsg` argument: the `uring` backend
//! hands the slot's `msghdr` to a `SendMsg` entry, the `mmsg` backend copies it into a `sendmmsg`
//! vector. The pool never grows and never moves, so those self-pointers stay valid, and queueing a
//! datagram allocates nothing: [`Transmit::send_with`] pops a free slot, lets the caller fill the
//! buffer in place and records the destination. A slot goes back to the free list when the
//! kernel is done with it (its send completion, or right after `sendmmsg`).

use std::alloc::{self, Layout};
use std::net::SocketAddr;
use std::ptr::NonNull;

use crate::net::{MAX_DATAGRAM, SockId, Transmit};

use super::sockaddr;

/// One send buffer with everything `sendmsg` needs. Lives in the pool at a fixed address.
#[repr(C)]
pub(crate) struct Slot {
    buf: [u8; MAX_DATAGRAM],
    addr: libc::sockaddr_storage,
    iov: libc::iovec,
    msg: libc::msghdr,
    sock: SockId,
    /// Queueing order, to keep per-socket order when `mmsg` groups datagrams by socket.
    seq: u64,
}

/// Datagrams queued for the next submission. Implements [`Transmit`] without allocating.
pub struct TxQueue {
    /// `cap` slots allocated (zeroed) at construction; freed in `Drop` unless `leak` is set.
    slots: NonNull<Slot>,
    cap: usize,
    /// Indices of free slots (a stack: the most recently freed slot is warm in cache).
    free: Vec<u32>,
    /// Indices of filled slots waiting for the next submission, in queueing order.
    queued: Vec<u32>,
    next_seq: u64,
    no_buffer: u64,
    /// Set when the kernel may still read some slot at drop time (see [`TxQueue::leak_on_drop`]).
    leak: bool,
}

impl TxQueue {
    /// A pool of `cap` send slots (at least one).
    pub(crate) fn new(cap: usize) -> Self {
        let cap = cap.clamp(1, u32::MAX as usize);
        let layout = Layout::array::<Slot>(cap).expect("send pool size overflows a Layout");
        // SAFETY: `layout` has a non-zero size (cap >= 1, Slot is not zero-sized). All-zero bytes
        // are a valid `Slot`: byte arrays, plain C structs whose pointers may be null, integers.
        let raw = unsafe { alloc::alloc_zeroed(layout) }.cast::<Slot>();
        let Some(slots) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        for i in 0..cap {
            // SAFETY: `i < cap`, so the slot lies inside the allocation made above, which is
            // never moved or resized while the queue lives; the self-pointers written here stay
            // valid as long as the slot does, and the kernel reads them only while the slot is
            // in flight (the backend keeps the queue alive until then).
            unsafe {
                let s = slots.as_ptr().add(i);
                (*s).iov.iov_base = (&raw mut (*s).buf).cast();
                (*s).msg.msg_name = (&raw mut (*s).addr).cast();
                (*s).msg.msg_iov = &raw mut (*s).iov;
                (*s).msg.msg_iovlen = 1;
            }
        }
        let free = (0..cap as u32).rev().collect();
        Self {
            slots,
            cap,
            free,
            queued: Vec::with_capacity(cap),
            next_seq: 0,
            no_buffer: 0,
            leak: false,
        }
    }

    /// Free send slots right now: how many more datagrams can be queued before the next `poll`.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Whether the backend should hand the queued datagrams to the kernel before delivering the
    /// next received one: fewer than half the slots are free and some are waiting. Without this, a
    /// burst of receives in one `poll` fanned out to many consumers exhausts the pool long before
    /// the flush at the next `poll`, and the rest of the burst is dropped as `no_send_buffer`.
    #[inline]
    pub(crate) fn wants_flush(&self) -> bool {
        !self.queued.is_empty() && self.free.len() < self.cap / 2
    }

    /// Size of the pool.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Datagrams refused because no slot was free, since creation.
    pub(crate) fn no_buffer(&self) -> u64 {
        self.no_buffer
    }

    /// Slots filled since the last flush, oldest first.
    pub(crate) fn queued(&self) -> &[u32] {
        &self.queued
    }

    /// Forgets the queued list after the backend took every entry in it (sent, or released).
    pub(crate) fn clear_queued(&mut self) {
        self.queued.clear();
    }

    /// Drops every queued datagram (returns its slot to the free list).
    pub(crate) fn clear_queued_releasing(&mut self) {
        while let Some(idx) = self.queued.pop() {
            self.free.push(idx);
        }
    }

    /// Sorts the queued slots by socket, keeping queueing order within a socket.
    pub(crate) fn sort_queued_by_socket(&mut self) {
        let slots = self.slots;
        self.queued.sort_unstable_by_key(|&i| {
            // SAFETY: queued indices are < cap (they come from `free`); reading two plain fields.
            let s = unsafe { &*slots.as_ptr().add(i as usize) };
            (s.sock, s.seq)
        });
    }

    fn slot(&self, idx: u32) -> *mut Slot {
        assert!((idx as usize) < self.cap, "send slot index out of range");
        // SAFETY: in bounds of the allocation, checked above.
        unsafe { self.slots.as_ptr().add(idx as usize) }
    }

    /// The socket a queued slot is to be sent from.
    pub(crate) fn sock(&self, idx: u32) -> SockId {
        // SAFETY: `slot` returns an in-bounds pointer; the field is plain data that no one else
        // writes while we read it (the kernel only reads the buffer, address and headers).
        unsafe { (*self.slot(idx)).sock }
    }

    /// The slot's `msghdr`, ready for `sendmsg`. Its address is stable for the queue's lifetime.
    pub(crate) fn msghdr(&self, idx: u32) -> *const libc::msghdr {
        // SAFETY: in-bounds pointer; taking a field's address reads nothing.
        unsafe { &raw const (*self.slot(idx)).msg }
    }

    /// Rewrites an IPv4 destination as IPv4-mapped IPv6, for sending from an IPv6 socket.
    pub(crate) fn map_v4_destination(&mut self, idx: u32) {
        let s = self.slot(idx);
        // SAFETY: the slot is queued, not in flight: nothing but us touches it now.
        unsafe {
            if (*s).addr.ss_family == libc::AF_INET as libc::sa_family_t
                && let Some(SocketAddr::V4(v4)) =
                    sockaddr::decode(sockaddr::storage_bytes(&(*s).addr))
            {
                let mapped = SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port());
                (*s).msg.msg_namelen = sockaddr::encode(mapped, &mut (*s).addr);
            }
        }
    }

    /// Returns a slot to the free list once the kernel no longer reads it.
    pub(crate) fn release(&mut self, idx: u32) {
        debug_assert!((idx as usize) < self.cap);
        debug_assert!(self.free.len() < self.cap, "send slot released twice");
        // Never reallocates: `free` was created with `cap` entries and holds at most `cap`.
        self.free.push(idx);
    }

    /// Asks `Drop` not to free the pool: used when a backend cannot prove the kernel is done.
    pub(crate) fn leak_on_drop(&mut self) {
        self.leak = true;
    }
}

impl Transmit for TxQueue {
    fn send_with<F: FnOnce(&mut [u8]) -> usize>(
        &mut self,
        sock: SockId,
        to: SocketAddr,
        fill: F,
    ) -> bool {
        let Some(idx) = self.free.pop() else {
            self.no_buffer += 1;
            return false;
        };
        let s = self.slot(idx);
        // SAFETY: `idx` came from the free list, so the kernel is not using this slot and no
        // other reference to it exists; the borrow ends before the slot is queued.
        let slot = unsafe { &mut *s };
        let len = fill(&mut slot.buf).min(MAX_DATAGRAM);
        slot.iov.iov_len = len;
        slot.msg.msg_namelen = sockaddr::encode(to, &mut slot.addr);
        slot.sock = sock;
        slot.seq = self.next_seq;
        self.next_seq += 1;
        // Never reallocates: capacity `cap`, and a slot is queued at most once.
        self.queued.push(idx);
        true
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        if self.leak {
            return;
        }
        let layout = Layout::array::<Slot>(self.cap).expect("layout was valid at construction");
        // SAFETY: allocated in `new` with this layout; the owning backend waited for every send
        // to complete (or set `leak`), so the kernel no longer reads any slot.
        unsafe { alloc::dealloc(self.slots.as_ptr().cast(), layout) }
    }
}

impl std::fmt::Debug for TxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxQueue")
            .field("capacity", &self.cap)
            .field("free", &self.free.len())
            .field("queued", &self.queued.len())
            .finish()
    }
}
