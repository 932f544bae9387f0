//! The login decisions behind the second-factor step, on the real store: what a login must
//! reach (policy, held factors, acr_values), TOTP codes accepted once, backup codes once,
//! failures counted towards the soft lockout, and the break-glass admin exempt.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use idm_mfa::{BackupCodes, CredentialClass, Method, MfaType, Totp, TotpSecret};
use idm_model::access::{ADMIN_UUID, IDM_ADMINS_UUID};
use idm_model::audit::Actor;
use idm_model::change::Change;
use idm_model::credential::{BackupCodeSet, CredentialPolicy, MfaType as ModelMfa};
use idm_model::{Entry, Group, Person};
use idm_server::config::Config;
use idm_server::login::{self, Next};
use idm_server::mfa;
use idm_server::state::AppState;
use idm_store::{Store, StoreConfig};
use uuid::Uuid;

fn state() -> AppState {
    let store = Store::in_memory(StoreConfig::default()).unwrap();
    store.ensure_builtins(Utc::now()).unwrap();
    let mut cfg = Config::default();
    cfg.password.hash = idm_mfa::HashParams {
        m_cost_kib: 1024,
        t_cost: 1,
        p_cost: 1,
    };
    cfg.lockout.max_failures = 3;
    AppState::new(Arc::new(store), Arc::new(cfg)).unwrap()
}

fn actor() -> Actor {
    Actor {
        uuid: None,
        name: "test".into(),
    }
}

fn apply(st: &AppState, c: Change) -> Option<Entry> {
    st.store
        .apply(&c, &actor(), Utc::now(), None)
        .unwrap()
        .entry
}

fn person(st: &AppState, n: u128, name: &str) -> Person {
    let now = Utc::now();
    let p = Person {
        uuid: Uuid::from_u128(n),
        name: name.into(),
        display_name: name.into(),
        legal_name: None,
        mails: vec![],
        valid_from: None,
        expire_at: None,
        lock: None,
        posix: None,
        ssh_keys: Default::default(),
        credentials: Default::default(),
        created_at: now,
        modified_at: now,
    };
    apply(st, Change::CreatePerson(p.clone()));
    p
}

fn reload(st: &AppState, uuid: Uuid) -> Person {
    match st.store.get(uuid).unwrap() {
        Some(Entry::Person(p)) => p,
        other => panic!("{other:?}"),
    }
}

fn group_with_policy(
    st: &AppState,
    n: u128,
    name: &str,
    members: &[Uuid],
    policy: CredentialPolicy,
) {
    let now = Utc::now();
    apply(
        st,
        Change::CreateGroup(Group {
            uuid: Uuid::from_u128(n),
            name: name.into(),
            description: None,
            members: members.iter().copied().collect(),
            gid_number: None,
            credential_policy: None,
            created_at: now,
            modified_at: now,
        }),
    );
    apply(
        st,
        Change::SetCredentialPolicy {
            group: Uuid::from_u128(n),
            policy: Some(policy),
        },
    );
}

fn enrol_totp(st: &AppState, p: &Person) -> Totp {
    let totp = Totp::new_default(TotpSecret::new(vec![7u8; 20]).unwrap());
    apply(
        st,
        Change::SetTotp {
            uuid: p.uuid,
            credential: mfa::totp_credential("phone", &totp, Utc::now()),
            replace: false,
        },
    );
    totp
}

fn pw() -> Vec<Method> {
    vec![Method::Password]
}

#[test]
fn a_password_is_enough_until_a_factor_or_a_policy_says_otherwise() {
    let st = state();
    let alice = person(&st, 1, "alice");
    let next = login::next_after(&st, &alice, &pw(), CredentialClass::Password).unwrap();
    assert!(matches!(next, Next::Done(_)), "{next:?}");

    // acr_values=urn:idm:acr:mfa without any second factor: cannot be met.
    let next = login::next_after(&st, &alice, &pw(), CredentialClass::PasswordMfa).unwrap();
    assert!(matches!(next, Next::Refused(_)), "{next:?}");

    // Holding TOTP makes it part of every password login.
    enrol_totp(&st, &alice);
    let alice = reload(&st, alice.uuid);
    match login::next_after(&st, &alice, &pw(), CredentialClass::Password).unwrap() {
        Next::More { needed, factors } => {
            assert_eq!(needed, CredentialClass::PasswordMfa);
            assert_eq!(factors, vec![MfaType::Totp]);
        }
        other => panic!("{other:?}"),
    }
    let both = vec![Method::Password, Method::Totp];
    assert!(matches!(
        login::next_after(&st, &alice, &both, CredentialClass::Password).unwrap(),
        Next::Done(_)
    ));

    // A group policy demanding a passkey refuses password + TOTP (she has no passkey).
    group_with_policy(
        &st,
        50,
        "secure",
        &[alice.uuid],
        CredentialPolicy {
            min_class: idm_model::credential::CredentialClass::Passkey,
            min_password_length: None,
            allowed_mfa: None,
            aaguid_allow_list: None,
        },
    );
    let next = login::next_after(&st, &alice, &both, CredentialClass::Password).unwrap();
    assert!(
        matches!(&next, Next::Refused(m) if m.contains("passkey")),
        "{next:?}"
    );
}

#[test]
fn idm_admins_need_a_second_factor_and_the_break_glass_admin_does_not() {
    let st = state();
    let bob = person(&st, 2, "bob");
    apply(
        &st,
        Change::AddMembers {
            group: IDM_ADMINS_UUID,
            members: vec![bob.uuid],
        },
    );
    let effective = mfa::effective_policy(&st.store, &bob).unwrap();
    assert_eq!(effective.min_class, CredentialClass::PasswordMfa);
    assert!(matches!(
        login::next_after(&st, &bob, &pw(), CredentialClass::Password).unwrap(),
        Next::Refused(_)
    ));
    let admin = reload(&st, ADMIN_UUID);
    assert!(mfa::effective_policy(&st.store, &admin).unwrap().exempt);
    assert!(matches!(
        login::next_after(&st, &admin, &pw(), CredentialClass::Password).unwrap(),
        Next::Done(_)
    ));
}

#[test]
fn a_totp_code_is_accepted_once_and_failures_lead_to_the_lockout() {
    let st = state();
    let carol = person(&st, 3, "carol");
    let totp = enrol_totp(&st, &carol);
    let code = totp.code_at(Utc::now());
    let used = login::check_code(&st, carol.uuid, &code, None, "test").unwrap();
    assert_eq!(used, Some(Method::Totp));
    // The same code again: replay, refused.
    assert_eq!(
        login::check_code(&st, carol.uuid, &code, None, "test").unwrap(),
        None
    );
    let stored = reload(&st, carol.uuid);
    assert!(stored.credentials.totp[0].last_step.is_some());
    // Wrong codes count towards the soft lockout shared with the password (3 here, and the
    // replay above was the first failure); once locked, even a right code is refused.
    assert_eq!(
        login::check_code(&st, carol.uuid, "000000", None, "test").unwrap(),
        None
    );
    assert_eq!(
        login::check_code(&st, carol.uuid, "not-a-code", None, "test").unwrap(),
        None
    );
    let next_step_code = totp.code_for_step(totp.step_at(Utc::now().timestamp()) + 1);
    assert_eq!(
        login::check_code(&st, carol.uuid, &next_step_code, None, "test").unwrap(),
        None,
        "locked out"
    );
    let audit = st.audit.flush().map(|()| {
        st.store
            .audit(&idm_store::AuditFilter {
                actor: Some("carol".into()),
                ..Default::default()
            })
            .unwrap()
    });
    let summaries: BTreeSet<String> = audit
        .unwrap()
        .into_iter()
        .filter(|e| e.event.action == "auth.mfa")
        .map(|e| e.event.summary)
        .collect();
    assert!(
        summaries.contains("test: TOTP code already used"),
        "{summaries:?}"
    );
    assert!(
        summaries.contains("test: TOTP \"phone\" accepted"),
        "{summaries:?}"
    );
}

#[test]
fn backup_codes_work_once_and_only_when_allowed() {
    let st = state();
    let dave = person(&st, 4, "dave");
    let random = [[9u8; 8]; 10];
    let mut random = random;
    for (i, r) in random.iter_mut().enumerate() {
        r[0] = i as u8;
    }
    let (codes, shown) = BackupCodes::generate(&random);
    apply(
        &st,
        Change::SetBackupCodes {
            uuid: dave.uuid,
            codes: Some(BackupCodeSet {
                digests: codes.digests,
                generated_at: Utc::now(),
            }),
        },
    );
    let used = login::check_code(&st, dave.uuid, &shown[3], None, "test").unwrap();
    assert_eq!(used, Some(Method::BackupCode));
    assert_eq!(
        login::check_code(&st, dave.uuid, &shown[3], None, "test").unwrap(),
        None,
        "single use"
    );
    assert_eq!(
        reload(&st, dave.uuid)
            .credentials
            .backup_codes
            .unwrap()
            .digests
            .len(),
        9
    );
    // A policy that allows only TOTP makes backup codes useless.
    group_with_policy(
        &st,
        51,
        "totp-only",
        &[dave.uuid],
        CredentialPolicy {
            min_class: idm_model::credential::CredentialClass::Password,
            min_password_length: None,
            allowed_mfa: Some([ModelMfa::Totp].into_iter().collect()),
            aaguid_allow_list: None,
        },
    );
    assert_eq!(
        login::check_code(&st, dave.uuid, &shown[4], None, "test").unwrap(),
        None
    );
}

#[test]
fn credential_reset_tokens_are_single_use_and_bounded() {
    let st = state();
    let erin = person(&st, 5, "erin");
    let now = Utc::now();
    assert!(mfa::create_reset_token(&st.store, erin.uuid, "admin", 30, now).is_err());
    assert!(mfa::create_reset_token(&st.store, erin.uuid, "admin", 8 * 86_400, now).is_err());
    let (token, expires) =
        mfa::create_reset_token(&st.store, erin.uuid, "admin", 3600, now).unwrap();
    assert_eq!((expires - now).num_seconds(), 3600);
    assert!(
        mfa::redeem_reset_token(&st.store, "wrong", now)
            .unwrap()
            .is_none()
    );
    let grant = mfa::redeem_reset_token(&st.store, &token, now)
        .unwrap()
        .unwrap();
    assert_eq!(grant.person, erin.uuid);
    assert!(
        mfa::redeem_reset_token(&st.store, &token, now)
            .unwrap()
            .is_none()
    );
    // Expired.
    let (token, _) = mfa::create_reset_token(&st.store, erin.uuid, "admin", 60, now).unwrap();
    let later = now + chrono::Duration::seconds(61);
    assert!(
        mfa::redeem_reset_token(&st.store, &token, later)
            .unwrap()
            .is_none()
    );
}

#[test]
fn login_bookkeeping_does_not_rebuild_directory_views() {
    let st = state();
    let frank = person(&st, 6, "frank");
    let totp = enrol_totp(&st, &frank);
    let before = st.store.generation();
    let code = totp.code_at(Utc::now());
    assert!(
        login::check_code(&st, frank.uuid, &code, None, "test")
            .unwrap()
            .is_some()
    );
    assert_eq!(st.store.generation(), before);
}
