//! The photo pipeline: camera bytes in, a small upright JPEG without metadata out.
//!
//! 1. Refuse what is empty or too large, and what is not JPEG or PNG (sniffed from the bytes).
//! 2. Read the header only and refuse images over `max_pixels` (a 20,000 × 20,000 header on a
//!    few kilobytes of data is a decompression bomb); the decoder also gets an allocation limit.
//! 3. Decode, downsize so the long edge is at most `max_long_edge_px` (area averaging: no
//!    aliasing, and fast), then apply the EXIF orientation (cheaper after the resize).
//! 4. Flatten any alpha onto white and encode a baseline JPEG. The encoder writes no EXIF, so
//!    the GPS position, the camera serial number and every other tag are gone. With
//!    `keep_location` the GPS position is read first and handed back, so the library can record
//!    it as a field of the order instead.
//!
//! Signatures go through the same checks but are stored as PNG: line art on white is smaller and
//! sharper lossless, and a signature must not smear.

use crate::config::PhotoSettings;
use crate::error::{ApiError, Result};
use crate::records::GeoPosition;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use std::io::Cursor;

/// The longest side of a stored signature.
pub const SIGNATURE_MAX_EDGE_PX: u32 = 1200;

/// An image ready to be stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Processed {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// `image/jpeg` or `image/png`.
    pub content_type: &'static str,
    /// The EXIF GPS position, read only when asked to keep it.
    pub location: Option<GeoPosition>,
}

/// Process a camera photo (see the module docs).
pub fn process_photo(input: &[u8], settings: &PhotoSettings) -> Result<Processed> {
    let decoded = decode(input, settings, settings.keep_location)?;
    let rgb = fit(
        decoded.image,
        settings.max_long_edge_px,
        decoded.orientation,
    );
    let (width, height) = rgb.dimensions();
    let mut bytes = Vec::with_capacity((width * height / 4) as usize);
    JpegEncoder::new_with_quality(&mut bytes, settings.jpeg_quality.clamp(1, 100))
        .encode_image(&rgb)
        .map_err(|e| ApiError::internal(format!("JPEG encoding failed: {e}")))?;
    Ok(Processed {
        bytes,
        width,
        height,
        content_type: "image/jpeg",
        location: decoded.location,
    })
}

/// Process a signature from the app's drawing pad (usually a PNG with a transparent
/// background): flattened onto white, at most [`SIGNATURE_MAX_EDGE_PX`], stored as PNG.
pub fn process_signature(input: &[u8], settings: &PhotoSettings) -> Result<Processed> {
    let decoded = decode(input, settings, false)?;
    let edge = settings.max_long_edge_px.min(SIGNATURE_MAX_EDGE_PX);
    let rgb = fit(decoded.image, edge, decoded.orientation);
    let (width, height) = rgb.dimensions();
    let mut bytes = Vec::new();
    rgb.write_with_encoder(PngEncoder::new_with_quality(
        &mut bytes,
        CompressionType::Best,
        PngFilter::Adaptive,
    ))
    .map_err(|e| ApiError::internal(format!("PNG encoding failed: {e}")))?;
    Ok(Processed {
        bytes,
        width,
        height,
        content_type: "image/png",
        location: None,
    })
}

struct Decoded {
    image: DynamicImage,
    orientation: image::metadata::Orientation,
    location: Option<GeoPosition>,
}

fn decode(input: &[u8], s: &PhotoSettings, want_location: bool) -> Result<Decoded> {
    if input.is_empty() {
        return Err(ApiError::image("the image is empty"));
    }
    if input.len() as u64 > s.max_input_bytes {
        return Err(ApiError::image(format!(
            "the image is {} bytes, over the limit of {}",
            input.len(),
            s.max_input_bytes
        )));
    }
    let reader = ImageReader::new(Cursor::new(input))
        .with_guessed_format()
        .map_err(|e| ApiError::image(format!("cannot read the image: {e}")))?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png) => {}
        Some(other) => {
            return Err(ApiError::image(format!(
                "{other:?} images are not accepted; send JPEG or PNG"
            )));
        }
        None => return Err(ApiError::image("not a JPEG or PNG image")),
    }
    let mut reader = reader;
    reader.limits(limits(s.max_pixels));
    let mut decoder = reader.into_decoder().map_err(rejected)?;
    let (w, h) = decoder.dimensions();
    check_pixels(w, h, s.max_pixels)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let location = if want_location {
        decoder
            .exif_metadata()
            .ok()
            .flatten()
            .and_then(gps_from_exif)
    } else {
        None
    };
    let image = DynamicImage::from_decoder(decoder).map_err(rejected)?;
    Ok(Decoded {
        image,
        orientation,
        location,
    })
}

/// Decoder limits for at most `max_pixels`: neither side over it, and allocations bounded by the
/// pixels at 4 bytes each plus headroom for the decoder's own buffers.
pub fn limits(max_pixels: u64) -> Limits {
    let side = u32::try_from(max_pixels).unwrap_or(u32::MAX);
    let mut l = Limits::default();
    l.max_image_width = Some(side);
    l.max_image_height = Some(side);
    l.max_alloc = Some(max_pixels.saturating_mul(4).saturating_add(32 << 20));
    l
}

/// Refuse an image whose header announces more than `max_pixels` (or no pixels).
pub fn check_pixels(w: u32, h: u32, max_pixels: u64) -> Result<()> {
    if w == 0 || h == 0 {
        return Err(ApiError::image("the image has no pixels"));
    }
    let pixels = u64::from(w) * u64::from(h);
    if pixels > max_pixels {
        return Err(ApiError::image(format!(
            "the image is {w} × {h} pixels ({:.1} MP), over the limit of {:.1} MP",
            pixels as f64 / 1e6,
            max_pixels as f64 / 1e6
        )));
    }
    Ok(())
}

fn rejected(e: image::ImageError) -> ApiError {
    match e {
        image::ImageError::Limits(l) => {
            ApiError::image(format!("the image is too large to process safely: {l}"))
        }
        image::ImageError::Unsupported(u) => {
            ApiError::image(format!("unsupported image variant: {u}"))
        }
        other => ApiError::image(format!("the image is damaged or truncated: {other}")),
    }
}

/// Downsize (if needed), orient, and flatten onto white.
fn fit(image: DynamicImage, max_edge: u32, orientation: image::metadata::Orientation) -> RgbImage {
    let (w, h) = (image.width(), image.height());
    let mut image = if w.max(h) > max_edge {
        // `thumbnail` keeps the aspect ratio and averages areas with integer arithmetic: several
        // times faster than a separable filter for large reductions, without aliasing.
        image.thumbnail(max_edge, max_edge)
    } else {
        image
    };
    image.apply_orientation(orientation);
    flatten_on_white(image)
}

/// Alpha composited over white (JPEG has no alpha; a transparent signature pad would otherwise
/// turn black).
pub fn flatten_on_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (src, dst) in rgba.pixels().zip(out.pixels_mut()) {
        let [r, g, b, a] = src.0;
        let a = u32::from(a);
        let blend = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        dst.0 = [blend(r), blend(g), blend(b)];
    }
    out
}

/// The GPS position of an EXIF block (raw TIFF, as the decoders hand it over).
fn gps_from_exif(tiff: Vec<u8>) -> Option<GeoPosition> {
    use exif::{In, Tag, Value};
    let exif = exif::Reader::new().read_raw(tiff).ok()?;
    let coord = |tag: Tag, reference: Tag, negative: &[u8]| -> Option<f64> {
        let f = exif.get_field(tag, In::PRIMARY)?;
        let Value::Rational(parts) = &f.value else {
            return None;
        };
        let mut deg = 0.0;
        for (i, r) in parts.iter().take(3).enumerate() {
            if r.denom == 0 {
                return None;
            }
            deg += r.to_f64() / [1.0, 60.0, 3600.0][i];
        }
        let sign = match exif.get_field(reference, In::PRIMARY).map(|f| &f.value) {
            Some(Value::Ascii(v)) if v.first().is_some_and(|s| s.starts_with(negative)) => -1.0,
            _ => 1.0,
        };
        Some(sign * deg)
    };
    let lat = coord(Tag::GPSLatitude, Tag::GPSLatitudeRef, b"S")?;
    let lon = coord(Tag::GPSLongitude, Tag::GPSLongitudeRef, b"W")?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some(GeoPosition {
        lat,
        lon,
        accuracy_m: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_is_composited_over_white() {
        let mut img = image::RgbaImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgba([0, 0, 0, 0])); // transparent
        img.put_pixel(1, 0, image::Rgba([0, 0, 255, 255])); // opaque blue ink
        let out = flatten_on_white(DynamicImage::ImageRgba8(img));
        assert_eq!(out.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(out.get_pixel(1, 0).0, [0, 0, 255]);
    }

    #[test]
    fn the_pixel_limit_is_checked_before_decoding() {
        assert!(check_pixels(20_000, 20_000, 50_000_000).is_err());
        assert!(check_pixels(0, 10, 50_000_000).is_err());
        assert!(check_pixels(8_000, 6_000, 50_000_000).is_ok());
    }
}
