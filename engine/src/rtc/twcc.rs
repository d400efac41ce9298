//! The receive side of transport-wide congestion control
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01; mediasoup's
//! `TransportCongestionControlServer`): on a transport whose producers negotiated the
//! `transport-wide-cc-01` header extension and `transport-cc` feedback, the arrival time of
//! every RTP packet carrying a transport-wide sequence number is recorded, and feedback packets
//! (RTPFB FMT 15, [`crate::wire::rtcp::TransportCcWriter`]) report them to the sender, whose
//! bandwidth estimator (libwebrtc's send-side BWE) needs them: Chromium with transport-cc
//! negotiated and no feedback holds its estimate at ~30 kbit/s.
//!
//! **Recording** ([`TransportCcServer::incoming`]), per packet, without allocating: the 16-bit
//! sequence number is extended to 64 bits ([`SeqUnwrapper`]: wrap-around, reordering), and its
//! arrival time (µs since the first packet) goes into a ring of [`RING`] slots indexed by the
//! extended number. The ring always holds the [`RING`] numbers up to the newest one received:
//! moving the newest forward clears the slots of the numbers skipped, so a slot reads 0 exactly
//! when that packet has not arrived. A duplicate (slot already set) is ignored, as mediasoup
//! and libwebrtc do. A packet older than the ring, or than the first packet recorded, is
//! ignored: reporting it would call every number between it and the first one lost, when they
//! may have come before the transport had a server.
//!
//! **Reporting** ([`TransportCcServer::write_feedback`]), from the RTCP timer every 100 ms
//! (mediasoup's `TransportCcFeedbackSendInterval`; libwebrtc receivers default to the same), or
//! at once when half the ring waits to be reported. A feedback starts at the first number not
//! yet reported and goes on to the newest: lost packets are reported as not received; a packet
//! that arrives late, after feedback called it lost, moves the start back so the next feedback
//! reports it (and the ones after it) again, received (mediasoup and libwebrtc do the same). The
//! reference time is the first received packet's arrival in 64 ms steps; deltas are computed
//! from arrival times on a 250 µs grid, so rounding never accumulates. One feedback packet ends
//! where the next status would not fit [`MAX_TRANSPORT_CC_LEN`] or the datagram, or where a
//! delta is beyond ±8.19 s; the next packet then starts there, with a reference time of its
//! own. Numbers that fall out of the ring before they were reported (more than [`RING`] packets
//! in one interval, or no way to send) are never reported.
//!
//! Sender SSRC: the transport's own RTCP SSRC; media SSRC: that of the latest packet recorded
//! (mediasoup's choice; libwebrtc ignores the field). Feedback is sent alone, not in a compound
//! with an RR: every WebRTC endpoint that negotiates transport-cc also uses reduced-size RTCP
//! (RFC 5506), and mediasoup sends it the same way.
//!
//! Not done: Sluice's own bandwidth estimation from its consumers' transport-cc feedback (the
//! send side), REMB, and the `transport-wide-cc-02` extension (feedback on request).
//! Arrival times are those of the batch a datagram came in (the worker's `now`), not kernel
//! timestamps.

use std::time::Instant;

use crate::wire::rtcp::{MAX_TRANSPORT_CC_LEN, TransportCcWriter};
use crate::wire::rtp::{RtpPacket, SeqUnwrapper};

use super::rtp_parameters::RtpParameters;
use super::supported_rtp_capabilities::TRANSPORT_WIDE_CC_URI;

/// Slots of a transport's arrival ring (a power of two): at 100 ms per feedback, room for
/// ~10 000 packets/s (about 100 Mbit/s of 1200-byte packets) before the early feedback.
pub(crate) const RING: usize = 1024;
const MASK: u64 = RING as u64 - 1;
/// Unreported numbers that ask for feedback before the timer.
const EARLY: u64 = RING as u64 / 2;
/// Deltas are in 250 µs units (§3.1.5), the reference time in 64 ms units (§3.1).
const TICK_US: u64 = 250;
const REFERENCE_US: u64 = 64_000;

/// The transport-wide sequence number extension id a producer negotiated, if it also asked for
/// `transport-cc` feedback in one of its codecs (mediasoup's condition for its server); 0 if
/// not.
pub(crate) fn negotiated_id(params: &RtpParameters) -> u8 {
    let feedback = params
        .codecs
        .iter()
        .any(|c| c.rtcp_feedback.iter().any(|f| f.r#type == "transport-cc"));
    let id = params
        .header_extensions
        .iter()
        .find(|e| e.uri == TRANSPORT_WIDE_CC_URI)
        .map_or(0, |e| e.id);
    if feedback { id } else { 0 }
}

/// The arrival record and feedback state of one transport.
#[derive(Debug)]
pub(crate) struct TransportCcServer {
    /// The extension id, as the transport's producers negotiated it (BUNDLE keeps one id per
    /// URI for the whole transport, RFC 8843 §9.2; the latest producer's wins, as in mediasoup).
    pub(crate) ext_id: u8,
    unwrapper: SeqUnwrapper,
    /// Arrival times count from the first packet's.
    origin: Option<Instant>,
    /// Arrival time + 1 in µs since `origin`, per extended number modulo [`RING`]; 0: not
    /// received.
    ring: Box<[u64; RING]>,
    /// First and newest extended numbers received.
    first: u64,
    newest: Option<u64>,
    /// First extended number not yet reported.
    next: u64,
    media_ssrc: u32,
    feedback_count: u8,
    /// Feedback packets sent.
    pub(crate) feedback_sent: u64,
    /// Packets recorded (duplicates and packets older than the ring not included).
    pub(crate) recorded: u64,
}

impl TransportCcServer {
    /// A server reading the extension `ext_id` (allocates its ring: control path only).
    pub(crate) fn new(ext_id: u8) -> Self {
        Self {
            ext_id,
            unwrapper: SeqUnwrapper::new(),
            origin: None,
            ring: Box::new([0; RING]),
            first: 0,
            newest: None,
            next: 0,
            media_ssrc: 0,
            feedback_count: 0,
            feedback_sent: 0,
            recorded: 0,
        }
    }

    /// Records the arrival of `pkt` at `now` if it carries a transport-wide sequence number.
    /// Returns whether so many packets wait to be reported that feedback should go out now.
    #[inline]
    pub(crate) fn incoming(&mut self, now: Instant, pkt: &RtpPacket<'_>) -> bool {
        match pkt.extension(self.ext_id) {
            Some(&[a, b, ..]) => self.record(now, u16::from_be_bytes([a, b]), pkt.ssrc()),
            _ => false,
        }
    }

    /// Records the arrival of transport-wide number `seq` (see [`Self::incoming`]).
    pub(crate) fn record(&mut self, now: Instant, seq: u16, ssrc: u32) -> bool {
        let Some(ext) = self.unwrapper.extend(seq) else {
            return false;
        };
        let backlog = self.backlog();
        let origin = *self.origin.get_or_insert(now);
        let at = now.saturating_duration_since(origin).as_micros() as u64 + 1;
        match self.newest {
            None => {
                (self.first, self.newest, self.next) = (ext, Some(ext), ext);
            }
            Some(newest) if ext > newest => {
                // The numbers skipped have not arrived (yet): clear what their slots held.
                if ext - newest >= RING as u64 {
                    self.ring.fill(0);
                } else {
                    for s in newest + 1..ext {
                        self.ring[(s & MASK) as usize] = 0;
                    }
                }
                self.newest = Some(ext);
                // Unreported numbers pushed out of the ring are lost to feedback.
                self.next = self.next.max((ext + 1).saturating_sub(RING as u64));
            }
            Some(newest) if newest - ext < RING as u64 && ext >= self.first => {
                if self.ring[(ext & MASK) as usize] != 0 {
                    return false;
                }
                // Reported as not received already: report it again, received.
                self.next = self.next.min(ext);
            }
            Some(_) => return false,
        }
        self.ring[(ext & MASK) as usize] = at;
        self.media_ssrc = ssrc;
        self.recorded += 1;
        // Once per crossing: a backlog that cannot drain (no send buffer) does not wake the
        // timers at every packet.
        backlog < EARLY && self.backlog() >= EARLY
    }

    /// Numbers from the first unreported one to the newest.
    fn backlog(&self) -> u64 {
        self.newest.map_or(0, |n| (n + 1).saturating_sub(self.next))
    }

    /// Whether any recorded number is not yet reported.
    pub(crate) fn pending(&self) -> bool {
        self.newest.is_some_and(|n| n >= self.next)
    }

    /// Writes the next feedback packet into `buf` from `sender_ssrc`: the numbers from the
    /// first unreported one on, as many as fit. Returns its length and the number after the
    /// last one it reports, for [`Self::sent`]; `None` when nothing waits or `buf` is too
    /// small.
    pub(crate) fn write_feedback(&self, buf: &mut [u8], sender_ssrc: u32) -> Option<(usize, u64)> {
        let newest = self.newest?;
        if self.next > newest {
            return None;
        }
        let arrival = |s: u64| self.ring[(s & MASK) as usize].checked_sub(1);
        // The newest number is always received, so there is a first one.
        let first = (self.next..=newest).find_map(arrival)?;
        let reference = first / REFERENCE_US;
        let room = buf.len().min(MAX_TRANSPORT_CC_LEN);
        let mut w = TransportCcWriter::new(
            &mut buf[..room],
            sender_ssrc,
            self.media_ssrc,
            self.next as u16,
            (reference & 0xff_ffff) as u32,
            self.feedback_count,
        )
        .ok()?;
        // Arrival times on the 250 µs grid from the reference time.
        let mut last = (reference * REFERENCE_US / TICK_US) as i64;
        let mut end = self.next;
        while end <= newest {
            let status = match arrival(end) {
                None => None,
                Some(at) => {
                    let ticks = (at / TICK_US) as i64;
                    match i16::try_from(ticks - last) {
                        Ok(d) => Some((d, ticks)),
                        // Too far from the previous one: the next packet starts here.
                        Err(_) => break,
                    }
                }
            };
            if w.push(status.map(|(d, _)| d)).is_err() {
                break;
            }
            if let Some((_, ticks)) = status {
                last = ticks;
            }
            end += 1;
        }
        let len = w.finish().ok()?;
        Some((len, end))
    }

    /// The feedback that reported up to `end` (exclusive) went out.
    pub(crate) fn sent(&mut self, end: u64) {
        self.next = self.next.max(end);
        self.feedback_count = self.feedback_count.wrapping_add(1);
        self.feedback_sent += 1;
    }
}

/// The servers of a worker's transports, by transport slab index (slots are reused: a new
/// transport clears its slot).
#[derive(Debug, Default)]
pub(crate) struct TransportCcServers {
    slots: Vec<Option<Box<TransportCcServer>>>,
}

impl TransportCcServers {
    /// A transport was created at slab index `t`: no server until a producer asks for one.
    pub(crate) fn transport_added(&mut self, t: usize) {
        if self.slots.len() <= t {
            self.slots.resize_with(t + 1, || None);
        }
        self.slots[t] = None;
    }

    /// A producer with `params` was created on transport `t`: a server if it negotiated
    /// transport-cc (control path: allocates).
    pub(crate) fn producer_added(&mut self, t: usize, params: &RtpParameters) {
        let id = negotiated_id(params);
        if id == 0 {
            return;
        }
        if self.slots.len() <= t {
            self.slots.resize_with(t + 1, || None);
        }
        match &mut self.slots[t] {
            Some(server) => server.ext_id = id,
            slot => *slot = Some(Box::new(TransportCcServer::new(id))),
        }
    }

    /// The RTP ingress hook: records `pkt` if transport `t` has a server. Returns whether
    /// feedback should go out before the timer.
    #[inline]
    pub(crate) fn incoming(&mut self, t: usize, now: Instant, pkt: &RtpPacket<'_>) -> bool {
        match self.slots.get_mut(t) {
            Some(Some(server)) => server.incoming(now, pkt),
            _ => false,
        }
    }

    /// The server of transport `t`.
    pub(crate) fn get(&self, t: usize) -> Option<&TransportCcServer> {
        self.slots.get(t)?.as_deref()
    }

    /// The server of transport `t`, mutable.
    pub(crate) fn get_mut(&mut self, t: usize) -> Option<&mut TransportCcServer> {
        self.slots.get_mut(t)?.as_deref_mut()
    }
}

#[cfg(test)]
#[path = "twcc_tests.rs"]
mod tests;
