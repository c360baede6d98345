//! What warehouse staff do, each in one transaction: receive from a supplier, issue to a van,
//! transfer, take returns (good to stock, defective to quarantine), send defective stock back
//! to the supplier, and adjust after a count. Every line is checked before anything is written
//! (unknown part, quantity not > 0, wrong unit, serial numbers), and every decrement is checked
//! against the stock there: one bad line or one short balance and nothing is posted.

use super::catalog::{self, Part};
use super::ledger::{Balance, Movement, Posted, Refs, Writer};
use super::locations::{self, Location, LocationKind};
use super::requests::issue_serials;
use super::{Condition, InvError, Kind, Result, check_serial};
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyConnection, Transaction};
use sync_core::{OrgId, UserId};
use utoipa::ToSchema;

/// Most lines in one operation.
pub const MAX_LINES: usize = 1000;

/// One line of an operation.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct LineIn {
    pub sku: String,
    /// In the part's minor unit (1/1000 for m, l, kg), > 0.
    pub qty: i64,
    /// If given, must be the part's unit (a guard against a mix-up of metres and pieces).
    #[serde(default)]
    pub unit: Option<String>,
    /// Serial-tracked parts: one serial number per unit.
    #[serde(default)]
    pub serials: Vec<String>,
}

/// Receive stock from a supplier into a warehouse.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    /// A warehouse (id or code); default: the only warehouse.
    #[serde(default)]
    pub location: Option<String>,
    pub supplier: String,
    /// Delivery note or purchase order.
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub note: String,
    pub lines: Vec<LineIn>,
}

/// Issue stock from a warehouse to a van.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Issue {
    /// A warehouse (id or code); default: the only warehouse.
    #[serde(default)]
    pub from: Option<String>,
    /// The van (id or code); or give `engineer_id`.
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub engineer_id: Option<String>,
    /// Issue against this work order's reservations first.
    #[serde(default)]
    pub work_order_id: Option<String>,
    #[serde(default)]
    pub note: String,
    pub lines: Vec<LineIn>,
}

/// Move good stock between two locations (not quarantine).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Transfer {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub note: String,
    pub lines: Vec<LineIn>,
}

/// Take parts back from a van: good ones to a warehouse, defective ones to quarantine.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Return {
    /// The van (id or code); or give `engineer_id`.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub engineer_id: Option<String>,
    /// good or defective.
    pub condition: Condition,
    /// Default: the only warehouse (good), or the quarantine (defective).
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub work_order_id: Option<String>,
    #[serde(default)]
    pub note: String,
    pub lines: Vec<LineIn>,
}

/// Send stock back to the supplier (warranty, RMA): defective units from quarantine, or good
/// stock from a warehouse.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct SupplierReturn {
    /// Default: the quarantine location.
    #[serde(default)]
    pub from: Option<String>,
    pub supplier: String,
    /// The supplier's RMA number.
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub note: String,
    pub lines: Vec<LineIn>,
}

/// A stock count or a write-off at one location.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Adjustment {
    pub location: String,
    /// Why (required): "cycle count", "damaged in store", ...
    pub reason: String,
    #[serde(default)]
    pub note: String,
    pub lines: Vec<AdjustLine>,
}

/// One counted part: give `counted` (the quantity found) or `delta` (found minus recorded).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct AdjustLine {
    pub sku: String,
    #[serde(default)]
    pub counted: Option<i64>,
    #[serde(default)]
    pub delta: Option<i64>,
    #[serde(default)]
    pub unit: Option<String>,
    /// good (default) or defective units.
    #[serde(default)]
    pub condition: Option<Condition>,
    /// Serial-tracked parts: the serial numbers found (delta > 0) or missing (delta < 0).
    #[serde(default)]
    pub serials: Vec<String>,
}

/// What an operation posted.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Outcome {
    pub movement_ids: Vec<i64>,
    /// The balances it changed, after it.
    pub balances: Vec<BalanceAfter>,
    /// Engineers whose van changed (their phones are told).
    #[serde(skip)]
    pub engineers: Vec<UserId>,
}

/// A balance after an operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BalanceAfter {
    pub location_id: String,
    pub location_code: String,
    pub sku: String,
    pub qty: i64,
    pub defective: i64,
    pub reserved: i64,
    pub available: i64,
}

impl Outcome {
    fn record(&mut self, posted: &Posted, m: &Movement<'_>) {
        self.movement_ids.push(posted.id);
        for (side, balance) in [(m.from, posted.from_balance), (m.to, posted.to_balance)] {
            let (Some((loc, _)), Some(b)) = (side, balance) else {
                continue;
            };
            self.note_balance(loc, &m.part.sku, b);
        }
    }

    fn note_balance(&mut self, loc: &Location, sku: &str, b: Balance) {
        if loc.kind == LocationKind::Van
            && let Some(e) = loc.engineer_id.as_deref().and_then(|e| e.parse().ok())
            && !self.engineers.contains(&e)
        {
            self.engineers.push(e);
        }
        let after = BalanceAfter {
            location_id: loc.id.clone(),
            location_code: loc.code.clone(),
            sku: sku.to_owned(),
            qty: b.qty,
            defective: b.defective,
            reserved: b.reserved,
            available: b.available(),
        };
        match self
            .balances
            .iter_mut()
            .find(|x| x.location_id == loc.id && x.sku == sku)
        {
            Some(x) => *x = after,
            None => self.balances.push(after),
        }
    }
}

/// Commit an operation's transaction and tell the phones of the vans it changed.
pub async fn commit(
    state: &AppState,
    mut tx: Transaction<'static, Any>,
    org: OrgId,
    out: &Outcome,
) -> crate::Result<()> {
    crate::sync::feed::notify_in_tx(&mut tx, state.db.backend(), org, &out.engineers).await?;
    tx.commit().await?;
    state.docs.feed().notify_local(org, &out.engineers);
    Ok(())
}

/// A checked line: its part and how it splits into movements (one per serial number).
struct Line {
    part: Part,
    qty: i64,
    units: Vec<(i64, Option<String>)>,
}

fn check_lines<T>(lines: &[T]) -> Result<()> {
    if lines.is_empty() {
        return Err(InvError::Invalid("give at least one line".into()));
    }
    if lines.len() > MAX_LINES {
        return Err(InvError::Invalid(format!(
            "at most {MAX_LINES} lines per operation"
        )));
    }
    Ok(())
}

fn check_unit(part: &Part, unit: Option<&str>) -> Result<()> {
    match unit.map(str::trim) {
        Some(u) if !u.is_empty() && u != part.unit => Err(InvError::WrongUnit {
            sku: part.sku.clone(),
            unit: part.unit.clone(),
            given: u.to_owned(),
        }),
        _ => Ok(()),
    }
}

async fn line(tx: &mut AnyConnection, org: OrgId, l: &LineIn) -> Result<Line> {
    let part = catalog::require(tx, org, &l.sku).await?;
    let qty = super::check_qty(l.qty)?;
    check_unit(&part, l.unit.as_deref())?;
    let units = issue_serials(&part, qty, &l.serials)?;
    Ok(Line { part, qty, units })
}

fn text(s: &str, what: &str, max: usize) -> Result<String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > max {
        return Err(InvError::Invalid(format!("{what} is 1-{max} characters")));
    }
    Ok(s.to_owned())
}

fn opt_text(s: Option<&str>, what: &str) -> Result<Option<String>> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => text(s, what, 200).map(Some),
    }
}

fn require_kind(loc: &Location, kinds: &[LocationKind], role: &str) -> Result<()> {
    if kinds.contains(&loc.kind) {
        Ok(())
    } else {
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        Err(InvError::WrongLocation(format!(
            "{} is a {}; the {role} must be a {}",
            loc.code,
            loc.kind.as_str(),
            names.join(" or ")
        )))
    }
}

async fn location_or_only(
    tx: &mut AnyConnection,
    org: OrgId,
    given: Option<&str>,
    kind: LocationKind,
    what: &str,
) -> Result<Location> {
    match given.filter(|s| !s.trim().is_empty()) {
        Some(l) => locations::resolve(tx, org, l).await,
        None => locations::the_only(tx, org, kind, what).await,
    }
}

/// A van given by location or by engineer (created if the engineer has none yet).
async fn van(
    tx: &mut AnyConnection,
    org: OrgId,
    location: Option<&str>,
    engineer: Option<&str>,
    role: &str,
) -> Result<Location> {
    let loc = match (location.filter(|s| !s.trim().is_empty()), engineer) {
        (Some(l), _) => locations::resolve(tx, org, l).await?,
        (None, Some(e)) => {
            let user: UserId = e
                .parse()
                .map_err(|_| InvError::Invalid("engineer_id is not a valid id".into()))?;
            if !crate::accounts::is_engineer(tx, org, user).await? {
                return Err(InvError::Invalid("no such engineer".into()));
            }
            locations::ensure_van(tx, org, user)
                .await?
                .ok_or_else(|| InvError::Invalid("no such engineer".into()))?
        }
        (None, None) => {
            return Err(InvError::Invalid(format!(
                "say which van: give the {role} location or engineer_id"
            )));
        }
    };
    require_kind(&loc, &[LocationKind::Van], role)?;
    Ok(loc)
}

async fn post(
    tx: &mut AnyConnection,
    w: &mut Writer,
    out: &mut Outcome,
    m: Movement<'_>,
) -> Result<()> {
    let posted = w.post(tx, &m).await?;
    out.record(&posted, &m);
    Ok(())
}

/// Receive from a supplier.
pub async fn receive(tx: &mut AnyConnection, w: &mut Writer, r: &Receipt) -> Result<Outcome> {
    check_lines(&r.lines)?;
    let supplier = text(&r.supplier, "supplier", 200)?;
    let reference = opt_text(r.reference.as_deref(), "reference")?;
    let to = location_or_only(
        tx,
        w.org,
        r.location.as_deref(),
        LocationKind::Warehouse,
        "location",
    )
    .await?;
    require_kind(&to, &[LocationKind::Warehouse], "receiving location")?;
    let mut lines = Vec::with_capacity(r.lines.len());
    for l in &r.lines {
        lines.push(line(tx, w.org, l).await?);
    }
    let mut out = Outcome::default();
    for l in &lines {
        for (qty, serial) in &l.units {
            let m = Movement {
                kind: Kind::Receive,
                part: &l.part,
                qty: *qty,
                from: None,
                to: Some((&to, Condition::Good)),
                serial: serial.clone(),
                checked: true,
                refs: Refs {
                    supplier: Some(supplier.clone()),
                    reference: reference.clone(),
                    note: r.note.trim().to_owned(),
                    ..Refs::default()
                },
            };
            post(tx, w, &mut out, m).await?;
        }
    }
    Ok(out)
}

/// Issue from a warehouse to a van (against the work order's reservations first).
pub async fn issue(tx: &mut AnyConnection, w: &mut Writer, r: &Issue) -> Result<Outcome> {
    check_lines(&r.lines)?;
    let from = location_or_only(
        tx,
        w.org,
        r.from.as_deref(),
        LocationKind::Warehouse,
        "from",
    )
    .await?;
    require_kind(&from, &[LocationKind::Warehouse], "source")?;
    let to = van(
        tx,
        w.org,
        r.to.as_deref(),
        r.engineer_id.as_deref(),
        "destination",
    )
    .await?;
    let order = match r.work_order_id.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(o) => {
            let id: sync_core::DocId = o
                .parse()
                .map_err(|_| InvError::Invalid("work_order_id is not a valid id".into()))?;
            if !crate::docstore::exists(tx, w.org, id).await? {
                return Err(InvError::Invalid("no such work order".into()));
            }
            Some(id.to_string())
        }
    };
    let mut lines = Vec::with_capacity(r.lines.len());
    for l in &r.lines {
        lines.push(line(tx, w.org, l).await?);
    }
    let mut out = Outcome::default();
    for l in &lines {
        let reservation = match &order {
            Some(o) => {
                super::reservations::take_for_issue(tx, w, o, &from.id, &l.part.sku, l.qty)
                    .await?
                    .1
            }
            None => None,
        };
        for (qty, serial) in &l.units {
            let m = Movement {
                kind: Kind::Issue,
                part: &l.part,
                qty: *qty,
                from: Some((&from, Condition::Good)),
                to: Some((&to, Condition::Good)),
                serial: serial.clone(),
                checked: true,
                refs: Refs {
                    work_order_id: order.clone(),
                    engineer_id: to.engineer_id.clone(),
                    reservation_id: reservation.clone(),
                    note: r.note.trim().to_owned(),
                    ..Refs::default()
                },
            };
            post(tx, w, &mut out, m).await?;
        }
    }
    Ok(out)
}

/// Transfer good stock between two locations.
pub async fn transfer(tx: &mut AnyConnection, w: &mut Writer, r: &Transfer) -> Result<Outcome> {
    check_lines(&r.lines)?;
    let from = locations::resolve(tx, w.org, &r.from).await?;
    let to = locations::resolve(tx, w.org, &r.to).await?;
    let stock = [LocationKind::Warehouse, LocationKind::Van];
    require_kind(&from, &stock, "source")?;
    require_kind(&to, &stock, "destination")?;
    let mut lines = Vec::with_capacity(r.lines.len());
    for l in &r.lines {
        lines.push(line(tx, w.org, l).await?);
    }
    let mut out = Outcome::default();
    for l in &lines {
        for (qty, serial) in &l.units {
            let m = Movement {
                kind: Kind::Transfer,
                part: &l.part,
                qty: *qty,
                from: Some((&from, Condition::Good)),
                to: Some((&to, Condition::Good)),
                serial: serial.clone(),
                checked: true,
                refs: Refs {
                    note: r.note.trim().to_owned(),
                    ..Refs::default()
                },
            };
            post(tx, w, &mut out, m).await?;
        }
    }
    Ok(out)
}

/// Take a return from a van. Defective serial-tracked units are taken from wherever they are
/// in the van (a removed part, or a new one found faulty); other defective lines take the
/// van's defective units first, then good stock.
pub async fn take_return(tx: &mut AnyConnection, w: &mut Writer, r: &Return) -> Result<Outcome> {
    check_lines(&r.lines)?;
    let from = van(
        tx,
        w.org,
        r.from.as_deref(),
        r.engineer_id.as_deref(),
        "source",
    )
    .await?;
    let (kind, to) = match r.condition {
        Condition::Good => {
            let to =
                location_or_only(tx, w.org, r.to.as_deref(), LocationKind::Warehouse, "to").await?;
            require_kind(&to, &[LocationKind::Warehouse], "destination")?;
            (Kind::ReturnGood, to)
        }
        Condition::Defective => {
            let to = match r.to.as_deref().filter(|s| !s.trim().is_empty()) {
                Some(l) => locations::resolve(tx, w.org, l).await?,
                None => locations::ensure_quarantine(tx, w.org).await?,
            };
            require_kind(&to, &[LocationKind::Quarantine], "destination")?;
            (Kind::ReturnDefective, to)
        }
    };
    let mut lines = Vec::with_capacity(r.lines.len());
    for l in &r.lines {
        lines.push(line(tx, w.org, l).await?);
    }
    let refs = Refs {
        work_order_id: r.work_order_id.clone().filter(|s| !s.is_empty()),
        engineer_id: from.engineer_id.clone(),
        note: r.note.trim().to_owned(),
        ..Refs::default()
    };
    let mut out = Outcome::default();
    for l in &lines {
        let mut units: Vec<(i64, Option<String>, Condition)> = Vec::new();
        if r.condition == Condition::Good {
            units.extend(
                l.units
                    .iter()
                    .map(|(q, s)| (*q, s.clone(), Condition::Good)),
            );
        } else if l.part.serial_tracked {
            for (q, s) in &l.units {
                let serial = s.clone().unwrap_or_default();
                let state: Option<(String, Option<String>)> = sqlx::query_as(
                    "SELECT state, location_id FROM serials WHERE org_id = $1 AND sku = $2 \
                     AND serial = $3",
                )
                .bind(w.org.to_string())
                .bind(&l.part.sku)
                .bind(&serial)
                .fetch_optional(&mut *tx)
                .await?;
                let cond = match state {
                    Some((st, Some(loc))) if loc == from.id && st == "defective" => {
                        Condition::Defective
                    }
                    Some((st, Some(loc))) if loc == from.id && st == "in_stock" => Condition::Good,
                    _ => {
                        return Err(InvError::SerialNotInLocation {
                            sku: l.part.sku.clone(),
                            serial,
                            location: from.code.clone(),
                        });
                    }
                };
                units.push((*q, s.clone(), cond));
            }
        } else {
            let held = super::ledger::balance(tx, w.org, &from.id, &l.part.sku)
                .await?
                .defective
                .max(0);
            let defective = held.min(l.qty);
            if defective > 0 {
                units.push((defective, None, Condition::Defective));
            }
            if l.qty > defective {
                units.push((l.qty - defective, None, Condition::Good));
            }
        }
        for (qty, serial, cond) in units {
            let m = Movement {
                kind,
                part: &l.part,
                qty,
                from: Some((&from, cond)),
                to: Some((&to, r.condition)),
                serial,
                checked: true,
                refs: refs.clone(),
            };
            post(tx, w, &mut out, m).await?;
        }
    }
    Ok(out)
}

/// Send stock back to the supplier.
pub async fn supplier_return(
    tx: &mut AnyConnection,
    w: &mut Writer,
    r: &SupplierReturn,
) -> Result<Outcome> {
    check_lines(&r.lines)?;
    let supplier = text(&r.supplier, "supplier", 200)?;
    let reference = opt_text(r.reference.as_deref(), "reference")?;
    let from = location_or_only(
        tx,
        w.org,
        r.from.as_deref(),
        LocationKind::Quarantine,
        "from",
    )
    .await?;
    let cond = match from.kind {
        LocationKind::Quarantine => Condition::Defective,
        LocationKind::Warehouse => Condition::Good,
        LocationKind::Van => {
            return Err(InvError::WrongLocation(format!(
                "{} is a van: take a return into a warehouse or quarantine first",
                from.code
            )));
        }
    };
    let mut lines = Vec::with_capacity(r.lines.len());
    for l in &r.lines {
        lines.push(line(tx, w.org, l).await?);
    }
    let mut out = Outcome::default();
    for l in &lines {
        for (qty, serial) in &l.units {
            let m = Movement {
                kind: Kind::ReturnSupplier,
                part: &l.part,
                qty: *qty,
                from: Some((&from, cond)),
                to: None,
                serial: serial.clone(),
                checked: true,
                refs: Refs {
                    supplier: Some(supplier.clone()),
                    reference: reference.clone(),
                    note: r.note.trim().to_owned(),
                    ..Refs::default()
                },
            };
            post(tx, w, &mut out, m).await?;
        }
    }
    Ok(out)
}

/// Adjust stock after a count (or write stock off), with a reason.
pub async fn adjust(tx: &mut AnyConnection, w: &mut Writer, r: &Adjustment) -> Result<Outcome> {
    check_lines(&r.lines)?;
    let reason = text(&r.reason, "reason", 500)?;
    let loc = locations::resolve(tx, w.org, &r.location).await?;
    // Check every line first: nothing is posted if one is wrong.
    let mut planned: Vec<(Part, Condition, i64, Vec<String>)> = Vec::new();
    for l in &r.lines {
        let part = catalog::require(tx, w.org, &l.sku).await?;
        check_unit(&part, l.unit.as_deref())?;
        let cond = l.condition.unwrap_or(Condition::Good);
        let delta = match (l.counted, l.delta) {
            (Some(c), None) => {
                if c < 0 {
                    return Err(InvError::InvalidQuantity(format!(
                        "a count cannot be negative (got {c})"
                    )));
                }
                if part.serial_tracked {
                    return Err(InvError::Serials(format!(
                        "{} is serial-tracked: adjust it with delta and the serial numbers \
                         found or missing",
                        part.sku
                    )));
                }
                let b = super::ledger::balance(tx, w.org, &loc.id, &part.sku).await?;
                c - match cond {
                    Condition::Good => b.qty,
                    Condition::Defective => b.defective,
                }
            }
            (None, Some(d)) => {
                if d == 0 {
                    return Err(InvError::InvalidQuantity(
                        "an adjustment's delta cannot be zero".into(),
                    ));
                }
                d
            }
            _ => {
                return Err(InvError::Invalid(format!(
                    "{}: give either counted or delta",
                    part.sku
                )));
            }
        };
        let serials: Vec<String> = l
            .serials
            .iter()
            .map(|s| check_serial(s))
            .collect::<Result<_>>()?;
        match (part.serial_tracked, serials.len() as i64) {
            (false, 0) => {}
            (false, _) => {
                return Err(InvError::Serials(format!(
                    "{} has no serial numbers",
                    part.sku
                )));
            }
            (true, n) if n != delta.abs() => {
                return Err(InvError::Serials(format!(
                    "{} is serial-tracked: give {} serial number(s), one per unit",
                    part.sku,
                    delta.abs()
                )));
            }
            _ => {}
        }
        planned.push((part, cond, delta, serials));
    }
    let mut out = Outcome::default();
    for (part, cond, delta, serials) in &planned {
        if *delta == 0 {
            continue; // the count matches the records
        }
        let units: Vec<(i64, Option<String>)> = if serials.is_empty() {
            vec![(delta.abs(), None)]
        } else {
            serials.iter().map(|s| (1, Some(s.clone()))).collect()
        };
        for (qty, serial) in units {
            let side = Some((&loc, *cond));
            let m = Movement {
                kind: Kind::Adjust,
                part,
                qty,
                from: if *delta < 0 { side } else { None },
                to: if *delta > 0 { side } else { None },
                serial,
                checked: true,
                refs: Refs {
                    engineer_id: loc.engineer_id.clone(),
                    reason: Some(reason.clone()),
                    note: r.note.trim().to_owned(),
                    ..Refs::default()
                },
            };
            post(tx, w, &mut out, m).await?;
        }
    }
    Ok(out)
}
