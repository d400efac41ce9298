//! DTLS-SRTP: the handshake that keys a WebRTC transport's SRTP (RFC 5764), as a sans-IO endpoint.
//!
//! A WebRTC transport runs DTLS 1.2 (RFC 6347) over the ICE-selected path only to agree on SRTP
//! keys: the `use_srtp` extension picks a protection profile (RFC 5764 §4.1) and, once the
//! handshake finishes, both sides run the RFC 5705 exporter with the label
//! `"EXTRACTOR-dtls_srtp"` to get the master keys and salts (RFC 5764 §4.2, split in
//! [`SrtpKeys`]). Peers authenticate each other by certificate fingerprints exchanged in
//! signalling (RFC 5763 §5, [`fingerprint`]), not by a PKI.
//!
//! [`DtlsTransport`] (mediasoup's name) wraps the `dimpl` state machine:
//!
//! ```text
//!   handle_datagram(now, bytes) ──►┌──────────────┐──► poll_transmit()  datagrams to send
//!   handle_timeout(now)         ──►│ DtlsTransport│──► poll_event()     Connected{keys} | Failed | Closed
//!                                  │  (dimpl 1.2) │──► poll_timeout()   when to call handle_timeout
//!                                  └──────────────┘
//! ```
//!
//! It owns no socket, thread or clock: time is an argument, so tests run whole handshakes (with
//! loss) on a simulated clock. It is meant to live on the control plane (DESIGN §2): a worker hands
//! it the DTLS records (first byte 20–63, RFC 7983) of a transport it owns, the control plane
//! feeds them here, sends what [`DtlsTransport::poll_transmit`] yields back through the owning
//! worker, and gives the worker the [`SrtpKeys`] of [`DtlsEvent::Connected`]. Records must keep
//! flowing here after `Connected`: if our last flight is lost, the peer retransmits its own and
//! we answer it again (RFC 6347 §4.2.4), and a later `close_notify` or alert arrives the same way.
//!
//! What it guarantees:
//! - **No key without a matching certificate.** The peer's certificate is checked against the
//!   fingerprints given in `connect` as soon as it arrives; on a mismatch, or if the handshake
//!   completes without one, the transport fails and [`SrtpKeys`] are never produced.
//! - **No key without SRTP.** A handshake that negotiated no `use_srtp` profile fails.
//! - **Bounded.** A handshake not finished within [`DtlsConfig::handshake_timeout`] of the
//!   transport's creation fails, as does one whose flights exhaust
//!   [`DtlsConfig::flight_retries`] retransmissions.
//! - **Robust.** Malformed records are dropped by `dimpl` without failing the connection;
//!   a fatal error or alert from it fails the transport; a panic inside it is caught and fails
//!   the transport instead of unwinding into the control plane.
//!
//! What it does not do: DTLS 1.3 (the issue asks for 1.2; a browser's hybrid ClientHello falls back
//! to 1.2), session resumption or renegotiation (WebRTC restarts with a full handshake), and the
//! choice of SRTP profile: `dimpl` as server picks `AEAD_AES_256_GCM`, then `AEAD_AES_128_GCM`,
//! then `AES_CM_128_HMAC_SHA1_80` whatever the client's order, and as client offers those three in
//! that order, with no setting for either (RFC 5764 §4.1.1 leaves the choice to the server), so
//! the SRTP layer must support all three and issue 3's preference for 128-bit GCM holds only
//! where the peer decides. The table of what each peer ends with, and the upstream change that
//! would fix it, is in docs/ARCHITECTURE.md, "Deliberate deviations".

pub mod fingerprint;
pub mod keys;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use fingerprint::{
    DtlsCertificate, DtlsFingerprint, DtlsParameters, DtlsRole, DtlsSide, Fingerprint,
    FingerprintAlgorithm, parse_remote_fingerprints,
};
pub use keys::{SrtpKeys, SrtpProfile};

/// Errors of set-up and of input that never reached the handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtlsError {
    /// The self-signed certificate could not be generated.
    #[error("cannot generate the DTLS certificate: {0}")]
    Certificate(String),
    /// A fingerprint's hash function is not one we know.
    #[error("unsupported fingerprint algorithm {0:?}")]
    UnsupportedFingerprintAlgorithm(String),
    /// A fingerprint value is not colon-separated hex of the algorithm's length.
    #[error("invalid fingerprint value {0:?}")]
    InvalidFingerprint(String),
    /// `dtlsParameters.fingerprints` has no entry we can check the peer against.
    #[error("dtlsParameters.fingerprints has no usable fingerprint")]
    NoUsableFingerprint,
    /// A configuration value the DTLS library refuses.
    #[error("invalid DTLS configuration: {0}")]
    Config(String),
    /// The datagram is not a DTLS record (RFC 7983: first byte 20–63, header of 13 bytes).
    #[error("not a DTLS record")]
    NotDtls,
    /// The transport has failed or closed and takes no more input.
    #[error("the DTLS transport is {0:?}")]
    NotRunning(DtlsState),
}

/// Why a handshake or connection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtlsFailure {
    /// The peer's certificate does not hash to any fingerprint given in `connect`.
    #[error("the remote certificate does not match the signalled fingerprint")]
    FingerprintMismatch,
    /// The handshake completed without the peer presenting a certificate.
    #[error("the peer presented no certificate")]
    NoPeerCertificate,
    /// The handshake completed without a `use_srtp` profile both sides support.
    #[error("no SRTP protection profile was negotiated")]
    NoSrtpProfile,
    /// The handshake did not complete in time, or a flight ran out of retransmissions.
    #[error("the DTLS handshake timed out")]
    Timeout,
    /// The peer sent a fatal alert (RFC 5246 §7.2.2); `description` is the alert number.
    #[error("the peer sent fatal alert {description}")]
    Alert {
        /// Alert description (e.g. 42 bad_certificate, 40 handshake_failure).
        description: u8,
    },
    /// Any other fatal error of the DTLS state machine (malformed handshake, bad signature, …).
    #[error("DTLS protocol error: {0}")]
    Protocol(String),
}

/// Connection state as mediasoup reports `dtlsState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtlsState {
    /// Handshake in progress.
    Connecting,
    /// Handshake done, peer verified, keys released.
    Connected,
    /// Failed for good; the transport takes no more input.
    Failed,
    /// Closed by `close_notify` (either side).
    Closed,
}

/// What the transport reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DtlsEvent {
    /// The handshake finished and the peer's certificate matched: keys for the SRTP contexts.
    Connected(SrtpKeys),
    /// The handshake or connection failed; no keys were (or will be) released.
    Failed(DtlsFailure),
    /// The peer closed the connection with `close_notify`.
    Closed,
    /// Application data from the peer (for SCTP data channels, RFC 8261), only after `Connected`.
    ApplicationData(Vec<u8>),
}

/// Settings shared by every transport of the process; cheap to clone.
#[derive(Debug, Clone)]
pub struct DtlsConfig {
    inner: Arc<dimpl::Config>,
    handshake_timeout: Duration,
}

/// Largest record we emit: a handshake flight is fragmented to fit (RFC 6347 §4.1.1). 1200 keeps
/// a datagram under the path MTUs WebRTC meets (it is webrtc-dtls's default too).
const MTU: usize = 1200;

impl DtlsConfig {
    /// Defaults: first retransmission after 1 s doubling per retry (RFC 6347 §4.2.4.1), 5 retries
    /// per flight, whole handshake bounded to 30 s.
    pub const DEFAULT_FLIGHT_START_RTO: Duration = Duration::from_secs(1);
    /// See [`Self::DEFAULT_FLIGHT_START_RTO`].
    pub const DEFAULT_FLIGHT_RETRIES: usize = 5;
    /// See [`Self::DEFAULT_FLIGHT_START_RTO`].
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

    /// A configuration with explicit timers.
    pub fn new(
        flight_start_rto: Duration,
        flight_retries: usize,
        handshake_timeout: Duration,
    ) -> Result<Self, DtlsError> {
        let inner = dimpl::Config::builder()
            .mtu(MTU)
            .flight_start_rto(flight_start_rto)
            .flight_retries(flight_retries)
            .handshake_timeout(handshake_timeout)
            // The server asks for the client's certificate: without it there is nothing to check
            // the signalled fingerprint against (RFC 5763 §5).
            .require_client_certificate(true)
            .build()
            .map_err(|e| DtlsError::Config(e.to_string()))?;
        Ok(DtlsConfig {
            inner: Arc::new(inner),
            handshake_timeout,
        })
    }

    /// The bound on a handshake, counted from the transport's creation.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }
}

impl Default for DtlsConfig {
    fn default() -> Self {
        DtlsConfig::new(
            Self::DEFAULT_FLIGHT_START_RTO,
            Self::DEFAULT_FLIGHT_RETRIES,
            Self::DEFAULT_HANDSHAKE_TIMEOUT,
        )
        .expect("the default DTLS timers are within dimpl's accepted ranges")
    }
}

/// One DTLS-SRTP endpoint, client or server, for one WebRTC transport.
#[derive(Debug)]
pub struct DtlsTransport {
    /// `None` once failed or closed: nothing is fed to the state machine after a fatal error.
    dtls: Option<dimpl::Dtls>,
    side: DtlsSide,
    state: DtlsState,
    remote_fingerprints: Vec<Fingerprint>,
    /// Set once the peer's certificate arrived and matched.
    peer_verified: bool,
    /// The handshake reported completion; keys are released when its material is also in.
    handshake_done: bool,
    keying_material: Option<(SrtpProfile, Vec<u8>)>,
    deadline: Instant,
    /// The latest instant seen; an earlier one is taken as this (the state machine's clock
    /// must not step back).
    last_now: Instant,
    next_timeout: Option<Instant>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<DtlsEvent>,
    buf: Vec<u8>,
}

/// A bound on how many outputs one drain may take, so a misbehaving state machine cannot spin
/// the control plane. A handshake flight is a handful of records; this is far above that.
const MAX_OUTPUTS_PER_DRAIN: usize = 4096;

impl DtlsTransport {
    /// Start a handshake as `side`, checking the peer against `remote_fingerprints` (see
    /// [`parse_remote_fingerprints`]). A client queues its ClientHello at once.
    pub fn new(
        certificate: &DtlsCertificate,
        config: &DtlsConfig,
        side: DtlsSide,
        remote_fingerprints: Vec<Fingerprint>,
        now: Instant,
    ) -> Self {
        let mut dtls = dimpl::Dtls::new_12(config.inner.clone(), certificate.inner.clone(), now);
        if side == DtlsSide::Client {
            dtls.set_active(true);
        }
        let mut transport = DtlsTransport {
            dtls: Some(dtls),
            side,
            state: DtlsState::Connecting,
            remote_fingerprints,
            peer_verified: false,
            handshake_done: false,
            keying_material: None,
            deadline: now + config.handshake_timeout,
            last_now: now,
            next_timeout: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            buf: vec![0; MTU + 64],
        };
        // dimpl's server panics on a packet before its clock was ever set (DESIGN §8), and the
        // client only emits its ClientHello after a first `handle_timeout`.
        transport.drive(now, None);
        transport
    }

    /// The side we play.
    pub fn side(&self) -> DtlsSide {
        self.side
    }

    /// The current state.
    pub fn state(&self) -> DtlsState {
        self.state
    }

    /// Feed one received datagram. `Err` means the datagram was not taken (not a DTLS record, or
    /// the transport is no longer running): count it as dropped. Records the state machine finds
    /// malformed are dropped inside it; fatal errors surface as [`DtlsEvent::Failed`].
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Result<(), DtlsError> {
        if self.dtls.is_none() {
            return Err(DtlsError::NotRunning(self.state));
        }
        // RFC 7983 §7: DTLS records start with a content type in 20..=63; RFC 6347 §4.1: the
        // record header is 13 bytes.
        if datagram.len() < 13 || !(20..=63).contains(&datagram[0]) {
            return Err(DtlsError::NotDtls);
        }
        self.drive(now, Some(datagram));
        Ok(())
    }

    /// Advance timers: retransmit a flight, or give up. Call at (or after) [`Self::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.dtls.is_some() {
            self.drive(now, None);
        }
    }

    /// When to call [`Self::handle_timeout`] next; `None` once failed or closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.dtls.as_ref()?;
        match (self.state, self.next_timeout) {
            (DtlsState::Connecting, Some(t)) => Some(t.min(self.deadline)),
            (DtlsState::Connecting, None) => Some(self.deadline),
            (_, t) => t,
        }
    }

    /// The next datagram to send to the peer.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<DtlsEvent> {
        self.events.pop_front()
    }

    /// Send application data (SCTP, later) over the connection. Only once connected.
    pub fn send_application_data(&mut self, now: Instant, data: &[u8]) -> Result<(), DtlsError> {
        if self.state != DtlsState::Connected {
            return Err(DtlsError::NotRunning(self.state));
        }
        let Some(dtls) = self.dtls.as_mut() else {
            return Err(DtlsError::NotRunning(self.state));
        };
        let sent = panic::catch_unwind(AssertUnwindSafe(|| dtls.send_application_data(data)));
        match sent {
            Ok(Ok(_)) => {
                self.drive(now, None);
                Ok(())
            }
            Ok(Err(e)) => {
                self.fail(map_error(&e));
                Err(DtlsError::NotRunning(self.state))
            }
            Err(_) => {
                self.fail(DtlsFailure::Protocol("panic in dimpl".into()));
                Err(DtlsError::NotRunning(self.state))
            }
        }
    }

    /// Close: a connected transport queues `close_notify` (RFC 5246 §7.2.1) to send; one still
    /// handshaking stops at once. No event is emitted for a local close.
    pub fn close(&mut self, now: Instant) {
        let Some(mut dtls) = self.dtls.take() else {
            return;
        };
        let now = self.clock(now);
        let connected = self.state == DtlsState::Connected;
        self.state = DtlsState::Closed;
        self.next_timeout = None;
        if !connected {
            return;
        }
        let closed = panic::catch_unwind(AssertUnwindSafe(|| {
            dtls.handle_timeout(now)?;
            dtls.close()
        }));
        if let Ok(Ok(())) = closed {
            let buf = &mut self.buf;
            let transmits = &mut self.transmits;
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                for _ in 0..MAX_OUTPUTS_PER_DRAIN {
                    match dtls.poll_output(buf) {
                        dimpl::Output::Packet(p) => transmits.push_back(p.to_vec()),
                        dimpl::Output::BufferTooSmall { needed } => buf.resize(needed, 0),
                        dimpl::Output::Timeout(_) => break,
                        _ => {}
                    }
                }
            }));
        }
    }

    /// Run the state machine on one input (a datagram, or just the clock) and drain its output.
    fn drive(&mut self, now: Instant, datagram: Option<&[u8]>) {
        let Some(mut dtls) = self.dtls.take() else {
            return;
        };
        let now = self.clock(now);
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            // dimpl wants its clock refreshed before each packet (its `handle_packet` docs).
            dtls.handle_timeout(now)?;
            if let Some(d) = datagram {
                dtls.handle_packet(d)?;
            }
            Ok::<(), dimpl::Error>(())
        }));
        let mut failure = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(map_error(&e)),
            Err(_) => Some(DtlsFailure::Protocol("panic in dimpl".into())),
        };
        // Output queued before a fatal error (e.g. an alert to send) is still drained.
        let mut app_data = Vec::new();
        let mut peer_closed = false;
        let drained = panic::catch_unwind(AssertUnwindSafe(|| {
            self.drain(&mut dtls, &mut app_data, &mut peer_closed)
        }));
        match drained {
            Ok(Err(f)) => failure = failure.or(Some(f)),
            Err(_) => failure = failure.or(Some(DtlsFailure::Protocol("panic in dimpl".into()))),
            Ok(Ok(())) => {}
        }
        self.dtls = Some(dtls);

        if failure.is_none() && self.state == DtlsState::Connecting {
            if self.handshake_done {
                failure = self.release_keys().err();
            } else if now >= self.deadline {
                failure = Some(DtlsFailure::Timeout);
            }
        }
        if let Some(f) = failure {
            if f == DtlsFailure::FingerprintMismatch {
                // Whatever answers that peer's flight was queued goes nowhere: we do not finish
                // a handshake with a party we did not expect.
                self.transmits.clear();
            }
            self.fail(f);
            return;
        }
        if self.state == DtlsState::Connected {
            self.events
                .extend(app_data.into_iter().map(DtlsEvent::ApplicationData));
        }
        if peer_closed {
            self.dtls = None;
            self.next_timeout = None;
            if self.state == DtlsState::Connected {
                self.state = DtlsState::Closed;
                self.events.push_back(DtlsEvent::Closed);
            } else {
                // close_notify in the middle of a handshake ends it without keys.
                self.fail(DtlsFailure::Protocol(
                    "close_notify during handshake".into(),
                ));
            }
        }
    }

    fn drain(
        &mut self,
        dtls: &mut dimpl::Dtls,
        app_data: &mut Vec<Vec<u8>>,
        peer_closed: &mut bool,
    ) -> Result<(), DtlsFailure> {
        for _ in 0..MAX_OUTPUTS_PER_DRAIN {
            match dtls.poll_output(&mut self.buf) {
                dimpl::Output::Packet(p) => self.transmits.push_back(p.to_vec()),
                dimpl::Output::BufferTooSmall { needed } => {
                    // A record never exceeds the MTU plus overhead; refuse absurd requests.
                    if needed > 64 * 1024 {
                        return Err(DtlsFailure::Protocol("oversized record".into()));
                    }
                    self.buf.resize(needed, 0);
                }
                dimpl::Output::Timeout(t) => {
                    self.next_timeout = Some(t);
                    return Ok(());
                }
                dimpl::Output::PeerCert(der) => {
                    if !self.remote_fingerprints.iter().any(|fp| fp.matches(der)) {
                        return Err(DtlsFailure::FingerprintMismatch);
                    }
                    self.peer_verified = true;
                }
                dimpl::Output::Connected => self.handshake_done = true,
                dimpl::Output::KeyingMaterial(material, profile) => {
                    let profile = keys::profile_from_dimpl(profile).ok_or_else(|| {
                        DtlsFailure::Protocol(format!("unsupported SRTP profile {profile:?}"))
                    })?;
                    self.keying_material = Some((profile, material.to_vec()));
                }
                dimpl::Output::ApplicationData(data) => app_data.push(data.to_vec()),
                dimpl::Output::CloseNotify => *peer_closed = true,
                // `Output` is non-exhaustive: a new kind of output carries nothing we act on.
                _ => {}
            }
        }
        Err(DtlsFailure::Protocol("DTLS output did not settle".into()))
    }

    /// The handshake completed: release keys if, and only if, the peer was verified and SRTP
    /// was negotiated.
    fn release_keys(&mut self) -> Result<(), DtlsFailure> {
        if !self.peer_verified {
            return Err(DtlsFailure::NoPeerCertificate);
        }
        let (profile, material) = self
            .keying_material
            .take()
            .ok_or(DtlsFailure::NoSrtpProfile)?;
        let keys =
            SrtpKeys::from_keying_material(profile, self.side, &material).ok_or_else(|| {
                DtlsFailure::Protocol(format!("keying material of {} bytes", material.len()))
            })?;
        self.state = DtlsState::Connected;
        self.events.push_back(DtlsEvent::Connected(keys));
        Ok(())
    }

    fn clock(&mut self, now: Instant) -> Instant {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    fn fail(&mut self, failure: DtlsFailure) {
        if matches!(self.state, DtlsState::Failed | DtlsState::Closed) {
            return;
        }
        self.state = DtlsState::Failed;
        self.dtls = None;
        self.next_timeout = None;
        self.keying_material = None;
        self.events.push_back(DtlsEvent::Failed(failure));
    }
}

fn map_error(e: &dimpl::Error) -> DtlsFailure {
    match e {
        dimpl::Error::Timeout(_) => DtlsFailure::Timeout,
        dimpl::Error::SecurityError(dimpl::SecurityError::FatalAlert { description }) => {
            DtlsFailure::Alert {
                description: *description,
            }
        }
        other => DtlsFailure::Protocol(other.to_string()),
    }
}
