//! Certificates, fingerprints and roles: the parts of DTLS-SRTP that travel in signalling.
//!
//! WebRTC authenticates DTLS peers not through a PKI but by pinning: each side announces the hash
//! of its self-signed certificate (`a=fingerprint`, RFC 8122 §5; mediasoup's
//! `dtlsParameters.fingerprints`), and after the handshake each side checks that the certificate
//! the peer presented hashes to one of the announced values (RFC 5763 §5, RFC 8842 §5). A mismatch
//! means someone else is on the path: the transport fails and no SRTP key is released.
//!
//! Sluice uses one ECDSA P-256 certificate per process (the DTLS library accepts only ECDSA) and
//! announces its SHA-256 fingerprint only: mediasoup-client writes the *last* fingerprint of the
//! list into its SDP, so extra algorithms would only risk the wrong one being picked (DESIGN §8).
//! Remote fingerprints are accepted in every algorithm mediasoup knows (sha-1, sha-224, sha-256,
//! sha-384, sha-512); hex is compared case-insensitively by comparing the decoded bytes.
//!
//! Roles follow mediasoup's `WebRtcTransport::connect`: our answer says `auto`; when the remote
//! says `client` we are the DTLS server, when it says `server` or `auto` we are the client (the
//! ICE-controlled side takes the client role when the peer leaves it open).

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

use super::DtlsError;

/// A DTLS role as it appears in `dtlsParameters.role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DtlsRole {
    /// Either side; the peer decides (`a=setup:actpass`).
    #[default]
    Auto,
    /// The DTLS client (`a=setup:active`), which sends the ClientHello.
    Client,
    /// The DTLS server (`a=setup:passive`).
    Server,
}

/// The side this endpoint plays in one handshake, once the role is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtlsSide {
    /// We send the ClientHello.
    Client,
    /// We answer it.
    Server,
}

impl DtlsSide {
    /// Our side given the remote's announced role, as mediasoup decides it: remote `client` makes
    /// us the server; remote `server` or `auto` makes us the client.
    pub fn opposite_of(remote: DtlsRole) -> DtlsSide {
        match remote {
            DtlsRole::Client => DtlsSide::Server,
            DtlsRole::Server | DtlsRole::Auto => DtlsSide::Client,
        }
    }

    /// The role string for this side (`connect`'s answer in mediasoup).
    pub fn role(self) -> DtlsRole {
        match self {
            DtlsSide::Client => DtlsRole::Client,
            DtlsSide::Server => DtlsRole::Server,
        }
    }
}

/// One entry of `dtlsParameters.fingerprints`, as signalled: `{"algorithm":"sha-256","value":"AB:…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DtlsFingerprint {
    /// Hash function name as in RFC 8122 §5 (`sha-256`, …).
    pub algorithm: String,
    /// Colon-separated hex bytes.
    pub value: String,
}

/// mediasoup's `dtlsParameters`: our answer in `createWebRtcTransport`, the remote's in `connect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DtlsParameters {
    /// Announced role; absent means `auto`.
    #[serde(default)]
    pub role: DtlsRole,
    /// Certificate fingerprints.
    pub fingerprints: Vec<DtlsFingerprint>,
}

/// A hash function a fingerprint may be computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FingerprintAlgorithm {
    /// `sha-1` (kept because RFC 8122 allows it and old peers send it).
    Sha1,
    /// `sha-224`.
    Sha224,
    /// `sha-256`, what every browser sends.
    Sha256,
    /// `sha-384`.
    Sha384,
    /// `sha-512`.
    Sha512,
}

impl FingerprintAlgorithm {
    /// Parse an RFC 8122 hash function name; case-insensitive as RFC 8122 §5 says.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "sha-1" => Some(FingerprintAlgorithm::Sha1),
            "sha-224" => Some(FingerprintAlgorithm::Sha224),
            "sha-256" => Some(FingerprintAlgorithm::Sha256),
            "sha-384" => Some(FingerprintAlgorithm::Sha384),
            "sha-512" => Some(FingerprintAlgorithm::Sha512),
            _ => None,
        }
    }

    /// The RFC 8122 name.
    pub fn name(self) -> &'static str {
        match self {
            FingerprintAlgorithm::Sha1 => "sha-1",
            FingerprintAlgorithm::Sha224 => "sha-224",
            FingerprintAlgorithm::Sha256 => "sha-256",
            FingerprintAlgorithm::Sha384 => "sha-384",
            FingerprintAlgorithm::Sha512 => "sha-512",
        }
    }

    fn digest_algorithm(self) -> &'static digest::Algorithm {
        match self {
            FingerprintAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            FingerprintAlgorithm::Sha224 => &digest::SHA224,
            FingerprintAlgorithm::Sha256 => &digest::SHA256,
            FingerprintAlgorithm::Sha384 => &digest::SHA384,
            FingerprintAlgorithm::Sha512 => &digest::SHA512,
        }
    }

    /// Length of the hash in bytes.
    pub fn output_len(self) -> usize {
        self.digest_algorithm().output_len()
    }

    /// Hash a DER certificate.
    pub fn digest(self, der: &[u8]) -> Vec<u8> {
        digest::digest(self.digest_algorithm(), der)
            .as_ref()
            .to_vec()
    }
}

/// A decoded fingerprint: algorithm and raw hash bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// The hash function.
    pub algorithm: FingerprintAlgorithm,
    /// The hash of the certificate's DER encoding.
    pub bytes: Vec<u8>,
}

impl Fingerprint {
    /// The fingerprint of `der` under `algorithm`.
    pub fn of_certificate(algorithm: FingerprintAlgorithm, der: &[u8]) -> Self {
        Fingerprint {
            algorithm,
            bytes: algorithm.digest(der),
        }
    }

    /// Decode a signalled fingerprint. The value must be exactly the algorithm's length in
    /// colon-separated two-digit hex bytes (RFC 8122 §5: `2UHEX *(":" 2UHEX)`; lower case is
    /// accepted too, since peers send it).
    pub fn parse(signalled: &DtlsFingerprint) -> Result<Self, DtlsError> {
        let algorithm = FingerprintAlgorithm::parse(&signalled.algorithm).ok_or_else(|| {
            DtlsError::UnsupportedFingerprintAlgorithm(signalled.algorithm.clone())
        })?;
        let invalid = || DtlsError::InvalidFingerprint(signalled.value.clone());
        let mut bytes = Vec::with_capacity(algorithm.output_len());
        for pair in signalled.value.split(':') {
            let pair = pair.as_bytes();
            if pair.len() != 2 {
                return Err(invalid());
            }
            let hi = hex_digit(pair[0]).ok_or_else(invalid)?;
            let lo = hex_digit(pair[1]).ok_or_else(invalid)?;
            bytes.push(hi << 4 | lo);
        }
        if bytes.len() != algorithm.output_len() {
            return Err(invalid());
        }
        Ok(Fingerprint { algorithm, bytes })
    }

    /// Whether `der` hashes to this fingerprint.
    pub fn matches(&self, der: &[u8]) -> bool {
        // Both values are public (the fingerprint was signalled, the certificate sent in clear),
        // so a plain comparison leaks nothing.
        self.algorithm.digest(der) == self.bytes
    }

    /// The signalled form: upper-case hex pairs joined by colons.
    pub fn to_signalled(&self) -> DtlsFingerprint {
        DtlsFingerprint {
            algorithm: self.algorithm.name().to_owned(),
            value: format_hex(&self.bytes),
        }
    }
}

/// Decode the remote's fingerprint list, keeping the entries whose algorithm we know. Fails when
/// an entry of a known algorithm is malformed, or when no entry is usable: a transport that
/// cannot check its peer must not start.
pub fn parse_remote_fingerprints(list: &[DtlsFingerprint]) -> Result<Vec<Fingerprint>, DtlsError> {
    let mut out = Vec::with_capacity(list.len());
    for entry in list {
        match Fingerprint::parse(entry) {
            Ok(fp) => out.push(fp),
            Err(DtlsError::UnsupportedFingerprintAlgorithm(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if out.is_empty() {
        return Err(DtlsError::NoUsableFingerprint);
    }
    Ok(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn format_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0x0f)] as char);
    }
    s
}

/// The process's DTLS identity: a self-signed ECDSA P-256 certificate and its key, generated once
/// at start-up and shared by every WebRTC transport (as mediasoup does per worker).
#[derive(Clone)]
pub struct DtlsCertificate {
    pub(crate) inner: dimpl::DtlsCertificate,
    sha256: Fingerprint,
}

impl DtlsCertificate {
    /// Generate a fresh self-signed ECDSA P-256 certificate (random 128-bit serial, one year of
    /// validity) through the DTLS library's own `rcgen` helper, so the key format is the one it
    /// loads.
    pub fn generate() -> Result<Self, DtlsError> {
        let inner = dimpl::certificate::generate_self_signed_certificate()
            .map_err(|e| DtlsError::Certificate(e.to_string()))?;
        Ok(Self::from_dimpl(inner))
    }

    /// Use an existing certificate and PKCS#8 private key, both DER. The key is only checked when
    /// a handshake first uses it.
    pub fn from_der(certificate: Vec<u8>, private_key: Vec<u8>) -> Self {
        Self::from_dimpl(dimpl::DtlsCertificate {
            certificate,
            private_key,
        })
    }

    fn from_dimpl(inner: dimpl::DtlsCertificate) -> Self {
        let sha256 = Fingerprint::of_certificate(FingerprintAlgorithm::Sha256, &inner.certificate);
        DtlsCertificate { inner, sha256 }
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.inner.certificate
    }

    /// The SHA-256 fingerprint.
    pub fn sha256(&self) -> &Fingerprint {
        &self.sha256
    }

    /// The SHA-256 fingerprint as signalled: `"AB:CD:…"`, upper-case.
    pub fn sha256_hex(&self) -> String {
        format_hex(&self.sha256.bytes)
    }

    /// Our `dtlsParameters` for `createWebRtcTransport`: role `auto`, SHA-256 only.
    pub fn local_parameters(&self) -> DtlsParameters {
        DtlsParameters {
            role: DtlsRole::Auto,
            fingerprints: vec![self.sha256.to_signalled()],
        }
    }
}

/// The private key stays out of logs.
impl std::fmt::Debug for DtlsCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsCertificate")
            .field("sha256", &self.sha256_hex())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signalled(algorithm: &str, value: &str) -> DtlsFingerprint {
        DtlsFingerprint {
            algorithm: algorithm.to_owned(),
            value: value.to_owned(),
        }
    }

    #[test]
    fn roles_are_taken_as_mediasoup_takes_them() {
        assert_eq!(DtlsSide::opposite_of(DtlsRole::Client), DtlsSide::Server);
        assert_eq!(DtlsSide::opposite_of(DtlsRole::Server), DtlsSide::Client);
        assert_eq!(DtlsSide::opposite_of(DtlsRole::Auto), DtlsSide::Client);
    }

    #[test]
    fn parameters_use_mediasoup_json_shapes() {
        let p: DtlsParameters = serde_json::from_str(
            r#"{"role":"client","fingerprints":[{"algorithm":"sha-256","value":"AA:BB"}]}"#,
        )
        .unwrap();
        assert_eq!(p.role, DtlsRole::Client);
        assert_eq!(p.fingerprints[0].algorithm, "sha-256");
        let p: DtlsParameters = serde_json::from_str(r#"{"fingerprints":[]}"#).unwrap();
        assert_eq!(p.role, DtlsRole::Auto);
        let json = serde_json::to_value(DtlsRole::Server).unwrap();
        assert_eq!(json, serde_json::json!("server"));
    }

    #[test]
    fn certificate_fingerprint_is_upper_case_colon_hex_of_sha256() {
        let cert = DtlsCertificate::generate().unwrap();
        let hex = cert.sha256_hex();
        assert_eq!(hex.len(), 32 * 3 - 1);
        assert!(
            hex.bytes()
                .all(|c| c == b':' || c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        let expected = digest::digest(&digest::SHA256, cert.certificate_der());
        let parsed = Fingerprint::parse(&signalled("sha-256", &hex)).unwrap();
        assert_eq!(parsed.bytes, expected.as_ref());
        let params = cert.local_parameters();
        assert_eq!(params.role, DtlsRole::Auto);
        assert_eq!(params.fingerprints, vec![signalled("sha-256", &hex)]);
    }

    #[test]
    fn fingerprints_compare_case_insensitively_in_every_algorithm() {
        let cert = DtlsCertificate::generate().unwrap();
        let der = cert.certificate_der();
        for alg in [
            FingerprintAlgorithm::Sha1,
            FingerprintAlgorithm::Sha224,
            FingerprintAlgorithm::Sha256,
            FingerprintAlgorithm::Sha384,
            FingerprintAlgorithm::Sha512,
        ] {
            let upper = Fingerprint::of_certificate(alg, der).to_signalled();
            let lower = signalled(&alg.name().to_uppercase(), &upper.value.to_lowercase());
            assert!(Fingerprint::parse(&upper).unwrap().matches(der), "{alg:?}");
            assert!(Fingerprint::parse(&lower).unwrap().matches(der), "{alg:?}");
            let other = DtlsCertificate::generate().unwrap();
            assert!(
                !Fingerprint::parse(&upper)
                    .unwrap()
                    .matches(other.certificate_der())
            );
        }
    }

    #[test]
    fn malformed_fingerprints_are_rejected() {
        let good = "AB:".repeat(31) + "AB";
        assert!(Fingerprint::parse(&signalled("sha-256", &good)).is_ok());
        for bad in [
            "",
            "AB",                    // too short
            &(good.clone() + ":AB"), // too long
            &good.replace(':', ""),  // no separators
            &good.replacen("AB", "G1", 1),
            &good.replacen("AB", "A", 1),
            &good.replacen("AB", "ABC", 1),
            &(good.clone() + ":"),
            &good.replacen("AB", "é", 1),
        ] {
            assert!(
                matches!(
                    Fingerprint::parse(&signalled("sha-256", bad)),
                    Err(DtlsError::InvalidFingerprint(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Fingerprint::parse(&signalled("md5", &good)),
            Err(DtlsError::UnsupportedFingerprintAlgorithm(_))
        ));
    }

    #[test]
    fn remote_list_skips_unknown_algorithms_but_needs_one_usable() {
        let good = signalled("sha-256", &("00:".repeat(31) + "00"));
        let unknown = signalled("md5", "00");
        let parsed = parse_remote_fingerprints(&[unknown.clone(), good]).unwrap();
        assert_eq!(parsed.len(), 1);
        assert!(matches!(
            parse_remote_fingerprints(&[unknown]),
            Err(DtlsError::NoUsableFingerprint)
        ));
        assert!(matches!(
            parse_remote_fingerprints(&[]),
            Err(DtlsError::NoUsableFingerprint)
        ));
        assert!(matches!(
            parse_remote_fingerprints(&[signalled("sha-256", "zz")]),
            Err(DtlsError::InvalidFingerprint(_))
        ));
    }
}
