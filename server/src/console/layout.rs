//! The page shell (navigation by role, language switch, sign-out) and small shared pieces:
//! status and priority badges, SLA risk, forms' hidden CSRF field.

use super::fmt;
use super::i18n::Lang;
use super::session::{Ctx, urlencode};
use maud::{DOCTYPE, Markup, html};
use sync_core::Role;

/// Version of the embedded assets, in their URLs so a new build is fetched at once while
/// browsers may cache an asset for a year.
pub const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

fn head(lang: Lang, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Lastmile" }
            link rel="stylesheet" href={"/console/assets/console.css?v=" (ASSET_VERSION)};
            script src={"/console/assets/console.js?v=" (ASSET_VERSION)} defer {}
            meta name="lastmile-lang" content=(lang.code());
        }
    }
}

/// A page without navigation (sign-in, errors before sign-in).
pub fn bare(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, title))
            body.bare { main #main { (body) } }
        }
    }
}

/// A console page: navigation for the user's role, then `body`. `active` names the nav entry.
pub fn page(ctx: &Ctx, title: &str, active: &str, body: Markup) -> Markup {
    let lang = ctx.lang;
    let dispatch = matches!(ctx.role(), Role::Admin | Role::Dispatcher);
    let stock = matches!(ctx.role(), Role::Admin | Role::Warehouse);
    let nav = |key: &str, href: &str, label: &str| {
        html! {
            li { a href=(href) aria-current=[(key == active).then_some("page")] { (label) } }
        }
    };
    let other = match lang {
        Lang::En => (Lang::ZhCn, "中文"),
        Lang::ZhCn => (Lang::En, "English"),
    };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, title))
            body data-csrf=(ctx.session.csrf) {
                a.skip href="#main" { (ctx.t("nav.skip")) }
                header.top {
                    a.brand href="/console" { "Lastmile" }
                    nav aria-label=(ctx.t("nav.label")) {
                        ul {
                            @if dispatch {
                                (nav("board", "/console/board", ctx.t("nav.board")))
                                (nav("map", "/console/map", ctx.t("nav.map")))
                                (nav("new", "/console/orders/new", ctx.t("nav.new_order")))
                                (nav("engineers", "/console/engineers", ctx.t("nav.engineers")))
                            }
                            @if stock {
                                (nav("stock", "/console/stock", ctx.t("nav.stock")))
                                (nav("movements", "/console/movements", ctx.t("nav.movements")))
                                (nav("operations", "/console/operations", ctx.t("nav.operations")))
                                (nav("requests", "/console/requests", ctx.t("nav.requests")))
                                (nav("discrepancies", "/console/discrepancies", ctx.t("nav.discrepancies")))
                                (nav("low", "/console/low-stock", ctx.t("nav.low_stock")))
                                (nav("serials", "/console/serials", ctx.t("nav.serials")))
                                (nav("catalog", "/console/catalog", ctx.t("nav.catalog")))
                            }
                        }
                    }
                    div.who {
                        a.user href="/console/preferences" title=(ctx.t("prefs.title"))
                            aria-current=[("prefs" == active).then_some("page")] {
                            (ctx.session.name) " · " (ctx.t(&format!("role.{}", ctx.role().as_str())))
                        }
                        a href={"/lang/" (other.0.code()) "?next=" (urlencode(&ctx.here))} lang=(other.0.code()) { (other.1) }
                        form method="post" action="/logout" {
                            (csrf(ctx))
                            button.link type="submit" { (ctx.t("nav.logout")) }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="_csrf" value=(ctx.session.csrf); }
}

/// A status badge, coloured by status.
pub fn status(ctx: &Ctx, s: &str) -> Markup {
    html! { span class={"badge st-" (s)} { (ctx.t(&format!("status.{s}"))) } }
}

pub fn priority(ctx: &Ctx, p: &str) -> Markup {
    html! { span class={"badge pr-" (p)} { (ctx.t(&format!("priority.{p}"))) } }
}

/// How close an order is to breaking its SLA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Risk {
    Overdue,
    DueSoon,
    Fine,
}

/// Due within this many minutes counts as "due soon".
pub const DUE_SOON_MINUTES: i64 = 4 * 60;

pub fn risk(status: &str, sla_due_ms: Option<i64>, now: i64) -> Risk {
    let done = matches!(status, "completed" | "cancelled" | "closed");
    match sla_due_ms {
        Some(due) if !done && due < now => Risk::Overdue,
        Some(due) if !done && due - now < DUE_SOON_MINUTES * 60_000 => Risk::DueSoon,
        _ => Risk::Fine,
    }
}

pub fn risk_badge(ctx: &Ctx, status: &str, sla_due_ms: Option<i64>, now: i64) -> Markup {
    let Some(due) = sla_due_ms else {
        return html! {};
    };
    let left = (due - now) / 60_000;
    match risk(status, sla_due_ms, now) {
        Risk::Overdue => html! {
            span.badge.sla-overdue title=(fmt::datetime(ctx.lang, due, &ctx.tz)) {
                (ctx.t("sla.overdue")) " " (fmt::minutes(ctx.lang, left))
            }
        },
        Risk::DueSoon => html! {
            span.badge.sla-soon title=(fmt::datetime(ctx.lang, due, &ctx.tz)) {
                (ctx.t("sla.due_in")) " " (fmt::minutes(ctx.lang, left))
            }
        },
        Risk::Fine => html! {},
    }
}

/// `<time>` with the local rendering and the machine-readable instant.
pub fn when(ctx: &Ctx, ms: i64) -> Markup {
    html! { time datetime=(fmt::iso(ms, &ctx.tz)) { (fmt::datetime(ctx.lang, ms, &ctx.tz)) } }
}

/// A flash message passed back in the query string after a form (`?done=key`).
pub fn flash(ctx: &Ctx, done: Option<&str>) -> Markup {
    match done.filter(|k| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
        Some(k) => html! { p.flash.good role="status" { (ctx.t(&format!("done.{k}"))) } },
        None => html! {},
    }
}
