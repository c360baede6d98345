//! Shared fixtures for sync-core's integration tests.
#![allow(dead_code)]

use sync_core::workorder::{Asset, Customer, NewWorkOrder, Priority, Site};
use sync_core::{ActorId, DocId, EditContext, Hlc, OrgId, Role, UserId, WorkOrderDoc};

pub fn new_order(org: OrgId, n: u32) -> NewWorkOrder {
    NewWorkOrder {
        id: DocId::new(),
        org,
        number: format!("WO-{n:05}"),
        customer: Customer {
            id: format!("C-{}", n % 50),
            name: format!("Customer {}", n % 50),
        },
        site: Site {
            address: format!("{n} Harbour Road"),
            lat: 31.2 + f64::from(n % 100) / 1000.0,
            lon: 121.4 + f64::from(n % 70) / 1000.0,
        },
        asset: Asset {
            id: format!("A-{n}"),
            model: "Chiller X200".into(),
            serial: format!("SN-{n:06}"),
        },
        problem: "Compressor trips after ten minutes".into(),
        priority: Priority::Normal,
        sla_due_ms: Some(1_800_000_000_000 + i64::from(n) * 60_000),
    }
}

/// A person acting at a given HLC wall time.
pub fn ctx(user: UserId, role: Role, wall_ms: i64) -> EditContext {
    EditContext {
        user,
        role,
        device_time_ms: wall_ms,
        hlc: Hlc::ZERO.tick(wall_ms, 1),
    }
}

/// A second replica of `doc` on another device.
pub fn replica(doc: &mut WorkOrderDoc) -> WorkOrderDoc {
    WorkOrderDoc::load(&doc.save(), &ActorId::random()).unwrap()
}

/// Exchange all changes between two replicas.
pub fn merge_both(a: &mut WorkOrderDoc, b: &mut WorkOrderDoc) {
    let ha = a.heads();
    let hb = b.heads();
    let to_b = a.save_after(&hb);
    let to_a = b.save_after(&ha);
    b.apply_changes(&to_b).unwrap();
    a.apply_changes(&to_a).unwrap();
}
