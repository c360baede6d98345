//! Field-level authority: which role may change which part of a work order.
//!
//! The server checks every incoming batch of changes for a document. Automerge changes cannot be
//! un-accepted (later changes depend on them, and the device already has them), so a forbidden
//! edit is *compensated*: the server writes the field back to its value before the batch, records
//! an event and a flag, and reports a [`Refusal`] to the device. Accepted edits in the same batch
//! stay. The table is documented in `docs/conflict-rules.md`.

use crate::workorder::paths as p;
use crate::workorder::{EditContext, Role, Status, WorkOrderDoc};
use crate::{Result, UserId};
use automerge::transaction::Transactable;
use automerge::{ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// Who sent a batch of changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sender {
    pub user: UserId,
    pub role: Role,
}

/// A change the server refused, as reported to the device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Dotted path of the field, e.g. `dispatch.assignee`.
    pub field: String,
    pub reason: String,
}

/// What [`enforce`] did: the refusals to report, and which parts of the document the batch
/// touched (what later steps may skip when untouched).
#[derive(Clone, Debug, Default)]
pub struct Enforced {
    pub refusals: Vec<Refusal>,
    pub touched: Touched,
}

/// The map-key paths a batch of changes touched, each cut after its third key
/// (`visits.<visit>.parts`), so later steps know what they may skip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    everything: bool,
    paths: BTreeSet<Vec<String>>,
}

impl Touched {
    /// For a new document, or a batch nobody inspected: assume it touched everything.
    pub fn everything() -> Touched {
        Touched {
            everything: true,
            paths: BTreeSet::new(),
        }
    }

    /// Nothing touched.
    pub fn nothing() -> Touched {
        Touched::default()
    }

    fn add(&mut self, path: &[Prop]) {
        let keys: Vec<String> = path
            .iter()
            .map_while(|p| match p {
                Prop::Map(k) => Some(k.clone()),
                Prop::Seq(_) => None,
            })
            .take(3)
            .collect();
        self.paths.insert(keys);
    }

    /// Whether anything at or under `prefix` was touched (or anything at all above it, which may
    /// have replaced it). `"*"` matches any key, e.g. `["visits", "*", "parts"]`.
    pub fn under(&self, prefix: &[&str]) -> bool {
        self.everything
            || self.paths.iter().any(|path| {
                path.iter()
                    .zip(prefix)
                    .all(|(k, want)| *want == "*" || k == want)
            })
    }

    /// Whether the batch touched what the parts ledger reads from an order: consumption lines,
    /// parts requests, or the status (a closed order releases its reservations).
    pub fn inventory(&self) -> bool {
        self.under(&[p::STATUS])
            || self.under(&[p::PARTS_REQUESTS])
            || self.under(&[p::VISITS, "*", p::V_PARTS])
    }
}

/// Check what changed between `before` (the server's heads before the batch) and the document's
/// current heads against `sender`'s authority, compensate forbidden edits (writing as `ctx`, the
/// server) and report them. `sender_base` and `sender_heads` are the heads the sender built on and
/// ended with: its status changes are judged on its own branch, so an engineer who completed an
/// order offline while a dispatcher cancelled it is not refused; that is a conflict, for
/// `rules::conflicts`.
pub fn enforce(
    doc: &mut WorkOrderDoc,
    before: &[ChangeHash],
    sender_base: &[ChangeHash],
    sender_heads: &[ChangeHash],
    sender: Sender,
    ctx: &EditContext,
) -> Result<Enforced> {
    if sender.role == Role::System {
        return Ok(Enforced {
            refusals: Vec::new(),
            touched: Touched::everything(),
        });
    }
    let after = doc.heads();
    if after.as_slice() == before {
        return Ok(Enforced::default());
    }
    let patches = doc.am().diff(before, &after);
    let mut forbidden: BTreeSet<(Vec<Prop>, String)> = BTreeSet::new();
    let mut touched = Touched::nothing();
    // Who owned each visit, now and before the batch: judged once per visit, not per patch
    // (reading at old heads is the expensive part of a check).
    let mut owners: HashMap<String, bool> = HashMap::new();
    for patch in &patches {
        let mut path: Vec<Prop> = patch.path.iter().map(|(_, prop)| prop.clone()).collect();
        let list_edit = match &patch.action {
            automerge::PatchAction::PutMap { key, .. }
            | automerge::PatchAction::DeleteMap { key } => {
                path.push(Prop::Map(key.clone()));
                false
            }
            automerge::PatchAction::Conflict { prop } => {
                path.push(prop.clone());
                false
            }
            automerge::PatchAction::Increment { prop, .. } => {
                path.push(prop.clone());
                false
            }
            automerge::PatchAction::DeleteSeq { .. } | automerge::PatchAction::PutSeq { .. } => {
                true
            }
            _ => false,
        };
        touched.add(&path);
        if let Some(reason) = judge(doc, before, &path, list_edit, sender, &mut owners) {
            forbidden.insert((restore_point(&path), reason));
        }
    }

    // Status: judged on the sender's own branch, from what it started from to what it ended with.
    let base = if sender_base.is_empty() {
        before
    } else {
        sender_base
    };
    let status_before = status_at(doc, base);
    let status_now = status_at(doc, sender_heads);
    if status_before != status_now {
        let allowed = crate::rules::status::reachable(&status_before, &status_now, sender.role)
            && (sender.role != Role::Engineer || works_on(doc, base, sender.user));
        if !allowed {
            forbidden.insert((
                vec![Prop::Map(p::STATUS.into())],
                format!(
                    "{} may not move the order from {status_before} to {status_now}",
                    sender.role
                ),
            ));
        }
    }

    let mut refusals = Vec::new();
    let mut done: BTreeSet<Vec<Prop>> = BTreeSet::new();
    for (path, reason) in forbidden {
        if !done.insert(path.clone()) {
            continue;
        }
        restore(doc, before, &path)?;
        let field = dotted(&path);
        doc.record_event(ctx, "change_refused", &format!("{field}: {reason}"))?;
        doc.raise_flag(
            ctx,
            "refused",
            &field,
            &format!("{} {}: {reason}", sender.role, sender.user),
        )?;
        refusals.push(Refusal { field, reason });
    }
    Ok(Enforced { refusals, touched })
}

/// Why `sender` may not change `path`, or `None` if they may.
fn judge(
    doc: &WorkOrderDoc,
    before: &[ChangeHash],
    path: &[Prop],
    list_edit: bool,
    sender: Sender,
    owners: &mut HashMap<String, bool>,
) -> Option<String> {
    let key = |i: usize| match path.get(i) {
        Some(Prop::Map(k)) => Some(k.as_str()),
        _ => None,
    };
    let office = matches!(sender.role, Role::Dispatcher | Role::Admin);
    match key(0)? {
        p::SCHEMA | p::ID | p::ORG | p::NUMBER => Some("the order's identity cannot change".into()),
        p::STATUS => None, // judged by the status machine
        p::HEADER | p::DISPATCH => (!office)
            .then(|| "only dispatchers may change the order's header and assignment".into()),
        p::VISITS => {
            let visit = key(1)?;
            if sender.role != Role::Engineer {
                return Some("only the visit's engineer records field work".into());
            }
            let mine = *owners.entry(visit.to_owned()).or_insert_with(|| {
                let owner_now = visit_engineer(doc, visit, None);
                let owner_before = visit_engineer(doc, visit, Some(before));
                owner_now.as_deref() == Some(sender.user.to_string().as_str())
                    && (owner_before.is_none() || owner_before == owner_now)
            });
            if !mine {
                return Some("only the visit's engineer records field work".into());
            }
            if list_edit {
                return Some("labour, parts and photos are append-only".into());
            }
            None
        }
        p::PARTS_REQUESTS => {
            if list_edit {
                return Some("parts requests are append-only".into());
            }
            if key(2) == Some("decision") {
                return (!matches!(sender.role, Role::Warehouse | Role::Admin))
                    .then(|| "only warehouse staff decide parts requests".into());
            }
            matches!(sender.role, Role::Customer | Role::Warehouse)
                .then(|| "only engineers and dispatchers request parts".into())
        }
        p::EVENTS => list_edit.then(|| "the event log is append-only".into()),
        p::FLAGS => {
            let resolving = matches!(key(2), Some("resolved_by" | "resolved_at"));
            (!(office && resolving)).then(|| "flags are raised by the server".into())
        }
        _ => Some("unknown field".into()),
    }
}

/// The unit restored when an edit under `path` is refused: the map key directly changed, or the
/// whole visit/list entry for edits inside append-only lists.
fn restore_point(path: &[Prop]) -> Vec<Prop> {
    // Stop at the first list index: lists are restored as a whole (re-inserting removed entries).
    let mut out = Vec::new();
    for prop in path {
        match prop {
            Prop::Map(_) => out.push(prop.clone()),
            Prop::Seq(_) => break,
        }
    }
    out
}

fn dotted(path: &[Prop]) -> String {
    path.iter()
        .map(|p| match p {
            Prop::Map(k) => k.clone(),
            Prop::Seq(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn status_at(doc: &WorkOrderDoc, heads: &[ChangeHash]) -> Status {
    match doc.doc_ref().get_at(ROOT, p::STATUS, heads) {
        Ok(Some((Value::Scalar(s), _))) => Status::parse(s.as_str().unwrap_or("new")),
        _ => Status::New,
    }
}

fn visit_engineer(doc: &WorkOrderDoc, visit: &str, at: Option<&[ChangeHash]>) -> Option<String> {
    let d = doc.doc_ref();
    let get = |obj: &ObjId, key: &str| match at {
        Some(h) => d.get_at(obj, key, h).ok().flatten(),
        None => d.get(obj, key).ok().flatten(),
    };
    let (_, visits) = get(&ROOT, p::VISITS)?;
    let (_, v) = get(&visits, visit)?;
    match get(&v, p::V_ENGINEER)? {
        (Value::Scalar(s), _) => s.as_str().map(str::to_owned),
        _ => None,
    }
}

/// Whether `user` was the assignee, or owns a visit, before the batch.
fn works_on(doc: &WorkOrderDoc, before: &[ChangeHash], user: UserId) -> bool {
    let d = doc.doc_ref();
    let me = user.to_string();
    let assignee = d
        .get_at(ROOT, p::DISPATCH, before)
        .ok()
        .flatten()
        .and_then(|(_, disp)| d.get_at(&disp, p::ASSIGNEE, before).ok().flatten())
        .and_then(|(v, _)| match v {
            Value::Scalar(s) => s.as_str().map(str::to_owned),
            _ => None,
        });
    if assignee.as_deref() == Some(me.as_str()) {
        return true;
    }
    doc.visit_ids()
        .iter()
        .any(|v| visit_engineer(doc, &v.to_string(), Some(before)).as_deref() == Some(me.as_str()))
}

/// Put the value at `path` back to what it was at `before`.
fn restore(doc: &mut WorkOrderDoc, before: &[ChangeHash], path: &[Prop]) -> Result<()> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    // Walk to the parent object in the current document.
    let mut parent = ROOT;
    for prop in parents {
        match doc.doc_ref().get(&parent, prop.clone())? {
            Some((Value::Object(_), id)) => parent = id,
            _ => return Ok(()), // the parent itself is gone: restored by an outer path
        }
    }
    restore_prop(doc, before, &parent, last)
}

fn restore_prop(
    doc: &mut WorkOrderDoc,
    before: &[ChangeHash],
    parent: &ObjId,
    prop: &Prop,
) -> Result<()> {
    let then = doc
        .doc_ref()
        .get_at(parent, prop.clone(), before)?
        .map(|(v, id)| (v.to_owned(), id));
    let now = doc
        .doc_ref()
        .get(parent, prop.clone())?
        .map(|(v, id)| (v.to_owned(), id));
    let Prop::Map(key) = prop else {
        return Ok(());
    };
    match (then, now) {
        (None, None) => {}
        (None, Some(_)) => doc.am().delete(parent, key.as_str())?,
        (Some((Value::Scalar(s), _)), _) => doc.am().put(parent, key.as_str(), s.into_owned())?,
        (Some((Value::Object(t), old)), Some((Value::Object(_), cur))) if old == cur => match t {
            ObjType::Text => {
                let text = doc.doc_ref().text_at(&old, before)?;
                doc.am().update_text(&old, &text)?;
            }
            ObjType::Map | ObjType::Table => {
                let mut keys: BTreeSet<String> = doc.doc_ref().keys_at(&old, before).collect();
                keys.extend(doc.doc_ref().keys(&old));
                for k in keys {
                    restore_prop(doc, before, &old, &Prop::Map(k))?;
                }
            }
            ObjType::List => {
                // Append-only lists: re-insert entries that were removed.
                let present: BTreeSet<ObjId> = (0..doc.doc_ref().length(&old))
                    .filter_map(|i| doc.doc_ref().get(&old, i).ok().flatten().map(|(_, id)| id))
                    .collect();
                for i in 0..doc.doc_ref().length_at(&old, before) {
                    let item = doc
                        .doc_ref()
                        .get_at(&old, i, before)?
                        .map(|(v, id)| (v.to_owned(), id));
                    if let Some((Value::Object(t), id)) = item
                        && !present.contains(&id)
                    {
                        let idx = i.min(doc.doc_ref().length(&old));
                        let dst = doc.am().insert_object(&old, idx, t)?;
                        copy_at(doc, before, &id, &dst, t)?;
                    }
                }
            }
        },
        (Some((Value::Object(t), old)), _) => {
            let dst = doc.am().put_object(parent, key.as_str(), t)?;
            copy_at(doc, before, &old, &dst, t)?;
        }
    }
    Ok(())
}

/// Deep-copy object `src` as it was at `heads` into the empty `dst`.
fn copy_at(
    doc: &mut WorkOrderDoc,
    heads: &[ChangeHash],
    src: &ObjId,
    dst: &ObjId,
    t: ObjType,
) -> Result<()> {
    // Materialise the old object in a fork at `heads`, then copy from there.
    let mut old = doc.clone();
    old.am().isolate(heads);
    crate::rules::conflicts::copy_obj(&old, doc, src, dst, t)
}
