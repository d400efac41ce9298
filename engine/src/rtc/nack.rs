//! Retransmission on a consumer's NACK (RFC 4585 §6.2.1; mediasoup's `Consumer::ReceiveNack`
//! and `RtpStreamSend::ReceiveNack`).
//!
//! A generic NACK whose media SSRC is a consumer's names output sequence numbers the
//! consumer's endpoint did not receive (each FCI entry a PID and a bitmask of the 16 after it).
//! For each, while the consumer is an active video consumer:
//! 1. its seq manager maps it back to the producer's sequence number
//!    ([`super::super::seq_manager::SeqManager::input_seq`]; only within the current segment);
//! 2. the packet is looked up in the retransmission buffer of the producer stream the consumer
//!    forwards ([`super::super::retransmission_buffer`]);
//! 3. unless it was resent to this consumer less than a round trip ago
//!    ([`super::super::rtp_stream_send::RtpStreamSend::may_resend`]), it is rewritten as the
//!    live path rewrites it — the consumer's payload type, sequence number, timestamp offset,
//!    SSRC and header extension block, with a fresh transport-wide sequence number and
//!    abs-send-time — and sent. When the consumer negotiated RTX (RFC 4588) it goes on the RTX
//!    stream instead: the RTX SSRC, the RTX payload type whose `apt` is the media payload type,
//!    the RTX stream's own next sequence number, and the original (consumer) sequence number,
//!    the OSN, in the first two payload bytes (§4). Without RTX the packet is resent as it
//!    was, on the consumer's SSRC: libwebrtc accepts that (it dedupes by sequence number), and
//!    a plain receiver sees a late packet.
//!
//! A NACK is never forwarded to the producer: the SFU answers from its buffer, and what it
//! lacks was lost on the producer's leg, which Sluice's own NACKs repair:
//!
//! **Producer side.** Each video stream whose codec negotiated `nack` has a
//! [`NackGenerator`] that finds the gaps in its sequence numbers. From the worker's timer
//! ([`WorkerCore::handle_timeout`], woken [`NACK_DELAY`] after a gap and then every
//! [`NACK_INTERVAL`] while packets are missing) Sluice sends the producer's endpoint a generic
//! NACK for them: sender SSRC the transport's, media SSRC the stream's, preceded by an RR and
//! SDES unless the producer negotiated reduced-size RTCP (RFC 4585 §3.1, as the key frame
//! requests). A gap wider than the generator's ring asks for a key frame instead.
//!
//! The answers come on the stream's RTX SSRC (given in the encoding, or bound from the
//! repaired RID, [`crate::rtc::rtp_listener`]). An RTX packet whose OSN is a missing packet is
//! unwrapped in place — the OSN becomes the sequence number, the stream's SSRC and the media
//! payload type (the RTX codec's `apt`) come back, the two OSN bytes go — and then taken in as
//! the original packet: counted, stored for the consumers' NACKs, and forwarded to every
//! consumer like any other (they missed it too). An RTX packet for nothing missing (a
//! duplicate, a padding-only probe, a stream without NACKs) is dropped as `rtx`.
//!
//! Nothing here allocates: the buffer, the generator's ring and the resend times are allocated
//! when the producer and the consumer are created.

use std::time::Instant;

use std::time::Duration;

use super::SRTP_MAX_TAG;
use super::WorkerCore;
use super::rtcp_io::{RtcpState, send_rtcp, transport_cname};
use crate::net::Transmit;
use crate::rtc::consumer::{Consumer, PT_NONE, Stamps};
use crate::rtc::counters::{DropReason, WorkerCounters};
use crate::rtc::key_frame_request_manager::KeyFrameRequest;
use crate::rtc::nack_generator::{CAPACITY, Gap, NACK_DELAY, NackGenerator};
use crate::rtc::producer::Producer;
use crate::rtc::retransmission_buffer::RetransmissionBuffer;
use crate::rtc::rtp_parameters::{MediaKind, RtpParameters};
use crate::rtc::rtp_stream::{RtpStreamRecv, starts_key_frame};
use crate::rtc::rtp_stream_send::RtxSend;
use crate::rtc::transport::Transport;
use crate::wire::rtcp::{Nack, write_nack, write_receiver_report, write_sdes_cname};
use crate::wire::rtp::{self, RtpPacket};

/// How often missing packets are looked at while there are any (mediasoup's NackGenerator
/// timer runs every 40 ms; asking sooner leaves more of the jitter buffer for the answer).
pub(super) const NACK_INTERVAL: Duration = Duration::from_millis(20);

fn is_rtx(mime_type: &str) -> bool {
    let m = mime_type.as_bytes();
    m.len() > 4 && m[m.len() - 4..].eq_ignore_ascii_case(b"/rtx")
}

/// Gives a new producer's video streams their retransmission buffers, and a NACK generator
/// when its media codec negotiated `nack` (control path).
pub(super) fn init_producer(producer: &mut Producer) {
    if producer.kind != MediaKind::Video {
        return;
    }
    let nack = producer
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| !is_rtx(&c.mime_type))
        .is_some_and(|c| {
            c.rtcp_feedback
                .iter()
                .any(|f| f.r#type == "nack" && f.parameter.is_empty())
        });
    for s in &mut producer.streams {
        s.retransmission = Some(RetransmissionBuffer::new());
        s.nack_generator = nack.then(NackGenerator::new);
    }
}

/// Loss detection for a media packet of `stream` (module docs): wakes the NACK timer on a
/// gap, asks for a key frame when too much is missing, ends the wait at a key frame.
#[inline]
pub(super) fn track_loss(
    stream: &mut RtpStreamRecv,
    rtcp: &mut RtcpState,
    now: Instant,
    seq: u16,
    pt: u8,
    payload: &[u8],
) {
    let Some(g) = &mut stream.nack_generator else {
        return;
    };
    match g.received(now, seq) {
        Gap::Missing => rtcp.nack_soon(now + NACK_DELAY),
        Gap::TooMany => {
            stream.key_frames.defer(KeyFrameRequest::Pli);
            rtcp.wake();
        }
        Gap::None | Gap::Recovered => {}
    }
    if g.has_pending() && starts_key_frame(stream.feedback.codec, pt, payload) {
        g.key_frame(seq);
    }
}

/// Unwraps an RTX packet of `stream` in place (module docs) when it repairs a missing packet;
/// returns the original packet's offset in `data` (2), or `None` to drop it.
pub(super) fn unwrap_rtx(producer: &mut Producer, si: usize, data: &mut [u8]) -> Option<usize> {
    let stream = &producer.streams[si];
    let (header_len, pt, osn, ts) = {
        let pkt = RtpPacket::parse(data).ok()?;
        let payload = pkt.payload();
        if payload.len() <= 2 {
            return None;
        }
        let osn = u16::from_be_bytes([payload[0], payload[1]]);
        (pkt.header_len(), pkt.payload_type(), osn, pkt.timestamp())
    };
    if !stream.nack_generator.as_ref()?.is_missing(osn) {
        return None;
    }
    let media_pt = producer
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| c.payload_type == pt && is_rtx(&c.mime_type))
        .and_then(|c| c.parameters.get("apt")?.as_u64())
        .and_then(|apt| u8::try_from(apt).ok())?;
    data.copy_within(0..header_len, 2);
    rtp::rewrite_fixed_header(&mut data[2..], media_pt, osn, ts, stream.ssrc);
    producer.streams[si].retransmitted = true;
    Some(2)
}

// A stored packet, its OSN and the SRTP tag fit any send buffer.
const _: () = assert!(
    crate::rtc::retransmission_buffer::SLOT_LEN + 2 + SRTP_MAX_TAG <= crate::net::MAX_DATAGRAM
);

/// The consumer's RTX stream from its parameters: the first encoding's RTX SSRC and every RTX
/// codec's `apt` pairing, or `None` without either.
pub(crate) fn rtx_send(params: &RtpParameters) -> Option<RtxSend> {
    let ssrc = params.encodings.first()?.rtx.as_ref()?.ssrc;
    let payload_types: Box<[(u8, u8)]> = params
        .codecs
        .iter()
        .filter(|c| c.mime_type.to_ascii_lowercase().ends_with("/rtx"))
        .filter_map(|c| {
            let apt = c.parameters.get("apt")?.as_u64()?;
            Some((u8::try_from(apt).ok()?, c.payload_type))
        })
        .collect();
    (!payload_types.is_empty()).then(|| RtxSend {
        ssrc,
        payload_types,
        seq: rand::random(),
    })
}

impl WorkerCore {
    /// Sends the NACKs due at `now` to the producers' endpoints (module docs).
    pub(super) fn send_nacks<T: Transmit>(&mut self, now: Instant, tx: &mut T) {
        let Self {
            transports,
            producers,
            counters,
            rtcp,
            ..
        } = self;
        let mut lost = [0u16; CAPACITY];
        let mut pending = false;
        for (_, producer) in producers.iter_mut() {
            let reduced_size = producer.rtp_parameters.rtcp.reduced_size;
            let transport = &mut transports[producer.transport];
            for stream in &mut producer.streams {
                let Some(g) = stream.nack_generator.as_mut().filter(|g| g.has_pending()) else {
                    continue;
                };
                let n = g.due(now, &mut lost);
                pending |= g.has_pending();
                if n == 0 {
                    continue;
                }
                let sender = transport.rtcp_ssrc();
                let media = stream.ssrc;
                let mut cname_buf = [0u8; 32];
                let cname = transport_cname(transport.id, &mut cname_buf);
                let sent = send_rtcp(tx, transport, counters, |buf| {
                    let mut len = 0;
                    if !reduced_size {
                        len += write_receiver_report(buf, sender, &[]).unwrap_or(0);
                        len += write_sdes_cname(&mut buf[len..], sender, cname).unwrap_or(0);
                    }
                    len + write_nack(&mut buf[len..], sender, media, &lost[..n]).unwrap_or(0)
                });
                if sent {
                    g.nacks += 1;
                    counters.nacks_sent += 1;
                }
            }
        }
        if pending {
            rtcp.nack_soon(now + NACK_INTERVAL);
        }
    }

    /// A NACK arrived on transport `t` (module docs).
    pub(super) fn receive_nack<T: Transmit>(
        &mut self,
        now: Instant,
        t: usize,
        nack: &Nack<'_>,
        tx: &mut T,
    ) {
        let Some(c) = self.consumer_by_ssrc(t, nack.media_ssrc()) else {
            return;
        };
        let abs_send_time = (self.rtcp.ntp(now) >> 14) as u32 & 0xFF_FFFF;
        let Self {
            transports,
            producers,
            consumers,
            counters,
            ..
        } = self;
        counters.nacks_received += 1;
        let consumer = &mut consumers[c];
        consumer.rtp_stream.nack.nacks += 1;
        let buffer = consumer
            .source_stream
            .filter(|_| consumer.kind == MediaKind::Video && consumer.active())
            .and_then(|si| producers[consumer.producer].streams.get(si))
            .and_then(|s| s.retransmission.as_ref());
        let transport = &mut transports[consumer.transport];
        for out_seq in nack.lost() {
            consumer.rtp_stream.nack.nacked_packets += 1;
            let stored = buffer.and_then(|b| b.get(now, consumer.seq.input_seq(out_seq)?));
            let Some(stored) = stored else {
                consumer.rtp_stream.nack.not_found += 1;
                counters.retransmissions_not_found += 1;
                continue;
            };
            if !consumer.rtp_stream.may_resend(now, out_seq) {
                consumer.rtp_stream.nack.held += 1;
                continue;
            }
            let sent = resend(
                tx,
                consumer,
                transport,
                counters,
                stored,
                out_seq,
                abs_send_time,
            );
            if sent {
                consumer.rtp_stream.nack.retransmitted += 1;
                counters.rtp_retransmitted += 1;
            } else {
                consumer.rtp_stream.nack.not_found += 1;
                counters.retransmissions_not_found += 1;
            }
        }
    }
}

/// Sends stored packet `stored` again to `consumer` as output packet `out_seq` (module docs);
/// returns whether it went out.
fn resend<T: Transmit>(
    tx: &mut T,
    consumer: &mut Consumer,
    transport: &mut Transport,
    counters: &mut WorkerCounters,
    stored: &[u8],
    out_seq: u16,
    abs_send_time: u32,
) -> bool {
    let Ok(pkt) = RtpPacket::parse(stored) else {
        return false;
    };
    let out_pt = consumer.pt_map[usize::from(pkt.payload_type() & 0x7F)];
    let (Some(ts_offset), false) = (consumer.seq.ts_offset(), out_pt == PT_NONE) else {
        return false;
    };
    // Padding-only packets carry nothing to repair.
    if pkt.payload().is_empty() {
        return false;
    }
    let Some((sock, dest)) = transport.rtp_destination() else {
        return false;
    };
    let rtx = consumer
        .rtp_stream
        .rtx
        .as_ref()
        .and_then(|r| Some((r.ssrc, r.payload_type(out_pt)?, r.seq.wrapping_add(1))));
    let fixed = match rtx {
        Some((ssrc, pt, seq)) => rtp::FixedFields {
            payload_type: pt,
            sequence: seq,
            timestamp: pkt.timestamp().wrapping_add(ts_offset),
            ssrc,
        },
        None => rtp::FixedFields {
            payload_type: out_pt,
            sequence: out_seq,
            timestamp: pkt.timestamp().wrapping_add(ts_offset),
            ssrc: consumer.ssrc,
        },
    };
    // RFC 4588 §4: the OSN before the original payload.
    let osn = if rtx.is_some() { 2 } else { 0 };
    let stamps = Stamps {
        transport_cc: transport.counters.transport_cc_seq.wrapping_add(1),
        abs_send_time,
    };
    let extensions = &consumer.extensions;
    let src_ext = rtp::ExtensionElements::read(&pkt);
    let tail_len = stored.len() - pkt.header_len();
    let srtp = transport.srtp_outbound();
    let tail_room = if srtp.is_some() { SRTP_MAX_TAG } else { 0 };
    let mut out_len = 0;
    let mut used_transport_cc = false;
    let sent = tx.send_with(sock, dest, |buf| {
        let room = buf.len() - tail_room - osn;
        let written = match &src_ext {
            Ok(src_ext) if !extensions.is_identity() => extensions
                .write(&mut buf[..room], &pkt, src_ext, &fixed, stamps)
                .ok(),
            _ => None,
        };
        let mut n = match written {
            Some((n, used)) => {
                used_transport_cc = used;
                n
            }
            None => {
                let out = &mut buf[..stored.len()];
                out.copy_from_slice(stored);
                rtp::rewrite_fixed_header(
                    out,
                    fixed.payload_type,
                    fixed.sequence,
                    fixed.timestamp,
                    fixed.ssrc,
                );
                if !extensions.is_identity() {
                    used_transport_cc = extensions.rewrite_in_place(out, stamps);
                }
                stored.len()
            }
        };
        if osn > 0 {
            let payload_at = n - tail_len;
            buf.copy_within(payload_at..n, payload_at + osn);
            buf[payload_at..payload_at + osn].copy_from_slice(&out_seq.to_be_bytes());
            n += osn;
        }
        out_len = n;
        if let Some(ctx) = srtp {
            out_len = ctx.protect_rtp(buf, out_len).unwrap_or(0);
        }
        out_len
    });
    if !sent {
        counters.drop(DropReason::NoSendBuffer);
        return false;
    }
    if out_len == 0 {
        counters.drop(DropReason::SrtpProtect);
        return false;
    }
    if let (Some(r), Some((_, _, seq))) = (consumer.rtp_stream.rtx.as_mut(), rtx) {
        r.seq = seq;
    }
    if used_transport_cc {
        transport.counters.transport_cc_seq = stamps.transport_cc;
    }
    transport.counters.rtp_packets_sent += 1;
    transport.counters.bytes_sent += out_len as u64;
    counters.packets_out += 1;
    counters.bytes_out += out_len as u64;
    true
}
