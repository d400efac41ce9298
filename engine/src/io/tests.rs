//! Backend tests over real loopback sockets, each run for both backends.
//!
//! No timing assertions; every wait is bounded by [`DEADLINE`] so a broken backend fails the test
//! instead of hanging it.

use std::cell::Cell;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::socket::bind_udp;
use super::{Backend, BackendConfig, Handler, IoKind, TxQueue};
use crate::net::{MAX_DATAGRAM, SockId, Transmit};

const DEADLINE: Duration = Duration::from_secs(20);
const TICK: Duration = Duration::from_millis(5);

/// Runs `$name(kind)` once per backend, as `$name::uring` and `$name::mmsg`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn uring() {
                super::$name(super::IoKind::Uring);
            }
            #[test]
            fn mmsg() {
                super::$name(super::IoKind::Mmsg);
            }
        }
    )*};
}

both_backends!(
    echo,
    waker,
    reuseport_group,
    remove_socket,
    fan_out,
    small_pool,
    pool_smaller_than_fan_out,
    dual_stack,
);

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A non-blocking client socket with large kernel buffers.
fn client() -> UdpSocket {
    bind_udp(localhost(), false).unwrap()
}

fn backend(kind: IoKind, config: BackendConfig) -> Backend {
    let b = Backend::with_config(kind, config).unwrap();
    assert_eq!(b.kind(), kind);
    b
}

/// Polls `b` and drains `clients` until `done` says so; panics after [`DEADLINE`].
fn run_until<H: Handler>(
    b: &mut Backend,
    h: &mut H,
    clients: &[&UdpSocket],
    mut on_client: impl FnMut(usize, SocketAddr, &[u8]),
    mut done: impl FnMut(&H) -> bool,
) {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        b.poll(Some(TICK), h).unwrap();
        for (i, c) in clients.iter().enumerate() {
            while let Ok((n, from)) = c.recv_from(&mut buf) {
                on_client(i, from, &buf[..n]);
            }
        }
        if done(h) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out; stats {:?}",
            b.stats()
        );
    }
}

/// Echoes every datagram back to its source and records what it saw.
#[derive(Default)]
struct Echo {
    from: Vec<SocketAddr>,
    socks: Vec<SockId>,
    last: Vec<u8>,
    wakes: usize,
}

impl Handler for Echo {
    fn on_datagram(&mut self, sock: SockId, from: SocketAddr, data: &mut [u8], tx: &mut TxQueue) {
        self.from.push(from);
        self.socks.push(sock);
        self.last.clear();
        self.last.extend_from_slice(data);
        assert!(tx.send(sock, from, data), "send pool exhausted in echo");
    }
    fn on_wake(&mut self, _tx: &mut TxQueue) {
        self.wakes += 1;
    }
}

/// Datagram `i` of the echo test: its index, then a pattern, 4..=MAX_DATAGRAM bytes long.
fn datagram(i: usize) -> Vec<u8> {
    let len = 4 + (i * 131) % (MAX_DATAGRAM - 3);
    let mut d: Vec<u8> = (0..len).map(|k| (k * 7 + i) as u8).collect();
    d[..4].copy_from_slice(&(i as u32).to_be_bytes());
    d
}

fn echo(kind: IoKind) {
    const N: usize = 2000;
    const BURST: usize = 50;
    let mut b = backend(kind, BackendConfig::default());
    let sock = b.add_socket(bind_udp(localhost(), false).unwrap()).unwrap();
    let server = b.local_addr(sock).unwrap();
    let c = client();
    let me = c.local_addr().unwrap();
    let mut h = Echo::default();
    let mut got = vec![false; N];
    let received = Cell::new(0);
    for burst in (0..N).step_by(BURST) {
        for i in burst..burst + BURST {
            c.send_to(&datagram(i), server).unwrap();
        }
        run_until(
            &mut b,
            &mut h,
            &[&c],
            |_, from, d| {
                assert_eq!(from, server);
                let i = u32::from_be_bytes(d[..4].try_into().unwrap()) as usize;
                assert_eq!(d, &datagram(i)[..], "datagram {i} not echoed byte-exact");
                assert!(!got[i], "datagram {i} echoed twice");
                got[i] = true;
                received.set(received.get() + 1);
            },
            |_| received.get() == burst + BURST,
        );
    }
    assert!(
        h.from.iter().all(|&f| f == me),
        "handler saw a source other than the client"
    );
    assert!(h.socks.iter().all(|&s| s == sock));
    let st = b.stats();
    assert_eq!(st.rx_packets, N as u64);
    assert_eq!(st.tx_packets, N as u64);
    assert_eq!(
        st.tx_errors + st.tx_no_buffer + st.rx_truncated,
        0,
        "{st:?}"
    );
}

fn waker(kind: IoKind) {
    let (waker_tx, waker_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    // The backend stays on its own thread (it is not Send); a stuck poll(None) fails the test
    // through the channel timeout instead of hanging it.
    std::thread::spawn(move || {
        let mut b = Backend::with_config(kind, BackendConfig::default()).unwrap();
        waker_tx.send(b.waker()).unwrap();
        let mut h = Echo::default();
        while h.wakes == 0 {
            b.poll(None, &mut h).unwrap();
        }
        done_tx.send(h.wakes).unwrap();
    });
    let w = waker_rx.recv_timeout(DEADLINE).unwrap();
    let w2 = w.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        w2.wake();
    });
    let wakes = done_rx
        .recv_timeout(DEADLINE)
        .expect("poll(None) did not return after wake()");
    assert!(wakes >= 1);
    // Waking a backend whose thread has finished is harmless.
    w.wake();
}

fn reuseport_group(kind: IoKind) {
    let first = bind_udp(localhost(), true).unwrap();
    let addr = first.local_addr().unwrap();
    let second = bind_udp(addr, true).unwrap();
    let mut a = backend(kind, BackendConfig::default());
    let mut b = backend(kind, BackendConfig::default());
    let sa = a.add_socket(first).unwrap();
    let sb = b.add_socket(second).unwrap();
    assert_eq!(a.local_addr(sa), Some(addr));
    assert_eq!(b.local_addr(sb), Some(addr));
    // Many client ports: the kernel spreads them over the group; every datagram lands once.
    let clients: Vec<UdpSocket> = (0..32).map(|_| client()).collect();
    for c in &clients {
        c.send_to(b"hello", addr).unwrap();
    }
    let (mut ha, mut hb) = (Echo::default(), Echo::default());
    let start = Instant::now();
    while ha.from.len() + hb.from.len() < clients.len() {
        a.poll(Some(TICK), &mut ha).unwrap();
        b.poll(Some(TICK), &mut hb).unwrap();
        assert!(start.elapsed() < DEADLINE, "timed out");
    }
    assert_eq!(ha.from.len() + hb.from.len(), clients.len());
}

fn remove_socket(kind: IoKind) {
    let mut b = backend(kind, BackendConfig::default());
    let gone = b.add_socket(bind_udp(localhost(), false).unwrap()).unwrap();
    let kept = b.add_socket(bind_udp(localhost(), false).unwrap()).unwrap();
    let (gone_addr, kept_addr) = (b.local_addr(gone).unwrap(), b.local_addr(kept).unwrap());
    let c = client();
    let mut h = Echo::default();
    c.send_to(b"before", gone_addr).unwrap();
    let echoed = Cell::new(0);
    run_until(
        &mut b,
        &mut h,
        &[&c],
        |_, _, _| echoed.set(echoed.get() + 1),
        |_| echoed.get() == 1,
    );

    // Datagrams already waiting in the removed socket's queue, and any sent after removal,
    // must not be delivered.
    c.send_to(b"queued", gone_addr).unwrap();
    b.remove_socket(gone);
    assert_eq!(b.local_addr(gone), None);
    b.remove_socket(gone); // twice is harmless
    h.socks.clear();
    let _ = c.send_to(b"after", gone_addr);
    for _ in 0..20 {
        c.send_to(b"kept", kept_addr).unwrap();
    }
    let kept_echoes = Cell::new(0);
    run_until(
        &mut b,
        &mut h,
        &[&c],
        |_, _, _| kept_echoes.set(kept_echoes.get() + 1),
        |_| kept_echoes.get() == 20,
    );
    for _ in 0..10 {
        b.poll(Some(TICK), &mut h).unwrap();
    }
    assert!(
        h.socks.iter().all(|&s| s == kept),
        "delivered on a removed socket"
    );
    assert_eq!(h.socks.len(), 20);

    // Queueing to a removed socket is dropped, not sent from another socket.
    assert!(b.tx().send(gone, c.local_addr().unwrap(), b"nope"));
    // A new socket works (it may get the old id once the kernel is done with it).
    let fresh = b.add_socket(bind_udp(localhost(), false).unwrap()).unwrap();
    let fresh_addr = b.local_addr(fresh).unwrap();
    c.send_to(b"fresh", fresh_addr).unwrap();
    let from_fresh = Cell::new(0);
    run_until(
        &mut b,
        &mut h,
        &[&c],
        |_, from, d| {
            assert_ne!(d, b"nope");
            if from == fresh_addr {
                from_fresh.set(from_fresh.get() + 1);
            }
        },
        |_| from_fresh.get() == 1,
    );
}

/// Sends every received datagram to each of `to`.
struct FanOut {
    to: Vec<SocketAddr>,
    received: usize,
    refused: usize,
}

impl Handler for FanOut {
    fn on_datagram(&mut self, sock: SockId, _from: SocketAddr, data: &mut [u8], tx: &mut TxQueue) {
        self.received += 1;
        for &to in &self.to {
            if !tx.send(sock, to, data) {
                self.refused += 1;
            }
        }
    }
    fn on_wake(&mut self, _tx: &mut TxQueue) {}
}

fn fan_out(kind: IoKind) {
    const SINKS: usize = 10;
    const N: usize = 600;
    const BURST: usize = 150; // 1500 sends in one poll: more than one SQ or one sendmmsg vector
    let config = BackendConfig::default().ring_entries(64);
    let mut b = backend(kind, config);
    let sock = b.add_socket(bind_udp(localhost(), false).unwrap()).unwrap();
    let server = b.local_addr(sock).unwrap();
    let src = client();
    let sinks: Vec<UdpSocket> = (0..SINKS).map(|_| client()).collect();
    let mut h = FanOut {
        to: sinks.iter().map(|s| s.local_addr().unwrap()).collect(),
        received: 0,
        refused: 0,
    };
    let refs: Vec<&UdpSocket> = sinks.iter().collect();
    let mut got = vec![[false; N]; SINKS];
    let total = Cell::new(0);
    for burst in (0..N).step_by(BURST) {
        for i in burst..burst + BURST {
            let mut d = [0u8; 200];
            d[..4].copy_from_slice(&(i as u32).to_be_bytes());
            src.send_to(&d, server).unwrap();
        }
        run_until(
            &mut b,
            &mut h,
            &refs,
            |sink, from, d| {
                assert_eq!(from, server);
                assert_eq!(d.len(), 200);
                let i = u32::from_be_bytes(d[..4].try_into().unwrap()) as usize;
                assert!(!got[sink][i], "duplicate");
                got[sink][i] = true;
                total.set(total.get() + 1);
            },
            |_| total.get() == (burst + BURST) * SINKS,
        );
    }
    assert_eq!(h.refused, 0);
    assert_eq!(b.stats().tx_packets, (N * SINKS) as u64);
}

/// A pool much smaller than a burst's fan-out: the backend flushes in the middle of the burst
/// whenever half the pool is queued, so every copy goes out as long as one datagram's fan-out
/// fits in half the pool.
fn small_pool(kind: IoKind) {
    const SINKS: usize = 10;
    const N: usize = 50;
    let config = BackendConfig::default().tx_slots(24);
    let mut b = backend(kind, config);
    let sock = b.add_socket(bind_udp(localhost(), false).unwrap()).unwrap();
    let server = b.local_addr(sock).unwrap();
    let src = client();
    let sinks: Vec<UdpSocket> = (0..SINKS).map(|_| client()).collect();
    let mut h = FanOut {
        to: sinks.iter().map(|s| s.local_addr().unwrap()).collect(),
        received: 0,
        refused: 0,
    };
    let refs: Vec<&UdpSocket> = sinks.iter().collect();
    // The whole burst is in the socket before the first poll, so one poll receives all of it.
    for _ in 0..N {
        src.send_to(&[1u8; 100], server).unwrap();
    }
    let arrived = Cell::new(0);
    run_until(
        &mut b,
        &mut h,
        &refs,
        |_, _, _| arrived.set(arrived.get() + 1),
        |h| h.received == N && arrived.get() == N * SINKS,
    );
    assert_eq!(h.refused, 0, "{:?}", b.stats());
    let st = b.stats();
    assert_eq!(st.tx_no_buffer, 0, "{st:?}");
    assert_eq!(st.tx_packets, (N * SINKS) as u64, "{st:?}");
}

/// A fan-out larger than the whole pool cannot be queued at once: the copies that find no slot
/// are refused and counted, the others go out, and nothing stalls.
fn pool_smaller_than_fan_out(kind: IoKind) {
    const SINKS: usize = 10;
    let config = BackendConfig::default().tx_slots(8);
    let mut b = backend(kind, config);
    let sock = b.add_socket(bind_udp(localhost(), false).unwrap()).unwrap();
    let server = b.local_addr(sock).unwrap();
    let src = client();
    let sinks: Vec<UdpSocket> = (0..SINKS).map(|_| client()).collect();
    let mut h = FanOut {
        to: sinks.iter().map(|s| s.local_addr().unwrap()).collect(),
        received: 0,
        refused: 0,
    };
    let refs: Vec<&UdpSocket> = sinks.iter().collect();
    for _ in 0..20 {
        src.send_to(&[1u8; 100], server).unwrap();
    }
    let mut arrived = 0;
    run_until(
        &mut b,
        &mut h,
        &refs,
        |_, _, _| arrived += 1,
        |h| h.received == 20,
    );
    // Let the last sends complete.
    for _ in 0..10 {
        b.poll(Some(TICK), &mut h).unwrap();
    }
    assert!(h.refused > 0, "an 8-slot pool cannot hold a fan-out of 10");
    let st = b.stats();
    assert_eq!(st.tx_no_buffer, h.refused as u64);
    assert_eq!(st.tx_packets + st.tx_no_buffer, 200, "{st:?}");
}

/// A dual-stack socket receives from IPv6 and IPv4 peers and sends to an IPv4 `SocketAddr`
/// (rewritten as IPv4-mapped IPv6 on the way out).
fn dual_stack(kind: IoKind) {
    let Ok(server_sock) = bind_udp("[::]:0".parse().unwrap(), false) else {
        return; // no IPv6 here
    };
    let Ok(v6_client) = bind_udp("[::1]:0".parse().unwrap(), false) else {
        return;
    };
    let mut b = backend(kind, BackendConfig::default());
    let sock = b.add_socket(server_sock).unwrap();
    let port = b.local_addr(sock).unwrap().port();
    let v4_client = client();
    let mut h = FanOut {
        to: vec![v4_client.local_addr().unwrap()],
        received: 0,
        refused: 0,
    };
    v6_client
        .send_to(b"from v6", SocketAddr::new("::1".parse().unwrap(), port))
        .unwrap();
    v4_client
        .send_to(b"from v4", SocketAddr::new([127, 0, 0, 1].into(), port))
        .unwrap();
    let mut got = Vec::new();
    let start = Instant::now();
    let mut buf = [0u8; 64];
    while got.len() < 2 {
        b.poll(Some(TICK), &mut h).unwrap();
        while let Ok((n, _)) = v4_client.recv_from(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        assert!(start.elapsed() < DEADLINE, "timed out: {:?}", b.stats());
    }
    got.sort();
    assert_eq!(got, [b"from v4".to_vec(), b"from v6".to_vec()]);
    assert_eq!(b.stats().tx_errors, 0);
}

#[test]
fn uring_enobufs_rearms() {
    let config = BackendConfig::default().recv_buffers(8);
    let mut b = backend(IoKind::Uring, config);
    let sock = b.add_socket(bind_udp(localhost(), false).unwrap()).unwrap();
    let server = b.local_addr(sock).unwrap();
    let c = client();
    for i in 0..500u32 {
        c.send_to(&i.to_be_bytes(), server).unwrap();
    }
    let mut h = Echo::default();
    // Drain everything the socket kept (its buffer may have dropped some of the burst).
    let mut quiet = 0;
    let start = Instant::now();
    while quiet < 10 {
        let before = h.from.len();
        b.poll(Some(TICK), &mut h).unwrap();
        quiet = if h.from.len() == before { quiet + 1 } else { 0 };
        assert!(start.elapsed() < DEADLINE, "timed out");
    }
    assert!(h.from.len() > 8, "only {} delivered", h.from.len());
    assert!(b.stats().rx_no_buffer > 0, "{:?}", b.stats());
    // The socket still receives.
    let before = h.from.len();
    c.send_to(b"later", server).unwrap();
    run_until(&mut b, &mut h, &[], |_, _, _| {}, |h| h.from.len() > before);
    assert_eq!(h.last, b"later");
}

#[test]
fn uring_truncation_counted() {
    let mut b = backend(IoKind::Uring, BackendConfig::default());
    let sock = b.add_socket(bind_udp(localhost(), false).unwrap()).unwrap();
    let server = b.local_addr(sock).unwrap();
    let c = client();
    c.send_to(&[0u8; MAX_DATAGRAM + 100], server).unwrap();
    c.send_to(b"small", server).unwrap();
    let mut h = Echo::default();
    run_until(&mut b, &mut h, &[], |_, _, _| {}, |h| !h.from.is_empty());
    assert_eq!(b.stats().rx_truncated, 1);
    assert_eq!(h.from.len(), 1);
}

#[test]
fn mmsg_truncation_counted() {
    let mut b = backend(IoKind::Mmsg, BackendConfig::default());
    let sock = b.add_socket(bind_udp(localhost(), false).unwrap()).unwrap();
    let server = b.local_addr(sock).unwrap();
    let c = client();
    c.send_to(&[0u8; MAX_DATAGRAM + 100], server).unwrap();
    c.send_to(b"small", server).unwrap();
    let mut h = Echo::default();
    run_until(&mut b, &mut h, &[], |_, _, _| {}, |h| !h.from.is_empty());
    assert_eq!(b.stats().rx_truncated, 1);
    assert_eq!(h.from.len(), 1);
}

#[test]
fn auto_picks_a_backend() {
    let b = Backend::new(IoKind::Auto).unwrap();
    assert_ne!(b.kind(), IoKind::Auto);
}

#[test]
fn uring_uses_single_issuer_and_defer_taskrun() {
    let b = backend(IoKind::Uring, BackendConfig::default());
    let Backend::Uring(u) = &b else {
        unreachable!()
    };
    // DESIGN.md §8: this machine's kernel (6.18) accepts the full set.
    assert_eq!(u.setup_flags(), super::uring::SETUPS[0]);
}

/// CPU per forwarded packet, uring vs mmsg: 1 source → 10 sinks, 200-byte packets, loopback.
/// Only the worker thread's CPU (user + system, `RUSAGE_THREAD`) is counted.
///
/// `cargo test --release -p sluice-engine io::tests::forward_cpu -- --ignored --nocapture`
#[test]
#[ignore = "measurement, run by hand in release mode"]
fn forward_cpu() {
    use std::os::fd::AsRawFd;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    const SINKS: usize = 10;
    const N: u64 = 100_000;
    const WINDOW: u64 = 256;

    fn thread_cpu() -> Duration {
        // SAFETY: getrusage fills a caller-owned struct.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is valid and writable.
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }

    for kind in [IoKind::Uring, IoKind::Mmsg] {
        let mut b = backend(kind, BackendConfig::default());
        let sock = b.add_socket(bind_udp(localhost(), false).unwrap()).unwrap();
        let server = b.local_addr(sock).unwrap();
        let sinks: Vec<UdpSocket> = (0..SINKS).map(|_| client()).collect();
        let to: Vec<SocketAddr> = sinks.iter().map(|s| s.local_addr().unwrap()).collect();
        let delivered = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sink_thread = {
            let (delivered, stop) = (delivered.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut fds: Vec<libc::pollfd> = sinks
                    .iter()
                    .map(|s| libc::pollfd {
                        fd: s.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    })
                    .collect();
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    // SAFETY: `fds` is a live array of pollfd.
                    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 10) };
                    for s in &sinks {
                        while s.recv_from(&mut buf).is_ok() {
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    for f in &mut fds {
                        f.revents = 0;
                    }
                }
            })
        };
        let source_thread = {
            let (delivered, stop) = (delivered.clone(), stop.clone());
            std::thread::spawn(move || {
                let src = client();
                let pkt = [0x80u8; 200];
                let mut sent = 0u64;
                while sent < N && !stop.load(Ordering::Relaxed) {
                    if sent - delivered.load(Ordering::Relaxed) / SINKS as u64 >= WINDOW {
                        std::thread::yield_now();
                        continue;
                    }
                    if src.send_to(&pkt, server).is_ok() {
                        sent += 1;
                    }
                }
            })
        };
        let mut h = FanOut {
            to,
            received: 0,
            refused: 0,
        };
        let cpu0 = thread_cpu();
        let wall0 = Instant::now();
        while (h.received as u64) < N && wall0.elapsed() < Duration::from_secs(120) {
            b.poll(Some(Duration::from_millis(1)), &mut h).unwrap();
        }
        // Flush the last answers.
        for _ in 0..5 {
            b.poll(Some(Duration::from_millis(1)), &mut h).unwrap();
        }
        let cpu = thread_cpu() - cpu0;
        let wall = wall0.elapsed();
        stop.store(true, Ordering::Relaxed);
        source_thread.join().unwrap();
        sink_thread.join().unwrap();
        let st = b.stats();
        let fwd = st.tx_packets.max(1);
        println!(
            "{kind:?}: {} in, {} out, {} delivered, {:.0} ns CPU per forwarded packet, \
             {:.2} syscalls per input packet, wall {wall:.2?}, {st:?}",
            h.received,
            st.tx_packets,
            delivered.load(Ordering::Relaxed),
            cpu.as_nanos() as f64 / fwd as f64,
            st.syscalls as f64 / h.received.max(1) as f64,
        );
    }
}

#[test]
fn waker_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<super::Waker>();
}

/// `Auto` falls back to `mmsg` where a seccomp profile refuses io_uring (as Docker's default
/// does). The filter is installed on a thread of its own and dies with it.
#[test]
fn auto_falls_back_when_seccomp_refuses_io_uring() {
    let kinds = std::thread::spawn(|| {
        // BPF: load the syscall number; io_uring_setup → EPERM; everything else → allow.
        let filter = [
            libc::sock_filter {
                code: 0x20,
                jt: 0,
                jf: 0,
                k: 0,
            }, // ld [nr]
            libc::sock_filter {
                code: 0x15, // jeq #io_uring_setup, next, skip one
                jt: 0,
                jf: 1,
                k: libc::SYS_io_uring_setup as u32,
            },
            libc::sock_filter {
                code: 0x06, // ret ERRNO(EPERM)
                jt: 0,
                jf: 0,
                k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
            },
            libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: libc::SECCOMP_RET_ALLOW,
            },
        ];
        let prog = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_ptr().cast_mut(),
        };
        // SAFETY: prctl copies the program (which lives on this stack) before returning; both
        // settings apply to this thread only (no TSYNC).
        unsafe {
            assert_eq!(libc::prctl(38 /* PR_SET_NO_NEW_PRIVS */, 1, 0, 0, 0), 0);
            assert_eq!(
                libc::prctl(
                    22, /* PR_SET_SECCOMP */
                    2,  /* FILTER */
                    &raw const prog
                ),
                0,
                "seccomp: {}",
                std::io::Error::last_os_error()
            );
        }
        let uring = Backend::new(IoKind::Uring).map(|b| b.kind());
        let auto = Backend::new(IoKind::Auto).unwrap().kind();
        (uring.is_err(), auto)
    })
    .join()
    .unwrap();
    assert_eq!(kinds, (true, IoKind::Mmsg));
}
