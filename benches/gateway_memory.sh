#!/usr/bin/env bash
# benches/gateway_memory.sh - the memory of `heatgate proxy` with 10,000 cached
# tokens. Target: VmRSS < 50 MB.
#
# Starts a Keystone of its own (scripts/keystone, destroyed at exit), the echo
# upstream (scripts/echo_upstream.py) and `heatgate proxy` (release build) with
# keystonemiddleware's defaults ([keystone_authtoken] as Heat configures it:
# catalog included, at most 100,000 cached tokens) except token_cache_time
# (TOKEN_CACHE_TIME, default 3600 s instead of 300: validating 10,000 tokens
# takes Keystone longer than 300 s on a small machine, and the first ones would
# leave the cache before the last came in), then
#   1. creates TOKENS distinct tokens of the demo user (POST /v3/auth/tokens,
#      CONCURRENCY at a time);
#   2. sends one request per token through the proxy, CONCURRENCY at a time
#      (each one a cache miss: the proxy validates it with Keystone and caches
#      it), all must be 200 (a 503, Keystone too slow, is retried);
#   3. sends every token once more and checks through the proxy's metrics that
#      none reached Keystone (all TOKENS are in the cache at once);
#   4. prints VmRSS / VmHWM from /proc/<pid>/status: right after start, after
#      the first request, and with every token cached.
#
# CONCURRENCY is 4 by default because the Keystone here serves 4 connections at
# once (uWSGI --http11-socket, 2 processes x 2 threads) and a keep-alive
# connection holds its worker: a 5th connection waits until one of the 4 is
# closed, which can take longer than the proxy's bound on a Keystone call
# (http_connect_timeout, 10 s), and the proxy then answers 503 as it must.
# With 4, no call waits for a worker, and Keystone validates as many tokens per
# second as with 8.
#
# Environment: TOKENS (10000), CONCURRENCY (4), METHOD ("token": each token
# issued by POST /v3/auth/tokens with the token method from one password token
# of the demo user, so Keystone checks no password hash per token; "password":
# each one authenticated with the demo user's password, bcrypt every time:
# a few tokens/s on a busy 2-core machine), WORKER_THREADS (unset: one per
# core, the proxy's default), TOKEN_CACHE_TIME (3600).
# Exit status: 0 when every request was answered 200 and every token stayed
# cached (the target is reported, not fatal), 1 otherwise, 2 on a setup failure.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

TOKENS=${TOKENS:-10000}
CONCURRENCY=${CONCURRENCY:-4}
METHOD=${METHOD:-token}
WORKER_THREADS=${WORKER_THREADS:-}
TOKEN_CACHE_TIME=${TOKEN_CACHE_TIME:-3600}
HELPER=$ROOT/benches/gateway_memory.py
TARGET_MB=50

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

command -v curl >/dev/null 2>&1 || die "curl is needed"
scripts/keystone install
log "building heatgate (release)"
cargo build --release -p heatgate
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/heatgate
[[ -x $BIN ]] || die "release binary not found: $BIN"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/heatgate-memory.XXXXXX")
PIDS=()
KS_DIR=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n $KS_DIR ]]; then scripts/keystone destroy "$KS_DIR" >/dev/null 2>&1 || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
umask 077

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts "$@" in the background with stdout in FILE and waits for its
# "listening on http://ADDR" line; sets ADDR and PID.
start_listening() {
    local out=$1 i
    shift
    "$@" >"$out" 2>"$out.err" &
    PID=$!
    PIDS+=("$PID")
    for ((i = 0; i < 300; i++)); do
        ADDR=$(sed -n 's|^listening on http://||p' "$out" | head -n 1)
        [[ -n $ADDR ]] && return 0
        kill -0 "$PID" 2>/dev/null || die "$1 exited: $(tail -n 5 "$out.err")"
        sleep 0.1
    done
    die "$1 printed no 'listening on' line: $(tail -n 5 "$out.err")"
}

# VmRSS and VmHWM of PID, in kB.
memory() {
    awk '$1 == "VmRSS:" { rss = $2 } $1 == "VmHWM:" { hwm = $2 } END { print rss, hwm }' "/proc/$1/status"
}

metric() { python3 "$HELPER" metric "http://$METRICS/metrics" "$1"; }

log "starting a Keystone of this run's own"
KS_DIR=$(scripts/keystone start "memory-$$" --owner-pid $$ | tail -n 1)
[[ -f $KS_DIR/fixtures.json ]] || die "scripts/keystone start printed no instance directory"
read -r AUTH_URL HEAT_USER < <(python3 -c 'import json, sys; f = json.load(open(sys.argv[1]))
print(f["auth_url"], f["heat"]["username"])' "$KS_DIR/fixtures.json")
python3 -c 'import json, sys; sys.stdout.write(json.load(open(sys.argv[1]))["heat"]["password"])' \
    "$KS_DIR/fixtures.json" >"$TMP/heat-password"
DEMO_PROJECT=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["demo"]["project_id"])' \
    "$KS_DIR/fixtures.json")

start_listening "$TMP/upstream.out" python3 scripts/echo_upstream.py 0
UPSTREAM=$ADDR

METRICS=127.0.0.1:$(free_port)
{
    echo "[gateway]"
    echo "metrics_listen = \"$METRICS\""
    if [[ -n $WORKER_THREADS ]]; then echo "worker_threads = $WORKER_THREADS"; fi
    cat <<EOF

[keystone_authtoken]
auth_url = "$AUTH_URL"
username = "$HEAT_USER"
password_file = "$TMP/heat-password"
project_name = "service"
user_domain_id = "default"
project_domain_id = "default"
token_cache_time = $TOKEN_CACHE_TIME
EOF
} >"$TMP/heatgate.toml"
RUST_LOG=warn start_listening "$TMP/heatgate.out" "$BIN" proxy --upstream "http://$UPSTREAM" \
    --config "$TMP/heatgate.toml" --listen 127.0.0.1:0
PROXY_PID=$PID
URL="http://$ADDR/v1/$DEMO_PROJECT/stacks"
read -r START_RSS START_HWM < <(memory "$PROXY_PID")

log "creating $TOKENS tokens of the demo user ($METHOD, $CONCURRENCY at a time)"
python3 "$HELPER" tokens "$KS_DIR/fixtures.json" "$TOKENS" "$CONCURRENCY" "$METHOD" "$TMP/tokens"
head -n 1 "$TMP/tokens" >"$TMP/first-token"
python3 "$HELPER" send "$URL" "$TMP/first-token" 1 >/dev/null || die "the proxy refused a fresh demo token"
read -r ONE_RSS ONE_HWM < <(memory "$PROXY_PID")

bad=0
log "pass 1: one request per token through the proxy"
start=$(date +%s)
python3 "$HELPER" send "$URL" "$TMP/tokens" "$CONCURRENCY" >"$TMP/pass1" || bad=1
PASS1_S=$(($(date +%s) - start))
MISSES1=$(metric heatgate_auth_token_cache_misses_total)
HITS1=$(metric heatgate_auth_token_cache_hits_total)

log "pass 2: every token again (all must come from the cache)"
python3 "$HELPER" send "$URL" "$TMP/tokens" 16 >"$TMP/pass2" || bad=1
MISSES2=$(metric heatgate_auth_token_cache_misses_total)
HITS2=$(metric heatgate_auth_token_cache_hits_total)
CACHED=$(metric heatgate_auth_token_cached_tokens)
read -r RSS HWM < <(memory "$PROXY_PID")
((MISSES2 == MISSES1 && HITS2 - HITS1 == TOKENS)) || bad=1

statuses() { awk '{ printf "%s%s x %s", sep, $1, $2; sep = ", " }' "$1"; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f MB", kb / 1024 }'; }
{
    echo
    echo "heatgate proxy memory: $TOKENS distinct tokens cached ($METHOD tokens, fernet, $(wc -c <"$TMP/first-token") bytes each)"
    echo "machine: $(nproc) cores, $(uname -m); proxy worker threads: ${WORKER_THREADS:-default (one per core)}; token_cache_time $TOKEN_CACHE_TIME s"
    echo "pass 1 (every token validated by Keystone): $(statuses "$TMP/pass1") in ${PASS1_S} s"
    echo "pass 2 (every token again): $(statuses "$TMP/pass2"); Keystone validations during pass 2: $((MISSES2 - MISSES1)), cache hits: $((HITS2 - HITS1))"
    echo "cached tokens (moka's approximate count): $CACHED"
    printf '%-34s %10s %10s\n' "" "VmRSS" "VmHWM"
    printf '%-34s %10s %10s\n' "after start" "$(mb "$START_RSS")" "$(mb "$START_HWM")"
    printf '%-34s %10s %10s\n' "after the first request" "$(mb "$ONE_RSS")" "$(mb "$ONE_HWM")"
    printf '%-34s %10s %10s\n' "with $TOKENS tokens cached" "$(mb "$RSS")" "$(mb "$HWM")"
    echo "per cached token: $(awk -v a="$RSS" -v b="$ONE_RSS" -v n="$TOKENS" 'BEGIN { printf "%.2f kB", (a - b) / n }') of RSS"
    echo "target: VmRSS < $TARGET_MB MB: $(awk -v kb="$RSS" -v t="$TARGET_MB" 'BEGIN { print (kb < t * 1024) ? "met" : "MISSED" }')"
    ((bad == 0)) || echo "NOT every request was answered 200 from the cache: see the passes above."
} | tee "$TMP/report.txt"
mkdir -p "$ROOT/.bench"
cp "$TMP/report.txt" "$ROOT/.bench/gateway-memory-last.txt"
exit "$bad"
