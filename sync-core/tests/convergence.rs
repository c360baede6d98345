//! Property test of DESIGN invariant 3: phones and a server apply random operations and exchange
//! them through the protocol with lost, duplicated and cut-off messages; once the network heals,
//! every replica holds the same documents and no acknowledged operation is missing.

mod common;
use common::*;
use proptest::prelude::*;
use sync_core::protocol::device::{self, SyncReport};
use sync_core::protocol::memory::MemoryServer;
use sync_core::protocol::{self, Limits};
use sync_core::rules::authority::Sender;
use sync_core::rules::conflicts;
use sync_core::workorder::{FormValue, NewConsumption, Priority};
use sync_core::{DocId, LineId, OrgId, Role, Status, Store, UserId};

const ORDERS: usize = 4;
const PHONES: usize = 2;

#[derive(Clone, Debug)]
enum Fault {
    None,
    LoseRequest,
    LoseResponse,
    Truncate(usize),
    Duplicate,
}

#[derive(Clone, Debug)]
enum Op {
    Assign {
        order: usize,
        to: Option<usize>,
    },
    Priority {
        order: usize,
        urgent: bool,
    },
    Consume {
        phone: usize,
        pick: usize,
        qty: i64,
    },
    VoidLast {
        phone: usize,
        pick: usize,
    },
    Notes {
        phone: usize,
        pick: usize,
        text: u8,
    },
    Answer {
        phone: usize,
        pick: usize,
        value: i64,
    },
    Status {
        phone: usize,
        pick: usize,
        step: u8,
    },
    Forbidden {
        phone: usize,
        pick: usize,
    },
    Sync {
        phone: usize,
        fault: Fault,
    },
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        4 => Just(Fault::None),
        1 => Just(Fault::LoseRequest),
        1 => Just(Fault::LoseResponse),
        1 => (0usize..2000).prop_map(Fault::Truncate),
        1 => Just(Fault::Duplicate),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let phone = 0..PHONES;
    let pick = 0usize..8;
    prop_oneof![
        1 => (0..ORDERS, proptest::option::of(0..PHONES)).prop_map(|(order, to)| Op::Assign { order, to }),
        1 => (0..ORDERS, any::<bool>()).prop_map(|(order, urgent)| Op::Priority { order, urgent }),
        3 => (phone.clone(), pick.clone(), 1i64..5).prop_map(|(phone, pick, qty)| Op::Consume { phone, pick, qty }),
        1 => (phone.clone(), pick.clone()).prop_map(|(phone, pick)| Op::VoidLast { phone, pick }),
        1 => (phone.clone(), pick.clone(), any::<u8>()).prop_map(|(phone, pick, text)| Op::Notes { phone, pick, text }),
        1 => (phone.clone(), pick.clone(), -5i64..50).prop_map(|(phone, pick, value)| Op::Answer { phone, pick, value }),
        1 => (phone.clone(), pick.clone(), 0u8..4).prop_map(|(phone, pick, step)| Op::Status { phone, pick, step }),
        1 => (phone.clone(), pick).prop_map(|(phone, pick)| Op::Forbidden { phone, pick }),
        3 => (phone, fault()).prop_map(|(phone, fault)| Op::Sync { phone, fault }),
    ]
}

struct World {
    server: MemoryServer,
    dispatcher: UserId,
    engineers: Vec<UserId>,
    stores: Vec<Store>,
    _dirs: Vec<tempfile::TempDir>,
    orders: Vec<DocId>,
    /// Consumption lines whose edit the phone's store acknowledged.
    acknowledged: Vec<(DocId, LineId)>,
    clock: i64,
}

impl World {
    fn new() -> World {
        let mut server = MemoryServer::new(OrgId::new());
        server.limits.page_bytes = 3_000; // exercise paging too
        let dispatcher = UserId::new();
        let engineers: Vec<UserId> = (0..PHONES).map(|_| UserId::new()).collect();
        let org = server.org;
        let mut orders = Vec::new();
        for n in 0..ORDERS {
            let id = server
                .create(&new_order(org, n as u32), dispatcher)
                .unwrap();
            let to = engineers.get(n % 3).copied();
            server
                .edit(&id, dispatcher, Role::Dispatcher, |d, c| {
                    d.assign(c, to)?;
                    if to.is_some() {
                        d.set_status(c, Status::Assigned)?;
                    }
                    Ok(())
                })
                .unwrap();
            orders.push(id);
        }
        // On tmpfs when there is one: fsync is what costs here, and durability is the crash
        // test's business, not this one's. Thousands of cases then run in CI time.
        let dirs: Vec<tempfile::TempDir> = (0..PHONES)
            .map(|_| match std::path::Path::new("/dev/shm").is_dir() {
                true => tempfile::tempdir_in("/dev/shm").unwrap(),
                false => tempfile::tempdir().unwrap(),
            })
            .collect();
        let stores = dirs
            .iter()
            .map(|d| Store::open(d.path().join("p.db")).unwrap())
            .collect();
        World {
            server,
            dispatcher,
            engineers,
            stores,
            _dirs: dirs,
            orders,
            acknowledged: Vec::new(),
            clock: 1_000,
        }
    }

    fn sender(&self, phone: usize) -> Sender {
        Sender {
            user: self.engineers[phone],
            role: Role::Engineer,
        }
    }

    fn pick(&self, phone: usize, pick: usize) -> Option<DocId> {
        let mut ids = self.stores[phone].read(|tx| tx.doc_ids()).unwrap();
        ids.sort();
        (!ids.is_empty()).then(|| ids[pick % ids.len()])
    }

    fn phone_edit(
        &mut self,
        phone: usize,
        pick: usize,
        f: impl FnOnce(
            &mut sync_core::WorkOrderDoc,
            &sync_core::EditContext,
            sync_core::VisitId,
        ) -> sync_core::Result<Option<LineId>>,
    ) {
        let Some(id) = self.pick(phone, pick) else {
            return;
        };
        self.clock += 10;
        let c = ctx(self.engineers[phone], Role::Engineer, self.clock);
        let me = self.engineers[phone];
        let r = self.stores[phone].edit(&id, |d| {
            let visit = match d.read()?.visits.iter().find(|v| v.engineer == me) {
                Some(v) => v.id,
                None => d.start_visit(&c)?,
            };
            f(d, &c, visit)
        });
        if let Ok(Some(line)) = r {
            self.acknowledged.push((id, line));
        }
    }

    fn apply(&mut self, op: &Op) {
        match op.clone() {
            Op::Assign { order, to } => {
                let to = to.map(|p| self.engineers[p]);
                let id = self.orders[order];
                let _ = self
                    .server
                    .edit(&id, self.dispatcher, Role::Dispatcher, |d, c| {
                        d.assign(c, to)
                    });
            }
            Op::Priority { order, urgent } => {
                let p = if urgent {
                    Priority::Urgent
                } else {
                    Priority::Low
                };
                let id = self.orders[order];
                let _ = self
                    .server
                    .edit(&id, self.dispatcher, Role::Dispatcher, |d, c| {
                        d.set_priority(c, p)
                    });
            }
            Op::Consume { phone, pick, qty } => self.phone_edit(phone, pick, |d, c, v| {
                let line = NewConsumption {
                    sku: format!("SKU-{qty}"),
                    qty,
                    serial: None,
                    replaced_serial: None,
                };
                d.consume_part(c, &v, &line).map(Some)
            }),
            Op::VoidLast { phone, pick } => self.phone_edit(phone, pick, |d, c, v| {
                let parts = d.read_visit(&v)?.parts;
                match parts.iter().rev().find(|l| l.voids.is_none()) {
                    Some(l) => d.void_consumption(c, &v, &l.id).map(Some),
                    None => Ok(None),
                }
            }),
            Op::Notes { phone, pick, text } => self.phone_edit(phone, pick, |d, c, v| {
                d.set_notes(c, &v, &format!("note {text}")).map(|_| None)
            }),
            Op::Answer { phone, pick, value } => self.phone_edit(phone, pick, |d, c, v| {
                d.set_answer(c, &v, "reading", &FormValue::Integer(value))
                    .map(|_| None)
            }),
            Op::Status { phone, pick, step } => self.phone_edit(phone, pick, |d, c, _| {
                let to = [
                    Status::EnRoute,
                    Status::OnSite,
                    Status::NeedsParts,
                    Status::Completed,
                ][step as usize]
                    .clone();
                d.set_status(c, to).map(|_| None)
            }),
            Op::Forbidden { phone, pick } => self.phone_edit(phone, pick, |d, c, _| {
                d.set_priority(c, Priority::Urgent).map(|_| None)
            }),
            Op::Sync { phone, fault } => {
                let _ = self.sync(phone, fault);
            }
        }
    }

    fn sync(&mut self, phone: usize, fault: Fault) -> sync_core::Result<()> {
        let limits: Limits = self.server.limits;
        let sender = self.sender(phone);
        let name = format!("phone-{phone}");
        let store = &self.stores[phone];
        let req = device::build_request(store, &limits)?;
        let bytes = protocol::encode_request(&req)?;
        let resp = match fault {
            Fault::LoseRequest => return Ok(()),
            Fault::Duplicate => {
                let _ = self.server.handle(&name, sender, &bytes)?;
                self.server.handle(&name, sender, &bytes)?
            }
            _ => self.server.handle(&name, sender, &bytes)?,
        };
        let resp = match fault {
            Fault::LoseResponse => return Ok(()),
            Fault::Truncate(n) => resp[..n.min(resp.len().saturating_sub(1))].to_vec(),
            _ => resp,
        };
        let mut report = SyncReport::default();
        device::apply_response(store, &req, &resp, &limits, &mut report).map(|_| ())
    }

    fn heal(&mut self) {
        for _ in 0..3 {
            for phone in 0..PHONES {
                let limits = self.server.limits;
                let sender = self.sender(phone);
                let name = format!("phone-{phone}");
                let server = &mut self.server;
                device::sync(
                    &self.stores[phone],
                    &limits,
                    50,
                    &mut |r| server.handle(&name, sender, r),
                    &mut |_| {},
                )
                .unwrap();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES (scripts/test sets it) overrides this.
        cases: 64,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn replicas_converge_and_keep_every_acknowledged_operation(ops in proptest::collection::vec(op(), 1..40)) {
        let mut w = World::new();
        for op in &ops {
            w.apply(op);
        }
        w.heal();
        for phone in 0..PHONES {
            let store = &w.stores[phone];
            prop_assert!(store.read(|tx| tx.pending()).unwrap().is_empty(), "phone {phone} still has pending changes");
            for id in store.read(|tx| tx.doc_ids()).unwrap() {
                let mut mine = store.load(&id).unwrap();
                let mut theirs = w.server.doc(&id).expect("server has every document a phone has").clone();
                let (mut a, mut b) = (mine.heads(), theirs.heads());
                a.sort();
                b.sort();
                prop_assert_eq!(a, b, "phone {} and server differ on {}", phone, id);
                prop_assert_eq!(mine.read().unwrap(), theirs.read().unwrap());
                // A phone holds exactly its scope once healed.
                prop_assert_eq!(theirs.dispatch().unwrap().assignee, Some(w.engineers[phone]));
            }
            // And every order assigned to it.
            for id in &w.orders {
                let assignee = w.server.doc(id).unwrap().dispatch().unwrap().assignee;
                if assignee == Some(w.engineers[phone]) {
                    prop_assert!(store.read(|tx| tx.contains(id)).unwrap(), "phone {} lacks assigned {}", phone, id);
                }
            }
        }
        for (id, line) in &w.acknowledged {
            let order = w.server.doc(id).unwrap().read().unwrap();
            let found = order.visits.iter().flat_map(|v| &v.parts).any(|l| l.id == *line);
            prop_assert!(found, "acknowledged consumption line {} on {} is missing", line, id);
        }
        for id in &w.orders {
            let doc = w.server.doc(id).unwrap();
            prop_assert!(conflicts::detect(doc).is_empty(), "unresolved conflict on {}", id);
        }
    }
}
