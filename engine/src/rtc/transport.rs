//! Transports: where media enters and leaves a router: plain (RTP over UDP on a port of its
//! own) and WebRTC (ICE-lite, DTLS-SRTP on the shared media port, see
//! [`super::webrtc_transport`]); pipe transports will extend [`TransportKind`].
//!
//! A plain transport owns one UDP socket (two when `rtcpMux` is off), bound by the worker on a
//! port of its own from `--rtc-ports`, as mediasoup's PlainTransport has its own tuple. Its remote
//! is given by `connect` or, with `comedia`, learned from the first datagram received.

use std::net::SocketAddr;

use rustc_hash::FxHashMap;
use serde::Serialize;
use uuid::Uuid;

use super::rtp_listener::RtpListener;
use super::webrtc_transport::WebRtcTransport;
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
    /// SDES-SRTP: our suite and `key ‖ salt`, when created with `enableSrtp`.
    pub(crate) srtp_local: Option<(crate::crypto::srtp::SrtpProfile, Vec<u8>)>,
    /// Both contexts, once the remote's key came with `connect`.
    pub(crate) srtp: Option<Box<crate::crypto::srtp::SrtpSession>>,
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
    WebRtc(Box<WebRtcTransport>),
}

/// Per-transport traffic counters (mediasoup's transport stats).
#[derive(Debug, Default)]
pub(crate) struct TransportCounters {
    pub(crate) bytes_received: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) rtp_packets_received: u64,
    pub(crate) rtp_packets_sent: u64,
    pub(crate) rtcp_packets_received: u64,
    /// Transport-wide sequence number of the last RTP packet sent with that extension
    /// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2; mediasoup's
    /// `transportWideCcSeq`): every transport numbers its own packets.
    pub(crate) transport_cc_seq: u16,
}

#[derive(Debug)]
pub(crate) struct Transport {
    pub(crate) id: Uuid,
    pub(crate) router: usize,
    pub(crate) kind: TransportKind,
    pub(crate) producers: Vec<usize>,
    pub(crate) consumers: Vec<usize>,
    /// Producer slab index for each SSRC a producer on this transport announced or that
    /// [`RtpListener`] learnt. Looked up per packet by an SSRC from the network, but filled
    /// only with signalled SSRCs or ones learnt for a signalled MID/RID encoding (each layer
    /// binds once), so it is bounded by the transport's producers and Fx instead of SipHash
    /// carries no HashDoS risk.
    pub(crate) ssrc_table: FxHashMap<u32, usize>,
    /// MID and RID tables for SSRCs not announced ([`super::rtp_listener`]).
    pub(crate) listener: RtpListener,
    pub(crate) counters: TransportCounters,
    pub(crate) app_data: serde_json::Value,
}

impl Transport {
    pub(crate) fn plain_mut(&mut self) -> Option<&mut PlainTransport> {
        match &mut self.kind {
            TransportKind::Plain(p) => Some(p),
            TransportKind::WebRtc(_) => None,
        }
    }

    pub(crate) fn webrtc(&self) -> Option<&WebRtcTransport> {
        match &self.kind {
            TransportKind::WebRtc(w) => Some(w),
            TransportKind::Plain(_) => None,
        }
    }

    pub(crate) fn webrtc_mut(&mut self) -> Option<&mut WebRtcTransport> {
        match &mut self.kind {
            TransportKind::WebRtc(w) => Some(w),
            TransportKind::Plain(_) => None,
        }
    }

    /// Where RTP for this transport's remote goes, and from which socket.
    #[inline]
    pub(crate) fn rtp_destination(&self) -> Option<(SockId, SocketAddr)> {
        match &self.kind {
            // A transport that asked for SRTP sends nothing until it is keyed.
            TransportKind::Plain(p) if p.srtp_local.is_some() && p.srtp.is_none() => None,
            TransportKind::Plain(p) => p.remote.map(|r| (p.sock, r)),
            TransportKind::WebRtc(w) => w.media_destination(),
        }
    }

    /// The outbound SRTP context of a keyed WebRTC transport.
    #[inline]
    pub(crate) fn srtp_outbound(&mut self) -> Option<&mut crate::crypto::srtp::SrtpContext> {
        match &mut self.kind {
            TransportKind::WebRtc(w) => w.srtp.as_mut().map(|s| &mut s.outbound),
            TransportKind::Plain(p) => p.srtp.as_mut().map(|s| &mut s.outbound),
        }
    }

    /// Where RTCP for this transport's remote goes, and from which socket (the RTCP socket
    /// and port when `rtcpMux` is off).
    pub(crate) fn rtcp_destination(&self) -> Option<(SockId, SocketAddr)> {
        match &self.kind {
            // Nothing, not even RTCP, before an SRTP transport is keyed.
            TransportKind::Plain(p) if p.srtp_local.is_some() && p.srtp.is_none() => None,
            TransportKind::Plain(p) => match p.rtcp {
                Some((sock, _)) => p.rtcp_remote.map(|r| (sock, r)),
                None => p.remote.map(|r| (p.sock, r)),
            },
            TransportKind::WebRtc(w) => w.media_destination(),
        }
    }

    /// The SSRC Sluice's own RTCP on this transport (receiver reports, key frame requests)
    /// is sent from: fixed per transport, taken from its random id.
    pub(crate) fn rtcp_ssrc(&self) -> u32 {
        (self.id.as_u128() as u32).max(1)
    }

    /// The local address and, once known, the remote (a WebRTC transport's selected tuple).
    pub(crate) fn tuple(&self) -> TransportTuple {
        match &self.kind {
            TransportKind::Plain(p) => TransportTuple::new(p.local, p.remote),
            TransportKind::WebRtc(w) => TransportTuple::new(w.local, w.ice.selected_tuple()),
        }
    }
}
