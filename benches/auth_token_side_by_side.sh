#!/usr/bin/env bash
# benches/auth_token_side_by_side.sh - heatgate's auth_token against the Python
# reference stack, in one run on one machine, with wrk and a warm token.
#
#   (a) keystonemiddleware 13.0.1 auth_token around a trivial WSGI app, uWSGI
#       with 1 process and 1 thread (benches/keystonemiddleware_app.py)
#   (b) authbench --layer: axum 200 "ok" behind the auth_token layer, 1 worker thread
#   (c) authbench without the layer
#   (d) heatgate proxy (release, worker_threads 1) in front of nginx answering 200
#   (e) nginx (1 worker) as a plain reverse proxy in front of that same nginx
#
# Every target gets the same load (wrk -t1 -c$CONNECTIONS -d$DURATION after a
# $WARMUP warm-up), $ROUNDS times, interleaved; the round with the median
# req/s is reported. Targets: b/a >= 20, b/c >= 0.85, d/a >= 10, d/e >= 0.8,
# and zero non-2xx responses everywhere.
#
# Installs what it needs (Debian: wrk, nginx; .bench/venv from
# benches/requirements-bench.txt; a Keystone through scripts/keystone), starts
# its own Keystone instance and destroys it at exit. Everything listens on
# 127.0.0.1; nginx runs as the current user with its files in a temp dir.
#
# Environment: DURATION (10s), WARMUP (3s), CONNECTIONS (32), ROUNDS (3),
# TARGETS ("a b c d e").
# Exit status: 0 when every load had only 2xx responses and no socket error
# (targets missed are reported, not fatal), 1 otherwise, 2 on a setup failure.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
TARGETS=${TARGETS:-a b c d e}
VENV=$ROOT/.bench/venv
REQS=$ROOT/benches/requirements-bench.txt

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

# ---------------------------------------------------------------- install
# The reference runs on the distribution's Python (an optimised build, as Heat
# is deployed) when there is one; otherwise on the python3 in PATH.
PYTHON=python3
[[ -x /usr/bin/python3 ]] && PYTHON=/usr/bin/python3

install_debian() {
    local need=()
    if [[ $PYTHON == /usr/bin/python3 ]]; then
        "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
        "$PYTHON" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
            need+=(python3-dev)
    fi
    command -v wrk >/dev/null 2>&1 || need+=(wrk)
    command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
    command -v curl >/dev/null 2>&1 || need+=(curl)
    ((${#need[@]})) || return 0
    log "installing Debian packages: ${need[*]}"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
}

install_venv() {
    local want have=""
    want=$( (cat "$REQS" && readlink -f "$(command -v "$PYTHON")") | sha256sum | cut -d' ' -f1)
    [[ -f $VENV/.requirements.sha256 ]] && have=$(cat "$VENV/.requirements.sha256")
    [[ $want == "$have" && -x $VENV/bin/uwsgi ]] && return 0
    log "installing $REQS into .bench/venv with $PYTHON (uWSGI is compiled: about a minute)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    # No wheel cache: a cached uWSGI wheel may be linked to another Python.
    "$VENV/bin/pip" install -q --no-cache-dir -r "$REQS"
    echo "$want" >"$VENV/.requirements.sha256"
}

install_debian
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
# Keystone first: it installs the build tools uWSGI needs (gcc, python3-dev).
scripts/keystone install
install_venv
log "building heatgate and authbench (release)"
cargo build --release -p heatgate -p heatgate-benches
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
[[ -x $BIN/heatgate && -x $BIN/authbench ]] || die "release binaries not found in $BIN"

# ---------------------------------------------------------------- cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/heatgate-bench.XXXXXX")
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

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until URL answers with an HTTP status (any), 30 s at most.
wait_http() {
    local url=$1 i
    for ((i = 0; i < 300; i++)); do
        curl -s -o /dev/null --max-time 2 "$url" && return 0
        sleep 0.1
    done
    die "$url did not come up"
}

# Starts "$@" in the background with stdout in FILE and waits for its
# "listening on http://ADDR" line; sets ADDR. (Not in a $(...): the process
# must stay this shell's child, to be stopped at exit.)
start_listening() {
    local out=$1 i
    shift
    "$@" >"$out" 2>"$out.err" &
    PIDS+=($!)
    for ((i = 0; i < 300; i++)); do
        ADDR=$(sed -n 's|^listening on http://||p' "$out" | head -n 1)
        [[ -n $ADDR ]] && return 0
        kill -0 "${PIDS[-1]}" 2>/dev/null || die "$1 exited: $(tail -n 5 "$out.err")"
        sleep 0.1
    done
    die "$1 printed no 'listening on' line: $(tail -n 5 "$out.err")"
}

# ---------------------------------------------------------------- Keystone
log "starting a Keystone of this run's own"
KS_DIR=$(scripts/keystone start "bench-$$" --owner-pid $$ | tail -n 1)
[[ -f $KS_DIR/fixtures.json ]] || die "scripts/keystone start printed no instance directory"
eval "$("$VENV/bin/python" - "$KS_DIR/fixtures.json" <<'EOF'
import json, shlex, sys
f = json.load(open(sys.argv[1]))
for name, value in [("AUTH_URL", f["auth_url"]), ("HEAT_USER", f["heat"]["username"]),
                    ("HEAT_PASSWORD", f["heat"]["password"]), ("DEMO_ID", f["demo"]["user_id"]),
                    ("DEMO_PASSWORD", f["demo"]["password"]), ("DEMO_PROJECT", f["demo"]["project_id"])]:
    print("%s=%s" % (name, shlex.quote(value)))
EOF
)"
umask 077
printf '%s' "$HEAT_PASSWORD" >"$TMP/heat-password"
AUTH_BODY=$("$VENV/bin/python" -c 'import json, sys; print(json.dumps({"auth": {
    "identity": {"methods": ["password"], "password": {"user": {"id": sys.argv[1], "password": sys.argv[2]}}},
    "scope": {"project": {"id": sys.argv[3]}}}}))' "$DEMO_ID" "$DEMO_PASSWORD" "$DEMO_PROJECT")
BENCH_TOKEN=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' --data-binary @- \
    "$AUTH_URL/auth/tokens" <<<"$AUTH_BODY" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-subject-token" {print $2}')
[[ -n $BENCH_TOKEN ]] || die "Keystone gave no token to the demo user"
export BENCH_TOKEN
log "Keystone at $AUTH_URL; demo token of ${#BENCH_TOKEN} characters"

# ---------------------------------------------------------------- targets
nginx_conf() { # DIR PORT LOCATION_BODY [HTTP_EXTRA]
    local dir=$1 port=$2 body=$3 extra=${4:-} user=""
    mkdir -p "$dir"
    ((EUID != 0)) || user="user $(id -un) $(id -gn);"
    cat >"$dir/nginx.conf" <<EOF
$user
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    $extra
    server {
        listen 127.0.0.1:$port;
        location / { $body }
    }
}
EOF
}

start_nginx() { # DIR
    "$NGINX" -p "$1" -c "$1/nginx.conf" -e "$1/error.log" >"$1/stdout" 2>&1 &
    PIDS+=($!)
}

declare -A URL NAME
NAME[a]="keystonemiddleware 13.0.1 + uWSGI 1x1"
NAME[b]="authbench --layer (1 worker)"
NAME[c]="authbench, no layer (1 worker)"
NAME[d]="heatgate proxy -> nginx (1 worker)"
NAME[e]="nginx proxy -> nginx (1 worker)"

# The upstream of (d) and (e): nginx answering 200.
UP_PORT=$(free_port)
nginx_conf "$TMP/nginx-upstream" "$UP_PORT" 'return 200 "ok";'
start_nginx "$TMP/nginx-upstream"
wait_http "http://127.0.0.1:$UP_PORT/"

for t in $TARGETS; do
    case $t in
    a)
        port=$(free_port)
        (cd "$ROOT/benches" && KS_AUTH_URL=$AUTH_URL KS_PASSWORD=$HEAT_PASSWORD KS_USERNAME=$HEAT_USER \
            KS_WWW_AUTHENTICATE_URI=${AUTH_URL%/v3} \
            exec "$VENV/bin/uwsgi" --http11-socket "127.0.0.1:$port" --wsgi-file keystonemiddleware_app.py \
            --processes 1 --threads 1 --master --die-on-term --need-app --disable-logging \
            --logto "$TMP/uwsgi.log") &
        PIDS+=($!)
        URL[a]="http://127.0.0.1:$port/"
        ;;
    b | c)
        layer=()
        [[ $t == b ]] && layer=(--layer --auth-url "$AUTH_URL" --username "$HEAT_USER"
            --password-file "$TMP/heat-password" --project-name service
            --www-authenticate-uri "${AUTH_URL%/v3}")
        start_listening "$TMP/authbench-$t.out" "$BIN/authbench" --listen 127.0.0.1:0 \
            --worker-threads 1 "${layer[@]}"
        URL[$t]="http://$ADDR/"
        ;;
    d)
        cat >"$TMP/heatgate.toml" <<EOF
[gateway]
worker_threads = 1

[keystone_authtoken]
auth_url = "$AUTH_URL"
www_authenticate_uri = "${AUTH_URL%/v3}"
username = "$HEAT_USER"
password_file = "$TMP/heat-password"
project_name = "service"
user_domain_id = "default"
project_domain_id = "default"
EOF
        RUST_LOG=warn start_listening "$TMP/heatgate.out" "$BIN/heatgate" proxy \
            --upstream "http://127.0.0.1:$UP_PORT" --config "$TMP/heatgate.toml" --listen 127.0.0.1:0
        URL[d]="http://$ADDR/"
        ;;
    e)
        port=$(free_port)
        # shellcheck disable=SC2016 # nginx variables, not the shell's
        nginx_conf "$TMP/nginx-proxy" "$port" 'proxy_pass http://upstream200;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;' \
            "upstream upstream200 { server 127.0.0.1:$UP_PORT; keepalive 64; keepalive_requests 1000000; }"
        start_nginx "$TMP/nginx-proxy"
        URL[e]="http://127.0.0.1:$port/"
        ;;
    *) die "unknown target '$t' (a b c d e)" ;;
    esac
done

# Every target must answer 200 to the benchmark's request before it is loaded.
for t in $TARGETS; do
    wait_http "${URL[$t]}"
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -H "X-Auth-Token: $BENCH_TOKEN" "${URL[$t]}")
    [[ $code == 200 ]] || die "(${t}) ${NAME[$t]} answered $code to the warm token"
done

# ---------------------------------------------------------------- load
cat >"$TMP/report.lua" <<'EOF'
-- The token comes from the environment: it is on no command line.
wrk.headers["X-Auth-Token"] = os.getenv("BENCH_TOKEN")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
EOF
WRK=(wrk -t1 -c"$CONNECTIONS" --latency -s "$TMP/report.lua")
log "load: ${WRK[*]} -d$DURATION URL (after -d$WARMUP), $ROUNDS round(s), targets: $TARGETS"
mkdir -p "$TMP/results"
for ((round = 1; round <= ROUNDS; round++)); do
    for t in $TARGETS; do
        "${WRK[@]}" -d"$WARMUP" "${URL[$t]}" >"$TMP/results/$t.warmup.$round" 2>&1
        "${WRK[@]}" -d"$DURATION" "${URL[$t]}" >"$TMP/results/$t.$round" 2>&1
        read -r _ reqs us p50 p99 non2xx sockerr < <(grep '^RESULT ' "$TMP/results/$t.$round") \
            || die "wrk failed on ($t): $(tail -n 3 "$TMP/results/$t.$round")"
        rps=$(awk -v r="$reqs" -v us="$us" 'BEGIN { printf "%.0f", r * 1e6 / us }')
        echo "$rps $p50 $p99 $non2xx $sockerr $reqs" >>"$TMP/results/$t.rows"
        log "round $round ($t) ${NAME[$t]}: $rps req/s, p50 ${p50}us, p99 ${p99}us, non-2xx $non2xx, socket errors $sockerr"
    done
done

# ---------------------------------------------------------------- report
declare -A RPS
bad=0
fmt_us() { awk -v us="$1" 'BEGIN { if (us >= 1000) printf "%.2f ms", us / 1000; else printf "%d us", us }'; }
report() {
    echo
    echo "heatgate auth_token side by side: wrk -t1 -c$CONNECTIONS -d$DURATION (after -d$WARMUP), median of $ROUNDS round(s)"
    echo "machine: $(nproc) cores, $(uname -m), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%-42s %10s %10s %10s %8s %8s\n' "target" "req/s" "p50" "p99" "non-2xx" "sock.err"
    for t in $TARGETS; do
        # The median round by req/s (all rounds count for errors).
        read -r rps p50 p99 _ _ _ < <(sort -n "$TMP/results/$t.rows" | sed -n "$(((ROUNDS + 1) / 2))p")
        read -r non2xx sockerr < <(awk '{ n += $4; s += $5 } END { print n, s }' "$TMP/results/$t.rows")
        RPS[$t]=$rps
        ((non2xx == 0 && sockerr == 0)) || bad=1
        printf '%-42s %10s %10s %10s %8s %8s\n' "($t) ${NAME[$t]}" "$rps" "$(fmt_us "$p50")" \
            "$(fmt_us "$p99")" "$non2xx" "$sockerr"
    done
    echo
    # Ratios within each round (the targets loaded back to back), then the median.
    echo "ratios: median of the per-round ratios (each round's values in brackets)"
    local pair num den target rounds ratio verdict
    for pair in "b a 20" "b c 0.85" "d a 10" "d e 0.8"; do
        read -r num den target <<<"$pair"
        [[ -n ${RPS[$num]:-} && -n ${RPS[$den]:-} ]] || continue
        rounds=$(paste -d' ' <(cut -d' ' -f1 "$TMP/results/$num.rows") <(cut -d' ' -f1 "$TMP/results/$den.rows") |
            awk '{ printf "%.2f\n", $1 / $2 }')
        ratio=$(sort -g <<<"$rounds" | sed -n "$(((ROUNDS + 1) / 2))p")
        verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r >= t) ? "ok" : "MISSED" }')
        printf '%s/%s = %6s  [%s]  target >= %-5s %s\n' "$num" "$den" "$ratio" "$(paste -sd' ' <<<"$rounds")" \
            "$target" "$verdict"
    done
    echo
    if ((bad)); then
        echo "NOT every response was 2xx (or a socket error occurred): see the columns above."
    else
        echo "Every load: zero non-2xx responses, zero socket errors."
    fi
}
report >"$TMP/report.txt"
cp "$TMP/report.txt" "$ROOT/.bench/side-by-side-last.txt"
cat "$TMP/report.txt"
exit "$bad"
