//! idm-oidc: signing and token-endpoint costs.
//!
//! - `oidc/es256_sign`, `oidc/rs256_sign`: one bare signature over a typical JWT signing
//!   input (the yardstick: the token endpoint cannot be cheaper than its signatures).
//! - `oidc/mint_id_and_access/{es256,rs256}`: build, serialise and sign an ID token and a
//!   JWT access token, as the token endpoint does.
//! - `oidc/token_endpoint_code/{es256,rs256}`: the whole token endpoint for an
//!   `authorization_code` grant in-process — form parse, `client_secret_post`
//!   authentication, code checks with PKCE, user claims, both tokens, refresh family,
//!   JSON response. The code record is prepared outside the timing loop, as the store
//!   lookup would be.
//!
//! Goal: the code-grant handler costs at most 1.3× one ES256 signature plus one signature
//! per extra token (two tokens here: ≤ 2.3× `es256_sign`). Ratios to `oidc/es256_sign`
//! from one run: see the OIDC section of `benches/README.md`.

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use idm_oidc::claims::{ACCESS_TOKEN_TYP, ID_TOKEN_TYP};
use idm_oidc::jose::sign_jwt;
use idm_oidc::rand_core::{TryCryptoRng, TryRng};
use idm_oidc::{
    AccessTokenClaims, Assurance, AuthorizationCode, ClientAuthMethod, ClientRegistration,
    ClientSecret, CodeChallenge, CodeGrant, GrantLookup, GroupRef, IdTokenClaims, JwsAlg, KeySet,
    Limits, PrincipalType, ProfileClaims, Provider, ProviderConfig, RequestHeaders, ScopeSet,
    ScopedClaims, SigningKey, TokenContext, TokenRequest, UserClaims,
};

const RSA_PEM: &str = include_str!("../../crates/idm-oidc/src/testdata/rsa2048-a.pem");
const ISSUER: &str = "https://idm.example.com";
const REDIRECT: &str = "https://app.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const SUBJECT: &str = "8f6c1a52-0b6e-4d2c-9a0e-2f1d7c3b4a5e";

/// SplitMix64: deterministic and fast. Only RSA blinding and PSS salts draw from it here;
/// a benchmark needs repeatability, not secrecy. Never use outside benches.
struct BenchRng(u64);

impl TryRng for BenchRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for BenchRng {}

fn es256() -> SigningKey {
    SigningKey::es256_from_bytes("es-1", &[0x42; 32]).expect("fixed scalar")
}

fn rs256() -> SigningKey {
    SigningKey::from_pkcs8_pem("rs-1", JwsAlg::RS256, RSA_PEM).expect("test key")
}

fn user() -> UserClaims {
    UserClaims {
        subject: SUBJECT.to_owned(),
        principal_type: PrincipalType::Person,
        name: Some("Alice Example".to_owned()),
        preferred_username: Some("alice".to_owned()),
        updated_at: Some(1_700_000_000),
        email: Some("alice@example.com".to_owned()),
        email_verified: true,
        groups: vec![
            GroupRef {
                name: "staff".to_owned(),
                uuid: "00000000-0000-4000-8000-000000000001".to_owned(),
            },
            GroupRef {
                name: "engineering".to_owned(),
                uuid: "00000000-0000-4000-8000-000000000002".to_owned(),
            },
        ],
        roles: vec!["editor".to_owned()],
    }
}

fn profile(scope: &str) -> ProfileClaims {
    ProfileClaims {
        tenant: "acme".to_owned(),
        principal_type: PrincipalType::Person,
        roles: vec!["editor".to_owned()],
        scope: scope.to_owned(),
        assurance: Assurance::Password,
    }
}

fn scoped() -> ScopedClaims {
    ScopedClaims {
        name: Some("Alice Example".to_owned()),
        preferred_username: Some("alice".to_owned()),
        updated_at: Some(1_700_000_000),
        email: Some("alice@example.com".to_owned()),
        email_verified: Some(true),
        groups: Some(vec!["staff".to_owned(), "engineering".to_owned()]),
    }
}

fn access_claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISSUER.to_owned(),
        sub: SUBJECT.to_owned(),
        aud: "app".to_owned(),
        client_id: "app".to_owned(),
        jti: "Jm9Q2lYc1pR3r0wq4e8xZg".to_owned(),
        exp: 1_700_000_600,
        iat: 1_700_000_000,
        auth_time: Some(1_699_999_990),
        acr: None,
        amr: Some(vec!["pwd".to_owned()]),
        sid: Some("sess-1".to_owned()),
        cnf: None,
        scoped: scoped(),
        profile: profile("email groups openid profile"),
        custom: Default::default(),
    }
}

fn id_claims(now: i64) -> IdTokenClaims {
    IdTokenClaims {
        iss: ISSUER.to_owned(),
        sub: SUBJECT.to_owned(),
        aud: "app".to_owned(),
        exp: now + 600,
        iat: now,
        auth_time: Some(now - 10),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        azp: Some("app".to_owned()),
        sid: Some("sess-1".to_owned()),
        acr: None,
        amr: Some(vec!["pwd".to_owned()]),
        at_hash: Some("77QmUPtjPfzWtF2AnpK9RQ".to_owned()),
        scoped: scoped(),
        profile: profile("email groups openid profile"),
        custom: Default::default(),
    }
}

fn bench_sign(c: &mut Criterion) {
    // A realistic signing input: the header.payload of one of the access tokens minted
    // below (signing cost depends only on the length, through SHA-256).
    let token = sign_jwt(
        &es256(),
        ACCESS_TOKEN_TYP,
        &access_claims(),
        &mut BenchRng(0),
    )
    .expect("mint");
    let input = token
        .rsplit_once('.')
        .map(|(i, _)| i.to_owned())
        .unwrap_or_default();
    let es = es256();
    let rs = rs256();
    let mut rng = BenchRng(1);
    c.bench_function("oidc/es256_sign", |b| {
        b.iter(|| {
            es.sign(black_box(input.as_bytes()), &mut rng)
                .expect("sign")
        })
    });
    c.bench_function("oidc/rs256_sign", |b| {
        b.iter(|| {
            rs.sign(black_box(input.as_bytes()), &mut rng)
                .expect("sign")
        })
    });
}

fn bench_mint(c: &mut Criterion) {
    let now = 1_700_000_000;
    let mut rng = BenchRng(2);
    for (name, key) in [("es256", es256()), ("rs256", rs256())] {
        c.bench_function(&format!("oidc/mint_id_and_access/{name}"), |b| {
            b.iter(|| {
                let access =
                    sign_jwt(&key, ACCESS_TOKEN_TYP, &access_claims(), &mut rng).expect("sign");
                let id = sign_jwt(&key, ID_TOKEN_TYP, &id_claims(now), &mut rng).expect("sign");
                black_box((access, id))
            })
        });
    }
}

fn bench_token_endpoint(c: &mut Criterion) {
    let now = 1_700_000_000;
    let provider =
        Provider::new(ProviderConfig::new(ISSUER, "acme").expect("config")).expect("provider");
    let keys = KeySet::new(vec![es256(), rs256()]).expect("keys");
    let secret = ClientSecret::generate([7; 32]);
    let code = AuthorizationCode::generate([9; 32]);
    let grant = CodeGrant {
        client_id: "app".to_owned(),
        redirect_uri: REDIRECT.to_owned(),
        scopes: ScopeSet::from_tokens(["openid", "profile", "email", "groups"]).expect("scopes"),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        code_challenge: Some(CodeChallenge::s256(VERIFIER)),
        subject: SUBJECT.to_owned(),
        auth_time: now - 10,
        amr: vec!["pwd".to_owned()],
        acr: None,
        assurance: Assurance::Password,
        session_id: "sess-1".to_owned(),
        dpop_jkt: None,
        issued_at: now - 2,
        expires_at: now + 58,
    };
    // client_secret_post: the same digest check as Basic without the base64 step.
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&code_verifier={VERIFIER}&client_id=app&client_secret={}",
        code.as_str(),
        secret.expose()
    );
    let user = user();
    let mut rng = BenchRng(3);
    for (name, alg) in [("es256", JwsAlg::ES256), ("rs256", JwsAlg::RS256)] {
        let mut client =
            ClientRegistration::confidential("app", secret.digest(), vec![REDIRECT.to_owned()]);
        client.auth_method = ClientAuthMethod::ClientSecretPost {
            secret_digest: secret.digest(),
        };
        client.allowed_scopes = grant.scopes.clone();
        client.signing_alg = alg;
        c.bench_function(&format!("oidc/token_endpoint_code/{name}"), |b| {
            b.iter(|| {
                let headers = RequestHeaders::from_pairs([(
                    "content-type",
                    &b"application/x-www-form-urlencoded"[..],
                )])
                .expect("headers");
                let req =
                    TokenRequest::parse(black_box(body.as_bytes()), &headers, &Limits::default())
                        .expect("parse");
                let authed = provider
                    .authenticate_client(&req.credentials, &client, now)
                    .expect("auth");
                let ctx = TokenContext {
                    client: &client,
                    authenticated: &authed,
                    lookup: GrantLookup::Code {
                        grant: Some(&grant),
                        already_redeemed: false,
                    },
                    user: Some(&user),
                    dpop: None,
                    keys: &keys,
                    now,
                };
                black_box(provider.token(&req, ctx, &mut rng).expect("tokens"))
            })
        });
    }
}

criterion_group!(benches, bench_sign, bench_mint, bench_token_endpoint);
criterion_main!(benches);
