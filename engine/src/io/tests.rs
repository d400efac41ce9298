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
    steer_v4,
    steer_v6,
    steer_dual_stack_v4_peers,
    steer_dual_stack_v6_peers,
    steer_send_from_flow,
    steer_small_pool,
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

/// Sends datagram `tag` from every client to `to`, then polls `a` and `b` until `want` of them
/// arrived; returns how many each backend received (and panics if more than `want` arrive).
fn spread(
    (a, ha): (&mut Backend, &mut Echo),
    (b, hb): (&mut Backend, &mut Echo),
    clients: &[UdpSocket],
    to: SocketAddr,
    tag: u8,
) -> (usize, usize) {
    let (a0, b0) = (ha.from.len(), hb.from.len());
    for (i, c) in clients.iter().enumerate() {
        c.send_to(&[tag, i as u8], to).unwrap();
    }
    let start = Instant::now();
    let mut buf = [0u8; 64];
    let mut echoed = 0;
    while echoed < clients.len() {
        a.poll(Some(TICK), ha).unwrap();
        b.poll(Some(TICK), hb).unwrap();
        for (i, c) in clients.iter().enumerate() {
            while let Ok((n, from)) = c.recv_from(&mut buf) {
                assert_eq!(&buf[..n], &[tag, i as u8], "client {i} got another's echo");
                assert_eq!(from.port(), to.port());
                echoed += 1;
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{echoed} of {} echoed; a {:?} b {:?}",
            clients.len(),
            a.stats(),
            b.stats()
        );
    }
    (ha.from.len() - a0, hb.from.len() - b0)
}

/// Two backends in one reuseport group on `bind`, 64 clients on `client_ip` sending to
/// `dest_ip`: the kernel spreads them over both; once backend `a` has a connected flow socket
/// for each, every datagram lands on `a`, delivered as its group socket's, from the client's
/// address as the group would have seen it; once the flows are removed, both get some again
/// and the group sockets still work.
fn steer(kind: IoKind, bind: &str, client_ip: &str, dest_ip: &str) {
    let Ok(first) = bind_udp(SocketAddr::new(bind.parse().unwrap(), 0), true) else {
        return; // no IPv6 here
    };
    let group = first.local_addr().unwrap();
    let second = bind_udp(group, true).unwrap();
    let (mut a, mut b) = (
        backend(kind, BackendConfig::default()),
        backend(kind, BackendConfig::default()),
    );
    let ga = a.add_socket(first).unwrap();
    let gb = b.add_socket(second).unwrap();
    let clients: Vec<UdpSocket> = (0..64)
        .map(|_| bind_udp(SocketAddr::new(client_ip.parse().unwrap(), 0), false).unwrap())
        .collect();
    let to = SocketAddr::new(dest_ip.parse().unwrap(), group.port());
    let (mut ha, mut hb) = (Echo::default(), Echo::default());

    let (on_a, on_b) = spread((&mut a, &mut ha), (&mut b, &mut hb), &clients, to, 1);
    assert!(
        on_a > 0 && on_b > 0,
        "64 flows all hashed to one socket: {on_a}/{on_b}"
    );
    // The source each flow has as the group sees it (IPv4-mapped on a dual-stack socket).
    let mut seen: Vec<SocketAddr> = ha.from.iter().chain(&hb.from).copied().collect();
    seen.sort();

    let flows: Vec<SockId> = clients
        .iter()
        .map(|c| a.add_connected_flow(ga, c.local_addr().unwrap()).unwrap())
        .collect();
    assert!(
        flows
            .iter()
            .all(|&f| f != ga && a.local_addr(f).map(|l| l.port()) == Some(group.port()))
    );
    ha.from.clear();
    ha.socks.clear();
    let (on_a, on_b) = spread((&mut a, &mut ha), (&mut b, &mut hb), &clients, to, 2);
    assert_eq!((on_a, on_b), (64, 0), "steered flows must all land on a");
    assert!(
        ha.socks.iter().all(|&s| s == ga),
        "flow datagrams delivered as the group's"
    );
    let mut steered = ha.from.clone();
    steered.sort();
    assert_eq!(
        steered, seen,
        "a flow socket reports the source the group reports"
    );

    for f in flows {
        a.remove_socket(f);
    }
    assert_eq!(
        a.local_addr(ga),
        Some(group),
        "removing flows keeps the group socket"
    );
    // Sent before the next poll: still queued on (or arriving at) the removed flow sockets,
    // and delivered from there; `spread` checks every one is echoed.
    let (on_a, _) = spread((&mut a, &mut ha), (&mut b, &mut hb), &clients, to, 3);
    assert!(on_a > 0);
    let (on_a, on_b) = spread((&mut a, &mut ha), (&mut b, &mut hb), &clients, to, 4);
    assert!(on_a > 0 && on_b > 0, "unsteered again: {on_a}/{on_b}");
    assert_eq!(a.stats().tx_errors + b.stats().tx_errors, 0);
    let _ = gb;
}

fn steer_v4(kind: IoKind) {
    steer(kind, "127.0.0.1", "127.0.0.1", "127.0.0.1");
}

fn steer_v6(kind: IoKind) {
    steer(kind, "::1", "::1", "::1");
}

/// A `[::]` group with IPv4 peers: the flow is connected to the IPv4-mapped address.
fn steer_dual_stack_v4_peers(kind: IoKind) {
    steer(kind, "::", "127.0.0.1", "127.0.0.1");
}

fn steer_dual_stack_v6_peers(kind: IoKind) {
    steer(kind, "::", "::1", "::1");
}

/// Sends queued on a flow's id leave from the group's address, to the flow's peer and to any
/// other destination.
fn steer_send_from_flow(kind: IoKind) {
    let mut b = backend(kind, BackendConfig::default());
    let g = b.add_socket(bind_udp(localhost(), true).unwrap()).unwrap();
    let group = b.local_addr(g).unwrap();
    let (peer, other) = (client(), client());
    let flow = b.add_connected_flow(g, peer.local_addr().unwrap()).unwrap();
    assert!(b.tx().send(flow, peer.local_addr().unwrap(), b"to peer"));
    assert!(b.tx().send(flow, other.local_addr().unwrap(), b"to other"));
    let mut h = Echo::default();
    let got = Cell::new((false, false));
    run_until(
        &mut b,
        &mut h,
        &[&peer, &other],
        |i, from, d| {
            assert_eq!(from, group);
            let (p, o) = got.get();
            match (i, d) {
                (0, b"to peer") => got.set((true, o)),
                (1, b"to other") => got.set((p, true)),
                _ => panic!("client {i} got {d:?}"),
            }
        },
        |_| got.get() == (true, true),
    );
    assert_eq!(b.stats().tx_errors, 0);
    // An unknown group is refused, and nothing is left behind.
    b.remove_socket(flow);
    assert_eq!(
        b.add_connected_flow(flow, peer.local_addr().unwrap())
            .unwrap_err()
            .kind(),
        std::io::ErrorKind::NotFound
    );
}

/// As [`small_pool`], with the source steered: receives held back for send slots (uring) or
/// cut by a mid-burst flush (mmsg) are still delivered as the group's, every copy goes out.
fn steer_small_pool(kind: IoKind) {
    struct As {
        inner: FanOut,
        group: SockId,
        other: usize,
    }
    impl Handler for As {
        fn on_datagram(&mut self, sock: SockId, from: SocketAddr, d: &mut [u8], tx: &mut TxQueue) {
            if sock != self.group {
                self.other += 1;
            }
            self.inner.on_datagram(sock, from, d, tx);
        }
        fn on_wake(&mut self, _tx: &mut TxQueue) {}
    }
    const SINKS: usize = 10;
    const N: usize = 50;
    let mut b = backend(kind, BackendConfig::default().tx_slots(24));
    let group = b.add_socket(bind_udp(localhost(), true).unwrap()).unwrap();
    let server = b.local_addr(group).unwrap();
    let src = client();
    b.add_connected_flow(group, src.local_addr().unwrap())
        .unwrap();
    let sinks: Vec<UdpSocket> = (0..SINKS).map(|_| client()).collect();
    let mut h = As {
        inner: FanOut {
            to: sinks.iter().map(|s| s.local_addr().unwrap()).collect(),
            received: 0,
            refused: 0,
        },
        group,
        other: 0,
    };
    let refs: Vec<&UdpSocket> = sinks.iter().collect();
    for _ in 0..N {
        src.send_to(&[1u8; 100], server).unwrap();
    }
    let arrived = Cell::new(0);
    run_until(
        &mut b,
        &mut h,
        &refs,
        |_, from, _| {
            assert_eq!(from, server);
            arrived.set(arrived.get() + 1);
        },
        |h| h.inner.received == N && arrived.get() == N * SINKS,
    );
    assert_eq!(h.other, 0, "delivered under the flow socket's own id");
    assert_eq!(h.inner.refused, 0, "{:?}", b.stats());
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

/// CPU per echoed packet on one backend, by how the 64 active flows reach it and leave it,
/// with `idle` other connected flow sockets on the same address (to fake remotes on
/// 127.0.0.2, which never send). One thread does everything (clients, backend), so its CPU
/// (`RUSAGE_THREAD`) includes the kernel's loopback receive path of both directions.
///
/// - `group`: unsteered: received on the group socket, echoed from it;
/// - `flow, send group`: steered: received on a connected flow socket, echoed from the group;
/// - `flow, send flow`: steered, echoed from the flow socket.
///
/// `cargo test --release -p sluice-engine io::tests::steer_cpu -- --ignored --nocapture`
#[test]
#[ignore = "measurement, run by hand in release mode"]
fn steer_cpu() {
    use std::collections::HashMap;

    const ROUNDS: usize = 3000;
    const FLOWS: usize = 64;

    fn thread_cpu() -> Duration {
        // SAFETY: getrusage fills a caller-owned struct.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is valid and writable.
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }

    /// Echoes from the flow socket of the source when it has one.
    struct Steered {
        flows: HashMap<SocketAddr, SockId>,
        received: usize,
    }
    impl Handler for Steered {
        fn on_datagram(
            &mut self,
            sock: SockId,
            from: SocketAddr,
            data: &mut [u8],
            tx: &mut TxQueue,
        ) {
            self.received += 1;
            let out = self.flows.get(&from).copied().unwrap_or(sock);
            assert!(tx.send(out, from, data));
        }
        fn on_wake(&mut self, _tx: &mut TxQueue) {}
    }

    // STEER_CPU="uring|mmsg idle,idle,.. mode,mode" narrows the run.
    let spec = std::env::var("STEER_CPU").unwrap_or_default();
    let mut spec = spec.split(' ');
    let kinds = match spec.next() {
        Some("uring") => vec![IoKind::Uring],
        Some("mmsg") => vec![IoKind::Mmsg],
        _ => vec![IoKind::Uring, IoKind::Mmsg],
    };
    let idles: Vec<usize> = spec
        .next()
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![0, 1000, 5000]);
    let all = ["group", "flow, send group", "flow, send flow"];
    let modes: Vec<&str> = match spec.next() {
        Some(m) => all.iter().copied().filter(|a| a.starts_with(m)).collect(),
        None => all.to_vec(),
    };
    for &kind in &kinds {
        for &idle in &idles {
            for &mode in &modes {
                let mut b = backend(kind, BackendConfig::default());
                let g = b.add_socket(bind_udp(localhost(), true).unwrap()).unwrap();
                let server = b.local_addr(g).unwrap();
                for i in 0..idle {
                    let fake = SocketAddr::new([127, 0, 0, 2].into(), 10_000 + i as u16);
                    b.add_connected_flow(g, fake).unwrap();
                }
                let clients: Vec<UdpSocket> = (0..FLOWS).map(|_| client()).collect();
                let mut h = Steered {
                    flows: HashMap::new(),
                    received: 0,
                };
                if mode != "group" {
                    for c in &clients {
                        let a = c.local_addr().unwrap();
                        let f = b.add_connected_flow(g, a).unwrap();
                        if mode == "flow, send flow" {
                            h.flows.insert(a, f);
                        }
                    }
                }
                let mut buf = [0u8; 2048];
                let pkt = [0x80u8; 200];
                let cpu0 = thread_cpu();
                let mut echoed = 0;
                for _ in 0..ROUNDS {
                    for c in &clients {
                        c.send_to(&pkt, server).unwrap();
                    }
                    let want = echoed + FLOWS;
                    let start = Instant::now();
                    while echoed < want {
                        b.poll(Some(Duration::ZERO), &mut h).unwrap();
                        for c in &clients {
                            while c.recv_from(&mut buf).is_ok() {
                                echoed += 1;
                            }
                        }
                        assert!(start.elapsed() < DEADLINE, "stuck: {:?}", b.stats());
                    }
                }
                let cpu = thread_cpu() - cpu0;
                println!(
                    "{kind:?} idle flows {idle:5} {mode:17}: {:5.0} ns CPU per echo, {:.2} syscalls per echo",
                    cpu.as_nanos() as f64 / echoed as f64,
                    b.stats().syscalls as f64 / echoed as f64,
                );
            }
        }
    }
}
