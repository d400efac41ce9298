//! SRTP key derivation, RFC 3711 §4.3, with the AES-CM pseudo-random function of §4.3.3.
//!
//! With a key derivation rate of 0 (the only rate DTLS-SRTP, RFC 5764 §4.1.2, and every WebRTC
//! stack use) the packet index never enters the derivation, so each session key is derived once
//! when a context is created:
//!
//! ```text
//!   key_id = label || 0x000000000000            (7 bytes; r = index DIV kdr = 0)
//!   x      = key_id XOR master_salt              (right-aligned in 112 bits)
//!   k      = AES-CM(master_key, IV = x * 2^16)   keystream, first n bytes
//! ```
//!
//! The GCM suites reuse the same PRF with their 96-bit master salt padded with zeros to 112 bits
//! (RFC 7714 §11); AES-256 master keys key the PRF with AES-256 (RFC 6188 §3, RFC 7714 §11).

use aws_lc_rs::cipher::{AES_128, AES_256, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;

use super::SrtpError;

/// Labels of RFC 3711 §4.3.1 (SRTP) and §4.3.2 (SRTCP).
pub(crate) const LABEL_RTP_ENCRYPTION: u8 = 0x00;
pub(crate) const LABEL_RTP_AUTH: u8 = 0x01;
pub(crate) const LABEL_RTP_SALT: u8 = 0x02;
pub(crate) const LABEL_RTCP_ENCRYPTION: u8 = 0x03;
pub(crate) const LABEL_RTCP_AUTH: u8 = 0x04;
pub(crate) const LABEL_RTCP_SALT: u8 = 0x05;

/// Length of the salt the PRF works on: 112 bits (RFC 3711 §4.3.1).
const PRF_SALT_LEN: usize = 14;

/// Fills `out` with `PRF_n(master_key, x)` for `label` (RFC 3711 §4.3.1 and §4.3.3).
///
/// `master_key` is 16 or 32 bytes; `master_salt` is at most 14 bytes and is padded with zeros
/// on the right to 112 bits (RFC 7714 §11 for the 96-bit GCM salts). Set-up only: the
/// `aws-lc-rs` key schedule here is built per call.
pub(crate) fn derive(
    master_key: &[u8],
    master_salt: &[u8],
    label: u8,
    out: &mut [u8],
) -> Result<(), SrtpError> {
    if master_salt.len() > PRF_SALT_LEN {
        return Err(SrtpError::KeyLength);
    }
    let algorithm = match master_key.len() {
        16 => &AES_128,
        32 => &AES_256,
        _ => return Err(SrtpError::KeyLength),
    };
    let key = UnboundCipherKey::new(algorithm, master_key).map_err(|_| SrtpError::KeyLength)?;
    let key = EncryptingKey::ctr(key).map_err(|_| SrtpError::Crypto)?;

    // x = (label || r) XOR master_salt, with key_id right-aligned: the label is the 8th of the
    // 14 salt bytes (r, six zero bytes, follows it).
    let mut iv = [0u8; 16];
    iv[..master_salt.len()].copy_from_slice(master_salt);
    iv[PRF_SALT_LEN - 7] ^= label;
    // The last two bytes of the IV are the block counter, starting at 0 (x * 2^16).

    out.fill(0);
    key.less_safe_encrypt(out, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| SrtpError::Crypto)?;
    Ok(())
}
