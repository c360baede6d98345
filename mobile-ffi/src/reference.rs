//! Reference data on the phone: the parts catalog and the van's stock, as the last sync brought
//! them (the server is their authority; sync-core keeps them in the device store).

use crate::client::FieldClient;
use crate::error::{Result, guard};
use crate::records::{CatalogItem, VanStockItem};

#[uniffi::export]
impl FieldClient {
    /// Search the parts catalog offline: SKU, name, description, category. Every word must
    /// match; an empty text lists the catalog by SKU. At most `limit` (0: no limit).
    pub fn search_catalog(&self, text: String, limit: u32) -> Result<Vec<CatalogItem>> {
        guard(|| {
            Ok(self
                .local()?
                .store
                .search_catalog(&text, limit)?
                .into_iter()
                .map(catalog_item)
                .collect())
        })
    }

    /// The van's stock as the phone believes it: the server's balance at the last sync minus
    /// what was consumed here and not yet acknowledged by the server.
    pub fn van_stock(&self) -> Result<Vec<VanStockItem>> {
        guard(|| {
            Ok(self
                .local()?
                .store
                .van_stock()?
                .into_iter()
                .map(|s| VanStockItem {
                    sku: s.sku,
                    server_qty: s.server_qty,
                    pending_use: s.pending_use,
                    qty: s.available,
                    serials: s.serials,
                })
                .collect())
        })
    }
}

impl FieldClient {
    /// One catalog item by SKU, if the catalog has it.
    pub(crate) fn catalog_item(&self, sku: &str) -> Result<Option<CatalogItem>> {
        Ok(self.local()?.store.catalog_item(sku)?.map(catalog_item))
    }
}

fn catalog_item(c: sync_core::protocol::reference::CatalogItem) -> CatalogItem {
    CatalogItem {
        sku: c.sku,
        name: c.name,
        description: c.description,
        unit: c.unit,
        unit_cost_minor: c.unit_cost_minor,
        category: c.category,
        serial_tracked: c.serial_tracked,
        compatible_models: c.compatible_models,
    }
}
