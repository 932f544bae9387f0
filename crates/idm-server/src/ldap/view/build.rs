//! Building a [`LdapView`]: records are collected while the store is read (strings into the
//! arena, memberships as UUIDs), then every entry gets its position, memberships become
//! positions and reverse edges, each group its closure, and the value indexes are sorted.

use std::collections::HashMap;

use idm_model::access::{IDM_ACCOUNT_READ_PRIV, IDM_ADMINS};
use idm_model::{Entry, Group, Person, ServiceAccount};

use super::{
    CLASSES, GroupRec, KeyIndex, LdapView, NONE, PERSONAL_GROUP_MASK, PersonRec, PosixRec, Run,
    ServiceRec, Slot, Str, key_as, to_u32, too_large,
};
use crate::error::AppError;
use idm_ldap::schema::syntax_of;

/// Collects records while the store is read, then links and indexes them.
pub(super) struct Builder {
    v: LdapView,
    person_ids: Vec<u128>,
    service_ids: Vec<u128>,
    /// Groups with their UUIDs and direct members' UUIDs, until entry positions are known.
    pending_groups: Vec<(u128, GroupRec, Vec<u128>)>,
    /// `idm_account_read_priv` and `idm_admins`.
    reader_groups: Vec<u128>,
    /// Login shells are shared by most accounts: each kept once.
    shells: HashMap<String, Str>,
}

impl Builder {
    pub(super) fn new(base: &str, generation: u64) -> Builder {
        let mut v = LdapView::empty(base);
        v.generation = generation;
        Builder {
            v,
            person_ids: Vec::new(),
            service_ids: Vec::new(),
            pending_groups: Vec::new(),
            reader_groups: Vec::new(),
            shells: HashMap::new(),
        }
    }

    fn text(&mut self, s: &str) -> Result<Str, AppError> {
        let at = to_u32(self.v.text.len())?;
        let len = to_u32(s.len())?;
        at.checked_add(len).ok_or_else(too_large)?;
        self.v.text.push_str(s);
        Ok(Str { at, len })
    }

    fn texts<'s>(&mut self, list: impl IntoIterator<Item = &'s String>) -> Result<Run, AppError> {
        let at = to_u32(self.v.strs.len())?;
        for s in list {
            let s = self.text(s)?;
            self.v.strs.push(s);
        }
        Ok(Run {
            at,
            len: to_u32(self.v.strs.len())? - at,
        })
    }

    pub(super) fn add(&mut self, e: Entry) -> Result<(), AppError> {
        match e {
            Entry::Person(p) => self.person(&p),
            Entry::ServiceAccount(s) => self.service(&s),
            Entry::Group(g) => self.group(&g),
        }
    }

    fn person(&mut self, p: &Person) -> Result<(), AppError> {
        let posix = match &p.posix {
            Some(x) => {
                let login_shell = match self.shells.get(&x.login_shell) {
                    Some(s) => *s,
                    None => {
                        let s = self.text(&x.login_shell)?;
                        self.shells.insert(x.login_shell.clone(), s);
                        s
                    }
                };
                Some(PosixRec {
                    uid_number: x.uid_number,
                    gid_number: x.gid_number,
                    home_directory: self.text(&x.home_directory)?,
                    login_shell,
                })
            }
            None => None,
        };
        let rec = PersonRec {
            at: NONE,
            personal_at: NONE,
            name: self.text(&p.name)?,
            display_name: self.text(&p.display_name)?,
            mails: self.texts(&p.mails)?,
            ssh_keys: self.texts(p.ssh_keys.values())?,
            posix,
            created: p.created_at.timestamp(),
            modified: p.modified_at.timestamp(),
            groups: Run::default(),
        };
        self.v.persons.push(rec);
        self.person_ids.push(p.uuid.as_u128());
        Ok(())
    }

    fn service(&mut self, s: &ServiceAccount) -> Result<(), AppError> {
        let description = s.description.as_deref().map(|d| self.text(d)).transpose()?;
        let rec = ServiceRec {
            at: NONE,
            name: self.text(&s.name)?,
            display_name: self.text(&s.display_name)?,
            description,
            created: s.created_at.timestamp(),
            modified: s.modified_at.timestamp(),
            groups: Run::default(),
        };
        self.v.services.push(rec);
        self.service_ids.push(s.uuid.as_u128());
        Ok(())
    }

    fn group(&mut self, g: &Group) -> Result<(), AppError> {
        if matches!(g.name.as_str(), IDM_ACCOUNT_READ_PRIV | IDM_ADMINS) {
            self.reader_groups.push(g.uuid.as_u128());
        }
        let description = g.description.as_deref().map(|d| self.text(d)).transpose()?;
        let rec = GroupRec {
            at: NONE,
            name: self.text(&g.name)?,
            description,
            gid_number: g.gid_number,
            created: g.created_at.timestamp(),
            modified: g.modified_at.timestamp(),
            members: Run::default(),
            subgroups: Run::default(),
            parents: Run::default(),
            closure: Run::default(),
            below: 0,
            has_accounts: false,
        };
        let members = g.members.iter().map(|u| u.as_u128()).collect();
        self.pending_groups.push((g.uuid.as_u128(), rec, members));
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<LdapView, AppError> {
        // Groups in UUID order, so that group-table order is entry order.
        self.pending_groups.sort_by_key(|(u, _, _)| *u);
        let mut group_ids = Vec::with_capacity(self.pending_groups.len());
        let mut members_of = Vec::with_capacity(self.pending_groups.len());
        for (u, rec, members) in std::mem::take(&mut self.pending_groups) {
            group_ids.push(u);
            self.v.groups.push(rec);
            members_of.push(members);
        }
        self.place(&group_ids)?;
        self.rank()?;
        self.link(&members_of)?;
        drop(members_of);
        self.closures()?;
        self.readers(&group_ids);
        drop(group_ids);
        self.index();
        let mut v = self.v;
        v.text.shrink_to_fit();
        v.strs.shrink_to_fit();
        v.refs.shrink_to_fit();
        v.ids.shrink_to_fit();
        v.slots.shrink_to_fit();
        v.persons.shrink_to_fit();
        v.services.shrink_to_fit();
        v.groups.shrink_to_fit();
        v.by_name.shrink_to_fit();
        v.rank_of.shrink_to_fit();
        v.readers.shrink_to_fit();
        Ok(v)
    }

    /// Gives every entry its position: containers, records and personal groups, sorted by id.
    fn place(&mut self, group_ids: &[u128]) -> Result<(), AppError> {
        let v = &mut self.v;
        let mut all: Vec<(u128, Slot)> =
            v.ids.iter().copied().zip(v.slots.iter().copied()).collect();
        for (i, u) in self.person_ids.iter().enumerate() {
            all.push((*u, Slot::Person(to_u32(i)?)));
        }
        for (i, u) in self.service_ids.iter().enumerate() {
            all.push((*u, Slot::Service(to_u32(i)?)));
        }
        for (i, u) in group_ids.iter().enumerate() {
            all.push((*u, Slot::Group(to_u32(i)?)));
        }
        for (i, u) in self.person_ids.iter().enumerate() {
            if v.persons.get(i).is_some_and(|p| p.posix.is_some()) {
                all.push((*u ^ PERSONAL_GROUP_MASK, Slot::PersonalGroup(to_u32(i)?)));
            }
        }
        // Stable: on an id clash the entry pushed first (a real one) stays.
        all.sort_by_key(|(u, _)| *u);
        all.dedup_by_key(|(u, _)| *u);
        to_u32(all.len())?;
        (v.ids, v.slots) = all.into_iter().unzip();
        for (at, slot) in v.slots.iter().enumerate() {
            let at = to_u32(at)?;
            match *slot {
                Slot::Person(p) => {
                    if let Some(r) = v.persons.get_mut(p as usize) {
                        r.at = at;
                    }
                }
                Slot::PersonalGroup(p) => {
                    if let Some(r) = v.persons.get_mut(p as usize) {
                        r.personal_at = at;
                    }
                }
                Slot::Service(s) => {
                    if let Some(r) = v.services.get_mut(s as usize) {
                        r.at = at;
                    }
                }
                Slot::Group(g) => {
                    if let Some(r) = v.groups.get_mut(g as usize) {
                        r.at = at;
                    }
                }
                Slot::Base | Slot::Ou(_) => {}
            }
        }
        Ok(())
    }

    /// Account names in order (`by_name`), and each account's rank in it (`rank_of`).
    fn rank(&mut self) -> Result<(), AppError> {
        let v = &mut self.v;
        let mut accounts: Vec<(&str, Str, u32)> = v
            .persons
            .iter()
            .map(|r| (r.name, r.at))
            .chain(v.services.iter().map(|r| (r.name, r.at)))
            .filter(|(_, at)| *at != NONE)
            .map(|(name, at)| (v.str(name), name, at))
            .collect();
        accounts.sort_unstable_by(|a, b| a.0.cmp(b.0).then(a.2.cmp(&b.2)));
        let mut rank_of = vec![NONE; v.ids.len()];
        let mut by_name = Vec::with_capacity(accounts.len());
        for (rank, (_, name, at)) in accounts.into_iter().enumerate() {
            if let Some(r) = rank_of.get_mut(at as usize) {
                *r = to_u32(rank)?;
            }
            by_name.push(name);
        }
        v.by_name = by_name;
        v.rank_of = rank_of;
        Ok(())
    }

    /// Group members as entry positions, and the reverse edges: the groups each account (or
    /// group) is directly in, laid out back to back in `refs`.
    fn link(&mut self, members_of: &[Vec<u128>]) -> Result<(), AppError> {
        let v = &mut self.v;
        let mut degree = vec![0u32; v.ids.len()];
        for (g, members) in members_of.iter().enumerate() {
            let mut ats: Vec<u32> = members
                .iter()
                .filter_map(|u| v.ids.binary_search(u).ok())
                .filter(|&at| {
                    matches!(
                        v.slots.get(at),
                        Some(Slot::Person(_) | Slot::Service(_) | Slot::Group(_))
                    )
                })
                .filter_map(|at| u32::try_from(at).ok())
                .collect();
            ats.sort_unstable();
            ats.dedup();
            for &m in &ats {
                if let Some(d) = degree.get_mut(m as usize) {
                    *d += 1;
                }
            }
            let members = Run {
                at: to_u32(v.refs.len())?,
                len: to_u32(ats.len())?,
            };
            v.refs.extend_from_slice(&ats);
            let subgroups: Vec<u32> = ats
                .iter()
                .filter_map(|m| match v.slots.get(*m as usize) {
                    Some(Slot::Group(h)) => Some(*h),
                    _ => None,
                })
                .collect();
            let subgroups_run = Run {
                at: to_u32(v.refs.len())?,
                len: to_u32(subgroups.len())?,
            };
            v.refs.extend_from_slice(&subgroups);
            if let Some(r) = v.groups.get_mut(g) {
                r.members = members;
                r.subgroups = subgroups_run;
            }
        }
        // Each entry's list of groups starts at `start[at]` in the block appended to `refs`.
        let block = v.refs.len();
        let mut start = Vec::with_capacity(degree.len());
        let mut total = 0usize;
        for d in &degree {
            start.push(to_u32(block + total)?);
            total += *d as usize;
        }
        to_u32(block + total)?;
        v.refs.resize(block + total, 0);
        let mut fill = start.clone();
        for g in 0..v.groups.len() {
            let Some(run) = v.groups.get(g).map(|r| r.members) else {
                continue;
            };
            for i in run.range() {
                let Some(m) = v.refs.get(i).copied() else {
                    continue;
                };
                let Some(f) = fill.get_mut(m as usize) else {
                    continue;
                };
                if let Some(slot) = v.refs.get_mut(*f as usize) {
                    *slot = to_u32(g)?;
                }
                *f += 1;
            }
        }
        for (at, slot) in v.slots.iter().enumerate() {
            let (Some(&at_start), Some(&len)) = (start.get(at), degree.get(at)) else {
                continue;
            };
            let run = Run { at: at_start, len };
            match *slot {
                Slot::Person(p) => {
                    if let Some(r) = v.persons.get_mut(p as usize) {
                        r.groups = run;
                    }
                }
                Slot::Service(s) => {
                    if let Some(r) = v.services.get_mut(s as usize) {
                        r.groups = run;
                    }
                }
                Slot::Group(g) => {
                    if let Some(r) = v.groups.get_mut(g as usize) {
                        r.parents = run;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Each group's closure upwards (its memberOf), and what is below it.
    fn closures(&mut self) -> Result<(), AppError> {
        let v = &mut self.v;
        let n = v.groups.len();
        // `seen[h] == stamp`: visited in the current walk (one array for all walks).
        let mut seen = vec![NONE; n];
        let mut todo = Vec::new();
        for g in 0..n {
            let stamp = to_u32(g)?;
            let mut up = Vec::new();
            todo.clear();
            todo.extend_from_slice(v.groups.get(g).map_or(&[][..], |r| v.refs_of(r.parents)));
            while let Some(h) = todo.pop() {
                match seen.get_mut(h as usize) {
                    Some(s) if *s != stamp => *s = stamp,
                    _ => continue,
                }
                up.push(h);
                if let Some(r) = v.groups.get(h as usize) {
                    todo.extend_from_slice(v.refs_of(r.parents));
                }
            }
            up.sort_unstable();
            let run = Run {
                at: to_u32(v.refs.len())?,
                len: to_u32(up.len())?,
            };
            v.refs.extend_from_slice(&up);
            if let Some(r) = v.groups.get_mut(g) {
                r.closure = run;
            }
        }
        // Downwards, with fresh stamps.
        seen.fill(NONE);
        for g in 0..n {
            let stamp = to_u32(g)?;
            let mut below = 0u32;
            let mut has_accounts = false;
            todo.clear();
            todo.push(stamp);
            while let Some(h) = todo.pop() {
                match seen.get_mut(h as usize) {
                    Some(s) if *s != stamp => *s = stamp,
                    _ => continue,
                }
                let Some(r) = v.groups.get(h as usize) else {
                    continue;
                };
                below = below.saturating_add(r.members.len);
                for &m in v.refs_of(r.members) {
                    match v.slots.get(m as usize) {
                        Some(Slot::Group(k)) => todo.push(*k),
                        Some(Slot::Person(_) | Slot::Service(_)) => has_accounts = true,
                        _ => {}
                    }
                }
            }
            if let Some(r) = v.groups.get_mut(g) {
                r.below = below;
                r.has_accounts = has_accounts;
            }
        }
        Ok(())
    }

    /// The accounts in `idm_account_read_priv` or `idm_admins`, nesting included.
    fn readers(&mut self, group_ids: &[u128]) {
        let v = &mut self.v;
        let is_reader_group = |g: u32| {
            group_ids
                .get(g as usize)
                .is_some_and(|u| self.reader_groups.contains(u))
        };
        let grants: Vec<bool> = v
            .groups
            .iter()
            .enumerate()
            .map(|(g, r)| {
                u32::try_from(g).is_ok_and(is_reader_group)
                    || v.refs_of(r.closure).iter().any(|h| is_reader_group(*h))
            })
            .collect();
        let reads = |run: Run| {
            v.refs_of(run)
                .iter()
                .any(|g| grants.get(*g as usize).copied().unwrap_or(false))
        };
        let mut readers: Vec<u128> = Vec::new();
        for r in &v.persons {
            if reads(r.groups) {
                readers.extend(v.ids.get(r.at as usize));
            }
        }
        for r in &v.services {
            if reads(r.groups) {
                readers.extend(v.ids.get(r.at as usize));
            }
        }
        readers.sort_unstable();
        v.readers = readers;
    }

    /// The value indexes and the object-class counts.
    fn index(&mut self) {
        let v = &mut self.v;
        let (mut uid, mut cn, mut mail, mut ssh) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut uid_number, mut gid_number) = (Vec::new(), Vec::new());
        let key = |attr: &str, s: &str| key_as(syntax_of(attr), s);
        for r in &v.persons {
            if r.at == NONE {
                continue;
            }
            let name = v.str(r.name);
            uid.extend(key("uid", name).map(|k| (k, r.at)));
            cn.extend(key("cn", v.str(r.display_name)).map(|k| (k, r.at)));
            for m in v.strs_of(r.mails) {
                mail.extend(key("mail", m).map(|k| (k, r.at)));
            }
            for k in v.strs_of(r.ssh_keys) {
                ssh.extend(key("sshPublicKey", k).map(|k| (k, r.at)));
            }
            if let Some(x) = &r.posix {
                uid_number.push((u64::from(x.uid_number), r.at));
                gid_number.push((u64::from(x.gid_number), r.at));
                if r.personal_at != NONE {
                    cn.extend(key("cn", name).map(|k| (k, r.personal_at)));
                    gid_number.push((u64::from(x.gid_number), r.personal_at));
                }
            }
        }
        for r in &v.services {
            if r.at == NONE {
                continue;
            }
            uid.extend(key("uid", v.str(r.name)).map(|k| (k, r.at)));
            cn.extend(key("cn", v.str(r.display_name)).map(|k| (k, r.at)));
        }
        for r in &v.groups {
            if r.at == NONE {
                continue;
            }
            cn.extend(key("cn", v.str(r.name)).map(|k| (k, r.at)));
            if let Some(gid) = r.gid_number {
                gid_number.push((u64::from(gid), r.at));
            }
        }
        v.uid = KeyIndex::from_pairs(uid);
        v.cn = KeyIndex::from_pairs(cn);
        v.mail = KeyIndex::from_pairs(mail);
        v.ssh_key = KeyIndex::from_pairs(ssh);
        v.uid_number = KeyIndex::from_pairs(uid_number);
        v.gid_number = KeyIndex::from_pairs(gid_number);
        let mut counts = [0usize; CLASSES.len()];
        for slot in &v.slots {
            for c in v.classes(*slot) {
                if let Some(i) = CLASSES.iter().position(|k| *k == *c) {
                    counts[i] += 1;
                }
            }
        }
        v.class_counts = CLASSES.into_iter().zip(counts).collect();
    }
}
