//! [`WebRtcPeer`]: the browser's side of a WebRTC transport, sans-IO, built from Sluice's own
//! modules: a controlling ICE agent's Binding requests (RFC 8445 §7.2.4, written with
//! [`crate::wire::stun::MessageWriter`]), a [`DtlsTransport`] with a certificate of its own, and
//! SRTP contexts from its keys. Tests use it to act as a browser against the core or the real
//! binary; the load generator can use it to drive SRTP through Sluice.
//!
//! It checks what a browser checks: a Binding response must carry our transaction id,
//! MESSAGE-INTEGRITY with the server's password and a FINGERPRINT; SRTP must authenticate.
//! It is not a full ICE agent (one candidate pair, no pacing, no role conflicts).

use std::net::SocketAddr;
use std::time::Instant;

use super::webrtc_dtls::srtp_from_keys;
use super::webrtc_transport::WebRtcSrtp;
use crate::crypto::dtls::{
    DtlsCertificate, DtlsConfig, DtlsError, DtlsEvent, DtlsFingerprint, DtlsParameters, DtlsRole,
    DtlsSide, DtlsState, DtlsTransport, parse_remote_fingerprints,
};
use crate::crypto::srtp::SrtpError;
use crate::wire::demux::{PacketKind, classify};
use crate::wire::stun::{Class, IntegrityKey, METHOD_BINDING, MessageWriter, StunMessage};

/// What a datagram from the server was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerInput {
    /// A Binding success response that verified; its XOR-MAPPED-ADDRESS.
    BindingSuccess(Option<SocketAddr>),
    /// A STUN message that did not verify, or not ours.
    BadStun,
    /// A DTLS record, fed to the handshake.
    Dtls,
    /// An RTP packet, decrypted.
    Rtp(Vec<u8>),
    /// An RTCP compound packet, decrypted.
    Rtcp(Vec<u8>),
    /// SRTP that did not authenticate, or media before keys.
    Undecryptable,
    /// Anything else.
    Unknown,
}

/// The browser's side of one WebRTC transport. See the module docs.
pub struct WebRtcPeer {
    ufrag: String,
    remote_ufrag: String,
    remote_key: IntegrityKey,
    certificate: DtlsCertificate,
    dtls: Option<DtlsTransport>,
    srtp: Option<WebRtcSrtp>,
    next_tid: u64,
    last_tid: [u8; 12],
}

impl std::fmt::Debug for WebRtcPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcPeer")
            .field("ufrag", &self.ufrag)
            .field("keyed", &self.srtp.is_some())
            .finish_non_exhaustive()
    }
}

impl WebRtcPeer {
    /// A peer for the server's `iceParameters` (ufrag, password), with a fresh certificate.
    pub fn new(remote_ufrag: &str, remote_password: &str) -> Result<Self, DtlsError> {
        Ok(WebRtcPeer {
            ufrag: format!("peer{:08x}", rand::random::<u32>()),
            remote_ufrag: remote_ufrag.to_owned(),
            remote_key: IntegrityKey::new(remote_password.as_bytes()),
            certificate: DtlsCertificate::generate()?,
            dtls: None,
            srtp: None,
            next_tid: 1,
            last_tid: [0; 12],
        })
    }

    /// Our `dtlsParameters` for `connect`, announcing `role`.
    pub fn dtls_parameters(&self, role: DtlsRole) -> DtlsParameters {
        DtlsParameters {
            role,
            ..self.certificate.local_parameters()
        }
    }

    /// A Binding request as a controlling browser sends it; `nominate` adds USE-CANDIDATE.
    pub fn binding_request(&mut self, nominate: bool) -> Vec<u8> {
        self.signed_request(nominate, None)
    }

    /// A Binding request signed with `password` instead of the server's (to test rejection).
    pub fn binding_request_with_password(&mut self, password: &str) -> Vec<u8> {
        self.signed_request(false, Some(IntegrityKey::new(password.as_bytes())))
    }

    fn signed_request(&mut self, nominate: bool, other_key: Option<IntegrityKey>) -> Vec<u8> {
        let mut tid = [0u8; 12];
        tid[4..].copy_from_slice(&self.next_tid.to_be_bytes());
        self.next_tid += 1;
        self.last_tid = tid;
        let key = other_key.as_ref().unwrap_or(&self.remote_key);
        let username = format!("{}:{}", self.remote_ufrag, self.ufrag);
        let mut buf = [0u8; 256];
        let mut w = MessageWriter::new(&mut buf, Class::Request, METHOD_BINDING, &tid)
            .expect("a 256-byte buffer holds a STUN header");
        w.username(username.as_bytes())
            .and_then(|_| w.priority(0x6e00_1eff))
            .and_then(|_| w.ice_controlling(0x1234_5678_9abc_def0))
            .and_then(|_| if nominate { w.use_candidate() } else { Ok(()) })
            .and_then(|_| w.message_integrity(key))
            .and_then(|_| w.fingerprint())
            .expect("a Binding request fits 256 bytes");
        let n = w.finish();
        buf[..n].to_vec()
    }

    /// Starts the handshake as `side`, checking the server against `server_fingerprints`
    /// (what `createWebRtcTransport` answered). A client queues its ClientHello.
    pub fn start_dtls(
        &mut self,
        now: Instant,
        side: DtlsSide,
        server_fingerprints: &[DtlsFingerprint],
    ) -> Result<(), DtlsError> {
        let fps = parse_remote_fingerprints(server_fingerprints)?;
        self.dtls = Some(DtlsTransport::new(
            &self.certificate,
            &DtlsConfig::default(),
            side,
            fps,
            now,
        ));
        Ok(())
    }

    /// The handshake's state, once started.
    pub fn dtls_state(&self) -> Option<DtlsState> {
        self.dtls.as_ref().map(|d| d.state())
    }

    /// Whether SRTP keys are in.
    pub fn is_keyed(&self) -> bool {
        self.srtp.is_some()
    }

    /// The next DTLS datagram to send to the server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.dtls.as_mut()?.poll_transmit()
    }

    /// DTLS timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.dtls.as_mut() {
            d.handle_timeout(now);
        }
        self.take_keys();
    }

    /// One datagram from the server.
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) -> PeerInput {
        match classify(data) {
            PacketKind::Stun => self.on_stun(data),
            PacketKind::Dtls => {
                if let Some(d) = self.dtls.as_mut() {
                    let _ = d.handle_datagram(now, data);
                }
                self.take_keys();
                PeerInput::Dtls
            }
            kind @ (PacketKind::Rtp | PacketKind::Rtcp) => {
                let Some(srtp) = self.srtp.as_mut() else {
                    return PeerInput::Undecryptable;
                };
                let mut buf = data.to_vec();
                let opened = if kind == PacketKind::Rtp {
                    srtp.inbound.unprotect_rtp(&mut buf)
                } else {
                    srtp.inbound.unprotect_rtcp(&mut buf)
                };
                match opened {
                    Ok(n) => {
                        buf.truncate(n);
                        if kind == PacketKind::Rtp {
                            PeerInput::Rtp(buf)
                        } else {
                            PeerInput::Rtcp(buf)
                        }
                    }
                    Err(_) => PeerInput::Undecryptable,
                }
            }
            PacketKind::Unknown => PeerInput::Unknown,
        }
    }

    fn on_stun(&self, data: &[u8]) -> PeerInput {
        let Ok(msg) = StunMessage::parse(data) else {
            return PeerInput::BadStun;
        };
        let ok = msg.class() == Class::SuccessResponse
            && *msg.transaction_id() == self.last_tid
            && msg.verify_fingerprint().is_ok()
            && msg.verify_integrity(&self.remote_key).is_ok();
        if ok {
            PeerInput::BindingSuccess(msg.xor_mapped_address())
        } else {
            PeerInput::BadStun
        }
    }

    fn take_keys(&mut self) {
        let Some(d) = self.dtls.as_mut() else {
            return;
        };
        while let Some(e) = d.poll_event() {
            if let DtlsEvent::Connected(keys) = e {
                self.srtp = srtp_from_keys(&keys).ok();
            }
        }
    }

    /// Protects an RTP packet for the server.
    pub fn protect_rtp(&mut self, rtp: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let srtp = self.srtp.as_mut().ok_or(SrtpError::KeyLength)?;
        let mut buf = rtp.to_vec();
        buf.resize(rtp.len() + 64, 0);
        let n = srtp.outbound.protect_rtp(&mut buf, rtp.len())?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Protects an RTCP compound packet for the server.
    pub fn protect_rtcp(&mut self, rtcp: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let srtp = self.srtp.as_mut().ok_or(SrtpError::KeyLength)?;
        let mut buf = rtcp.to_vec();
        buf.resize(rtcp.len() + 64, 0);
        let n = srtp.outbound.protect_rtcp(&mut buf, rtcp.len())?;
        buf.truncate(n);
        Ok(buf)
    }
}
