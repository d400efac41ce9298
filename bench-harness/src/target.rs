//! A forwarder under test: a child process (Sluice or the floor) whose CPU the harness measures.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::BenchError;

/// How long a forwarder may take to exit after SIGTERM (valgrind writes its profile then).
const STOP_GRACE: Duration = Duration::from_secs(60);

/// A started forwarder. Stopped when dropped: SIGTERM (so a `--wrapper` such as valgrind can
/// write its output), SIGKILL if it has not exited within [`STOP_GRACE`].
pub struct TargetProcess {
    pub name: String,
    pub child: Child,
    /// Where the child's stderr goes, for the error message when it fails.
    pub log: PathBuf,
    /// Each producer's destination: the forwarder's receiving address for that producer.
    pub dests: Vec<SocketAddr>,
    /// The floor's running count of dropped datagrams (its `DROPS` lines); `None` for Sluice,
    /// whose drops come from its API.
    pub drops: Option<std::sync::mpsc::Receiver<u64>>,
}

impl TargetProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The latest drop count the floor reported, if it reports one.
    pub fn latest_drops(&self) -> Option<u64> {
        self.drops.as_ref().and_then(|rx| rx.try_iter().last())
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
        // kill(1) rather than kill(2): the harness has no unsafe code of its own.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command for `program`, prefixed by `wrapper` (whitespace-separated words) when given.
pub fn command(wrapper: Option<&str>, program: &std::path::Path) -> Command {
    let mut words = wrapper.into_iter().flat_map(str::split_ascii_whitespace);
    match words.next() {
        Some(first) => {
            let mut c = Command::new(first);
            c.args(words).arg(program);
            c
        }
        None => Command::new(program),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn wrapper_words_come_before_the_program() {
        let c = command(Some("valgrind  --tool=callgrind"), Path::new("/bin/sluice"));
        assert_eq!(c.get_program(), "valgrind");
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(args, ["--tool=callgrind", "/bin/sluice"]);
        let plain = command(None, Path::new("/bin/sluice"));
        assert_eq!(plain.get_program(), "/bin/sluice");
        assert_eq!(plain.get_args().count(), 0);
        assert_eq!(command(Some("  "), Path::new("x")).get_program(), "x");
    }

    #[test]
    fn free_range_is_bindable() {
        let (lo, hi) = free_udp_range(4).unwrap();
        assert_eq!(hi - lo, 3);
    }
}
