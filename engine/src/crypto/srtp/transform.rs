//! The packet transforms with their session keys: AES-GCM (RFC 7714 §7–§9) and AES-CM with
//! HMAC-SHA1 (RFC 3711 §4.1.1, §4.2), each working in place on a buffer whose layout the
//! context has already checked.
//!
//! All `aws-lc-rs` objects are built once per context; per packet only stack values are made
//! (a 12- or 16-byte IV, a 12-byte AAD for SRTCP, an HMAC state copied from the keyed one).
//! `EncryptingKey::less_safe_encrypt` in CTR mode calls `AES_ctr128_encrypt` directly, and
//! `LessSafeKey` seals and opens through a pre-initialised `EVP_AEAD_CTX`, so neither
//! allocates: `engine/tests/srtp_no_alloc.rs` counts it.

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

use super::SrtpError;

/// GCM tag length (RFC 7714 §12: 16 octets for both suites).
pub(crate) const GCM_TAG_LEN: usize = 16;
/// HMAC-SHA1 tag length of SRTCP in every CM profile (RFC 3711 §5.2, RFC 5764 §4.1.2).
pub(crate) const CM_RTCP_TAG_LEN: usize = 10;
/// Length of the E flag and SRTCP index word (RFC 3711 §3.4).
pub(crate) const SRTCP_INDEX_LEN: usize = 4;
/// The E flag: the SRTCP payload is encrypted.
pub(crate) const SRTCP_E_FLAG: u32 = 0x8000_0000;
/// Fixed RTCP header plus sender SSRC: the part of an SRTCP packet never encrypted.
pub(crate) const RTCP_HEADER_LEN: usize = 8;

/// Session keys of one direction and one of SRTP or SRTCP.
pub(crate) enum Transform {
    /// RFC 7714: AES-GCM with a 96-bit session salt.
    Gcm { key: LessSafeKey, salt: [u8; 12] },
    /// RFC 3711: AES-128 in counter mode, HMAC-SHA1 truncated to `tag_len`. Boxed: the
    /// expanded AES key and the keyed HMAC state are ~1.7 KB, the GCM variant ~40 bytes.
    CmHmac(Box<CmKeys>),
}

/// Session keys of the AES-CM/HMAC-SHA1 transform.
pub(crate) struct CmKeys {
    aes: EncryptingKey,
    salt: [u8; 14],
    auth: hmac::Key,
    tag_len: usize,
}

impl Transform {
    /// A GCM transform from a session key of 16 or 32 bytes and a 12-byte session salt.
    pub(crate) fn gcm(key: &[u8], salt: &[u8]) -> Result<Self, SrtpError> {
        let algorithm = match key.len() {
            16 => &AES_128_GCM,
            32 => &AES_256_GCM,
            _ => return Err(SrtpError::KeyLength),
        };
        let key = UnboundKey::new(algorithm, key).map_err(|_| SrtpError::KeyLength)?;
        Ok(Self::Gcm {
            key: LessSafeKey::new(key),
            salt: salt.try_into().map_err(|_| SrtpError::KeyLength)?,
        })
    }

    /// An AES-CM/HMAC-SHA1 transform from a 16-byte session key, a 14-byte session salt and
    /// a 20-byte authentication key.
    pub(crate) fn cm(
        key: &[u8],
        salt: &[u8],
        auth_key: &[u8],
        tag_len: usize,
    ) -> Result<Self, SrtpError> {
        let aes = UnboundCipherKey::new(&AES_128, key).map_err(|_| SrtpError::KeyLength)?;
        Ok(Self::CmHmac(Box::new(CmKeys {
            aes: EncryptingKey::ctr(aes).map_err(|_| SrtpError::Crypto)?,
            salt: salt.try_into().map_err(|_| SrtpError::KeyLength)?,
            auth: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, auth_key),
            tag_len,
        })))
    }

    /// Bytes this transform appends to an RTP packet.
    pub(crate) fn rtp_tag_len(&self) -> usize {
        match self {
            Self::Gcm { .. } => GCM_TAG_LEN,
            Self::CmHmac(cm) => cm.tag_len,
        }
    }

    /// Bytes of the SRTCP trailer: tag and E‖index.
    pub(crate) fn rtcp_trailer_len(&self) -> usize {
        SRTCP_INDEX_LEN
            + match self {
                Self::Gcm { .. } => GCM_TAG_LEN,
                Self::CmHmac(_) => CM_RTCP_TAG_LEN,
            }
    }

    /// Encrypts `buf[hdr..len]` and writes the tag at `buf[len..]`; `buf` has the tailroom.
    /// Returns the SRTP length.
    #[inline]
    pub(crate) fn seal_rtp(
        &self,
        buf: &mut [u8],
        hdr: usize,
        len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<usize, SrtpError> {
        match self {
            Self::Gcm { key, salt } => {
                let (head, rest) = buf.split_at_mut(hdr);
                let body = len - hdr;
                let tag = key
                    .seal_in_place_separate_tag(
                        gcm_rtp_nonce(salt, ssrc, index),
                        Aad::from(&*head),
                        &mut rest[..body],
                    )
                    .map_err(|_| SrtpError::Crypto)?;
                rest[body..body + GCM_TAG_LEN].copy_from_slice(tag.as_ref());
                Ok(len + GCM_TAG_LEN)
            }
            Self::CmHmac(cm) => {
                let CmKeys {
                    aes,
                    salt,
                    auth,
                    tag_len,
                } = &**cm;
                ctr(aes, salt, ssrc, index, &mut buf[hdr..len])?;
                let tag = hmac_tag(auth, &buf[..len], Some((index >> 16) as u32));
                buf[len..len + tag_len].copy_from_slice(&tag.as_ref()[..*tag_len]);
                Ok(len + tag_len)
            }
        }
    }

    /// Authenticates `buf[..len]` (tag last) and decrypts `buf[hdr..]` in place. Returns the
    /// RTP length. Nothing is decrypted unless the tag verifies.
    #[inline]
    pub(crate) fn open_rtp(
        &self,
        buf: &mut [u8],
        hdr: usize,
        len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<usize, SrtpError> {
        match self {
            Self::Gcm { key, salt } => {
                let (head, rest) = buf.split_at_mut(hdr);
                key.open_in_place(
                    gcm_rtp_nonce(salt, ssrc, index),
                    Aad::from(&*head),
                    &mut rest[..len - hdr],
                )
                .map_err(|_| SrtpError::Auth)?;
                Ok(len - GCM_TAG_LEN)
            }
            Self::CmHmac(cm) => {
                let CmKeys {
                    aes,
                    salt,
                    auth,
                    tag_len,
                } = &**cm;
                let end = len - tag_len;
                let tag = hmac_tag(auth, &buf[..end], Some((index >> 16) as u32));
                verify_slices_are_equal(&tag.as_ref()[..*tag_len], &buf[end..len])
                    .map_err(|_| SrtpError::Auth)?;
                ctr(aes, salt, ssrc, index, &mut buf[hdr..end])?;
                Ok(end)
            }
        }
    }

    /// Encrypts `buf[8..len]`, appends tag and E‖index (E set). Returns the SRTCP length.
    #[inline]
    pub(crate) fn seal_rtcp(
        &self,
        buf: &mut [u8],
        len: usize,
        ssrc: u32,
        index: u32,
    ) -> Result<usize, SrtpError> {
        let e_index = (SRTCP_E_FLAG | index).to_be_bytes();
        match self {
            Self::Gcm { key, salt } => {
                // RFC 7714 §9.2: AAD is the 8-byte header and the E‖index word.
                let mut aad = [0u8; RTCP_HEADER_LEN + SRTCP_INDEX_LEN];
                aad[..RTCP_HEADER_LEN].copy_from_slice(&buf[..RTCP_HEADER_LEN]);
                aad[RTCP_HEADER_LEN..].copy_from_slice(&e_index);
                let tag = key
                    .seal_in_place_separate_tag(
                        gcm_rtcp_nonce(salt, ssrc, index),
                        Aad::from(aad),
                        &mut buf[RTCP_HEADER_LEN..len],
                    )
                    .map_err(|_| SrtpError::Crypto)?;
                buf[len..len + GCM_TAG_LEN].copy_from_slice(tag.as_ref());
                buf[len + GCM_TAG_LEN..len + GCM_TAG_LEN + SRTCP_INDEX_LEN]
                    .copy_from_slice(&e_index);
                Ok(len + GCM_TAG_LEN + SRTCP_INDEX_LEN)
            }
            Self::CmHmac(cm) => {
                let CmKeys {
                    aes, salt, auth, ..
                } = &**cm;
                // RFC 3711 §3.4: encrypt from after the sender SSRC; authenticate through
                // the E‖index word.
                ctr(
                    aes,
                    salt,
                    ssrc,
                    u64::from(index),
                    &mut buf[RTCP_HEADER_LEN..len],
                )?;
                let end = len + SRTCP_INDEX_LEN;
                buf[len..end].copy_from_slice(&e_index);
                let tag = hmac_tag(auth, &buf[..end], None);
                buf[end..end + CM_RTCP_TAG_LEN].copy_from_slice(&tag.as_ref()[..CM_RTCP_TAG_LEN]);
                Ok(end + CM_RTCP_TAG_LEN)
            }
        }
    }

    /// Authenticates an SRTCP packet of `len` bytes whose E‖index word says `index` and
    /// `encrypted`, and decrypts it in place when `encrypted`. Returns the RTCP length.
    #[inline]
    pub(crate) fn open_rtcp(
        &self,
        buf: &mut [u8],
        len: usize,
        ssrc: u32,
        index: u32,
        encrypted: bool,
    ) -> Result<usize, SrtpError> {
        match self {
            Self::Gcm { key, salt } => {
                let nonce = gcm_rtcp_nonce(salt, ssrc, index);
                let plain = len - GCM_TAG_LEN - SRTCP_INDEX_LEN;
                let mut e_index = [0u8; SRTCP_INDEX_LEN];
                e_index.copy_from_slice(&buf[len - SRTCP_INDEX_LEN..len]);
                if encrypted {
                    let mut aad = [0u8; RTCP_HEADER_LEN + SRTCP_INDEX_LEN];
                    aad[..RTCP_HEADER_LEN].copy_from_slice(&buf[..RTCP_HEADER_LEN]);
                    aad[RTCP_HEADER_LEN..].copy_from_slice(&e_index);
                    key.open_in_place(
                        nonce,
                        Aad::from(aad),
                        &mut buf[RTCP_HEADER_LEN..len - SRTCP_INDEX_LEN],
                    )
                    .map_err(|_| SrtpError::Auth)?;
                } else {
                    // RFC 7714 §9.3: without encryption the whole packet and the E‖index
                    // word are the AAD and the plaintext is empty. Move E‖index next to the
                    // packet (over the saved tag) so that the AAD is one slice.
                    let mut tag = [0u8; GCM_TAG_LEN];
                    tag.copy_from_slice(&buf[plain..plain + GCM_TAG_LEN]);
                    buf[plain..plain + SRTCP_INDEX_LEN].copy_from_slice(&e_index);
                    key.open_in_place_separate_tag(
                        nonce,
                        Aad::from(&buf[..plain + SRTCP_INDEX_LEN]),
                        &tag,
                        &mut [],
                    )
                    .map_err(|_| SrtpError::Auth)?;
                }
                Ok(plain)
            }
            Self::CmHmac(cm) => {
                let CmKeys {
                    aes, salt, auth, ..
                } = &**cm;
                let end = len - CM_RTCP_TAG_LEN;
                let tag = hmac_tag(auth, &buf[..end], None);
                verify_slices_are_equal(&tag.as_ref()[..CM_RTCP_TAG_LEN], &buf[end..len])
                    .map_err(|_| SrtpError::Auth)?;
                let plain = end - SRTCP_INDEX_LEN;
                if encrypted {
                    ctr(
                        aes,
                        salt,
                        ssrc,
                        u64::from(index),
                        &mut buf[RTCP_HEADER_LEN..plain],
                    )?;
                }
                Ok(plain)
            }
        }
    }
}

/// RFC 7714 §8.1: `(00 00 ‖ SSRC ‖ ROC ‖ SEQ) XOR salt`; ROC ‖ SEQ is the 48-bit index.
#[inline]
fn gcm_rtp_nonce(salt: &[u8; 12], ssrc: u32, index: u64) -> Nonce {
    let mut iv = *salt;
    xor(&mut iv[2..6], &ssrc.to_be_bytes());
    xor(&mut iv[6..12], &index.to_be_bytes()[2..]);
    Nonce::assume_unique_for_key(iv)
}

/// RFC 7714 §9.1: `(00 00 ‖ SSRC ‖ 00 00 ‖ 0 ‖ SRTCP index) XOR salt`.
#[inline]
fn gcm_rtcp_nonce(salt: &[u8; 12], ssrc: u32, index: u32) -> Nonce {
    let mut iv = *salt;
    xor(&mut iv[2..6], &ssrc.to_be_bytes());
    xor(&mut iv[8..12], &index.to_be_bytes());
    Nonce::assume_unique_for_key(iv)
}

/// RFC 3711 §4.1.1: `IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)`; the low 16 bits
/// count blocks from 0. Applies the keystream to `data` (encrypts or decrypts).
#[inline]
pub(crate) fn ctr(
    aes: &EncryptingKey,
    salt: &[u8; 14],
    ssrc: u32,
    index: u64,
    data: &mut [u8],
) -> Result<(), SrtpError> {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    xor(&mut iv[4..8], &ssrc.to_be_bytes());
    xor(&mut iv[8..14], &index.to_be_bytes()[2..]);
    aes.less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| SrtpError::Crypto)?;
    Ok(())
}

/// RFC 3711 §4.2: HMAC-SHA1 over the authenticated portion, then the ROC for SRTP.
#[inline]
fn hmac_tag(key: &hmac::Key, authenticated: &[u8], roc: Option<u32>) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(authenticated);
    if let Some(roc) = roc {
        ctx.update(&roc.to_be_bytes());
    }
    ctx.sign()
}

#[inline]
fn xor(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}
