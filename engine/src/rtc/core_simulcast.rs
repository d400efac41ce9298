//! The worker's side of simulcast: producer streams for encodings known by RID
//! ([`super::super::rtp_listener`]), layer choice of simulcast consumers when something
//! changes ([`super::super::simulcast_consumer`]), the preferred-layers request and the
//! inactivity scan run from the RTCP timers.

use std::time::Instant;

use serde_json::Value;
use uuid::Uuid;

use super::WorkerCore;
use super::media_codec;
use super::rtcp_io::RtcpState;
use crate::rtc::RtcError;
use crate::rtc::consumer::Consumer;
use crate::rtc::events::Event;
use crate::rtc::key_frame_request_manager::KeyFrameRequest;
use crate::rtc::producer::Producer;
use crate::rtc::rtp_parameters::{RtpParameters, ScalabilityMode};
use crate::rtc::rtp_stream::RtpStreamRecv;
use crate::rtc::simulcast_consumer::{SimulcastLayers, update_target};
use crate::rtc::slab::Slab;

/// The layer state for a consumer of `producer` with `consumer` parameters: simulcast when
/// the producer has more than one encoding (mediasoup's consumer types).
pub(super) fn layers_for(
    producer: &Producer,
    consumer: &RtpParameters,
) -> Option<Box<SimulcastLayers>> {
    let n = producer.streams.len();
    if n < 2 {
        return None;
    }
    let mode = ScalabilityMode::parse(
        consumer
            .encodings
            .first()
            .and_then(|e| e.scalability_mode.as_deref()),
    );
    Some(Box::new(SimulcastLayers::new(
        n.min(usize::from(u8::MAX)) as u8,
        mode.temporal_layers,
    )))
}

/// Queues a key frame request on stream `si` of `producer` (sent at the next timeout).
fn want_key_frame(producer: &mut Producer, si: usize, rtcp: &mut RtcpState) {
    if let Some(s) = producer.streams.get_mut(si)
        && s.bound
    {
        s.key_frames.defer(KeyFrameRequest::Pli);
        rtcp.wake();
    }
}

/// Stream `woken` of a simulcast producer started or came back with a packet that is a key
/// frame or not: its consumers look at their target again. No key frame is asked of the
/// woken stream when this very packet is one (they switch at it).
#[cold]
pub(super) fn stream_woke(
    producer: &mut Producer,
    woken: usize,
    key_frame: bool,
    consumers: &mut Slab<Consumer>,
    events: &mut Vec<Event>,
    rtcp: &mut RtcpState,
) {
    for i in 0..producer.consumers.len() {
        let Some(c) = consumers.get_mut(producer.consumers[i]) else {
            continue;
        };
        match update_target(c, &producer.streams, events) {
            Some(si) if si == woken && key_frame => {}
            Some(si) => want_key_frame(producer, si, rtcp),
            None => {}
        }
    }
}

/// Adds `preferredLayers`, `targetLayers` and `currentLayers` (mediasoup's names) to a
/// simulcast consumer's dump or stats entry.
pub(super) fn add_layers(c: &Consumer, out: &mut Value) {
    let (Some(l), Value::Object(m)) = (&c.simulcast, out) else {
        return;
    };
    let layers = |s: Option<usize>| serde_json::to_value(l.layers(s)).unwrap_or(Value::Null);
    m.insert(
        "preferredLayers".into(),
        serde_json::json!({
            "spatialLayer": l.preferred_spatial,
            "temporalLayer": l.preferred_temporal,
        }),
    );
    m.insert("targetLayers".into(), layers(l.target));
    m.insert("currentLayers".into(), layers(c.source_stream));
}

impl Consumer {
    /// "simulcast" for a consumer of several encodings, else "simple".
    pub(crate) fn type_name(&self) -> &'static str {
        if self.simulcast.is_some() {
            "simulcast"
        } else {
            "simple"
        }
    }
}

impl WorkerCore {
    /// One receive stream per encoding of a new producer on transport `t`: bound to its SSRC
    /// when the encoding gives one, else to be learnt from its RID (or, for a single encoding
    /// with neither, from its MID). Checks that every encoding can be recognised and that no
    /// SSRC is used twice.
    pub(super) fn producer_streams(
        &self,
        t: usize,
        params: &RtpParameters,
    ) -> Result<Vec<RtpStreamRecv>, RtcError> {
        let clock_rate = media_codec(&params.codecs)
            .map(|c| c.clock_rate)
            .unwrap_or(90_000);
        let single = params.encodings.len() == 1;
        let mut streams: Vec<RtpStreamRecv> = Vec::new();
        let used = |streams: &[RtpStreamRecv], ssrc: u32| {
            self.transports[t].ssrc_table.contains_key(&ssrc)
                || streams
                    .iter()
                    .any(|s| (s.bound && s.ssrc == ssrc) || s.rtx_ssrc == Some(ssrc))
        };
        for (i, enc) in params.encodings.iter().enumerate() {
            let rid = enc.rid.as_deref().filter(|r| !r.is_empty());
            if let Some(r) = rid
                && params.encodings[..i]
                    .iter()
                    .any(|e| e.rid.as_deref() == Some(r))
            {
                return Err(RtcError::Unacceptable {
                    field: format!("rtpParameters.encodings[{i}].rid"),
                    message: format!("rid {r} is used by another encoding"),
                });
            }
            let mut stream = match enc.ssrc {
                Some(ssrc) => {
                    if used(&streams, ssrc) {
                        return Err(RtcError::Conflict(format!(
                            "rtpParameters.encodings[{i}].ssrc {ssrc} is already used on this transport"
                        )));
                    }
                    let mut s = RtpStreamRecv::new(ssrc, clock_rate);
                    s.rid = rid.map(|r| r.as_bytes().into());
                    s
                }
                None if rid.is_some() || single => RtpStreamRecv::unbound(rid, clock_rate),
                None => {
                    return Err(RtcError::Unacceptable {
                        field: format!("rtpParameters.encodings[{i}].ssrc"),
                        message: "an encoding needs an ssrc or a rid when there are several".into(),
                    });
                }
            };
            if let Some(rtx) = &enc.rtx {
                if used(&streams, rtx.ssrc) || enc.ssrc == Some(rtx.ssrc) {
                    return Err(RtcError::Conflict(format!(
                        "rtpParameters.encodings[{i}].rtx.ssrc {} is already used on this transport",
                        rtx.ssrc
                    )));
                }
                stream.rtx_ssrc = Some(rtx.ssrc);
            }
            streams.push(stream);
        }
        if streams.is_empty() {
            return Err(RtcError::Unacceptable {
                field: "rtpParameters.encodings".into(),
                message: "at least one encoding is required".into(),
            });
        }
        Ok(streams)
    }

    /// `PUT /v1/consumers/{id}/preferred-layers` (mediasoup's `setPreferredLayers`): the
    /// spatial (and temporal) layer a simulcast consumer should forward, clamped to the
    /// producer's; it switches at the next key frame of the new target. A simple consumer
    /// accepts and ignores it, as mediasoup's `SimpleConsumer` does.
    pub fn set_consumer_preferred_layers(
        &mut self,
        id: Uuid,
        spatial_layer: u8,
        temporal_layer: Option<u8>,
    ) -> Result<(), RtcError> {
        let c = self.consumer_idx(id)?;
        let Some(l) = self.consumers[c].simulcast.as_mut() else {
            return Ok(());
        };
        if l.set_preferred(spatial_layer, temporal_layer) {
            self.update_layers(c);
        }
        Ok(())
    }

    /// Recomputes consumer `c`'s target layer; asks for a key frame of it when a switch is
    /// wanted.
    pub(super) fn update_layers(&mut self, c: usize) {
        let Some(consumer) = self.consumers.get_mut(c) else {
            return;
        };
        let p = consumer.producer;
        let producer = &mut self.producers[p];
        if let Some(si) = update_target(consumer, &producer.streams, &mut self.events) {
            want_key_frame(producer, si, &mut self.rtcp);
        }
    }

    /// Run from the RTCP timer scan: streams of simulcast producers silent for
    /// [`crate::rtc::rtp_stream::INACTIVITY`] stop counting as active (their consumers fall
    /// back), and consumers still waiting for a switch ask for the key frame again once the
    /// previous request's one-second window closed unanswered.
    pub(super) fn simulcast_timeouts(&mut self, now: Instant) {
        let Self {
            producers,
            consumers,
            events,
            rtcp,
            ..
        } = self;
        for (_, producer) in producers.iter_mut() {
            if producer.streams.len() < 2 {
                continue;
            }
            let mut changed = false;
            for s in &mut producer.streams {
                changed |= s.check_inactive(now);
            }
            for i in 0..producer.consumers.len() {
                let Some(c) = consumers.get_mut(producer.consumers[i]) else {
                    continue;
                };
                if changed && let Some(si) = update_target(c, &producer.streams, events) {
                    want_key_frame(producer, si, rtcp);
                    continue;
                }
                let waiting = c
                    .simulcast
                    .as_ref()
                    .and_then(|l| l.target)
                    .filter(|&t| c.active() && c.source_stream != Some(t));
                // Still waiting and the last request's window closed unanswered: ask again.
                if let Some(si) = waiting
                    && !producer.streams[si].key_frames.is_pending()
                {
                    want_key_frame(producer, si, rtcp);
                }
            }
        }
    }
}
