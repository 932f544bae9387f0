//! Layer 2: typed LDAPv3 messages (RFC 4511 section 4) and their BER codec.
//!
//! [`decode_message`] is the framer the IO layer calls on its read buffer; [`encode_message`]
//! appends to its write buffer. Every operation has one decode and one encode function here, so
//! adding an operation touches one pair of conversions.
//!
//! The codec is symmetric (it decodes responses too) because tests, benches and fuzzers need the
//! round trip, and a future proxy or client could use it.

use std::fmt;

use bytes::BytesMut;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::LdapError;
use crate::ber::{
    self, BOOLEAN, Class, ENUMERATED, INTEGER, OCTET_STRING, Reader, SEQUENCE, SET, Tag, Tlv,
};
use crate::control::{self, Control};
use crate::entry::Attribute;
use crate::error::ResultCode;
use crate::filter::{self, Filter};

/// Hard limits applied while decoding. Every count and depth a peer controls is bounded here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest accepted LDAPMessage contents, in bytes. Checked from the length prefix alone.
    pub max_message_size: usize,
    /// Deepest accepted filter nesting (`(&(|(!…)))`).
    pub max_filter_depth: usize,
    /// Most filter items (nodes) in one filter.
    pub max_filter_items: usize,
    /// Most controls on one message.
    pub max_controls: usize,
    /// Most attributes in one list (requested attributes, entry attributes, modifications).
    pub max_attributes: usize,
    /// Most values in one attribute (also substring pieces and referral URIs).
    pub max_values: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 256 * 1024,
            max_filter_depth: 32,
            max_filter_items: 1024,
            max_controls: 32,
            max_attributes: 256,
            max_values: 4096,
        }
    }
}

/// An LDAPMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapMessage {
    /// messageID (0..=maxInt; 0 is reserved for unsolicited notifications).
    pub message_id: i32,
    /// protocolOp.
    pub op: ProtocolOp,
    /// controls (empty = absent).
    pub controls: Vec<Control>,
}

/// The protocolOp CHOICE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolOp {
    /// `[APPLICATION 0]`
    BindRequest(BindRequest),
    /// `[APPLICATION 1]`
    BindResponse(BindResponse),
    /// `[APPLICATION 2]`
    UnbindRequest,
    /// `[APPLICATION 3]`
    SearchRequest(SearchRequest),
    /// `[APPLICATION 4]`
    SearchResultEntry(SearchResultEntry),
    /// `[APPLICATION 5]`
    SearchResultDone(LdapResult),
    /// `[APPLICATION 19]`: continuation references (URIs).
    SearchResultReference(Vec<String>),
    /// `[APPLICATION 6]`
    ModifyRequest(ModifyRequest),
    /// `[APPLICATION 7]`
    ModifyResponse(LdapResult),
    /// `[APPLICATION 8]`
    AddRequest(AddRequest),
    /// `[APPLICATION 9]`
    AddResponse(LdapResult),
    /// `[APPLICATION 10]`: the DN to delete.
    DelRequest(String),
    /// `[APPLICATION 11]`
    DelResponse(LdapResult),
    /// `[APPLICATION 12]`
    ModifyDnRequest(ModifyDnRequest),
    /// `[APPLICATION 13]`
    ModifyDnResponse(LdapResult),
    /// `[APPLICATION 14]`
    CompareRequest(CompareRequest),
    /// `[APPLICATION 15]`
    CompareResponse(LdapResult),
    /// `[APPLICATION 16]`: the messageID to abandon.
    AbandonRequest(i32),
    /// `[APPLICATION 23]`
    ExtendedRequest(ExtendedRequest),
    /// `[APPLICATION 24]`
    ExtendedResponse(ExtendedResponse),
    /// `[APPLICATION 25]`
    IntermediateResponse(IntermediateResponse),
    /// An application tag this crate does not know. Kept (with its contents) so that the session
    /// can answer the message instead of dropping the connection, and so that it re-encodes.
    Unknown(UnknownOp),
}

/// An operation with an unrecognized `[APPLICATION n]` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownOp {
    /// The application tag number.
    pub tag: u32,
    /// Whether the element was constructed.
    pub constructed: bool,
    /// The raw contents.
    pub contents: Vec<u8>,
}

/// A secret octet string (simple bind password, SASL credentials): redacted in `Debug`,
/// zeroized on drop.
#[derive(Clone, PartialEq, Eq, Default, Zeroize, ZeroizeOnDrop)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The secret bytes.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Whether the secret is empty (an anonymous or unauthenticated simple bind).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<Vec<u8>> for Secret {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl From<&[u8]> for Secret {
    fn from(v: &[u8]) -> Self {
        Self(v.to_vec())
    }
}

impl From<&str> for Secret {
    fn from(v: &str) -> Self {
        Self(v.as_bytes().to_vec())
    }
}

/// BindRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindRequest {
    /// version (1..=127; we serve 3).
    pub version: u8,
    /// name: a DN, or whatever the directory accepts as a bind name.
    pub name: String,
    /// authentication.
    pub authentication: Authentication,
}

/// AuthenticationChoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// `simple [0] OCTET STRING`.
    Simple(Secret),
    /// `sasl [3] SaslCredentials`.
    Sasl {
        /// mechanism.
        mechanism: String,
        /// credentials.
        credentials: Option<Secret>,
    },
}

/// BindResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindResponse {
    /// The result.
    pub result: LdapResult,
    /// serverSaslCreds `[7]`.
    pub server_sasl_creds: Option<Vec<u8>>,
}

/// LDAPResult.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapResult {
    /// resultCode.
    pub code: ResultCode,
    /// matchedDN.
    pub matched_dn: String,
    /// diagnosticMessage.
    pub diagnostic_message: String,
    /// referral `[3]` (empty = absent).
    pub referral: Vec<String>,
}

impl LdapResult {
    /// A result with a code and a diagnostic message.
    #[must_use]
    pub fn new(code: ResultCode, diagnostic_message: impl Into<String>) -> Self {
        Self {
            code,
            matched_dn: String::new(),
            diagnostic_message: diagnostic_message.into(),
            referral: Vec::new(),
        }
    }

    /// A plain success.
    #[must_use]
    pub fn success() -> Self {
        Self::new(ResultCode::Success, "")
    }
}

/// Search scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchScope {
    /// baseObject (0).
    BaseObject,
    /// singleLevel (1).
    SingleLevel,
    /// wholeSubtree (2).
    WholeSubtree,
    /// subordinateSubtree (3, draft-sermersheim-ldap-subordinate-scope): the subtree without its
    /// base, which some clients send.
    SubordinateSubtree,
}

/// derefAliases. idm has no aliases, so every value behaves the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DerefAliases {
    /// neverDerefAliases (0).
    Never,
    /// derefInSearching (1).
    InSearching,
    /// derefFindingBaseObj (2).
    FindingBaseObj,
    /// derefAlways (3).
    Always,
}

/// SearchRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    /// baseObject.
    pub base: String,
    /// scope.
    pub scope: SearchScope,
    /// derefAliases.
    pub deref_aliases: DerefAliases,
    /// sizeLimit (0 = no client limit).
    pub size_limit: u32,
    /// timeLimit in seconds (0 = no client limit).
    pub time_limit: u32,
    /// typesOnly.
    pub types_only: bool,
    /// filter.
    pub filter: Filter,
    /// attributes (selectors: descriptions, `*`, `+`, `1.1`).
    pub attributes: Vec<String>,
}

/// SearchResultEntry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResultEntry {
    /// objectName.
    pub dn: String,
    /// attributes.
    pub attributes: Vec<Attribute>,
}

/// ModifyRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyRequest {
    /// object.
    pub dn: String,
    /// changes.
    pub changes: Vec<Change>,
}

/// One change of a ModifyRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// operation.
    pub operation: ModifyOperation,
    /// modification.
    pub modification: Attribute,
}

/// The operation of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModifyOperation {
    /// add (0).
    Add,
    /// delete (1).
    Delete,
    /// replace (2).
    Replace,
    /// increment (3, RFC 4525).
    Increment,
}

/// AddRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddRequest {
    /// entry.
    pub dn: String,
    /// attributes.
    pub attributes: Vec<Attribute>,
}

/// ModifyDNRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyDnRequest {
    /// entry.
    pub dn: String,
    /// newrdn.
    pub new_rdn: String,
    /// deleteoldrdn.
    pub delete_old_rdn: bool,
    /// newSuperior `[0]`.
    pub new_superior: Option<String>,
}

/// CompareRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareRequest {
    /// entry.
    pub dn: String,
    /// ava.attributeDesc.
    pub attr: String,
    /// ava.assertionValue.
    pub value: Vec<u8>,
}

/// ExtendedRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedRequest {
    /// requestName `[0]`.
    pub name: String,
    /// requestValue `[1]`.
    pub value: Option<Vec<u8>>,
}

/// ExtendedResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedResponse {
    /// The result.
    pub result: LdapResult,
    /// responseName `[10]`.
    pub name: Option<String>,
    /// responseValue `[11]`.
    pub value: Option<Vec<u8>>,
}

/// IntermediateResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntermediateResponse {
    /// responseName `[0]`.
    pub name: Option<String>,
    /// responseValue `[1]`.
    pub value: Option<Vec<u8>>,
}

/// Decodes one LDAPMessage from the front of `buf`.
///
/// - `Ok(None)`: `buf` holds a prefix of a message; read more and call again.
/// - `Ok(Some((msg, used)))`: a message and how many bytes it took.
/// - `Err(_)`: the stream is broken (or the message exceeds `limits`); answer with a Notice of
///   Disconnection and close. An oversized length is reported as soon as the header is in.
pub fn decode_message(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(LdapMessage, usize)>, LdapError> {
    if let Some(&first) = buf.first()
        && first != 0x30
    {
        return Err(LdapError::Malformed("LDAPMessage must be a SEQUENCE"));
    }
    let Some(header) = ber::read_header(buf)? else {
        return Ok(None);
    };
    if header.length > limits.max_message_size as u64 {
        return Err(LdapError::MessageTooLarge {
            length: header.length,
            limit: limits.max_message_size,
        });
    }
    // Fits: the length is at most max_message_size, itself a usize.
    let total = header.header_len + header.length as usize;
    let Some(contents) = buf.get(header.header_len..total) else {
        return Ok(None);
    };
    let msg = decode_contents(contents, limits)?;
    Ok(Some((msg, total)))
}

/// Appends the BER encoding of `msg` to `out`.
pub fn encode_message(msg: &LdapMessage, out: &mut BytesMut) {
    ber::put_tlv(out, SEQUENCE, |out| {
        ber::put_integer(out, INTEGER, i64::from(msg.message_id));
        encode_op(&msg.op, out);
        if !msg.controls.is_empty() {
            ber::put_tlv(out, CONTROLS, |out| {
                control::encode_controls(&msg.controls, out)
            });
        }
    });
}

impl TryFrom<&[u8]> for LdapMessage {
    type Error = LdapError;

    /// Decodes exactly one complete message with default [`Limits`]; a short buffer or trailing
    /// bytes are errors here (use [`decode_message`] on a stream).
    fn try_from(buf: &[u8]) -> Result<Self, Self::Error> {
        match decode_message(buf, &Limits::default())? {
            Some((msg, used)) if used == buf.len() => Ok(msg),
            Some(_) => Err(LdapError::TrailingData("LDAPMessage")),
            None => Err(LdapError::Malformed("truncated message")),
        }
    }
}

impl LdapMessage {
    /// A message without controls.
    #[must_use]
    pub fn new(message_id: i32, op: ProtocolOp) -> Self {
        Self {
            message_id,
            op,
            controls: Vec::new(),
        }
    }

    /// The encoding as a fresh buffer.
    #[must_use]
    pub fn to_bytes(&self) -> BytesMut {
        let mut out = BytesMut::new();
        encode_message(self, &mut out);
        out
    }

    /// The Notice of Disconnection (RFC 4511 section 4.4.1): sent unsolicited (messageID 0)
    /// before the server closes a connection it cannot continue.
    #[must_use]
    pub fn notice_of_disconnection(code: ResultCode, message: impl Into<String>) -> Self {
        Self::new(
            0,
            ProtocolOp::ExtendedResponse(ExtendedResponse {
                result: LdapResult::new(code, message),
                name: Some(control::oid::NOTICE_OF_DISCONNECTION.to_owned()),
                value: None,
            }),
        )
    }
}

impl ProtocolOp {
    /// The response that answers this request with `result`; `None` for requests that get no
    /// response (unbind, abandon) and for responses.
    ///
    /// Unknown operations are answered with an ExtendedResponse, the one response shape every
    /// client can parse for an operation it did not expect to be refused.
    #[must_use]
    pub fn response(&self, result: LdapResult) -> Option<ProtocolOp> {
        Some(match self {
            ProtocolOp::BindRequest(_) => ProtocolOp::BindResponse(BindResponse {
                result,
                server_sasl_creds: None,
            }),
            ProtocolOp::SearchRequest(_) => ProtocolOp::SearchResultDone(result),
            ProtocolOp::ModifyRequest(_) => ProtocolOp::ModifyResponse(result),
            ProtocolOp::AddRequest(_) => ProtocolOp::AddResponse(result),
            ProtocolOp::DelRequest(_) => ProtocolOp::DelResponse(result),
            ProtocolOp::ModifyDnRequest(_) => ProtocolOp::ModifyDnResponse(result),
            ProtocolOp::CompareRequest(_) => ProtocolOp::CompareResponse(result),
            ProtocolOp::ExtendedRequest(_) | ProtocolOp::Unknown(_) => {
                ProtocolOp::ExtendedResponse(ExtendedResponse {
                    result,
                    name: None,
                    value: None,
                })
            }
            _ => return None,
        })
    }

    /// A short name for logs.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            ProtocolOp::BindRequest(_) => "bind",
            ProtocolOp::BindResponse(_) => "bindResponse",
            ProtocolOp::UnbindRequest => "unbind",
            ProtocolOp::SearchRequest(_) => "search",
            ProtocolOp::SearchResultEntry(_) => "searchResultEntry",
            ProtocolOp::SearchResultDone(_) => "searchResultDone",
            ProtocolOp::SearchResultReference(_) => "searchResultReference",
            ProtocolOp::ModifyRequest(_) => "modify",
            ProtocolOp::ModifyResponse(_) => "modifyResponse",
            ProtocolOp::AddRequest(_) => "add",
            ProtocolOp::AddResponse(_) => "addResponse",
            ProtocolOp::DelRequest(_) => "delete",
            ProtocolOp::DelResponse(_) => "delResponse",
            ProtocolOp::ModifyDnRequest(_) => "modifyDN",
            ProtocolOp::ModifyDnResponse(_) => "modifyDNResponse",
            ProtocolOp::CompareRequest(_) => "compare",
            ProtocolOp::CompareResponse(_) => "compareResponse",
            ProtocolOp::AbandonRequest(_) => "abandon",
            ProtocolOp::ExtendedRequest(_) => "extended",
            ProtocolOp::ExtendedResponse(_) => "extendedResponse",
            ProtocolOp::IntermediateResponse(_) => "intermediateResponse",
            ProtocolOp::Unknown(_) => "unknown",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

const CONTROLS: Tag = Tag::context(0, true);

fn decode_contents(contents: &[u8], limits: &Limits) -> Result<LdapMessage, LdapError> {
    let mut r = Reader::new(contents);
    let message_id = decode_message_id(r.integer("messageID must be an INTEGER")?)?;
    let op = decode_op(r.next_tlv()?, limits)?;
    let controls = match r.optional(CONTROLS)? {
        Some(v) => control::decode_controls(v, limits)?,
        None => Vec::new(),
    };
    r.finish("LDAPMessage")?;
    Ok(LdapMessage {
        message_id,
        op,
        controls,
    })
}

fn decode_message_id(v: i64) -> Result<i32, LdapError> {
    let v = ber::decode_max_int(v, "messageID out of range")?;
    i32::try_from(v).map_err(|_| LdapError::Malformed("messageID out of range"))
}

fn decode_op(tlv: Tlv<'_>, limits: &Limits) -> Result<ProtocolOp, LdapError> {
    if tlv.tag.class != Class::Application {
        return Err(LdapError::Malformed(
            "protocolOp must be an APPLICATION tag",
        ));
    }
    let v = tlv.value;
    let expect_constructed = match tlv.tag.number {
        2 | 10 | 16 => Some(false),
        0..=16 | 19 | 23..=25 => Some(true),
        _ => None,
    };
    match expect_constructed {
        None => {
            return Ok(ProtocolOp::Unknown(UnknownOp {
                tag: tlv.tag.number,
                constructed: tlv.tag.constructed,
                contents: v.to_vec(),
            }));
        }
        Some(c) if c != tlv.tag.constructed => {
            return Err(LdapError::Malformed("protocolOp has the wrong form"));
        }
        Some(_) => {}
    }
    Ok(match tlv.tag.number {
        0 => ProtocolOp::BindRequest(decode_bind_request(v)?),
        1 => {
            let mut r = Reader::new(v);
            let result = decode_result_fields(&mut r, limits)?;
            let server_sasl_creds = r.optional(Tag::context(7, false))?.map(<[u8]>::to_vec);
            r.finish("BindResponse")?;
            ProtocolOp::BindResponse(BindResponse {
                result,
                server_sasl_creds,
            })
        }
        2 => {
            if !v.is_empty() {
                return Err(LdapError::Malformed("UnbindRequest must be empty"));
            }
            ProtocolOp::UnbindRequest
        }
        3 => ProtocolOp::SearchRequest(decode_search_request(v, limits)?),
        4 => {
            let mut r = Reader::new(v);
            let dn = r.string("objectName")?;
            let attributes = decode_attribute_list(r.expect(SEQUENCE, "attributes")?, limits)?;
            r.finish("SearchResultEntry")?;
            ProtocolOp::SearchResultEntry(SearchResultEntry { dn, attributes })
        }
        5 => ProtocolOp::SearchResultDone(decode_result(v, limits)?),
        6 => {
            let mut r = Reader::new(v);
            let dn = r.string("object")?;
            let mut list = Reader::new(r.expect(SEQUENCE, "changes")?);
            r.finish("ModifyRequest")?;
            let mut changes = Vec::new();
            while !list.is_empty() {
                check_count(changes.len(), limits.max_attributes, "modifications")?;
                let mut c = Reader::new(list.expect(SEQUENCE, "change")?);
                let operation = match c.enumerated("operation")? {
                    0 => ModifyOperation::Add,
                    1 => ModifyOperation::Delete,
                    2 => ModifyOperation::Replace,
                    3 => ModifyOperation::Increment,
                    _ => return Err(LdapError::Malformed("unknown modify operation")),
                };
                let modification = decode_attribute(c.expect(SEQUENCE, "modification")?, limits)?;
                c.finish("change")?;
                changes.push(Change {
                    operation,
                    modification,
                });
            }
            ProtocolOp::ModifyRequest(ModifyRequest { dn, changes })
        }
        7 => ProtocolOp::ModifyResponse(decode_result(v, limits)?),
        8 => {
            let mut r = Reader::new(v);
            let dn = r.string("entry")?;
            let attributes = decode_attribute_list(r.expect(SEQUENCE, "attributes")?, limits)?;
            r.finish("AddRequest")?;
            ProtocolOp::AddRequest(AddRequest { dn, attributes })
        }
        9 => ProtocolOp::AddResponse(decode_result(v, limits)?),
        10 => ProtocolOp::DelRequest(ber::decode_string(v, "DelRequest")?),
        11 => ProtocolOp::DelResponse(decode_result(v, limits)?),
        12 => {
            let mut r = Reader::new(v);
            let dn = r.string("entry")?;
            let new_rdn = r.string("newrdn")?;
            let delete_old_rdn = r.boolean("deleteoldrdn")?;
            let new_superior = r
                .optional(Tag::context(0, false))?
                .map(|s| ber::decode_string(s, "newSuperior"))
                .transpose()?;
            r.finish("ModifyDNRequest")?;
            ProtocolOp::ModifyDnRequest(ModifyDnRequest {
                dn,
                new_rdn,
                delete_old_rdn,
                new_superior,
            })
        }
        13 => ProtocolOp::ModifyDnResponse(decode_result(v, limits)?),
        14 => {
            let mut r = Reader::new(v);
            let dn = r.string("entry")?;
            let (attr, value) = filter::decode_ava(r.expect(SEQUENCE, "ava")?)?;
            r.finish("CompareRequest")?;
            ProtocolOp::CompareRequest(CompareRequest { dn, attr, value })
        }
        15 => ProtocolOp::CompareResponse(decode_result(v, limits)?),
        16 => ProtocolOp::AbandonRequest(decode_message_id(ber::decode_integer(v)?)?),
        19 => {
            let mut r = Reader::new(v);
            let uris = decode_uris(&mut r, limits)?;
            if uris.is_empty() {
                return Err(LdapError::Malformed("empty SearchResultReference"));
            }
            ProtocolOp::SearchResultReference(uris)
        }
        23 => {
            let mut r = Reader::new(v);
            let name = ber::decode_string(
                r.expect(Tag::context(0, false), "requestName")?,
                "requestName",
            )?;
            let value = r.optional(Tag::context(1, false))?.map(<[u8]>::to_vec);
            r.finish("ExtendedRequest")?;
            ProtocolOp::ExtendedRequest(ExtendedRequest { name, value })
        }
        24 => {
            let mut r = Reader::new(v);
            let result = decode_result_fields(&mut r, limits)?;
            let name = r
                .optional(Tag::context(10, false))?
                .map(|s| ber::decode_string(s, "responseName"))
                .transpose()?;
            let value = r.optional(Tag::context(11, false))?.map(<[u8]>::to_vec);
            r.finish("ExtendedResponse")?;
            ProtocolOp::ExtendedResponse(ExtendedResponse {
                result,
                name,
                value,
            })
        }
        25 => {
            let mut r = Reader::new(v);
            let name = r
                .optional(Tag::context(0, false))?
                .map(|s| ber::decode_string(s, "responseName"))
                .transpose()?;
            let value = r.optional(Tag::context(1, false))?.map(<[u8]>::to_vec);
            r.finish("IntermediateResponse")?;
            ProtocolOp::IntermediateResponse(IntermediateResponse { name, value })
        }
        _ => return Err(LdapError::Malformed("unexpected protocolOp")),
    })
}

fn check_count(current: usize, limit: usize, what: &'static str) -> Result<(), LdapError> {
    if current >= limit {
        Err(LdapError::LimitExceeded { what, limit })
    } else {
        Ok(())
    }
}

fn decode_bind_request(v: &[u8]) -> Result<BindRequest, LdapError> {
    let mut r = Reader::new(v);
    let version = r.integer("version")?;
    let version = u8::try_from(version)
        .ok()
        .filter(|v| (1..=127).contains(v))
        .ok_or(LdapError::Malformed("bind version out of range"))?;
    let name = r.string("bind name")?;
    let auth = r.next_tlv()?;
    let authentication = match auth.tag {
        t if t == Tag::context(0, false) => Authentication::Simple(Secret(auth.value.to_vec())),
        t if t == Tag::context(3, true) => {
            let mut s = Reader::new(auth.value);
            let mechanism = s.string("SASL mechanism")?;
            let credentials = s.optional(OCTET_STRING)?.map(Secret::from);
            s.finish("SaslCredentials")?;
            Authentication::Sasl {
                mechanism,
                credentials,
            }
        }
        _ => return Err(LdapError::Malformed("unsupported authentication choice")),
    };
    r.finish("BindRequest")?;
    Ok(BindRequest {
        version,
        name,
        authentication,
    })
}

fn decode_search_request(v: &[u8], limits: &Limits) -> Result<SearchRequest, LdapError> {
    let mut r = Reader::new(v);
    let base = r.string("baseObject")?;
    let scope = match r.enumerated("scope")? {
        0 => SearchScope::BaseObject,
        1 => SearchScope::SingleLevel,
        2 => SearchScope::WholeSubtree,
        3 => SearchScope::SubordinateSubtree,
        _ => return Err(LdapError::Malformed("unknown search scope")),
    };
    let deref_aliases = match r.enumerated("derefAliases")? {
        0 => DerefAliases::Never,
        1 => DerefAliases::InSearching,
        2 => DerefAliases::FindingBaseObj,
        3 => DerefAliases::Always,
        _ => return Err(LdapError::Malformed("unknown derefAliases")),
    };
    let size_limit = ber::decode_max_int(r.integer("sizeLimit")?, "sizeLimit out of range")?;
    let time_limit = ber::decode_max_int(r.integer("timeLimit")?, "timeLimit out of range")?;
    let types_only = r.boolean("typesOnly")?;
    let filter = filter::decode_filter(r.next_tlv()?, limits, 0, &mut 0)?;
    let mut list = Reader::new(r.expect(SEQUENCE, "attributes")?);
    r.finish("SearchRequest")?;
    let mut attributes = Vec::new();
    while !list.is_empty() {
        check_count(
            attributes.len(),
            limits.max_attributes,
            "requested attributes",
        )?;
        attributes.push(list.string("attribute selector")?);
    }
    Ok(SearchRequest {
        base,
        scope,
        deref_aliases,
        size_limit,
        time_limit,
        types_only,
        filter,
        attributes,
    })
}

fn decode_result(v: &[u8], limits: &Limits) -> Result<LdapResult, LdapError> {
    let mut r = Reader::new(v);
    let result = decode_result_fields(&mut r, limits)?;
    r.finish("LDAPResult")?;
    Ok(result)
}

/// The LDAPResult components, which BindResponse and ExtendedResponse extend.
fn decode_result_fields(r: &mut Reader<'_>, limits: &Limits) -> Result<LdapResult, LdapError> {
    let code = r.enumerated("resultCode")?;
    let code = u32::try_from(code).map_err(|_| LdapError::Malformed("resultCode out of range"))?;
    let matched_dn = r.string("matchedDN")?;
    let diagnostic_message = r.string("diagnosticMessage")?;
    let referral = match r.optional(Tag::context(3, true))? {
        Some(v) => {
            let uris = decode_uris(&mut Reader::new(v), limits)?;
            if uris.is_empty() {
                return Err(LdapError::Malformed("empty referral"));
            }
            uris
        }
        None => Vec::new(),
    };
    Ok(LdapResult {
        code: ResultCode::from(code),
        matched_dn,
        diagnostic_message,
        referral,
    })
}

fn decode_uris(r: &mut Reader<'_>, limits: &Limits) -> Result<Vec<String>, LdapError> {
    let mut uris = Vec::new();
    while !r.is_empty() {
        check_count(uris.len(), limits.max_values, "URIs")?;
        uris.push(r.string("URI")?);
    }
    Ok(uris)
}

fn decode_attribute_list(v: &[u8], limits: &Limits) -> Result<Vec<Attribute>, LdapError> {
    let mut r = Reader::new(v);
    let mut list = Vec::new();
    while !r.is_empty() {
        check_count(list.len(), limits.max_attributes, "attributes")?;
        list.push(decode_attribute(r.expect(SEQUENCE, "attribute")?, limits)?);
    }
    Ok(list)
}

fn decode_attribute(v: &[u8], limits: &Limits) -> Result<Attribute, LdapError> {
    let mut r = Reader::new(v);
    let description = r.string("attribute description")?;
    let mut vals = Reader::new(r.expect(SET, "attribute values must be a SET")?);
    r.finish("attribute")?;
    let mut values = Vec::new();
    while !vals.is_empty() {
        check_count(values.len(), limits.max_values, "attribute values")?;
        values.push(vals.octets("attribute value")?.to_vec());
    }
    Ok(Attribute {
        description,
        values,
    })
}

// ---------------------------------------------------------------------------------------------
// Encoding

fn encode_op(op: &ProtocolOp, out: &mut BytesMut) {
    let app = |n| Tag::application(n, true);
    match op {
        ProtocolOp::BindRequest(b) => ber::put_tlv(out, app(0), |out| {
            ber::put_integer(out, INTEGER, i64::from(b.version));
            ber::put_octets(out, OCTET_STRING, b.name.as_bytes());
            match &b.authentication {
                Authentication::Simple(pw) => {
                    ber::put_octets(out, Tag::context(0, false), pw.expose());
                }
                Authentication::Sasl {
                    mechanism,
                    credentials,
                } => ber::put_tlv(out, Tag::context(3, true), |out| {
                    ber::put_octets(out, OCTET_STRING, mechanism.as_bytes());
                    if let Some(c) = credentials {
                        ber::put_octets(out, OCTET_STRING, c.expose());
                    }
                }),
            }
        }),
        ProtocolOp::BindResponse(b) => ber::put_tlv(out, app(1), |out| {
            encode_result_fields(&b.result, out);
            if let Some(c) = &b.server_sasl_creds {
                ber::put_octets(out, Tag::context(7, false), c);
            }
        }),
        ProtocolOp::UnbindRequest => ber::put_octets(out, Tag::application(2, false), &[]),
        ProtocolOp::SearchRequest(s) => ber::put_tlv(out, app(3), |out| {
            ber::put_octets(out, OCTET_STRING, s.base.as_bytes());
            let scope = match s.scope {
                SearchScope::BaseObject => 0,
                SearchScope::SingleLevel => 1,
                SearchScope::WholeSubtree => 2,
                SearchScope::SubordinateSubtree => 3,
            };
            ber::put_integer(out, ENUMERATED, scope);
            let deref = match s.deref_aliases {
                DerefAliases::Never => 0,
                DerefAliases::InSearching => 1,
                DerefAliases::FindingBaseObj => 2,
                DerefAliases::Always => 3,
            };
            ber::put_integer(out, ENUMERATED, deref);
            ber::put_integer(out, INTEGER, i64::from(s.size_limit));
            ber::put_integer(out, INTEGER, i64::from(s.time_limit));
            ber::put_boolean(out, BOOLEAN, s.types_only);
            filter::encode_filter(&s.filter, out);
            ber::put_tlv(out, SEQUENCE, |out| {
                for a in &s.attributes {
                    ber::put_octets(out, OCTET_STRING, a.as_bytes());
                }
            });
        }),
        ProtocolOp::SearchResultEntry(e) => encode_search_result_entry(e, out),
        ProtocolOp::SearchResultDone(r) => encode_result(out, 5, r),
        ProtocolOp::SearchResultReference(uris) => ber::put_tlv(out, app(19), |out| {
            for u in uris {
                ber::put_octets(out, OCTET_STRING, u.as_bytes());
            }
        }),
        ProtocolOp::ModifyRequest(m) => ber::put_tlv(out, app(6), |out| {
            ber::put_octets(out, OCTET_STRING, m.dn.as_bytes());
            ber::put_tlv(out, SEQUENCE, |out| {
                for c in &m.changes {
                    ber::put_tlv(out, SEQUENCE, |out| {
                        let op = match c.operation {
                            ModifyOperation::Add => 0,
                            ModifyOperation::Delete => 1,
                            ModifyOperation::Replace => 2,
                            ModifyOperation::Increment => 3,
                        };
                        ber::put_integer(out, ENUMERATED, op);
                        encode_attribute(&c.modification, out);
                    });
                }
            });
        }),
        ProtocolOp::ModifyResponse(r) => encode_result(out, 7, r),
        ProtocolOp::AddRequest(a) => ber::put_tlv(out, app(8), |out| {
            ber::put_octets(out, OCTET_STRING, a.dn.as_bytes());
            ber::put_tlv(out, SEQUENCE, |out| {
                for attr in &a.attributes {
                    encode_attribute(attr, out);
                }
            });
        }),
        ProtocolOp::AddResponse(r) => encode_result(out, 9, r),
        ProtocolOp::DelRequest(dn) => {
            ber::put_octets(out, Tag::application(10, false), dn.as_bytes());
        }
        ProtocolOp::DelResponse(r) => encode_result(out, 11, r),
        ProtocolOp::ModifyDnRequest(m) => ber::put_tlv(out, app(12), |out| {
            ber::put_octets(out, OCTET_STRING, m.dn.as_bytes());
            ber::put_octets(out, OCTET_STRING, m.new_rdn.as_bytes());
            ber::put_boolean(out, BOOLEAN, m.delete_old_rdn);
            if let Some(s) = &m.new_superior {
                ber::put_octets(out, Tag::context(0, false), s.as_bytes());
            }
        }),
        ProtocolOp::ModifyDnResponse(r) => encode_result(out, 13, r),
        ProtocolOp::CompareRequest(c) => ber::put_tlv(out, app(14), |out| {
            ber::put_octets(out, OCTET_STRING, c.dn.as_bytes());
            filter::encode_ava(out, SEQUENCE, &c.attr, &c.value);
        }),
        ProtocolOp::CompareResponse(r) => encode_result(out, 15, r),
        ProtocolOp::AbandonRequest(id) => {
            ber::put_integer(out, Tag::application(16, false), i64::from(*id));
        }
        ProtocolOp::ExtendedRequest(e) => ber::put_tlv(out, app(23), |out| {
            ber::put_octets(out, Tag::context(0, false), e.name.as_bytes());
            if let Some(v) = &e.value {
                ber::put_octets(out, Tag::context(1, false), v);
            }
        }),
        ProtocolOp::ExtendedResponse(e) => ber::put_tlv(out, app(24), |out| {
            encode_result_fields(&e.result, out);
            if let Some(n) = &e.name {
                ber::put_octets(out, Tag::context(10, false), n.as_bytes());
            }
            if let Some(v) = &e.value {
                ber::put_octets(out, Tag::context(11, false), v);
            }
        }),
        ProtocolOp::IntermediateResponse(i) => ber::put_tlv(out, app(25), |out| {
            if let Some(n) = &i.name {
                ber::put_octets(out, Tag::context(0, false), n.as_bytes());
            }
            if let Some(v) = &i.value {
                ber::put_octets(out, Tag::context(1, false), v);
            }
        }),
        ProtocolOp::Unknown(u) => {
            ber::put_octets(out, Tag::application(u.tag, u.constructed), &u.contents);
        }
    }
}

/// Encodes a SearchResultEntry (exposed to the crate because the session's hot path builds
/// entries straight from directory data).
pub(crate) fn encode_search_result_entry(e: &SearchResultEntry, out: &mut BytesMut) {
    ber::put_tlv(out, Tag::application(4, true), |out| {
        ber::put_octets(out, OCTET_STRING, e.dn.as_bytes());
        ber::put_tlv(out, SEQUENCE, |out| {
            for a in &e.attributes {
                encode_attribute(a, out);
            }
        });
    });
}

fn encode_attribute(a: &Attribute, out: &mut BytesMut) {
    ber::put_tlv(out, SEQUENCE, |out| {
        ber::put_octets(out, OCTET_STRING, a.description.as_bytes());
        ber::put_tlv(out, SET, |out| {
            for v in &a.values {
                ber::put_octets(out, OCTET_STRING, v);
            }
        });
    });
}

fn encode_result(out: &mut BytesMut, app: u32, r: &LdapResult) {
    ber::put_tlv(out, Tag::application(app, true), |out| {
        encode_result_fields(r, out)
    });
}

fn encode_result_fields(r: &LdapResult, out: &mut BytesMut) {
    ber::put_integer(out, ENUMERATED, i64::from(r.code.code()));
    ber::put_octets(out, OCTET_STRING, r.matched_dn.as_bytes());
    ber::put_octets(out, OCTET_STRING, r.diagnostic_message.as_bytes());
    if !r.referral.is_empty() {
        ber::put_tlv(out, Tag::context(3, true), |out| {
            for u in &r.referral {
                ber::put_octets(out, OCTET_STRING, u.as_bytes());
            }
        });
    }
}
