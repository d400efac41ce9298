//! Robustness: random and mutated byte strings through the STUN parser, accessors and
//! verifiers, asserting that none panics and that what parses is self-consistent. A fixed-seed
//! xorshift generator (as `wire::fuzz_tests`), so a failure reproduces exactly.

use super::*;

use crate::test_rng::XorShift;

/// Runs every accessor and both verifiers; returns whether the input parsed.
fn exercise(input: &[u8], key: &IntegrityKey) -> bool {
    let _ = local_ufrag(input);
    let Ok(m) = StunMessage::parse(input) else {
        return false;
    };
    let _ = (
        m.class(),
        m.method(),
        m.is_binding_request(),
        m.transaction_id(),
    );
    let _ = (m.username(), m.software(), m.priority(), m.use_candidate());
    let _ = (m.ice_controlling(), m.ice_controlled(), m.error_code());
    let _ = (
        m.xor_mapped_address(),
        m.message_integrity(),
        m.fingerprint(),
    );
    let mut end = HEADER_LEN;
    for a in m.attributes() {
        assert_eq!(a.offset, end);
        end = a.offset + 4 + padded(a.value.len());
    }
    assert_eq!(end, input.len(), "attributes tile the message");
    if m.verify_fingerprint().is_ok() {
        assert!(m.fingerprint().is_some());
    }
    let _ = m.verify_integrity(key);
    true
}

fn seeds(key: &IntegrityKey) -> Vec<Vec<u8>> {
    let tid = [7u8; 12];
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    for addr in ["10.1.2.3:4000", "[fe80::1]:9"] {
        let addr = addr.parse().expect("literal address");
        let n = write_binding_success(&mut buf, &tid, addr, key).expect("fits");
        out.push(buf[..n].to_vec());
    }
    let n = write_binding_error(&mut buf, &tid, 487, Some(key)).expect("fits");
    out.push(buf[..n].to_vec());
    let mut w = MessageWriter::new(&mut buf, Class::Request, METHOD_BINDING, &tid).expect("fits");
    w.username(b"abcd:efgh").expect("fits");
    w.priority(1).expect("fits");
    w.ice_controlling(2).expect("fits");
    w.use_candidate().expect("fits");
    w.message_integrity(key).expect("fits");
    w.fingerprint().expect("fits");
    let n = w.finish();
    out.push(buf[..n].to_vec());
    out
}

#[test]
fn random_bytes_never_panic() {
    let key = IntegrityKey::new(b"password");
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let words = rng.below(12);
        let mut input: Vec<u8> = (0..HEADER_LEN + 4 * words).map(|_| rng.byte()).collect();
        // Mostly a plausible header, so the attribute walk is reached.
        if rng.below(4) != 0 {
            input[0] &= 0x3f;
            input[2..4].copy_from_slice(&((4 * words) as u16).to_be_bytes());
            input[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        }
        if rng.below(8) == 0 {
            input.truncate(rng.below(input.len() + 1));
        }
        parsed += usize::from(exercise(&input, &key));
    }
    assert!(parsed > 1_000, "only {parsed} random inputs parsed");
}

#[test]
fn mutated_messages_never_panic() {
    let key = IntegrityKey::new(b"password");
    let seeds = seeds(&key);
    for s in &seeds {
        let m = StunMessage::parse(s).expect("seeds are valid");
        m.verify_fingerprint().expect("seed fingerprint");
        m.verify_integrity(&key).expect("seed integrity");
    }
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let (mut parsed, mut verified) = (0, 0);
    for _ in 0..20_000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(3) {
            let at = rng.below(input.len());
            match rng.below(5) {
                0 => input[at] = rng.byte(),
                1 => input[at] ^= 1 << rng.below(8),
                2 => input.truncate(at),
                3 => input.extend_from_slice(&[rng.byte(); 4]),
                // Keep the length field consistent so the attribute walk is reached.
                _ => {
                    if input.len() >= HEADER_LEN {
                        let len = (input.len() - HEADER_LEN) as u16;
                        input[2..4].copy_from_slice(&len.to_be_bytes());
                    }
                }
            }
            if input.is_empty() {
                break;
            }
        }
        if exercise(&input, &key) {
            parsed += 1;
            let m = StunMessage::parse(&input).expect("parsed above");
            verified += usize::from(m.verify_integrity(&key).is_ok());
        }
    }
    assert!(parsed > 1_000, "only {parsed} mutated inputs parsed");
    // Mutations that keep the integrity valid are the ones that leave the covered bytes alone.
    assert!(verified > 0 && verified < parsed);
}
