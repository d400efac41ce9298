//! Media crypto: SRTP/SRTCP contexts for the forwarding loop ([`srtp`]) and the DTLS-SRTP
//! handshake that keys them ([`dtls`], run off the worker threads).

pub mod dtls;
pub mod srtp;
