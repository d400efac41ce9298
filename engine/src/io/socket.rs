//! Binding UDP sockets: the shared `SO_REUSEPORT` media port and per-transport ports.
use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Binds a non-blocking UDP socket on `addr`; with `reuseport`, joins the `SO_REUSEPORT` group.
pub fn bind_udp(addr: SocketAddr, reuseport: bool) -> io::Result<UdpSocket> {
    let _ = (addr, reuseport);
    unimplemented!()
}
