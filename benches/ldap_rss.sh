#!/usr/bin/env bash
# ldap_rss.sh — what idm-server's LDAP directory view costs in resident memory and build time.
#
# For each idm-server binary given (e.g. this build and the previous commit's), each redb cache
# size in CACHES and RUNS times (binaries interleaved): copy DATA_DIR to a scratch directory,
# start the server there (LDAPS on 127.0.0.1:$PORT, HTTPS on $PORT+1000, log level warn plus
# debug for idm_server::ldap), wait IDLE_SECS, read VmRSS; send one LDAP request (an anonymous
# root DSE read with ldapsearch: the first LDAP request builds the view, whatever it is), wait
# IDLE_SECS, read VmRSS, RssAnon, VmHWM; then change the store (`idm-server import` of one new
# person through the admin socket) and send a second request, which rebuilds the view while the
# old one is still held: VmRSS and VmHWM after it. The server's "rebuilt LDAP view" debug lines
# give entries, the bytes the view's tables hold (not logged by builds before the compact view)
# and the build milliseconds of both builds. Stop it. One line per start.
#
# A cache of 1 MiB keeps redb from holding the pages the build read, so the difference between
# the two cache sizes is the database cache, and what remains above the idle figure is the view
# plus the allocator's and TLS's share.
#
# Data directories: the 10,000-person one benches/ldap_load.sh makes ($W/idm/data, steps
# "data idm"), or server_rss.sh's 100,000 persons in nested groups (`gen_snapshot N FILE`, then
# `IDM_DATA=DIR idm-server import FILE`).
#
# Usage:   benches/ldap_rss.sh DATA_DIR IDM_SERVER [IDM_SERVER...]
# Env:     CACHES="64 1"  RUNS=2  IDLE_SECS=5  PORT=13936  SCRATCH=/tmp/idm-ldap-rss
# Needs:   ldapsearch (ldap-utils), Linux /proc. Nothing here runs under quietrun: RSS does not
#          depend on the machine's load, and the build times are single runs.

set -euo pipefail

[[ $# -ge 2 ]] || { echo "usage: $0 DATA_DIR IDM_SERVER [IDM_SERVER...]" >&2; exit 2; }
DATA=$(realpath "$1")
shift
CACHES=${CACHES:-64 1}
RUNS=${RUNS:-2}
IDLE_SECS=${IDLE_SECS:-5}
PORT=${PORT:-13936}
SCRATCH=${SCRATCH:-/tmp/idm-ldap-rss}
mkdir -p "$SCRATCH"

status() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# One new person, for the rebuild.
cat >"$SCRATCH/one.json" <<'EOF'
{"profile_version": 1, "persons": [{"uuid": "5e1f3c2a-9d4b-4c6e-8a7f-0b1c2d3e4f50",
  "name": "rebuild-probe", "display_name": "Rebuild Probe", "mails": [], "ssh_keys": {},
  "credentials": {}, "created_at": "2026-01-01T00:00:00Z", "modified_at": "2026-01-01T00:00:00Z"}]}
EOF

one() { # one BIN CACHE_MIB → one line
    local bin=$1 cache=$2 pid line r0 r1 r2 anon hwm hwm2
    rm -rf "$SCRATCH/data" && cp -a "$DATA" "$SCRATCH/data"
    cat >"$SCRATCH/idm.toml" <<EOF
data_dir = "$SCRATCH/data"
origin = "https://example.com"
[https]
bind = "127.0.0.1:$((PORT + 1000))"
[ldap]
ldaps_bind = "127.0.0.1:$PORT"
[store]
cache_mib = $cache
EOF
    (cd "$SCRATCH" && exec env IDM_LOG=warn,idm_server::ldap=debug "$bin" --config idm.toml \
        >out.txt 2>err.txt) &
    pid=$!
    for _ in $(seq 300); do
        grep -q "ldaps on" "$SCRATCH/out.txt" 2>/dev/null && break
        sleep 0.1
    done
    sleep "$IDLE_SECS"
    r0=$(status "$pid" VmRSS)
    LDAPTLS_REQCERT=never ldapsearch -LLL -x -H "ldaps://127.0.0.1:$PORT/" -b "" -s base \
        namingContexts >/dev/null
    sleep "$IDLE_SECS"
    r1=$(status "$pid" VmRSS) anon=$(status "$pid" RssAnon) hwm=$(status "$pid" VmHWM)
    (cd "$SCRATCH" && "$bin" --config idm.toml import "$SCRATCH/one.json" >/dev/null)
    LDAPTLS_REQCERT=never ldapsearch -LLL -x -H "ldaps://127.0.0.1:$PORT/" -b "" -s base \
        namingContexts >/dev/null
    sleep "$IDLE_SECS"
    r2=$(status "$pid" VmRSS) hwm2=$(status "$pid" VmHWM)
    line=$(sed 's/\x1b\[[0-9;]*m//g' "$SCRATCH/err.txt" | grep -o 'rebuilt LDAP view.*' \
        | sed 's/rebuilt LDAP view //' | paste -sd '/')
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    printf '%s cache_mib=%s rss_idle_kib=%s rss_after_first_request_kib=%s anon_kib=%s hwm_kib=%s rss_after_rebuild_kib=%s hwm_after_rebuild_kib=%s | builds: %s\n' \
        "$bin" "$cache" "$r0" "$r1" "$anon" "$hwm" "$r2" "$hwm2" "$line"
}

for r in $(seq 1 "$RUNS"); do
    for cache in $CACHES; do
        for bin in "$@"; do
            one "$(realpath "$bin")" "$cache"
        done
    done
done
