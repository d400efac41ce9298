//! STUN messages (RFC 5389, with RFC 8489's current wording) as a borrowed view, and a writer.
//!
//! What ICE-lite needs from STUN (RFC 8445 §7.3) and nothing more: the 20-byte header (§5: type
//! with class and method interleaved, the magic cookie 0x2112A442, a 96-bit transaction id), the
//! attribute list (§14: type, length, value padded to 32 bits), typed accessors for the attributes
//! a Binding request or response carries, and the two checks a server runs before it answers:
//!
//! - FINGERPRINT (§14.7): CRC-32 (ISO 3309, as in [`crc32fast`]) of the message up to the
//!   attribute, XOR 0x5354554e, with the header's length field covering the FINGERPRINT.
//! - MESSAGE-INTEGRITY (§14.5): HMAC-SHA1 keyed with the short-term password (§9.1.1; ICE
//!   passwords are `ice-chars`, so OpaqueString processing leaves them unchanged) over the message
//!   up to the attribute, with the length field set as if MESSAGE-INTEGRITY ended the message.
//!   A following FINGERPRINT is therefore outside the HMAC. The comparison is constant-time.
//!
//! [`StunMessage::parse`] validates the structure once, so the accessors cannot fail on a parsed
//! message and iteration needs no error path. It is stricter than RFC 8489 in three places, each
//! chosen because a browser never sends the alternative and accepting it would only widen what an
//! attacker can feed the ICE server:
//! - the length field must equal the datagram's length minus 20 (UDP carries one message per
//!   datagram; RFC 7983 demultiplexing has already decided it is STUN);
//! - a known attribute with a malformed value (wrong length, unknown address family, error class
//!   outside 3..=6) rejects the message instead of being ignored;
//! - an attribute after MESSAGE-INTEGRITY other than FINGERPRINT, or any attribute after
//!   FINGERPRINT, rejects the message (§14.5 and §14.7 say "ignore" and "MUST be last").
//!
//! Padding bytes are not checked (RFC 5389 §15 allowed any value; RFC 5769's vectors pad with
//! spaces), and a repeated attribute is answered with its first occurrence (RFC 8489 §14).
//!
//! Not here: long-term credentials (the caller derives the MD5 key and passes it as an
//! [`IntegrityKey`]), MESSAGE-INTEGRITY-SHA256, USERHASH, TCP framing, and retransmission
//! timers: an ICE-lite server never sends requests.
//!
//! The view and the writer allocate nothing. HMAC-SHA1 comes from `aws-lc-rs` (DESIGN.md §7).

mod writer;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use aws_lc_rs::{constant_time, hmac};

use super::{be16, be32};

pub use writer::{MessageWriter, reason_phrase, write_binding_error, write_binding_success};

/// The fixed value of header bytes 4..8 (RFC 5389 §6).
pub const MAGIC_COOKIE: u32 = 0x2112_a442;
/// Length of the STUN header.
pub const HEADER_LEN: usize = 20;
/// XORed into the CRC-32 of a FINGERPRINT (RFC 5389 §15.5).
pub const FINGERPRINT_XOR: u32 = 0x5354_554e;
/// Length of a MESSAGE-INTEGRITY value (HMAC-SHA1).
pub const INTEGRITY_LEN: usize = 20;
/// The Binding method (RFC 5389 §18.1).
pub const METHOD_BINDING: u16 = 0x001;

/// A 96-bit transaction id (RFC 5389 §6).
pub type TransactionId = [u8; 12];

/// Attribute types this crate knows (RFC 5389 §18.2, RFC 8445 §16.1).
pub mod attr {
    /// MAPPED-ADDRESS (not XORed; legacy).
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    /// USERNAME: `<receiver's ufrag>:<sender's ufrag>` in ICE (RFC 8445 §7.2.2).
    pub const USERNAME: u16 = 0x0006;
    /// MESSAGE-INTEGRITY: HMAC-SHA1.
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    /// ERROR-CODE.
    pub const ERROR_CODE: u16 = 0x0009;
    /// UNKNOWN-ATTRIBUTES.
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000a;
    /// REALM (long-term credentials).
    pub const REALM: u16 = 0x0014;
    /// NONCE (long-term credentials).
    pub const NONCE: u16 = 0x0015;
    /// MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6; not verified here).
    pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001c;
    /// XOR-MAPPED-ADDRESS.
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    /// PRIORITY (RFC 8445 §7.1.1).
    pub const PRIORITY: u16 = 0x0024;
    /// USE-CANDIDATE (RFC 8445 §7.1.2): the controlling agent nominates this pair.
    pub const USE_CANDIDATE: u16 = 0x0025;
    /// SOFTWARE.
    pub const SOFTWARE: u16 = 0x8022;
    /// FINGERPRINT.
    pub const FINGERPRINT: u16 = 0x8028;
    /// ICE-CONTROLLED (RFC 8445 §7.1.3).
    pub const ICE_CONTROLLED: u16 = 0x8029;
    /// ICE-CONTROLLING (RFC 8445 §7.1.3).
    pub const ICE_CONTROLLING: u16 = 0x802a;
}

/// Why a STUN message could not be parsed, verified or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    /// Shorter than a header, or an attribute header is cut off.
    #[error("STUN message too short")]
    TooShort,
    /// The two most significant bits of the type are not zero (RFC 5389 §6).
    #[error("not a STUN message")]
    NotStun,
    /// Header bytes 4..8 are not the magic cookie (an RFC 3489 message, or not STUN).
    #[error("bad STUN magic cookie")]
    BadCookie,
    /// The length field is not a multiple of 4, or disagrees with the datagram's length.
    #[error("bad STUN message length")]
    BadLength,
    /// An attribute's value (or its padding) runs past the end of the message.
    #[error("STUN attribute 0x{attr:04x} overruns the message")]
    AttributeOverrun {
        /// The attribute type.
        attr: u16,
    },
    /// A known attribute has a value of the wrong size or content.
    #[error("malformed STUN attribute 0x{attr:04x}")]
    BadAttribute {
        /// The attribute type.
        attr: u16,
    },
    /// An attribute other than FINGERPRINT follows MESSAGE-INTEGRITY.
    #[error("attribute after MESSAGE-INTEGRITY")]
    AfterIntegrity,
    /// An attribute follows FINGERPRINT.
    #[error("attribute after FINGERPRINT")]
    AfterFingerprint,
    /// Verification asked for MESSAGE-INTEGRITY, and there is none.
    #[error("no MESSAGE-INTEGRITY")]
    NoIntegrity,
    /// MESSAGE-INTEGRITY does not match the key.
    #[error("MESSAGE-INTEGRITY mismatch")]
    IntegrityMismatch,
    /// Verification asked for FINGERPRINT, and there is none.
    #[error("no FINGERPRINT")]
    NoFingerprint,
    /// FINGERPRINT does not match the message.
    #[error("FINGERPRINT mismatch")]
    FingerprintMismatch,
    /// The writer's buffer cannot hold the message.
    #[error("buffer too small for STUN message")]
    BufferTooSmall,
    /// A value the writer was given is too long for its attribute or for a STUN message.
    #[error("value too long for STUN attribute 0x{attr:04x}")]
    ValueTooLong {
        /// The attribute type.
        attr: u16,
    },
}

/// The class of a message (RFC 5389 §6): two bits interleaved with the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// A request: expects a response.
    Request,
    /// An indication: no response (ICE keepalives, RFC 8445 §11).
    Indication,
    /// A success response.
    SuccessResponse,
    /// An error response (with ERROR-CODE).
    ErrorResponse,
}

impl Class {
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0,
            Class::Indication => 1,
            Class::SuccessResponse => 2,
            Class::ErrorResponse => 3,
        }
    }

    fn from_bits(b: u16) -> Class {
        match b & 3 {
            0 => Class::Request,
            1 => Class::Indication,
            2 => Class::SuccessResponse,
            _ => Class::ErrorResponse,
        }
    }
}

/// Builds the 14-bit message type from class and 12-bit method (RFC 5389 §6, figure 3):
/// `M11..M7 C1 M6..M4 C0 M3..M0`.
pub fn message_type(class: Class, method: u16) -> u16 {
    let c = class.bits();
    (method & 0x000f)
        | ((c & 1) << 4)
        | ((method & 0x0070) << 1)
        | ((c & 2) << 7)
        | ((method & 0x0f80) << 2)
}

/// Key for MESSAGE-INTEGRITY: the short-term password itself (RFC 8489 §9.1.1), or, for
/// long-term credentials, `MD5(username ":" realm ":" password)` computed by the caller (§9.2.2).
///
/// Built once per credential (ICE: when the transport is created or ICE restarts), so the
/// per-packet HMAC only clones the prepared inner/outer state.
#[derive(Clone)]
pub struct IntegrityKey(hmac::Key);

impl IntegrityKey {
    /// A key over the given bytes.
    pub fn new(key: &[u8]) -> Self {
        IntegrityKey(hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key))
    }

    /// HMAC-SHA1 over `parts` concatenated.
    fn sign(&self, parts: &[&[u8]]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(p);
        }
        ctx.sign()
    }
}

impl std::fmt::Debug for IntegrityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntegrityKey(..)")
    }
}

/// One attribute: its type, its value without padding, and where its 4-byte header starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Attribute type.
    pub attr: u16,
    /// Value, padding excluded.
    pub value: &'a [u8],
    /// Offset of the attribute header within the message.
    pub offset: usize,
}

/// Iterator over the attributes of a parsed message.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Attribute<'a>> {
        // `parse` has checked that every header and padded value fits.
        if self.at + 4 > self.buf.len() {
            return None;
        }
        let attr = be16(self.buf, self.at);
        let len = usize::from(be16(self.buf, self.at + 2));
        let start = self.at + 4;
        let a = Attribute {
            attr,
            value: &self.buf[start..start + len],
            offset: self.at,
        };
        self.at = start + padded(len);
        Some(a)
    }
}

/// A validated STUN message borrowed from a datagram.
#[derive(Debug, Clone, Copy)]
pub struct StunMessage<'a> {
    buf: &'a [u8],
    integrity_at: Option<usize>,
    fingerprint_at: Option<usize>,
}

impl<'a> StunMessage<'a> {
    /// Parses and validates a whole datagram as one STUN message (see the module docs for what
    /// is checked).
    pub fn parse(buf: &'a [u8]) -> Result<Self, StunError> {
        if buf.len() < HEADER_LEN {
            return Err(StunError::TooShort);
        }
        if buf[0] & 0xc0 != 0 {
            return Err(StunError::NotStun);
        }
        if be32(buf, 4) != MAGIC_COOKIE {
            return Err(StunError::BadCookie);
        }
        let len = usize::from(be16(buf, 2));
        if len % 4 != 0 || HEADER_LEN + len != buf.len() {
            return Err(StunError::BadLength);
        }
        let mut integrity_at = None;
        let mut fingerprint_at = None;
        let mut at = HEADER_LEN;
        while at < buf.len() {
            if at + 4 > buf.len() {
                return Err(StunError::TooShort);
            }
            let attr = be16(buf, at);
            let vlen = usize::from(be16(buf, at + 2));
            if at + 4 + padded(vlen) > buf.len() {
                return Err(StunError::AttributeOverrun { attr });
            }
            if fingerprint_at.is_some() {
                return Err(StunError::AfterFingerprint);
            }
            if integrity_at.is_some() && attr != attr::FINGERPRINT {
                return Err(StunError::AfterIntegrity);
            }
            let value = &buf[at + 4..at + 4 + vlen];
            check_value(attr, value)?;
            match attr {
                attr::MESSAGE_INTEGRITY => integrity_at = Some(at),
                attr::FINGERPRINT => fingerprint_at = Some(at),
                _ => {}
            }
            at += 4 + padded(vlen);
        }
        Ok(StunMessage {
            buf,
            integrity_at,
            fingerprint_at,
        })
    }

    /// The whole message.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The 14-bit message type.
    pub fn message_type(&self) -> u16 {
        be16(self.buf, 0)
    }

    /// The class bits of the type.
    pub fn class(&self) -> Class {
        let t = self.message_type();
        Class::from_bits(((t >> 4) & 1) | ((t >> 7) & 2))
    }

    /// The 12-bit method.
    pub fn method(&self) -> u16 {
        let t = self.message_type();
        (t & 0x000f) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0f80)
    }

    /// Whether this is a Binding request, the only message an ICE-lite server answers.
    pub fn is_binding_request(&self) -> bool {
        self.class() == Class::Request && self.method() == METHOD_BINDING
    }

    /// The transaction id.
    pub fn transaction_id(&self) -> &'a TransactionId {
        self.buf[8..20]
            .try_into()
            .expect("parse checked the 20-byte header")
    }

    /// Every attribute in order.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            buf: self.buf,
            at: HEADER_LEN,
        }
    }

    /// The value of the first attribute of type `attr`.
    pub fn attribute(&self, attr: u16) -> Option<&'a [u8]> {
        self.attributes().find(|a| a.attr == attr).map(|a| a.value)
    }

    /// USERNAME as bytes (RFC 8489 §14.3 says UTF-8; ICE compares it byte for byte).
    pub fn username(&self) -> Option<&'a [u8]> {
        self.attribute(attr::USERNAME)
    }

    /// SOFTWARE as bytes.
    pub fn software(&self) -> Option<&'a [u8]> {
        self.attribute(attr::SOFTWARE)
    }

    /// The MESSAGE-INTEGRITY value.
    pub fn message_integrity(&self) -> Option<&'a [u8; INTEGRITY_LEN]> {
        let at = self.integrity_at?;
        Some(
            self.buf[at + 4..at + 4 + INTEGRITY_LEN]
                .try_into()
                .expect("parse checked the MESSAGE-INTEGRITY length"),
        )
    }

    /// The FINGERPRINT value.
    pub fn fingerprint(&self) -> Option<u32> {
        self.fingerprint_at.map(|at| be32(self.buf, at + 4))
    }

    /// PRIORITY (RFC 8445 §7.1.1).
    pub fn priority(&self) -> Option<u32> {
        self.attribute(attr::PRIORITY).map(|v| be32(v, 0))
    }

    /// Whether USE-CANDIDATE is present (RFC 8445 §7.1.2).
    pub fn use_candidate(&self) -> bool {
        self.attribute(attr::USE_CANDIDATE).is_some()
    }

    /// ICE-CONTROLLING's tie-breaker (RFC 8445 §7.1.3).
    pub fn ice_controlling(&self) -> Option<u64> {
        self.attribute(attr::ICE_CONTROLLING).map(be64)
    }

    /// ICE-CONTROLLED's tie-breaker (RFC 8445 §7.1.3).
    pub fn ice_controlled(&self) -> Option<u64> {
        self.attribute(attr::ICE_CONTROLLED).map(be64)
    }

    /// XOR-MAPPED-ADDRESS, decoded (RFC 5389 §15.2): the port XOR the cookie's high 16 bits,
    /// an IPv4 address XOR the cookie, an IPv6 address XOR the cookie and the transaction id.
    pub fn xor_mapped_address(&self) -> Option<SocketAddr> {
        let v = self.attribute(attr::XOR_MAPPED_ADDRESS)?;
        let port = be16(v, 2) ^ (MAGIC_COOKIE >> 16) as u16;
        let mut mask = [0u8; 16];
        mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        mask[4..].copy_from_slice(self.transaction_id());
        let ip = match v[1] {
            1 => {
                let mut a = [0u8; 4];
                for (i, b) in a.iter_mut().enumerate() {
                    *b = v[4 + i] ^ mask[i];
                }
                IpAddr::V4(Ipv4Addr::from(a))
            }
            _ => {
                let mut a = [0u8; 16];
                for (i, b) in a.iter_mut().enumerate() {
                    *b = v[4 + i] ^ mask[i];
                }
                IpAddr::V6(Ipv6Addr::from(a))
            }
        };
        Some(SocketAddr::new(ip, port))
    }

    /// ERROR-CODE as (class × 100 + number, reason phrase bytes) (RFC 5389 §15.6).
    pub fn error_code(&self) -> Option<(u16, &'a [u8])> {
        let v = self.attribute(attr::ERROR_CODE)?;
        let code = u16::from(v[2] & 7) * 100 + u16::from(v[3]);
        Some((code, &v[4..]))
    }

    /// Checks FINGERPRINT (RFC 5389 §15.5): CRC-32 of everything before the attribute, with the
    /// length field covering the attribute, XOR 0x5354554e.
    pub fn verify_fingerprint(&self) -> Result<(), StunError> {
        let at = self.fingerprint_at.ok_or(StunError::NoFingerprint)?;
        if fingerprint_of(self.buf, at) == be32(self.buf, at + 4) {
            Ok(())
        } else {
            Err(StunError::FingerprintMismatch)
        }
    }

    /// Checks MESSAGE-INTEGRITY (RFC 5389 §15.4) with `key`, in constant time.
    pub fn verify_integrity(&self, key: &IntegrityKey) -> Result<(), StunError> {
        let at = self.integrity_at.ok_or(StunError::NoIntegrity)?;
        let tag = integrity_of(self.buf, at, key);
        constant_time::verify_slices_are_equal(
            tag.as_ref(),
            &self.buf[at + 4..at + 4 + INTEGRITY_LEN],
        )
        .map_err(|_| StunError::IntegrityMismatch)
    }
}

/// The part of an ICE USERNAME (`<local ufrag>:<remote ufrag>`, RFC 8445 §7.2.2) before the
/// first colon: what a server looks its transport up by. `None` without a colon.
pub fn local_ufrag(username: &[u8]) -> Option<&[u8]> {
    let colon = username.iter().position(|&b| b == b':')?;
    Some(&username[..colon])
}

/// Rejects malformed values of the attributes this module has accessors for, so that the
/// accessors can index without checks.
fn check_value(attr: u16, v: &[u8]) -> Result<(), StunError> {
    let ok = match attr {
        attr::MESSAGE_INTEGRITY => v.len() == INTEGRITY_LEN,
        attr::FINGERPRINT | attr::PRIORITY => v.len() == 4,
        attr::USE_CANDIDATE => v.is_empty(),
        attr::ICE_CONTROLLED | attr::ICE_CONTROLLING => v.len() == 8,
        // RFC 8489 §14.3: fewer than 509 bytes (RFC 5389: fewer than 513).
        attr::USERNAME => v.len() < 513,
        attr::XOR_MAPPED_ADDRESS => matches!((v.len(), v.get(1)), (8, Some(1)) | (20, Some(2))),
        attr::ERROR_CODE => v.len() >= 4 && (3..=6).contains(&(v[2] & 7)) && v[3] < 100,
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(StunError::BadAttribute { attr })
    }
}

/// FINGERPRINT of `buf[..at]` with the length field set to end 8 bytes after `at`.
fn fingerprint_of(buf: &[u8], at: usize) -> u32 {
    let len = (at + 8 - HEADER_LEN) as u16;
    let mut h = crc32fast::Hasher::new();
    h.update(&buf[..2]);
    h.update(&len.to_be_bytes());
    h.update(&buf[4..at]);
    h.finalize() ^ FINGERPRINT_XOR
}

/// MESSAGE-INTEGRITY of `buf[..at]` with the length field set to end 24 bytes after `at`.
fn integrity_of(buf: &[u8], at: usize, key: &IntegrityKey) -> hmac::Tag {
    let len = (at + 4 + INTEGRITY_LEN - HEADER_LEN) as u16;
    key.sign(&[&buf[..2], &len.to_be_bytes(), &buf[4..at]])
}

/// `n` rounded up to a multiple of 4.
fn padded(n: usize) -> usize {
    (n + 3) & !3
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}
