//! Media crypto: SRTP/SRTCP contexts for the forwarding loop ([`srtp`]).

pub mod srtp;
