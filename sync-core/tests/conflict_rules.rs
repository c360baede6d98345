//! One test per row of the conflict-rule table (docs/conflict-rules.md): the concurrent edits that
//! trigger the rule, the winner, the event and the flag.

mod common;
use common::*;
use sync_core::rules::conflicts::{self, Rule};
use sync_core::workorder::{FormValue, GeoPoint, Priority, Site};
use sync_core::{ActorId, ContentHash, OrgId, Role, Status, UserId, WorkOrderDoc};

struct Fixture {
    server: WorkOrderDoc,
    phone: WorkOrderDoc,
    engineer: UserId,
    dispatcher: UserId,
}

/// An order assigned to an engineer, on the server and on the engineer's phone.
fn fixture() -> Fixture {
    let dispatcher = UserId::new();
    let engineer = UserId::new();
    let mut server = WorkOrderDoc::create(
        &ActorId::random(),
        &new_order(OrgId::new(), 1),
        &ctx(dispatcher, Role::Dispatcher, 1_000),
    )
    .unwrap();
    server
        .assign(&ctx(dispatcher, Role::Dispatcher, 1_100), Some(engineer))
        .unwrap();
    server
        .set_status(&ctx(dispatcher, Role::Dispatcher, 1_200), Status::Assigned)
        .unwrap();
    let phone = replica(&mut server);
    Fixture {
        server,
        phone,
        engineer,
        dispatcher,
    }
}

fn resolve_on_server(f: &mut Fixture) -> Vec<conflicts::Resolution> {
    merge_both(&mut f.server, &mut f.phone);
    let res = conflicts::resolve(&mut f.server, &ctx(UserId::new(), Role::System, 99_000)).unwrap();
    merge_both(&mut f.server, &mut f.phone);
    assert!(
        conflicts::detect(&f.server).is_empty(),
        "resolution ends the conflict"
    );
    assert!(
        conflicts::detect(&f.phone).is_empty(),
        "and the phone sees the same"
    );
    res
}

fn assert_flagged(doc: &WorkOrderDoc, field: &str) {
    let order = doc.read().unwrap();
    assert!(
        order
            .flags
            .iter()
            .any(|f| f.kind == "conflict" && f.field == field && f.resolved_by.is_none()),
        "no open conflict flag for {field}: {:?}",
        order.flags
    );
    assert!(
        order
            .events
            .iter()
            .any(|e| e.kind == "conflict_resolved" && e.detail.starts_with(field)),
        "no conflict_resolved event for {field}"
    );
}

#[test]
fn completed_in_the_field_beats_a_concurrent_cancel() {
    let mut f = fixture();
    let (eng, disp) = (f.engineer, f.dispatcher);
    let v = f
        .phone
        .start_visit(&ctx(eng, Role::Engineer, 2_000))
        .unwrap();
    f.phone
        .check_in(&ctx(eng, Role::Engineer, 2_100), &v, None, None, false)
        .unwrap();
    f.phone
        .set_status(&ctx(eng, Role::Engineer, 2_200), Status::Completed)
        .unwrap();
    f.server
        .set_status(&ctx(disp, Role::Dispatcher, 2_300), Status::Cancelled)
        .unwrap();

    merge_both(&mut f.server, &mut f.phone);
    let found = conflicts::detect(&f.server);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].field, "status");
    assert_eq!(found[0].rule, Rule::StatusProgress);

    let res = resolve_on_server(&mut f);
    assert_eq!(res[0].winner, "completed");
    assert_eq!(f.server.status(), Status::Completed);
    assert_eq!(f.phone.status(), Status::Completed);
    assert_flagged(&f.server, "status");
}

#[test]
fn concurrent_assignments_go_to_the_latest_decision() {
    let mut f = fixture();
    let (a, b) = (UserId::new(), UserId::new());
    let mut other_console = replica(&mut f.server);
    // The later decision (by HLC) is made on the replica whose actor may well lose Automerge's
    // own arbitrary pick: the rule, not the actor id, decides.
    f.server
        .assign(&ctx(f.dispatcher, Role::Dispatcher, 5_000), Some(a))
        .unwrap();
    other_console
        .assign(&ctx(UserId::new(), Role::Dispatcher, 6_000), Some(b))
        .unwrap();
    merge_both(&mut f.server, &mut other_console);
    let res = conflicts::resolve(&mut f.server, &ctx(UserId::new(), Role::System, 9_000)).unwrap();
    assert_eq!(res.len(), 1);
    assert_eq!(res[0].conflict.rule, Rule::LatestDecision);
    assert_eq!(f.server.dispatch().unwrap().assignee, Some(b));
    assert_flagged(&f.server, "dispatch.assignee");
}

#[test]
fn concurrent_schedules_go_to_the_latest_decision() {
    let mut f = fixture();
    let mut other = replica(&mut f.server);
    other
        .schedule(&ctx(UserId::new(), Role::Dispatcher, 7_000), 70, 80)
        .unwrap();
    f.server
        .schedule(&ctx(f.dispatcher, Role::Dispatcher, 6_000), 60, 65)
        .unwrap();
    merge_both(&mut f.server, &mut other);
    conflicts::resolve(&mut f.server, &ctx(UserId::new(), Role::System, 9_000)).unwrap();
    let d = f.server.dispatch().unwrap();
    assert_eq!((d.window_start_ms, d.window_end_ms), (Some(70), Some(80)));
    assert_flagged(&f.server, "dispatch.window_start");
}

#[test]
fn concurrent_priorities_keep_the_more_urgent() {
    let mut f = fixture();
    let mut other = replica(&mut f.server);
    other
        .set_priority(&ctx(UserId::new(), Role::Dispatcher, 7_000), Priority::Low)
        .unwrap();
    f.server
        .set_priority(
            &ctx(f.dispatcher, Role::Dispatcher, 6_000),
            Priority::Urgent,
        )
        .unwrap();
    merge_both(&mut f.server, &mut other);
    conflicts::resolve(&mut f.server, &ctx(UserId::new(), Role::System, 9_000)).unwrap();
    assert_eq!(f.server.header().unwrap().priority, Priority::Urgent);
    assert_flagged(&f.server, "header.priority");
}

#[test]
fn concurrent_deadlines_keep_the_earlier() {
    let mut f = fixture();
    let mut other = replica(&mut f.server);
    other
        .set_sla_due(
            &ctx(UserId::new(), Role::Dispatcher, 7_000),
            Some(5_000_000),
        )
        .unwrap();
    f.server
        .set_sla_due(&ctx(f.dispatcher, Role::Dispatcher, 8_000), Some(9_000_000))
        .unwrap();
    merge_both(&mut f.server, &mut other);
    conflicts::resolve(&mut f.server, &ctx(UserId::new(), Role::System, 9_000)).unwrap();
    assert_eq!(f.server.header().unwrap().sla_due_ms, Some(5_000_000));
    assert_flagged(&f.server, "header.sla_due");
}

#[test]
fn concurrent_site_edits_keep_the_latest_and_ask_for_review() {
    let mut f = fixture();
    let mut other = replica(&mut f.server);
    let site = |addr: &str| Site {
        address: addr.into(),
        lat: 31.2,
        lon: 121.4,
    };
    f.server
        .set_site(
            &ctx(f.dispatcher, Role::Dispatcher, 8_000),
            &site("9 New Street"),
        )
        .unwrap();
    other
        .set_site(
            &ctx(UserId::new(), Role::Dispatcher, 7_000),
            &site("1 Old Street"),
        )
        .unwrap();
    merge_both(&mut f.server, &mut other);
    let res = conflicts::resolve(&mut f.server, &ctx(UserId::new(), Role::System, 9_000)).unwrap();
    assert_eq!(res[0].conflict.rule, Rule::LatestForReview);
    assert_eq!(f.server.header().unwrap().site.address, "9 New Street");
    assert_flagged(&f.server, "header.site.address");
}

#[test]
fn concurrent_fault_codes_keep_the_latest() {
    let mut f = fixture();
    let eng = f.engineer;
    let v = f
        .phone
        .start_visit(&ctx(eng, Role::Engineer, 2_000))
        .unwrap();
    let mut tablet = replica(&mut f.phone); // the same engineer's second device
    f.phone
        .set_fault_code(&ctx(eng, Role::Engineer, 3_000), &v, "F-OLD")
        .unwrap();
    tablet
        .set_fault_code(&ctx(eng, Role::Engineer, 4_000), &v, "F-NEW")
        .unwrap();
    merge_both(&mut f.phone, &mut tablet);
    merge_both(&mut f.server, &mut f.phone);
    conflicts::resolve(&mut f.server, &ctx(UserId::new(), Role::System, 9_000)).unwrap();
    let report = f.server.read_visit(&v).unwrap().report;
    assert_eq!(report.fault_code.as_deref(), Some("F-NEW"));
    assert_flagged(&f.server, &format!("visits.{v}.report.fault_code"));
}

#[test]
fn two_signatures_keep_the_first() {
    let mut f = fixture();
    let eng = f.engineer;
    let v = f
        .phone
        .start_visit(&ctx(eng, Role::Engineer, 2_000))
        .unwrap();
    let mut tablet = replica(&mut f.phone);
    tablet
        .sign(
            &ctx(eng, Role::Engineer, 3_000),
            &v,
            ContentHash::of(b"first"),
            "Li Wei",
        )
        .unwrap();
    f.phone
        .sign(
            &ctx(eng, Role::Engineer, 4_000),
            &v,
            ContentHash::of(b"second"),
            "Li Wei",
        )
        .unwrap();
    merge_both(&mut f.phone, &mut tablet);
    conflicts::resolve(&mut f.phone, &ctx(UserId::new(), Role::System, 9_000)).unwrap();
    let sig = f.phone.read_visit(&v).unwrap().report.signature.unwrap();
    assert_eq!(sig.hash, ContentHash::of(b"first"));
    assert_flagged(&f.phone, &format!("visits.{v}.report.signature"));
}

#[test]
fn two_check_ins_keep_the_first_and_two_check_outs_the_last() {
    let mut f = fixture();
    let eng = f.engineer;
    let v = f
        .phone
        .start_visit(&ctx(eng, Role::Engineer, 2_000))
        .unwrap();
    let mut tablet = replica(&mut f.phone);
    let here = Some(GeoPoint {
        lat: 31.2,
        lon: 121.4,
        accuracy_m: Some(8.0),
    });
    tablet
        .check_in(&ctx(eng, Role::Engineer, 3_000), &v, here, Some(5.0), false)
        .unwrap();
    f.phone
        .check_in(
            &ctx(eng, Role::Engineer, 3_500),
            &v,
            here,
            Some(900.0),
            true,
        )
        .unwrap();
    tablet
        .check_out(&ctx(eng, Role::Engineer, 5_000), &v, here, Some(5.0), false)
        .unwrap();
    f.phone
        .check_out(&ctx(eng, Role::Engineer, 6_000), &v, here, Some(5.0), false)
        .unwrap();
    merge_both(&mut f.phone, &mut tablet);
    conflicts::resolve(&mut f.phone, &ctx(UserId::new(), Role::System, 9_000)).unwrap();
    let visit = f.phone.read_visit(&v).unwrap();
    assert_eq!(visit.check_in.unwrap().at_ms, 3_000);
    assert_eq!(visit.check_out.unwrap().at_ms, 6_000);
    assert_flagged(&f.phone, &format!("visits.{v}.check_in"));
    assert_flagged(&f.phone, &format!("visits.{v}.check_out"));
}

#[test]
fn concurrent_form_answers_keep_the_latest_and_ask_for_review() {
    let mut f = fixture();
    let eng = f.engineer;
    let v = f
        .phone
        .start_visit(&ctx(eng, Role::Engineer, 2_000))
        .unwrap();
    let mut tablet = replica(&mut f.phone);
    f.phone
        .set_answer(
            &ctx(eng, Role::Engineer, 4_000),
            &v,
            "pressure",
            &FormValue::Number(12.5),
        )
        .unwrap();
    tablet
        .set_answer(
            &ctx(eng, Role::Engineer, 3_000),
            &v,
            "pressure",
            &FormValue::Number(9.0),
        )
        .unwrap();
    merge_both(&mut f.phone, &mut tablet);
    conflicts::resolve(&mut f.phone, &ctx(UserId::new(), Role::System, 9_000)).unwrap();
    let answers = f.phone.read_visit(&v).unwrap().report.answers;
    assert_eq!(answers["pressure"], FormValue::Number(12.5));
    assert_flagged(&f.phone, &format!("visits.{v}.report.answers.pressure"));
}

#[test]
fn the_same_decision_made_twice_is_no_conflict() {
    let mut f = fixture();
    let mut other = replica(&mut f.server);
    f.server
        .set_priority(&ctx(f.dispatcher, Role::Dispatcher, 6_000), Priority::High)
        .unwrap();
    other
        .set_priority(&ctx(UserId::new(), Role::Dispatcher, 7_000), Priority::High)
        .unwrap();
    merge_both(&mut f.server, &mut other);
    assert!(conflicts::detect(&f.server).is_empty());
}

#[test]
fn concurrent_notes_both_survive_without_a_conflict() {
    let mut f = fixture();
    let eng = f.engineer;
    let v = f
        .phone
        .start_visit(&ctx(eng, Role::Engineer, 2_000))
        .unwrap();
    merge_both(&mut f.server, &mut f.phone);
    let mut tablet = replica(&mut f.phone);
    f.phone
        .set_notes(&ctx(eng, Role::Engineer, 3_000), &v, "Replaced fan.")
        .unwrap();
    merge_both(&mut f.phone, &mut tablet);
    tablet
        .set_notes(
            &ctx(eng, Role::Engineer, 4_000),
            &v,
            "Replaced fan. Cleaned coil.",
        )
        .unwrap();
    f.phone
        .set_notes(
            &ctx(eng, Role::Engineer, 4_100),
            &v,
            "Checked wiring. Replaced fan.",
        )
        .unwrap();
    merge_both(&mut f.phone, &mut tablet);
    let notes = f.phone.read_visit(&v).unwrap().report.notes;
    assert!(
        notes.contains("Checked wiring") && notes.contains("Cleaned coil"),
        "{notes}"
    );
    assert!(conflicts::detect(&f.phone).is_empty());
}
