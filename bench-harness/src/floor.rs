//! The floor: the least a forwarder can do, as a separate process measured like Sluice.
//!
//! `sluice-bench floor` (hidden subcommand) receives each producer's datagrams on a socket of
//! its own and re-sends every one, unchanged, to the producer's C receivers from C sockets of its
//! own: the same socket topology as Sluice's plain transports (one receiving port per producer
//! transport, one sending port per consumer transport). It runs on the engine's own
//! [`Backend`] (`uring` or `mmsg`) with a trivial [`Handler`], polling with the worker's 100 ms
//! tick, so the receive batching, the send pool and the single `io_uring_enter` (or
//! `sendmmsg` per socket) per batch are literally Sluice's. What it leaves out is everything
//! above `io/`: RTP parsing, the router, per-consumer rewriting, counters and stats publication.
//! Producers are spread over `--workers` threads as Sluice spreads routers (producer p on
//! thread p mod N), each pinned to core p mod N as Sluice pins worker i to core i.
//!
//! Protocol with the harness: once bound, it prints one line `READY <port> <port> …` (producer
//! order) on stdout, then forwards until killed, printing `DROPS <n>` every 200 ms: datagrams
//! it could not queue (no free send slot) or the kernel refused, since start, as Sluice's
//! `no_send_buffer` drops and send errors.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use sluice_engine::io::{Backend, Handler, IoKind, TxQueue, socket};
use sluice_engine::net::{SockId, Transmit};

use crate::cli::FloorArgs;
use crate::error::BenchError;
use crate::sluice::io_flag;
use crate::target::{self, TargetProcess};

/// The worker loop's poll timeout (engine/src/worker.rs `TICK`).
const TICK: Duration = Duration::from_millis(100);

/// How long the floor may take to bind and print its ports (longer under a `--wrapper`).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Where one receiving socket's datagrams go.
struct Route {
    out: Vec<(SockId, SocketAddr)>,
}

/// Re-sends every datagram to its socket's route.
struct Fanout {
    /// Indexed by `SockId.0` of the receiving socket.
    routes: Vec<Option<Route>>,
    no_buffer: u64,
}

impl Handler for Fanout {
    fn on_datagram(&mut self, sock: SockId, _: SocketAddr, data: &mut [u8], tx: &mut TxQueue) {
        if let Some(Some(route)) = self.routes.get(sock.0 as usize) {
            for &(s, to) in &route.out {
                if !tx.send(s, to, data) {
                    self.no_buffer += 1;
                }
            }
        }
    }
    fn on_wake(&mut self, _: &mut TxQueue) {}
}

/// Runs the floor forwarder (the `floor` subcommand); returns only on error.
pub fn serve(args: &FloorArgs) -> Result<(), BenchError> {
    let c = args.consumers.max(1);
    if args.targets.is_empty() || !args.targets.chunks_exact(c).remainder().is_empty() {
        return Err(BenchError::Args(format!(
            "{} targets is not a multiple of {c} consumers",
            args.targets.len()
        )));
    }
    let producers = args.targets.len() / c;
    let workers = args.workers.clamp(1, producers);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let (port_tx, port_rx) = mpsc::channel::<Result<(usize, u16), BenchError>>();
    let drops: Vec<Arc<AtomicU64>> = (0..workers).map(|_| Arc::default()).collect();
    let mut handles = Vec::new();
    for w in 0..workers {
        let mine: Vec<(usize, Vec<SocketAddr>)> = (w..producers)
            .step_by(workers)
            .map(|p| (p, args.targets[p * c..(p + 1) * c].to_vec()))
            .collect();
        let core = (!cores.is_empty()).then(|| cores[w % cores.len()]);
        let io = args.io.kind();
        let port_tx = port_tx.clone();
        let drops = drops[w].clone();
        handles.push(
            thread::Builder::new()
                .name(format!("floor-worker-{w}"))
                .spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    if let Err(e) = forward(io, &mine, &port_tx, &drops) {
                        let _ = port_tx.send(Err(e));
                    }
                })
                .map_err(|e| BenchError::io("spawn floor worker", e))?,
        );
    }
    drop(port_tx);
    let mut ports = vec![0u16; producers];
    for _ in 0..producers {
        let (p, port) = port_rx
            .recv()
            .map_err(|_| BenchError::Target("floor worker died".into()))??;
        ports[p] = port;
    }
    let line: Vec<String> = ports.iter().map(u16::to_string).collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY {}", line.join(" ")).map_err(|e| BenchError::io("stdout", e))?;
    out.flush().map_err(|e| BenchError::io("stdout", e))?;
    drop(out);
    // Workers only come back with an error: report the first; until then, publish drops.
    loop {
        match port_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Err(e)) => return Err(e),
            Ok(Ok(_)) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let n: u64 = drops.iter().map(|d| d.load(Ordering::Relaxed)).sum();
        let mut out = std::io::stdout().lock();
        if writeln!(out, "DROPS {n}")
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
    }
    for h in handles {
        let _ = h.join();
    }
    Err(BenchError::Target("floor workers stopped".into()))
}

fn forward(
    io: IoKind,
    producers: &[(usize, Vec<SocketAddr>)],
    ports: &mpsc::Sender<Result<(usize, u16), BenchError>>,
    drops: &AtomicU64,
) -> Result<(), BenchError> {
    // A plain fn pointer: building the error allocates only when there is one.
    fn err(what: &'static str) -> impl Fn(std::io::Error) -> BenchError {
        move |e| BenchError::io(what, e)
    }
    let mut backend = Backend::new(io).map_err(err("floor backend"))?;
    let mut fanout = Fanout {
        routes: Vec::new(),
        no_buffer: 0,
    };
    let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
    for (p, receivers) in producers {
        let rx = socket::bind_udp(lo, false).map_err(err("floor bind"))?;
        let port = rx.local_addr().map_err(err("floor bind"))?.port();
        let rx_id = backend.add_socket(rx).map_err(err("floor socket"))?;
        let mut out = Vec::with_capacity(receivers.len());
        for &to in receivers {
            let s = socket::bind_udp(lo, false).map_err(err("floor bind"))?;
            out.push((backend.add_socket(s).map_err(err("floor socket"))?, to));
        }
        let slot = rx_id.0 as usize;
        if fanout.routes.len() <= slot {
            fanout.routes.resize_with(slot + 1, || None);
        }
        fanout.routes[slot] = Some(Route { out });
        let _ = ports.send(Ok((*p, port)));
    }
    // Nothing in this loop allocates (as on Sluice's forwarding path).
    loop {
        if let Err(e) = backend.poll(Some(TICK), &mut fanout) {
            return Err(BenchError::io("floor poll", e));
        }
        // Sluice's worker publishes its counters once per poll too.
        drops.store(
            fanout.no_buffer + backend.stats().tx_errors,
            Ordering::Relaxed,
        );
    }
}

/// Starts `sluice-bench floor` (this same executable) and reads its ports.
pub fn start(
    io: IoKind,
    workers: usize,
    consumers: usize,
    receivers: &[SocketAddr],
    wrapper: Option<&str>,
) -> Result<TargetProcess, BenchError> {
    let exe = std::env::current_exe().map_err(|e| BenchError::io("current_exe", e))?;
    let name = format!("floor-{}", io_flag(io));
    let (log, log_file) = target::log_file(&name)?;
    let targets: Vec<String> = receivers.iter().map(SocketAddr::to_string).collect();
    let mut child = target::command(wrapper, &exe)
        .arg("floor")
        .args(["--io", io_flag(io)])
        .arg("--workers")
        .arg(workers.to_string())
        .arg("--consumers")
        .arg(consumers.to_string())
        .arg("--targets")
        .arg(targets.join(","))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| BenchError::io(format!("start {}", exe.display()), e))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| BenchError::Target("floor has no stdout".into()))?;
    let mut process = TargetProcess {
        name,
        child,
        log,
        dests: Vec::new(),
        drops: None,
    };
    // Read the READY line on a thread of its own, so that a floor that never answers is an
    // error rather than a hang.
    let (line_tx, line_rx) = mpsc::channel();
    let (drops_tx, drops_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let r = reader.read_line(&mut line).map(|_| line);
        let _ = line_tx.send(r);
        for l in reader.lines() {
            let Ok(l) = l else { break };
            if let Some(n) = l
                .strip_prefix("DROPS ")
                .and_then(|n| n.trim().parse::<u64>().ok())
                && drops_tx.send(n).is_err()
            {
                break;
            }
        }
    });
    let line = match line_rx.recv_timeout(READY_TIMEOUT) {
        Ok(r) => r.map_err(|e| BenchError::io("floor stdout", e))?,
        Err(_) => {
            return Err(BenchError::Target(format!(
                "floor did not print READY within {READY_TIMEOUT:?}; see {}",
                process.log.display()
            )));
        }
    };
    process.dests = parse_ready(&line).ok_or_else(|| {
        BenchError::Target(format!(
            "floor did not start ({:?}); see {}",
            line.trim(),
            process.log.display()
        ))
    })?;
    process.drops = Some(drops_rx);
    process.check_alive()?;
    Ok(process)
}

/// Parses `READY <port> …` into loopback addresses.
fn parse_ready(line: &str) -> Option<Vec<SocketAddr>> {
    let mut words = line.split_ascii_whitespace();
    if words.next()? != "READY" {
        return None;
    }
    let ports: Option<Vec<SocketAddr>> = words
        .map(|w| w.parse::<u16>().ok().map(|p| ([127, 0, 0, 1], p).into()))
        .collect();
    ports.filter(|p| !p.is_empty())
}

/// The path of `sluice` next to this executable (`target/release/sluice`).
pub fn default_sluice_bin() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir: &Path = exe.parent()?;
    Some(dir.join("sluice"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_line_lists_ports_in_order() {
        let a = parse_ready("READY 4000 4001\n").unwrap();
        assert_eq!(
            a,
            vec![
                "127.0.0.1:4000".parse().unwrap(),
                "127.0.0.1:4001".parse().unwrap()
            ]
        );
        assert_eq!(parse_ready("READY\n"), None);
        assert_eq!(parse_ready("READY 70000\n"), None);
        assert_eq!(parse_ready("error: bind\n"), None);
    }

    #[test]
    fn fanout_resends_each_datagram_to_every_receiver_of_its_socket() {
        let mut backend = Backend::new(IoKind::Mmsg).unwrap();
        let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
        let ingress = std::net::UdpSocket::bind(lo).unwrap();
        let rx_id = backend
            .add_socket(socket::bind_udp(lo, false).unwrap())
            .unwrap();
        let receivers: Vec<std::net::UdpSocket> = (0..3)
            .map(|_| std::net::UdpSocket::bind(lo).unwrap())
            .collect();
        let mut out = Vec::new();
        for r in &receivers {
            let s = backend
                .add_socket(socket::bind_udp(lo, false).unwrap())
                .unwrap();
            out.push((s, r.local_addr().unwrap()));
        }
        let mut fanout = Fanout {
            routes: Vec::new(),
            no_buffer: 0,
        };
        fanout.routes.resize_with(rx_id.0 as usize + 1, || None);
        fanout.routes[rx_id.0 as usize] = Some(Route { out });
        let dest = backend.local_addr(rx_id).unwrap();
        ingress.send_to(b"hello floor", dest).unwrap();
        // First poll receives and queues; the next one sends.
        for _ in 0..2 {
            backend
                .poll(Some(Duration::from_millis(500)), &mut fanout)
                .unwrap();
        }
        for r in &receivers {
            r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut b = [0u8; 64];
            let n = r.recv(&mut b).unwrap();
            assert_eq!(&b[..n], b"hello floor");
        }
        assert_eq!(fanout.no_buffer, 0);
    }
}
