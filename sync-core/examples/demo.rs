//! A day in miniature, until the server lands in the README's run command: a dispatcher and two
//! field engineers work offline on their own replicas and merge through the sync protocol.
//!
//! Run with `cargo run -p sync-core --example demo`.

use sync_core::protocol::device;
use sync_core::protocol::memory::MemoryServer;
use sync_core::rules::authority::Sender;
use sync_core::workorder::{Asset, Customer, NewConsumption, NewWorkOrder, Priority, Site};
use sync_core::{ContentHash, DocId, EditContext, Hlc, OrgId, Role, Status, Store, UserId};

fn ctx(user: UserId, role: Role, minute: i64) -> EditContext {
    let ms = 1_795_000_000_000 + minute * 60_000;
    EditContext {
        user,
        role,
        device_time_ms: ms,
        hlc: Hlc::ZERO.tick(ms, 1),
    }
}

fn main() -> sync_core::Result<()> {
    let mut server = MemoryServer::new(OrgId::new());
    let dispatcher = UserId::new();
    let (li, zhang) = (UserId::new(), UserId::new());
    let org = server.org;
    let customers = ["Acme Cold Storage", "Huangpu Dairy", "Pudong Data Centre"];
    let mut orders: Vec<DocId> = Vec::new();
    for (n, name) in customers.iter().enumerate() {
        let id = server.create(
            &NewWorkOrder {
                id: DocId::new(),
                org,
                number: format!("WO-2026-{:05}", n + 1),
                customer: Customer {
                    id: format!("C-{n}"),
                    name: (*name).into(),
                },
                site: Site {
                    address: format!("{} Dock Road, Shanghai", 10 + n),
                    lat: 31.23,
                    lon: 121.47,
                },
                asset: Asset {
                    id: format!("A-{n}"),
                    model: "Chiller X200".into(),
                    serial: format!("SN-00{n}"),
                },
                problem: "Compressor trips after ten minutes".into(),
                priority: Priority::Normal,
                sla_due_ms: None,
            },
            dispatcher,
        )?;
        let engineer = if n == 2 { zhang } else { li };
        server.edit(&id, dispatcher, Role::Dispatcher, |d, c| {
            d.assign(c, Some(engineer))?;
            d.set_status(c, Status::Assigned)
        })?;
        orders.push(id);
    }
    println!(
        "Dispatcher created {} orders: two for Li, one for Zhang.",
        orders.len()
    );

    let dir = tempfile_dir();
    let phones = [
        ("li-phone", li, dir.join("li.db")),
        ("zhang-phone", zhang, dir.join("zhang.db")),
    ];
    let stores: Vec<Store> = phones
        .iter()
        .map(|(_, _, p)| Store::open(p))
        .collect::<Result<_, _>>()?;
    let limits = server.limits;
    let sync = |server: &mut MemoryServer, i: usize| -> sync_core::Result<device::SyncReport> {
        let (name, user, _) = &phones[i];
        let sender = Sender {
            user: *user,
            role: Role::Engineer,
        };
        device::sync(
            &stores[i],
            &limits,
            10,
            &mut |r| server.handle(name, sender, r),
            &mut |_| {},
        )
    };
    for (i, (name, _, _)) in phones.iter().enumerate() {
        let r = sync(&mut server, i)?;
        println!(
            "{name} first sync: {} orders, {} bytes down.",
            r.received.len(),
            r.bytes_down
        );
    }

    println!("\nEveryone goes offline.");
    // Li works on the first order in a basement: visit, parts, notes, signature, completion.
    stores[0].edit(&orders[0], |d| {
        let v = d.start_visit(&ctx(li, Role::Engineer, 60))?;
        d.check_in(&ctx(li, Role::Engineer, 61), &v, None, Some(12.0), false)?;
        d.consume_part(
            &ctx(li, Role::Engineer, 70),
            &v,
            &NewConsumption {
                sku: "CAP-35UF".into(),
                qty: 1,
                serial: None,
                replaced_serial: None,
            },
        )?;
        d.set_notes(
            &ctx(li, Role::Engineer, 80),
            &v,
            "Start capacitor failed; replaced.",
        )?;
        d.sign(
            &ctx(li, Role::Engineer, 85),
            &v,
            ContentHash::of(b"signature"),
            "Wang Fang",
        )?;
        d.set_status(&ctx(li, Role::Engineer, 86), Status::Completed)?;
        d.check_out(&ctx(li, Role::Engineer, 87), &v, None, Some(12.0), false)
    })?;
    // Li also tries to raise the priority of the second order: not an engineer's call.
    stores[0].edit(&orders[1], |d| {
        d.set_priority(&ctx(li, Role::Engineer, 90), Priority::Urgent)
    })?;
    // Meanwhile the dispatcher, not knowing Li finished, cancels the first order ...
    server.edit(&orders[0], dispatcher, Role::Dispatcher, |d, c| {
        d.set_status(c, Status::Cancelled)
    })?;
    // ... and gives Zhang's order to Li.
    server.edit(&orders[2], dispatcher, Role::Dispatcher, |d, c| {
        d.assign(c, Some(li))
    })?;
    // Zhang, offline, records a part on the order that is no longer his.
    stores[1].edit(&orders[2], |d| {
        let v = d.start_visit(&ctx(zhang, Role::Engineer, 95))?;
        d.consume_part(
            &ctx(zhang, Role::Engineer, 96),
            &v,
            &NewConsumption {
                sku: "FAN-12".into(),
                qty: 1,
                serial: None,
                replaced_serial: None,
            },
        )
        .map(|_| ())
    })?;

    println!("Signal is back.\n");
    for (i, (name, _, _)) in phones.iter().enumerate() {
        let r = sync(&mut server, i)?;
        println!(
            "{name}: {} round trip(s), {} B up, {} B down; sent {}, received {}, refused {:?}, evicted {}",
            r.round_trips,
            r.bytes_up,
            r.bytes_down,
            r.sent.len(),
            r.received.len(),
            r.refusals
                .iter()
                .map(|(_, x)| x.field.as_str())
                .collect::<Vec<_>>(),
            r.evicted.len()
        );
    }
    let r = sync(&mut server, 0)?; // Li picks up the order re-assigned to him
    println!("li-phone again: received {} order(s).", r.received.len());

    println!("\nOn the server:");
    for id in &orders {
        let o = server.doc(id).expect("order exists").read()?;
        println!(
            "  {} {:<20} status {:<10} priority {:?}",
            o.header.number,
            o.header.customer.name,
            o.status.as_str(),
            o.header.priority
        );
        for f in o.flags.iter().filter(|f| f.resolved_by.is_none()) {
            println!("      flag [{}] {}", f.kind, f.detail);
        }
        for v in &o.visits {
            for p in &v.parts {
                println!("      part {} x{} by engineer {}", p.sku, p.qty, p.engineer);
            }
        }
    }
    let same = orders
        .iter()
        .filter(|id| stores[0].read(|tx| tx.contains(id)).unwrap_or(false))
        .all(|id| {
            let mut a = stores[0].load(id).expect("stored");
            let mut b = server.doc(id).expect("exists").clone();
            let (mut x, mut y) = (a.heads(), b.heads());
            x.sort();
            y.sort();
            x == y
        });
    println!("\nLi's phone and the server hold identical documents: {same}");
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lastmile-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
