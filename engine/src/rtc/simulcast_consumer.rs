//! Simulcast consumers (mediasoup's `SimulcastConsumer`): a producer sends several encodings of
//! one source (RFC 8853; each its own SSRC and RID, see [`super::rtp_listener`]); each of its
//! consumers sends ONE of them at a time, its *current spatial layer*, on its own single SSRC
//! (the consumer's parameters say `scalabilityMode: "L<n>T<t>"`, [`super::ortc`]).
//!
//! **Which layer** ([`update_target`]). The *target* is the highest active layer not above the
//! preferred spatial layer (`PUT /v1/consumers/{id}/preferred-layers`; by default the
//! highest), or the lowest active one above it when none below is active — mediasoup's
//! `RecalculateTargetLayers` without bandwidth estimation. A layer is active while its packets
//! arrive: a stream silent for 1.5 s ([`super::rtp_stream::INACTIVITY`], mediasoup's
//! `RtpStreamRecv` inactivity check) stops counting, so the consumer falls back to a lower one,
//! and goes back up at the first packet of the higher one. The target is looked at again when
//! the preference changes, a stream starts or stops, and the consumer or its producer pauses
//! or resumes.
//!
//! **When to switch** ([`Consumer::admit`]). A receiver can only decode the new layer from a key
//! frame, so the current layer keeps flowing until a key frame of the target arrives; that
//! packet switches (one `consumer.layerschange` event). When the target changes, a key frame is
//! requested (PLI/FIR, [`super::key_frame_request_manager`]) from the target stream, and again
//! on every timer scan while the switch waits (the manager merges them to one per second).
//! Key frames are recognised for VP8, VP9 and H.264 ([`super::codecs`]): a simulcast producer
//! of another codec is never switched (nor started).
//!
//! **Continuity.** The consumer's sequence numbers continue without a gap across a switch (the
//! frame left incomplete on the old layer is simply never completed). Timestamps are mapped so
//! that the new layer's media lands at the right time on the consumer's clock: with sender
//! reports from both layers, the offset is the old one moved by the difference between the two
//! layers' NTP↔RTP mappings (mediasoup's NTP-based synchronisation, RFC 3550 §6.4.1); without
//! them, or when that offset would step the stream backwards or more than a second ahead of the
//! wall clock, the new layer continues from the last timestamp sent plus the time that passed
//! ([`super::seq_manager`]). Sender reports to the consumer come from the current layer's
//! stream, mapped through the current offset (`core_rtcp.rs`). mediasoup instead refuses to
//! switch to a layer without a sender report and adds up to 75 ms to a key frame whose
//! timestamp would not advance; the wall-clock rule covers both cases here.
//!
//! Key frame requests from the consumer's endpoint (PLI, FIR) go to the stream it currently
//! forwards (before the first switch: to the target).
//!
//! **Not done.** Temporal layers are not dropped: every temporal layer of the current spatial
//! layer is forwarded, and `temporalLayer` in layers reports the highest. No bandwidth
//! estimation drives the choice (mediasoup's BWE-managed layers, `StreamMinActiveMs`), no
//! consumer score, no padding-only packet filtering, no RTX (repaired packets are counted and
//! dropped at the producer).

use super::consumer::Consumer;
use super::events::{ConsumerLayers, Event};
use super::rtp_stream::RtpStreamRecv;

/// The layer state of a simulcast consumer. Its current spatial layer is the consumer's
/// `source_stream`.
#[derive(Debug, Clone)]
pub(crate) struct SimulcastLayers {
    /// Encodings of the producer.
    pub(crate) spatial_layers: u8,
    /// Temporal layers per encoding (from its scalability mode).
    pub(crate) temporal_layers: u8,
    pub(crate) preferred_spatial: u8,
    pub(crate) preferred_temporal: u8,
    /// The layer to switch to at its next key frame (equal to the current one when settled).
    pub(crate) target: Option<usize>,
}

impl SimulcastLayers {
    /// Layers for a producer with `spatial_layers` encodings of `temporal_layers` each,
    /// preferring the highest of both.
    pub(crate) fn new(spatial_layers: u8, temporal_layers: u8) -> Self {
        let (s, t) = (spatial_layers.max(1), temporal_layers.max(1));
        Self {
            spatial_layers: s,
            temporal_layers: t,
            preferred_spatial: s - 1,
            preferred_temporal: t - 1,
            target: None,
        }
    }

    /// Sets the preference, clamped to what exists (as mediasoup: a missing temporal layer
    /// means the highest). Returns whether it changed.
    pub(crate) fn set_preferred(&mut self, spatial: u8, temporal: Option<u8>) -> bool {
        let s = spatial.min(self.spatial_layers - 1);
        let t = temporal.unwrap_or(u8::MAX).min(self.temporal_layers - 1);
        let changed = (s, t) != (self.preferred_spatial, self.preferred_temporal);
        self.preferred_spatial = s;
        self.preferred_temporal = t;
        changed
    }

    /// The layers as events and dumps show them for current spatial layer `spatial`.
    pub(crate) fn layers(&self, spatial: Option<usize>) -> Option<ConsumerLayers> {
        spatial.map(|s| ConsumerLayers {
            spatial_layer: s as u8,
            temporal_layer: self.temporal_layers - 1,
        })
    }
}

/// What to do with one packet for one consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Not for this consumer.
    Drop,
    /// Forward it.
    Forward,
    /// The key frame of the target layer: switch to it ([`switch_layer`]), then forward.
    Switch,
}

impl Consumer {
    /// Whether a packet of producer stream `si` goes to this consumer (module docs).
    /// `key_frame` tells whether the packet starts a key frame; it is only asked when that
    /// decides.
    #[inline]
    pub(crate) fn admit(&self, si: usize, key_frame: &mut impl FnMut() -> bool) -> Admit {
        match &self.simulcast {
            None if self.source_stream == Some(si) => Admit::Forward,
            None => Admit::Drop,
            Some(l) => {
                if self.source_stream == Some(si) {
                    Admit::Forward
                } else if l.target == Some(si) && key_frame() {
                    Admit::Switch
                } else {
                    Admit::Drop
                }
            }
        }
    }

    /// The producer stream a key frame request on behalf of this consumer goes to: the one it
    /// forwards, else the one it waits for.
    pub(crate) fn key_frame_stream(&self) -> Option<usize> {
        self.source_stream
            .or_else(|| self.simulcast.as_ref().and_then(|l| l.target))
    }
}

/// The timestamp offset that maps stream `to` onto the consumer's clock, given the offset
/// `from_offset` that maps stream `from` onto it, when both streams have sender reports: a
/// moment at NTP time `n` is RTP time `t1 + (n - n1)·rate` on `from` and `t2 + (n - n2)·rate`
/// on `to`, so `offset_to = offset_from + t1 - t2 + (n2 - n1)·rate`.
pub(crate) fn ts_offset_between(
    from_offset: u32,
    from: &RtpStreamRecv,
    to: &RtpStreamRecv,
) -> Option<u32> {
    let (a, b) = (from.last_sr?, to.last_sr?);
    // NTP 32.32 difference in seconds × rate, in i128, rounded to the nearest tick.
    let dn = b.ntp.wrapping_sub(a.ntp) as i64;
    let dticks = (i128::from(dn) * i128::from(to.clock_rate) + (1 << 31)) >> 32;
    Some(
        from_offset
            .wrapping_add(a.rtp)
            .wrapping_sub(b.rtp)
            .wrapping_add(dticks as i64 as u32),
    )
}

/// Switches consumer `c` to stream `si` at its key frame: the sequence and timestamp
/// continue (module docs) and a layers change is told.
#[cold]
pub(crate) fn switch_layer(
    c: &mut Consumer,
    streams: &[RtpStreamRecv],
    si: usize,
    events: &mut Vec<Event>,
) {
    let hint = match (c.source_stream, c.seq.ts_offset()) {
        (Some(cur), Some(off)) if cur != si => ts_offset_between(off, &streams[cur], &streams[si]),
        _ => None,
    };
    c.seq.resync_with(hint);
    c.source_stream = Some(si);
    if let Some(l) = &c.simulcast {
        events.push(Event::ConsumerLayersChange {
            consumer_id: c.id,
            layers: l.layers(Some(si)),
        });
    }
}

/// Recomputes the target layer of a simulcast consumer from the state of its producer's
/// `streams` (module docs). Returns the stream a key frame is wanted from, if the consumer now
/// waits for a switch. A consumer that stops forwarding (paused, or nothing active) is told
/// in `events`.
pub(crate) fn update_target(
    c: &mut Consumer,
    streams: &[RtpStreamRecv],
    events: &mut Vec<Event>,
) -> Option<usize> {
    let active = c.active();
    let l = c.simulcast.as_mut()?;
    let mut target = None;
    if active {
        for (i, s) in streams.iter().enumerate() {
            if !s.bound || s.inactive {
                continue;
            }
            target = Some(i);
            if i >= usize::from(l.preferred_spatial) {
                break;
            }
        }
    }
    l.target = target;
    match target {
        None => {
            if c.source_stream.take().is_some() {
                events.push(Event::ConsumerLayersChange {
                    consumer_id: c.id,
                    layers: None,
                });
            }
            None
        }
        Some(t) if c.source_stream != Some(t) => Some(t),
        Some(_) => None,
    }
}
