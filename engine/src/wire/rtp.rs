//! RTP.
