//! Which producer an RTP packet belongs to (mediasoup's `RtpListener` and
//! `Producer::GetRtpStream`).
//!
//! A transport knows most SSRCs up front: those its producers announced in their encodings
//! (`ssrc`, `rtx.ssrc`) are in its SSRC table from `produce` on. Simulcast as browsers send it
//! announces none: mediasoup-client's `encodings: [{rid: 'r0'}, {rid: 'r1'}, …]` (and
//! Chromium's simulcast in general) names each encoding by its RTP stream id (RFC 8851 §4), and
//! the SSRCs are only seen on the wire. A packet with an SSRC not in the table is therefore
//! read once for its SDES header extensions (RFC 8843 §15, RFC 8852 §3):
//!
//! 1. `urn:ietf:params:rtp-hdrext:sdes:mid` names the producer (the m= section it was
//!    negotiated in); without a MID, the RID alone names it, as long as only one producer
//!    on the transport uses that RID (mediasoup refuses a second producer with the same RID
//!    and no MID);
//! 2. inside the producer, `urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id` names the encoding
//!    whose media this is; `urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id` names the
//!    encoding this RTX stream (RFC 4588) repairs. A media packet is one whose payload type is
//!    not an RTX one (RFC 4588 §8.6); an RTX stream is only bound to an encoding whose media
//!    SSRC is already known, and only once, as in mediasoup;
//! 3. a producer with a single encoding that has neither SSRC nor RID takes the first media
//!    SSRC its MID brings (and then the first RTX one).
//!
//! The SSRC then goes into the transport's table and the encoding's stream is bound to it
//! ([`RtpStreamRecv::bound`]), so every later packet is one hash lookup and no string work
//! (libwebrtc stops sending MID and RID once a receiver report acknowledged the SSRC). An
//! unknown MID or RID, a second media SSRC for an encoding already bound, or an RTX stream
//! before its media: the packet is dropped and counted (`unknown_ssrc`), and the next one is
//! looked at again.
//!
//! The extension ids are the transport's (mediasoup's `recvRtpHeaderExtensions`): those of the
//! first producer that negotiated each one. A browser uses one numbering per BUNDLE group,
//! so every producer of a transport agrees.

use super::RtcError;
use super::producer::Producer;
use super::rtp_parameters::RtpParameters;
use super::rtp_stream::RtpStreamRecv;
use super::slab::Slab;
use super::supported_rtp_capabilities::{MID_URI, REPAIRED_RTP_STREAM_ID_URI, RTP_STREAM_ID_URI};
use crate::wire::rtp::RtpPacket;

/// The MID and RID tables of one transport.
#[derive(Debug, Default)]
pub(crate) struct RtpListener {
    mid_id: u8,
    rid_id: u8,
    rrid_id: u8,
    /// Producer slab index for each MID.
    mids: Vec<(Box<[u8]>, usize)>,
    /// Producer slab index for each RID (the first producer that announced it).
    rids: Vec<(Box<[u8]>, usize)>,
}

fn ext_id(p: &RtpParameters, uri: &str) -> u8 {
    p.header_extensions
        .iter()
        .find(|e| e.uri == uri)
        .map_or(0, |e| e.id)
}

impl RtpListener {
    /// Checks that producer `p` with `params` can be told apart from the others (a MID of its
    /// own; RIDs that without a MID no other producer uses), then records it.
    pub(crate) fn add_producer(
        &mut self,
        p: usize,
        params: &RtpParameters,
    ) -> Result<(), RtcError> {
        let mid = params.mid.as_deref().filter(|m| !m.is_empty());
        if let Some(mid) = mid
            && self.mids.iter().any(|(m, _)| &**m == mid.as_bytes())
        {
            return Err(RtcError::Conflict(format!(
                "rtpParameters.mid {mid} is already used on this transport"
            )));
        }
        for (i, enc) in params.encodings.iter().enumerate() {
            if let Some(rid) = enc.rid.as_deref()
                && mid.is_none()
                && self.rids.iter().any(|(r, _)| &**r == rid.as_bytes())
            {
                return Err(RtcError::Conflict(format!(
                    "rtpParameters.encodings[{i}].rid {rid} is already used on this transport \
                     and no mid tells the producers apart"
                )));
            }
        }
        for (id, uri) in [
            (&mut self.mid_id, MID_URI),
            (&mut self.rid_id, RTP_STREAM_ID_URI),
            (&mut self.rrid_id, REPAIRED_RTP_STREAM_ID_URI),
        ] {
            if *id == 0 {
                *id = ext_id(params, uri);
            }
        }
        if let Some(mid) = mid {
            self.mids.push((mid.as_bytes().into(), p));
        }
        for enc in &params.encodings {
            if let Some(rid) = enc.rid.as_deref()
                && !self.rids.iter().any(|(r, _)| &**r == rid.as_bytes())
            {
                self.rids.push((rid.as_bytes().into(), p));
            }
        }
        Ok(())
    }

    /// Forgets producer `p`.
    pub(crate) fn remove_producer(&mut self, p: usize) {
        self.mids.retain(|&(_, x)| x != p);
        self.rids.retain(|&(_, x)| x != p);
    }

    /// Finds the producer and encoding of a packet whose SSRC is not in the table and binds
    /// the encoding's stream (or its RTX stream) to it. Returns the producer's slab index, or
    /// `None` when the packet names nothing this transport knows (see the module docs).
    #[cold]
    pub(crate) fn learn(
        &self,
        producers: &mut Slab<Producer>,
        pkt: &RtpPacket<'_>,
    ) -> Option<usize> {
        let read = |id: u8| {
            (id != 0)
                .then(|| pkt.extension(id))
                .flatten()
                .filter(|v| !v.is_empty())
        };
        let mid = read(self.mid_id);
        let rid = read(self.rid_id);
        let rrid = read(self.rrid_id);
        let p = match mid {
            Some(mid) => self.mids.iter().find(|(m, _)| &**m == mid)?.1,
            None => {
                let r = rid.or(rrid)?;
                self.rids.iter().find(|(x, _)| &**x == r)?.1
            }
        };
        let producer = producers.get_mut(p)?;
        bind(producer, pkt.ssrc(), pkt.payload_type(), rid, rrid).then_some(p)
    }
}

/// Binds `ssrc` to one of the producer's encodings (module docs, steps 2 and 3).
fn bind(
    producer: &mut Producer,
    ssrc: u32,
    pt: u8,
    rid: Option<&[u8]>,
    rrid: Option<&[u8]>,
) -> bool {
    let rtx = producer.is_rtx_payload_type(pt);
    let single = producer.streams.len() == 1 && producer.streams[0].rid.is_none();
    let stream: Option<&mut RtpStreamRecv> = if rtx {
        let wanted = rrid.or(rid);
        producer
            .streams
            .iter_mut()
            .find(|s| match (wanted, &s.rid) {
                (Some(w), Some(r)) => **r == *w,
                (None, None) => single,
                _ => false,
            })
    } else {
        producer.streams.iter_mut().find(|s| match (rid, &s.rid) {
            (Some(w), Some(r)) => **r == *w,
            (None, None) => single,
            _ => false,
        })
    };
    let Some(s) = stream else { return false };
    if rtx {
        if !s.bound || s.rtx_ssrc.is_some() {
            return false;
        }
        s.rtx_ssrc = Some(ssrc);
    } else {
        if s.bound {
            return false;
        }
        s.ssrc = ssrc;
        s.bound = true;
    }
    true
}
