//! `lastmile inventory check` (the real binary): exit 0 on a clean ledger, non-zero with every
//! drift named when a balance or a serial number disagrees with the ledger.

use crate::common::TestDb;
use crate::support::{Inv, Phone, line};
use serde_json::json;

conformance!(inventory_check_passes_on_a_clean_ledger_and_fails_on_drift);

async fn check(url: &str, org: Option<&str>) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_lastmile"));
    cmd.args(["inventory", "check"])
        .env("DATABASE_URL", url)
        .env("LASTMILE_DATA_DIR", dir.path())
        .env("LASTMILE_LOG_FORMAT", "json")
        .env_remove("LASTMILE_CONFIG");
    if let Some(o) = org {
        cmd.args(["--org", o]);
    }
    let out = cmd.output().await.expect("run lastmile");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn inventory_check_passes_on_a_clean_ledger_and_fails_on_drift(db: TestDb) {
    let inv = Inv::new(db).await;
    let url = inv.app.db.url.clone();
    let engineer = inv.f.engineer.id;
    inv.part("CAP-35UF", "pcs", false).await;
    inv.part("MOTOR-FAN", "pcs", true).await;
    inv.receive("CAP-35UF", 10, &[]).await;
    inv.receive("MOTOR-FAN", 2, &["FM-1", "FM-2"]).await;
    inv.issue_to(engineer, "CAP-35UF", 3, &[]).await;
    inv.issue_to(engineer, "MOTOR-FAN", 1, &["FM-1"]).await;
    inv.ok(
        "POST",
        "/api/v1/inventory/reservations",
        json!({"work_order_id": inv.f.work_order, "location": "WH-1", "sku": "CAP-35UF", "qty": 2}),
    )
    .await;
    let phone = Phone::new(engineer, &inv.f.device_token);
    phone
        .edit_and_sync(&inv, inv.order, |d, p| {
            let v = d.start_visit(&p.ctx()).unwrap();
            d.consume_part(&p.ctx(), &v, &line("CAP-35UF", 5)).unwrap();
        })
        .await;

    let (ok, out) = check(&url, None).await;
    assert!(ok, "{out}");
    assert!(out.contains("no drift"), "{out}");
    let org = inv.org().to_string();
    let (ok, out) = check(&url, Some(&org)).await;
    assert!(ok, "{out}");

    // Someone edits a balance behind the ledger's back, and moves a serial.
    let pool = inv.app.state.db.pool();
    sqlx::query(
        "UPDATE stock_balances SET qty = qty + 1 WHERE org_id = $1 AND location_id = $2 \
         AND sku = 'CAP-35UF'",
    )
    .bind(&org)
    .bind(&inv.wh)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("UPDATE serials SET location_id = $2 WHERE org_id = $1 AND serial = 'FM-1'")
        .bind(&org)
        .bind(&inv.wh)
        .execute(pool)
        .await
        .unwrap();
    let (ok, out) = check(&url, Some("Org A")).await;
    assert!(!ok, "drift must fail the check: {out}");
    assert!(
        out.contains("part CAP-35UF: qty stored 8 but the ledger says 7"),
        "{out}"
    );
    assert!(out.contains("serial FM-1"), "{out}");
    assert!(out.contains("2 drift(s)"), "{out}");
}
