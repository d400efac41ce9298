//! A Router: one room. Holds the RTP capabilities generated from its `mediaCodecs` and the
//! transports created in it; producers and consumers of one router never meet another's.

use uuid::Uuid;

use super::rtp_parameters::RtpCapabilities;

#[derive(Debug)]
pub(crate) struct Router {
    pub(crate) id: Uuid,
    pub(crate) rtp_capabilities: RtpCapabilities,
    /// Transport slab indices.
    pub(crate) transports: Vec<usize>,
}
