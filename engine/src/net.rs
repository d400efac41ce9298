//! The seam between the sans-IO core (`rtc`) and the kernel-facing layer (`io`).
//!
//! `rtc` never sees a socket; it sees a [`SockId`] handed to it when a socket was registered,
//! and queues datagrams through [`Transmit`]. `io` implements [`Transmit`] by writing straight
//! into its own pooled send buffers, so a forwarded packet is copied exactly once (receive buffer
//! → send buffer) and rewritten in place there.

use std::net::SocketAddr;

/// A socket registered with a worker's I/O backend. Opaque to everything above `io`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SockId(pub u32);

/// Size of every send and receive buffer: one Ethernet MTU plus SRTP/RTCP trailers, rounded up.
pub const MAX_DATAGRAM: usize = 2048;

/// Something that queues datagrams for sending.
pub trait Transmit {
    /// Queues one datagram to `to` from socket `sock`. `fill` receives a zeroed-or-stale buffer
    /// of [`MAX_DATAGRAM`] bytes, writes the datagram at its start and returns its length.
    ///
    /// Returns `false` when the datagram could not be queued (no free send buffer); the caller
    /// counts it as a drop. Never allocates.
    fn send_with<F: FnOnce(&mut [u8]) -> usize>(
        &mut self,
        sock: SockId,
        to: SocketAddr,
        fill: F,
    ) -> bool;

    /// Queues a copy of `bytes`.
    fn send(&mut self, sock: SockId, to: SocketAddr, bytes: &[u8]) -> bool {
        if bytes.len() > MAX_DATAGRAM {
            return false;
        }
        self.send_with(sock, to, |buf| {
            buf[..bytes.len()].copy_from_slice(bytes);
            bytes.len()
        })
    }
}

/// A [`Transmit`] that collects datagrams in memory: for sans-IO tests and the slow path.
#[derive(Default, Debug)]
pub struct VecTransmit {
    /// Queued datagrams, oldest first.
    pub sent: Vec<(SockId, SocketAddr, Vec<u8>)>,
}

impl Transmit for VecTransmit {
    fn send_with<F: FnOnce(&mut [u8]) -> usize>(
        &mut self,
        sock: SockId,
        to: SocketAddr,
        fill: F,
    ) -> bool {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let n = fill(&mut buf);
        buf.truncate(n);
        self.sent.push((sock, to, buf));
        true
    }
}
