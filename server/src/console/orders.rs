//! The work-order page: header, actions, flags to resolve, visits (check-in/out with off-site
//! warnings, labour, parts, service report, photos, signature), parts requests and the event
//! timeline. Read through the API's `/document` handler, so visibility is the API's.

use super::fmt;
use super::layout;
use super::session::Ctx;
use crate::auth::Office;
use crate::error::{AppError, Json};
use crate::routes::dispatch;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;
use sync_core::Status;
use sync_core::rules::status::allowed;
use sync_core::workorder::{FormValue, Visit, WorkOrder};

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

/// `GET /console/orders/{id}`
pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    office: Office,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let Json(wo) =
        dispatch::get_work_order_document(State(state.clone()), office.0, Path(id)).await?;
    let names = super::user_names(&state, ctx.caller().org).await;
    let name = |id: &str| {
        names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.chars().take(8).collect())
    };
    let h = &wo.header;
    let now = crate::now_ms();
    let transitions: Vec<&str> = Status::KNOWN
        .iter()
        .filter(|to| allowed(&wo.status, to, ctx.role()) && **to != Status::Assigned)
        .map(|s| s.as_str())
        .collect();
    let body = html! {
        div.page-head {
            h1 { (h.number) " " (layout::status(&ctx, wo.status.as_str())) " " (layout::priority(&ctx, h.priority.as_str())) }
            (layout::risk_badge(&ctx, wo.status.as_str(), h.sla_due_ms, now))
        }
        (layout::flash(&ctx, q.done.as_deref()))
        div.actions {
            a.button href={"/console/orders/" (wo.id) "/edit"} { (ctx.t("order.edit")) }
            a.button href={"/console/orders/" (wo.id) "/assign"} { (ctx.t("board.assign")) }
            @for to in &transitions {
                form method="post" action={"/console/orders/" (wo.id) "/status"} {
                    (layout::csrf(&ctx))
                    input type="hidden" name="status" value=(to);
                    button type="submit" class={"to-" (to)} { (ctx.t(&format!("order.to_{to}"))) }
                }
            }
        }
        dl.header {
            dt { (ctx.t("order.customer")) } dd { (h.customer.name) }
            dt { (ctx.t("order.site")) } dd { (h.site.address) " " span.muted { (format!("({:.4}, {:.4})", h.site.lat, h.site.lon)) } }
            dt { (ctx.t("order.asset")) } dd { (h.asset.model) " · " (ctx.t("order.serial")) " " (h.asset.serial) }
            dt { (ctx.t("order.problem")) } dd { (h.problem) }
            dt { (ctx.t("order.sla")) } dd { @if let Some(d) = h.sla_due_ms { (layout::when(&ctx, d)) } @else { "—" } }
            dt { (ctx.t("order.assignee")) } dd { @if let Some(a) = &wo.dispatch.assignee { (name(&a.to_string())) } @else { (ctx.t("board.unassigned")) } }
            dt { (ctx.t("order.window")) } dd {
                @if let (Some(s), Some(e)) = (wo.dispatch.window_start_ms, wo.dispatch.window_end_ms) {
                    (layout::when(&ctx, s)) " – " (fmt::time(e, &ctx.tz))
                } @else { "—" }
            }
            dt { (ctx.t("order.created")) } dd { (layout::when(&ctx, h.created_at_ms)) }
        }
        (flags(&ctx, &wo, &names))
        @for (i, v) in wo.visits.iter().enumerate() { (visit(&ctx, &wo, i, v, &name)) }
        @if !wo.parts_requests.is_empty() {
            section {
                h2 { (ctx.t("order.parts_requests")) }
                table {
                    thead { tr { th { (ctx.t("stock.sku")) } th { (ctx.t("stock.qty")) } th { (ctx.t("order.note")) } th { (ctx.t("order.by")) } th { (ctx.t("order.decision")) } } }
                    tbody {
                        @for r in &wo.parts_requests {
                            tr {
                                td { (r.sku) } td.num { (fmt::number(r.qty)) } td { (r.note) } td { (name(&r.requested_by.to_string())) }
                                td { @match &r.decision {
                                    None => { span.badge.st-new { (ctx.t("request.pending")) } }
                                    Some(d) => { (fmt::number(d.approved_qty)) " / " (fmt::number(r.qty)) " · " (name(&d.by.to_string())) " " (d.note) }
                                } }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { (ctx.t("order.timeline")) }
            ol.timeline-events {
                @for e in &wo.events {
                    li {
                        (layout::when(&ctx, e.device_time_ms)) " · "
                        strong { (name(&e.user)) } " (" (ctx.t(&format!("role.{}", e.role))) ") · "
                        span.kind title=(e.kind) { (ctx.lang.get(&format!("event.{}", e.kind)).unwrap_or(&e.kind)) }
                        @if !e.detail.is_empty() { ": " (with_names(&e.detail, &names)) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ctx, &h.number, "board", body).into_response())
}

fn flags(ctx: &Ctx, wo: &WorkOrder, names: &HashMap<String, String>) -> Markup {
    if wo.flags.is_empty() {
        return html! {};
    }
    html! {
        section.flags {
            h2 { (ctx.t("order.flags")) }
            ul {
                @for f in &wo.flags {
                    li class=(if f.resolved_by.is_some() { "resolved" } else { "open" }) {
                        span.badge.flag title=(f.kind) { (ctx.lang.get(&format!("flag.{}", f.kind)).unwrap_or(&f.kind)) }
                        " " code { (f.field) } " " (with_names(&f.detail, names))
                        @if f.resolved_by.is_some() {
                            " " span.muted { (ctx.t("order.flag_resolved")) }
                        } @else {
                            form.inline method="post" action={"/console/orders/" (wo.id) "/flags/" (f.id) "/resolve"} {
                                (layout::csrf(ctx))
                                button type="submit" { (ctx.t("order.resolve")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn answer(v: &FormValue) -> String {
    match v {
        FormValue::Text(s) | FormValue::Choice(s) => s.clone(),
        FormValue::Integer(i) => fmt::number(*i),
        FormValue::Number(n) => format!("{n}"),
        FormValue::Bool(b) => if *b { "✓" } else { "✗" }.into(),
    }
}

fn visit(ctx: &Ctx, wo: &WorkOrder, i: usize, v: &Visit, name: &dyn Fn(&str) -> String) -> Markup {
    let checkpoint = |label: &str, c: &Option<sync_core::workorder::CheckPoint>| {
        html! {
            dt { (label) }
            dd {
                @match c {
                    None => { "—" }
                    Some(c) => {
                        (layout::when(ctx, c.at_ms))
                        @if let Some(d) = c.distance_m { " · " (fmt::number(d.round() as i64)) " m" }
                        @if c.off_site { " " span.badge.sla-overdue role="note" { "⚠ " (ctx.t("visit.off_site")) } }
                    }
                }
            }
        }
    };
    let r = &v.report;
    let blob = |hash: &str| format!("/console/orders/{}/blobs/{hash}", wo.id);
    html! {
        section.visit {
            h2 { (ctx.t("visit.title")) " " (i + 1) " · " (name(&v.engineer.to_string())) }
            dl.header {
                (checkpoint(ctx.t("visit.check_in"), &v.check_in))
                (checkpoint(ctx.t("visit.check_out"), &v.check_out))
                dt { (ctx.t("visit.labour")) } dd { (fmt::minutes(ctx.lang, v.labour_minutes())) }
            }
            @let voided: Vec<_> = v.labour.iter().filter_map(|l| l.voids).collect();
            @let labour: Vec<_> = v.labour.iter().filter(|l| l.voids.is_none() && !voided.contains(&l.id)).collect();
            @if !labour.is_empty() {
                h3 { (ctx.t("visit.labour")) }
                table {
                    thead { tr { th { (ctx.t("visit.from")) } th { (ctx.t("visit.until")) } th.num { (ctx.t("visit.minutes")) } th { (ctx.t("order.note")) } } }
                    tbody { @for l in &labour { tr {
                        td { (layout::when(ctx, l.start_ms)) }
                        td { @if let Some(e) = l.end_ms { (fmt::time(e, &ctx.tz)) } @else { "…" } }
                        td.num { (fmt::minutes(ctx.lang, l.minutes())) }
                        td { (l.note) " · " (name(&l.engineer.to_string())) }
                    } } }
                }
            }
            @let parts = v.effective_parts();
            @if !parts.is_empty() {
                h3 { (ctx.t("visit.parts")) }
                table {
                    thead { tr { th { (ctx.t("stock.sku")) } th { (ctx.t("stock.qty")) } th { (ctx.t("order.serial")) } th { (ctx.t("visit.replaced")) } } }
                    tbody { @for p in parts { tr {
                        td { (p.sku) } td.num { (fmt::number(p.qty)) }
                        td { (p.serial.clone().unwrap_or_default()) } td { (p.replaced_serial.clone().unwrap_or_default()) }
                    } } }
                }
            }
            h3 { (ctx.t("visit.report")) }
            @if let Some((t, ver)) = &r.template { p.muted { (ctx.t("visit.template")) " " (t) " v" (ver) } }
            @if !r.answers.is_empty() {
                table.answers { tbody { @for (k, a) in &r.answers { tr { th scope="row" { (k) } td { (answer(a)) } } } } }
            }
            @if let Some(f) = &r.fault_code { p { (ctx.t("visit.fault")) " " code { (f) } } }
            @if let Some(f) = &r.resolution_code { p { (ctx.t("visit.resolution")) " " code { (f) } } }
            @if !r.notes.is_empty() { h3 { (ctx.t("visit.notes")) } p.notes { (r.notes) } }
            @if !r.photos.is_empty() {
                h3 { (ctx.t("visit.photos")) }
                div.photos {
                    @for p in &r.photos {
                        @let h = p.hash.to_string();
                        figure {
                            a href=(blob(&h)) target="_blank" rel="noopener" {
                                img.photo src={(blob(&h)) "/thumbnail"} alt=(if p.caption.is_empty() { ctx.t("visit.photo") } else { &p.caption }) loading="lazy";
                            }
                            @if !p.caption.is_empty() { figcaption { (p.caption) } }
                        }
                    }
                }
            }
            @if let Some(s) = &r.signature {
                h3 { (ctx.t("visit.signature")) }
                figure.signature {
                    a href=(blob(&s.hash.to_string())) target="_blank" rel="noopener" {
                        img.signature src={(blob(&s.hash.to_string())) "/thumbnail"} alt={(ctx.t("visit.signature")) " " (s.signer_name)};
                    }
                    figcaption { (s.signer_name) " · " (layout::when(ctx, s.signed_at_ms)) }
                }
            }
        }
    }
}

/// `POST /console/orders/{id}/flags/{flag}/resolve`
pub async fn resolve_flag(
    State(state): State<AppState>,
    _ctx: Ctx,
    office: Office,
    Path((id, flag)): Path<(String, String)>,
) -> Result<Redirect, AppError> {
    dispatch::resolve_flag(State(state), office, Path((id.clone(), flag))).await?;
    Ok(Redirect::to(&format!(
        "/console/orders/{id}?done=flag_resolved"
    )))
}

/// `GET /console/orders/{id}/blobs/{hash}`: a photo or signature at full size. The console
/// shows orders to office roles only, so an engineer's or customer's cookie gets 403 here even
/// where the API would show them their own order's photos.
pub async fn blob(
    State(state): State<AppState>,
    office: Office,
    path: Path<(String, String)>,
) -> Result<Response, AppError> {
    crate::routes::blobs::get_blob(State(state), office.0, path).await
}

/// `GET /console/orders/{id}/blobs/{hash}/thumbnail`
pub async fn thumbnail(
    State(state): State<AppState>,
    office: Office,
    path: Path<(String, String)>,
) -> Result<Response, AppError> {
    crate::routes::blobs::get_thumbnail(State(state), office.0, path).await
}

/// Event and flag details are written into documents and name users by id
/// (`engineer 7a21a04c-...: ...`): show their names instead.
fn with_names(text: &str, names: &HashMap<String, String>) -> String {
    const UUID_LEN: usize = 36;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        let candidate = rest.get(at..at + UUID_LEN);
        match candidate
            .filter(|c| uuid::Uuid::parse_str(c).is_ok())
            .and_then(|c| names.get(c))
        {
            Some(name) => {
                out.push_str(&rest[..at]);
                out.push_str(name);
                rest = &rest[at + UUID_LEN..];
            }
            None => {
                let next = at + rest[at..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&rest[..next]);
                rest = &rest[next..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_in_details_become_names() {
        let id = "7a21a04c-e058-4cd2-aa86-9403e456c44d";
        let names = HashMap::from([(id.to_owned(), "孙涛 Sun Tao".to_owned())]);
        assert_eq!(
            with_names(&format!("engineer {id}: only dispatchers may"), &names),
            "engineer 孙涛 Sun Tao: only dispatchers may"
        );
        // Unknown ids, and hex that is not an id, stay as they are.
        let other = "00000000-0000-4000-8000-000000000000";
        assert_eq!(
            with_names(&format!("cafe {other} 12"), &names),
            format!("cafe {other} 12")
        );
        assert_eq!(with_names("", &names), "");
    }
}
