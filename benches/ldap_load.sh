#!/usr/bin/env bash
# ldap_load.sh — idm's LDAP directory against OpenLDAP slapd, side by side (issue #4).
#
# The anchor is /work/shared/tools/BASELINES.md: slapd (mdb, memberof overlay, uid index),
# 10,000 users uid=user<k>,ou=people,dc=example,dc=com in 100 groups, load from the shared
# `ldapload` (closed loop, 15 s per row), every run wrapped in `quietrun.py` (waits for a 90%
# idle machine, reports server/client/foreign CPU, repeats runs with > 0.15 foreign cores).
#
# What it does (root, Debian 12; everything on 127.0.0.1, under $W = /tmp/idm-baselines):
#   1. install   apt-get install slapd ldap-utils python3-argon2 (stock slapd service is not
#                started by this script; debconf "no_configuration"), build ldapload (into
#                $W/ldapload-target) and a release idm-server (copied to $W/idm/idm-server so
#                rebuilds by others don't change it mid-run).
#   2. data      gen_users.py --scheme ssha → users-ssha.ldif (as BASELINES); benches/ldap_data.py
#                → idm snapshot (same 10,000 persons and 100 groups, reader service account with
#                an API token in idm_account_read_priv, argon2id hashes for users 0..HASHED-1) and
#                users-argon2-$HASHED.ldif (the ssha LDIF with the SAME PHC hashes for users
#                0..HASHED-1, so both servers verify identical hashes).
#   3. idm       fresh data dir, `idm-server import snapshot.json`, config $W/idm/idm.toml:
#                origin https://example.com (suffix dc=example,dc=com), HTTPS 127.0.0.1:18443,
#                LDAPS 127.0.0.1:13636, rate limits switched off for the bench (ip/account
#                refill 0 s = unlimited; the defaults allow 30 then 1 bind/s per address).
#                Started once to create its dev TLS certificate, which slapd then also uses.
#   4. slapd     two instances as in BASELINES §2 (loglevel 0, mdb, memberof, indexes), plus
#                TLSCertificateFile/TLSCertificateKeyFile = copies of idm's dev cert and key:
#                  ssha          ldap://127.0.0.1:3389/  ldaps://127.0.0.1:13637/
#                  argon2-HASHED ldap://127.0.0.1:3390/  ldaps://127.0.0.1:13638/
#   5. runs      all three servers up at once (idle ones use no CPU); ROUNDS rounds, each
#                interleaving the servers at every concurrency (1, 8, 32):
#                  search  (uid=user{n}) subtree from the suffix → uid,cn,mail,memberOf, reader
#                          bound once per connection: idm ldaps, slapd ldaps, slapd ldap
#                  svcbind repeated binds of the service account: idm uid=reader,ou=services +
#                          API token (ldaps); slapd cn=reader + {SSHA} (ldaps, ldap); slapd
#                          uid=user{n} {SSHA} users (ldaps, ldap)
#                  pwbind  person binds uid=user{n}, n < HASHED, argon2id m=19456,t=2,p=1:
#                          idm ldaps, slapd(argon2-HASHED) ldaps
#                RSS (VmRSS, VmHWM) of idm and slapd-ssha: IDLE_SECS after start, after the
#                first LDAP search (idm builds its directory view on the first LDAP request),
#                after round 1's searches, at the end.
#                With IDM_B=/path/to/idm-server, a second idm build (e.g. the previous commit)
#                runs beside the first on a copy of its data directory (HTTPS :18453, LDAPS
#                :13646, labelled "idmB"): same RSS points, and its searches are run in every
#                round next to idm's, so the two builds are compared within one sitting.
#   6. summary   one table (markdown) from the JSON lines: ops/s, p50/p99/p99.9, cores, and
#                idm/slapd ratios taken within the same round.
#
# Usage:   bash benches/ldap_load.sh                  (all steps)
# Env:     STEPS="install data idm slapd run summary"  DUR=15  CONCS="1 8 32"  ROUNDS=2
#          HASHED=300  IDLE_SECS=5  W=/tmp/idm-baselines  QUIET=1 (0: no quietrun)
#          PORT_OFFSET=0 (added to every port above, to run beside another copy of this script)
#          IDM_B=path of a second idm-server binary to compare (copied to $W/idm/idm-server-b)
#          RUNS_ONLY="search svcbind pwbind" (subset of workloads)  KEEP_UP=0 (1: leave servers up)
#          SUMMARY=file.jsonl (summary of an earlier run)
# Results: $W/idm-ldap/runs-<UTC time>.jsonl (one JSON line per run) and rss-<time>.txt.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T=${T:-/work/shared/tools}
W=${W:-/tmp/idm-baselines}
I=$W/idm
R=$W/idm-ldap
STEPS=${STEPS:-install data idm slapd run summary}
DUR=${DUR:-15}
CONCS=${CONCS:-1 8 32}
ROUNDS=${ROUNDS:-2}
HASHED=${HASHED:-300}
IDLE_SECS=${IDLE_SECS:-5}
QUIET=${QUIET:-1}
RUNS_ONLY=${RUNS_ONLY:-search svcbind pwbind}
# Built from the shared sources into $W (the shared tools directory is read-only).
LDAPLOAD=$W/ldapload-target/release/ldapload
BASE=dc=example,dc=com
PO=${PORT_OFFSET:-0}
IDM_HTTPS_PORT=$((18443 + PO)) IDM_LDAPS_PORT=$((13636 + PO))
IDMB_HTTPS_PORT=$((18453 + PO)) IDMB_LDAPS_PORT=$((13646 + PO))
IDM_LDAPS=ldaps://127.0.0.1:$IDM_LDAPS_PORT/ IDMB_LDAPS=ldaps://127.0.0.1:$IDMB_LDAPS_PORT/
SSHA_LDAP=ldap://127.0.0.1:$((3389 + PO))/ SSHA_LDAPS=ldaps://127.0.0.1:$((13637 + PO))/
A2_LDAP=ldap://127.0.0.1:$((3390 + PO))/ A2_LDAPS=ldaps://127.0.0.1:$((13638 + PO))/

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ldap_load.sh: $*"; exit 1; }
has_step() { [[ " $STEPS " == *" $1 "* ]]; }
mkdir -p "$W/ldap" "$I" "$R"

# ---------------------------------------------------------------- 1. packages and builds
if has_step install; then
    if ! dpkg -s slapd ldap-utils python3-argon2 >/dev/null 2>&1; then
        apt-get update
        echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
        DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils python3-argon2
    fi
    cargo build --release --manifest-path "$T/ldapload/Cargo.toml" --target-dir "$W/ldapload-target"
    (cd "$ROOT" && cargo build --release -p idm-server --bin idm-server)
    cp "$ROOT/target/release/idm-server" "$I/idm-server"
    (cd "$ROOT" && git rev-parse HEAD && git status --short) >"$I/idm-server.source" || true
    if [[ -n ${IDM_B:-} ]]; then
        cp "$IDM_B" "$I/idm-server-b"
        echo "$IDM_B" >"$I/idm-server-b.source"
    fi
fi

# ---------------------------------------------------------------- 2. data
if has_step data; then
    [[ -s $W/ldap/users-ssha.ldif ]] ||
        /usr/bin/python3 "$T/gen_users.py" --scheme ssha --ldif "$W/ldap/users-ssha.ldif"
    /usr/bin/python3 "$ROOT/benches/ldap_data.py" --snapshot "$I/snapshot.json" \
        --token-out "$I/reader.token" --hashed "$HASHED" --hashes-cache "$I/hashes-$HASHED.txt" \
        --ssha-ldif "$W/ldap/users-ssha.ldif" --argon2-ldif "$W/ldap/users-argon2-$HASHED.ldif"
fi

idm_start() { # idm_start [b]: the idm under test, or the second build (IDM_B)
    local x=${1:-} bin=./idm-server
    [[ -n $x ]] && bin=./idm-server-b
    (cd "$I" && { IDM_LOG=warn $bin --config "idm$x.toml" >"idm$x.out" 2>>"idm$x.err" &
        echo $! >"idm$x.pid"; })
    for _ in $(seq 100); do
        grep -q "^idm-server ldaps on" "$I/idm$x.out" 2>/dev/null && return 0
        sleep 0.1
    done
    die "idm-server did not start (see $I/idm$x.err)"
}
stop_pid() { # stop_pid PIDFILE: SIGTERM the process we started, wait for it
    local p
    [[ -s $1 ]] || return 0
    p=$(cat "$1")
    kill "$p" 2>/dev/null || return 0
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    log "pid $p still running after 10 s"
}

# ---------------------------------------------------------------- 3. idm data directory
idm_config() { # idm_config FILE DATA_DIR HTTPS_PORT LDAPS_PORT
    cat >"$1" <<EOF
data_dir = "$2"
origin = "https://example.com"
[https]
bind = "127.0.0.1:$3"
[ldap]
ldaps_bind = "127.0.0.1:$4"
# bench only: no per-address / per-account rate limit on binds (refill 0 s = unlimited)
[rate_limit]
ip_burst = 1000000000
ip_refill_secs = 0.0
account_burst = 1000000000
account_refill_secs = 0.0
EOF
}
if has_step idm; then
    stop_pid "$I/idm.pid"
    stop_pid "$I/idmb.pid"
    idm_config "$I/idm.toml" "$I/data" "$IDM_HTTPS_PORT" "$IDM_LDAPS_PORT"
    rm -rf "$I/data" && mkdir -m 700 "$I/data"
    t0=${EPOCHREALTIME/./}
    (cd "$I" && ./idm-server --config idm.toml import snapshot.json)
    log "idm import: $(((${EPOCHREALTIME/./} - t0) / 1000)) ms, $(stat -c %s "$I/data/idm.redb") bytes"
    idm_start # first start creates data/tls/{ca,cert,key}.pem
    stop_pid "$I/idm.pid"
    if [[ -n ${IDM_B:-} ]]; then # the second build gets a copy of the same data and certificate
        idm_config "$I/idmb.toml" "$I/data-b" "$IDMB_HTTPS_PORT" "$IDMB_LDAPS_PORT"
        rm -rf "$I/data-b" && cp -a "$I/data" "$I/data-b"
    fi
fi

# ---------------------------------------------------------------- 4. slapd instances
mkconf() { # mkconf DIR: as BASELINES.md §2, plus TLS with idm's dev certificate
    local D=$1
    mkdir -p "$D/db"
    cat >"$D/slapd.conf" <<CONF
include   /etc/ldap/schema/core.schema
include   /etc/ldap/schema/cosine.schema
include   /etc/ldap/schema/inetorgperson.schema
include   /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload argon2
pidfile   $D/slapd.pid
argsfile  $D/slapd.args
loglevel  0
TLSCertificateFile    $W/ldap/tls/cert.pem
TLSCertificateKeyFile $W/ldap/tls/key.pem

database  mdb
maxsize   1073741824
suffix    "dc=example,dc=com"
rootdn    "cn=admin,dc=example,dc=com"
rootpw    adminpw
directory $D/db
index     objectClass eq
index     uid eq
index     member eq
overlay   memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
CONF
}
if has_step slapd; then
    mkdir -p "$W/ldap/tls"
    cp "$I/data/tls/cert.pem" "$I/data/tls/key.pem" "$W/ldap/tls/"
    chmod 600 "$W/ldap/tls/key.pem" # slapd runs as root here (no -u)
    for s in ssha "argon2-$HASHED"; do
        stop_pid "$W/ldap/$s/slapd.pid"
        rm -rf "${W:?}/ldap/$s"
        mkconf "$W/ldap/$s"
        slaptest -u -f "$W/ldap/$s/slapd.conf"
        slapadd -q -f "$W/ldap/$s/slapd.conf" -l "$W/ldap/users-$s.ldif"
    done
fi

# ---------------------------------------------------------------- 5. runs
rss() { # rss NAME PID → one line
    printf '%s %s pid=%s %s\n' "$(date -u +%H:%M:%S)" "$1" "$2" \
        "$(awk '/^(VmRSS|VmHWM|RssAnon|RssFile|Threads):/ {printf "%s%s ", $1, $2}' "/proc/$2/status")"
}
run() { # run LABEL PID ldapload-args...
    local label=$1 pid=$2
    shift 2
    log "run $label"
    if [[ $QUIET == 1 ]]; then
        QUIETRUN_LOG=$RUNS /usr/bin/python3 "$T/quietrun.py" "$label" "$pid" "$LDAPLOAD" "$@" \
            | tail -n 1 >&2
    else
        "$LDAPLOAD" "$@" | tail -n 1 | sed "s/^{/{\"label\":\"$label\",/" | tee -a "$RUNS" >&2
    fi
}
if has_step run; then
    [[ -x $LDAPLOAD ]] || die "no $LDAPLOAD (step install)"
    STAMP=$(date -u +%Y%m%dT%H%M%SZ)
    RUNS=$R/runs-$STAMP.jsonl RSS=$R/rss-$STAMP.txt
    : >"$RUNS"
    TOKEN=$(cat "$I/reader.token")
    stop_pid "$I/idm.pid"
    idm_start
    IDM=$(cat "$I/idm.pid") IDMB=
    if [[ -n ${IDM_B:-} ]]; then
        stop_pid "$I/idmb.pid"
        idm_start b
        IDMB=$(cat "$I/idmb.pid")
    fi
    slapd -f "$W/ldap/ssha/slapd.conf" -h "$SSHA_LDAP $SSHA_LDAPS"
    slapd -f "$W/ldap/argon2-$HASHED/slapd.conf" -h "$A2_LDAP $A2_LDAPS"
    sleep 1
    SSHA=$(cat "$W/ldap/ssha/slapd.pid") A2=$(cat "$W/ldap/argon2-$HASHED/slapd.pid")
    if [[ ${KEEP_UP:-0} != 1 ]]; then
        trap 'stop_pid "$I/idm.pid"; stop_pid "$I/idmb.pid"; stop_pid "$W/ldap/ssha/slapd.pid"; stop_pid "$W/ldap/argon2-$HASHED/slapd.pid"' EXIT
    fi
    sleep "$IDLE_SECS"
    { rss idm-after-start "$IDM"; [[ -z $IDMB ]] || rss idmB-after-start "$IDMB"
      rss slapd-ssha-after-start "$SSHA"; rss "slapd-argon2-$HASHED-after-start" "$A2"; } | tee -a "$RSS" >&2
    # Checks: each server answers the search with one entry and accepts each kind of bind.
    export LDAPTLS_REQCERT=never
    ldapsearch -LLL -x -H "$IDM_LDAPS" -D "uid=reader,ou=services,$BASE" -w "$TOKEN" -b "$BASE" '(uid=user42)' uid cn mail memberOf >&2
    [[ -z $IDMB ]] || ldapsearch -LLL -x -H "$IDMB_LDAPS" -D "uid=reader,ou=services,$BASE" -w "$TOKEN" -b "$BASE" '(uid=user42)' uid cn mail memberOf >&2
    # The first LDAP request built idm's directory view.
    sleep "$IDLE_SECS"
    { rss idm-after-first-search "$IDM"; [[ -z $IDMB ]] || rss idmB-after-first-search "$IDMB"; } | tee -a "$RSS" >&2
    ldapsearch -LLL -x -H "$SSHA_LDAPS" -D "cn=reader,ou=services,$BASE" -w readerpw -b "$BASE" '(uid=user42)' uid cn mail memberOf >&2
    ldapwhoami -x -H "$IDM_LDAPS" -D "uid=user7,ou=people,$BASE" -w password7 >&2
    ldapwhoami -x -H "$A2_LDAPS" -D "uid=user7,ou=people,$BASE" -w password7 >&2
    ldapwhoami -x -H "$SSHA_LDAP" -D "uid=user7,ou=people,$BASE" -w password7 >&2
    openssl s_client -connect "127.0.0.1:$IDM_LDAPS_PORT" </dev/null 2>/dev/null | grep -E "^(New|Protocol|Cipher|Server public key)" | sed 's/^/idm   TLS: /' >&2 || true
    openssl s_client -connect "127.0.0.1:$((13637 + PO))" </dev/null 2>/dev/null | grep -E "^(New|Protocol|Cipher|Server public key)" | sed 's/^/slapd TLS: /' >&2 || true

    S=(--mode search --base "$BASE" --filter '(uid=user{n})' --attrs uid,cn,mail,memberOf --users 10000 -d "$DUR")
    B=(--mode bind -d "$DUR")
    for round in $(seq 1 "$ROUNDS"); do
        if [[ " $RUNS_ONLY " == *" search "* ]]; then
            for c in $CONCS; do
                run "r$round search idm-ldaps c$c" "$IDM" --url "$IDM_LDAPS" --insecure "${S[@]}" -c "$c" \
                    --bind-dn "uid=reader,ou=services,$BASE" --bind-pw "$TOKEN"
                [[ -z $IDMB ]] || run "r$round search idmB-ldaps c$c" "$IDMB" --url "$IDMB_LDAPS" --insecure "${S[@]}" -c "$c" \
                    --bind-dn "uid=reader,ou=services,$BASE" --bind-pw "$TOKEN"
                run "r$round search slapd-ldaps c$c" "$SSHA" --url "$SSHA_LDAPS" --insecure "${S[@]}" -c "$c" \
                    --bind-dn "cn=reader,ou=services,$BASE" --bind-pw readerpw
                run "r$round search slapd-ldap c$c" "$SSHA" --url "$SSHA_LDAP" "${S[@]}" -c "$c" \
                    --bind-dn "cn=reader,ou=services,$BASE" --bind-pw readerpw
            done
            [[ $round == 1 ]] && { sleep "$IDLE_SECS"; { rss idm-after-search "$IDM"; [[ -z $IDMB ]] || rss idmB-after-search "$IDMB"; rss slapd-ssha-after-search "$SSHA"; } | tee -a "$RSS" >&2; }
        fi
        if [[ " $RUNS_ONLY " == *" svcbind "* ]]; then
            for c in $CONCS; do
                run "r$round svcbind idm-token-ldaps c$c" "$IDM" --url "$IDM_LDAPS" --insecure "${B[@]}" -c "$c" \
                    --users 1 --user-dn-template "uid=reader,ou=services,$BASE" --user-pw "$TOKEN"
                run "r$round svcbind slapd-reader-ssha-ldaps c$c" "$SSHA" --url "$SSHA_LDAPS" --insecure "${B[@]}" -c "$c" \
                    --users 1 --user-dn-template "cn=reader,ou=services,$BASE" --user-pw readerpw
                run "r$round svcbind slapd-reader-ssha-ldap c$c" "$SSHA" --url "$SSHA_LDAP" "${B[@]}" -c "$c" \
                    --users 1 --user-dn-template "cn=reader,ou=services,$BASE" --user-pw readerpw
                run "r$round svcbind slapd-users-ssha-ldaps c$c" "$SSHA" --url "$SSHA_LDAPS" --insecure "${B[@]}" -c "$c" \
                    --users 10000 --user-dn-template "uid=user{n},ou=people,$BASE" --user-pw 'password{n}'
                run "r$round svcbind slapd-users-ssha-ldap c$c" "$SSHA" --url "$SSHA_LDAP" "${B[@]}" -c "$c" \
                    --users 10000 --user-dn-template "uid=user{n},ou=people,$BASE" --user-pw 'password{n}'
            done
        fi
        if [[ " $RUNS_ONLY " == *" pwbind "* ]]; then
            for c in $CONCS; do
                run "r$round pwbind idm-argon2-ldaps c$c" "$IDM" --url "$IDM_LDAPS" --insecure "${B[@]}" -c "$c" \
                    --users "$HASHED" --user-dn-template "uid=user{n},ou=people,$BASE" --user-pw 'password{n}'
                run "r$round pwbind slapd-argon2-ldaps c$c" "$A2" --url "$A2_LDAPS" --insecure "${B[@]}" -c "$c" \
                    --users "$HASHED" --user-dn-template "uid=user{n},ou=people,$BASE" --user-pw 'password{n}'
            done
        fi
    done
    sleep "$IDLE_SECS"
    { rss idm-at-end "$IDM"; [[ -z $IDMB ]] || rss idmB-at-end "$IDMB"; rss slapd-ssha-at-end "$SSHA"; rss "slapd-argon2-$HASHED-at-end" "$A2"; } | tee -a "$RSS" >&2
    log "runs in $RUNS, RSS in $RSS"
    SUMMARY=${SUMMARY:-$RUNS}
fi

# ---------------------------------------------------------------- 6. summary
if has_step summary; then
    SUMMARY=${SUMMARY:-$(ls -t "$R"/runs-*.jsonl | head -n 1)}
    /usr/bin/python3 - "$SUMMARY" <<'EOF'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in runs:
    rnd, work, target, c = r["label"].split()
    by[(work, target, int(c[1:]), int(rnd[1:]))] = r
rounds = sorted({k[3] for k in by})
print(f"# {sys.argv[1]}")
print("| workload | server | conc | " + " | ".join(f"ops/s r{n}" for n in rounds)
      + " | p50 µs | p99 µs | p99.9 µs | server cores | client cores | foreign | errors |")
print("|---|---|---:|" + "---:|" * len(rounds) + "---:|---:|---:|---:|---:|---:|---:|")
seen = []
for (work, target, c, _) in by:
    if (work, target, c) not in seen:
        seen.append((work, target, c))
for work, target, c in seen:
    rs = [by.get((work, target, c, n)) for n in rounds]
    f = rs[0] or next(x for x in rs if x)
    ops = " | ".join(f"{x['ops_per_s']:,.1f}" if x else "–" for x in rs)
    print(f"| {work} | {target} | {c} | {ops} | {f['p50_us']:,} | {f['p99_us']:,} | {f['p999_us']:,} | "
          f"{f.get('server_cores', '–')} | {f.get('client_cores', '–')} | {f.get('foreign_cores', '–')} | "
          f"{sum(x['errors'] for x in rs if x)} |")
print("\nratios idm / slapd within each round (ops/s; p99):")
pairs = [("search", "idm-ldaps", "slapd-ldaps"), ("search", "idm-ldaps", "slapd-ldap"),
         ("search", "idmB-ldaps", "slapd-ldaps"), ("search", "idm-ldaps", "idmB-ldaps"),
         ("svcbind", "idm-token-ldaps", "slapd-reader-ssha-ldaps"),
         ("svcbind", "idm-token-ldaps", "slapd-users-ssha-ldaps"),
         ("svcbind", "idm-token-ldaps", "slapd-reader-ssha-ldap"),
         ("pwbind", "idm-argon2-ldaps", "slapd-argon2-ldaps")]
for work, a, b in pairs:
    for c in sorted({k[2] for k in by}):
        cells = []
        for n in rounds:
            x, y = by.get((work, a, c, n)), by.get((work, b, c, n))
            if x and y:
                cells.append(f"r{n} {x['ops_per_s'] / y['ops_per_s']:.2f}× ops, "
                             f"p99 {x['p99_us'] / y['p99_us']:.2f}×")
        if cells:
            print(f"  {work:8} {a} / {b} c={c}: " + "; ".join(cells))
EOF
fi
