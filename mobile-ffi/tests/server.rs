//! The library against the real server (in-process, over real HTTP): signing in a device, first
//! sync, a day's work coming back to the office, resumable uploads across a cut network and an
//! app restart, and revocation wiping the phone.

mod common;

use common::*;
use mobile_ffi::{
    ApiError, ClientConfig, ClientListener, DeviceCredentials, FieldClient, GeoPosition,
    OrderQuery, PartUse, SyncPhase, SyncProgress,
};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

fn config(dir: &std::path::Path, url: &str) -> ClientConfig {
    let mut c = ClientConfig::new(dir.join("phone.db").to_string_lossy(), url);
    c.request_timeout_ms = 5_000;
    c
}

/// Log in `email` on a new phone at `dir`.
fn phone(dir: &std::path::Path, url: &str, email: &str) -> (Arc<FieldClient>, DeviceCredentials) {
    let client = FieldClient::open(config(dir, url), None).unwrap();
    let creds = client
        .login(email.into(), PASSWORD.into(), None, Some("Pixel 9".into()))
        .unwrap();
    (client, creds)
}

#[test]
fn login_registers_the_device_and_only_engineers_may() {
    let server = TestServer::start();
    let (dispatcher, engineers) = server.org(1);
    let dir = tempfile::tempdir().unwrap();
    let client = FieldClient::open(config(dir.path(), &server.url), None).unwrap();
    match client.login(engineers[0].1.clone(), "wrong password".into(), None, None) {
        Err(ApiError::Unauthorized { .. }) => {}
        other => panic!("{other:?}"),
    }
    match client.login(dispatcher, PASSWORD.into(), None, None) {
        Err(ApiError::NotAllowed { .. }) => {}
        other => panic!("{other:?}"),
    }
    let creds = client
        .login(
            engineers[0].1.clone(),
            PASSWORD.into(),
            None,
            Some("Pixel".into()),
        )
        .unwrap();
    assert_eq!(creds.user_id, engineers[0].0.to_string());
    assert_eq!(creds.device_id, client.device_id().unwrap());
    assert!(creds.token.starts_with("lmd_"), "a device token");
    assert_eq!(client.credentials(), Some(creds.clone()));
    // The session used to register is revoked; the device token works.
    let report = client.sync().unwrap();
    assert!(report.received.is_empty());
    // Reopened after a restart with the kept credentials: same device, no network needed.
    drop(client);
    let again = FieldClient::open(
        config(dir.path(), "http://127.0.0.1:9"),
        Some(creds.clone()),
    )
    .unwrap();
    assert_eq!(again.device_id().unwrap(), creds.device_id);
}

#[derive(Default)]
struct Recorder {
    changed: Mutex<Vec<String>>,
    phases: Mutex<Vec<SyncPhase>>,
    revoked: AtomicBool,
}

impl ClientListener for Recorder {
    fn orders_changed(&self, order_ids: Vec<String>) {
        self.changed.lock().unwrap().extend(order_ids);
    }
    fn sync_progress(&self, p: SyncProgress) {
        self.phases.lock().unwrap().push(p.phase);
    }
    fn device_revoked(&self) {
        self.revoked.store(true, Ordering::SeqCst);
    }
}

#[test]
fn an_engineers_day_reaches_the_office() {
    let server = TestServer::start();
    let (dispatcher, engineers) = server.org(1);
    let office = Office::login(&server.url, &dispatcher);
    let (lat, lon) = (31.2304, 121.4737);
    let order = office.order_for(engineers[0].0, lat, lon);
    let dir = tempfile::tempdir().unwrap();
    let (client, _) = phone(dir.path(), &server.url, &engineers[0].1);
    let rec = Arc::new(Recorder::default());
    client.set_listener(Some(rec.clone()));

    let first = client.sync().unwrap();
    assert_eq!(first.received, vec![order.clone()]);
    assert!(rec.changed.lock().unwrap().contains(&order));
    assert_eq!(client.list_orders(OrderQuery::default()).unwrap().len(), 1);

    // Offline from here on: the same store, a server address nobody answers.
    let offline = FieldClient::open(
        config(dir.path(), "http://127.0.0.1:9"),
        client.credentials(),
    )
    .unwrap();
    offline.start_travel(order.clone()).unwrap();
    let at = Some(GeoPosition {
        lat: lat + 0.0003,
        lon,
        accuracy_m: Some(8.0),
    });
    assert!(!offline.check_in(order.clone(), at).unwrap().off_site);
    offline
        .set_notes(order.clone(), "Condenser fan seized.".into())
        .unwrap();
    offline
        .set_fault_code(order.clone(), "F-FAN".into())
        .unwrap();
    offline
        .set_resolution_code(order.clone(), "R-REPLACED".into())
        .unwrap();
    offline
        .consume_part(
            order.clone(),
            PartUse {
                sku: "FAN-220".into(),
                qty: 1,
                serial: Some("FAN220-9001".into()),
                replaced_serial: None,
            },
        )
        .unwrap();
    let mut hashes = Vec::new();
    for i in 0..3 {
        let p = offline
            .add_photo(
                order.clone(),
                jpeg(2000 + i * 100, 1500),
                format!("photo {i}"),
            )
            .unwrap();
        hashes.push(p.hash);
    }
    let sig = offline
        .sign(order.clone(), signature_png(900, 300), "Wei Zhang".into())
        .unwrap();
    offline.complete(order.clone()).unwrap();
    offline.check_out(order.clone(), at).unwrap();
    assert!(matches!(offline.sync(), Err(ApiError::Network { .. })));
    assert_eq!(offline.sync_status().unwrap().pending_uploads, 4);
    drop(offline);

    // Back in coverage.
    let report = client.sync().unwrap();
    assert_eq!(report.sent, vec![order.clone()]);
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.uploads_done, 4);
    assert_eq!(report.uploads_pending, 0);
    assert!(rec.phases.lock().unwrap().contains(&SyncPhase::Uploads));
    let status = client.sync_status().unwrap();
    assert_eq!((status.pending_orders, status.pending_uploads), (0, 0));
    assert!(status.last_sync_ms.is_some());

    let doc = office.document(&order);
    assert_eq!(doc["status"], "completed");
    let visit = &doc["visits"][0];
    assert!(visit["check_in"]["off_site"] == false);
    assert_eq!(visit["report"]["notes"], "Condenser fan seized.");
    assert_eq!(visit["report"]["photos"].as_array().unwrap().len(), 3);
    assert_eq!(visit["report"]["signature"]["signer_name"], "Wei Zhang");
    assert_eq!(visit["parts"][0]["serial"], "FAN220-9001");
    for h in hashes.iter().chain([&sig.hash]) {
        let (s, bytes) = office.get_bytes(&format!("/api/v1/work-orders/{order}/blobs/{h}"));
        assert_eq!(s, 200);
        assert_eq!(&hex::encode(Sha256::digest(&bytes)), h);
        let (s, _) = office.get_bytes(&format!("/api/v1/work-orders/{order}/blobs/{h}/thumbnail"));
        assert_eq!(s, 200);
    }
    // Photos on the order come back as uploaded.
    let photos = client
        .get_order(order)
        .unwrap()
        .visits
        .remove(0)
        .report
        .photos;
    assert!(photos.iter().all(|p| p.uploaded && p.local));
}

#[test]
fn an_upload_cut_mid_photo_resumes_after_an_app_restart() {
    let server = TestServer::start();
    let (dispatcher, engineers) = server.org(1);
    let office = Office::login(&server.url, &dispatcher);
    let order = office.order_for(engineers[0].0, 31.0, 121.0);
    let proxy = Proxy::start(&server.url);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &proxy.url);
    cfg.upload_chunk_bytes = 16 * 1024;
    let client = FieldClient::open(cfg.clone(), None).unwrap();
    let creds = client
        .login(engineers[0].1.clone(), PASSWORD.into(), None, None)
        .unwrap();
    client.sync().unwrap();
    client.check_in(order.clone(), None).unwrap();
    let photo = client
        .add_photo(order.clone(), jpeg(4000, 3000), "wide".into())
        .unwrap();
    assert!(photo.bytes > 200_000, "{} bytes: many chunks", photo.bytes);

    // The signal goes 100 KB into the sync: the documents are through, the photo is not.
    proxy.cut_after(100_000);
    let cut = client.sync().unwrap();
    assert_eq!(
        cut.sent,
        vec![order.clone()],
        "documents never wait for photos"
    );
    assert_eq!(cut.uploads_done, 0);
    assert_eq!(cut.uploads_pending, 1);
    assert!(cut.upload_error.is_some(), "{cut:?}");
    assert!(cut.upload_bytes_sent > 0);

    // The app is killed and restarted; the signal comes back.
    drop(client);
    proxy.up();
    let client = FieldClient::open(cfg, Some(creds)).unwrap();
    let report = client.sync().unwrap();
    assert_eq!(
        (report.uploads_done, report.uploads_pending),
        (1, 0),
        "{report:?}"
    );
    assert!(
        report.upload_bytes_sent < photo.bytes - 32 * 1024,
        "resumed where it stopped: sent {} of {}",
        report.upload_bytes_sent,
        photo.bytes
    );
    let (s, bytes) = office.get_bytes(&format!("/api/v1/work-orders/{order}/blobs/{}", photo.hash));
    assert_eq!(s, 200);
    assert_eq!(hex::encode(Sha256::digest(&bytes)), photo.hash);
}

#[test]
fn a_revoked_device_is_wiped_and_told() {
    let server = TestServer::start();
    let (dispatcher, engineers) = server.org(1);
    let office = Office::login(&server.url, &dispatcher);
    let order = office.order_for(engineers[0].0, 31.0, 121.0);
    let dir = tempfile::tempdir().unwrap();
    let (client, creds) = phone(dir.path(), &server.url, &engineers[0].1);
    let rec = Arc::new(Recorder::default());
    client.set_listener(Some(rec.clone()));
    client.sync().unwrap();
    client.check_in(order.clone(), None).unwrap();
    client
        .add_photo(order.clone(), jpeg(800, 600), "x".into())
        .unwrap();

    let (s, _) = office.call(
        "DELETE",
        &format!("/api/v1/devices/{}", creds.device_id),
        None,
    );
    assert_eq!(s, 204);
    assert_eq!(client.sync(), Err(ApiError::Revoked));
    assert!(rec.revoked.load(Ordering::SeqCst));
    // Wiped: no orders, no blobs, no credentials; calls say so until the next sign-in.
    assert!(
        client
            .list_orders(OrderQuery::default())
            .unwrap()
            .is_empty()
    );
    assert_eq!(client.sync_status().unwrap().pending_uploads, 0);
    assert_eq!(client.credentials(), None);
    assert_eq!(client.check_in(order, None), Err(ApiError::Revoked));
    let blob_dir = dir.path().join("phone.db.blobs/objects");
    let files = walk(&blob_dir);
    assert!(files.is_empty(), "{files:?}");
    // Signing in again gives a fresh device.
    let again = client
        .login(engineers[0].1.clone(), PASSWORD.into(), None, None)
        .unwrap();
    assert_ne!(again.device_id, creds.device_id);
    assert_eq!(client.sync().unwrap().received.len(), 1);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn another_engineers_unsynced_work_is_never_wiped_by_a_sign_in() {
    let server = TestServer::start();
    let (dispatcher, engineers) = server.org(2);
    let office = Office::login(&server.url, &dispatcher);
    let order = office.order_for(engineers[0].0, 31.0, 121.0);
    let dir = tempfile::tempdir().unwrap();
    let (client, _) = phone(dir.path(), &server.url, &engineers[0].1);
    client.sync().unwrap();
    client.check_in(order, None).unwrap();
    match client.login(engineers[1].1.clone(), PASSWORD.into(), None, None) {
        Err(ApiError::InvalidState { reason }) => assert!(reason.contains("another engineer")),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.sync_status().unwrap().pending_orders, 1);
    // Signing out with unsynced work is refused unless the work is discarded.
    assert!(matches!(
        client.sign_out(false),
        Err(ApiError::InvalidState { .. })
    ));
    client.sync().unwrap();
    client.sign_out(false).unwrap();
    assert_eq!(client.credentials(), None);
    client
        .login(engineers[1].1.clone(), PASSWORD.into(), None, None)
        .unwrap();
    assert!(
        client
            .list_orders(OrderQuery::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_failing_photo_blocks_neither_the_documents_nor_the_other_photos() {
    let server = TestServer::start();
    let (dispatcher, engineers) = server.org(1);
    let office = Office::login(&server.url, &dispatcher);
    let order = office.order_for(engineers[0].0, 31.0, 121.0);
    let dir = tempfile::tempdir().unwrap();
    let (client, _) = phone(dir.path(), &server.url, &engineers[0].1);
    client.sync().unwrap();
    client.check_in(order.clone(), None).unwrap();
    let bad = client
        .add_photo(order.clone(), jpeg(900, 600), "a".into())
        .unwrap();
    let good = client
        .add_photo(order.clone(), jpeg(700, 500), "b".into())
        .unwrap();
    // The first photo's file is damaged on the device (a bad flash block, say).
    let path = client.blob_path(bad.hash.clone()).unwrap().unwrap();
    std::fs::write(&path, b"not the photo any more").unwrap();

    let report = client.sync().unwrap();
    assert_eq!(report.sent, vec![order.clone()]);
    assert_eq!(report.uploads_done, 1);
    assert_eq!(report.upload_failures.len(), 1);
    assert_eq!(report.upload_failures[0].hash, bad.hash);
    assert!(!report.upload_failures[0].will_retry);
    let (s, _) = office.get_bytes(&format!("/api/v1/work-orders/{order}/blobs/{}", good.hash));
    assert_eq!(s, 200);
    assert_eq!(
        office.document(&order)["visits"][0]["report"]["photos"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
