#!/usr/bin/env python3
"""Helpers of benches/gateway_memory.sh (stdlib only).

  gateway_memory.py tokens FIXTURES N CONCURRENCY METHOD OUT
      N distinct tokens of the demo user (POST /v3/auth/tokens, scoped to the
      demo project; METHOD "password" or "token": re-issued from one password
      token, which spares Keystone a password hash per token), one a line in OUT.
  gateway_memory.py send URL TOKENS CONCURRENCY
      One GET of URL per token (X-Auth-Token), CONCURRENCY keep-alive
      connections; prints "STATUS COUNT" lines. A 503 (Keystone too slow for
      the proxy) is retried up to 4 times and counted as retried-after-503.
      Exit 1 unless all were 200 in the end.
  gateway_memory.py metric URL NAME
      The value of one Prometheus sample (no labels) at URL.

Tokens and passwords are read from files and sent in headers/bodies only:
they appear on no command line and in no output.
"""
import collections
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def post_token(conn, path, body):
    """POST /v3/auth/tokens on conn; the new token (retries 5 times on errors)."""
    for attempt in range(5):
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            token = response.getheader("X-Subject-Token")
            if response.status == 201 and token:
                return token
            error = "status %d" % response.status
        except (OSError, http.client.HTTPException) as e:
            error = type(e).__name__
            conn.close()
        time.sleep(0.2 * (attempt + 1))
    raise SystemExit("Keystone refused a token 5 times in a row (%s)" % error)


def tokens(fixtures_path, n, concurrency, method, out_path):
    fixtures = json.load(open(fixtures_path))
    demo = fixtures["demo"]
    auth_url = urllib.parse.urlsplit(fixtures["auth_url"])
    path = auth_url.path.rstrip("/") + "/auth/tokens"
    scope = {"project": {"id": demo["project_id"]}}
    password_body = json.dumps({"auth": {
        "identity": {"methods": ["password"],
                     "password": {"user": {"id": demo["user_id"], "password": demo["password"]}}},
        "scope": scope}})
    body = password_body
    if method == "token":
        conn = http.client.HTTPConnection(auth_url.hostname, auth_url.port, timeout=60)
        first = post_token(conn, path, password_body)
        conn.close()
        body = json.dumps({"auth": {"identity": {"methods": ["token"], "token": {"id": first}},
                                    "scope": scope}})
    elif method != "password":
        raise SystemExit("METHOD must be password or token")

    lock = threading.Lock()
    made = []
    started = time.monotonic()

    def worker(count):
        conn = http.client.HTTPConnection(auth_url.hostname, auth_url.port, timeout=60)
        mine = [post_token(conn, path, body) for _ in range(count)]
        conn.close()
        with lock:
            made.extend(mine)
            print("tokens: %d/%d (%.0f/s)" % (len(made), n, len(made) / (time.monotonic() - started)),
                  file=sys.stderr, flush=True)

    # Small batches, so progress shows and a slow connection does not hold the end.
    batches = [50] * (n // 50) + ([n % 50] if n % 50 else [])
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, batches))
    if len(set(made)) != n:
        raise SystemExit("Keystone gave %d distinct tokens, not %d" % (len(set(made)), n))
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(made) + "\n")
    print("tokens: %d in %.0f s" % (n, time.monotonic() - started), file=sys.stderr)


def send(url, tokens_path, concurrency):
    target = urllib.parse.urlsplit(url)
    all_tokens = open(tokens_path).read().split()
    statuses = collections.Counter()
    lock = threading.Lock()
    local = threading.local()

    def one(token):
        for attempt in range(5):
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                conn.request("GET", target.path or "/", headers={"X-Auth-Token": token})
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                local.conn = None
                status = type(e).__name__
            if status != 503:
                break
            # 503: Keystone could not answer the proxy in time (a busy machine);
            # not a verdict on the token, so it is asked again.
            with lock:
                statuses["retried-after-503"] += 1
            time.sleep(0.5 * (attempt + 1))
        with lock:
            statuses[status] += 1

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, all_tokens))
    for status, count in sorted(statuses.items(), key=str):
        print(status, count)
    sys.exit(0 if set(statuses) - {"retried-after-503"} == {200} else 1)


def metric(url, name):
    with urllib.request.urlopen(url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.split(" ")[0] == name:
                print(line.split(" ")[1])
                return
    raise SystemExit("no sample %s at %s" % (name, url))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "tokens":
        tokens(args[0], int(args[1]), int(args[2]), args[3], args[4])
    elif command == "send":
        send(args[0], args[1], int(args[2]))
    elif command == "metric":
        metric(args[0], args[1])
    else:
        raise SystemExit(__doc__)
