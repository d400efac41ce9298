//! The four SRTP protection profiles Sluice speaks and their lengths (RFC 5764 §4.1.2,
//! RFC 7714 §14.2, RFC 4568 §6.2 for the SDES names).

/// An SRTP protection profile.
///
/// The 32-bit tag of `AES_CM_128_HMAC_SHA1_32` applies to SRTP only: SRTCP keeps the 80-bit
/// tag (RFC 5764 §4.1.2, "SRTCP ... the same as for SRTP_AES128_CM_HMAC_SHA1_80").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SrtpProfile {
    /// `SRTP_AEAD_AES_128_GCM` (0x0007), RFC 7714: the preferred suite.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM` (0x0008), RFC 7714: what `dimpl` and mediasoup offer first.
    AeadAes256Gcm,
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (0x0001), RFC 3711's default transform.
    AesCm128HmacSha1_80,
    /// `SRTP_AES128_CM_HMAC_SHA1_32` (0x0002): 4-byte SRTP tag, 10-byte SRTCP tag.
    AesCm128HmacSha1_32,
}

impl SrtpProfile {
    /// Every profile, preferred first (the order to offer in DTLS `use_srtp`).
    pub const ALL: [SrtpProfile; 4] = [
        SrtpProfile::AeadAes128Gcm,
        SrtpProfile::AeadAes256Gcm,
        SrtpProfile::AesCm128HmacSha1_80,
        SrtpProfile::AesCm128HmacSha1_32,
    ];

    /// The DTLS-SRTP protection profile id (RFC 5764 §4.1.2, RFC 7714 §14.2).
    pub fn dtls_id(self) -> u16 {
        match self {
            Self::AesCm128HmacSha1_80 => 0x0001,
            Self::AesCm128HmacSha1_32 => 0x0002,
            Self::AeadAes128Gcm => 0x0007,
            Self::AeadAes256Gcm => 0x0008,
        }
    }

    /// The profile of a DTLS-SRTP id, `None` for ids Sluice does not implement.
    pub fn from_dtls_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.dtls_id() == id)
    }

    /// The SDES crypto-suite name (RFC 4568 §6.2, RFC 7714 §14.1), also mediasoup's
    /// `srtpCryptoSuite` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::AeadAes128Gcm => "AEAD_AES_128_GCM",
            Self::AeadAes256Gcm => "AEAD_AES_256_GCM",
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// The profile of an SDES crypto-suite name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Master key length in bytes.
    pub fn master_key_len(self) -> usize {
        match self {
            Self::AeadAes256Gcm => 32,
            _ => 16,
        }
    }

    /// Master salt length in bytes: 112 bits for AES-CM (RFC 3711 §8.2), 96 for GCM
    /// (RFC 7714 §12).
    pub fn master_salt_len(self) -> usize {
        if self.is_aead() { 12 } else { 14 }
    }

    /// Bytes of DTLS exporter output one session needs: both sides' key and salt
    /// (RFC 5764 §4.2).
    pub fn keying_material_len(self) -> usize {
        2 * (self.master_key_len() + self.master_salt_len())
    }

    /// Bytes `protect_rtp` appends: the authentication tag.
    pub fn rtp_overhead(self) -> usize {
        match self {
            Self::AeadAes128Gcm | Self::AeadAes256Gcm => 16,
            Self::AesCm128HmacSha1_80 => 10,
            Self::AesCm128HmacSha1_32 => 4,
        }
    }

    /// Bytes `protect_rtcp` appends: tag plus the 4-byte E flag and SRTCP index.
    pub fn rtcp_overhead(self) -> usize {
        if self.is_aead() { 16 + 4 } else { 10 + 4 }
    }

    pub(crate) fn is_aead(self) -> bool {
        matches!(self, Self::AeadAes128Gcm | Self::AeadAes256Gcm)
    }
}

impl std::fmt::Display for SrtpProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
