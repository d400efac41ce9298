//! `GET /metrics` in the Prometheus text format: per-worker packets and bytes in and out,
//! forwarded RTP, drops by reason, hand-offs between workers, I/O counters and liveness.
//! Values are the counters each worker publishes once per loop iteration.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sluice_engine::rtc::DropReason;

use super::Shared;
use super::error::ApiError;

type Labels = Vec<(&'static str, String)>;

pub(super) struct Metrics {
    registry: Registry,
    packets_in: Family<Labels, Counter>,
    bytes_in: Family<Labels, Counter>,
    packets_out: Family<Labels, Counter>,
    bytes_out: Family<Labels, Counter>,
    rtp_forwarded: Family<Labels, Counter>,
    rtcp_in: Family<Labels, Counter>,
    rtcp_out: Family<Labels, Counter>,
    key_frame_requests: Family<Labels, Counter>,
    nacks: Family<Labels, Counter>,
    rtp_retransmitted: Family<Labels, Counter>,
    retransmissions_not_found: Family<Labels, Counter>,
    transport_cc_feedback: Family<Labels, Counter>,
    drops: Family<Labels, Counter>,
    handoffs_out: Family<Labels, Counter>,
    handoffs_in: Family<Labels, Counter>,
    io_tx_errors: Family<Labels, Counter>,
    io_tx_no_buffer: Family<Labels, Counter>,
    io_rx_no_buffer: Family<Labels, Counter>,
    io_rx_truncated: Family<Labels, Counter>,
    routers: Family<Labels, Gauge>,
    up: Family<Labels, Gauge>,
}

impl Metrics {
    pub(super) fn new() -> Self {
        let mut registry = Registry::with_prefix("sluice");
        let mut counter = |name: &str, help: &str| {
            let f = Family::<Labels, Counter>::default();
            registry.register(name, help, f.clone());
            f
        };
        let packets_in = counter("worker_packets_in", "Datagrams received");
        let bytes_in = counter("worker_bytes_in", "Bytes received");
        let packets_out = counter("worker_packets_out", "Datagrams queued for sending");
        let bytes_out = counter("worker_bytes_out", "Bytes queued for sending");
        let rtp_forwarded = counter("worker_rtp_forwarded", "RTP packets forwarded to consumers");
        let rtcp_in = counter("worker_rtcp_in", "RTCP packets received");
        let rtcp_out = counter(
            "worker_rtcp_out",
            "RTCP datagrams sent (reports, key frame requests)",
        );
        let key_frame_requests = counter(
            "worker_key_frame_requests",
            "Key frame requests from consumers and the API: sent to producers, or merged into one sent (suppressed)",
        );
        let nacks = counter(
            "worker_nacks",
            "Generic NACKs received from consumers' endpoints (direction=in) or sent to producers' (direction=out)",
        );
        let rtp_retransmitted = counter(
            "worker_rtp_retransmitted",
            "Packets resent to consumers for their NACKs",
        );
        let retransmissions_not_found = counter(
            "worker_retransmissions_not_found",
            "Packets named by consumers' NACKs that could not be resent",
        );
        let transport_cc_feedback = counter(
            "worker_transport_cc_feedback",
            "Transport-cc feedback packets sent to producers' endpoints",
        );
        let drops = counter("worker_drops", "Datagrams dropped, by reason");
        let handoffs_out = counter(
            "worker_handoffs_out",
            "Datagrams handed to the worker owning their flow",
        );
        let handoffs_in = counter(
            "worker_handoffs_in",
            "Datagrams received from other workers",
        );
        let io_tx_errors = counter("io_tx_errors", "Sends the kernel refused");
        let io_tx_no_buffer = counter("io_tx_no_buffer", "Sends dropped for lack of a send buffer");
        let io_rx_no_buffer = counter("io_rx_no_buffer", "Times the receive buffer ring ran dry");
        let io_rx_truncated = counter("io_rx_truncated", "Received datagrams dropped as too large");
        let routers = Family::<Labels, Gauge>::default();
        registry.register("worker_routers", "Routers on the worker", routers.clone());
        let up = Family::<Labels, Gauge>::default();
        registry.register(
            "worker_up",
            "1 while the worker runs, 0 after it stopped",
            up.clone(),
        );
        Self {
            registry,
            packets_in,
            bytes_in,
            packets_out,
            bytes_out,
            rtp_forwarded,
            rtcp_in,
            rtcp_out,
            key_frame_requests,
            nacks,
            rtp_retransmitted,
            retransmissions_not_found,
            transport_cc_feedback,
            drops,
            handoffs_out,
            handoffs_in,
            io_tx_errors,
            io_tx_no_buffer,
            io_rx_no_buffer,
            io_rx_truncated,
            routers,
            up,
        }
    }
}

fn set(f: &Family<Labels, Counter>, labels: &Labels, v: u64) {
    f.get_or_create(labels)
        .inner()
        .store(v, std::sync::atomic::Ordering::Relaxed);
}

pub(super) async fn scrape(State(s): State<Shared>) -> Result<impl IntoResponse, ApiError> {
    let m = &s.metrics;
    for w in s.workers.handles() {
        let st = w.stats();
        let l: Labels = vec![("worker", w.index().to_string())];
        set(&m.packets_in, &l, st.rtc.packets_in);
        set(&m.bytes_in, &l, st.rtc.bytes_in);
        set(&m.packets_out, &l, st.rtc.packets_out);
        set(&m.bytes_out, &l, st.rtc.bytes_out);
        set(&m.rtp_forwarded, &l, st.rtc.rtp_forwarded);
        set(&m.rtcp_in, &l, st.rtc.rtcp_in);
        set(&m.rtcp_out, &l, st.rtc.rtcp_out);
        for (outcome, v) in [
            ("sent", st.rtc.key_frame_requests_sent),
            ("suppressed", st.rtc.key_frame_requests_suppressed),
        ] {
            let kl: Labels = vec![
                ("worker", w.index().to_string()),
                ("outcome", outcome.to_string()),
            ];
            set(&m.key_frame_requests, &kl, v);
        }
        for (direction, v) in [("in", st.rtc.nacks_received), ("out", st.rtc.nacks_sent)] {
            let nl: Labels = vec![
                ("worker", w.index().to_string()),
                ("direction", direction.to_string()),
            ];
            set(&m.nacks, &nl, v);
        }
        set(&m.rtp_retransmitted, &l, st.rtc.rtp_retransmitted);
        set(
            &m.retransmissions_not_found,
            &l,
            st.rtc.retransmissions_not_found,
        );
        set(
            &m.transport_cc_feedback,
            &l,
            st.rtc.transport_cc_feedback_sent,
        );
        set(&m.handoffs_out, &l, st.rtc.handoffs_out);
        set(&m.handoffs_in, &l, st.rtc.handoffs_in);
        set(&m.io_tx_errors, &l, st.io.tx_errors);
        set(&m.io_tx_no_buffer, &l, st.io.tx_no_buffer);
        set(&m.io_rx_no_buffer, &l, st.io.rx_no_buffer);
        set(&m.io_rx_truncated, &l, st.io.rx_truncated);
        for r in DropReason::ALL {
            let dl: Labels = vec![
                ("worker", w.index().to_string()),
                ("reason", r.as_str().to_string()),
            ];
            set(&m.drops, &dl, st.rtc.drops_of(r));
        }
        m.routers.get_or_create(&l).set(st.routers as i64);
        m.up.get_or_create(&l).set(i64::from(w.is_alive()));
    }
    let mut text = String::new();
    encode(&mut text, &m.registry)
        .map_err(|e| ApiError::unavailable(format!("metrics encoding failed: {e}")))?;
    Ok((
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}
