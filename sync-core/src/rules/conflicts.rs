//! Concurrent conflicts on business fields: detection after a merge and explicit resolution.
//!
//! Automerge keeps every concurrent value of a property (`get_all`); its own pick (`get`) is
//! deterministic but arbitrary. For business fields that pick is never used silently: each field
//! has a rule (the table in `docs/conflict-rules.md`), the winner is written back (which ends the
//! conflict), an event records the resolution and a flag asks a dispatcher to look.
//!
//! Only the server resolves: it is the one writer of resolutions, so two replicas never race to
//! resolve the same conflict. Phones may call [`detect`] to show a pending conflict.

use crate::workorder::paths as p;
use crate::workorder::{EditContext, Status, WorkOrderDoc};
use crate::{Hlc, Result};
use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};

/// The rule that decides a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Status: work recorded in the field beats office decisions made without knowing it
    /// (completed beats cancelled); otherwise the status further along the lifecycle wins.
    StatusProgress,
    /// The decision with the latest hybrid-logical-clock time wins (assignment, schedule, codes).
    LatestDecision,
    /// The more urgent priority wins.
    HigherPriority,
    /// The earlier SLA due time wins.
    EarlierDeadline,
    /// The first occurrence wins (signature, check-in: the first is the legal/physical fact).
    FirstRecorded,
    /// The last occurrence wins (check-out).
    LastRecorded,
    /// Descriptive data (customer, site, asset, form answers): the latest answer by HLC is kept
    /// and the dispatcher is asked to confirm.
    LatestForReview,
}

/// A business field with concurrent values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// Dotted path, e.g. `status`, `dispatch.assignee`, `visits.<id>.report.fault_code`.
    pub field: String,
    pub rule: Rule,
    /// The concurrent values, rendered for people.
    pub values: Vec<String>,
}

/// A resolved conflict: what was chosen and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    pub conflict: Conflict,
    pub winner: String,
}

/// One concurrent value and where it lives.
struct Candidate {
    value: Value<'static>,
    id: ObjId,
    shown: String,
}

/// Every business field that currently has concurrent values.
pub fn detect(doc: &WorkOrderDoc) -> Vec<Conflict> {
    scan(doc).into_iter().map(|(c, _, _, _)| c).collect()
}

/// Resolve every conflict by its rule: write the winner, record an event, raise a flag.
pub fn resolve(doc: &mut WorkOrderDoc, ctx: &EditContext) -> Result<Vec<Resolution>> {
    let mut out = Vec::new();
    for (conflict, parent, key, winner) in scan(doc) {
        let winner_shown = winner.shown.clone();
        write_winner(doc, &parent, &key, &winner)?;
        let detail = format!(
            "{}: [{}] -> {} ({:?})",
            conflict.field,
            conflict.values.join(" | "),
            winner_shown,
            conflict.rule
        );
        doc.record_event(ctx, "conflict_resolved", &detail)?;
        doc.raise_flag(ctx, "conflict", &conflict.field, &detail)?;
        out.push(Resolution {
            conflict,
            winner: winner_shown,
        });
    }
    Ok(out)
}

type Found = (Conflict, ObjId, String, Candidate);

fn scan(doc: &WorkOrderDoc) -> Vec<Found> {
    let mut found = Vec::new();
    // The event log is the largest part of a document: read it only when a conflict needs it
    // (most merges find none).
    let events_cell = std::cell::OnceCell::new();
    let events = || -> &Vec<_> { events_cell.get_or_init(|| doc.events().unwrap_or_default()) };
    let latest_event = |kind: &str, detail_of: &dyn Fn(&str) -> String, c: &Candidate| {
        events()
            .iter()
            .filter(|e| e.kind == kind && e.detail == detail_of(&c.shown))
            .map(|e| e.hlc)
            .max()
            .unwrap_or(Hlc::ZERO)
    };

    // status
    check(
        doc,
        ROOT,
        p::STATUS,
        "status".into(),
        Rule::StatusProgress,
        &mut found,
        |cs| max_by_key(cs, |c| status_rank(&Status::parse(&c.shown))),
    );

    // dispatch
    if let Ok(d) = doc.obj(ROOT, p::DISPATCH) {
        check(
            doc,
            &d,
            p::ASSIGNEE,
            "dispatch.assignee".into(),
            Rule::LatestDecision,
            &mut found,
            |cs| {
                let none = |s: &str| {
                    if s == "null" {
                        "none".to_string()
                    } else {
                        s.to_string()
                    }
                };
                max_by_key(cs, |c| latest_event("assign", &none, c))
            },
        );
        for key in [p::WINDOW_START, p::WINDOW_END] {
            let field = format!("dispatch.{key}");
            check(
                doc,
                &d,
                key,
                field,
                Rule::LatestDecision,
                &mut found,
                |cs| {
                    // The schedule event's detail is "start..end": match on our end of it.
                    max_by_key(cs, |c| {
                        events()
                            .iter()
                            .filter(|e| e.kind == "schedule")
                            .filter(|e| {
                                let (s, en) = e.detail.split_once("..").unwrap_or(("", ""));
                                let mine = if key == p::WINDOW_START { s } else { en };
                                mine == c.shown
                            })
                            .map(|e| e.hlc)
                            .max()
                            .unwrap_or(Hlc::ZERO)
                    })
                },
            );
        }
    }

    // header
    if let Ok(h) = doc.obj(ROOT, p::HEADER) {
        check(
            doc,
            &h,
            p::PRIORITY,
            "header.priority".into(),
            Rule::HigherPriority,
            &mut found,
            |cs| max_by_key(cs, |c| crate::workorder::Priority::parse(&c.shown).rank()),
        );
        check(
            doc,
            &h,
            p::SLA_DUE,
            "header.sla_due".into(),
            Rule::EarlierDeadline,
            &mut found,
            |cs| {
                // Earliest real deadline; "no deadline" loses to any deadline.
                max_by_key(cs, |c| {
                    c.shown.parse::<i64>().map(|v| -v).unwrap_or(i64::MIN)
                })
            },
        );
        check(
            doc,
            &h,
            p::PROBLEM,
            "header.problem".into(),
            Rule::LatestForReview,
            &mut found,
            |cs| max_by_key(cs, |c| latest_event("header", &|_| "problem".into(), c)),
        );
        for part in [p::CUSTOMER, p::SITE, p::ASSET] {
            if let Ok(o) = doc.obj(&h, part) {
                for key in doc.doc_ref().keys(&o).collect::<Vec<_>>() {
                    let field = format!("header.{part}.{key}");
                    let k = key.clone();
                    check(
                        doc,
                        &o,
                        &key,
                        field,
                        Rule::LatestForReview,
                        &mut found,
                        |cs| {
                            max_by_key(cs, |c| {
                                latest_event("header", &|s| format!("{part}.{k}={s}"), c)
                            })
                        },
                    );
                }
            }
        }
    }

    // visits
    for visit in doc.visit_ids() {
        let Ok(v) = doc.visit_obj(&visit) else {
            continue;
        };
        let prefix = format!("visits.{visit}");
        check(
            doc,
            &v,
            p::V_CHECK_IN,
            format!("{prefix}.check_in"),
            Rule::FirstRecorded,
            &mut found,
            |cs| max_by_key(cs, |c| std::cmp::Reverse(obj_hlc(doc, &c.id))),
        );
        check(
            doc,
            &v,
            p::V_CHECK_OUT,
            format!("{prefix}.check_out"),
            Rule::LastRecorded,
            &mut found,
            |cs| max_by_key(cs, |c| obj_hlc(doc, &c.id)),
        );
        let Ok(r) = doc.obj(&v, p::V_REPORT) else {
            continue;
        };
        for key in [p::R_FAULT_CODE, p::R_RESOLUTION_CODE] {
            let field = format!("{prefix}.report.{key}");
            check(
                doc,
                &r,
                key,
                field,
                Rule::LatestDecision,
                &mut found,
                |cs| max_by_key(cs, |c| latest_event(key, &|s| format!("{visit}={s}"), c)),
            );
        }
        check(
            doc,
            &r,
            p::R_SIGNATURE,
            format!("{prefix}.report.signature"),
            Rule::FirstRecorded,
            &mut found,
            |cs| max_by_key(cs, |c| std::cmp::Reverse(obj_hlc(doc, &c.id))),
        );
        check(
            doc,
            &r,
            p::R_TEMPLATE_ID,
            format!("{prefix}.report.template_id"),
            Rule::LatestForReview,
            &mut found,
            |cs| {
                max_by_key(cs, |c| {
                    latest_event("report_template", &|s| s.to_string(), c)
                })
            },
        );
        if let Ok(a) = doc.obj(&r, p::R_ANSWERS) {
            for key in doc.doc_ref().keys(&a).collect::<Vec<_>>() {
                let field = format!("{prefix}.report.answers.{key}");
                check(
                    doc,
                    &a,
                    &key,
                    field,
                    Rule::LatestForReview,
                    &mut found,
                    |cs| max_by_key(cs, |c| obj_hlc(doc, &c.id)),
                );
            }
        }
    }
    found
}

/// If `parent.key` has concurrent values that differ, pick the winner with `pick` and record
/// the conflict.
fn check(
    doc: &WorkOrderDoc,
    parent: impl AsRef<ObjId>,
    key: &str,
    field: String,
    rule: Rule,
    found: &mut Vec<Found>,
    pick: impl Fn(Vec<Candidate>) -> Candidate,
) {
    let parent = parent.as_ref();
    let Ok(all) = doc.doc_ref().get_all(parent, key) else {
        return;
    };
    if all.len() < 2 {
        return;
    }
    let cands: Vec<Candidate> = all
        .into_iter()
        .map(|(value, id)| {
            let shown = show(doc, &value, &id);
            Candidate {
                value: value.to_owned(),
                id,
                shown,
            }
        })
        .collect();
    // Identical concurrent values (two devices made the same decision) are no conflict.
    if cands.iter().all(|c| c.shown == cands[0].shown) {
        return;
    }
    let values = cands.iter().map(|c| c.shown.clone()).collect();
    let winner = pick(cands);
    found.push((
        Conflict {
            field,
            rule,
            values,
        },
        parent.clone(),
        key.to_owned(),
        winner,
    ));
}

fn max_by_key<K: Ord>(cands: Vec<Candidate>, key: impl Fn(&Candidate) -> K) -> Candidate {
    // Ties go to the value that sorts last as text: deterministic on every replica.
    cands
        .into_iter()
        .max_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.shown.cmp(&b.shown)))
        .expect("a conflict has at least two values")
}

fn status_rank(s: &Status) -> i32 {
    match s {
        Status::New => 0,
        Status::Assigned => 1,
        Status::Cancelled => 2,
        Status::EnRoute => 3,
        Status::OnSite => 4,
        Status::NeedsParts => 5,
        Status::Completed => 6,
        Status::Closed => 7,
        Status::Other(_) => -1,
    }
}

/// The `hlc` field of a map value (check-ins, signatures, answers).
fn obj_hlc(doc: &WorkOrderDoc, obj: &ObjId) -> Hlc {
    doc.opt_str(obj, "hlc")
        .and_then(|h| Hlc::decode(&h).ok())
        .unwrap_or(Hlc::ZERO)
}

/// A value rendered for people and for matching against event details.
fn show(doc: &WorkOrderDoc, value: &Value<'_>, id: &ObjId) -> String {
    match value {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => s.to_string(),
            ScalarValue::Null => "null".into(),
            ScalarValue::Int(i) => i.to_string(),
            ScalarValue::Uint(i) => i.to_string(),
            ScalarValue::F64(f) => f.to_string(),
            ScalarValue::Boolean(b) => b.to_string(),
            other => other.to_string(),
        },
        Value::Object(ObjType::Text) => doc.doc_ref().text(id).unwrap_or_default(),
        Value::Object(_) => {
            // Maps (answers, signatures, check-ins): show their value/hash/time.
            ["value", "hash", "at"]
                .iter()
                .find_map(|k| {
                    let (v, i) = doc.doc_ref().get(id, *k).ok()??;
                    Some(show(doc, &v, &i))
                })
                .unwrap_or_else(|| obj_hlc(doc, id).encode())
        }
    }
}

/// Write `winner` at `parent.key` so that it supersedes every concurrent value.
fn write_winner(
    doc: &mut WorkOrderDoc,
    parent: &ObjId,
    key: &str,
    winner: &Candidate,
) -> Result<()> {
    match &winner.value {
        Value::Scalar(s) => {
            doc.am().put(parent, key, s.as_ref().clone())?;
        }
        Value::Object(obj_type) => {
            // Copy the winning object into a fresh one at the same key.
            let from = doc.clone();
            let dst = doc.am().put_object(parent, key, *obj_type)?;
            copy_obj(&from, doc, &winner.id, &dst, *obj_type)?;
        }
    }
    Ok(())
}

/// Deep-copy object `src` of `from` into the empty object `dst` of `to` (`from` may be a
/// snapshot of `to`, e.g. as it was at earlier heads).
pub(crate) fn copy_obj(
    from: &WorkOrderDoc,
    to: &mut WorkOrderDoc,
    src: &ObjId,
    dst: &ObjId,
    t: ObjType,
) -> Result<()> {
    let f = from.doc_ref();
    match t {
        ObjType::Text => {
            let text = f.text(src)?;
            to.am().splice_text(dst, 0, 0, &text)?;
        }
        ObjType::Map | ObjType::Table => {
            for k in f.keys(src) {
                if let Some((v, id)) = f.get(src, k.as_str())? {
                    match v {
                        Value::Scalar(s) => to.am().put(dst, k.as_str(), s.into_owned())?,
                        Value::Object(t) => {
                            let child = to.am().put_object(dst, k.as_str(), t)?;
                            copy_obj(from, to, &id, &child, t)?;
                        }
                    }
                }
            }
        }
        ObjType::List => {
            for i in 0..f.length(src) {
                if let Some((v, id)) = f.get(src, i)? {
                    match v {
                        Value::Scalar(s) => to.am().insert(dst, i, s.into_owned())?,
                        Value::Object(t) => {
                            let child = to.am().insert_object(dst, i, t)?;
                            copy_obj(from, to, &id, &child, t)?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
