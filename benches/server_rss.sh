#!/usr/bin/env bash
# server_rss.sh — start-up time and resident memory of idm-server holding 100,000 persons.
#
# What it does:
#   1. Builds the release `idm-server` and the `gen_snapshot` example (the benches' data set:
#      PERSONS persons, each in 1–3 of 900 leaf groups nested under 90 middle and 10 top groups).
#   2. Writes that directory as canonical JSON and loads it offline with
#      `idm-server import FILE` (Snapshot::from_json + Store::import, one transaction) into a
#      fresh data directory; prints the import's wall time, its peak RSS (with /usr/bin/time,
#      if installed) and the database size. A second data directory holds only the built-in
#      entries, as the baseline.
#   3. Starts the server once per data directory to make its TLS files (not measured), then RUNS
#      times, alternating empty and full directory so both see the same machine:
#        - spawn → the `idm-server listening on https://…` line on stdout ("listening_ms"),
#        - spawn → first successful `curl --cacert DATA/tls/ca.pem …/health/ready` ("ready_ms";
#          includes curl's own start and TLS handshake, a few ms; retried every 10 ms),
#        - VmRSS (and VmHWM, RssAnon, RssFile) from /proc/PID/status after IDLE_SECS idle,
#        - VmRSS again after `idm-server verify` through the admin socket, which makes the server
#          read every entry and audit record ("rss_after_verify": what the redb page cache holds
#          once the whole database has been touched),
#      then stops it with SIGTERM. Each run is wrapped in /work/shared/tools/quietrun.py (waits
#      for a 90% idle machine, reports foreign CPU, repeats a disturbed run) unless QUIET=0.
#   4. Prints every run as JSON and the medians per data directory.
#
# Usage:   benches/server_rss.sh            (from anywhere inside the workspace)
# Env:     PERSONS=100000 RUNS=3 IDLE_SECS=5 QUIET=1 WORK=/tmp/idm-rss.XXXX (kept afterwards)
#          KEEP_DATA=1 reuses WORK's data directories if they exist (skips generate + import);
#          BUILD=0 skips the cargo builds (uses the binaries already in target/release).
# Needs:   cargo, curl, python3 (stdlib), bash >= 5 (EPOCHREALTIME), Linux /proc.
# The page cache is warm in every run (the data was just written); nothing here drops caches.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PERSONS=${PERSONS:-100000}
RUNS=${RUNS:-3}
IDLE_SECS=${IDLE_SECS:-5}
QUIET=${QUIET:-1}
QUIETRUN=/work/shared/tools/quietrun.py
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SERVER=$TARGET/release/idm-server

log() { printf '%s\n' "$*" >&2; }
die() { log "server_rss.sh: $*"; exit 1; }

# One measured start of the server on data directory $1; prints one JSON line.
one_run() {
    local data=$1 fifo pid line port t0 t1 t2 rss hwm anon file rss2
    fifo=$(mktemp -u "${TMPDIR:-/tmp}/idm-rss-fifo.XXXXXX")
    mkfifo "$fifo"
    exec 3<>"$fifo" # read-write: opening never blocks, and stdout stays open for the server
    rm -f "$fifo"
    t0=${EPOCHREALTIME/./}
    IDM_DATA=$data IDM_HTTPS_BIND=127.0.0.1:0 IDM_LOG=warn "$SERVER" >&3 2>>"$data.log" &
    pid=$!
    # Stop the server whatever happens below (one_run always runs in its own process).
    trap 'kill -TERM '"$pid"' 2>/dev/null; wait '"$pid"' 2>/dev/null || true' EXIT
    if ! read -r -t 120 -u 3 line; then
        die "no listening line from idm-server within 120 s (see $data.log)"
    fi
    t1=${EPOCHREALTIME/./}
    [[ $line == "idm-server listening on https://"* ]] || die "unexpected stdout: $line"
    port=${line##*:}
    until curl -sf -o /dev/null --cacert "$data/tls/ca.pem" "https://127.0.0.1:$port/health/ready"; do
        kill -0 "$pid" 2>/dev/null || die "idm-server exited (see $data.log)"
        sleep 0.01
    done
    t2=${EPOCHREALTIME/./}
    sleep "$IDLE_SECS"
    status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
    rss=$(status VmRSS) hwm=$(status VmHWM) anon=$(status RssAnon) file=$(status RssFile)
    IDM_DATA=$data "$SERVER" verify >/dev/null || die "verify failed on $data"
    sleep 1
    rss2=$(status VmRSS)
    printf '{"data":"%s","listening_ms":%.1f,"ready_ms":%.1f,"rss_kib":%d,"hwm_kib":%d,"rss_anon_kib":%d,"rss_file_kib":%d,"rss_after_verify_kib":%d}\n' \
        "$(basename "$data")" "$(((t1 - t0) / 100))e-1" "$(((t2 - t0) / 100))e-1" \
        "$rss" "$hwm" "$anon" "$file" "$rss2"
}

if [[ ${1:-} == --one-run ]]; then
    one_run "$2"
    exit 0
fi

WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/idm-rss.XXXXXX")}
mkdir -p "$WORK"
FULL=$WORK/data-$((PERSONS / 1000))k
EMPTY=$WORK/data-empty
log "work directory: $WORK"

if [[ ${BUILD:-1} == 1 ]]; then
    log "building release idm-server and gen_snapshot (minutes on a busy 2-core machine)…"
    (cd "$ROOT" && cargo build --release -q -p idm-server --bin idm-server \
        && cargo build --release -q -p idm-benches --example gen_snapshot)
fi
[[ -x $SERVER ]] || die "no $SERVER (run without BUILD=0)"

if [[ ${KEEP_DATA:-0} == 1 && -f $FULL/idm.redb && -f $EMPTY/idm.redb ]]; then
    log "reusing $FULL and $EMPTY"
else
    rm -rf "$FULL" "$EMPTY"
    "$TARGET/release/examples/gen_snapshot" "$PERSONS" "$WORK/snapshot.json"
    timer=()
    [[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f %M -o "$WORK/import.maxrss")
    t0=${EPOCHREALTIME/./}
    IDM_DATA=$FULL "${timer[@]}" "$SERVER" import "$WORK/snapshot.json" >/dev/null
    t1=${EPOCHREALTIME/./}
    peak=unknown
    [[ -s $WORK/import.maxrss ]] && peak="$(($(tail -n 1 "$WORK/import.maxrss") >> 10)) MiB"
    log "import of $PERSONS persons: $(((t1 - t0) / 1000)) ms wall, peak RSS $peak," \
        "database $(($(stat -c %s "$FULL/idm.redb") >> 20)) MiB," \
        "snapshot $(($(stat -c %s "$WORK/snapshot.json") >> 20)) MiB"
    mkdir -p "$EMPTY" && chmod 700 "$EMPTY"
fi

# First start of each directory makes the TLS files; not measured.
for d in "$EMPTY" "$FULL"; do
    IDLE_SECS=0 "$0" --one-run "$d" >/dev/null
done

RESULTS=$WORK/runs.jsonl
: >"$RESULTS"
for i in $(seq 1 "$RUNS"); do
    for d in "$EMPTY" "$FULL"; do
        if [[ $QUIET == 1 ]]; then
            /usr/bin/python3 "$QUIETRUN" "rss-$(basename "$d")-$i" $$ "$0" --one-run "$d" \
                | tail -n 1 >>"$RESULTS"
        else
            "$0" --one-run "$d" >>"$RESULTS"
        fi
        tail -n 1 "$RESULTS" >&2
    done
done

/usr/bin/python3 - "$RESULTS" "$PERSONS" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
keys = ["listening_ms", "ready_ms", "rss_kib", "hwm_kib", "rss_anon_kib", "rss_file_kib",
        "rss_after_verify_kib", "foreign_cores"]
print(f"\nmedians of {len(runs) // 2} runs per data directory ({sys.argv[2]} persons in the full one):")
for data in sorted({r["data"] for r in runs}):
    rs = [r for r in runs if r["data"] == data]
    parts = []
    for k in keys:
        vals = [r[k] for r in rs if k in r]
        if not vals:
            continue
        m = statistics.median(vals)
        if k.endswith("_kib"):
            parts.append(f"{k[:-4]} {m / 1024:.1f} MiB")
        else:
            parts.append(f"{k} {m:g}")
    print(f"  {data}: " + ", ".join(parts))
EOF
