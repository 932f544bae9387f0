//! Token, introspection, revocation and end-session requests on arbitrary form bodies and
//! headers: parsing never panics, and errors always map to a wire error.
#![no_main]

use idm_oidc::{
    EndSessionRequest, IntrospectionRequest, Limits, RequestHeaders, ResourceRequest,
    RevocationRequest, TokenRequest,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First line: header pairs "name:value" separated by '\n' up to an empty line; rest: body.
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (
            data.get(..i).unwrap_or_default(),
            data.get(i + 2..).unwrap_or_default(),
        ),
        None => (&b""[..], data),
    };
    let pairs: Vec<(&str, &[u8])> = head
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let i = line.iter().position(|&b| b == b':')?;
            let name = std::str::from_utf8(line.get(..i)?).ok()?;
            Some((name, line.get(i + 1..)?))
        })
        .collect();
    let limits = Limits::default();
    let headers = match RequestHeaders::from_pairs(pairs) {
        Ok(h) => h,
        Err(e) => {
            let _ = e.json_response();
            return;
        }
    };
    match TokenRequest::parse(body, &headers, &limits) {
        Ok(req) => {
            let _ = req.client_id();
        }
        Err(e) => {
            let r = e.json_response();
            assert!(r.status >= 400);
        }
    }
    let _ = IntrospectionRequest::parse(body, &headers, &limits);
    let _ = RevocationRequest::parse(body, &headers, &limits);
    let _ = EndSessionRequest::parse(body, &limits);
    let _ = ResourceRequest::from_headers(&headers, &limits);
});
