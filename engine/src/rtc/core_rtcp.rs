//! RTCP of a worker's transports (mediasoup's `Transport::HandleRtcpPacket` and
//! `Transport::SendRtcp`): what arrives is taken in, never forwarded as is; what Sluice sends
//! it writes itself, straight into the send buffer.
//!
//! **In** (a validated compound packet, RFC 3550 §6.1), per packet:
//! - SR from a producer's endpoint: its NTP↔RTP pair and arrival time go to the producer stream
//!   ([`crate::rtc::rtp_stream`]): they map the producer's RTP clock for the consumers' SRs and give
//!   LSR/DLSR for Sluice's RRs. Its report blocks are handled as an RR's.
//! - RR report blocks about a consumer's SSRC: the consumer's loss and round-trip time
//!   ([`crate::rtc::rtp_stream_send`]). They describe the consumer's leg only and end here.
//! - PLI (RFC 4585 §6.3.1) whose media SSRC is a consumer's, and each FIR entry (RFC 5104
//!   §4.3.1) naming one (a repeated command sequence number is not a new request, §4.3.1.2):
//!   a key frame request for the stream the consumer forwards, merged and rate-limited per
//!   producer stream ([`crate::rtc::key_frame_request_manager`]), then sent to the producer's
//!   endpoint as a PLI or FIR of its own: sender SSRC the transport's, media SSRC the
//!   producer's, FIR with the stream's own command sequence number. Only active video consumers
//!   ask, as in mediasoup.
//! - Generic NACK (RFC 4585 §6.2.1) whose media SSRC is a consumer's: the named packets are
//!   resent from the producer stream's buffer, rewritten for the consumer, as RTX when it
//!   negotiated RTX ([`super::nack`]). Never forwarded to the producer.
//! - Anything else (SDES, BYE, transport-cc, REMB, XR, APP) is ignored for now.
//!
//! **Transport-cc feedback** to producers (draft-holmer-rmcat-transport-wide-cc-extensions-01,
//! [`crate::rtc::twcc`], `core_twcc.rs`): the RTP ingress records every packet's transport-wide
//! sequence number and arrival time, and every run of the timers below (each 100 ms, or at once
//! when many packets wait) sends what arrived since the last feedback.
//!
//! **Out**, from [`WorkerCore::handle_timeout`]. Every transport has an RTCP timer: first 0.5 s
//! after it is seen, then every 1 s × a random factor in [1, 1.5] — mediasoup's timer, a
//! simplified RFC 3550 §6.3.5: no bandwidth-scaled interval (an SFU's RTCP is a tiny share of
//! its media), no reconsideration, no BYE timing. When it fires, in as few datagrams as fit
//! (each < [`MAX_DATAGRAM`] minus room for the SRTCP trailer):
//! - one SR (RFC 3550 §6.4.1) per active consumer that has sent packets and whose last SR is
//!   at least 1 s (video) or 5 s (audio) old, within a 15 % tolerance (mediasoup's
//!   `MaxVideoIntervalMs`/`MaxAudioIntervalMs`): the consumer's SSRC, packet count and payload
//!   octet count; NTP time from Sluice's wall clock ([`WorkerCore::set_wall_clock`]); the RTP
//!   timestamp is the producer's latest SR pair moved forward by the time since it arrived and
//!   shifted by the consumer's timestamp offset. Each consumer thus inherits its producer's
//!   NTP↔RTP relation, and two streams of one sender (audio and video) keep the relative
//!   timing their sender reported: lip sync survives, up to the difference between the one-way
//!   delays of their two SRs (re-anchored at every SR, so it does not accumulate). Before the
//!   producer's first SR the timestamp is extrapolated from the last packet sent, as mediasoup
//!   does. The SRs are followed by one SDES with each consumer's CNAME (its
//!   `rtpParameters.rtcp.cname`, RFC 3550 §6.5.1).
//! - one RR (RFC 3550 §6.4.2) from the transport's own SSRC with a report block per producer
//!   stream that has received packets, on the same 1 s / 5 s rule: fraction lost over the
//!   interval and cumulative lost (A.3), extended highest sequence number, interarrival jitter
//!   (A.8), LSR/DLSR from the producer's last SR; then an SDES with the transport's CNAME (its
//!   id).
//!
//! Key frame requests decided on the control path (a video consumer created unpaused or
//! resumed, its producer resumed, `request-key-frame`) are queued on the producer stream and go
//! out on the next `handle_timeout`, which [`WorkerCore::poll_timeout`] then asks for at once.
//!
//! Time is an argument: [`WorkerCore::handle_timeout`] with the current time and a
//! [`Transmit`], [`WorkerCore::poll_timeout`] for when to call it next (str0m's
//! `Input::Timeout`/`Output::Timeout`). Nothing here allocates: reports are written into the
//! transmit buffer, with report blocks gathered in a stack array first.
//!
//! - generic NACKs (RFC 4585 §6.2.1) to a producer's endpoint for the packets missing from
//!   its video streams, on a timer of their own ([`RtcpState::nack_soon`]: 10 ms after a gap,
//!   then every 20 ms while any is missing), not the 100 ms scan ([`super::nack`]).
//!
//! Not done: REMB, bandwidth estimation from consumers' transport-cc feedback (Sluice answers
//! its producers' transport-cc, it does not act on its consumers'), XR, RTCP on behalf of
//! paused consumers (a paused consumer sends no SR), BYE when a consumer closes.

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::WorkerCore;
use crate::net::{MAX_DATAGRAM, Transmit};
use crate::rtc::RtcError;
use crate::rtc::consumer::Consumer;
use crate::rtc::counters::{DropReason, WorkerCounters};
use crate::rtc::key_frame_request_manager::KeyFrameRequest;
use crate::rtc::producer::Producer;
use crate::rtc::rtp_parameters::{MediaKind, RtpParameters};
use crate::rtc::rtp_stream::{RtpStreamRecv, ticks};
use crate::rtc::slab::Slab;
use crate::rtc::transport::Transport;
use crate::wire::rtcp::{
    self, ReportBlock, RtcpPacket, SenderInfo, write_fir, write_pli, write_receiver_report,
    write_sdes_cname, write_sdes_cnames, write_sender_report,
};

/// Longest interval between two SRs of a video stream (or RRs about one).
pub(crate) const MAX_VIDEO_INTERVAL: Duration = Duration::from_secs(1);
/// Longest interval between two SRs of an audio stream (or RRs about one).
pub(crate) const MAX_AUDIO_INTERVAL: Duration = Duration::from_secs(5);
/// A transport's RTCP timer: base interval (times a random factor in [1, 1.5]) and first run.
const TRANSPORT_INTERVAL: Duration = Duration::from_secs(1);
const FIRST_REPORT: Duration = Duration::from_millis(500);
/// How often the timers are looked at.
const SCAN_INTERVAL: Duration = Duration::from_millis(100);
/// Room left at the end of every RTCP datagram for the SRTCP trailer (RFC 3711 §3.4: E flag and
/// index, MKI, tag).
const SRTCP_ROOM: usize = 64;
const RTCP_BUDGET: usize = MAX_DATAGRAM - SRTCP_ROOM;
/// Seconds from the NTP epoch (1900) to the Unix epoch.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// SR and SDES chunk in a compound, at most (RFC 3550 count fields are 5 bits).
const MAX_COUNT: usize = 31;

/// The RTCP timers and clock of one worker.
#[derive(Debug, Default)]
pub(super) struct RtcpState {
    /// `(instant, time since the Unix epoch)` at one moment: Sluice's NTP clock.
    wall: Option<(Instant, Duration)>,
    /// The latest `now` seen by `handle_timeout`.
    last_now: Option<Instant>,
    next_scan: Option<Instant>,
    /// Key frame requests are waiting on producer streams.
    deferred: bool,
    /// Per transport slab index: its id (slots are reused) and when its reports are due.
    timers: Vec<Option<(Uuid, Instant)>>,
    /// Transport-cc arrival records, per transport slab index (`core_twcc.rs`).
    pub(super) twcc: crate::rtc::twcc::TransportCcServers,
    /// When NACKs for producers' missing packets are due ([`super::nack`]).
    nack_at: Option<Instant>,
}

impl RtcpState {
    /// Key frame requests were queued on producer streams: the next `handle_timeout` sends
    /// them.
    pub(super) fn wake(&mut self) {
        self.deferred = true;
    }

    /// Producers' missing packets are to be asked for at `at` (or sooner, if already due).
    pub(super) fn nack_soon(&mut self, at: Instant) {
        self.nack_at = Some(self.nack_at.map_or(at, |t| t.min(at)));
    }

    /// Sluice's NTP time at `now` (RFC 3550 §4: 32.32 fixed point seconds since 1900). Without
    /// a wall clock the first `now` seen counts as the Unix epoch.
    pub(super) fn ntp(&mut self, now: Instant) -> u64 {
        let (at, unix) = *self.wall.get_or_insert((now, Duration::ZERO));
        let t = if now >= at {
            unix + (now - at)
        } else {
            unix.saturating_sub(at - now)
        };
        let frac = (u64::from(t.subsec_nanos()) << 32) / 1_000_000_000;
        ((t.as_secs() + NTP_UNIX_OFFSET) << 32) | frac
    }
}

/// Whether a report last sent at `last` is due again at `now` (mediasoup: elapsed × 1.15 ≥ the
/// kind's maximum interval).
fn report_due(last: Option<Instant>, now: Instant, kind: MediaKind) -> bool {
    let max = match kind {
        MediaKind::Audio => MAX_AUDIO_INTERVAL,
        MediaKind::Video => MAX_VIDEO_INTERVAL,
    };
    last.is_none_or(|t| now.saturating_duration_since(t).mul_f64(1.15) >= max)
}

/// A consumer sends SRs once it sent packets, while active, and not between a resume and the
/// next packet (its timestamp offset is only known then).
fn sr_due(c: &Consumer, now: Instant) -> bool {
    c.packets > 0
        && c.active()
        && !c.seq.resync_pending()
        && report_due(c.rtp_stream.last_sr_at, now, c.kind)
}

fn cname(c: &Consumer) -> &[u8] {
    c.rtp_parameters
        .rtcp
        .cname
        .as_deref()
        .unwrap_or_default()
        .as_bytes()
}

/// A transport's CNAME for its own SSRC: its id in hex, written into `buf`.
pub(super) fn transport_cname(id: Uuid, buf: &mut [u8; 32]) -> &[u8] {
    id.simple().encode_lower(buf).as_bytes()
}

/// The sender information of a consumer's SR at `now`, or `None` before it sent anything.
fn sender_info(c: &Consumer, stream: &RtpStreamRecv, ntp: u64, now: Instant) -> Option<SenderInfo> {
    let rtp_timestamp = match (stream.rtp_timestamp_at(now), c.seq.ts_offset()) {
        (Some(ts), Some(offset)) => ts.wrapping_add(offset),
        _ => {
            let (ts, at) = c.seq.last_sent()?;
            ts.wrapping_add(ticks(now.saturating_duration_since(at), stream.clock_rate))
        }
    };
    Some(SenderInfo {
        ssrc: c.ssrc,
        ntp_sec: (ntp >> 32) as u32,
        ntp_frac: ntp as u32,
        rtp_timestamp,
        packet_count: c.packets as u32,
        octet_count: c.rtp_stream.payload_bytes as u32,
    })
}

/// A consumer's SR at `now` when one is due.
fn due_sender_info(
    c: &Consumer,
    producers: &Slab<Producer>,
    ntp: u64,
    now: Instant,
) -> Option<SenderInfo> {
    if !sr_due(c, now) {
        return None;
    }
    // A simulcast consumer reports from the layer it forwards (its offset maps that one).
    let stream = producers[c.producer].streams.get(c.source_stream?)?;
    sender_info(c, stream, ntp, now)
}

/// Queues one RTCP datagram to a transport's remote. All RTCP Sluice sends leaves through
/// here (SRTCP protection belongs here too). `fill` gets a buffer of [`RTCP_BUDGET`] bytes and
/// must write at least one packet.
pub(super) fn send_rtcp<T: Transmit>(
    tx: &mut T,
    transport: &mut Transport,
    counters: &mut WorkerCounters,
    fill: impl FnOnce(&mut [u8]) -> usize,
) -> bool {
    let Some((sock, dest)) = transport.rtcp_destination() else {
        return false;
    };
    // WebRTC and SDES-SRTP transports: SRTCP (RFC 3711 §3.4), protected in the send buffer,
    // whose tail room (MAX_DATAGRAM − RTCP_BUDGET) holds the tag and index.
    let srtp = transport.srtp_outbound();
    let mut len = 0;
    let sent = tx.send_with(sock, dest, |buf| {
        len = fill(&mut buf[..RTCP_BUDGET]);
        if let Some(ctx) = srtp {
            len = ctx.protect_rtcp(buf, len).unwrap_or(0);
        }
        len
    });
    if sent && len == 0 {
        counters.drop(DropReason::SrtpProtect);
        return false;
    }
    if sent {
        counters.rtcp_out += 1;
        counters.packets_out += 1;
        counters.bytes_out += len as u64;
        transport.counters.bytes_sent += len as u64;
    } else {
        counters.drop(DropReason::NoSendBuffer);
    }
    sent
}

/// Sends a PLI or FIR for `stream` to the producer's endpoint behind `transport` (the window
/// check is the caller's).
fn send_key_frame_request<T: Transmit>(
    tx: &mut T,
    transport: &mut Transport,
    reduced_size: bool,
    stream: &mut RtpStreamRecv,
    wanted: KeyFrameRequest,
    counters: &mut WorkerCounters,
) {
    let kind = stream.feedback.choose(wanted);
    let sender = transport.rtcp_ssrc();
    let media = stream.ssrc;
    let fir_seq = match kind {
        KeyFrameRequest::Fir => stream.key_frames.next_fir_seq(),
        KeyFrameRequest::Pli => 0,
    };
    let mut cname_buf = [0u8; 32];
    let cname = transport_cname(transport.id, &mut cname_buf);
    let sent = send_rtcp(tx, transport, counters, |buf| {
        let mut n = 0;
        if !reduced_size {
            // A full compound packet (RFC 4585 §3.1): RR and SDES before the feedback.
            n += write_receiver_report(buf, sender, &[]).unwrap_or(0);
            n += write_sdes_cname(&mut buf[n..], sender, cname).unwrap_or(0);
        }
        n + match kind {
            KeyFrameRequest::Pli => write_pli(&mut buf[n..], sender, media),
            KeyFrameRequest::Fir => write_fir(&mut buf[n..], sender, &[(media, fir_seq)]),
        }
        .unwrap_or(0)
    });
    if sent {
        stream.key_frames.sent(kind);
        counters.key_frame_requests_sent += 1;
    }
}

impl WorkerCore {
    /// Anchors Sluice's NTP clock (the sender reports' timestamps): at `now` it is
    /// `since_unix_epoch`. The worker calls this once at start; without it the first `now`
    /// seen is taken as the Unix epoch.
    pub fn set_wall_clock(&mut self, now: Instant, since_unix_epoch: Duration) {
        self.rtcp.wall = Some((now, since_unix_epoch));
    }

    /// When [`Self::handle_timeout`] wants to run next: a time in the past (the latest `now`
    /// it saw) when key frame requests are waiting, `None` before its first call.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = if self.rtcp.deferred {
            self.rtcp.last_now.or(self.rtcp.next_scan)
        } else {
            self.rtcp.next_scan
        };
        match (next, self.rtcp.nack_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the RTCP timers due at `now`: queued and repeated key frame requests, sender
    /// reports to consumers, receiver reports and transport-cc feedback to producers. Cheap
    /// when nothing is due, so the worker may call it on every loop iteration.
    pub fn handle_timeout<T: Transmit>(&mut self, now: Instant, tx: &mut T) {
        self.rtcp.last_now = Some(now);
        if self.rtcp.nack_at.is_some_and(|t| now >= t) {
            self.rtcp.nack_at = None;
            self.send_nacks(now, tx);
        }
        if !self.rtcp.deferred && self.rtcp.next_scan.is_some_and(|t| now < t) {
            return;
        }
        self.rtcp.deferred = false;
        self.rtcp.next_scan = Some(now + SCAN_INTERVAL);
        self.simulcast_timeouts(now);
        self.key_frame_timeouts(now, tx);
        self.send_reports(now, tx);
        self.send_transport_cc_feedback(tx);
    }

    /// Makes room for a new transport's RTCP timer on the control path (the timers then never
    /// allocate).
    pub(super) fn rtcp_transport_added(&mut self, t: usize) {
        if self.rtcp.timers.len() <= t {
            self.rtcp.timers.resize(t + 1, None);
        }
        self.rtcp.twcc.transport_added(t);
    }

    /// `POST /v1/consumers/{id}/request-key-frame`: asks the producer for a key frame when the
    /// consumer is an active video consumer (mediasoup's `Consumer::RequestKeyFrame`).
    pub fn request_key_frame(&mut self, id: Uuid) -> Result<(), RtcError> {
        let c = self.consumer_idx(id)?;
        self.key_frame_on_activate(c);
        Ok(())
    }

    /// Queues a key frame request for the stream an active video consumer forwards.
    pub(super) fn key_frame_on_activate(&mut self, c: usize) {
        let consumer = &self.consumers[c];
        if consumer.kind != MediaKind::Video || !consumer.active() {
            return;
        }
        let Some(si) = consumer.key_frame_stream() else {
            return;
        };
        if let Some(s) = self.producers[consumer.producer].streams.get_mut(si)
            && s.bound
        {
            s.key_frames.defer(KeyFrameRequest::Pli);
            self.rtcp.deferred = true;
        }
    }

    /// After a producer resumes: its active video consumers need a key frame.
    pub(super) fn key_frame_on_producer_resume(&mut self, p: usize) {
        for i in 0..self.producers[p].consumers.len() {
            let c = self.producers[p].consumers[i];
            self.key_frame_on_activate(c);
        }
    }

    /// Gives a producer without a CNAME the one of the transport's other producers, or one of
    /// the transport's own (as mediasoup's `Transport.produce` does), so that its consumers'
    /// sender reports and SDES carry one and streams of one sender share it.
    pub(super) fn fill_producer_cname(&self, t: usize, params: &mut RtpParameters) {
        // An empty CNAME counts as none (mediasoup-client sends "" for RID simulcast, whose
        // SDP has no a=ssrc lines to take one from; mediasoup fills it in too).
        if params.rtcp.cname.as_deref().is_some_and(|c| !c.is_empty()) {
            return;
        }
        let transport = &self.transports[t];
        let cname = transport
            .producers
            .iter()
            .filter_map(|&p| self.producers[p].rtp_parameters.rtcp.cname.clone())
            .find(|c| !c.is_empty())
            .unwrap_or_else(|| transport.id.simple().to_string()[..8].to_owned());
        params.rtcp.cname = Some(cname);
    }

    /// Takes in a validated compound RTCP packet that arrived on transport `t` (module docs).
    pub(super) fn receive_rtcp<T: Transmit>(
        &mut self,
        now: Instant,
        t: usize,
        data: &[u8],
        tx: &mut T,
    ) {
        for packet in rtcp::compound(data) {
            let Ok(packet) = packet else { return };
            match packet {
                RtcpPacket::SenderReport(sr) => {
                    let ssrc = sr.ssrc();
                    if let Some(&p) = self.transports[t].ssrc_table.get(&ssrc)
                        && let Some(s) = self.producers[p].stream_mut(ssrc)
                    {
                        s.receive_sender_report(now, &sr.sender_info());
                    }
                    for block in sr.report_blocks() {
                        self.receive_report_block(now, t, &block);
                    }
                }
                RtcpPacket::ReceiverReport(rr) => {
                    for block in rr.report_blocks() {
                        self.receive_report_block(now, t, &block);
                    }
                }
                RtcpPacket::Pli(pli) => {
                    if let Some(c) = self.consumer_by_ssrc(t, pli.media_ssrc) {
                        self.consumers[c].rtp_stream.pli_received += 1;
                        self.key_frame_requested(now, c, KeyFrameRequest::Pli, tx);
                    }
                }
                RtcpPacket::Nack(nack) => self.receive_nack(now, t, &nack, tx),
                RtcpPacket::Fir(fir) => {
                    for (ssrc, seq) in fir.entries() {
                        if let Some(c) = self.consumer_by_ssrc(t, ssrc) {
                            let s = &mut self.consumers[c].rtp_stream;
                            s.fir_received += 1;
                            if s.new_fir(seq) {
                                self.key_frame_requested(now, c, KeyFrameRequest::Fir, tx);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    pub(super) fn consumer_by_ssrc(&self, t: usize, ssrc: u32) -> Option<usize> {
        self.transports[t]
            .consumers
            .iter()
            .copied()
            .find(|&c| self.consumers[c].ssrc == ssrc)
    }

    fn receive_report_block(&mut self, now: Instant, t: usize, block: &ReportBlock) {
        if let Some(c) = self.consumer_by_ssrc(t, block.ssrc) {
            let ntp = self.rtcp.ntp(now);
            self.consumers[c].rtp_stream.receive_report(ntp, block);
        }
    }

    /// A consumer's endpoint asked for a key frame: relayed to the producer unless merged.
    fn key_frame_requested<T: Transmit>(
        &mut self,
        now: Instant,
        c: usize,
        kind: KeyFrameRequest,
        tx: &mut T,
    ) {
        let consumer = &self.consumers[c];
        if consumer.kind != MediaKind::Video || !consumer.active() {
            return;
        }
        let (p, Some(si)) = (consumer.producer, consumer.key_frame_stream()) else {
            return;
        };
        let Self {
            transports,
            producers,
            counters,
            ..
        } = self;
        let producer = &mut producers[p];
        let reduced_size = producer.rtp_parameters.rtcp.reduced_size;
        let transport = &mut transports[producer.transport];
        let Some(stream) = producer.streams.get_mut(si).filter(|s| s.bound) else {
            return;
        };
        if stream.key_frames.key_frame_needed(now, kind) {
            send_key_frame_request(tx, transport, reduced_size, stream, kind, counters);
        } else {
            counters.key_frame_requests_suppressed += 1;
        }
    }

    /// Deferred requests and retransmissions of unanswered ones.
    fn key_frame_timeouts<T: Transmit>(&mut self, now: Instant, tx: &mut T) {
        let Self {
            transports,
            producers,
            counters,
            ..
        } = self;
        for (_, producer) in producers.iter_mut() {
            if producer.kind != MediaKind::Video {
                continue;
            }
            let reduced_size = producer.rtp_parameters.rtcp.reduced_size;
            let transport = &mut transports[producer.transport];
            for stream in producer.streams.iter_mut().filter(|s| s.bound) {
                let suppressed = stream.key_frames.suppressed;
                if let Some(kind) = stream.key_frames.handle_timeout(now) {
                    send_key_frame_request(tx, transport, reduced_size, stream, kind, counters);
                }
                counters.key_frame_requests_suppressed += stream.key_frames.suppressed - suppressed;
            }
        }
    }

    /// Runs the RTCP timer of every transport due at `now`.
    fn send_reports<T: Transmit>(&mut self, now: Instant, tx: &mut T) {
        let ntp = self.rtcp.ntp(now);
        let Self {
            transports,
            producers,
            consumers,
            counters,
            rtcp,
            ..
        } = self;
        for (t, transport) in transports.iter_mut() {
            if rtcp.timers.len() <= t {
                // A transport created without `rtcp_transport_added`.
                rtcp.timers.resize(t + 1, None);
            }
            match rtcp.timers[t] {
                Some((id, due)) if id == transport.id => {
                    if now < due {
                        continue;
                    }
                }
                _ => {
                    rtcp.timers[t] = Some((transport.id, now + FIRST_REPORT));
                    continue;
                }
            }
            let factor = 1.0 + rand::random::<f64>() * 0.5;
            rtcp.timers[t] = Some((transport.id, now + TRANSPORT_INTERVAL.mul_f64(factor)));
            if transport.rtcp_destination().is_none() {
                continue;
            }
            send_sender_reports(now, ntp, tx, transport, producers, consumers, counters);
            send_receiver_reports(now, tx, transport, producers, counters);
        }
    }
}

/// SRs for the consumers of `transport` that are due, each datagram followed by an SDES with
/// their CNAMEs.
fn send_sender_reports<T: Transmit>(
    now: Instant,
    ntp: u64,
    tx: &mut T,
    transport: &mut Transport,
    producers: &Slab<Producer>,
    consumers: &mut Slab<Consumer>,
    counters: &mut WorkerCounters,
) {
    let mut i = 0;
    loop {
        let n = transport.consumers.len();
        while i < n
            && due_sender_info(&consumers[transport.consumers[i]], producers, ntp, now).is_none()
        {
            i += 1;
        }
        if i == n {
            return;
        }
        let list = std::mem::take(&mut transport.consumers);
        let mut included = [0usize; MAX_COUNT];
        let mut k = 0;
        send_rtcp(tx, transport, counters, |buf| {
            let mut len = 0;
            let mut sdes_len = 4;
            while i < list.len() && k < MAX_COUNT {
                let c = &consumers[list[i]];
                let Some(info) = due_sender_info(c, producers, ntp, now) else {
                    i += 1;
                    continue;
                };
                let chunk = (4 + 2 + cname(c).len() + 1).div_ceil(4) * 4;
                if k > 0 && len + 28 + sdes_len + chunk > buf.len() {
                    break;
                }
                len += write_sender_report(&mut buf[len..], &info, &[]).unwrap_or(0);
                sdes_len += chunk;
                included[k] = list[i];
                k += 1;
                i += 1;
            }
            let chunks = included[..k]
                .iter()
                .map(|&c| (consumers[c].ssrc, cname(&consumers[c])));
            len + write_sdes_cnames(&mut buf[len..], chunks).unwrap_or(0)
        });
        transport.consumers = list;
        for &c in &included[..k] {
            consumers[c].rtp_stream.last_sr_at = Some(now);
        }
        if k == 0 {
            // Nothing could be written (no send buffer): try again at the next timer.
            return;
        }
    }
}

/// One RR (per 31 streams) about the producer streams of `transport` that are due, from the
/// transport's SSRC, with an SDES carrying its CNAME.
fn send_receiver_reports<T: Transmit>(
    now: Instant,
    tx: &mut T,
    transport: &mut Transport,
    producers: &mut Slab<Producer>,
    counters: &mut WorkerCounters,
) {
    let sender = transport.rtcp_ssrc();
    let mut cname_buf = [0u8; 32];
    let cname_len = transport_cname(transport.id, &mut cname_buf).len();
    let mut blocks = [ReportBlock::default(); MAX_COUNT];
    let mut k = 0;
    let mut flush = |blocks: &[ReportBlock], transport: &mut Transport| {
        send_rtcp(tx, transport, counters, |buf| {
            let n = write_receiver_report(buf, sender, blocks).unwrap_or(0);
            n + write_sdes_cname(&mut buf[n..], sender, &cname_buf[..cname_len]).unwrap_or(0)
        });
    };
    for i in 0..transport.producers.len() {
        let producer = &mut producers[transport.producers[i]];
        let kind = producer.kind;
        for s in &mut producer.streams {
            if s.packets == 0 || !report_due(s.last_rr_at, now, kind) {
                continue;
            }
            s.last_rr_at = Some(now);
            blocks[k] = s.report_block(now);
            k += 1;
            if k == MAX_COUNT {
                flush(&blocks[..k], transport);
                k = 0;
            }
        }
    }
    if k > 0 {
        flush(&blocks[..k], transport);
    }
}
