//! Binding UDP sockets: the shared `SO_REUSEPORT` media port, per-transport ports and the
//! connected per-flow sockets that steer a flow of the shared port to its worker.
//!
//! Every socket is non-blocking and asks for 4 MiB kernel buffers (a burst of a few thousand
//! datagrams must not be dropped while a worker is busy); the kernel caps the request at
//! `net.core.rmem_max`/`wmem_max` and a refusal is ignored.
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// Kernel buffer size requested for every socket.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// Binds a non-blocking UDP socket on `addr`; with `reuseport`, joins the `SO_REUSEPORT` group.
pub fn bind_udp(addr: SocketAddr, reuseport: bool) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    if reuseport {
        // Must precede bind: the group is formed by sockets that all set it before binding.
        socket.set_reuse_port(true)?;
    }
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A non-blocking UDP socket bound with `SO_REUSEPORT` on `local` (a reuseport group's address)
/// and `connect`ed to `remote`: the kernel's UDP lookup then gives this socket every datagram
/// from `remote` to `local`, in preference to the unconnected members of the group (a connected
/// socket scores higher, and `reuseport_has_conns` makes the lookup keep scoring instead of
/// taking the group's hash pick; on 6.13+ the 4-tuple hash finds it first).
///
/// An IPv4 `remote` of an IPv6 `local` (a dual-stack `[::]` group) is connected as its
/// IPv4-mapped form, which is how such a peer's datagrams reach an IPv6 socket; an IPv4-mapped
/// `remote` of an IPv4 `local` is unmapped.
///
/// Between `bind` and `connect` the socket is an unconnected member of the group and takes its
/// hash share of every flow; what arrives then stays in its queue after `connect`. Whoever reads
/// it must therefore route by source address, as for the group's own sockets.
pub fn bind_connected_flow(local: SocketAddr, remote: SocketAddr) -> io::Result<UdpSocket> {
    let remote = match (local, remote) {
        (SocketAddr::V6(_), SocketAddr::V4(r)) => {
            SocketAddr::new(r.ip().to_ipv6_mapped().into(), r.port())
        }
        (SocketAddr::V4(_), SocketAddr::V6(r)) => match r.ip().to_ipv4_mapped() {
            Some(ip) => SocketAddr::new(ip.into(), r.port()),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("IPv6 remote {r} for IPv4 address {local}"),
                ));
            }
        },
        _ => remote,
    };
    let socket = bind_udp(local, true)?;
    socket.connect(remote)?;
    Ok(socket)
}

/// Re-connects a flow socket about to be closed to its own local address, a peer that never
/// sends to it (only a datagram spoofing the group's own address would match). From then on
/// the kernel delivers the flow's datagrams to the group again, while what the socket already
/// holds stays in its queue (`connect` does not flush it) to be read before the close. Closing
/// straight away would drop whatever arrived since the last read, and every datagram that
/// arrives until the close. Returns the `connect` error, if any (the caller closes anyway).
pub fn park_flow(socket: &UdpSocket) -> io::Result<()> {
    socket.connect(socket.local_addr()?)
}

/// Binds a non-blocking UDP socket on `ip` and the first free port of `lo..=hi`, trying them in
/// order from a random starting point (so concurrent allocators rarely collide). Fails with
/// [`io::ErrorKind::AddrInUse`] when every port is taken; other errors are returned at once.
pub fn bind_in_range(ip: IpAddr, lo: u16, hi: u16) -> io::Result<UdpSocket> {
    if lo > hi {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("empty port range {lo}..={hi}"),
        ));
    }
    let span = u32::from(hi - lo) + 1;
    let start = rand::random_range(0..span);
    for i in 0..span {
        let port = lo + ((start + i) % span) as u16;
        match bind_udp(SocketAddr::new(ip, port), false) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("every UDP port in {lo}..={hi} on {ip} is in use"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuseport_group_binds_twice() {
        let a = bind_udp("127.0.0.1:0".parse().unwrap(), true).unwrap();
        let port = a.local_addr().unwrap().port();
        let b = bind_udp(SocketAddr::new([127, 0, 0, 1].into(), port), true).unwrap();
        assert_eq!(b.local_addr().unwrap().port(), port);
        // Without reuseport the port is taken.
        let c = bind_udp(SocketAddr::new([127, 0, 0, 1].into(), port), false);
        assert_eq!(c.unwrap_err().kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn ipv6_binds() {
        // Skip quietly where the machine has no IPv6 loopback.
        if let Ok(s) = bind_udp("[::1]:0".parse().unwrap(), false) {
            assert!(s.local_addr().unwrap().is_ipv6());
        }
    }

    #[test]
    fn range_exhaustion_is_addr_in_use() {
        let ip: IpAddr = [127, 0, 0, 1].into();
        // Find a port, then ask for a one-port range holding it.
        let held = bind_udp(SocketAddr::new(ip, 0), false).unwrap();
        let port = held.local_addr().unwrap().port();
        let err = bind_in_range(ip, port, port).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(held);
        let s = bind_in_range(ip, port, port).unwrap();
        assert_eq!(s.local_addr().unwrap().port(), port);
    }
}
