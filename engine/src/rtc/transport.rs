//! Transports: where media enters and leaves a router. Only the plain (RTP over UDP) transport
//! exists so far; WebRTC and pipe transports extend [`TransportKind`].
//!
//! A plain transport owns one UDP socket (two when `rtcpMux` is off), bound by the worker on a
//! port of its own from `--rtc-ports`, as mediasoup's PlainTransport has its own tuple. Its remote
//! is given by `connect` or, with `comedia`, learned from the first datagram received.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde::Serialize;
use uuid::Uuid;

use crate::net::SockId;

/// A transport's 5-tuple as mediasoup reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransportTuple {
    /// Local IP address.
    pub local_address: String,
    /// Local port.
    pub local_port: u16,
    /// Remote IP, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// Remote port, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_port: Option<u16>,
    /// Always "udp".
    pub protocol: &'static str,
}

impl TransportTuple {
    pub(crate) fn new(local: SocketAddr, remote: Option<SocketAddr>) -> Self {
        Self {
            local_address: local.ip().to_string(),
            local_port: local.port(),
            remote_ip: remote.map(|r| r.ip().to_string()),
            remote_port: remote.map(|r| r.port()),
            protocol: "udp",
        }
    }
}

#[derive(Debug)]
pub(crate) struct PlainTransport {
    pub(crate) sock: SockId,
    pub(crate) local: SocketAddr,
    /// Separate RTCP socket when `rtcpMux` is off.
    pub(crate) rtcp: Option<(SockId, SocketAddr)>,
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) rtcp_remote: Option<SocketAddr>,
    pub(crate) comedia: bool,
    pub(crate) connected: bool,
}

impl PlainTransport {
    pub(crate) fn rtcp_mux(&self) -> bool {
        self.rtcp.is_none()
    }

    pub(crate) fn sockets(&self) -> Vec<SockId> {
        let mut v = vec![self.sock];
        if let Some((s, _)) = self.rtcp {
            v.push(s);
        }
        v
    }
}

#[derive(Debug)]
pub(crate) enum TransportKind {
    Plain(PlainTransport),
}

/// Per-transport traffic counters (mediasoup's transport stats).
#[derive(Debug, Default)]
pub(crate) struct TransportCounters {
    pub(crate) bytes_received: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) rtp_packets_received: u64,
    pub(crate) rtp_packets_sent: u64,
    pub(crate) rtcp_packets_received: u64,
}

#[derive(Debug)]
pub(crate) struct Transport {
    pub(crate) id: Uuid,
    pub(crate) router: usize,
    pub(crate) kind: TransportKind,
    pub(crate) producers: Vec<usize>,
    pub(crate) consumers: Vec<usize>,
    /// Producer slab index for each SSRC a producer on this transport announced.
    pub(crate) ssrc_table: HashMap<u32, usize>,
    pub(crate) counters: TransportCounters,
    pub(crate) app_data: serde_json::Value,
}

impl Transport {
    pub(crate) fn plain(&self) -> &PlainTransport {
        match &self.kind {
            TransportKind::Plain(p) => p,
        }
    }

    pub(crate) fn plain_mut(&mut self) -> &mut PlainTransport {
        match &mut self.kind {
            TransportKind::Plain(p) => p,
        }
    }

    /// Where RTP for this transport's remote goes, and from which socket.
    #[inline]
    pub(crate) fn rtp_destination(&self) -> Option<(SockId, SocketAddr)> {
        let p = self.plain();
        p.remote.map(|r| (p.sock, r))
    }

    /// Where RTCP for this transport's remote goes, and from which socket (the RTCP socket
    /// and port when `rtcpMux` is off).
    pub(crate) fn rtcp_destination(&self) -> Option<(SockId, SocketAddr)> {
        match &self.kind {
            TransportKind::Plain(p) => match p.rtcp {
                Some((sock, _)) => p.rtcp_remote.map(|r| (sock, r)),
                None => p.remote.map(|r| (p.sock, r)),
            },
        }
    }

    /// The SSRC Sluice's own RTCP on this transport (receiver reports, key frame requests)
    /// is sent from: fixed per transport, taken from its random id.
    pub(crate) fn rtcp_ssrc(&self) -> u32 {
        (self.id.as_u128() as u32).max(1)
    }

    pub(crate) fn tuple(&self) -> TransportTuple {
        let p = self.plain();
        TransportTuple::new(p.local, p.remote)
    }
}
