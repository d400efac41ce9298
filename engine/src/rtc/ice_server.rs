//! The ICE-lite agent of one WebRTC transport (mediasoup's `IceServer`), sans-IO.
//!
//! Sluice is an ICE-lite implementation (RFC 8445 §2.5): it gathers only host candidates, never
//! sends connectivity checks, and is always the controlled agent (§6.1.1). Its whole job is the
//! server side of a check (§7.3): answer a Binding request that authenticates with our short-term
//! credentials, learn from it which remote address (a *tuple*) can reach us, and let the
//! controlling peer pick, with USE-CANDIDATE, the tuple that carries media.
//!
//! ```text
//!  Binding request ──► IceServer::handle_stun(now, from, bytes, out)
//!                        │ FINGERPRINT right?                     (RFC 8489 §14.7)
//!                        │ USERNAME = "<our ufrag>:<theirs>"?     (RFC 8445 §7.3)
//!                        │ MESSAGE-INTEGRITY with our password?   (RFC 8489 §9.1.3)
//!                        │    no ─► Dropped(reason), counted, nothing sent
//!                        │ ICE-CONTROLLED? ─► 487 Role Conflict   (RFC 8445 §7.3.1.1)
//!                        │ no PRIORITY?    ─► 400 Bad Request     (RFC 8445 §7.1.1)
//!                        ▼
//!                      success response in `out` (XOR-MAPPED-ADDRESS = `from`, MI, FP),
//!                      tuple `from` refreshed, state and selected tuple updated, events queued
//! ```
//!
//! States, as mediasoup names them: `new` → `connected` (first valid check; that tuple is
//! selected) → `completed` (a check with USE-CANDIDATE; its tuple is selected, and a later
//! nomination of another tuple switches to it) → `disconnected` (consent lost) → `connected` or
//! `completed` again on the next valid check; `closed` at the end.
//!
//! **Consent freshness** (RFC 7675 §5.1): consent to send on a tuple lasts 30 s after its last
//! valid Binding request. When the selected tuple's consent expires, every tuple is forgotten and
//! the state is `disconnected`: no tuple may carry media until the peer checks again (browsers
//! send consent checks every few seconds on the selected pair). A tuple that is not selected is
//! forgotten on its own when its consent expires, so [`IceServer::is_valid_tuple`] only admits
//! addresses that proved recently that they hold the password. At most [`MAX_TUPLES`] are kept;
//! a new one evicts the least recently checked unselected one.
//!
//! **What is dropped, not answered.** A request that fails FINGERPRINT, USERNAME or
//! MESSAGE-INTEGRITY gets no answer at all, unlike mediasoup (400/401) and RFC 8489 §9.1.3
//! (401): answering would make the shared media port a reflector for anyone who can spoof a
//! source address, and a 401 only tells a prober the ufrag exists. Each drop is counted by
//! reason ([`IceCounters`]). Error responses (400, 487) go only to requests that did
//! authenticate, and carry MESSAGE-INTEGRITY.
//!
//! **ICE restart** ([`IceServer::restart_ice`]): new credentials at once; the old ones stay
//! valid until the first valid check with the new ones arrives, as mediasoup does. Until the
//! peer has applied the new answer it keeps checking (and keeping consent) with the old ones,
//! and media must not stop in between. Responses are signed with whichever password the request
//! was verified with. The consent clock of the selected tuple restarts, giving the peer a full
//! 30 s to check with either set. The retired ufrag is reported with
//! [`IceEvent::UsernameFragmentRetired`] so the caller can drop it from its USERNAME lookup.
//!
//! **Time** is an argument: nothing here reads a clock. [`IceServer::poll_timeout`] says when
//! [`IceServer::handle_timeout`] must next run; `handle_stun` also runs it first, so a late timer
//! cannot hide an expiry.
//!
//! **No allocation per packet**: tuples live in a vector sized once, the HMAC key is prepared
//! once per password, and events (queued only on changes of state, tuples or credentials) go
//! to a queue sized at creation.
//!
//! **Use from the core** (one agent per WebRTC transport): a datagram that
//! [`crate::wire::demux::classify`] calls STUN is parsed once with [`StunMessage::parse`]; a
//! known source address names its transport, otherwise [`local_ufrag`] of its USERNAME is
//! looked up among the transports' [`IceServer::accepts_ufrag`]. Then
//! [`IceServer::handle_message`] writes the answer into a stack buffer of
//! [`MAX_RESPONSE_LEN`] bytes, sent back to the source with `Transmit::send` when
//! [`StunOutcome::response_len`] says so. The events keep the core's maps in step:
//! `TupleAdded`/`TupleRemoved` for source address → transport (DTLS and RTP are accepted only
//! from [`IceServer::is_valid_tuple`] addresses), `SelectedTupleChanged` and the state for where
//! media goes, `UsernameFragmentRetired` for the ufrag map. The agent's
//! [`IceServer::poll_timeout`] joins the worker's other timers.
//!
//! Not here: Google's renomination (GOOG-NOMINATION), TCP candidates, and the full agent's
//! side (sending checks, pair priorities, tie-breaker comparison): a lite agent has none.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::wire::stun::{
    IntegrityKey, StunError, StunMessage, local_ufrag, write_binding_error, write_binding_success,
};

/// How long consent lasts after the last valid check on a tuple (RFC 7675 §5.1).
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most candidate tuples kept (mediasoup's `MaxTuples`).
pub const MAX_TUPLES: usize = 8;
/// Length of generated username fragments (RFC 8839 §5.4 asks for at least 4 characters).
pub const UFRAG_LEN: usize = 16;
/// Length of generated passwords (RFC 8839 §5.4 asks for at least 22 characters).
pub const PASSWORD_LEN: usize = 32;
/// The largest response [`IceServer::handle_stun`] writes; an `out` buffer this big always fits.
pub const MAX_RESPONSE_LEN: usize = 128;

/// Characters of generated credentials: the alphanumeric subset of RFC 8839's `ice-char`
/// (`+` and `/` are legal too, but some stacks mishandle them in SDP).
const ICE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// ICE state of a transport, as mediasoup's `iceState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IceState {
    /// No valid check yet.
    New,
    /// A valid check arrived; its tuple is selected, none nominated yet.
    Connected,
    /// The peer nominated a tuple with USE-CANDIDATE; it is selected.
    Completed,
    /// Consent of the selected tuple expired; no tuple carries media.
    Disconnected,
    /// The transport is closed; nothing is answered.
    Closed,
}

impl IceState {
    /// mediasoup's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            IceState::New => "new",
            IceState::Connected => "connected",
            IceState::Completed => "completed",
            IceState::Disconnected => "disconnected",
            IceState::Closed => "closed",
        }
    }
}

/// A change the caller learns about through [`IceServer::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IceEvent {
    /// The ICE state changed (mediasoup's `icestatechange`).
    StateChanged(IceState),
    /// A new remote address passed a check: datagrams from it belong to this transport.
    TupleAdded(SocketAddr),
    /// A remote address no longer belongs to this transport (consent expired, evicted, closed).
    TupleRemoved(SocketAddr),
    /// Media now goes to this tuple (mediasoup's `iceselectedtuplechange`). In `disconnected`
    /// there is no selected tuple; no event says so beyond the state change.
    SelectedTupleChanged(SocketAddr),
    /// After an ICE restart, the old ufrag stopped being accepted.
    UsernameFragmentRetired(String),
}

/// Why a STUN message got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IceDropReason {
    /// Not a well-formed STUN message.
    Malformed,
    /// A STUN message other than a Binding request (indications, responses, other methods).
    NotBindingRequest,
    /// No FINGERPRINT (ICE requires it: RFC 8445 §7.3).
    NoFingerprint,
    /// FINGERPRINT does not match.
    BadFingerprint,
    /// No USERNAME.
    NoUsername,
    /// USERNAME is not `<our ufrag>:<remote ufrag>`.
    BadUsername,
    /// No MESSAGE-INTEGRITY.
    NoIntegrity,
    /// MESSAGE-INTEGRITY does not verify with our password.
    BadIntegrity,
    /// The response did not fit the caller's buffer.
    BufferTooSmall,
    /// The agent is closed.
    Closed,
}

impl IceDropReason {
    /// Every reason, in the order of [`IceCounters::dropped`].
    pub const ALL: [IceDropReason; 10] = [
        IceDropReason::Malformed,
        IceDropReason::NotBindingRequest,
        IceDropReason::NoFingerprint,
        IceDropReason::BadFingerprint,
        IceDropReason::NoUsername,
        IceDropReason::BadUsername,
        IceDropReason::NoIntegrity,
        IceDropReason::BadIntegrity,
        IceDropReason::BufferTooSmall,
        IceDropReason::Closed,
    ];

    /// The label used in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            IceDropReason::Malformed => "malformed",
            IceDropReason::NotBindingRequest => "not_binding_request",
            IceDropReason::NoFingerprint => "no_fingerprint",
            IceDropReason::BadFingerprint => "bad_fingerprint",
            IceDropReason::NoUsername => "no_username",
            IceDropReason::BadUsername => "bad_username",
            IceDropReason::NoIntegrity => "no_integrity",
            IceDropReason::BadIntegrity => "bad_integrity",
            IceDropReason::BufferTooSmall => "buffer_too_small",
            IceDropReason::Closed => "closed",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What [`IceServer::handle_stun`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StunOutcome {
    /// A success response of this length is in `out`: send it to the request's source.
    Success(usize),
    /// An authenticated error response (400 or 487) of `len` bytes is in `out`: send it.
    Error {
        /// Length of the response in `out`.
        len: usize,
        /// Its ERROR-CODE.
        code: u16,
    },
    /// Nothing to send.
    Dropped(IceDropReason),
}

impl StunOutcome {
    /// The length of the response in `out` to send back, if any.
    pub fn response_len(self) -> Option<usize> {
        match self {
            StunOutcome::Success(len) | StunOutcome::Error { len, .. } => Some(len),
            StunOutcome::Dropped(_) => None,
        }
    }
}

/// Counters of one agent since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IceCounters {
    /// Binding requests answered with success.
    pub successes: u64,
    /// Authenticated requests answered 487 (the peer claimed to be controlled too).
    pub role_conflicts: u64,
    /// Authenticated requests answered 400 (no PRIORITY).
    pub bad_requests: u64,
    /// Messages dropped, indexed as [`IceDropReason::ALL`].
    pub dropped: [u64; IceDropReason::ALL.len()],
}

impl IceCounters {
    /// Messages dropped for `reason`.
    pub fn dropped(&self, reason: IceDropReason) -> u64 {
        self.dropped[reason.index()]
    }
}

/// Credentials given to [`IceServer::with_credentials`] that RFC 8839 §5.4 does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IceError {
    /// Not 4 to 256 `ice-char`s.
    #[error("ICE username fragment must be 4 to 256 ice-chars")]
    BadUsernameFragment,
    /// Not 22 to 256 `ice-char`s.
    #[error("ICE password must be 22 to 256 ice-chars")]
    BadPassword,
}

/// One set of local credentials and its prepared HMAC key.
#[derive(Debug)]
struct Credentials {
    ufrag: String,
    password: String,
    key: IntegrityKey,
}

impl Credentials {
    fn new(ufrag: String, password: String) -> Self {
        let key = IntegrityKey::new(password.as_bytes());
        Credentials {
            ufrag,
            password,
            key,
        }
    }

    fn generate<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Credentials::new(
            random_ice_string(rng, UFRAG_LEN),
            random_ice_string(rng, PASSWORD_LEN),
        )
    }

    /// Whether `username` is `<our ufrag>:<non-empty remote ufrag>`.
    fn matches(&self, username: &[u8]) -> bool {
        local_ufrag(username) == Some(self.ufrag.as_bytes())
            && username.len() > self.ufrag.len() + 1
    }
}

fn random_ice_string<R: Rng + ?Sized>(rng: &mut R, len: usize) -> String {
    (0..len)
        .map(|_| char::from(ICE_CHARS[rng.random_range(0..ICE_CHARS.len())]))
        .collect()
}

fn check_credentials(ufrag: &str, password: &str) -> Result<(), IceError> {
    if !(4..=256).contains(&ufrag.len()) || !is_ice_chars(ufrag) {
        return Err(IceError::BadUsernameFragment);
    }
    if !(22..=256).contains(&password.len()) || !is_ice_chars(password) {
        return Err(IceError::BadPassword);
    }
    Ok(())
}

/// A random string of `len` characters usable as (part of) an ICE ufrag or password.
pub fn random_ice_chars<R: Rng + ?Sized>(rng: &mut R, len: usize) -> String {
    random_ice_string(rng, len)
}

fn is_ice_chars(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// A remote address that passed a check, and when it last did.
#[derive(Debug, Clone, Copy)]
struct Tuple {
    remote: SocketAddr,
    last_check: Instant,
}

/// The ICE-lite agent of one transport. See the module docs.
#[derive(Debug)]
pub struct IceServer {
    current: Credentials,
    /// The credentials before the last restart, until a check with the current ones arrives.
    old: Option<Credentials>,
    state: IceState,
    tuples: Vec<Tuple>,
    selected: Option<SocketAddr>,
    events: VecDeque<IceEvent>,
    counters: IceCounters,
}

impl IceServer {
    /// An agent with fresh random credentials from the thread's CSPRNG.
    pub fn new() -> Self {
        Self::with_rng(&mut rand::rng())
    }

    /// An agent with fresh random credentials from `rng`.
    pub fn with_rng<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Self::from_credentials(Credentials::generate(rng))
    }

    /// An agent with the given credentials (RFC 8839 §5.4: ufrag of 4 to 256 and password of 22
    /// to 256 `ice-char`s).
    pub fn with_credentials(ufrag: &str, password: &str) -> Result<Self, IceError> {
        check_credentials(ufrag, password)?;
        Ok(Self::from_credentials(Credentials::new(
            ufrag.to_owned(),
            password.to_owned(),
        )))
    }

    fn from_credentials(current: Credentials) -> Self {
        IceServer {
            current,
            old: None,
            state: IceState::New,
            tuples: Vec::with_capacity(MAX_TUPLES),
            selected: None,
            events: VecDeque::with_capacity(4 * MAX_TUPLES),
            counters: IceCounters::default(),
        }
    }

    /// The local username fragment (`iceParameters.usernameFragment`).
    pub fn username_fragment(&self) -> &str {
        &self.current.ufrag
    }

    /// The local password (`iceParameters.password`).
    pub fn password(&self) -> &str {
        &self.current.password
    }

    /// The pre-restart username fragment while it is still accepted.
    pub fn old_username_fragment(&self) -> Option<&str> {
        self.old.as_ref().map(|c| c.ufrag.as_str())
    }

    /// Whether a request whose USERNAME starts with `ufrag` (see
    /// [`crate::wire::stun::local_ufrag`]) is for this agent: how the caller finds the transport
    /// of a datagram from an address it does not know yet.
    pub fn accepts_ufrag(&self, ufrag: &[u8]) -> bool {
        self.current.ufrag.as_bytes() == ufrag
            || self
                .old
                .as_ref()
                .is_some_and(|c| c.ufrag.as_bytes() == ufrag)
    }

    /// The current state.
    pub fn state(&self) -> IceState {
        self.state
    }

    /// The tuple media goes to: only in `connected` and `completed`.
    pub fn selected_tuple(&self) -> Option<SocketAddr> {
        match self.state {
            IceState::Connected | IceState::Completed => self.selected,
            _ => None,
        }
    }

    /// Whether `remote` passed a check and its consent has not expired: datagrams (DTLS, RTP)
    /// from it belong to this transport.
    pub fn is_valid_tuple(&self, remote: SocketAddr) -> bool {
        self.tuples.iter().any(|t| t.remote == remote)
    }

    /// The valid tuples, most recently added last.
    pub fn tuples(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.tuples.iter().map(|t| t.remote)
    }

    /// Counters since creation.
    pub fn counters(&self) -> &IceCounters {
        &self.counters
    }

    /// The next queued event, oldest first. Drain after every call that can change state.
    pub fn poll_event(&mut self) -> Option<IceEvent> {
        self.events.pop_front()
    }

    /// When [`IceServer::handle_timeout`] must next run: the earliest consent expiry, or `None`
    /// when no tuple is held.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tuples
            .iter()
            .map(|t| t.last_check + CONSENT_TIMEOUT)
            .min()
    }

    /// Expires consent (RFC 7675 §5.1): the selected tuple's expiry disconnects the transport
    /// and forgets every tuple; another tuple's expiry forgets that tuple.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired = |t: &Tuple| now >= t.last_check + CONSENT_TIMEOUT;
        let selected_expired = self
            .selected
            .is_some_and(|s| self.tuples.iter().any(|t| t.remote == s && expired(t)));
        if selected_expired {
            for t in self.tuples.drain(..) {
                self.events.push_back(IceEvent::TupleRemoved(t.remote));
            }
            self.selected = None;
            self.set_state(IceState::Disconnected);
            return;
        }
        let events = &mut self.events;
        self.tuples.retain(|t| {
            let keep = !expired(t);
            if !keep {
                events.push_back(IceEvent::TupleRemoved(t.remote));
            }
            keep
        });
    }

    /// Handles one datagram that demultiplexed as STUN (RFC 7983) from `from`, writing any
    /// response into `out` (at least [`MAX_RESPONSE_LEN`] bytes always suffice).
    pub fn handle_stun(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        out: &mut [u8],
    ) -> StunOutcome {
        match StunMessage::parse(datagram) {
            Ok(msg) => self.handle_message(now, from, &msg, out),
            Err(_) => drop_with(&mut self.counters, IceDropReason::Malformed),
        }
    }

    /// As [`IceServer::handle_stun`], for a message the caller has parsed already (to find the
    /// transport by its USERNAME).
    pub fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &StunMessage<'_>,
        out: &mut [u8],
    ) -> StunOutcome {
        if self.state == IceState::Closed {
            return drop_with(&mut self.counters, IceDropReason::Closed);
        }
        self.handle_timeout(now);
        if !msg.is_binding_request() {
            return drop_with(&mut self.counters, IceDropReason::NotBindingRequest);
        }
        match msg.verify_fingerprint() {
            Ok(()) => {}
            Err(StunError::NoFingerprint) => {
                return drop_with(&mut self.counters, IceDropReason::NoFingerprint);
            }
            Err(_) => return drop_with(&mut self.counters, IceDropReason::BadFingerprint),
        }
        let Some(username) = msg.username() else {
            return drop_with(&mut self.counters, IceDropReason::NoUsername);
        };
        let with_old = if self.current.matches(username) {
            false
        } else if self.old.as_ref().is_some_and(|c| c.matches(username)) {
            true
        } else {
            return drop_with(&mut self.counters, IceDropReason::BadUsername);
        };
        let creds = match &self.old {
            Some(old) if with_old => old,
            _ => &self.current,
        };
        match msg.verify_integrity(&creds.key) {
            Ok(()) => {}
            Err(StunError::NoIntegrity) => {
                return drop_with(&mut self.counters, IceDropReason::NoIntegrity);
            }
            Err(_) => return drop_with(&mut self.counters, IceDropReason::BadIntegrity),
        }
        let tid = msg.transaction_id();
        // RFC 8445 §7.3.1.1: a lite agent is always controlled and cannot switch roles.
        if msg.ice_controlled().is_some() {
            return match write_binding_error(out, tid, 487, Some(&creds.key)) {
                Ok(len) => {
                    self.counters.role_conflicts += 1;
                    StunOutcome::Error { len, code: 487 }
                }
                Err(_) => drop_with(&mut self.counters, IceDropReason::BufferTooSmall),
            };
        }
        if msg.priority().is_none() {
            return match write_binding_error(out, tid, 400, Some(&creds.key)) {
                Ok(len) => {
                    self.counters.bad_requests += 1;
                    StunOutcome::Error { len, code: 400 }
                }
                Err(_) => drop_with(&mut self.counters, IceDropReason::BufferTooSmall),
            };
        }
        let Ok(len) = write_binding_success(out, tid, from, &creds.key) else {
            return drop_with(&mut self.counters, IceDropReason::BufferTooSmall);
        };
        self.counters.successes += 1;
        if !with_old && let Some(old) = self.old.take() {
            self.events
                .push_back(IceEvent::UsernameFragmentRetired(old.ufrag));
        }
        self.handle_tuple(now, from, msg.use_candidate());
        StunOutcome::Success(len)
    }

    /// A valid check from `from` (mediasoup's `HandleTuple`).
    fn handle_tuple(&mut self, now: Instant, from: SocketAddr, use_candidate: bool) {
        if let Some(t) = self.tuples.iter_mut().find(|t| t.remote == from) {
            t.last_check = now;
        } else {
            if self.tuples.len() == MAX_TUPLES {
                self.evict_one();
            }
            self.tuples.push(Tuple {
                remote: from,
                last_check: now,
            });
            self.events.push_back(IceEvent::TupleAdded(from));
        }
        match self.state {
            IceState::New | IceState::Disconnected => {
                self.select(from);
                self.set_state(if use_candidate {
                    IceState::Completed
                } else {
                    IceState::Connected
                });
            }
            IceState::Connected | IceState::Completed if use_candidate => {
                self.select(from);
                self.set_state(IceState::Completed);
            }
            IceState::Connected | IceState::Completed | IceState::Closed => {}
        }
    }

    /// Removes the least recently checked tuple that is not selected.
    fn evict_one(&mut self) {
        let victim = self
            .tuples
            .iter()
            .enumerate()
            .filter(|(_, t)| Some(t.remote) != self.selected)
            .min_by_key(|(_, t)| t.last_check)
            .map(|(i, _)| i);
        if let Some(i) = victim {
            let t = self.tuples.remove(i);
            self.events.push_back(IceEvent::TupleRemoved(t.remote));
        }
    }

    fn select(&mut self, remote: SocketAddr) {
        if self.selected != Some(remote) {
            self.selected = Some(remote);
            self.events
                .push_back(IceEvent::SelectedTupleChanged(remote));
        }
    }

    fn set_state(&mut self, state: IceState) {
        if self.state != state {
            self.state = state;
            self.events.push_back(IceEvent::StateChanged(state));
        }
    }

    /// ICE restart (`POST /v1/transports/{id}/restart-ice`): new random credentials from the
    /// thread's CSPRNG. See the module docs for what happens to the old ones.
    pub fn restart_ice(&mut self, now: Instant) {
        self.restart_ice_with_rng(now, &mut rand::rng());
    }

    /// As [`IceServer::restart_ice`], with credentials from `rng`.
    pub fn restart_ice_with_rng<R: Rng + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        self.restart_with(now, Credentials::generate(rng));
    }

    /// As [`IceServer::restart_ice`], with the given credentials (the rules of
    /// [`IceServer::with_credentials`]). The core uses it to keep its worker's prefix in the
    /// ufrag.
    pub fn restart_ice_with_credentials(
        &mut self,
        now: Instant,
        ufrag: &str,
        password: &str,
    ) -> Result<(), IceError> {
        check_credentials(ufrag, password)?;
        self.restart_with(now, Credentials::new(ufrag.to_owned(), password.to_owned()));
        Ok(())
    }

    fn restart_with(&mut self, now: Instant, fresh: Credentials) {
        let previous = std::mem::replace(&mut self.current, fresh);
        if let Some(older) = self.old.replace(previous) {
            self.events
                .push_back(IceEvent::UsernameFragmentRetired(older.ufrag));
        }
        if let Some(s) = self.selected_tuple()
            && let Some(t) = self.tuples.iter_mut().find(|t| t.remote == s)
        {
            t.last_check = now;
        }
    }

    /// Closes the agent: every tuple is removed, nothing is answered any more.
    pub fn close(&mut self) {
        if self.state == IceState::Closed {
            return;
        }
        for t in self.tuples.drain(..) {
            self.events.push_back(IceEvent::TupleRemoved(t.remote));
        }
        self.selected = None;
        self.set_state(IceState::Closed);
    }
}

/// Counts a drop. A free function so that it can run while the credentials are borrowed.
fn drop_with(counters: &mut IceCounters, reason: IceDropReason) -> StunOutcome {
    counters.dropped[reason.index()] += 1;
    StunOutcome::Dropped(reason)
}

impl Default for IceServer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
#[path = "ice_server_tests.rs"]
mod tests;
