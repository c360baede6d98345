//! The blob endpoint on SQLite and PostgreSQL: resumable chunked upload, hash verification,
//! image checks, idempotence, serving through work orders, and the orphan sweep.

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{Fixture, Response, TestApp, TestDb};
use lastmile_server::config::Settings;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::Cursor;
use sync_core::{ContentHash, DocId, EditContext, Role};

fn hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A real JPEG with some detail, so it does not compress to nothing.
fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 3 % 256) as u8,
            ((x ^ y) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
        .unwrap();
    out
}

/// A PNG whose header announces `w` x `h` pixels over a few bytes of data, with a valid CRC:
/// only a decoder that checks the size before allocating survives it.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut small = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::new(1, 1))
        .write_to(&mut Cursor::new(&mut small), image::ImageFormat::Png)
        .unwrap();
    small[16..20].copy_from_slice(&w.to_be_bytes());
    small[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&small[12..29]);
    small[29..33].copy_from_slice(&crc.to_be_bytes());
    small
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

async fn app_with_blob_dir(db: TestDb) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: dir.path().to_owned(),
        ..Settings::default()
    };
    (TestApp::with_settings(db, settings).await, dir)
}

async fn start(app: &TestApp, token: &str, hash: &str, size: usize) -> Response {
    app.post(
        &format!("/api/v1/blobs/{hash}/upload"),
        token,
        json!({"size": size, "content_type": "image/jpeg"}),
    )
    .await
}

async fn append(app: &TestApp, token: &str, hash: &str, offset: usize, bytes: &[u8]) -> Response {
    let req = Request::builder()
        .method(Method::PATCH)
        .uri(format!("/api/v1/blobs/{hash}/upload?offset={offset}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from(bytes.to_vec()))
        .unwrap();
    app.send(req).await
}

/// Upload `bytes` in one go; returns the final answer.
async fn upload(app: &TestApp, token: &str, bytes: &[u8]) -> Response {
    let h = hash(bytes);
    let s = start(app, token, &h, bytes.len()).await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    append(app, token, &h, 0, bytes).await
}

/// Reference `hash` as a photo of a new visit of the fixture's engineer (what a synced phone
/// does), straight through the document store.
async fn reference_photo(app: &TestApp, f: &Fixture, hash: &str) {
    let id: DocId = f.work_order.parse().unwrap();
    let content = ContentHash::from_hex(hash).unwrap();
    let ctx: EditContext = app.state.docs.edit_context(f.engineer.id, Role::Engineer);
    app.state
        .docs
        .update(&app.state.db, f.org, id, move |doc| {
            let v = doc.start_visit(&ctx)?;
            doc.add_photo(&ctx, &v, content, "compressor")?;
            Ok(())
        })
        .await
        .unwrap()
        .unwrap();
}

async fn chunked_upload_resumes_and_is_served_to_those_who_may_read_the_order(db: TestDb) {
    let (app, _dir) = app_with_blob_dir(db).await;
    let f = Fixture::new(&app).await;
    let bytes = jpeg(640, 480);
    let h = hash(&bytes);
    let token = &f.device_token;

    let s = start(&app, token, &h, bytes.len()).await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    assert_eq!(
        s.body,
        json!({"offset": 0, "size": bytes.len(), "complete": false})
    );
    let third = bytes.len() / 3;
    let r = append(&app, token, &h, 0, &bytes[..third]).await;
    assert_eq!(r.body["offset"], third);

    // The connection was cut: the phone asks where to go on from, after a restart.
    let s = start(&app, token, &h, bytes.len()).await;
    assert_eq!(s.body["offset"], third, "{:?}", s.body);
    // A chunk resent at an old offset is not stored twice.
    let r = append(&app, token, &h, 0, &bytes[..third]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "offset_mismatch");
    let r = append(&app, token, &h, third, &bytes[third..2 * third]).await;
    assert_eq!(r.body["complete"], false);
    let r = append(&app, token, &h, 2 * third, &bytes[2 * third..]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["complete"], true);

    // Idempotent: the same blob again is complete at once, from anyone in the organisation.
    let s = start(&app, &f.dispatcher.token, &h, bytes.len()).await;
    assert_eq!(
        s.body,
        json!({"offset": bytes.len(), "size": bytes.len(), "complete": true})
    );
    // Another organisation does not learn that this organisation has it.
    let s = start(&app, &f.other_org_dispatcher.token, &h, bytes.len()).await;
    assert_eq!(s.body["complete"], false);

    // Not referenced by the order yet: not served.
    let path = format!("/api/v1/work-orders/{}/blobs/{h}", f.work_order);
    assert_eq!(
        app.get(&path, &f.dispatcher.token).await.status,
        StatusCode::NOT_FOUND
    );
    reference_photo(&app, &f, &h).await;

    for (who, token, want) in [
        ("dispatcher", &f.dispatcher.token, StatusCode::OK),
        ("admin", &f.admin.token, StatusCode::OK),
        ("assigned engineer", &f.engineer.token, StatusCode::OK),
        ("engineer's phone", &f.device_token, StatusCode::OK),
        ("customer", &f.customer.token, StatusCode::OK),
        (
            "other engineer",
            &f.other_engineer.token,
            StatusCode::NOT_FOUND,
        ),
        (
            "other organisation",
            &f.other_org_dispatcher.token,
            StatusCode::NOT_FOUND,
        ),
        ("warehouse", &f.warehouse.token, StatusCode::FORBIDDEN),
    ] {
        let req = Request::builder()
            .uri(&path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let resp = app.router.clone().oneshot_bytes(req).await;
        assert_eq!(resp.0, want, "{who}");
        if want == StatusCode::OK {
            assert_eq!(resp.1, bytes, "{who} gets the exact bytes");
            assert_eq!(resp.2.as_deref(), Some("image/jpeg"));
        }
    }
    let req = Request::builder()
        .uri(format!("{path}/thumbnail"))
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", f.dispatcher.token),
        )
        .body(Body::empty())
        .unwrap();
    let (status, thumb, _) = app.router.clone().oneshot_bytes(req).await;
    assert_eq!(status, StatusCode::OK);
    let t = image::load_from_memory(&thumb).unwrap();
    assert_eq!((t.width(), t.height()), (320, 240));
}

async fn bytes_that_do_not_match_their_hash_are_discarded(db: TestDb) {
    let (app, _dir) = app_with_blob_dir(db).await;
    let f = Fixture::new(&app).await;
    let real = jpeg(64, 64);
    let h = hash(&real);
    let mut damaged = real.clone();
    damaged[real.len() / 2] ^= 0x55;
    start(&app, &f.device_token, &h, real.len()).await;
    let r = append(&app, &f.device_token, &h, 0, &damaged).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.code(), "hash_mismatch");
    // Discarded: the next attempt starts from zero and succeeds.
    let s = start(&app, &f.device_token, &h, real.len()).await;
    assert_eq!(s.body["offset"], 0);
    let r = append(&app, &f.device_token, &h, 0, &real).await;
    assert_eq!(r.body["complete"], true, "{:?}", r.body);
}

async fn only_real_images_within_limits_are_accepted(db: TestDb) {
    let (app, _dir) = app_with_blob_dir(db).await;
    let f = Fixture::new(&app).await;
    let t = &f.device_token;
    let noise: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let r = upload(&app, t, &noise).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.code(), "invalid_image");
    let bomb = png_bomb(20_000, 20_000);
    let r = upload(&app, t, &bomb).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.code(), "invalid_image");
    // Cut inside its headers (a JPEG cut inside the scan decodes, grey at the bottom, as
    // every viewer shows it: the bytes are what the phone hashed and sent).
    let mut truncated = jpeg(200, 200);
    truncated.truncate(120);
    let r = upload(&app, t, &truncated).await;
    assert_eq!(r.code(), "invalid_image", "{:?}", r.body);

    // Announced sizes and types are checked up front; a malformed hash is no blob.
    let h = hash(b"x");
    let r = start(&app, t, &h, 0).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = start(&app, t, &h, 64 << 20).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = app
        .post(
            &format!("/api/v1/blobs/{h}/upload"),
            t,
            json!({"size": 10, "content_type": "application/pdf"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = start(&app, t, "not-a-hash", 10).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // More bytes than announced.
    start(&app, t, &h, 1).await;
    let r = append(&app, t, &h, 0, b"xy").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn orphaned_uploads_are_removed_after_the_grace_period(db: TestDb) {
    let (app, dir) = app_with_blob_dir(db).await;
    let f = Fixture::new(&app).await;
    let bytes = jpeg(300, 200);
    let h = hash(&bytes);
    start(&app, &f.device_token, &h, bytes.len()).await;
    append(&app, &f.device_token, &h, 0, &bytes[..100]).await;
    let part = dir
        .path()
        .join("blobs/uploads")
        .join(f.org.to_string())
        .join(format!("{h}.part"));
    assert!(part.is_file());

    let blobs = &app.state.blobs;
    let now = lastmile_server::now_ms();
    assert_eq!(
        blobs.sweep(&app.state.db, now).await.unwrap(),
        0,
        "within the grace period"
    );
    assert!(part.is_file());
    let later = now + blobs.settings.upload_grace.as_millis() as i64 + 1;
    assert_eq!(blobs.sweep(&app.state.db, later).await.unwrap(), 1);
    assert!(!part.exists());
    let s = start(&app, &f.device_token, &h, bytes.len()).await;
    assert_eq!(
        s.body["offset"], 0,
        "the orphan is gone; the upload starts over"
    );
}

conformance!(
    chunked_upload_resumes_and_is_served_to_those_who_may_read_the_order,
    bytes_that_do_not_match_their_hash_are_discarded,
    only_real_images_within_limits_are_accepted,
    orphaned_uploads_are_removed_after_the_grace_period,
);

/// Raw responses (the common helpers parse JSON).
trait OneshotBytes {
    async fn oneshot_bytes(self, req: Request<Body>) -> (StatusCode, Vec<u8>, Option<String>);
}

impl OneshotBytes for axum::Router {
    async fn oneshot_bytes(self, req: Request<Body>) -> (StatusCode, Vec<u8>, Option<String>) {
        use tower::ServiceExt;
        let resp = self.oneshot(req).await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, bytes.to_vec(), ct)
    }
}
