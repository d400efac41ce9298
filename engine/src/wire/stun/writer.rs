//! Writing STUN messages into a caller's buffer: the Binding success and error responses an
//! ICE-lite server sends (RFC 8445 §7.3.1.4, RFC 5389 §10.1.2), and a general writer that the
//! tests also use to act as the browser.

use std::net::{IpAddr, SocketAddr};

use super::{
    Class, HEADER_LEN, INTEGRITY_LEN, IntegrityKey, MAGIC_COOKIE, METHOD_BINDING, StunError,
    TransactionId, attr, fingerprint_of, integrity_of, message_type, padded,
};
use crate::wire::{put16, put32};

/// Writes one STUN message into a borrowed buffer, keeping the header's length field right after
/// every attribute, so MESSAGE-INTEGRITY and FINGERPRINT can be computed over what precedes them.
///
/// Order is enforced as the parser enforces it: nothing after FINGERPRINT, only FINGERPRINT after
/// MESSAGE-INTEGRITY.
#[derive(Debug)]
pub struct MessageWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    integrity: bool,
    fingerprint: bool,
    /// Padding byte: zero as RFC 8489 §14 requires; the tests set it to reproduce RFC 5769.
    pad: u8,
}

impl<'b> MessageWriter<'b> {
    /// Starts a message of `class` and `method` with transaction id `tid`.
    pub fn new(
        buf: &'b mut [u8],
        class: Class,
        method: u16,
        tid: &TransactionId,
    ) -> Result<Self, StunError> {
        if buf.len() < HEADER_LEN {
            return Err(StunError::BufferTooSmall);
        }
        put16(buf, 0, message_type(class, method));
        put16(buf, 2, 0);
        put32(buf, 4, MAGIC_COOKIE);
        buf[8..20].copy_from_slice(tid);
        Ok(MessageWriter {
            buf,
            len: HEADER_LEN,
            integrity: false,
            fingerprint: false,
            pad: 0,
        })
    }

    /// Pads values with `pad` instead of zero: only to reproduce RFC 5769, whose vectors pad with
    /// spaces (RFC 5389 §15 allowed any value).
    #[cfg(test)]
    pub(crate) fn with_padding_byte(mut self, pad: u8) -> Self {
        self.pad = pad;
        self
    }

    /// Appends an attribute header and padding for a `len`-byte value and returns the value's
    /// bytes to fill in.
    fn reserve(&mut self, attr: u16, len: usize) -> Result<&mut [u8], StunError> {
        if self.fingerprint {
            return Err(StunError::AfterFingerprint);
        }
        if self.integrity && attr != attr::FINGERPRINT {
            return Err(StunError::AfterIntegrity);
        }
        let total = self.len + 4 + padded(len);
        if len > usize::from(u16::MAX) || total - HEADER_LEN > usize::from(u16::MAX) {
            return Err(StunError::ValueTooLong { attr });
        }
        if total > self.buf.len() {
            return Err(StunError::BufferTooSmall);
        }
        let at = self.len;
        put16(self.buf, at, attr);
        put16(self.buf, at + 2, len as u16);
        self.buf[at + 4 + len..total].fill(self.pad);
        put16(self.buf, 2, (total - HEADER_LEN) as u16);
        self.len = total;
        Ok(&mut self.buf[at + 4..at + 4 + len])
    }

    /// Appends an attribute with `value`.
    pub fn attribute(&mut self, attr: u16, value: &[u8]) -> Result<(), StunError> {
        self.reserve(attr, value.len())?.copy_from_slice(value);
        Ok(())
    }

    /// USERNAME (RFC 8489 §14.3: fewer than 509 bytes; RFC 5389 allowed 512).
    pub fn username(&mut self, username: &[u8]) -> Result<(), StunError> {
        if username.len() > 512 {
            return Err(StunError::ValueTooLong {
                attr: attr::USERNAME,
            });
        }
        self.attribute(attr::USERNAME, username)
    }

    /// SOFTWARE.
    pub fn software(&mut self, software: &[u8]) -> Result<(), StunError> {
        self.attribute(attr::SOFTWARE, software)
    }

    /// PRIORITY.
    pub fn priority(&mut self, priority: u32) -> Result<(), StunError> {
        self.attribute(attr::PRIORITY, &priority.to_be_bytes())
    }

    /// USE-CANDIDATE (empty value).
    pub fn use_candidate(&mut self) -> Result<(), StunError> {
        self.attribute(attr::USE_CANDIDATE, &[])
    }

    /// ICE-CONTROLLING with its tie-breaker.
    pub fn ice_controlling(&mut self, tie_breaker: u64) -> Result<(), StunError> {
        self.attribute(attr::ICE_CONTROLLING, &tie_breaker.to_be_bytes())
    }

    /// ICE-CONTROLLED with its tie-breaker.
    pub fn ice_controlled(&mut self, tie_breaker: u64) -> Result<(), StunError> {
        self.attribute(attr::ICE_CONTROLLED, &tie_breaker.to_be_bytes())
    }

    /// XOR-MAPPED-ADDRESS of `addr` (RFC 5389 §15.2).
    pub fn xor_mapped_address(&mut self, addr: SocketAddr) -> Result<(), StunError> {
        let mut mask = [0u8; 16];
        mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        mask[4..].copy_from_slice(&self.buf[8..20]);
        let (family, octets, n) = match addr.ip() {
            IpAddr::V4(a) => {
                let mut o = [0u8; 16];
                o[..4].copy_from_slice(&a.octets());
                (1, o, 4)
            }
            IpAddr::V6(a) => (2, a.octets(), 16),
        };
        let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
        let v = self.reserve(attr::XOR_MAPPED_ADDRESS, 4 + n)?;
        v[0] = 0;
        v[1] = family;
        v[2..4].copy_from_slice(&port.to_be_bytes());
        for (d, (o, m)) in v[4..].iter_mut().zip(octets.iter().zip(mask)) {
            *d = o ^ m;
        }
        Ok(())
    }

    /// ERROR-CODE with `code` (300..=699) and its reason phrase (RFC 5389 §15.6).
    pub fn error_code(&mut self, code: u16, reason: &str) -> Result<(), StunError> {
        if !(300..700).contains(&code) {
            return Err(StunError::BadAttribute {
                attr: attr::ERROR_CODE,
            });
        }
        if reason.len() > 763 {
            return Err(StunError::ValueTooLong {
                attr: attr::ERROR_CODE,
            });
        }
        let v = self.reserve(attr::ERROR_CODE, 4 + reason.len())?;
        v[0] = 0;
        v[1] = 0;
        v[2] = (code / 100) as u8;
        v[3] = (code % 100) as u8;
        v[4..].copy_from_slice(reason.as_bytes());
        Ok(())
    }

    /// MESSAGE-INTEGRITY over everything written so far (RFC 5389 §15.4).
    pub fn message_integrity(&mut self, key: &IntegrityKey) -> Result<(), StunError> {
        if self.integrity {
            return Err(StunError::AfterIntegrity);
        }
        let at = self.len;
        self.reserve(attr::MESSAGE_INTEGRITY, INTEGRITY_LEN)?;
        let tag = integrity_of(self.buf, at, key);
        self.buf[at + 4..at + 4 + INTEGRITY_LEN].copy_from_slice(tag.as_ref());
        self.integrity = true;
        Ok(())
    }

    /// FINGERPRINT over everything written so far (RFC 5389 §15.5). Ends the message.
    pub fn fingerprint(&mut self) -> Result<(), StunError> {
        let at = self.len;
        self.reserve(attr::FINGERPRINT, 4)?;
        let crc = fingerprint_of(self.buf, at);
        put32(self.buf, at + 4, crc);
        self.fingerprint = true;
        Ok(())
    }

    /// The message's length so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether only the header has been written.
    pub fn is_empty(&self) -> bool {
        self.len == HEADER_LEN
    }

    /// Ends the message and returns its length.
    pub fn finish(self) -> usize {
        self.len
    }
}

/// The reason phrases of the error codes an ICE server sends (RFC 5389 §15.6, RFC 8445 §7.3.1.1).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        420 => "Unknown Attribute",
        487 => "Role Conflict",
        500 => "Server Error",
        _ => "",
    }
}

/// Writes a Binding success response to the request with `tid` (RFC 8445 §7.3.1.4):
/// XOR-MAPPED-ADDRESS of the request's source, MESSAGE-INTEGRITY with the key the request was
/// verified with, FINGERPRINT. Returns the length (64 bytes for IPv4, 76 for IPv6).
pub fn write_binding_success(
    buf: &mut [u8],
    tid: &TransactionId,
    mapped: SocketAddr,
    key: &IntegrityKey,
) -> Result<usize, StunError> {
    let mut w = MessageWriter::new(buf, Class::SuccessResponse, METHOD_BINDING, tid)?;
    w.xor_mapped_address(mapped)?;
    w.message_integrity(key)?;
    w.fingerprint()?;
    Ok(w.finish())
}

/// Writes a Binding error response with `code` and its standard reason phrase, then
/// MESSAGE-INTEGRITY when `key` is given (the request was authenticated, e.g. 487 Role Conflict)
/// and FINGERPRINT. Returns the length.
pub fn write_binding_error(
    buf: &mut [u8],
    tid: &TransactionId,
    code: u16,
    key: Option<&IntegrityKey>,
) -> Result<usize, StunError> {
    let mut w = MessageWriter::new(buf, Class::ErrorResponse, METHOD_BINDING, tid)?;
    w.error_code(code, reason_phrase(code))?;
    if let Some(key) = key {
        w.message_integrity(key)?;
    }
    w.fingerprint()?;
    Ok(w.finish())
}
