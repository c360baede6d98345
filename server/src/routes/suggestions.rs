//! Dispatch suggestions over HTTP: who should take this order, and why. The ranking itself is
//! `crate::suggest` (pure, R-tree backed); this module feeds it from the database.

use super::parse_path_id;
use crate::accounts::{self, Engineer};
use crate::auth::{Caller, Office};
use crate::docstore;
use crate::error::{AppError, ErrorBody, Json};
use crate::state::AppState;
use crate::suggest::{self, Index, Job, LastKnown, LatLon, Shift, Suggestion, TimeWindow};
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use sync_core::{DocId, UserId, WorkOrderDoc};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(suggestions))
        .routes(routes!(auto_assign))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestQuery {
    /// How many engineers (default 5, at most 50).
    pub limit: Option<usize>,
    /// Required skills, comma separated (e.g. `hvac,refrigerant`).
    pub skills: Option<String>,
}

/// One ranked engineer, with the reasons for the rank.
#[derive(Serialize, ToSchema)]
pub struct SuggestionOut {
    pub engineer_id: String,
    pub name: String,
    pub score: f64,
    pub distance_km: f64,
    /// Skill match, distance (and from where), load, availability, SLA urgency, territory.
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<suggest::Reason>,
}

/// Rank the organisation's engineers for an order (admin, dispatcher): skill match,
/// availability in the order's schedule window (working hours, booked visits), current load,
/// SLA urgency and great-circle distance from their last known position (or home base).
#[utoipa::path(get, path = "/api/v1/work-orders/{id}/suggestions", tag = "dispatch",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "work order id"), SuggestQuery),
    responses((status = 200, body = Vec<SuggestionOut>), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn suggestions(
    State(state): State<AppState>,
    Office(caller): Office,
    Path(id): Path<String>,
    Query(q): Query<SuggestQuery>,
) -> Result<Json<Vec<SuggestionOut>>, AppError> {
    let (ranked, names) = rank(&state, &caller, &id, &q).await?;
    Ok(Json(
        ranked
            .into_iter()
            .map(|s| SuggestionOut {
                name: names.get(&s.engineer).cloned().unwrap_or_default(),
                engineer_id: s.engineer.to_string(),
                score: s.score,
                distance_km: s.distance_km,
                reasons: s.reasons,
            })
            .collect(),
    ))
}

/// Assign the order to the best-ranked engineer (admin, dispatcher), as the suggestions say.
/// 409 `conflict` when nobody qualifies.
#[utoipa::path(post, path = "/api/v1/work-orders/{id}/auto-assign", tag = "dispatch",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "work order id"), SuggestQuery),
    responses((status = 200, body = SuggestionOut), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn auto_assign(
    State(state): State<AppState>,
    Office(caller): Office,
    Path(id): Path<String>,
    Query(q): Query<SuggestQuery>,
) -> Result<Json<SuggestionOut>, AppError> {
    let q = SuggestQuery {
        limit: Some(1),
        skills: q.skills,
    };
    let (ranked, names) = rank(&state, &caller, &id, &q).await?;
    let best = ranked
        .into_iter()
        .next()
        .ok_or_else(|| AppError::Conflict("no engineer qualifies for this order".into()))?;
    let doc_id: DocId = parse_path_id(&id, "work order")?;
    let ctx = state.docs.edit_context(caller.user, caller.role);
    let engineer = best.engineer;
    state
        .docs
        .update(&state.db, caller.org, doc_id, |doc| {
            doc.assign(&ctx, Some(engineer))?;
            if doc.status() == sync_core::Status::New {
                doc.set_status(&ctx, sync_core::Status::Assigned)?;
            }
            doc.record_event(&ctx, "auto_assigned", &format!("score {:.1}", best.score))?;
            Ok(())
        })
        .await?
        .ok_or(AppError::NotFound("work order"))?;
    Ok(Json(SuggestionOut {
        name: names.get(&best.engineer).cloned().unwrap_or_default(),
        engineer_id: best.engineer.to_string(),
        score: best.score,
        distance_km: best.distance_km,
        reasons: best.reasons,
    }))
}

pub(crate) async fn rank(
    state: &AppState,
    caller: &Caller,
    id: &str,
    q: &SuggestQuery,
) -> Result<(Vec<Suggestion>, HashMap<UserId, String>), AppError> {
    let id: DocId = parse_path_id(id, "work order")?;
    let mut conn = state.db.pool().acquire().await?;
    let doc: WorkOrderDoc = docstore::load(&mut conn, state.docs.actor(), caller.org, id)
        .await?
        .ok_or(AppError::NotFound("work order"))?;
    let summary = doc.summary()?;
    let now = crate::now_ms();
    let window = match (summary.window_start_ms, summary.window_end_ms) {
        (Some(s), Some(e)) if e > s => Some(TimeWindow::new(s, e)),
        _ => None,
    };
    let job = Job {
        site: LatLon::new(summary.lat, summary.lon),
        required_skills: q
            .skills
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        window,
        sla_due_ms: summary.sla_due_ms,
        priority: summary.priority,
        now_ms: now,
    };
    let engineers = accounts::list_engineers(&state.db, caller.org, None).await?;
    let areas = crate::territories::for_suggestions(&mut conn, caller.org).await?;
    let mut memberships: HashMap<String, Vec<suggest::TerritoryId>> = HashMap::new();
    for (user, territory) in crate::territories::engineer_territories(&mut conn, caller.org).await?
    {
        if let Ok(t) = territory.parse() {
            memberships
                .entry(user)
                .or_default()
                .push(suggest::TerritoryId(t));
        }
    }
    // Load and bookings from the projection: open orders per engineer, and their scheduled
    // windows around the job's (one indexed query each).
    let open: Vec<(String, i64)> = sqlx::query_as(
        "SELECT assignee_id, COUNT(*) FROM work_orders WHERE org_id = $1 \
         AND assignee_id IS NOT NULL \
         AND status NOT IN ('completed', 'cancelled', 'closed') GROUP BY assignee_id",
    )
    .bind(caller.org.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let open: HashMap<String, i64> = open.into_iter().collect();
    let (from, to) = match window {
        Some(w) => (w.start_ms - 86_400_000, w.end_ms + 86_400_000),
        None => (now - 86_400_000, now + 2 * 86_400_000),
    };
    let booked: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT assignee_id, window_start, window_end FROM work_orders \
         WHERE org_id = $1 AND assignee_id IS NOT NULL AND window_start IS NOT NULL \
           AND window_end IS NOT NULL AND window_start < $3 AND window_end > $2 \
           AND id <> $4 AND status NOT IN ('completed', 'cancelled', 'closed')",
    )
    .bind(caller.org.to_string())
    .bind(from)
    .bind(to)
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut bookings: HashMap<String, Vec<TimeWindow>> = HashMap::new();
    for (who, s, e) in booked {
        bookings.entry(who).or_default().push(TimeWindow::new(s, e));
    }
    let mut names = HashMap::new();
    let profiles = engineers
        .into_iter()
        .filter_map(|e: Engineer| {
            let uid: UserId = e.id.parse().ok()?;
            names.insert(uid, e.name.clone());
            let p = e.profile;
            Some(suggest::EngineerProfile {
                id: uid,
                name: e.name,
                skills: p.skills,
                home: p.home.map(|h| LatLon::new(h.lat, h.lon)),
                last_known: p.last_location.map(|l| LastKnown {
                    pos: LatLon::new(l.lat, l.lon),
                    at_ms: l.at_ms,
                }),
                working_hours: p
                    .working_hours
                    .days
                    .iter()
                    .filter(|d| (1..=7).contains(*d))
                    .map(|d| {
                        Shift::new(
                            d - 1,
                            p.working_hours.start_minute,
                            p.working_hours.end_minute,
                        )
                    })
                    .collect(),
                open_orders: open
                    .get(&e.id)
                    .copied()
                    .unwrap_or(0)
                    .clamp(0, u32::MAX as i64) as u32,
                booked: bookings.remove(&e.id).unwrap_or_default(),
                territories: memberships.remove(&e.id).unwrap_or_default(),
            })
        })
        .collect();
    // Working hours are read at the offset the deployment's zone has when the job starts (its
    // window, else now), so summer and winter time are both right; only a window spanning the
    // night the clocks change is read at its start's offset.
    let at = job.window.map_or(job.now_ms, |w| w.start_ms);
    let offset = jiff::Timestamp::from_millisecond(at)
        .map_or(0, |t| state.settings.time_zone.to_offset(t).seconds() / 60);
    let index = Index::build(profiles, areas).with_settings(suggest::Settings {
        utc_offset_minutes: offset,
        ..suggest::Settings::default()
    });
    let limit = q.limit.unwrap_or(5).clamp(1, 50);
    Ok((index.suggest(&job, limit), names))
}
