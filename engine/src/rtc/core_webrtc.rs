//! The WebRTC half of [`WorkerCore`]: the shared media port's demultiplexer (STUN by ufrag or
//! validated tuple, DTLS to the control plane, SRTP in place), ICE events kept in step with the
//! lookup maps, consent timers, and the control operations of WebRTC transports. See
//! [`crate::rtc::webrtc_transport`] for the design.

use std::net::SocketAddr;
use std::time::Instant;

use serde_json::Value;
use uuid::Uuid;

use super::WorkerCore;
use crate::net::{SockId, Transmit};
use crate::rtc::RtcError;
use crate::rtc::counters::DropReason;
use crate::rtc::events::Event;
use crate::rtc::ice_server::{IceEvent, IceServer, MAX_RESPONSE_LEN};
use crate::rtc::transport::{Transport, TransportKind, TransportTuple};
use crate::rtc::webrtc_transport::{
    DtlsStateName, IceCandidate, IceParameters, WebRtcSrtp, WebRtcTransport,
    WebRtcTransportOptions, WebRtcTransportReply, credentials, ufrag_owner,
};
use crate::wire::demux::{PacketKind, classify};
use crate::wire::stun::{StunMessage, local_ufrag};

/// What the caller must still do with a datagram from the shared port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedOutcome {
    /// Handled here (answered, forwarded or dropped and counted).
    Done,
    /// A STUN check for a transport of worker `0`: hand the datagram to it.
    Handoff(usize),
    /// A DTLS record of this WebRTC transport, from a validated tuple: give it to the control
    /// plane's DTLS driver.
    Dtls(Uuid),
}

impl WorkerCore {
    /// Sets the index of the worker this core runs on: it prefixes every ufrag handed out.
    pub fn set_worker_index(&mut self, index: usize) {
        self.index = index;
    }

    /// Whether `from` is a tuple ICE validated for a transport of this core.
    #[inline]
    pub fn knows_remote(&self, from: SocketAddr) -> bool {
        self.by_remote.contains_key(&from)
    }

    /// Remote addresses whose ownership changed since the last call: `(addr, true)` when a
    /// transport here validated it, `false` when it lost it. The worker tells the other
    /// workers, so that they hand that flow's datagrams here.
    pub fn take_flow_changes(&mut self) -> Vec<(SocketAddr, bool)> {
        std::mem::take(&mut self.flow_changes)
    }

    /// Whether [`Self::take_flow_changes`] has anything.
    pub fn has_flow_changes(&self) -> bool {
        !self.flow_changes.is_empty()
    }

    /// Creates a WebRTC transport on `sock`, this worker's socket on the shared media port;
    /// `local` is the address put in its candidate.
    pub fn create_webrtc_transport(
        &mut self,
        router_id: Uuid,
        id: Uuid,
        sock: SockId,
        local: SocketAddr,
        options: WebRtcTransportOptions,
    ) -> Result<WebRtcTransportReply, RtcError> {
        let router = self.router_idx(router_id)?;
        if self.ids.contains_key(&id) {
            return Err(RtcError::Conflict(format!("id {id} already exists")));
        }
        let (ufrag, password) = credentials(self.index);
        let ice = IceServer::with_credentials(&ufrag, &password)
            .expect("generated credentials follow RFC 8839's length and character rules");
        let w = WebRtcTransport {
            ice,
            sock,
            local,
            dtls_parameters: options.dtls_parameters.clone(),
            dtls_state: DtlsStateName::New,
            srtp: None,
            next_mid: 0,
        };
        let reply = WebRtcTransportReply {
            id,
            ice_role: "controlled",
            ice_parameters: w.ice_parameters(),
            ice_candidates: vec![IceCandidate::host(local)],
            dtls_parameters: options.dtls_parameters,
        };
        let idx = self.transports.insert(Transport {
            id,
            router,
            kind: TransportKind::WebRtc(Box::new(w)),
            producers: Vec::new(),
            consumers: Vec::new(),
            ssrc_table: Default::default(),
            listener: Default::default(),
            counters: Default::default(),
            app_data: options.app_data,
        });
        self.routers[router].transports.push(idx);
        self.rtcp_transport_added(idx);
        self.ids.insert(id, super::Obj::Transport(idx));
        self.by_ufrag
            .insert(ufrag.into_bytes().into_boxed_slice(), idx);
        self.webrtc.push(idx);
        Ok(reply)
    }

    fn webrtc_idx(&self, id: Uuid) -> Result<usize, RtcError> {
        let t = self.transport_idx(id)?;
        if self.transports[t].webrtc().is_none() {
            return Err(RtcError::Conflict(format!(
                "transport {id} is not a WebRTC transport"
            )));
        }
        Ok(t)
    }

    /// Whether `id` is a WebRTC transport here.
    pub fn is_webrtc_transport(&self, id: Uuid) -> bool {
        self.webrtc_idx(id).is_ok()
    }

    /// ICE restart: fresh credentials (the old ones stay valid until the peer uses the new).
    pub fn restart_ice(&mut self, now: Instant, id: Uuid) -> Result<IceParameters, RtcError> {
        let t = self.webrtc_idx(id)?;
        let (ufrag, password) = credentials(self.index);
        let w = self.transports[t].webrtc_mut().expect("checked above");
        w.ice
            .restart_ice_with_credentials(now, &ufrag, &password)
            .expect("generated credentials follow RFC 8839's length and character rules");
        let params = w.ice_parameters();
        self.by_ufrag
            .insert(ufrag.into_bytes().into_boxed_slice(), t);
        self.drain_ice(t);
        Ok(params)
    }

    /// The DTLS driver's news: the new state and, on `connected`, the transport's SRTP contexts.
    /// `failed` and `closed` drop the contexts: no media flows any more.
    pub fn set_dtls_state(
        &mut self,
        id: Uuid,
        state: DtlsStateName,
        srtp: Option<Box<WebRtcSrtp>>,
    ) -> Result<(), RtcError> {
        let t = self.webrtc_idx(id)?;
        let w = self.transports[t].webrtc_mut().expect("checked above");
        match state {
            DtlsStateName::Connected => {
                if srtp.is_some() {
                    w.srtp = srtp;
                }
            }
            DtlsStateName::Failed | DtlsStateName::Closed => w.srtp = None,
            DtlsStateName::New | DtlsStateName::Connecting => {}
        }
        if w.dtls_state != state {
            w.dtls_state = state;
            self.events.push(Event::TransportDtlsState {
                transport_id: id,
                dtls_state: state.as_str(),
            });
        }
        Ok(())
    }

    /// Sends a DTLS record the control plane produced to the transport's selected tuple. Without
    /// one it is dropped (counted): DTLS retransmits its flights.
    pub fn send_dtls<T: Transmit>(
        &mut self,
        id: Uuid,
        data: &[u8],
        tx: &mut T,
    ) -> Result<(), RtcError> {
        let t = self.webrtc_idx(id)?;
        let transport = &mut self.transports[t];
        let w = transport.webrtc().expect("checked above");
        let Some(dest) = w.ice.selected_tuple() else {
            self.counters.drop(DropReason::DtlsNoTuple);
            return Ok(());
        };
        if tx.send(w.sock, dest, data) {
            transport.counters.bytes_sent += data.len() as u64;
            self.counters.packets_out += 1;
            self.counters.bytes_out += data.len() as u64;
        } else {
            self.counters.drop(DropReason::NoSendBuffer);
        }
        Ok(())
    }

    /// Handles one datagram received on the shared media port (RFC 7983 demultiplexing, see
    /// [`crate::rtc::webrtc_transport`]). Never allocates for STUN checks or SRTP; every drop
    /// is counted.
    #[inline]
    pub fn handle_shared<T: Transmit>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &mut [u8],
        tx: &mut T,
    ) -> SharedOutcome {
        let kind = classify(data);
        if kind == PacketKind::Stun {
            return self.on_stun(now, from, data, tx);
        }
        // DTLS and SRTP carry nothing that names a transport: only a tuple ICE validated does.
        let Some(&t) = self.by_remote.get(&from) else {
            self.counters.drop(DropReason::UnknownFlow);
            return SharedOutcome::Done;
        };
        match kind {
            PacketKind::Dtls if !dtls_well_framed(data) => {
                self.counters.drop(DropReason::Malformed);
                SharedOutcome::Done
            }
            PacketKind::Dtls => {
                let transport = &mut self.transports[t];
                transport.counters.bytes_received += data.len() as u64;
                SharedOutcome::Dtls(transport.id)
            }
            PacketKind::Rtp | PacketKind::Rtcp => {
                self.on_srtp(now, t, kind == PacketKind::Rtcp, data, tx);
                SharedOutcome::Done
            }
            PacketKind::Stun | PacketKind::Unknown => {
                self.counters.drop(DropReason::Malformed);
                SharedOutcome::Done
            }
        }
    }

    #[inline]
    fn on_stun<T: Transmit>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
        tx: &mut T,
    ) -> SharedOutcome {
        let Ok(msg) = StunMessage::parse(data) else {
            self.counters.drop(DropReason::Malformed);
            return SharedOutcome::Done;
        };
        let Some(ufrag) = msg.username().and_then(local_ufrag) else {
            self.counters.drop(DropReason::UnknownUfrag);
            return SharedOutcome::Done;
        };
        let t = match self.by_ufrag.get(ufrag) {
            Some(&t) => t,
            None => {
                return match ufrag_owner(ufrag) {
                    Some(owner) if owner != self.index => SharedOutcome::Handoff(owner),
                    _ => {
                        self.counters.drop(DropReason::UnknownUfrag);
                        SharedOutcome::Done
                    }
                };
            }
        };
        let mut out = [0u8; MAX_RESPONSE_LEN];
        let transport = &mut self.transports[t];
        transport.counters.bytes_received += data.len() as u64;
        let w = transport
            .webrtc_mut()
            .expect("the ufrag map names WebRTC transports only");
        match w
            .ice
            .handle_message(now, from, &msg, &mut out)
            .response_len()
        {
            Some(n) => {
                if tx.send(w.sock, from, &out[..n]) {
                    transport.counters.bytes_sent += n as u64;
                    self.counters.packets_out += 1;
                    self.counters.bytes_out += n as u64;
                } else {
                    self.counters.drop(DropReason::NoSendBuffer);
                }
            }
            None => self.counters.drop(DropReason::StunRejected),
        }
        self.drain_ice(t);
        SharedOutcome::Done
    }

    #[inline]
    fn on_srtp<T: Transmit>(
        &mut self,
        now: Instant,
        t: usize,
        is_rtcp: bool,
        data: &mut [u8],
        tx: &mut T,
    ) {
        let transport = &mut self.transports[t];
        transport.counters.bytes_received += data.len() as u64;
        let Some(srtp) = transport.webrtc_mut().and_then(|w| w.srtp.as_mut()) else {
            self.counters.drop(DropReason::NoSrtp);
            return;
        };
        let opened = if is_rtcp {
            srtp.inbound.unprotect_rtcp(data)
        } else {
            srtp.inbound.unprotect_rtp(data)
        };
        match opened {
            Ok(n) if is_rtcp => self.on_rtcp(now, t, &data[..n], tx),
            Ok(n) => self.on_rtp(now, t, &mut data[..n], tx),
            Err(_) => self.counters.drop(DropReason::SrtpUnprotect),
        }
    }

    /// Applies the ICE agent's queued events of transport `t` to the lookup maps and the event
    /// stream.
    fn drain_ice(&mut self, t: usize) {
        let Self {
            transports,
            by_remote,
            by_ufrag,
            flow_changes,
            events,
            ..
        } = self;
        let transport = &mut transports[t];
        let id = transport.id;
        let Some(w) = transport.webrtc_mut() else {
            return;
        };
        while let Some(e) = w.ice.poll_event() {
            match e {
                IceEvent::TupleAdded(a) => {
                    if by_remote.insert(a, t) != Some(t) {
                        flow_changes.push((a, true));
                    }
                }
                IceEvent::TupleRemoved(a) => {
                    if by_remote.get(&a) == Some(&t) {
                        by_remote.remove(&a);
                        flow_changes.push((a, false));
                    }
                }
                IceEvent::StateChanged(s) => events.push(Event::TransportIceState {
                    transport_id: id,
                    ice_state: s.as_str(),
                }),
                IceEvent::SelectedTupleChanged(a) => {
                    events.push(Event::TransportIceSelectedTuple {
                        transport_id: id,
                        tuple: TransportTuple::new(w.local, Some(a)),
                    })
                }
                IceEvent::UsernameFragmentRetired(u) => {
                    by_ufrag.remove(u.as_bytes());
                }
            }
        }
    }

    /// Runs the ICE agents' consent timers (RFC 7675): call at least every few hundred ms.
    pub fn handle_ice_timeouts(&mut self, now: Instant) {
        for i in 0..self.webrtc.len() {
            let t = self.webrtc[i];
            let due = self.transports[t]
                .webrtc()
                .and_then(|w| w.ice.poll_timeout())
                .is_some_and(|at| at <= now);
            if due {
                if let Some(w) = self.transports[t].webrtc_mut() {
                    w.ice.handle_timeout(now);
                }
                self.drain_ice(t);
            }
        }
    }

    /// The earliest instant [`Self::handle_ice_timeouts`] has work.
    pub fn ice_poll_timeout(&self) -> Option<Instant> {
        self.webrtc
            .iter()
            .filter_map(|&t| self.transports[t].webrtc()?.ice.poll_timeout())
            .min()
    }

    /// Unlinks a WebRTC transport's ufrags and tuples before it is removed.
    pub(super) fn close_webrtc(&mut self, t: usize) {
        let Some(w) = self.transports[t].webrtc_mut() else {
            return;
        };
        w.ice.close();
        let ufrags = [
            Some(w.ice.username_fragment().as_bytes().to_vec()),
            w.ice.old_username_fragment().map(|u| u.as_bytes().to_vec()),
        ];
        self.drain_ice(t);
        for u in ufrags.into_iter().flatten() {
            self.by_ufrag.remove(u.as_slice());
        }
        self.webrtc.retain(|&x| x != t);
    }

    /// The next consumer `mid` of a WebRTC transport (mediasoup numbers them per transport).
    pub(super) fn next_consumer_mid(&mut self, t: usize) -> Option<String> {
        let w = self.transports[t].webrtc_mut()?;
        let mid = w.next_mid;
        w.next_mid += 1;
        Some(mid.to_string())
    }

    pub(super) fn dump_webrtc(&self, t: &Transport, w: &WebRtcTransport) -> Value {
        serde_json::json!({
            "id": t.id,
            "type": "webrtc",
            "routerId": self.routers[t.router].id,
            "iceRole": "controlled",
            "iceParameters": w.ice_parameters(),
            "iceCandidates": [IceCandidate::host(w.local)],
            "iceState": w.ice.state().as_str(),
            "iceSelectedTuple": w.ice.selected_tuple().map(|r| TransportTuple::new(w.local, Some(r))),
            "dtlsParameters": w.dtls_parameters,
            "dtlsState": w.dtls_state.as_str(),
            "producerIds": t.producers.iter().map(|&i| self.producers[i].id).collect::<Vec<_>>(),
            "consumerIds": t.consumers.iter().map(|&i| self.consumers[i].id).collect::<Vec<_>>(),
            "appData": t.app_data,
        })
    }

    pub(super) fn webrtc_stats(t: &Transport, w: &WebRtcTransport) -> Value {
        let c = &t.counters;
        let ice = w.ice.counters();
        serde_json::json!([{
            "type": "webrtc-transport",
            "transportId": t.id,
            "iceRole": "controlled",
            "iceState": w.ice.state().as_str(),
            "iceSelectedTuple": w.ice.selected_tuple().map(|r| TransportTuple::new(w.local, Some(r))),
            "dtlsState": w.dtls_state.as_str(),
            "bytesReceived": c.bytes_received,
            "bytesSent": c.bytes_sent,
            "rtpPacketsReceived": c.rtp_packets_received,
            "rtpPacketsSent": c.rtp_packets_sent,
            "rtcpPacketsReceived": c.rtcp_packets_received,
            "iceBindingSuccesses": ice.successes,
            "iceBindingDropped": ice.dropped.iter().sum::<u64>(),
        }])
    }
}

/// Whether `data` is a sequence of whole DTLS 1.2 records (RFC 6347 §4.1: 13-byte header with
/// version major 254, a length that fits): a cheap check on the worker so that junk from a
/// validated tuple is counted here rather than lost inside the handshake library.
fn dtls_well_framed(data: &[u8]) -> bool {
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < 13 || !(20..=63).contains(&rest[0]) || rest[1] != 0xFE {
            return false;
        }
        let len = 13 + usize::from(u16::from_be_bytes([rest[11], rest[12]]));
        if len > rest.len() {
            return false;
        }
        rest = &rest[len..];
    }
    true
}
