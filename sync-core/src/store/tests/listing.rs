//! Listing and search: filters, every sort order, full text, and the indexes behind them.

use super::*;
use crate::store::query::list_sql;
use crate::store::{ListQuery, Sort};
use crate::workorder::{OrderSummary, Priority};
use crate::{Status, UserId};

/// Five orders with distinct schedules, priorities, SLAs and places.
struct Fixture {
    t: TempStore,
    store: Store,
    u1: UserId,
    u2: UserId,
}

struct Spec {
    number: &'static str,
    customer: &'static str,
    place: (f64, f64),
    priority: Priority,
    sla: Option<i64>,
    window: Option<(i64, i64)>,
    assignee: u8,
    status: Status,
}

fn fixture() -> Fixture {
    let t = TempStore::new();
    let store = t.open();
    let (u1, u2) = (UserId::new(), UserId::new());
    let specs = [
        Spec {
            number: "WO-A",
            customer: "Acme Cold Storage",
            place: (31.23, 121.47), // Shanghai
            priority: Priority::Urgent,
            sla: Some(3_000),
            window: Some((100, 200)),
            assignee: 1,
            status: Status::Assigned,
        },
        Spec {
            number: "WO-B",
            customer: "Globex Freezers",
            place: (23.13, 113.26), // Guangzhou
            priority: Priority::Normal,
            sla: Some(1_000),
            window: Some((50, 80)),
            assignee: 2,
            status: Status::Assigned,
        },
        Spec {
            number: "WO-C",
            customer: "上海冷链物流有限公司",
            place: (39.90, 116.40), // Beijing
            priority: Priority::High,
            sla: None,
            window: None,
            assignee: 0,
            status: Status::New,
        },
        Spec {
            number: "WO-D",
            customer: "Initech Café",
            place: (30.27, 120.15), // Hangzhou
            priority: Priority::Urgent,
            sla: Some(2_000),
            window: Some((300, 400)),
            assignee: 1,
            status: Status::Cancelled,
        },
        Spec {
            number: "WO-E",
            customer: "Umbrella Labs",
            place: (-33.87, 151.21), // Sydney
            priority: Priority::Low,
            sla: Some(500),
            window: Some((150, 250)),
            assignee: 1,
            status: Status::Assigned,
        },
    ];
    for spec in specs {
        let mut new = new_order(spec.number);
        new.customer.name = spec.customer.into();
        new.site.lat = spec.place.0;
        new.site.lon = spec.place.1;
        new.asset.serial = format!("SN-{}-7781", spec.number);
        if spec.number == "WO-E" {
            new.asset.model = "Carrier 30XA".into();
        }
        new.priority = spec.priority;
        new.sla_due_ms = spec.sla;
        let mut doc = create(&new);
        let who = match spec.assignee {
            1 => Some(u1),
            2 => Some(u2),
            _ => None,
        };
        doc.assign(&office(), who).unwrap();
        if let Some((start, end)) = spec.window {
            doc.schedule(&office(), start, end).unwrap();
        }
        if spec.status != Status::New {
            doc.set_status(&office(), spec.status).unwrap();
        }
        store.insert_local(&mut doc).unwrap();
    }
    Fixture { t, store, u1, u2 }
}

fn numbers(rows: &[OrderSummary]) -> Vec<&str> {
    rows.iter().map(|s| s.number.as_str()).collect()
}

impl Fixture {
    fn list(&self, q: ListQuery) -> Vec<String> {
        numbers(&self.store.list(&q).unwrap())
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    fn search(&self, text: &str) -> Vec<String> {
        let mut found: Vec<String> = numbers(&self.store.search(text, 0).unwrap())
            .into_iter()
            .map(str::to_owned)
            .collect();
        found.sort();
        found
    }
}

#[test]
fn each_sort_order_lists_in_its_order() {
    let f = fixture();
    let by = |sort| {
        f.list(ListQuery {
            sort,
            ..Default::default()
        })
    };
    assert_eq!(by(Sort::Schedule), ["WO-B", "WO-A", "WO-E", "WO-D", "WO-C"]);
    assert_eq!(by(Sort::Priority), ["WO-D", "WO-A", "WO-C", "WO-B", "WO-E"]);
    assert_eq!(by(Sort::Sla), ["WO-E", "WO-B", "WO-D", "WO-A", "WO-C"]);
    // From the People's Square, Shanghai.
    let near = Sort::DistanceFrom {
        lat: 31.2304,
        lon: 121.4737,
    };
    assert_eq!(by(near), ["WO-A", "WO-D", "WO-C", "WO-B", "WO-E"]);
    // Across the antimeridian: from Fiji's eastern islands, Sydney is nearest.
    let fiji = Sort::DistanceFrom {
        lat: -17.7,
        lon: -179.0,
    };
    assert_eq!(by(fiji)[0], "WO-E");
}

#[test]
fn filters_narrow_the_list() {
    let f = fixture();
    let q = |q: ListQuery| f.list(q);
    assert_eq!(
        q(ListQuery {
            status: Some(vec![Status::Assigned]),
            ..Default::default()
        }),
        ["WO-B", "WO-A", "WO-E"]
    );
    assert_eq!(
        q(ListQuery {
            status: Some(vec![Status::New, Status::Cancelled]),
            ..Default::default()
        }),
        ["WO-D", "WO-C"]
    );
    assert!(
        q(ListQuery {
            status: Some(vec![]),
            ..Default::default()
        })
        .is_empty()
    );
    assert_eq!(
        q(ListQuery {
            assignee: Some(f.u1),
            ..Default::default()
        }),
        ["WO-A", "WO-E", "WO-D"]
    );
    assert_eq!(
        q(ListQuery {
            assignee: Some(f.u2),
            ..Default::default()
        }),
        ["WO-B"]
    );
    // Windows overlapping [120, 260]: A (100..200) and E (150..250).
    assert_eq!(
        q(ListQuery {
            from_ms: Some(120),
            to_ms: Some(260),
            ..Default::default()
        }),
        ["WO-A", "WO-E"]
    );
    // Open-ended bounds; a window touching the bound overlaps it.
    assert_eq!(
        q(ListQuery {
            from_ms: Some(250),
            ..Default::default()
        }),
        ["WO-E", "WO-D"]
    );
    assert_eq!(
        q(ListQuery {
            to_ms: Some(50),
            ..Default::default()
        }),
        ["WO-B"]
    );
    // Filters combine, and combine with any sort.
    assert_eq!(
        q(ListQuery {
            status: Some(vec![Status::Assigned]),
            assignee: Some(f.u1),
            sort: Sort::Priority,
            ..Default::default()
        }),
        ["WO-A", "WO-E"]
    );
}

#[test]
fn limit_and_offset_page_through_a_listing() {
    let f = fixture();
    let page = |offset| {
        f.list(ListQuery {
            limit: 2,
            offset,
            ..Default::default()
        })
    };
    assert_eq!(page(0), ["WO-B", "WO-A"]);
    assert_eq!(page(2), ["WO-E", "WO-D"]);
    assert_eq!(page(4), ["WO-C"]);
    assert!(page(6).is_empty());
}

#[test]
fn list_returns_the_documents_summaries() {
    let f = fixture();
    let listed = f.store.list(&ListQuery::default()).unwrap();
    for s in &listed {
        let doc = f.store.load(&s.id).unwrap();
        assert_eq!(&doc.summary().unwrap(), s);
    }
}

#[test]
fn search_matches_substrings_of_every_searchable_field() {
    let f = fixture();
    assert_eq!(f.search("WO-D"), ["WO-D"], "number");
    assert_eq!(f.search("globex"), ["WO-B"], "customer, any case");
    assert_eq!(f.search("dock"), f.search("1 Dock Rd"), "site address");
    assert_eq!(
        f.search("Dock Rd").len(),
        5,
        "site address (every order has it)"
    );
    assert_eq!(f.search("SN-WO-E"), ["WO-E"], "serial");
    assert_eq!(f.search("7781").len(), 5, "serial fragment");
    assert_eq!(f.search("carrier"), ["WO-E"], "asset model");
    assert_eq!(
        f.search("Chiller X200").len(),
        4,
        "asset model, with a short word"
    );
    assert_eq!(f.search("compressor trips"), f.search("minutes"), "problem");
    assert_eq!(f.search("cafe"), ["WO-D"], "diacritics ignored");
}

#[test]
fn search_finds_chinese_text_by_short_and_long_fragments() {
    let f = fixture();
    assert_eq!(f.search("冷链物流"), ["WO-C"], "through the trigram index");
    assert_eq!(
        f.search("上海"),
        ["WO-C"],
        "two characters: the LIKE fallback"
    );
    assert_eq!(f.search("上海 物流有限"), ["WO-C"], "both at once");
}

#[test]
fn search_requires_every_word_and_treats_syntax_as_text() {
    let f = fixture();
    assert!(f.search("Acme Globex").is_empty());
    assert_eq!(f.search("Acme Cold"), ["WO-A"]);
    for odd in [
        "\"",
        "Acme\"",
        "AND",
        "OR NOT",
        "NEAR(a b)",
        "*",
        "a*",
        "col:umn",
        "100%",
        "_",
        "\\",
        "^Acme",
    ] {
        f.store
            .search(odd, 10)
            .unwrap_or_else(|e| panic!("{odd:?}: {e}"));
    }
    assert!(f.search("100%").is_empty());
    assert!(f.search("   ").is_empty());
    assert!(f.search("nothing like this").is_empty());
}

#[test]
fn search_ranks_and_limits() {
    let f = fixture();
    assert_eq!(f.store.search("Dock", 2).unwrap().len(), 2);
    assert_eq!(f.store.search("Dock", 0).unwrap().len(), 5, "0: no limit");

    // bm25: the order that mentions the word more ranks first, whichever was stored first.
    let t = TempStore::new();
    let store = t.open();
    let mut once = new_order("WO-ONCE");
    once.problem = "Fan noise".into();
    let mut thrice = new_order("WO-THRICE");
    thrice.problem = "Acme unit leaks; Acme service asked for Acme parts".into();
    for n in [&once, &thrice] {
        store.insert_local(&mut create(n)).unwrap();
    }
    let ranked = store.search("acme", 0).unwrap();
    assert_eq!(numbers(&ranked), ["WO-THRICE", "WO-ONCE"]);
}

#[test]
fn search_follows_query_row_updates() {
    let f = fixture();
    // The update trigger re-indexes changed text (as a new document version would).
    raw_sql(
        &f.t.path(),
        "UPDATE orders SET customer_name = 'Hooli Chillers' WHERE number = 'WO-B'",
        [],
    );
    assert_eq!(f.search("hooli"), ["WO-B"]);
    assert!(f.search("globex").is_empty());
    // Rows whose text did not change are not re-indexed, and still found.
    raw_sql(&f.t.path(), "UPDATE orders SET status = 'closed'", []);
    assert_eq!(f.search("Umbrella"), ["WO-E"]);
}

/// The query plan of a listing, one detail line each.
fn plan(store: &Store, q: &ListQuery) -> String {
    let (sql, params) = list_sql(q);
    store
        .read(|tx| {
            let mut stmt = tx.conn().prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("\n"))
        })
        .unwrap()
}

#[test]
fn every_listing_is_backed_by_a_named_index() {
    let f = fixture();
    // A plain sorted listing walks its sort index: no table scan, no sort step.
    for (sort, index) in [
        (Sort::Schedule, "orders_by_schedule"),
        (Sort::Priority, "orders_by_priority"),
        (Sort::Sla, "orders_by_sla"),
    ] {
        let p = plan(
            &f.store,
            &ListQuery {
                sort,
                ..Default::default()
            },
        );
        assert!(p.contains(index), "{sort:?}: {p}");
        assert!(!p.contains("TEMP B-TREE"), "{sort:?}: {p}");
    }
    // "My orders by schedule" is one index range.
    let p = plan(
        &f.store,
        &ListQuery {
            assignee: Some(f.u1),
            ..Default::default()
        },
    );
    assert!(p.contains("orders_by_assignee"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
    // Filters use an index under any sort, distance included.
    let sorts = [
        Sort::Schedule,
        Sort::Priority,
        Sort::Sla,
        Sort::DistanceFrom { lat: 0.0, lon: 0.0 },
    ];
    for sort in sorts {
        for q in [
            ListQuery {
                status: Some(vec![Status::Assigned, Status::EnRoute]),
                sort,
                ..Default::default()
            },
            ListQuery {
                assignee: Some(f.u2),
                sort,
                ..Default::default()
            },
            ListQuery {
                from_ms: Some(0),
                to_ms: Some(1_000),
                sort,
                ..Default::default()
            },
        ] {
            let p = plan(&f.store, &q);
            assert!(p.contains("INDEX orders_by_"), "{q:?}: {p}");
        }
    }
}
