"""Target (a) of auth_token_side_by_side.sh: keystonemiddleware's auth_token
around a trivial WSGI application answering 200 "ok", configured as Heat's
[keystone_authtoken] section is (password plugin with the heat service user,
www_authenticate_uri, no memcached_servers: the in-process token cache).

Served by uWSGI with one process and one thread, e.g.

    KS_AUTH_URL=http://127.0.0.1:5000/v3 KS_PASSWORD=... \
        uwsgi --http11-socket 127.0.0.1:8080 --wsgi-file keystonemiddleware_app.py \
              --processes 1 --threads 1

The settings come from the environment (KS_*), so no password is on a command line.
"""

import logging
import os

from keystonemiddleware import auth_token

logging.basicConfig(level=os.environ.get("KS_LOG_LEVEL", "WARNING"))


def ok(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


_auth_url = os.environ["KS_AUTH_URL"]

# What Heat's paste pipeline passes (filter:authtoken) plus heat.conf's
# [keystone_authtoken] options, as paste overrides.
CONF = {
    "auth_type": "password",
    "auth_url": _auth_url,
    "www_authenticate_uri": os.environ.get("KS_WWW_AUTHENTICATE_URI", _auth_url),
    "username": os.environ.get("KS_USERNAME", "heat"),
    "password": os.environ["KS_PASSWORD"],
    "project_name": os.environ.get("KS_PROJECT_NAME", "service"),
    "user_domain_id": os.environ.get("KS_USER_DOMAIN_ID", "default"),
    "project_domain_id": os.environ.get("KS_PROJECT_DOMAIN_ID", "default"),
    "delay_auth_decision": "false",
    "include_service_catalog": "true",
    "token_cache_time": "300",
}

application = auth_token.AuthProtocol(ok, CONF)
