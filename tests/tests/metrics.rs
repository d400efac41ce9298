//! `GET /metrics` of the running binary: Prometheus/OpenMetrics text with packets and bytes in
//! and out, forwarded RTP, drops by reason and hand-offs, per worker; and the numbers move by
//! exactly the traffic sent.

use std::collections::HashMap;
use std::net::SocketAddr;

use sluice_tests::*;

/// `name{labels}` → value, for every sample line.
fn scrape(h: &Http) -> HashMap<String, f64> {
    let r = h.get("/metrics");
    assert_eq!(r.status, 200);
    let ct = r.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("application/openmetrics-text") || ct.starts_with("text/plain"),
        "a Prometheus content type: {ct}"
    );
    r.body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("sample line `name value`");
            (k.to_string(), v.parse().expect("sample value"))
        })
        .collect()
}

fn get(m: &HashMap<String, f64>, key: &str) -> f64 {
    *m.get(key).unwrap_or_else(|| {
        let mut keys: Vec<_> = m.keys().collect();
        keys.sort();
        panic!("no sample {key} in {keys:#?}")
    })
}

fn w(name: &str, worker: usize) -> String {
    format!("sluice_{name}_total{{worker=\"{worker}\"}}")
}

fn drop_key(worker: usize, reason: &str) -> String {
    format!("sluice_worker_drops_total{{worker=\"{worker}\",reason=\"{reason}\"}}")
}

const REASONS: [&str; 11] = [
    "malformed",
    "unknown_socket",
    "unknown_source",
    "not_connected",
    "unknown_ssrc",
    "producer_paused",
    "no_send_buffer",
    "unsupported",
    "unknown_flow",
    "handoff_queue_full",
    "stale",
];

#[test]
fn metrics_have_every_family_per_worker_and_count_traffic() {
    let server = Server::start();
    let h = server.http();
    let before = scrape(&h);
    for worker in 0..2 {
        for name in [
            "worker_packets_in",
            "worker_bytes_in",
            "worker_packets_out",
            "worker_bytes_out",
            "worker_rtp_forwarded",
            "worker_rtcp_in",
            "worker_handoffs_out",
            "worker_handoffs_in",
        ] {
            assert_eq!(get(&before, &w(name, worker)), 0.0, "{name} starts at 0");
        }
        for reason in REASONS {
            assert_eq!(get(&before, &drop_key(worker, reason)), 0.0);
        }
        assert_eq!(
            get(&before, &format!("sluice_worker_up{{worker=\"{worker}\"}}")),
            1.0
        );
    }

    // One producer, two consumers on worker 1.
    let r = h.create_router(Some(1));
    let r = str_of(&r, "id");
    let sender = Peer::new();
    let pt = h.create_plain_transport(r, &json!({}));
    h.connect(str_of(&pt, "id"), sender.addr()).ok();
    let p = h.produce_opus(str_of(&pt, "id"), 111, 77);
    let receivers = [Peer::new(), Peer::new()];
    for rx in &receivers {
        let t = h.create_plain_transport(r, &json!({}));
        h.connect(str_of(&t, "id"), rx.addr()).ok();
        h.consume_opus(str_of(&t, "id"), str_of(&p, "id"), 111).ok();
    }
    let dest = local_addr_of(&pt);
    const N: u64 = 20;
    let packet = |i: u64, ssrc: u32| {
        rtp_packet(
            111,
            i as u16,
            (i * 960) as u32,
            ssrc,
            false,
            &[],
            &[0x5a; 100],
        )
    };
    let size = packet(0, 77).len() as u64;
    for i in 0..N {
        sender.send_to(&packet(i, 77), dest);
    }
    // Three with an SSRC nobody announced, two that are not RTP at all, one RTCP.
    for i in 0..3 {
        sender.send_to(&packet(i, 999), dest);
    }
    sender.send_to(&[0x80, 0x6f, 0x00], dest);
    sender.send_to(&[0x80; 5], dest);
    let rtcp = [0x80, 201, 0, 1, 0, 0, 0, 77];
    sender.send_to(&rtcp, dest);
    // A datagram on the shared media port whose flow no worker owns.
    let media_line = server.log.wait_for("media plane ready").expect("media log");
    let media: SocketAddr = media_line
        .split("media=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("media=ADDR in {media_line}"));
    sender.send_to(b"\x80hello", media);

    for rx in &receivers {
        // Consumers rewrite sequence numbers: count packets rather than look for the last one.
        let n = std::cell::Cell::new(0u64);
        let got = rx.recv_rtp_until(|_| {
            n.set(n.get() + 1);
            n.get() == N
        });
        assert_eq!(got.len() as u64, N);
    }
    let total = |m: &HashMap<String, f64>, name: &str| get(m, &w(name, 0)) + get(m, &w(name, 1));
    let drops = |m: &HashMap<String, f64>, reason: &str| {
        get(m, &drop_key(0, reason)) + get(m, &drop_key(1, reason))
    };
    // Counters are published once per worker loop: wait (bounded) until the last datagram shows.
    let after = wait_until(|| {
        let m = scrape(&h);
        (drops(&m, "unknown_flow") == 1.0 && get(&m, &w("worker_rtcp_in", 1)) == 1.0).then_some(m)
    })
    .unwrap_or_else(|| panic!("metrics did not move:\n{}", h.get("/metrics").body));

    let in_sizes = N * size + 3 * size + 3 + 5 + rtcp.len() as u64;
    // The shared-port datagram (6 bytes) went to whichever worker the kernel chose.
    let shared_on_1 = get(&after, &drop_key(1, "unknown_flow"));
    assert_eq!(
        get(&after, &w("worker_packets_in", 1)),
        (N + 3 + 2 + 1) as f64 + shared_on_1
    );
    assert_eq!(
        get(&after, &w("worker_bytes_in", 1)),
        in_sizes as f64 + 6.0 * shared_on_1
    );
    assert_eq!(get(&after, &w("worker_rtp_forwarded", 1)), (2 * N) as f64);
    // Out: the forwarded packets, plus whatever RTCP Sluice sent of its own by then (sender
    // reports to the consumers, receiver reports to the producer: timer-driven).
    let rtcp_out = get(&after, &w("worker_rtcp_out", 1));
    assert_eq!(
        get(&after, &w("worker_packets_out", 1)),
        (2 * N) as f64 + rtcp_out
    );
    let bytes_out = get(&after, &w("worker_bytes_out", 1));
    if rtcp_out == 0.0 {
        assert_eq!(bytes_out, (2 * N * size) as f64);
    } else {
        assert!(bytes_out > (2 * N * size) as f64);
    }
    assert_eq!(get(&after, &drop_key(1, "unknown_ssrc")), 3.0);
    assert_eq!(get(&after, &drop_key(1, "malformed")), 2.0);
    // Whichever worker the kernel gave the shared-port datagram to counted it.
    assert_eq!(
        total(&after, "worker_packets_in"),
        (N + 3 + 2 + 1 + 1) as f64
    );
    assert_eq!(get(&after, &w("worker_packets_in", 0)), 1.0 - shared_on_1);
    // Worker 0 carried no transport: nothing forwarded there.
    assert_eq!(get(&after, &w("worker_rtp_forwarded", 0)), 0.0);
    // No flow is owned on the shared port yet (no WebRTC transport), so no hand-off happened.
    assert_eq!(total(&after, "worker_handoffs_out"), 0.0);
    assert_eq!(total(&after, "worker_handoffs_in"), 0.0);
    assert_eq!(
        get(&after, "sluice_worker_routers{worker=\"1\"}"),
        1.0,
        "routers gauge"
    );
    // The JSON view agrees.
    let workers = h.get("/v1/workers").ok();
    assert_eq!(workers[1]["stats"]["rtpForwarded"], 2 * N);
    assert_eq!(workers[1]["stats"]["drops"]["unknown_ssrc"], 3);
}
