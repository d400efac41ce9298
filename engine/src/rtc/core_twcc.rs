//! [`WorkerCore`]'s side of transport-wide congestion control feedback ([`crate::rtc::twcc`]):
//! a server per transport whose producers negotiated it, fed by the RTP ingress hook in
//! `on_rtp`, and the feedback it sends from the RTCP timer (`core_rtcp.rs`), SRTCP-protected
//! in the transmit buffer like all of Sluice's RTCP.

use super::WorkerCore;
use super::rtcp_io::send_rtcp;
use crate::net::Transmit;

impl WorkerCore {
    /// A producer was created on transport `t` (control path): the transport's server starts,
    /// or follows its extension id, if the producer negotiated transport-cc.
    pub(super) fn transport_cc_producer_added(&mut self, t: usize, p: usize) {
        let params = &self.producers[p].rtp_parameters;
        self.rtcp.twcc.producer_added(t, params);
    }

    /// Sends every transport's feedback for what arrived since its last one, in as many
    /// packets as it takes (each its own datagram). A transport without a remote, or a send
    /// that finds no buffer, keeps its packets for the next run.
    pub(super) fn send_transport_cc_feedback<T: Transmit>(&mut self, tx: &mut T) {
        let Self {
            transports,
            rtcp,
            counters,
            ..
        } = self;
        for (t, transport) in transports.iter_mut() {
            let Some(server) = rtcp.twcc.get_mut(t) else {
                continue;
            };
            let sender = transport.rtcp_ssrc();
            while server.pending() {
                let mut end = None;
                let sent = send_rtcp(tx, transport, counters, |buf| {
                    let (len, e) = server.write_feedback(buf, sender).unwrap_or_default();
                    end = Some(e).filter(|_| len > 0);
                    len
                });
                match end {
                    Some(e) if sent => {
                        server.sent(e);
                        counters.transport_cc_feedback_sent += 1;
                    }
                    _ => break,
                }
            }
        }
    }

    /// Transport-cc feedback packets sent on transport `id`, `None` when it has no server.
    pub fn transport_cc_feedback_sent(&self, id: uuid::Uuid) -> Option<u64> {
        let t = self.transport_idx(id).ok()?;
        self.rtcp.twcc.get(t).map(|s| s.feedback_sent)
    }
}
