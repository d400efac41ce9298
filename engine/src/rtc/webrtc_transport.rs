//! WebRTC transports (mediasoup's `WebRtcTransport`): ICE-lite, DTLS-SRTP and SRTP on the
//! worker's socket on the shared media port.
//!
//! ```text
//!  shared port datagram ─► WorkerCore::handle_shared(now, from, bytes)
//!     RFC 7983 first byte
//!     ├─ 0–3    STUN ─► transport by source address (a valid tuple) or by USERNAME's ufrag
//!     │                 ─► IceServer::handle_message ─► response to the source
//!     ├─ 20–63  DTLS ─► only from a valid tuple ─► SharedOutcome::Dtls: the worker copies the
//!     │                 record to the control plane, where the transport's DtlsTransport runs
//!     └─ 128–191 SRTP/SRTCP ─► only from a valid tuple, only once keyed ─► unprotect in place
//!                 ─► the producer path of the plain transport; consumers protect in place
//!     anything else, or from an address no transport validated: dropped, counted by reason
//! ```
//!
//! **Which worker.** Before ICE has validated an address the only thing that names a transport
//! is the STUN USERNAME (`<our ufrag>:<theirs>`, RFC 8445 §7.2.2). Every ufrag a worker hands
//! out starts with the worker's index in two hex digits ([`ufrag_owner`]), so any worker that
//! receives a check knows its owner without a table, and without the race a table has (a check
//! arriving at a peer before the peer heard of the transport). A check for another worker is
//! handed to it over the hand-off queue. Once ICE has validated a tuple, the owner tells every
//! other worker (a `SetFlowOwner` command), so DTLS and SRTP from that address, which carry no
//! ufrag, are handed over too; and the first such hand-off makes the owner steer the flow to
//! itself (worker.rs, `steer_flow`: a connected `SO_REUSEPORT` socket the kernel prefers).
//!
//! **DTLS off the worker.** The handshake's public-key crypto would stall forwarding for
//! hundreds of microseconds per flight (DESIGN §2), so records go to the control plane
//! ([`crate::rtc::webrtc_dtls::DtlsDriver`]), whose answers come back as commands sent from this
//! socket to the selected tuple, and whose keys come back as ready SRTP contexts.
//!
//! **No media before keys.** RTP from a transport without SRTP contexts is dropped
//! (`no_srtp`), and nothing is sent to it: a transport whose handshake failed (wrong
//! fingerprint, timeout) never carries media.

use std::net::SocketAddr;

use serde::Serialize;

use super::ice_server::{IceServer, PASSWORD_LEN, UFRAG_LEN, random_ice_chars};
use crate::crypto::dtls::DtlsParameters;
use crate::crypto::srtp::SrtpSession;
use crate::net::SockId;

/// SSRCs one direction of a transport's SRTP keeps state for (media and RTX of every producer or
/// consumer on it, plus probes).
pub const MAX_SRTP_SSRCS: usize = 64;

/// The ICE priority of our host candidate (RFC 8445 §5.1.2.1: type preference 126 for host,
/// local preference 65535, component 1).
pub const HOST_PRIORITY: u32 = (126 << 24) | (65535 << 8) | (256 - 1);

/// The worker index a ufrag of ours names: its first two characters in hex, or `None`.
pub fn ufrag_owner(ufrag: &[u8]) -> Option<usize> {
    let hex = ufrag.get(..2)?;
    let digit = |c: u8| (c as char).to_digit(16);
    Some((digit(hex[0])? * 16 + digit(hex[1])?) as usize)
}

/// Fresh ICE credentials for a transport on worker `index`: the ufrag carries the index.
pub(crate) fn credentials(index: usize) -> (String, String) {
    let mut rng = rand::rng();
    let ufrag = format!(
        "{:02x}{}",
        index % 256,
        random_ice_chars(&mut rng, UFRAG_LEN - 2)
    );
    (ufrag, random_ice_chars(&mut rng, PASSWORD_LEN))
}

/// `iceParameters` as mediasoup-client takes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IceParameters {
    /// Our ufrag.
    pub username_fragment: String,
    /// Our password.
    pub password: String,
    /// Always true: Sluice is an ICE-lite agent.
    pub ice_lite: bool,
}

/// One entry of `iceCandidates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    /// Same for every candidate of the process (one address, one protocol).
    pub foundation: String,
    /// [`HOST_PRIORITY`].
    pub priority: u32,
    /// The address (mediasoup 3.13+ name).
    pub address: String,
    /// The address (older name, still read by mediasoup-client).
    pub ip: String,
    /// Always "udp".
    pub protocol: &'static str,
    /// The shared media port.
    pub port: u16,
    /// Always "host".
    #[serde(rename = "type")]
    pub type_: &'static str,
}

impl IceCandidate {
    pub(crate) fn host(addr: SocketAddr) -> Self {
        IceCandidate {
            foundation: "udpcandidate".into(),
            priority: HOST_PRIORITY,
            address: addr.ip().to_string(),
            ip: addr.ip().to_string(),
            protocol: "udp",
            port: addr.port(),
            type_: "host",
        }
    }
}

/// Options of `create_webrtc_transport`.
#[derive(Debug, Clone)]
pub struct WebRtcTransportOptions {
    /// Our DTLS parameters (the process certificate's fingerprint, role `auto`).
    pub dtls_parameters: DtlsParameters,
    /// Opaque application data.
    pub app_data: serde_json::Value,
}

/// Answer to `create_webrtc_transport`, in mediasoup's shape.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebRtcTransportReply {
    /// The transport's id.
    pub id: uuid::Uuid,
    /// Always "controlled".
    pub ice_role: &'static str,
    /// Our ICE credentials.
    pub ice_parameters: IceParameters,
    /// One host candidate: the shared media port.
    pub ice_candidates: Vec<IceCandidate>,
    /// Our DTLS parameters.
    pub dtls_parameters: DtlsParameters,
}

/// `dtlsState` as mediasoup names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DtlsStateName {
    /// `connect` not called yet.
    New,
    /// Handshake under way.
    Connecting,
    /// Keyed: media flows.
    Connected,
    /// The handshake failed (wrong fingerprint, timeout, alert): no media ever.
    Failed,
    /// Closed by `close_notify`.
    Closed,
}

impl DtlsStateName {
    /// mediasoup's name.
    pub fn as_str(self) -> &'static str {
        match self {
            DtlsStateName::New => "new",
            DtlsStateName::Connecting => "connecting",
            DtlsStateName::Connected => "connected",
            DtlsStateName::Failed => "failed",
            DtlsStateName::Closed => "closed",
        }
    }
}

/// Both SRTP directions of a keyed transport, built on the control plane from the DTLS keys.
pub type WebRtcSrtp = SrtpSession;

#[derive(Debug)]
pub(crate) struct WebRtcTransport {
    pub(crate) ice: IceServer,
    /// This worker's socket on the shared media port.
    pub(crate) sock: SockId,
    /// The candidate's address (announced IP where set).
    pub(crate) local: SocketAddr,
    pub(crate) dtls_parameters: DtlsParameters,
    pub(crate) dtls_state: DtlsStateName,
    pub(crate) srtp: Option<Box<WebRtcSrtp>>,
    /// Next `mid` for a consumer (mediasoup's `nextMidForConsumers`).
    pub(crate) next_mid: u32,
}

impl WebRtcTransport {
    /// Where media for the peer goes: the selected tuple, only once keyed.
    #[inline]
    pub(crate) fn media_destination(&self) -> Option<(SockId, SocketAddr)> {
        self.srtp.as_ref()?;
        self.ice.selected_tuple().map(|t| (self.sock, t))
    }

    pub(crate) fn ice_parameters(&self) -> IceParameters {
        IceParameters {
            username_fragment: self.ice.username_fragment().to_owned(),
            password: self.ice.password().to_owned(),
            ice_lite: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ufrag_names_its_worker() {
        for w in [0usize, 1, 7, 15, 200] {
            let (u, p) = credentials(w);
            assert_eq!(ufrag_owner(u.as_bytes()), Some(w));
            assert!(IceServer::with_credentials(&u, &p).is_ok());
        }
        assert_eq!(ufrag_owner(b"zz12"), None);
        assert_eq!(ufrag_owner(b"a"), None);
    }
}
