//! One simulated WebRTC client, sans-IO: the browser's side of one WebRTC transport, built from
//! the engine's own STUN writer, DTLS transport and SRTP contexts, so the load generator's
//! clients do exactly what a browser does on the wire and nothing more.
//!
//! - ICE (RFC 8445 §7.2.4, aggressive nomination as browsers toward an ICE-lite server): a
//!   Binding request with USE-CANDIDATE, ICE-CONTROLLING, PRIORITY, MESSAGE-INTEGRITY (the
//!   server's password, RFC 8445 §7.2.2) and FINGERPRINT, retransmitted every
//!   [`CHECK_RETRY`] until a verified success response; then a consent check (RFC 7675 §5.1)
//!   every `consent` interval for as long as the client lives. Binding requests from the server
//!   (Janus's libnice sends them even in ICE-lite mode, and nominates only on an answered one)
//!   are verified with the client's own password and answered (RFC 8445 §7.3.1.4); Sluice and
//!   mediasoup send none.
//! - DTLS (RFC 5763 §5): the client side, started after the first verified Binding response,
//!   checking the server's certificate against the fingerprints the API answered. Its keys
//!   (RFC 5764 §4.2) give the SRTP session. Where the server is the DTLS client (a Janus
//!   publisher's PeerConnection: Janus answers `a=setup:active`), the client is the DTLS server
//!   instead ([`Offer::dtls_server`]).
//! - SRTP/SRTCP (RFC 3711): media is protected in the send buffer and unprotected in the
//!   receive buffer, in place, with no allocation per packet.
//!
//! All clients of a run share one certificate: a browser makes one per peer connection, but the
//! server's per-handshake work (verifying the certificate, ECDHE) is the same either way.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sluice_engine::crypto::dtls::{
    DtlsCertificate, DtlsConfig, DtlsError, DtlsEvent, DtlsFingerprint, DtlsSide, DtlsState,
    DtlsTransport, parse_remote_fingerprints,
};
use sluice_engine::crypto::srtp::SrtpSession;
use sluice_engine::net::SockId;
use sluice_engine::wire::demux::{PacketKind, classify};
use sluice_engine::wire::stun::{
    Class, IntegrityKey, METHOD_BINDING, MessageWriter, StunMessage, write_binding_success,
};

/// Retransmission interval of an unanswered connectivity check.
pub const CHECK_RETRY: Duration = Duration::from_millis(100);
/// SSRCs a client's inbound SRTP context tracks (one per consumer on its transport).
const MAX_SSRCS: usize = 4096;

/// What the API answered for a WebRTC transport: its candidate, ICE credentials, fingerprints.
#[derive(Clone, Debug)]
pub struct Offer {
    pub id: String,
    pub remote: SocketAddr,
    pub ufrag: String,
    pub password: String,
    pub fingerprints: Vec<DtlsFingerprint>,
    /// The client answers the server's ClientHello instead of sending one: a Janus publisher's
    /// PeerConnection, where Janus answered the client's `a=setup:actpass` with `active`
    /// (RFC 5763 §5). `false` for the v1 API, whose `connect` says `role: client`.
    pub dtls_server: bool,
}

impl Offer {
    /// Reads `createWebRtcTransport`'s answer (the first UDP candidate).
    pub fn from_json(t: &serde_json::Value) -> Option<Self> {
        let cand = t["iceCandidates"]
            .as_array()?
            .iter()
            .find(|c| c["protocol"] == "udp")?;
        let ip = cand["ip"].as_str().or_else(|| cand["address"].as_str())?;
        let port = u16::try_from(cand["port"].as_u64()?).ok()?;
        Some(Self {
            id: t["id"].as_str()?.to_string(),
            remote: SocketAddr::new(ip.parse().ok()?, port),
            ufrag: t["iceParameters"]["usernameFragment"].as_str()?.to_string(),
            password: t["iceParameters"]["password"].as_str()?.to_string(),
            fingerprints: serde_json::from_value(t["dtlsParameters"]["fingerprints"].clone())
                .ok()?,
            dtls_server: false,
        })
    }
}

/// The ICE ufrag of client `index`: the USERNAME of its checks is `<server ufrag>:<this>`
/// (RFC 8445 §7.2.2), and an SDP the client writes announces the same.
pub fn local_ufrag(index: usize) -> String {
    format!("bench{index:06}")
}

/// The ICE password of client `index` (RFC 8839 §5.4: 22 to 256 ice-chars), announced in the
/// SDP the client writes: the server signs its own checks with it.
pub fn local_password(index: usize) -> String {
    format!("sluicebenchpwd{index:018}")
}

/// Where a client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Checks sent, no verified answer yet.
    Checking,
    /// ICE answered; DTLS handshake running.
    Handshaking,
    /// SRTP keys in: media flows.
    Connected,
    /// DTLS failed.
    Failed,
}

/// What one datagram from the server was, after the client processed it.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// A verified Binding success response.
    Binding,
    /// A verified Binding request from the server, answered.
    Check,
    /// DTLS, fed to the handshake.
    Dtls,
    /// SRTP that decrypted: the RTP packet is `data[..len]`.
    Rtp(usize),
    /// SRTCP that decrypted.
    Rtcp,
    /// Did not verify or decrypt, or unknown.
    Bad,
}

/// The browser side of one transport. See the module docs.
pub struct Client {
    pub sock: SockId,
    /// The server's ICE candidate.
    pub remote: SocketAddr,
    username: Vec<u8>,
    remote_key: IntegrityKey,
    /// Our password: the key of the server's own checks, when it sends any (Janus's libnice
    /// does, even as ICE-lite, and nominates only once one is answered).
    local_key: IntegrityKey,
    tid: [u8; 12],
    next_tid: u64,
    next_check: Instant,
    consent: Duration,
    pub phase: Phase,
    dtls: DtlsTransport,
    dtls_started: bool,
    srtp: Option<SrtpSession>,
    /// Verified Binding responses (first check and consent checks).
    pub checks_answered: u64,
}

impl Client {
    /// A client for a transport's answer, on the backend's socket `sock`.
    pub fn new(
        sock: SockId,
        offer: &Offer,
        certificate: &DtlsCertificate,
        consent: Duration,
        index: usize,
        now: Instant,
    ) -> Result<Self, DtlsError> {
        let fps = parse_remote_fingerprints(&offer.fingerprints)?;
        let dtls = DtlsTransport::new(
            certificate,
            &DtlsConfig::default(),
            if offer.dtls_server {
                DtlsSide::Server
            } else {
                DtlsSide::Client
            },
            fps,
            now,
        );
        Ok(Self {
            sock,
            remote: offer.remote,
            username: format!("{}:{}", offer.ufrag, local_ufrag(index)).into_bytes(),
            remote_key: IntegrityKey::new(offer.password.as_bytes()),
            local_key: IntegrityKey::new(local_password(index).as_bytes()),
            tid: [0; 12],
            next_tid: (index as u64) << 32,
            next_check: now,
            consent,
            phase: Phase::Checking,
            dtls,
            dtls_started: false,
            srtp: None,
            checks_answered: 0,
        })
    }

    /// The next instant [`Self::poll`] has work.
    pub fn next_timeout(&self) -> Instant {
        if self.phase == Phase::Handshaking
            && self.dtls_started
            && let Some(t) = self.dtls.poll_timeout()
        {
            return t.min(self.next_check);
        }
        self.next_check
    }

    /// Runs the timers; `out` is called with each datagram to send to [`Self::remote`].
    pub fn poll(&mut self, now: Instant, out: &mut impl FnMut(&[u8])) {
        if now >= self.next_check && self.phase != Phase::Failed {
            let mut buf = [0u8; 256];
            if let Some(n) = self.binding_request(&mut buf) {
                out(&buf[..n]);
            }
            self.next_check = now
                + if self.phase == Phase::Checking {
                    CHECK_RETRY
                } else {
                    self.consent
                };
        }
        if self.dtls_started && self.phase == Phase::Handshaking {
            self.dtls.handle_timeout(now);
            self.pump(out);
        }
    }

    /// A Binding request with USE-CANDIDATE (every check nominates: aggressive nomination).
    fn binding_request(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.next_tid += 1;
        self.tid[4..].copy_from_slice(&self.next_tid.to_be_bytes());
        let mut w = MessageWriter::new(buf, Class::Request, METHOD_BINDING, &self.tid).ok()?;
        w.username(&self.username).ok()?;
        w.priority(0x6e00_1eff).ok()?;
        w.ice_controlling(0x5eed_0000_0000_0000 | self.next_tid)
            .ok()?;
        w.use_candidate().ok()?;
        w.message_integrity(&self.remote_key).ok()?;
        w.fingerprint().ok()?;
        Some(w.finish())
    }

    /// Sends what DTLS has queued and takes its keys.
    fn pump(&mut self, out: &mut impl FnMut(&[u8])) {
        while let Some(d) = self.dtls.poll_transmit() {
            out(&d);
        }
        while let Some(e) = self.dtls.poll_event() {
            match e {
                DtlsEvent::Connected(keys) => match SrtpSession::from_keys(&keys, MAX_SSRCS) {
                    Ok(s) => {
                        self.srtp = Some(s);
                        self.phase = Phase::Connected;
                    }
                    Err(_) => self.phase = Phase::Failed,
                },
                DtlsEvent::Failed(_) => self.phase = Phase::Failed,
                _ => {}
            }
        }
        if self.dtls.state() == DtlsState::Failed {
            self.phase = Phase::Failed;
        }
    }

    /// One datagram from the server; RTP is decrypted in place.
    pub fn handle(&mut self, now: Instant, data: &mut [u8], out: &mut impl FnMut(&[u8])) -> Input {
        match classify(data) {
            PacketKind::Stun => {
                if let Ok(m) = StunMessage::parse(data)
                    && m.is_binding_request()
                {
                    // RFC 8445 §7.3: a check from the server; answer it (§7.3.1.4), from the
                    // address it came to, mapping the address it came from.
                    if m.verify_fingerprint().is_err()
                        || m.verify_integrity(&self.local_key).is_err()
                    {
                        return Input::Bad;
                    }
                    let mut buf = [0u8; 128];
                    return match write_binding_success(
                        &mut buf,
                        m.transaction_id(),
                        self.remote,
                        &self.local_key,
                    ) {
                        Ok(n) => {
                            out(&buf[..n]);
                            Input::Check
                        }
                        Err(_) => Input::Bad,
                    };
                }
                let ok = StunMessage::parse(data).is_ok_and(|m| {
                    m.class() == Class::SuccessResponse
                        && *m.transaction_id() == self.tid
                        && m.verify_fingerprint().is_ok()
                        && m.verify_integrity(&self.remote_key).is_ok()
                });
                if !ok {
                    return Input::Bad;
                }
                self.checks_answered += 1;
                if self.phase == Phase::Checking {
                    self.phase = Phase::Handshaking;
                    self.next_check = now + self.consent;
                    self.dtls_started = true;
                    self.dtls.handle_timeout(now);
                    self.pump(out);
                }
                Input::Binding
            }
            PacketKind::Dtls => {
                if self.dtls_started {
                    let _ = self.dtls.handle_datagram(now, data);
                    self.pump(out);
                }
                Input::Dtls
            }
            PacketKind::Rtp => match self.srtp.as_mut().map(|s| s.inbound.unprotect_rtp(data)) {
                Some(Ok(n)) => Input::Rtp(n),
                _ => Input::Bad,
            },
            PacketKind::Rtcp => match self.srtp.as_mut().map(|s| s.inbound.unprotect_rtcp(data)) {
                Some(Ok(_)) => Input::Rtcp,
                _ => Input::Bad,
            },
            PacketKind::Unknown => Input::Bad,
        }
    }

    /// Protects the RTP packet `buf[..len]` in place; the new length, `None` before keys.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Option<usize> {
        self.srtp.as_mut()?.outbound.protect_rtp(buf, len).ok()
    }

    /// Protects the RTCP compound packet `buf[..len]` in place.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Option<usize> {
        self.srtp.as_mut()?.outbound.protect_rtcp(buf, len).ok()
    }
}
