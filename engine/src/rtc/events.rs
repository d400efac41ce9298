//! State changes the core reports to the control plane (the SSE stream of DESIGN.md §4).

use uuid::Uuid;

use super::TransportTuple;

/// A spatial and temporal layer of a simulcast stream (mediasoup's `ConsumerLayers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerLayers {
    /// Index of the producer's encoding (0: the lowest).
    pub spatial_layer: u8,
    /// Temporal layer (Sluice forwards every temporal layer: the highest one).
    pub temporal_layer: u8,
}

/// One state change. Serialized by the control plane as `{"event": name, "data": {...}}`.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A producer closed (explicitly or with its transport or router).
    ProducerClose {
        /// The producer.
        producer_id: Uuid,
    },
    /// A consumer closed because its producer closed (mediasoup's `producerclose`).
    ConsumerProducerClose {
        /// The consumer.
        consumer_id: Uuid,
        /// Its producer.
        producer_id: Uuid,
    },
    /// A consumer closed (explicitly or with its transport or router).
    ConsumerClose {
        /// The consumer.
        consumer_id: Uuid,
    },
    /// A consumer's producer was paused.
    ConsumerProducerPause {
        /// The consumer.
        consumer_id: Uuid,
    },
    /// A consumer's producer was resumed.
    ConsumerProducerResume {
        /// The consumer.
        consumer_id: Uuid,
    },
    /// The layers a simulcast consumer forwards changed (mediasoup's `layerschange`): `None`
    /// when it forwards nothing (paused, or no layer of its producer is active).
    ConsumerLayersChange {
        /// The consumer.
        consumer_id: Uuid,
        /// What it forwards now.
        layers: Option<ConsumerLayers>,
    },
    /// A transport closed.
    TransportClose {
        /// The transport.
        transport_id: Uuid,
    },
    /// A plain transport learned or was given its remote tuple (`comedia` or `connect`).
    TransportTuple {
        /// The transport.
        transport_id: Uuid,
        /// Its tuple.
        tuple: TransportTuple,
    },
    /// A WebRTC transport's ICE state changed (mediasoup's `icestatechange`).
    TransportIceState {
        /// The transport.
        transport_id: Uuid,
        /// `new`, `connected`, `completed`, `disconnected` or `closed`.
        ice_state: &'static str,
    },
    /// A WebRTC transport's selected tuple changed (mediasoup's `iceselectedtuplechange`).
    TransportIceSelectedTuple {
        /// The transport.
        transport_id: Uuid,
        /// The new tuple.
        tuple: TransportTuple,
    },
    /// A WebRTC transport's DTLS state changed (mediasoup's `dtlsstatechange`).
    TransportDtlsState {
        /// The transport.
        transport_id: Uuid,
        /// `connecting`, `connected`, `failed` or `closed`.
        dtls_state: &'static str,
    },
    /// A router closed.
    RouterClose {
        /// The router.
        router_id: Uuid,
    },
}

impl Event {
    /// mediasoup-style event name, e.g. `consumer.producerclose`.
    pub fn name(&self) -> &'static str {
        match self {
            Event::ProducerClose { .. } => "producer.close",
            Event::ConsumerProducerClose { .. } => "consumer.producerclose",
            Event::ConsumerClose { .. } => "consumer.close",
            Event::ConsumerProducerPause { .. } => "consumer.producerpause",
            Event::ConsumerProducerResume { .. } => "consumer.producerresume",
            Event::ConsumerLayersChange { .. } => "consumer.layerschange",
            Event::TransportClose { .. } => "transport.close",
            Event::TransportTuple { .. } => "transport.tuple",
            Event::TransportIceState { .. } => "transport.icestatechange",
            Event::TransportIceSelectedTuple { .. } => "transport.iceselectedtuplechange",
            Event::TransportDtlsState { .. } => "transport.dtlsstatechange",
            Event::RouterClose { .. } => "router.close",
        }
    }
}
