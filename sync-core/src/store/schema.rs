//! The device store's schema: the current SQL, its [`VERSION`], and one upgrade step per older
//! version. [`migrate`] runs on every open, in one transaction, and records the result in
//! `PRAGMA user_version`.
//!
//! Changing the schema: bump [`VERSION`], edit [`CURRENT`] (what a fresh install gets), add the
//! step from the previous version to [`upgrade_from`], and freeze a copy of the old schema for the
//! migration test if it is the first of its line. The test checks that every upgrade path ends in
//! exactly the schema a fresh install gets.

use crate::{Error, Result};
use rusqlite::{Connection, Transaction, TransactionBehavior};

/// The schema version this build writes.
pub(crate) const VERSION: u32 = 3;

// The search index and its triggers appear both in the current schema and in the step to
// version 2; macros (not consts) so that `concat!` can splice them into both.
macro_rules! fts_table {
    () => {
        r#"
-- Full-text search over the query table's text (version 2). External content: the text lives
-- in `orders` only; trigram tokens match any substring of three or more characters, in any
-- script (serial fragments, Chinese names).
CREATE VIRTUAL TABLE orders_fts USING fts5 (
    number, customer_name, site_address, asset_serial, asset_model, problem,
    content = 'orders', content_rowid = 'doc',
    tokenize = 'trigram remove_diacritics 1'
);
"#
    };
}

// Keep `orders_fts` in step with `orders`. An external-content index stores no text of its own,
// so a delete must repeat the old values; hence triggers, which also fire on cascading deletes.
macro_rules! fts_triggers {
    () => {
        r#"
CREATE TRIGGER orders_fts_insert AFTER INSERT ON orders BEGIN
    INSERT INTO orders_fts (rowid, number, customer_name, site_address, asset_serial,
                            asset_model, problem)
    VALUES (new.doc, new.number, new.customer_name, new.site_address, new.asset_serial,
            new.asset_model, new.problem);
END;
CREATE TRIGGER orders_fts_delete AFTER DELETE ON orders BEGIN
    INSERT INTO orders_fts (orders_fts, rowid, number, customer_name, site_address,
                            asset_serial, asset_model, problem)
    VALUES ('delete', old.doc, old.number, old.customer_name, old.site_address,
            old.asset_serial, old.asset_model, old.problem);
END;
CREATE TRIGGER orders_fts_update
AFTER UPDATE OF number, customer_name, site_address, asset_serial, asset_model, problem
ON orders BEGIN
    INSERT INTO orders_fts (orders_fts, rowid, number, customer_name, site_address,
                            asset_serial, asset_model, problem)
    VALUES ('delete', old.doc, old.number, old.customer_name, old.site_address,
            old.asset_serial, old.asset_model, old.problem);
    INSERT INTO orders_fts (rowid, number, customer_name, site_address, asset_serial,
                            asset_model, problem)
    VALUES (new.doc, new.number, new.customer_name, new.site_address, new.asset_serial,
            new.asset_model, new.problem);
END;
"#
    };
}

// Reference data from the server (version 3): the parts catalog, searchable offline, and the
// van's stock as the server's ledger has it.
macro_rules! reference_tables {
    () => {
        r#"
CREATE TABLE catalog (
    item           INTEGER PRIMARY KEY,
    sku            TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    description    TEXT NOT NULL,
    category       TEXT NOT NULL,
    serial_tracked INTEGER NOT NULL CHECK (serial_tracked IN (0, 1)),
    body           TEXT NOT NULL            -- CatalogItem as JSON
) STRICT;
CREATE VIRTUAL TABLE catalog_fts USING fts5 (
    sku, name, description, category,
    content = 'catalog', content_rowid = 'item',
    tokenize = 'trigram remove_diacritics 1'
);
CREATE TRIGGER catalog_fts_insert AFTER INSERT ON catalog BEGIN
    INSERT INTO catalog_fts (rowid, sku, name, description, category)
    VALUES (new.item, new.sku, new.name, new.description, new.category);
END;
CREATE TRIGGER catalog_fts_delete AFTER DELETE ON catalog BEGIN
    INSERT INTO catalog_fts (catalog_fts, rowid, sku, name, description, category)
    VALUES ('delete', old.item, old.sku, old.name, old.description, old.category);
END;
CREATE TRIGGER catalog_fts_update AFTER UPDATE ON catalog BEGIN
    INSERT INTO catalog_fts (catalog_fts, rowid, sku, name, description, category)
    VALUES ('delete', old.item, old.sku, old.name, old.description, old.category);
    INSERT INTO catalog_fts (rowid, sku, name, description, category)
    VALUES (new.item, new.sku, new.name, new.description, new.category);
END;
CREATE TABLE van_stock (
    sku     TEXT PRIMARY KEY NOT NULL,
    qty     INTEGER NOT NULL,
    serials TEXT NOT NULL                   -- JSON array of serial numbers
) STRICT, WITHOUT ROWID;
"#
    };
}

/// The complete current schema, for a fresh database.
pub(crate) const CURRENT: &str = concat!(
    r#"
-- Key/value settings: the install's actor id, the sync cursor, and whatever the app keeps.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) STRICT, WITHOUT ROWID;

-- One row per document. `doc` is the stable integer key every other table (and the FTS index)
-- uses; being an INTEGER PRIMARY KEY it survives VACUUM.
CREATE TABLE docs (
    doc      INTEGER PRIMARY KEY,
    id       TEXT NOT NULL UNIQUE,          -- DocId, hyphenated lower-case UUID
    snapshot BLOB NOT NULL,                 -- last compacted Automerge save()
    heads    BLOB NOT NULL                  -- current heads, sorted, 32 bytes each
) STRICT;

-- Change chunks appended since the snapshot, in order.
CREATE TABLE chunks (
    chunk INTEGER PRIMARY KEY,
    doc   INTEGER NOT NULL REFERENCES docs (doc) ON DELETE CASCADE,
    bytes BLOB NOT NULL
) STRICT;
CREATE INDEX chunks_by_doc ON chunks (doc, chunk);

-- The query table: one row per document, refreshed in the transaction that persists it.
CREATE TABLE orders (
    doc             INTEGER PRIMARY KEY REFERENCES docs (doc) ON DELETE CASCADE,
    status          TEXT NOT NULL,          -- Status::as_str
    priority_rank   INTEGER NOT NULL,       -- Priority::rank, 3 = urgent
    assignee        TEXT,                   -- UserId
    window_start_ms INTEGER,
    window_end_ms   INTEGER,
    sla_due_ms      INTEGER,
    lat             REAL NOT NULL,
    lon             REAL NOT NULL,
    x               REAL NOT NULL,          -- (x, y, z): the site on the unit sphere,
    y               REAL NOT NULL,          -- so that distance order is plain arithmetic
    z               REAL NOT NULL,
    number          TEXT NOT NULL,          -- the searchable text (see orders_fts)
    customer_name   TEXT NOT NULL,
    site_address    TEXT NOT NULL,
    asset_serial    TEXT NOT NULL,
    asset_model     TEXT NOT NULL,
    problem         TEXT NOT NULL,
    summary         TEXT NOT NULL           -- OrderSummary as JSON: what list and search return
) STRICT;
CREATE INDEX orders_by_schedule ON orders (window_start_ms IS NULL, window_start_ms);
CREATE INDEX orders_by_priority ON orders (priority_rank DESC, sla_due_ms IS NULL, sla_due_ms);
CREATE INDEX orders_by_sla ON orders (sla_due_ms IS NULL, sla_due_ms);
CREATE INDEX orders_by_status ON orders (status, window_start_ms IS NULL, window_start_ms);
CREATE INDEX orders_by_assignee ON orders (assignee, window_start_ms IS NULL, window_start_ms);

-- Sync bookkeeping per document: local changes not yet acknowledged, and the server's heads.
CREATE TABLE sync_state (
    doc          INTEGER PRIMARY KEY REFERENCES docs (doc) ON DELETE CASCADE,
    pending      INTEGER NOT NULL DEFAULT 0 CHECK (pending IN (0, 1)),
    server_heads BLOB NOT NULL DEFAULT x''  -- sorted, 32 bytes each
) STRICT;
CREATE INDEX sync_state_pending ON sync_state (doc) WHERE pending = 1;

-- Encoded automerge::sync::State per (peer, document).
CREATE TABLE peer_state (
    peer  TEXT NOT NULL,
    doc   INTEGER NOT NULL REFERENCES docs (doc) ON DELETE CASCADE,
    state BLOB NOT NULL,
    PRIMARY KEY (peer, doc)
) STRICT, WITHOUT ROWID;
CREATE INDEX peer_state_by_doc ON peer_state (doc);
"#,
    fts_table!(),
    fts_triggers!(),
    reference_tables!(),
);

/// Version 2 -> 3: reference data tables (empty until the next sync fills them).
const V2_TO_V3: &str = reference_tables!();

/// Version 1 -> 2: add the search index and fill it from the rows already in `orders`.
const V1_TO_V2: &str = concat!(
    fts_table!(),
    fts_triggers!(),
    "INSERT INTO orders_fts (orders_fts) VALUES ('rebuild');\n",
);

/// The frozen version-1 schema, for the migration test.
#[cfg(test)]
pub(crate) const V1: &str = include_str!("schema_v1.sql");

/// Run the step that takes the database from `version` to `version + 1`.
fn upgrade_from(tx: &Transaction<'_>, version: u32) -> Result<()> {
    match version {
        1 => tx.execute_batch(V1_TO_V2)?,
        2 => tx.execute_batch(V2_TO_V3)?,
        other => {
            return Err(Error::NotAllowed(format!(
                "no upgrade step from device store schema version {other}"
            )));
        }
    }
    Ok(())
}

/// Create or upgrade the schema in one IMMEDIATE transaction (so two processes opening the same
/// file at once cannot both upgrade). Refuses a database written by a newer build: its schema may
/// hold data this build would silently drop.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > VERSION {
        return Err(Error::NotAllowed(format!(
            "the device store was written by a newer app version (schema {found}; this build \
             supports up to {VERSION}); update the app"
        )));
    }
    if found == VERSION {
        return Ok(());
    }
    if found == 0 {
        tracing::info!(version = VERSION, "creating device store schema");
        tx.execute_batch(CURRENT)?;
    } else {
        for version in found..VERSION {
            tracing::info!(
                from = version,
                to = version + 1,
                "upgrading device store schema"
            );
            upgrade_from(&tx, version)?;
        }
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()?;
    Ok(())
}

/// `sqlite_master` as comparable text: comments dropped, whitespace collapsed, so the current
/// schema may be commented differently from a frozen one.
#[cfg(test)]
pub(crate) fn schema_of(conn: &Connection) -> Vec<(String, String, String, String)> {
    let mut stmt = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?
                .map(|s| normalise(&s))
                .unwrap_or_default(),
        ))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

#[cfg(test)]
fn normalise(sql: &str) -> String {
    let without_comments: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    without_comments
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(" ,", ",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_gets_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("s.db")).unwrap();
        migrate(&mut conn).unwrap();
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, VERSION);
        // Running it again is a no-op.
        migrate(&mut conn).unwrap();
        assert!(
            schema_of(&conn)
                .iter()
                .any(|(_, name, ..)| name == "orders_fts")
        );
    }

    #[test]
    fn upgrading_the_frozen_v1_schema_yields_exactly_the_fresh_schema() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = Connection::open(dir.path().join("old.db")).unwrap();
        old.execute_batch(V1).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        migrate(&mut old).unwrap();

        let mut fresh = Connection::open(dir.path().join("fresh.db")).unwrap();
        migrate(&mut fresh).unwrap();

        assert_eq!(schema_of(&old), schema_of(&fresh));
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("s.db")).unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(matches!(err, Error::NotAllowed(_)), "{err}");
        assert!(err.to_string().contains("newer app version"), "{err}");
        assert!(schema_of(&conn).is_empty());
    }
}
