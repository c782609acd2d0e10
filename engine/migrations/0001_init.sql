-- heatgate engine schema. Portable SQL: TEXT ids, ISO-8601 UTC timestamps as
-- TEXT, JSON as TEXT; secrets only as ciphertext ("*_enc" columns, written by
-- the keyring: "<key id>:<base64 nonce+ciphertext>").

CREATE TABLE stacks (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    tenant                TEXT NOT NULL,
    owner_user_id         TEXT NOT NULL,
    owner_user_name       TEXT,
    stack_user_project_id TEXT,
    action                TEXT NOT NULL,
    status                TEXT NOT NULL,
    status_reason         TEXT NOT NULL DEFAULT '',
    template              TEXT NOT NULL,
    parameters            TEXT NOT NULL,
    timeout_mins          INTEGER,
    deferred_auth_method  TEXT NOT NULL,
    trust_id_enc          TEXT,
    password_enc          TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT,
    deleted_at            TEXT
);
CREATE INDEX stacks_tenant ON stacks (tenant, deleted_at);
CREATE INDEX stacks_sup ON stacks (stack_user_project_id);
CREATE INDEX stacks_name ON stacks (name);

CREATE TABLE resources (
    stack_id      TEXT NOT NULL REFERENCES stacks (id),
    name          TEXT NOT NULL,
    type_name     TEXT NOT NULL,
    action        TEXT NOT NULL,
    status        TEXT NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    physical_id   TEXT,
    properties    TEXT NOT NULL DEFAULT '{}',
    metadata      TEXT NOT NULL DEFAULT '{}',
    attributes    TEXT NOT NULL DEFAULT '{}',
    user_id       TEXT,
    access_key    TEXT,
    data_enc      TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT,
    PRIMARY KEY (stack_id, name)
);
CREATE INDEX resources_physical ON resources (physical_id);

CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    stack_id      TEXT NOT NULL REFERENCES stacks (id),
    resource_name TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    physical_id   TEXT,
    action        TEXT NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX events_stack ON events (stack_id, seq);

CREATE TABLE signals (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    stack_id      TEXT NOT NULL REFERENCES stacks (id),
    resource_name TEXT NOT NULL,
    signal_id     TEXT NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    data          TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX signals_resource ON signals (stack_id, resource_name, seq);

CREATE TABLE software_configs (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    name       TEXT NOT NULL,
    config     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE software_deployments (
    id                    TEXT PRIMARY KEY,
    tenant                TEXT NOT NULL,
    stack_user_project_id TEXT,
    server_id             TEXT NOT NULL,
    config_id             TEXT NOT NULL,
    action                TEXT NOT NULL,
    status                TEXT NOT NULL,
    status_reason         TEXT NOT NULL DEFAULT '',
    input_values          TEXT NOT NULL DEFAULT '{}',
    output_values         TEXT NOT NULL DEFAULT '{}',
    created_at            TEXT NOT NULL,
    updated_at            TEXT
);
CREATE INDEX deployments_server ON software_deployments (server_id);
