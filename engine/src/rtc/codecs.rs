//! Key frame detection in RTP payloads (mediasoup's `RTC/Codecs/`): just enough of each video
//! payload format to tell that a packet starts a key frame, so that a pending key frame request
//! (see [`super::key_frame_request_manager`]) is answered as soon as the producer sends one.
//!
//! - VP8, RFC 7741 §4.2 (payload descriptor) and §4.3 (payload header): the first packet of a
//!   frame (S=1, PID=0) whose payload header has P=0.
//! - VP9, draft-ietf-payload-vp9-16 §4.2: P=0 (not inter-predicted) and B=1 (start of a frame),
//!   in spatial layer 0 when the layer indices are present.
//! - H.264, RFC 6184 §5.6–§5.8: an IDR slice (NAL type 5) or a sequence parameter set (7), as a
//!   single NAL unit, inside a STAP-A, or at the start of an FU-A.
//!
//! Not done: H.265 and AV1 (their producers' requests are still rate-limited, they just wait for
//! the retransmission timer instead of the key frame).

/// A payload format whose key frames this module recognises.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyFrameCodec {
    Vp8,
    Vp9,
    H264,
}

impl KeyFrameCodec {
    /// The codec of a `mimeType` such as `video/VP8`, if its key frames can be recognised.
    pub(crate) fn from_mime(mime: &str) -> Option<Self> {
        let sub = mime.rsplit('/').next().unwrap_or(mime);
        if sub.eq_ignore_ascii_case("vp8") {
            Some(Self::Vp8)
        } else if sub.eq_ignore_ascii_case("vp9") {
            Some(Self::Vp9)
        } else if sub.eq_ignore_ascii_case("h264") {
            Some(Self::H264)
        } else {
            None
        }
    }

    /// Whether an RTP payload of this format starts a key frame. Never panics on any input.
    pub(crate) fn is_key_frame(self, payload: &[u8]) -> bool {
        match self {
            Self::Vp8 => vp8_key_frame(payload),
            Self::Vp9 => vp9_key_frame(payload),
            Self::H264 => h264_key_frame(payload),
        }
    }
}

fn vp8_key_frame(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let (x, s, pid) = (b0 & 0x80 != 0, b0 & 0x10 != 0, b0 & 0x07);
    if !s || pid != 0 {
        return false;
    }
    let mut at = 1;
    if x {
        let Some(&b1) = p.get(at) else { return false };
        at += 1;
        if b1 & 0x80 != 0 {
            // I: PictureID, 15 bits when M is set.
            let Some(&pic) = p.get(at) else { return false };
            at += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        if b1 & 0x40 != 0 {
            at += 1; // L: TL0PICIDX
        }
        if b1 & 0x30 != 0 {
            at += 1; // T or K: TID/Y/KEYIDX
        }
    }
    // Payload header (RFC 7741 §4.3): P (inverse key frame flag) is the lowest bit.
    p.get(at).is_some_and(|&h| h & 0x01 == 0)
}

fn vp9_key_frame(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let (i, pbit, l, b) = (
        b0 & 0x80 != 0,
        b0 & 0x40 != 0,
        b0 & 0x20 != 0,
        b0 & 0x08 != 0,
    );
    if pbit || !b {
        return false;
    }
    if !l {
        return true;
    }
    let mut at = 1;
    if i {
        let Some(&pic) = p.get(at) else { return false };
        at += if pic & 0x80 != 0 { 2 } else { 1 };
    }
    // Layer indices: |TID|U|SID|D|.
    p.get(at).is_some_and(|&li| (li >> 1) & 0x07 == 0)
}

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_STAP_A: u8 = 24;
const NAL_FU_A: u8 = 28;

fn h264_key_nal(t: u8) -> bool {
    t == NAL_IDR || t == NAL_SPS
}

fn h264_key_frame(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    match b0 & 0x1f {
        NAL_STAP_A => {
            // Aggregation units: 16-bit size, then the NAL unit.
            let mut at = 1;
            while at + 2 < p.len() {
                let size = usize::from(u16::from_be_bytes([p[at], p[at + 1]]));
                if size == 0 {
                    return false;
                }
                if h264_key_nal(p[at + 2] & 0x1f) {
                    return true;
                }
                at += 2 + size;
            }
            false
        }
        NAL_FU_A => p
            .get(1)
            .is_some_and(|&fu| fu & 0x80 != 0 && h264_key_nal(fu & 0x1f)),
        t => h264_key_nal(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_key_and_delta_frames() {
        let c = KeyFrameCodec::Vp8;
        // S=1, PID=0, no extension; payload header P=0.
        assert!(c.is_key_frame(&[0x10, 0x00, 0x9d, 0x01, 0x2a]));
        // P=1: an interframe.
        assert!(!c.is_key_frame(&[0x10, 0x01]));
        // Not the start of partition 0.
        assert!(!c.is_key_frame(&[0x00, 0x00]));
        assert!(!c.is_key_frame(&[0x11, 0x00]));
        // X=1, I=1 with a 15-bit picture id, L=1, T=1: header after 5 bytes.
        assert!(c.is_key_frame(&[0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x00]));
        assert!(!c.is_key_frame(&[0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x01]));
        assert!(!c.is_key_frame(&[0x90, 0xe0, 0x81]));
        assert!(!c.is_key_frame(&[]));
    }

    #[test]
    fn vp9_key_frames_need_p0_b1_and_spatial_layer_0() {
        let c = KeyFrameCodec::Vp9;
        assert!(c.is_key_frame(&[0x08]));
        assert!(!c.is_key_frame(&[0x48]), "inter-predicted");
        assert!(!c.is_key_frame(&[0x00]), "not the start of a frame");
        // I=1 (7-bit id), L=1, SID=0 then SID=1.
        assert!(c.is_key_frame(&[0xa8, 0x05, 0x00]));
        assert!(!c.is_key_frame(&[0xa8, 0x05, 0x02]));
    }

    #[test]
    fn h264_idr_sps_stap_a_and_fu_a() {
        let c = KeyFrameCodec::H264;
        assert!(c.is_key_frame(&[0x65, 0x88]), "IDR");
        assert!(c.is_key_frame(&[0x67, 0x42]), "SPS");
        assert!(!c.is_key_frame(&[0x41, 0x9a]), "non-IDR slice");
        // STAP-A with a PPS (8) then an SPS (7).
        assert!(c.is_key_frame(&[0x78, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x67, 0x42]));
        assert!(!c.is_key_frame(&[0x78, 0x00, 0x02, 0x68, 0xce]));
        // FU-A start of an IDR; continuation of one does not count.
        assert!(c.is_key_frame(&[0x7c, 0x85, 0x00]));
        assert!(!c.is_key_frame(&[0x7c, 0x05, 0x00]));
        assert!(!c.is_key_frame(&[0x7c]));
    }

    #[test]
    fn mime_types() {
        assert_eq!(
            KeyFrameCodec::from_mime("video/VP8"),
            Some(KeyFrameCodec::Vp8)
        );
        assert_eq!(
            KeyFrameCodec::from_mime("video/h264"),
            Some(KeyFrameCodec::H264)
        );
        assert_eq!(KeyFrameCodec::from_mime("video/AV1"), None);
        assert_eq!(KeyFrameCodec::from_mime("audio/opus"), None);
    }
}
