//! Reference data on the device: the parts catalog (searchable offline) and the van's stock, as
//! the server last sent them, minus what this device consumed and has not uploaded yet.

use super::{Store, StoreTx};
use crate::protocol::reference::{CatalogItem, ReferenceDelta, VanStockLine};
use crate::rules::consumption::ledger_delta;
use crate::{Error, Result};
use rusqlite::{OptionalExtension, params};
use std::collections::BTreeMap;

const META_VERSION: &str = "sync.reference_version";

/// One SKU of the van as the phone believes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VanStock {
    pub sku: String,
    /// What the server's ledger had at the last sync.
    pub server_qty: i64,
    /// Consumed on this device and not yet acknowledged by the server (void lines subtract).
    pub pending_use: i64,
    /// `server_qty - pending_use`.
    pub available: i64,
    /// Serials in the van per the server, minus serials consumed here and not yet uploaded.
    pub serials: Vec<String>,
}

impl StoreTx<'_> {
    /// The version of the reference data held (0: none).
    pub fn reference_version(&self) -> Result<u64> {
        Ok(self
            .meta(META_VERSION)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    /// Apply a delta from the server.
    pub fn apply_reference(&mut self, delta: &ReferenceDelta) -> Result<()> {
        let conn = self.conn();
        if delta.full {
            conn.execute("DELETE FROM catalog", [])?;
        }
        for item in &delta.catalog {
            if item.deleted {
                conn.execute("DELETE FROM catalog WHERE sku = ?1", [&item.sku])?;
                continue;
            }
            let body = serde_json::to_string(item)
                .map_err(|e| Error::InvalidInput(format!("catalog item: {e}")))?;
            conn.execute(
                "INSERT INTO catalog (sku, name, description, category, serial_tracked, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (sku) DO UPDATE SET name = excluded.name,
                   description = excluded.description, category = excluded.category,
                   serial_tracked = excluded.serial_tracked, body = excluded.body",
                params![
                    item.sku,
                    item.name,
                    item.description,
                    item.category,
                    item.serial_tracked,
                    body
                ],
            )?;
        }
        if let Some(van) = &delta.van {
            conn.execute("DELETE FROM van_stock", [])?;
            for line in van {
                let serials = serde_json::to_string(&line.serials)
                    .map_err(|e| Error::InvalidInput(format!("van stock: {e}")))?;
                conn.execute(
                    "INSERT INTO van_stock (sku, qty, serials) VALUES (?1, ?2, ?3)",
                    params![line.sku, line.qty, serials],
                )?;
            }
        }
        self.set_meta(META_VERSION, &delta.version.to_be_bytes())
    }

    /// The van's stock as the server sent it.
    pub fn server_van_stock(&self) -> Result<Vec<VanStockLine>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT sku, qty, serials FROM van_stock ORDER BY sku")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (sku, qty, serials) = row?;
            out.push(VanStockLine {
                sku,
                qty,
                serials: serde_json::from_str(&serials).unwrap_or_default(),
            });
        }
        Ok(out)
    }
}

impl Store {
    /// Search the catalog offline (SKU, name, description, category; substrings of three or more
    /// characters, any script). An empty query lists the catalog by SKU. `limit` 0: no limit.
    pub fn search_catalog(&self, text: &str, limit: u32) -> Result<Vec<CatalogItem>> {
        self.read(|tx| {
            let conn = tx.conn();
            let limit = if limit == 0 { -1 } else { i64::from(limit) };
            let text = text.trim();
            let bodies: Vec<String> = if text.chars().count() < 3 {
                // Too short for trigrams: a prefix or substring match on the plain columns.
                let like = format!("%{}%", text.replace(['%', '_'], ""));
                let mut stmt = conn.prepare_cached(
                    "SELECT body FROM catalog WHERE sku LIKE ?1 OR name LIKE ?1
                     ORDER BY sku LIMIT ?2",
                )?;
                stmt.query_map(params![like, limit], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            } else {
                // Each word must match; quoting makes FTS syntax plain text.
                let q = text
                    .split_whitespace()
                    .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let mut stmt = conn.prepare_cached(
                    "SELECT c.body FROM catalog_fts f JOIN catalog c ON c.item = f.rowid
                     WHERE catalog_fts MATCH ?1 ORDER BY rank LIMIT ?2",
                )?;
                stmt.query_map(params![q, limit], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            bodies
                .iter()
                .map(|b| {
                    serde_json::from_str(b)
                        .map_err(|e| Error::InvalidDocument(format!("stored catalog item: {e}")))
                })
                .collect()
        })
    }

    /// One catalog item by SKU.
    pub fn catalog_item(&self, sku: &str) -> Result<Option<CatalogItem>> {
        self.read(|tx| {
            let body: Option<String> = tx
                .conn()
                .query_row("SELECT body FROM catalog WHERE sku = ?1", [sku], |r| {
                    r.get(0)
                })
                .optional()?;
            body.map(|b| {
                serde_json::from_str(&b)
                    .map_err(|e| Error::InvalidDocument(format!("stored catalog item: {e}")))
            })
            .transpose()
        })
    }

    /// The van's stock as this phone believes it: the server's balance minus consumption
    /// recorded here that the server has not acknowledged yet. Loads only the documents with
    /// pending changes.
    pub fn van_stock(&self) -> Result<Vec<VanStock>> {
        self.read(|tx| {
            let mut stock: BTreeMap<String, VanStock> = tx
                .server_van_stock()?
                .into_iter()
                .map(|l| {
                    (
                        l.sku.clone(),
                        VanStock {
                            sku: l.sku,
                            server_qty: l.qty,
                            pending_use: 0,
                            available: l.qty,
                            serials: l.serials,
                        },
                    )
                })
                .collect();
            for id in tx.pending()? {
                let mut doc = tx.load(&id)?;
                let acked = tx.server_heads(&id)?;
                for line in doc.consumption_since(&acked)? {
                    let entry = stock.entry(line.sku.clone()).or_insert_with(|| VanStock {
                        sku: line.sku.clone(),
                        server_qty: 0,
                        pending_use: 0,
                        available: 0,
                        serials: Vec::new(),
                    });
                    entry.pending_use += ledger_delta(&line);
                    if let Some(serial) = &line.serial {
                        if line.voids.is_none() {
                            entry.serials.retain(|s| s != serial);
                        } else if !entry.serials.contains(serial) {
                            entry.serials.push(serial.clone());
                        }
                    }
                }
            }
            Ok(stock
                .into_values()
                .map(|mut s| {
                    s.available = s.server_qty - s.pending_use;
                    s
                })
                .collect())
        })
    }
}
