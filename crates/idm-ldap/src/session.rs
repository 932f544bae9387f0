//! Layer 3: the per-connection session engine (sans-IO).
//!
//! The IO layer owns the socket and the buffers; per connection it runs:
//!
//! ```text
//! loop {
//!     read into buf
//!     match decode_message(&buf, &session.config().limits) {
//!         Ok(None) => continue,                                  // need more bytes
//!         Ok(Some((msg, used))) => { buf.advance(used); out = session.handle(msg, now, &mut dir) }
//!         Err(e) => out = session.decode_error(&e),              // notice of disconnection
//!     }
//!     out.encode(&mut wbuf); write wbuf; record out.events
//!     match out.action { Some(StartTls) => { handshake; session.tls_established() }
//!                        Some(Close) => break, None => {} }
//! }
//! ```
//!
//! Operations are answered synchronously, so from the session's point of view nothing is ever
//! "in progress" between calls except parked paged-results searches (RFC 2696), which is what
//! abandon and StartTLS care about. Paged searches are kept as resumable cursors (the remaining
//! candidate ids plus the request), bounded in number and idle time; [`Session::poll_timeout`]
//! and [`Session::handle_timeout`] expose that timer, and [`Session::handle`] also expires them
//! lazily, so calling the timer pair is optional.

use bytes::BytesMut;

use crate::LdapError;
use crate::control::{PagedResults, oid};
use crate::directory::{BindOutcome, BoundIdentity, Directory, Timestamp};
use crate::dn::Dn;
use crate::entry::{Attribute, Entry, EntryView};
use crate::error::ResultCode;
use crate::eval::Truth;
use crate::filter::Filter;
use crate::proto::{
    Authentication, BindRequest, CompareRequest, ExtendedRequest, ExtendedResponse, LdapMessage,
    LdapResult, Limits, ProtocolOp, SearchRequest, SearchResultEntry, SearchScope,
};
use crate::search::{PreparedSearch, Step, select_attributes};

/// The diagnostic message for every write operation.
pub const READ_ONLY_MESSAGE: &str =
    "the directory is read-only: manage identities through the idm API or CLI";

/// Per-connection policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Refuse simple binds with a password unless TLS is active (confidentialityRequired).
    pub require_tls_for_bind: bool,
    /// Offer StartTLS (the IO layer has a certificate and can upgrade the transport).
    pub start_tls_available: bool,
    /// The connection is already TLS (LDAPS).
    pub tls_active: bool,
    /// Administrative cap on entries per non-paged search (also applied when the client's
    /// sizeLimit is 0 or larger).
    pub max_size_limit: u32,
    /// Cap on the time a search may take, in seconds (also the default when timeLimit is 0).
    pub max_time_limit_secs: u32,
    /// Largest page a paged search returns, whatever the client asks.
    pub max_page_size: u32,
    /// Most paged searches parked per connection; the least recently used one is dropped.
    pub max_paged_searches: usize,
    /// How long a parked paged search survives without a follow-up request.
    pub paged_idle_timeout_ms: u64,
    /// Decoding limits (used by the IO layer's framer; kept here so it has one place to look).
    pub limits: Limits,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            require_tls_for_bind: true,
            start_tls_available: false,
            tls_active: false,
            max_size_limit: 10_000,
            max_time_limit_secs: 60,
            max_page_size: 1_000,
            max_paged_searches: 4,
            paged_idle_timeout_ms: 5 * 60 * 1000,
            limits: Limits::default(),
        }
    }
}

/// What the IO layer must do after writing the responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Write the responses in clear, then run the TLS handshake on the same stream and call
    /// [`Session::tls_established`]; close the connection if the handshake fails.
    StartTls,
    /// Write the responses, then close the connection.
    Close,
}

/// Something worth recording (audit log, metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A simple bind succeeded.
    BindSucceeded {
        /// The name the client sent.
        name: String,
        /// The DN it resolved to.
        dn: String,
    },
    /// A bind failed.
    BindFailed {
        /// The name the client sent.
        name: String,
        /// The resultCode sent.
        code: ResultCode,
        /// Why (not sent to the client when it would reveal account state).
        reason: String,
    },
    /// An anonymous bind.
    AnonymousBind,
    /// A search finished (or parked a page).
    Search {
        /// Base DN as sent.
        base: String,
        /// Scope.
        scope: SearchScope,
        /// The filter in string form.
        filter: String,
        /// Entries returned by this request.
        entries: usize,
        /// The resultCode sent.
        code: ResultCode,
    },
    /// The session is closing because of a protocol violation.
    ProtocolViolation {
        /// What happened.
        reason: String,
    },
}

/// The outcome of one call into the session.
#[must_use = "the responses must be written and the action carried out"]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Responses to write, in order, in one flush.
    pub responses: Vec<LdapMessage>,
    /// What to do after writing them.
    pub action: Option<Action>,
    /// What to record.
    pub events: Vec<Event>,
}

impl Output {
    /// Encodes all responses into `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        for r in &self.responses {
            crate::encode_message(r, out);
        }
    }

    fn reply(message_id: i32, op: ProtocolOp) -> Self {
        Self {
            responses: vec![LdapMessage::new(message_id, op)],
            ..Self::default()
        }
    }

    fn disconnect(code: ResultCode, reason: String) -> Self {
        Self {
            responses: vec![LdapMessage::notice_of_disconnection(code, reason.clone())],
            action: Some(Action::Close),
            events: vec![Event::ProtocolViolation { reason }],
        }
    }
}

/// One LDAP connection's state.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    tls_active: bool,
    tls_pending: bool,
    bound: BoundIdentity,
    paged: Vec<PagedSearch>,
    next_cookie: u64,
    closed: bool,
}

/// A parked paged search.
#[derive(Debug)]
struct PagedSearch {
    cookie: Vec<u8>,
    message_id: i32,
    request: SearchRequest,
    search: PreparedSearch,
    returned: u64,
    expires: Timestamp,
}

impl Session {
    /// A new, anonymous session.
    #[must_use]
    pub fn new(config: SessionConfig) -> Self {
        Self {
            tls_active: config.tls_active,
            config,
            tls_pending: false,
            bound: BoundIdentity::Anonymous,
            paged: Vec::new(),
            next_cookie: 0,
            closed: false,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Who the connection is bound as.
    #[must_use]
    pub fn bound(&self) -> &BoundIdentity {
        &self.bound
    }

    /// Whether TLS is active.
    #[must_use]
    pub fn tls_active(&self) -> bool {
        self.tls_active
    }

    /// Whether the session has asked to close (after unbind or a protocol violation).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Number of parked paged searches.
    #[must_use]
    pub fn open_paged_searches(&self) -> usize {
        self.paged.len()
    }

    /// The IO layer finished the TLS handshake requested by [`Action::StartTls`].
    pub fn tls_established(&mut self) {
        self.tls_active = true;
        self.tls_pending = false;
    }

    /// When [`Session::handle_timeout`] next has work (the earliest paged-search expiry).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.paged.iter().map(|p| p.expires).min()
    }

    /// Drops parked paged searches idle past their timeout.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.paged.retain(|p| p.expires > now);
    }

    /// The framer failed: answer with a Notice of Disconnection and close (RFC 4511 section
    /// 4.1.1: a message that cannot be parsed ends the session).
    pub fn decode_error(&mut self, error: &LdapError) -> Output {
        self.closed = true;
        Output::disconnect(error.result_code(), error.to_string())
    }

    /// Handles one request.
    pub fn handle<D: Directory + ?Sized>(
        &mut self,
        msg: LdapMessage,
        now: Timestamp,
        dir: &mut D,
    ) -> Output {
        if self.closed {
            return Output {
                action: Some(Action::Close),
                ..Output::default()
            };
        }
        self.handle_timeout(now);
        if self.tls_pending {
            self.closed = true;
            return Output::disconnect(
                ResultCode::ProtocolError,
                "request received before the TLS handshake".to_owned(),
            );
        }
        let LdapMessage {
            message_id,
            op,
            controls,
        } = msg;
        if message_id == 0 {
            self.closed = true;
            return Output::disconnect(
                ResultCode::ProtocolError,
                "messageID 0 is reserved for unsolicited notifications".to_owned(),
            );
        }

        // Controls: the paged-results control on a search is ours; ManageDsaIT is meaningless
        // without referral objects; anything else is ignored unless critical (RFC 4511 4.1.11).
        let mut paged = None;
        for c in &controls {
            let is_search = matches!(op, ProtocolOp::SearchRequest(_));
            match c.oid.as_str() {
                oid::PAGED_RESULTS if is_search => match PagedResults::from_control(c) {
                    Ok(p) => paged = Some(p),
                    Err(e) => return self.refuse(message_id, &op, e.result_code(), &e.to_string()),
                },
                oid::MANAGE_DSA_IT => {}
                other if c.criticality => {
                    let text = format!("critical control {other} is not supported");
                    return self.refuse(
                        message_id,
                        &op,
                        ResultCode::UnavailableCriticalExtension,
                        &text,
                    );
                }
                _ => {}
            }
        }

        match op {
            ProtocolOp::BindRequest(req) => self.bind(message_id, req, now, dir),
            ProtocolOp::UnbindRequest => {
                self.closed = true;
                self.paged.clear();
                Output {
                    action: Some(Action::Close),
                    ..Output::default()
                }
            }
            ProtocolOp::SearchRequest(req) => self.search(message_id, req, paged, now, dir),
            ProtocolOp::CompareRequest(req) => self.compare(message_id, &req, dir),
            ProtocolOp::AbandonRequest(target) => {
                // Everything else already completed; only a parked paged search can be abandoned.
                self.paged.retain(|p| p.message_id != target);
                Output::default()
            }
            ProtocolOp::ExtendedRequest(req) => self.extended(message_id, &req),
            op @ (ProtocolOp::ModifyRequest(_)
            | ProtocolOp::AddRequest(_)
            | ProtocolOp::DelRequest(_)
            | ProtocolOp::ModifyDnRequest(_)) => self.refuse(
                message_id,
                &op,
                ResultCode::UnwillingToPerform,
                READ_ONLY_MESSAGE,
            ),
            // The envelope was intact, so answer (RFC 4511 would allow disconnecting) and let
            // the client carry on with operations we do know.
            ProtocolOp::Unknown(u) => Output::reply(
                message_id,
                ProtocolOp::ExtendedResponse(ExtendedResponse {
                    result: LdapResult::new(
                        ResultCode::ProtocolError,
                        format!("unsupported operation [APPLICATION {}]", u.tag),
                    ),
                    name: None,
                    value: None,
                }),
            ),
            other => {
                self.closed = true;
                Output::disconnect(
                    ResultCode::ProtocolError,
                    format!("{} is not a request", other.name()),
                )
            }
        }
    }

    /// Answers `op` with an error result (or nothing, for operations without a response).
    fn refuse(&self, message_id: i32, op: &ProtocolOp, code: ResultCode, text: &str) -> Output {
        match op.response(LdapResult::new(code, text)) {
            Some(response) => Output::reply(message_id, response),
            None => Output::default(),
        }
    }

    fn bind<D: Directory + ?Sized>(
        &mut self,
        message_id: i32,
        req: BindRequest,
        now: Timestamp,
        dir: &mut D,
    ) -> Output {
        // A bind resets the connection's authorization (RFC 4511 section 4.2.1), and parked
        // searches were computed for the old identity.
        self.bound = BoundIdentity::Anonymous;
        self.paged.clear();
        let name = req.name.clone();
        let fail = |code: ResultCode, text: &str, reason: &str| {
            let mut out = Output::reply(
                message_id,
                ProtocolOp::BindResponse(crate::proto::BindResponse {
                    result: LdapResult::new(code, text),
                    server_sasl_creds: None,
                }),
            );
            out.events.push(Event::BindFailed {
                name: name.clone(),
                code,
                reason: reason.to_owned(),
            });
            out
        };
        if req.version != 3 {
            return fail(
                ResultCode::ProtocolError,
                "only LDAPv3 is supported",
                "unsupported protocol version",
            );
        }
        let password = match &req.authentication {
            Authentication::Simple(pw) => pw,
            Authentication::Sasl { mechanism, .. } => {
                return fail(
                    ResultCode::AuthMethodNotSupported,
                    "SASL is not supported: use a simple bind over TLS",
                    &format!("SASL mechanism {mechanism}"),
                );
            }
        };
        match (req.name.is_empty(), password.is_empty()) {
            (true, true) => {
                let mut out = Output::reply(
                    message_id,
                    ProtocolOp::BindResponse(crate::proto::BindResponse {
                        result: LdapResult::success(),
                        server_sasl_creds: None,
                    }),
                );
                out.events.push(Event::AnonymousBind);
                return out;
            }
            // RFC 4513 section 5.1.2: unauthenticated binds are refused by default, because
            // clients that send an empty password by mistake would otherwise "succeed".
            (false, true) => {
                return fail(
                    ResultCode::UnwillingToPerform,
                    "unauthenticated bind (name without password) is not allowed",
                    "empty password",
                );
            }
            (true, false) => {
                return fail(
                    ResultCode::InvalidCredentials,
                    "",
                    "password without a name",
                );
            }
            (false, false) => {}
        }
        if self.config.require_tls_for_bind && !self.tls_active {
            return fail(
                ResultCode::ConfidentialityRequired,
                "a simple bind requires TLS: use ldaps or StartTLS",
                "simple bind without TLS",
            );
        }
        match dir.bind(&req.name, password.expose(), now) {
            BindOutcome::Success { dn, id } => {
                self.bound = BoundIdentity::User { dn: dn.clone(), id };
                let mut out = Output::reply(
                    message_id,
                    ProtocolOp::BindResponse(crate::proto::BindResponse {
                        result: LdapResult::success(),
                        server_sasl_creds: None,
                    }),
                );
                out.events.push(Event::BindSucceeded { name, dn });
                out
            }
            BindOutcome::InvalidCredentials { reason } => {
                fail(ResultCode::InvalidCredentials, "", &reason)
            }
            BindOutcome::Unavailable { reason } => fail(
                ResultCode::Unavailable,
                "the directory is temporarily unavailable",
                &reason,
            ),
        }
    }

    fn extended(&mut self, message_id: i32, req: &ExtendedRequest) -> Output {
        let respond = |code: ResultCode, text: &str, name: Option<&str>, value: Option<Vec<u8>>| {
            Output::reply(
                message_id,
                ProtocolOp::ExtendedResponse(ExtendedResponse {
                    result: LdapResult::new(code, text),
                    name: name.map(str::to_owned),
                    value,
                }),
            )
        };
        match req.name.as_str() {
            oid::WHO_AM_I => {
                let authz = match &self.bound {
                    BoundIdentity::Anonymous => String::new(),
                    BoundIdentity::User { dn, .. } => format!("dn:{dn}"),
                };
                respond(ResultCode::Success, "", None, Some(authz.into_bytes()))
            }
            oid::START_TLS => {
                let name = Some(oid::START_TLS);
                if !self.config.start_tls_available {
                    respond(
                        ResultCode::ProtocolError,
                        "StartTLS is not available",
                        name,
                        None,
                    )
                } else if self.tls_active {
                    respond(
                        ResultCode::OperationsError,
                        "TLS is already established",
                        name,
                        None,
                    )
                } else if !self.paged.is_empty() {
                    respond(
                        ResultCode::OperationsError,
                        "paged searches are outstanding: finish or abandon them first",
                        name,
                        None,
                    )
                } else {
                    self.tls_pending = true;
                    let mut out = respond(ResultCode::Success, "", name, None);
                    out.action = Some(Action::StartTls);
                    out
                }
            }
            other => respond(
                ResultCode::ProtocolError,
                &format!("unsupported extended operation {other}"),
                None,
                None,
            ),
        }
    }

    fn compare<D: Directory + ?Sized>(
        &self,
        message_id: i32,
        req: &CompareRequest,
        dir: &D,
    ) -> Output {
        let respond = |code: ResultCode, text: &str| {
            Output::reply(
                message_id,
                ProtocolOp::CompareResponse(LdapResult::new(code, text)),
            )
        };
        let dn = match Dn::parse(&req.dn) {
            Ok(dn) => dn.normalize(),
            Err(e) => return respond(e.result_code(), &e.to_string()),
        };
        let Some(entry) = dir.lookup_dn(&dn).and_then(|id| dir.entry(id, &self.bound)) else {
            return respond(ResultCode::NoSuchObject, "");
        };
        if !entry.has_attribute(&req.attr) {
            return respond(ResultCode::NoSuchAttribute, "");
        }
        match Filter::eq(req.attr.clone(), req.value.clone()).evaluate(&entry) {
            Truth::True => respond(ResultCode::CompareTrue, ""),
            Truth::False => respond(ResultCode::CompareFalse, ""),
            Truth::Undefined => respond(
                ResultCode::InvalidAttributeSyntax,
                "the assertion value does not fit the attribute's syntax",
            ),
        }
    }

    fn search<D: Directory + ?Sized>(
        &mut self,
        message_id: i32,
        req: SearchRequest,
        paged: Option<PagedResults>,
        now: Timestamp,
        dir: &D,
    ) -> Output {
        let mut run = SearchRun::new(message_id, paged.is_some());
        if let Err(e) = req.filter.validate() {
            return run.finish(e.result_code(), &e.to_string(), &req);
        }
        let base = match Dn::parse(&req.base) {
            Ok(dn) => dn.normalize(),
            Err(e) => return run.finish(e.result_code(), &e.to_string(), &req),
        };

        // The root DSE and the subschema entry are not part of the tree below the suffixes.
        if req.scope == SearchScope::BaseObject {
            let special = if base.is_root() {
                Some(self.root_dse_entry(dir))
            } else {
                let dse = dir.root_dse();
                Dn::parse(&dse.subschema_dn)
                    .ok()
                    .filter(|s| s.normalize() == base)
                    .and_then(|s| dir.subschema(s, &self.bound))
            };
            if let Some(entry) = special {
                if req.filter.matches(&entry) {
                    run.push(std::borrow::Cow::Owned(entry), &req);
                }
                return run.finish(ResultCode::Success, "", &req);
            }
        }

        let time_limit = match req.time_limit {
            0 => self.config.max_time_limit_secs,
            t => t.min(self.config.max_time_limit_secs),
        };
        let deadline = now.plus_millis(u64::from(time_limit) * 1000);

        // Paged searches: continue a parked cursor, or start one.
        let (mut search, mut returned, page_size) = match &paged {
            Some(p) if !p.cookie.is_empty() => {
                let Some(index) = self.paged.iter().position(|c| c.cookie == p.cookie) else {
                    return run.finish(
                        ResultCode::UnwillingToPerform,
                        "paged results cookie is invalid or expired",
                        &req,
                    );
                };
                let parked = self.paged.swap_remove(index);
                if parked.request != req {
                    return run.finish(
                        ResultCode::UnwillingToPerform,
                        "paged results cookie belongs to a different search",
                        &req,
                    );
                }
                if p.size == 0 {
                    // RFC 2696: a page size of 0 abandons the paged search.
                    return run.finish(ResultCode::Success, "", &req);
                }
                (parked.search, parked.returned, Some(p.size))
            }
            Some(p) if p.size == 0 => return run.finish(ResultCode::Success, "", &req),
            _ => {
                let base_id = if base.is_root() {
                    None
                } else {
                    match dir.lookup_dn(&base) {
                        Some(id) if dir.entry(id, &self.bound).is_some() => Some(id),
                        _ => {
                            return run.finish(ResultCode::NoSuchObject, "", &req);
                        }
                    }
                };
                let search = PreparedSearch::new(dir, base, base_id, req.scope, req.filter.clone());
                (search, 0u64, paged.as_ref().map(|p| p.size))
            }
        };

        let size_limit = match (req.size_limit, page_size) {
            (0, Some(_)) => u64::MAX,
            (0, None) => u64::from(self.config.max_size_limit),
            (n, Some(_)) => u64::from(n),
            (n, None) => u64::from(n.min(self.config.max_size_limit)),
        };
        let page_size = page_size.map(|p| p.min(self.config.max_page_size));
        let mut steps = 0u32;
        loop {
            // Ask every 64 candidates, starting with the first.
            steps = steps.wrapping_add(1);
            if steps % 64 == 1 && dir.deadline_passed(deadline) {
                return run.finish(ResultCode::TimeLimitExceeded, "time limit exceeded", &req);
            }
            match search.step(dir, &self.bound) {
                Step::Match(entry) => {
                    if returned >= size_limit {
                        return run.finish(
                            ResultCode::SizeLimitExceeded,
                            "size limit exceeded",
                            &req,
                        );
                    }
                    run.push(entry, &req);
                    returned += 1;
                    let page_full = page_size.is_some_and(|p| run.entries >= p as usize);
                    if page_full && search.remaining() > 0 {
                        let cookie = self.park(message_id, req.clone(), search, returned, now);
                        run.cookie = cookie;
                        return run.finish(ResultCode::Success, "", &req);
                    }
                }
                Step::Skip => {}
                Step::Done => return run.finish(ResultCode::Success, "", &req),
            }
        }
    }

    fn park(
        &mut self,
        message_id: i32,
        request: SearchRequest,
        search: PreparedSearch,
        returned: u64,
        now: Timestamp,
    ) -> Vec<u8> {
        if self.paged.len() >= self.config.max_paged_searches.max(1) {
            // Drop the one closest to expiring, i.e. the least recently used.
            if let Some(oldest) = self
                .paged
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| p.expires)
                .map(|(i, _)| i)
            {
                self.paged.swap_remove(oldest);
            }
        }
        self.next_cookie += 1;
        let cookie = self.next_cookie.to_be_bytes().to_vec();
        self.paged.push(PagedSearch {
            cookie: cookie.clone(),
            message_id,
            request,
            search,
            returned,
            expires: now.plus_millis(self.config.paged_idle_timeout_ms),
        });
        cookie
    }

    /// The root DSE: the directory's data plus what this engine implements.
    fn root_dse_entry<D: Directory + ?Sized>(&self, dir: &D) -> Entry {
        let dse = dir.root_dse();
        let mut extensions = vec![oid::WHO_AM_I];
        if self.config.start_tls_available && !self.tls_active {
            extensions.push(oid::START_TLS);
        }
        let mut attributes = vec![
            Attribute::new("objectClass", ["top", "extensibleObject"]),
            Attribute::new("namingContexts", &dse.naming_contexts),
            Attribute::new("supportedLDAPVersion", ["3"]),
            Attribute::new("supportedControl", [oid::PAGED_RESULTS, oid::MANAGE_DSA_IT]),
            Attribute::new("supportedExtension", extensions),
            Attribute::new("supportedSASLMechanisms", Vec::<&str>::new()),
            Attribute::new("vendorName", [&dse.vendor_name]),
            Attribute::new("subschemaSubentry", [&dse.subschema_dn]),
        ];
        if !dse.vendor_version.is_empty() {
            attributes.push(Attribute::new("vendorVersion", [&dse.vendor_version]));
        }
        attributes.retain(|a| !a.values.is_empty());
        attributes.extend(dse.extra);
        Entry::new(Dn::root(), attributes)
    }
}

/// The responses of one search request being assembled.
struct SearchRun {
    message_id: i32,
    responses: Vec<LdapMessage>,
    entries: usize,
    paged: bool,
    cookie: Vec<u8>,
}

impl SearchRun {
    fn new(message_id: i32, paged: bool) -> Self {
        Self {
            message_id,
            responses: Vec::new(),
            entries: 0,
            paged,
            cookie: Vec::new(),
        }
    }

    fn push<E: EntryView>(&mut self, entry: E, req: &SearchRequest) {
        let dn = entry.dn_string().into_owned();
        let attributes = select_attributes(entry, &req.attributes, req.types_only);
        self.responses.push(LdapMessage::new(
            self.message_id,
            ProtocolOp::SearchResultEntry(SearchResultEntry { dn, attributes }),
        ));
        self.entries += 1;
    }

    fn finish(mut self, code: ResultCode, text: &str, req: &SearchRequest) -> Output {
        let mut done = LdapMessage::new(
            self.message_id,
            ProtocolOp::SearchResultDone(LdapResult::new(code, text)),
        );
        if self.paged {
            done.controls.push(
                PagedResults {
                    size: 0,
                    cookie: std::mem::take(&mut self.cookie),
                }
                .to_control(false),
            );
        }
        self.responses.push(done);
        Output {
            responses: self.responses,
            action: None,
            events: vec![Event::Search {
                base: req.base.clone(),
                scope: req.scope,
                filter: req.filter.to_string(),
                entries: self.entries,
                code,
            }],
        }
    }
}
