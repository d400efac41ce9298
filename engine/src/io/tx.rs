//! Pooled send buffers shared by both backends.
use std::net::SocketAddr;

use crate::net::{SockId, Transmit};

/// Datagrams queued for the next submission. Implements [`Transmit`] without allocating.
pub struct TxQueue {
    _private: (),
}

impl Transmit for TxQueue {
    fn send_with<F: FnOnce(&mut [u8]) -> usize>(&mut self, sock: SockId, to: SocketAddr, fill: F) -> bool {
        let _ = (sock, to, fill);
        unimplemented!()
    }
}
