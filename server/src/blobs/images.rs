//! Every uploaded image is decoded, with limits, before the server accepts it; the console gets
//! a thumbnail made at the same time.

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use std::io::Cursor;

/// What an accepted image is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// `image/jpeg` or `image/png`, from the bytes (not from what the client said).
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
    /// A JPEG whose long edge is at most `thumb_edge`.
    pub thumbnail: Vec<u8>,
}

/// Decode `bytes` as a JPEG or PNG of at most `max_pixels` (checked from the header, before any
/// pixel is decoded; the decoder also gets an allocation limit), oriented as its EXIF says, and
/// make a thumbnail. `Err` is a message for the client.
pub fn check(bytes: &[u8], max_pixels: u64, thumb_edge: u32) -> Result<Checked, String> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read the image: {e}"))?;
    let (format, content_type) = match reader.format() {
        Some(ImageFormat::Jpeg) => (ImageFormat::Jpeg, "image/jpeg"),
        Some(ImageFormat::Png) => (ImageFormat::Png, "image/png"),
        _ => return Err("not a JPEG or PNG image".into()),
    };
    let mut reader = reader;
    reader.set_format(format);
    let side = u32::try_from(max_pixels).unwrap_or(u32::MAX);
    let mut limits = Limits::default();
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    limits.max_alloc = Some(max_pixels.saturating_mul(4).saturating_add(32 << 20));
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| format!("the image is not acceptable: {e}"))?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > max_pixels {
        return Err(format!(
            "the image is {w} × {h} pixels, over the limit of {max_pixels} pixels"
        ));
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let image =
        DynamicImage::from_decoder(decoder).map_err(|e| format!("the image is damaged: {e}"))?;
    let mut thumb = image.thumbnail(thumb_edge, thumb_edge);
    thumb.apply_orientation(orientation);
    let rgb = flatten(thumb);
    let mut thumbnail = Vec::new();
    JpegEncoder::new_with_quality(&mut thumbnail, 75)
        .encode_image(&rgb)
        .map_err(|e| format!("thumbnail: {e}"))?;
    let (width, height) = match orientation {
        image::metadata::Orientation::Rotate90
        | image::metadata::Orientation::Rotate270
        | image::metadata::Orientation::Rotate90FlipH
        | image::metadata::Orientation::Rotate270FlipH => (h, w),
        _ => (w, h),
    };
    Ok(Checked {
        content_type,
        width,
        height,
        thumbnail,
    })
}

/// Alpha over white (a signature with a transparent background stays readable).
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (s, d) in rgba.pixels().zip(out.pixels_mut()) {
        let a = u32::from(s.0[3]);
        let blend = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        d.0 = [blend(s.0[0]), blend(s.0[1]), blend(s.0[2])];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([x as u8, y as u8, 0, 128]));
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_real_image_is_accepted_with_a_thumbnail() {
        let c = check(&png(800, 400), 50_000_000, 320).unwrap();
        assert_eq!((c.content_type, c.width, c.height), ("image/png", 800, 400));
        let t = image::load_from_memory(&c.thumbnail).unwrap();
        assert_eq!((t.width(), t.height()), (320, 160));
    }

    #[test]
    fn garbage_bombs_and_truncations_are_refused() {
        assert!(check(b"", 50_000_000, 320).is_err());
        assert!(check(b"definitely not an image", 50_000_000, 320).is_err());
        let mut bytes = png(64, 64);
        bytes.truncate(bytes.len() / 2);
        assert!(check(&bytes, 50_000_000, 320).is_err());
        // A PNG header announcing 20,000 x 20,000 pixels.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = check(&bomb, 50_000_000, 320).unwrap_err();
        assert!(err.contains("20000") || err.contains("limit"), "{err}");
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
}
