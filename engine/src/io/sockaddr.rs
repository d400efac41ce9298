//! `SocketAddr` ⇄ kernel `sockaddr` bytes, without allocation or unaligned reads.
//!
//! Received names are decoded from byte slices (an `io_uring_recvmsg_out` name field has no
//! particular alignment), sent names are encoded into a slot's `sockaddr_storage`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Length of a `sockaddr_in`.
pub(crate) const SOCKADDR_IN_LEN: usize = std::mem::size_of::<libc::sockaddr_in>();
/// Length of a `sockaddr_in6`.
pub(crate) const SOCKADDR_IN6_LEN: usize = std::mem::size_of::<libc::sockaddr_in6>();

/// Writes `addr` into `storage`; returns the `sockaddr` length to pass to the kernel.
pub(crate) fn encode(addr: SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `sockaddr_storage` is larger than and at least as aligned as `sockaddr_in`.
            unsafe {
                std::ptr::from_mut(storage)
                    .cast::<libc::sockaddr_in>()
                    .write(sin)
            };
            SOCKADDR_IN_LEN as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: `sockaddr_storage` is larger than and at least as aligned as `sockaddr_in6`.
            unsafe {
                std::ptr::from_mut(storage)
                    .cast::<libc::sockaddr_in6>()
                    .write(sin6)
            };
            SOCKADDR_IN6_LEN as libc::socklen_t
        }
    }
}

/// The bytes of a `sockaddr_storage`.
pub(crate) fn storage_bytes(storage: &libc::sockaddr_storage) -> &[u8] {
    // SAFETY: any initialised value can be viewed as bytes; the slice borrows `storage`.
    unsafe {
        std::slice::from_raw_parts(
            std::ptr::from_ref(storage).cast::<u8>(),
            std::mem::size_of::<libc::sockaddr_storage>(),
        )
    }
}

/// Decodes a `sockaddr_in` or `sockaddr_in6` from its bytes (`None` for other families or when
/// the bytes are too short).
pub(crate) fn decode(b: &[u8]) -> Option<SocketAddr> {
    let family = libc::sa_family_t::from_ne_bytes(b.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    match i32::from(family) {
        libc::AF_INET => {
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flow = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(b.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for a in [
            "127.0.0.1:40000".parse::<SocketAddr>().unwrap(),
            "[::1]:5004".parse().unwrap(),
            "[fe80::1%3]:9".parse().unwrap(),
        ] {
            // SAFETY: all-zero is a valid sockaddr_storage.
            let mut s: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            encode(a, &mut s);
            assert_eq!(decode(storage_bytes(&s)), Some(a));
        }
        assert_eq!(decode(&[0u8; 3]), None);
    }
}
