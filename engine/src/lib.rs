//! # sluice-engine
//!
//! The data plane of Sluice, a WebRTC selective forwarding unit. Three layers, one direction
//! (see `DESIGN.md` §1 and `STYLE.md`):
//!
//! ```text
//!   control plane (tokio/axum, other crate)
//!        │  Command enums on a bounded queue + eventfd wake
//!        ▼
//!   worker.rs ── one pinned thread per core: owns an `io::Backend` and an `rtc::WorkerCore`
//!        │                         ▲
//!        ▼                         │ datagrams in (SockId, from, &mut [u8]); datagrams out via `Transmit`
//!   io/   rings, sockets, batching │  (knows nothing of RTP)
//!   rtc/  sans-IO routers, transports, producers, consumers (knows nothing of sockets or clocks)
//!   wire/ borrowed views over packet bytes: RTP, RTCP, demux (knows nothing of sessions)
//! ```
//!
//! The seam between `io` and `rtc` is in [`net`]: a socket handle ([`net::SockId`]) and the
//! [`net::Transmit`] trait through which the sans-IO core queues datagrams without knowing which
//! backend sends them.

#![warn(unreachable_pub)]

pub mod crypto;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod io;
pub mod net;
pub mod rtc;
#[cfg(test)]
mod test_rng;
pub mod wire;
pub mod worker;
