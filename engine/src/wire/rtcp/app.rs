//! Application-defined packets (RFC 3550 §6.7): subtype, SSRC, four-character name and opaque
//! data. Nothing here interprets the data.

use crate::wire::{ParseError, be32};

/// An APP packet (RFC 3550 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct App<'a> {
    subtype: u8,
    ssrc: u32,
    name: [u8; 4],
    data: &'a [u8],
}

impl<'a> App<'a> {
    pub(super) fn parse(body: &'a [u8], subtype: u8) -> Result<Self, ParseError> {
        if body.len() < 8 {
            return Err(ParseError::TooShort);
        }
        Ok(App {
            subtype,
            ssrc: be32(body, 0),
            name: [body[4], body[5], body[6], body[7]],
            data: &body[8..],
        })
    }

    /// The 5-bit subtype.
    pub fn subtype(&self) -> u8 {
        self.subtype
    }

    /// SSRC of the sender.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The four-character name.
    pub fn name(&self) -> [u8; 4] {
        self.name
    }

    /// Application-dependent data.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}
