//! Interop of `crypto::dtls` with an independent DTLS stack, `webrtc-dtls` (DESIGN §7's test
//! oracle): the two sides handshake over a pair of loopback UDP sockets and must export the same
//! RFC 5764 keying material, byte for byte.
//!
//! `webrtc-dtls` wants a tokio `Conn`, so it runs on a tokio UDP socket; our sans-IO transport
//! runs on a thread of its own that pumps a blocking `std` socket with the real clock, as the
//! control plane will.

use std::net::UdpSocket as StdUdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use sluice_engine::crypto::dtls::{
    DtlsCertificate, DtlsConfig, DtlsEvent, DtlsFailure, DtlsSide, DtlsState, DtlsTransport,
    Fingerprint, FingerprintAlgorithm, SrtpKeys, SrtpProfile,
};
use tokio::net::UdpSocket;
use webrtc_dtls::config::{ClientAuthType, Config, ExtendedMasterSecretType};
use webrtc_dtls::conn::DTLSConn;
use webrtc_dtls::crypto::Certificate;
use webrtc_dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use webrtc_util::KeyingMaterialExporter;

const LABEL: &str = "EXTRACTOR-dtls_srtp";

/// What webrtc-dtls ended with: its profile and exported material, `None` without SRTP, or its
/// handshake error.
type TheirOutcome = Result<Option<(SrtpProtectionProfile, Vec<u8>)>, String>;

/// Our side on its own thread: every event goes to `events`, until `stop` is set.
struct OurSide {
    events: mpsc::Receiver<DtlsEvent>,
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<DtlsState>,
}

impl OurSide {
    fn start(socket: StdUdpSocket, mut transport: DtlsTransport) -> Self {
        let (tx, events) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = thread::spawn(move || {
            let mut buf = vec![0u8; 2048];
            while !stop2.load(Ordering::Relaxed) {
                while let Some(d) = transport.poll_transmit() {
                    let _ = socket.send(&d);
                }
                while let Some(e) = transport.poll_event() {
                    let _ = tx.send(e);
                }
                let now = Instant::now();
                let wait = transport
                    .poll_timeout()
                    .map_or(Duration::from_millis(20), |t| {
                        t.saturating_duration_since(now)
                    })
                    .clamp(Duration::from_millis(1), Duration::from_millis(20));
                socket.set_read_timeout(Some(wait)).unwrap();
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        let _ = transport.handle_datagram(Instant::now(), &buf[..n]);
                    }
                    Err(_) => transport.handle_timeout(Instant::now()),
                }
            }
            transport.state()
        });
        OurSide {
            events,
            stop,
            handle,
        }
    }

    /// The first event that ends the handshake (Connected or Failed).
    fn outcome(&self) -> DtlsEvent {
        loop {
            let e = self
                .events
                .recv_timeout(Duration::from_secs(15))
                .expect("our DTLS side reports an outcome");
            if matches!(e, DtlsEvent::Connected(_) | DtlsEvent::Failed(_)) {
                return e;
            }
        }
    }

    fn finish(self) -> DtlsState {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("pump thread does not panic")
    }
}

fn socket_pair() -> (StdUdpSocket, StdUdpSocket) {
    let ours = StdUdpSocket::bind("127.0.0.1:0").unwrap();
    let theirs = StdUdpSocket::bind("127.0.0.1:0").unwrap();
    ours.connect(theirs.local_addr().unwrap()).unwrap();
    theirs.connect(ours.local_addr().unwrap()).unwrap();
    theirs.set_nonblocking(true).unwrap();
    (ours, theirs)
}

fn their_config(
    certificate: Certificate,
    profiles: Vec<SrtpProtectionProfile>,
    expect: Fingerprint,
) -> Config {
    Config {
        certificates: vec![certificate],
        srtp_protection_profiles: profiles,
        extended_master_secret: ExtendedMasterSecretType::Require,
        client_auth: ClientAuthType::RequireAnyClientCert,
        // Self-signed: no PKI; the peer is pinned by fingerprint instead, as WebRTC does.
        insecure_skip_verify: true,
        verify_peer_certificate: Some(Arc::new(move |certs: &[Vec<u8>], _| match certs.first() {
            Some(der) if expect.matches(der) => Ok(()),
            _ => Err(webrtc_dtls::Error::Other("fingerprint mismatch".into())),
        })),
        ..Default::default()
    }
}

fn their_identity() -> (Certificate, Fingerprint) {
    let cert = Certificate::generate_self_signed(vec!["webrtc-dtls".to_owned()]).unwrap();
    let fp =
        Fingerprint::of_certificate(FingerprintAlgorithm::Sha256, cert.certificate[0].as_ref());
    (cert, fp)
}

fn to_ours(p: SrtpProtectionProfile) -> SrtpProfile {
    match p {
        SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80 => SrtpProfile::AesCm128HmacSha1_80,
        SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm => SrtpProfile::AeadAes128Gcm,
        SrtpProtectionProfile::Srtp_Aead_Aes_256_Gcm => SrtpProfile::AeadAes256Gcm,
        other => panic!("unexpected profile {other:?}"),
    }
}

/// Their exported material, split the way RFC 5764 §4.2 lays it out, must equal our keys.
fn assert_same_material(ours: &SrtpKeys, our_side: DtlsSide, theirs: &[u8]) {
    let expected = SrtpKeys::from_keying_material(ours.profile, our_side, theirs)
        .expect("their export has the profile's length");
    assert_eq!(*ours, expected);
    let (k, s) = (
        ours.profile.master_key_len(),
        ours.profile.master_salt_len(),
    );
    let (client_key, server_key) = (&theirs[..k], &theirs[k..2 * k]);
    let (client_salt, server_salt) = (&theirs[2 * k..2 * k + s], &theirs[2 * k + s..]);
    match our_side {
        DtlsSide::Server => {
            assert_eq!(ours.local_key, server_key);
            assert_eq!(ours.local_salt, server_salt);
            assert_eq!(ours.remote_key, client_key);
            assert_eq!(ours.remote_salt, client_salt);
        }
        DtlsSide::Client => {
            assert_eq!(ours.local_key, client_key);
            assert_eq!(ours.local_salt, client_salt);
            assert_eq!(ours.remote_key, server_key);
            assert_eq!(ours.remote_salt, server_salt);
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// webrtc-dtls as DTLS client (as a browser is towards mediasoup) against our server.
fn their_client_against_our_server(
    offered: Vec<SrtpProtectionProfile>,
    server_expects_wrong: bool,
    client_expects_wrong: bool,
) -> (DtlsEvent, TheirOutcome) {
    let ours_cert = DtlsCertificate::generate().unwrap();
    let (their_cert, their_fp) = their_identity();
    let expected = if server_expects_wrong {
        DtlsCertificate::generate().unwrap().sha256().clone()
    } else {
        their_fp
    };
    let (our_sock, their_sock) = socket_pair();
    let server = DtlsTransport::new(
        &ours_cert,
        &DtlsConfig::default(),
        DtlsSide::Server,
        vec![expected],
        Instant::now(),
    );
    let our_side = OurSide::start(our_sock, server);
    let client_expects = if client_expects_wrong {
        DtlsCertificate::generate().unwrap().sha256().clone()
    } else {
        ours_cert.sha256().clone()
    };
    let config = their_config(their_cert, offered, client_expects);
    let theirs = runtime().block_on(async move {
        let sock = Arc::new(UdpSocket::from_std(their_sock).unwrap());
        let conn = tokio::time::timeout(
            Duration::from_secs(4),
            DTLSConn::new(sock, config, true, None),
        )
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
        let profile = conn.selected_srtpprotection_profile();
        if profile == SrtpProtectionProfile::Unsupported {
            return Ok(None);
        }
        let len = to_ours(profile).keying_material_len();
        let material = conn
            .connection_state()
            .await
            .export_keying_material(LABEL, &[], len)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some((profile, material)))
    });
    let outcome = our_side.outcome();
    our_side.finish();
    (outcome, theirs)
}

#[test]
fn webrtc_dtls_client_and_our_server_export_the_same_keys() {
    use SrtpProtectionProfile::*;
    for (offered, expect) in [
        // A client without GCM-256: GCM-128 is picked over CM-80 whatever the client's order.
        (
            vec![Srtp_Aead_Aes_128_Gcm, Srtp_Aes128_Cm_Hmac_Sha1_80],
            SrtpProfile::AeadAes128Gcm,
        ),
        (
            vec![Srtp_Aes128_Cm_Hmac_Sha1_80],
            SrtpProfile::AesCm128HmacSha1_80,
        ),
        (
            vec![
                Srtp_Aead_Aes_256_Gcm,
                Srtp_Aead_Aes_128_Gcm,
                Srtp_Aes128_Cm_Hmac_Sha1_80,
            ],
            SrtpProfile::AeadAes256Gcm,
        ),
        // Firefox's order (128 first): dimpl as server goes by its own order, 256 first
        // (docs/ARCHITECTURE.md, "Deliberate deviations").
        (
            vec![
                Srtp_Aead_Aes_128_Gcm,
                Srtp_Aead_Aes_256_Gcm,
                Srtp_Aes128_Cm_Hmac_Sha1_80,
            ],
            SrtpProfile::AeadAes256Gcm,
        ),
    ] {
        let (outcome, theirs) = their_client_against_our_server(offered, false, false);
        let DtlsEvent::Connected(keys) = outcome else {
            panic!("our server: {outcome:?}, theirs: {theirs:?}");
        };
        let (their_profile, material) = theirs.unwrap().expect("an SRTP profile");
        assert_eq!(keys.profile, expect);
        assert_eq!(to_ours(their_profile), expect);
        assert_same_material(&keys, DtlsSide::Server, &material);
    }
}

#[test]
fn our_server_fails_a_webrtc_dtls_client_with_the_wrong_fingerprint() {
    let (outcome, theirs) = their_client_against_our_server(
        vec![SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm],
        true,
        false,
    );
    assert_eq!(outcome, DtlsEvent::Failed(DtlsFailure::FingerprintMismatch));
    assert!(
        theirs.is_err(),
        "their handshake must not complete: {theirs:?}"
    );
}

#[test]
fn a_webrtc_dtls_client_that_rejects_our_certificate_fails_our_server() {
    let (outcome, theirs) = their_client_against_our_server(
        vec![SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm],
        false,
        true,
    );
    assert!(theirs.is_err(), "{theirs:?}");
    // It sends bad_certificate (42, RFC 5246 §7.2.2), which fails us without keys.
    assert_eq!(
        outcome,
        DtlsEvent::Failed(DtlsFailure::Alert { description: 42 })
    );
}

#[test]
fn our_server_fails_a_client_that_offers_no_srtp() {
    let (outcome, _theirs) = their_client_against_our_server(vec![], false, false);
    assert_eq!(outcome, DtlsEvent::Failed(DtlsFailure::NoSrtpProfile));
}

/// Our client against a webrtc-dtls server configured with `supported`; returns the profile
/// both agreed on after checking that they exported the same keying material.
fn our_client_against_their_server(supported: Vec<SrtpProtectionProfile>) -> SrtpProfile {
    let ours_cert = DtlsCertificate::generate().unwrap();
    let (their_cert, their_fp) = their_identity();
    let (our_sock, their_sock) = socket_pair();
    let config = their_config(their_cert, supported, ours_cert.sha256().clone());
    let rt = runtime();
    let theirs = rt.spawn(async move {
        let sock = Arc::new(UdpSocket::from_std(their_sock).unwrap());
        let conn = tokio::time::timeout(
            Duration::from_secs(6),
            DTLSConn::new(sock, config, false, None),
        )
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
        let profile = conn.selected_srtpprotection_profile();
        let material = conn
            .connection_state()
            .await
            .export_keying_material(LABEL, &[], to_ours(profile).keying_material_len())
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((profile, material))
    });
    let client = DtlsTransport::new(
        &ours_cert,
        &DtlsConfig::default(),
        DtlsSide::Client,
        vec![their_fp],
        Instant::now(),
    );
    let our_side = OurSide::start(our_sock, client);
    let theirs = rt.block_on(theirs).unwrap();
    let outcome = our_side.outcome();
    assert_eq!(our_side.finish(), DtlsState::Connected);
    let DtlsEvent::Connected(keys) = outcome else {
        panic!("our client: {outcome:?}, theirs: {theirs:?}");
    };
    let (their_profile, material) = theirs.unwrap();
    assert_eq!(keys.profile, to_ours(their_profile));
    assert_same_material(&keys, DtlsSide::Client, &material);
    keys.profile
}

#[test]
fn our_client_and_webrtc_dtls_server_export_the_same_keys() {
    use SrtpProtectionProfile::*;
    // webrtc-dtls as server picks the first of the client's offers that it supports
    // (`find_matching_srtp_profile(client's, local)`): without 256 on its side, GCM-128.
    assert_eq!(
        our_client_against_their_server(vec![Srtp_Aead_Aes_128_Gcm, Srtp_Aes128_Cm_Hmac_Sha1_80]),
        SrtpProfile::AeadAes128Gcm
    );
}

#[test]
fn as_client_we_offer_gcm_256_first_as_dimpl_does() {
    use SrtpProtectionProfile::*;
    // A server that honours the client's order and supports both GCM suites (with 128 first,
    // as Firefox lists them) gets GCM-256: dimpl's ClientHello offers 256, 128, CM-80 in that
    // order and has no setting for it (docs/ARCHITECTURE.md, "Deliberate deviations"). When
    // this fails, dimpl's offer has changed: update that entry.
    assert_eq!(
        our_client_against_their_server(vec![
            Srtp_Aead_Aes_128_Gcm,
            Srtp_Aead_Aes_256_Gcm,
            Srtp_Aes128_Cm_Hmac_Sha1_80,
        ]),
        SrtpProfile::AeadAes256Gcm
    );
}
