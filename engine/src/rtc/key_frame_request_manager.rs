//! Rate limiting of key frame requests to one producer stream (mediasoup's
//! `KeyFrameRequestManager`).
//!
//! Every consumer of a video producer may ask for a key frame: its endpoint sends a PLI (RFC 4585
//! §6.3.1) or a FIR (RFC 5104 §4.3.1), or Sluice asks on its behalf when the consumer starts,
//! resumes, or the API's `request-key-frame` is called. One key frame from the producer answers
//! all of them, so the requests are merged per producer stream:
//!
//! - The first request is sent at once and opens a *pending* window of
//!   [`KEY_FRAME_RETRANSMISSION_WAIT`] (mediasoup's `KeyFrameRetransmissionWaitTime`, 1 s).
//! - Requests inside the window are suppressed (counted); they only mark that someone is still
//!   waiting.
//! - A key frame from the producer (see [`super::codecs`]) closes the window: the next request
//!   goes out immediately.
//! - When the window ends without a key frame and someone asked meanwhile, the request is sent
//!   once more (the PLI/FIR or the key frame may have been lost) and a new window opens; when
//!   nobody asked, the window just closes.
//!
//! So the producer sees at most one request per second per stream, however many consumers join
//! or lose packets, and never waits longer than that after a lost request. mediasoup's optional
//! extra `keyFrameRequestDelay` of the producer is not implemented.
//!
//! Requests coming from the control path have no [`crate::net::Transmit`] at hand: they are
//! [`deferred`](KeyFrameRequestManager::defer) and go out on the worker's next
//! [`handle_timeout`](super::WorkerCore::handle_timeout).
//!
//! The command sequence number of RFC 5104 §4.3.1.1 is kept per stream: it grows by one for each
//! new FIR, so the producer can tell a new request from a repeated one.

use std::time::{Duration, Instant};

/// How long a request waits for its key frame before it may be repeated.
pub(crate) const KEY_FRAME_RETRANSMISSION_WAIT: Duration = Duration::from_secs(1);

/// Which RTCP message asks for the key frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyFrameRequest {
    /// Picture loss indication (RFC 4585 §6.3.1).
    Pli,
    /// Full intra request (RFC 5104 §4.3.1).
    Fir,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    until: Instant,
    /// What the window's first request was (a retransmission repeats it).
    kind: KeyFrameRequest,
    /// Someone asked again inside the window.
    retry: bool,
}

/// Key frame request state of one producer stream.
#[derive(Debug, Default)]
pub(crate) struct KeyFrameRequestManager {
    pending: Option<Pending>,
    /// Asked for from the control path; sent on the next timeout.
    deferred: Option<KeyFrameRequest>,
    fir_seq: u8,
    /// Requests sent to the producer (PLI, FIR) and requests merged into one already sent.
    pub(crate) pli_sent: u64,
    pub(crate) fir_sent: u64,
    pub(crate) suppressed: u64,
}

impl KeyFrameRequestManager {
    /// A key frame is wanted now. Returns `true` when a request must be sent (the caller counts
    /// it with [`Self::sent`]), `false` when it is merged into the pending one.
    pub(crate) fn key_frame_needed(&mut self, now: Instant, kind: KeyFrameRequest) -> bool {
        match &mut self.pending {
            Some(p) if now < p.until => {
                p.retry = true;
                self.suppressed += 1;
                false
            }
            _ => {
                self.pending = Some(Pending {
                    until: now + KEY_FRAME_RETRANSMISSION_WAIT,
                    kind,
                    retry: false,
                });
                true
            }
        }
    }

    /// Counts a request that went out.
    pub(crate) fn sent(&mut self, kind: KeyFrameRequest) {
        match kind {
            KeyFrameRequest::Pli => self.pli_sent += 1,
            KeyFrameRequest::Fir => self.fir_sent += 1,
        }
    }

    /// Whether a request is waiting for its key frame (the RTP path looks for one only then).
    #[inline]
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The producer sent a key frame: the window closes.
    pub(crate) fn key_frame_received(&mut self) {
        self.pending = None;
    }

    /// Asks for a key frame at the next timeout (control path).
    pub(crate) fn defer(&mut self, kind: KeyFrameRequest) {
        self.deferred.get_or_insert(kind);
    }

    /// What to send at `now`, if anything: a deferred request (subject to the window like any
    /// other) or the retransmission of an unanswered one.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<KeyFrameRequest> {
        if let Some(p) = self.pending
            && now >= p.until
        {
            if p.retry {
                self.pending = Some(Pending {
                    until: now + KEY_FRAME_RETRANSMISSION_WAIT,
                    retry: false,
                    ..p
                });
                self.deferred = None;
                return Some(p.kind);
            }
            self.pending = None;
        }
        let kind = self.deferred.take()?;
        self.key_frame_needed(now, kind).then_some(kind)
    }

    /// The FIR command sequence number for a new request (RFC 5104 §4.3.1.1).
    pub(crate) fn next_fir_seq(&mut self) -> u8 {
        let s = self.fir_seq;
        self.fir_seq = s.wrapping_add(1);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_requests_within_the_window_and_retries_once() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut m = KeyFrameRequestManager::default();
        assert!(m.key_frame_needed(t0, KeyFrameRequest::Fir));
        assert!(!m.key_frame_needed(ms(100), KeyFrameRequest::Pli));
        assert!(!m.key_frame_needed(ms(900), KeyFrameRequest::Pli));
        assert_eq!(m.suppressed, 2);
        assert_eq!(m.handle_timeout(ms(999)), None);
        // No key frame came: one retransmission, then the window closes for good.
        assert_eq!(m.handle_timeout(ms(1000)), Some(KeyFrameRequest::Fir));
        assert!(m.is_pending());
        assert_eq!(m.handle_timeout(ms(2000)), None);
        assert!(!m.is_pending());
        assert!(m.key_frame_needed(ms(2001), KeyFrameRequest::Pli));
    }

    #[test]
    fn a_key_frame_closes_the_window() {
        let t0 = Instant::now();
        let mut m = KeyFrameRequestManager::default();
        assert!(m.key_frame_needed(t0, KeyFrameRequest::Pli));
        m.key_frame_received();
        assert!(m.key_frame_needed(t0 + Duration::from_millis(10), KeyFrameRequest::Pli));
    }

    #[test]
    fn deferred_requests_go_out_on_the_timeout_subject_to_the_window() {
        let t0 = Instant::now();
        let mut m = KeyFrameRequestManager::default();
        m.defer(KeyFrameRequest::Fir);
        m.defer(KeyFrameRequest::Pli);
        assert_eq!(m.handle_timeout(t0), Some(KeyFrameRequest::Fir));
        assert_eq!(m.handle_timeout(t0), None);
        m.defer(KeyFrameRequest::Pli);
        assert_eq!(m.handle_timeout(t0 + Duration::from_millis(5)), None);
        assert_eq!(m.suppressed, 1);
        assert_eq!((m.next_fir_seq(), m.next_fir_seq()), (0, 1));
    }
}
