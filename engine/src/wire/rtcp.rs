//! RTCP.
