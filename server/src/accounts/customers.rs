//! Customers and their sites: reference data for work orders and customer users.

use crate::db::Db;
use crate::error::{Error, Result};
use crate::now_ms;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use std::collections::HashMap;
use sync_core::OrgId;
use utoipa::ToSchema;

/// A place where work happens.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Site {
    #[serde(default)]
    pub id: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
}

/// A customer with its sites.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    /// Empty on creation: the server generates one.
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub sites: Vec<Site>,
}

/// Check a coordinate pair.
pub fn check_coordinates(lat: f64, lon: f64) -> Result<()> {
    if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
        Ok(())
    } else {
        Err(Error::Invalid("coordinates out of range".into()))
    }
}

/// Insert a customer and its sites (ids are generated when empty).
pub async fn create_customer(
    conn: &mut AnyConnection,
    org: OrgId,
    c: &Customer,
) -> Result<Customer> {
    if c.name.trim().is_empty() {
        return Err(Error::Invalid("a customer needs a name".into()));
    }
    let id = if c.id.trim().is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        c.id.trim().to_owned()
    };
    sqlx::query(
        "INSERT INTO customers (org_id, id, name, phone, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(org.to_string())
    .bind(&id)
    .bind(c.name.trim())
    .bind(c.phone.clone())
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    let mut sites = Vec::with_capacity(c.sites.len());
    for s in &c.sites {
        check_coordinates(s.lat, s.lon)?;
        let site = Site {
            id: if s.id.is_empty() {
                uuid::Uuid::new_v4().to_string()
            } else {
                s.id.clone()
            },
            ..s.clone()
        };
        sqlx::query(
            "INSERT INTO customer_sites (org_id, id, customer_id, address, lat, lon) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org.to_string())
        .bind(&site.id)
        .bind(&id)
        .bind(&site.address)
        .bind(site.lat)
        .bind(site.lon)
        .execute(&mut *conn)
        .await?;
        sites.push(site);
    }
    Ok(Customer {
        id,
        name: c.name.trim().to_owned(),
        phone: c.phone.clone(),
        sites,
    })
}

pub(super) async fn customer_exists(
    conn: &mut AnyConnection,
    org: OrgId,
    id: &str,
) -> Result<bool> {
    Ok(customer_name(conn, org, id).await?.is_some())
}

/// A customer's name, if `org` has that customer.
pub async fn customer_name(
    conn: &mut AnyConnection,
    org: OrgId,
    id: &str,
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT name FROM customers WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// One site of one of `org`'s customers, if it is theirs.
pub async fn customer_site(
    db: &Db,
    org: OrgId,
    customer_id: &str,
    site_id: &str,
) -> Result<Option<Site>> {
    let row: Option<(String, String, f64, f64)> = sqlx::query_as(
        "SELECT id, address, lat, lon FROM customer_sites \
         WHERE org_id = $1 AND customer_id = $2 AND id = $3",
    )
    .bind(org.to_string())
    .bind(customer_id)
    .bind(site_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(id, address, lat, lon)| Site {
        id,
        address,
        lat,
        lon,
    }))
}

/// Customers of `org` with their sites, by name.
pub async fn list_customers(db: &Db, org: OrgId, limit: i64, offset: i64) -> Result<Vec<Customer>> {
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, name, phone FROM customers WHERE org_id = $1 ORDER BY name, id LIMIT $2 OFFSET $3",
    )
    .bind(org.to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(db.pool())
    .await?;
    let sites: Vec<(String, String, String, f64, f64)> = sqlx::query_as(
        "SELECT customer_id, id, address, lat, lon FROM customer_sites WHERE org_id = $1 \
         ORDER BY customer_id, id",
    )
    .bind(org.to_string())
    .fetch_all(db.pool())
    .await?;
    let mut by_customer: HashMap<String, Vec<Site>> = HashMap::new();
    for (customer, id, address, lat, lon) in sites {
        by_customer.entry(customer).or_default().push(Site {
            id,
            address,
            lat,
            lon,
        });
    }
    Ok(rows
        .into_iter()
        .map(|(id, name, phone)| Customer {
            sites: by_customer.remove(&id).unwrap_or_default(),
            id,
            name,
            phone,
        })
        .collect())
}
