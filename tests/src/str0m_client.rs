//! A WebRTC endpoint from `str0m` (algesten/str0m, sans-IO), independent of everything in Sluice,
//! driven by Sluice's mediasoup-shaped JSON instead of SDP.
//!
//! Sluice answers `POST /v1/routers/{id}/webrtc-transports` with ICE-lite parameters, one host
//! candidate and the SHA-256 fingerprint of its certificate (DESIGN.md §4). A browser behind
//! mediasoup-client turns those into a remote SDP; here the same facts go straight into str0m's
//! direct API, which is what an SDP answer would have set:
//!
//! - ICE (RFC 8445): we are the controlling agent, because Sluice is ICE-lite (§2.5) and a lite
//!   agent is always controlled; the remote credentials are `iceParameters`, the remote
//!   candidate is `iceCandidates[0]` (UDP, type host).
//! - DTLS (RFC 5763 §5, RFC 8842): Sluice's role is `auto`, so by default we take the client
//!   role (str0m "active") and say `role: "client"` in our `connect`, as mediasoup-client does;
//!   [`DtlsSide::Server`] takes the other end and says `role: "server"`, and Sluice must then
//!   start the handshake. The certificate Sluice presents must hash to the fingerprint it
//!   announced, and Sluice checks ours against what we send in `connect`.
//! - SRTP (RFC 3711, RFC 7714): str0m derives its keys from the handshake (RFC 5764 §4.2) and
//!   protects and unprotects every packet itself, so what [`Str0mClient::received`] holds was
//!   decrypted by str0m, not by us.
//! - RTP: str0m runs in RTP mode (`set_rtp_mode`): we write whole RTP payloads per SSRC and get
//!   whole payloads back per packet, with no depacketising in between, so a test can compare the
//!   bytes it sent with the bytes that arrived.
//!
//! The client owns one `str0m::Rtc` and one UDP socket on 127.0.0.1, and is pumped by the test
//! (`poll_output` until `Output::Timeout`, then a bounded wait on the socket). str0m never reads
//! the clock; we hand it real `Instant`s, which is fine for a test against a real binary. Waits
//! are bounded (see [`crate::WAIT`]); nothing here asserts how long anything took.

use std::fmt;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use str0m::format::{Codec, FormatParams};
use str0m::media::{
    Frequency, KeyframeRequest, KeyframeRequestKind, MediaKind, Mid, Pt, SenderFeedback,
};
use str0m::net::{Protocol, Receive};
use str0m::rtp::rtcp::Rtcp;
use str0m::rtp::{Extension, ExtensionMap, RawPacket, RtpPacket, RtpWrite, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

/// What went wrong in a client.
#[derive(Debug)]
pub enum ClientError {
    /// Sluice's JSON lacks a field or has one we cannot use.
    Shape(String),
    /// str0m refused an input or failed.
    Rtc(String),
    /// The socket failed.
    Io(std::io::Error),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Shape(m) => write!(f, "unusable JSON from Sluice: {m}"),
            ClientError::Rtc(m) => write!(f, "str0m: {m}"),
            ClientError::Io(e) => write!(f, "socket: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

fn shape(what: impl Into<String>) -> ClientError {
    ClientError::Shape(what.into())
}

fn rtc_err(e: impl fmt::Display) -> ClientError {
    ClientError::Rtc(e.to_string())
}

/// The header extensions both sides of these tests may use, as str0m names them.
const EXTENSIONS: [Extension; 4] = [
    Extension::RtpMid,
    Extension::AudioLevel,
    Extension::AbsoluteSendTime,
    Extension::TransportSequenceNumber,
];

/// A publisher's configuration: str0m's own payload types for Opus and VP8 (with RTX) and
/// str0m's own header-extension ids (Chrome's), which differ from the router's, so that Sluice
/// has to map both on the way through.
pub fn publisher_config() -> RtcConfig {
    let mut exts = ExtensionMap::empty();
    for (id, e) in ExtensionMap::standard().iter() {
        if EXTENSIONS.contains(e) {
            exts.set(id, e.clone());
        }
    }
    Rtc::builder()
        .set_rtp_mode(true)
        // For the RTCP that arrives (Sluice's receiver reports), see `reports_about`.
        .enable_raw_packets(true)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .set_extension_map(exts)
}

/// A subscriber's configuration from the router's `rtpCapabilities`, as mediasoup-client's
/// receiving side is: Opus, VP8 and VP8's RTX on the router's preferred payload types, and the
/// router's preferred header-extension ids. Pair it with [`consumer_capabilities`].
pub fn subscriber_config(router_caps: &Value) -> Result<RtcConfig, ClientError> {
    let mut cfg = Rtc::builder().set_rtp_mode(true).clear_codecs();
    let opus = router_codec(router_caps, "audio/opus", None)?;
    let vp8 = router_codec(router_caps, "video/VP8", None)?;
    let rtx = router_codec(router_caps, "video/rtx", Some(vp8.1)).ok();
    let opus_fmtp = FormatParams {
        min_p_time: Some(10),
        use_inband_fec: Some(true),
        ..Default::default()
    };
    let config = cfg.codec_config();
    config.add_config(
        opus.1.into(),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        opus_fmtp,
    );
    config.add_config(
        vp8.1.into(),
        rtx.map(|r| r.1.into()),
        Codec::Vp8,
        Frequency::NINETY_KHZ,
        None,
        FormatParams::default(),
    );
    let mut exts = ExtensionMap::empty();
    for e in EXTENSIONS {
        if let Some(id) = router_extension_id(router_caps, e.as_uri()) {
            exts.set(id, e);
        }
    }
    Ok(cfg.set_extension_map(exts))
}

/// The `rtpCapabilities` a subscriber configured by [`subscriber_config`] sends with a consume:
/// the router's Opus, VP8 and RTX entries and the header extensions str0m was given, unchanged.
pub fn consumer_capabilities(router_caps: &Value) -> Result<Value, ClientError> {
    let codecs = ["audio/opus", "video/VP8"]
        .iter()
        .map(|m| router_codec(router_caps, m, None).map(|c| c.0))
        .collect::<Result<Vec<_>, _>>()?;
    let vp8_pt = router_codec(router_caps, "video/VP8", None)?.1;
    let mut codecs = codecs;
    if let Ok((rtx, _)) = router_codec(router_caps, "video/rtx", Some(vp8_pt)) {
        codecs.push(rtx);
    }
    let uris: Vec<&str> = EXTENSIONS.iter().map(|e| e.as_uri()).collect();
    let exts: Vec<Value> = router_caps["headerExtensions"]
        .as_array()
        .ok_or_else(|| shape("rtpCapabilities.headerExtensions"))?
        .iter()
        .filter(|h| h["uri"].as_str().is_some_and(|u| uris.contains(&u)))
        .cloned()
        .collect();
    Ok(json!({ "codecs": codecs, "headerExtensions": exts }))
}

/// The router's codec entry with `mime` (for RTX: the one whose `apt` is `apt`) and its
/// preferred payload type.
fn router_codec(caps: &Value, mime: &str, apt: Option<u8>) -> Result<(Value, u8), ClientError> {
    let codecs = caps["codecs"]
        .as_array()
        .ok_or_else(|| shape("rtpCapabilities.codecs"))?;
    let c = codecs
        .iter()
        .find(|c| {
            c["mimeType"]
                .as_str()
                .is_some_and(|m| m.eq_ignore_ascii_case(mime))
                && apt.is_none_or(|a| c["parameters"]["apt"].as_u64() == Some(u64::from(a)))
        })
        .ok_or_else(|| shape(format!("no {mime} in the router's rtpCapabilities")))?;
    let pt = c["preferredPayloadType"]
        .as_u64()
        .and_then(|p| u8::try_from(p).ok())
        .ok_or_else(|| shape(format!("{mime}.preferredPayloadType")))?;
    Ok((c.clone(), pt))
}

fn router_extension_id(caps: &Value, uri: &str) -> Option<u8> {
    caps["headerExtensions"]
        .as_array()?
        .iter()
        .find(|h| h["uri"] == uri)
        .and_then(|h| h["preferredId"].as_u64())
        .and_then(|id| u8::try_from(id).ok())
}

/// Which end of the DTLS handshake str0m takes (RFC 5763 §5: `active` starts it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsSide {
    /// str0m sends the ClientHello; our `connect` says `role: "client"` (what mediasoup-client
    /// does against a server whose role is `auto`).
    Client,
    /// str0m waits for Sluice's ClientHello; our `connect` says `role: "server"`.
    Server,
}

/// One str0m peer connection to one Sluice WebRTC transport.
pub struct Str0mClient {
    rtc: Rtc,
    sock: UdpSocket,
    local: SocketAddr,
    server: SocketAddr,
    exts: ExtensionMap,
    side: DtlsSide,
    connected: bool,
    ice: IceConnectionState,
    received: Vec<RtpPacket>,
    keyframe_requests: Vec<KeyframeRequest>,
    sender_reports: Vec<SenderFeedback>,
    /// SSRCs named by the reception report blocks (RFC 3550 §6.4) of incoming SRs and RRs.
    reported: Vec<u32>,
}

impl Str0mClient {
    /// A client for the transport Sluice answered with `transport` (the JSON of
    /// `POST /v1/routers/{id}/webrtc-transports`), DTLS client. ICE and DTLS start at once:
    /// checks go out on the first pump, and the ClientHello as soon as a check is answered, so
    /// send [`Str0mClient::dtls_parameters`] to `connect` before pumping.
    pub fn new(transport: &Value, config: RtcConfig) -> Result<Self, ClientError> {
        Self::with_dtls_side(transport, config, DtlsSide::Client)
    }

    /// [`Str0mClient::new`] with the DTLS end chosen.
    pub fn with_dtls_side(
        transport: &Value,
        mut config: RtcConfig,
        side: DtlsSide,
    ) -> Result<Self, ClientError> {
        let ice = &transport["iceParameters"];
        let ufrag = ice["usernameFragment"]
            .as_str()
            .ok_or_else(|| shape("iceParameters.usernameFragment"))?;
        let pass = ice["password"]
            .as_str()
            .ok_or_else(|| shape("iceParameters.password"))?;
        let cand = transport["iceCandidates"]
            .as_array()
            .and_then(|c| {
                c.iter()
                    .find(|c| c["protocol"] == "udp" && c["type"] == "host")
            })
            .ok_or_else(|| shape("no UDP host candidate in iceCandidates"))?;
        let ip = cand["ip"]
            .as_str()
            .or_else(|| cand["address"].as_str())
            .ok_or_else(|| shape("iceCandidates[].ip"))?;
        let port = cand["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| shape("iceCandidates[].port"))?;
        let server = SocketAddr::new(
            ip.parse()
                .map_err(|_| shape(format!("candidate ip {ip:?}")))?,
            port,
        );
        let fingerprint = transport["dtlsParameters"]["fingerprints"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["algorithm"] == "sha-256"))
            .and_then(|f| f["value"].as_str())
            .ok_or_else(|| shape("no sha-256 in dtlsParameters.fingerprints"))?;
        let fingerprint = format!("sha-256 {fingerprint}")
            .parse()
            .map_err(|e: String| shape(format!("fingerprint: {e}")))?;

        let sock = UdpSocket::bind("127.0.0.1:0")?;
        let local = sock.local_addr()?;
        let exts = config.extension_map().clone();
        let mut rtc = config.build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").map_err(rtc_err)?);
        rtc.add_remote_candidate(Candidate::host(server, "udp").map_err(rtc_err)?);
        let mut api = rtc.direct_api();
        api.set_ice_lite(false);
        api.set_ice_controlling(true);
        api.set_remote_ice_credentials(str0m::IceCreds {
            ufrag: ufrag.to_owned(),
            pass: pass.to_owned(),
        });
        api.set_remote_fingerprint(fingerprint);
        api.start_dtls(side == DtlsSide::Client).map_err(rtc_err)?;
        Ok(Self {
            rtc,
            sock,
            local,
            server,
            exts,
            side,
            connected: false,
            ice: IceConnectionState::New,
            received: Vec::new(),
            keyframe_requests: Vec::new(),
            sender_reports: Vec::new(),
            reported: Vec::new(),
        })
    }

    /// Our `dtlsParameters` for `POST /v1/transports/{id}/connect`: our role (`client` when we
    /// start the handshake) and the SHA-256 fingerprint of str0m's certificate.
    pub fn dtls_parameters(&mut self) -> Value {
        let fp = self.rtc.direct_api().local_dtls_fingerprint().clone();
        let role = match self.side {
            DtlsSide::Client => "client",
            DtlsSide::Server => "server",
        };
        json!({
            "role": role,
            "fingerprints": [{ "algorithm": fp.hash_func, "value": hex_colons(&fp.bytes) }]
        })
    }

    /// The local UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sluice's candidate.
    pub fn server_addr(&self) -> SocketAddr {
        self.server
    }

    /// DTLS completed and SRTP is keyed (str0m's `Event::Connected`).
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The negotiated DTLS version (once connected).
    pub fn dtls_version(&mut self) -> Option<str0m::crypto::dtls::ProtocolVersion> {
        self.rtc.direct_api().dtls_protocol_version()
    }

    /// The last ICE state str0m reported.
    pub fn ice_state(&self) -> IceConnectionState {
        self.ice
    }

    /// Every RTP packet str0m received and decrypted, in arrival order.
    pub fn received(&self) -> &[RtpPacket] {
        &self.received
    }

    /// Keyframe requests (PLI, FIR) that reached this client's send streams.
    pub fn keyframe_requests(&self) -> &[KeyframeRequest] {
        &self.keyframe_requests
    }

    /// Sender reports (RFC 3550 §6.4.1) that arrived for this client's receive streams.
    pub fn sender_reports(&self) -> &[SenderFeedback] {
        &self.sender_reports
    }

    /// How many reception report blocks (in SRs or RRs) arrived about our stream `ssrc`; counted
    /// only with `enable_raw_packets`, as [`publisher_config`] sets.
    pub fn reports_about(&self, ssrc: u32) -> usize {
        self.reported.iter().filter(|&&s| s == ssrc).count()
    }

    /// The payload type str0m's codec config has for `codec`, and its RTX payload type.
    pub fn payload_type(&self, codec: Codec) -> Option<(Pt, Option<Pt>)> {
        self.rtc
            .codec_config()
            .iter()
            .find(|p| p.spec().codec == codec)
            .map(|p| (p.pt(), p.resend()))
    }

    /// Declares a send stream `ssrc` in a new media `mid`.
    pub fn declare_send(&mut self, mid: &str, kind: MediaKind, ssrc: u32) {
        let mut api = self.rtc.direct_api();
        api.declare_media(Mid::from(mid), kind);
        api.declare_stream_tx(Ssrc::from(ssrc), None, Mid::from(mid), None);
    }

    /// Declares a receive stream `ssrc` (and its RTX SSRC) in a new media `mid`.
    pub fn expect_receive(&mut self, mid: &str, kind: MediaKind, ssrc: u32, rtx: Option<u32>) {
        let mut api = self.rtc.direct_api();
        api.declare_media(Mid::from(mid), kind);
        api.expect_stream_rx(Ssrc::from(ssrc), rtx.map(Ssrc::from), Mid::from(mid), None);
    }

    /// mediasoup `rtpParameters` for a producer of the stream declared with
    /// [`Str0mClient::declare_send`]: `codec`'s entry from str0m's codec config and the header
    /// extensions str0m writes for `kind`, with str0m's ids.
    pub fn producer_parameters(
        &self,
        mid: &str,
        kind: MediaKind,
        codec: Codec,
        ssrc: u32,
    ) -> Result<Value, ClientError> {
        let p = self
            .rtc
            .codec_config()
            .iter()
            .find(|p| p.spec().codec == codec)
            .ok_or_else(|| shape(format!("{codec:?} not configured")))?;
        let spec = p.spec();
        let mime = match codec {
            Codec::Opus => "audio/opus",
            Codec::Vp8 => "video/VP8",
            other => return Err(shape(format!("{other:?} is not used here"))),
        };
        let mut c = json!({
            "mimeType": mime,
            "payloadType": *p.pt(),
            "clockRate": spec.clock_rate.get(),
            "parameters": {},
            "rtcpFeedback": []
        });
        if let Some(ch) = spec.channels {
            c["channels"] = json!(ch);
        }
        let audio = matches!(kind, MediaKind::Audio);
        let exts: Vec<Value> = self
            .exts
            .iter_by_media_type(audio)
            .map(|(id, e)| json!({ "uri": e.as_uri(), "id": id, "encrypt": false, "parameters": {} }))
            .collect();
        Ok(json!({
            "mid": mid,
            "codecs": [c],
            "headerExtensions": exts,
            "encodings": [{ "ssrc": ssrc }],
            "rtcp": { "cname": "str0m", "reducedSize": true, "mux": true }
        }))
    }

    /// Writes one RTP packet on send stream `ssrc`; str0m adds the header extensions (mid, …)
    /// and protects it with SRTP when it goes out on the next pump.
    pub fn write_rtp(
        &mut self,
        ssrc: u32,
        pt: Pt,
        seq: u64,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), ClientError> {
        let mut api = self.rtc.direct_api();
        let stream = api
            .stream_tx(&Ssrc::from(ssrc))
            .ok_or_else(|| rtc_err(format!("no send stream {ssrc}")))?;
        stream.write_rtp(
            RtpWrite::new(pt, seq.into(), timestamp, Instant::now(), payload.to_vec())
                .marker(marker),
        );
        Ok(())
    }

    /// Asks the sender of receive stream `ssrc` for a key frame (str0m sends a PLI).
    pub fn request_keyframe(&mut self, ssrc: u32) -> Result<(), ClientError> {
        let mut api = self.rtc.direct_api();
        let stream = api
            .stream_rx(&Ssrc::from(ssrc))
            .ok_or_else(|| rtc_err(format!("no receive stream {ssrc}")))?;
        stream.request_keyframe(KeyframeRequestKind::Pli);
        Ok(())
    }

    /// Runs str0m for about `slice`: sends what it has to send, feeds it what arrives on the
    /// socket and its timeouts.
    pub fn pump(&mut self, slice: Duration) -> Result<(), ClientError> {
        let end = Instant::now() + slice;
        let mut buf = vec![0u8; 2000];
        loop {
            let next = self.drain()?;
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            let wait = next
                .saturating_duration_since(now)
                .min(end - now)
                .max(Duration::from_millis(1));
            self.sock.set_read_timeout(Some(wait))?;
            match self.sock.recv_from(&mut buf) {
                Ok((n, source)) => {
                    // What str0m cannot classify (not STUN, DTLS, RTP or RTCP) is not for it.
                    let Ok(recv) = Receive::new(Protocol::Udp, source, self.local, &buf[..n])
                    else {
                        continue;
                    };
                    self.rtc
                        .handle_input(Input::Receive(Instant::now(), recv))
                        .map_err(rtc_err)?;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    self.rtc
                        .handle_input(Input::Timeout(Instant::now()))
                        .map_err(rtc_err)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `poll_output` until str0m asks for a timeout; returns when.
    fn drain(&mut self) -> Result<Instant, ClientError> {
        loop {
            match self.rtc.poll_output().map_err(rtc_err)? {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    self.sock.send_to(&t.contents, t.destination)?;
                }
                Output::Event(e) => match e {
                    Event::Connected => self.connected = true,
                    Event::IceConnectionStateChange(s) => self.ice = s,
                    Event::RtpPacket(p) => self.received.push(p),
                    Event::KeyframeRequest(k) => self.keyframe_requests.push(k),
                    Event::SenderFeedback(f) => self.sender_reports.push(f),
                    Event::RawPacket(raw) => {
                        if let RawPacket::RtcpRx(rtcp) = *raw {
                            let blocks = match &rtcp {
                                Rtcp::ReceiverReport(rr) => rr.reports.iter().collect(),
                                Rtcp::SenderReport(sr) => sr.reports.iter().collect(),
                                _ => Vec::new(),
                            };
                            self.reported.extend(blocks.iter().map(|b| *b.ssrc));
                        }
                    }
                    _ => {}
                },
            }
        }
    }
}

/// Pumps every client in turn until `done` holds, at most [`crate::WAIT`]; whether it held.
pub fn pump_until(
    clients: &mut [&mut Str0mClient],
    mut done: impl FnMut(&[&mut Str0mClient]) -> bool,
) -> Result<bool, ClientError> {
    let end = Instant::now() + crate::WAIT;
    loop {
        if done(clients) {
            return Ok(true);
        }
        if Instant::now() > end {
            return Ok(false);
        }
        for c in clients.iter_mut() {
            c.pump(Duration::from_millis(2))?;
        }
    }
}

/// `AB:CD:…`, as `dtlsParameters.fingerprints[].value` writes a digest.
fn hex_colons(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
