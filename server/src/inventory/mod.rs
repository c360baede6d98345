//! Spare parts: the catalog, stock locations, the stock ledger and what is derived from it.
//!
//! The ledger (`stock_movements`) is append-only: every change of stock is one movement row,
//! and the balances per (location, part) (`stock_balances`) and per serial number (`serials`)
//! are updated by [`ledger::Writer::post`] in the same transaction. `lastmile inventory check`
//! ([`check::run`]) recomputes them from the ledger and reports any drift.
//!
//! Every stock write starts with [`ledger::Writer::begin`], which takes the global write lock
//! (`docstore::begin_write`, the `change_seq` row) and so gets the transaction's change sequence
//! number. That number stamps catalog rows and balances, so phones receive the catalog and their
//! van's stock as deltas ("changed after seq N", [`reference::reference_for_device`]). The lock
//! also serialises stock writers, and on top of it every decrement that must not go below zero
//! is a conditional update checked by its row count (`... WHERE qty - reserved >= n`): a
//! warehouse can never issue stock it does not have, whatever the concurrency.
//!
//! Consumption synced from phones is posted by [`consumption::post_consumption`], called by the
//! sync endpoint in the transaction that stores the merged document: each line exactly once
//! (keyed by its id in `posted_lines`), never refused (a van going negative, an unknown part or
//! a serial that is not in the van opens a discrepancy instead).
//!
//! See `docs/inventory.md` for the model, the movement kinds and the API.

pub mod catalog;
pub mod check;
pub mod consumption;
pub mod demo;
pub mod discrepancies;
pub mod events;
pub mod imports;
pub mod ledger;
pub mod locations;
pub mod operations;
pub mod reference;
pub mod reports;
pub mod requests;
pub mod reservations;
pub mod serials;
pub mod usage;

pub use consumption::{OrderParts, post, post_consumption};
pub use events::InventoryEvent;
pub use reference::reference_for_device;

use crate::error::AppError;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sync_core::{Role, UserId};
use utoipa::ToSchema;

/// Everything an inventory operation can refuse, each with a stable code (see `docs/api.md`).
#[derive(Debug, thiserror::Error)]
pub enum InvError {
    /// The database, a document: an outage or a bug, never the caller's input.
    #[error(transparent)]
    Store(#[from] crate::Error),
    #[error("unknown part {0:?}")]
    UnknownSku(String),
    #[error("{0}")]
    InvalidQuantity(String),
    #[error("{sku} is counted in {unit}, not {given}")]
    WrongUnit {
        sku: String,
        unit: String,
        given: String,
    },
    #[error(
        "not enough stock of {sku} at {location}: {available} available, {requested} requested"
    )]
    InsufficientStock {
        sku: String,
        location: String,
        available: i64,
        requested: i64,
    },
    #[error("serial {serial} of {sku} is not in {location}")]
    SerialNotInLocation {
        sku: String,
        serial: String,
        location: String,
    },
    #[error("serial {serial} of {sku} is already in stock at {location}")]
    SerialInStock {
        sku: String,
        serial: String,
        location: String,
    },
    /// Serial numbers missing, duplicated, or given for a part that has none.
    #[error("{0}")]
    Serials(String),
    #[error("unknown location {0:?}")]
    UnknownLocation(String),
    /// A location of the wrong kind for this movement (an issue from a van, ...).
    #[error("{0}")]
    WrongLocation(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    AlreadyDecided(String),
    /// The part has stock somewhere: it cannot be withdrawn or change its unit.
    #[error("{0}")]
    StockOnHand(String),
    #[error("{0}")]
    Csv(String),
}

/// `Result` with [`InvError`].
pub type Result<T, E = InvError> = std::result::Result<T, E>;

impl InvError {
    /// The stable code of the JSON error answer.
    pub fn code(&self) -> &'static str {
        match self {
            InvError::Store(_) => "internal",
            InvError::UnknownSku(_) => "unknown_sku",
            InvError::InvalidQuantity(_) => "invalid_quantity",
            InvError::WrongUnit { .. } => "wrong_unit",
            InvError::InsufficientStock { .. } => "insufficient_stock",
            InvError::SerialNotInLocation { .. } => "serial_not_in_location",
            InvError::SerialInStock { .. } => "serial_in_stock",
            InvError::Serials(_) => "invalid_serials",
            InvError::UnknownLocation(_) => "unknown_location",
            InvError::WrongLocation(_) => "invalid_location",
            InvError::Invalid(_) => "invalid_input",
            InvError::NotFound(_) => "not_found",
            InvError::Conflict(_) => "conflict",
            InvError::AlreadyDecided(_) => "already_decided",
            InvError::StockOnHand(_) => "stock_on_hand",
            InvError::Csv(_) => "csv_invalid",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            InvError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            InvError::NotFound(_) => StatusCode::NOT_FOUND,
            InvError::InsufficientStock { .. }
            | InvError::SerialInStock { .. }
            | InvError::Conflict(_)
            | InvError::AlreadyDecided(_)
            | InvError::StockOnHand(_) => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

impl From<sqlx::Error> for InvError {
    fn from(e: sqlx::Error) -> Self {
        InvError::Store(e.into())
    }
}

impl From<sync_core::Error> for InvError {
    fn from(e: sync_core::Error) -> Self {
        InvError::Store(e.into())
    }
}

impl From<InvError> for crate::Error {
    fn from(e: InvError) -> Self {
        match e {
            InvError::Store(e) => e,
            InvError::NotFound(what) => crate::Error::NotFound(what),
            InvError::Conflict(m) => crate::Error::Conflict(m),
            other => crate::Error::Invalid(other.to_string()),
        }
    }
}

impl From<InvError> for AppError {
    fn from(e: InvError) -> Self {
        match e {
            InvError::Store(e) => e.into(),
            InvError::NotFound(what) => AppError::NotFound(what),
            InvError::Conflict(m) => AppError::Conflict(m),
            InvError::Invalid(m) => AppError::Invalid(m),
            other => AppError::Json {
                status: other.status(),
                code: other.code(),
                message: other.to_string(),
            },
        }
    }
}

/// What a movement does, as stored in `stock_movements.kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// From a supplier into a warehouse.
    Receive,
    /// Warehouse to a van.
    Issue,
    /// Between two stock locations.
    Transfer,
    /// Used at a work order, from the engineer's van (synced from the phone).
    Consume,
    /// The reverse of a consumption line voided on the phone.
    ConsumeReversal,
    /// The faulty part a serial-tracked part replaced: into the van as defective.
    Removal,
    /// Van to a warehouse, good stock.
    ReturnGood,
    /// Van to quarantine, defective.
    ReturnDefective,
    /// Out to the supplier (warranty, RMA), usually from quarantine.
    ReturnSupplier,
    /// A stock count or a write-off, with a reason.
    Adjust,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Receive,
        Kind::Issue,
        Kind::Transfer,
        Kind::Consume,
        Kind::ConsumeReversal,
        Kind::Removal,
        Kind::ReturnGood,
        Kind::ReturnDefective,
        Kind::ReturnSupplier,
        Kind::Adjust,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Receive => "receive",
            Kind::Issue => "issue",
            Kind::Transfer => "transfer",
            Kind::Consume => "consume",
            Kind::ConsumeReversal => "consume_reversal",
            Kind::Removal => "removal",
            Kind::ReturnGood => "return_good",
            Kind::ReturnDefective => "return_defective",
            Kind::ReturnSupplier => "return_supplier",
            Kind::Adjust => "adjust",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Which bucket of a balance a movement takes from or adds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Good,
    Defective,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Good => "good",
            Condition::Defective => "defective",
        }
    }

    pub fn parse(s: &str) -> Option<Condition> {
        match s {
            "good" => Some(Condition::Good),
            "defective" => Some(Condition::Defective),
            _ => None,
        }
    }
}

/// Who makes a stock change: a user with their role, or the system (sync posting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user: Option<UserId>,
    pub role: Role,
}

impl Actor {
    pub fn user(user: UserId, role: Role) -> Actor {
        Actor {
            user: Some(user),
            role,
        }
    }

    pub fn system() -> Actor {
        Actor {
            user: None,
            role: Role::System,
        }
    }
}

/// Units of measure and how many minor units make one: quantities are stored as integers in
/// the minor unit (millimetres of cable, millilitres of refrigerant oil, grams of gas).
pub const UNITS: [(&str, i64); 8] = [
    ("pcs", 1),
    ("pair", 1),
    ("set", 1),
    ("box", 1),
    ("roll", 1),
    ("m", 1000),
    ("l", 1000),
    ("kg", 1000),
];

/// Minor units per unit, for a known unit.
pub fn minor_per_unit(unit: &str) -> Option<i64> {
    UNITS.iter().find(|(u, _)| *u == unit).map(|(_, n)| *n)
}

/// Longest SKU, serial number or location code.
pub const MAX_CODE_LEN: usize = sync_core::rules::consumption::MAX_CODE_LEN;

/// A SKU as stored: trimmed, 1-64 characters of `A-Z a-z 0-9 . _ - / +` (`CU-3/8IN`; in a
/// URL path a slash is written `%2F`).
pub fn check_sku(sku: &str) -> Result<String> {
    let s = sku.trim();
    let ok = !s.is_empty()
        && s.len() <= MAX_CODE_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | '+'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(InvError::Invalid(format!(
            "a SKU is 1-{MAX_CODE_LEN} characters of letters, digits and . _ - / +"
        )))
    }
}

/// A serial number as stored: trimmed, 1-64 characters, no control characters.
pub fn check_serial(serial: &str) -> Result<String> {
    let s = serial.trim();
    if s.is_empty() || s.len() > MAX_CODE_LEN || s.chars().any(char::is_control) {
        return Err(InvError::Serials(format!(
            "a serial number is 1-{MAX_CODE_LEN} printable characters"
        )));
    }
    Ok(s.to_owned())
}

/// A quantity of a movement: a whole number of minor units, greater than zero.
pub fn check_qty(qty: i64) -> Result<i64> {
    if qty > 0 {
        Ok(qty)
    } else {
        Err(InvError::InvalidQuantity(format!(
            "quantity must be greater than zero (got {qty})"
        )))
    }
}

fn bool_of(v: i64) -> bool {
    v != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_text() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::String(k.as_str().into())
            );
        }
        assert_eq!(Kind::parse("steal"), None);
    }

    #[test]
    fn skus_serials_and_quantities_are_checked() {
        assert_eq!(check_sku("  CAP-35UF ").unwrap(), "CAP-35UF");
        assert_eq!(check_sku("CU-3/8IN").unwrap(), "CU-3/8IN");
        for bad in ["", " ", "A B", "A,B", &"X".repeat(65), "电容"] {
            assert!(check_sku(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_serial(" SN 1 ").unwrap(), "SN 1");
        assert!(check_serial("a\nb").is_err());
        assert!(check_qty(0).is_err() && check_qty(-3).is_err());
        assert_eq!(check_qty(7).unwrap(), 7);
        assert_eq!(minor_per_unit("m"), Some(1000));
        assert_eq!(minor_per_unit("furlong"), None);
    }

    #[test]
    fn errors_carry_stable_codes_and_statuses() {
        let e = InvError::InsufficientStock {
            sku: "X".into(),
            location: "WH".into(),
            available: 1,
            requested: 2,
        };
        assert_eq!(e.code(), "insufficient_stock");
        assert_eq!(e.status(), StatusCode::CONFLICT);
        let app: AppError = InvError::UnknownSku("Q".into()).into();
        assert_eq!(app.code(), "unknown_sku");
        assert_eq!(app.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
