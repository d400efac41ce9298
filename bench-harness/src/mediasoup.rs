//! Starting the mediasoup peer (`bench-harness/peers/mediasoup/server.js`, docs/PEERS.md): a
//! Node process serving the v1 API subset on mediasoup 3.8.4, with one `mediasoup-worker`
//! process per worker. Its CPU is the sum over the Node process and every worker (`GET
//! /v1/pids`, also in its `ready` line), as Sluice's is its one process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::error::BenchError;
use crate::sluice::Api;
use crate::target::{self, TargetProcess};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running mediasoup peer.
pub struct Mediasoup {
    pub process: TargetProcess,
    pub api: Api,
    /// The Node process and its workers.
    pub pids: Vec<u32>,
}

/// The peer's directory in this source tree.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/mediasoup")
}

/// Reads the `ready` line's `node` and `workers` pids.
pub fn parse_ready(line: &str) -> Option<Vec<u32>> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["event"] != "ready" {
        return None;
    }
    let mut pids = vec![u32::try_from(v["node"].as_u64()?).ok()?];
    for w in v["workers"].as_array()? {
        pids.push(u32::try_from(w.as_u64()?).ok()?);
    }
    Some(pids)
}

/// Starts `node server.js` with `workers` workers on free loopback ports.
pub fn start(dir: &Path, workers: usize, ports: u16) -> Result<Mediasoup, BenchError> {
    let server = dir.join("server.js");
    if !server.is_file() {
        return Err(BenchError::Args(format!("{} not found", server.display())));
    }
    let http_port = target::free_tcp_port()?;
    let (lo, hi) = target::free_udp_range(ports.max(workers as u16 * 2))?;
    let (log, log_file) = target::log_file("mediasoup")?;
    let mut child = Command::new("node")
        .arg(&server)
        .arg("--http")
        .arg(format!("127.0.0.1:{http_port}"))
        .arg("--workers")
        .arg(workers.to_string())
        .arg("--rtc-ports")
        .arg(format!("{lo}-{hi}"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| BenchError::io("start node server.js", e))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| BenchError::Target("no stdout of server.js".into()))?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(p) = parse_ready(&line) {
                let _ = tx.send(p);
            }
        }
    });
    let mut process = TargetProcess {
        name: "mediasoup".into(),
        child,
        log,
        dests: Vec::new(),
        drops: None,
    };
    let pids = match rx.recv_timeout(START_TIMEOUT) {
        Ok(p) => p,
        Err(_) => {
            process.check_alive()?;
            return Err(BenchError::Target(format!(
                "mediasoup peer not ready in {START_TIMEOUT:?}; see {}",
                process.log.display()
            )));
        }
    };
    Ok(Mediasoup {
        process,
        api: Api::new(http_port)?,
        pids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_line_gives_node_then_workers() {
        let l = r#"{"event":"ready","sfu":"mediasoup","version":"3.8.4","http":"127.0.0.1:3100","node":4138,"workers":[4150,4152]}"#;
        assert_eq!(parse_ready(l), Some(vec![4138, 4150, 4152]));
        assert_eq!(parse_ready(r#"{"event":"log"}"#), None);
        assert_eq!(parse_ready("not json"), None);
    }
}
