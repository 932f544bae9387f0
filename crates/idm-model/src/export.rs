//! Canonical JSON of the whole model: versioned, deterministic, validated on the way in.
//!
//! The same bytes come out for the same model (entries sorted by name, maps ordered), so that
//! two exports can be compared with `diff` and a backup → restore → export round trip can be
//! checked for equality. Secrets (password hashes, token digests) are included only on request.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entry::{Entry, Group, Person, ServiceAccount, Tombstone};
use crate::error::ModelError;
use crate::{PROFILE_VERSION, validate};

/// Largest canonical JSON document the importer reads (protects the server's memory).
pub const MAX_IMPORT_BYTES: usize = 512 * 1024 * 1024;
/// Deepest group nesting accepted (bounds every transitive walk).
pub const MAX_NESTING_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub profile_version: u32,
    #[serde(default)]
    pub persons: Vec<Person>,
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccount>,
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub tombstones: Vec<Tombstone>,
    #[serde(default)]
    pub oauth2_clients: Vec<crate::oauth2::OAuth2Client>,
    /// Every POSIX id no longer in use (by deleted entries, or given up by live ones) → its
    /// former owner: never handed out again, also after a restore or import.
    #[serde(default)]
    pub retired_posix_ids: BTreeMap<u32, Uuid>,
    /// The next POSIX id the allocator will try (never moves backwards).
    #[serde(default)]
    pub posix_next: u32,
    /// Whether password hashes and token digests are included.
    #[serde(default)]
    pub includes_secrets: bool,
}

impl Snapshot {
    /// Builds a snapshot from entries in any order.
    pub fn new(
        entries: impl IntoIterator<Item = Entry>,
        mut tombstones: Vec<Tombstone>,
        posix_next: u32,
        include_secrets: bool,
    ) -> Snapshot {
        let mut persons = Vec::new();
        let mut service_accounts = Vec::new();
        let mut groups = Vec::new();
        for e in entries {
            let e = if include_secrets {
                e
            } else {
                e.without_secrets()
            };
            match e {
                Entry::Person(p) => persons.push(p),
                Entry::ServiceAccount(s) => service_accounts.push(s),
                Entry::Group(g) => groups.push(g),
            }
        }
        persons.sort_by(|a, b| a.name.cmp(&b.name));
        service_accounts.sort_by(|a, b| a.name.cmp(&b.name));
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        tombstones.sort_by_key(|t| t.uuid);
        Snapshot {
            profile_version: PROFILE_VERSION,
            persons,
            service_accounts,
            groups,
            tombstones,
            oauth2_clients: Vec::new(),
            retired_posix_ids: BTreeMap::new(),
            posix_next,
            includes_secrets: include_secrets,
        }
    }

    /// Adds client registrations (sorted; secret digests kept only with secrets).
    pub fn with_oauth2_clients(mut self, mut clients: Vec<crate::oauth2::OAuth2Client>) -> Self {
        if !self.includes_secrets {
            for c in &mut clients {
                c.secret_digest.clear();
            }
        }
        clients.sort_by(|a, b| a.name.cmp(&b.name));
        self.oauth2_clients = clients;
        self
    }

    pub fn with_retired_posix_ids(mut self, ids: BTreeMap<u32, Uuid>) -> Self {
        self.retired_posix_ids = ids;
        self
    }

    pub fn to_json(&self) -> Result<String, ModelError> {
        serde_json::to_string_pretty(self).map_err(|e| ModelError::Json(e.to_string()))
    }

    /// Parses and fully validates canonical JSON; nothing is half-accepted.
    pub fn from_json(bytes: &[u8]) -> Result<Snapshot, ModelError> {
        if bytes.len() > MAX_IMPORT_BYTES {
            return Err(ModelError::Json(format!(
                "document larger than {MAX_IMPORT_BYTES} bytes"
            )));
        }
        #[derive(Deserialize)]
        struct Version {
            profile_version: Option<u32>,
        }
        let v: Version =
            serde_json::from_slice(bytes).map_err(|e| ModelError::Json(e.to_string()))?;
        match v.profile_version {
            Some(PROFILE_VERSION) => {}
            Some(found) => {
                return Err(ModelError::ProfileVersion {
                    found,
                    supported: PROFILE_VERSION,
                });
            }
            None => return Err(ModelError::Json("missing profile_version".into())),
        }
        let s: Snapshot =
            serde_json::from_slice(bytes).map_err(|e| ModelError::Json(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        self.persons
            .iter()
            .cloned()
            .map(Entry::Person)
            .chain(
                self.service_accounts
                    .iter()
                    .cloned()
                    .map(Entry::ServiceAccount),
            )
            .chain(self.groups.iter().cloned().map(Entry::Group))
    }

    /// Every rule the store enforces on writes, checked over the whole document.
    pub fn validate(&self) -> Result<(), ModelError> {
        let mut uuids = HashSet::new();
        let mut names: HashMap<String, Uuid> = HashMap::new();
        let mut mails: HashMap<String, Uuid> = HashMap::new();
        let mut ids: HashMap<u32, Uuid> = HashMap::new();
        for e in self.entries() {
            let ctx = |m: ModelError| match m {
                ModelError::Invalid(v) => ModelError::Invalid(crate::Violation::new(
                    format!("{} {:?}: {}", e.kind(), e.name(), v.field),
                    v.rule,
                )),
                other => other,
            };
            check_entry(&e).map_err(ctx)?;
            if !uuids.insert(e.uuid()) {
                return Err(ModelError::Inconsistent(format!(
                    "uuid {} is used twice",
                    e.uuid()
                )));
            }
            if names.insert(e.name().to_owned(), e.uuid()).is_some() {
                return Err(ModelError::Inconsistent(format!(
                    "name {:?} is used twice",
                    e.name()
                )));
            }
            for m in e.mails() {
                if mails.insert(validate::mail_key(m), e.uuid()).is_some() {
                    return Err(ModelError::Inconsistent(format!(
                        "mail {m:?} is used twice"
                    )));
                }
            }
            for id in e.posix_ids() {
                if let Some(other) = ids.insert(id, e.uuid())
                    && other != e.uuid()
                {
                    return Err(ModelError::Inconsistent(format!(
                        "POSIX id {id} is used twice"
                    )));
                }
            }
        }
        for t in &self.tombstones {
            if uuids.contains(&t.uuid) {
                return Err(ModelError::Inconsistent(format!(
                    "uuid {} is both live and deleted",
                    t.uuid
                )));
            }
            for id in &t.posix_ids {
                if ids.contains_key(id) {
                    return Err(ModelError::Inconsistent(format!(
                        "POSIX id {id} of deleted {:?} is reused",
                        t.name
                    )));
                }
            }
        }
        for id in self.retired_posix_ids.keys() {
            if let Some(owner) = ids.get(id) {
                return Err(ModelError::Inconsistent(format!(
                    "POSIX id {id} is retired but used by {owner}"
                )));
            }
        }
        // Members exist, and the group graph has no cycle.
        let groups: BTreeMap<Uuid, &Group> = self.groups.iter().map(|g| (g.uuid, g)).collect();
        for g in &self.groups {
            for m in &g.members {
                if !uuids.contains(m) {
                    return Err(ModelError::Inconsistent(format!(
                        "group {:?} has a member {m} that does not exist",
                        g.name
                    )));
                }
            }
        }
        if let Some(g) = find_cycle(&groups) {
            return Err(ModelError::Inconsistent(format!(
                "group {g:?} contains itself through nesting"
            )));
        }
        let mut client_names = HashSet::new();
        for c in &self.oauth2_clients {
            c.validate()?;
            if !client_names.insert(c.name.as_str()) || !uuids.insert(c.uuid) {
                return Err(ModelError::Inconsistent(format!(
                    "OAuth2 client {:?} is listed twice",
                    c.name
                )));
            }
            let mapped = c
                .scope_maps
                .keys()
                .chain(c.claim_maps.values().flat_map(|m| m.keys()));
            for g in mapped {
                if !groups.contains_key(g) {
                    return Err(ModelError::Inconsistent(format!(
                        "OAuth2 client {:?} maps a group {g} that does not exist",
                        c.name
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Field-level rules of one entry.
pub fn check_entry(e: &Entry) -> Result<(), ModelError> {
    validate::name("name", e.name())?;
    match e {
        Entry::Person(p) => {
            validate::display_name(&p.display_name)?;
            if let Some(l) = &p.legal_name {
                validate::text("legal_name", l, validate::DISPLAY_NAME_MAX)?;
            }
            validate::mails(&p.mails)?;
            if let Some(x) = &p.posix {
                validate::posix_path("posix.login_shell", &x.login_shell)?;
                validate::posix_path("posix.home_directory", &x.home_directory)?;
            }
            if p.ssh_keys.len() > validate::SSH_KEYS_MAX {
                return Err(ModelError::invalid(
                    "ssh_keys",
                    format!("at most {} keys", validate::SSH_KEYS_MAX),
                ));
            }
            for l in p.ssh_keys.keys() {
                validate::label("ssh_keys", l)?;
            }
            check_credentials(&p.credentials)?;
        }
        Entry::ServiceAccount(s) => {
            validate::display_name(&s.display_name)?;
            validate::mails(&s.mails)?;
            if let Some(d) = &s.description {
                validate::text("description", d, validate::DESCRIPTION_MAX)?;
            }
            if s.api_tokens.len() > validate::API_TOKENS_MAX {
                return Err(ModelError::invalid(
                    "api_tokens",
                    format!("at most {} tokens", validate::API_TOKENS_MAX),
                ));
            }
            for t in &s.api_tokens {
                validate::label("api_tokens.label", &t.label)?;
            }
        }
        Entry::Group(g) => {
            if let Some(d) = &g.description {
                validate::text("description", d, validate::DESCRIPTION_MAX)?;
            }
            if let Some(policy) = &g.credential_policy {
                policy
                    .check()
                    .map_err(|e| ModelError::invalid("credential_policy", e))?;
            }
            if g.members.contains(&g.uuid) {
                return Err(ModelError::invalid(
                    "members",
                    "a group cannot contain itself",
                ));
            }
        }
    }
    Ok(())
}

/// Second factors: bounded counts, unique labels (and credential ids), sane TOTP settings.
fn check_credentials(c: &crate::entry::Credentials) -> Result<(), ModelError> {
    use crate::credential::{MAX_TOTP, MAX_WEBAUTHN, check_label};
    if c.totp.len() > MAX_TOTP {
        return Err(ModelError::invalid(
            "credentials.totp",
            format!("at most {MAX_TOTP} authenticators"),
        ));
    }
    if c.webauthn.len() > MAX_WEBAUTHN {
        return Err(ModelError::invalid(
            "credentials.webauthn",
            format!("at most {MAX_WEBAUTHN} passkeys and security keys"),
        ));
    }
    let mut labels = BTreeSet::new();
    for t in &c.totp {
        check_label(&t.label).map_err(|e| ModelError::invalid("credentials.totp.label", e))?;
        if !labels.insert(t.label.to_lowercase()) {
            return Err(ModelError::invalid(
                "credentials.totp.label",
                format!("the label {:?} is used twice", t.label),
            ));
        }
        if !matches!(t.algorithm.as_str(), "sha1" | "sha256" | "sha512")
            || !(6..=8).contains(&t.digits)
            || !(15..=120).contains(&t.period)
            || t.secret.is_empty()
            || t.secret.len() > 128
        {
            return Err(ModelError::invalid(
                "credentials.totp",
                "unsupported TOTP settings",
            ));
        }
    }
    let mut labels = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for w in &c.webauthn {
        check_label(&w.label).map_err(|e| ModelError::invalid("credentials.webauthn.label", e))?;
        if !labels.insert(w.label.to_lowercase()) {
            return Err(ModelError::invalid(
                "credentials.webauthn.label",
                format!("the label {:?} is used twice", w.label),
            ));
        }
        if !ids.insert(w.credential_id.as_str()) {
            return Err(ModelError::invalid(
                "credentials.webauthn.credential_id",
                "a credential is registered twice",
            ));
        }
    }
    if let Some(b) = &c.backup_codes
        && b.digests.len() > 64
    {
        return Err(ModelError::invalid(
            "credentials.backup_codes",
            "too many codes",
        ));
    }
    Ok(())
}

/// Depth-first search for a cycle in the group → member-group graph; returns a group on it.
fn find_cycle(groups: &BTreeMap<Uuid, &Group>) -> Option<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: HashMap<Uuid, Mark> = HashMap::new();
    for &start in groups.keys() {
        if marks.contains_key(&start) {
            continue;
        }
        // Iterative DFS: (group, its member groups still to visit).
        let mut stack: Vec<(Uuid, Vec<Uuid>)> = Vec::new();
        let children = |u: Uuid| -> Vec<Uuid> {
            groups
                .get(&u)
                .map(|g| {
                    g.members
                        .iter()
                        .copied()
                        .filter(|m| groups.contains_key(m))
                        .collect()
                })
                .unwrap_or_default()
        };
        marks.insert(start, Mark::Visiting);
        stack.push((start, children(start)));
        while let Some((node, rest)) = stack.last_mut() {
            let node = *node;
            match rest.pop() {
                Some(c) => match marks.get(&c) {
                    Some(Mark::Visiting) => {
                        return groups.get(&c).map(|g| g.name.clone());
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(c, Mark::Visiting);
                        let ch = children(c);
                        stack.push((c, ch));
                    }
                },
                None => {
                    marks.insert(node, Mark::Done);
                    stack.pop();
                }
            }
        }
    }
    None
}

/// Names of groups a set of groups reaches upwards, for tests and the reference model.
pub fn closure(direct: &BTreeMap<Uuid, BTreeSet<Uuid>>, start: Uuid) -> BTreeSet<Uuid> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<Uuid> = direct.get(&start).into_iter().flatten().copied().collect();
    while let Some(g) = todo.pop() {
        if out.insert(g) {
            todo.extend(direct.get(&g).into_iter().flatten().copied());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use proptest::prelude::*;

    fn t() -> chrono::DateTime<chrono::Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn group(n: u128, name: &str, members: &[u128]) -> Group {
        Group {
            credential_policy: None,
            uuid: Uuid::from_u128(n),
            name: name.into(),
            description: None,
            members: members.iter().map(|m| Uuid::from_u128(*m)).collect(),
            gid_number: None,
            created_at: t(),
            modified_at: t(),
        }
    }

    #[test]
    fn detects_cycles_and_dangling_members() {
        let ok = Snapshot::new(
            [group(1, "a", &[2]), group(2, "b", &[3]), group(3, "c", &[])]
                .into_iter()
                .map(Entry::Group),
            vec![],
            10_000,
            false,
        );
        ok.validate().unwrap();
        let cyc = Snapshot::new(
            [
                group(1, "a", &[2]),
                group(2, "b", &[3]),
                group(3, "c", &[1]),
            ]
            .into_iter()
            .map(Entry::Group),
            vec![],
            10_000,
            false,
        );
        assert!(
            cyc.validate()
                .unwrap_err()
                .to_string()
                .contains("contains itself")
        );
        let dangling = Snapshot::new([Entry::Group(group(1, "a", &[9]))], vec![], 0, false);
        assert!(
            dangling
                .validate()
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
    }

    #[test]
    fn json_round_trip_is_deterministic() {
        let s = Snapshot::new(
            [group(2, "zeta", &[1]), group(1, "alpha", &[])]
                .into_iter()
                .map(Entry::Group),
            vec![],
            10_000,
            false,
        );
        let j = s.to_json().unwrap();
        let back = Snapshot::from_json(j.as_bytes()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.to_json().unwrap(), j);
        assert_eq!(back.groups[0].name, "alpha");
    }

    #[test]
    fn version_is_checked() {
        let e = Snapshot::from_json(br#"{"profile_version": 99}"#).unwrap_err();
        assert!(matches!(e, ModelError::ProfileVersion { found: 99, .. }));
        assert!(Snapshot::from_json(b"{}").is_err());
        assert!(Snapshot::from_json(b"[").is_err());
    }

    proptest! {
        #[test]
        fn import_never_panics(s in any::<Vec<u8>>()) {
            let _ = Snapshot::from_json(&s);
        }

        #[test]
        fn import_never_panics_on_jsonish(s in "\\{\"profile_version\": ?1,( ?\"(persons|groups|tombstones|posix_next)\": ?(\\[\\]|[0-9]{1,3}|\\[\\{\\}\\]|null),?){0,4}\\}") {
            let _ = Snapshot::from_json(s.as_bytes());
        }
    }
}
