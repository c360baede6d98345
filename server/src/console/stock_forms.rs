//! The warehouse's forms: receive, issue, transfer, return (good or defective) and adjust. Each
//! form posts up to [`LINES`] part lines (with serial numbers, for serial-tracked parts); the
//! handler builds the API's request body from them and calls the API's handler, so every check
//! (stock on hand, reservations, serials, units) is the ledger's, and the lines post together
//! or not at all.

use super::layout;
use super::session::Ctx;
use super::stock::{location_select, locations};
use crate::error::{AppError, Json};
use crate::routes::inventory::Stockkeeper;
use crate::routes::inventory::stock as api;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

/// Part lines per form.
pub const LINES: usize = 3;

fn line_fields(ctx: &Ctx, kind: &str) -> Markup {
    html! {
        @for i in 0..LINES {
            fieldset.line {
                legend { (ctx.t("ops.line")) " " (i + 1) }
                label for={(kind) "-sku" (i)} { (ctx.t("stock.sku")) }
                input id={(kind) "-sku" (i)} name={"sku" (i)} type="text" required[i == 0];
                label for={(kind) "-qty" (i)} { (ctx.t("stock.qty")) }
                input id={(kind) "-qty" (i)} name={"qty" (i)} type="number" step="1" required[i == 0];
                label for={(kind) "-serials" (i)} { (ctx.t("ops.serials")) }
                input id={(kind) "-serials" (i)} name={"serials" (i)} type="text" placeholder="SN-1, SN-2";
            }
        }
        label for={(kind) "-note"} { (ctx.t("order.note")) }
        input id={(kind) "-note"} name="note" type="text";
    }
}

/// `GET /console/operations`
pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    who: Stockkeeper,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let locs = locations(&state, &who).await?;
    let warehouses: Vec<_> = locs
        .iter()
        .filter(|l| l.kind.as_str() == "warehouse")
        .cloned()
        .collect();
    let vans: Vec<_> = locs
        .iter()
        .filter(|l| l.kind.as_str() == "van")
        .cloned()
        .collect();
    let form = |kind: &str, inner: Markup| {
        html! {
            section.op {
                h2 { (ctx.t(&format!("ops.{kind}"))) }
                form.stacked method="post" action={"/console/operations/" (kind)} {
                    (layout::csrf(&ctx))
                    (inner)
                    (line_fields(&ctx, kind))
                    button type="submit" { (ctx.t(&format!("ops.{kind}"))) }
                }
            }
        }
    };
    let body = html! {
        h1 { (ctx.t("ops.title")) }
        (layout::flash(&ctx, q.done.as_deref()))
        div.ops {
            (form("receive", html! {
                (location_select(&ctx, "location", "receive-location", ctx.t("ops.into"), &warehouses, None, false))
                label for="receive-supplier" { (ctx.t("ops.supplier")) }
                input #receive-supplier name="supplier" type="text" required;
                label for="receive-reference" { (ctx.t("ops.reference")) }
                input #receive-reference name="reference" type="text";
            }))
            (form("issue", html! {
                (location_select(&ctx, "from", "issue-from", ctx.t("movement.from"), &warehouses, None, false))
                (location_select(&ctx, "to", "issue-to", ctx.t("movement.to"), &vans, None, false))
            }))
            (form("transfer", html! {
                (location_select(&ctx, "from", "transfer-from", ctx.t("movement.from"), &locs, None, false))
                (location_select(&ctx, "to", "transfer-to", ctx.t("movement.to"), &locs, None, false))
            }))
            (form("return", html! {
                (location_select(&ctx, "from", "return-from", ctx.t("movement.from"), &vans, None, false))
                label for="return-condition" { (ctx.t("ops.condition")) }
                select #return-condition name="condition" {
                    option value="good" { (ctx.t("ops.good")) }
                    option value="defective" { (ctx.t("ops.defective")) }
                }
            }))
            (form("adjust", html! {
                (location_select(&ctx, "location", "adjust-location", ctx.t("stock.location"), &locs, None, false))
                label for="adjust-mode" { (ctx.t("ops.adjust_mode")) }
                select #adjust-mode name="mode" {
                    option value="counted" { (ctx.t("ops.counted")) }
                    option value="delta" { (ctx.t("ops.delta")) }
                }
                label for="adjust-reason" { (ctx.t("ops.reason")) }
                input #adjust-reason name="reason" type="text" required;
            }))
        }
    };
    Ok(layout::page(&ctx, ctx.t("ops.title"), "operations", body).into_response())
}

fn field<'a>(f: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    f.get(k).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// The request body of the API's operation `kind`, from a console form.
fn body_of(kind: &str, f: &HashMap<String, String>) -> Result<Value, AppError> {
    let mode = if field(f, "mode") == Some("delta") {
        "delta"
    } else {
        "counted"
    };
    let mut lines = Vec::new();
    for i in 0..LINES {
        let Some(sku) = field(f, &format!("sku{i}")) else {
            continue;
        };
        let qty: i64 = field(f, &format!("qty{i}"))
            .and_then(|q| q.parse().ok())
            .ok_or_else(|| {
                AppError::Invalid(format!("line {}: the quantity is not a number", i + 1))
            })?;
        let serials: Vec<&str> = field(f, &format!("serials{i}"))
            .map(|s| {
                s.split([',', ' ', '\n'])
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let qty_key = if kind == "adjust" { mode } else { "qty" };
        lines.push(json!({"sku": sku, qty_key: qty, "serials": serials}));
    }
    if lines.is_empty() {
        return Err(AppError::Invalid("give at least one part line".into()));
    }
    let note = field(f, "note").unwrap_or_default();
    Ok(match kind {
        "receive" => json!({
            "location": field(f, "location"), "supplier": field(f, "supplier").unwrap_or_default(),
            "reference": field(f, "reference"), "note": note, "lines": lines,
        }),
        "issue" | "transfer" => json!({
            "from": field(f, "from"), "to": field(f, "to"), "note": note, "lines": lines,
        }),
        "return" => json!({
            "from": field(f, "from"), "condition": field(f, "condition").unwrap_or("good"),
            "note": note, "lines": lines,
        }),
        "adjust" => json!({
            "location": field(f, "location"), "reason": field(f, "reason").unwrap_or_default(),
            "note": note, "lines": lines,
        }),
        _ => return Err(AppError::NotFound("operation")),
    })
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<Json<T>, AppError> {
    serde_json::from_value(v)
        .map(Json)
        .map_err(|e| AppError::Invalid(e.to_string()))
}

/// `POST /console/operations/{kind}`
pub async fn submit(
    State(state): State<AppState>,
    _ctx: Ctx,
    who: Stockkeeper,
    Path(kind): Path<String>,
    axum::Form(f): axum::Form<HashMap<String, String>>,
) -> Result<Redirect, AppError> {
    let body = body_of(&kind, &f)?;
    let s = State(state);
    match kind.as_str() {
        "receive" => drop(api::receive(s, who, parse(body)?).await?),
        "issue" => drop(api::issue(s, who, parse(body)?).await?),
        "transfer" => drop(api::transfer(s, who, parse(body)?).await?),
        "return" => drop(api::take_return(s, who, parse(body)?).await?),
        "adjust" => drop(api::adjust(s, who, parse(body)?).await?),
        _ => return Err(AppError::NotFound("operation")),
    }
    Ok(Redirect::to(&format!("/console/operations?done=op_{kind}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_become_the_api_bodies() {
        let f: HashMap<String, String> = [
            ("sku0", "CAP-35UF"),
            ("qty0", "3"),
            ("sku2", "BELT-A45"),
            ("qty2", "1"),
            ("sku1", ""),
            ("from", "WH-SH"),
            ("to", "VAN-1"),
            ("serials0", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let issue: crate::inventory::operations::Issue =
            serde_json::from_value(body_of("issue", &f).unwrap()).unwrap();
        assert_eq!(issue.lines.len(), 2);
        assert_eq!(issue.lines[0].qty, 3);
        assert_eq!(issue.lines[1].sku, "BELT-A45");
        assert_eq!(issue.to.as_deref(), Some("VAN-1"));
        let mut f = f;
        f.insert("mode".into(), "delta".into());
        f.insert("location".into(), "WH-SH".into());
        f.insert("reason".into(), "count".into());
        let adj: crate::inventory::operations::Adjustment =
            serde_json::from_value(body_of("adjust", &f).unwrap()).unwrap();
        assert_eq!(adj.lines[0].delta, Some(3));
    }
}
