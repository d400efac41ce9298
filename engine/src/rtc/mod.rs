//! The sans-IO core: routers, transports, producers, consumers (mediasoup's object model).
//!
//! [`WorkerCore`] holds every object of one worker and is driven from outside:
//! [`WorkerCore::handle_datagram`] with `(now, socket, source, bytes)`, control methods for the
//! API, [`WorkerCore::handle_timeout`] for its timers (RTCP reports and key frame requests;
//! [`WorkerCore::poll_timeout`] says when, as str0m's `Output::Timeout`), and
//! [`WorkerCore::take_events`] for state changes. It owns no socket, no thread and no
//! clock: `now` is always an argument, and datagrams leave through [`crate::net::Transmit`].
//! Tests drive it with a simulated clock and a [`crate::net::VecTransmit`].
//!
//! Hot-path objects live in slabs indexed by small integers; the UUIDs of the API map to those
//! indices only on the control path.

mod codecs;
mod consumer;
mod core;
mod counters;
mod events;
mod key_frame_request_manager;
mod nack_generator;
mod producer;
mod retransmission_buffer;
mod router;
mod rtp_listener;
mod rtp_stream;
mod rtp_stream_send;
mod seq_manager;
mod simulcast_consumer;
mod slab;
mod transport;
mod twcc;

pub mod webrtc_dtls;
pub mod webrtc_peer;
pub mod webrtc_transport;

pub mod ice_server;
pub mod ortc;
pub mod rtp_parameters;
pub mod supported_rtp_capabilities;

#[cfg(test)]
mod nack_tests;
#[cfg(test)]
mod plain_srtp_tests;
#[cfg(test)]
mod rtcp_tests;
#[cfg(test)]
mod simulcast_tests;
/// Set-up for the scenario tests and the fuzz entry points (`crate::fuzz_entry`).
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod webrtc_tests;

pub use self::core::{
    ConsumeOptions, ConsumeReply, PlainTransportOptions, PlainTransportReply, ProduceOptions,
    ProduceReply, RouterReply, SharedOutcome, WorkerCore,
};
pub use counters::{DropReason, WorkerCounters};
pub use events::{ConsumerLayers, Event};
pub use transport::TransportTuple;

/// Errors of the control operations, each naming what was wrong. The control plane maps them
/// to HTTP statuses in one place.
#[derive(Debug, thiserror::Error)]
pub enum RtcError {
    /// No object with that id on this worker (HTTP 404).
    #[error("{kind} {id} not found")]
    NotFound {
        /// "router", "transport", "producer" or "consumer".
        kind: &'static str,
        /// The id asked for.
        id: uuid::Uuid,
    },
    /// The request is valid but conflicts with the object's state (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// A value is well-formed but unacceptable (HTTP 422), naming the field.
    #[error("{field}: {message}")]
    Unacceptable {
        /// JSON path of the offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request cannot be served for lack of a resource (HTTP 503), e.g. no free port.
    #[error("{0}")]
    Capacity(String),
}

impl From<ortc::OrtcError> for RtcError {
    fn from(e: ortc::OrtcError) -> Self {
        let field = match &e {
            ortc::OrtcError::InvalidField { field, .. }
            | ortc::OrtcError::Unsupported { field, .. } => field.clone(),
            _ => "rtpCapabilities".into(),
        };
        RtcError::Unacceptable {
            field,
            message: e.to_string(),
        }
    }
}
