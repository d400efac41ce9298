//! The event stream: `GET /v1/events` as Server-Sent Events. Each event is
//! `event: <mediasoup-style name>` with `data: {"event": name, "workerId": N, ...ids}`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event as SseFrame, KeepAlive, Sse};
use serde_json::{Value, json};
use sluice_engine::rtc::Event;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use uuid::Uuid;

use super::Shared;

/// One event as the stream carries it.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// mediasoup-style name, e.g. `consumer.producerclose`.
    pub name: &'static str,
    /// The JSON payload.
    pub data: Value,
    closed: Option<Uuid>,
}

impl SseEvent {
    /// Converts a worker's event.
    pub fn from_engine(worker: usize, e: &Event) -> Self {
        let (data, closed) = match e {
            Event::ProducerClose { producer_id } => {
                (json!({ "producerId": producer_id }), Some(*producer_id))
            }
            Event::ConsumerProducerClose {
                consumer_id,
                producer_id,
            } => (
                json!({ "consumerId": consumer_id, "producerId": producer_id }),
                Some(*consumer_id),
            ),
            Event::ConsumerClose { consumer_id } => {
                (json!({ "consumerId": consumer_id }), Some(*consumer_id))
            }
            Event::ConsumerProducerPause { consumer_id }
            | Event::ConsumerProducerResume { consumer_id } => {
                (json!({ "consumerId": consumer_id }), None)
            }
            Event::ConsumerLayersChange {
                consumer_id,
                layers,
            } => (
                json!({
                    "consumerId": consumer_id,
                    "spatialLayer": layers.map(|l| l.spatial_layer),
                    "temporalLayer": layers.map(|l| l.temporal_layer),
                }),
                None,
            ),
            Event::TransportClose { transport_id } => {
                (json!({ "transportId": transport_id }), Some(*transport_id))
            }
            Event::TransportTuple {
                transport_id,
                tuple,
            } => (json!({ "transportId": transport_id, "tuple": tuple }), None),
            Event::TransportIceState {
                transport_id,
                ice_state,
            } => (
                json!({ "transportId": transport_id, "iceState": ice_state }),
                None,
            ),
            Event::TransportIceSelectedTuple {
                transport_id,
                tuple,
            } => (
                json!({ "transportId": transport_id, "iceSelectedTuple": tuple }),
                None,
            ),
            Event::TransportDtlsState {
                transport_id,
                dtls_state,
            } => (
                json!({ "transportId": transport_id, "dtlsState": dtls_state }),
                None,
            ),
            Event::RouterClose { router_id } => {
                (json!({ "routerId": router_id }), Some(*router_id))
            }
        };
        let mut data = data;
        if let Value::Object(m) = &mut data {
            m.insert("event".into(), json!(e.name()));
            m.insert("workerId".into(), json!(worker));
        }
        Self {
            name: e.name(),
            data,
            closed,
        }
    }

    /// The id this event closed, if any.
    pub fn closed_id(&self) -> Option<Uuid> {
        self.closed
    }
}

pub(super) async fn stream(
    State(s): State<Shared>,
) -> Sse<impl tokio_stream::Stream<Item = Result<SseFrame, Infallible>>> {
    let events =
        BroadcastStream::new(s.events.subscribe()).filter_map(|r: Result<Arc<SseEvent>, _>| {
            // A lagging subscriber skips what it missed rather than ending the stream.
            r.ok()
                .map(|e| Some(SseFrame::default().event(e.name).data(e.data.to_string())))
        });
    // End the stream on shutdown so that a graceful stop does not wait on open streams.
    let stop = WatchStream::new(s.shutdown.clone())
        .filter(|v| *v)
        .map(|_| None);
    let frames = events
        .merge(stop)
        .take_while(Option::is_some)
        .filter_map(|f| f.map(Ok::<_, Infallible>));
    Sse::new(frames).keep_alive(KeepAlive::default())
}
