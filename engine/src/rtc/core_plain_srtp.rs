//! SDES-style SRTP on plain transports (mediasoup's `enableSrtp`, RFC 4568 keys exchanged in
//! signalling rather than by DTLS): so that ffmpeg or GStreamer can send and receive SRTP.
//!
//! `enable_plain_srtp` draws our master key and salt for the chosen suite (what we protect
//! with; the control plane answers it base64-encoded as `srtpParameters.keyBase64`);
//! `set_plain_srtp_remote` takes the remote's (from `connect`), and only then does the transport
//! carry media: before it, nothing is sent and what arrives is dropped (`no_srtp`), so a
//! transport that asked for SRTP never falls back to plain RTP. The suites may differ per
//! direction, as they may in SDES.

use rand::RngCore;
use uuid::Uuid;

use super::WorkerCore;
use crate::crypto::srtp::{SrtpContext, SrtpProfile, SrtpSession};
use crate::rtc::RtcError;
use crate::rtc::webrtc_transport::MAX_SRTP_SSRCS;

impl WorkerCore {
    /// Turns SRTP on for a plain transport that has not connected yet; returns our
    /// `master key ‖ master salt`.
    pub fn enable_plain_srtp(
        &mut self,
        id: Uuid,
        profile: SrtpProfile,
    ) -> Result<Vec<u8>, RtcError> {
        let t = self.transport_idx(id)?;
        let p = self.transports[t].plain_mut().ok_or_else(|| {
            RtcError::Conflict(format!("transport {id} is not a plain transport"))
        })?;
        if p.connected || p.srtp_local.is_some() {
            return Err(RtcError::Conflict(format!(
                "transport {id}: SRTP must be enabled once, before connect"
            )));
        }
        let mut key = vec![0u8; profile.master_key_len() + profile.master_salt_len()];
        rand::rng().fill_bytes(&mut key);
        p.srtp_local = Some((profile, key.clone()));
        Ok(key)
    }

    /// The remote's suite and `master key ‖ master salt`: builds both contexts.
    pub fn set_plain_srtp_remote(
        &mut self,
        id: Uuid,
        profile: SrtpProfile,
        key_and_salt: &[u8],
    ) -> Result<(), RtcError> {
        let t = self.transport_idx(id)?;
        let p = self.transports[t].plain_mut().ok_or_else(|| {
            RtcError::Conflict(format!("transport {id} is not a plain transport"))
        })?;
        let Some((local_profile, local)) = &p.srtp_local else {
            return Err(RtcError::Unacceptable {
                field: "srtpParameters".into(),
                message: "the transport was created without enableSrtp".into(),
            });
        };
        if p.srtp.is_some() {
            return Err(RtcError::Conflict(format!(
                "transport {id} already has remote srtpParameters"
            )));
        }
        let split = |profile: SrtpProfile, k: &[u8]| {
            let n = profile.master_key_len();
            (k.len() == n + profile.master_salt_len()).then(|| (k[..n].to_vec(), k[n..].to_vec()))
        };
        let Some((rk, rs)) = split(profile, key_and_salt) else {
            return Err(RtcError::Unacceptable {
                field: "srtpParameters.keyBase64".into(),
                message: format!(
                    "{} needs {} bytes of key and salt, got {}",
                    profile.name(),
                    profile.master_key_len() + profile.master_salt_len(),
                    key_and_salt.len()
                ),
            });
        };
        let (lk, ls) = split(*local_profile, local).expect("our own key has the suite's length");
        let bad = |e: crate::crypto::srtp::SrtpError| RtcError::Unacceptable {
            field: "srtpParameters".into(),
            message: e.to_string(),
        };
        p.srtp = Some(Box::new(SrtpSession {
            inbound: SrtpContext::new(profile, &rk, &rs, MAX_SRTP_SSRCS).map_err(bad)?,
            outbound: SrtpContext::new(*local_profile, &lk, &ls, MAX_SRTP_SSRCS).map_err(bad)?,
        }));
        Ok(())
    }
}
