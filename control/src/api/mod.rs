//! The v1 HTTP/JSON control API (DESIGN.md §4), `/metrics` and the event stream.
//!
//! Handlers are thin: they parse the body ([`body::Body`]), find the worker that owns the id in
//! the path, send it a [`Request`] and await the reply. Every error goes through
//! [`error::ApiError`]. The owner table (id → worker) lives here, on the control path only; the
//! event stream keeps it in step with closes that cascade inside a worker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request as HttpRequest, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post, put};
use sluice_engine::worker::{Request, Response, Workers};
use tokio::sync::{broadcast, oneshot, watch};
use uuid::Uuid;

pub mod body;
mod demo;
pub mod error;
mod events;
mod handlers;
mod metrics;

use error::ApiError;
pub use events::SseEvent;

/// What kind of object an id names.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A router.
    Router,
    /// A plain transport.
    PlainTransport,
    /// A producer.
    Producer,
    /// A consumer.
    Consumer,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Router => "router",
            Kind::PlainTransport => "transport",
            Kind::Producer => "producer",
            Kind::Consumer => "consumer",
        }
    }
}

/// Everything the handlers share.
pub struct AppState {
    /// The workers.
    pub workers: Workers,
    owners: Mutex<HashMap<Uuid, (usize, Kind)>>,
    events: broadcast::Sender<Arc<SseEvent>>,
    token: Option<String>,
    test_hooks: bool,
    shutdown: watch::Receiver<bool>,
    metrics: metrics::Metrics,
    demo: demo::Rooms,
    /// The DTLS slow path of WebRTC transports (absent: WebRTC transports answer 503).
    webrtc: Option<crate::webrtc::WebRtcPlane>,
}

impl AppState {
    /// Wraps the running workers.
    pub fn new(
        workers: Workers,
        events: broadcast::Sender<Arc<SseEvent>>,
        token: Option<String>,
        test_hooks: bool,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            workers,
            owners: Mutex::new(HashMap::new()),
            events,
            token,
            test_hooks,
            shutdown,
            metrics: metrics::Metrics::new(),
            demo: demo::Rooms::default(),
            webrtc: None,
        }
    }

    /// Enables WebRTC transports with this DTLS plane.
    pub fn with_webrtc(mut self, plane: crate::webrtc::WebRtcPlane) -> Self {
        self.webrtc = Some(plane);
        self
    }

    /// The DTLS plane, if WebRTC transports are enabled.
    pub fn webrtc(&self) -> Option<&crate::webrtc::WebRtcPlane> {
        self.webrtc.as_ref()
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (usize, Kind)>> {
        self.owners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The worker that owns `id`, which must be a `kind`.
    fn owner(&self, id: &str, kind: Kind) -> Result<(Uuid, usize), ApiError> {
        let uuid = Uuid::parse_str(id).map_err(|_| ApiError::not_found(kind.name(), id))?;
        match self.owners().get(&uuid) {
            Some(&(w, k)) if k == kind => Ok((uuid, w)),
            _ => Err(ApiError::not_found(kind.name(), id)),
        }
    }

    /// The live worker holding the fewest routers.
    fn least_loaded_worker(&self) -> Option<usize> {
        let mut routers = vec![0usize; self.workers.len()];
        for &(w, k) in self.owners().values() {
            if k == Kind::Router {
                routers[w] += 1;
            }
        }
        self.workers
            .handles()
            .iter()
            .filter(|h| h.is_alive())
            .min_by_key(|h| routers[h.index()])
            .map(|h| h.index())
    }

    fn register(&self, id: Uuid, worker: usize, kind: Kind) {
        self.owners().insert(id, (worker, kind));
    }

    fn forget(&self, id: &Uuid) {
        self.owners().remove(id);
    }

    /// Applies an event to the owner table (closes that cascaded inside a worker).
    pub fn observe(&self, e: &SseEvent) {
        if let Some(id) = e.closed_id() {
            self.forget(&id);
            if e.name == "transport.close"
                && let Some(w) = &self.webrtc
            {
                w.remove(id);
            }
        }
    }

    /// Sends `request` to worker `w` and waits for its answer.
    async fn call(&self, w: usize, request: Request) -> Result<Response, ApiError> {
        let worker = self
            .workers
            .get(w)
            .ok_or_else(|| ApiError::unavailable(format!("worker {w} does not exist")))?;
        let (tx, rx) = oneshot::channel();
        worker.send(
            request,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )?;
        match rx.await {
            Ok(r) => r.map_err(ApiError::from),
            Err(_) => Err(ApiError::unavailable(format!(
                "worker {w} stopped before answering"
            ))),
        }
    }
}

type Shared = Arc<AppState>;

/// Constant-time bearer token check on everything but the demo page.
async fn auth(State(state): State<Shared>, req: HttpRequest, next: Next) -> HttpResponse {
    if let Some(token) = &state.token {
        let path = req.uri().path();
        // The page and its script; the demo room endpoints create routers, so they need the token.
        let public = path == "/" || path == "/demo/app.js";
        if !public {
            let given = req
                .headers()
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            let ok: bool = subtle::ConstantTimeEq::ct_eq(given.as_bytes(), token.as_bytes()).into();
            if !ok {
                return ApiError::unauthorized().into_response();
            }
        }
    }
    next.run(req).await
}

/// The whole HTTP application.
pub fn app(state: Shared) -> Router {
    use handlers::*;
    let mut v1 = Router::new()
        .route("/health", get(health))
        .route("/workers", get(workers))
        .route("/routers", post(create_router))
        .route("/routers/{id}", get(dump_router).delete(close_router))
        .route("/routers/{id}/stats", get(router_stats))
        .route(
            "/routers/{id}/plain-transports",
            post(create_plain_transport),
        )
        .route(
            "/routers/{id}/webrtc-transports",
            post(create_webrtc_transport),
        )
        .route(
            "/transports/{id}",
            get(dump_transport).delete(close_transport),
        )
        .route("/transports/{id}/stats", get(transport_stats))
        .route("/transports/{id}/connect", post(connect_transport))
        .route("/transports/{id}/restart-ice", post(restart_ice))
        .route("/transports/{id}/producers", post(produce))
        .route("/transports/{id}/consumers", post(consume))
        .route("/producers/{id}", get(dump_producer).delete(close_producer))
        .route("/producers/{id}/stats", get(producer_stats))
        .route("/producers/{id}/pause", post(pause_producer))
        .route("/producers/{id}/resume", post(resume_producer))
        .route("/consumers/{id}", get(dump_consumer).delete(close_consumer))
        .route("/consumers/{id}/stats", get(consumer_stats))
        .route("/consumers/{id}/pause", post(pause_consumer))
        .route("/consumers/{id}/resume", post(resume_consumer))
        .route("/consumers/{id}/request-key-frame", post(request_key_frame))
        .route("/consumers/{id}/preferred-layers", put(preferred_layers))
        .route("/events", get(events::stream));
    if state.test_hooks {
        v1 = v1.route("/workers/{id}/panic", post(panic_worker));
    }
    Router::new()
        .nest("/v1", v1)
        .route("/metrics", get(metrics::scrape))
        .route("/", get(demo_page))
        .route("/demo/app.js", get(demo_script))
        .route("/demo/rooms/{name}/join", post(demo::join))
        .route("/demo/rooms/{name}/peers", get(demo::peers))
        .route(
            "/demo/rooms/{name}/peers/{peer}/transports",
            post(demo::add_transport),
        )
        .route(
            "/demo/rooms/{name}/peers/{peer}/producers",
            post(demo::add_producer),
        )
        .route("/demo/rooms/{name}/peers/{peer}/leave", post(demo::leave))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}
