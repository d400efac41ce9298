//! SRTP keying material exported from a DTLS-SRTP handshake (RFC 5764 §4.2).
//!
//! The handshake's exporter (RFC 5705) is run with the label `"EXTRACTOR-dtls_srtp"`, no context,
//! and a length of `2 * (key_len + salt_len)` for the negotiated protection profile. The output is
//! laid out as
//!
//! ```text
//!   client_write_SRTP_master_key | server_write_SRTP_master_key |
//!   client_write_SRTP_master_salt | server_write_SRTP_master_salt
//! ```
//!
//! and each side protects what it sends with its own role's half ("client" is the DTLS client).
//! [`SrtpKeys`] resolves that into *local* (what we protect with) and *remote* (what we unprotect
//! with), so the SRTP layer never needs to know the DTLS role.
//!
//! The profile enum is [`crate::crypto::srtp`]'s, not the DTLS library's, so that the SRTP contexts
//! do not depend on the handshake crate. Key and salt lengths: RFC 3711 §8.2 / RFC 5764 §4.1.2 for the AES-CM
//! profile (128-bit key, 112-bit salt), RFC 7714 §12 for the GCM profiles (96-bit salt).

use std::fmt;

use super::DtlsSide;

pub use crate::crypto::srtp::SrtpProfile;

/// Our profile for one `dimpl` negotiated, `None` for one we have no SRTP context for.
pub(crate) fn profile_from_dimpl(profile: dimpl::SrtpProfile) -> Option<SrtpProfile> {
    match profile {
        dimpl::SrtpProfile::AES128_CM_SHA1_80 => Some(SrtpProfile::AesCm128HmacSha1_80),
        dimpl::SrtpProfile::AEAD_AES_128_GCM => Some(SrtpProfile::AeadAes128Gcm),
        dimpl::SrtpProfile::AEAD_AES_256_GCM => Some(SrtpProfile::AeadAes256Gcm),
        // `dimpl::SrtpProfile` is non-exhaustive: a profile added there is one we have no
        // SRTP context for, so the handshake must fail rather than release unusable keys.
        _ => None,
    }
}

/// SRTP master keys and salts for one transport, resolved from the DTLS role: `local_*` protects
/// what we send, `remote_*` unprotects what we receive.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The negotiated protection profile; the lengths below match it.
    pub profile: SrtpProfile,
    /// Master key for what we send.
    pub local_key: Vec<u8>,
    /// Master salt for what we send.
    pub local_salt: Vec<u8>,
    /// Master key for what the peer sends.
    pub remote_key: Vec<u8>,
    /// Master salt for what the peer sends.
    pub remote_salt: Vec<u8>,
}

impl SrtpKeys {
    /// Split exported keying material (RFC 5764 §4.2 layout) for the side we played.
    /// Returns `None` when `material` is not exactly `profile.keying_material_len()` bytes.
    pub fn from_keying_material(
        profile: SrtpProfile,
        side: DtlsSide,
        material: &[u8],
    ) -> Option<Self> {
        if material.len() != profile.keying_material_len() {
            return None;
        }
        let (k, s) = (profile.master_key_len(), profile.master_salt_len());
        let client_key = &material[..k];
        let server_key = &material[k..2 * k];
        let client_salt = &material[2 * k..2 * k + s];
        let server_salt = &material[2 * k + s..];
        let (local_key, local_salt, remote_key, remote_salt) = match side {
            DtlsSide::Client => (client_key, client_salt, server_key, server_salt),
            DtlsSide::Server => (server_key, server_salt, client_key, client_salt),
        };
        Some(SrtpKeys {
            profile,
            local_key: local_key.to_vec(),
            local_salt: local_salt.to_vec(),
            remote_key: remote_key.to_vec(),
            remote_salt: remote_salt.to_vec(),
        })
    }
}

/// Key bytes stay out of logs: only the profile and the lengths are printed.
impl fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpKeys")
            .field("profile", &self.profile)
            .field(
                "local_key",
                &format_args!("[{} bytes]", self.local_key.len()),
            )
            .field(
                "local_salt",
                &format_args!("[{} bytes]", self.local_salt.len()),
            )
            .field(
                "remote_key",
                &format_args!("[{} bytes]", self.remote_key.len()),
            )
            .field(
                "remote_salt",
                &format_args!("[{} bytes]", self.remote_salt.len()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_rfc_5764_and_7714() {
        assert_eq!(SrtpProfile::AesCm128HmacSha1_80.keying_material_len(), 60);
        assert_eq!(SrtpProfile::AeadAes128Gcm.keying_material_len(), 56);
        assert_eq!(SrtpProfile::AeadAes256Gcm.keying_material_len(), 88);
    }

    #[test]
    fn split_puts_client_halves_first_and_mirrors_by_side() {
        let profile = SrtpProfile::AeadAes128Gcm;
        // client_key = 0x01.., server_key = 0x02.., client_salt = 0x03.., server_salt = 0x04..
        let mut material = Vec::new();
        material.extend([1u8; 16]);
        material.extend([2u8; 16]);
        material.extend([3u8; 12]);
        material.extend([4u8; 12]);
        let client = SrtpKeys::from_keying_material(profile, DtlsSide::Client, &material).unwrap();
        let server = SrtpKeys::from_keying_material(profile, DtlsSide::Server, &material).unwrap();
        assert_eq!(client.local_key, vec![1u8; 16]);
        assert_eq!(client.local_salt, vec![3u8; 12]);
        assert_eq!(client.remote_key, vec![2u8; 16]);
        assert_eq!(client.remote_salt, vec![4u8; 12]);
        assert_eq!(server.local_key, client.remote_key);
        assert_eq!(server.local_salt, client.remote_salt);
        assert_eq!(server.remote_key, client.local_key);
        assert_eq!(server.remote_salt, client.local_salt);
    }

    #[test]
    fn split_rejects_wrong_length() {
        let material = [0u8; 56];
        assert!(
            SrtpKeys::from_keying_material(
                SrtpProfile::AesCm128HmacSha1_80,
                DtlsSide::Client,
                &material
            )
            .is_none()
        );
    }

    #[test]
    fn debug_does_not_print_key_bytes() {
        let material = [0xABu8; 88];
        let keys =
            SrtpKeys::from_keying_material(SrtpProfile::AeadAes256Gcm, DtlsSide::Server, &material)
                .unwrap();
        let printed = format!("{keys:?}");
        assert!(!printed.contains("171"), "{printed}");
        assert!(printed.contains("32 bytes"), "{printed}");
    }
}
