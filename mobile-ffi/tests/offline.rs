//! The engineer's day without a network: lists, filters, search, status changes, the geofence,
//! labour, parts, the report, photos and the signature. The store is filled as a sync would
//! have filled it; the server URL points nowhere.

mod common;

use common::{NOW, OfflinePhone};
use mobile_ffi::{
    ApiError, ClientListener, FieldKind, FieldProblem, FormField, FormTemplate, FormValue,
    GeoPosition, OrderQuery, OrderSort, OrderStatus, OrderWindow, PartUse, SyncProgress,
};
use std::sync::{Arc, Mutex};

fn pos(lat: f64, lon: f64) -> Option<GeoPosition> {
    Some(GeoPosition {
        lat,
        lon,
        accuracy_m: Some(10.0),
    })
}

fn template() -> FormTemplate {
    FormTemplate {
        id: "chiller-service".into(),
        version: 2,
        name: "Chiller service".into(),
        fields: vec![
            FormField {
                key: "pressure_bar".into(),
                label: "Refrigerant pressure (bar)".into(),
                required: true,
                kind: FieldKind::Number {
                    min: Some(0.0),
                    max: Some(40.0),
                },
            },
            FormField {
                key: "condition".into(),
                label: "Condition".into(),
                required: true,
                kind: FieldKind::Choice {
                    options: vec!["good".into(), "worn".into(), "failed".into()],
                },
            },
            FormField {
                key: "leak_test_passed".into(),
                label: "Leak test passed".into(),
                required: false,
                kind: FieldKind::Bool,
            },
        ],
    }
}

#[test]
fn lists_filter_sort_and_search_offline() {
    let phone = OfflinePhone::new(30);
    let c = &phone.client;
    let all = c.list_orders(OrderQuery::default()).unwrap();
    assert_eq!(all.len(), 30);
    // By schedule: one per hour from 08:00.
    assert!(
        all.windows(2)
            .all(|w| w[0].window_start_ms <= w[1].window_start_ms)
    );

    // Today (UTC) holds the orders starting before midnight: 08:00 .. 23:00 = 16 orders.
    let today = c
        .list_orders(OrderQuery {
            window: Some(OrderWindow::Today {
                utc_offset_minutes: 0,
            }),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(today.len(), 16);
    let upcoming = c
        .list_orders(OrderQuery {
            window: Some(OrderWindow::Upcoming {
                utc_offset_minutes: 0,
            }),
            ..Default::default()
        })
        .unwrap();
    // Windows reaching into tomorrow or later (23:00-24:00 touches midnight).
    assert_eq!(upcoming.len(), 15);
    // In Shanghai (UTC+8) the local day ends at 16:00 UTC.
    let today_sh = c
        .list_orders(OrderQuery {
            window: Some(OrderWindow::Today {
                utc_offset_minutes: 480,
            }),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(today_sh.len(), 8);

    // Priority: the urgent ones (every third) first.
    let by_priority = c
        .list_orders(OrderQuery {
            sort: Some(OrderSort::Priority),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert!(
        by_priority[..10]
            .iter()
            .all(|o| o.priority == mobile_ffi::Priority::Urgent)
    );

    // Distance from a point next to order 7's site: order 7 first, with its distance.
    let here = GeoPosition {
        lat: 31.27 + 0.0005,
        lon: 121.47,
        accuracy_m: None,
    };
    let near = c
        .list_orders(OrderQuery {
            sort: Some(OrderSort::Distance),
            position: Some(here),
            limit: 3,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(near[0].number, "WO-000007");
    let d = near[0].distance_m.unwrap();
    assert!((50.0..60.0).contains(&d), "{d}");
    assert!(near[1].distance_m.unwrap() > d);
    let no_position = c.list_orders(OrderQuery {
        sort: Some(OrderSort::Distance),
        ..Default::default()
    });
    assert!(matches!(no_position, Err(ApiError::InvalidInput { .. })));

    // Status filter and paging.
    phone.client.start_travel(phone.id(0)).unwrap();
    let en_route = c
        .list_orders(OrderQuery {
            statuses: vec![OrderStatus::EnRoute],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(en_route.len(), 1);
    assert_eq!(en_route[0].id, phone.id(0));
    let page2 = c
        .list_orders(OrderQuery {
            limit: 10,
            offset: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page2[0].id, all[10].id);

    // Full-text search: serial fragments, customer names, problem words.
    let hits = c.search_orders("SN-00012".into(), 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].number, "WO-000012");
    assert_eq!(c.search_orders("customer 29".into(), 0).unwrap().len(), 1);
    assert_eq!(c.search_orders("compressor".into(), 0).unwrap().len(), 30);
    assert!(
        c.search_orders("nothing like it".into(), 0)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn status_changes_follow_the_rules_with_typed_errors() {
    let phone = OfflinePhone::new(2);
    let c = &phone.client;
    let id = phone.id(0);
    // Completing an order never started: the status machine says no.
    match c.complete(id.clone()) {
        Err(ApiError::TransitionNotAllowed { reason }) => {
            assert!(reason.contains("assigned -> completed"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.start_travel(id.clone()).unwrap(), OrderStatus::EnRoute);
    let checked = c.check_in(id.clone(), pos(31.2001, 121.4)).unwrap();
    assert_eq!(checked.status, OrderStatus::OnSite);
    // An engineer cannot close or cancel.
    assert!(matches!(
        c.set_status(id.clone(), OrderStatus::Closed),
        Err(ApiError::TransitionNotAllowed { .. })
    ));
    assert!(matches!(
        c.set_status(id.clone(), OrderStatus::Unknown),
        Err(ApiError::InvalidInput { .. })
    ));
    assert_eq!(
        c.report_needs_parts(id.clone()).unwrap(),
        OrderStatus::NeedsParts
    );
    assert_eq!(c.start_travel(id.clone()).unwrap(), OrderStatus::EnRoute);
    assert!(matches!(
        c.get_order("not-an-id".into()),
        Err(ApiError::InvalidInput { .. })
    ));
    assert!(matches!(
        c.get_order(uuid::Uuid::new_v4().to_string()),
        Err(ApiError::NotFound { .. })
    ));
    let order = c.get_order(id).unwrap();
    assert!(order.pending_upload);
    let kinds: Vec<&str> = order.events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"check_in"), "{kinds:?}");
}

#[test]
fn check_in_judges_the_geofence_and_off_site_still_counts() {
    let phone = OfflinePhone::new(2);
    let c = &phone.client;
    // Order 0's site is at (31.20, 121.40); the radius is 150 m.
    let on = c.check_in(phone.id(0), pos(31.2005, 121.40)).unwrap();
    assert!(!on.off_site);
    assert!((50.0..60.0).contains(&on.distance_m.unwrap()));
    assert_eq!(on.radius_m, 150.0);
    assert!(matches!(
        c.check_in(phone.id(0), pos(31.2005, 121.40)),
        Err(ApiError::InvalidState { .. })
    ));
    phone.advance(3_600_000);
    let out = c.check_out(phone.id(0), pos(31.2100, 121.40)).unwrap();
    assert!(out.off_site, "checked out 1.1 km away");
    assert!(matches!(
        c.check_out(phone.id(0), None),
        Err(ApiError::InvalidState { .. })
    ));

    // 2 km away: the check-in succeeds, marked off-site with the distance.
    let far = c.check_in(phone.id(1), pos(31.21 + 0.018, 121.41)).unwrap();
    assert!(far.off_site);
    assert!((1_900.0..2_100.0).contains(&far.distance_m.unwrap()));
    assert_eq!(far.status, OrderStatus::OnSite);
    let visit = &c.get_order(phone.id(1)).unwrap().visits[0];
    let ci = visit.check_in.as_ref().unwrap();
    assert!(ci.off_site);
    assert_eq!(ci.position.unwrap().accuracy_m, Some(10.0));
    // No GPS fix: recorded without a position, not judged.
    phone.advance(60_000);
    c.check_out(phone.id(1), None).unwrap();
    assert!(matches!(
        c.check_in(phone.id(1), pos(95.0, 0.0)),
        Err(ApiError::InvalidInput { .. })
    ));
}

#[test]
fn labour_timers_and_manual_entries() {
    let phone = OfflinePhone::new(1);
    let c = &phone.client;
    let id = phone.id(0);
    assert!(matches!(
        c.start_labour(id.clone(), "diagnosis".into()),
        Err(ApiError::InvalidState { .. })
    ));
    c.check_in(id.clone(), None).unwrap();
    let t = c.start_labour(id.clone(), "diagnosis".into()).unwrap();
    assert!(matches!(
        c.start_labour(id.clone(), "twice".into()),
        Err(ApiError::InvalidState { .. })
    ));
    phone.advance(45 * 60_000);
    c.stop_labour(id.clone(), t).unwrap();
    let manual = c
        .add_labour(
            id.clone(),
            NOW - 7_200_000,
            NOW - 5_400_000,
            "travel".into(),
        )
        .unwrap();
    let visit = c.get_order(id.clone()).unwrap().visits.remove(0);
    assert_eq!(visit.labour_minutes, 75);
    c.void_labour(id.clone(), manual).unwrap();
    let visit = c.get_order(id.clone()).unwrap().visits.remove(0);
    assert_eq!(visit.labour_minutes, 45);
    assert!(visit.labour.iter().any(|l| l.voided));
    // A running timer stops at check-out.
    c.start_labour(id.clone(), "repair".into()).unwrap();
    phone.advance(30 * 60_000);
    c.check_out(id.clone(), None).unwrap();
    let visit = c.get_order(id).unwrap().visits.remove(0);
    assert_eq!(visit.labour_minutes, 75);
}

#[test]
fn parts_with_serials_voids_requests_and_the_van() {
    let phone = OfflinePhone::new(1);
    let c = &phone.client;
    let id = phone.id(0);
    c.check_in(id.clone(), None).unwrap();
    let filter = c
        .consume_part(
            id.clone(),
            PartUse {
                sku: "FLT-100".into(),
                qty: 2,
                serial: None,
                replaced_serial: None,
            },
        )
        .unwrap();
    c.consume_part(
        id.clone(),
        PartUse {
            sku: "CMP-7".into(),
            qty: 1,
            serial: Some("CMP7-0042".into()),
            replaced_serial: Some("CMP7-0001".into()),
        },
    )
    .unwrap();
    // A serial-numbered part is one unit per line; quantities are positive.
    for bad in [
        PartUse {
            sku: "CMP-7".into(),
            qty: 2,
            serial: Some("X".into()),
            replaced_serial: None,
        },
        PartUse {
            sku: "FLT-100".into(),
            qty: 0,
            serial: None,
            replaced_serial: None,
        },
    ] {
        assert!(matches!(
            c.consume_part(id.clone(), bad),
            Err(ApiError::InvalidInput { .. })
        ));
    }
    let void = c.void_part(id.clone(), filter.clone()).unwrap();
    assert!(matches!(
        c.void_part(id.clone(), filter.clone()),
        Err(ApiError::InvalidInput { .. })
    ));
    let parts = c.get_order(id.clone()).unwrap().visits.remove(0).parts;
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().any(|p| p.id == filter && p.voided));
    assert!(
        parts
            .iter()
            .any(|p| p.id == void && p.voids.as_deref() == Some(filter.as_str()))
    );

    let req = c
        .request_parts(id.clone(), "CMP-7".into(), 1, "spare for next visit".into())
        .unwrap();
    let order = c.get_order(id).unwrap();
    assert_eq!(order.parts_requests[0].id, req);
    assert!(order.parts_requests[0].decision.is_none());

    // No sync yet: the van shows only what this phone used (server balance 0).
    let van = c.van_stock().unwrap();
    let cmp = van.iter().find(|v| v.sku == "CMP-7").unwrap();
    assert_eq!((cmp.server_qty, cmp.pending_use, cmp.qty), (0, 1, -1));
    let flt = van.iter().find(|v| v.sku == "FLT-100").unwrap();
    assert_eq!(flt.pending_use, 0, "the void line gave the filters back");
    assert!(c.search_catalog("CMP".into(), 10).unwrap().is_empty());
}

#[test]
fn the_report_is_validated_against_its_template() {
    let phone = OfflinePhone::new(1);
    let c = &phone.client;
    let id = phone.id(0);
    c.start_travel(id.clone()).unwrap();
    c.check_in(id.clone(), None).unwrap();
    assert!(matches!(
        c.use_form_template(id.clone(), "chiller-service".into(), 2),
        Err(ApiError::NotFound { .. })
    ));
    c.save_form_template(template()).unwrap();
    assert_eq!(
        c.form_template("chiller-service".into(), 2).unwrap(),
        Some(template())
    );
    c.use_form_template(id.clone(), "chiller-service".into(), 2)
        .unwrap();
    // Out of range, not an option, wrong type, unknown field: refused as typed.
    for (key, value) in [
        ("pressure_bar", FormValue::Number { value: 55.0 }),
        (
            "condition",
            FormValue::Choice {
                value: "broken".into(),
            },
        ),
        (
            "leak_test_passed",
            FormValue::Text {
                value: "yes".into(),
            },
        ),
        (
            "colour",
            FormValue::Text {
                value: "red".into(),
            },
        ),
    ] {
        let r = c.set_answer(id.clone(), key.into(), value);
        assert!(
            matches!(r, Err(ApiError::InvalidInput { .. })),
            "{key}: {r:?}"
        );
    }
    c.set_answer(
        id.clone(),
        "pressure_bar".into(),
        FormValue::Number { value: 12.5 },
    )
    .unwrap();
    assert_eq!(
        c.validate_report(id.clone()).unwrap(),
        vec![FieldProblem {
            key: "condition".into(),
            reason: "required".into()
        }]
    );
    match c.complete(id.clone()) {
        Err(ApiError::ReportIncomplete { reason }) => assert!(reason.contains("condition")),
        other => panic!("{other:?}"),
    }
    c.set_answer(
        id.clone(),
        "condition".into(),
        FormValue::Choice {
            value: "worn".into(),
        },
    )
    .unwrap();
    c.set_notes(id.clone(), "Replaced the filter; compressor runs.".into())
        .unwrap();
    c.set_fault_code(id.clone(), "F-COMP".into()).unwrap();
    c.set_resolution_code(id.clone(), "R-REPL".into()).unwrap();
    assert!(matches!(
        c.set_fault_code(id.clone(), "   ".into()),
        Err(ApiError::InvalidInput { .. })
    ));
    assert!(c.validate_report(id.clone()).unwrap().is_empty());
    assert_eq!(c.complete(id.clone()).unwrap(), OrderStatus::Completed);
    let report = c.get_order(id).unwrap().visits.remove(0).report;
    assert_eq!(report.template_id.as_deref(), Some("chiller-service"));
    assert_eq!(report.answers.len(), 2);
    assert_eq!(report.notes, "Replaced the filter; compressor runs.");
    assert_eq!(report.fault_code.as_deref(), Some("F-COMP"));
}

#[derive(Default)]
struct Recorder {
    changed: Mutex<Vec<Vec<String>>>,
}

impl ClientListener for Recorder {
    fn orders_changed(&self, order_ids: Vec<String>) {
        self.changed.lock().unwrap().push(order_ids);
    }
    fn sync_progress(&self, _: SyncProgress) {}
    fn device_revoked(&self) {}
}

#[test]
fn edits_tell_the_listener_which_order_changed_and_a_panicking_listener_is_harmless() {
    let phone = OfflinePhone::new(1);
    let rec = Arc::new(Recorder::default());
    phone.client.set_listener(Some(rec.clone()));
    phone.client.start_travel(phone.id(0)).unwrap();
    assert_eq!(rec.changed.lock().unwrap().as_slice(), [vec![phone.id(0)]]);

    struct Panics;
    impl ClientListener for Panics {
        fn orders_changed(&self, _: Vec<String>) {
            panic!("listener bug")
        }
        fn sync_progress(&self, _: SyncProgress) {}
        fn device_revoked(&self) {}
    }
    phone.client.set_listener(Some(Arc::new(Panics)));
    phone.client.check_in(phone.id(0), None).unwrap();
}

#[test]
fn nothing_works_without_credentials_and_offline_sync_is_a_network_error() {
    let phone = OfflinePhone::new(1);
    match phone.client.sync() {
        Err(ApiError::Network { .. }) => {}
        other => panic!("{other:?}"),
    }
    let status = phone.client.sync_status().unwrap();
    assert_eq!(status.pending_orders, 0);
    assert!(status.signed_in);
    assert_eq!(status.last_sync_ms, None);
}
