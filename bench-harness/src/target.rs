//! A forwarder under test: a child process (Sluice or the floor) whose CPU the harness measures.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::Child;

use crate::error::BenchError;

/// A started forwarder. Killed (SIGKILL) when dropped: its numbers are taken by then.
pub struct TargetProcess {
    pub name: String,
    pub child: Child,
    /// Where the child's stderr goes, for the error message when it fails.
    pub log: PathBuf,
    /// Each producer's destination: the forwarder's receiving address for that producer.
    pub dests: Vec<SocketAddr>,
}

impl TargetProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the child has already exited.
    pub fn check_alive(&mut self) -> Result<(), BenchError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(BenchError::Target(format!(
                "{} exited ({status}); see {}",
                self.name,
                self.log.display()
            ))),
            Err(e) => Err(BenchError::io(format!("wait for {}", self.name), e)),
        }
    }
}

impl Drop for TargetProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A log file for a child's stderr in the temp directory.
pub fn log_file(name: &str) -> Result<(PathBuf, std::fs::File), BenchError> {
    let path = std::env::temp_dir().join(format!("sluice-bench-{}-{name}.log", std::process::id()));
    let f =
        std::fs::File::create(&path).map_err(|e| BenchError::io(path.display().to_string(), e))?;
    Ok((path, f))
}

/// A loopback TCP port that was free a moment ago.
pub fn free_tcp_port() -> Result<u16, BenchError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| BenchError::io("free tcp port", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| BenchError::io("free tcp port", e))
}

/// A loopback UDP port that was free a moment ago.
pub fn free_udp_port() -> Result<u16, BenchError> {
    let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| BenchError::io("free udp port", e))?;
    s.local_addr()
        .map(|a| a.port())
        .map_err(|e| BenchError::io("free udp port", e))
}

/// A range of `len` consecutive loopback UDP ports that are free right now, searched from a
/// start that depends on this process's id (concurrent runs rarely collide).
pub fn free_udp_range(len: u16) -> Result<(u16, u16), BenchError> {
    const LO: u32 = 20_000;
    const HI: u32 = 60_000;
    let span = HI - LO - u32::from(len);
    let mut start = LO + (std::process::id().wrapping_mul(7919)) % span;
    for _ in 0..64 {
        let lo = start as u16;
        let hi = lo + len - 1;
        if (lo..=hi).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return Ok((lo, hi));
        }
        start = LO + (start - LO + u32::from(len) + 97) % span;
    }
    Err(BenchError::Target(format!(
        "no {len} free consecutive UDP ports found"
    )))
}
