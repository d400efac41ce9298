//! The sans-IO core: routers, transports, producers, consumers. Fed `(now, datagram)`, queues
//! datagrams through [`crate::net::Transmit`]; owns no socket, no thread and no clock.

pub mod ortc;
pub mod rtp_parameters;
pub mod supported_rtp_capabilities;
