#!/usr/bin/python3
"""ldap_data.py — the LDAP anchor data set (BASELINES.md) for idm, and an argon2 variant for slapd.

Writes, for `idm-server import`, a canonical JSON snapshot (idm-model `Snapshot`) with:
  - persons user0..user{N-1}: display name "User <k>" (LDAP cn; sn = "<k>", as in
    /work/shared/tools/gen_users.py), mail user<k>@example.com, POSIX uidNumber 10000+k with
    the person's own gid (idm's user-private group; gid numbers must be unique per entry, so
    the slapd data set's gidNumber 20000+g cannot be copied);
  - groups group0..group{G-1} (gidNumber 20000+g), user k a member of group k%G;
  - a service account `reader` with one read-only API token (only its SHA-256 digest is
    stored; the token itself goes to --token-out), member of the built-in
    `idm_account_read_priv` (fixed UUID from idm-model/src/access.rs) so it reads everything;
  - for persons 0..--hashed-1 an argon2id PHC hash (m=19456 KiB, t=2, p=1, 32-byte output,
    16-byte salt: idm's defaults, so no rehash on login) of password<k>.
The same PHC strings can be written into a copy of gen_users.py's {SSHA} LDIF
(--ssha-ldif IN --argon2-ldif OUT): users 0..hashed-1 get {ARGON2}<same hash>, so slapd and
idm verify byte-identical hashes. Needs Debian's python3-argon2 when --hashed > 0.

  /usr/bin/python3 benches/ldap_data.py --snapshot snap.json --token-out reader.token \
      [--users 10000 --groups 100 --hashed 300 --hashes-cache hashes.txt] \
      [--ssha-ldif users-ssha.ldif --argon2-ldif users-argon2-300.ldif]
"""
import argparse
import base64
import hashlib
import json
import os
import random
import sys
import uuid
from multiprocessing import Pool

EPOCH = "2023-11-14T22:13:20Z"
READ_PRIV = ("idm_account_read_priv", "00000000-0000-4000-8000-000000000105",
             "Read every account (for example LDAP readers)")


def phc(k):
    import argon2  # Debian: python3-argon2
    h = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32,
                              salt_len=16, type=argon2.Type.ID)
    return h.hash(f"password{k}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--groups", type=int, default=100)
    ap.add_argument("--hashed", type=int, default=0, help="persons 0..N-1 get a password")
    ap.add_argument("--hashes-cache", help="reuse/keep the PHC hashes in this file")
    ap.add_argument("--snapshot", required=True)
    ap.add_argument("--token-out", required=True)
    ap.add_argument("--ssha-ldif")
    ap.add_argument("--argon2-ldif")
    ap.add_argument("--seed", type=int, default=4)
    a = ap.parse_args()

    rng = random.Random(a.seed)

    def uid4():
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    hashes = []
    if a.hashed:
        if a.hashes_cache and os.path.exists(a.hashes_cache):
            hashes = open(a.hashes_cache).read().split()
        if len(hashes) < a.hashed:
            with Pool(os.cpu_count() or 1) as pool:
                hashes = pool.map(phc, range(a.hashed), chunksize=8)
            if a.hashes_cache:
                with open(a.hashes_cache, "w") as f:
                    f.write("\n".join(hashes) + "\n")
        hashes = hashes[:a.hashed]

    persons = []
    for k in range(a.users):
        p = {
            "uuid": uid4(), "name": f"user{k}", "display_name": f"User {k}",
            "mails": [f"user{k}@example.com"],
            "posix": {"uid_number": 10000 + k, "gid_number": 10000 + k,
                      "login_shell": "/bin/bash", "home_directory": f"/home/user{k}"},
            "ssh_keys": {}, "credentials": {},
            "created_at": EPOCH, "modified_at": EPOCH,
        }
        if k < len(hashes):
            p["credentials"] = {"password": {"phc": hashes[k], "set_at": EPOCH}}
        persons.append(p)
    groups = []
    for g in range(a.groups):
        members = sorted(persons[k]["uuid"] for k in range(g, a.users, a.groups))
        groups.append({"uuid": uid4(), "name": f"group{g}", "members": members,
                       "gid_number": 20000 + g, "created_at": EPOCH, "modified_at": EPOCH})
    token_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    secret = os.urandom(32)
    token = f"idm_{token_id.hex}_{base64.urlsafe_b64encode(secret).decode().rstrip('=')}"
    reader = {
        "uuid": uid4(), "name": "reader", "display_name": "LDAP reader",
        "description": "ldapload search account", "mails": [],
        "api_tokens": [{"id": str(token_id), "label": "ldap", "created_at": EPOCH,
                        "access": "read_only", "digest": hashlib.sha256(secret).hexdigest()}],
        "created_at": EPOCH, "modified_at": EPOCH,
    }
    groups.append({"uuid": READ_PRIV[1], "name": READ_PRIV[0], "description": READ_PRIV[2],
                   "members": [reader["uuid"]], "created_at": EPOCH, "modified_at": EPOCH})
    persons.sort(key=lambda p: p["name"])
    groups.sort(key=lambda g: g["name"])
    snap = {"profile_version": 1, "persons": persons, "service_accounts": [reader],
            "groups": groups, "tombstones": [], "oauth2_clients": [],
            "posix_next": 20000 + a.groups, "includes_secrets": True}
    with open(a.snapshot, "w") as f:
        json.dump(snap, f, indent=1)
    fd = os.open(a.token_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    print(f"wrote {a.users} persons ({len(hashes)} with argon2id hashes), {a.groups} groups "
          f"and service account reader to {a.snapshot}; token in {a.token_out}", file=sys.stderr)

    if a.ssha_ldif and a.argon2_ldif:
        n = 0
        with open(a.ssha_ldif) as src, open(a.argon2_ldif, "w") as out:
            k = None
            for line in src:
                if line.startswith("dn: uid=user"):
                    k = int(line[len("dn: uid=user"):].split(",", 1)[0])
                elif line.startswith("dn: "):
                    k = None
                if line.startswith("userPassword: ") and k is not None and k < len(hashes):
                    line = f"userPassword: {{ARGON2}}{hashes[k]}\n"
                    n += 1
                out.write(line)
        print(f"wrote {a.argon2_ldif}: {n} users with {{ARGON2}}, the rest as in {a.ssha_ldif}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
