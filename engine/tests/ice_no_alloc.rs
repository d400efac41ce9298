//! Proves the ICE-lite agent allocates nothing per STUN message: a counting global allocator,
//! and zero allocations over 30 000 Binding requests (valid checks with and without
//! USE-CANDIDATE on two tuples, a wrong password, a foreign ufrag, garbage) after warm-up, with
//! the simulated clock advancing through the consent timer checks.
//!
//! `harness = false`: libtest's own threads would allocate while we count.

mod alloc_counter;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sluice_engine::rtc::ice_server::{IceServer, IceState, MAX_RESPONSE_LEN, StunOutcome};
use sluice_engine::wire::stun::{Class, IntegrityKey, METHOD_BINDING, MessageWriter};

/// A Binding request as a controlling browser sends it.
fn check(username: &str, password: &str, nominate: bool, tid: u8) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(&mut buf, Class::Request, METHOD_BINDING, &[tid; 12])
        .expect("room for a header");
    w.username(username.as_bytes()).expect("fits");
    w.priority(0x7e7f_1eff).expect("fits");
    w.ice_controlling(42).expect("fits");
    if nominate {
        w.use_candidate().expect("fits");
    }
    w.message_integrity(&IntegrityKey::new(password.as_bytes()))
        .expect("fits");
    w.fingerprint().expect("fits");
    let n = w.finish();
    buf[..n].to_vec()
}

fn main() {
    let mut ice = IceServer::new();
    let username = format!("{}:brwsr", ice.username_fragment());
    let password = ice.password().to_owned();
    let a: SocketAddr = "10.0.0.1:5000".parse().expect("literal");
    let b: SocketAddr = "[fd00::1]:5002".parse().expect("literal");
    let inputs: Vec<(SocketAddr, Vec<u8>, bool)> = vec![
        (a, check(&username, &password, true, 1), true),
        (b, check(&username, &password, false, 2), true),
        (
            a,
            check(&username, "wrongPassword012345678901", true, 3),
            false,
        ),
        (b, check("someoneElse:brwsr", &password, true, 4), false),
        (a, vec![0, 1, 0, 4, 0x21, 0x12, 0xa4, 0x42], false),
    ];
    let mut out = [0u8; MAX_RESPONSE_LEN];
    let t0 = Instant::now();

    // Warm-up: both tuples learnt, completed on a, events drained.
    for (from, bytes, _) in &inputs {
        ice.handle_stun(t0, *from, bytes, &mut out);
    }
    while ice.poll_event().is_some() {}
    assert_eq!(ice.state(), IceState::Completed);

    let before = alloc_counter::allocations();
    let mut answered = 0u64;
    // One round every 10 ms: a simulated minute, twice the consent timeout.
    for i in 0..6_000u64 {
        let now = t0 + Duration::from_millis(10 * i);
        if ice.poll_timeout().is_some_and(|t| t <= now) {
            ice.handle_timeout(now);
        }
        for (from, bytes, valid) in &inputs {
            let o = ice.handle_stun(now, *from, bytes, &mut out);
            assert_eq!(matches!(o, StunOutcome::Success(_)), *valid);
            answered += u64::from(o.response_len().is_some());
        }
    }
    let allocs = alloc_counter::allocations() - before;
    assert_eq!(ice.state(), IceState::Completed);
    assert_eq!(ice.selected_tuple(), Some(a));
    assert!(
        ice.poll_event().is_none(),
        "no state change in steady state"
    );
    assert_eq!(answered, 12_000);
    // The counter does count.
    let probe = alloc_counter::allocations();
    drop(std::hint::black_box(vec![0u8; 64]));
    assert!(alloc_counter::allocations() > probe);
    println!("ice_no_alloc: {allocs} allocations over 30000 STUN messages");
    assert_eq!(allocs, 0, "the ICE-lite path allocated");
    println!("1 passed, 0 failed");
}
