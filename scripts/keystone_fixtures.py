#!/usr/bin/env python3
"""Helper for scripts/keystone: the parts that are easier in Python than in bash.

Standard library only (runs with the Keystone venv's python or any python3);
the single exception is `new-keys` for a jws instance, which needs the
`cryptography` package that the Keystone venv provides.

Subcommands (all called by scripts/keystone, not meant to be used directly):

  configure DIR [SECTION.KEY=VALUE ...]
      Point DIR/keystone.conf at DIR (database, key repositories) and apply
      the given options. Prints "changed" or "unchanged".
  new-keys DIR
      Give an instance its own fernet, credential (and jws) keys, so that
      instances copied from one template do not accept each other's tokens.
  set-endpoints DIR URL
      Point every identity endpoint of the (stopped) instance's catalog at URL,
      directly in its SQLite database (much faster than a second bootstrap).
  pick-port KS_HOME DIR [PORT]
      Reserve PORT, or a free loopback port, for DIR; prints the port.
  wait-ready DIR PORT PID TIMEOUT LOG_OFFSET
      Wait until uwsgi (PID) is bound to PORT and GET /v3 answers 200,
      judging uwsgi.log from LOG_OFFSET on (or after its last banner when
      LOG_OFFSET is "last-run"). Exit 0 when ready, 2 when the port was
      already in use, 1 otherwise.
  create-fixtures AUTH_URL OUT_JSON
      Create the Heat fixtures through the Identity v3 REST API and write
      the fixtures file (its schema is described in `scripts/keystone --help`).
  update-fixtures DIR PORT PROVIDER
      Rewrite DIR/fixtures.json for the instance's real port.
  env DIR
      Print shell export lines for the admin user of the instance.
  template-hash
      Print a hash of the parts of this file that shape a template.
"""

import base64
import fcntl
import json
import os
import re
import shlex
import socket
import sqlite3
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# --------------------------------------------------------------------------
# Fixed credentials of the fixture users. Documented in `scripts/keystone
# --help` and repeated in every fixtures.json, so tests never hard-code them.
# The admin password is the one given to `keystone-manage bootstrap`.
# --------------------------------------------------------------------------
ADMIN_PASSWORD = "secret"
PASSWORDS = {
    "admin": ADMIN_PASSWORD,
    "heat_domain_admin": "secret-heat_domain_admin",
    "heat": "secret-heat",
    "demo": "secret-demo",
    "alt_demo": "secret-alt_demo",
    "demo_noroles": "secret-demo_noroles",
    "sysreader": "secret-sysreader",
    "domainadmin": "secret-domainadmin",
}
REGION = "RegionOne"
DEFAULT_DOMAIN = "default"


def die(msg):
    print(f"keystone_fixtures: {msg}", file=sys.stderr)
    sys.exit(1)


def atomic_write(path, data, mode=0o644):
    """Write a file so that concurrent readers never see a partial one."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# keystone.conf editing (line based, so comments and order are preserved)
# --------------------------------------------------------------------------
class Ini:
    def __init__(self, text):
        self.lines = text.splitlines()

    def text(self):
        return "\n".join(self.lines) + "\n"

    def _section_bounds(self, section):
        start = None
        for i, line in enumerate(self.lines):
            if line.strip() == f"[{section}]":
                start = i
                break
        if start is None:
            return None, None
        end = len(self.lines)
        for i in range(start + 1, len(self.lines)):
            if self.lines[i].lstrip().startswith("["):
                end = i
                break
        return start, end

    def get(self, section, key):
        start, end = self._section_bounds(section)
        if start is None:
            return None
        for i in range(start + 1, end):
            m = re.match(r"\s*([^#;=\s][^=]*?)\s*=\s?(.*)$", self.lines[i])
            if m and norm(m.group(1)) == norm(key):
                return m.group(2).strip()
        return None

    def set(self, section, key, value):
        start, end = self._section_bounds(section)
        new = f"{key} = {value}"
        if start is None:
            if self.lines and self.lines[-1].strip():
                self.lines.append("")
            self.lines += [f"[{section}]", new]
            return
        for i in range(start + 1, end):
            m = re.match(r"\s*([^#;=\s][^=]*?)\s*=", self.lines[i])
            if m and norm(m.group(1)) == norm(key):
                self.lines[i] = new
                return
        # Append after the section's last non-blank line.
        j = end
        while j - 1 > start and not self.lines[j - 1].strip():
            j -= 1
        self.lines.insert(j, new)


def norm(key):
    # oslo.config treats "-" and "_" in option names alike.
    return key.strip().replace("-", "_")


def parse_set(arg):
    m = re.match(r"^([A-Za-z0-9_-]+)\.([A-Za-z0-9_.-]+)=(.*)$", arg, re.S)
    if not m:
        die(f"bad --set {arg!r}: expected SECTION.KEY=VALUE (e.g. token.expiration=5)")
    return m.group(1), m.group(2), m.group(3)


def cmd_configure(d, *sets):
    d = os.path.abspath(d)
    conf = os.path.join(d, "keystone.conf")
    with open(conf) as f:
        before = f.read()
    ini = Ini(before)
    ini.set("database", "connection", f"sqlite:///{d}/keystone.db")
    ini.set("fernet_tokens", "key_repository", f"{d}/fernet-keys")
    ini.set("fernet_receipts", "key_repository", f"{d}/fernet-keys")
    ini.set("credential", "key_repository", f"{d}/credential-keys")
    if ini.get("token", "provider") == "jws":
        ini.set("jwt_tokens", "jws_private_key_repository", f"{d}/jws/private")
        ini.set("jwt_tokens", "jws_public_key_repository", f"{d}/jws/public")
    for s in sets:
        ini.set(*parse_set(s))
    after = ini.text()
    if after != before:
        atomic_write(conf, after)
        print("changed")
    else:
        print("unchanged")


# --------------------------------------------------------------------------
# Per-instance keys
# --------------------------------------------------------------------------
def fresh_fernet_repo(path):
    """Same layout as `keystone-manage fernet_setup`: 0 = staged, 1 = primary."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    for name in ("0", "1"):
        key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        atomic_write(os.path.join(path, name), key, 0o600)


def cmd_new_keys(d):
    d = os.path.abspath(d)
    fresh_fernet_repo(os.path.join(d, "fernet-keys"))
    # Credential keys encrypt rows of the credential table: only replace them
    # while that table is empty (it is in a fresh copy of a template).
    db = sqlite3.connect(os.path.join(d, "keystone.db"))
    try:
        (n,) = db.execute("SELECT count(*) FROM credential").fetchone()
    finally:
        db.close()
    if n == 0:
        fresh_fernet_repo(os.path.join(d, "credential-keys"))
    ini = Ini(open(os.path.join(d, "keystone.conf")).read())
    if ini.get("token", "provider") == "jws":
        # Same format as keystone.common.jwt_utils.create_jws_keypair (ES256).
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        for sub in ("private", "public"):
            p = os.path.join(d, "jws", sub)
            os.makedirs(p, exist_ok=True)
            for name in os.listdir(p):
                os.unlink(os.path.join(p, name))
        priv = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        pub = key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        ).decode()
        atomic_write(os.path.join(d, "jws", "private", "private.pem"), priv, 0o600)
        atomic_write(os.path.join(d, "jws", "public", "public.pem"), pub, 0o644)


def cmd_set_endpoints(d, url):
    db = sqlite3.connect(os.path.join(os.path.abspath(d), "keystone.db"), timeout=30)
    try:
        with db:
            db.execute(
                "UPDATE endpoint SET url = ? WHERE url != ? AND service_id IN "
                "(SELECT id FROM service WHERE type = 'identity')",
                (url, url),
            )
    finally:
        db.close()


# --------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------
def port_taken_by_other(ks_home, port, d):
    """True if PORT is reserved by another instance directory that still uses it."""
    reg = os.path.join(ks_home, "ports", str(port))
    try:
        owner = open(reg).read().strip()
    except FileNotFoundError:
        return False
    if owner == d:
        return False
    try:
        return open(os.path.join(owner, "port")).read().strip() == str(port)
    except OSError:
        return False  # owner destroyed: reservation is stale


def port_bindable(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def cmd_pick_port(ks_home, d, port=None):
    """Reserve a port for DIR (registry under KS_HOME/ports, guarded by a lock)
    so that parallel starts, and stopped instances that will restart on their
    port, never get the same one."""
    d = os.path.abspath(d)
    os.makedirs(os.path.join(ks_home, "ports"), exist_ok=True)
    with open(os.path.join(ks_home, "ports.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if port is not None:
            port = int(port)
            if port_taken_by_other(ks_home, port, d):
                die(f"port {port} is reserved by another Keystone instance")
        else:
            for _ in range(100):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind(("127.0.0.1", 0))
                candidate = s.getsockname()[1]
                s.close()
                if not port_taken_by_other(ks_home, candidate, d):
                    port = candidate
                    break
            else:
                die("no free port found")
        atomic_write(os.path.join(ks_home, "ports", str(port)), d + "\n")
        atomic_write(os.path.join(d, "port"), f"{port}\n")
    print(port)


# --------------------------------------------------------------------------
# Readiness
# --------------------------------------------------------------------------
def pid_alive(pid):
    """Alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


UWSGI_BANNER = "*** Starting uWSGI "


def cmd_wait_ready(d, port, pid, timeout, offset):
    """OFFSET: where this run's output starts in uwsgi.log (the log is kept
    across restarts), or "last-run" for the output after the last banner."""
    log = os.path.join(d, "uwsgi.log")
    bound = f"bound to TCP address 127.0.0.1:{port} "
    url = f"http://127.0.0.1:{port}/v3"
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        try:
            with open(log, "rb") as f:
                if offset != "last-run":
                    f.seek(int(offset))
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            text = ""
        if offset == "last-run":
            text = text[text.rfind(UWSGI_BANNER):] if UWSGI_BANNER in text else ""
        if "Address already in use" in text:
            return 2
        if not pid_alive(int(pid)):
            print(f"keystone_fixtures: uwsgi (pid {pid}) exited", file=sys.stderr)
            return 1
        # Only trust the HTTP answer once *our* uwsgi has bound the port:
        # another process could be listening there otherwise.
        if bound in text:
            try:
                left = max(0.5, deadline - time.monotonic())
                with urllib.request.urlopen(url, timeout=min(10, left)) as r:
                    if r.status == 200:
                        return 0
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.1)
    print(f"keystone_fixtures: timeout after {timeout}s waiting for {url}", file=sys.stderr)
    return 1


# --------------------------------------------------------------------------
# REST fixtures
# --------------------------------------------------------------------------
class Keystone:
    def __init__(self, auth_url):
        self.base = auth_url.rstrip("/")  # ends with /v3
        self.token = None

    def call(self, method, path, body=None, expect=(200, 201, 204)):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("X-Auth-Token", self.token)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                raw = r.read()
                status, headers = r.status, r.headers
        except urllib.error.HTTPError as e:
            raw, status, headers = e.read(), e.code, e.headers
        if status not in expect:
            die(f"{method} {path} -> {status}: {raw[:500]!r}")
        return status, headers, (json.loads(raw) if raw else None)

    def login_system_admin(self):
        # System scope: with the enforced scope/new defaults, creating domains
        # and system role assignments needs a system-scoped admin token.
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": DEFAULT_DOMAIN},
                "password": ADMIN_PASSWORD}}},
            "scope": {"system": {"all": True}}}}
        _, headers, _ = self.call("POST", "/auth/tokens", body, expect=(201,))
        self.token = headers["X-Subject-Token"]

    def find(self, collection, key, **query):
        qs = "&".join(f"{k}={urllib.parse.quote(v)}" for k, v in query.items())
        _, _, body = self.call("GET", f"/{collection}?{qs}")
        items = body[collection]
        return items[0] if items else None

    def ensure(self, collection, key, ref, **query):
        """Get-or-create, so fixture creation is safe to re-run."""
        found = self.find(collection, key, **query)
        if found:
            return found
        _, _, body = self.call("POST", f"/{collection}", {key: ref}, expect=(201,))
        return body[key]

    def role(self, name):
        return self.ensure("roles", "role", {"name": name}, name=name)["id"]

    def domain(self, name, description):
        return self.ensure("domains", "domain", {"name": name, "description": description},
                           name=name)["id"]

    def project(self, name, domain_id, description):
        return self.ensure("projects", "project",
                           {"name": name, "domain_id": domain_id, "description": description},
                           name=name, domain_id=domain_id)["id"]

    def user(self, name, domain_id, default_project_id=None):
        ref = {"name": name, "domain_id": domain_id, "password": PASSWORDS[name]}
        if default_project_id:
            ref["default_project_id"] = default_project_id
        return self.ensure("users", "user", ref, name=name, domain_id=domain_id)["id"]

    def grant(self, target, target_id, user_id, role_id):
        if target == "system":
            path = f"/system/users/{user_id}/roles/{role_id}"
        else:
            path = f"/{target}/{target_id}/users/{user_id}/roles/{role_id}"
        self.call("PUT", path, expect=(200, 201, 204))


def cmd_create_fixtures(auth_url, out):
    ks = Keystone(auth_url)
    ks.login_system_admin()

    roles = {name: ks.role(name) for name in
             ("admin", "manager", "member", "reader", "service", "heat_stack_user")}

    def user_obj(name, user_id, domain_id, project_id=None, project_name=None, **extra):
        obj = {"user_id": user_id, "username": name, "password": PASSWORDS[name],
               "domain_id": domain_id}
        if project_id:
            obj["project_id"] = project_id
            obj["project_name"] = project_name
        obj.update(extra)
        return obj

    fx = {"auth_url": auth_url, "region": REGION, "default_domain_id": DEFAULT_DOMAIN}

    # admin (made by bootstrap): admin on project "admin" and on the system.
    admin_id = ks.find("users", "user", name="admin", domain_id=DEFAULT_DOMAIN)["id"]
    admin_project = ks.find("projects", "project", name="admin", domain_id=DEFAULT_DOMAIN)["id"]
    fx["admin"] = user_obj("admin", admin_id, DEFAULT_DOMAIN, admin_project, "admin")

    # Heat's stack user domain and its admin (what devstack creates).
    heat_domain = ks.domain("heat", "Owns users and projects created by heat")
    hda = ks.user("heat_domain_admin", heat_domain)
    ks.grant("domains", heat_domain, hda, roles["admin"])
    fx["heat_domain_id"] = heat_domain
    fx["heat_domain_admin"] = user_obj("heat_domain_admin", hda, heat_domain)

    # The service project and the heat service user (admin + service there).
    service = ks.project("service", DEFAULT_DOMAIN, "Service project")
    heat = ks.user("heat", DEFAULT_DOMAIN, service)
    for r in ("admin", "service"):
        ks.grant("projects", service, heat, roles[r])
    fx["service_project_id"] = service
    fx["heat"] = user_obj("heat", heat, DEFAULT_DOMAIN, service, "service")

    # Ordinary users: member and reader (heat's reads need reader) on their own project.
    for name in ("demo", "alt_demo"):
        project = ks.project(name, DEFAULT_DOMAIN, f"Project of user {name}")
        uid = ks.user(name, DEFAULT_DOMAIN, project)
        for r in ("member", "reader"):
            ks.grant("projects", project, uid, roles[r])
        fx[name] = user_obj(name, uid, DEFAULT_DOMAIN, project, name)

    # A user with no role assignment at all.
    uid = ks.user("demo_noroles", DEFAULT_DOMAIN)
    fx["demo_noroles"] = user_obj("demo_noroles", uid, DEFAULT_DOMAIN)

    # System-scope reader.
    uid = ks.user("sysreader", DEFAULT_DOMAIN)
    ks.grant("system", None, uid, roles["reader"])
    fx["sysreader"] = user_obj("sysreader", uid, DEFAULT_DOMAIN, system="all")

    # Domain-scope admin of the default domain.
    uid = ks.user("domainadmin", DEFAULT_DOMAIN)
    ks.grant("domains", DEFAULT_DOMAIN, uid, roles["admin"])
    fx["domainadmin"] = user_obj("domainadmin", uid, DEFAULT_DOMAIN)

    fx["roles"] = roles
    atomic_write(out, json.dumps(fx, indent=2, sort_keys=True) + "\n")


def cmd_update_fixtures(d, port, provider):
    path = os.path.join(d, "fixtures.json")
    fx = json.load(open(path))
    fx["auth_url"] = f"http://127.0.0.1:{port}/v3"
    fx["port"] = int(port)
    fx["provider"] = provider
    fx["instance_dir"] = os.path.abspath(d)
    atomic_write(path, json.dumps(fx, indent=2, sort_keys=True) + "\n")


def cmd_template_hash():
    """Hash of what, in this file, determines a template's content (fixture
    creation and keystone.conf editing), so that other edits of this helper
    do not force every template to be rebuilt."""
    import hashlib
    import inspect

    parts = [json.dumps([ADMIN_PASSWORD, PASSWORDS, REGION, DEFAULT_DOMAIN])]
    parts += [inspect.getsource(obj) for obj in
              (Keystone, cmd_create_fixtures, Ini, norm, parse_set, cmd_configure)]
    print(hashlib.sha256("\n".join(parts).encode()).hexdigest())


def cmd_env(d):
    fx = json.load(open(os.path.join(d, "fixtures.json")))
    a = fx["admin"]
    for k, v in (("OS_AUTH_URL", fx["auth_url"]),
                 ("OS_USERNAME", a["username"]),
                 ("OS_PASSWORD", a["password"]),
                 ("OS_PROJECT_NAME", a["project_name"]),
                 ("OS_USER_DOMAIN_ID", a["domain_id"]),
                 ("OS_PROJECT_DOMAIN_ID", a["domain_id"]),
                 ("OS_REGION_NAME", fx.get("region", REGION)),
                 ("OS_IDENTITY_API_VERSION", "3")):
        print(f"export {k}={shlex.quote(str(v))}")


COMMANDS = {
    "configure": (cmd_configure, 1, None),
    "new-keys": (cmd_new_keys, 1, 1),
    "set-endpoints": (cmd_set_endpoints, 2, 2),
    "pick-port": (cmd_pick_port, 2, 3),
    "wait-ready": (cmd_wait_ready, 5, 5),
    "create-fixtures": (cmd_create_fixtures, 2, 2),
    "update-fixtures": (cmd_update_fixtures, 3, 3),
    "env": (cmd_env, 1, 1),
    "template-hash": (cmd_template_hash, 0, 0),
}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 64
    fn, lo, hi = COMMANDS[argv[1]]
    args = argv[2:]
    if len(args) < lo or (hi is not None and len(args) > hi):
        die(f"{argv[1]}: wrong number of arguments")
    rc = fn(*args)
    return rc or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
