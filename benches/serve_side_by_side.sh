#!/usr/bin/env bash
# benches/serve_side_by_side.sh - `heatgate serve` (gateway + embedded engine)
# under wrk with a warm token, and with --with-heat the real Heat 27.0.1 next
# to it, in one run on one machine.
#
#   (a)  serve: GET /v1/{tenant}/stacks                      (stack list, demo's token)
#   (f)  the engine alone: (a) through enginebench, i.e. serve's engine (same
#        configuration, a snapshot of its database, same runtime and server
#        loop) without the authentication layers, demo's identity injected:
#        a/f is what the layers cost
#   (b)  serve: GET .../resources/server/metadata            (OS::Nova::Server record)
#   (c)  serve, CFN listener: DescribeStackResource of the server, SigV2 signed with
#        the stack's AWS::IAM::AccessKey ([ec2authtoken] verify = "local"). What is
#        measured is the REPLAY of one signed GET: the URL is signed once per load
#        (Timestamp = the load's start, well within the 15 minutes allowed) and
#        the same URL is sent again and again, which the signature check allows.
#   (d)  serve: POST .../resources/handle/signal with the OS::Heat::WaitConditionHandle's
#        token (REST signals/s)
#   (e)  serve, CFN listener: PUT of the AWS::CloudFormation::WaitConditionHandle's
#        pre-signed URL with cfn-signal's JSON body (CFN signals/s)
#   (ha) Heat 27.0.1 (heat-api under uWSGI, heat-engine, RabbitMQ, MariaDB): (a)
#   (hb) Heat 27.0.1: (b), the metadata of an OS::Heat::None named "server" (no Nova here)
#
# Every target gets the same load (wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION
# after a $WARMUP warm-up), $ROUNDS times, interleaved; the round with the
# median req/s is reported. Targets: a/ha >= 100 and b/hb >= 100, zero non-2xx
# responses everywhere ("non-2xx" is wrk's count of statuses >= 400, warm-ups
# included; every target is also checked with curl to answer 200, with the
# expected content, before and after the loads).
#
# Installs what it needs (Debian: wrk, curl; with --with-heat rabbitmq-server,
# mariadb-server and .bench/heat-venv from benches/requirements-heat.txt; a
# Keystone through scripts/keystone), starts its own Keystone instance,
# RabbitMQ node and MariaDB server (data in a temporary directory, all on
# 127.0.0.1, ports picked free) and stops every process it started at exit.
#
# --proxy-heat-api (also benches/proxy_heat_api.sh): no loads and no serve;
# the real Heat as with --with-heat, `heatgate proxy --upstream <heat-api>`
# registered as the orchestration endpoint of the run's Keystone (and the same
# proxy with TLS on its listener), the openstack CLI flow through it (stack
# create --wait, list, show NAME, resource list NAME, delete --wait), then the
# Location headers heat-api answers to GET .../stacks/NAME[/resources] through
# each listener (curl) and those the CLI followed: every one must point back
# at the proxy, or the run fails. heat.conf gets [oslo_middleware]
# enable_proxy_headers_parsing = $HEAT_PROXY_HEADERS (true).
#
# Usage: benches/serve_side_by_side.sh [--with-heat | --proxy-heat-api]
# Environment: DURATION (10s), WARMUP (3s), CONNECTIONS (32), ROUNDS (3),
# WRK_THREADS (1), WORKER_THREADS (serve's [gateway] worker_threads, 2),
# HEAT_API_PROCESSES (1), HEAT_API_THREADS (4), TARGETS ("a f b c d e", plus
# "ha hb" with --with-heat; any subset), HEAT_PROXY_HEADERS (true), KEEP_TMP
# (set: keep the temporary directory with the configurations and logs).
# Exit status: 0 when every load had only 2xx responses and no socket error
# (ratios missed are reported, not fatal; with --proxy-heat-api: when the CLI
# flow passed and every Location pointed at the proxy), 1 otherwise, 2 on a
# setup failure.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

WITH_HEAT=0
PROXY_HEAT_API=0
for arg in "$@"; do
    case $arg in
    --with-heat) WITH_HEAT=1 ;;
    --proxy-heat-api) WITH_HEAT=1 PROXY_HEAT_API=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$arg' (--with-heat, --proxy-heat-api, --help)" ;;
    esac
done

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
WRK_THREADS=${WRK_THREADS:-1}
WORKER_THREADS=${WORKER_THREADS:-2}
HEAT_API_PROCESSES=${HEAT_API_PROCESSES:-1}
HEAT_API_THREADS=${HEAT_API_THREADS:-4}
HEAT_PROXY_HEADERS=${HEAT_PROXY_HEADERS:-true}
if ((WITH_HEAT)); then
    TARGETS=${TARGETS:-a f b c d e ha hb}
else
    TARGETS=${TARGETS:-a f b c d e}
fi
for t in $TARGETS; do
    case $t in
    a | b | c | d | e | f) ;;
    ha | hb) ((WITH_HEAT)) || die "target $t needs --with-heat" ;;
    *) die "unknown target '$t' (a b c d e f ha hb)" ;;
    esac
done
HEAT_VENV=$ROOT/.bench/heat-venv
HEAT_REQS=$ROOT/benches/requirements-heat.txt
# The helpers below use only Python's standard library.
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

# ---------------------------------------------------------------- install
SUDO=()
((EUID == 0)) || SUDO=(sudo)

install_debian() {
    local need=()
    command -v wrk >/dev/null 2>&1 || need+=(wrk)
    command -v curl >/dev/null 2>&1 || need+=(curl)
    if ((WITH_HEAT)); then
        [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || need+=(rabbitmq-server)
        [[ -x /usr/sbin/mariadbd ]] || need+=(mariadb-server)
        "$PY" -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
        "$PY" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
            need+=(python3-dev)
    fi
    ((${#need[@]})) || return 0
    log "installing Debian packages: ${need[*]}"
    "${SUDO[@]}" apt-get update -qq
    # Debian starts these servers as services on install where it can; this
    # script runs its own instances instead (a policy-rc.d may forbid the start).
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
}

install_heat_venv() {
    local want have=""
    want=$( (cat "$HEAT_REQS" && readlink -f "$(command -v "$PY")") | sha256sum | cut -d' ' -f1)
    [[ -f $HEAT_VENV/.requirements.sha256 ]] && have=$(cat "$HEAT_VENV/.requirements.sha256")
    [[ $want == "$have" && -x $HEAT_VENV/bin/uwsgi && -x $HEAT_VENV/bin/heat-engine ]] && return 0
    log "installing $HEAT_REQS into .bench/heat-venv with $PY (a few minutes: uWSGI is compiled)"
    rm -rf "$HEAT_VENV"
    "$PY" -m venv "$HEAT_VENV"
    "$HEAT_VENV/bin/pip" install -q --upgrade pip
    # No wheel cache: a cached uWSGI wheel may be linked to another Python.
    "$HEAT_VENV/bin/pip" install -q --no-cache-dir -r "$HEAT_REQS"
    echo "$want" >"$HEAT_VENV/.requirements.sha256"
}

install_debian
scripts/keystone install
((WITH_HEAT)) && install_heat_venv
log "building heatgate and enginebench (release)"
cargo build --release -p heatgate -p heatgate-benches --bin heatgate --bin enginebench
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
[[ -x $BIN/heatgate && -x $BIN/enginebench ]] || die "release binaries not found in $BIN"

# ---------------------------------------------------------------- cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/heatgate-serve-bench.XXXXXX")
PIDS=()
KS_DIR=""
# Stops what this script started, the last started first (Heat before its
# message queue and database), SIGTERM then SIGKILL after 20 s.
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local i pid n
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
        kill -TERM "$pid" 2>/dev/null || continue
        for ((n = 0; n < 200; n++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $KS_DIR ]]; then scripts/keystone destroy "$KS_DIR" >/dev/null 2>&1 || true; fi
    if [[ -n ${KEEP_TMP:-} ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
umask 077

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until URL answers with an HTTP status (any), $2 seconds at most (30).
wait_http() {
    local url=$1 secs=${2:-30} i
    for ((i = 0; i < secs * 10; i++)); do
        curl -s -o /dev/null --max-time 2 "$url" && return 0
        sleep 0.1
    done
    die "$url did not come up"
}

wait_port() { # PORT SECONDS WHAT
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    die "$3 did not listen on 127.0.0.1:$1 within $2 s"
}

# Small JSON and signing helpers (standard library only).
cat >"$TMP/helper.py" <<'EOF'
import base64, hashlib, hmac, json, shlex, sys, time, urllib.parse

def q(s, safe):
    return urllib.parse.quote(s, safe=safe)

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "get":
    # get PATH...: the values at dotted paths of the JSON document on stdin
    # ("stack.outputs[output_key=access].output_value"), one a line.
    doc = json.load(sys.stdin)
    for path in args:
        v = doc
        for part in path.split("."):
            if "[" in part:
                name, sel = part[:-1].split("[")
                key, val = sel.split("=")
                v = next(x for x in v[name] if x.get(key) == val)
            else:
                v = v[part]
        print(v if isinstance(v, str) else json.dumps(v))
elif cmd == "fixtures":
    f = json.load(open(args[0]))
    for name, value in [
        ("AUTH_URL", f["auth_url"]), ("REGION", f.get("region", "RegionOne")),
        ("HEAT_USER", f["heat"]["username"]), ("HEAT_PASSWORD", f["heat"]["password"]),
        ("HEAT_DOMAIN_ID", f["heat_domain_id"]),
        ("DOMAIN_ADMIN", f["heat_domain_admin"]["username"]),
        ("DOMAIN_ADMIN_PASSWORD", f["heat_domain_admin"]["password"]),
        ("ADMIN_ID", f["admin"]["user_id"]), ("ADMIN_PASSWORD", f["admin"]["password"]),
        ("ADMIN_PROJECT", f["admin"]["project_id"]),
        ("DEMO_ID", f["demo"]["user_id"]), ("DEMO_PASSWORD", f["demo"]["password"]),
        ("DEMO_PROJECT", f["demo"]["project_id"])]:
        print("%s=%s" % (name, shlex.quote(value)))
elif cmd == "auth-body":
    user, password, project = args
    print(json.dumps({"auth": {
        "identity": {"methods": ["password"],
                     "password": {"user": {"id": user, "password": password}}},
        "scope": {"project": {"id": project}}}}))
elif cmd == "create-body":
    name, template_file = args
    print(json.dumps({"stack_name": name, "template": open(template_file).read(),
                      "parameters": {}, "disable_rollback": True}))
elif cmd == "sign-get":
    # sign-get HOST PATH SECRET_FILE ACCESS NAME=VALUE...: a SigV2 (HmacSHA256)
    # signed GET path and query, Timestamp = now, as Keystone checks it.
    host, path, secret_file, access = args[:4]
    params = dict(a.split("=", 1) for a in args[4:])
    params.update({"SignatureMethod": "HmacSHA256", "SignatureVersion": "2",
                   "AWSAccessKeyId": access,
                   "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    qs = "&".join(q(k, "") + "=" + q(params[k], "-_~") for k in sorted(params))
    secret = open(secret_file).read().strip().encode()
    sig = base64.b64encode(hmac.new(secret, "\n".join(["GET", host.lower(), path, qs]).encode(),
                                    hashlib.sha256).digest()).decode()
    print("%s?%s&Signature=%s" % (path, qs, q(sig, "")))
else:
    sys.exit("unknown helper command " + cmd)
EOF
helper() { "$PY" "$TMP/helper.py" "$@"; }

# ---------------------------------------------------------------- Keystone
log "starting a Keystone of this run's own"
KS_DIR=$(scripts/keystone start "serve-bench-$$" --owner-pid $$ | tail -n 1)
[[ -f $KS_DIR/fixtures.json ]] || die "scripts/keystone start printed no instance directory"
eval "$(helper fixtures "$KS_DIR/fixtures.json")"
KS_BASE=${AUTH_URL%/v3}

# A project-scoped token: ks_token USER_ID PASSWORD PROJECT_ID
ks_token() {
    local tok
    tok=$(helper auth-body "$1" "$2" "$3" | curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
        --data-binary @- "$AUTH_URL/auth/tokens" | tr -d '\r' |
        awk -F': ' 'tolower($1) == "x-subject-token" {print $2}')
    [[ -n $tok ]] || die "Keystone gave no token to user $1"
    printf '%s' "$tok"
}
DEMO_TOKEN=$(ks_token "$DEMO_ID" "$DEMO_PASSWORD" "$DEMO_PROJECT")
log "Keystone at $AUTH_URL"

# HTTP with the token in a header file (never on a command line):
# http METHOD URL TOKEN [BODY_FILE] -> the body in $TMP/http.body, prints the status.
http() {
    local method=$1 url=$2 token=$3 body=${4:-} args=()
    printf 'X-Auth-Token: %s\n' "$token" >"$TMP/http.headers"
    [[ -n $body ]] && args=(-H 'Content-Type: application/json' --data-binary "@$body")
    curl -s -o "$TMP/http.body" -w '%{http_code}' --max-time 120 -X "$method" \
        -H "@$TMP/http.headers" -H 'Accept: application/json' "${args[@]}" "$url"
}

# Creates a stack as demo and waits for CREATE_COMPLETE: create_stack API_URL NAME TEMPLATE_FILE
# (API_URL = http://host:port/v1/<project>); sets STACK_ID.
create_stack() {
    local api=$1 name=$2 template=$3 code status i
    helper create-body "$name" "$template" >"$TMP/create.json"
    code=$(http POST "$api/stacks" "$DEMO_TOKEN" "$TMP/create.json")
    [[ $code == 201 ]] || die "stack create at $api answered $code: $(head -c 2000 "$TMP/http.body")"
    STACK_ID=$(helper get stack.id <"$TMP/http.body")
    for ((i = 0; i < 600; i++)); do
        code=$(http GET "$api/stacks/$name/$STACK_ID" "$DEMO_TOKEN")
        [[ $code == 200 ]] || die "stack show at $api answered $code: $(head -c 2000 "$TMP/http.body")"
        status=$(helper get stack.stack_status <"$TMP/http.body")
        case $status in
        CREATE_COMPLETE) return 0 ;;
        *FAILED) die "stack $name at $api: $status: $(helper get stack.stack_status_reason <"$TMP/http.body")" ;;
        esac
        sleep 0.2
    done
    die "stack $name at $api still $status after 120 s"
}

# ---------------------------------------------------------------- heatgate serve
start_serve() {
    mkdir -p "$TMP/serve/data"
    printf '%s' "$HEAT_PASSWORD" >"$TMP/serve/heat-password"
    printf '%s' "$DOMAIN_ADMIN_PASSWORD" >"$TMP/serve/domain-admin-password"
    head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/serve/auth-encryption-key"
    cat >"$TMP/serve/heatgate.toml" <<EOF
[gateway]
worker_threads = $WORKER_THREADS

[keystone_authtoken]
auth_url = "$AUTH_URL"
www_authenticate_uri = "$KS_BASE"
username = "$HEAT_USER"
password_file = "$TMP/serve/heat-password"
project_name = "service"
user_domain_id = "default"
project_domain_id = "default"

[heat]
stack_user_domain_id = "$HEAT_DOMAIN_ID"
stack_domain_admin = "$DOMAIN_ADMIN"
stack_domain_admin_password_file = "$TMP/serve/domain-admin-password"
auth_encryption_key_file = "$TMP/serve/auth-encryption-key"

[engine]
data_dir = "$TMP/serve/data"

[ec2authtoken]
verify = "local"
EOF
    log "starting heatgate serve (worker_threads $WORKER_THREADS)"
    # Started again (on an empty data directory) when it exits at once with
    # "database is locked": opening a new engine database races at times.
    SERVE="" SERVE_CFN=""
    for ((attempt = 1; attempt <= 3; attempt++)); do
        : >"$TMP/serve/out"
        RUST_LOG=warn "$BIN/heatgate" serve --config "$TMP/serve/heatgate.toml" \
            --listen 127.0.0.1:0 --cfn-listen 127.0.0.1:0 >"$TMP/serve/out" 2>"$TMP/serve/err" &
        PIDS+=($!)
        for ((i = 0; i < 300; i++)); do
            SERVE=$(sed -n 's|^listening on http://||p' "$TMP/serve/out" | head -n 1)
            SERVE_CFN=$(sed -n 's|^cfn listening on http://||p' "$TMP/serve/out" | head -n 1)
            [[ -n $SERVE && -n $SERVE_CFN ]] && break 2
            kill -0 "${PIDS[-1]}" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "${PIDS[-1]}" 2>/dev/null && break
        if ! grep -q 'database is locked' "$TMP/serve/err" || ((attempt == 3)); then
            die "heatgate serve exited: $(tail -n 5 "$TMP/serve/err")"
        fi
        log "heatgate serve exited at start ($(tail -n 1 "$TMP/serve/err")): starting it again"
        rm -rf "$TMP/serve/data" && mkdir "$TMP/serve/data"
    done
    [[ -n $SERVE && -n $SERVE_CFN ]] || die "heatgate serve printed no listening lines: $(tail -n 5 "$TMP/serve/err")"

    # The stack: a server with metadata, an IAM access key whose AccessPolicy
    # allows the server (for CFN), and the two kinds of wait condition handle
    # (for signals; no wait condition, so the stack completes at once).
    cat >"$TMP/serve/template.yaml" <<'EOF'
heat_template_version: 2018-08-31
description: heatgate serve benchmark
resources:
  server:
    type: OS::Nova::Server
    metadata:
      role: web
      config: {port: 8080, workers: 4}
    properties:
      image: cirros
      flavor: m1.tiny
  policy:
    type: OS::Heat::AccessPolicy
    properties:
      AllowedResources: [server]
  app_user:
    type: AWS::IAM::User
    properties:
      Policies: [{get_resource: policy}]
  app_key:
    type: AWS::IAM::AccessKey
    properties:
      UserName: {get_resource: app_user}
  handle:
    type: OS::Heat::WaitConditionHandle
  cfn_handle:
    type: AWS::CloudFormation::WaitConditionHandle
outputs:
  access:
    value: {get_resource: app_key}
  secret:
    value: {get_attr: [app_key, SecretAccessKey]}
  signal_url:
    value: {get_resource: cfn_handle}
EOF
    SERVE_API=http://$SERVE/v1/$DEMO_PROJECT
    log "creating stack '$STACK' through serve ($SERVE, CFN $SERVE_CFN)"
    create_stack "$SERVE_API" "$STACK" "$TMP/serve/template.yaml"
    SERVE_STACK_ID=$STACK_ID
    helper get 'stack.outputs[output_key=access].output_value' 'stack.outputs[output_key=signal_url].output_value' \
        <"$TMP/http.body" >"$TMP/serve/outputs"
    helper get 'stack.outputs[output_key=secret].output_value' <"$TMP/http.body" >"$TMP/serve/access-secret"
    { read -r ACCESS_KEY && read -r SIGNAL_URL; } <"$TMP/serve/outputs"
    code=$(http GET "$SERVE_API/stacks/$STACK/$SERVE_STACK_ID/resources/handle" "$DEMO_TOKEN")
    [[ $code == 200 ]] || die "handle resource show answered $code"
    HANDLE_TOKEN=$(helper get resource.attributes.token <"$TMP/http.body")
    HANDLE_ENDPOINT=$(helper get resource.attributes.endpoint <"$TMP/http.body")
    [[ $HANDLE_ENDPOINT == "http://$SERVE/"* && $SIGNAL_URL == "http://$SERVE_CFN/"* ]] ||
        die "unexpected signal URLs: $HANDLE_ENDPOINT $SIGNAL_URL"
}
STACK=bench
((PROXY_HEAT_API)) || start_serve

# ---------------------------------------------------------------- Heat 27.0.1
start_heat() {
    local H=$TMP/heat
    mkdir -p "$H/logs" "$H/rabbit" "$H/mysql"

    # RabbitMQ: an epmd and a node of this run's own.
    local epmd_port dist_port
    epmd_port=$(free_port)
    RABBIT_PORT=$(free_port)
    dist_port=$(free_port)
    epmd -port "$epmd_port" -address 127.0.0.1 >"$H/rabbit/epmd.log" 2>&1 &
    PIDS+=($!)
    wait_port "$epmd_port" 10 epmd
    : >"$H/rabbit/enabled_plugins"
    log "starting RabbitMQ (127.0.0.1:$RABBIT_PORT)"
    env HOME="$H/rabbit" RABBITMQ_NODENAME="bench$$@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT="$RABBIT_PORT" RABBITMQ_DIST_PORT="$dist_port" ERL_EPMD_ADDRESS=127.0.0.1 \
        ERL_EPMD_PORT="$epmd_port" RABBITMQ_MNESIA_BASE="$H/rabbit/mnesia" RABBITMQ_LOG_BASE="$H/rabbit/log" \
        RABBITMQ_CONFIG_FILE="$H/rabbit/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$H/rabbit/enabled_plugins" \
        RABBITMQ_PID_FILE="$H/rabbit/pid" \
        /usr/lib/rabbitmq/bin/rabbitmq-server >"$H/rabbit/out.log" 2>&1 &
    PIDS+=($!)

    # MariaDB: a data directory of this run's own.
    local user=()
    ((EUID != 0)) || user=(--user=root)
    DB_PORT=$(free_port)
    log "starting MariaDB (127.0.0.1:$DB_PORT)"
    mariadb-install-db --datadir="$H/mysql/data" --auth-root-authentication-method=normal --skip-test-db \
        "${user[@]}" >"$H/mysql/install.log" 2>&1 || die "mariadb-install-db failed: $(tail -n 5 "$H/mysql/install.log")"
    /usr/sbin/mariadbd --datadir="$H/mysql/data" --socket="$H/mysql/sock" --port="$DB_PORT" \
        --bind-address=127.0.0.1 --pid-file="$H/mysql/pid" --log-error="$H/mysql/error.log" "${user[@]}" &
    PIDS+=($!)
    local i
    for ((i = 0; i < 300; i++)); do
        mariadb -uroot -S "$H/mysql/sock" -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.1
    done
    mariadb -uroot -S "$H/mysql/sock" -e "CREATE DATABASE heat;
        CREATE USER 'heat'@'127.0.0.1' IDENTIFIED BY 'heatdb';
        GRANT ALL ON heat.* TO 'heat'@'127.0.0.1';" || die "MariaDB: $(tail -n 5 "$H/mysql/error.log")"
    wait_port "$RABBIT_PORT" 120 RabbitMQ

    # Catalog entries Heat builds its own URLs from.
    HEAT_API_PORT=$(free_port)
    HEAT_CFN_PORT=$(free_port)
    local admin sid type url
    admin=$(ks_token "$ADMIN_ID" "$ADMIN_PASSWORD" "$ADMIN_PROJECT")
    for type in orchestration cloudformation; do
        # With --proxy-heat-api the clients reach heat-api through the proxy.
        url=${ORCHESTRATION_BASE:-http://127.0.0.1:$HEAT_API_PORT}/v1/%\(tenant_id\)s
        [[ $type == cloudformation ]] && url=http://127.0.0.1:$HEAT_CFN_PORT/v1
        printf '{"service": {"type": "%s", "name": "heat-%s"}}' "$type" "$type" >"$H/req.json"
        [[ $(http POST "$AUTH_URL/services" "$admin" "$H/req.json") == 201 ]] ||
            die "Keystone refused the $type service: $(cat "$TMP/http.body")"
        sid=$(helper get service.id <"$TMP/http.body")
        printf '{"endpoint": {"service_id": "%s", "interface": "public", "region_id": "%s", "url": "%s"}}' \
            "$sid" "$REGION" "$url" >"$H/req.json"
        [[ $(http POST "$AUTH_URL/endpoints" "$admin" "$H/req.json") == 201 ]] ||
            die "Keystone refused the $type endpoint: $(cat "$TMP/http.body")"
    done

    local key
    key=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    cat >"$H/heat.conf" <<EOF
[DEFAULT]
transport_url = rabbit://guest:guest@127.0.0.1:$RABBIT_PORT/
stack_user_domain_id = $HEAT_DOMAIN_ID
stack_domain_admin = $DOMAIN_ADMIN
stack_domain_admin_password = $DOMAIN_ADMIN_PASSWORD
auth_encryption_key = $key
heat_metadata_server_url = http://127.0.0.1:$HEAT_CFN_PORT
heat_waitcondition_server_url = http://127.0.0.1:$HEAT_CFN_PORT/v1/waitcondition
num_engine_workers = 1
log_dir = $H/logs

[paste_deploy]
api_paste_config = $HEAT_VENV/etc/heat/api-paste.ini

[database]
connection = mysql+pymysql://heat:heatdb@127.0.0.1:$DB_PORT/heat

[keystone_authtoken]
auth_type = password
auth_url = $AUTH_URL
www_authenticate_uri = $KS_BASE
username = $HEAT_USER
password = $HEAT_PASSWORD
project_name = service
user_domain_id = default
project_domain_id = default
interface = public

[trustee]
auth_type = password
auth_url = $AUTH_URL
username = $HEAT_USER
password = $HEAT_PASSWORD
user_domain_id = default

[clients_keystone]
auth_uri = $KS_BASE

[ec2authtoken]
auth_type = password
auth_url = $AUTH_URL
username = $HEAT_USER
password = $HEAT_PASSWORD
project_name = service
user_domain_id = default
project_domain_id = default
endpoint_override = $KS_BASE

[oslo_policy]
enforce_new_defaults = false

[oslo_middleware]
# Honour X-Forwarded-Proto / -Host (http_proxy_to_wsgi in api-paste.ini).
enable_proxy_headers_parsing = $HEAT_PROXY_HEADERS
EOF
    log "heat-manage db_sync"
    "$HEAT_VENV/bin/heat-manage" --config-file "$H/heat.conf" db_sync >"$H/db_sync.log" 2>&1 ||
        die "heat-manage db_sync failed: $(tail -n 5 "$H/db_sync.log")"
    log "starting heat-engine, heat-api (uWSGI ${HEAT_API_PROCESSES}x$HEAT_API_THREADS) and heat-api-cfn"
    "$HEAT_VENV/bin/heat-engine" --config-file "$H/heat.conf" >"$H/engine.out" 2>&1 &
    PIDS+=($!)
    local app module port prog
    for app in api cfn; do
        module=heat.api.openstack.wsgi port=$HEAT_API_PORT prog=heat-api
        [[ $app == cfn ]] && module=heat.api.cfn.wsgi port=$HEAT_CFN_PORT prog=heat-api-cfn
        cat >"$H/heat_$app.py" <<EOF
import sys
sys.argv = ['$prog', '--config-file', '$H/heat.conf']
from $module import init_application
application = init_application()
EOF
        "$HEAT_VENV/bin/uwsgi" --http11-socket "127.0.0.1:$port" --wsgi-file "$H/heat_$app.py" \
            --processes "$HEAT_API_PROCESSES" --threads "$HEAT_API_THREADS" --master --die-on-term \
            --need-app --disable-logging --logto "$H/uwsgi-$app.log" &
        PIDS+=($!)
    done
    wait_http "http://127.0.0.1:$HEAT_API_PORT/" 60
    # heat-engine is up when a stack list (an RPC call) answers.
    local code
    for ((i = 0; i < 60; i++)); do
        code=$(http GET "http://127.0.0.1:$HEAT_API_PORT/v1/$DEMO_PROJECT/stacks" "$DEMO_TOKEN")
        [[ $code == 200 ]] && break
        sleep 1
    done
    [[ $code == 200 ]] || die "heat-api answered $code to a stack list: $(head -c 2000 "$TMP/http.body")"

    # Nova is not here: the "server" is an OS::Heat::None with the same metadata.
    cat >"$H/template.yaml" <<'EOF'
heat_template_version: 2018-08-31
description: heatgate serve benchmark (Heat side)
resources:
  server:
    type: OS::Heat::None
    metadata:
      role: web
      config: {port: 8080, workers: 4}
EOF
    HEAT_API=http://127.0.0.1:$HEAT_API_PORT/v1/$DEMO_PROJECT
    log "creating stack '$STACK' through Heat ($HEAT_API)"
    create_stack "$HEAT_API" "$STACK" "$H/template.yaml"
    HEAT_STACK_ID=$STACK_ID
}
if ((PROXY_HEAT_API)); then
    PROXY_PORT=$(free_port)
    ORCHESTRATION_BASE=http://127.0.0.1:$PROXY_PORT
fi
((WITH_HEAT)) && start_heat

# ---------------------------------------------------------------- heatgate proxy -> heat-api
# --proxy-heat-api: `heatgate proxy` in front of heat-api, registered as the
# orchestration endpoint; the openstack CLI flow through it, then the Location
# headers heat-api answers through the proxy must point back at the proxy.

# start_proxy NAME CONFIG ADDRESS: a `heatgate proxy` in front of heat-api.
start_proxy() {
    local P=$TMP/proxy i
    RUST_LOG=warn "$BIN/heatgate" proxy --upstream "http://127.0.0.1:$HEAT_API_PORT" --config "$2" \
        --listen "$3" >"$P/$1.out" 2>"$P/$1.err" &
    PIDS+=($!)
    for ((i = 0; i < 300; i++)); do
        grep -qs '^listening on ' "$P/$1.out" && return 0
        kill -0 "${PIDS[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    die "heatgate proxy ($1) did not start: $(tail -n 5 "$P/$1.err")"
}

# The openstack CLI as demo, with --debug: keystoneauth logs every response's
# headers (tokens only as hashes), the redirects it followed included. Fails
# when a request to Heat went anywhere but $PROXY.
CLI_N=0
os_cli() {
    local P=$TMP/proxy
    CLI_N=$((CLI_N + 1))
    printf '$ openstack %s\n' "$*" >>"$P/cli.txt"
    if ! env OS_AUTH_URL="$AUTH_URL" OS_IDENTITY_API_VERSION=3 OS_USER_ID="$DEMO_ID" \
        OS_PASSWORD="$DEMO_PASSWORD" OS_PROJECT_ID="$DEMO_PROJECT" OS_REGION_NAME="$REGION" \
        OS_INTERFACE=public "$OS_CLI" --debug "$@" >"$P/cli.$CLI_N.out" 2>"$P/cli.$CLI_N.debug"; then
        log "openstack $* failed: $(grep -v '^REQ\|^RESP' "$P/cli.$CLI_N.debug" | tail -n 5)"
        return 1
    fi
    cat "$P/cli.$CLI_N.out" >>"$P/cli.txt"
    if grep -o "REQ: curl -g -i -X [A-Z]* [^ ]*/v1/$DEMO_PROJECT[^ ]*" "$P/cli.$CLI_N.debug" |
        grep -v "[ \"]$PROXY/v1/" >"$P/cli.$CLI_N.around"; then
        log "openstack $* went around the proxy: $(head -n 3 "$P/cli.$CLI_N.around")"
        return 1
    fi
    grep -o '[Ll]ocation: [^ ]*' "$P/cli.$CLI_N.debug" | sed "s|^|openstack $1 $2: |" >>"$P/locations" || true
}

# check_location BASE PATH [CURL_OPTIONS...]: GET BASE/PATH (demo's token)
# must be heat-api's 302 with a Location under BASE.
check_location() {
    local P=$TMP/proxy base=$1 path=$2 code loc
    shift 2
    printf 'X-Auth-Token: %s\n' "$DEMO_TOKEN" >"$P/curl.headers"
    code=$(curl -s -D "$P/curl.head" -o /dev/null -w '%{http_code}' --max-time 60 "$@" \
        -H "@$P/curl.headers" -H 'Accept: application/json' "$base$path")
    loc=$(tr -d '\r' <"$P/curl.head" | awk 'tolower($1) == "location:" {print $2}')
    echo "curl GET $base$path: $code $loc" >>"$P/locations"
    if [[ $code != 302 || $loc != "$base/"* ]]; then
        log "GET $base$path answered $code, Location '$loc': not back at $base"
        PROXY_BAD=1
    fi
}

proxy_heat_api() {
    local P=$TMP/proxy tls_port p name=through-proxy
    PROXY_BAD=0
    mkdir -p "$P"
    printf '%s' "$HEAT_PASSWORD" >"$P/heat-password"
    cat >"$P/proxy.toml" <<EOF
[gateway]
worker_threads = $WORKER_THREADS

[keystone_authtoken]
auth_url = "$AUTH_URL"
www_authenticate_uri = "$KS_BASE"
username = "$HEAT_USER"
password_file = "$P/heat-password"
project_name = "service"
user_domain_id = "default"
project_domain_id = "default"
EOF
    PROXY=http://127.0.0.1:$PROXY_PORT
    start_proxy plain "$P/proxy.toml" "127.0.0.1:$PROXY_PORT"
    # The same proxy with TLS on its listener: heat-api learns the scheme
    # only from X-Forwarded-Proto there.
    TLS_PROXY=""
    if command -v openssl >/dev/null 2>&1; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
            -addext subjectAltName=IP:127.0.0.1 -keyout "$P/key.pem" -out "$P/cert.pem" 2>/dev/null ||
            die "openssl could not make a certificate"
        {
            printf '[gateway]\nworker_threads = %s\ncert_file = "%s"\nkey_file = "%s"\n' \
                "$WORKER_THREADS" "$P/cert.pem" "$P/key.pem"
            sed -n '/^\[keystone_authtoken\]/,$p' "$P/proxy.toml"
        } >"$P/proxy-tls.toml"
        tls_port=$(free_port)
        start_proxy tls "$P/proxy-tls.toml" "127.0.0.1:$tls_port"
        TLS_PROXY=https://127.0.0.1:$tls_port
    fi
    log "heatgate proxy at $PROXY${TLS_PROXY:+ and $TLS_PROXY} in front of heat-api (127.0.0.1:$HEAT_API_PORT)"

    OS_CLI=$ROOT/.oracles/clients-venv/bin/openstack
    [[ -x $OS_CLI ]] || scripts/oracles clients >/dev/null || die "scripts/oracles clients failed"
    [[ -x $OS_CLI ]] || die "no openstack CLI in .oracles/clients-venv"
    cat >"$P/template.yaml" <<'EOF'
heat_template_version: 2018-08-31
description: heatgate proxy in front of heat-api
resources:
  server:
    type: OS::Heat::None
    metadata:
      role: web
EOF
    log "openstack CLI through the proxy: stack create --wait, list, show, resource list, delete --wait"
    os_cli stack create --wait -t "$P/template.yaml" "$name" || PROXY_BAD=1
    os_cli stack list || PROXY_BAD=1
    grep -q "$name" "$P/cli.$CLI_N.out" || { log "stack list through the proxy does not list $name" && PROXY_BAD=1; }
    os_cli stack show "$name" || PROXY_BAD=1
    grep -q CREATE_COMPLETE "$P/cli.$CLI_N.out" || { log "stack show: not CREATE_COMPLETE" && PROXY_BAD=1; }
    os_cli stack resource list "$name" || PROXY_BAD=1
    grep -q OS::Heat::None "$P/cli.$CLI_N.out" || { log "resource list: no server" && PROXY_BAD=1; }

    # The redirects heat-api answers to requests by name, through each listener
    # and under another name of the same address.
    for p in "/v1/$DEMO_PROJECT/stacks/$name" "/v1/$DEMO_PROJECT/stacks/$name/resources"; do
        check_location "$PROXY" "$p"
        check_location "http://localhost:$PROXY_PORT" "$p"
        [[ -z $TLS_PROXY ]] || check_location "$TLS_PROXY" "$p" --cacert "$P/cert.pem"
    done
    # The links of the stack's representation point at the proxy too.
    [[ $(curl -s -L -o "$TMP/http.body" -w '%{http_code}' --max-time 60 -H "@$P/curl.headers" \
        -H 'Accept: application/json' "$PROXY/v1/$DEMO_PROJECT/stacks/$name") == 200 ]] ||
        { log "stack show through the proxy (redirect followed) failed" && PROXY_BAD=1; }
    "$PY" -c 'import json, sys
for link in json.load(open(sys.argv[1]))["stack"]["links"]:
    print("stack links: " + link["href"])' "$TMP/http.body" >>"$P/locations" || PROXY_BAD=1
    if grep '^stack links: ' "$P/locations" | grep -v "^stack links: $PROXY/" >&2; then
        log "a link of the stack does not point at the proxy"
        PROXY_BAD=1
    fi

    os_cli stack delete --yes --wait "$name" || PROXY_BAD=1
    os_cli stack list || PROXY_BAD=1
    ! grep -q "$name" "$P/cli.$CLI_N.out" || { log "$name is still listed after delete" && PROXY_BAD=1; }

    # Every Location the CLI followed points at the proxy; stack show by name
    # was redirected.
    if grep '^openstack ' "$P/locations" | grep -v ": [Ll]ocation: $PROXY/" >&2; then
        log "a Location the CLI followed does not point at the proxy"
        PROXY_BAD=1
    fi
    grep -q '^openstack stack show: [Ll]ocation: ' "$P/locations" ||
        { log "openstack stack show NAME saw no redirect (heat-api answers 302 by name)" && PROXY_BAD=1; }

    {
        echo "heatgate proxy in front of Heat 27.0.1's heat-api (uWSGI ${HEAT_API_PROCESSES}x$HEAT_API_THREADS);" \
            "heat.conf [oslo_middleware] enable_proxy_headers_parsing = $HEAT_PROXY_HEADERS"
        echo "proxy: $PROXY${TLS_PROXY:+ and $TLS_PROXY (TLS)}; heat-api: http://127.0.0.1:$HEAT_API_PORT;" \
            "orchestration endpoint in the catalog: $PROXY/v1/%(tenant_id)s"
        echo
        sed "s|$DEMO_PROJECT|{project}|g" "$P/cli.txt"
        echo
        echo "Location headers and links heat-api answered through the proxy:"
        sed "s|$DEMO_PROJECT|{project}|g; s|/stacks/\([^/ ]*\)/[0-9a-f-]\{36\}|/stacks/\1/{id}|g" "$P/locations"
        echo
        if ((PROXY_BAD)); then
            echo "FAILED: see the messages above."
        else
            echo "Every request went through the proxy; every Location and link points back at it."
        fi
    } >"$TMP/proxy-report.txt"
    mkdir -p "$ROOT/.bench"
    cp "$TMP/proxy-report.txt" "$ROOT/.bench/proxy-heat-api-last.txt"
    cat "$TMP/proxy-report.txt"
    return "$PROXY_BAD"
}
if ((PROXY_HEAT_API)); then
    rc=0
    proxy_heat_api || rc=$?
    exit "$rc"
fi

# ---------------------------------------------------------------- targets
# The measured token: a fresh demo token, warmed by the checks below.
BENCH_DEMO_TOKEN=$(ks_token "$DEMO_ID" "$DEMO_PASSWORD" "$DEMO_PROJECT")

# (f): the engine alone: enginebench serves serve's engine (same configuration,
# a snapshot of serve's database, same runtime and server loop) without the
# authentication layers, every request carrying the identity of
# BENCH_DEMO_TOKEN (validated once by Keystone at its start). A snapshot: a
# database is opened by one engine process at a time (serve holds its lock).
ENGINE_ALONE=""
if [[ " $TARGETS " == *" f "* ]]; then
    printf '%s' "$BENCH_DEMO_TOKEN" >"$TMP/serve/bench-token"
    log "starting enginebench on a snapshot of serve's engine database"
    python3 -c 'import sqlite3, sys
src = sqlite3.connect(sys.argv[1]); dst = sqlite3.connect(sys.argv[2])
src.backup(dst); dst.close(); src.close()' "$TMP/serve/data/engine.db" "$TMP/serve/engine-alone.db" ||
        die "cannot snapshot serve's engine database"
    for ((attempt = 1; attempt <= 3; attempt++)); do
        : >"$TMP/serve/engine-alone.out"
        RUST_LOG=warn HEATGATE_ENGINE__DATABASE="$TMP/serve/engine-alone.db" "$BIN/enginebench" --config "$TMP/serve/heatgate.toml" --token-file "$TMP/serve/bench-token" \
            --listen 127.0.0.1:0 >"$TMP/serve/engine-alone.out" 2>"$TMP/serve/engine-alone.err" &
        PIDS+=($!)
        for ((i = 0; i < 300; i++)); do
            ENGINE_ALONE=$(sed -n 's|^listening on http://||p' "$TMP/serve/engine-alone.out" | head -n 1)
            [[ -n $ENGINE_ALONE ]] && break 2
            kill -0 "${PIDS[-1]}" 2>/dev/null || break
            sleep 0.1
        done
        if ! grep -q 'database is locked' "$TMP/serve/engine-alone.err" || ((attempt == 3)); then
            die "enginebench exited: $(tail -n 5 "$TMP/serve/engine-alone.err")"
        fi
        log "enginebench exited at start ($(tail -n 1 "$TMP/serve/engine-alone.err")): starting it again"
    done
fi
SIG_BODY_REST='{"status": "SUCCESS", "reason": "bench", "data": "ok", "id": "bench"}'
SIG_BODY_CFN='{"Status": "SUCCESS", "Reason": "bench", "UniqueId": "bench", "Data": "ok"}'
declare -A NAME HOSTPORT METHOD TPATH TOKEN BODY CTYPE EXPECT
set_target() { # T NAME HOST:PORT METHOD PATH TOKEN BODY CONTENT_TYPE EXPECTED_SUBSTRING
    NAME[$1]=$2 HOSTPORT[$1]=$3 METHOD[$1]=$4 TPATH[$1]=$5 TOKEN[$1]=$6 BODY[$1]=$7 CTYPE[$1]=$8 EXPECT[$1]=$9
}
set_target a "serve GET /stacks" "$SERVE" GET "/v1/$DEMO_PROJECT/stacks" "$BENCH_DEMO_TOKEN" "" "" "$SERVE_STACK_ID"
set_target f "engine alone GET /stacks (no auth layers)" "$ENGINE_ALONE" GET "/v1/$DEMO_PROJECT/stacks" \
    "$BENCH_DEMO_TOKEN" "" "" "$SERVE_STACK_ID"
set_target b "serve GET .../server/metadata" "$SERVE" GET \
    "/v1/$DEMO_PROJECT/stacks/$STACK/$SERVE_STACK_ID/resources/server/metadata" "$BENCH_DEMO_TOKEN" "" "" '"role":"web"'
set_target c "serve CFN DescribeStackResource" "$SERVE_CFN" GET "" "" "" "" \
    '<LogicalResourceId>server</LogicalResourceId>'
set_target d "serve POST .../handle/signal" "$SERVE" POST "/${HANDLE_ENDPOINT#http://*/}" "$HANDLE_TOKEN" \
    "$SIG_BODY_REST" application/json ""
# cfn-signal sends no Content-Type (curl -H 'Content-Type:').
set_target e "serve CFN PUT waitcondition URL" "$SERVE_CFN" PUT "/${SIGNAL_URL#http://*/}" "" "$SIG_BODY_CFN" "" ""
if ((WITH_HEAT)); then
    set_target ha "Heat 27.0.1 GET /stacks" "127.0.0.1:$HEAT_API_PORT" GET "/v1/$DEMO_PROJECT/stacks" \
        "$BENCH_DEMO_TOKEN" "" "" "$HEAT_STACK_ID"
    set_target hb "Heat 27.0.1 GET .../server/metadata" "127.0.0.1:$HEAT_API_PORT" GET \
        "/v1/$DEMO_PROJECT/stacks/$STACK/$HEAT_STACK_ID/resources/server/metadata" "$BENCH_DEMO_TOKEN" "" "" \
        '"role":'
fi

# (c): the signed GET, Timestamp = now (signed again before every load).
sign_c() {
    TPATH[c]=$(helper sign-get "$SERVE_CFN" /v1/ "$TMP/serve/access-secret" "$ACCESS_KEY" \
        Action=DescribeStackResource StackName="$STACK" LogicalResourceId=server Version=2010-05-15)
}

# The request of target T, made once with curl: it must answer 200 (and
# contain the expected text) before it is loaded.
check() {
    local t=$1 args=() code
    [[ -n ${TOKEN[$t]} ]] && printf 'X-Auth-Token: %s\n' "${TOKEN[$t]}" >"$TMP/check.headers" &&
        args+=(-H "@$TMP/check.headers")
    [[ -n ${BODY[$t]} ]] && args+=(--data-binary "${BODY[$t]}" -H "Content-Type: ${CTYPE[$t]}")
    code=$(curl -s -o "$TMP/check.body" -w '%{http_code}' --max-time 60 -X "${METHOD[$t]}" "${args[@]}" \
        "http://${HOSTPORT[$t]}${TPATH[$t]}")
    [[ $code == 200 ]] || die "($t) ${NAME[$t]} answered $code: $(head -c 2000 "$TMP/check.body")"
    [[ -z ${EXPECT[$t]} ]] || tr -d ' \n' <"$TMP/check.body" | grep -qF -- "${EXPECT[$t]}" ||
        die "($t) ${NAME[$t]}: '${EXPECT[$t]}' not in the answer: $(head -c 2000 "$TMP/check.body")"
}
sign_c
for t in $TARGETS; do check "$t"; done
# The signals landed in the handles' metadata.
if [[ " $TARGETS " == *" d "* ]]; then
    code=$(http GET "$SERVE_API/stacks/$STACK/$SERVE_STACK_ID/resources/handle/metadata" "$DEMO_TOKEN")
    if [[ $code != 200 ]] || ! grep -q '"bench"' "$TMP/http.body"; then
        die "the REST signal is not in the handle's metadata ($code)"
    fi
fi
if [[ " $TARGETS " == *" e "* ]]; then
    code=$(http GET "$SERVE_API/stacks/$STACK/$SERVE_STACK_ID/resources/cfn_handle/metadata" "$DEMO_TOKEN")
    if [[ $code != 200 ]] || ! grep -q '"bench"' "$TMP/http.body"; then
        die "the CFN signal is not in the handle's metadata ($code)"
    fi
fi

# ---------------------------------------------------------------- load
cat >"$TMP/bench.lua" <<'EOF'
-- The request comes from the environment: tokens and signatures are on no command line.
local function env(name)
  local v = os.getenv(name)
  if v ~= nil and v ~= "" then return v end
end
wrk.method = env("BENCH_METHOD") or "GET"
wrk.path = env("BENCH_PATH") or "/"
wrk.headers["X-Auth-Token"] = env("BENCH_TOKEN")
wrk.headers["Content-Type"] = env("BENCH_CONTENT_TYPE")
wrk.body = env("BENCH_BODY")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
EOF
WRK=(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" --latency -s "$TMP/bench.lua")
run_wrk() { # T DURATION OUT
    BENCH_METHOD=${METHOD[$1]} BENCH_PATH=${TPATH[$1]} BENCH_TOKEN=${TOKEN[$1]} BENCH_BODY=${BODY[$1]} \
        BENCH_CONTENT_TYPE=${CTYPE[$1]} "${WRK[@]}" -d"$2" "http://${HOSTPORT[$1]}/" >"$3" 2>&1
}
log "load: ${WRK[*]} -d$DURATION (after -d$WARMUP), $ROUNDS round(s), targets: $TARGETS"
mkdir -p "$TMP/results"
for ((round = 1; round <= ROUNDS; round++)); do
    for t in $TARGETS; do
        [[ $t == c ]] && sign_c
        run_wrk "$t" "$WARMUP" "$TMP/results/$t.warmup.$round"
        run_wrk "$t" "$DURATION" "$TMP/results/$t.$round"
        read -r _ reqs us p50 p99 non2xx sockerr < <(grep '^RESULT ' "$TMP/results/$t.$round") ||
            die "wrk failed on ($t): $(tail -n 3 "$TMP/results/$t.$round")"
        # The warm-up's errors count too.
        read -r _ _ _ _ _ wnon2xx wsockerr < <(grep '^RESULT ' "$TMP/results/$t.warmup.$round") ||
            die "wrk failed on ($t): $(tail -n 3 "$TMP/results/$t.warmup.$round")"
        rps=$(awk -v r="$reqs" -v us="$us" 'BEGIN { printf "%.0f", r * 1e6 / us }')
        echo "$rps $p50 $p99 $((non2xx + wnon2xx)) $((sockerr + wsockerr)) $reqs" >>"$TMP/results/$t.rows"
        log "round $round ($t) ${NAME[$t]}: $rps req/s, p50 ${p50}us, p99 ${p99}us," \
            "non-2xx $((non2xx + wnon2xx)), socket errors $((sockerr + wsockerr))"
    done
done
# Every target still answers as it should after the load.
sign_c
for t in $TARGETS; do check "$t"; done

# ---------------------------------------------------------------- report
declare -A RPS
bad=0
fmt_us() { awk -v us="$1" 'BEGIN { if (us >= 1000) printf "%.2f ms", us / 1000; else printf "%d us", us }'; }
report() {
    echo
    echo "heatgate serve side by side: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION (after -d$WARMUP)," \
        "median of $ROUNDS round(s); serve worker_threads $WORKER_THREADS"
    ((WITH_HEAT)) && echo "Heat 27.0.1: heat-api under uWSGI ${HEAT_API_PROCESSES} process(es) x $HEAT_API_THREADS" \
        "thread(s), heat-engine 1 worker, RabbitMQ $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null)," \
        "MariaDB $(dpkg-query -W -f '${Version}' mariadb-server 2>/dev/null)"
    echo "machine: $(nproc) cores, $(uname -m), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%-44s %10s %10s %10s %8s %8s\n' "target" "req/s" "p50" "p99" "non-2xx" "sock.err"
    for t in $TARGETS; do
        read -r rps p50 p99 _ _ _ < <(sort -n "$TMP/results/$t.rows" | sed -n "$(((ROUNDS + 1) / 2))p")
        read -r non2xx sockerr < <(awk '{ n += $4; s += $5 } END { print n, s }' "$TMP/results/$t.rows")
        RPS[$t]=$rps
        ((non2xx == 0 && sockerr == 0)) || bad=1
        printf '%-44s %10s %10s %10s %8s %8s\n' "($t) ${NAME[$t]}" "$rps" "$(fmt_us "$p50")" \
            "$(fmt_us "$p99")" "$non2xx" "$sockerr"
    done
    echo
    echo "(c) replays one signed GET (SigV2, Timestamp = the load's start); (d) and (e) are signals per second."
    local pair num den target rounds ratio verdict
    for pair in "a ha 100" "b hb 100" "a f -"; do
        read -r num den target <<<"$pair"
        [[ -n ${RPS[$num]:-} && -n ${RPS[$den]:-} ]] || continue
        rounds=$(paste -d' ' <(cut -d' ' -f1 "$TMP/results/$num.rows") <(cut -d' ' -f1 "$TMP/results/$den.rows") |
            awk -v p="$([[ $target == - ]] && echo 2 || echo 1)" '{ printf "%.*f\n", p, $1 / $2 }')
        ratio=$(sort -g <<<"$rounds" | sed -n "$(((ROUNDS + 1) / 2))p")
        if [[ $target == - ]]; then
            # What the layers cost: serve's req/s as a share of the engine's alone.
            printf '%s/%s = %7s  [%s]  (serve vs the engine without the layers)\n' "$num" "$den" "$ratio" \
                "$(paste -sd' ' <<<"$rounds")"
            continue
        fi
        verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r >= t) ? "ok" : "MISSED" }')
        printf '%s/%s = %7s  [%s]  target >= %-4s %s\n' "$num" "$den" "$ratio" "$(paste -sd' ' <<<"$rounds")" \
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
mkdir -p "$ROOT/.bench"
cp "$TMP/report.txt" "$ROOT/.bench/serve-side-by-side-last.txt"
cat "$TMP/report.txt"
exit "$bad"
