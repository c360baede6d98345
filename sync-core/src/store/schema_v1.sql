-- FROZEN: the device store schema at version 1. Never edit this file: the migration test builds a
-- database from it and checks that upgrading yields exactly the current schema (schema.rs).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE docs (
    doc      INTEGER PRIMARY KEY,
    id       TEXT NOT NULL UNIQUE,
    snapshot BLOB NOT NULL,
    heads    BLOB NOT NULL
) STRICT;

CREATE TABLE chunks (
    chunk INTEGER PRIMARY KEY,
    doc   INTEGER NOT NULL REFERENCES docs (doc) ON DELETE CASCADE,
    bytes BLOB NOT NULL
) STRICT;
CREATE INDEX chunks_by_doc ON chunks (doc, chunk);

CREATE TABLE orders (
    doc             INTEGER PRIMARY KEY REFERENCES docs (doc) ON DELETE CASCADE,
    status          TEXT NOT NULL,
    priority_rank   INTEGER NOT NULL,
    assignee        TEXT,
    window_start_ms INTEGER,
    window_end_ms   INTEGER,
    sla_due_ms      INTEGER,
    lat             REAL NOT NULL,
    lon             REAL NOT NULL,
    x               REAL NOT NULL,
    y               REAL NOT NULL,
    z               REAL NOT NULL,
    number          TEXT NOT NULL,
    customer_name   TEXT NOT NULL,
    site_address    TEXT NOT NULL,
    asset_serial    TEXT NOT NULL,
    asset_model     TEXT NOT NULL,
    problem         TEXT NOT NULL,
    summary         TEXT NOT NULL
) STRICT;
CREATE INDEX orders_by_schedule ON orders (window_start_ms IS NULL, window_start_ms);
CREATE INDEX orders_by_priority ON orders (priority_rank DESC, sla_due_ms IS NULL, sla_due_ms);
CREATE INDEX orders_by_sla ON orders (sla_due_ms IS NULL, sla_due_ms);
CREATE INDEX orders_by_status ON orders (status, window_start_ms IS NULL, window_start_ms);
CREATE INDEX orders_by_assignee ON orders (assignee, window_start_ms IS NULL, window_start_ms);

CREATE TABLE sync_state (
    doc          INTEGER PRIMARY KEY REFERENCES docs (doc) ON DELETE CASCADE,
    pending      INTEGER NOT NULL DEFAULT 0 CHECK (pending IN (0, 1)),
    server_heads BLOB NOT NULL DEFAULT x''
) STRICT;
CREATE INDEX sync_state_pending ON sync_state (doc) WHERE pending = 1;

CREATE TABLE peer_state (
    peer  TEXT NOT NULL,
    doc   INTEGER NOT NULL REFERENCES docs (doc) ON DELETE CASCADE,
    state BLOB NOT NULL,
    PRIMARY KEY (peer, doc)
) STRICT, WITHOUT ROWID;
CREATE INDEX peer_state_by_doc ON peer_state (doc);
