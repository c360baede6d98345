-- Lastmile server schema, version 1 (SQLite dialect).
-- Keep in step with ../postgres/0001_init.sql: same tables, same columns, same indexes.
-- Column types are limited to what sqlx's Any driver maps on both backends:
-- INTEGER (i64), REAL (f64), TEXT, BLOB. Ids are UUID text; times are UTC milliseconds.
-- Every business table is keyed by organisation.

-- One row per setting of this server database (the server's Automerge actor id, ...).
CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The global change sequence. One row, bumped (UPDATE ... RETURNING) in the transaction of every
-- document write: the row lock serialises writers, so sequence numbers become visible in commit
-- order and a sync cursor can never skip a write that commits late.
CREATE TABLE change_seq (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO change_seq (id, value) VALUES (1, 0);

CREATE TABLE organisations (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    order_counter INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX organisations_name ON organisations (name);

CREATE TABLE customers (
    org_id     TEXT NOT NULL REFERENCES organisations (id),
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    phone      TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX customers_by_name ON customers (org_id, name);

CREATE TABLE customer_sites (
    org_id      TEXT NOT NULL,
    id          TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    address     TEXT NOT NULL,
    lat         REAL NOT NULL,
    lon         REAL NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id)
);
CREATE INDEX customer_sites_by_customer ON customer_sites (org_id, customer_id);

CREATE TABLE users (
    org_id        TEXT NOT NULL REFERENCES organisations (id),
    id            TEXT NOT NULL,
    email         TEXT NOT NULL, -- lower-cased
    name          TEXT NOT NULL,
    role          TEXT NOT NULL
        CHECK (role IN ('admin', 'dispatcher', 'warehouse', 'engineer', 'customer')),
    password_hash TEXT NOT NULL, -- argon2id PHC string
    customer_id   TEXT,          -- customer users only
    team          TEXT,          -- dispatchers
    territory     TEXT,          -- dispatchers
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id)
);
CREATE UNIQUE INDEX users_email ON users (org_id, email);
-- Login without an organisation looks the email up across organisations.
CREATE INDEX users_by_email ON users (email);
CREATE INDEX users_by_role ON users (org_id, role);

-- Engineer profile. Working hours: days is a bitmask (Monday = 1 ... Sunday = 64), start and
-- end are minutes after local midnight.
CREATE TABLE engineer_profiles (
    org_id         TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    home_lat       REAL,
    home_lon       REAL,
    work_days      INTEGER NOT NULL,
    work_start_min INTEGER NOT NULL,
    work_end_min   INTEGER NOT NULL,
    last_lat       REAL,
    last_lon       REAL,
    last_seen_at   INTEGER,
    PRIMARY KEY (org_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);

CREATE TABLE engineer_skills (
    org_id  TEXT NOT NULL,
    user_id TEXT NOT NULL,
    skill   TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id, skill),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
CREATE INDEX engineer_skills_by_skill ON engineer_skills (org_id, skill);

-- Login sessions. Only the SHA-256 of the token is stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
CREATE INDEX sessions_by_user ON sessions (org_id, user_id);

-- Registered phones. A revoked device keeps its token hash so the phone hears `device_revoked`.
CREATE TABLE devices (
    org_id       TEXT NOT NULL,
    id           TEXT NOT NULL, -- chosen by the phone
    user_id      TEXT NOT NULL,
    token_hash   TEXT NOT NULL,
    name         TEXT,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER,
    revoked_at   INTEGER,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
CREATE UNIQUE INDEX devices_token ON devices (token_hash);
CREATE INDEX devices_by_user ON devices (org_id, user_id);

-- Automerge documents: a compacted snapshot plus incremental change chunks.
CREATE TABLE documents (
    org_id         TEXT NOT NULL REFERENCES organisations (id),
    id             TEXT NOT NULL,
    kind           TEXT NOT NULL, -- 'work_order'
    snapshot       BLOB NOT NULL,
    snapshot_heads TEXT NOT NULL, -- hex change hashes, comma separated
    heads          TEXT NOT NULL, -- heads of snapshot + changes
    changes_bytes  INTEGER NOT NULL,
    seq            INTEGER NOT NULL, -- change_seq of the last write
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX documents_by_seq ON documents (org_id, seq);

CREATE TABLE doc_changes (
    org_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (org_id, doc_id, seq),
    FOREIGN KEY (org_id, doc_id) REFERENCES documents (org_id, id)
);

-- Projection of work-order documents for lists and boards, written in the transaction of the
-- document write. Never the source of truth: it can be rebuilt from `documents`.
CREATE TABLE work_orders (
    org_id        TEXT NOT NULL,
    id            TEXT NOT NULL,
    number        TEXT NOT NULL,
    status        TEXT NOT NULL,
    priority      TEXT NOT NULL,
    priority_rank INTEGER NOT NULL, -- 0 low .. 3 urgent
    assignee_id   TEXT,
    window_start  INTEGER,
    window_end    INTEGER,
    sla_due       INTEGER,
    customer_id   TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    site_address  TEXT NOT NULL,
    site_lat      REAL NOT NULL,
    site_lon      REAL NOT NULL,
    asset_serial  TEXT NOT NULL,
    problem       TEXT NOT NULL,
    open_flags    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_seq   INTEGER NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, id) REFERENCES documents (org_id, id)
);
CREATE UNIQUE INDEX work_orders_number ON work_orders (org_id, number);
CREATE INDEX work_orders_by_status ON work_orders (org_id, status, sla_due);
CREATE INDEX work_orders_by_assignee ON work_orders (org_id, assignee_id, window_start);
CREATE INDEX work_orders_by_window ON work_orders (org_id, window_start);
CREATE INDEX work_orders_by_priority ON work_orders (org_id, priority_rank, sla_due);
CREATE INDEX work_orders_by_customer ON work_orders (org_id, customer_id);
CREATE INDEX work_orders_by_seq ON work_orders (org_id, updated_seq);
