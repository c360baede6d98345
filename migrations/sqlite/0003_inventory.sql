-- Spare parts (issue 4), SQLite dialect. Keep in step with ../postgres/0003_inventory.sql: same
-- tables, columns and indexes; only the column types, the movement id and the append-only
-- triggers are spelled differently. See docs/inventory.md for the model.
--
-- The ledger is `stock_movements`: append-only (triggers refuse UPDATE and DELETE). Every other
-- stock table is derived from it and written in the transaction of the movement:
-- `stock_balances` per (location, part) and `serials` per serial number. `lastmile inventory
-- check` recomputes both from the ledger. Quantities are integers in the part's minor unit;
-- money in minor currency units; times UTC milliseconds; every row keyed by organisation.

-- The parts catalog. `seq` is the change_seq of the row's last write: phones receive the
-- catalog as deltas "changed after seq N". A withdrawn part stays (the ledger refers to it).
CREATE TABLE parts (
    org_id            TEXT NOT NULL REFERENCES organisations (id),
    sku               TEXT NOT NULL,
    name              TEXT NOT NULL,
    description       TEXT NOT NULL,
    unit              TEXT NOT NULL,    -- pcs, pair, set, box, roll (whole units); m, l, kg (1/1000)
    unit_cost         INTEGER NOT NULL, -- minor currency units per unit
    category          TEXT NOT NULL,
    serial_tracked    INTEGER NOT NULL CHECK (serial_tracked IN (0, 1)),
    compatible_models TEXT NOT NULL,    -- JSON array of asset models
    withdrawn         INTEGER NOT NULL CHECK (withdrawn IN (0, 1)),
    seq               INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (org_id, sku)
);
CREATE INDEX parts_by_seq ON parts (org_id, seq);
CREATE INDEX parts_by_category ON parts (org_id, category, sku);

-- Stock locations: warehouses, quarantine (defective stock awaiting the supplier) and one van
-- per engineer (created lazily, on the first movement that needs it).
CREATE TABLE locations (
    org_id      TEXT NOT NULL REFERENCES organisations (id),
    id          TEXT NOT NULL,
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('warehouse', 'quarantine', 'van')),
    engineer_id TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, engineer_id) REFERENCES users (org_id, id)
);
CREATE UNIQUE INDEX locations_code ON locations (org_id, code);
-- One van per engineer (NULLs, the other kinds, are distinct).
CREATE UNIQUE INDEX locations_van ON locations (org_id, engineer_id);
CREATE INDEX locations_by_kind ON locations (org_id, kind, code);

-- Reorder point and quantity per (location, part): the low-stock list and its events.
CREATE TABLE stock_levels (
    org_id        TEXT NOT NULL,
    location_id   TEXT NOT NULL,
    sku           TEXT NOT NULL,
    reorder_point INTEGER NOT NULL CHECK (reorder_point >= 0),
    reorder_qty   INTEGER NOT NULL CHECK (reorder_qty >= 0),
    PRIMARY KEY (org_id, location_id, sku),
    FOREIGN KEY (org_id, location_id) REFERENCES locations (org_id, id),
    FOREIGN KEY (org_id, sku) REFERENCES parts (org_id, sku)
);

-- The ledger. One row per movement of one part (one row per serial number for serial-tracked
-- parts). A movement leaves `from_location` (NULL: from outside, e.g. a supplier) and arrives
-- at `to_location` (NULL: out of stock, e.g. installed at a customer). The condition says which
-- bucket of a balance it moves: good stock or defective units.
CREATE TABLE stock_movements (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id         TEXT NOT NULL REFERENCES organisations (id),
    seq            INTEGER NOT NULL, -- change_seq of the transaction
    kind           TEXT NOT NULL CHECK (kind IN ('receive', 'issue', 'transfer', 'consume',
                       'consume_reversal', 'removal', 'return_good', 'return_defective',
                       'return_supplier', 'adjust')),
    sku            TEXT NOT NULL,
    qty            INTEGER NOT NULL CHECK (qty > 0),
    unit_cost      INTEGER NOT NULL, -- the part's cost when it moved
    from_location  TEXT,
    from_condition TEXT CHECK (from_condition IN ('good', 'defective')),
    to_location    TEXT,
    to_condition   TEXT CHECK (to_condition IN ('good', 'defective')),
    serial         TEXT,
    work_order_id  TEXT,
    line_id        TEXT,             -- the consumption line it posts
    engineer_id    TEXT,
    customer_id    TEXT,
    asset_id       TEXT,
    reservation_id TEXT,
    request_id     TEXT,             -- the parts request it fulfils
    supplier       TEXT,
    reference      TEXT,             -- delivery note, purchase order, RMA ...
    reason         TEXT,             -- adjustments: why
    note           TEXT NOT NULL,
    actor_id       TEXT,             -- who: a user, or NULL for the system
    actor_role     TEXT NOT NULL,
    at_ms          INTEGER NOT NULL, -- when it happened (the phone's time for consumption)
    created_at     INTEGER NOT NULL, -- when the server recorded it
    CHECK (from_location IS NOT NULL OR to_location IS NOT NULL),
    CHECK ((from_location IS NULL) = (from_condition IS NULL)),
    CHECK ((to_location IS NULL) = (to_condition IS NULL)),
    FOREIGN KEY (org_id, sku) REFERENCES parts (org_id, sku),
    FOREIGN KEY (org_id, from_location) REFERENCES locations (org_id, id),
    FOREIGN KEY (org_id, to_location) REFERENCES locations (org_id, id)
);
CREATE INDEX stock_movements_by_org ON stock_movements (org_id, id);
CREATE INDEX stock_movements_by_from ON stock_movements (org_id, from_location, id);
CREATE INDEX stock_movements_by_to ON stock_movements (org_id, to_location, id);
CREATE INDEX stock_movements_by_sku ON stock_movements (org_id, sku, id);
CREATE INDEX stock_movements_by_order ON stock_movements (org_id, work_order_id);
CREATE INDEX stock_movements_by_serial ON stock_movements (org_id, serial);
CREATE INDEX stock_movements_by_kind ON stock_movements (org_id, kind, at_ms);
CREATE TRIGGER stock_movements_no_update BEFORE UPDATE ON stock_movements
BEGIN
    SELECT RAISE(ABORT, 'stock movements are append-only');
END;
CREATE TRIGGER stock_movements_no_delete BEFORE DELETE ON stock_movements
BEGIN
    SELECT RAISE(ABORT, 'stock movements are append-only');
END;

-- Balances derived from the ledger, per (location, part). `qty` is good stock (negative only
-- where consumption synced from a phone outran the ledger), `defective` the defective units
-- held, `reserved` the sum of active reservations; available = qty - reserved. `seq` is the
-- change_seq of the last change: a phone's van stock is re-sent when it moves.
CREATE TABLE stock_balances (
    org_id      TEXT NOT NULL,
    location_id TEXT NOT NULL,
    sku         TEXT NOT NULL,
    qty         INTEGER NOT NULL,
    defective   INTEGER NOT NULL,
    reserved    INTEGER NOT NULL CHECK (reserved >= 0),
    seq         INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, location_id, sku),
    FOREIGN KEY (org_id, location_id) REFERENCES locations (org_id, id),
    FOREIGN KEY (org_id, sku) REFERENCES parts (org_id, sku)
);
CREATE INDEX stock_balances_by_sku ON stock_balances (org_id, sku);

-- Where each serial number is now (derived from its movements): in stock or defective at a
-- location, installed at a customer's asset, back with the supplier, or written off.
CREATE TABLE serials (
    org_id        TEXT NOT NULL,
    sku           TEXT NOT NULL,
    serial        TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('in_stock', 'defective', 'installed',
                      'returned_to_supplier', 'written_off')),
    location_id   TEXT,
    work_order_id TEXT, -- the last installation or removal
    asset_id      TEXT,
    customer_id   TEXT,
    seq           INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (org_id, sku, serial),
    FOREIGN KEY (org_id, sku) REFERENCES parts (org_id, sku)
);
CREATE INDEX serials_by_serial ON serials (org_id, serial);
CREATE INDEX serials_by_location ON serials (org_id, location_id, sku);

-- Stock held for a work order: not available to anyone else until issued, released (the order
-- finished) or expired. `qty` is what is still held; `issued` what was issued against it.
CREATE TABLE reservations (
    org_id        TEXT NOT NULL,
    id            TEXT NOT NULL,
    work_order_id TEXT NOT NULL,
    location_id   TEXT NOT NULL,
    sku           TEXT NOT NULL,
    qty           INTEGER NOT NULL CHECK (qty >= 0),
    issued        INTEGER NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'fulfilled', 'released', 'expired')),
    expires_at    INTEGER,
    created_by    TEXT,
    created_at    INTEGER NOT NULL,
    closed_at     INTEGER,
    close_reason  TEXT,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, location_id) REFERENCES locations (org_id, id),
    FOREIGN KEY (org_id, sku) REFERENCES parts (org_id, sku)
);
CREATE INDEX reservations_by_status ON reservations (org_id, status, expires_at);
CREATE INDEX reservations_by_order ON reservations (org_id, work_order_id);

-- Every consumption line of every work order, recorded once (the primary key is the line id):
-- what makes posting exactly-once whatever the replays. `held` lines are recorded but not in
-- the ledger (unknown part, malformed line); a discrepancy says why.
CREATE TABLE posted_lines (
    org_id          TEXT NOT NULL,
    line_id         TEXT NOT NULL,
    work_order_id   TEXT NOT NULL,
    visit_id        TEXT NOT NULL,
    sku             TEXT NOT NULL,
    qty             INTEGER NOT NULL,
    serial          TEXT,
    replaced_serial TEXT,
    engineer_id     TEXT NOT NULL,
    at_ms           INTEGER NOT NULL,
    voids           TEXT,
    status          TEXT NOT NULL CHECK (status IN ('posted', 'held', 'voided', 'skipped')),
    location_id     TEXT,
    reason          TEXT,
    seq             INTEGER NOT NULL,
    posted_at       INTEGER NOT NULL,
    PRIMARY KEY (org_id, line_id)
);
CREATE INDEX posted_lines_by_order ON posted_lines (org_id, work_order_id);
CREATE INDEX posted_lines_by_voids ON posted_lines (org_id, voids);

-- Something the warehouse must look at. At most one open discrepancy per kind, work order,
-- engineer and part, however many lines caused it.
CREATE TABLE discrepancies (
    org_id        TEXT NOT NULL,
    id            TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('negative_stock', 'unknown_sku',
                      'serial_mismatch', 'invalid_line')),
    status        TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    work_order_id TEXT,
    engineer_id   TEXT,
    location_id   TEXT,
    sku           TEXT NOT NULL,
    line_id       TEXT,
    detail        TEXT NOT NULL,
    opened_at     INTEGER NOT NULL,
    opened_seq    INTEGER NOT NULL,
    resolved_at   INTEGER,
    resolved_by   TEXT,
    resolution    TEXT,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX discrepancies_open_once ON discrepancies
    (org_id, kind, work_order_id, engineer_id, sku) WHERE status = 'open';
CREATE INDEX discrepancies_by_status ON discrepancies (org_id, status, opened_at);

-- Parts requests as the work-order documents hold them (projected when a document is synced or
-- decided), so the warehouse lists pending requests without loading documents.
CREATE TABLE parts_requests (
    org_id         TEXT NOT NULL,
    id             TEXT NOT NULL,
    work_order_id  TEXT NOT NULL,
    sku            TEXT NOT NULL,
    qty            INTEGER NOT NULL,
    note           TEXT NOT NULL,
    requested_by   TEXT NOT NULL,
    requested_at   INTEGER NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'partly_approved',
                       'rejected')),
    approved_qty   INTEGER,
    decided_by     TEXT,
    decided_at     INTEGER,
    decision_note  TEXT,
    from_location  TEXT,
    seq            INTEGER NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX parts_requests_by_status ON parts_requests (org_id, status, requested_at);
CREATE INDEX parts_requests_by_order ON parts_requests (org_id, work_order_id);

-- Outbox of inventory events (low stock, discrepancies, decisions) for the notification and
-- workflow features: read in id order after a cursor.
CREATE TABLE inventory_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    location_id    TEXT,
    sku            TEXT,
    work_order_id  TEXT,
    discrepancy_id TEXT,
    detail         TEXT NOT NULL, -- JSON
    seq            INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX inventory_events_by_org ON inventory_events (org_id, id);

-- Catalog CSV imports: the job (polled for progress), its rows staged in batches, and the bad
-- rows with their line numbers. The staged rows are applied in one statement at the end.
CREATE TABLE import_jobs (
    org_id      TEXT NOT NULL,
    id          TEXT NOT NULL,
    mode        TEXT NOT NULL CHECK (mode IN ('all_or_nothing', 'skip_bad_rows')),
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    location_id TEXT,
    total       INTEGER NOT NULL,
    processed   INTEGER NOT NULL,
    imported    INTEGER NOT NULL,
    error_count INTEGER NOT NULL,
    message     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX import_jobs_by_time ON import_jobs (org_id, created_at);

CREATE TABLE import_rows (
    org_id            TEXT NOT NULL,
    job_id            TEXT NOT NULL,
    line              INTEGER NOT NULL,
    sku               TEXT NOT NULL,
    name              TEXT NOT NULL,
    description       TEXT NOT NULL,
    unit              TEXT NOT NULL,
    unit_cost         INTEGER NOT NULL,
    category          TEXT NOT NULL,
    serial_tracked    INTEGER NOT NULL,
    compatible_models TEXT NOT NULL,
    reorder_point     INTEGER,
    reorder_qty       INTEGER,
    PRIMARY KEY (org_id, job_id, line)
);

CREATE TABLE import_errors (
    org_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    line   INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (org_id, job_id, line)
);
