//! Work orders for dispatchers: create, list (from the projection only), read, assign,
//! schedule, change status and priority. Every change goes through sync-core's `WorkOrderDoc`
//! methods, so the server's edits obey the same rules as the phone's.

use super::{Page, parse_body_id, parse_path_id};
use crate::accounts;
use crate::auth::{Caller, Office};
use crate::docstore;
use crate::error::{AppError, Error, ErrorBody, Json, Query};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row};
use sync_core::workorder::{Asset, Customer, NewWorkOrder, Priority, Site};
use sync_core::{DocId, Role, Status, UserId, WorkOrderDoc};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_work_order, list_work_orders))
        .routes(routes!(get_work_order, update_work_order))
        .routes(routes!(get_work_order_document))
        .routes(routes!(resolve_flag))
        .routes(routes!(assign))
        .routes(routes!(schedule))
        .routes(routes!(set_status))
        .routes(routes!(set_priority))
}

// ----- wire types -----

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SiteIn {
    pub address: String,
    pub lat: f64,
    pub lon: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct AssetIn {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub serial: String,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct CreateWorkOrder {
    /// A customer of the caller's organisation.
    pub customer_id: String,
    pub site: SiteIn,
    #[serde(default)]
    pub asset: AssetIn,
    pub problem: String,
    /// low, normal (default), high or urgent.
    #[serde(default)]
    pub priority: Option<String>,
    /// UTC milliseconds.
    #[serde(default)]
    pub sla_due_ms: Option<i64>,
}

/// A work order, read from its document.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkOrder {
    pub id: String,
    pub number: String,
    /// new, assigned, en_route, on_site, needs_parts, completed, cancelled, closed.
    pub status: String,
    pub priority: String,
    pub customer_id: String,
    pub customer_name: String,
    pub site: SiteIn,
    pub asset: AssetIn,
    pub problem: String,
    pub sla_due_ms: Option<i64>,
    pub assignee_id: Option<String>,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub open_flags: u32,
    pub created_at_ms: i64,
}

impl WorkOrder {
    fn of(doc: &WorkOrderDoc) -> Result<WorkOrder, Error> {
        let s = doc.summary()?;
        let h = doc.header()?;
        Ok(WorkOrder {
            id: s.id.to_string(),
            number: s.number,
            status: s.status.as_str().to_owned(),
            priority: s.priority.as_str().to_owned(),
            customer_id: h.customer.id,
            customer_name: h.customer.name,
            site: SiteIn {
                address: h.site.address,
                lat: h.site.lat,
                lon: h.site.lon,
            },
            asset: AssetIn {
                id: h.asset.id,
                model: h.asset.model,
                serial: h.asset.serial,
            },
            problem: h.problem,
            sla_due_ms: h.sla_due_ms,
            assignee_id: s.assignee.map(|u| u.to_string()),
            window_start_ms: s.window_start_ms,
            window_end_ms: s.window_end_ms,
            open_flags: s.open_flags,
            created_at_ms: h.created_at_ms,
        })
    }
}

/// One row of the board, from the `work_orders` projection.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkOrderRow {
    pub id: String,
    pub number: String,
    pub status: String,
    pub priority: String,
    pub assignee_id: Option<String>,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub sla_due_ms: Option<i64>,
    pub customer_id: String,
    pub customer_name: String,
    pub site_address: String,
    pub site_lat: f64,
    pub site_lon: f64,
    pub problem: String,
    pub open_flags: i64,
    pub created_at_ms: i64,
    /// Change sequence number of the order's last write.
    pub updated_seq: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkOrderList {
    /// Matching orders in total (ignoring limit and offset).
    pub total: i64,
    pub items: Vec<WorkOrderRow>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFilter {
    /// Comma-separated statuses, e.g. `new,assigned`.
    pub status: Option<String>,
    /// An engineer's id, or `none` for unassigned orders.
    pub assignee: Option<String>,
    /// low, normal, high or urgent.
    pub priority: Option<String>,
    pub customer_id: Option<String>,
    /// Orders whose schedule window starts at or after this (UTC ms).
    pub from_ms: Option<i64>,
    /// Orders whose schedule window starts before this (UTC ms).
    pub to_ms: Option<i64>,
    /// At most this many items (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Skip this many items.
    pub offset: Option<i64>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct AssignRequest {
    /// An engineer of the organisation, or null to unassign.
    pub engineer_id: Option<String>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct ScheduleRequest {
    pub start_ms: i64,
    pub end_ms: i64,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct StatusRequest {
    pub status: String,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct PriorityRequest {
    pub priority: String,
}

fn parse_priority(s: &str) -> Result<Priority, AppError> {
    let p = Priority::parse(s);
    if p.as_str() == s {
        Ok(p)
    } else {
        Err(AppError::Invalid(format!("unknown priority {s:?}")))
    }
}

// ----- handlers -----

/// Create a work order (admin, dispatcher).
#[utoipa::path(post, path = "/api/v1/work-orders", tag = "dispatch",
    security(("bearer" = [])),
    request_body = CreateWorkOrder,
    responses(
        (status = 201, body = WorkOrder),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "unknown customer, bad coordinates ..."),
    ))]
#[tracing::instrument(skip_all, fields(org = %caller.org))]
pub(crate) async fn create_work_order(
    State(state): State<AppState>,
    Office(caller): Office,
    Json(req): Json<CreateWorkOrder>,
) -> Result<(StatusCode, Json<WorkOrder>), AppError> {
    accounts::check_coordinates(req.site.lat, req.site.lon)?;
    if req.problem.trim().is_empty() {
        return Err(AppError::Invalid("describe the problem".into()));
    }
    let priority = parse_priority(req.priority.as_deref().unwrap_or("normal"))?;
    let ctx = state.docs.edit_context(caller.user, caller.role);
    let mut tx = state.db.begin().await?;
    let customer_name = accounts::customer_name(&mut tx, caller.org, &req.customer_id)
        .await?
        .ok_or_else(|| AppError::Invalid("unknown customer".into()))?;
    let seq = docstore::begin_write(&mut tx).await?;
    let number = docstore::next_order_number(&mut tx, caller.org).await?;
    let new = NewWorkOrder {
        id: DocId::new(),
        org: caller.org,
        number,
        customer: Customer {
            id: req.customer_id,
            name: customer_name,
        },
        site: Site {
            address: req.site.address,
            lat: req.site.lat,
            lon: req.site.lon,
        },
        asset: Asset {
            id: req.asset.id,
            model: req.asset.model,
            serial: req.asset.serial,
        },
        problem: req.problem,
        priority,
        sla_due_ms: req.sla_due_ms,
    };
    let mut doc = WorkOrderDoc::create(state.docs.actor(), &new, &ctx)?;
    docstore::save(&mut tx, caller.org, &mut doc, seq).await?;
    tx.commit().await?;
    tracing::info!(work_order = %new.id, "work order created");
    Ok((StatusCode::CREATED, Json(WorkOrder::of(&doc)?)))
}

/// List work orders (admin, dispatcher), from the projection, most urgent SLA first.
#[utoipa::path(get, path = "/api/v1/work-orders", tag = "dispatch",
    security(("bearer" = [])),
    params(ListFilter),
    responses((status = 200, body = WorkOrderList), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_work_orders(
    State(state): State<AppState>,
    Office(caller): Office,
    Query(filter): Query<ListFilter>,
) -> Result<Json<WorkOrderList>, AppError> {
    let page = Page {
        limit: filter.limit,
        offset: filter.offset,
    };
    // Conditions are appended to a fixed prefix so each filter can use the (org_id, ...) index
    // named in the migration: status -> work_orders_by_status, assignee -> _by_assignee, date
    // range -> _by_window, priority -> _by_priority, customer -> _by_customer.
    let mut cond = String::from("org_id = $1");
    let mut args: Vec<Arg> = vec![Arg::Text(caller.org.to_string())];
    let scope = {
        let mut conn = state.db.pool().acquire().await?;
        crate::territories::dispatch_scope(&mut conn, caller.org, caller.user).await?
    };
    let mut push = |cond: &mut String, sql: &str, arg: Arg| {
        args.push(arg);
        cond.push_str(&sql.replace('?', &format!("${}", args.len())));
    };
    // A dispatcher limited to a territory sees the orders whose site is in it; one limited to a
    // team sees unassigned orders and those of the team's engineers.
    if let Some(t) = scope.territory_id {
        push(&mut cond, " AND territory_id = ?", Arg::Text(t));
    }
    if let Some(team) = scope.team {
        push(
            &mut cond,
            " AND (assignee_id IS NULL OR assignee_id IN \
             (SELECT id FROM users WHERE org_id = $1 AND team = ?))",
            Arg::Text(team),
        );
    }
    if let Some(statuses) = filter.status.as_deref().filter(|s| !s.is_empty()) {
        cond.push_str(" AND status IN (");
        for (i, s) in statuses.split(',').enumerate() {
            let s = s.trim();
            if !Status::KNOWN.iter().any(|k| k.as_str() == s) {
                return Err(AppError::Invalid(format!("unknown status {s:?}")));
            }
            push(
                &mut cond,
                if i == 0 { "?" } else { ", ?" },
                Arg::Text(s.to_owned()),
            );
        }
        cond.push(')');
    }
    match filter.assignee.as_deref() {
        None | Some("") => {}
        Some("none") => cond.push_str(" AND assignee_id IS NULL"),
        Some(id) => {
            let id: UserId = parse_body_id(id, "assignee")?;
            push(&mut cond, " AND assignee_id = ?", Arg::Text(id.to_string()));
        }
    }
    if let Some(p) = filter.priority.as_deref() {
        push(
            &mut cond,
            " AND priority_rank = ?",
            Arg::Int(parse_priority(p)?.rank()),
        );
    }
    if let Some(c) = filter.customer_id.clone() {
        push(&mut cond, " AND customer_id = ?", Arg::Text(c));
    }
    if let Some(from) = filter.from_ms {
        push(&mut cond, " AND window_start >= ?", Arg::Int(from));
    }
    if let Some(to) = filter.to_ms {
        push(&mut cond, " AND window_start < ?", Arg::Int(to));
    }
    let count_sql = format!("SELECT COUNT(*) FROM work_orders WHERE {cond}");
    let list_sql = format!(
        "SELECT id, number, status, priority, assignee_id, window_start, window_end, sla_due, \
         customer_id, customer_name, site_address, site_lat, site_lon, problem, open_flags, \
         created_at, updated_seq FROM work_orders WHERE {cond} \
         ORDER BY (sla_due IS NULL), sla_due, number LIMIT {} OFFSET {}",
        page.limit(),
        page.offset()
    );
    let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
    let mut list = sqlx::query(AssertSqlSafe(list_sql));
    for arg in &args {
        count = match arg {
            Arg::Text(s) => count.bind(s.clone()),
            Arg::Int(i) => count.bind(*i),
        };
        list = match arg {
            Arg::Text(s) => list.bind(s.clone()),
            Arg::Int(i) => list.bind(*i),
        };
    }
    let total = count.fetch_one(state.db.pool()).await?;
    let rows = list.fetch_all(state.db.pool()).await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok::<_, sqlx::Error>(WorkOrderRow {
                id: r.try_get("id")?,
                number: r.try_get("number")?,
                status: r.try_get("status")?,
                priority: r.try_get("priority")?,
                assignee_id: r.try_get("assignee_id")?,
                window_start_ms: r.try_get("window_start")?,
                window_end_ms: r.try_get("window_end")?,
                sla_due_ms: r.try_get("sla_due")?,
                customer_id: r.try_get("customer_id")?,
                customer_name: r.try_get("customer_name")?,
                site_address: r.try_get("site_address")?,
                site_lat: r.try_get("site_lat")?,
                site_lon: r.try_get("site_lon")?,
                problem: r.try_get("problem")?,
                open_flags: r.try_get("open_flags")?,
                created_at_ms: r.try_get("created_at")?,
                updated_seq: r.try_get("updated_seq")?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(WorkOrderList { total, items }))
}

/// A bind value of a dynamically built query.
enum Arg {
    Text(String),
    Int(i64),
}

/// Read one work order: admins and dispatchers of its organisation, the engineer it is
/// assigned to, users of its customer. Anyone else: 404 (or 403 for roles that read none).
#[utoipa::path(get, path = "/api/v1/work-orders/{id}", tag = "dispatch",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "work order id")),
    responses((status = 200, body = WorkOrder), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn get_work_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WorkOrder>, AppError> {
    let doc = load_visible(&state, &caller, &id).await?;
    Ok(Json(WorkOrder::of(&doc)?))
}

/// The whole order as its document holds it: header, dispatch, every visit (check-in/out,
/// labour, parts, service report, photos, signature), parts requests, the event log in causal
/// order and the flags (conflicts, refused changes). Same visibility as the order itself.
#[utoipa::path(get, path = "/api/v1/work-orders/{id}/document", tag = "dispatch",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "work order id")),
    responses((status = 200, body = Object, description = "sync-core's WorkOrder record"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_work_order_document(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<sync_core::workorder::WorkOrder>, AppError> {
    let doc = load_visible(&state, &caller, &id).await?;
    Ok(Json(doc.read()?))
}

/// Load an order the caller may read, or the error they get.
pub(crate) async fn load_visible(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<WorkOrderDoc, AppError> {
    if !matches!(
        caller.role,
        Role::Admin | Role::Dispatcher | Role::Engineer | Role::Customer
    ) {
        return Err(AppError::Forbidden);
    }
    let id: DocId = parse_path_id(id, "work order")?;
    let mut conn = state.db.pool().acquire().await?;
    let doc = docstore::load(&mut conn, state.docs.actor(), caller.org, id)
        .await?
        .ok_or(AppError::NotFound("work order"))?;
    let order = WorkOrder::of(&doc)?;
    let visible = match caller.role {
        Role::Admin => true,
        Role::Dispatcher => {
            let scope =
                crate::territories::dispatch_scope(&mut conn, caller.org, caller.user).await?;
            let in_territory = match &scope.territory_id {
                None => true,
                Some(t) => {
                    let areas = crate::territories::areas(&mut conn, caller.org).await?;
                    let s = doc.summary()?;
                    crate::territories::containing(&areas, s.lat, s.lon).as_ref() == Some(t)
                }
            };
            let in_team = match (&scope.team, &order.assignee_id) {
                (None, _) | (Some(_), None) => true,
                (Some(team), Some(who)) => {
                    let theirs: Option<Option<String>> =
                        sqlx::query_scalar("SELECT team FROM users WHERE org_id = $1 AND id = $2")
                            .bind(caller.org.to_string())
                            .bind(who)
                            .fetch_optional(&mut *conn)
                            .await?;
                    theirs.flatten().as_deref() == Some(team.as_str())
                }
            };
            in_territory && in_team
        }
        Role::Engineer => order.assignee_id == Some(caller.user.to_string()),
        Role::Customer => caller.customer_id.as_deref() == Some(order.customer_id.as_str()),
        _ => false,
    };
    if !visible {
        return Err(AppError::NotFound("work order"));
    }
    Ok(doc)
}

/// Apply an office edit to one order and answer with the new state.
pub(crate) async fn edit(
    state: &AppState,
    caller: &Caller,
    id: &str,
    f: impl FnOnce(&mut WorkOrderDoc, &sync_core::EditContext) -> sync_core::Result<()>,
) -> Result<Json<WorkOrder>, AppError> {
    // A dispatcher limited to a territory or team edits only what they can see.
    load_visible(state, caller, id).await?;
    let id: DocId = parse_path_id(id, "work order")?;
    let ctx = state.docs.edit_context(caller.user, caller.role);
    let order = state
        .docs
        .update(&state.db, caller.org, id, |doc| {
            f(doc, &ctx)?;
            WorkOrder::of(doc)
        })
        .await?
        .ok_or(AppError::NotFound("work order"))?;
    Ok(Json(order))
}

/// Assign to an engineer (a new order becomes `assigned`), or unassign with null (an
/// `assigned` order goes back to `new`).
#[utoipa::path(post, path = "/api/v1/work-orders/{id}/assign", tag = "dispatch",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "work order id")),
    request_body = AssignRequest,
    responses((status = 200, body = WorkOrder), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(org = %caller.org, work_order = %id))]
pub(crate) async fn assign(
    State(state): State<AppState>,
    Office(caller): Office,
    Path(id): Path<String>,
    Json(req): Json<AssignRequest>,
) -> Result<Json<WorkOrder>, AppError> {
    let order: DocId = parse_path_id(&id, "work order")?;
    let mut conn = state.db.pool().acquire().await?;
    // An order of another organisation is 404 before anything about the body is said.
    if !docstore::exists(&mut conn, caller.org, order).await? {
        return Err(AppError::NotFound("work order"));
    }
    let engineer = match req.engineer_id.as_deref() {
        None => None,
        Some(e) => {
            let user: UserId = parse_body_id(e, "engineer_id")?;
            if !accounts::is_engineer(&mut conn, caller.org, user).await? {
                return Err(AppError::Invalid("no such engineer".into()));
            }
            Some(user)
        }
    };
    drop(conn);
    edit(&state, &caller, &id, |doc, ctx| {
        doc.assign(ctx, engineer)?;
        match (engineer.is_some(), doc.status()) {
            (true, Status::New) => doc.set_status(ctx, Status::Assigned),
            (false, Status::Assigned) => doc.set_status(ctx, Status::New),
            _ => Ok(()),
        }
    })
    .await
}

/// Set the schedule window.
#[utoipa::path(post, path = "/api/v1/work-orders/{id}/schedule", tag = "dispatch",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "work order id")),
    request_body = ScheduleRequest,
    responses((status = 200, body = WorkOrder), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn schedule(
    State(state): State<AppState>,
    Office(caller): Office,
    Path(id): Path<String>,
    Json(req): Json<ScheduleRequest>,
) -> Result<Json<WorkOrder>, AppError> {
    edit(&state, &caller, &id, |doc, ctx| {
        doc.schedule(ctx, req.start_ms, req.end_ms)
    })
    .await
}

/// Change the status, as the status machine allows an office role.
#[utoipa::path(post, path = "/api/v1/work-orders/{id}/status", tag = "dispatch",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "work order id")),
    request_body = StatusRequest,
    responses((status = 200, body = WorkOrder), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "transition_not_allowed"),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn set_status(
    State(state): State<AppState>,
    Office(caller): Office,
    Path(id): Path<String>,
    Json(req): Json<StatusRequest>,
) -> Result<Json<WorkOrder>, AppError> {
    let to = Status::parse(&req.status);
    if matches!(to, Status::Other(_)) {
        return Err(AppError::Invalid(format!(
            "unknown status {:?}",
            req.status
        )));
    }
    edit(&state, &caller, &id, |doc, ctx| doc.set_status(ctx, to)).await
}

/// Change the priority.
#[utoipa::path(post, path = "/api/v1/work-orders/{id}/priority", tag = "dispatch",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "work order id")),
    request_body = PriorityRequest,
    responses((status = 200, body = WorkOrder), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn set_priority(
    State(state): State<AppState>,
    Office(caller): Office,
    Path(id): Path<String>,
    Json(req): Json<PriorityRequest>,
) -> Result<Json<WorkOrder>, AppError> {
    let priority = parse_priority(&req.priority)?;
    edit(&state, &caller, &id, |doc, ctx| {
        doc.set_priority(ctx, priority)
    })
    .await
}

/// Header fields to change; absent fields stay as they are. `sla_due_ms: null` clears the SLA.
#[derive(Deserialize, ToSchema)]
pub struct UpdateWorkOrder {
    pub site: Option<SiteIn>,
    pub asset: Option<AssetIn>,
    pub problem: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub sla_due_ms: Option<Option<i64>>,
}

/// `Some(None)` for an explicit null, `None` for an absent field.
fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// Edit the order's header (admin, dispatcher): site, asset, problem, SLA. The edit is merged
/// with what engineers do offline like any other change; concurrent edits of the same field are
/// resolved by the conflict rules and flagged.
#[utoipa::path(patch, path = "/api/v1/work-orders/{id}", tag = "dispatch",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "work order id")),
    request_body = UpdateWorkOrder,
    responses((status = 200, body = WorkOrder), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update_work_order(
    State(state): State<AppState>,
    Office(caller): Office,
    Path(id): Path<String>,
    Json(req): Json<UpdateWorkOrder>,
) -> Result<Json<WorkOrder>, AppError> {
    if let Some(p) = &req.problem
        && p.trim().is_empty()
    {
        return Err(AppError::Invalid(
            "the problem description cannot be empty".into(),
        ));
    }
    edit(&state, &caller, &id, |doc, ctx| {
        if let Some(site) = &req.site {
            doc.set_site(
                ctx,
                &Site {
                    address: site.address.clone(),
                    lat: site.lat,
                    lon: site.lon,
                },
            )?;
        }
        if let Some(asset) = &req.asset {
            doc.set_asset(
                ctx,
                &Asset {
                    id: asset.id.clone(),
                    model: asset.model.clone(),
                    serial: asset.serial.clone(),
                },
            )?;
        }
        if let Some(problem) = &req.problem {
            doc.set_problem(ctx, problem)?;
        }
        if let Some(due) = req.sla_due_ms {
            doc.set_sla_due(ctx, due)?;
        }
        Ok(())
    })
    .await
}

/// Mark a flag (a resolved conflict, a refused change, work after re-assignment) as dealt with
/// (admin, dispatcher).
#[utoipa::path(post, path = "/api/v1/work-orders/{id}/flags/{flag}/resolve", tag = "dispatch",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "work order id"),
           ("flag" = String, Path, description = "flag id")),
    responses((status = 200, body = WorkOrder), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn resolve_flag(
    State(state): State<AppState>,
    Office(caller): Office,
    Path((id, flag)): Path<(String, String)>,
) -> Result<Json<WorkOrder>, AppError> {
    edit(&state, &caller, &id, |doc, ctx| {
        doc.resolve_flag(ctx, &flag)
    })
    .await
}
