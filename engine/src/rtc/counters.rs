//! Per-worker counters of the forwarding path: plain integers owned by the worker thread and
//! published to the control plane once per loop iteration (STYLE.md: counters, not logs).

/// Why a received datagram was not forwarded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Not a well-formed RTP/RTCP packet (or an unknown protocol on that socket).
    Malformed,
    /// Arrived on a socket no transport owns any more.
    UnknownSocket,
    /// Came from an address other than the transport's connected remote.
    UnknownSource,
    /// The transport has no remote yet (not connected, no comedia).
    NotConnected,
    /// RTP with an SSRC (mid, rid) no producer on the transport announced.
    UnknownSsrc,
    /// The producer is paused.
    ProducerPaused,
    /// A consumer's packet found no free send buffer.
    NoSendBuffer,
    /// A protocol this transport does not speak (e.g. STUN on a plain transport).
    Unsupported,
    /// A datagram on the shared port whose flow no worker owns: DTLS, SRTP or anything but
    /// STUN from an address no ICE agent validated.
    UnknownFlow,
    /// The owning worker's hand-off queue was full.
    HandoffQueueFull,
    /// A packet older than a consumer's sync point after a resume (would go backwards).
    Stale,
    /// STUN on the shared port whose USERNAME names no transport (or none at all).
    UnknownUfrag,
    /// A STUN message a transport's ICE agent refused (bad FINGERPRINT, USERNAME or
    /// MESSAGE-INTEGRITY, not a Binding request): never answered.
    StunRejected,
    /// SRTP/SRTCP on a WebRTC transport whose DTLS handshake has not produced keys (or failed).
    NoSrtp,
    /// SRTP/SRTCP that failed authentication, the replay check, or parsing.
    SrtpUnprotect,
    /// A consumer's packet could not be protected (no SSRC slot left).
    SrtpProtect,
    /// A DTLS record the control plane wanted sent found no selected tuple (it retransmits).
    DtlsNoTuple,
    /// An RTX packet (RFC 4588) of a producer that repairs nothing missing: a duplicate, a
    /// padding-only probe, or a stream Sluice sends no NACKs for.
    Rtx,
}

impl DropReason {
    /// Every reason, in the order of [`WorkerCounters::drops`].
    pub const ALL: [DropReason; 18] = [
        DropReason::Malformed,
        DropReason::UnknownSocket,
        DropReason::UnknownSource,
        DropReason::NotConnected,
        DropReason::UnknownSsrc,
        DropReason::ProducerPaused,
        DropReason::NoSendBuffer,
        DropReason::Unsupported,
        DropReason::UnknownFlow,
        DropReason::HandoffQueueFull,
        DropReason::Stale,
        DropReason::UnknownUfrag,
        DropReason::StunRejected,
        DropReason::NoSrtp,
        DropReason::SrtpUnprotect,
        DropReason::SrtpProtect,
        DropReason::DtlsNoTuple,
        DropReason::Rtx,
    ];

    /// The label used in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::UnknownSocket => "unknown_socket",
            DropReason::UnknownSource => "unknown_source",
            DropReason::NotConnected => "not_connected",
            DropReason::UnknownSsrc => "unknown_ssrc",
            DropReason::ProducerPaused => "producer_paused",
            DropReason::NoSendBuffer => "no_send_buffer",
            DropReason::Unsupported => "unsupported",
            DropReason::UnknownFlow => "unknown_flow",
            DropReason::HandoffQueueFull => "handoff_queue_full",
            DropReason::Stale => "stale",
            DropReason::UnknownUfrag => "unknown_ufrag",
            DropReason::StunRejected => "stun_rejected",
            DropReason::NoSrtp => "no_srtp",
            DropReason::SrtpUnprotect => "srtp_unprotect",
            DropReason::SrtpProtect => "srtp_protect",
            DropReason::DtlsNoTuple => "dtls_no_tuple",
            DropReason::Rtx => "rtx",
        }
    }
}

/// Counters of one worker since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerCounters {
    /// Datagrams received on any socket.
    pub packets_in: u64,
    /// Bytes of those datagrams.
    pub bytes_in: u64,
    /// Datagrams queued for sending.
    pub packets_out: u64,
    /// Bytes of those datagrams.
    pub bytes_out: u64,
    /// RTP packets forwarded to consumers (one per consumer).
    pub rtp_forwarded: u64,
    /// RTCP packets received.
    pub rtcp_in: u64,
    /// RTCP datagrams Sluice sent (reports, key frame requests).
    pub rtcp_out: u64,
    /// Key frame requests (PLI/FIR) sent to producers.
    pub key_frame_requests_sent: u64,
    /// Key frame requests merged into one already sent (rate limiting).
    pub key_frame_requests_suppressed: u64,
    /// Generic NACKs received from consumers' endpoints (RFC 4585 §6.2.1).
    pub nacks_received: u64,
    /// Packets resent for those NACKs.
    pub rtp_retransmitted: u64,
    /// Packets they named that could not be resent (not in the buffer any more, outside the
    /// consumer's current segment, or no send buffer).
    pub retransmissions_not_found: u64,
    /// Generic NACKs Sluice sent to producers' endpoints for their missing packets.
    pub nacks_sent: u64,
    /// Transport-cc feedback packets sent to producers' endpoints.
    pub transport_cc_feedback_sent: u64,
    /// Drops, indexed as [`DropReason::ALL`].
    pub drops: [u64; DropReason::ALL.len()],
    /// Datagrams this worker handed to another worker that owns their flow.
    pub handoffs_out: u64,
    /// Datagrams other workers handed to this one.
    pub handoffs_in: u64,
}

impl WorkerCounters {
    /// Counts one dropped datagram.
    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    /// Drops counted for `reason`.
    pub fn drops_of(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }
}
