//! What the app configures when it opens a [`FieldClient`](crate::FieldClient).

use crate::error::{ApiError, Result};

/// How the client is set up. Only `database_path` and `server_url` are required.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ClientConfig {
    /// The device store's SQLite file, in the app's private storage (e.g. Android
    /// `context.filesDir`, iOS Application Support). Photos and signatures live beside it, in
    /// the folder `<database_path>.blobs`.
    pub database_path: String,
    /// The server, e.g. `https://lastmile.example.com`. `http://` is accepted for development
    /// and tests only.
    pub server_url: String,
    /// Geofence radius around the site for check-in and check-out.
    #[uniffi(default = 150.0)]
    pub geofence_radius_m: f64,
    /// Photo processing.
    #[uniffi(default = None)]
    pub photos: Option<PhotoSettings>,
    /// Bytes per upload request of a photo; a cut connection resends at most one chunk.
    #[uniffi(default = 262144)]
    pub upload_chunk_bytes: u32,
    /// Time-out of one HTTP request.
    #[uniffi(default = 30000)]
    pub request_timeout_ms: u32,
    /// PEM certificates of a private certificate authority to trust in addition to the public
    /// web roots (a self-hosted server with its own CA).
    #[uniffi(default = None)]
    pub extra_ca_pem: Option<String>,
}

/// How photos are processed before they are stored.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PhotoSettings {
    /// Photos are downsized so that their longer side is at most this many pixels.
    #[uniffi(default = 1600)]
    pub max_long_edge_px: u32,
    /// JPEG quality of the stored photo, 1 to 100.
    #[uniffi(default = 82)]
    pub jpeg_quality: u8,
    /// Keep the photo's EXIF GPS position, as a field of the order (its history), instead of
    /// dropping it with the rest of the EXIF block. Off by default: a photo's position is
    /// personal data.
    #[uniffi(default = false)]
    pub keep_location: bool,
    /// Refuse inputs larger than this many bytes.
    #[uniffi(default = 41943040)]
    pub max_input_bytes: u64,
    /// Refuse images with more pixels than this (decompression-bomb guard), checked from the
    /// header before anything is decoded. 50 MP covers phone cameras' full-resolution modes.
    #[uniffi(default = 50000000)]
    pub max_pixels: u64,
}

impl Default for PhotoSettings {
    fn default() -> Self {
        PhotoSettings {
            max_long_edge_px: 1600,
            jpeg_quality: 82,
            keep_location: false,
            max_input_bytes: 40 << 20,
            max_pixels: 50_000_000,
        }
    }
}

impl ClientConfig {
    /// A configuration with every default, for Rust callers and tests.
    pub fn new(database_path: impl Into<String>, server_url: impl Into<String>) -> Self {
        ClientConfig {
            database_path: database_path.into(),
            server_url: server_url.into(),
            geofence_radius_m: 150.0,
            photos: None,
            upload_chunk_bytes: 256 << 10,
            request_timeout_ms: 30_000,
            extra_ca_pem: None,
        }
    }

    /// Check the values and normalise the URL (no trailing slash).
    pub(crate) fn validated(mut self) -> Result<Self> {
        let url = self.server_url.trim().trim_end_matches('/').to_owned();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ApiError::input(
                "server_url must start with https:// (or http:// for development)",
            ));
        }
        self.server_url = url;
        if self.database_path.trim().is_empty() {
            return Err(ApiError::input("database_path is empty"));
        }
        if !(self.geofence_radius_m.is_finite() && self.geofence_radius_m > 0.0) {
            return Err(ApiError::input("geofence_radius_m must be positive"));
        }
        if self.upload_chunk_bytes < 1024 || self.upload_chunk_bytes > 8 << 20 {
            return Err(ApiError::input(
                "upload_chunk_bytes must be between 1 KiB and 8 MiB",
            ));
        }
        if self.request_timeout_ms < 100 {
            return Err(ApiError::input("request_timeout_ms must be at least 100"));
        }
        let p = self.photos.get_or_insert_with(PhotoSettings::default);
        if p.max_long_edge_px < 64 || p.max_long_edge_px > 16_384 {
            return Err(ApiError::input(
                "max_long_edge_px must be between 64 and 16384",
            ));
        }
        if !(1..=100).contains(&p.jpeg_quality) {
            return Err(ApiError::input("jpeg_quality must be between 1 and 100"));
        }
        if p.max_pixels == 0 || p.max_input_bytes == 0 {
            return Err(ApiError::input(
                "max_pixels and max_input_bytes must be positive",
            ));
        }
        Ok(self)
    }

    pub(crate) fn photo_settings(&self) -> PhotoSettings {
        self.photos.clone().unwrap_or_default()
    }
}
