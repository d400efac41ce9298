//! The slow path of WebRTC transports: one thread (`sluice-dtls`) that runs the
//! [`DtlsDriver`] of the whole process, off the workers and off the HTTP runtime (DESIGN §2).
//!
//! ```text
//!  worker threads ── DtlsRecord (DtlsSink: channel send) ──┐
//!  HTTP handlers ─── Add / Connect{reply} / Remove ────────┤ std mpsc, one queue
//!                                                          ▼
//!                          sluice-dtls thread: DtlsDriver, timers via recv_timeout
//!                                                          │ Request::SendDtls / SetDtlsState
//!                                                          ▼ (worker command queues + eventfd)
//!                                                    the owning worker
//! ```
//!
//! A handshake's public-key operations take a millisecond or more; here they stall neither a
//! worker's forwarding loop nor the two threads that serve the API. Allocation is fine on this
//! path. The certificate is generated once at start-up and shared by every transport.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use sluice_engine::crypto::dtls::{DtlsCertificate, DtlsConfig, DtlsParameters, DtlsRole};
use sluice_engine::rtc::webrtc_dtls::{DtlsDriver, DtlsDriverError, DtlsOutput};
use sluice_engine::worker::{DtlsRecord, DtlsSink, Request, Workers};
use tokio::sync::oneshot;
use uuid::Uuid;

/// What the DTLS thread is asked to do.
enum DtlsMsg {
    Record(DtlsRecord),
    Add {
        id: Uuid,
        worker: usize,
    },
    Connect {
        id: Uuid,
        remote: DtlsParameters,
        reply: oneshot::Sender<Result<DtlsRole, DtlsDriverError>>,
    },
    Remove {
        id: Uuid,
    },
}

/// The handle the API holds: the certificate's parameters and the DTLS thread's queue.
pub struct WebRtcPlane {
    tx: Sender<DtlsMsg>,
    local: DtlsParameters,
    rx: std::sync::Mutex<Option<(Receiver<DtlsMsg>, DtlsDriver)>>,
}

impl WebRtcPlane {
    /// Generates the process certificate and the queue; [`WebRtcPlane::sink`] gives the workers
    /// their end, [`WebRtcPlane::start`] the thread once the workers run.
    pub fn new() -> Result<Self, String> {
        let cert = DtlsCertificate::generate().map_err(|e| e.to_string())?;
        let driver = DtlsDriver::new(cert, DtlsConfig::default());
        let (tx, rx) = mpsc::channel();
        Ok(WebRtcPlane {
            tx,
            local: driver.local_parameters(),
            rx: std::sync::Mutex::new(Some((rx, driver))),
        })
    }

    /// Our `dtlsParameters` (role `auto`, one SHA-256 fingerprint).
    pub fn local_parameters(&self) -> DtlsParameters {
        self.local.clone()
    }

    /// The workers' end of the queue.
    pub fn sink(&self) -> DtlsSink {
        let tx = self.tx.clone();
        Arc::new(move |r| {
            let _ = tx.send(DtlsMsg::Record(r));
        })
    }

    /// Starts the DTLS thread; `workers` is how it reaches the owning worker.
    pub fn start(&self, workers: Arc<dyn Fn(usize, Request) + Send + Sync>) -> Result<(), String> {
        let Some((rx, driver)) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Err("the DTLS thread is already running".into());
        };
        std::thread::Builder::new()
            .name("sluice-dtls".into())
            .spawn(move || {
                // Handshakes come in bursts; the workers must win the cores they share with
                // this thread (engine io::thread docs). Best effort.
                if let Err(e) = sluice_engine::io::thread::set_current_thread_nice(DTLS_NICE) {
                    tracing::debug!(error = %e, "cannot lower the DTLS thread's priority");
                }
                run(rx, driver, workers)
            })
            .map(|_| ())
            .map_err(|e| format!("cannot start the DTLS thread: {e}"))
    }

    /// Registers a new WebRTC transport.
    pub fn add(&self, id: Uuid, worker: usize) {
        let _ = self.tx.send(DtlsMsg::Add { id, worker });
    }

    /// Forgets a closed transport (unknown ids are ignored).
    pub fn remove(&self, id: Uuid) {
        let _ = self.tx.send(DtlsMsg::Remove { id });
    }

    /// `connect {dtlsParameters}`: starts the handshake; answers our role.
    pub async fn connect(
        &self,
        id: Uuid,
        remote: DtlsParameters,
    ) -> Result<DtlsRole, Option<DtlsDriverError>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(DtlsMsg::Connect { id, remote, reply })
            .map_err(|_| None)?;
        rx.await.map_err(|_| None)?.map_err(Some)
    }
}

/// The sender side of a worker command, for the DTLS thread. Holds the state weakly, so that
/// shutting the API down still drops (and joins) the workers.
pub fn worker_sender(
    state: std::sync::Weak<crate::api::AppState>,
) -> Arc<dyn Fn(usize, Request) + Send + Sync> {
    Arc::new(move |w, request| {
        if let Some(s) = state.upgrade() {
            send_to(&s.workers, w, request);
        }
    })
}

fn send_to(workers: &Workers, w: usize, request: Request) {
    if let Some(h) = workers.get(w) {
        // A dead worker or a full queue loses the record; DTLS retransmits.
        let _ = h.send(request, Box::new(|_| {}));
    }
}

/// Nice value of the DTLS thread: below the workers (nice 0) in the scheduler's eyes.
const DTLS_NICE: i32 = 10;

/// Longest sleep of an idle DTLS thread.
const IDLE: Duration = Duration::from_secs(1);

fn run(
    rx: Receiver<DtlsMsg>,
    mut driver: DtlsDriver,
    send: Arc<dyn Fn(usize, Request) + Send + Sync>,
) {
    loop {
        let now = Instant::now();
        let wait = driver
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(IDLE)
            .min(IDLE);
        match rx.recv_timeout(wait) {
            Ok(msg) => handle(&mut driver, msg),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // Everything already queued, then the timers, then the outputs.
        while let Ok(msg) = rx.try_recv() {
            handle(&mut driver, msg);
        }
        driver.handle_timeout(Instant::now());
        while let Some(out) = driver.poll_output() {
            match out {
                DtlsOutput::Send {
                    worker,
                    transport_id,
                    data,
                } => send(
                    worker,
                    Request::SendDtls {
                        id: transport_id,
                        data,
                    },
                ),
                DtlsOutput::State {
                    worker,
                    transport_id,
                    state,
                    srtp,
                } => send(
                    worker,
                    Request::SetDtlsState {
                        id: transport_id,
                        state,
                        srtp,
                    },
                ),
            }
        }
    }
}

fn handle(driver: &mut DtlsDriver, msg: DtlsMsg) {
    match msg {
        DtlsMsg::Record(r) => driver.handle_record(Instant::now(), r.transport_id, &r.data),
        DtlsMsg::Add { id, worker } => driver.add(id, worker),
        DtlsMsg::Connect { id, remote, reply } => {
            let _ = reply.send(driver.connect(Instant::now(), id, &remote));
        }
        DtlsMsg::Remove { id } => driver.remove(id),
    }
}
