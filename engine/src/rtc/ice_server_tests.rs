//! Sans-IO scenarios for the ICE-lite agent: a simulated clock, and the tests acting as the
//! browser with the STUN writer (Binding requests with USERNAME, PRIORITY, ICE-CONTROLLING,
//! USE-CANDIDATE, MESSAGE-INTEGRITY, FINGERPRINT), checking every response as a browser would.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::wire::stun::{Class, IntegrityKey, METHOD_BINDING, MessageWriter, TransactionId};

const UFRAG: &str = "srvUfrag";
const PASSWORD: &str = "serverPassword0123456789";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

fn server() -> IceServer {
    IceServer::with_credentials(UFRAG, PASSWORD).expect("valid credentials")
}

/// A Binding request as a controlling browser sends it, with knobs to break it.
#[derive(Clone)]
struct Check {
    class: Class,
    username: Option<String>,
    password: Option<String>,
    priority: Option<u32>,
    controlling: bool,
    controlled: bool,
    use_candidate: bool,
    fingerprint: bool,
    tid: TransactionId,
}

impl Check {
    /// A valid check for `ice`'s current credentials.
    fn to(ice: &IceServer) -> Self {
        Check {
            class: Class::Request,
            username: Some(format!("{}:brwsr", ice.username_fragment())),
            password: Some(ice.password().to_owned()),
            priority: Some(0x7e7f_1eff),
            controlling: true,
            controlled: false,
            use_candidate: false,
            fingerprint: true,
            tid: [3; 12],
        }
    }

    fn nominate(mut self) -> Self {
        self.use_candidate = true;
        self
    }

    fn password(mut self, p: &str) -> Self {
        self.password = Some(p.to_owned());
        self
    }

    fn username(mut self, u: &str) -> Self {
        self.username = Some(u.to_owned());
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut buf = [0u8; 512];
        let mut w = MessageWriter::new(&mut buf, self.class, METHOD_BINDING, &self.tid)
            .expect("room for a header");
        if let Some(u) = &self.username {
            w.username(u.as_bytes()).expect("fits");
        }
        if let Some(p) = self.priority {
            w.priority(p).expect("fits");
        }
        if self.controlling {
            w.ice_controlling(0x0102_0304_0506_0708).expect("fits");
        }
        if self.controlled {
            w.ice_controlled(0x0807_0605_0403_0201).expect("fits");
        }
        if self.use_candidate {
            w.use_candidate().expect("fits");
        }
        if let Some(p) = &self.password {
            w.message_integrity(&IntegrityKey::new(p.as_bytes()))
                .expect("fits");
        }
        if self.fingerprint {
            w.fingerprint().expect("fits");
        }
        let n = w.finish();
        buf[..n].to_vec()
    }
}

/// Sends `check` from `from` at `now`; returns the outcome and, for an answer, its bytes.
fn send(
    ice: &mut IceServer,
    now: Instant,
    from: SocketAddr,
    check: &Check,
) -> (StunOutcome, Vec<u8>) {
    let mut out = [0u8; MAX_RESPONSE_LEN];
    let o = ice.handle_stun(now, from, &check.bytes(), &mut out);
    let reply = o.response_len().map_or(Vec::new(), |n| out[..n].to_vec());
    (o, reply)
}

/// Asserts a success response as the browser checks it: its transaction id, the source address
/// reflected, MESSAGE-INTEGRITY with `password`, FINGERPRINT.
fn assert_success(reply: &[u8], check: &Check, from: SocketAddr, password: &str) {
    let m = StunMessage::parse(reply).expect("response parses");
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(m.method(), METHOD_BINDING);
    assert_eq!(m.transaction_id(), &check.tid);
    assert_eq!(m.xor_mapped_address(), Some(from));
    m.verify_integrity(&IntegrityKey::new(password.as_bytes()))
        .expect("response integrity");
    m.verify_fingerprint().expect("response fingerprint");
}

fn events(ice: &mut IceServer) -> Vec<IceEvent> {
    std::iter::from_fn(|| ice.poll_event()).collect()
}

#[test]
fn check_then_nominate_completes() {
    let t0 = Instant::now();
    let (a, b) = (addr("10.0.0.1:5000"), addr("[fd00::2]:6000"));
    let mut ice = server();
    assert_eq!(ice.state(), IceState::New);
    assert_eq!(ice.poll_timeout(), None);

    let check = Check::to(&ice);
    let (o, reply) = send(&mut ice, t0, a, &check);
    assert!(matches!(o, StunOutcome::Success(_)));
    assert_success(&reply, &check, a, PASSWORD);
    assert_eq!(
        events(&mut ice),
        [
            IceEvent::TupleAdded(a),
            IceEvent::SelectedTupleChanged(a),
            IceEvent::StateChanged(IceState::Connected)
        ]
    );
    assert_eq!(ice.selected_tuple(), Some(a));
    assert!(ice.is_valid_tuple(a) && !ice.is_valid_tuple(b));

    // A second candidate pair is checked but not nominated: tracked, not selected.
    let t1 = t0 + Duration::from_millis(50);
    let (o, reply) = send(&mut ice, t1, b, &check);
    assert!(matches!(o, StunOutcome::Success(_)));
    assert_success(&reply, &check, b, PASSWORD);
    assert_eq!(events(&mut ice), [IceEvent::TupleAdded(b)]);
    assert_eq!(ice.selected_tuple(), Some(a));
    assert!(ice.is_valid_tuple(b));

    // The controlling peer nominates b.
    let nominate = check.clone().nominate();
    let (o, reply) = send(&mut ice, t1, b, &nominate);
    assert!(matches!(o, StunOutcome::Success(_)));
    assert_success(&reply, &nominate, b, PASSWORD);
    assert_eq!(
        events(&mut ice),
        [
            IceEvent::SelectedTupleChanged(b),
            IceEvent::StateChanged(IceState::Completed)
        ]
    );
    assert_eq!(ice.state(), IceState::Completed);
    assert_eq!(ice.selected_tuple(), Some(b));
    // Repeated nominations of the same pair change nothing.
    send(&mut ice, t1, b, &nominate);
    assert_eq!(events(&mut ice), []);
    assert_eq!(ice.counters().successes, 4);
    assert_eq!(ice.counters().dropped, [0; IceDropReason::ALL.len()]);
}

#[test]
fn nomination_on_first_check_goes_straight_to_completed() {
    let t0 = Instant::now();
    let a = addr("10.0.0.1:5000");
    let mut ice = server();
    let check = Check::to(&ice).nominate();
    send(&mut ice, t0, a, &check);
    assert_eq!(
        events(&mut ice),
        [
            IceEvent::TupleAdded(a),
            IceEvent::SelectedTupleChanged(a),
            IceEvent::StateChanged(IceState::Completed)
        ]
    );
}

#[test]
fn bad_checks_get_no_answer_and_are_counted() {
    let t0 = Instant::now();
    let a = addr("10.0.0.1:5000");
    let mut ice = server();
    let good = Check::to(&ice);
    let cases: Vec<(Check, IceDropReason)> = vec![
        (
            good.clone().password("serverPassword0123456780"),
            IceDropReason::BadIntegrity,
        ),
        (
            Check {
                password: None,
                ..good.clone()
            },
            IceDropReason::NoIntegrity,
        ),
        (
            good.clone().username("otherUfrag:brwsr"),
            IceDropReason::BadUsername,
        ),
        (
            good.clone().username("srvUfrag:"),
            IceDropReason::BadUsername,
        ),
        (
            good.clone().username("srvUfrag"),
            IceDropReason::BadUsername,
        ),
        (
            good.clone().username("srvUfragX:brwsr"),
            IceDropReason::BadUsername,
        ),
        (
            Check {
                username: None,
                ..good.clone()
            },
            IceDropReason::NoUsername,
        ),
        (
            Check {
                fingerprint: false,
                ..good.clone()
            },
            IceDropReason::NoFingerprint,
        ),
        (
            Check {
                class: Class::Indication,
                ..good.clone()
            },
            IceDropReason::NotBindingRequest,
        ),
        (
            Check {
                class: Class::SuccessResponse,
                ..good.clone()
            },
            IceDropReason::NotBindingRequest,
        ),
    ];
    for (check, reason) in &cases {
        let (o, reply) = send(&mut ice, t0, a, check);
        assert_eq!(o, StunOutcome::Dropped(*reason));
        assert!(reply.is_empty());
    }
    // A FINGERPRINT that does not match, and bytes that are not STUN at all.
    let mut bytes = good.bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    let mut out = [0u8; MAX_RESPONSE_LEN];
    assert_eq!(
        ice.handle_stun(t0, a, &bytes, &mut out),
        StunOutcome::Dropped(IceDropReason::BadFingerprint)
    );
    assert_eq!(
        ice.handle_stun(t0, a, &bytes[..bytes.len() - 3], &mut out),
        StunOutcome::Dropped(IceDropReason::Malformed)
    );

    let c = ice.counters();
    assert_eq!(c.dropped(IceDropReason::BadIntegrity), 1);
    assert_eq!(c.dropped(IceDropReason::NoIntegrity), 1);
    assert_eq!(c.dropped(IceDropReason::BadUsername), 4);
    assert_eq!(c.dropped(IceDropReason::NoUsername), 1);
    assert_eq!(c.dropped(IceDropReason::NoFingerprint), 1);
    assert_eq!(c.dropped(IceDropReason::BadFingerprint), 1);
    assert_eq!(c.dropped(IceDropReason::NotBindingRequest), 2);
    assert_eq!(c.dropped(IceDropReason::Malformed), 1);
    assert_eq!(c.successes, 0);
    // Nothing was learnt from any of them.
    assert_eq!(ice.state(), IceState::New);
    assert!(!ice.is_valid_tuple(a));
    assert_eq!(events(&mut ice), []);
    // And the good one still works.
    assert!(matches!(
        send(&mut ice, t0, a, &good).0,
        StunOutcome::Success(_)
    ));
}

#[test]
fn controlled_peer_gets_role_conflict_and_no_priority_gets_400() {
    let t0 = Instant::now();
    let a = addr("10.0.0.1:5000");
    let mut ice = server();
    let both_controlled = Check {
        controlling: false,
        controlled: true,
        ..Check::to(&ice)
    };
    let (o, reply) = send(&mut ice, t0, a, &both_controlled);
    assert_eq!(o.response_len(), Some(reply.len()));
    assert!(matches!(o, StunOutcome::Error { code: 487, .. }));
    let m = StunMessage::parse(&reply).expect("error parses");
    assert_eq!(m.class(), Class::ErrorResponse);
    assert_eq!(m.error_code(), Some((487, &b"Role Conflict"[..])));
    assert_eq!(m.transaction_id(), &both_controlled.tid);
    m.verify_integrity(&IntegrityKey::new(PASSWORD.as_bytes()))
        .expect("authenticated error");
    m.verify_fingerprint().expect("fingerprint");

    let no_priority = Check {
        priority: None,
        ..Check::to(&ice)
    };
    let (o, reply) = send(&mut ice, t0, a, &no_priority);
    assert!(matches!(o, StunOutcome::Error { code: 400, .. }));
    let m = StunMessage::parse(&reply).expect("error parses");
    assert_eq!(m.error_code(), Some((400, &b"Bad Request"[..])));

    assert_eq!(ice.counters().role_conflicts, 1);
    assert_eq!(ice.counters().bad_requests, 1);
    assert_eq!(ice.state(), IceState::New);
    assert!(!ice.is_valid_tuple(a));
    assert_eq!(events(&mut ice), []);
}

/// Completes ICE on `a` at `t0` and drains the events.
fn completed_on(a: SocketAddr, t0: Instant) -> IceServer {
    let mut ice = server();
    let check = Check::to(&ice).nominate();
    send(&mut ice, t0, a, &check);
    events(&mut ice);
    assert_eq!(ice.state(), IceState::Completed);
    ice
}

#[test]
fn consent_expires_after_30_s_without_checks() {
    let t0 = Instant::now();
    let a = addr("10.0.0.1:5000");
    let mut ice = completed_on(a, t0);
    let check = Check::to(&ice).nominate();
    // Consent checks every 5 s keep it alive for a minute.
    let mut last = t0;
    for i in 1..=12 {
        last = t0 + Duration::from_secs(5 * i);
        ice.handle_timeout(last);
        assert!(matches!(
            send(&mut ice, last, a, &check).0,
            StunOutcome::Success(_)
        ));
        assert_eq!(ice.poll_timeout(), Some(last + CONSENT_TIMEOUT));
    }
    assert_eq!(ice.state(), IceState::Completed);
    assert_eq!(events(&mut ice), []);

    // Then silence.
    let expiry = ice.poll_timeout().expect("a tuple is held");
    ice.handle_timeout(expiry - Duration::from_millis(1));
    assert_eq!(ice.state(), IceState::Completed);
    ice.handle_timeout(expiry);
    assert_eq!(ice.state(), IceState::Disconnected);
    assert_eq!(
        events(&mut ice),
        [
            IceEvent::TupleRemoved(a),
            IceEvent::StateChanged(IceState::Disconnected)
        ]
    );
    assert_eq!(ice.selected_tuple(), None);
    assert!(!ice.is_valid_tuple(a));
    assert_eq!(ice.poll_timeout(), None);
    // Idempotent.
    ice.handle_timeout(expiry + CONSENT_TIMEOUT);
    assert_eq!(events(&mut ice), []);
    assert_eq!(last + CONSENT_TIMEOUT, expiry);
}

#[test]
fn recovery_after_disconnect() {
    let t0 = Instant::now();
    let a = addr("10.0.0.1:5000");
    let mut ice = completed_on(a, t0);
    let t1 = t0 + CONSENT_TIMEOUT;
    ice.handle_timeout(t1);
    assert_eq!(ice.state(), IceState::Disconnected);
    events(&mut ice);

    // A check without nomination reconnects; the nomination that follows completes.
    let check = Check::to(&ice);
    let (o, reply) = send(&mut ice, t1, a, &check);
    assert!(matches!(o, StunOutcome::Success(_)));
    assert_success(&reply, &check, a, PASSWORD);
    assert_eq!(
        events(&mut ice),
        [
            IceEvent::TupleAdded(a),
            IceEvent::SelectedTupleChanged(a),
            IceEvent::StateChanged(IceState::Connected)
        ]
    );
    send(&mut ice, t1, a, &check.clone().nominate());
    assert_eq!(
        events(&mut ice),
        [IceEvent::StateChanged(IceState::Completed)]
    );

    // A nominating check after a disconnect goes straight back to completed, and the expiry
    // runs first even when the caller's timer was late.
    let late = t1 + CONSENT_TIMEOUT + Duration::from_secs(5);
    send(&mut ice, late, a, &check.clone().nominate());
    assert_eq!(
        events(&mut ice),
        [
            IceEvent::TupleRemoved(a),
            IceEvent::StateChanged(IceState::Disconnected),
            IceEvent::TupleAdded(a),
            IceEvent::SelectedTupleChanged(a),
            IceEvent::StateChanged(IceState::Completed)
        ]
    );
    assert_eq!(ice.selected_tuple(), Some(a));
}

#[test]
fn nomination_of_a_new_tuple_switches() {
    let t0 = Instant::now();
    let (a, b) = (addr("10.0.0.1:5000"), addr("10.0.0.1:5002"));
    let mut ice = completed_on(a, t0);
    let check = Check::to(&ice);

    // The peer's network changes: b is checked, then nominated.
    let t1 = t0 + Duration::from_secs(10);
    send(&mut ice, t1, b, &check);
    assert_eq!(events(&mut ice), [IceEvent::TupleAdded(b)]);
    assert_eq!(ice.selected_tuple(), Some(a));
    send(&mut ice, t1, b, &check.clone().nominate());
    assert_eq!(events(&mut ice), [IceEvent::SelectedTupleChanged(b)]);
    assert_eq!(ice.selected_tuple(), Some(b));
    assert_eq!(ice.state(), IceState::Completed);

    // Checks on a without USE-CANDIDATE keep it valid but do not switch back.
    let t2 = t1 + Duration::from_secs(5);
    send(&mut ice, t2, a, &check);
    send(&mut ice, t2, b, &check.clone().nominate());
    assert_eq!(events(&mut ice), []);
    assert_eq!(ice.selected_tuple(), Some(b));

    // a's consent lapses on its own; b, still checked, carries on.
    let t3 = t2 + Duration::from_secs(20);
    send(&mut ice, t3, b, &check.clone().nominate());
    assert_eq!(ice.poll_timeout(), Some(t2 + CONSENT_TIMEOUT));
    ice.handle_timeout(t2 + CONSENT_TIMEOUT);
    assert_eq!(events(&mut ice), [IceEvent::TupleRemoved(a)]);
    assert_eq!(ice.state(), IceState::Completed);
    assert_eq!(ice.selected_tuple(), Some(b));
    assert!(!ice.is_valid_tuple(a));
    assert_eq!(ice.poll_timeout(), Some(t3 + CONSENT_TIMEOUT));
}

#[test]
fn tuples_are_capped_and_the_selected_one_survives() {
    let t0 = Instant::now();
    let sel = addr("10.0.0.1:5000");
    let mut ice = completed_on(sel, t0);
    let check = Check::to(&ice);
    for i in 0..MAX_TUPLES as u16 {
        let at = t0 + Duration::from_millis(u64::from(i) + 1);
        send(
            &mut ice,
            at,
            addr(&format!("10.0.1.1:{}", 6000 + i)),
            &check,
        );
    }
    // The selected tuple is the oldest, yet the least recently checked unselected ones went.
    assert_eq!(ice.tuples().count(), MAX_TUPLES);
    assert!(ice.is_valid_tuple(sel));
    assert!(!ice.is_valid_tuple(addr("10.0.1.1:6000")));
    assert!(ice.is_valid_tuple(addr("10.0.1.1:6001")));
    let ev = events(&mut ice);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, IceEvent::TupleRemoved(_)))
            .collect::<Vec<_>>(),
        [&IceEvent::TupleRemoved(addr("10.0.1.1:6000"))]
    );
    assert_eq!(ice.selected_tuple(), Some(sel));
}

#[test]
fn restart_ice_keeps_old_credentials_until_new_ones_are_used() {
    let t0 = Instant::now();
    let a = addr("10.0.0.1:5000");
    let mut ice = completed_on(a, t0);
    let old_check = Check::to(&ice).nominate();
    let mut rng = StdRng::seed_from_u64(7);

    let t1 = t0 + Duration::from_secs(20);
    ice.restart_ice_with_rng(t1, &mut rng);
    assert_ne!(ice.username_fragment(), UFRAG);
    assert_ne!(ice.password(), PASSWORD);
    assert_eq!(ice.old_username_fragment(), Some(UFRAG));
    assert!(ice.accepts_ufrag(UFRAG.as_bytes()));
    assert!(ice.accepts_ufrag(ice.username_fragment().as_bytes()));
    // The consent clock restarted: the peer gets 30 s from the restart.
    assert_eq!(ice.poll_timeout(), Some(t1 + CONSENT_TIMEOUT));
    assert_eq!(events(&mut ice), []);

    // Old credentials still work, and the answer is signed with the old password.
    let (o, reply) = send(&mut ice, t1, a, &old_check);
    assert!(matches!(o, StunOutcome::Success(_)));
    assert_success(&reply, &old_check, a, PASSWORD);
    assert_eq!(ice.state(), IceState::Completed);
    assert_eq!(events(&mut ice), []);
    assert_eq!(ice.old_username_fragment(), Some(UFRAG));

    // The first check with the new credentials retires the old ones.
    let new_check = Check::to(&ice).nominate();
    let new_password = ice.password().to_owned();
    let (o, reply) = send(&mut ice, t1, a, &new_check);
    assert!(matches!(o, StunOutcome::Success(_)));
    assert_success(&reply, &new_check, a, &new_password);
    assert_eq!(
        events(&mut ice),
        [IceEvent::UsernameFragmentRetired(UFRAG.to_owned())]
    );
    assert_eq!(ice.old_username_fragment(), None);
    assert!(!ice.accepts_ufrag(UFRAG.as_bytes()));
    assert_eq!(
        send(&mut ice, t1, a, &old_check).0,
        StunOutcome::Dropped(IceDropReason::BadUsername)
    );
    // The old password under the new ufrag is no good either.
    assert_eq!(
        send(&mut ice, t1, a, &new_check.clone().password(PASSWORD)).0,
        StunOutcome::Dropped(IceDropReason::BadIntegrity)
    );
}

#[test]
fn second_restart_retires_the_first_credentials_at_once() {
    let t0 = Instant::now();
    let mut ice = server();
    let mut rng = StdRng::seed_from_u64(9);
    ice.restart_ice_with_rng(t0, &mut rng);
    let second = ice.username_fragment().to_owned();
    ice.restart_ice_with_rng(t0, &mut rng);
    assert_eq!(
        events(&mut ice),
        [IceEvent::UsernameFragmentRetired(UFRAG.to_owned())]
    );
    assert_eq!(ice.old_username_fragment(), Some(second.as_str()));
    assert!(!ice.accepts_ufrag(UFRAG.as_bytes()));
}

#[test]
fn close_forgets_everything_and_answers_nothing() {
    let t0 = Instant::now();
    let a = addr("10.0.0.1:5000");
    let mut ice = completed_on(a, t0);
    ice.close();
    assert_eq!(
        events(&mut ice),
        [
            IceEvent::TupleRemoved(a),
            IceEvent::StateChanged(IceState::Closed)
        ]
    );
    let check = Check::to(&ice).nominate();
    assert_eq!(
        send(&mut ice, t0, a, &check).0,
        StunOutcome::Dropped(IceDropReason::Closed)
    );
    assert_eq!(ice.selected_tuple(), None);
    assert_eq!(ice.poll_timeout(), None);
    ice.close();
    assert_eq!(events(&mut ice), []);
}

#[test]
fn small_buffer_drops_without_changing_state() {
    let t0 = Instant::now();
    let a = addr("[fd00::1]:5000");
    let mut ice = server();
    let bytes = Check::to(&ice).nominate().bytes();
    let mut out = [0u8; 75];
    assert_eq!(
        ice.handle_stun(t0, a, &bytes, &mut out),
        StunOutcome::Dropped(IceDropReason::BufferTooSmall)
    );
    assert_eq!(ice.state(), IceState::New);
    let mut out = [0u8; 76];
    assert_eq!(
        ice.handle_stun(t0, a, &bytes, &mut out),
        StunOutcome::Success(76)
    );
}

#[test]
fn generated_credentials_are_ice_chars_of_the_right_length() {
    let a = IceServer::new();
    let b = IceServer::new();
    for ice in [&a, &b] {
        assert_eq!(ice.username_fragment().len(), UFRAG_LEN);
        assert_eq!(ice.password().len(), PASSWORD_LEN);
        assert!(is_ice_chars(ice.username_fragment()) && is_ice_chars(ice.password()));
    }
    assert_ne!(a.username_fragment(), b.username_fragment());
    assert_ne!(a.password(), b.password());
    // Seeded generation is reproducible, so restarts in tests are too.
    let x = IceServer::with_rng(&mut StdRng::seed_from_u64(1));
    let y = IceServer::with_rng(&mut StdRng::seed_from_u64(1));
    assert_eq!(x.username_fragment(), y.username_fragment());

    assert_eq!(
        IceServer::with_credentials("abc", PASSWORD).err(),
        Some(IceError::BadUsernameFragment)
    );
    assert_eq!(
        IceServer::with_credentials("ab:c", PASSWORD).err(),
        Some(IceError::BadUsernameFragment)
    );
    assert_eq!(
        IceServer::with_credentials(UFRAG, "short").err(),
        Some(IceError::BadPassword)
    );
    assert_eq!(
        IceServer::with_credentials(UFRAG, "serverPassword01234567 9").err(),
        Some(IceError::BadPassword)
    );
    assert!(IceServer::with_credentials("a+/b", "+/+/+/+/+/+/+/+/+/+/+/").is_ok());
}
