//! The photo pipeline on real inputs made here: a rotated camera JPEG with an EXIF orientation
//! and GPS block, a PNG with alpha, header bombs, random bytes, an empty file; and the
//! signature.

mod common;

use common::*;
use mobile_ffi::photos::{process_photo, process_signature};
use mobile_ffi::{ApiError, PhotoSettings};
use sha2::{Digest, Sha256};

fn settings() -> PhotoSettings {
    PhotoSettings::default()
}

/// A landscape photo, red on the left half and blue on the right, stored sideways by a camera
/// held upright: EXIF orientation 6 means "rotate 90° clockwise to display".
fn sideways_camera_jpeg(gps: Option<(f64, f64)>) -> Vec<u8> {
    let img = image::RgbImage::from_fn(2400, 1200, |x, _| {
        if x < 1200 {
            image::Rgb([220, 30, 30])
        } else {
            image::Rgb([30, 30, 220])
        }
    });
    let raw = encode(
        image::DynamicImage::ImageRgb8(img),
        image::ImageFormat::Jpeg,
    );
    with_exif(&raw, &exif_app1(6, gps))
}

#[test]
fn a_rotated_camera_jpeg_comes_out_upright_downsized_and_without_exif() {
    let input = sideways_camera_jpeg(Some((31.2304, 121.4737)));
    let out = process_photo(&input, &settings()).unwrap();
    assert_eq!(out.content_type, "image/jpeg");
    // Portrait after rotation, long edge 1600.
    assert_eq!((out.width, out.height), (800, 1600));
    let img = image::load_from_memory(&out.bytes).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (800, 1600));
    // The left half of the stored image (red) is the top after a clockwise turn.
    let top = img.get_pixel(400, 200).0;
    let bottom = img.get_pixel(400, 1400).0;
    assert!(top[0] > 180 && top[2] < 80, "top {top:?}");
    assert!(bottom[2] > 180 && bottom[0] < 80, "bottom {bottom:?}");
    // No EXIF block survives (so no position, no orientation to apply twice).
    assert!(!out.bytes.windows(6).any(|w| w == b"Exif\0\0"));
    assert_eq!(out.location, None, "the position is dropped by default");
}

#[test]
fn the_gps_position_is_kept_as_a_field_only_when_asked() {
    let input = sideways_camera_jpeg(Some((-33.8568, 151.2153)));
    let keep = PhotoSettings {
        keep_location: true,
        ..settings()
    };
    let out = process_photo(&input, &keep).unwrap();
    let p = out.location.expect("position read from EXIF");
    assert!((p.lat + 33.8568).abs() < 1e-4, "{p:?}");
    assert!((p.lon - 151.2153).abs() < 1e-4, "{p:?}");
    assert!(!out.bytes.windows(6).any(|w| w == b"Exif\0\0"));
}

#[test]
fn a_png_with_alpha_is_flattened_on_white() {
    let input = signature_png(900, 300);
    let out = process_photo(&input, &settings()).unwrap();
    assert_eq!(
        (out.width, out.height),
        (900, 300),
        "small images are not enlarged"
    );
    let img = image::load_from_memory(&out.bytes).unwrap().to_rgb8();
    let corner = img.get_pixel(5, 5).0;
    assert!(
        corner.iter().all(|c| *c > 245),
        "transparent became white: {corner:?}"
    );
}

#[test]
fn decompression_bombs_are_refused_from_the_header() {
    for bomb in [
        png_header_bomb(20_000, 20_000),
        jpeg_header_bomb(20_000, 20_000),
    ] {
        let t = std::time::Instant::now();
        match process_photo(&bomb, &settings()) {
            Err(ApiError::ImageRejected { reason }) => {
                assert!(
                    reason.contains("20000") && reason.contains("limit"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed().as_millis() < 500, "refused before decoding");
    }
    // The limit is configurable, and applies to signatures as well.
    let small = PhotoSettings {
        max_pixels: 100_000,
        ..settings()
    };
    assert!(matches!(
        process_photo(&jpeg(400, 300), &small),
        Err(ApiError::ImageRejected { .. })
    ));
    assert!(matches!(
        process_signature(&png_header_bomb(20_000, 20_000), &settings()),
        Err(ApiError::ImageRejected { .. })
    ));
}

#[test]
fn random_bytes_empty_files_and_truncated_headers_are_refused() {
    for (name, input) in [
        ("random", random_bytes(100_000, 7)),
        ("empty", Vec::new()),
        ("jpeg magic then noise", {
            let mut v = vec![0xff, 0xd8, 0xff, 0xe0];
            v.extend(random_bytes(5_000, 9));
            v
        }),
        ("cut in its header", jpeg(64, 64)[..100].to_vec()),
        ("gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec()),
    ] {
        match process_photo(&input, &settings()) {
            Err(ApiError::ImageRejected { reason }) => assert!(!reason.is_empty(), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    let tiny = PhotoSettings {
        max_input_bytes: 1_000,
        ..settings()
    };
    assert!(matches!(
        process_photo(&jpeg(200, 200), &tiny),
        Err(ApiError::ImageRejected { .. })
    ));
}

#[test]
fn the_long_edge_is_configurable() {
    let s = PhotoSettings {
        max_long_edge_px: 800,
        jpeg_quality: 70,
        ..settings()
    };
    let out = process_photo(&jpeg(3000, 2000), &s).unwrap();
    assert_eq!((out.width, out.height), (800, 533));
}

#[test]
fn photos_are_stored_content_addressed_and_referenced_from_the_report() {
    let phone = OfflinePhone::new(1);
    let c = &phone.client;
    let id = phone.id(0);
    let camera = jpeg(4000, 3000);
    assert!(matches!(
        c.add_photo(id.clone(), camera.clone(), "before".into()),
        Err(ApiError::InvalidState { .. })
    ));
    c.check_in(id.clone(), None).unwrap();
    let p = c
        .add_photo(id.clone(), camera.clone(), "compressor".into())
        .unwrap();
    assert_eq!((p.width, p.height), (1600, 1200));
    assert!(p.bytes < p.original_bytes);
    let stored = c.blob(p.hash.clone()).unwrap().unwrap();
    assert_eq!(hex::encode(Sha256::digest(&stored)), p.hash);
    assert_eq!(stored.len() as u64, p.bytes);
    let path = c.blob_path(p.hash.clone()).unwrap().unwrap();
    assert_eq!(std::fs::read(path).unwrap(), stored);
    // The same photo twice is one blob, referenced twice.
    let again = c.add_photo(id.clone(), camera, "again".into()).unwrap();
    assert_eq!(again.hash, p.hash);
    let report = c.get_order(id.clone()).unwrap().visits.remove(0).report;
    assert_eq!(report.photos.len(), 2);
    assert!(report.photos.iter().all(|ph| ph.local && !ph.uploaded));
    assert_eq!(c.sync_status().unwrap().pending_uploads, 1);

    // A rejected image changes nothing.
    assert!(matches!(
        c.add_photo(id.clone(), random_bytes(1000, 3), "x".into()),
        Err(ApiError::ImageRejected { .. })
    ));
    assert_eq!(c.get_order(id).unwrap().visits[0].report.photos.len(), 2);
    assert!(matches!(
        c.blob("zz".into()),
        Err(ApiError::InvalidInput { .. })
    ));
}

#[test]
fn a_kept_photo_position_is_recorded_on_the_order() {
    let phone = OfflinePhone::with_config(1, |cfg| {
        cfg.photos = Some(PhotoSettings {
            keep_location: true,
            ..PhotoSettings::default()
        })
    });
    let c = &phone.client;
    c.check_in(phone.id(0), None).unwrap();
    let p = c
        .add_photo(
            phone.id(0),
            sideways_camera_jpeg(Some((31.2304, 121.4737))),
            "".into(),
        )
        .unwrap();
    assert!(p.location.is_some());
    let order = c.get_order(phone.id(0)).unwrap();
    let e = order
        .events
        .iter()
        .find(|e| e.kind == "photo_location")
        .unwrap();
    assert_eq!(e.detail, format!("{} 31.230400,121.473700", p.hash));
}

#[test]
fn the_signature_is_stored_as_png_once_per_visit_with_the_signers_name() {
    let phone = OfflinePhone::new(1);
    let c = &phone.client;
    let id = phone.id(0);
    c.check_in(id.clone(), None).unwrap();
    assert!(matches!(
        c.sign(id.clone(), signature_png(600, 200), "  ".into()),
        Err(ApiError::InvalidInput { .. })
    ));
    let s = c
        .sign(id.clone(), signature_png(2400, 800), "Wei Zhang".into())
        .unwrap();
    assert_eq!((s.width, s.height), (1200, 400));
    let bytes = c.blob(s.hash.clone()).unwrap().unwrap();
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .unwrap()
        .to_rgb8();
    assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]);
    assert!(matches!(
        c.sign(id.clone(), signature_png(600, 200), "Someone Else".into()),
        Err(ApiError::InvalidState { .. })
    ));
    let report = c.get_order(id).unwrap().visits.remove(0).report;
    let sig = report.signature.unwrap();
    assert_eq!(sig.signer_name, "Wei Zhang");
    assert_eq!(sig.hash, s.hash);
}
