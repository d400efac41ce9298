//! Sans-IO scenarios: two `DtlsTransport`s joined by an in-memory network on a simulated clock,
//! with loss and garbage injected.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// Which way a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ClientToServer,
    ServerToClient,
}

struct Net {
    client: DtlsTransport,
    server: DtlsTransport,
    now: Instant,
    start: Instant,
    client_events: Vec<DtlsEvent>,
    server_events: Vec<DtlsEvent>,
    /// Every datagram put on the wire, in order, with its direction (before loss).
    wire: Vec<(Dir, Vec<u8>)>,
}

fn identities() -> (DtlsCertificate, DtlsCertificate) {
    (
        DtlsCertificate::generate().unwrap(),
        DtlsCertificate::generate().unwrap(),
    )
}

/// A transport on `side` with certificate `own` that expects `peer`'s SHA-256 fingerprint.
fn endpoint(
    own: &DtlsCertificate,
    peer: &DtlsCertificate,
    config: &DtlsConfig,
    side: DtlsSide,
    start: Instant,
) -> DtlsTransport {
    DtlsTransport::new(own, config, side, vec![peer.sha256().clone()], start)
}

impl Net {
    /// A client and a server that each expect the other's real certificate.
    fn new(config: &DtlsConfig) -> Self {
        let (c, s) = identities();
        Self::with_fingerprints(
            config,
            &c,
            &s,
            vec![s.sha256().clone()],
            vec![c.sha256().clone()],
        )
    }

    fn with_fingerprints(
        config: &DtlsConfig,
        client_cert: &DtlsCertificate,
        server_cert: &DtlsCertificate,
        client_expects: Vec<Fingerprint>,
        server_expects: Vec<Fingerprint>,
    ) -> Self {
        let start = Instant::now();
        let client =
            DtlsTransport::new(client_cert, config, DtlsSide::Client, client_expects, start);
        let server =
            DtlsTransport::new(server_cert, config, DtlsSide::Server, server_expects, start);
        Self::between(client, server, start)
    }

    /// Two transports made elsewhere, on a clock that starts at `start`.
    fn between(client: DtlsTransport, server: DtlsTransport, start: Instant) -> Self {
        Net {
            client,
            server,
            now: start,
            start,
            client_events: Vec::new(),
            server_events: Vec::new(),
            wire: Vec::new(),
        }
    }

    /// Asserts that each side released keys exactly once and that they mirror each other;
    /// returns the client's. `context` goes into the failure message.
    fn mirrored_keys(&self, context: &str) -> SrtpKeys {
        let (ck, sk) = (keys_of(&self.client_events), keys_of(&self.server_events));
        assert_eq!(
            (ck.len(), sk.len()),
            (1, 1),
            "{context}: one Connected each; client {:?} server {:?}",
            self.client_events,
            self.server_events
        );
        assert_mirror(&ck[0], &sk[0]);
        ck[0].clone()
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    fn settled(&self) -> bool {
        let done = |s: DtlsState| s != DtlsState::Connecting;
        done(self.client.state()) && done(self.server.state())
    }

    /// Deliver datagrams (dropping those `lose` picks) and fire timers until both sides leave
    /// `Connecting` and the wire is quiet, or the simulated clock passes `limit`.
    fn run(&mut self, limit: Duration, mut lose: impl FnMut(Dir, usize, &[u8]) -> bool) {
        let mut sent = 0usize;
        loop {
            let mut moved = false;
            while let Some(d) = self.client.poll_transmit() {
                moved = true;
                self.wire.push((Dir::ClientToServer, d.clone()));
                if !lose(Dir::ClientToServer, sent, &d) {
                    let _ = self.server.handle_datagram(self.now, &d);
                }
                sent += 1;
            }
            while let Some(d) = self.server.poll_transmit() {
                moved = true;
                self.wire.push((Dir::ServerToClient, d.clone()));
                if !lose(Dir::ServerToClient, sent, &d) {
                    let _ = self.client.handle_datagram(self.now, &d);
                }
                sent += 1;
            }
            self.collect_events();
            if moved {
                continue;
            }
            if self.settled() || self.now - self.start > limit {
                return;
            }
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else { return };
            // A little latency so timers compare against a moving clock.
            self.now = next.max(self.now + Duration::from_millis(1));
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.collect_events();
        }
    }
}

fn keys_of(events: &[DtlsEvent]) -> Vec<SrtpKeys> {
    events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::Connected(k) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

fn failures_of(events: &[DtlsEvent]) -> Vec<DtlsFailure> {
    events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::Failed(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

fn assert_mirror(client: &SrtpKeys, server: &SrtpKeys) {
    assert_eq!(client.profile, server.profile);
    assert_eq!(client.local_key, server.remote_key);
    assert_eq!(client.local_salt, server.remote_salt);
    assert_eq!(client.remote_key, server.local_key);
    assert_eq!(client.remote_salt, server.local_salt);
    assert_ne!(client.local_key, client.remote_key);
    assert_eq!(client.local_key.len(), client.profile.master_key_len());
    assert_eq!(client.local_salt.len(), client.profile.master_salt_len());
}

fn fast_config() -> DtlsConfig {
    DtlsConfig::new(Duration::from_millis(100), 8, Duration::from_secs(60)).unwrap()
}

#[test]
fn transport_is_send_so_the_control_plane_can_own_it() {
    fn assert_send<T: Send>() {}
    assert_send::<DtlsTransport>();
    assert_send::<DtlsCertificate>();
    assert_send::<DtlsConfig>();
}

#[test]
fn client_and_server_agree_on_mirror_image_keys() {
    let mut net = Net::new(&DtlsConfig::default());
    assert_eq!(net.client.side(), DtlsSide::Client);
    assert_eq!(net.server.side(), DtlsSide::Server);
    net.run(Duration::from_secs(5), |_, _, _| false);
    assert_eq!(net.client.state(), DtlsState::Connected);
    assert_eq!(net.server.state(), DtlsState::Connected);
    let keys = net.mirrored_keys("clean handshake");
    // dimpl, as server, picks AEAD_AES_256_GCM when offered (DESIGN §8).
    assert_eq!(keys.profile, SrtpProfile::AeadAes256Gcm);
    assert!(failures_of(&net.client_events).is_empty());
    assert!(failures_of(&net.server_events).is_empty());
    // The first datagram is the ClientHello, a handshake record (content type 22).
    assert_eq!(net.wire[0].0, Dir::ClientToServer);
    assert_eq!(net.wire[0].1[0], 22);
}

#[test]
fn application_data_flows_after_connect_and_close_notify_closes_the_peer() {
    let mut net = Net::new(&DtlsConfig::default());
    net.run(Duration::from_secs(5), |_, _, _| false);
    assert_eq!(net.client.state(), DtlsState::Connected);
    net.client
        .send_application_data(net.now, b"sctp would go here")
        .unwrap();
    net.run(Duration::from_secs(5), |_, _, _| false);
    assert!(
        net.server_events
            .contains(&DtlsEvent::ApplicationData(b"sctp would go here".to_vec()))
    );

    net.server.close(net.now);
    assert_eq!(net.server.state(), DtlsState::Closed);
    net.run(Duration::from_secs(5), |_, _, _| false);
    assert_eq!(net.client.state(), DtlsState::Closed);
    assert_eq!(net.client_events.last(), Some(&DtlsEvent::Closed));
    assert_eq!(net.server.poll_timeout(), None);
    assert!(matches!(
        net.client.handle_datagram(net.now, &[23; 40]),
        Err(DtlsError::NotRunning(DtlsState::Closed))
    ));
}

#[test]
fn application_data_is_refused_before_connect() {
    let mut net = Net::new(&DtlsConfig::default());
    assert!(matches!(
        net.client.send_application_data(net.now, b"x"),
        Err(DtlsError::NotRunning(DtlsState::Connecting))
    ));
}

#[test]
fn retransmissions_recover_from_random_loss() {
    for seed in 0..12u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut net = Net::new(&fast_config());
        net.run(Duration::from_secs(120), |_, _, _| rng.random_bool(0.2));
        net.mirrored_keys(&format!("seed {seed}"));
    }
}

#[test]
fn each_flight_lost_once_is_retransmitted() {
    // Lose the first ClientHello, the server's first answer, and the server's final flight
    // (ChangeCipherSpec + Finished, a datagram starting with content type 20), each once. The
    // last one is recovered only because the server, already connected, answers the client's
    // retransmitted flight with its final flight again (RFC 6347 §4.2.4).
    let mut net = Net::new(&fast_config());
    let mut lost_client_hello = false;
    let mut lost_server_first = false;
    let mut lost_server_final = false;
    net.run(Duration::from_secs(120), |dir, _, d| {
        let flag = match (dir, d[0]) {
            (Dir::ClientToServer, 22) => &mut lost_client_hello,
            (Dir::ServerToClient, 22) => &mut lost_server_first,
            (Dir::ServerToClient, 20) => &mut lost_server_final,
            _ => return false,
        };
        !std::mem::replace(flag, true)
    });
    assert!(lost_client_hello && lost_server_first && lost_server_final);
    net.mirrored_keys("each flight lost once");
    let ccs = net
        .wire
        .iter()
        .filter(|(dir, d)| *dir == Dir::ServerToClient && d[0] == 20)
        .count();
    assert!(ccs >= 2, "server final flight sent {ccs} times");
}

#[test]
fn a_silent_peer_fails_the_handshake_within_the_bound() {
    let config = fast_config();
    let mut net = Net::new(&config);
    // Nothing the server says reaches the client.
    net.run(Duration::from_secs(120), |dir, _, _| {
        dir == Dir::ServerToClient
    });
    assert_eq!(net.client.state(), DtlsState::Failed);
    assert_eq!(net.server.state(), DtlsState::Failed);
    assert_eq!(failures_of(&net.client_events), vec![DtlsFailure::Timeout]);
    assert_eq!(failures_of(&net.server_events), vec![DtlsFailure::Timeout]);
    assert!(keys_of(&net.client_events).is_empty());
    assert!(keys_of(&net.server_events).is_empty());
    // Given up within the configured handshake bound (plus one step of the simulated clock).
    assert!(net.now - net.start <= config.handshake_timeout() + Duration::from_millis(2));
    assert_eq!(net.client.poll_timeout(), None);
}

#[test]
fn a_server_that_never_hears_a_client_gives_up_at_the_deadline() {
    let config = fast_config();
    let (_, s) = identities();
    let start = Instant::now();
    let other = DtlsCertificate::generate().unwrap();
    let mut server = endpoint(&s, &other, &config, DtlsSide::Server, start);
    assert!(
        server.poll_transmit().is_none(),
        "a server speaks only when spoken to"
    );
    let deadline = server.poll_timeout().unwrap();
    assert!(deadline <= start + config.handshake_timeout());
    server.handle_timeout(start + config.handshake_timeout());
    assert_eq!(server.state(), DtlsState::Failed);
    assert_eq!(
        server.poll_event(),
        Some(DtlsEvent::Failed(DtlsFailure::Timeout))
    );
}

#[test]
fn wrong_fingerprint_fails_the_server_and_no_side_gets_keys() {
    let (c, s) = identities();
    let stranger = DtlsCertificate::generate().unwrap();
    let mut net = Net::with_fingerprints(
        &fast_config(),
        &c,
        &s,
        vec![s.sha256().clone()],
        vec![stranger.sha256().clone()],
    );
    net.run(Duration::from_secs(120), |_, _, _| false);
    assert_eq!(net.server.state(), DtlsState::Failed);
    assert_eq!(
        failures_of(&net.server_events),
        vec![DtlsFailure::FingerprintMismatch]
    );
    assert!(keys_of(&net.server_events).is_empty());
    // The client never hears the server's Finished: it gives up without keys too.
    assert!(keys_of(&net.client_events).is_empty());
    assert_eq!(net.client.state(), DtlsState::Failed);
}

#[test]
fn wrong_fingerprint_fails_the_client() {
    let (c, s) = identities();
    let stranger = DtlsCertificate::generate().unwrap();
    let sha1_of_stranger =
        Fingerprint::of_certificate(FingerprintAlgorithm::Sha1, stranger.certificate_der());
    let mut net = Net::with_fingerprints(
        &fast_config(),
        &c,
        &s,
        vec![stranger.sha256().clone(), sha1_of_stranger],
        vec![c.sha256().clone()],
    );
    net.run(Duration::from_secs(120), |_, _, _| false);
    assert_eq!(
        failures_of(&net.client_events),
        vec![DtlsFailure::FingerprintMismatch]
    );
    assert!(keys_of(&net.client_events).is_empty());
    assert!(keys_of(&net.server_events).is_empty());
}

#[test]
fn any_matching_fingerprint_of_the_list_is_enough() {
    let (c, s) = identities();
    let stranger = DtlsCertificate::generate().unwrap();
    let sha512 = Fingerprint::of_certificate(FingerprintAlgorithm::Sha512, c.certificate_der());
    let mut net = Net::with_fingerprints(
        &DtlsConfig::default(),
        &c,
        &s,
        vec![s.sha256().clone()],
        vec![stranger.sha256().clone(), sha512],
    );
    net.run(Duration::from_secs(5), |_, _, _| false);
    assert_eq!(net.server.state(), DtlsState::Connected);
    assert_eq!(net.client.state(), DtlsState::Connected);
}

#[test]
fn garbage_datagrams_are_refused_or_dropped_without_panic() {
    let config = fast_config();
    let (c, s) = identities();
    let mut rng = StdRng::seed_from_u64(7);
    let start = Instant::now();
    let mut server = endpoint(&s, &c, &config, DtlsSide::Server, start);
    let mut client = endpoint(&c, &s, &config, DtlsSide::Client, start);

    // Outside the DTLS range or shorter than a record header: refused before the state machine.
    assert_eq!(server.handle_datagram(start, &[]), Err(DtlsError::NotDtls));
    assert_eq!(
        server.handle_datagram(start, &[22; 12]),
        Err(DtlsError::NotDtls)
    );
    assert_eq!(
        server.handle_datagram(start, &[0x80; 100]),
        Err(DtlsError::NotDtls)
    );
    assert_eq!(
        server.handle_datagram(start, &[0x00, 0x01, 0, 0]),
        Err(DtlsError::NotDtls)
    );

    let mut refused = 0;
    for i in 0..2000 {
        let len = rng.random_range(0..1500);
        let mut d: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if i % 2 == 0 && !d.is_empty() {
            // Half of them look like records: a DTLS content type and version.
            d[0] = [20u8, 22, 23][i % 3];
            if d.len() > 3 {
                d[1] = 0xfe;
                d[2] = 0xfd;
            }
        }
        for t in [&mut server, &mut client] {
            if t.handle_datagram(start, &d).is_err() {
                refused += 1;
            }
        }
    }
    assert!(refused > 0);
    // Random records of these types are dropped inside the state machine; the handshake still
    // runs to the end between the same two transports.
    assert_eq!(
        server.state(),
        DtlsState::Connecting,
        "{:?}",
        server.poll_event()
    );
    assert_eq!(
        client.state(),
        DtlsState::Connecting,
        "{:?}",
        client.poll_event()
    );
    let mut net = Net::between(client, server, start);
    net.run(Duration::from_secs(120), |_, _, _| false);
    net.mirrored_keys("after garbage");
}

#[test]
fn mutated_handshake_records_never_panic_and_never_connect_a_stranger() {
    // Record a clean handshake, then replay every datagram with bytes flipped, truncated or
    // extended into fresh transports on both sides.
    let mut clean = Net::new(&DtlsConfig::default());
    clean.run(Duration::from_secs(5), |_, _, _| false);
    assert_eq!(clean.server.state(), DtlsState::Connected);
    let recorded = clean.wire.clone();
    let config = fast_config();
    let (c, s) = identities();
    let mut rng = StdRng::seed_from_u64(11);
    for round in 0..40 {
        let start = Instant::now();
        let mut server = endpoint(&s, &c, &config, DtlsSide::Server, start);
        let mut client = endpoint(&c, &s, &config, DtlsSide::Client, start);
        for (dir, d) in &recorded {
            let mut m = d.clone();
            match round % 4 {
                0 => {
                    for _ in 0..3 {
                        let i = rng.random_range(0..m.len());
                        m[i] ^= 1 << rng.random_range(0..8);
                    }
                }
                1 => m.truncate(rng.random_range(13..=m.len())),
                2 => m.extend((0..rng.random_range(1..64)).map(|_| rng.random::<u8>())),
                _ => {
                    // Corrupt the record length field.
                    let len = rng.random::<u16>().to_be_bytes();
                    m[11] = len[0];
                    m[12] = len[1];
                }
            }
            let target = match dir {
                Dir::ClientToServer => &mut server,
                Dir::ServerToClient => &mut client,
            };
            let _ = target.handle_datagram(start, &m);
            while target.poll_transmit().is_some() {}
        }
        for t in [&mut server, &mut client] {
            t.handle_timeout(start + Duration::from_secs(1));
            while let Some(e) = t.poll_event() {
                assert!(
                    !matches!(e, DtlsEvent::Connected(_)),
                    "round {round}: {e:?}"
                );
            }
        }
    }
}

#[test]
fn keys_are_released_once_only() {
    let mut net = Net::new(&DtlsConfig::default());
    net.run(Duration::from_secs(5), |_, _, _| false);
    // Replay the whole recorded exchange into the connected endpoints: duplicates must not
    // produce a second Connected (nor fail them).
    let recorded = net.wire.clone();
    for (dir, d) in &recorded {
        match dir {
            Dir::ClientToServer => net.server.handle_datagram(net.now, d).unwrap(),
            Dir::ServerToClient => net.client.handle_datagram(net.now, d).unwrap(),
        }
    }
    net.run(Duration::from_secs(5), |_, _, _| false);
    assert_eq!(keys_of(&net.client_events).len(), 1);
    assert_eq!(keys_of(&net.server_events).len(), 1);
    assert_eq!(net.client.state(), DtlsState::Connected);
    assert_eq!(net.server.state(), DtlsState::Connected);
}

#[test]
fn an_idle_connected_transport_stays_connected_without_busy_timers() {
    let mut net = Net::new(&DtlsConfig::default());
    net.run(Duration::from_secs(5), |_, _, _| false);
    assert_eq!(net.server.state(), DtlsState::Connected);
    let end = net.now + Duration::from_secs(600);
    let mut wakeups = 0;
    while net.now < end {
        let next = [net.client.poll_timeout(), net.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { break };
        assert!(next > net.now || wakeups == 0, "timer not in the future");
        net.now = next.max(net.now + Duration::from_millis(1)).min(end);
        net.client.handle_timeout(net.now);
        net.server.handle_timeout(net.now);
        wakeups += 1;
        assert!(wakeups < 1000, "an idle connection wakes up too often");
    }
    assert_eq!(net.client.state(), DtlsState::Connected);
    assert_eq!(net.server.state(), DtlsState::Connected);
    assert!(net.client.poll_event().is_none());
    assert!(net.server.poll_event().is_none());
}

#[test]
fn a_clock_that_steps_back_does_not_break_the_handshake() {
    let mut net = Net::new(&DtlsConfig::default());
    let later = net.now + Duration::from_secs(2);
    net.client.handle_timeout(later);
    net.server.handle_timeout(later);
    // `net.now` is still the earlier instant: every input below is "in the past".
    net.run(Duration::from_secs(5), |_, _, _| false);
    assert_eq!(net.client.state(), DtlsState::Connected);
    assert_eq!(net.server.state(), DtlsState::Connected);
}

#[test]
fn our_server_answers_a_hybrid_dtls13_client_hello_with_dtls12() {
    // A browser that supports DTLS 1.3 sends a ClientHello that offers 1.3 and 1.2; dimpl's
    // auto-sensing client does the same. Our 1.2 server must settle on 1.2 and both sides must
    // hold the same keying material.
    let (c, s) = identities();
    let start = Instant::now();
    let config = DtlsConfig::default();
    let mut server = endpoint(&s, &c, &config, DtlsSide::Server, start);
    let mut client = dimpl::Dtls::new_auto(config.inner.clone(), c.inner.clone(), start);
    client.set_active(true);
    client.handle_timeout(start).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut client_material = None;
    let mut now = start;
    for _ in 0..50 {
        let mut to_server = Vec::new();
        loop {
            match client.poll_output(&mut buf) {
                dimpl::Output::Packet(p) => to_server.push(p.to_vec()),
                dimpl::Output::KeyingMaterial(m, p) => {
                    client_material = Some((keys::profile_from_dimpl(p).unwrap(), m.to_vec()))
                }
                dimpl::Output::Timeout(_) => break,
                _ => {}
            }
        }
        for d in &to_server {
            server.handle_datagram(now, d).unwrap();
        }
        while let Some(d) = server.poll_transmit() {
            client.handle_packet(&d).unwrap();
        }
        if client_material.is_some() && server.state() == DtlsState::Connected {
            break;
        }
        now += Duration::from_millis(10);
        client.handle_timeout(now).unwrap();
        server.handle_timeout(now);
    }
    assert_eq!(
        client.protocol_version(),
        Some(dimpl::ProtocolVersion::DTLS1_2)
    );
    let Some(DtlsEvent::Connected(keys)) = server.poll_event() else {
        panic!("server state {:?}", server.state());
    };
    let (profile, material) = client_material.expect("client exported keys");
    assert_eq!(
        keys,
        SrtpKeys::from_keying_material(profile, DtlsSide::Server, &material).unwrap()
    );
}
