//! The web console in headless Chromium, against the real `lastmile demo` binary: a dispatcher
//! creates an order, assigns it from a suggestion, watches a phone's sync reach the board live,
//! re-assigns by drag and drop and opens the order's photos and signature; warehouse staff (in
//! Chinese) approve the phone's parts request and see the van's stock change; an engineer and
//! a customer are turned away. Screenshots go to `<target>/screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`scripts/ensure-chromium`).

use lastmile_e2e::webdriver::{Browser, Driver};
use lastmile_e2e::*;
use serde_json::{Value, json};
use std::time::Duration;
use sync_core::workorder::Priority;
use sync_core::{Status, UserId};

const DISPATCHER: &str = "dispatcher1@demo.lastmile.dev";
const WAREHOUSE: &str = "warehouse1@demo.lastmile.dev";

fn sign_in(b: &Browser, url: &str, email: &str, password: &str, next: &str) {
    b.goto(&format!("{url}/login?next={next}"));
    b.fill("#email", email);
    b.fill("#password", password);
    b.click("form[action='/login'] button[type=submit]");
    b.wait(Duration::from_secs(10), || {
        (!b.url().contains("/login")).then_some(())
    })
    .unwrap_or_else(|| panic!("{email} could not sign in: {}", b.text("main")));
}

fn sign_out(b: &Browser) {
    b.click("form[action='/logout'] button");
    b.find("#email");
}

/// Today in the demo organisation's zone (Asia/Shanghai), as `YYYY-MM-DD`.
fn today() -> String {
    let shanghai = jiff::tz::TimeZone::get("Asia/Shanghai").expect("the tz database");
    jiff::Timestamp::now().to_zoned(shanghai).date().to_string()
}

fn lastmile_e2e_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn board_version(b: &Browser) -> i64 {
    b.js(
        "return Number(document.getElementById('board').dataset.version || 0)",
        json!([]),
    )
    .as_i64()
    .unwrap_or(0)
}

/// The lane (engineer id, or "" for unassigned) a card sits in, if it is on the board.
fn lane_of(b: &Browser, order: &str) -> Option<String> {
    let v = b.js(
        "const c = document.querySelector(`#board .card[data-id='${arguments[0]}']`);
         return c ? c.closest('[data-engineer]').dataset.engineer : null;",
        json!([order]),
    );
    v.as_str().map(str::to_owned)
}

fn card_class(b: &Browser, order: &str) -> String {
    b.js(
        "const c = document.querySelector(`#board .card[data-id='${arguments[0]}']`);
         return c ? c.className : '';",
        json!([order]),
    )
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

#[test]
fn dispatcher_and_warehouse_work_in_the_console_sqlite() {
    dispatcher_and_warehouse_work_in_the_console(Backend::Sqlite);
}

/// The same on PostgreSQL (its screenshots are not kept: the SQLite run's are).
#[test]
fn dispatcher_and_warehouse_work_in_the_console_postgres() {
    dispatcher_and_warehouse_work_in_the_console(Backend::Postgres);
}

fn dispatcher_and_warehouse_work_in_the_console(backend: Backend) {
    // Every page screenshotted is also checked for the accessible basics.
    let shot = |b: &Browser, name: &str| {
        assert_accessible(b, name);
        if backend == Backend::Sqlite {
            b.screenshot(name);
        }
    };
    let db = TestDb::new(backend);
    let server = db.demo();
    let url = server.url.clone();
    let driver = Driver::start();
    let b = driver.browser("en-US");

    // Not signed in: the login page, which comes back to the board.
    b.goto(&format!("{url}/console/board"));
    assert!(b.url().contains("/login"), "{}", b.url());
    shot(&b, "console-login");
    sign_in(&b, &url, DISPATCHER, DEMO_PASSWORD, "/console/board");
    b.find("#board .lanes .lane");
    shot(&b, "console-board");

    // Create an order for today, 10:00 to 12:00.
    b.goto(&format!("{url}/console/orders/new"));
    assert_accessible(&b, "new order");
    b.fill("#problem", "Browser test: compressor trips on start");
    b.fill("#asset_model", "Chiller X200");
    b.fill("#asset_serial", "SN-BROWSER-1");
    let day = today();
    b.js(
        "document.getElementById('priority').value = 'urgent';
         document.getElementById('window_start').value = arguments[0] + 'T10:00';
         document.getElementById('window_end').value = arguments[0] + 'T12:00';",
        json!([day]),
    );
    b.click("form[action='/console/orders/new'] button[type=submit]");
    b.find("p.flash.good");
    let order = b
        .url()
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let number = b.text("h1");
    assert!(number.starts_with("WO-"), "{number}");

    // Assign it from the ranked suggestions, whose reasons are shown.
    b.click("a[href$='/assign']");
    b.find("ol.suggestions li");
    assert!(b.text("ol.suggestions .reasons").contains("km"));
    shot(&b, "console-suggestions");
    let engineer = b
        .attr("ol.suggestions button[type=submit]", "data-engineer")
        .expect("suggested engineer");
    b.click("ol.suggestions button[type=submit]");
    b.find("p.flash.good");
    assert_eq!(lane_of(&b, &order).as_deref(), Some(engineer.as_str()));
    assert!(card_class(&b, &order).contains("st-assigned"));

    // The engineer's phone syncs: visit, check-in, photo, signature, a parts request. The
    // board, still open, follows without a reload.
    let office = Office::login_with(&url, DISPATCHER, DEMO_PASSWORD);
    let (_, engineers) = office.call("GET", "/api/v1/engineers", None);
    let email = engineers
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == engineer.as_str())
        .and_then(|e| e["email"].as_str())
        .unwrap()
        .to_owned();
    let stock = Office::login_with(&url, WAREHOUSE, DEMO_PASSWORD);
    let (warehouse_code, sku) = stocked_part(&stock);
    let user: UserId = engineer.parse().unwrap();
    let phone = Phone::register_with(&url, user, &email, DEMO_PASSWORD);
    // The visit happened in the last hour (the screenshots show the order page).
    phone.set_clock(lastmile_e2e_now_ms() - 60 * 60_000);
    phone.sync().unwrap();
    let photo = phone.upload(&png::photo(), "image/png");
    let signature = phone.upload(&png::signature(), "image/png");
    let doc_id = order.parse().unwrap();
    phone.edit(doc_id, |d, c| {
        let v = d.start_visit(c)?;
        d.set_status(c, Status::OnSite)?;
        d.check_in(c, &v, None, Some(12.0), false)?;
        let t = c.device_time_ms;
        d.add_manual_labour(c, &v, t - 45 * 60_000, t, "replaced the start capacitor")?;
        d.set_notes(c, &v, "Compressor trips on start; start capacitor swollen.")?;
        d.set_fault_code(c, &v, "F-CAP")?;
        d.add_photo(c, &v, photo, "Compressor, before")?;
        d.sign(c, &v, signature, "张三 Zhang San")?;
        d.request_parts(c, &sku, 2, "spare for the next visit")?;
        d.set_priority(c, Priority::Low)?; // not an engineer's call: refused and flagged
        Ok(())
    });
    // Online, the phone reports where it is: the map shows it (not the home base).
    let (s, body) = call(
        &reqwest::blocking::Client::new(),
        "POST",
        &format!("{url}/api/v1/me/location"),
        Some(&phone.token),
        Some(json!({"lat": 31.2304, "lon": 121.4737, "at_ms": lastmile_e2e_now_ms()})),
    );
    assert_eq!(s, 204, "{body}");
    let before = board_version(&b);
    phone.sync().unwrap();
    b.wait(Duration::from_secs(10), || {
        (board_version(&b) > before && card_class(&b, &order).contains("st-on_site")).then_some(())
    })
    .unwrap_or_else(|| panic!("the board did not update live: {}", card_class(&b, &order)));
    shot(&b, "console-board-live");

    // Re-assign by drag and drop onto another engineer's lane.
    let other: String = b
        .js(
            "return [...document.querySelectorAll('#board .lanes .lane[data-engineer]')]
               .map(l => l.dataset.engineer).find(e => e !== arguments[0]);",
            json!([engineer]),
        )
        .as_str()
        .unwrap()
        .to_owned();
    b.js(
        "const card = document.querySelector(`#board .card[data-id='${arguments[0]}']`);
         const lane = document.querySelector(`#board .lane[data-engineer='${arguments[1]}'] .timeline`);
         const dt = new DataTransfer();
         card.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: dt}));
         lane.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt}));
         lane.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));",
        json!([order, other]),
    );
    b.wait(Duration::from_secs(10), || {
        (lane_of(&b, &order).as_deref() == Some(other.as_str())).then_some(())
    })
    .expect("dropped card moved to the other lane");
    // Dropped at the timeline's left edge: scheduled at 06:00, keeping its two hours.
    let tod = b.attr(&format!("#board .card[data-id='{order}']"), "data-tod");
    assert_eq!(tod.as_deref(), Some("360"));
    // And back, so the phone's engineer keeps it.
    office.call(
        "POST",
        &format!("/api/v1/work-orders/{order}/assign"),
        Some(json!({"engineer_id": engineer})),
    );

    // The order: visit, photo and signature thumbnails that load, full size behind them.
    b.goto(&format!("{url}/console/orders/{order}"));
    b.find("img.photo");
    b.find("img.signature");
    let loaded = b.wait(Duration::from_secs(10), || {
        let v = b.js(
            "return [...document.querySelectorAll('img.photo, img.signature')]
               .every(i => i.complete && i.naturalWidth > 0);",
            json!([]),
        );
        (v == Value::Bool(true)).then_some(())
    });
    assert!(
        loaded.is_some(),
        "photo or signature thumbnail did not load"
    );
    let visit = b.text(".visit");
    assert!(visit.contains("Zhang San"), "{visit}");
    assert!(visit.contains("replaced the start capacitor"), "{visit}");
    assert!(visit.contains("F-CAP"), "{visit}");
    shot(&b, "console-order");
    // The phone's refused priority change is flagged; the dispatcher marks it dealt with.
    assert!(b.text("section.flags li.open").contains("priority"));
    b.click("section.flags li.open form button");
    b.find("p.flash.good");
    assert!(b.try_find("section.flags li.open").is_none());
    b.find("section.flags li.resolved");
    b.goto(&format!("{url}/console/map"));
    b.find("svg circle.site");
    assert_eq!(
        b.find_all("svg g.engineer:not(.home)").len(),
        1,
        "the phone's position"
    );
    shot(&b, "console-map");
    b.goto(&format!("{url}/console/engineers"));
    b.find("table.data tbody tr");
    shot(&b, "console-engineers");
    b.goto(&format!("{url}/console/board?view=week"));
    b.find("#board .week .day .card");
    shot(&b, "console-board-week");

    // Their own time zone, from the name in the header: the order page then shows Berlin time.
    b.click("header.top a.user");
    b.find("#time_zone");
    b.js(
        "document.getElementById('time_zone').value = 'Europe/Berlin';",
        json!([]),
    );
    b.click("form[action='/console/preferences'] button[type=submit]");
    b.find(".flash.good");
    assert_eq!(
        b.js(
            "return document.getElementById('time_zone').value",
            json!([])
        ),
        json!("Europe/Berlin")
    );
    shot(&b, "console-preferences");
    b.goto(&format!("{url}/console/orders/{order}"));
    let offsets = b.js(
        "return [...document.querySelectorAll('time[datetime]')].map(t => t.getAttribute('datetime').slice(16))",
        json!([]),
    );
    let offsets = offsets.as_array().expect("times on the order page");
    assert!(
        !offsets.is_empty() && offsets.iter().all(|o| o == "+01:00" || o == "+02:00"),
        "times in Berlin: {offsets:?}"
    );
    sign_out(&b);
    drop(b);

    // Warehouse staff, in Chinese: approve the phone's request; the van's stock goes up.
    let w = driver.browser("zh-CN");
    sign_in(&w, &url, WAREHOUSE, DEMO_PASSWORD, "/console/requests");
    assert_eq!(w.attr("html", "lang").as_deref(), Some("zh-CN"));
    let (_, reqs) = stock.call(
        "GET",
        &format!("/api/v1/inventory/parts-requests?work_order_id={order}"),
        None,
    );
    let request = reqs["items"][0]["id"]
        .as_str()
        .expect("the phone's request")
        .to_owned();
    let van = van_of(&stock, &engineer);
    let van_before = qty_at(&stock, &van, &sku);
    w.goto(&format!("{url}/console/requests"));
    let form = format!("article[data-request='{request}']");
    w.find(&form);
    w.js(
        "document.querySelector(arguments[0] + ' select[name=from_location]').value = arguments[1];",
        json!([form, warehouse_code]),
    );
    shot(&w, "console-requests-zh");
    w.click(&format!("{form} button[value=approve]"));
    w.find("p.flash.good");
    w.goto(&format!("{url}/console/stock?location={van}&q={sku}"));
    let cell = format!("tr[data-location='{van}'][data-sku='{sku}'] td.qty");
    let shown: i64 = w.text(&cell).replace(',', "").trim().parse().unwrap();
    assert_eq!(shown, van_before + 2, "the van's stock in the console");
    assert_eq!(qty_at(&stock, &van, &sku), van_before + 2);
    shot(&w, "console-stock-zh");

    // A catalog CSV with a bad row: the progress bar fills, the error report names the line.
    let csv = db.data_dir.path().join("catalog.csv");
    std::fs::write(
        &csv,
        "sku,name,unit,unit_cost,category\n\
         BT-FILTER-1,Browser test filter,pcs,12.50,filters\n\
         BT-FILTER-2,,pcs,3.00,filters\n\
         BT-BELT-1,Browser test belt,pcs,8.00,belts\n",
    )
    .unwrap();
    for page in [
        "operations",
        "movements",
        "low-stock",
        "discrepancies",
        "serials",
    ] {
        w.goto(&format!("{url}/console/{page}"));
        w.find("main h1");
        assert_accessible(&w, page);
    }
    w.goto(&format!("{url}/console/catalog"));
    w.send_keys("#file", csv.to_str().unwrap());
    w.js(
        "document.getElementById('mode').value = 'skip_bad_rows';",
        json!([]),
    );
    w.click("#import button[type=submit]");
    w.find("#import-errors a");
    assert!(
        w.text("#import-status").contains("2 ✓ · 1 ✗"),
        "{}",
        w.text("#import-status")
    );
    assert_eq!(w.attr("#progress", "value").as_deref(), Some("100"));
    shot(&w, "console-import-zh");
    w.click("#import-errors a");
    assert_eq!(w.text("table.data tbody td.num"), "3");
    sign_out(&w);

    // An engineer and a customer sign in, and are turned away from every console page.
    db.admin(&[
        "create-user",
        "--org",
        "Lastmile Demo 上海",
        "--email",
        "customer@browser.test",
        "--name",
        "Customer",
        "--role",
        "customer",
        "--customer",
        "C-0001",
    ]);
    for (email, password) in [
        (email.as_str(), DEMO_PASSWORD),
        ("customer@browser.test", PASSWORD),
    ] {
        let x = driver.browser("en-US");
        sign_in(&x, &url, email, password, "/console");
        for page in [
            "/console/board",
            "/console/orders/new",
            "/console/stock",
            "/console/requests",
        ] {
            x.goto(&format!("{url}{page}"));
            assert_eq!(x.text("h1"), "Not for your role", "{email} on {page}");
        }
        x.goto(&format!("{url}/console/orders/{order}"));
        assert_eq!(x.text("h1"), "Not for your role");
    }
}

/// The page passes axe-core's WCAG 2.1 A and AA rules: every control labelled, every image with a
/// text alternative, a language, unique ids, and text in readable contrast with its background.
fn assert_accessible(b: &Browser, page: &str) {
    let violations = b.axe_violations();
    assert!(
        violations.is_empty(),
        "{page} fails WCAG 2.1 AA checks (axe-core):\n{}",
        violations.join("\n")
    );
}

/// A part the first warehouse has at least 10 of, without serial numbers.
fn stocked_part(stock: &Office) -> (String, String) {
    let (_, v) = stock.call(
        "GET",
        "/api/v1/inventory/stock?kind=warehouse&limit=500",
        None,
    );
    let line = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["available"].as_i64() >= Some(10)
                && l["serials"].as_array().is_some_and(Vec::is_empty)
        })
        .expect("a stocked part");
    (
        line["location_code"].as_str().unwrap().to_owned(),
        line["sku"].as_str().unwrap().to_owned(),
    )
}

fn van_of(stock: &Office, engineer: &str) -> String {
    let (_, v) = stock.call("GET", "/api/v1/inventory/locations?kind=van", None);
    v.as_array()
        .unwrap()
        .iter()
        .find(|l| l["engineer_id"] == engineer)
        .and_then(|l| l["code"].as_str())
        .expect("the engineer's van")
        .to_owned()
}

fn qty_at(stock: &Office, location: &str, sku: &str) -> i64 {
    let (_, v) = stock.call(
        "GET",
        &format!("/api/v1/inventory/stock?location={location}&sku={sku}&include_zero=true"),
        None,
    );
    v["items"][0]["qty"].as_i64().unwrap_or(0)
}
