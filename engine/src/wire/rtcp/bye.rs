//! Goodbye (RFC 3550 §6.6): the sources leaving and an optional reason, and its writer.

use super::{PT_BYE, begin};
use crate::wire::{ParseError, be32, put32};

/// A BYE packet (RFC 3550 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    ssrcs: &'a [u8],
    reason: Option<&'a [u8]>,
}

impl<'a> Bye<'a> {
    pub(super) fn parse(body: &'a [u8], count: u8) -> Result<Self, ParseError> {
        let end = 4 * usize::from(count);
        if end > body.len() {
            return Err(ParseError::BadLength);
        }
        let reason = match body.get(end) {
            None => None,
            Some(&len) => {
                let r_end = end + 1 + usize::from(len);
                if r_end > body.len() {
                    return Err(ParseError::BadLength);
                }
                Some(&body[end + 1..r_end])
            }
        };
        Ok(Bye {
            ssrcs: &body[..end],
            reason,
        })
    }

    /// The sources leaving.
    pub fn ssrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        self.ssrcs.chunks_exact(4).map(|c| be32(c, 0))
    }

    /// The reason for leaving, if the packet carries one.
    pub fn reason(&self) -> Option<&'a [u8]> {
        self.reason
    }
}

/// Writes a BYE for up to 31 sources, with a reason if `reason` is not empty (at most 255
/// bytes); returns its length.
pub fn write_bye(buf: &mut [u8], ssrcs: &[u32], reason: &[u8]) -> Result<usize, ParseError> {
    let count = u8::try_from(ssrcs.len())
        .ok()
        .filter(|&n| n <= 31)
        .ok_or(ParseError::Invalid)?;
    let reason_len = u8::try_from(reason.len()).map_err(|_| ParseError::Invalid)?;
    let ssrc_end = 4 + 4 * ssrcs.len();
    let len = if reason.is_empty() {
        ssrc_end
    } else {
        (ssrc_end + 1 + reason.len()).div_ceil(4) * 4
    };
    begin(buf, count, PT_BYE, len)?;
    for (ssrc, out) in ssrcs.iter().zip(buf[4..ssrc_end].chunks_exact_mut(4)) {
        put32(out, 0, *ssrc);
    }
    if !reason.is_empty() {
        buf[ssrc_end] = reason_len;
        buf[ssrc_end + 1..ssrc_end + 1 + reason.len()].copy_from_slice(reason);
        buf[ssrc_end + 1 + reason.len()..len].fill(0);
    }
    Ok(len)
}
