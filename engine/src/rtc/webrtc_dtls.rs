//! [`DtlsDriver`]: the DTLS handshakes of every WebRTC transport of the process, run on the
//! control plane's slow path, never on a worker (DESIGN §2), sans-IO like everything in `rtc`.
//!
//! ```text
//!  worker: DTLS record from a validated tuple ──(queue + wake)──► handle_record(now, id, bytes)
//!  HTTP connect {dtlsParameters}             ──────────────────► connect(now, id, params)
//!  timer at poll_timeout()                   ──────────────────► handle_timeout(now)
//!                     poll_output() ─► Send {worker, id, record}: a command to the owning worker,
//!                                      which sends it from the shared socket to the selected tuple
//!                                  ─► State {worker, id, state, srtp}: a command; on `connected`
//!                                      it carries both SRTP contexts, ready to use
//! ```
//!
//! One [`DtlsTransport`] per WebRTC transport, created at `connect`, since only then is the
//! role known (RFC 5763 §5: the side opposite to the remote's; a remote `auto` makes us the
//! client, as mediasoup does). The peer's certificate is checked inside `DtlsTransport`
//! against the fingerprints given in `connect`; a mismatch fails the transport and no key ever
//! leaves it.
//!
//! **Records before `connect`.** A browser whose answer set `a=setup:active` starts its
//! handshake as soon as ICE connects, which can be before the application's `connect` request
//! reaches us. Those records are kept, at most [`MAX_EARLY_RECORDS`] per transport (a
//! ClientHello is one or two datagrams; more is retransmission), and fed to the transport when
//! it is created; beyond that the peer's retransmission (RFC 6347 §4.2.4) recovers.
//!
//! The SRTP contexts are derived here too (RFC 3711 §4.3 key derivation), off the worker.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use uuid::Uuid;

use super::webrtc_transport::{DtlsStateName, MAX_SRTP_SSRCS, WebRtcSrtp};
use crate::crypto::dtls::{
    DtlsCertificate, DtlsConfig, DtlsError, DtlsEvent, DtlsParameters, DtlsRole, DtlsSide,
    DtlsTransport, SrtpKeys, parse_remote_fingerprints,
};
use crate::crypto::srtp::{SrtpError, SrtpSession};

/// Records kept per transport while `connect` has not come.
pub const MAX_EARLY_RECORDS: usize = 8;

/// What the driver wants done.
#[derive(Debug)]
pub enum DtlsOutput {
    /// Send `data` to the transport's selected tuple, through worker `worker`.
    Send {
        /// The owning worker.
        worker: usize,
        /// The transport.
        transport_id: Uuid,
        /// One DTLS datagram.
        data: Vec<u8>,
    },
    /// The transport's DTLS state changed; `srtp` is set with `connected`.
    State {
        /// The owning worker.
        worker: usize,
        /// The transport.
        transport_id: Uuid,
        /// The new state.
        state: DtlsStateName,
        /// Both SRTP directions, on `connected`.
        srtp: Option<Box<WebRtcSrtp>>,
    },
}

/// Why `connect` was refused.
#[derive(Debug, thiserror::Error)]
pub enum DtlsDriverError {
    /// No WebRTC transport with that id.
    #[error("transport {0} not found")]
    UnknownTransport(Uuid),
    /// `connect` was called before.
    #[error("transport {0} is already connected")]
    AlreadyConnected(Uuid),
    /// The remote fingerprints cannot be used.
    #[error("dtlsParameters: {0}")]
    Parameters(#[from] DtlsError),
}

#[derive(Debug)]
struct Entry {
    worker: usize,
    dtls: Option<DtlsTransport>,
    early: Vec<Vec<u8>>,
    state: DtlsStateName,
}

/// The DTLS side of every WebRTC transport. See the module docs.
#[derive(Debug)]
pub struct DtlsDriver {
    certificate: DtlsCertificate,
    config: DtlsConfig,
    transports: HashMap<Uuid, Entry>,
    outputs: VecDeque<DtlsOutput>,
    /// Early records dropped because the buffer was full.
    early_dropped: u64,
}

impl DtlsDriver {
    /// A driver using the process certificate.
    pub fn new(certificate: DtlsCertificate, config: DtlsConfig) -> Self {
        DtlsDriver {
            certificate,
            config,
            transports: HashMap::new(),
            outputs: VecDeque::new(),
            early_dropped: 0,
        }
    }

    /// Our `dtlsParameters` (role `auto`, the certificate's SHA-256 fingerprint).
    pub fn local_parameters(&self) -> DtlsParameters {
        self.certificate.local_parameters()
    }

    /// Registers a new WebRTC transport owned by `worker`.
    pub fn add(&mut self, transport_id: Uuid, worker: usize) {
        self.transports.insert(
            transport_id,
            Entry {
                worker,
                dtls: None,
                early: Vec::new(),
                state: DtlsStateName::New,
            },
        );
    }

    /// Forgets a closed transport.
    pub fn remove(&mut self, transport_id: Uuid) {
        self.transports.remove(&transport_id);
    }

    /// Whether the transport is known here.
    pub fn contains(&self, transport_id: Uuid) -> bool {
        self.transports.contains_key(&transport_id)
    }

    /// The transport's state.
    pub fn state(&self, transport_id: Uuid) -> Option<DtlsStateName> {
        self.transports.get(&transport_id).map(|e| e.state)
    }

    /// Records dropped before `connect` because [`MAX_EARLY_RECORDS`] were kept already.
    pub fn early_dropped(&self) -> u64 {
        self.early_dropped
    }

    /// `connect {dtlsParameters}`: starts the handshake on the side opposite to the remote's.
    /// Returns the role we took.
    pub fn connect(
        &mut self,
        now: Instant,
        transport_id: Uuid,
        remote: &DtlsParameters,
    ) -> Result<DtlsRole, DtlsDriverError> {
        let entry = self
            .transports
            .get_mut(&transport_id)
            .ok_or(DtlsDriverError::UnknownTransport(transport_id))?;
        if entry.state != DtlsStateName::New {
            return Err(DtlsDriverError::AlreadyConnected(transport_id));
        }
        let fingerprints = parse_remote_fingerprints(&remote.fingerprints)?;
        let side = DtlsSide::opposite_of(remote.role);
        let mut dtls = DtlsTransport::new(&self.certificate, &self.config, side, fingerprints, now);
        for record in entry.early.drain(..) {
            let _ = dtls.handle_datagram(now, &record);
        }
        entry.dtls = Some(dtls);
        entry.state = DtlsStateName::Connecting;
        self.outputs.push_back(DtlsOutput::State {
            worker: entry.worker,
            transport_id,
            state: DtlsStateName::Connecting,
            srtp: None,
        });
        self.drain(transport_id);
        Ok(side.role())
    }

    /// A record a worker received from the transport's validated tuple.
    pub fn handle_record(&mut self, now: Instant, transport_id: Uuid, data: &[u8]) {
        let Some(entry) = self.transports.get_mut(&transport_id) else {
            return;
        };
        match entry.dtls.as_mut() {
            Some(dtls) => {
                // Not a record, or a transport that failed: nothing to do with it.
                let _ = dtls.handle_datagram(now, data);
            }
            None if entry.early.len() < MAX_EARLY_RECORDS => entry.early.push(data.to_vec()),
            None => self.early_dropped += 1,
        }
        self.drain(transport_id);
    }

    /// Runs the timers that are due (retransmissions, the handshake bound).
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<Uuid> = self
            .transports
            .iter()
            .filter(|(_, e)| {
                e.dtls
                    .as_ref()
                    .and_then(|d| d.poll_timeout())
                    .is_some_and(|t| t <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(d) = self.transports.get_mut(&id).and_then(|e| e.dtls.as_mut()) {
                d.handle_timeout(now);
            }
            self.drain(id);
        }
    }

    /// When [`Self::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.transports
            .values()
            .filter_map(|e| e.dtls.as_ref()?.poll_timeout())
            .min()
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<DtlsOutput> {
        self.outputs.pop_front()
    }

    fn drain(&mut self, transport_id: Uuid) {
        let Some(entry) = self.transports.get_mut(&transport_id) else {
            return;
        };
        let worker = entry.worker;
        let Some(dtls) = entry.dtls.as_mut() else {
            return;
        };
        while let Some(data) = dtls.poll_transmit() {
            self.outputs.push_back(DtlsOutput::Send {
                worker,
                transport_id,
                data,
            });
        }
        while let Some(event) = dtls.poll_event() {
            let (state, srtp) = match event {
                DtlsEvent::Connected(keys) => match srtp_from_keys(&keys) {
                    Ok(srtp) => (DtlsStateName::Connected, Some(Box::new(srtp))),
                    Err(e) => {
                        tracing::warn!(transport = %transport_id, error = %e, "cannot key SRTP");
                        (DtlsStateName::Failed, None)
                    }
                },
                DtlsEvent::Failed(f) => {
                    tracing::info!(transport = %transport_id, reason = %f, "DTLS failed");
                    (DtlsStateName::Failed, None)
                }
                DtlsEvent::Closed => (DtlsStateName::Closed, None),
                // Data channels (SCTP over DTLS) are a later issue.
                DtlsEvent::ApplicationData(_) => continue,
            };
            entry.state = state;
            self.outputs.push_back(DtlsOutput::State {
                worker,
                transport_id,
                state,
                srtp,
            });
        }
    }
}

/// Both SRTP contexts from the handshake's keys: ours protect, the peer's unprotect.
pub fn srtp_from_keys(keys: &SrtpKeys) -> Result<WebRtcSrtp, SrtpError> {
    SrtpSession::from_keys(keys, MAX_SRTP_SSRCS)
}
