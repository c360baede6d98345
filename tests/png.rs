//! Small PNG images for photos and signatures uploaded by simulated phones, drawn pixel by
//! pixel and encoded with the `image` crate the server already builds.

use image::{ImageFormat, Rgb, RgbImage};
use std::io::Cursor;

/// A `w` x `h` RGB PNG whose pixel (x, y) is `pixel(x, y)`.
pub fn png(w: u32, h: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| Rgb(pixel(x, y)));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .expect("encode a PNG in memory");
    out.into_inner()
}

/// A "photo": a sky-to-ground gradient with a dark box (a compressor, say).
pub fn photo() -> Vec<u8> {
    png(320, 240, |x, y| {
        if (100..220).contains(&x) && (90..200).contains(&y) {
            [60, 70, 80]
        } else if y < 120 {
            [120 + (y / 2) as u8, 170, 230]
        } else {
            [90, 140 - ((y - 120) / 3) as u8, 70]
        }
    })
}

/// A "signature": a dark wave on white.
pub fn signature() -> Vec<u8> {
    png(300, 100, |x, y| {
        let f = x as f64 / 18.0;
        let wave = 50.0 + 25.0 * f.sin() * (1.0 - x as f64 / 400.0);
        if (y as f64 - wave).abs() < 2.0 {
            [20, 30, 90]
        } else {
            [255, 255, 255]
        }
    })
}
