//! SDES-SRTP for `plain --srtp <suite>`: the keys the harness and Sluice exchange through the
//! API (docs/API.md, "Plain transports") and the contexts the load threads protect and
//! unprotect with.
//!
//! SDES (RFC 4568) has each side announce the master key and salt *it* protects with: Sluice
//! answers a plain transport created with `enableSrtp` with `srtpParameters {cryptoSuite,
//! keyBase64}` (its key followed by its salt, base64, RFC 4568 §6.1's `key||salt` order), and
//! `connect` carries ours. So per producer the harness makes up a key, gives it to Sluice in
//! the comedia transport's `connect` and protects every packet with it (RFC 3711 §3.3); per
//! consumer it takes the key Sluice answered and unprotects with it (RFC 3711 §3.4). The
//! consumer transports' `connect` also carries a key of ours, because Sluice sends nothing on a
//! transport until it has the remote's `srtpParameters`; the harness sends nothing there.
//!
//! The harness's keys are derived from the producer index rather than drawn at random: this is
//! a benchmark on loopback, not a secret, and fixed keys keep runs reproducible. The cost of
//! the harness's own protect and unprotect lands on its load threads (the "harness" columns),
//! never in Sluice's process CPU.

use base64::Engine as _;
use serde_json::{Value, json};
use sluice_engine::crypto::srtp::{SrtpContext, SrtpProfile};

use crate::error::BenchError;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A master key and salt of one profile, as SDES carries them (`key || salt`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdesKey {
    pub profile: SrtpProfile,
    /// Master key followed by master salt.
    pub key_salt: Vec<u8>,
}

impl SdesKey {
    /// A fixed key for the harness's side of stream `index` (module docs: why not random).
    pub fn harness(profile: SrtpProfile, index: usize) -> Self {
        let len = profile.master_key_len() + profile.master_salt_len();
        let seed = (index as u32).wrapping_mul(0x9e37_79b9);
        let key_salt = (0..len)
            .map(|i| (seed.rotate_left(i as u32 % 32) as u8) ^ (i as u8).wrapping_mul(31) ^ 0x5a)
            .collect();
        Self { profile, key_salt }
    }

    /// Reads Sluice's `srtpParameters` answer; the suite must be the one asked for and the
    /// key exactly that suite's key and salt.
    pub fn from_answer(params: &Value, want: SrtpProfile) -> Result<Self, BenchError> {
        let bad = |why: &str| BenchError::Target(format!("srtpParameters {params}: {why}"));
        let suite = params["cryptoSuite"]
            .as_str()
            .ok_or_else(|| bad("no cryptoSuite"))?;
        let profile = SrtpProfile::from_name(suite).ok_or_else(|| bad("unknown cryptoSuite"))?;
        if profile != want {
            return Err(bad(&format!("asked for {}", want.name())));
        }
        let key_salt = B64
            .decode(
                params["keyBase64"]
                    .as_str()
                    .ok_or_else(|| bad("no keyBase64"))?,
            )
            .map_err(|e| bad(&format!("keyBase64: {e}")))?;
        if key_salt.len() != profile.master_key_len() + profile.master_salt_len() {
            return Err(bad(&format!(
                "key of {} bytes, {} wants {}",
                key_salt.len(),
                profile.name(),
                profile.master_key_len() + profile.master_salt_len()
            )));
        }
        Ok(Self { profile, key_salt })
    }

    /// The `srtpParameters` object of `connect`.
    pub fn to_json(&self) -> Value {
        json!({"cryptoSuite": self.profile.name(), "keyBase64": B64.encode(&self.key_salt)})
    }

    /// A context for one stream (one SSRC, a few spare slots).
    pub fn context(&self) -> Result<SrtpContext, BenchError> {
        let (key, salt) = self.key_salt.split_at(self.profile.master_key_len());
        SrtpContext::new(self.profile, key, salt, 4)
            .map_err(|e| BenchError::Target(format!("SRTP context: {}", e.as_str())))
    }
}

/// RTCP rides the consumers' sockets too (`rtcpMux`): RFC 5761 §4 tells it from RTP by the
/// second byte (RTCP packet types 192–223 there, where RTP's marker+PT never lands with the
/// dynamic payload types Sluice assigns).
pub fn is_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && (192..=223).contains(&datagram[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stamp::{self, RtpFields, Stamp};

    #[test]
    fn answers_are_parsed_and_checked() {
        let p = SrtpProfile::AeadAes128Gcm;
        let ours = SdesKey::harness(p, 3);
        assert_eq!(ours.key_salt.len(), 16 + 12);
        assert_ne!(ours, SdesKey::harness(p, 4), "each stream has its own key");
        let back = SdesKey::from_answer(&ours.to_json(), p).unwrap();
        assert_eq!(back, ours);
        assert_eq!(ours.to_json()["cryptoSuite"], "AEAD_AES_128_GCM");

        let short = json!({"cryptoSuite": "AEAD_AES_256_GCM", "keyBase64": B64.encode([1u8; 28])});
        assert!(SdesKey::from_answer(&short, SrtpProfile::AeadAes256Gcm).is_err());
        assert!(SdesKey::from_answer(&ours.to_json(), SrtpProfile::AeadAes256Gcm).is_err());
        let garbled = json!({"cryptoSuite": "AEAD_AES_128_GCM", "keyBase64": "not*base64"});
        assert!(SdesKey::from_answer(&garbled, p).is_err());
        assert!(SdesKey::from_answer(&json!({}), p).is_err());
    }

    #[test]
    fn a_packet_protected_with_a_key_unprotects_with_its_answer_only() {
        for p in [
            SrtpProfile::AeadAes128Gcm,
            SrtpProfile::AeadAes256Gcm,
            SrtpProfile::AesCm128HmacSha1_80,
        ] {
            let key = SdesKey::harness(p, 0);
            let mut buf = vec![0u8; 300];
            let rtp = RtpFields {
                payload_type: 100,
                ssrc: 7,
                seq: 1,
                timestamp: 0,
            };
            let st = Stamp {
                producer: 2,
                measured: true,
                seq: 9,
                sent_ns: 5,
            };
            let n = stamp::write_packet(&mut buf, 200, rtp, st);
            let n = key.context().unwrap().protect_rtp(&mut buf, n).unwrap();
            assert_eq!(n, 200 + p.rtp_overhead());
            assert_eq!(
                stamp::decode_packet(&buf[..n]),
                None,
                "{p}: stamp encrypted"
            );
            let mut wrong = buf[..n].to_vec();
            assert!(
                SdesKey::harness(p, 1)
                    .context()
                    .unwrap()
                    .unprotect_rtp(&mut wrong)
                    .is_err()
            );
            let answered = SdesKey::from_answer(&key.to_json(), p).unwrap();
            let m = answered
                .context()
                .unwrap()
                .unprotect_rtp(&mut buf[..n])
                .unwrap();
            assert_eq!(stamp::decode_packet(&buf[..m]), Some(st));
        }
    }

    #[test]
    fn rtcp_is_told_from_rtp() {
        assert!(is_rtcp(&[0x80, 200, 0, 6]));
        assert!(!is_rtcp(&[0x80, 100, 0, 1]));
        assert!(!is_rtcp(&[0x80, 0x80 | 100, 0, 1]), "marker bit set");
        assert!(!is_rtcp(&[0x80]));
    }
}
