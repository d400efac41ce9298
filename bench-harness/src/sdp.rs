//! The little SDP the Janus target needs (RFC 8866 syntax, JSEP RFC 8829 usage): the offer a
//! publishing browser makes for one track, the answer a subscribing browser makes to Janus's
//! offer, and a reader for what Janus writes.
//!
//! Janus's videoroom speaks SDP, not mediasoup's JSON parameters, so the harness plays both
//! browser roles itself:
//!
//! - **Publisher**: one `sendonly` m-section (Opus or VP8) with the SSRC the load thread sends
//!   with, `a=setup:actpass` (RFC 5763 §5: the offerer must offer actpass), ICE credentials whose
//!   ufrag is the client's own (`rtc_client::local_ufrag`), our certificate's fingerprint and our
//!   one host candidate (no trickle: `a=end-of-candidates`, RFC 8838 §4.1). Janus answers
//!   `a=setup:active`, so the harness is the DTLS *server* of a publisher's PeerConnection.
//! - **Subscriber**: Janus 1.x offers one m-section per subscribed stream, all BUNDLEd (RFC 9143)
//!   on one transport, each with a mid and the SSRC Janus sends that stream with. The answer
//!   takes every m-section `recvonly` with its first payload type, no header extensions and no
//!   RTX (so the packets carry only what the stamp reader expects), and `a=setup:active`: the
//!   harness is the DTLS *client* of a subscriber's PeerConnection.
//!
//! Janus is ICE-lite here (`peers/janus/start.sh`), as Sluice and mediasoup are: the harness
//! is the controlling agent and its Binding requests are all the ICE there is.

use std::fmt::Write;
use std::net::SocketAddr;

use sluice_engine::crypto::dtls::DtlsFingerprint;

/// One m-section as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    /// `audio` or `video`.
    pub kind: String,
    pub port: u16,
    pub mid: Option<String>,
    /// Payload types of the m-line, in order.
    pub payload_types: Vec<u8>,
    /// `a=rtpmap` per payload type: (pt, "opus/48000/2").
    pub rtpmaps: Vec<(u8, String)>,
    /// The media SSRC: the first of an `a=ssrc-group:FID` (the other is RTX), else the first
    /// `a=ssrc`.
    pub ssrc: Option<u32>,
    /// `sendonly`, `recvonly`, `sendrecv` or `inactive` (`sendrecv` when absent, RFC 8866 §6.7).
    pub direction: String,
}

/// What the harness needs from Janus's offer or answer. Session-level ICE and DTLS attributes
/// apply to every section (RFC 8839 §5.4, RFC 8122 §5); where they are per section, the first
/// section's count (BUNDLE: one transport).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Description {
    pub ufrag: Option<String>,
    pub pwd: Option<String>,
    pub fingerprints: Vec<DtlsFingerprint>,
    /// `actpass`, `active` or `passive`.
    pub setup: Option<String>,
    pub ice_lite: bool,
    /// The first component-1 UDP candidate.
    pub candidate: Option<SocketAddr>,
    pub sections: Vec<Section>,
}

/// Reads an SDP. Unknown lines are skipped; `None` only when there is no `v=` line.
pub fn parse(sdp: &str) -> Option<Description> {
    let mut d = Description::default();
    let mut seen_v = false;
    for line in sdp.lines().map(str::trim_end) {
        if line == "v=0" {
            seen_v = true;
        }
        if let Some(m) = line.strip_prefix("m=") {
            let mut w = m.split_ascii_whitespace();
            let kind = w.next().unwrap_or_default().to_string();
            let port = w.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let _proto = w.next();
            d.sections.push(Section {
                kind,
                port,
                payload_types: w.filter_map(|p| p.parse().ok()).collect(),
                direction: "sendrecv".into(),
                ..Section::default()
            });
            continue;
        }
        let Some(attr) = line.strip_prefix("a=") else {
            continue;
        };
        let (name, value) = attr.split_once(':').unwrap_or((attr, ""));
        let sec = d.sections.last_mut();
        match name {
            "ice-ufrag" if d.ufrag.is_none() => d.ufrag = Some(value.to_string()),
            "ice-pwd" if d.pwd.is_none() => d.pwd = Some(value.to_string()),
            "ice-lite" => d.ice_lite = true,
            "setup" if d.setup.is_none() => d.setup = Some(value.to_string()),
            "fingerprint" => {
                if let Some((alg, fp)) = value.split_once(' ')
                    && !d.fingerprints.iter().any(|f| f.value == fp.trim())
                {
                    d.fingerprints.push(DtlsFingerprint {
                        algorithm: alg.to_ascii_lowercase(),
                        value: fp.trim().to_string(),
                    });
                }
            }
            "candidate" if d.candidate.is_none() => d.candidate = parse_candidate(value),
            "mid" => {
                if let Some(s) = sec {
                    s.mid = Some(value.to_string());
                }
            }
            "rtpmap" => {
                if let (Some(s), Some((pt, enc))) = (sec, value.split_once(' '))
                    && let Ok(pt) = pt.parse()
                {
                    s.rtpmaps.push((pt, enc.to_string()));
                }
            }
            "ssrc-group" => {
                if let (Some(s), Some(rest)) = (sec, value.strip_prefix("FID "))
                    && let Some(first) = rest.split_ascii_whitespace().next()
                {
                    s.ssrc = first.parse().ok().or(s.ssrc);
                }
            }
            "ssrc" => {
                if let Some(s) = sec
                    && s.ssrc.is_none()
                {
                    s.ssrc = value.split(' ').next().and_then(|v| v.parse().ok());
                }
            }
            "sendonly" | "recvonly" | "sendrecv" | "inactive" => {
                if let Some(s) = sec {
                    s.direction = name.to_string();
                }
            }
            _ => {}
        }
    }
    seen_v.then_some(d)
}

/// `foundation component transport priority address port typ host …` (RFC 8839 §5.1): the
/// address of a component-1 UDP candidate.
fn parse_candidate(v: &str) -> Option<SocketAddr> {
    let w: Vec<&str> = v.split_ascii_whitespace().collect();
    if w.len() < 6 || w[1] != "1" || !w[2].eq_ignore_ascii_case("udp") {
        return None;
    }
    Some(SocketAddr::new(w[4].parse().ok()?, w[5].parse().ok()?))
}

/// Our side of a PeerConnection: ICE credentials, certificate fingerprint, host candidate.
#[derive(Clone, Debug)]
pub struct Local {
    pub ufrag: String,
    pub pwd: String,
    pub fingerprint: DtlsFingerprint,
    pub candidate: SocketAddr,
    /// The `o=` session id.
    pub session_id: u64,
}

fn session_head(s: &mut String, l: &Local, mids: &[&str]) {
    let _ = write!(
        s,
        "v=0\r\no=- {} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE {}\r\n\
         a=msid-semantic: WMS bench\r\n",
        l.session_id,
        mids.join(" ")
    );
}

fn transport_lines(s: &mut String, l: &Local, setup: &str, with_candidate: bool) {
    let _ = write!(
        s,
        "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:{}\r\na=ice-pwd:{}\r\n\
         a=fingerprint:{} {}\r\na=setup:{setup}\r\n",
        l.ufrag, l.pwd, l.fingerprint.algorithm, l.fingerprint.value
    );
    if with_candidate {
        let _ = write!(
            s,
            "a=candidate:1 1 udp 2122260223 {} {} typ host\r\na=end-of-candidates\r\n",
            l.candidate.ip(),
            l.candidate.port()
        );
    }
}

/// What a publisher sends.
#[derive(Clone, Copy, Debug)]
pub struct Track {
    pub video: bool,
    pub payload_type: u8,
    pub ssrc: u32,
}

/// A publisher's offer for one `sendonly` track (mid `0`).
pub fn publisher_offer(l: &Local, t: Track) -> String {
    let mut s = String::new();
    session_head(&mut s, l, &["0"]);
    let pt = t.payload_type;
    let (kind, rtpmap) = if t.video {
        ("video", format!("a=rtpmap:{pt} VP8/90000\r\n"))
    } else {
        (
            "audio",
            format!("a=rtpmap:{pt} opus/48000/2\r\na=fmtp:{pt} minptime=10;useinbandfec=1\r\n"),
        )
    };
    let _ = write!(s, "m={kind} 9 UDP/TLS/RTP/SAVPF {pt}\r\n");
    transport_lines(&mut s, l, "actpass", true);
    let _ = write!(
        s,
        "a=mid:0\r\na=sendonly\r\na=msid:bench {kind}0\r\na=rtcp-mux\r\n{rtpmap}\
         a=ssrc:{} cname:bench\r\n",
        t.ssrc
    );
    s
}

/// The answer to Janus's subscriber offer: every live section `recvonly` with its first payload
/// type; rejected sections (port 0) stay rejected (RFC 8829 §5.3.1).
pub fn subscriber_answer(l: &Local, offer: &Description) -> String {
    let mids: Vec<&str> = offer
        .sections
        .iter()
        .filter(|s| s.port != 0)
        .filter_map(|s| s.mid.as_deref())
        .collect();
    let mut s = String::new();
    session_head(&mut s, l, &mids);
    let mut first = true;
    for sec in &offer.sections {
        let mid = sec.mid.as_deref().unwrap_or("");
        let Some(&pt) = sec.payload_types.first() else {
            continue;
        };
        if sec.port == 0 {
            let _ = write!(
                s,
                "m={} 0 UDP/TLS/RTP/SAVPF {pt}\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\na=inactive\r\n",
                sec.kind
            );
            continue;
        }
        let _ = write!(s, "m={} 9 UDP/TLS/RTP/SAVPF {pt}\r\n", sec.kind);
        transport_lines(&mut s, l, "active", first);
        first = false;
        let dir = if sec.direction == "sendonly" {
            "recvonly"
        } else {
            "inactive"
        };
        let _ = write!(s, "a=mid:{mid}\r\na={dir}\r\na=rtcp-mux\r\n");
        if let Some((_, enc)) = sec.rtpmaps.iter().find(|(p, _)| *p == pt) {
            let _ = write!(s, "a=rtpmap:{pt} {enc}\r\n");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Local {
        Local {
            ufrag: "bench000007".into(),
            pwd: "0123456789abcdef0123456789abcdef".into(),
            fingerprint: DtlsFingerprint {
                algorithm: "sha-256".into(),
                value: "AA:BB:CC".into(),
            },
            candidate: "10.77.77.1:40000".parse().unwrap(),
            session_id: 42,
        }
    }

    /// Janus 1.1.2's answer to a publisher (trimmed from a real one: `smoke.py`).
    const JANUS_ANSWER: &str = "v=0\r\no=- 1733 1733 IN IP4 10.77.77.1\r\ns=VideoRoom 5\r\n\
        t=0 0\r\na=group:BUNDLE 0\r\na=ice-options:trickle\r\n\
        a=fingerprint:sha-256 D2:B9:31\r\na=ice-lite\r\na=msid-semantic: WMS *\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 10.77.77.1\r\na=recvonly\r\na=mid:0\r\n\
        a=rtcp-mux\r\na=ice-ufrag:Qm4x\r\na=ice-pwd:pw7sE2\r\na=ice-options:trickle\r\n\
        a=setup:active\r\na=rtpmap:111 opus/48000/2\r\n\
        a=candidate:1 1 udp 2015363327 10.77.77.1 20123 typ host\r\na=end-of-candidates\r\n";

    /// Janus's subscriber offer for two feeds (audio and video), VP8 with RTX.
    const JANUS_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.77.77.1\r\ns=VideoRoom 5\r\nt=0 0\r\n\
        a=group:BUNDLE 0 1 2\r\na=fingerprint:sha-256 D2:B9:31\r\na=ice-lite\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 10.77.77.1\r\na=sendonly\r\na=mid:0\r\n\
        a=rtcp-mux\r\na=ice-ufrag:Ab\r\na=ice-pwd:Cd\r\na=setup:actpass\r\n\
        a=rtpmap:111 opus/48000/2\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
        a=ssrc:1111 cname:janus\r\n\
        a=candidate:1 1 udp 2015363327 10.77.77.1 20200 typ host\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 10.77.77.1\r\na=sendonly\r\na=mid:1\r\n\
        a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
        a=ssrc-group:FID 2222 3333\r\na=ssrc:3333 cname:janus\r\na=ssrc:2222 cname:janus\r\n\
        m=audio 0 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\na=mid:2\r\n";

    #[test]
    fn reads_janus_answer_credentials_candidate_and_role() {
        let d = parse(JANUS_ANSWER).unwrap();
        assert_eq!(d.ufrag.as_deref(), Some("Qm4x"));
        assert_eq!(d.pwd.as_deref(), Some("pw7sE2"));
        assert_eq!(d.setup.as_deref(), Some("active"));
        assert!(d.ice_lite);
        assert_eq!(d.candidate, Some("10.77.77.1:20123".parse().unwrap()));
        assert_eq!(d.fingerprints.len(), 1);
        assert_eq!(d.fingerprints[0].algorithm, "sha-256");
        assert_eq!(d.fingerprints[0].value, "D2:B9:31");
        assert_eq!(d.sections.len(), 1);
        assert_eq!(d.sections[0].direction, "recvonly");
        assert_eq!(parse("no sdp"), None);
    }

    #[test]
    fn reads_subscriber_sections_with_the_media_ssrc_not_rtx() {
        let d = parse(JANUS_OFFER).unwrap();
        assert_eq!(d.sections.len(), 3);
        let (a, v, dead) = (&d.sections[0], &d.sections[1], &d.sections[2]);
        assert_eq!(
            (a.kind.as_str(), a.mid.as_deref(), a.ssrc),
            ("audio", Some("0"), Some(1111))
        );
        assert_eq!(
            (v.kind.as_str(), v.mid.as_deref(), v.ssrc),
            ("video", Some("1"), Some(2222))
        );
        assert_eq!(v.payload_types, vec![96, 97]);
        assert_eq!(dead.port, 0);
        assert_eq!(d.setup.as_deref(), Some("actpass"));
    }

    #[test]
    fn candidates_of_other_components_or_tcp_are_skipped() {
        assert_eq!(parse_candidate("1 2 udp 1 10.0.0.1 5 typ host"), None);
        assert_eq!(parse_candidate("1 1 tcp 1 10.0.0.1 5 typ host"), None);
        assert_eq!(
            parse_candidate("1 1 UDP 1 10.0.0.1 5"),
            Some("10.0.0.1:5".parse().unwrap())
        );
        assert_eq!(parse_candidate("1 1 udp"), None);
    }

    #[test]
    fn publisher_offer_is_actpass_sendonly_with_our_ssrc_and_candidate() {
        let o = publisher_offer(
            &local(),
            Track {
                video: false,
                payload_type: 111,
                ssrc: 0x5300_0001,
            },
        );
        let d = parse(&o).unwrap();
        assert_eq!(d.setup.as_deref(), Some("actpass"));
        assert_eq!(d.ufrag.as_deref(), Some("bench000007"));
        assert_eq!(d.candidate, Some("10.77.77.1:40000".parse().unwrap()));
        assert_eq!(d.fingerprints[0].value, "AA:BB:CC");
        let s = &d.sections[0];
        assert_eq!(
            (s.kind.as_str(), s.direction.as_str()),
            ("audio", "sendonly")
        );
        assert_eq!(s.ssrc, Some(0x5300_0001));
        assert_eq!(s.rtpmaps, vec![(111, "opus/48000/2".to_string())]);
        assert!(o.contains("a=group:BUNDLE 0\r\n") && o.ends_with("\r\n"));
        let v = publisher_offer(
            &local(),
            Track {
                video: true,
                payload_type: 96,
                ssrc: 9,
            },
        );
        assert!(v.contains("m=video 9 UDP/TLS/RTP/SAVPF 96\r\n") && v.contains("VP8/90000"));
    }

    #[test]
    fn subscriber_answer_takes_each_live_section_recvonly_without_rtx_or_extensions() {
        let offer = parse(JANUS_OFFER).unwrap();
        let a = subscriber_answer(&local(), &offer);
        let d = parse(&a).unwrap();
        assert!(a.contains("a=group:BUNDLE 0 1\r\n"), "{a}");
        assert_eq!(d.setup.as_deref(), Some("active"));
        assert_eq!(d.sections.len(), 3);
        assert_eq!(d.sections[0].direction, "recvonly");
        assert_eq!(d.sections[1].direction, "recvonly");
        assert_eq!(d.sections[1].payload_types, vec![96]);
        assert_eq!(d.sections[2].port, 0);
        assert_eq!(d.sections[2].mid.as_deref(), Some("2"));
        assert!(!a.contains("rtx") && !a.contains("extmap"));
        // One candidate for the bundle.
        assert_eq!(a.matches("a=candidate:").count(), 1);
    }
}
