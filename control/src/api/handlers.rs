//! One handler per route of DESIGN.md §4.

use std::net::IpAddr;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_engine::crypto::dtls::DtlsParameters;
use sluice_engine::crypto::srtp::SrtpProfile;
use sluice_engine::rtc::rtp_parameters::{
    MediaKind, RtpCapabilities, RtpCodecCapability, RtpParameters,
};
use sluice_engine::rtc::webrtc_dtls::DtlsDriverError;
use sluice_engine::rtc::webrtc_transport::WebRtcTransportOptions;
use sluice_engine::rtc::{ConsumeOptions, PlainTransportOptions, ProduceOptions};
use sluice_engine::worker::{Request, Response};
use uuid::Uuid;

use super::body::Body;
use super::error::ApiError;
use super::{Kind, Shared};
use crate::config::io_name;

pub(super) type ApiResult = Result<axum::response::Response, ApiError>;

pub(super) fn ok_json(v: impl serde::Serialize) -> ApiResult {
    Ok(Json(v).into_response())
}

fn empty() -> ApiResult {
    ok_json(json!({}))
}

fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn json_of(r: Response) -> ApiResult {
    match r {
        Response::Json(v) => ok_json(v),
        Response::Done => empty(),
        Response::Router(r) => ok_json(r),
        Response::PlainTransport(r) => ok_json(r),
        Response::WebRtcTransport(r) => ok_json(r),
        Response::IceParameters(p) => ok_json(json!({ "iceParameters": p })),
        Response::SrtpKey(_) => empty(),
        Response::Produce(r) => ok_json(r),
        Response::Consume(r) => ok_json(r),
    }
}

// ------------------------------------------------------------------ process

pub(super) async fn health(State(s): State<Shared>) -> ApiResult {
    let dead: Vec<usize> = s
        .workers
        .handles()
        .iter()
        .filter(|w| !w.is_alive())
        .map(|w| w.index())
        .collect();
    let status = if dead.is_empty() { "ok" } else { "degraded" };
    ok_json(json!({ "status": status, "workers": s.workers.len(), "deadWorkers": dead }))
}

pub(super) async fn workers(State(s): State<Shared>) -> ApiResult {
    let list: Vec<Value> = s
        .workers
        .handles()
        .iter()
        .map(|w| {
            let st = w.stats();
            json!({
                "id": w.index(),
                "core": w.core(),
                "io": io_name(w.io_kind()),
                "alive": w.is_alive(),
                "routers": st.routers,
                "stats": {
                    "packetsIn": st.rtc.packets_in,
                    "bytesIn": st.rtc.bytes_in,
                    "packetsOut": st.rtc.packets_out,
                    "bytesOut": st.rtc.bytes_out,
                    "rtpForwarded": st.rtc.rtp_forwarded,
                    "rtcpIn": st.rtc.rtcp_in,
                    "rtcpOut": st.rtc.rtcp_out,
                    "keyFrameRequestsSent": st.rtc.key_frame_requests_sent,
                    "keyFrameRequestsSuppressed": st.rtc.key_frame_requests_suppressed,
                    "nacksReceived": st.rtc.nacks_received,
                    "rtpRetransmitted": st.rtc.rtp_retransmitted,
                    "retransmissionsNotFound": st.rtc.retransmissions_not_found,
                    "nacksSent": st.rtc.nacks_sent,
                    "transportCcFeedbackSent": st.rtc.transport_cc_feedback_sent,
                    "handoffsOut": st.rtc.handoffs_out,
                    "handoffsIn": st.rtc.handoffs_in,
                    "drops": sluice_engine::rtc::DropReason::ALL.iter()
                        .map(|r| (r.as_str().to_string(), json!(st.rtc.drops_of(*r))))
                        .collect::<serde_json::Map<_, _>>(),
                },
            })
        })
        .collect();
    ok_json(list)
}

pub(super) async fn panic_worker(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let w: usize = id.parse().map_err(|_| ApiError::not_found("worker", &id))?;
    s.workers
        .get(w)
        .ok_or_else(|| ApiError::not_found("worker", &id))?;
    match s.call(w, Request::Panic).await {
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => empty(),
        other => other.and_then(json_of),
    }
}

pub(super) async fn demo_page() -> Html<&'static str> {
    Html(include_str!("../demo/index.html"))
}

/// The demo page's script: `web/demo/main.js` with mediasoup-client, bundled by `web/build.mjs`.
pub(super) async fn demo_script() -> impl IntoResponse {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../demo/app.js"),
    )
}

pub(super) async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "no_route",
        message: "no such endpoint".into(),
    }
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: "method not allowed on this endpoint".into(),
    }
}

// ------------------------------------------------------------------ routers

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateRouterBody {
    media_codecs: Vec<RtpCodecCapability>,
    worker_id: Option<usize>,
}

pub(super) async fn create_router(
    State(s): State<Shared>,
    Body(b): Body<CreateRouterBody>,
) -> ApiResult {
    let w = match b.worker_id {
        Some(w) if s.workers.get(w).is_none() => {
            return Err(ApiError::unacceptable(format!(
                "workerId: no worker {w} (there are {})",
                s.workers.len()
            )));
        }
        Some(w) => w,
        // The live worker with the fewest routers, counted in the owner table (exact, unlike the
        // counters workers publish every loop iteration).
        None => s
            .least_loaded_worker()
            .ok_or_else(|| ApiError::unavailable("no worker is running"))?,
    };
    let id = Uuid::new_v4();
    let r = s
        .call(
            w,
            Request::CreateRouter {
                id,
                media_codecs: b.media_codecs,
            },
        )
        .await?;
    s.register(id, w, Kind::Router);
    let Response::Router(r) = r else {
        return json_of(r);
    };
    ok_json(json!({ "id": r.id, "workerId": w, "rtpCapabilities": r.rtp_capabilities }))
}

pub(super) async fn dump_router(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::Router)?;
    json_of(s.call(w, Request::DumpRouter { id }).await?)
}

pub(super) async fn router_stats(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::Router)?;
    json_of(s.call(w, Request::RouterStats { id }).await?)
}

pub(super) async fn close_router(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::Router)?;
    s.call(w, Request::CloseRouter { id }).await?;
    s.forget(&id);
    no_content()
}

// --------------------------------------------------------------- transports

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PlainTransportBody {
    #[serde(default)]
    comedia: bool,
    #[serde(default = "yes")]
    rtcp_mux: bool,
    #[serde(default)]
    enable_srtp: bool,
    srtp_crypto_suite: Option<String>,
    #[serde(default)]
    app_data: Value,
}

/// `srtpParameters` as mediasoup shapes them (SDES, RFC 4568): the suite and the master key
/// followed by the master salt, base64.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SrtpParametersBody {
    crypto_suite: String,
    key_base64: String,
}

fn srtp_profile(field: &str, name: &str) -> Result<SrtpProfile, ApiError> {
    SrtpProfile::from_name(name).ok_or_else(|| {
        ApiError::unacceptable(format!(
            "{field}: unsupported crypto suite {name:?} (AEAD_AES_256_GCM, AEAD_AES_128_GCM, \
             AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32)"
        ))
    })
}

fn yes() -> bool {
    true
}

pub(super) async fn create_plain_transport(
    State(s): State<Shared>,
    Path(router): Path<String>,
    Body(b): Body<PlainTransportBody>,
) -> ApiResult {
    let (router_id, w) = s.owner(&router, Kind::Router)?;
    let profile = match (b.enable_srtp, &b.srtp_crypto_suite) {
        (false, _) => None,
        (true, None) => Some(SrtpProfile::AesCm128HmacSha1_80),
        (true, Some(name)) => Some(srtp_profile("srtpCryptoSuite", name)?),
    };
    let id = Uuid::new_v4();
    let options = PlainTransportOptions {
        comedia: b.comedia,
        rtcp_mux: b.rtcp_mux,
        app_data: b.app_data,
    };
    let r = s
        .call(
            w,
            Request::CreatePlainTransport {
                router_id,
                id,
                options,
            },
        )
        .await?;
    s.register(id, w, Kind::PlainTransport);
    let Some(profile) = profile else {
        return json_of(r);
    };
    let Response::PlainTransport(reply) = r else {
        return json_of(r);
    };
    match s.call(w, Request::EnablePlainSrtp { id, profile }).await {
        Ok(Response::SrtpKey(key)) => {
            let mut v = serde_json::to_value(&reply).unwrap_or(Value::Null);
            v["srtpParameters"] = json!({
                "cryptoSuite": profile.name(),
                "keyBase64": base64::engine::general_purpose::STANDARD.encode(key),
            });
            ok_json(v)
        }
        Ok(other) => json_of(other),
        Err(e) => {
            let _ = s.call(w, Request::CloseTransport { id }).await;
            s.forget(&id);
            Err(e)
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WebRtcTransportBody {
    #[serde(default = "yes")]
    enable_udp: bool,
    #[serde(default)]
    enable_sctp: bool,
    #[serde(default)]
    app_data: Value,
}

/// `POST /v1/routers/{id}/webrtc-transports`: ICE-lite on the shared media port, the process
/// certificate's fingerprint. The transport is registered with the DTLS thread before the
/// answer leaves, so a ClientHello can never arrive for a transport it does not know.
pub(super) async fn create_webrtc_transport(
    State(s): State<Shared>,
    Path(router): Path<String>,
    Body(b): Body<WebRtcTransportBody>,
) -> ApiResult {
    let (router_id, w) = s.owner(&router, Kind::Router)?;
    if b.enable_sctp {
        return Err(ApiError::unacceptable(
            "enableSctp: data channels (SCTP) are not supported yet",
        ));
    }
    if !b.enable_udp {
        return Err(ApiError::unacceptable(
            "enableUdp: WebRTC transports run over UDP only",
        ));
    }
    let plane = s
        .webrtc()
        .ok_or_else(|| ApiError::unavailable("WebRTC transports are not enabled"))?;
    let id = Uuid::new_v4();
    plane.add(id, w);
    let options = WebRtcTransportOptions {
        dtls_parameters: plane.local_parameters(),
        app_data: b.app_data,
    };
    let r = s
        .call(
            w,
            Request::CreateWebRtcTransport {
                router_id,
                id,
                options,
            },
        )
        .await;
    match r {
        Ok(r) => {
            s.register(id, w, Kind::PlainTransport);
            json_of(r)
        }
        Err(e) => {
            plane.remove(id);
            Err(e)
        }
    }
}

/// `POST /v1/transports/{id}/restart-ice`: fresh ICE credentials.
pub(super) async fn restart_ice(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::PlainTransport)?;
    json_of(s.call(w, Request::RestartIce { id }).await?)
}

async fn connect_webrtc(s: &Shared, id: Uuid, remote: DtlsParameters) -> ApiResult {
    let plane = s
        .webrtc()
        .ok_or_else(|| ApiError::unavailable("WebRTC transports are not enabled"))?;
    match plane.connect(id, remote).await {
        Ok(_role) => empty(),
        Err(Some(DtlsDriverError::AlreadyConnected(_))) => Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: format!("transport {id} is already connected"),
        }),
        Err(Some(DtlsDriverError::UnknownTransport(_))) => Err(ApiError::unacceptable(format!(
            "dtlsParameters: transport {id} is not a WebRTC transport"
        ))),
        Err(Some(DtlsDriverError::Parameters(e))) => Err(ApiError::unacceptable(format!(
            "dtlsParameters.fingerprints: {e}"
        ))),
        Err(None) => Err(ApiError::unavailable("the DTLS thread is not running")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConnectBody {
    ip: Option<IpAddr>,
    port: Option<u16>,
    rtcp_port: Option<u16>,
    srtp_parameters: Option<SrtpParametersBody>,
    dtls_parameters: Option<DtlsParameters>,
}

pub(super) async fn connect_transport(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<ConnectBody>,
) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::PlainTransport)?;
    if let Some(remote) = b.dtls_parameters {
        return connect_webrtc(&s, id, remote).await;
    }
    if let Some(sp) = &b.srtp_parameters {
        let profile = srtp_profile("srtpParameters.cryptoSuite", &sp.crypto_suite)?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(sp.key_base64.trim())
            .map_err(|e| ApiError::unacceptable(format!("srtpParameters.keyBase64: {e}")))?;
        s.call(w, Request::SetPlainSrtpRemote { id, profile, key })
            .await?;
        // With comedia the remote's address comes with its first packet: the keys are all
        // that `connect` gives.
        if b.ip.is_none() && b.port.is_none() {
            return empty();
        }
    }
    let ip =
        b.ip.ok_or_else(|| ApiError::bad_request("invalid_field", "ip: missing field"))?;
    let port = b
        .port
        .ok_or_else(|| ApiError::bad_request("invalid_field", "port: missing field"))?;
    json_of(
        s.call(
            w,
            Request::ConnectPlainTransport {
                id,
                ip,
                port,
                rtcp_port: b.rtcp_port,
            },
        )
        .await?,
    )
}

pub(super) async fn dump_transport(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::PlainTransport)?;
    json_of(s.call(w, Request::DumpTransport { id }).await?)
}

pub(super) async fn transport_stats(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::PlainTransport)?;
    json_of(s.call(w, Request::TransportStats { id }).await?)
}

pub(super) async fn close_transport(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::PlainTransport)?;
    s.call(w, Request::CloseTransport { id }).await?;
    s.forget(&id);
    if let Some(plane) = s.webrtc() {
        plane.remove(id);
    }
    no_content()
}

// ---------------------------------------------------------------- producers

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProduceBody {
    kind: MediaKind,
    rtp_parameters: RtpParameters,
    #[serde(default)]
    paused: bool,
    #[serde(default)]
    app_data: Value,
}

pub(super) async fn produce(
    State(s): State<Shared>,
    Path(t): Path<String>,
    Body(b): Body<ProduceBody>,
) -> ApiResult {
    let (transport_id, w) = s.owner(&t, Kind::PlainTransport)?;
    let id = Uuid::new_v4();
    let options = ProduceOptions {
        id,
        kind: b.kind,
        rtp_parameters: b.rtp_parameters,
        paused: b.paused,
        app_data: b.app_data,
    };
    let r = s
        .call(
            w,
            Request::Produce {
                transport_id,
                options,
            },
        )
        .await?;
    s.register(id, w, Kind::Producer);
    json_of(r)
}

pub(super) async fn dump_producer(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::Producer)?;
    json_of(s.call(w, Request::DumpProducer { id }).await?)
}

pub(super) async fn producer_stats(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::Producer)?;
    json_of(s.call(w, Request::ProducerStats { id }).await?)
}

pub(super) async fn close_producer(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::Producer)?;
    s.call(w, Request::CloseProducer { id }).await?;
    s.forget(&id);
    no_content()
}

async fn pause_producer_as(s: Shared, id: String, paused: bool) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::Producer)?;
    json_of(s.call(w, Request::PauseProducer { id, paused }).await?)
}

pub(super) async fn pause_producer(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    pause_producer_as(s, id, true).await
}

pub(super) async fn resume_producer(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    pause_producer_as(s, id, false).await
}

// ---------------------------------------------------------------- consumers

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConsumeBody {
    producer_id: String,
    rtp_capabilities: RtpCapabilities,
    #[serde(default)]
    paused: bool,
    #[serde(default)]
    app_data: Value,
}

pub(super) async fn consume(
    State(s): State<Shared>,
    Path(t): Path<String>,
    Body(b): Body<ConsumeBody>,
) -> ApiResult {
    let (transport_id, w) = s.owner(&t, Kind::PlainTransport)?;
    let (producer_id, pw) = s
        .owner(&b.producer_id, Kind::Producer)
        .map_err(|_| ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("producerId: producer {} not found", b.producer_id),
        })?;
    if pw != w {
        return Err(ApiError::unacceptable(
            "producerId: the producer belongs to another router",
        ));
    }
    let id = Uuid::new_v4();
    let options = ConsumeOptions {
        id,
        producer_id,
        rtp_capabilities: b.rtp_capabilities,
        paused: b.paused,
        app_data: b.app_data,
    };
    let r = s
        .call(
            w,
            Request::Consume {
                transport_id,
                options,
            },
        )
        .await?;
    s.register(id, w, Kind::Consumer);
    json_of(r)
}

pub(super) async fn dump_consumer(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::Consumer)?;
    json_of(s.call(w, Request::DumpConsumer { id }).await?)
}

pub(super) async fn consumer_stats(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::Consumer)?;
    json_of(s.call(w, Request::ConsumerStats { id }).await?)
}

pub(super) async fn close_consumer(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::Consumer)?;
    s.call(w, Request::CloseConsumer { id }).await?;
    s.forget(&id);
    no_content()
}

async fn pause_consumer_as(s: Shared, id: String, paused: bool) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::Consumer)?;
    json_of(s.call(w, Request::PauseConsumer { id, paused }).await?)
}

pub(super) async fn pause_consumer(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    pause_consumer_as(s, id, true).await
}

pub(super) async fn resume_consumer(State(s): State<Shared>, Path(id): Path<String>) -> ApiResult {
    pause_consumer_as(s, id, false).await
}

pub(super) async fn request_key_frame(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::Consumer)?;
    json_of(s.call(w, Request::RequestKeyFrame { id }).await?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PreferredLayersBody {
    spatial_layer: u8,
    temporal_layer: Option<u8>,
}

pub(super) async fn preferred_layers(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<PreferredLayersBody>,
) -> ApiResult {
    let (id, w) = s.owner(&id, Kind::Consumer)?;
    if b.spatial_layer > 15 || b.temporal_layer.is_some_and(|t| t > 15) {
        return Err(ApiError::unacceptable(
            "spatialLayer/temporalLayer: must be 0-15",
        ));
    }
    // Layers above the producer's are clamped to its highest (mediasoup); a simple consumer
    // accepts the request and ignores it, as mediasoup's SimpleConsumer does.
    s.call(
        w,
        Request::SetPreferredLayers {
            id,
            spatial_layer: b.spatial_layer,
            temporal_layer: b.temporal_layer,
        },
    )
    .await?;
    empty()
}
