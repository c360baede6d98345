//! The work-order status machine: which role may move an order from which status to which.

use crate::workorder::{Role, Status};
use crate::{Error, Result};

/// Whether `role` may move an order from `from` to `to`.
pub fn allowed(from: &Status, to: &Status, role: Role) -> bool {
    use Role::*;
    use Status::*;
    if from == to {
        return false;
    }
    let field = matches!(role, Engineer);
    let office = matches!(role, Dispatcher | Admin | System);
    match (from, to) {
        (New, Assigned) | (Assigned, New) => office,
        (Assigned, EnRoute) | (EnRoute, OnSite) | (Assigned, OnSite) => field,
        (OnSite, Completed) | (OnSite, NeedsParts) => field,
        (NeedsParts, EnRoute) | (NeedsParts, OnSite) => field,
        (NeedsParts, Assigned) => office,
        (Completed, Closed) => office,
        (Completed, OnSite) => office, // reopen after a failed sign-off
        (Cancelled, New) | (Closed, New) => office, // reopen
        (_, Cancelled) => office && !matches!(from, Closed),
        _ => false,
    }
}

/// Whether `role` can get an order from `from` to `to` through one or more allowed transitions.
/// The server judges a device's offline work by this: the phone may have gone assigned -> en
/// route -> on site -> completed between two syncs.
pub fn reachable(from: &Status, to: &Status, role: Role) -> bool {
    if from == to {
        return true;
    }
    let mut seen = vec![from.clone()];
    let mut frontier = vec![from.clone()];
    while let Some(s) = frontier.pop() {
        for next in Status::KNOWN {
            if !seen.contains(&next) && allowed(&s, &next, role) {
                if &next == to {
                    return true;
                }
                seen.push(next.clone());
                frontier.push(next);
            }
        }
    }
    false
}

/// [`allowed`] as a `Result` with a typed error.
pub fn check_transition(from: &Status, to: &Status, role: Role) -> Result<()> {
    if allowed(from, to, role) {
        Ok(())
    } else {
        Err(Error::TransitionNotAllowed {
            from: from.clone(),
            to: to.clone(),
            role: role.as_str().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engineer_walks_the_field_path_but_cannot_cancel_or_close() {
        let r = Role::Engineer;
        assert!(allowed(&Status::Assigned, &Status::EnRoute, r));
        assert!(allowed(&Status::EnRoute, &Status::OnSite, r));
        assert!(allowed(&Status::OnSite, &Status::Completed, r));
        assert!(!allowed(&Status::Assigned, &Status::Cancelled, r));
        assert!(!allowed(&Status::Completed, &Status::Closed, r));
        assert!(!allowed(&Status::New, &Status::Assigned, r));
    }

    #[test]
    fn dispatcher_assigns_cancels_closes_and_reopens() {
        let r = Role::Dispatcher;
        assert!(allowed(&Status::New, &Status::Assigned, r));
        assert!(allowed(&Status::OnSite, &Status::Cancelled, r));
        assert!(allowed(&Status::Completed, &Status::Closed, r));
        assert!(allowed(&Status::Cancelled, &Status::New, r));
        assert!(!allowed(&Status::Assigned, &Status::OnSite, r));
        assert!(!allowed(&Status::Closed, &Status::Cancelled, r));
    }

    #[test]
    fn customers_and_warehouse_change_no_status() {
        for from in Status::KNOWN {
            for to in Status::KNOWN {
                assert!(!allowed(&from, &to, Role::Customer));
                assert!(!allowed(&from, &to, Role::Warehouse));
            }
        }
    }
}
